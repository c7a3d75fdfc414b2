#!/usr/bin/env bash
# bench_report.sh — `neonblue report` wall time for one experiment (3 metrics:
# binomial, winsorised sum, ratio) on 1M and 10M events, against the time
# ClickHouse itself takes for a plain `SELECT variant, count()` over the same
# rows (events joined to the experiment's assignments, GROUP BY variant) in
# the same run. Target: report within 3× of that floor and < 1 s at 10M.
# The report reads the per-user rollup (docs/analytics.md); also printed: the
# first report after the bulk load (which builds the rollup), a report after
# 1% more events arrived (which refreshes their users), the same report with
# --scan (the raw tables) and whether both give the same numbers (exit 1 if not),
# and the count with FINAL.
# The rows are generated inside ClickHouse (INSERT … SELECT FROM numbers(),
# the same columns a TSV load would fill), in a database of its own.
# Usage: bench/bench_report.sh [EVENTS...]   (default: 1000000 10000000)
# Uses $NEONBLUE_HOME's stack when one is up, else starts one in a temp dir.
set -u
cd "$(dirname "$0")/.."
NB=${NB:-$PWD/build/neonblue}
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(1000000 10000000)
W=$(mktemp -d /tmp/bench_report.XXXXXX)
chmod 755 "$W"
DB=${BENCH_DB:-bench_report_$$}
. bench/lib/stack.sh
. bench/lib/experiment.sh
bench_stack_up || exit 1
. "$HOME_DIR/stack.env"
CH=$NEONBLUE_CLICKHOUSE
cleanup() {
	[ -z "${BENCH_KEEP:-}" ] && curl -s "$CH" --data-binary "DROP DATABASE IF EXISTS $DB" >/dev/null
	bench_stack_down
	rm -rf "$W"
}
trap cleanup EXIT
q() { curl -sS --fail-with-body "$CH" --data-binary "$1"; }
now() { date +%s.%N; }
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }

. tests/lib/ch.sh # ch_schema
ch_schema "$CH" "$DB"
bench_experiment "$DB" q || exit 1

BASE=1793500000
loaded=0
fail=0
secs() { local t0 t1; t0=$(now); "$@" >/dev/null || echo "failed: $*" >&2; t1=$(now); echo "$t1 - $t0" | bc; }
report() { "$NB" report bench --json --clickhouse "$CH" --database "$DB" "$@"; }
add_events() { # add_events COUNT: COUNT more events over the U users (10 per user on average)
	# a fifth of them before the user's assignment (not counted)
	q "INSERT INTO $DB.events SELECT generateUUIDv4(), concat('u', toString(u)), arrayElement(['view', 'view', 'view', 'click', 'click', 'add_to_cart', 'purchase'], 1 + (h % 7)), toDateTime($BASE + intDiv(u, 100) + toInt64(h % 86400) - 17280), h % 1000000, if(h % 7 = 6, toFloat64(h % 10000) / 100, NULL), NULL, NULL, 1, 0 FROM (SELECT (number + $loaded) % $U AS u, cityHash64(number + $loaded) AS h FROM numbers($1))"
	loaded=$((loaded + $1))
}
for N in "${SIZES[@]}"; do
	U=$((N / 10))
	q "TRUNCATE TABLE $DB.assignments" >/dev/null 2>&1 || q "DROP TABLE IF EXISTS $DB.assignments_x" >/dev/null
	q "INSERT INTO $DB.assignments SELECT 'bench', concat('u', toString(number)), if(cityHash64(number) % 2 = 0, 'control', 'treatment'), toDateTime($BASE + intDiv(number, 100)), number % 1000000, 'hash', 1, NULL, 1, 0 FROM numbers($U)"
	t0=$(now)
	add_events $((N - loaded))
	t1=$(now)
	rows=$(q "SELECT count() FROM $DB.events")
	echo "loaded $rows events, $U users in $(echo "$t1 - $t0" | bc) s"
	# a user's rollup row is redone until it was computed 2 s after their
	# latest data (docs/analytics.md): let the load's last second settle
	sleep 3
	# the first report after a bulk load brings the rollup up to date (here: builds
	# or refreshes every user); `stack`'s dashboard and reports keep it current
	cold=$(secs report)
	# a refresh rereads the last 10 s of the touched log (docs/analytics.md):
	# "warm" is a rollup with nothing pending, so let that window pass
	sleep 12
	floor=() ffinal=() rep=()
	for i in 1 2 3; do
		t0=$(now)
		q "SELECT variant, count() FROM (SELECT user_id FROM $DB.events FINAL WHERE _deleted = 0) ALL INNER JOIN (SELECT user_id, variant FROM $DB.assignments FINAL WHERE experiment = 'bench' AND _deleted = 0) USING user_id GROUP BY variant" >/dev/null
		t1=$(now)
		ffinal+=("$(echo "$t1 - $t0" | bc)")
		t0=$(now)
		q "SELECT variant, count() FROM (SELECT user_id FROM $DB.events) ALL INNER JOIN (SELECT user_id, variant FROM $DB.assignments WHERE experiment = 'bench') USING user_id GROUP BY variant" >/dev/null
		t1=$(now)
		floor+=("$(echo "$t1 - $t0" | bc)")
		rep+=("$(secs report)")
	done
	report >"$W/report.json"
	f=$(median3 "${floor[@]}")
	r=$(median3 "${rep[@]}")
	ratio=$(echo "scale=2; $r / $f" | bc)
	ff=$(median3 "${ffinal[@]}")
	# steady state: 1% more events arrive (new rows for about a tenth of the
	# users), then one report refreshes exactly those users
	add_events $((N / 100))
	incr=$(secs report)
	report >"$W/incr.json"
	scan=$(secs report --scan)
	report --scan >"$W/scan.json"
	# equal up to the order of floating-point additions (sums of values that
	# are not exact binary fractions may differ in the last bits)
	same=$(python3 bench/jsoneq.py "$W/incr.json" "$W/scan.json")
	echo "events=$N  count-group-by floor ${f}s  report ${r}s  ratio ${ratio}x  (medians of 3)"
	echo "  target: within 3x of the floor$([ "$N" -ge 10000000 ] && echo " and under 1 s"):" \
		"$(if [ "$(echo "$ratio <= 3" | bc)" = 1 ] && { [ "$N" -lt 10000000 ] || [ "$(echo "$r < 1" | bc)" = 1 ]; }; then echo met; else echo MISSED; fi)"
	echo "  first report after the bulk load (rollup built/refreshed for every user): ${cold}s"
	echo "  after $((N / 100)) more events: report ${incr}s (refreshes their users);" \
		"the same report reading the raw tables (--scan): ${scan}s; same numbers (1e-9): $same"
	echo "  for context: the count with FINAL (exact reads) ${ff}s"
	echo "  report: $(jq -c '{srm: .srm.p_value, users: [.variants[].users], conv: [.metrics[0].results[].mean]}' "$W/report.json")"
	[ "$same" = yes ] || fail=1
done
exit $fail
