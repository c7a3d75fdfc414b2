#!/usr/bin/env bash
# retention.sh — `neonblue retention set|show|apply` on back-dated data in a
# fresh PostgreSQL database and a fresh ClickHouse database (the production
# schemas): the boundary (1 s and 1 µs older than a limit go, 1 s newer and
# exactly at it stay), partitions wholly past the limit dropped, one
# straddling it rewritten, a per-experiment override keeping its users'
# events longer, both sides left equal, the change stream left silent for
# events, a report after apply equal to --scan and to a brute force over the
# remaining rows in PostgreSQL, every application audited.
# needs: stack
set -u
cd "$(dirname "$0")/../.."
. tests/lib/t.sh
NB=${NB:-build/asan/neonblue}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

: "${NEONBLUE_HOME:?run through tests/run.sh (needs the shared stack)}"
. "$NEONBLUE_HOME/stack.env"
CH=$NEONBLUE_CLICKHOUSE
DB=nbt_ret_$$
W=$(mktemp -d "${NB_TEST_TMP:-/tmp}/retention.XXXXXX")
PGDB="$NEONBLUE_PG dbname=$DB"
cleanup() {
	psql "$PGDB" -Xq -c "SELECT pg_drop_replication_slot('$DB')" >/dev/null 2>&1
	curl -s "$CH" --data-binary "DROP DATABASE IF EXISTS $DB" >/dev/null
	psql "$NEONBLUE_PG" -Xq -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT

chq() { curl -sS --fail-with-body "$CH" --data-binary "$1"; }
chn() { chq "$1" | tr -d '\n'; }
pq() { psql "$PGDB" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
R=("$NB" retention --pg "$PGDB" --clickhouse "$CH")
A=(--database "$DB")

psql "$NEONBLUE_PG" -Xq -c "CREATE DATABASE $DB" >/dev/null
t_run migrate 0 "$NB" migrate --pg "$PGDB" --clickhouse "$CH"
. tests/lib/ch.sh
ch_schema "$CH" "$DB"

# ---- limits: set, show, refusals ----
t_run set-bad-unit 2 "${R[@]}" set --events 40x
t_match set-bad-unit-msg "$T_ERR" '--events "40x": not a duration'
t_run set-zero 2 "${R[@]}" set --assignments 0d
t_match set-zero-msg "$T_ERR" '--assignments "0d": a limit must be at least 1d'
t_run set-too-long 2 "${R[@]}" set --audit 2000y
t_match set-too-long-msg "$T_ERR" '--audit "2000y": too long'
t_run set-inherit-global 2 "${R[@]}" set --events inherit
t_match set-inherit-global-msg "$T_ERR" "--events \"inherit\".*or 'forever'$"
t_run set-nothing 2 "${R[@]}" set
t_run set-unknown-exp 2 "${R[@]}" set --experiment nope --events 3y
t_match set-unknown-exp-msg "$T_ERR" 'no experiment "nope"'
t_run set-audit-per-exp 2 "${R[@]}" set --experiment exp_a --audit 1y
t_match set-audit-per-exp-msg "$T_ERR" 'platform-wide'
t_run show-empty 0 "${R[@]}" show --json
t_eq show-empty-forever "$(jq -c '[.global.events, .global.assignments, .global.audit, (.experiments|length)]' <<<"$T_OUT")" '[null,null,null,0]'
t_run apply-future 2 "${R[@]}" apply --dry-run --at "$(date -u -d +1day +%Y-%m-%dT%H:%M:%SZ)" "${A[@]}"
t_match apply-future-msg "$T_ERR" '--at ".*" is in the future'
t_run apply-bad-at 2 "${R[@]}" apply --dry-run --at soon "${A[@]}"
t_match apply-bad-at-msg "$T_ERR" '--at "soon": not an ISO-8601 time'
t_run apply-dry-flag-on-set 2 "${R[@]}" set --events 1y --dry-run

# ---- back-dated data ----
# AT: the instant limits are measured from (an hour ago, whole second).
# events 400d; assignments 800d; audit 5y; exp_b keeps its users' events
# 900d and its assignments 1000d.
AT=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
pq "INSERT INTO experiments (key, name, seed, status) VALUES ('exp_a', 'A', 'exp_a', 'running'), ('exp_b', 'B', 'exp_b', 'running');
    INSERT INTO variants (experiment, key, name, weight, is_control, position) VALUES
      ('exp_a', 'control', 'control', 0.5, true, 0), ('exp_a', 'treat', 'treat', 0.5, false, 1),
      ('exp_b', 'control', 'control', 0.5, true, 0), ('exp_b', 'treat', 'treat', 0.5, false, 1);
    INSERT INTO metrics (key, name, kind, event_types) VALUES ('buys', 'buys', 'count', '{purchase}'),
      ('conv', 'conv', 'binomial', '{purchase}');
    INSERT INTO experiment_metrics VALUES ('exp_a', 'buys', 'primary', 0), ('exp_a', 'conv', 'secondary', 1),
      ('exp_b', 'buys', 'primary', 0);" >/dev/null
t_run set-global 0 "${R[@]}" set --events 400d --assignments 800d --audit 5y
t_run set-override 0 "${R[@]}" set --experiment exp_b --events 900d --assignments 1000d --json
t_match set-override-note "$T_ERR" "kept for the longer of 900d and the global events limit"
t_eq set-override-json "$(jq -c '.experiments[] | [.experiment, .events, .assignments, .effective.assignments]' <<<"$T_OUT")" '["exp_b","900d","1000d","1000d"]'
t_run show 0 "${R[@]}" show
t_match show-global "$T_OUT" '\(global\) +400d +800d +5y'
t_match show-override "$T_OUT" 'exp_b +900d +1000d'
t_eq set-audited "$(pq "SELECT count(*) FROM audit_log WHERE entity = 'retention' AND action = 'set'")" 2
t_eq set-audit-after "$(pq "SELECT after->>'events' || ',' || (before IS NULL)::text FROM audit_log WHERE entity = 'retention' AND key = 'exp_b'")" '900d,true'

read -r CE CA CU CBE CBA <<<"$(pq "SELECT extract(epoch FROM t - interval '400 days')::bigint,
  extract(epoch FROM t - interval '800 days')::bigint, extract(epoch FROM t - interval '5 years')::bigint,
  extract(epoch FROM t - interval '900 days')::bigint, extract(epoch FROM t - interval '1000 days')::bigint
  FROM (SELECT '$AT'::timestamptz t) x" | tr '|' ' ')"
# users: a01..a30 in exp_a (a01 assigned 1 s before its cutoff, a02 1 s
# after, a03..a10 long ago, the rest within limits); b01..b12 in exp_b
# (b01 assigned before exp_b's 1000d: its events get no extension; b02..b12
# within). Events: every user, one every 20 days from 1100 days ago to now,
# alternating view/purchase; plus the boundary events of u_edge (no
# experiment) and of a02, b02 around both event cutoffs.
pq "INSERT INTO assignments (experiment, user_id, variant, assigned_at, experiment_version)
    SELECT 'exp_a', 'a' || lpad(i::text, 2, '0'), CASE WHEN i % 2 = 0 THEN 'control' ELSE 'treat' END,
      CASE WHEN i = 1 THEN to_timestamp($CA - 1) WHEN i = 2 THEN to_timestamp($CA + 1)
           WHEN i <= 10 THEN to_timestamp($CA - 86400 * i) ELSE to_timestamp($CE - 86400 * (i - 10) * 10) END, 1
    FROM generate_series(1, 30) i;
    INSERT INTO assignments (experiment, user_id, variant, assigned_at, experiment_version)
    SELECT 'exp_b', 'b' || lpad(i::text, 2, '0'), CASE WHEN i % 2 = 0 THEN 'control' ELSE 'treat' END,
      CASE WHEN i = 1 THEN to_timestamp($CBA - 10) ELSE to_timestamp($CBA + 86400 * i * 7) END, 1
    FROM generate_series(1, 12) i;
    -- a user in both: a20 is also in exp_b
    INSERT INTO assignments (experiment, user_id, variant, assigned_at, experiment_version)
    VALUES ('exp_b', 'a20', 'treat', to_timestamp($CBA + 100), 1);
    SELECT neonblue_ensure_event_partitions(to_timestamp($CBA - 86400 * 120), '$AT'::timestamptz);
    INSERT INTO events (event_id, user_id, type, ts, value)
    SELECT md5(u || k)::uuid, u, CASE WHEN k % 2 = 0 THEN 'purchase' ELSE 'view' END,
      to_timestamp(extract(epoch FROM '$AT'::timestamptz) - 86400 * 20 * k - 3600 * 7), k
    FROM (SELECT DISTINCT user_id AS u FROM assignments) us, generate_series(0, 55) k;
    INSERT INTO events (event_id, user_id, type, ts, value) VALUES
      (md5('edge-1')::uuid, 'u_edge', 'purchase', to_timestamp($CE - 1), 1),
      (md5('edge-us')::uuid, 'u_edge', 'purchase', to_timestamp($CE) - interval '1 microsecond', 1),
      (md5('edge0')::uuid, 'u_edge', 'purchase', to_timestamp($CE), 1),
      (md5('edge+1')::uuid, 'u_edge', 'purchase', to_timestamp($CE + 1), 1),
      (md5('a02-1')::uuid, 'a02', 'purchase', to_timestamp($CE - 1), 1),
      (md5('a02+1')::uuid, 'a02', 'purchase', to_timestamp($CE + 1), 1),
      (md5('b02-1')::uuid, 'b02', 'purchase', to_timestamp($CBE - 1), 1),
      (md5('b02+1')::uuid, 'b02', 'purchase', to_timestamp($CBE + 1), 1),
      (md5('b01-mid')::uuid, 'b01', 'purchase', to_timestamp($CE - 86400 * 100), 1);
    INSERT INTO audit_log (at, actor, action, entity, key) VALUES
      (to_timestamp($CU - 1), 't', 'create', 'metric', 'old'),
      (to_timestamp($CU + 1), 't', 'create', 'metric', 'young');" >/dev/null

# a publication and a slot like the CDC relay's, to see what apply sends down the change stream
pq "CREATE PUBLICATION $DB FOR TABLE events, assignments WITH (publish_via_partition_root = true)" >/dev/null
pq "SELECT pg_create_logical_replication_slot('$DB', 'pgoutput')" >/dev/null

# ---- the same rows in ClickHouse ----
export_pg() { psql "$PGDB" -Xq -c "COPY ($1) TO STDOUT"; }
ts="to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), (extract(microseconds FROM %s)::bigint %% 1000000)"
ins() {
	curl -sS --fail-with-body "$CH/?query=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "INSERT INTO $DB.$1 FORMAT TabSeparated")" \
		--data-binary @"$2"
}
export_pg "SELECT experiment, user_id, variant, $(printf "$ts" assigned_at assigned_at), source, experiment_version, context::text, 1, 0 FROM assignments" >"$W/a.tsv"
export_pg "SELECT event_id, user_id, type, $(printf "$ts" ts ts), value, properties::text, experiment, 1, 0 FROM events" >"$W/e.tsv"
# at-least-once: some events twice
export_pg "SELECT event_id, user_id, type, $(printf "$ts" ts ts), value, properties::text, experiment, 2, 0 FROM events WHERE user_id LIKE '%3'" >>"$W/e.tsv"
export_pg "SELECT id, $(printf "$ts" at at), actor, action, entity, key, before::text, after::text, 1, 0 FROM audit_log" >"$W/u.tsv"
ins assignments "$W/a.tsv"
ins events "$W/e.tsv"
ins audit_log "$W/u.tsv"
chq "INSERT INTO $DB.experiments (key, name, status, seed, _version) VALUES ('exp_a', 'A', 'running', 'exp_a', 1), ('exp_b', 'B', 'running', 'exp_b', 1)"
chq "INSERT INTO $DB.variants (experiment, key, name, weight, is_control, position, _version) VALUES
  ('exp_a', 'control', 'control', 0.5, 1, 0, 1), ('exp_a', 'treat', 'treat', 0.5, 0, 1, 1),
  ('exp_b', 'control', 'control', 0.5, 1, 0, 1), ('exp_b', 'treat', 'treat', 0.5, 0, 1, 1)"
chq "INSERT INTO $DB.metrics (key, name, kind, event_types, direction, _version) VALUES
  ('buys', 'buys', 'count', ['purchase'], 'increase', 1), ('conv', 'conv', 'binomial', ['purchase'], 'increase', 1)"
chq "INSERT INTO $DB.experiment_metrics (experiment, metric, role, position, _version) VALUES
  ('exp_a', 'buys', 'primary', 0, 1), ('exp_a', 'conv', 'secondary', 1, 1), ('exp_b', 'buys', 'primary', 0, 1)"
t_eq ch-loaded "$(chn "SELECT count() FROM $DB.events FINAL WHERE _deleted = 0")" "$(pq "SELECT count(*) FROM events")"

# the rollups, built before apply (so a stale one would show)
common=(--pg "$PGDB" --clickhouse "$CH" --database "$DB")
t_run report-before 0 "$NB" report exp_a --json "${common[@]}"
before_a=$T_OUT
"$NB" report exp_b --json "${common[@]}" >/dev/null
gen_a=$(chn "SELECT gen FROM $DB.rollup_state FINAL WHERE experiment = 'exp_a'")

# ---- the brute force: what must stay, in PostgreSQL's own terms ----
KEEP_EV="(ts >= to_timestamp($CE) OR (ts >= to_timestamp($CBE) AND user_id IN
  (SELECT user_id FROM assignments WHERE experiment = 'exp_b' AND assigned_at >= to_timestamp($CBA))))"
KEEP_AS="(CASE WHEN experiment = 'exp_b' THEN assigned_at >= to_timestamp($CBA) ELSE assigned_at >= to_timestamp($CA) END)"
want_ev_del=$(pq "SELECT count(*) FROM events WHERE NOT $KEEP_EV")
want_ev_keep=$(pq "SELECT count(*) FROM events WHERE $KEEP_EV")
want_as_del=$(pq "SELECT count(*) FROM assignments WHERE NOT $KEEP_AS")
want_au_del=$(pq "SELECT count(*) FROM audit_log WHERE at < to_timestamp($CU)")
t_match brute-something-goes "$want_ev_del $want_as_del $want_au_del" '^[1-9][0-9]* [1-9][0-9]* 1$'
# partitions: wholly past the events cutoff and without exp_b rows kept → dropped
want_drop=$(pq "SELECT string_agg(relname, ',' ORDER BY relname) FROM (SELECT c.relname,
  (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS hi,
  c.oid FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass) p
  WHERE hi <= to_timestamp($CE) AND NOT EXISTS (SELECT 1 FROM events e WHERE e.tableoid = p.oid AND $KEEP_EV)")
straddle=$(pq "SELECT 'events_y' || to_char(to_timestamp($CE) AT TIME ZONE 'UTC', 'YYYY\"m\"MM')")
pg_counts() { pq "SELECT (SELECT count(*) FROM events) || ',' || (SELECT count(*) FROM assignments) || ',' || (SELECT count(*) FROM audit_log WHERE entity <> 'retention')"; }
ch_counts() { chn "SELECT toString((SELECT count() FROM $DB.events FINAL WHERE _deleted = 0)) || ',' || toString((SELECT count() FROM $DB.events_by_user FINAL WHERE _deleted = 0)) || ',' || toString((SELECT count() FROM $DB.assignments FINAL WHERE _deleted = 0)) || ',' || toString((SELECT count() FROM $DB.audit_log FINAL WHERE _deleted = 0))"; }
pg0=$(pg_counts)
ch0=$(ch_counts)

# ---- dry run: the same numbers, nothing changed ----
t_run dry-run 0 "${R[@]}" apply --dry-run --at "$AT" --json "${A[@]}"
dry=$T_OUT
t_eq dry-pg-events "$(jq '.postgresql.events.deleted' <<<"$dry")" "$want_ev_del"
t_eq dry-pg-assignments "$(jq '.postgresql.assignments.deleted' <<<"$dry")" "$want_as_del"
t_eq dry-pg-audit "$(jq '.postgresql.audit_log.deleted' <<<"$dry")" "$want_au_del"
t_eq dry-ch-events "$(jq '.clickhouse.events.deleted' <<<"$dry")" "$want_ev_del"
t_eq dry-ch-events-by-user "$(jq '.clickhouse.events_by_user.deleted' <<<"$dry")" "$want_ev_del"
t_eq dry-ch-assignments "$(jq '.clickhouse.assignments.deleted' <<<"$dry")" "$want_as_del"
t_eq dry-drops "$(jq -r '[.postgresql.events.partitions[] | select(.action == "drop") | .partition] | join(",")' <<<"$dry")" "$want_drop"
t_eq dry-straddle-rewritten "$(jq -r --arg p "$straddle" '.postgresql.events.partitions[] | select(.partition == $p) | .action' <<<"$dry")" rewrite
t_eq dry-rollups "$(jq -c '.clickhouse.rollups_rebuilt' <<<"$dry")" '["exp_a","exp_b"]'
t_eq dry-changes-nothing-pg "$(pg_counts)" "$pg0"
t_eq dry-changes-nothing-ch "$(ch_counts)" "$ch0"
t_eq dry-not-audited "$(pq "SELECT count(*) FROM audit_log WHERE entity = 'retention' AND action = 'apply'")" 0
t_run dry-text 0 "${R[@]}" apply --dry-run --at "$AT" "${A[@]}"
t_match dry-text-says "$T_OUT" 'dry run: nothing changed'
t_match dry-text-partition "$T_OUT" "$straddle \[.*\): rewrite"

# ---- apply ----
t_run apply 0 "${R[@]}" apply --at "$AT" --json "${A[@]}"
out=$T_OUT
t_eq apply-pg-events "$(jq '.postgresql.events.deleted' <<<"$out")" "$want_ev_del"
t_eq apply-ch-events "$(jq '.clickhouse.events.deleted' <<<"$out")" "$want_ev_del"
t_eq pg-events-left "$(pq "SELECT count(*) FROM events")" "$want_ev_keep"
t_eq pg-nothing-expired-left "$(pq "SELECT count(*) FROM events WHERE NOT $KEEP_EV")" 0
t_eq pg-boundary-events "$(pq "SELECT string_agg(event_id::text, ',' ORDER BY event_id) FROM events WHERE user_id IN ('u_edge', 'a02', 'b02') AND abs(extract(epoch FROM ts) - $CE) <= 1 OR abs(extract(epoch FROM ts) - $CBE) <= 1 AND user_id = 'b02'")" \
	"$(pq "SELECT string_agg(x::uuid::text, ',' ORDER BY x::uuid) FROM unnest(ARRAY[md5('edge0'), md5('edge+1'), md5('a02+1'), md5('b02+1')]) x")"
t_eq pg-b02-kept-by-override "$(pq "SELECT count(*) FROM events WHERE user_id = 'b02' AND ts < to_timestamp($CE)")" \
	"$(($(pq "SELECT count(*) FROM generate_series(0, 55) k WHERE extract(epoch FROM '$AT'::timestamptz) - 86400 * 20 * k - 3600 * 7 BETWEEN $CBE AND $CE - 1") + 1))"
t_eq pg-b01-no-extension "$(pq "SELECT count(*) FROM events WHERE user_id = 'b01' AND ts < to_timestamp($CE)")" 0
t_eq pg-a20-kept-by-exp_b "$(pq "SELECT count(*) > 0 FROM events WHERE user_id = 'a20' AND ts < to_timestamp($CE)")" t
t_eq pg-dropped-gone "$(pq "SELECT count(*) FROM unnest(string_to_array('$want_drop', ',')) p WHERE to_regclass(p) IS NOT NULL")" 0
t_eq pg-straddle-still-there "$(pq "SELECT to_regclass('$straddle') IS NOT NULL AND EXISTS (SELECT 1 FROM $straddle WHERE ts >= to_timestamp($CE))")" t
t_eq pg-straddle-identity "$(pq "SELECT relreplident FROM pg_class WHERE relname = '$straddle'")" f
t_eq pg-assignments-left "$(pq "SELECT count(*) FROM assignments WHERE NOT $KEEP_AS")" 0
t_eq pg-assignment-boundary "$(pq "SELECT string_agg(user_id, ',' ORDER BY user_id) FROM assignments WHERE user_id IN ('a01', 'a02', 'b01')")" a02
t_eq pg-audit-boundary "$(pq "SELECT string_agg(key, ',') FROM audit_log WHERE actor = 't'")" young
# the change stream: assignment deletes, not one event row (dropped or rewritten)
msgs=$(pq "SELECT string_agg(t || ':' || n, ',' ORDER BY t) FROM (SELECT chr(get_byte(data, 0)) t, count(*) n
  FROM pg_logical_slot_peek_binary_changes('$DB', NULL, NULL, 'proto_version', '1', 'publication_names', '$DB')
  WHERE chr(get_byte(data, 0)) IN ('I', 'U', 'D', 'T') GROUP BY 1) x")
t_eq cdc-only-assignment-deletes "$msgs" "D:$want_as_del"
# an event at an expired time written after apply lands (its partition is made again)
t_run track-into-dropped 0 "$NB" track --pg "$PGDB" late view --ts "$(date -u -d "@$((CBE - 86400 * 60))" +%Y-%m-%dT%H:%M:%SZ)"
pq "DELETE FROM events WHERE user_id = 'late'" >/dev/null

# ClickHouse: the same rows as PostgreSQL
t_eq ch-events-equal-pg "$(chn "SELECT count() FROM $DB.events FINAL WHERE _deleted = 0")" "$want_ev_keep"
t_eq ch-events-by-user-equal "$(chn "SELECT count() FROM $DB.events_by_user FINAL WHERE _deleted = 0")" "$want_ev_keep"
t_eq ch-event-ids-equal-pg "$(chn "SELECT groupArray(toString(event_id)) FROM (SELECT event_id FROM $DB.events FINAL WHERE _deleted = 0 ORDER BY toString(event_id))" | md5sum)" \
	"$(pq "SELECT '[' || string_agg('''' || event_id::text || '''', ',' ORDER BY event_id::text) || ']' FROM events" | tr -d '\n' | md5sum)"
t_eq ch-no-duplicates-of-expired "$(chn "SELECT count() FROM $DB.events WHERE ts < toDateTime($CBE)")" 0
t_eq ch-assignments-equal-pg "$(chn "SELECT count() FROM $DB.assignments FINAL WHERE _deleted = 0")" "$(pq "SELECT count(*) FROM assignments")"
t_eq ch-audit-boundary "$(chn "SELECT groupArray(key) FROM $DB.audit_log FINAL WHERE actor = 't'")" "['young']"
ch_months=$(chn "SELECT groupArray(partition) FROM (SELECT DISTINCT partition FROM system.parts WHERE active AND database = '$DB' AND table = 'events' ORDER BY partition)")
pg_months=$(pq "SELECT '[' || string_agg('''' || m || '''', ',' ORDER BY m) || ']' FROM (SELECT DISTINCT to_char(ts AT TIME ZONE 'UTC', 'YYYYMM') m FROM events) x")
t_eq ch-months-equal-pg "$ch_months" "$pg_months"
t_match ch-dropped-months "$(jq -c '.clickhouse.events.partitions_dropped' <<<"$out")" '^\["[0-9]{6}"'
t_eq ch-no-mutation-left "$(chn "SELECT count() FROM system.mutations WHERE database = '$DB' AND is_done = 0")" 0

# the report after apply: rebuilt, equal to --scan and to the brute force
t_run report-after 0 "$NB" report exp_a --json "${common[@]}"
after_a=$T_OUT
t_run scan-after 0 "$NB" report exp_a --json --scan "${common[@]}"
t_eq report-equals-scan "$after_a" "$T_OUT"
[ "$after_a" != "$before_a" ] && t_pass report-changed || t_fail report-changed "the report did not change"
t_match rollup-rebuilt "$(chn "SELECT gen FROM $DB.rollup_state FINAL WHERE experiment = 'exp_a'")" "^[0-9]+$"
[ "$(chn "SELECT gen FROM $DB.rollup_state FINAL WHERE experiment = 'exp_a'")" != "$gen_a" ] && t_pass rollup-new-generation || t_fail rollup-new-generation "same generation $gen_a"
t_eq rollup-old-generation-gone "$(chn "SELECT count() FROM $DB.rollup_base WHERE gen = $gen_a")" 0
brute=$(pq "SELECT string_agg(variant || ':' || users || ':' || buys, ',' ORDER BY variant) FROM (
  SELECT a.variant, count(DISTINCT a.user_id) users, count(e.event_id) buys FROM assignments a
  LEFT JOIN events e ON e.user_id = a.user_id AND e.type = 'purchase' AND e.ts >= a.assigned_at
  WHERE a.experiment = 'exp_a' GROUP BY a.variant) x")
t_eq report-equals-brute-force "$(jq -r '[.variants[] | .key + ":" + (.users|tostring)] | join(",")' <<<"$after_a"),$(jq -r '[.metrics[] | select(.key == "buys") | .results[] | .variant + ":" + (.aggregates.events|tostring)] | join(",")' <<<"$after_a")" \
	"$(echo "$brute" | tr ',' '\n' | cut -d: -f1,2 | paste -sd,),$(echo "$brute" | tr ',' '\n' | cut -d: -f1,3 | paste -sd,)"
t_run report-b-after 0 "$NB" report exp_b --json "${common[@]}"
b_roll=$T_OUT
t_run scan-b-after 0 "$NB" report exp_b --json --scan "${common[@]}"
t_eq report-b-equals-scan "$b_roll" "$T_OUT"

# audited, with the counts
t_eq apply-audited "$(pq "SELECT (after->'postgresql'->'events'->>'deleted') || ',' || (after->'clickhouse'->'events'->>'deleted') || ',' || (after->'cutoffs'->>'at') FROM audit_log WHERE entity = 'retention' AND action = 'apply'")" \
	"$want_ev_del,$want_ev_del,$AT"

# a second apply has nothing left to do
t_run apply-again 0 "${R[@]}" apply --at "$AT" --json "${A[@]}"
t_eq apply-again-nothing "$(jq -c '[.postgresql.events.deleted, .postgresql.assignments.deleted, .postgresql.audit_log.deleted, .clickhouse.events.deleted, .clickhouse.assignments.deleted, (.clickhouse.rollups_rebuilt|length)]' <<<"$T_OUT")" '[0,0,0,0,0,0]'

# an events override shorter than the global limit deletes nothing more
t_run override-shorter 0 "${R[@]}" set --experiment exp_a --events 10d --json
t_eq override-shorter-effective "$(jq -c '.experiments[] | select(.experiment == "exp_a") | [.events, .effective.events]' <<<"$T_OUT")" '["10d","400d"]'
t_eq override-longer-effective "$(jq -c '.experiments[] | select(.experiment == "exp_b") | .effective.events' <<<"$T_OUT")" '"900d"'
t_run override-shorter-dry 0 "${R[@]}" apply --dry-run --at "$AT" --json "${A[@]}"
t_eq override-shorter-no-effect "$(jq -c '[.postgresql.events.deleted, .clickhouse.events.deleted]' <<<"$T_OUT")" '[0,0]'
t_run override-shorter-undo 0 "${R[@]}" set --experiment exp_a --events inherit

# removing an override: inherit everything
t_run override-inherit 0 "${R[@]}" set --experiment exp_b --events inherit --assignments inherit --json
t_eq override-removed "$(jq '.experiments | length' <<<"$T_OUT")" 0
t_run apply-needs-ch 1 "$NB" retention --pg "$PGDB" --clickhouse "http://127.0.0.1:$(t_free_port)" apply --at "$AT" "${A[@]}"
t_match apply-ch-down-msg "$T_ERR" 'cannot reach ClickHouse'
t_eq apply-ch-down-audited "$(pq "SELECT count(*) FROM audit_log WHERE entity = 'retention' AND action = 'apply' AND after ? 'clickhouse_error'")" 1
t_done
