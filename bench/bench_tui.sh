#!/usr/bin/env bash
# bench_tui.sh — the dashboard on a temporary embedded stack, driven in tmux:
#  1. frame time (full redraw + flush) of the experiments view with 200
#     experiments and of the detail view, at 200×50 and 80×24 (target < 2 ms);
#  2. CPU of an idle dashboard over IDLE_S seconds, children included
#     (target < 1 %);
#  3. under a FEED_RATE events/s feed for FEED_S seconds (kcat producing
#     Debezium envelopes into the events topic): peak RSS and its growth
#     (target < 40 MB and flat), and keypress-to-screen latency through tmux.
# Usage: bench/bench_tui.sh   (IDLE_S=20 FEED_S=60 FEED_RATE=10000 by default;
# the issue's 10-minute figure is FEED_S=600)
set -eu
cd "$(dirname "$0")/.."
NB=${NB:-$PWD/build/neonblue}
IDLE_S=${IDLE_S:-20}
FEED_S=${FEED_S:-60}
FEED_RATE=${FEED_RATE:-10000}
tmp=$(mktemp -d /tmp/nbbench-tui.XXXXXX)
home=$tmp/home
SOCK=nbbtui$$
TM() { tmux -L "$SOCK" -f /dev/null "$@"; }
cleanup() {
	TM kill-server 2>/dev/null || true
	"$NB" stack down --home "$home" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
"$NB" stack up --home "$home" >/dev/null
. "$home/stack.env"
export NEONBLUE_HOME=$home

# ---- 200 experiments, 20 of them with traffic ----
for i in $(seq -f %03g 0 199); do
	"$NB" exp create --key "bench-$i" --name "Benchmark experiment $i" \
		--variants control:50,treatment:50 >/dev/null
done
for i in $(seq -f %03g 0 19); do
	"$NB" exp start "bench-$i" >/dev/null
	seq 1 500 | sed "s/^/u$i-/" | "$NB" assign "bench-$i" --users - >/dev/null
done

frames() { # frames COLS ROWS ARGS... → the figure line
	TM new-session -d -s f -x "$1" -y "$2" \
		"TERM=xterm-256color $NB dash --bench-frames 300 ${*:3} 2>$tmp/frames.err"
	while TM has-session -t f 2>/dev/null; do sleep 0.3; done
	cat "$tmp/frames.err"
}
echo "frame time (300 full frames each; target < 2000 us):"
frames 200 50
frames 80 24
frames 200 50 --view detail --exp bench-000
frames 80 24 --view detail --exp bench-000

cpu_ticks() { # utime+stime+cutime+cstime of a pid
	awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"
}
start_dash() {
	TM new-session -d -s d -x 120 -y 40 "exec env TERM=xterm-256color $NB dash $* 2>$tmp/dash.err"
	sleep 0.5
	TM list-panes -t d -F '#{pane_pid}'
}
hz=$(getconf CLK_TCK)

# ---- idle CPU ----
pid=$(start_dash)
sleep 6 # first queries and reports done
c0=$(cpu_ticks "$pid")
sleep "$IDLE_S"
c1=$(cpu_ticks "$pid")
python3 -c "print(f'idle CPU over $IDLE_S s: {($c1 - $c0) / $hz / $IDLE_S * 100:.2f} % (target < 1 %)')"
TM kill-session -t d

# ---- a FEED_RATE events/s feed ----
topic=${NEONBLUE_TOPIC_PREFIX:-neonblue}.public.events
python3 - "$tmp/batch" "$FEED_RATE" <<'EOF'
import json, sys, uuid
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        after = {"event_id": str(uuid.UUID(int=i)), "user_id": f"u{i % 5000}", "type": "view",
                 "ts": "2026-11-27T06:00:00Z", "value": i % 100, "properties": None,
                 "experiment": f"bench-{i % 20:03d}"}
        env = {"before": None, "after": after, "op": "c", "ts_ms": 1764223200000,
               "source": {"version": "bench", "connector": "postgresql", "name": "neonblue",
                          "ts_ms": 1764223200000, "db": "neonblue", "schema": "public",
                          "table": "events", "txId": i, "lsn": i}}
        f.write(json.dumps(env) + "\n")
EOF
# the topic must exist before the dashboard looks for it
kcat -P -b "$NEONBLUE_KAFKA" -t "$topic" -l "$tmp/batch" 2>/dev/null
pid=$(start_dash --view feed)
sleep 3
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
r_start=$(rss "$pid")
end=$((SECONDS + FEED_S))
# the producer: FEED_RATE envelopes every second, in the background
(
	while [ $SECONDS -lt $end ]; do
		t0=$(date +%s.%N)
		kcat -P -b "$NEONBLUE_KAFKA" -t "$topic" -l "$tmp/batch" 2>/dev/null
		sleep "$(python3 -c "print(max(0, 1 - ($(date +%s.%N) - $t0)))")"
	done
) &
producer=$!
lat=()
samples=()
while [ $SECONDS -lt $end ]; do
	t0=$(date +%s.%N)
	# keypress → screen: toggle the help overlay and wait until tmux shows it
	k0=$(date +%s.%N)
	TM send-keys -t d '?'
	until TM capture-pane -p -t d | grep -q 'Keys'; do sleep 0.005; done
	k1=$(date +%s.%N)
	TM send-keys -t d x
	lat+=("$(python3 -c "print(int(($k1 - $k0) * 1000))")")
	samples+=("$(rss "$pid")")
	sleep "$(python3 -c "print(max(0, 1 - ($(date +%s.%N) - $t0)))")"
done
wait "$producer" 2>/dev/null || true
r_end=$(rss "$pid")
peak=$(hwm "$pid")
shown=$(TM capture-pane -p -t d | grep -oE '[0-9,]+ rows received' || true)
TM kill-session -t d
python3 - "$r_start" "$r_end" "$peak" "${#samples[@]}" "$FEED_RATE" "$FEED_S" "${lat[*]}" "$shown" "${samples[*]}" <<'EOF'
import sys
s, e, peak, n, rate, secs = (int(x) for x in sys.argv[1:7])
lat = sorted(int(x) for x in sys.argv[7].split())
rs = [int(x) for x in sys.argv[9].split()]
step = max(1, len(rs) // 6)
print("RSS every %d s (MB): %s" % (step, " ".join(f"{x/1024:.1f}" for x in rs[::step])))
print(f"feed {rate} events/s for {secs} s ({sys.argv[8]}): RSS {s/1024:.1f} MB at start, "
      f"{e/1024:.1f} MB at the end, peak {peak/1024:.1f} MB (target < 40 MB, flat)")
if lat:
    print(f"keypress → screen during the feed: p50 {lat[len(lat)//2]} ms, max {lat[-1]} ms "
          f"({len(lat)} presses, through tmux)")
EOF
