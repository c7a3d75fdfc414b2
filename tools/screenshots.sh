#!/usr/bin/env bash
# screenshots.sh — `make screenshots`: every view of the dashboard rendered
# from a seeded temporary stack into screenshots/VIEW.png: tmux capture with
# colours (capture-pane -e) → HTML (aha) → PNG (wkhtmltoimage). aha and
# wkhtmltopdf come from Debian and are installed when missing.
set -eu
cd "$(dirname "$0")/.."
NB=$PWD/build/neonblue
COLS=${COLS:-120}
ROWS=${ROWS:-36}
need=()
command -v aha >/dev/null || need+=(aha)
command -v wkhtmltoimage >/dev/null || need+=(wkhtmltopdf)
if [ ${#need[@]} -gt 0 ]; then
	sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
tmp=$(mktemp -d /tmp/nbshots.XXXXXX)
home=$tmp/home
SOCK=nbshots$$
TM() { tmux -L "$SOCK" -f /dev/null "$@"; }
pids=()
cleanup() {
	TM kill-server 2>/dev/null || true
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	"$NB" stack down --home "$home" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
"$NB" stack up --home "$home" >/dev/null
export NEONBLUE_HOME=$home
if ! "$NB" stack status --json | grep -q '"name": *"cdc"'; then
	"$NB" cdc --embedded --quiet 2>"$tmp/cdc.log" &
	pids+=($!)
	"$NB" sink --quiet 2>"$tmp/sink.log" &
	pids+=($!)
fi
"$NB" simulate --scenario demo --days 14 >/dev/null
. "$home/stack.env"
want=$(psql "$NEONBLUE_PG" -XAtqc "SELECT count(*) FROM events")
"$NB" simulate --scenario demo --rate 30 --seed 2 >/dev/null 2>&1 &
pids+=($!)
# the history reaches ClickHouse (at most two minutes)
for _ in $(seq 1 240); do
	got=$(curl -s "$NEONBLUE_CLICKHOUSE" --data-binary "SELECT count() FROM neonblue.events" || true)
	case $got in '' | *[!0-9]*) got=0 ;; esac
	[ "$got" -ge "$want" ] && break
	sleep 0.5
done
sleep 2
exp=$("$NB" exp list --json | python3 -c 'import json,sys; l=json.load(sys.stdin); print(next((e["key"] for e in l if e["status"]=="running"), l[0]["key"]))')
# a few flags for the Flags view (docs/flags.md)
"$NB" flag create new-checkout --on --description "the one-page checkout" \
	--rule '{"type":"force","condition":{"country":"NL"},"value":true}' \
	--rule '{"type":"rollout","coverage":0.25,"value":true}' >/dev/null
"$NB" flag create banner-text --type string --default "Welcome" --on \
	--rule '{"type":"force","condition":{"device":"mobile"},"value":"Welcome back"}' >/dev/null
"$NB" flag create search-v2 --description "kill switch of the new search" >/dev/null
mkdir -p screenshots
for view in experiments detail feed funnel cohorts revenue segments health new flags; do
	TM new-session -d -s s -x "$COLS" -y "$ROWS" \
		"TERM=xterm-256color $NB --actor demo dash --view $view --exp $exp --backfill 2; sleep 60"
	sleep 8
	TM capture-pane -e -p -t s >"$tmp/$view.ansi"
	TM kill-session -t s
	aha --black --title "neonblue dash — $view" <"$tmp/$view.ansi" >"$tmp/$view.html"
	QT_QPA_PLATFORM=offscreen wkhtmltoimage --quiet --quality 10 --width 1100 "$tmp/$view.html" "screenshots/$view.png"
	echo "screenshots/$view.png"
done
