#!/usr/bin/env bash
# cdc.sh — `neonblue cdc` end to end: a throwaway PostgreSQL (wal_level=logical,
# run as postgres) and librdkafka's mock Kafka (`neonblue stack kafka`), read
# back with kcat. Snapshot, every NeonBlue table's inserts/updates/deletes,
# --with-schema, kill -9 mid-stream, PostgreSQL restart, Kafka outage, lag.
source "$(dirname "$0")/../lib/t.sh"
set -u
NB=${NB:-build/asan/neonblue}
tmp=$(mktemp -d /tmp/nbcdc.XXXXXX)
chmod 755 "$tmp"
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pgport=$(t_free_port)
kport=$(t_free_port)
PG="host=127.0.0.1 port=$pgport user=postgres dbname=nb"
KAFKA=127.0.0.1:$kport
export NEONBLUE_HOME=$tmp/home ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
relay_pid=
kafka_pid=

pg_start() {
	as_pg "$bin/pg_ctl" -D "$tmp/pg" -l "$tmp/pgrun/pg.log" -w -o "-c listen_addresses=127.0.0.1 -c port=$pgport -c unix_socket_directories=$tmp/pgrun -c wal_level=logical -c fsync=off -c TimeZone=Europe/Paris" start >/dev/null
}
pg_stop() { as_pg "$bin/pg_ctl" -D "$tmp/pg" -m fast -w stop >/dev/null 2>&1; }
kafka_start() {
	"$NB" stack kafka --ports "$kport" >>"$tmp/kafka.log" 2>&1 &
	kafka_pid=$!
	for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/$kport) 2>/dev/null && return; sleep 0.1; done
}
kafka_stop() { [ -n "$kafka_pid" ] && kill "$kafka_pid" 2>/dev/null && wait "$kafka_pid" 2>/dev/null; kafka_pid=; }
relay_start() { # extra args
	"$NB" --pg "$PG" --kafka "$KAFKA" cdc "$@" >>"$tmp/relay.log" 2>&1 &
	relay_pid=$!
}
relay_stop() { # signal
	[ -n "$relay_pid" ] || return 0
	kill -"${1:-TERM}" "$relay_pid" 2>/dev/null
	wait "$relay_pid" 2>/dev/null
	local rc=$?
	relay_pid=
	return $rc
}
cleanup() {
	relay_stop KILL
	kafka_stop
	pg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
sql() { as_pg "$bin/psql" -X -q -At -v ON_ERROR_STOP=1 "$PG" "$@"; }
# Every message of topic $1 as JSON lines {"key":…,"payload":…,"partition":…,"offset":…}
topic() { kcat -C -b "$KAFKA" -t "$1" -e -J -q 2>/dev/null; }
# Waits until topic $1 has at least $2 messages (at most $3 s, default 30).
wait_msgs() {
	local n=0
	for _ in $(seq $((${3:-30} * 4))); do
		n=$(topic "$1" | wc -l)
		[ "$n" -ge "$2" ] && return 0
		sleep 0.25
	done
	echo "  topic $1 has $n messages, waited for $2" >&2
	return 1
}
# Python check over the messages of topic $1: prints what the script prints.
check() {
	local t=$1
	shift
	topic "$t" | python3 -c "$@"
}

mkdir -p "$tmp/pg" "$tmp/pgrun" "$tmp/home"
chown postgres "$tmp/pg" "$tmp/pgrun" 2>/dev/null
as_pg "$bin/initdb" -D "$tmp/pg" -U postgres -A trust >/dev/null || { t_fail setup "initdb failed"; t_done; exit 1; }
pg_start || { t_fail setup "PostgreSQL did not start: $(tail -5 "$tmp/pgrun/pg.log")"; t_done; exit 1; }
as_pg "$bin/psql" -X -q -h 127.0.0.1 -p "$pgport" -U postgres -c "CREATE DATABASE nb"
sql -f core/sql/pg/001_init.sql >/dev/null
kafka_start

# --- command line
t_run cli_help 0 "$NB" cdc --help
t_match cli_help_text "$T_OUT" "usage: neonblue cdc .*--with-schema"
t_run cli_bad_flag 2 "$NB" --pg "$PG" --kafka "$KAFKA" cdc --bogus
t_match cli_bad_flag_says "$T_ERR" "bogus"
t_run cli_needs_kafka 1 env -u NEONBLUE_KAFKA "$NB" --home "$tmp/empty" --pg "$PG" cdc
t_match cli_needs_kafka_says "$T_ERR" "Kafka"
t_run lag_no_slot 0 "$NB" --pg "$PG" cdc lag --slot nosuchslot
t_eq lag_no_slot_value "$T_OUT" "-1"

# --- snapshot of rows that exist before the slot
sql -c "INSERT INTO experiments (key, name, seed) VALUES ('pre-1', 'Pre', 's1');
	INSERT INTO variants (experiment, key, name, weight, is_control, position)
		VALUES ('pre-1', 'control', 'Control', 0.5, true, 0), ('pre-1', 'b', 'B', 0.5, false, 1)"
relay_start
wait_msgs neonblue.public.variants 2 30
out=$(check neonblue.public.variants '
import json, sys
for line in sys.stdin:
    m = json.loads(line); v = json.loads(m["payload"]); k = json.loads(m["key"])
    print(v["op"], v["source"]["snapshot"], v["source"]["connector"], v["after"]["key"], sorted(k))
' | sort)
t_eq snapshot_rows "$out" "r true postgresql b ['experiment', 'key']
r true postgresql control ['experiment', 'key']"

# --- inserts, updates, deletes of every NeonBlue table
sql -c "INSERT INTO experiments (key, name, seed, condition) VALUES ('exp-a', 'A', 'sa', '{\"country\": \"fr\"}');
	INSERT INTO variants (experiment, key, name, weight, is_control, position, config)
		VALUES ('exp-a', 'control', 'C', 0.5, true, 0, '{\"color\": \"blue\"}');
	INSERT INTO metrics (key, name, kind, event_types) VALUES ('buy', 'Buy', 'binomial', '{purchase,checkout}');
	INSERT INTO experiment_metrics VALUES ('exp-a', 'buy', 'primary', 0);
	INSERT INTO assignments (experiment, user_id, variant, experiment_version) VALUES ('exp-a', 'u1', 'control', 1);
	INSERT INTO events VALUES ('6f1c0a2e-2d55-4b8e-9a0e-0c6b5e5d2a01', 'u1', 'purchase', now(), 9.5, '{\"sku\": 1}', 'exp-a');"
sql -c "UPDATE experiments SET status = 'running' WHERE key = 'exp-a';
	UPDATE variants SET weight = 0.25 WHERE experiment = 'exp-a';
	UPDATE metrics SET description = 'd' WHERE key = 'buy';
	UPDATE experiment_metrics SET role = 'secondary';
	UPDATE assignments SET variant = 'b';
	UPDATE events SET value = 10.5;"
sql -c "DELETE FROM experiment_metrics; DELETE FROM assignments; DELETE FROM events; DELETE FROM metrics;
	DELETE FROM variants WHERE experiment = 'exp-a'; DELETE FROM experiments WHERE key = 'exp-a';"
# per table: c, u, d + tombstone (variants and experiments also carry the snapshot)
for t in experiment_metrics assignments events metrics; do
	wait_msgs "neonblue.public.$t" 4 30
	out=$(check "neonblue.public.$t" '
import json, sys
ops = []
for line in sys.stdin:
    m = json.loads(line)
    if m["payload"] is None:
        ops.append("tombstone"); continue
    v = json.loads(m["payload"]); s = v["source"]
    assert s["table"] == sys.argv[1] and s["schema"] == "public" and s["db"] == "nb", s
    assert isinstance(s["lsn"], int) and isinstance(s["txId"], int) and s["ts_ms"] > 0
    assert v["op"] != "c" or v["before"] is None, v
    assert v["op"] != "d" or v["before"] is not None, v
    assert (v["after"] is None) == (v["op"] == "d"), v
    assert json.loads(m["key"]), m
    ops.append(v["op"])
print(" ".join(ops))
' "$t")
	t_eq "ops_$t" "$out" "c u d tombstone"
done
wait_msgs neonblue.public.experiments 5 30
out=$(check neonblue.public.experiments '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m["payload"] is None: continue
    v = json.loads(m["payload"])
    if v["op"] == "u":
        a, b = v["after"], v["before"]
        print(b["status"], a["status"], a["condition"], a["created_at"].endswith("Z"), type(a["coverage"]).__name__, m["key"])
')
t_eq update_full_identity "$out" 'draft running {"country": "fr"} True int {"key":"exp-a"}'
out=$(check neonblue.public.events '
import json, sys, uuid
for line in sys.stdin:
    m = json.loads(line)
    if m["payload"] is None: continue
    v = json.loads(m["payload"])
    if v["op"] == "c":
        a = v["after"]; uuid.UUID(a["event_id"])
        print(a["type"], a["value"], a["properties"], a["ts"][10], a["ts"][-1], sorted(json.loads(m["key"])))
')
t_eq event_rendering "$out" "purchase 9.5 {\"sku\": 1} T Z ['event_id', 'ts']"
out=$(check neonblue.public.metrics '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m["payload"] and json.loads(m["payload"])["op"] == "c":
        print(json.loads(m["payload"])["after"]["event_types"])
')
t_eq array_as_json "$out" "['purchase', 'checkout']"

# --- with schema, through a second slot and prefix on the same publication
"$NB" --pg "$PG" --kafka "$KAFKA" cdc --with-schema --slot nb_schema --prefix wrapped >>"$tmp/relay2.log" 2>&1 &
relay2=$!
wait_msgs wrapped.public.variants 2 30
out=$(check wrapped.public.variants '
import json, sys
m = json.loads(sys.stdin.readline())
v = json.loads(m["payload"]); k = json.loads(m["key"])
f = {x["field"]: x for x in v["schema"]["fields"]}
after = {x["field"]: x for x in f["after"]["fields"]}
print(v["schema"]["name"], f["source"]["name"], after["weight"]["type"], after["config"]["name"], k["schema"]["name"], v["payload"]["op"])
')
t_eq with_schema "$out" "wrapped.public.variants.Envelope io.debezium.connector.postgresql.Source double io.debezium.data.Json wrapped.public.variants.Key r"
kill -TERM $relay2
wait $relay2
t_eq second_relay_exit "$?" 0

# --- kill -9 mid-stream: nothing missed after a restart
sql -c "SELECT neonblue_ensure_event_partitions(now() - interval '1 day', now() + interval '1 day')" >/dev/null
(for b in $(seq 0 19); do
	sql -c "INSERT INTO events (event_id, user_id, type, ts) SELECT md5('k$b-' || g)::uuid, 'u' || g, 'view', now() FROM generate_series(1, 1000) g" || exit 1
	sleep 0.1
done) &
writer=$!
sleep 0.8
relay_stop KILL
sleep 0.5
relay_start
wait $writer
t_eq writer_ok "$?" 0
wait_msgs neonblue.public.events 20004 60
out=$(check neonblue.public.events '
import json, sys
ids = set(); n = 0
for line in sys.stdin:
    m = json.loads(line)
    if m["payload"] is None: continue
    v = json.loads(m["payload"])
    if v["op"] == "c" and v["after"]["type"] == "view":
        ids.add(v["after"]["event_id"]); n += 1
print(len(ids), n >= len(ids))
')
t_eq crash_nothing_missed "$out" "20000 True"

# --- clean stop, then lag 0 and a resume without re-snapshot
sleep 1.5
relay_stop TERM
t_eq sigterm_exit "$?" 0
t_match sigterm_confirms "$(tail -3 "$tmp/relay.log")" "stopped; .* confirmed [0-9A-F]+/[0-9A-F]+"
t_run lag_zero 0 "$NB" --pg "$PG" cdc lag --json
# 0 bytes, or only WAL that decodes to nothing (PostgreSQL may log a standby
# snapshot, ~56 bytes, after the relay's last confirmation): no transaction
# of the publication is left unconfirmed in the slot
if [[ "$T_OUT" == *'"lag_bytes":0'* ]] ||
	[ "$(sql -c "SELECT count(*) FROM pg_logical_slot_peek_binary_changes('neonblue_cdc', NULL, NULL, 'proto_version', '1', 'publication_names', 'neonblue')")" = 0 ]; then
	t_pass lag_zero_value
else
	t_fail lag_zero_value "$T_OUT, and the slot still holds changes to decode"
fi
sql -c "INSERT INTO metrics (key, name, kind, event_types) VALUES ('m2', 'M2', 'count', '{a}')"
t_run lag_grows 0 "$NB" --pg "$PG" cdc lag
[ "$T_OUT" -gt 0 ] && t_pass lag_positive || t_fail lag_positive "lag $T_OUT after a write with no relay"
relay_start
wait_msgs neonblue.public.metrics 5 30 && t_pass resume_from_slot || t_fail resume_from_slot "no new metric message"
out=$(check neonblue.public.metrics 'import sys, json; print(sum(1 for l in sys.stdin if json.loads(l)["payload"] and json.loads(json.loads(l)["payload"])["op"] == "r"))')
t_eq no_second_snapshot "$out" 0

# --- PostgreSQL restart: the relay reconnects
pg_stop
sleep 1
pg_start
sql -c "INSERT INTO metrics (key, name, kind, event_types) VALUES ('m3', 'M3', 'count', '{a}')"
wait_msgs neonblue.public.metrics 6 40 && t_pass survives_pg_restart || t_fail survives_pg_restart "$(tail -5 "$tmp/relay.log")"
t_match says_it_waited "$(cat "$tmp/relay.log")" "retrying in"

# --- Kafka outage: rows written meanwhile arrive once it is back
kafka_stop
sql -c "INSERT INTO experiments (key, name, seed) VALUES ('during-outage', 'D', 's')"
sleep 2
kafka_start
sql -c "INSERT INTO experiments (key, name, seed) VALUES ('after-outage', 'A', 's')"
for _ in $(seq 120); do
	out=$(topic neonblue.public.experiments | grep -c -- '-outage') || true
	[ "$out" -ge 2 ] && break
	sleep 0.25
done
t_eq survives_kafka_outage "$out" 2
t_match says_waiting_for_kafka "$(cat "$tmp/relay.log")" "waiting for Kafka"

relay_stop TERM
t_eq final_exit "$?" 0

# --- embedded mode on a stack of its own (PostgreSQL, ClickHouse, mock Kafka):
# the relay confirms only what ClickHouse holds, so kill -9 of the Kafka
# process (twice) and of the relay while events stream in loses nothing.
# --no-pipeline: this section runs its own relay and sink with the default
# slot and group, so the supervisor must not run its pair beside them.
shome=$tmp/stack
if "$NB" stack up --home "$shome" --no-pipeline >"$tmp/stack.log" 2>&1; then
	t_pass embedded_stack_up
	(
		set -a
		source "$shome/stack.env"
		set +a
		export NEONBLUE_HOME=$shome
		spg() { as_pg "$bin/psql" -X -q -At -v ON_ERROR_STOP=1 "$NEONBLUE_PG" "$@"; }
		kafka_pid_of() { "$NB" stack status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d["components"] if isinstance(d, dict) else d
print([c["pid"] for c in d if c["name"] == "kafka"][0])'; }
		"$NB" sink >"$tmp/sink.log" 2>&1 &
		sink=$!
		"$NB" cdc --embedded >>"$tmp/relay-embedded.log" 2>&1 &
		relay=$!
		spg -c "SELECT neonblue_ensure_event_partitions(now() - interval '1 day', now() + interval '1 day')" >/dev/null
		(for b in $(seq 1 20); do
			spg -c "INSERT INTO events (event_id, user_id, type, ts) SELECT md5('e$b-' || g)::uuid, 'u' || g, 'view', now() FROM generate_series(1, 5000) g"
			sleep 0.2
		done) &
		writer=$!
		sleep 2
		kill -9 "$(kafka_pid_of)"
		sleep 4
		kill -9 "$(kafka_pid_of)"
		sleep 2
		kill -9 $relay
		wait $relay 2>/dev/null
		"$NB" cdc --embedded >>"$tmp/relay-embedded.log" 2>&1 &
		relay=$!
		wait $writer
		for _ in $(seq 180); do
			ch=$(curl -s "$NEONBLUE_CLICKHOUSE/?query=SELECT%20uniqExact(event_id)%20FROM%20neonblue.events")
			[ "$ch" = 100000 ] && break
			sleep 1
		done
		t_eq embedded_kafka_and_relay_killed "$ch" 100000
		if [ "$ch" != 100000 ]; then
			echo "  relay: $(tail -8 "$tmp/relay-embedded.log")"
			echo "  relay status: $(cat "$shome/run/cdc.status")"
			echo "  sink: $(tail -8 "$tmp/sink.log")"
			curl -s "$NEONBLUE_CLICKHOUSE/?query=SELECT%20*%20FROM%20neonblue.cdc_progress%20FINAL" | sed 's/^/  progress: /'
			cp "$tmp"/*.log "${NB_TEST_TMP:-/tmp}/" 2>/dev/null
		fi
		t_match embedded_replays "$(cat "$tmp/relay-embedded.log")" "embedded Kafka went away"
		# every table: inserts, updates (one changing a key), deletes; then the
		# same rows in PostgreSQL and in ClickHouse (FINAL, not deleted)
		spg -c "INSERT INTO experiments (key, name, seed, condition) VALUES ('c1', 'One', 's', '{\"a\": 1}'), ('c2', 'Two', 's', NULL), ('c3', 'Three', 's', NULL);
			INSERT INTO variants (experiment, key, name, weight, is_control, position, config) VALUES
				('c1', 'control', 'C', 0.5, true, 0, '{\"color\": \"blue\"}'), ('c1', 'b', 'B', 0.5, false, 1, '{}'),
				('c2', 'control', 'C', 1, true, 0, '{}');
			INSERT INTO metrics (key, name, kind, event_types) VALUES ('m1', 'M1', 'binomial', '{buy,pay}'), ('m2', 'M2', 'count', '{view}');
			INSERT INTO experiment_metrics VALUES ('c1', 'm1', 'primary', 0), ('c1', 'm2', 'secondary', 1);
			INSERT INTO assignments (experiment, user_id, variant, experiment_version) VALUES ('c1', 'a1', 'control', 1), ('c1', 'a2', 'b', 1), ('c2', 'a1', 'control', 1);
			INSERT INTO audit_log (actor, action, entity, key) VALUES ('t', 'create', 'experiment', 'c1'), ('t', 'create', 'experiment', 'c2');"
		spg -c "UPDATE experiments SET status = 'running', version = 2, condition = '{\"b\": [1, 2]}' WHERE key = 'c1';
			UPDATE variants SET weight = 0.25 WHERE experiment = 'c1' AND key = 'b';
			UPDATE metrics SET event_types = '{buy,pay,refund}', description = 'money' WHERE key = 'm1';
			UPDATE experiment_metrics SET role = 'guardrail' WHERE metric = 'm2';
			UPDATE assignments SET user_id = 'a9' WHERE experiment = 'c1' AND user_id = 'a2';
			UPDATE assignments SET variant = 'b' WHERE experiment = 'c2';
			UPDATE events SET value = 7.5 WHERE user_id = 'u17';
			DELETE FROM events WHERE user_id = 'u18';
			DELETE FROM experiments WHERE key = 'c3';
			DELETE FROM experiment_metrics WHERE metric = 'm2';
			DELETE FROM metrics WHERE key = 'm2';
			DELETE FROM audit_log WHERE key = 'c2';"
		chq() { curl -s --data-binary "$1 FORMAT TabSeparated" "$NEONBLUE_CLICKHOUSE/"; }
		# wait_lag0 N: polls `cdc lag` N times, 0.5 s apart, until 0; leaves it in $lag
		wait_lag0() {
			for _ in $(seq "$1"); do
				lag=$("$NB" cdc lag)
				[ "$lag" = 0 ] && break
				sleep 0.5
			done
		}
		same() { # NAME PG_SQL CH_SQL
			local a b
			for _ in $(seq 60); do
				a=$(spg -F $'\t' -c "$2")
				b=$(chq "$3")
				[ "$a" = "$b" ] && break
				sleep 1
			done
			t_eq "$1" "$b" "$a"
		}
		same content_experiments \
			"SELECT key, name, status, version, coverage, coalesce(condition::text, 'NULL'), (extract(epoch FROM created_at) * 1000000)::bigint FROM experiments ORDER BY key" \
			"SELECT key, name, status, version, coverage, ifNull(condition, 'NULL'), toUInt64(created_at) * 1000000 + created_at_us FROM neonblue.experiments FINAL WHERE _deleted = 0 ORDER BY key"
		same content_variants \
			"SELECT experiment, key, weight, is_control::int, config::text, position FROM variants ORDER BY 1, 2" \
			"SELECT experiment, key, weight, is_control, config, position FROM neonblue.variants FINAL WHERE _deleted = 0 ORDER BY experiment, key"
		same content_metrics \
			"SELECT key, kind, array_to_string(event_types, ','), description FROM metrics ORDER BY key" \
			"SELECT key, kind, arrayStringConcat(event_types, ','), description FROM neonblue.metrics FINAL WHERE _deleted = 0 ORDER BY key"
		same content_experiment_metrics \
			"SELECT experiment, metric, role, position FROM experiment_metrics ORDER BY 1, 2" \
			"SELECT experiment, metric, role, position FROM neonblue.experiment_metrics FINAL WHERE _deleted = 0 ORDER BY experiment, metric"
		same content_assignments \
			"SELECT experiment, user_id, variant, experiment_version, (extract(epoch FROM assigned_at) * 1000000)::bigint FROM assignments ORDER BY 1, 2" \
			"SELECT experiment, user_id, variant, experiment_version, toUInt64(assigned_at) * 1000000 + assigned_at_us FROM neonblue.assignments FINAL WHERE _deleted = 0 ORDER BY experiment, user_id"
		same content_audit_log \
			"SELECT id, actor, action, entity, key FROM audit_log ORDER BY id" \
			"SELECT id, actor, action, entity, key FROM neonblue.audit_log FINAL WHERE _deleted = 0 ORDER BY id"
		same content_events \
			"SELECT count(*), sum(value), count(*) FILTER (WHERE user_id = 'u18') FROM events" \
			"SELECT count(), sum(value), countIf(user_id = 'u18') FROM neonblue.events FINAL WHERE _deleted = 0"
		wait_lag0 40
		t_eq embedded_confirms_all "$lag" 0
		# A progress row of another producer epoch (as a batch read from a
		# dead Kafka and stored late writes) counts nothing: with the sink
		# frozen and such rows claiming every offset and LSN of the events
		# partitions, the new events stay unconfirmed until the sink writes.
		kill -STOP $sink
		spg -c "INSERT INTO events (event_id, user_id, type, ts) SELECT md5('ep-' || g)::uuid, 'ep' || g, 'view', now() FROM generate_series(1, 40) g"
		chq "INSERT INTO neonblue.cdc_progress (topic, partition, source_table, next_offset, lsn, updated_at, seq, epoch)
			SELECT topic, partition, source_table, 1000000000000, 9223372036854775807, now(), max(seq) + 1, 1
			FROM neonblue.cdc_progress WHERE source_table = 'events' GROUP BY topic, partition, source_table"
		sleep 3
		lag=$("$NB" cdc lag)
		if [ "$lag" != 0 ] && [ -n "$lag" ]; then t_pass foreign_epoch_confirms_nothing; else t_fail foreign_epoch_confirms_nothing "cdc lag is '$lag' while the sink is frozen"; fi
		kill -CONT $sink
		wait_lag0 60
		t_eq own_epoch_confirms "$lag" 0
		t_eq foreign_epoch_events_stored "$(chq "SELECT count() FROM neonblue.events FINAL WHERE user_id LIKE 'ep%'")" 40
		kill -TERM $relay $sink
		wait $relay
		t_eq embedded_exit "$?" 0
		wait $sink
	) | tee -a "$tmp/embedded.out"
	T_PASSED=$((T_PASSED + $(grep -c '^PASS' "$tmp/embedded.out")))
	T_FAILED=$((T_FAILED + $(grep -c '^FAIL' "$tmp/embedded.out")))
	"$NB" stack down --home "$shome" >/dev/null 2>&1
else
	t_fail embedded_stack_up "$(tail -5 "$tmp/stack.log")"
fi
if grep -q "ERROR: AddressSanitizer\|runtime error" "$tmp"/relay*.log; then
	t_fail sanitizers "$(grep -m3 -A5 'AddressSanitizer\|runtime error' "$tmp"/relay*.log)"
else
	t_pass sanitizers
fi
t_done
