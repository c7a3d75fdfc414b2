#!/usr/bin/env bash
# bench_cluster.sh — report, funnel and cohort times on a ClickHouse cluster
# of 2 shards against 1 node, the same rows on both, the same run (issue 14;
# docs/analytics.md, "On a cluster"). Both are servers of this run on
# loopback: the node (tests/lib/ch.sh ch_node_start, schema ch_schema) and
# the cluster (ch_cluster_start 2: two servers and ZooKeeper, schema by
# `neonblue migrate` in cluster mode). N events (default 10 M) over N/10
# users are generated inside ClickHouse (INSERT … SELECT FROM numbers()),
# then per setup: the first report (it builds the rollup), then medians of 3
# of the report (rollup), the report with --scan (the raw tables), a funnel
# and a cohort table; printed: each time, the ratio cluster / node, whether
# both give the same numbers (up to the order of float additions), and the
# load average. On this 2-core machine the two shards share the cores the
# one node has: the ratio shows the cost of the distributed plan, not a
# speed-up (docs/analytics.md has the figures).
# Usage: bench/bench_cluster.sh [EVENTS]   PostgreSQL for `migrate`: $NEONBLUE_HOME's stack
# when one is up, else a stack started in a temp dir.
set -u
cd "$(dirname "$0")/.."
NB=${NB:-$PWD/build/neonblue}
N=${1:-10000000}
U=$((N / 10))
W=$(mktemp -d /tmp/bench_cluster.XXXXXX)
chmod 755 "$W"
. tests/lib/t.sh >/dev/null # t_free_port
. tests/lib/ch.sh
. bench/lib/stack.sh
bench_stack_up || exit 1
PG=$(. "$HOME_DIR/stack.env" && echo "$NEONBLUE_PG")
cleanup() {
	ch_node_stop "$W/one"
	ch_cluster_stop
	bench_stack_down
	rm -rf "$W"
}
trap cleanup EXIT
now() { date +%s.%N; }
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
q() { curl -sS --fail-with-body "$1/?insert_distributed_sync=1" --data-binary "$2"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "load average at the start: $(load)"
ch_node_start "$W/one" "$(t_free_port)" "$(t_free_port)" || exit 1
ONE=http://127.0.0.1:$(sed -n 's:.*<http_port>\([0-9]*\)</http_port>.*:\1:p' "$W/one/config.xml")
ch_schema "$ONE" neonblue || exit 1
ch_cluster_start 2 || exit 1
CL=$CL_URL
NEONBLUE_PG=$PG NEONBLUE_CLICKHOUSE=$CL NEONBLUE_CLICKHOUSE_CLUSTER=nbc "$NB" migrate >/dev/null || exit 1

BASE=1793500000
fill() { # fill URL: the experiment, its metrics, U users, N events
	local u=$1
	q "$u" "INSERT INTO neonblue.experiments (key, name, status, seed, hash_version, coverage, owner, created_at, updated_at, version, _version, _deleted) VALUES ('bench', 'bench', 'running', 'bench', 2, 1, '', now(), now(), 1, 1, 0)"
	q "$u" "INSERT INTO neonblue.variants (experiment, key, name, weight, is_control, config, position, _version, _deleted) VALUES ('bench', 'control', 'control', 0.5, 1, '{}', 0, 1, 0), ('bench', 'treatment', 'treatment', 0.5, 0, '{}', 1, 1, 0)"
	q "$u" "INSERT INTO neonblue.metrics (key, name, kind, event_types, value_property, direction, winsorize, description, created_at, updated_at, _version, _deleted) VALUES ('conv', 'conv', 'binomial', ['purchase'], NULL, 'increase', NULL, '', now(), now(), 1, 0), ('revenue', 'revenue', 'sum', ['purchase'], NULL, 'increase', 99, '', now(), now(), 1, 0), ('ctr', 'ctr', 'ratio', ['click', 'view'], NULL, 'increase', NULL, '', now(), now(), 1, 0)"
	q "$u" "INSERT INTO neonblue.experiment_metrics (experiment, metric, role, position, _version, _deleted) VALUES ('bench', 'conv', 'primary', 0, 1, 0), ('bench', 'revenue', 'guardrail', 1, 1, 0), ('bench', 'ctr', 'secondary', 2, 1, 0)"
	q "$u" "INSERT INTO neonblue.assignments SELECT 'bench', concat('u', toString(number)), if(cityHash64(number) % 2 = 0, 'control', 'treatment'), toDateTime($BASE + intDiv(number, 100)), number % 1000000, 'hash', 1, NULL, 1, 0 FROM numbers($U)"
	# 10 events per user on average, a fifth before the assignment (not counted)
	q "$u" "INSERT INTO neonblue.events SELECT generateUUIDv4(), concat('u', toString(u)), arrayElement(['view', 'view', 'view', 'click', 'click', 'add_to_cart', 'purchase'], 1 + (h % 7)), toDateTime($BASE + intDiv(u, 100) + toInt64(h % 86400) - 17280), h % 1000000, if(h % 7 = 6, toFloat64(h % 10000) / 100, NULL), NULL, NULL, 1, 0 FROM (SELECT number % $U AS u, cityHash64(number) AS h FROM numbers($N))"
}
secs() { local t0 t1; t0=$(now); "$@" >/dev/null || echo "failed: $*" >&2; t1=$(now); echo "$t1 - $t0" | bc; }
declare -A T
fail=0
for k in "one|$ONE" "cluster|$CL"; do
	IFS="|" read -r name url <<<"$k"
	c=(--clickhouse "$url" --database neonblue --json)
	t0=$(now)
	fill "$url"
	T[$name.load]=$(echo "$(now) - $t0" | bc)
	rows=$(q "$url" "SELECT count() FROM neonblue.events")
	# a user's rollup row is redone until it was computed 2 s after their latest
	# data, and a refresh rereads the last 10 s of the touched log
	sleep 3
	T[$name.cold]=$(secs "$NB" report bench "${c[@]}")
	sleep 12
	for a in report scan funnel cohort; do
		case $a in
		report) cmd=("$NB" report bench "${c[@]}") ;;
		scan) cmd=("$NB" report bench --scan "${c[@]}") ;;
		funnel) cmd=("$NB" funnel bench --steps view,click,purchase --window 1h "${c[@]}") ;;
		cohort) cmd=("$NB" cohort bench "${c[@]}") ;;
		esac
		r=()
		for i in 1 2 3; do r+=("$(secs "${cmd[@]}")"); done
		T[$name.$a]=$(median3 "${r[@]}")
		"${cmd[@]}" >"$W/$name.$a.json"
	done
	echo "$name: $rows events, $U users loaded in ${T[$name.load]} s; first report (builds the rollup) ${T[$name.cold]} s; load average $(load)"
done
printf '%-8s %10s %10s %8s  %s\n' what "1 node s" "2 shards s" ratio "same numbers"
for a in cold report scan funnel cohort; do
	same=-
	[ "$a" != cold ] && same=$(python3 bench/jsoneq.py "$W/one.$a.json" "$W/cluster.$a.json")
	[ "$same" = no ] && fail=1
	printf '%-8s %10.3f %10.3f %7.2fx  %s\n' "$a" "${T[one.$a]}" "${T[cluster.$a]}" \
		"$(echo "scale=3; ${T[cluster.$a]} / ${T[one.$a]}" | bc)" "$same"
done
echo "(medians of 3; cold: one run. ratio = 2 shards / 1 node; load average at the end: $(load))"
exit $fail
