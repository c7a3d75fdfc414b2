#!/usr/bin/env bash
# migrate.sh — `neonblue migrate` on a fresh database: concurrent runs apply each migration
# once; the schema's keys, replica identities and monthly event partitions (UTC months,
# concurrent creation).
# needs: stack
# (NEONBLUE_PG alone also works: the role must be allowed to CREATE DATABASE.)
. "$(dirname "$0")/../lib/t.sh"

if [ -z "${NEONBLUE_PG:-}" ] && [ -n "${NEONBLUE_HOME:-}" ] && [ -f "$NEONBLUE_HOME/stack.env" ]; then
	NEONBLUE_PG=$(sed -n 's/^NEONBLUE_PG=//p' "$NEONBLUE_HOME/stack.env" | sed "s/^['\"]//; s/['\"]\$//")
fi
DB=nb_migrate_$(date +%s%N | tail -c 8)
BASE=${NEONBLUE_PG:-}
FRESH="$BASE dbname=$DB"
sqlb() { psql "$BASE" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
sql() { psql "$FRESH" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
cleanup() { sqlb "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1; }
trap cleanup EXIT

t_run create-db 0 psql "$BASE" -XAtq -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB"
npg=$(grep -c '{"pg/' "$NB_ROOT/build/gen/sql_embed.c" 2>/dev/null || echo 1)

# Four concurrent runs: every one succeeds, together they apply each migration once.
pids=()
for i in 1 2 3 4; do
	$NB --pg "$FRESH" migrate --json >"$NB_TEST_TMP/mig$i.out" 2>"$NB_TEST_TMP/mig$i.err" &
	pids+=($!)
done
ok=0
for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)); done
t_eq concurrent-all-ok "$ok" 4
total=$(cat "$NB_TEST_TMP"/mig?.out | python3 -c 'import json,sys; print(sum(json.loads(l)["postgresql_applied"] for l in sys.stdin if l.strip()))')
t_eq concurrent-applied-once "$total" "$npg"
t_eq recorded "$(sql "SELECT count(*) FROM schema_migrations")" "$npg"
t_run again 0 $NB --pg "$FRESH" migrate
t_match again-nothing "$T_OUT" "^postgresql: 0 migrations applied"

# Keys and replica identities the CDC relay relies on.
t_eq tables-have-pk "$(sql "SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r','p') AND c.relname NOT LIKE 'events_y%' AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p')")" 0
t_eq replica-full "$(sql "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relreplident = 'f' AND relname NOT LIKE 'events_y%'")" \
	"events,experiment_metrics,experiments,flags,metrics,saved_groups,variants"
t_eq replica-default "$(sql "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r','p') AND relreplident = 'd' AND relname NOT LIKE 'events_y%'")" \
	"api_tokens,assignments,audit_log,holdouts,layers,retention_settings,schema_migrations"
# deleted events carry their user (the rollup files a delete under it)
t_eq replica-full-partitions "$(sql "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass AND c.relreplident <> 'f'")" 0

# Partitions: current month ± 3 at migration time, named by UTC month.
t_eq partitions-initial "$(sql "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")" 7
t_eq partition-now "$(sql "SELECT count(*) FROM pg_class WHERE relname = 'events_y' || to_char(now() AT TIME ZONE 'UTC', 'YYYY') || 'm' || to_char(now() AT TIME ZONE 'UTC', 'MM')")" 1
t_run no-partition 1 psql "$FRESH" -XAtq -v ON_ERROR_STOP=1 -c "INSERT INTO events (event_id, user_id, type, ts) VALUES (gen_random_uuid(), 'u', 't', '2015-06-01T00:00:00Z')"
t_match no-partition-msg "$T_ERR" 'no partition'
# 23:30 on 31 Dec at UTC-1 is January in UTC: the partition must be 2020-01.
for i in 1 2 3; do
	psql "$FRESH" -XAtq -v ON_ERROR_STOP=1 -c "SELECT neonblue_ensure_event_partitions('2019-12-31T23:30:00-01:00', '2020-03-15T00:00:00Z')" >"$NB_TEST_TMP/ens$i.out" 2>&1 &
	pids[$i]=$!
done
ok=0
for i in 1 2 3; do wait "${pids[$i]}" && ok=$((ok + 1)); done
t_eq ensure-concurrent-ok "$ok" 3
t_eq ensure-created-once "$(cat "$NB_TEST_TMP"/ens?.out | awk "{s += \$1} END {print s}")" 3
t_eq ensure-utc-months "$(sql "SELECT string_agg(relname::text, ',' ORDER BY relname) FROM pg_class WHERE relkind = 'r' AND (relname LIKE 'events_y2020%' OR relname LIKE 'events_y2019%')")" \
	"events_y2020m01,events_y2020m02,events_y2020m03"
t_eq ensure-replica-full "$(sql "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relname LIKE 'events_y2020%' AND relreplident <> 'f'")" 0
t_run insert-jan 0 psql "$FRESH" -XAtq -v ON_ERROR_STOP=1 -c "INSERT INTO events (event_id, user_id, type, ts) VALUES (gen_random_uuid(), 'u', 't', '2019-12-31T23:30:00-01:00')"
t_eq insert-jan-partition "$(sql "SELECT tableoid::regclass FROM events WHERE user_id = 'u'")" events_y2020m01
t_run ensure-backwards 1 psql "$FRESH" -XAtq -v ON_ERROR_STOP=1 -c "SELECT neonblue_ensure_event_partitions('2020-05-01', '2020-01-01')"
t_run ensure-too-long 1 psql "$FRESH" -XAtq -v ON_ERROR_STOP=1 -c "SELECT neonblue_ensure_event_partitions('1900-01-01', '2100-01-01')"
t_match ensure-too-long-msg "$T_ERR" 'more than 100 years'

# A connection that fails names where it tried.
port=$(t_free_port)
t_run refused 1 $NB --pg "host=127.0.0.1 port=$port connect_timeout=2" migrate
t_match refused-msg "$T_ERR" "PostgreSQL at 127\\.0\\.0\\.1:$port"

t_done
