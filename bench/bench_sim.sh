#!/usr/bin/env bash
# bench_sim.sh — `neonblue simulate` throughput: events/s written to
# PostgreSQL (with the assignments they need) on a temporary embedded stack,
# against, in the same run, the generator alone (--dry-run, no database) and
# `neonblue ingest` of the very same events (the events COPY path alone).
# Usage: bench/bench_sim.sh [USERS]   (default 40000: the demo, ~190k events)
set -eu
cd "$(dirname "$0")/.."
NB=${NB:-$PWD/build/neonblue}
USERS=${1:-40000}
tmp=$(mktemp -d /tmp/nbbench-sim.XXXXXX)
home=$tmp/home
cleanup() { "$NB" stack down --home "$home" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
"$NB" stack up --home "$home" >/dev/null
. "$home/stack.env"
export NEONBLUE_HOME=$home
sql() { psql "$NEONBLUE_PG" -X -Atqc "$1"; }
now() { date +%s.%N; }
jget() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
START=2026-10-01T00:00:00Z

t0=$(now)
"$NB" simulate --scenario demo --users "$USERS" --days 14 --start "$START" --seed 1 --dry-run >"$tmp/events.jsonl"
t1=$(now)
events=$(wc -l <"$tmp/events.jsonl")
gen=$(python3 -c "print(round($events / ($t1 - $t0)))")

best=0 best_ingest=0
for round in 1 2 3; do
	sql "TRUNCATE events; DELETE FROM assignments"
	out=$("$NB" simulate --scenario demo --users "$USERS" --days 14 --start "$START" --seed 1 --json)
	[ "$(jget inserted <<<"$out")" = "$events" ] || { echo "simulate stored a wrong count"; exit 1; }
	secs=$(jget seconds <<<"$out")
	rate=$(python3 -c "print(round($events / $secs))")
	sa=$(jget seconds_assign <<<"$out")
	se=$(jget seconds_events <<<"$out")
	sql "TRUNCATE events"
	t2=$(now)
	"$NB" ingest "$tmp/events.jsonl" >/dev/null
	t3=$(now)
	[ "$(sql "SELECT count(*) FROM events")" = "$events" ] || { echo "ingest stored a wrong count"; exit 1; }
	ri=$(python3 -c "print(round($events / ($t3 - $t2)))")
	printf 'round %d: simulate %s events/s (%.2f s: %.2f s assigning %s users, %.2f s writing events); ingest of the same events %s events/s\n' \
		"$round" "$rate" "$secs" "$sa" "$USERS" "$se" "$ri"
	[ "$rate" -gt "$best" ] && best=$rate
	[ "$ri" -gt "$best_ingest" ] && best_ingest=$ri
done
echo "bench_sim: $events events from $USERS users; generator alone $gen events/s"
echo "bench_sim: simulate best $best events/s to PostgreSQL; ingest best $best_ingest events/s" \
	"(ratio $(python3 -c "print(round($best / $best_ingest, 2))"); load average $(cut -d' ' -f1 /proc/loadavg))"
