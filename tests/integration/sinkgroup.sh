#!/usr/bin/env bash
# sinkgroup.sh — `stack up --partitions 4 --sinks 2`: the pipeline's topics
# have 4 partitions, two sinks of one consumer group share them; events
# stream in while sink2 is kill -9'ed mid-stream (its uncommitted batch goes
# to the other sink at the rebalance) and comes back; ClickHouse's count, sum
# and distinct users equal PostgreSQL's exactly, also after updates and deletes;
# every change of a user (insert, update, delete, tombstone: key {"user_id"})
# is in one partition, in order.

# Not `# needs: stack`: it makes its own stack in a temp home and removes it.
. "$(dirname "$0")/../lib/t.sh"

root=$(mktemp -d "${NB_TEST_TMP:-/tmp}/nbsg.XXXXXX")
H=$root/stack
export NEONBLUE_HOME=$H
unset NEONBLUE_PG NEONBLUE_KAFKA NEONBLUE_CLICKHOUSE NEONBLUE_TOPIC_PREFIX
PRODUCER=
cleanup() {
	[ -n "$PRODUCER" ] && kill "$PRODUCER" 2>/dev/null && wait "$PRODUCER" 2>/dev/null
	"$NB" stack down --home "$H" >/dev/null 2>&1
	rm -rf "$root"
}
trap cleanup EXIT

EVENTS=${NB_SINKGROUP_EVENTS:-40000}
BATCH=5000
. "$(dirname "$0")/../lib/stack.sh"
jget() { stack_jget "$@"; }
nparts() { # nparts NAME — how many event partitions the sink holds
	jget "$1" partitions | python3 -c 'import json,sys
try: print(sum(1 for p in json.load(sys.stdin) if p["topic"].endswith(".events")))
except Exception: print(0)'
}

t_run up 0 "$NB" stack up --home "$H" --partitions 4 --sinks 2
t_match up-lists-sink2 "$T_OUT" "sink2 +healthy"
t_match conf-records "$(cat "$H/stack.conf")" "PARTITIONS=4"$'\n'".*SINKS=2"
set -a; . "$H/stack.env"; set +a
PG=$NEONBLUE_PG CH=$NEONBLUE_CLICKHOUSE KAFKA=$NEONBLUE_KAFKA
sql() { psql "$PG" -XAtqc "$1"; }
chq() { curl -sS --max-time 10 "$CH" --data-binary "$1"; }

# the group shares the 4 partitions of events: 2 each once it settled
end=$((SECONDS + 40))
while [ $SECONDS -lt $end ] && ! [ "$(nparts sink) $(nparts sink2)" = "2 2" ]; do sleep 0.5; done
t_eq partitions-shared "$(nparts sink) $(nparts sink2)" "2 2"
t_run status 0 "$NB" stack status --home "$H"
t_match status-sink2-partitions "$T_OUT" "sink2 .*"$'\n'".*lag: .*"$'\n'" +partitions: .*events [0-3],[0-3] \(lag [0-9]+\)"

python3 - "$root" "$EVENTS" "$BATCH" <<'EOF'
import json, sys
root, total, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for b in range(total // batch):
    with open(f"{root}/batch{b:03d}.jsonl", "w") as f:
        for i in range(b * batch, (b + 1) * batch):
            f.write(json.dumps({"user_id": f"g{i % 997}", "type": "grp",
                                "value": i % 1000, "properties": {"i": i}}) + "\n")
EOF
(
	for f in "$root"/batch*.jsonl; do
		if [ "$f" = "$(ls "$root"/batch*.jsonl | tail -1)" ]; then
			for _ in $(seq 300); do [ -e "$root/kill-done" ] && break; sleep 0.3; done
		fi
		"$NB" ingest "$f" >>"$root/ingest.log" 2>&1 || echo "ingest $f failed" >>"$root/ingest.log"
		sleep 1
	done
) &
PRODUCER=$!

# kill -9 sink2 once it has stored rows of the stream (mid-stream, mid-batch)
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ] && [ "$(chq "SELECT count() FROM neonblue.events WHERE type = 'grp'")" -lt $BATCH ] 2>/dev/null; do sleep 0.2; done
pid=$(jget sink2 pid)
kill -9 "$pid"
t_match killed-mid-stream "$(kill -0 "$PRODUCER" 2>/dev/null && echo running)" running
end=$((SECONDS + 60)) back=0
while [ $SECONDS -lt $end ]; do
	p=$(jget sink2 pid) h=$(jget sink2 healthy)
	[ "$p" != null ] && [ "$p" != "$pid" ] && [ "$h" = True ] && back=1 && break
	sleep 0.3
done
touch "$root/kill-done"
t_eq sink2-restarted "$back" 1
wait "$PRODUCER"
PRODUCER=
t_eq ingest-all-ok "$(grep -c failed "$root/ingest.log")" 0

pg_counts() {
	sql "SELECT count(*), coalesce(sum(value), 0)::bigint, count(DISTINCT user_id) FROM events WHERE type = 'grp'"
}
ch_counts() {
	chq "SELECT count(), toInt64(sum(value)), uniqExact(user_id) FROM neonblue.events FINAL
		WHERE _deleted = 0 AND type = 'grp' FORMAT CSV" 2>/dev/null | tr ',' '|'
}
want=$(pg_counts) got=
end=$((SECONDS + 90))
while [ $SECONDS -lt $end ]; do
	got=$(ch_counts)
	[ "$got" = "$want" ] && break
	sleep 1
done
t_eq pg-has-all "$(sql "SELECT count(*) FROM events WHERE type = 'grp'")" "$EVENTS"
t_eq counts-exact "$got" "$want"
end=$((SECONDS + 40))
while [ $SECONDS -lt $end ] && ! [ "$(nparts sink) $(nparts sink2)" = "2 2" ]; do sleep 0.5; done
t_eq partitions-shared-again "$(nparts sink) $(nparts sink2)" "2 2"
t_match sink-saw-rebalance "$(cat "$H/logs/sink.log")" "revoked [0-9]+ partitions"

# updates and deletes (REPLICA IDENTITY FULL: the before-image has user_id)
sql "UPDATE events SET value = value + 1 WHERE type = 'grp' AND user_id IN ('g1', 'g2', 'g3');
	DELETE FROM events WHERE type = 'grp' AND user_id IN ('g4', 'g5')"
want=$(pg_counts)
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ]; do
	got=$(ch_counts)
	[ "$got" = "$want" ] && break
	sleep 1
done
t_eq counts-exact-after-update-delete "$got" "$want"
# every change of a user (insert, update, delete and its tombstone: null
# value, same key {"user_id"}) is in one partition, in that order; all 4
# partitions are used
kcat -C -b "$KAFKA" -t neonblue.public.events -o beginning -e -J -q >"$root/kcat.json" 2>"$root/kcat.err"
t_eq users-in-one-partition "$(python3 - "$root/kcat.json" <<'EOF'
import json, re, sys
where, ops = {}, {}
for line in open(sys.argv[1]):
    m = json.loads(line)
    user = json.loads(m["key"]).get("user_id")
    if not user or not user.startswith("g"):
        continue
    where.setdefault(user, set()).add(m["partition"])
    op = "t" if m["payload"] is None else json.loads(m["payload"])["op"]
    ops[user] = ops.get(user, "") + op
parts = set().union(*where.values()) if where else set()
bad = [u for u, p in where.items() if len(p) != 1]
disorder = [u for u, o in ops.items() if not re.fullmatch("c+(u+|(dt)+)?", o)]
kinds = {u: re.sub(r"(dt)+", "(dt)", re.sub(r"(.)\1+", r"\1", o)) for u, o in ops.items() if u in ("g1", "g4", "g9")}
print(f"{len(where)} users, {len(bad)} in several partitions, {len(parts)} partitions used,",
      f"{len(disorder)} out of order;", kinds.get("g1"), kinds.get("g4"), kinds.get("g9"))
EOF
)" "997 users, 0 in several partitions, 4 partitions used, 0 out of order; cu c(dt) c"

# the group's lag as Kafka holds it (`stack status`: its committed offsets and
# the high watermarks, asked of Kafka, not the sinks' status files): 8 row
# topics of 4 partitions; once every change is stored, nothing lags and the
# committed offsets of events' partitions add up to the topic's messages
glag() { # glag FIELD — of the kafka component's group_lag
	jget kafka group_lag | python3 -c 'import json,sys
g=json.load(sys.stdin)
ev=[p for p in g["partitions"] if p["topic"]=="neonblue.public.events"]
print({"total":g["lag_total"],"n":len(g["partitions"]),"events":sum(p["committed"] for p in ev)}[sys.argv[1]])' "$1" 2>/dev/null
}
end=$((SECONDS + 30))
while [ $SECONDS -lt $end ] && [ "$(glag total)" != 0 ]; do sleep 0.5; done
t_eq group-lag-zero "$(glag total)" 0
t_eq group-lag-partitions "$(glag n)" 32
t_eq group-committed-events "$(glag events)" "$(wc -l <"$root/kcat.json")"
t_run status-group 0 "$NB" stack status --home "$H"
t_match status-group-line "$T_OUT" "group +neonblue-sink: lag 0 messages by Kafka's committed offsets \(32 partitions, 0 behind\)"
t_done
