#!/usr/bin/env bash
# bench_tui_home.sh — the home view with 200 running experiments (users and
# conversions in each), on a temporary embedded stack, driven in tmux at
# 200×50 (45 rows on screen):
#  1. seconds from start until every row on screen shows its statistics;
#  2. after End (G): seconds until the last 45 rows show theirs;
#  3. seconds until all 200 have statistics (the status line's stats 200/200);
#  4. after STEADY_S seconds: the oldest statistics among the rows on screen.
# Every experiment's report runs twice first (warm rollups on both sides).
# Baseline, measured in the same run after the dashboard: what it did before the
# reports ran in-process — one `neonblue report KEY --json` child at a time,
# in table order — timed directly: the first 45 children (the first screen)
# and all 200 (the last rows came after all of them).
# Usage: bench/bench_tui_home.sh   (STEADY_S=30, SETTLE_S=10 by default)
set -eu
cd "$(dirname "$0")/.."
NB=${NB:-$PWD/build/neonblue}
STEADY_S=${STEADY_S:-30}
tmp=$(mktemp -d /tmp/nbbench-home.XXXXXX)
home=$tmp/home
SOCK=nbbhome$$
TM() { tmux -L "$SOCK" -f /dev/null "$@"; }
cleanup() {
	TM kill-server 2>/dev/null || true
	"$NB" stack down --home "$home" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
"$NB" stack up --home "$home" >/dev/null
export NEONBLUE_HOME=$home

# ---- 200 running experiments, 300 users each, ~12% converting ----
"$NB" metric create --key hb_buy --kind binomial --events hb_buy >/dev/null
for i in $(seq -f %03g 0 199); do
	"$NB" exp create --key "hb-$i" --name "Home bench $i" --variants control:50,treatment:50 \
		--metrics "hb_buy:primary" >/dev/null
	"$NB" exp start "hb-$i" >/dev/null
	seq 1 300 | sed "s/^/e$i-u/" | "$NB" assign "hb-$i" --users - >/dev/null
done
python3 - >"$tmp/events.jsonl" <<'EOF'
import json, random
random.seed(1)
for i in range(200):
    for u in range(1, 301):
        if random.random() < 0.12:
            print(json.dumps({"user_id": f"e{i:03d}-u{u}", "type": "hb_buy",
                              "experiment": f"hb-{i:03d}"}))
EOF
"$NB" ingest "$tmp/events.jsonl" >/dev/null
# the sink has brought the last experiment's conversions
want=$(grep -c '"hb-199"' "$tmp/events.jsonl")
end=$((SECONDS + 120))
until "$NB" report hb-199 --json 2>/dev/null | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if sum(x["count"] for x in r["metrics"][0]["results"]) == int(sys.argv[1]) else 1)' "$want" ||
	[ $SECONDS -ge $end ]; do sleep 1; done

now() { date +%s.%N; }
since() { python3 -c "print(f'{$(now) - $1:.2f}')"; }

# every experiment's first report builds its rollup (core/analytics/rollup.c)
# and the second is still several times slower than the rest (measured:
# whichever side ran first after one pass was slow): two passes here, so
# that neither side below pays for them
for pass in 1 2; do
	for i in $(seq -f %03g 0 199); do "$NB" report "hb-$i" --json >/dev/null; done
done

sleep "${SETTLE_S:-10}" # ClickHouse merges what the warm-up wrote

# all_rows_numbers: every hb- row on screen has a percentage (lift, win)
all_rows_numbers() {
	local scr vis num
	scr=$(TM capture-pane -p -t d)
	vis=$(printf '%s\n' "$scr" | grep -cE '^hb-[0-9]{3} ' || true)
	num=$(printf '%s\n' "$scr" | grep -E '^hb-[0-9]{3} ' | grep -c '%' || true)
	[ "$vis" -gt 0 ] && [ "$num" -eq "$vis" ]
}
wait_until() { # wait_until SECONDS CMD...: polls CMD every 0.1 s
	local end=$((SECONDS + $1)); shift
	until "$@"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.1
	done
}
stats_all() { TM capture-pane -p -t d | grep -q 'stats 200/200'; }

TM new-session -d -s d -x 200 -y 50 "exec env TERM=xterm-256color $NB dash 2>$tmp/dash.err"
t0=$(now)
wait_until 120 all_rows_numbers && first=$(since "$t0") || first="> 120"
wait_until 120 stats_all && all=$(since "$t0") || all="> 120"
TM kill-session -t d

TM new-session -d -s d -x 200 -y 50 "exec env TERM=xterm-256color $NB dash 2>$tmp/dash.err"
wait_until 30 bash -c "tmux -L $SOCK -f /dev/null capture-pane -p -t d | grep -q '^hb-000 '"
TM send-keys -t d G
t0=$(now)
wait_until 120 all_rows_numbers && last=$(since "$t0") || last="> 120"
sleep "$STEADY_S"
oldest=$(TM capture-pane -p -t d | grep -E '^hb-[0-9]{3} ' | awk '{print $NF}' |
	python3 -c '
import sys
m = {"s": 1, "m": 60, "h": 3600, "d": 86400}
ages = [int(a[:-1]) * m[a[-1]] for a in sys.stdin.read().split() if a[:-1].isdigit() and a[-1] in m]
print(max(ages) if ages else "?")')
TM kill-session -t d

# ---- baseline: report children one at a time, in table order ----
t0=$(now)
for i in $(seq -f %03g 0 199); do
	"$NB" report "hb-$i" --json >/dev/null
	[ "$i" = 044 ] && base45=$(since "$t0")
done
base200=$(since "$t0")

echo "home view, 200 running experiments, 200x50 (45 rows on screen):"
echo "  first screen with statistics:  ${first} s   (baseline: the first 45 of 200 report children one at a time: ${base45} s)"
echo "  after End, last rows:          ${last} s   (baseline: the last rows came after all 200 children: ${base200} s)"
echo "  all 200 with statistics:       ${all} s   (baseline: ${base200} s)"
echo "  oldest statistics on screen after ${STEADY_S} s at the last rows: ${oldest} s (refresh period 5 s)"
