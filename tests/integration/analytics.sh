#!/usr/bin/env bash
# analytics.sh — every nb_an query against a brute-force computation in
# PostgreSQL (tests/integration/analytics/check.py), plus CLI refusals and the
# renderers on real data. The same generated rows are loaded into a fresh
# PostgreSQL database (plain tables: the brute-force side) and, exported from
# it in PostgreSQL's own text, into a fresh ClickHouse database with the
# production schema (core/sql/ch/*.sql, the rollup included) — with duplicate deliveries and
# a deleted row that FINAL must collapse.
# needs: stack
set -u
cd "$(dirname "$0")/../.."
. tests/lib/t.sh
NB=${NB:-build/asan/neonblue}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

: "${NEONBLUE_HOME:?run through tests/run.sh (needs the shared stack)}"
. "$NEONBLUE_HOME/stack.env"
CH=$NEONBLUE_CLICKHOUSE
DB=nbt_an_$$
W=$(mktemp -d "${NB_TEST_TMP:-/tmp}/analytics.XXXXXX")
PGDB="$NEONBLUE_PG dbname=$DB"
cleanup() {
	curl -s "$CH" --data-binary "DROP DATABASE IF EXISTS $DB" >/dev/null
	psql "$NEONBLUE_PG" -Xq -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT

chq() { curl -sS --fail-with-body "$CH" --data-binary "$1"; }

# ---- data ----
python3 tests/integration/analytics/gen.py "$W"
psql "$NEONBLUE_PG" -Xq -c "CREATE DATABASE $DB" >/dev/null
psql "$PGDB" -Xq -v ON_ERROR_STOP=1 -f "$W/pg.sql" >/dev/null
# the production ClickHouse schema, in our database
. tests/lib/ch.sh
ch_schema "$CH" "$DB"
sed "s/DB\./$DB./g" "$W/ch_defs.sql" | while IFS= read -r stmt; do
	chq "${stmt%;}" >/dev/null || echo "defs: $stmt"
done
export_pg() { # COPY … TO STDOUT in the column order of the ClickHouse table
	psql "$PGDB" -Xq -c "COPY ($1) TO STDOUT"
}
ts="to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), (extract(microseconds FROM %s)::bigint %% 1000000)"
ev_ts=$(printf "$ts" ts ts)
as_ts=$(printf "$ts" assigned_at assigned_at)
export_pg "SELECT experiment, user_id, variant, $as_ts, 'hash', 1, context::text, 1, 0 FROM assignments" \
	>"$W/assignments.tsv"
export_pg "SELECT event_id, user_id, type, $ev_ts, value, properties::text, NULL, 1, 0 FROM events" \
	>"$W/events.tsv"
# at-least-once: a tenth of the rows delivered again with a later version
export_pg "SELECT event_id, user_id, type, $ev_ts, value, properties::text, NULL, 2, 0 FROM events
	   WHERE get_byte(uuid_send(event_id), 0) < 26" >>"$W/events.tsv"
export_pg "SELECT experiment, user_id, variant, $as_ts, 'hash', 1, context::text, 2, 0
	   FROM assignments WHERE user_id LIKE '%7'" >>"$W/assignments.tsv"
# a row created then deleted downstream (absent from PostgreSQL)
ghost="00000000-0000-0000-0000-00000000abcd	u004	purchase	2026-11-01 00:00:00	0	1000	{\"amount\": 1000}	\\N"
printf '%s\t1\t0\n%s\t2\t1\n' "$ghost" "$ghost" >>"$W/events.tsv"
ins() {
	curl -sS --fail-with-body "$CH/?query=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "INSERT INTO $DB.$1 FORMAT TabSeparated")" \
		--data-binary @"$2"
}
ins assignments "$W/assignments.tsv"
ins events "$W/events.tsv"
n_pg=$(psql "$PGDB" -XAtq -c "SELECT count(*) FROM events")
n_ch=$(chq "SELECT count() FROM $DB.events FINAL WHERE _deleted = 0")
t_eq load-events-converge "$n_ch" "$n_pg"
n_raw=$(chq "SELECT count() FROM $DB.events")
t_match load-has-duplicates "$n_raw" '^[0-9]+$'
[ "$n_raw" -gt "$n_pg" ] && t_pass load-duplicates-present || t_fail load-duplicates-present "$n_raw <= $n_pg"

# ---- every query against PostgreSQL ----
NB=$NB T_SUITE=$T_SUITE python3 tests/integration/analytics/check.py "$PGDB" "$CH" "$DB" "$W" \
	>"$W/check.out" 2>&1
cat "$W/check.out"
T_PASSED=$((T_PASSED + $(grep -c '^PASS ' "$W/check.out")))
T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$W/check.out")))
if ! grep -q '^PASS ' "$W/check.out"; then t_fail check-ran "check.py produced no results"; fi

# ---- report contract on real data ----
common=(--clickhouse "$CH" --database "$DB")
t_run report-json 0 "$NB" report exp_a --json "${common[@]}"
t_eq report-json-srm-flags-empty-variant "$(jq -r '.srm.mismatch' <<<"$T_OUT")" true
t_eq report-json-recommendation "$(jq -r '.recommendation' <<<"$T_OUT")" "investigate SRM"
t_eq report-json-control-nulls \
	"$(jq -c '[.metrics[].results[] | select(.is_control) | [.lift, .p_value, .chance_to_win]] | unique' <<<"$T_OUT")" \
	'[[null,null,null]]'
t_eq report-json-empty-variant-users "$(jq -r '.variants[] | select(.key=="empty") | .users' <<<"$T_OUT")" 0
t_run report-b-json 0 "$NB" report exp_b --json "${common[@]}"
t_match report-b-p-values "$(jq -c '[.metrics[].results[] | select(.is_control|not) | .p_value, .p_value_sequential, .p_value_adjusted] | map(. >= 0 and . <= 1) | unique' <<<"$T_OUT")" '^\[true\]$'
t_run report-md 0 "$NB" report exp_b "${common[@]}"
t_match report-md-title "$T_OUT" '# Experiment exp_b \(running\)'
t_match report-md-table "$T_OUT" '\| new \| [0-9]+ \|'
t_run report-csv 0 "$NB" report exp_b --csv "${common[@]}"
t_eq report-csv-lines "$(printf '%s\n' "$T_OUT" | wc -l)" 5
t_run funnel-md 0 "$NB" funnel exp_a --steps view,purchase "${common[@]}"
t_match funnel-md-table "$T_OUT" '\| step \|'
t_run cohort-csv 0 "$NB" cohort exp_a --csv "${common[@]}"
t_match cohort-csv-header "$T_OUT" '^cohort,variant,users,retained'

# ---- refusals ----
t_run unknown-experiment 2 "$NB" report nope "${common[@]}"
t_match unknown-experiment-msg "$T_ERR" 'no experiment "nope"'
t_run unknown-metric 2 "$NB" report exp_a --metric nope "${common[@]}"
t_run bad-from 2 "$NB" report exp_a --from yesterday "${common[@]}"
t_match bad-from-msg "$T_ERR" '--from "yesterday"'
t_run bad-range 2 "$NB" report exp_a --from 2026-11-02 --to 2026-11-01 "${common[@]}"
t_run bad-segment-prop 2 "$NB" segments exp_a --by "a'b" "${common[@]}"
t_match bad-segment-prop-msg "$T_ERR" 'not a plain property name'
t_run funnel-needs-steps 2 "$NB" funnel exp_a "${common[@]}"
t_run funnel-dup-step 2 "$NB" funnel exp_a --steps view,view "${common[@]}"
t_run bad-window 2 "$NB" funnel exp_a --steps a,b --window 5x "${common[@]}"
t_run injection-is-a-value 2 "$NB" report "x' OR 1=1 --" "${common[@]}"
t_run ch-down 1 "$NB" report exp_a --clickhouse "http://127.0.0.1:$(t_free_port)" --database "$DB"
t_match ch-down-msg "$T_ERR" 'cannot reach ClickHouse'

# ---- the rollup (docs/analytics.md): built by the first report, exact as more arrives ----
chn() { chq "$1" | tr -d '\n'; }
t_eq rollup-state-per-experiment "$(chn "SELECT count() FROM $DB.rollup_state FINAL")" 2
t_run rollup-report 0 "$NB" report exp_a --json "${common[@]}"
rollup_json=$T_OUT
t_run scan-report 0 "$NB" report exp_a --json --scan "${common[@]}"
t_eq rollup-equals-scan "$rollup_json" "$T_OUT"
gen0=$(chn "SELECT gen FROM $DB.rollup_state FINAL WHERE experiment = 'exp_a'")
# more rows, in PostgreSQL (the brute force) and in ClickHouse: 60 new users
# (an event before their assignment each), late events of 40 known users,
# three assignments deleted, everything delivered twice
psql "$PGDB" -Xq -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO assignments SELECT 'exp_a', 'n' || lpad(i::text, 2, '0'),
  CASE WHEN i % 2 = 0 THEN 'control' ELSE 'treat' END, to_timestamp(1793505000 + i * 7),
  jsonb_build_object('country', CASE WHEN i % 3 = 0 THEN 'fr' ELSE 'de' END)
  FROM generate_series(1, 60) i;
INSERT INTO events SELECT md5('n' || i || '-' || k)::uuid, 'n' || lpad(i::text, 2, '0'),
  (ARRAY['view', 'click', 'purchase', 'add_to_cart'])[k + 1],
  to_timestamp(1793505000 + i * 7 + (k - 1) * 30),
  CASE WHEN k = 2 THEN (i % 7) * 0.25 END,
  CASE WHEN k = 2 THEN jsonb_build_object('amount', i * 0.5) END
  FROM generate_series(1, 60) i, generate_series(0, 3) k;
INSERT INTO events SELECT md5('late' || user_id)::uuid, user_id, 'purchase',
  assigned_at + interval '1 day', 1.25, '{"amount": 2.5, "late": "1"}'
  FROM (SELECT user_id, assigned_at FROM assignments WHERE experiment = 'exp_a'
        AND user_id LIKE 'u%' ORDER BY user_id LIMIT 40) x;
SQL
gone="SELECT user_id FROM assignments WHERE experiment = 'exp_b' ORDER BY user_id DESC LIMIT 3"
{ export_pg "SELECT experiment, user_id, variant, $as_ts, 'hash', 1, context::text, 3, 0
	     FROM assignments WHERE user_id LIKE 'n%'"
  export_pg "SELECT experiment, user_id, variant, $as_ts, 'hash', 1, context::text, 3, 0
	     FROM assignments WHERE user_id LIKE 'n%'"
  export_pg "SELECT experiment, user_id, variant, $as_ts, 'hash', 1, context::text, 4, 1
	     FROM assignments WHERE experiment = 'exp_b' AND user_id IN ($gone)"
} >"$W/assignments2.tsv"
new_ev="SELECT event_id, user_id, type, $ev_ts, value, properties::text, NULL, 3, 0 FROM events
	WHERE user_id LIKE 'n%' OR properties ? 'late'"
{ export_pg "$new_ev"; export_pg "$new_ev"; } >"$W/events2.tsv"
psql "$PGDB" -Xq -c "DELETE FROM assignments WHERE experiment = 'exp_b' AND user_id IN ($gone)"
ins assignments "$W/assignments2.tsv"
ins events "$W/events2.tsv"
NB=$NB T_SUITE=$T_SUITE python3 tests/integration/analytics/check.py "$PGDB" "$CH" "$DB" "$W" \
	--again incr >"$W/check2.out" 2>&1
cat "$W/check2.out"
T_PASSED=$((T_PASSED + $(grep -c '^PASS ' "$W/check2.out")))
T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$W/check2.out")))
t_eq rollup-refreshed-not-rebuilt "$(chn "SELECT gen FROM $DB.rollup_state FINAL WHERE experiment = 'exp_a'")" "$gen0"
t_match rollup-delta-rows "$(chn "SELECT count() FROM $DB.rollup_delta WHERE gen = $gen0")" '^[1-9][0-9]+$'
# fold the delta into a new base generation, drop the old one, still exact
NEONBLUE_ROLLUP_FOLD_MIN=1 t_run rollup-fold 0 "$NB" report exp_a --json "${common[@]}"
gen1=$(chn "SELECT gen FROM $DB.rollup_state FINAL WHERE experiment = 'exp_a'")
[ "$gen1" != "$gen0" ] && t_pass rollup-folded || t_fail rollup-folded "generation stayed $gen0"
NEONBLUE_ROLLUP_KEEP_S=0 t_run rollup-drop-old 0 "$NB" report exp_b --json "${common[@]}"
t_eq rollup-old-generation-dropped \
	"$(chn "SELECT count() FROM system.parts WHERE active AND database = '$DB' AND partition = '$gen0'")" 0
NB=$NB T_SUITE=$T_SUITE python3 tests/integration/analytics/check.py "$PGDB" "$CH" "$DB" "$W" \
	--again fold >"$W/check3.out" 2>&1
cat "$W/check3.out"
T_PASSED=$((T_PASSED + $(grep -c '^PASS ' "$W/check3.out")))
T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$W/check3.out")))
t_run scan-report-after 0 "$NB" report exp_a --json --scan "${common[@]}"
scan_json=$T_OUT
t_run rollup-report-after 0 "$NB" report exp_a --json "${common[@]}"
t_eq rollup-equals-scan-after "$T_OUT" "$scan_json"

# ---- through the real pipeline: PostgreSQL → relay → Kafka → sink → ClickHouse ----
# (when the shared stack runs the relay and the sink: `stack up` phase 2)
status=$("$NB" stack status --json 2>/dev/null)
pipe_ok() { jq -e --arg n "$1" '[.. | objects | select(.name == $n) | .healthy] | any' <<<"$status" >/dev/null 2>&1; }
if pipe_ok cdc && pipe_ok sink; then
	S=_p$$
	EXP=anpipe$$
	pfx=p$$_
	ok=0
	"$NB" metric create --key conv$S --kind binomial --events purchase >/dev/null &&
	"$NB" metric create --key purchases$S --kind count --events purchase,checkout --winsorize 90 >/dev/null &&
	"$NB" metric create --key revenue$S --kind sum --events purchase --value-property amount --winsorize 95 >/dev/null &&
	"$NB" metric create --key ctr$S --kind ratio --events click,view >/dev/null &&
	"$NB" exp create --key $EXP --variants control:50,treatment:50 \
		--metrics conv$S:primary,purchases$S:secondary,revenue$S:guardrail,ctr$S:secondary >/dev/null &&
	"$NB" exp start $EXP >/dev/null && ok=1
	[ $ok = 1 ] && t_pass pipeline-setup || t_fail pipeline-setup "metric/exp create or start failed"
	python3 - "$$" "$W" <<'PY'
import json, random, sys, time
pid, w = sys.argv[1], sys.argv[2]
rnd = random.Random(7)
now = int(time.time())
with open(w + "/pipe_users.jsonl", "w") as f:
    for i in range(240):
        f.write(json.dumps({"user_id": "p%s_%d" % (pid, i),
                            "country": ["de", "fr", "us"][i % 3]}) + "\n")
with open(w + "/pipe_events.jsonl", "w") as f:
    for i in range(240):
        for k in range(rnd.randrange(0, 9)):
            t = rnd.choice(["view", "view", "click", "add_to_cart", "checkout", "purchase"])
            # before the assignment (a day ago: not counted) or after it
            ts = now - 86400 - rnd.randrange(3600) if rnd.random() < 0.2 else now + 120 + rnd.randrange(7200)
            ev = {"user_id": "p%s_%d" % (pid, i), "type": t,
                  "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))}
            if t == "purchase":
                ev["value"] = rnd.choice([1, 2.5, 10, 49.75])
                if rnd.random() < 0.8:
                    ev["properties"] = {"amount": rnd.choice([3, 7.5, 12.25, 250])}
            if t in ("view", "click") and rnd.random() < 0.3:
                ev["value"] = rnd.choice([1, 2])
            f.write(json.dumps(ev) + "\n")
PY
	t_run pipeline-assign 0 "$NB" assign $EXP --users "$W/pipe_users.jsonl"
	t_run pipeline-ingest 0 "$NB" ingest "$W/pipe_events.jsonl"
	pg_ev=$(psql "$NEONBLUE_PG" -XAtq -c "SELECT count(*) FROM events WHERE left(user_id, ${#pfx}) = '$pfx'")
	pg_as=$(psql "$NEONBLUE_PG" -XAtq -c "SELECT count(*) FROM assignments WHERE experiment = '$EXP'")
	[ "${pg_ev:-0}" -gt 100 ] && [ "${pg_as:-0}" = 240 ] && t_pass pipeline-written ||
		t_fail pipeline-written "PostgreSQL has $pg_ev events, $pg_as assignments"
	conv=0
	for _ in $(seq 1 120); do
		ch_ev=$(chq "SELECT count() FROM neonblue.events FINAL WHERE _deleted = 0 AND substring(user_id, 1, ${#pfx}) = '$pfx'" 2>/dev/null)
		ch_as=$(chq "SELECT count() FROM neonblue.assignments FINAL WHERE _deleted = 0 AND experiment = '$EXP'" 2>/dev/null)
		ch_em=$(chq "SELECT count() FROM neonblue.experiment_metrics FINAL WHERE _deleted = 0 AND experiment = '$EXP'" 2>/dev/null)
		if [ "$ch_ev" = "$pg_ev" ] && [ "$ch_as" = "$pg_as" ] && [ "$ch_em" = 4 ]; then conv=1; break; fi
		sleep 1
	done
	[ $conv = 1 ] && t_pass pipeline-converged ||
		t_fail pipeline-converged "ClickHouse has $ch_ev/$pg_ev events, $ch_as/$pg_as assignments after 120 s"
	# the sink stamps every user of an acknowledged insert through touched_ack
	# (core/sql/ch/004_touched_ack.sql): beyond the one stamp per row the
	# views take, at least one more per assigned user
	extra=0
	for _ in $(seq 1 20); do
		extra=$(chq "SELECT (SELECT count() FROM neonblue.touched WHERE substring(user_id, 1, ${#pfx}) = '$pfx')
			- (SELECT count() FROM neonblue.events WHERE substring(user_id, 1, ${#pfx}) = '$pfx')
			- (SELECT count() FROM neonblue.assignments WHERE experiment = '$EXP')" 2>/dev/null)
		[ "${extra:-0}" -ge 240 ] 2>/dev/null && break
		sleep 0.5
	done
	[ "${extra:-0}" -ge 240 ] 2>/dev/null && t_pass pipeline-sink-stamps-after-ack ||
		t_fail pipeline-sink-stamps-after-ack "touched holds $extra stamps beyond the views' (want >= 240)"
	NB=$NB T_SUITE=$T_SUITE python3 tests/integration/analytics/check.py "$NEONBLUE_PG" "$CH" neonblue "$W" \
		--pipeline $EXP $S >"$W/pipe.out" 2>&1
	cat "$W/pipe.out"
	T_PASSED=$((T_PASSED + $(grep -c '^PASS ' "$W/pipe.out")))
	T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$W/pipe.out")))
	# events deleted in PostgreSQL leave the rollup too (the deletes carry
	# their user: REPLICA IDENTITY FULL, core/sql/pg/002_events_identity.sql)
	psql "$NEONBLUE_PG" -Xq -c "DELETE FROM events WHERE left(user_id, ${#pfx}) = '$pfx'
		AND type IN ('purchase', 'click') AND split_part(user_id, '_', 2)::int % 3 = 0" >/dev/null
	pg_ev=$(psql "$NEONBLUE_PG" -XAtq -c "SELECT count(*) FROM events WHERE left(user_id, ${#pfx}) = '$pfx'")
	conv=0
	for _ in $(seq 1 120); do
		ch_ev=$(chq "SELECT count() FROM neonblue.events FINAL WHERE _deleted = 0 AND substring(user_id, 1, ${#pfx}) = '$pfx'" 2>/dev/null)
		[ "$ch_ev" = "$pg_ev" ] && { conv=1; break; }
		sleep 1
	done
	[ $conv = 1 ] && t_pass pipeline-deletes-converged ||
		t_fail pipeline-deletes-converged "ClickHouse has $ch_ev events, PostgreSQL $pg_ev, after 120 s"
	t_eq pipeline-deletes-carry-user "$(chq "SELECT count() FROM neonblue.events_by_user WHERE _deleted = 1 AND user_id = ''")" 0
	NB_CHECK_NAME=pipeline-deleted NB=$NB T_SUITE=$T_SUITE python3 tests/integration/analytics/check.py \
		"$NEONBLUE_PG" "$CH" neonblue "$W" --pipeline $EXP $S >"$W/pipe2.out" 2>&1
	cat "$W/pipe2.out"
	T_PASSED=$((T_PASSED + $(grep -c '^PASS ' "$W/pipe2.out")))
	T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$W/pipe2.out")))
else
	echo "note: the stack runs no relay/sink; the pipeline phase is skipped (direct loads above)"
fi

t_done
