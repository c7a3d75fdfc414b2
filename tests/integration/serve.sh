#!/usr/bin/env bash
# serve.sh — `neonblue serve` and `neonblue token` against the embedded stack:
# tokens (hash only in PostgreSQL, scopes, rate, revoke), every status of the
# contract (401 403 404 413 429 400 with the field), /v1/assign equal to
# `neonblue assign`, /v1/events committed before the answer (group commit
# under concurrency, idempotent, nothing of a refused request written),
# experiments and their audited lifecycle, /metrics, reconnect, SIGTERM drain.
# needs: stack
. "$(dirname "$0")/../lib/t.sh"
: "${NEONBLUE_HOME:?needs a running stack (tests/run.sh starts one)}"
. "$NEONBLUE_HOME/stack.env"
export NEONBLUE_PG
sql() { psql "$NEONBLUE_PG" -X -Atqc "$1"; }
tmp=$(mktemp -d /tmp/nbserve.XXXXXX)
spid=
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null; rm -rf "$tmp"' EXIT
run=$$
E=srv-$run
jf() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# ---- tokens ----
t_run token-create 0 "$NB" token create --name "app-$run" --scopes assign,track,read
TOK=$T_OUT
t_match token-shape "$TOK" '^nbt_[A-Za-z0-9_-]{43}$'
t_match token-said-once "$T_ERR" "shown only this once"
want_hash=$(printf %s "$TOK" | sha256sum | cut -d' ' -f1)
t_eq token-hash-stored "$(sql "SELECT hash FROM api_tokens WHERE name = 'app-$run'")" "$want_hash"
t_eq token-secret-not-stored "$(sql "SELECT count(*) FROM api_tokens t WHERE t::text LIKE '%$TOK%'")" 0
t_run token-create-2 0 "$NB" token create --name "app2-$run" --scopes assign
TOK2=$T_OUT
t_run token-create-3 0 "$NB" token create --name "drn-$run" --scopes track
DRN=$T_OUT
t_run token-create-json 0 "$NB" token create --name "adm-$run" --scopes admin,read --json
ADM=$(jf "$T_OUT" 'j["token"]')
t_eq token-json-scopes "$(jf "$T_OUT" 'j["scopes"]')" "['read', 'admin']"
t_run token-rate 0 "$NB" token create --name "lim-$run" --scopes read --rate 2/s --json
LIM=$(jf "$T_OUT" 'j["token"]')
t_run token-features-only 0 "$NB" token create --name "cli-$run" --scopes features --expires 30d --json
t_match token-expires "$(jf "$T_OUT" 'j["expires_at"]')" '^20[0-9]{2}-'
t_run token-dup 2 "$NB" token create --name "app-$run" --scopes read
t_match token-dup-says "$T_ERR" "a token named \"app-$run\" exists"
t_run token-bad-scope 2 "$NB" token create --name "x-$run" --scopes read,root
t_match token-bad-scope-says "$T_ERR" 'unknown scope "root"'
t_run token-bad-rate 2 "$NB" token create --name "x-$run" --scopes read --rate fast
t_match token-bad-rate-says "$T_ERR" '--rate: "fast"'
t_run token-bad-name 2 "$NB" token create --name "Bad Name" --scopes read
t_run token-list 0 "$NB" token list --json
t_eq token-list-no-secret "$(grep -c "$TOK" <<<"$T_OUT")" 0
t_match token-list-has "$T_OUT" "\"name\":\"app-$run\""
t_run token-revoke-unknown 2 "$NB" token revoke "nope-$run"
t_eq token-audited "$(sql "SELECT count(*) FROM audit_log WHERE entity = 'token' AND key = 'app-$run' AND action = 'create'")" 1

# ---- under `stack up`: a supervised component, NEONBLUE_API in stack.env ----
t_match stack-api-env "${NEONBLUE_API:-}" '^http://127\.0\.0\.1:[0-9]+$'
t_eq stack-api-ready "$(curl -s -o /dev/null -w '%{http_code}' "$NEONBLUE_API/readyz")" 200
spid_of() { "$NB" stack status --json | python3 -c 'import json,sys; print(next((c["pid"] for c in json.load(sys.stdin) if c["name"] == "serve" and c.get("healthy")), ""))'; }
old=$(spid_of)
t_match stack-serve-healthy "$old" '^[0-9]+$'
kill -9 "$old"
new=
for _ in $(seq 60); do new=$(spid_of); [ -n "$new" ] && [ "$new" != "$old" ] && break; sleep 0.5; done
t_match stack-serve-restarted "$new" '^[0-9]+$'
[ "$new" != "$old" ] && t_pass stack-serve-new-pid || t_fail stack-serve-new-pid "still $old"
t_eq stack-api-ready-again "$(curl -s -o /dev/null -w '%{http_code}' "$NEONBLUE_API/readyz")" 200

# ---- the server ----
t_run exp-create 0 "$NB" exp create --key "$E" --variants control:50,treatment:50
t_run exp-start 0 "$NB" exp start "$E"
port=$(t_free_port)
U=http://127.0.0.1:$port
"$NB" serve --listen "127.0.0.1:$port" --threads 4 >"$tmp/serve.log" 2>&1 &
spid=$!
for _ in $(seq 50); do curl -sf "$U/healthz" >/dev/null && break; sleep 0.1; done
code() { curl -s -o "$tmp/body" -w '%{http_code}' "$@"; }
A="Authorization: Bearer $TOK"
t_eq healthz "$(code "$U/healthz")" 200
t_eq readyz "$(code "$U/readyz")" 200
t_match listens-loopback "$(ss -ltnH "sport = :$port")" "127.0.0.1:$port"
t_eq no-token-401 "$(code -XPOST "$U/v1/assign" -d '{}')" 401
t_eq unknown-token-401 "$(code -XPOST -H 'Authorization: Bearer nbt_nope' "$U/v1/assign" -d '{}')" 401
t_eq scope-403 "$(code -XPOST -H "$A" "$U/v1/experiments/$E/stop")" 403
t_eq route-404 "$(code -H "$A" "$U/v2/nothing")" 404
t_eq bad-json-400 "$(code -XPOST -H "$A" "$U/v1/assign" -d '{"user_id": ')" 400
t_eq bad-field-400 "$(code -XPOST -H "$A" "$U/v1/assign" -d "{\"experiment\":\"$E\",\"user_id\":7}")" 400
t_eq bad-field-named "$(jf "$(cat "$tmp/body")" 'j["field"]')" user_id
t_eq unknown-exp-404 "$(code -XPOST -H "$A" "$U/v1/assign" -d '{"experiment":"nope-x","user_id":"u"}')" 404
head -c 1100000 /dev/zero | tr '\0' a >"$tmp/big"
t_eq body-413 "$(code -XPOST -H "$A" "$U/v1/assign" --data-binary @"$tmp/big")" 413
# headers: 10 KB fit the connection's 16 KiB; 20 KB are refused (431)
t_eq headers-10k-ok "$(code -H "X-Pad: $(head -c 10000 /dev/zero | tr '\0' a)" "$U/healthz")" 200
t_eq headers-20k-431 "$(code -H "X-Pad: $(head -c 20000 /dev/zero | tr '\0' a)" "$U/healthz")" 431

# ---- /v1/assign is `neonblue assign` ----
same=0
for i in $(seq 1 20); do
	if [ $((i % 2)) = 0 ]; then
		s=$(curl -s -XPOST -H "$A" "$U/v1/assign" -d "{\"experiment\":\"$E\",\"user_id\":\"u$i\",\"attributes\":{\"country\":\"de\"}}")
		c=$("$NB" assign "$E" "u$i" --json)
	else
		c=$("$NB" assign "$E" "u$i" --json)
		s=$(curl -s -XPOST -H "$A" "$U/v1/assign" -d "{\"experiment\":\"$E\",\"user_id\":\"u$i\"}")
	fi
	[ "$(jf "$s" 'j["variant"]')" = "$(jf "$c" 'j["variant"]')" ] && [ -n "$(jf "$s" 'j["variant"]')" ] && same=$((same + 1))
done
t_eq assign-equals-cli "$same" 20
t_eq assign-one-row-each "$(sql "SELECT count(*) FROM assignments WHERE experiment = '$E'")" 20
# 200 new users from 25 connections at once (the assigner batches them): each
# stored once, each answer the stored row, the same again from memory
seq 1 200 | xargs -P 25 -I{} curl -s -XPOST -H "$A" "$U/v1/assign" \
	-d "{\"experiment\":\"$E\",\"user_id\":\"c{}\"}" >"$tmp/conc.json"
sql "SELECT user_id || ' ' || variant FROM assignments WHERE experiment = '$E' AND user_id LIKE 'c%' ORDER BY 1" >"$tmp/conc.stored"
python3 -c 'import json,sys; print("\n".join(sorted("%s %s" % (j["user"], j["variant"]) for j in map(json.loads, sys.stdin))))' <"$tmp/conc.json" >"$tmp/conc.answered"
t_eq assign-concurrent-stored "$(wc -l <"$tmp/conc.stored")" 200
t_eq assign-concurrent-answers-stored "$(md5sum <"$tmp/conc.answered")" "$(md5sum <"$tmp/conc.stored")"
t_eq assign-concurrent-new-once "$(grep -c '"new":true' "$tmp/conc.json")" 200
seq 1 200 | xargs -P 25 -I{} curl -s -XPOST -H "$A" "$U/v1/assign" \
	-d "{\"experiment\":\"$E\",\"user_id\":\"c{}\"}" >"$tmp/conc2.json"
python3 -c 'import json,sys; print("\n".join(sorted("%s %s" % (j["user"], j["variant"]) for j in map(json.loads, sys.stdin))))' <"$tmp/conc2.json" >"$tmp/conc2.answered"
t_eq assign-again-same "$(md5sum <"$tmp/conc2.answered")" "$(md5sum <"$tmp/conc.stored")"
t_eq assign-again-stored-reason "$(grep -c '"reason":"stored assignment","source":"hash"' "$tmp/conc2.json")" 200
t_eq assign-all-running "$(code -XPOST -H "$A" "$U/v1/assign" -d '{"user_id":"u2"}')" 200
t_match assign-all-lists-exp "$(cat "$tmp/body")" "\"experiment\":\"$E\",\"user\":\"u2\",\"in_experiment\":true"

# ---- /v1/events ----
python3 - "$run" >"$tmp/ev500.json" <<'PY'
import json, sys, uuid
run = sys.argv[1]
print(json.dumps([{"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "%s-%d" % (run, i))),
                   "user_id": "u%d" % (i % 40), "type": "srv-%s" % run, "value": i} for i in range(500)]))
PY
t_eq events-batch-200 "$(code -XPOST -H "$A" "$U/v1/events" --data-binary @"$tmp/ev500.json")" 200
t_eq events-committed "$(sql "SELECT count(*), sum(value) FROM events WHERE type = 'srv-$run'")" "500|124750"
t_eq events-again-200 "$(code -XPOST -H "$A" "$U/v1/events" --data-binary @"$tmp/ev500.json")" 200
t_eq events-idempotent "$(sql "SELECT count(*) FROM events WHERE type = 'srv-$run'")" 500
t_eq events-bad-400 "$(code -XPOST -H "$A" "$U/v1/events" -d "[{\"user_id\":\"a\",\"type\":\"bad-$run\"},{\"user_id\":\"b\",\"type\":3}]")" 400
t_eq events-bad-field "$(jf "$(cat "$tmp/body")" 'j["field"]')" "[1].type"
t_eq events-bad-nothing-written "$(sql "SELECT count(*) FROM events WHERE type = 'bad-$run'")" 0
python3 -c 'import json; print(json.dumps([{"user_id": "x", "type": "t"}] * 10001))' >"$tmp/ev10001.json"
t_eq events-too-many-413 "$(code -XPOST -H "$A" "$U/v1/events" --data-binary @"$tmp/ev10001.json")" 413
# 300 single-event POSTs from 30 connections at once: each 200 only after commit
seq 1 300 | xargs -P 30 -I{} curl -s -o /dev/null -w '%{http_code}\n' -XPOST -H "$A" "$U/v1/events" \
	-d "{\"user_id\":\"c{}\",\"type\":\"conc-$run\"}" >"$tmp/codes"
t_eq events-concurrent-all-200 "$(grep -c '^200$' "$tmp/codes")" 300
t_eq events-concurrent-committed "$(sql "SELECT count(*) FROM events WHERE type = 'conc-$run'")" 300
# groups of several requests (the committer loads every request queued
# meanwhile in one COPY): 60 of 20 events, request k and k+30 carrying the
# same 20 event_ids, and 10 with an invalid UTF-8 user_id (refused before a
# group forms: it writes nothing and fails no other request of its group)
python3 - "$run" "$tmp" <<'PY'
import json, sys, uuid
run, d = sys.argv[1], sys.argv[2]
for k in range(60):
    evs = [{"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "grp-%s-%d-%d" % (run, k % 30, i))),
            "user_id": "g%d" % i, "type": "grp-%s" % run} for i in range(20)]
    open("%s/grp-ok-%02d.json" % (d, k), "w").write(json.dumps(evs))
for k in range(10):
    evs = [{"user_id": "ok", "type": "grpbad-%s" % run}, {"user_id": "BAD", "type": "grpbad-%s" % run}]
    open("%s/grp-bad-%02d.json" % (d, k), "wb").write(json.dumps(evs).encode().replace(b"BAD", b"b\xffd"))
PY
grouped() { curl -s "$U/metrics" | awk '/^nb_event_committer_items_total/ {i = $2} /^nb_event_committer_groups_total/ {g = $2} END {print i - g}'; }
g0=$(grouped)
ls "$tmp"/grp-*.json | sort -t- -k3 | xargs -P 35 -I{} sh -c \
	'echo "$(basename {} .json) $(curl -s -o {}.out -w "%{http_code}" -XPOST -H "$1" "$2/v1/events" --data-binary @{})"' _ "$A" "$U" >"$tmp/grp.codes"
t_eq events-group-ok-200 "$(grep -c '^grp-ok-[0-9]* 200$' "$tmp/grp.codes")" 60
t_eq events-group-ok-accepted "$(cat "$tmp"/grp-ok-*.json.out | grep -c '"accepted":20')" 60
t_eq events-group-bad-400 "$(grep -c '^grp-bad-[0-9]* 400$' "$tmp/grp.codes")" 10
t_match events-group-bad-field "$(cat "$tmp/grp-bad-00.json.out")" '"field":"\[1\]\.user_id"'
t_eq events-group-bad-nothing "$(sql "SELECT count(*) FROM events WHERE type = 'grpbad-$run'")" 0
t_eq events-group-dup-once "$(sql "SELECT count(*), count(DISTINCT event_id) FROM events WHERE type = 'grp-$run'")" "600|600"
# the committer did group requests (items answered exceed groups run)
t_eq events-grouped "$(( $(grouped) > g0 ))" 1

# ---- experiments, lifecycle audited with the token's name ----
t_eq exps-list "$(code -H "$A" "$U/v1/experiments")" 200
t_match exps-list-has "$(cat "$tmp/body")" "\"key\":\"$E\""
t_eq exp-get "$(code -H "$A" "$U/v1/experiments/$E")" 200
t_eq exp-get-status "$(jf "$(cat "$tmp/body")" 'j["status"]')" running
t_eq exp-pause "$(code -XPOST -H "Authorization: Bearer $ADM" "$U/v1/experiments/$E/pause")" 200
t_eq exp-paused "$(jf "$(cat "$tmp/body")" 'j["status"]')" paused
# u2's stored assignment is in the server's memory: refused once the pause
# is seen (the running experiments are read at most every 100 ms)
sleep 0.3
t_eq assign-paused-400 "$(code -XPOST -H "$A" "$U/v1/assign" -d "{\"experiment\":\"$E\",\"user_id\":\"u2\"}")" 400
t_match assign-paused-says "$(cat "$tmp/body")" 'is paused, not running'
t_eq assign-paused-new-400 "$(code -XPOST -H "$A" "$U/v1/assign" -d "{\"experiment\":\"$E\",\"user_id\":\"never-seen\"}")" 400
t_eq exp-pause-audited "$(sql "SELECT actor FROM audit_log WHERE entity = 'experiment' AND key = '$E' ORDER BY id DESC LIMIT 1")" "adm-$run"
t_eq exp-bad-transition-400 "$(code -XPOST -H "Authorization: Bearer $ADM" "$U/v1/experiments/$E/pause")" 400
t_eq exp-create-201 "$(code -XPOST -H "Authorization: Bearer $ADM" "$U/v1/experiments" -d "{\"key\":\"$E-new\",\"variants\":[{\"key\":\"a\",\"weight\":50},{\"key\":\"b\",\"weight\":50}]}")" 201
t_eq exp-create-audited "$(sql "SELECT actor FROM audit_log WHERE entity = 'experiment' AND key = '$E-new'")" "adm-$run"

# ---- /api/features: the official GrowthBook SDK agrees with /v1/assign ----
t_run sdk-present 0 test -f "$NB_ROOT/tests/sdk/node_modules/@growthbook/growthbook/package.json"
t_run fexp1 0 "$NB" exp create --key "$E-f1" --variants a:20,b:30,c:50 --coverage 0.7 --hash-version 2
t_run fexp2 0 "$NB" exp create --key "$E-f2" --variants a,b --hash-version 1 --namespace "ns$run:0.2:0.7"
t_run fexp3 0 "$NB" exp create --key "$E-f3" --variants a:50,b:50 --seed "s-$run" \
	--condition '{"country": {"$in": ["de", "fr"]}, "age": {"$gte": 18}}'
t_run fgroup 0 "$NB" group create "beta-$run" --values "[$(seq -s, -f "\"sdk-$run-%g\"" 0 3 600)]"
t_run fexp4 0 "$NB" exp create --key "$E-f4" --variants a:50,b:50 --condition "{\"id\": {\"\$inGroup\": \"beta-$run\"}}"
for k in f1 f2 f3 f4; do "$NB" exp start "$E-$k" >/dev/null; done
t_run features-client-key 0 "$NB" token create --name "fk-$run" --scopes features --json
FK=$(jf "$T_OUT" 'j["token"]')
t_eq features-bad-key-401 "$(code "$U/api/features/nbt_nope")" 401
t_eq features-needs-scope-403 "$(code "$U/api/features/$ADM")" 403
t_eq features-200 "$(code "$U/api/features/$FK")" 200
cp "$tmp/body" "$tmp/payload.json"
t_eq features-rule "$(jf "$(cat "$tmp/payload.json")" "[(r['key'], r['variations'], r['weights'], r['hashVersion'], r['namespace'], r['hashAttribute']) for r in j['features']['$E-f2']['rules']]")" "[('$E-f2', ['a', 'b'], [0.5, 0.5], 1, ['ns$run', 0.2, 0.7], 'id')]"
python3 - "$run" >"$tmp/users.json" <<'PY'
import json, random, sys
rnd = random.Random(int(sys.argv[1]))
# the attributes an application sends to both: the SDK's and /v1/assign's
print(json.dumps([{"user_id": "sdk-%s-%d" % (sys.argv[1], i),
                   "attributes": {"id": "sdk-%s-%d" % (sys.argv[1], i),
                                  "country": rnd.choice(["de", "fr", "us", "nl"]),
                                  "age": rnd.randint(10, 70)}} for i in range(1000)]))
PY
node "$NB_ROOT/tests/integration/serve_sdk.js" "$tmp/payload.json" "$tmp/users.json" >"$tmp/sdk.tsv"
t_run sdk-ran 0 test -s "$tmp/sdk.tsv"
python3 - "$U" "$TOK2" "$E" "$tmp/users.json" "$tmp/sdk.tsv" >"$tmp/diff.out" <<'PY'
import http.client, json, sys
url, tok, E, users, sdk = sys.argv[1:]
host, port = url[7:].split(":")
sdkv = {}
for line in open(sdk):
    u, k, v = line.rstrip("\n").split("\t")
    if k.startswith(E + "-f"):
        sdkv[(u, k)] = None if v == "null" else v
c = http.client.HTTPConnection(host, int(port))
agree = differ = 0
first = None
for u in json.load(open(users)):
    c.request("POST", "/v1/assign", json.dumps(u), {"Authorization": "Bearer " + tok})
    r = json.loads(c.getresponse().read())
    got = {a["experiment"]: (a["variant"] if a["in_experiment"] else None) for a in r["assignments"]}
    for k in (E + "-f1", E + "-f2", E + "-f3", E + "-f4"):
        if got.get(k, "missing") == sdkv.get((u["user_id"], k), "missing"):
            agree += 1
        else:
            differ += 1
            first = first or (u, k, got.get(k, "missing"), sdkv.get((u["user_id"], k), "missing"))
print(agree, differ, first)
PY
t_match sdk-agrees-4000 "$(cat "$tmp/diff.out")" '^4000 0 None$'
t_match sdk-some-in-some-out "$(grep -c $'\tnull$' "$tmp/sdk.tsv")" '^[1-9][0-9]*$'
t_eq features-saved-group "$(jf "$(cat "$tmp/payload.json")" "len(j['savedGroups']['beta-$run']['values'])")" 201
t_eq features-cached-same "$(curl -s "$U/api/features/$FK" | md5sum)" "$(md5sum <"$tmp/payload.json")"
"$NB" exp stop "$E-f3" >/dev/null
sleep 0.2 # the server reads the running experiments at most every 100 ms
t_run features-rebuilt-on-change 1 grep -q "\"$E-f3\"" <(curl -s "$U/api/features/$FK")

# ---- rate limit: burst 2, then 429 with Retry-After ----
# three requests on one connection from one curl: back to back, so a loaded
# machine's process starts cannot refill the bucket (2/s) between them
codes=$(curl -s -o /dev/null -o /dev/null -o /dev/null -D "$tmp/h" -w '%{http_code} ' \
	-H "Authorization: Bearer $LIM" "$U/v1/experiments" "$U/v1/experiments" "$U/v1/experiments")
t_match rate-burst-ok "$codes" '^200 200 '
t_match rate-429 "$codes" ' 429 $'
t_match rate-retry-after "$(cat "$tmp/h")" 'Retry-After: [0-9]+'

# ---- revoke: refused within a second ----
t_run token-revoke 0 "$NB" token revoke "app-$run"
sleep 1.2
t_eq revoked-401 "$(code -H "$A" "$U/v1/experiments")" 401

# ---- PostgreSQL connections cut: the server reconnects by itself ----
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'neonblue' AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND query NOT LIKE '%pg_terminate_backend%'" >/dev/null
ok=0
for _ in 1 2 3 4 5 6; do [ "$(code -H "Authorization: Bearer $ADM" "$U/v1/experiments")" = 200 ] && ok=$((ok + 1)); done
t_eq reconnects "$ok" 6

# ---- /metrics ----
t_eq metrics-200 "$(code "$U/metrics")" 200
t_match metrics-requests "$(cat "$tmp/body")" 'nb_http_requests_total\{route="assign",status="200"\} [0-9]+'
t_match metrics-histogram "$(cat "$tmp/body")" 'nb_http_request_duration_seconds_bucket\{route="events",le="\+Inf"\} [0-9]+'
t_match metrics-events "$(cat "$tmp/body")" 'nb_events_accepted_total (8[0-9]{2}|[0-9]{4})'

# ---- SIGTERM drains: the request in flight is answered and committed ----
python3 -c "import json; print(json.dumps([{'user_id': 'd%d' % i, 'type': 'drain-$run'} for i in range(10000)]))" >"$tmp/ev10k.json"
curl -s -o "$tmp/drain" -w '%{http_code}' -XPOST -H "Authorization: Bearer $DRN" "$U/v1/events" --data-binary @"$tmp/ev10k.json" >"$tmp/drain.code" &
cpid=$!
# SIGTERM once the request is in the server (its body is being read or loaded)
for _ in $(seq 100); do
	[ "$(ss -tnH state established "( dport = :$port )" | wc -l)" -gt 0 ] && break
	sleep 0.01
done
sleep 0.1
kill -TERM "$spid"
wait "$cpid"
wait "$spid"
t_eq sigterm-exit-0 "$?" 0
spid=
t_eq drain-answered-200 "$(cat "$tmp/drain.code")" 200
t_eq drain-committed "$(sql "SELECT count(*) FROM events WHERE type = 'drain-$run'")" 10000
t_match drain-logged "$(cat "$tmp/serve.log")" 'neonblue serve: stopped'
t_done
