#!/usr/bin/env bash
# bench_live.sh — issue #12's table in one run: `neonblue report` (and the
# funnel and cohort commands) on one experiment with three metrics
# (binomial, winsorised sum, ratio) at 10 M events / 1 M users generated
# inside ClickHouse with the project's schema, warm and while 5,000 events/s
# arrive, against the bare `SELECT variant, count()` join (the floor)
# measured in the same run; the first report (it builds the rollup); the
# sink ratio (bench/bench_sink.sh). Goals: live report median < 0.5 s and
# max < 1 s over >= 10 reports (one every 2 s), warm report < 0.5 s, first
# report < 3 s, funnel and cohort < 1 s warm and live, sink ratio >= 0.5.
# Exits 1 when a goal is missed (or the live report differs from --scan);
# prints the load average.
# Usage: bench/bench_live.sh   BENCH_LIVE_EVENTS=N for another size (e.g.
# 200000 for a quick run), BENCH_LIVE_REPORTS (default 12), BENCH_LIVE_RATE
# (events/s, default 5000), BENCH_LIVE_SINK=0 to skip the sink ratio.
set -u
cd "$(dirname "$0")/.."
NB=${NB:-$PWD/build/neonblue}
N=${BENCH_LIVE_EVENTS:-10000000}
U=$((N / 10))
REPORTS=${BENCH_LIVE_REPORTS:-12}
RATE=${BENCH_LIVE_RATE:-5000}
W=$(mktemp -d /tmp/bench_live.XXXXXX)
chmod 755 "$W"
DB=${BENCH_DB:-bench_live_$$}
FEED_PID=
. bench/lib/stack.sh
. bench/lib/experiment.sh
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_stack_up || exit 1
. "$HOME_DIR/stack.env"
CH=$NEONBLUE_CLICKHOUSE
cleanup() {
	[ -n "$FEED_PID" ] && kill "$FEED_PID" 2>/dev/null && wait "$FEED_PID" 2>/dev/null
	[ -z "${BENCH_KEEP:-}" ] && curl -s "$CH" --data-binary "DROP DATABASE IF EXISTS $DB" >/dev/null
	bench_stack_down
	rm -rf "$W"
}
trap cleanup EXIT
q() { curl -sS --fail-with-body "$CH" --data-binary "$1"; }
now() { date +%s.%N; }
secs() { local t0 t1; t0=$(now); "$@" >/dev/null || echo "failed: $*" >&2; t1=$(now); echo "$t1 - $t0" | bc; }
stats() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {printf "%s %s", (NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2), v[NR]}'; }
lt() { [ "$(echo "$1 < $2" | bc)" = 1 ]; }
fail=0
goal() { # goal NAME VALUE LIMIT: VALUE < LIMIT or a miss
	if lt "$2" "$3"; then echo "  $1: ${2}s (goal < $3 s) met"; else echo "  $1: ${2}s (goal < $3 s) MISSED"; fail=1; fi
}
report() { "$NB" report bench --json --clickhouse "$CH" --database "$DB" "$@"; }
funnel() { "$NB" funnel bench --steps view,click,purchase --window 1h --json --clickhouse "$CH" --database "$DB"; }
cohort() { "$NB" cohort bench --period day --periods 7 --json --clickhouse "$CH" --database "$DB"; }

. tests/lib/ch.sh # ch_schema
ch_schema "$CH" "$DB"
bench_experiment "$DB" q || exit 1

# history: assigned over the last days, 10 events per user (a fifth before
# the assignment), as bench/bench_report.sh generates them
BASE=$(($(date +%s) - 3 * 86400))
q "INSERT INTO $DB.assignments SELECT 'bench', concat('u', toString(number)), if(cityHash64(number) % 2 = 0, 'control', 'treatment'), toDateTime($BASE + intDiv(number * 86400, $U)), number % 1000000, 'hash', 1, NULL, 1, 0 FROM numbers($U)"
t0=$(now)
q "INSERT INTO $DB.events SELECT generateUUIDv4(), concat('u', toString(u)), arrayElement(['view', 'view', 'view', 'click', 'click', 'add_to_cart', 'purchase'], 1 + (h % 7)), toDateTime($BASE + intDiv(u * 86400, $U) + toInt64(h % 86400) - 17280), h % 1000000, if(h % 7 = 6, toFloat64(h % 10000) / 100, NULL), NULL, NULL, 1, 0 FROM (SELECT number % $U AS u, cityHash64(number) AS h FROM numbers($N))"
t1=$(now)
echo "loaded $(q "SELECT count() FROM $DB.events") events, $U users in $(echo "$t1 - $t0" | bc) s"
sleep 3

floor=()
for i in 1 2 3; do
	floor+=("$(secs q "SELECT variant, count() FROM (SELECT user_id FROM $DB.events) ALL INNER JOIN (SELECT user_id, variant FROM $DB.assignments WHERE experiment = 'bench') USING user_id GROUP BY variant")")
done
read -r f_med _ <<<"$(stats "${floor[@]}")"
first=$(secs report)
sleep 12 # past the refresh's 10 s window of stamps: nothing pending
warm=() fw=() cw=()
for i in 1 2 3; do warm+=("$(secs report)"); fw+=("$(secs funnel)"); cw+=("$(secs cohort)"); done
read -r w_med _ <<<"$(stats "${warm[@]}")"
# BENCH_VERBOSE: every ClickHouse query of one warm report, with its time
[ -n "${BENCH_VERBOSE:-}" ] && NEONBLUE_TRACE_SQL=1 report 2>&1 >/dev/null | cut -c1-300
read -r fw_med _ <<<"$(stats "${fw[@]}")"
read -r cw_med _ <<<"$(stats "${cw[@]}")"

# live: RATE events a second with the current time, for random users, each
# second's insert stamped through touched_ack once acknowledged (as
# `neonblue sink` does, core/sql/ch/004_touched_ack.sql)
feed() {
	local k=0
	while :; do
		local s0 e
		s0=$(now)
		q "INSERT INTO $DB.events SELECT generateUUIDv4(), concat('u', toString(cityHash64(number, $k, 1) % $U)), arrayElement(['view', 'view', 'view', 'click', 'click', 'add_to_cart', 'purchase'], 1 + (cityHash64(number, $k) % 7)), now(), 0, if(cityHash64(number, $k) % 7 = 6, toFloat64(cityHash64(number, $k, 2) % 10000) / 100, NULL), NULL, NULL, 1, 0 FROM numbers($RATE)" >/dev/null &&
			q "INSERT INTO $DB.touched_ack (user_id) SELECT concat('u', toString(cityHash64(number, $k, 1) % $U)) FROM numbers($RATE)" >/dev/null
		k=$((k + 1))
		e=$(echo "1 - ($(now) - $s0)" | bc)
		lt 0 "$e" && sleep "$e"
	done
}
feed &
FEED_PID=$!
sleep 2
live=() fl=() cl=()
for i in $(seq 1 "$REPORTS"); do
	s0=$(now)
	live+=("$(secs report)")
	[ -n "${BENCH_VERBOSE:-}" ] && [ "$i" = 3 ] && NEONBLUE_TRACE_SQL=1 report 2>&1 >/dev/null | cut -c1-300
	e=$(echo "2 - ($(now) - $s0)" | bc)
	lt 0 "$e" && sleep "$e"
done
for i in 1 2 3; do fl+=("$(secs funnel)"); cl+=("$(secs cohort)"); done
kill "$FEED_PID"; wait "$FEED_PID" 2>/dev/null; FEED_PID=
arrived=$(q "SELECT count() FROM $DB.events WHERE ts > toDateTime($BASE + 2 * 86400 + 17280)")
read -r l_med l_max <<<"$(stats "${live[@]}")"
read -r fl_med _ <<<"$(stats "${fl[@]}")"
read -r cl_med _ <<<"$(stats "${cl[@]}")"
sleep 3
report >"$W/live.json"
report --scan >"$W/scan.json"
same=$(python3 bench/jsoneq.py "$W/live.json" "$W/scan.json")

echo "events=$N users=$U  floor (SELECT variant, count() join) ${f_med}s (median of 3)"
goal "first report (builds the rollup)" "$first" 3
goal "report, nothing arriving (median of 3)" "$w_med" 0.5
goal "report while $RATE events/s arrive: median of ${#live[@]}" "$l_med" 0.5
goal "report while $RATE events/s arrive: max of ${#live[@]}" "$l_max" 1
echo "  live reports: ${live[*]} ($arrived events arrived meanwhile)"
goal "funnel view>click>purchase 1 h, warm (median of 3)" "$fw_med" 1
goal "funnel, live (median of 3)" "$fl_med" 1
goal "cohort 7 daily periods, warm (median of 3)" "$cw_med" 1
goal "cohort, live (median of 3)" "$cl_med" 1
echo "  the rollup after the live load equals --scan (1e-9): $same"
[ "$same" = yes ] || fail=1
if [ "${BENCH_LIVE_SINK:-1}" != 0 ]; then
	bash bench/bench_sink.sh | sed 's/^/  /' || fail=1
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $fail
