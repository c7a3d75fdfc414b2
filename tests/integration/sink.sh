#!/usr/bin/env bash
# sink.sh — `neonblue sink` end to end on its own ClickHouse and a librdkafka
# mock Kafka (in-memory, like the embedded stack): identical content, replays
# that do not double count, a dead-letter topic, a ClickHouse outage, SIGTERM,
# and loss detection when the mock's retention drops messages.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/t.sh
NB=${NB:-build/asan/neonblue}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

# Not under $NB_TEST_TMP: that directory is private (0700) and ClickHouse runs
# as its own user.
W=$(mktemp -d /tmp/nbsink.XXXXXX)
chmod 755 "$W"
CH_PID= MOCK_PID= SINK_PID=
cleanup() {
	[ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
	[ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null
	[ -n "${K2_PID:-}" ] && kill "$K2_PID" 2>/dev/null
	ch_stop
	rm -rf "$W"
}
trap cleanup EXIT

# ---- ClickHouse of our own: as user clickhouse when we are root ----
CH_HTTP=$(t_free_port)
CH_TCP=$(t_free_port)
CH="http://127.0.0.1:$CH_HTTP"
source "$NB_ROOT/tests/lib/ch.sh" # as_ch, ch_start
q() { curl -s "$CH/" --data-binary "$1"; }

# ---- a mock Kafka cluster hosted by a tiny librdkafka client (tests/lib) ----
P=neonblue
python3 "$NB_ROOT/tests/lib/mock_kafka.py" "$W/boot" 4 $P.public.events $P.public.experiments $P.public.variants \
	$P.public.assignments $P.dlq 2>"$W/mock.log" &
MOCK_PID=$!
for _ in $(seq 1 50); do [ -s "$W/boot" ] && break; sleep 0.1; done
KAFKA=$(cat "$W/boot" 2>/dev/null)
t_match setup-kafka "$KAFKA" '^127\.0\.0\.1:[0-9]+'
ch_start
t_eq setup-clickhouse "$(q 'SELECT 1')" 1
if [ "$(q 'SELECT 1')" != 1 ] || [ -z "$KAFKA" ]; then
	cat "$W/ch/log/err.log" "$W/mock.log" 2>/dev/null | tail -20
	t_done
	exit 1
fi

# ---- data: relay-style envelopes plus what ClickHouse must hold ----
cat >"$W/gen.py" <<'EOF'
# gen.py OUTDIR — writes <table>.msgs (key TAB value per line; value "" = tombstone)
# and <table>.want (the TSV the deduplicating query must return).
import datetime, json, random, sys, uuid
out = sys.argv[1]
rnd = random.Random(42)
lsn = [1000]
msgs = {t: [] for t in ("events", "experiments", "variants", "assignments")}
state = {t: {} for t in msgs}
def iso(us):
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=us)
    s = d.strftime("%Y-%m-%dT%H:%M:%S")
    if us % 1000000:
        s += ("." + "%06d" % (us % 1000000)).rstrip("0")
    return s + "Z"
def emit(table, op, key, before, after, schema=False):
    lsn[0] += 8 + rnd.randrange(100)
    env = {"before": before, "after": after,
           "source": {"version": "test", "connector": "postgresql", "name": "neonblue",
                      "ts_ms": 1795757515000, "db": "neonblue", "schema": "public",
                      "table": table, "txId": lsn[0] // 10, "lsn": lsn[0], "snapshot": "false"},
           "op": op, "ts_ms": 1795757515001}
    if schema:  # the JsonConverter wrapper; the sink needs no field schemas here
        env = {"schema": {"type": "struct", "fields": [], "optional": False,
                          "name": "neonblue.public.%s.Envelope" % table}, "payload": env}
    msgs[table].append((json.dumps(key, separators=(",", ":")),
                        json.dumps(env, separators=(",", ":"))))
    k = json.dumps(key, sort_keys=True)
    if op == "d":
        state[table].pop(k, None)
        msgs[table].append((json.dumps(key, separators=(",", ":")), ""))  # tombstone
    else:
        state[table][k] = after
base = 1795757515 * 1000000
for i in range(30):
    k = "exp-%02d" % i
    row = {"key": k, "name": "Experiment %d\twith tab" % i, "description": "line1\nline2 \\ back",
           "hypothesis": "", "status": "draft", "seed": "s%d" % i, "hash_version": 2,
           "coverage": 1.0, "namespace_id": None, "namespace_start": None, "namespace_end": None,
           "condition": None if i % 2 else json.dumps({"country": "FR"}), "owner": "ann",
           "created_at": iso(base + i * 1000001), "updated_at": iso(base + i * 1000001),
           "started_at": None, "stopped_at": None, "version": 1}
    emit("experiments", "r" if i < 10 else "c", {"key": k}, None, row, schema=(i % 3 == 0))
    for j, vk in enumerate(("control", "treatment")):
        v = {"experiment": k, "key": vk, "name": vk.title(), "weight": 0.5,
             "is_control": j == 0, "config": json.dumps({"color": ["red", "blue"][j]}), "position": j}
        emit("variants", "c", {"experiment": k, "key": vk}, None, v)
for i in range(0, 30, 2):  # updates: latest version wins
    k = "exp-%02d" % i
    old = state["experiments"][json.dumps({"key": k}, sort_keys=True)]
    new = dict(old, status="running", started_at=iso(base + 5000000 + i), version=2,
               updated_at=iso(base + 9000000 + i * 7))
    emit("experiments", "u", {"key": k}, old, new)
for i in (3, 7):  # deletes of experiments and their variants
    k = "exp-%02d" % i
    for vk in ("control", "treatment"):
        v = state["variants"][json.dumps({"experiment": k, "key": vk}, sort_keys=True)]
        emit("variants", "d", {"experiment": k, "key": vk}, v, None)
    emit("experiments", "d", {"key": k}, state["experiments"][json.dumps({"key": k}, sort_keys=True)], None)
users = ["user-%d" % i for i in range(1500)]
for n, u in enumerate(users):
    e = "exp-%02d" % (n % 30)
    a = {"experiment": e, "user_id": u, "variant": rnd.choice(["control", "treatment"]),
         "assigned_at": iso(base + n * 1234567), "source": "hash", "experiment_version": 1,
         "context": None if n % 5 else json.dumps({"ua": "x"})}
    emit("assignments", "c", {"experiment": e, "user_id": u}, None, a)
for u in users[:40]:  # deletes under REPLICA IDENTITY DEFAULT: key only in before
    e = "exp-%02d" % (users.index(u) % 30)
    emit("assignments", "d", {"experiment": e, "user_id": u},
         {"experiment": e, "user_id": u, "variant": None, "assigned_at": None, "source": None,
          "experiment_version": None, "context": None}, None)
ev_ids = []
for n in range(4000):
    eid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    ts = base - rnd.randrange(90 * 86400 * 1000000)  # across three months
    ev = {"event_id": eid, "user_id": rnd.choice(users), "type": rnd.choice(["view", "click", "buy"]),
          "ts": iso(ts), "value": None if n % 4 == 0 else round(rnd.uniform(0, 500), 2),
          "properties": None if n % 3 == 0 else json.dumps({"n": n, "s": "é\"x"}),
          "experiment": None if n % 2 else "exp-%02d" % (n % 30)}
    emit("events", "c", {"event_id": eid, "ts": iso(ts)}, None, ev, schema=(n % 7 == 0))
    ev_ids.append(ev)
for ev in ev_ids[:100]:
    emit("events", "d", {"event_id": ev["event_id"], "ts": ev["ts"]},
         {"event_id": ev["event_id"], "ts": ev["ts"], "user_id": None, "type": None,
          "value": None, "properties": None, "experiment": None}, None)

def tsv(v):
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return repr(v) if v != int(v) else str(int(v))
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
def ts_parts(s):
    if s is None:
        return ["\\N", "0"]
    d = datetime.datetime.strptime(s.rstrip("Z").ljust(26, "0") if "." in s else s.rstrip("Z") + ".000000",
                                   "%Y-%m-%dT%H:%M:%S.%f")
    us = (d - datetime.datetime(1970, 1, 1)) // datetime.timedelta(microseconds=1)
    return [str(us // 1000000), str(us % 1000000)]
cols = {
    "events": ["event_id", "user_id", "type", "ts*", "value", "properties", "experiment"],
    "experiments": ["key", "name", "description", "hypothesis", "status", "seed", "hash_version",
                    "coverage", "namespace_id", "namespace_start", "namespace_end", "condition",
                    "owner", "created_at*", "updated_at*", "started_at*", "stopped_at*", "version"],
    "variants": ["experiment", "key", "name", "weight", "is_control", "config", "position"],
    "assignments": ["experiment", "user_id", "variant", "assigned_at*", "source",
                    "experiment_version", "context"],
}
order = {"events": "event_id", "experiments": "key", "variants": ("experiment", "key"),
         "assignments": ("experiment", "user_id")}
for t, rows in state.items():
    lines = []
    for r in rows.values():
        f = []
        for c in cols[t]:
            f += ts_parts(r[c[:-1]]) if c.endswith("*") else [tsv(r[c])]
        lines.append(f)
    o = order[t]
    idx = [cols[t].index(x) for x in ((o,) if isinstance(o, str) else o)]
    lines.sort(key=lambda f: [f[i] for i in idx])
    with open("%s/%s.want" % (out, t), "w") as fh:
        fh.write("".join("\t".join(f) + "\n" for f in lines))
    with open("%s/%s.msgs" % (out, t), "w") as fh:
        fh.write("".join("%s\t%s\n" % kv for kv in msgs[t]))
EOF
python3 "$W/gen.py" "$W"
t_eq gen-data "$(wc -l <"$W/events.want")" 3900

produce() { # produce TABLE: every message of the table, in order
	kcat -P -b "$KAFKA" -t "$P.public.$1" -K $'\t' -Z -l "$W/$1.msgs"
}
# The query each table's content is compared with (docs/sink.md).
sel() {
	case $1 in
	events) echo "SELECT event_id, user_id, type, toUnixTimestamp(ts), ts_us, value, properties, experiment FROM neonblue.events FINAL WHERE _deleted = 0 ORDER BY toString(event_id)" ;;
	experiments) echo "SELECT key, name, description, hypothesis, status, seed, hash_version, coverage, namespace_id, namespace_start, namespace_end, condition, owner, toUnixTimestamp(created_at), created_at_us, toUnixTimestamp(updated_at), updated_at_us, toUnixTimestamp(started_at), started_at_us, toUnixTimestamp(stopped_at), stopped_at_us, version FROM neonblue.experiments FINAL WHERE _deleted = 0 ORDER BY key" ;;
	variants) echo "SELECT experiment, key, name, weight, is_control, config, position FROM neonblue.variants FINAL WHERE _deleted = 0 ORDER BY experiment, key" ;;
	assignments) echo "SELECT experiment, user_id, variant, toUnixTimestamp(assigned_at), assigned_at_us, source, experiment_version, context FROM neonblue.assignments FINAL WHERE _deleted = 0 ORDER BY experiment, user_id" ;;
	esac
}
count() { q "SELECT count() FROM neonblue.$1 FINAL WHERE _deleted = 0"; }
# wait_count TABLE N [SECONDS]
wait_count() {
	local end=$((SECONDS + ${3:-40}))
	while [ $SECONDS -lt $end ]; do
		[ "$(count "$1")" = "$2" ] && return 0
		sleep 0.3
	done
	return 1
}
status_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$W/sink.status" "$1" 2>/dev/null; }

start_sink() {
	"$NB" sink --kafka "$KAFKA" --clickhouse "$CH" --home "$W/home" --status "$W/sink.status" \
		--batch-ms 100 --batch-rows 3000 "$@" 2>>"$W/sink.log" &
	SINK_PID=$!
}
stop_sink() { # stop_sink: SIGTERM, sets SINK_RC
	kill -TERM "$SINK_PID"
	wait "$SINK_PID"
	SINK_RC=$?
	SINK_PID=
}

# ---- 0. usage ----
t_run usage-help 0 "$NB" sink --help
t_match usage-help-text "$T_OUT" 'batch-rows'
t_run usage-bad-threads 2 "$NB" sink --threads 0 --kafka "$KAFKA" --clickhouse "$CH"
t_match usage-bad-threads-says "$T_ERR" '--threads needs a positive number'
t_run usage-unknown-flag 2 "$NB" sink --bogus
t_run usage-no-kafka 1 env -u NEONBLUE_KAFKA "$NB" sink --home "$W/nohome" --clickhouse "$CH"
t_match usage-no-kafka-says "$T_ERR" "no Kafka configured"

# ---- 1. messages land with identical content ----
start_sink
for t in experiments variants assignments events; do produce $t; done
for t in experiments variants assignments events; do
	want=$(wc -l <"$W/$t.want")
	wait_count $t "$want"
	t_eq "land-count-$t" "$(count $t)" "$want"
	q "$(sel $t) FORMAT TabSeparated" >"$W/$t.got"
	if diff -q "$W/$t.want" "$W/$t.got" >/dev/null; then t_pass "identical-$t"; else
		t_fail "identical-$t" "$(diff "$W/$t.want" "$W/$t.got" | head -5)"; fi
done
t_eq migrations-recorded "$(q "SELECT count() FROM neonblue.schema_migrations WHERE name = 'ch/001_init.sql'")" 1

# ---- 2. status: lag per partition and the last row ----
sleep 1.5
t_eq status-lag-zero "$(status_field lag_total)" 0
t_match status-last-row "$(status_field seconds_since_last_row)" '^[0-9]+(\.[0-9]+)?$'
t_eq status-rows "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["partitions"]) > 0 and all("lag" in p and "high_watermark" in p for p in d["partitions"]))' "$W/sink.status")" True
prog=$(q "SELECT sum(next_offset) FROM neonblue.cdc_progress FINAL WHERE topic = '$P.public.events'")
t_eq progress-offsets "$prog" "$(wc -l <"$W/events.msgs")"
t_match progress-lsn "$(q "SELECT min(lsn) FROM neonblue.cdc_progress FINAL WHERE source_table = 'events'")" '^[1-9][0-9]+$'

# ---- 3. a replay of everything does not double count ----
rows_before=$(status_field rows)
for t in experiments variants assignments events; do produce $t; done
end=$((SECONDS + 40))
while [ $SECONDS -lt $end ] && [ "$(status_field rows)" -lt $((rows_before * 2)) ]; do sleep 0.3; done
t_eq replay-inserted-again "$(status_field rows)" $((rows_before * 2))
for t in experiments variants assignments events; do
	t_eq "replay-count-$t" "$(count $t)" "$(wc -l <"$W/$t.want")"
done
q "$(sel events) FORMAT TabSeparated" >"$W/events.got2"
t_eq replay-identical-events "$(cmp -s "$W/events.want" "$W/events.got2" && echo same)" same

# ---- 4. malformed messages go to the dead-letter topic, good ones still land ----
{
	printf '%s\t%s\n' '{"event_id":"bad"}' 'this is not json'
	printf '%s\t%s\n' '{"event_id":"x"}' '{"before":null,"after":{"user_id":"u"},"op":"c","source":{"lsn":5,"schema":"public","table":"events"}}'
	printf '%s\t%s\n' '{"event_id":"6f1b7d3e-0000-4000-8000-0000000000ff","ts":"2026-11-01T00:00:00Z"}' '{"before":null,"after":{"event_id":"6f1b7d3e-0000-4000-8000-0000000000ff","user_id":"good","type":"view","ts":"2026-11-01T00:00:00Z","value":1,"properties":null,"experiment":null},"op":"c","source":{"lsn":99999999,"schema":"public","table":"events"},"ts_ms":1}'
} | kcat -P -b "$KAFKA" -t $P.public.events -K $'\t' -Z
printf '%s\t%s\n' '{"id":1}' '{"op":"c","after":{"id":1},"source":{"lsn":1,"schema":"public","table":"nosuch"}}' |
	kcat -P -b "$KAFKA" -t $P.public.nosuch -K $'\t'
wait_count events 3901
t_eq dlq-good-one-lands "$(count events)" 3901
end=$((SECONDS + 30))
while [ $SECONDS -lt $end ]; do
	dlq=$(kcat -C -b "$KAFKA" -t $P.dlq -e -q 2>/dev/null)
	[ "$(printf '%s\n' "$dlq" | grep -c reason)" -ge 3 ] && break
	sleep 0.5
done
t_eq dlq-count "$(printf '%s\n' "$dlq" | grep -c '"reason"')" 3
t_match dlq-not-json "$dlq" '"reason":"the Kafka value is not valid JSON[^"]*","topic":"neonblue.public.events","partition":[0-9]+,"offset":[0-9]+'
t_match dlq-missing-key "$dlq" 'key column event_id is missing'
t_match dlq-unknown-table "$dlq" '"reason":"no ClickHouse table[^"]*neonblue.public.nosuch"'
t_match dlq-original-value "$dlq" '"value":"this is not json"'
sleep 1.2
t_eq dlq-counted "$(status_field dlq)" 3

# ---- 5. ClickHouse down mid-stream: offsets held, exact counts after ----
python3 - "$W" <<'EOF'
import json, sys, uuid
w = sys.argv[1]
with open(w + "/more.msgs", "w") as f:
    for n in range(3000):
        eid = str(uuid.UUID(int=(7 << 100) + n, version=4))
        ts = "2026-11-20T10:00:%02d.%06dZ" % (n % 60, n + 1)
        env = {"before": None, "after": {"event_id": eid, "user_id": "late-%d" % n, "type": "view",
               "ts": ts, "value": n, "properties": None, "experiment": None}, "op": "c",
               "source": {"lsn": 10**9 + n, "schema": "public", "table": "events"}, "ts_ms": 1}
        f.write(json.dumps({"event_id": eid, "ts": ts}) + "\t" + json.dumps(env) + "\n")
EOF
head -n 1000 "$W/more.msgs" | kcat -P -b "$KAFKA" -t $P.public.events -K $'\t'
wait_count events 4901
ch_stop
sed -n '1001,3000p' "$W/more.msgs" | kcat -P -b "$KAFKA" -t $P.public.events -K $'\t'
sleep 3
t_match outage-waiting "$(status_field waiting_for)" 'ClickHouse'
t_match outage-lag-held "$(status_field lag_total)" '^[1-9][0-9]*$'
ch_start
wait_count events 6901 60
t_eq outage-catch-up "$(count events)" 6901
t_eq outage-no-dup-ids "$(q "SELECT uniqExact(event_id) FROM neonblue.events FINAL WHERE _deleted = 0")" 6901
t_match outage-logged "$(cat "$W/sink.log")" 'holding [0-9]+ rows and their offsets'

# ---- 6. SIGTERM: clean exit, offsets committed (a restart re-reads nothing) ----
stop_sink
t_eq sigterm-exit-0 "$SINK_RC" 0
start_sink
end=$((SECONDS + 30))
while [ $SECONDS -lt $end ] && ! grep -q '"partitions":\[{' "$W/sink.status" 2>/dev/null; do sleep 0.3; done
sleep 2
t_eq restart-reads-nothing "$(status_field messages)" 0
t_eq restart-counts "$(count events)" 6901
stop_sink
t_eq sigterm-again-exit-0 "$SINK_RC" 0

# ---- 7. loss: the mock keeps only the last 5 MiB of each partition ----
python3 -c '
import sys
with open(sys.argv[1], "w") as f:
    for i in range(60000): f.write("k%d-%s\t\n" % (i, "x" * 200))  # tombstones, 12 MB
' "$W/flood.msgs"
kcat -P -b "$KAFKA" -t $P.public.variants -p 0 -K $'\t' -Z -l "$W/flood.msgs"
start_sink
end=$((SECONDS + 40))
while [ $SECONDS -lt $end ] && [ "$(status_field gaps)" = 0 -o -z "$(status_field gaps)" ]; do sleep 0.5; done
t_match loss-detected "$(status_field gaps)" '^[1-9][0-9]*$'
t_match loss-counted "$(status_field lost_messages)" '^[1-9][0-9]*$'
t_match loss-logged "$(cat "$W/sink.log")" 'LOSS: neonblue.public.variants \[0\]'
stop_sink
t_eq final-exit-0 "$SINK_RC" 0

# ---- 8. an embedded Kafka restarted empty under a stopped sink ----
# (cdc:embedded_kafka_and_relay_killed once lost 10,000 of 100,000 events this
# way.) The sink read 300 messages of one Kafka's life; it is stopped, that
# Kafka dies and one starts empty on the same port and gets 1,000 new
# messages; the sink goes on. Its fetch position (300) and its offsets of the
# dead log mean nothing there: it must read the new log from its start (the
# group's committed offsets, none in a new Kafka), not from offset 300.
KP=$(t_free_port)
K2=127.0.0.1:$KP K2_PID=
k2_start() {
	"$NB" stack kafka --ports "$KP" --partitions 1 >>"$W/k2.log" 2>&1 &
	K2_PID=$!
	for _ in $(seq 1 100); do kcat -b "$K2" -L 2>/dev/null | grep -q "topic \"$P.public.events\"" && return; sleep 0.1; done
}
python3 - "$W" <<'EOF2'
import json, sys, uuid
for life, n in ((1, 300), (2, 1000)):
    with open("%s/life%d.msgs" % (sys.argv[1], life), "w") as f:
        for i in range(n):
            eid = str(uuid.UUID(int=(life << 110) + i, version=4))
            ts = "2026-11-21T10:%02d:%02d.%06dZ" % (i // 60 % 60, i % 60, i + 1)
            env = {"before": None, "after": {"event_id": eid, "user_id": "life%d-%d" % (life, i),
                   "type": "life%d" % life, "ts": ts, "value": i, "properties": None, "experiment": None},
                   "op": "c", "source": {"lsn": 2 * 10**9 + i, "schema": "public", "table": "events"}, "ts_ms": 1}
            f.write(json.dumps({"event_id": eid, "ts": ts}) + "\t" + json.dumps(env) + "\n")
EOF2
life() { q "SELECT uniqExact(event_id) FROM neonblue.events WHERE type = 'life$1'"; }
k2_start
kcat -P -b "$K2" -t $P.public.events -K $'\t' -l "$W/life1.msgs"
"$NB" sink --kafka "$K2" --clickhouse "$CH" --home "$W/home8" --group restarted --status "$W/sink8.status" \
	--batch-ms 100 --no-migrate 2>"$W/sink8.log" &
SINK_PID=$!
end=$((SECONDS + 40))
while [ $SECONDS -lt $end ] && [ "$(life 1)" != 300 ]; do sleep 0.3; done
t_eq restarted-first-life "$(life 1)" 300
kill -STOP "$SINK_PID"
kill -9 "$K2_PID"
wait "$K2_PID" 2>/dev/null
k2_start
kcat -P -b "$K2" -t $P.public.events -K $'\t' -l "$W/life2.msgs"
kill -CONT "$SINK_PID"
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ] && [ "$(life 2)" != 1000 ]; do sleep 0.5; done
t_eq restarted-nothing-skipped "$(life 2)" 1000
t_match restarted-logged "$(cat "$W/sink8.log")" 'Kafka went away: [0-9]+ partitions are read again'
stop_sink
kill "$K2_PID" 2>/dev/null
t_eq restarted-exit-0 "$SINK_RC" 0

if grep -q 'ERROR: AddressSanitizer\|LeakSanitizer' "$W/sink.log" "$W/sink8.log"; then
	t_fail sanitizers "$(grep -m3 -A5 'Sanitizer' "$W/sink.log" "$W/sink8.log")"
else t_pass sanitizers; fi
t_done
