#!/usr/bin/env bash
# bench_cdc.sh — relay throughput (changes/s, producing to Kafka with acks)
# against pg_recvlogical + test_decoding reading the same WAL in the same run.
# Target: relay ≥ 0.5 × pg_recvlogical. Throwaway PostgreSQL (as postgres) and
# librdkafka's mock Kafka (`neonblue stack kafka`). N=rows (default 500000).
set -u
cd "$(dirname "$0")/.."
NB=${NB:-$PWD/build/neonblue}
N=${N:-500000}
tmp=$(mktemp -d /tmp/nbbcdc.XXXXXX)
chmod 755 "$tmp"
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
pgport=$(port)
kport=$(port)
PG="host=127.0.0.1 port=$pgport user=postgres dbname=nb"
kafka_pid=
relay_pid=
cleanup() {
	[ -n "$relay_pid" ] && kill -9 "$relay_pid" 2>/dev/null
	[ -n "$kafka_pid" ] && kill "$kafka_pid" 2>/dev/null
	as_pg "$bin/pg_ctl" -D "$tmp/pg" -m immediate stop >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
sql() { as_pg "$bin/psql" -X -q -At -v ON_ERROR_STOP=1 "$PG" "$@"; }
now() { date +%s.%N; }

mkdir -p "$tmp/pg" "$tmp/run"
chown postgres "$tmp/pg" "$tmp/run"
as_pg "$bin/initdb" -D "$tmp/pg" -U postgres -A trust >/dev/null
as_pg "$bin/pg_ctl" -D "$tmp/pg" -l "$tmp/run/pg.log" -w -o "-c listen_addresses=127.0.0.1 -c port=$pgport -c unix_socket_directories=$tmp/run -c wal_level=logical -c fsync=off -c synchronous_commit=off" start >/dev/null
as_pg "$bin/psql" -X -q -h 127.0.0.1 -p "$pgport" -U postgres -c "CREATE DATABASE nb"
sql -f core/sql/pg/001_init.sql >/dev/null
"$NB" stack kafka --ports "$kport" >"$tmp/kafka.log" 2>&1 &
kafka_pid=$!
sleep 1

# Both slots exist before the rows are written: both decode the same WAL.
"$NB" --home "$tmp/home" --pg "$PG" --kafka "127.0.0.1:$kport" cdc --quiet &
relay_pid=$!
for _ in $(seq 100); do
	[ "$(sql -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'neonblue_cdc'")" = 1 ] && break
	sleep 0.1
done
sleep 1
kill -TERM $relay_pid
wait $relay_pid
relay_pid=
sql -c "SELECT pg_create_logical_replication_slot('bench_td', 'test_decoding')" >/dev/null
sql -c "SELECT neonblue_ensure_event_partitions(now() - interval '1 day', now() + interval '1 day')" >/dev/null
per=50000
for ((i = 0; i < N; i += per)); do
	sql -c "INSERT INTO events (event_id, user_id, type, ts, value, properties, experiment)
		SELECT md5('b$i-' || g)::uuid, 'user-' || (g % 10000), 'view', now(), g * 0.5,
		       '{\"page\": \"/p\"}', 'exp-1' FROM generate_series(1, $per) g"
done
target=$(sql -c "SELECT pg_current_wal_lsn()")
echo "wrote $N events; WAL up to $target"

t0=$(now)
as_pg "$bin/pg_recvlogical" -d "$PG" -S bench_td --start --endpos="$target" -f /dev/null --no-loop
t1=$(now)
base=$(python3 -c "print($N / ($t1 - $t0))")

t2=$(now)
"$NB" --home "$tmp/home" --pg "$PG" --kafka "127.0.0.1:$kport" cdc --quiet &
relay_pid=$!
until [ "$(sql -c "SELECT confirmed_flush_lsn >= '$target' FROM pg_replication_slots WHERE slot_name = 'neonblue_cdc'")" = t ]; do
	sleep 0.05
	kill -0 $relay_pid 2>/dev/null || { echo "relay died"; exit 1; }
done
t3=$(now)
kill -TERM $relay_pid
wait $relay_pid
relay_pid=
rel=$(python3 -c "print($N / ($t3 - $t2))")
python3 - "$base" "$rel" "$t0" "$t1" "$t2" "$t3" <<'PY'
import sys
base, rel = float(sys.argv[1]), float(sys.argv[2])
t0, t1, t2, t3 = map(float, sys.argv[3:7])
print("pg_recvlogical+test_decoding: %.0f changes/s (%.2f s)" % (base, t1 - t0))
print("neonblue cdc → Kafka (acked, confirmed): %.0f changes/s (%.2f s)" % (rel, t3 - t2))
ratio = rel / base
print("ratio %.2f (target >= 0.5): %s" % (ratio, "PASS" if ratio >= 0.5 else "FAIL"))
sys.exit(0 if ratio >= 0.5 else 1)
PY
