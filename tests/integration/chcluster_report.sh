#!/usr/bin/env bash
# chcluster_report.sh — analytics on a ClickHouse cluster give the numbers of
# one node (docs/analytics.md, "On a cluster"). The same rows (tests/
# integration/analytics/gen.py: late events, events before the assignment, a
# redelivered batch, an event created then deleted) go into a fresh database
# of the shared stack's ClickHouse (one node) and into a cluster of 2 shards
# (two ClickHouse servers and ZooKeeper on loopback, the schema made by
# `neonblue migrate` in cluster mode): report --json, funnel, cohort,
# revenue, segments (context and event property) equal on both, each equal
# to its --scan; then more arrives (late events, a new user, a delete, a
# batch again) and the rollups, refreshed incrementally, still agree; the
# rollup's rows live on the shard of their user, and a replaced generation
# is dropped on every shard (ALTER … ON CLUSTER).
# needs: stack
set -u
cd "$(dirname "$0")/../.."
. tests/lib/t.sh
. tests/lib/ch.sh
NB=${NB:-build/asan/neonblue}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

: "${NEONBLUE_HOME:?run through tests/run.sh (needs the shared stack)}"
. "$NEONBLUE_HOME/stack.env"
ONE=$NEONBLUE_CLICKHOUSE
DB=nbt_chc_$$
W=$(mktemp -d "${NB_TEST_TMP:-/tmp}/chcluster.XXXXXX")
chmod 755 "$W"
cleanup() {
	curl -s "$ONE" --data-binary "DROP DATABASE IF EXISTS $DB" >/dev/null
	ch_cluster_stop
	rm -rf "$W"
}
trap cleanup EXIT

chq() { curl -sS --fail-with-body "$1/?insert_distributed_sync=1" --data-binary "$2"; }
ins() { # ins URL DB.TABLE FILE
	curl -sS --fail-with-body "$1/?insert_distributed_sync=1&query=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "INSERT INTO $2 FORMAT TabSeparated")" \
		--data-binary @"$3"
}

python3 tests/integration/analytics/gen.py "$W"
if ! ch_cluster_start 2; then
	t_fail cluster-up "the 2-shard cluster did not start"
	t_done; exit 1
fi
CL=$CL_URL
t_run cluster-migrate 0 env NEONBLUE_CLICKHOUSE="$CL" NEONBLUE_CLICKHOUSE_CLUSTER=nbc \
	NEONBLUE_CLICKHOUSE_NODES="$CL_URLS" "$NB" migrate
t_eq cluster-events-distributed \
	"$(chq "$CL" "SELECT engine FROM system.tables WHERE database = 'neonblue' AND name = 'events'")" Distributed
ch_schema "$ONE" "$DB"

# ---- the same rows on both ----
load() { # load URL DB
	local url=$1 db=$2 stmt
	sed "s/DB\./$db./g" "$W/ch_defs.sql" | while IFS= read -r stmt; do
		chq "$url" "${stmt%;}" >/dev/null || echo "defs: $stmt" >&2
	done
	ins "$url" "$db.assignments" "$W/ch_assignments.tsv"
	ins "$url" "$db.events" "$W/ch_events.tsv"
}
load "$ONE" "$DB"
load "$CL" neonblue
live="SELECT count(), sum(ifNull(value, 0)), uniqExact(user_id) FROM %s.events FINAL WHERE _deleted = 0"
t_eq load-same-live-events "$(chq "$CL" "$(printf "$live" neonblue)")" "$(chq "$ONE" "$(printf "$live" "$DB")")"
n1=$(chq "${CL_URLS%%,*}" "SELECT count() FROM neonblue.events_local")
n2=$(chq "${CL_URLS##*,}" "SELECT count() FROM neonblue.events_local")
[ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] && t_pass events-on-both-shards || t_fail events-on-both-shards "$n1 / $n2"

# every analysis as JSON, one file per (where, --scan or not)
analyses() { # analyses URL DB [--scan]
	local c=(--clickhouse "$1" --database "$2" --json ${3:+"$3"})
	"$NB" report exp_a "${c[@]}" && "$NB" report exp_b "${c[@]}" &&
		"$NB" funnel exp_a --steps view,add_to_cart,checkout,purchase --window 1h "${c[@]}" &&
		"$NB" cohort exp_a "${c[@]}" && "$NB" cohort exp_b --period week "${c[@]}" &&
		"$NB" report exp_a --series day "${c[@]}" &&
		"$NB" revenue exp_a "${c[@]}" && "$NB" revenue exp_b --metric revenue "${c[@]}" &&
		"$NB" segments exp_a --by country "${c[@]}" &&
		"$NB" segments exp_b --by event:country "${c[@]}"
}
compare() { # compare ROUND: the four sets at once (each --scan set never
	# touches the rollup; each rollup set is the only one refreshing its database)
	local r=$1 k pids=()
	for k in "one|$ONE|$DB" "cluster|$CL|neonblue"; do
		IFS="|" read -r name url db <<<"$k"
		analyses "$url" "$db" >"$W/$r.$name.json" 2>"$W/$r.$name.err" &
		pids+=("$!:$r-$name-ran:$W/$r.$name.err")
		analyses "$url" "$db" --scan >"$W/$r.$name.scan.json" 2>"$W/$r.$name.scan.err" &
		pids+=("$!:$r-$name-scan-ran:$W/$r.$name.scan.err")
	done
	for k in "${pids[@]}"; do
		IFS=: read -r pid name errf <<<"$k"
		wait "$pid" || t_fail "$name" "$(head -c 400 "$errf")"
	done
	local n
	n=$(jq -s length <"$W/$r.one.json")
	t_eq "$r-analyses" "$n" 10
	t_eq "$r-one-rollup-equals-scan" "$(cmp "$W/$r.one.json" "$W/$r.one.scan.json" && echo same)" same
	t_eq "$r-cluster-equals-one" "$(cmp "$W/$r.one.json" "$W/$r.cluster.json" && echo same)" same
	t_eq "$r-cluster-scan-equals-one" "$(cmp "$W/$r.one.json" "$W/$r.cluster.scan.json" && echo same)" same
	[ "$(jq -s '[.[0].variants[].users] | add' "$W/$r.one.json")" -gt 0 ] &&
		t_pass "$r-has-users" || t_fail "$r-has-users" "no users in the report"
}
compare r1

# the rollup's rows sit on their user's shard: each shard's rollup_base_local
# holds exactly the users of its assignments_local
i=0
for u in ${CL_URLS//,/ }; do
	i=$((i + 1))
	t_eq "rollup-shard-local-$i" \
		"$(chq "$u" "SELECT count() FROM neonblue.rollup_base_local WHERE user_id NOT IN (SELECT user_id FROM neonblue.assignments_local)")/$(chq "$u" "SELECT count() > 0 FROM neonblue.rollup_base_local")" \
		0/1
done

# ---- more arrives: late events, an event before its user's assignment, a
# new user, a deleted event, a batch delivered again ----
BASE=1793500000
tsv_ts() { date -u -d "@$1" '+%Y-%m-%d %H:%M:%S'; }
{
	printf '00000000-0000-0000-0000-0000000a0001\tu001\tpurchase\t%s\t5\t7.5\t{"amount": 12.25}\t\\N\t5\t0\n' "$(tsv_ts $((BASE + 86400 * 9)))"
	printf '00000000-0000-0000-0000-0000000a0002\tu002\tpurchase\t%s\t0\t99.25\t{"amount": 250}\t\\N\t5\t0\n' "$(tsv_ts $((BASE - 86400 * 4)))"
	printf '00000000-0000-0000-0000-0000000a0003\tu900\tview\t%s\t1\t\\N\t{"country": "fr"}\t\\N\t5\t0\n' "$(tsv_ts $((BASE + 200)))"
	printf '00000000-0000-0000-0000-0000000a0004\tu900\tpurchase\t%s\t2\t10\t{"amount": 40, "country": "fr"}\t\\N\t5\t0\n' "$(tsv_ts $((BASE + 260)))"
	# the first purchase of the data, deleted
	awk -F'\t' '$3 == "purchase" && $9 == 1 { OFS = "\t"; $9 = 6; $10 = 1; print; exit }' "$W/ch_events.tsv"
	head -300 "$W/ch_events.tsv"
} >"$W/more_events.tsv"
printf 'exp_a\tu900\ttreat\t%s\t0\thash\t1\t{"country": "fr", "plan": "pro"}\t5\t0\nexp_b\tu900\tnew\t%s\t0\thash\t1\t\\N\t5\t0\n' \
	"$(tsv_ts $((BASE + 100)))" "$(tsv_ts $((BASE + 100)))" >"$W/more_assignments.tsv"
cut -f2 "$W/more_events.tsv" "$W/more_assignments.tsv" | sort -u >"$W/touched.tsv"
for k in "one|$ONE|$DB" "cluster|$CL|neonblue"; do
	IFS="|" read -r name url db <<<"$k"
	ins "$url" "$db.assignments" "$W/more_assignments.tsv"
	ins "$url" "$db.events" "$W/more_events.tsv"
	# as the sink does once ClickHouse acknowledged a batch
	ins "$url" "$db.touched_ack" "$W/touched.tsv"
done
t_eq more-same-live-events "$(chq "$CL" "$(printf "$live" neonblue)")" "$(chq "$ONE" "$(printf "$live" "$DB")")"
compare r2
t_eq r2-changed "$(cmp -s "$W/r1.one.json" "$W/r2.one.json" || echo changed)" changed
t_eq rollup-delta-sharded "$(chq "$CL" "SELECT count() > 0 FROM neonblue.rollup_delta WHERE user_id = 'u900'")" 1

# ---- a replaced generation is dropped on every shard: the delta folded into a
# new base, the old one dropped by ALTER … ON CLUSTER … DROP PARTITION ----
printf '00000000-0000-0000-0000-0000000a0005\tu003\tclick\t%s\t0\t1\t\\N\t\\N\t7\t0\n' "$(tsv_ts $((BASE + 86400 * 2)))" >"$W/fold.tsv"
ins "$CL" neonblue.events "$W/fold.tsv"
echo u003 | ins "$CL" neonblue.touched_ack /dev/stdin
t_run fold-report 0 env NEONBLUE_ROLLUP_FOLD_MIN=1 NEONBLUE_ROLLUP_KEEP_S=0 "$NB" report exp_a --json --clickhouse "$CL" --database neonblue
t_run drop-report 0 env NEONBLUE_ROLLUP_KEEP_S=0 "$NB" report exp_a --json --clickhouse "$CL" --database neonblue
stale="SELECT count() FROM neonblue.rollup_base_local WHERE gen NOT IN (SELECT gen FROM neonblue.rollup_state FINAL)"
t_eq old-generation-dropped-everywhere "$(for u in ${CL_URLS//,/ }; do chq "$u" "$stale"; done | paste -sd/)" 0/0
t_eq after-fold-equals-scan "$(jq -S . <<<"$T_OUT")" \
	"$(jq -S . <<<"$("$NB" report exp_a --json --scan --clickhouse "$CL" --database neonblue)")"
t_done
