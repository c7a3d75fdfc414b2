#!/usr/bin/env bash
# record.sh — records pgoutput (proto_version 1) messages from a real, throwaway
# PostgreSQL 15 into tests/ref/pgoutput/stream.hex, one message per line:
#   <lsn> <xid> <hex bytes of the message>
# The workload (stream.sql) exercises every message kind test_pgoutput decodes.
# Usage (as root or as postgres): tests/ref/pgoutput/record.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
dir=$(mktemp -d /tmp/nbpgrec.XXXXXX)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
chown postgres "$dir" 2>/dev/null || true
cleanup() { as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust >/dev/null
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c wal_level=logical -c TimeZone=UTC -c DateStyle=ISO" start >/dev/null
psql() { as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"; }
psql -f "$root/core/sql/pg/001_init.sql" >/dev/null
psql -f "$here/setup.sql" >/dev/null
psql -c "SELECT pg_create_logical_replication_slot('rec', 'pgoutput')" >/dev/null
psql -f "$here/stream.sql" >/dev/null
psql -At -F ' ' -c "SELECT lsn, xid, encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes('rec', NULL, NULL, 'proto_version', '1', 'publication_names', 'rec')" >"$here/stream.hex"
echo "recorded $(wc -l <"$here/stream.hex") messages into $here/stream.hex"
