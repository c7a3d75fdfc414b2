#!/usr/bin/env bash
# chcluster.sh — `stack up --clickhouse-shards 2 --clickhouse-replicas 2`: four
# ClickHouse 18.16 servers and ZooKeeper, the migrations' cluster form
# (docs/operations.md, "ClickHouse cluster"). 200,000 events stream through 4
# partitions and 2 sinks; mid-stream sink2 and the first replica of shard 2
# are killed with -9 (the supervisor brings them back) and shard 1's second
# replica is stopped (SIGSTOP) for 20 s. ClickHouse's count, sum and distinct
# users equal PostgreSQL's exactly, every node holds the same table layout,
# the rows are spread over both shards, and the stopped replica catches up
# with its peer by itself.

# Not `# needs: stack`: it makes its own stack in a temp home and removes it.
. "$(dirname "$0")/../lib/t.sh"

root=$(mktemp -d "${NB_TEST_TMP:-/tmp}/nbcc.XXXXXX")
H=$root/stack
export NEONBLUE_HOME=$H
unset NEONBLUE_PG NEONBLUE_KAFKA NEONBLUE_CLICKHOUSE NEONBLUE_TOPIC_PREFIX \
	NEONBLUE_CLICKHOUSE_CLUSTER NEONBLUE_CLICKHOUSE_NODES
PRODUCER= STOPPED=
cleanup() {
	[ -n "$STOPPED" ] && kill -CONT "$STOPPED" 2>/dev/null
	[ -n "$PRODUCER" ] && kill "$PRODUCER" 2>/dev/null && wait "$PRODUCER" 2>/dev/null
	"$NB" stack down --home "$H" >/dev/null 2>&1
	rm -rf "$root"
}
trap cleanup EXIT

EVENTS=${NB_CHCLUSTER_EVENTS:-200000}
BATCH=20000
. "$(dirname "$0")/../lib/stack.sh"
jget() { stack_jget "$@"; }
# the supervisor's record (HOME/run/state: NAME PID RESTARTS), without probing
pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$H/run/state"; }
back() { stack_restarted "$1" "$2" 120 && echo 1 || echo 0; }

t_run up 0 "$NB" stack up --home "$H" --partitions 4 --sinks 2 \
	--clickhouse-shards 2 --clickhouse-replicas 2 --timeout 240
t_match up-lists-cluster "$T_OUT" "zookeeper +healthy.*"$'\n'"clickhouse +healthy.*"$'\n'"clickhouse2 +healthy.*"$'\n'"clickhouse3 +healthy.*"$'\n'"clickhouse4 +healthy"
t_match conf-records "$(cat "$H/stack.conf")" "CLICKHOUSE_SHARDS=2"$'\n'"CLICKHOUSE_REPLICAS=2"
set -a; . "$H/stack.env"; set +a
t_eq env-cluster "$NEONBLUE_CLICKHOUSE_CLUSTER" neonblue
IFS=, read -r -a NODES <<<"$NEONBLUE_CLICKHOUSE_NODES"
t_eq env-nodes "${#NODES[@]} ${NODES[0]}" "4 $NEONBLUE_CLICKHOUSE"
PG=$NEONBLUE_PG CH=$NEONBLUE_CLICKHOUSE
sql() { psql "$PG" -XAtqc "$1"; }
chq() { curl -sS --max-time 20 "${2:-$CH}" --data-binary "$1"; }

t_eq shard-replica-of-node4 "$(jget clickhouse4 shard)/$(jget clickhouse4 replica)" "2/2"
t_eq clusters "$(chq "SELECT shard_num, replica_num FROM system.clusters WHERE cluster = 'neonblue'
	ORDER BY shard_num, replica_num FORMAT CSV" | tr '\n' ' ')" "1,1 1,2 2,1 2,2 "
# every node has the same layout: the sharded pair and the replicated tables
layout="SELECT name, engine FROM system.tables WHERE database = 'neonblue'
	AND name IN ('events', 'events_local', 'touched_ack_local', 'experiments', 'schema_migrations')
	ORDER BY name FORMAT CSV"
want_layout='"events","Distributed" "events_local","ReplicatedReplacingMergeTree" "experiments","ReplicatedReplacingMergeTree" "schema_migrations","ReplicatedMergeTree" "touched_ack_local","Null" '
same=0
for n in "${NODES[@]}"; do
	[ "$(chq "$layout" "$n" | tr '\n' ' ')" = "$want_layout" ] && same=$((same + 1))
done
t_eq layout-on-every-node "$same" 4
t_eq migrations-known-everywhere "$(chq "SELECT count() FROM neonblue.schema_migrations" "${NODES[3]}")" \
	"$(ls "$NB_ROOT"/core/sql/ch/*.sql | wc -l)"

python3 - "$root" "$EVENTS" "$BATCH" <<'EOF'
import json, sys
root, total, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for b in range(total // batch):
    with open(f"{root}/batch{b:03d}.jsonl", "w") as f:
        for i in range(b * batch, (b + 1) * batch):
            f.write(json.dumps({"user_id": f"c{i % 1999}", "type": "clu",
                                "value": i % 1000}) + "\n")
EOF
(
	last=$(ls "$root"/batch*.jsonl | tail -1)
	for f in "$root"/batch*.jsonl; do
		if [ "$f" = "$last" ]; then # the last batch goes in while a replica is stopped
			for _ in $(seq 600); do [ -e "$root/stop-begun" ] && break; sleep 0.3; done
		fi
		"$NB" ingest "$f" >>"$root/ingest.log" 2>&1 || echo "ingest $f failed" >>"$root/ingest.log"
		sleep 0.5
	done
) &
PRODUCER=$!

# once rows of the stream are stored: kill -9 sink2 and shard 2's first
# replica (the supervisor restarts them), and stop shard 1's second replica
# for 20 s (SIGSTOP: its peer and the inserts go on without it)
end=$((SECONDS + 90))
while [ $SECONDS -lt $end ] && [ "$(chq "SELECT count() FROM neonblue.events WHERE type = 'clu'")" -lt 2000 ] 2>/dev/null; do sleep 0.2; done
spid=$(pid_of sink2) cpid=$(pid_of clickhouse3) STOPPED=$(pid_of clickhouse2)
kill -9 "$spid" "$cpid"
kill -STOP "$STOPPED"
touch "$root/stop-begun"
(sleep 20; kill -CONT "$STOPPED") &
RESUMER=$!
t_match killed-mid-stream "$(kill -0 "$PRODUCER" 2>/dev/null && echo running)" running
# the supervisor brings them back even while the replica is stopped
t_eq sink2-restarted "$(back sink2 "$spid")" 1
t_eq replica-restarted "$(back clickhouse3 "$cpid")" 1
wait "$RESUMER"
STOPPED=
wait "$PRODUCER"
PRODUCER=
t_eq ingest-all-ok "$(grep -c failed "$root/ingest.log")" 0

pg_counts() {
	sql "SELECT count(*), coalesce(sum(value), 0)::bigint, count(DISTINCT user_id) FROM events WHERE type = 'clu'"
}
ch_counts() {
	chq "SELECT count(), toInt64(sum(value)), uniqExact(user_id) FROM neonblue.events FINAL
		WHERE _deleted = 0 AND type = 'clu' FORMAT CSV" 2>/dev/null | tr ',' '|'
}
want=$(pg_counts)
got=$(wait_value "$want" 150 ch_counts)
t_eq pg-has-all "$(sql "SELECT count(*) FROM events WHERE type = 'clu'")" "$EVENTS"
t_eq counts-exact "$got" "$want"

# each shard holds part of it, the two shards all of it
local_q="SELECT count() FROM neonblue.events_local FINAL WHERE _deleted = 0 AND type = 'clu'"
# (read where nothing was disrupted: node 1, and shard 2's second replica,
# which took the inserts while clickhouse3 was down)
s1=$(chq "$local_q" "${NODES[0]}") s2=$(chq "$local_q" "${NODES[3]}")
t_eq shards-add-up "$((s1 + s2))" "$EVENTS"
t_match both-shards-used "$s1 $s2" "^[1-9][0-9]{3,} [1-9][0-9]{3,}$"
# the stopped replica and the killed one caught up with their peers by themselves
r12=$(wait_value "$s1" 90 chq "$local_q" "${NODES[1]}")
r21=$(wait_value "$s2" 90 chq "$local_q" "${NODES[2]}")
t_eq stopped-replica-caught-up "$r12" "$s1"
t_eq killed-replica-caught-up "$r21" "$s2"
t_match supervisor-saw-kill "$(cat "$H/logs/supervisor.log")" "clickhouse3 .*(killed|signal 9)"
t_done
