#!/usr/bin/env bash
# serve_flags.sh — flags through `neonblue serve` against the embedded stack:
# GET/POST /v1/flags, GET /v1/flags/KEY, POST /v1/flags/KEY/on|off|rollout
# (scopes read/admin, 400 naming the field, 404, audited with the token's
# name); the flag in /api/features in GrowthBook's format (force, rollout,
# and an experiment rule equal to the experiment's own); and an off, on and
# rollout change each reaching a /sub stream within 1 s of its commit
# (measured against the audit row's time in PostgreSQL); the served payload in
# the official SDK gives 300 users what `neonblue flag eval --users` gives
# (sticky assignment), on and off.
# needs: stack
. "$(dirname "$0")/../lib/t.sh"
: "${NEONBLUE_HOME:?needs a running stack (tests/run.sh starts one)}"
. "$NEONBLUE_HOME/stack.env"
export NEONBLUE_PG
sql() { psql "$NEONBLUE_PG" -X -Atqc "$1"; }
tmp=$(mktemp -d /tmp/nbflags.XXXXXX)
spid= cpids=()
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null
	for p in "${cpids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
run=$$
E=fl-$run
F=$E-flag
jf() { python3 -c "import json,sys; j=json.loads(sys.argv[1]); print($2)" "$1"; }
. "$NB_ROOT/tests/lib/sse.sh"

t_run exp 0 "$NB" exp create --key "$E-x" --variants a:30,b:70 --coverage 0.9
t_run exp-start 0 "$NB" exp start "$E-x"
t_run admin 0 "$NB" token create --name "fa-$run" --scopes admin
ADM=$T_OUT
t_run reader 0 "$NB" token create --name "fr-$run" --scopes read
RD=$T_OUT
t_run key 0 "$NB" token create --name "fk-$run" --scopes features
FK=$T_OUT

port=$(t_free_port)
U=http://127.0.0.1:$port
"$NB" serve --listen "127.0.0.1:$port" --threads 4 >"$tmp/serve.log" 2>&1 &
spid=$!
for _ in $(seq 100); do curl -sf "$U/healthz" >/dev/null && break; sleep 0.1; done
code() { curl -s -o "$tmp/body" -w '%{http_code}' "$@"; }
body() { cat "$tmp/body"; }
post() { code -XPOST -H "Authorization: Bearer $1" --data "$3" "$U$2"; }

def='{"key":"'$F'","type":"boolean","enabled":true,"default_value":false,"rules":[
 {"type":"force","condition":{"country":"US"},"value":true},
 {"type":"rollout","coverage":0.25,"seed":"s-'$run'","value":true},
 {"type":"experiment","experiment":"'$E-x'","variations":{"a":false,"b":true}}]}'

# ---- scopes and refusals ----
t_eq create-no-token-401 "$(code -XPOST --data "$def" "$U/v1/flags")" 401
t_eq create-read-403 "$(post "$RD" /v1/flags "$def")" 403
t_eq create-not-json-400 "$(post "$ADM" /v1/flags 'nope')" 400
t_eq create-bad-value-400 "$(post "$ADM" /v1/flags '{"key":"'$E-bad'","type":"boolean","rules":[{"type":"force","value":"yes"}]}')" 400
t_eq bad-value-field "$(jf "$(body)" "j.get('field')")" "rules[0].value"
t_eq create-bad-coverage-400 "$(post "$ADM" /v1/flags '{"key":"'$E-bad'","rules":[{"type":"rollout","coverage":2,"value":true}]}')" 400
t_eq bad-coverage-field "$(jf "$(body)" "j.get('field')")" "rules[0].coverage"
t_eq nothing-stored "$(sql "SELECT count(*) FROM flags WHERE key = '$E-bad'")" 0

# ---- create, list, show ----
t_eq create-201 "$(post "$ADM" /v1/flags "$def")" 201
t_eq created "$(jf "$(body)" "(j['key'], j['enabled'], j['version'], len(j['rules']))")" "('$F', True, 1, 3)"
t_eq create-again-400 "$(post "$ADM" /v1/flags "$def")" 400
t_match again-says "$(body)" 'already exists'
t_eq list-200 "$(code -H "Authorization: Bearer $RD" "$U/v1/flags")" 200
t_eq list-has-it "$(jf "$(body)" "[f['key'] for f in j if f['key'] == '$F']")" "['$F']"
t_eq show-200 "$(code -H "Authorization: Bearer $RD" "$U/v1/flags/$F")" 200
t_eq show "$(jf "$(body)" "[r['type'] for r in j['rules']]")" "['force', 'rollout', 'experiment']"
t_eq show-unknown-404 "$(code -H "Authorization: Bearer $RD" "$U/v1/flags/$E-none")" 404
t_match unknown-says "$(body)" "no flag '$E-none'"
t_eq show-no-token-401 "$(code "$U/v1/flags/$F")" 401

# ---- the flag in the SDK payload ----
p=$(curl -s "$U/api/features/$FK")
t_eq feature-default "$(jf "$p" "j['features']['$F']['defaultValue']")" False
t_eq feature-force "$(jf "$p" "j['features']['$F']['rules'][0]")" "{'id': '$F-0', 'condition': {'country': 'US'}, 'force': True}"
t_eq feature-rollout "$(jf "$p" "j['features']['$F']['rules'][1]")" "{'id': '$F-1', 'force': True, 'coverage': 0.25, 'hashAttribute': 'id', 'seed': 's-$run', 'hashVersion': 2}"
# the experiment rule buckets as the experiment's own feature does
same="[(r['key'], r['seed'], r['hashVersion'], r['weights'], r['coverage'], r.get('namespace')) for r in (j['features']['$F']['rules'][2], j['features']['$E-x']['rules'][0])]"
t_eq feature-exp-rule-same "$(jf "$p" "len(set(map(repr, $same)))")" 1
t_eq feature-exp-rule "$(jf "$p" "(j['features']['$F']['rules'][2]['key'], j['features']['$F']['rules'][2]['variations'], j['features']['$F']['rules'][2]['weights'])")" "('$E-x', [False, True], [0.3, 0.7])"

# ---- changes reach a /sub stream within 1 s ----
client "$port" "/sub/$FK" "$tmp/s" "$F"
wait_event 1 30 "$tmp/s"
t_match stream-first "$(ev 1 "$tmp/s")" "keys=$F "
rules() { python3 -c "import json,sys; f=json.load(open(sys.argv[1]))['features']['$F']; print(f['defaultValue'], len(f['rules']), [r.get('coverage') for r in f['rules']])" "$tmp/s.$1.json"; }

t_eq off-200 "$(post "$ADM" "/v1/flags/$F/off" '')" 200
t_eq off-answer "$(jf "$(body)" "(j['enabled'], j['version'])")" "(False, 2)"
wait_event 2 10 "$tmp/s"
t_eq off-pushed-no-rules "$(rules 2)" "False 0 []"
under_1s off-within-1s "$(lag "$(audit_at flag "$F" off)" 2 "$tmp/s")"
t_eq off-in-features "$(jf "$(curl -s "$U/api/features/$FK")" "j['features']['$F']")" "{'defaultValue': False, 'rules': []}"

t_eq on-200 "$(post "$ADM" "/v1/flags/$F/on" '')" 200
wait_event 3 10 "$tmp/s"
t_eq on-pushed "$(rules 3)" "False 3 [None, 0.25, 0.9]"
under_1s on-within-1s "$(lag "$(audit_at flag "$F" on)" 3 "$tmp/s")"

t_eq rollout-bad-400 "$(post "$ADM" "/v1/flags/$F/rollout" '{"percent": 140}')" 400
t_eq rollout-bad-field "$(jf "$(body)" "(j['field'], j['error'])")" "('percent', 'percent: must be a number from 0 to 100 (got 140)')"
t_eq rollout-string-400 "$(post "$ADM" "/v1/flags/$F/rollout" '{"percent": "25%"}')" 400
t_eq rollout-unknown-field-400 "$(post "$ADM" "/v1/flags/$F/rollout" '{"coverage": 0.4}')" 400
t_eq rollout-unknown-field "$(jf "$(body)" "j['field']")" coverage
t_eq rollout-missing-400 "$(post "$ADM" "/v1/flags/$F/rollout" '{}')" 400
t_eq rollout-read-403 "$(post "$RD" "/v1/flags/$F/rollout" '{"percent": 40}')" 403
t_eq rollout-unknown-404 "$(post "$ADM" "/v1/flags/$E-none/rollout" '{"percent": 40}')" 404
t_eq rollout-200 "$(post "$ADM" "/v1/flags/$F/rollout" '{"percent": 40}')" 200
t_eq rollout-answer "$(jf "$(body)" "j['rules'][1]['coverage']")" 0.4
wait_event 4 10 "$tmp/s"
t_eq rollout-pushed "$(rules 4)" "False 3 [None, 0.4, 0.9]"
under_1s rollout-within-1s "$(lag "$(audit_at flag "$F" rollout)" 4 "$tmp/s")"
t_eq refused-sent-nothing "$(grep -c '^EVENT ' "$tmp/s")" 4
t_eq unknown-action-404 "$(post "$ADM" "/v1/flags/$F/explode" '')" 404

# ---- the served payload in the official SDK == `neonblue flag eval` (sticky) ----
python3 -c "
import random
r = random.Random(5)
for i in range(300):
    print('{\"user_id\": \"fu-%d-%d\", \"attributes\": {\"country\": \"%s\"}}' % ($run, i, r.choice(['US', 'DE', 'FR'])))" >"$tmp/users"
t_run eval-users 0 "$NB" flag eval "$F" --users "$tmp/users"
echo "$T_OUT" >"$tmp/nb"
t_run sdk-equals-eval 0 node "$NB_ROOT/tests/integration/serve_flags_sdk.js" "$U" "$FK" "$F" "$tmp/users" "$tmp/nb"
echo "  $T_OUT"
t_match sdk-every-source "$T_OUT" '^300 users \(default [0-9]+, experiment [0-9]+, force [0-9]+, rollout [0-9]+\), 0 disagreements$'
"$NB" flag off "$F" >/dev/null
t_run eval-users-off 0 "$NB" flag eval "$F" --users "$tmp/users"
echo "$T_OUT" >"$tmp/nb"
for _ in $(seq 50); do [ "$(jf "$(curl -s "$U/api/features/$FK")" "len(j['features']['$F']['rules'])")" = 0 ] && break; sleep 0.1; done
t_run sdk-equals-eval-off 0 node "$NB_ROOT/tests/integration/serve_flags_sdk.js" "$U" "$FK" "$F" "$tmp/users" "$tmp/nb"
t_match sdk-off-all-default "$T_OUT" '^300 users \(off 300\), 0 disagreements$'

# ---- audited with the token's name ----
t_eq audit "$(sql "SELECT string_agg(action || ':' || actor, ',' ORDER BY id) FROM audit_log WHERE entity = 'flag' AND key = '$F' AND actor LIKE 'fa-%'")" "create:fa-$run,off:fa-$run,on:fa-$run,rollout:fa-$run"
t_match metrics-route "$(curl -s "$U/metrics")" 'nb_http_requests_total\{route="flag_change",status="200"\} 3'
t_run help-mentions-flags 0 grep -q "POST /v1/flags/KEY/on|off|rollout" <("$NB" serve --help)
t_done
