#!/usr/bin/env bash
# simulate.sh — `neonblue simulate` against the embedded stack: rows written
# through the real write path (assignments back-dated, events after them,
# properties in context and events), the same seed gives the same rows, setup
# is idempotent and --reset recreates, paced live mode, refusals; and the
# simulator's known effects are recovered from PostgreSQL with plain SQL and
# `neonblue stats`, and again end to end through CDC, the sink, ClickHouse
# and `neonblue report --json`: the winner's interval contains the true lift,
# the flat test is not significant, the SRM experiment is flagged.
# needs: stack
. "$(dirname "$0")/../lib/t.sh"
: "${NEONBLUE_HOME:?needs a running stack (tests/run.sh starts one)}"
. "$NEONBLUE_HOME/stack.env"
export NEONBLUE_PG
sql() { psql "$NEONBLUE_PG" -X -Atqc "$1"; }
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {"d": d}))' "$1"; }
tmp=$(mktemp -d /tmp/nbsim.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pids=()
run=$$
# Fixed keys and users: the same seed gives the same data in every run (the
# statistical checks are deterministic); rows of an earlier run are deleted
# first, while the pipeline below is running.
W=simt-win F=simt-flat S=simt-srm M=simt_purchase

# Stated truth: P(purchase) = 0.5 * 0.5 * 0.4 = 0.10; the winner's treatment
# multiplies the last step by 1.5 (0.15); the SRM arm loses 10 % of its users.
write_scenario() { # FILE WINNER_MULT
	cat >"$1" <<EOF
{
	"name": "simtest", "users": 30000, "days": 2, "user_prefix": "simt",
	"properties": {"device": {"values": {"mobile": 3, "desktop": 2}}},
	"baseline": {"funnel": [0.5, 0.5, 0.4], "retention": {"day1": 0.2, "decay": 1},
		     "repeat_purchase": 0, "events": []},
	"metrics": [{"key": "$M", "kind": "binomial", "event_types": ["purchase"]}],
	"experiments": [
		{"key": "$W", "namespace": ["simt", 0, 0.34],
		 "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}],
		 "metrics": [{"key": "$M", "role": "primary"}],
		 "sim": {"arms": {"treatment": {"conversion_mult": $2}}}},
		{"key": "$F", "namespace": ["simt", 0.34, 0.67],
		 "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}],
		 "metrics": [{"key": "$M", "role": "primary"}]},
		{"key": "$S", "namespace": ["simt", 0.67, 1],
		 "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}],
		 "metrics": [{"key": "$M", "role": "primary"}],
		 "sim": {"arms": {"treatment": {"srm_drop": 0.1}}}}
	]
}
EOF
}
write_scenario "$tmp/sc.json" 1.5
START=2026-03-01T00:00:00Z
sim() { "$NB" simulate --scenario "$tmp/sc.json" --seed 4242 --start "$START" "$@"; }

# --- end to end: PostgreSQL → CDC → Kafka → sink → ClickHouse → report ----
# The pipeline runs here with its own publication, slot, topic prefix and
# consumer group (the shared stack does not supervise one). Its publication
# starts with the small tables only, so the slot's snapshot stays small; the
# rows of this run are streamed as they are written.
CH=$NEONBLUE_CLICKHOUSE
chq() { curl -sS "$CH" --data-binary "$1"; }
uc="user_id LIKE 'simt-4242-%'" ue="e.user_id LIKE 'simt-4242-%'"
pg_rows() {
	sql "SELECT (SELECT count(*) FROM assignments WHERE experiment IN ('$W','$F','$S'))
		+ (SELECT count(*) FROM events WHERE $uc)
		+ (SELECT count(*) FROM experiments WHERE key IN ('$W','$F','$S'))
		+ (SELECT count(*) FROM variants WHERE experiment IN ('$W','$F','$S'))
		+ (SELECT count(*) FROM experiment_metrics WHERE experiment IN ('$W','$F','$S'))"
}
ch_rows() {
	chq "SELECT (SELECT count() FROM neonblue.assignments FINAL WHERE _deleted = 0 AND experiment IN ('$W','$F','$S'))
		+ (SELECT count() FROM neonblue.events FINAL WHERE _deleted = 0 AND user_id LIKE 'simt-4242-%')
		+ (SELECT count() FROM neonblue.experiments FINAL WHERE _deleted = 0 AND key IN ('$W','$F','$S'))
		+ (SELECT count() FROM neonblue.variants FINAL WHERE _deleted = 0 AND experiment IN ('$W','$F','$S'))
		+ (SELECT count() FROM neonblue.experiment_metrics FINAL WHERE _deleted = 0 AND experiment IN ('$W','$F','$S'))" 2>/dev/null
}
sql "CREATE PUBLICATION simt_$run FOR TABLE experiments, variants, metrics, experiment_metrics
	WITH (publish_via_partition_root = true)"
"$NB" cdc --embedded --slot "simt_$run" --publication "simt_$run" --prefix "simt$run" --quiet \
	--status "$tmp/cdc.status" >"$tmp/cdc.log" 2>&1 &
pids=($!)
"$NB" sink --group "simt-$run" --prefix "simt$run" --quiet --status "$tmp/sink.status" \
	>"$tmp/sink.log" 2>&1 &
pids+=($!)
stop_pipeline() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	pids=()
	"$NB" cdc drop-slot --slot "simt_$run" >/dev/null 2>&1
	sql "DROP PUBLICATION IF EXISTS simt_$run" >/dev/null
}
trap 'stop_pipeline; rm -rf "$tmp"' EXIT
for _ in $(seq 1 120); do
	[ "$(sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'simt_$run'")" = 1 ] && break
	sleep 0.5
done
sql "ALTER PUBLICATION simt_$run ADD TABLE assignments, events"
sql "DELETE FROM events WHERE $uc; DELETE FROM experiments WHERE key IN ('$W','$F','$S')"

# --- first run --------------------------------------------------------------
t0=$(date +%s)
t_run first-run 0 sim --json
summary=$T_OUT
t_eq users "$(jget 'd["users"]' <<<"$summary")" 30000
t_eq assigned-plus-lost "$(jget 'd["assigned"] + d["dropped"] + d["outside"]' <<<"$summary")" 30000
t_eq all-new "$(jget 'd["inserted"] == d["events"] > 50000' <<<"$summary")" True
for e in "$W" "$F" "$S"; do
	want=$(jget "[ (v['key'], v['assigned']) for x in d['experiments'] if x['key'] == '$e' for v in x['variants'] ]" <<<"$summary" | tr -d " '()[]")
	got=$(sql "SELECT string_agg(variant || ',' || n, ',' ORDER BY variant) FROM (SELECT variant, count(*) n FROM assignments WHERE experiment = '$e' GROUP BY 1) s")
	t_eq "stored-assignments-$e" "$got" "$want"
done
t_eq running "$(sql "SELECT string_agg(status, ',') FROM experiments WHERE key IN ('$W','$F','$S')")" "running,running,running"
t_eq events-stored "$(sql "SELECT count(*) FROM events WHERE $uc")" "$(jget 'd["inserted"]' <<<"$summary")"
t_eq assigned-at-back-dated "$(sql "SELECT min(assigned_at) >= '$START' AND max(assigned_at) < timestamptz '$START' + interval '2 days' FROM assignments WHERE experiment IN ('$W','$F','$S')")" t
t_eq events-in-window "$(sql "SELECT min(ts) >= '$START' AND max(ts) < timestamptz '$START' + interval '2 days' FROM events WHERE $uc")" t
t_eq no-event-before-assignment "$(sql "SELECT count(*) FROM events e JOIN assignments a ON a.user_id = e.user_id AND a.experiment = e.experiment WHERE $ue AND e.ts < a.assigned_at")" 0
t_eq events-carry-experiment "$(sql "SELECT count(*) FROM events e LEFT JOIN assignments a ON a.user_id = e.user_id AND a.experiment = e.experiment WHERE $ue AND a.user_id IS NULL")" 0
t_eq context-and-properties "$(sql "SELECT count(*) FROM events e JOIN assignments a ON a.user_id = e.user_id AND a.experiment = e.experiment WHERE $ue AND (a.context->>'device' IS NULL OR e.properties->>'device' IS DISTINCT FROM a.context->>'device')")" 0
t_eq one-experiment-per-user "$(sql "SELECT count(*) FROM (SELECT user_id FROM assignments WHERE user_id LIKE 'simt-4242-%' GROUP BY 1 HAVING count(*) > 1) s")" 0
t_eq funnel-order "$(sql "SELECT count(*) FROM events p WHERE p.user_id LIKE 'simt-4242-%' AND p.type = 'purchase' AND NOT EXISTS (SELECT 1 FROM events c WHERE c.user_id = p.user_id AND c.type = 'checkout' AND c.ts < p.ts)")" 0
t_eq purchases-have-values "$(sql "SELECT count(*) FROM events WHERE $uc AND type = 'purchase' AND value IS NULL")" 0

# --- the known effects, recovered with plain SQL + neonblue stats -------------
counts() { # EXP VARIANT → "users converted"
	sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE EXISTS (SELECT 1 FROM events e
		WHERE e.user_id = a.user_id AND e.type = 'purchase' AND e.ts >= a.assigned_at))
		FROM assignments a WHERE a.experiment = '$1' AND a.variant = '$2'"
}
prop() { # EXP → stats proportions JSON (control vs treatment)
	read -r cn cx <<<"$(counts "$1" control)"
	read -r tn tx <<<"$(counts "$1" treatment)"
	echo "{\"control_n\":$cn,\"control_conversions\":$cx,\"treatment_n\":$tn,\"treatment_conversions\":$tx}" |
		"$NB" stats proportions
}
true_c=$(python3 -c 'print(0.5 * 0.5 * 0.4)')
true_t=$(python3 -c 'print(0.5 * 0.5 * 0.4 * 1.5)')
t_eq truth-matches-simulator "$(jget "[abs(v['true_conversion'] - t) < 1e-12 for x in d['experiments'] if x['key'] == '$W' for v, t in zip(x['variants'], [$true_c, $true_t])]" <<<"$summary")" "[True, True]"
win=$(prop "$W")
t_eq winner-ci-contains-true-lift "$(jget "d['ci95_lower'] <= $true_t - $true_c <= d['ci95_upper']" <<<"$win")" True
t_eq winner-significant "$(jget "d['p_value'] < 0.05" <<<"$win")" True
flat=$(prop "$F")
t_eq flat-not-significant "$(jget "d['p_value'] >= 0.05" <<<"$flat")" True
t_eq flat-ci-contains-zero "$(jget "d['ci95_lower'] <= 0 <= d['ci95_upper']" <<<"$flat")" True
srm() { # EXP → mismatch true|false from assignment counts
	local obs
	obs=$(sql "SELECT string_agg(n::text, ',' ORDER BY variant) FROM (SELECT variant, count(*) n FROM assignments WHERE experiment = '$1' GROUP BY 1) s")
	echo "{\"observed\":[$obs],\"weights\":[1,1]}" | "$NB" stats srm | jget 'str(d["mismatch"]).lower()'
}
t_eq srm-flagged "$(srm "$S")" true
t_eq no-srm-on-winner "$(srm "$W")" false
t_eq no-srm-on-flat "$(srm "$F")" false

# --- the report over ClickHouse, once the pipeline delivered every row ----
want_rows=$(pg_rows)
for _ in $(seq 1 240); do
	[ "$(ch_rows)" = "$want_rows" ] && break
	sleep 0.5
done
t_eq pipeline-delivered "$(ch_rows)" "$want_rows"
report() { "$NB" report "$1" --json; }
t_run report-winner 0 report "$W"
t_eq report-winner-lift-ci-contains-truth "$(jget "[r['lift_ci'][0] <= $true_t / $true_c - 1 <= r['lift_ci'][1] for m in d['metrics'] if m['key'] == '$M' for r in m['results'] if r['variant'] == 'treatment']" <<<"$T_OUT")" "[True]"
t_eq report-winner-significant "$(jget "[r['p_value'] < 0.05 for m in d['metrics'] for r in m['results'] if r['variant'] == 'treatment']" <<<"$T_OUT")" "[True]"
t_eq report-winner-users-match-pg "$(jget "[v['users'] for v in d['variants']]" <<<"$T_OUT")" "$(sql "SELECT '[' || string_agg(n::text, ', ' ORDER BY variant) || ']' FROM (SELECT variant, count(*) n FROM assignments WHERE experiment = '$W' GROUP BY 1) s")"
t_run report-flat 0 report "$F"
t_eq report-flat-not-significant "$(jget "[r['p_value'] >= 0.05 for m in d['metrics'] for r in m['results'] if r['variant'] == 'treatment']" <<<"$T_OUT")" "[True]"
t_run report-srm 0 report "$S"
t_eq report-srm-flagged "$(jget "d['srm']['mismatch']" <<<"$T_OUT")" True
t_run report-winner-srm 0 report "$W"
t_eq report-no-srm-on-winner "$(jget "d['srm']['mismatch']" <<<"$T_OUT")" False

# --- same seed, same rows ---------------------------------------------------
sql "SELECT event_id FROM events WHERE $uc ORDER BY 1" >"$tmp/ids.db"
t_run dry-run 0 sim --dry-run
printf '%s\n' "$T_OUT" | python3 -c 'import json,sys; [print(json.loads(l)["event_id"]) for l in sys.stdin]' | sort >"$tmp/ids.dry"
t_eq dry-run-equals-stored "$(cmp -s "$tmp/ids.db" "$tmp/ids.dry" && echo same)" same
t_run rerun 0 sim --json
t_eq rerun-writes-nothing "$(jget 'd["inserted"] == 0 and d["skipped"] == d["events"]' <<<"$T_OUT")" True
t_eq rerun-same-assignments "$(jget '[v["assigned"] for x in d["experiments"] for v in x["variants"]]' <<<"$T_OUT")" "$(jget '[v["assigned"] for x in d["experiments"] for v in x["variants"]]' <<<"$summary")"
t_eq rerun-same-count "$(sql "SELECT count(*) FROM events WHERE $uc")" "$(wc -l <"$tmp/ids.db")"

# --- setup: a changed definition is refused, --reset recreates --------------
write_scenario "$tmp/sc.json" 1.2
t_run same-key-other-definition 0 sim --users 300 --json
t_eq sim-def-is-not-exp-def "$(jget 'd["users"]' <<<"$T_OUT")" 300
python3 - "$tmp/sc.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["experiments"][0]["variants"][0]["weight"] = 40
d["experiments"][0]["variants"][1]["weight"] = 60
json.dump(d, open(sys.argv[1], "w"))
EOF
t_run changed-definition-refused 2 sim --users 300
t_match changed-definition-message "$T_ERR" "experiment \"$W\" exists with a different definition \(--reset"
audit_before=$(sql "SELECT count(*) FROM audit_log WHERE entity = 'experiment' AND key = '$W' AND action = 'delete'")
t_run reset-recreates 0 sim --users 300 --reset --json
t_eq reset-weights "$(sql "SELECT string_agg(weight::text, ',' ORDER BY position) FROM variants WHERE experiment = '$W'")" "0.4,0.6"
t_eq reset-dropped-old-assignments "$(sql "SELECT count(*) <= 300 FROM assignments WHERE experiment = '$W'")" t
t_eq reset-audited "$(sql "SELECT count(*) FROM audit_log WHERE entity = 'experiment' AND key = '$W' AND action = 'delete'")" "$((audit_before + 1))"

# --- live, paced mode -------------------------------------------------------
cat >"$tmp/live.json" <<EOF
{"user_prefix": "lv$run", "experiments": [{"key": "simt-live-$run",
 "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}]}]}
EOF
before=$(date +%s.%N)
t_run live-paced 0 "$NB" simulate --scenario "$tmp/live.json" --seed 1 --rate 40 --duration 2 --json
after=$(date +%s.%N)
t_eq live-took-real-time "$(python3 -c "print($after - $before >= 1.8)")" True
t_eq live-users "$(jget '40 <= d["users"] <= 130' <<<"$T_OUT")" True
t_eq live-timestamps-now "$(sql "SELECT bool_and(ts >= to_timestamp($before) - interval '1 second' AND ts <= now() + interval '1 hour') FROM events WHERE user_id LIKE 'lv$run-%'")" t
t_eq live-assigned-at-now "$(sql "SELECT bool_and(assigned_at >= to_timestamp($before) - interval '1 second' AND assigned_at <= now()) FROM assignments WHERE experiment = 'simt-live-$run'")" t

# --- refusals ---------------------------------------------------------------
t_run rate-and-days 2 "$NB" simulate --rate 10 --days 3
t_match rate-and-days-message "$T_ERR" "--rate and --days"
t_run unknown-option 2 "$NB" simulate --bogus 1
t_run missing-file 2 "$NB" simulate --scenario "$tmp/nope.json"
t_match missing-file-message "$T_ERR" "nope.json"
echo '{"experiments":[{"key":"x","variants":[{"key":"a","weight":50},{"key":"b","weight":50}],"sim":{"arms":{"a":{"funnel":[0.1,2,0.1]}}}}]}' >"$tmp/bad.json"
t_run bad-scenario 2 "$NB" simulate --scenario "$tmp/bad.json"
t_match bad-scenario-names-field "$T_ERR" 'experiments\[0\]\.sim\.arms\.a\.funnel\[1\] = 2 is not a probability'
t_run print-demo 0 "$NB" simulate --print-scenario
t_match print-demo-json "$T_OUT" '"name": "demo"'
t_run help 0 "$NB" simulate --help
echo "elapsed $(($(date +%s) - t0)) s"
t_done
