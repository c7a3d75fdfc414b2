#!/usr/bin/env bash
# pipeline.sh — the supervised pipeline of `neonblue stack up` (the relay
# `cdc --embedded` and the sink as phase-2 components) on a stack of its own:
# 200,000 events stream into PostgreSQL while the relay, the sink and the
# embedded Kafka are each kill -9'ed three times and ClickHouse is frozen
# (SIGSTOP) for 20 s; once the supervisor has restarted them the deduplicated
# ClickHouse counts equal PostgreSQL's exactly. Then: a second Kafka client
# (kcat) sees well-formed Debezium envelopes, and malformed messages written
# straight to the topics end up in neonblue.dlq while nothing else stops.
# Not `# needs: stack`: it makes its own stack in a temp home and removes it.
. "$(dirname "$0")/../lib/t.sh"

root=$(mktemp -d "${NB_TEST_TMP:-/tmp}/nbpipe.XXXXXX")
H=$root/stack
export NEONBLUE_HOME=$H
unset NEONBLUE_PG NEONBLUE_KAFKA NEONBLUE_CLICKHOUSE NEONBLUE_TOPIC_PREFIX
PRODUCER=
CH_PID=
cleanup() {
	[ -n "$CH_PID" ] && kill -CONT "$CH_PID" 2>/dev/null
	[ -n "$PRODUCER" ] && kill "$PRODUCER" 2>/dev/null && wait "$PRODUCER" 2>/dev/null
	"$NB" stack down --home "$H" >/dev/null 2>&1
	rm -rf "$root"
}
trap cleanup EXIT

EVENTS=200000
BATCH=10000
T0=$SECONDS
el() { echo "# $(($SECONDS - T0)) s: $*"; }

. "$(dirname "$0")/../lib/stack.sh"
jget() { stack_jget "$@"; }
restarted() { stack_restarted "$@"; }

t_run up 0 "$NB" stack up --home "$H"
t_match up-lists-cdc "$T_OUT" "cdc +healthy"
t_match up-lists-sink "$T_OUT" "sink +healthy"
t_match conf-records-pipeline "$(cat "$H/stack.conf")" "PIPELINE=1"
set -a; . "$H/stack.env"; set +a
PG=$NEONBLUE_PG CH=$NEONBLUE_CLICKHOUSE KAFKA=$NEONBLUE_KAFKA
sql() { psql "$PG" -XAtqc "$1"; }
chq() { curl -sS --max-time 10 "$CH" --data-binary "$1"; }

# ---- status: the pipeline's components and their lag figures ----
t_run status 0 "$NB" stack status --home "$H"
t_match status-cdc-lag "$T_OUT" "lag: [0-9]+ WAL bytes behind \(slot\)"
t_match status-sink-lag "$T_OUT" "lag: [0-9]+ messages \(Kafka consumer lag\).* in the DLQ"
t_run status-json 0 "$NB" stack status --home "$H" --json
shape=$(printf '%s' "$T_OUT" | python3 -c '
import json, sys
d = {c["name"]: c for c in json.load(sys.stdin)}
out = []
for n, keys in (("cdc", ("wal_bytes_behind", "state", "not_in_clickhouse")),
                ("sink", ("kafka_lag", "seconds_since_last_row", "dlq", "rows"))):
    c = d[n]
    assert isinstance(c["pid"], int) and c["healthy"] is True and isinstance(c["endpoint"], str), c
    for k in keys:
        assert k in c, (n, k)
    out.append(n)
print(",".join(out))' 2>&1)
t_eq status-json-lag-fields "$shape" "cdc,sink"

# the relay streams (its snapshot of the empty tables is in ClickHouse)
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ] && ! [[ "$(jget cdc state)" =~ ^streaming ]]; do sleep 0.3; done
t_match relay-streaming "$(jget cdc state)" "^streaming"

# ---- the crash test ----
python3 - "$root" "$EVENTS" "$BATCH" <<'EOF'
import json, sys
root, total, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for b in range(total // batch):
    with open(f"{root}/batch{b:03d}.jsonl", "w") as f:
        for i in range(b * batch, (b + 1) * batch):
            f.write(json.dumps({"user_id": f"pu{i % 7919}", "type": "pipe",
                                "value": i % 1000, "properties": {"i": i}}) + "\n")
EOF
# 20 transactions of 10,000 events, paced so that the crashes fall mid-stream;
# a DELETE of 500 of them in the middle (deletes must arrive too)
(
	for f in "$root"/batch*.jsonl; do
		# the last batch waits until every kill is done, so the kills fall
		# mid-stream however slow the machine is
		if [ "$f" = "$(ls "$root"/batch*.jsonl | tail -1)" ]; then
			for _ in $(seq 600); do [ -e "$root/kills-done" ] && break; sleep 0.5; done
		fi
		"$NB" ingest "$f" >>"$root/ingest.log" 2>&1 || echo "ingest $f failed" >>"$root/ingest.log"
		[ "$f" = "$root/batch009.jsonl" ] &&
			sql "DELETE FROM events WHERE type = 'pipe' AND (properties->>'i')::int < 500" >>"$root/ingest.log" 2>&1
		sleep 3
	done
) &
PRODUCER=$!
el "producer started"

freeze_clickhouse() {
	# ClickHouse frozen (SIGSTOP) for 20 s while events still stream in: the
	# server neither answers nor refuses, the sink holds its batch and offsets,
	# the relay confirms nothing new; SIGCONT and it all catches up.
	CH_PID=$(jget clickhouse pid)
	kill -STOP "$CH_PID"
	el "clickhouse (pid $CH_PID) stopped"
	sleep 20
	t_match clickhouse-stopped-mid-stream "$(kill -0 "$PRODUCER" 2>/dev/null && echo running)" running
	kill -CONT "$CH_PID"
	CH_PID=
	el "clickhouse continued"
}

ok=1
for round in 1 2 3; do
	for comp in cdc sink kafka; do
		sleep 1.5
		pid=$(jget "$comp" pid)
		if [ "$pid" = null ] || [ -z "$pid" ]; then
			restarted "$comp" x 60
			pid=$(jget "$comp" pid)
		fi
		kill -9 "$pid" 2>/dev/null
		if restarted "$comp" "$pid" 60; then
			el "$comp killed (pid $pid), restarted as $(jget "$comp" pid)"
		else
			ok=0
			t_fail "restart-$comp-$round" "$comp (pid $pid) not back and healthy within 60 s: $(tail -3 "$H/logs/$comp.log")"
		fi
	done
	[ $round = 1 ] && freeze_clickhouse
done
[ $ok = 1 ] && t_pass restarts-after-kill-9
t_match killed-while-streaming "$(kill -0 "$PRODUCER" 2>/dev/null && echo running)" running
touch "$root/kills-done"

wait "$PRODUCER"
PRODUCER=
el "producer done"
t_eq ingest-all-ok "$(grep -c failed "$root/ingest.log")" 0

pg_counts() {
	sql "SELECT count(*), coalesce(sum(value), 0)::bigint, count(DISTINCT user_id) FROM events WHERE type = 'pipe'"
}
ch_counts() {
	chq "SELECT count(), toInt64(sum(value)), uniqExact(user_id) FROM neonblue.events FINAL
		WHERE _deleted = 0 AND type = 'pipe' FORMAT CSV" 2>/dev/null | tr ',' '|'
}
converge() { # converge SECONDS — until ClickHouse's figures equal PostgreSQL's
	local end=$((SECONDS + $1))
	want=$(pg_counts)
	while [ $SECONDS -lt $end ]; do
		got=$(ch_counts)
		[ "$got" = "$want" ] && return 0
		sleep 1
	done
	return 1
}
t_eq pg-has-all "$(sql "SELECT count(*) FROM events WHERE type = 'pipe'")" $((EVENTS - 500))
converge 150
el "converged: pg $want, clickhouse $got"
t_eq crash-counts-exact "$got" "$want"
end=$((SECONDS + 30))
while [ $SECONDS -lt $end ] && [ "$(jget cdc wal_bytes_behind)" -gt 100000 ] 2>/dev/null; do sleep 0.5; done
t_match relay-confirmed "$(jget cdc wal_bytes_behind)" '^[0-9]{1,5}$'
t_match restarts-counted "$(jget cdc restarts) $(jget sink restarts) $(jget kafka restarts)" '^([3-9]|[1-9][0-9]) ([3-9]|[1-9][0-9]) ([3-9]|[1-9][0-9])$'
log=$(cat "$H/logs/supervisor.log")
t_match supervisor-says-cdc "$log" "cdc \(pid [0-9]+\) was killed by signal 9.*; restarting in"
t_match supervisor-says-sink "$log" "sink \(pid [0-9]+\) was killed by signal 9.*; restarting in"
t_match supervisor-kills-followers "$log" "cdc follows kafka: killing it \(pid [0-9]+\) so that it restarts from what ClickHouse holds"
t_match sink-saw-kafka-loss "$(cat "$H/logs/sink.log" "$H/logs/cdc.log")" "LOSS|embedded Kafka went away"

# ---- a second Kafka client reads well-formed envelopes ----
"$NB" ingest - <<<'{"user_id":"pu-kcat","type":"pipe","value":1}' >/dev/null
converge 60
t_eq after-crash-still-flows "$got" "$want"
kcat -C -b "$KAFKA" -t neonblue.public.events -o beginning -e -J -q >"$root/kcat.json" 2>"$root/kcat.err"
env_check=$(python3 - "$root/kcat.json" 2>&1 <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    m = json.loads(line)
    key = json.loads(m["key"])
    # events' identity is FULL (migration 002): keyed by user (docs/cdc.md)
    assert set(key) == {"user_id"}, key
    if m["payload"] is None:  # a tombstone after a delete
        continue
    v = json.loads(m["payload"])
    assert set(v) >= {"before", "after", "source", "op", "ts_ms"}, v.keys()
    s = v["source"]
    assert s["connector"] == "postgresql" and s["table"] == "events" and s["schema"] == "public", s
    assert s["name"] == "neonblue" and isinstance(s["lsn"], int) and isinstance(s["txId"], int), s
    assert v["op"] in ("r", "c", "u", "d"), v["op"]
    row = v["after"] if v["op"] != "d" else v["before"]
    assert row["user_id"] == key["user_id"], (row, key)
    if v["op"] != "d":
        assert row["properties"] is None or isinstance(row["properties"], str), row
        assert isinstance(row["ts"], str) and row["ts"].endswith("Z"), row
    n += 1
print("ok" if n > 0 else "no messages", n)
EOF
)
t_match kcat-envelopes "$env_check" "^ok [0-9]+$"

# ---- malformed messages go to neonblue.dlq; nothing else stops ----
cdc_pid=$(jget cdc pid) sink_pid=$(jget sink pid)
printf '%s\n' 'not json at all' '{"op":"c","after":{"user_id":"x"},"source":{"lsn":1}}' \
	'{"op":"c","after":{"event_id":"e1","ts":"not a time"},"source":{"lsn":1}}' |
	kcat -P -b "$KAFKA" -t neonblue.public.events
printf '%s\n' '{"op":"c","after":{"id":1},"source":{"lsn":1}}' | kcat -P -b "$KAFKA" -t neonblue.public.no_such_table
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ] && [ "$(jget sink dlq)" != 4 ]; do sleep 0.5; done
t_eq dlq-counted "$(jget sink dlq)" 4
dlq=$(kcat -C -b "$KAFKA" -t neonblue.dlq -o beginning -e -q 2>/dev/null)
t_eq dlq-topic-holds-them "$(printf '%s\n' "$dlq" | grep -c '"reason"')" 4
t_match dlq-says-why "$dlq" '"offset":[0-9]+'
"$NB" ingest - <<<'{"user_id":"pu-after-dlq","type":"pipe","value":2}' >/dev/null
converge 60
t_eq flows-after-dlq "$got" "$want"
t_eq relay-not-restarted "$(jget cdc pid)" "$cdc_pid"
t_eq sink-not-restarted "$(jget sink pid)" "$sink_pid"

# ---- the relay and the sink ran under ASan/UBSan (when $NB is that build) ----
san=$(grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$H"/logs/*.log 2>/dev/null)
for f in $san; do # show the report itself, not only the file's name
	echo "--- sanitizer report in $f:"
	grep -m1 -A40 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f"
done
t_eq no-sanitizer-reports "$san" ""

# ---- --no-pipeline: recorded, honoured by the supervisor, undone by --pipeline ----
t_run down 0 "$NB" stack down --home "$H"
t_run up-no-pipeline 0 "$NB" stack up --home "$H" --no-pipeline
t_match no-pipeline-status "$T_OUT" "cdc +off"
t_match no-pipeline-recorded "$(cat "$H/stack.conf")" "PIPELINE=0"
t_eq no-pipeline-json "$("$NB" stack status --home "$H" --json | grep -c '"name":"cdc"')" 0
t_eq no-pipeline-no-relay "$(pgrep -f -- "--home $H .* cdc --embedded" | wc -l)" 0
"$NB" stack down --home "$H" >/dev/null 2>&1
t_run up-kept-no-pipeline 0 "$NB" stack up --home "$H"
t_match up-kept-no-pipeline-off "$T_OUT" "sink +off"
"$NB" stack down --home "$H" >/dev/null 2>&1
t_run up-pipeline-again 0 "$NB" stack up --home "$H" --pipeline
t_match up-pipeline-again-cdc "$T_OUT" "cdc +healthy"
el "done"
t_done
