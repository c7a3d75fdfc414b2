#!/usr/bin/env bash
# bench_cluster.sh — report, funnel and cohort times on a ClickHouse cluster
# of 2 shards against 1 node, the same rows on both, the same run (issue 14;
# docs/analytics.md, "On a cluster"). Both are servers of this run on
# loopback: the node (tests/lib/ch.sh ch_node_start, schema ch_schema) and
# the cluster (ch_cluster_start 2: two servers and ZooKeeper, schema by
# `neonblue migrate` in cluster mode). N events (default 10 M) over N/10
# users are generated inside ClickHouse (INSERT … SELECT FROM numbers()) in
# both, then the first report (it builds the rollup) on each, then medians of
# 3 of the report (rollup), the report with --scan (the raw tables), a funnel
# and a cohort table, every run alternating between the node and the
# cluster so that both sides of a ratio see the same load; printed: each time, the ratio cluster / node, whether
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
. bench/lib/experiment.sh
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
	bench_experiment neonblue q "$u"
	q "$u" "INSERT INTO neonblue.assignments SELECT 'bench', concat('u', toString(number)), if(cityHash64(number) % 2 = 0, 'control', 'treatment'), toDateTime($BASE + intDiv(number, 100)), number % 1000000, 'hash', 1, NULL, 1, 0 FROM numbers($U)"
	# 10 events per user on average, a fifth before the assignment (not counted)
	q "$u" "INSERT INTO neonblue.events SELECT generateUUIDv4(), concat('u', toString(u)), arrayElement(['view', 'view', 'view', 'click', 'click', 'add_to_cart', 'purchase'], 1 + (h % 7)), toDateTime($BASE + intDiv(u, 100) + toInt64(h % 86400) - 17280), h % 1000000, if(h % 7 = 6, toFloat64(h % 10000) / 100, NULL), NULL, NULL, 1, 0 FROM (SELECT number % $U AS u, cityHash64(number) AS h FROM numbers($N))"
}
secs() { local t0 t1; t0=$(now); "$@" >/dev/null || echo "failed: $*" >&2; t1=$(now); echo "$t1 - $t0" | bc; }
declare -A T
fail=0
# both setups are filled first, then every measurement alternates between
# them (node, cluster, node, ...) so that a change of the machine's load
# weighs on both sides of a ratio alike
for k in "one|$ONE" "cluster|$CL"; do
	IFS="|" read -r name url <<<"$k"
	t0=$(now)
	fill "$url"
	T[$name.load]=$(echo "$(now) - $t0" | bc)
	T[$name.rows]=$(q "$url" "SELECT count() FROM neonblue.events")
	echo "$name: ${T[$name.rows]} events, $U users loaded in ${T[$name.load]} s; load average $(load)"
done
cmd() { # cmd NAME WHAT: the command line of WHAT on setup NAME
	local url=$ONE
	[ "$1" = cluster ] && url=$CL
	local c=(--clickhouse "$url" --database neonblue --json)
	case $2 in
	cold | report) echo "$NB" report bench "${c[@]}" ;;
	scan) echo "$NB" report bench --scan "${c[@]}" ;;
	funnel) echo "$NB" funnel bench --steps view,click,purchase --window 1h "${c[@]}" ;;
	cohort) echo "$NB" cohort bench "${c[@]}" ;;
	esac
}
# a user's rollup row is redone until it was computed 2 s after their latest
# data, and a refresh rereads the last 10 s of the touched log
sleep 3
for name in one cluster; do
	read -ra c <<<"$(cmd $name cold)"
	T[$name.cold]=$(secs "${c[@]}")
done
echo "first reports (they build the rollup) done; load average $(load)"
sleep 12
for a in report scan funnel cohort; do
	declare -A R=([one]="" [cluster]="")
	for i in 1 2 3; do
		for name in one cluster; do
			read -ra c <<<"$(cmd $name $a)"
			R[$name]+=" $(secs "${c[@]}")"
		done
	done
	for name in one cluster; do
		# shellcheck disable=SC2086 # the times, one word each
		T[$name.$a]=$(median3 ${R[$name]})
		read -ra c <<<"$(cmd $name $a)"
		"${c[@]}" >"$W/$name.$a.json"
	done
	echo "$a done; load average $(load)"
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
