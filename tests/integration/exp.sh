#!/usr/bin/env bash
# exp.sh — `neonblue exp` against PostgreSQL: validation, lifecycle and every refusal,
# audit rows (and their absence on refusal/rollback), --file round trip, list --json.
# needs: stack
# (NEONBLUE_PG alone also works: the tests only need a migrated PostgreSQL.)
. "$(dirname "$0")/../lib/t.sh"

if [ -z "${NEONBLUE_PG:-}" ] && [ -n "${NEONBLUE_HOME:-}" ] && [ -f "$NEONBLUE_HOME/stack.env" ]; then
	NEONBLUE_PG=$(sed -n 's/^NEONBLUE_PG=//p' "$NEONBLUE_HOME/stack.env" | sed "s/^['\"]//; s/['\"]\$//")
fi
PGC=${NEONBLUE_PG:-}
P=x$(date +%s%N | tail -c 8)    # a prefix that keeps this run's keys apart
sql() { psql "$PGC" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
# jf JSON PYEXPR — evaluates PYEXPR with j = the parsed JSON
jf() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
audits() { sql "SELECT count(*) FROM audit_log WHERE entity = 'experiment' AND key = '$1'${2:+ AND action = '$2'}"; }
status_of() { $NB exp show "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }

t_run migrate 0 $NB migrate
t_run migrate-again 0 $NB migrate --json
t_eq migrate-idempotent "$(jf "$T_OUT" 'j["postgresql_applied"]')" 0

t_run help 0 $NB exp --help
t_match help-text "$T_OUT" 'draft -> running'
t_run help-sub 0 $NB exp create --help
t_run unknown-action 2 $NB exp launch k
t_run unknown-option 2 $NB exp list --colour

t_run metric-for-exp 0 $NB metric create --key "${P}conv" --kind binomial --events purchase
t_run metric-for-exp2 0 $NB metric create --key "${P}lat" --kind mean --events page --direction decrease

# ---- create from flags -------------------------------------------------------
E=${P}-btn
t_run create 0 $NB --actor alice exp create --key "$E" --name "Big button" \
	--variants control:50,treatment:50 --metrics "${P}conv:primary,${P}lat:guardrail" \
	--coverage 0.8 --hash-version 1 --condition '{"country":{"$in":["US","CA"]}}' \
	--namespace checkout:0:0.5 --description "desc" --hypothesis "bigger converts" --owner bob
t_run show 0 $NB exp show "$E" --json
J=$T_OUT
t_eq show-status "$(jf "$J" 'j["status"]')" draft
t_eq show-version "$(jf "$J" 'j["version"]')" 1
t_eq show-seed "$(jf "$J" 'j["seed"]')" "$E"
t_eq show-weights "$(jf "$J" '[v["weight"] for v in j["variants"]]')" "[0.5, 0.5]"
t_eq show-control "$(jf "$J" '[v["key"] for v in j["variants"] if v["is_control"]]')" "['control']"
t_eq show-metrics "$(jf "$J" '[(m["key"].replace("'"$P"'", ""), m["role"]) for m in j["metrics"]]')" \
	"[('conv', 'primary'), ('lat', 'guardrail')]"
t_eq show-namespace "$(jf "$J" 'j["namespace"]')" "['checkout', 0, 0.5]"
t_eq show-condition "$(jf "$J" 'j["condition"]')" "{'country': {'\$in': ['US', 'CA']}}"
t_eq show-fields "$(jf "$J" 'sorted(j)')" "['condition', 'coverage', 'created_at', 'description', 'hash_version', 'holdout', 'hypothesis', 'key', 'metrics', 'name', 'namespace', 'owner', 'seed', 'started_at', 'status', 'stopped_at', 'updated_at', 'variants', 'version']"
t_eq audit-create "$(audits "$E" create)" 1
t_eq audit-create-actor "$(sql "SELECT actor || ' ' || (before IS NULL) || ' ' || (after->>'status') FROM audit_log WHERE key = '$E' AND action = 'create'")" "alice true draft"
t_run create-duplicate 2 $NB exp create --key "$E" --variants a,b
t_match create-duplicate-msg "$T_ERR" "already exists"
t_eq audit-duplicate-none "$(audits "$E")" 1
t_run percent-weights 0 $NB exp create --key "${P}-pct" --variants a:33.333,b:33.333,c:33.334 --json
t_eq percent-normalised "$(jf "$T_OUT" 'round(sum(v["weight"] for v in j["variants"]), 12)')" 1.0

# ---- validation: each error names the field and writes nothing -----------------
bad() { # bad NAME FIELD-REGEX ARGS...
	local name=$1 re=$2; shift 2
	t_run "invalid-$name" 2 $NB exp create "$@"
	t_match "invalid-$name-msg" "$T_ERR" "$re"
}
bad key 'key .*not a valid key' --key "Bad Key" --variants a,b
bad key-missing 'key is required' --variants a,b
bad variants-missing 'variants are required' --key "${P}-v0"
bad one-variant 'variants: at least two' --key "${P}-v1" --variants only:100
bad weights-sum 'variants: weights sum to 90' --key "${P}-v2" --variants a:40,b:50
bad weight-negative 'variants\[1\]\.weight' --key "${P}-v3" --variants a:120,b:-20
bad weight-nan 'variants\[0\]\.weight' --key "${P}-v3" --variants a:x,b:50
bad variant-key 'variants\[1\]\.key' --key "${P}-v4" --variants a:50,B:50
bad variant-dup "variants\\[1\\]\\.key 'a' is used twice" --key "${P}-v4" --variants a:50,a:50
bad coverage 'coverage must be between 0 and 1' --key "${P}-v5" --variants a,b --coverage 1.5
bad coverage-nan "coverage 'lots' is not a number" --key "${P}-v5" --variants a,b --coverage lots
bad hash-version 'hash_version must be 1 or 2' --key "${P}-v6" --variants a,b --hash-version 3
bad condition-json 'condition must be a JSON object' --key "${P}-v7" --variants a,b --condition '{"a":'
bad condition-operator "condition: unknown operator '\\\$inn' at country" --key "${P}-v7" --variants a,b --condition '{"country":{"$inn":["US"]}}'
bad condition-array 'condition must be a JSON object' --key "${P}-v7" --variants a,b --condition '[1]'
bad namespace 'namespace .* must be id:start:end' --key "${P}-v8" --variants a,b --namespace ns:0.5
bad namespace-range 'namespace: range' --key "${P}-v8" --variants a,b --namespace ns:0.6:0.2
bad metric-role 'metrics\[0\]\.role' --key "${P}-v9" --variants a,b --metrics "${P}conv:main"
bad metric-unknown "metrics\\[0\\]\\.key: no metric '${P}nope'" --key "${P}-v9" --variants a,b --metrics "${P}nope:primary"
t_eq invalid-wrote-nothing "$(sql "SELECT count(*) FROM experiments WHERE key LIKE '${P}-v%'")" 0
t_eq invalid-no-audit "$(sql "SELECT count(*) FROM audit_log WHERE key LIKE '${P}-v%'")" 0
printf '%s' '{"key":"'"${P}"'-f1","variants":[{"key":"a","weight":1,"is_control":true},{"key":"b","weight":1,"is_control":true}]}' >"$NB_TEST_TMP/two-controls.json"
bad two-controls 'exactly one must' --file "$NB_TEST_TMP/two-controls.json"
printf '{"key": "%s-f2", "variants": [' "$P" >"$NB_TEST_TMP/broken.json"
bad file-json 'not valid JSON' --file "$NB_TEST_TMP/broken.json"
bad file-missing 'cannot read --file' --file "$NB_TEST_TMP/does-not-exist.json"
bad file-and-flags '--file cannot be combined' --file "$NB_TEST_TMP/broken.json" --key x

# ---- lifecycle: each legal step, each refusal names the current state -----------
refuse() { # refuse NAME STATE ACTION ARGS...
	local name=$1 state=$2; shift 2
	local before
	before=$(audits "$E")
	t_run "refuse-$name" 2 $NB exp "$@"
	t_match "refuse-$name-names-state" "$T_ERR" "$state"
	t_eq "refuse-$name-no-audit" "$(audits "$E")" "$before"
}
refuse pause-draft 'is draft' pause "$E"
refuse stop-draft 'is draft' stop "$E"
refuse archive-draft 'is draft' archive "$E"
t_run start 0 $NB exp start "$E"
t_eq start-status "$(status_of "$E")" running
t_eq start-started-at "$(sql "SELECT started_at IS NOT NULL FROM experiments WHERE key = '$E'")" t
refuse start-running 'is running' start "$E"
refuse archive-running 'is running' archive "$E"
refuse delete-running 'it is running' delete "$E"
t_run pause 0 $NB exp pause "$E"
t_eq pause-status "$(status_of "$E")" paused
refuse pause-paused 'is paused' pause "$E"
refuse archive-paused 'is paused' archive "$E"
t_run resume 0 $NB exp start "$E" --json
t_eq resume-status "$(jf "$T_OUT" 'j["status"]')" running

# ---- editing a running experiment -------------------------------------------------
refuse variants-running 'it is running' edit "$E" --variants control:50,other:50
refuse variants-add-running 'it is running' edit "$E" --variants control:40,treatment:40,c:20
refuse weights-running 'while it is running without --reseed' edit "$E" --variants control:30,treatment:70
refuse seed-running 'while it is running without --reseed' edit "$E" --seed other
refuse hashv-running 'while it is running without --reseed' edit "$E" --hash-version 2
t_run edit-name-running 0 $NB exp edit "$E" --name "Bigger button" --json
t_eq edit-name-keeps-version "$(jf "$T_OUT" 'j["version"]')" 1
t_eq edit-name-audit "$(audits "$E" update)" 1
t_run edit-coverage-running 0 $NB exp edit "$E" --coverage 0.9 --json
t_eq edit-coverage-bumps-version "$(jf "$T_OUT" '(j["version"], j["coverage"])')" "(2, 0.9)"
t_run edit-same-value 0 $NB exp edit "$E" --coverage 0.9 --json
t_eq edit-same-value-no-bump "$(jf "$T_OUT" 'j["version"]')" 2
t_eq edit-same-value-no-audit "$(audits "$E" update)" 2
t_run reseed 0 $NB exp edit "$E" --variants control:30,treatment:70 --reseed --json
t_eq reseed-version "$(jf "$T_OUT" 'j["version"]')" 3
t_eq reseed-seed "$(jf "$T_OUT" 'j["seed"] != "'"$E"'"')" True
t_eq reseed-weights "$(jf "$T_OUT" '[v["weight"] for v in j["variants"]]')" "[0.3, 0.7]"
t_eq reseed-audit "$(sql "SELECT (before->>'seed') || ' ' || (after->>'version') FROM audit_log WHERE key = '$E' AND action = 'reseed'")" "$E 3"
t_run reseed-only 0 $NB exp edit "$E" --reseed --seed s-fixed --json
t_eq reseed-only-version "$(jf "$T_OUT" '(j["version"], j["seed"])')" "(4, 's-fixed')"
t_run edit-nothing 2 $NB exp edit "$E"
t_match edit-nothing-msg "$T_ERR" 'nothing to change'

t_run stop 0 $NB exp stop "$E"
t_eq stop-status "$(status_of "$E")" stopped
t_eq stop-stopped-at "$(sql "SELECT stopped_at IS NOT NULL FROM experiments WHERE key = '$E'")" t
refuse start-stopped 'is stopped' start "$E"
refuse pause-stopped 'is stopped' pause "$E"
refuse stop-stopped 'is stopped' stop "$E"
refuse coverage-stopped 'it is stopped' edit "$E" --coverage 0.5
refuse reseed-stopped 'it is stopped' edit "$E" --reseed
t_run edit-stopped-metadata 0 $NB exp edit "$E" --description "final notes"
t_run archive 0 $NB exp archive "$E"
t_eq archive-status "$(status_of "$E")" archived
refuse start-archived 'is archived' start "$E"
refuse archive-archived 'is archived' archive "$E"
refuse edit-archived 'it is archived' edit "$E" --name x
refuse delete-archived 'it is archived' delete "$E"
t_eq audit-actions "$(sql "SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE key = '$E'")" \
	"create,start,pause,start,update,update,reseed,reseed,stop,update,archive"
t_eq audit-before-after "$(sql "SELECT count(*) FROM audit_log WHERE key = '$E' AND action <> 'create' AND (before IS NULL OR after IS NULL)")" 0
t_eq audit-state-change "$(sql "SELECT (before->>'status') || '>' || (after->>'status') FROM audit_log WHERE key = '$E' AND action = 'pause'")" "running>paused"

t_run history 0 $NB exp history "$E" --json
t_eq history-actions "$(jf "$T_OUT" '",".join(r["action"] for r in j)')" "create,start,pause,start,update,update,reseed,reseed,stop,update,archive"
t_eq history-before-after "$(jf "$T_OUT" '(j[0]["before"], j[0]["after"]["key"], j[1]["before"]["status"], j[1]["after"]["status"])')" "(None, '$E', 'draft', 'running')"
t_run history-text 0 $NB exp history "$E"
t_match history-text-fields "$T_OUT" 'alice +create'
t_match history-text-changed "$T_OUT" 'reseed +seed, version, variants'
t_run history-unknown 2 $NB exp history "${P}-nope"

# ---- running: a whole definition through --file obeys the same rules ---------------
W=${P}-runfile
t_run runfile-create 0 $NB exp create --key "$W" --variants a,b
t_run runfile-start 0 $NB exp start "$W"
$NB exp show "$W" --json | python3 -c 'import json,sys; j=json.load(sys.stdin); j["variants"][0]["weight"]=0.2; j["variants"][1]["weight"]=0.8; print(json.dumps(j))' >"$NB_TEST_TMP/runfile.json"
t_run runfile-weights 2 $NB exp edit "$W" --file "$NB_TEST_TMP/runfile.json"
t_match runfile-weights-msg "$T_ERR" 'without --reseed'
t_run runfile-reseed 0 $NB exp edit "$W" --file - --reseed --json <"$NB_TEST_TMP/runfile.json"
t_eq runfile-reseed-result "$(jf "$T_OUT" '([v["weight"] for v in j["variants"]], j["version"], j["status"])')" "([0.2, 0.8], 2, 'running')"

# ---- drafts: free variant changes, delete ------------------------------------------
D=${P}-draft
t_run draft-create 0 $NB exp create --key "$D" --variants a,b
t_run draft-variants 0 $NB exp edit "$D" --variants x:20,y:30,z:50 --json
t_eq draft-variants-new "$(jf "$T_OUT" '([v["key"] for v in j["variants"]], j["version"], j["variants"][0]["is_control"])')" "(['x', 'y', 'z'], 2, True)"
t_run draft-metrics 0 $NB exp edit "$D" --metrics "${P}conv:primary" --json
t_eq draft-metrics-set "$(jf "$T_OUT" 'len(j["metrics"])')" 1
$NB exp show "$D" --json | python3 -c 'import json,sys; j=json.load(sys.stdin); j["coverage"]=0.3; j["variants"][2]["is_control"]=True; j["variants"][0]["is_control"]=False; j["variants"][1]["config"]={"c":1}; j["status"]="running"; print(json.dumps(j))' >"$NB_TEST_TMP/edit.json"
t_run edit-file 0 $NB exp edit "$D" --file "$NB_TEST_TMP/edit.json" --json
t_eq edit-file-applied "$(jf "$T_OUT" '(j["coverage"], [v["key"] for v in j["variants"] if v["is_control"]], j["variants"][1]["config"], j["status"], j["version"])')" "(0.3, ['z'], {'c': 1}, 'draft', 3)"
sed 's/"key": "'"$D"'"/"key": "'"$D"'-other"/' "$NB_TEST_TMP/edit.json" >"$NB_TEST_TMP/edit-key.json"
t_run edit-file-key 2 $NB exp edit "$D" --file "$NB_TEST_TMP/edit-key.json"
t_match edit-file-key-msg "$T_ERR" 'keys cannot be changed'
t_run draft-bad-edit 2 $NB exp edit "$D" --variants x:20,y:30
t_match draft-bad-edit-msg "$T_ERR" 'weights sum to 50'
t_run delete 0 $NB --actor carol exp delete "$D"
t_run delete-gone 2 $NB exp show "$D"
t_match delete-gone-msg "$T_ERR" "no experiment '$D'"
t_eq delete-audit "$(sql "SELECT actor || ' ' || (before->>'key') || ' ' || (after IS NULL) FROM audit_log WHERE key = '$D' AND action = 'delete'")" "carol $D true"
t_run delete-unknown 2 $NB exp delete "${P}-nope"

# ---- concurrency: one winner, the others refused with a sentence, one audit row each ---
C1=${P}-race
for i in 1 2 3 4; do
	$NB exp create --key "$C1" --variants a,b >"$NB_TEST_TMP/race$i.out" 2>"$NB_TEST_TMP/race$i.err" &
	pids[$i]=$!
done
won=0; lost=0
for i in 1 2 3 4; do wait "${pids[$i]}"; case $? in 0) won=$((won + 1)) ;; 2) lost=$((lost + 1)) ;; esac; done
t_eq race-create "$won/$lost" "1/3"
t_eq race-create-msg "$(cat "$NB_TEST_TMP"/race?.err | grep -c "already exists")" 3
for i in 1 2 3 4; do
	$NB exp start "$C1" >"$NB_TEST_TMP/race$i.out" 2>"$NB_TEST_TMP/race$i.err" &
	pids[$i]=$!
done
won=0; lost=0
for i in 1 2 3 4; do wait "${pids[$i]}"; case $? in 0) won=$((won + 1)) ;; 2) lost=$((lost + 1)) ;; esac; done
t_eq race-start "$won/$lost" "1/3"
t_eq race-start-msg "$(cat "$NB_TEST_TMP"/race?.err | grep -c "that is running")" 3
t_eq race-audit "$(sql "SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE entity = 'experiment' AND key = '$C1'")" "create,start"

# ---- a failed write rolls back the change and its audit row ----------------------
R=${P}-rb
t_run rollback-create 0 $NB exp create --key "$R" --variants a,b
sql "SET client_min_messages = warning; CREATE OR REPLACE FUNCTION nb_test_fail_audit() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN IF NEW.actor = 'rollback-test' THEN RAISE EXCEPTION 'audit refused by test'; END IF; RETURN NEW; END \$\$;
DROP TRIGGER IF EXISTS nb_test_fail_audit ON audit_log;
CREATE TRIGGER nb_test_fail_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION nb_test_fail_audit();"
t_run rollback-start 1 $NB --actor rollback-test exp start "$R"
t_match rollback-start-msg "$T_ERR" 'audit refused by test'
t_eq rollback-status "$(status_of "$R")" draft
t_run rollback-edit 1 $NB --actor rollback-test exp edit "$R" --coverage 0.1
t_eq rollback-edit-version "$(jf "$($NB exp show "$R" --json)" '(j["version"], j["coverage"])')" "(1, 1)"
t_run rollback-create2 1 $NB --actor rollback-test exp create --key "${R}2" --variants a,b
t_eq rollback-create-nothing "$(sql "SELECT count(*) FROM experiments WHERE key = '${R}2'") $(sql "SELECT count(*) FROM variants WHERE experiment = '${R}2'")" "0 0"
t_run rollback-delete 1 $NB --actor rollback-test exp delete "$R"
t_eq rollback-delete-kept "$(status_of "$R")" draft
sql "DROP TRIGGER nb_test_fail_audit ON audit_log; DROP FUNCTION nb_test_fail_audit();"
t_eq rollback-audit "$(audits "$R")" 1

# ---- round trip: show --json → create --file → same definition ---------------------
S=${P}-src
t_run rt-create 0 $NB exp create --key "$S" --variants ctl:25,t1:25,t2:50 --coverage 0.6 \
	--condition '{"plan":{"$ne":"free"}}' --namespace ns:0.1:0.4 --seed salty --hash-version 1 \
	--metrics "${P}conv:primary,${P}lat:guardrail" --owner dan --hypothesis "h"
SRC=$($NB exp show "$S" --json)
printf '%s' "$SRC" | python3 -c 'import json,sys; j=json.load(sys.stdin); j["key"]=sys.argv[1]; print(json.dumps(j))' "${P}-copy" >"$NB_TEST_TMP/rt.json"
t_run rt-file 0 $NB exp create --file - <"$NB_TEST_TMP/rt.json"
CPY=$($NB exp show "${P}-copy" --json)
norm='json.dumps({k: v for k, v in j.items() if k not in ("key", "created_at", "updated_at")}, sort_keys=True)'
t_eq rt-same "$(jf "$CPY" "$norm")" "$(jf "$SRC" "$norm")"
printf '%s' "$SRC" >"$NB_TEST_TMP/rt-same-key.json"
t_run rt-same-key-refused 2 $NB exp create --file "$NB_TEST_TMP/rt-same-key.json"

# ---- list --json: the same objects as show --json ---------------------------------
t_run list-json 0 $NB exp list --json
L=$T_OUT
t_eq list-has-show "$(python3 -c '
import json,sys
l=json.loads(sys.argv[1]); s=json.loads(sys.argv[2])
print([x for x in l if x["key"]==s["key"]]==[s])' "$L" "$CPY")" True
t_eq list-sorted "$(jf "$L" '[x["key"] for x in j]==sorted(x["key"] for x in j)')" True
t_run list-status 0 $NB exp list --status archived --json
t_eq list-status-filter "$(jf "$T_OUT" 'set(x["status"] for x in j) <= {"archived"} and "'"$E"'" in [x["key"] for x in j]')" True
t_run list-bad-status 2 $NB exp list --status done
t_match list-bad-status-msg "$T_ERR" "status 'done'"
t_run list-text 0 $NB exp list
t_match list-text-row "$T_OUT" "$S +draft"

# ---- connection failure: exit 1, message names host and port ------------------------
port=$(t_free_port)
t_run no-server 1 $NB --pg "host=127.0.0.1 port=$port connect_timeout=2" exp list
t_match no-server-msg "$T_ERR" "127\\.0\\.0\\.1:$port"

t_done
