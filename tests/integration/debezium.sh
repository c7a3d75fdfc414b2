#!/usr/bin/env bash
# debezium.sh — the sink reads what real Debezium (2.7, PostgreSQL connector)
# writes. The messages are tests/fixtures/debezium/*.json, written from
# Debezium's documentation (each says which section), not from the relay.
#   1. the fixtures that have an "sql" field go through a mock Kafka into the
#      sink and a real ClickHouse; the rows are dumped;
#   2. the other fixtures: a truncate of one monthly partition, heartbeats and
#      transaction metadata (ignored), values no column can hold (dead letters);
#   3. ClickHouse is emptied, the same changes are made in a real PostgreSQL
#      ("sql") and carried by the built-in relay (`neonblue cdc`) and the sink:
#      ClickHouse must hold exactly the rows of 1 (every column but _version,
#      which is the LSN: Debezium's per change, the relay's per commit).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/t.sh
NB=${NB:-build/asan/neonblue}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
FX=tests/fixtures/debezium

# Not under $NB_TEST_TMP: ClickHouse and PostgreSQL run as their own users.
W=$(mktemp -d /tmp/nbdbz.XXXXXX)
chmod 755 "$W"
PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3 # not a shim: the machine is shared
# four free ports at once (t_free_port's way, one interpreter)
read -r CH_HTTP CH_TCP KPORT PGPORT < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
CH="http://127.0.0.1:$CH_HTTP"
KAFKA=127.0.0.1:$KPORT
PG="host=127.0.0.1 port=$PGPORT user=postgres dbname=nb"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
SINK_PID= RELAY_PID= KAFKA_PID=
source "$NB_ROOT/tests/lib/ch.sh" # as_ch, ch_start
stop_pid() { [ -n "$1" ] && kill "$1" 2>/dev/null && wait "$1" 2>/dev/null; }
cleanup() {
	stop_pid "$SINK_PID"
	stop_pid "$RELAY_PID"
	stop_pid "$KAFKA_PID"
	ch_stop
	as_pg "$PGBIN/pg_ctl" -D "$W/pg" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
q() { curl -s "$CH/" --data-binary "$1"; }
sql() { as_pg "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$PG" "$@"; }

# ---- the servers: PostgreSQL (initdb in the background), ClickHouse, Kafka ----
mkdir -p "$W/pg" "$W/pgrun" "$W/home"
chown postgres "$W/pg" "$W/pgrun" 2>/dev/null
(as_pg "$PGBIN/initdb" -D "$W/pg" -U postgres -A trust >/dev/null &&
	as_pg "$PGBIN/pg_ctl" -D "$W/pg" -l "$W/pgrun/pg.log" -w -o "-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$W/pgrun -c wal_level=logical -c fsync=off -c TimeZone=Europe/Paris" start >/dev/null) &
PG_SETUP=$!
"$NB" stack kafka --ports "$KPORT" >>"$W/kafka.log" 2>&1 &
KAFKA_PID=$!
ch_start
for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/$KPORT) 2>/dev/null && break; sleep 0.1; done
t_eq setup-clickhouse "$(q 'SELECT 1')" 1
t_match setup-kafka "$( (echo >/dev/tcp/127.0.0.1/$KPORT) 2>&1 && echo up)" up

# ---- the fixtures, read by a small helper ----
cat >"$W/fx.py" <<'EOF'
# fx.py CMD DIR [ARGS] — reads the fixtures (sorted by name).
#   produce DIR OUT compare|late|rest: OUT/<n>.topic + OUT/<n>.msgs (kcat -K TAB
#       -Z input) per topic in order; prints the number of messages. compare: the
#       fixtures with "sql"; late: "late" ones (sent after the others, same sink
#       run); rest: the others
#   checks DIR [late|rest]: "name<TAB>query<TAB>want" (newlines in want as \n)
#   sql DIR before|after: one SQL statement per line
#   dlq DIR: "name<TAB>regex" per dead-letter fixture;  ignored DIR: the total
import glob, json, os, sys
cmd, d = sys.argv[1], sys.argv[2]
fx = [(os.path.basename(p)[:-5], json.load(open(p))) for p in sorted(glob.glob(d + "/*.json"))]
for name, f in fx:
    assert f.get("doc", "").startswith("Debezium 2.7"), name + ": no doc field"
def enc(v):
    return "" if v is None else json.dumps(v, separators=(",", ":"), ensure_ascii=False)
if cmd == "produce":
    out, which = sys.argv[3], sys.argv[4]
    topics, n = {}, 0
    for name, f in fx:
        kind = "compare" if "sql" in f else "late" if f.get("late") else "rest"
        if kind != which:
            continue
        for m in f["messages"]:
            topics.setdefault(m["topic"], []).append(enc(m["key"]) + "\t" + enc(m["value"]))
            n += 1
    os.makedirs(out, exist_ok=True)
    for i, (t, lines) in enumerate(topics.items()):
        open("%s/%02d.topic" % (out, i), "w").write(t)
        open("%s/%02d.msgs" % (out, i), "w").write("".join(l + "\n" for l in lines))
    print(n)
elif cmd == "sql":
    for name, f in fx:
        if "sql" in f and f.get("before_relay", False) == (sys.argv[3] == "before"):
            for s in f["sql"]:
                print(s)
elif cmd == "dlq":
    for name, f in fx:
        if "dlq" in f:
            print(name + "\t" + f["dlq"])
elif cmd == "ignored":
    print(sum(f.get("ignored", 0) for _, f in fx))
elif cmd == "checks":
    for name, f in fx:
        if (sys.argv[3] == "late") != bool(f.get("late")):
            continue
        for c in f.get("checks", []):
            print(name + "\t" + c["query"] + "\t" + c["want"].replace("\n", "\\n"))
EOF
fx() { "$PY" "$W/fx.py" "$@"; }
produce() { # produce DIR: every topic's messages, in order
	local t
	for t in "$1"/*.topic; do
		kcat -P -b "$KAFKA" -t "$(cat "$t")" -K $'\t' -Z -l "${t%.topic}.msgs" || echo "kcat failed for $(cat "$t")" >&2
	done
}
TABLES="experiments variants metrics experiment_metrics assignments events audit_log"
declare -A COLS
dump() { # every replicated table, FINAL, every column but _version, sorted
	local t
	for t in $TABLES; do
		[ -n "${COLS[$t]:-}" ] || COLS[$t]=$(q "SELECT name FROM system.columns WHERE database = 'neonblue' AND table = '$t' AND name != '_version' FORMAT TabSeparated" | sed 's/.*/`&`/' | paste -sd,)
	done
	for t in $TABLES; do
		[ -n "${COLS[$t]}" ] && q "SELECT '$t', ${COLS[$t]} FROM neonblue.$t FINAL FORMAT TabSeparated"
	done | sort
}
# status_field KEY: a top-level number of the sink's status file (no python: the machine is shared)
status_field() { grep -o "\"$1\":[0-9]*" "${2:-$W/sink.status}" 2>/dev/null | head -1 | cut -d: -f2; }
start_sink() { # start_sink PREFIX GROUP
	rm -f "$W/sink.status"
	"$NB" sink --kafka "$KAFKA" --clickhouse "$CH" --home "$W/home" --status "$W/sink.status" \
		--prefix "$1" --group "$2" --batch-ms 100 2>>"$W/sink.log" &
	SINK_PID=$!
}
stop_sink() { kill -TERM "$SINK_PID"; wait "$SINK_PID"; SINK_RC=$?; SINK_PID=; }
# wait_stored N [SECONDS]: the sink consumed N messages and committed them all
wait_stored() {
	local end=$((SECONDS + ${2:-40}))
	while [ $SECONDS -lt $end ]; do
		m=$(status_field messages)
		[ -n "$m" ] && [ "$m" -ge "$1" ] && [ "$(status_field lag_total)" = 0 ] &&
			[ "$(status_field batch_rows_pending)" = 0 ] && return 0
		sleep 0.2
	done
	return 1
}

# ---- 1. Debezium-format messages that have a PostgreSQL twin ----
NCMP=$(fx produce "$FX" "$W/cmp" compare)
t_match fixtures-compare "$NCMP" '^[1-9][0-9]+$'
produce "$W/cmp" # before the sink subscribes: one group join, no rebalance per new topic
start_sink neonblue dbz-sink
wait_stored "$NCMP"
t_eq debezium-stored "$(status_field messages)" "$NCMP"
t_eq debezium-no-dlq "$(status_field dlq)" 0
dump >"$W/debezium.rows"
t_eq debezium-rows "$(wc -l <"$W/debezium.rows")" 15
# _version is Debezium's per-change LSN; the truncate rewrote rows 1 and 2 at its own
t_eq version-update "$(q "SELECT _version, status FROM neonblue.experiments FINAL WHERE key = 'dbz-new'")" $'2300\trunning'
t_eq truncate-whole-table "$(q "SELECT id, _deleted, _version FROM neonblue.audit_log FINAL ORDER BY id FORMAT TabSeparated")" $'1\t1\t2820\n2\t1\t2820\n3\t0\t2830'
t_eq nanoseconds-rounded "$(q "SELECT toUnixTimestamp(updated_at), updated_at_us FROM neonblue.experiments FINAL WHERE key = 'dbz-new'")" $'1793606400\t123457'
t_eq offset-read "$(q "SELECT toUnixTimestamp(created_at), created_at_us FROM neonblue.experiments FINAL WHERE key = 'dbz-new'")" $'1793606400\t250000'
t_eq text-array "$(q "SELECT event_types FROM neonblue.metrics FINAL WHERE key = 'dbz-buy'")" "['purchase','checkout']"
t_eq pk-update "$(q "SELECT key, _deleted FROM neonblue.experiments FINAL WHERE key LIKE 'dbz-%ed' OR key = 'dbz-old' ORDER BY key FORMAT TabSeparated")" $'dbz-old\t1\ndbz-renamed\t0'
t_eq tombstones "$(status_field tombstones)" 3
t_eq truncates-counted "$(status_field truncates)" 1
# a replay of everything (at-least-once) changes no row, the truncate included
produce "$W/cmp"
wait_stored $((2 * NCMP))
t_eq replay-stored "$(status_field messages)" $((2 * NCMP))
dump >"$W/replay.rows"
if cmp -s "$W/debezium.rows" "$W/replay.rows"; then t_pass replay-changes-nothing; else
	t_fail replay-changes-nothing "$(diff "$W/debezium.rows" "$W/replay.rows" | head -10)"; fi
# a row older than the truncate, read after it was applied (another partition)
NLATE=$(fx produce "$FX" "$W/late" late)
produce "$W/late"
wait_stored $((2 * NCMP + NLATE))
while IFS=$'\t' read -r name query want; do
	t_eq "check-$name" "$(q "$query FORMAT TabSeparated")" "$(printf '%b' "$want")"
done < <(fx checks "$FX" late)
t_match late-row-logged "$(cat "$W/sink.log")" 'rows older than the truncate of audit_log \(lsn 2820\) arrived late'

# ---- 2. the other fixtures: partition truncate, ignored topics, dead letters ----
# (the sink restarts in the same group: their new topics would cost a rebalance)
stop_sink
t_eq debezium-sink-stops "$SINK_RC" 0
NREST=$(fx produce "$FX" "$W/rest" rest)
produce "$W/rest"
kcat -L -b "$KAFKA" -t neonblue.dlq >/dev/null 2>&1 # asks for it: the mock creates it now
start_sink neonblue dbz-sink
NCMP=0 # the status counts from the restart
NDLQ=$(fx dlq "$FX" | wc -l)
wait_stored $((NCMP + NREST))
end=$((SECONDS + 20)) # the dead letters, read back by the sink too
while [ $SECONDS -lt $end ] && [ "$(status_field dlq)" != "$NDLQ" ]; do sleep 0.2; done
t_eq dlq-count "$(status_field dlq)" "$NDLQ"
t_eq ignored-counted "$(status_field ignored)" "$(fx ignored "$FX")"
t_eq truncates-counted-2 "$(status_field truncates)" 1
while IFS=$'\t' read -r name query want; do
	t_eq "check-$name" "$(q "$query FORMAT TabSeparated")" "$(printf '%b' "$want")"
done < <(fx checks "$FX" rest)
t_eq partition-truncate-spares-other-months "$(q "SELECT _deleted FROM neonblue.events FINAL WHERE event_id = '0f8fad5b-d9cb-469f-a165-70867728950e'")" 0
dlq=$(kcat -C -b "$KAFKA" -t neonblue.dlq -e -q 2>/dev/null)
while IFS=$'\t' read -r name why; do
	t_match "dlq-$name" "$dlq" "$why"
done < <(fx dlq "$FX")
t_eq dlq-not-ignored "$(printf '%s\n' "$dlq" | grep -c 'heartbeat\|neonblue.transaction')" 0
t_run sink-status 0 "$NB" sink status --status "$W/sink.status"
t_match sink-status-truncates "$T_OUT" $'truncates +1\n'
t_match sink-status-ignored "$T_OUT" $'ignored +3\n'
stop_sink
t_eq debezium-sink-exit-0 "$SINK_RC" 0

# ---- 3. the same changes through PostgreSQL and the built-in relay ----
q "DROP DATABASE neonblue" >/dev/null # the sink applies the migrations again
wait "$PG_SETUP"
t_eq setup-postgres "$(as_pg "$PGBIN/psql" -X -At -h 127.0.0.1 -p "$PGPORT" -U postgres -c 'CREATE DATABASE nb' 2>&1)" "CREATE DATABASE"
# one psql each: every -c is its own transaction (the truncate must not share one)
psql_each() { # psql_each FLAG < lines
	local args=() l
	while IFS= read -r l; do args+=("$1" "$l"); done
	[ ${#args[@]} -eq 0 ] || sql "${args[@]}" >/dev/null
}
ls core/sql/pg/00[1-4]_*.sql | psql_each -f || t_fail migrate-pg "psql failed"
fx sql "$FX" before | psql_each -c || t_fail sql-before "psql failed"
"$NB" --home "$W/home" --pg "$PG" --kafka "$KAFKA" cdc --prefix relay --status "$W/cdc.status" >>"$W/relay.log" 2>&1 &
RELAY_PID=$!
end=$((SECONDS + 30)) # the slot exists: what follows is streamed, not snapshotted
while [ $SECONDS -lt $end ] && [ "$(sql -c 'SELECT count(*) FROM pg_replication_slots')" != 1 ]; do sleep 0.2; done
fx sql "$FX" after | psql_each -c || t_fail sql-after "psql failed"
# the last change is out and everything acknowledged: the topics exist, the sink joins once
end=$((SECONDS + 30))
while [ $SECONDS -lt $end ]; do
	[ -n "$(kcat -C -b "$KAFKA" -t relay.public.experiment_metrics -e -q -c 1 2>/dev/null)" ] &&
		[ "$(status_field unacknowledged "$W/cdc.status")" = 0 ] && break
	sleep 0.3
done
start_sink relay relay-sink
end=$((SECONDS + 40))
while [ $SECONDS -lt $end ]; do
	dump >"$W/relay.rows"
	cmp -s "$W/debezium.rows" "$W/relay.rows" && break
	sleep 0.5
done
sleep 1 # nothing more arrives that would change them
dump >"$W/relay.rows"
if cmp -s "$W/debezium.rows" "$W/relay.rows"; then t_pass relay-rows-identical; else
	t_fail relay-rows-identical "$(diff "$W/debezium.rows" "$W/relay.rows" | head -20)"; fi
t_eq relay-truncates-counted "$(status_field truncates)" 1
t_eq relay-no-dlq "$(status_field dlq)" 0
stop_sink
t_eq relay-sink-exit-0 "$SINK_RC" 0
stop_pid "$RELAY_PID"
RELAY_PID=
if grep -q 'ERROR: AddressSanitizer\|LeakSanitizer\|runtime error' "$W/sink.log" "$W/relay.log"; then
	t_fail sanitizers "$(grep -h -m3 -A5 'Sanitizer\|runtime error' "$W/sink.log" "$W/relay.log")"
else t_pass sanitizers; fi
t_done
