#!/usr/bin/env bash
# bench_tui.sh — the dashboard on a temporary embedded stack, driven in tmux:
#  1. frame time (full redraw + flush) of the experiments view with 200
#     experiments and of the detail view, at 200×50 and 80×24 (target < 2 ms);
#  2. CPU of an idle dashboard over IDLE_S seconds, children included
#     (target < 1 %);
#  3. under a FEED_RATE events/s feed for FEED_S seconds
#     (build/bench/bench_feed_producer: the relay's Debezium envelopes into the
#     events topic on a fixed clock): the rate produced, the rate that reached
#     the topic (its high watermarks) and the rate the dashboard consumed (its
#     own "rows received"); peak RSS and its growth (target < 40 MB and flat);
#     keypress-to-screen latency through tmux (p50/p99/max).
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
# build/bench/bench_feed_producer: the relay's envelopes and producer settings,
# paced on a fixed clock; it prints the rate it achieved.
PROD=${PROD:-$PWD/build/bench/bench_feed_producer}
[ -x "$PROD" ] || make -s build/bench/bench_feed_producer >/dev/null
topic=${NEONBLUE_TOPIC_PREFIX:-neonblue}.public.events
hwm_topic() { # the topic's high watermarks summed: every message it holds
	local args=() p
	for p in $(kcat -L -b "$NEONBLUE_KAFKA" -t "$topic" 2>/dev/null |
		awk '/partition [0-9]+,/ {print $2}' | tr -d ,); do
		args+=(-t "$topic:$p:-1")
	done
	kcat -Q -b "$NEONBLUE_KAFKA" "${args[@]}" 2>/dev/null | awk '{s += $NF} END {print s + 0}'
}
# the topic must exist before the dashboard looks for it
"$PROD" --kafka "$NEONBLUE_KAFKA" --topic "$topic" --rate 1000 --seconds 1 >/dev/null
pid=$(start_dash --view feed)
sleep 3
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
received() { # the feed view's "N rows received" (the dashboard's own count)
	local n i
	for i in 1 2 3 4 5; do
		n=$(TM capture-pane -p -t d | grep -oE '[0-9,]+ rows received' | tr -d , | awk '{print $1}')
		[ -n "$n" ] && break
		sleep 0.1
	done
	echo "${n:-?}"
}
now() { date +%s.%N; }
# key_latency KEY PATTERN present|absent: ms from send-keys until the screen shows it
key_latency() {
	local k0
	k0=$(now)
	TM send-keys -t d "$1"
	if [ "$3" = present ]; then
		until TM capture-pane -p -t d | grep -q "$2"; do sleep 0.005; done
	else
		while TM capture-pane -p -t d | grep -q "$2"; do sleep 0.005; done
	fi
	python3 -c "print(int(($(now) - $k0) * 1000))"
}
# the same keypress measurement without a feed: what tmux and the polling add
base=()
for i in $(seq 1 10); do
	base+=("$(key_latency '?' 'Keys ' present)")
	base+=("$(key_latency x 'Keys ' absent)")
	sleep 0.2
done
r_start=$(rss "$pid")
w0=$(hwm_topic)
c0=$(received)
t_feed=$(now)
"$PROD" --kafka "$NEONBLUE_KAFKA" --topic "$topic" --rate "$FEED_RATE" --seconds "$FEED_S" \
	>"$tmp/producer.out" 2>&1 &
producer=$!
lat=()
samples=()
counts=()
end=$((SECONDS + FEED_S))
while [ $SECONDS -lt $end ]; do
	t0=$(now)
	counts+=("$(python3 -c "print(round($(now) - $t_feed, 3))"):$(received)")
	# keypress → screen: the help overlay opens ('?') and closes (any key)
	lat+=("$(key_latency '?' 'Keys ' present)")
	lat+=("$(key_latency x 'Keys ' absent)")
	samples+=("$(rss "$pid")")
	sleep "$(python3 -c "print(max(0, 1 - ($(now) - $t0)))")"
done
wait "$producer" || { cat "$tmp/producer.out"; exit 1; }
sleep 2 # what is left drains
if ! kill -0 "$pid" 2>/dev/null; then
	echo "the dashboard exited during the feed: $(cat "$tmp/dash.err")"
	exit 1
fi
c_end=$(received)
w_end=$(hwm_topic)
r_end=$(rss "$pid")
peak=$(hwm "$pid")
TM kill-session -t d
cat "$tmp/producer.out"
python3 - "$r_start" "$r_end" "$peak" "$FEED_RATE" "$FEED_S" "${lat[*]}" "${samples[*]}" \
	"$w0" "$w_end" "$c0" "$c_end" "${counts[*]}" "${base[*]}" <<'EOF'
import sys
s, e, peak, rate, secs = (int(x) for x in sys.argv[1:6])
lat = sorted(int(x) for x in sys.argv[6].split())
rs = [int(x) for x in sys.argv[7].split()]
if not all(x.isdigit() for x in sys.argv[8:12]):
    sys.exit(f"could not read the counts (topic {sys.argv[8]}..{sys.argv[9]}, "
             f"dashboard {sys.argv[10]}..{sys.argv[11]})")
w0, w1, c0, c1 = (int(x) for x in sys.argv[8:12])
# (a sample whose count could not be read from the screen is "?": left out)
pts = [(float(t), int(c)) for t, c in (x.split(":") for x in sys.argv[12].split()) if c.isdigit()]
# steady state: from the first sample after 2 s to the last one taken during the feed
steady = [p for p in pts if p[0] >= 2] or pts or [(0.0, c0), (float(secs), c1)]
(ta, ca), (tb, cb) = steady[0], steady[-1]
print(f"topic: {w1 - w0:,} messages arrived ({(w1 - w0) / secs:,.0f}/s over {secs} s, "
      "from its high watermarks)")
print(f"dashboard consumed {c1 - c0:,} rows ({(c1 - c0) / secs:,.0f}/s over {secs} s; steady state "
      f"{(cb - ca) / max(tb - ta, 1e-9):,.0f}/s from {ta:.0f} s to {tb:.0f} s); "
      f"{(w1 - w0) - (c1 - c0):,} of the topic's not shown 2 s after the feed stopped")
step = max(1, len(rs) // 6)
print("RSS every %d s (MB): %s" % (step, " ".join(f"{x/1024:.1f}" for x in rs[::step])))
half = rs[len(rs) // 2:] or rs
print(f"feed of {rate} events/s for {secs} s: RSS {s/1024:.1f} MB at start, {e/1024:.1f} MB at the "
      f"end, peak {peak/1024:.1f} MB, range over the second half {(max(half) - min(half))/1024:.1f} MB "
      "(target < 40 MB, flat)")
def pct(xs, q):
    return xs[min(len(xs) - 1, int(q * len(xs)))]
if lat:
    print(f"keypress → screen during the feed: p50 {pct(lat, 0.5)} ms, p99 {pct(lat, 0.99)} ms, "
          f"max {lat[-1]} ms ({len(lat)} keypresses: help overlay opened and closed, through tmux)")
base = sorted(int(x) for x in sys.argv[13].split())
if base:
    print(f"keypress → screen without a feed, same path: p50 {pct(base, 0.5)} ms, p99 {pct(base, 0.99)} ms, "
          f"max {base[-1]} ms ({len(base)} keypresses: what tmux and the screen polling cost)")
EOF
