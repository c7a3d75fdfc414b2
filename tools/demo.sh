#!/usr/bin/env bash
# demo.sh — `make demo`: build, start the embedded stack, the CDC relay and the
# sink when the stack does not run them, back-fill two weeks of simulated
# history, keep a live simulator running, and open the dashboard. Quitting the
# dashboard stops the simulator (and the relay/sink started here);
# `neonblue stack down` stops the rest.
set -eu
cd "$(dirname "$0")/.."
NB=$PWD/build/neonblue
# the same default as nb_config_default_home
export NEONBLUE_HOME=${NEONBLUE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/neonblue}
"$NB" stack up
. "$NEONBLUE_HOME/stack.env"
mkdir -p "$NEONBLUE_HOME/run" "$NEONBLUE_HOME/logs"
pids=()
stop() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop EXIT
if ! "$NB" stack status --json | grep -q '"name": *"cdc"'; then
	"$NB" cdc --embedded --quiet 2>>"$NEONBLUE_HOME/logs/demo-cdc.log" &
	pids+=($!)
	"$NB" sink --quiet 2>>"$NEONBLUE_HOME/logs/demo-sink.log" &
	pids+=($!)
fi
echo "demo: simulating two weeks of history (four experiments)…"
"$NB" simulate --scenario demo --days 14 >"$NEONBLUE_HOME/logs/demo-history.log" 2>&1 || true
"$NB" simulate --scenario demo --rate 20 --seed 2 >"$NEONBLUE_HOME/logs/demo-live.log" 2>&1 &
pids+=($!)
"$NB" dash --backfill 5
