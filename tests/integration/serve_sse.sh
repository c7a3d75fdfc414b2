#!/usr/bin/env bash
# serve_sse.sh — GET /sub/{client_key} of `neonblue serve` against the
# embedded stack (PostgreSQL, the relay `neonblue cdc`, the Kafka mock
# cluster): the first message is the current payload; a stop, a start, a
# re-weight and a saved-group edit each reach the stream within 1 s of their
# commit (measured against the transaction's time in PostgreSQL), a change
# that leaves the payload as it was sends nothing; keepalive comments; 401,
# 403, 503 without Kafka; a revoked client key's stream ends; the official
# GrowthBook SDK streams from us (init({streaming: true})) and stops
# assigning a stopped experiment within 1 s; SIGTERM ends the streams and the
# server exits at once.
# needs: stack
. "$(dirname "$0")/../lib/t.sh"
: "${NEONBLUE_HOME:?needs a running stack (tests/run.sh starts one)}"
. "$NEONBLUE_HOME/stack.env"
export NEONBLUE_PG
sql() { psql "$NEONBLUE_PG" -X -Atqc "$1"; }
tmp=$(mktemp -d /tmp/nbsse.XXXXXX)
spid= spid2= cpids=()
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null
	[ -n "$spid2" ] && kill "$spid2" 2>/dev/null
	for p in "${cpids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
run=$$
E=sse-$run
. "$NB_ROOT/tests/lib/sse.sh"

# ---- experiments, a saved group, keys ----
t_run exp-a 0 "$NB" exp create --key "$E-a" --variants a:50,b:50
t_run exp-b 0 "$NB" exp create --key "$E-b" --variants a:50,b:50
t_run exp-c 0 "$NB" exp create --key "$E-c" --variants a,b
t_run exp-sdk 0 "$NB" exp create --key "$E-s" --variants a,b
t_run group 0 "$NB" group create "$E-g" --values '["u1","u2"]'
t_run exp-g 0 "$NB" exp create --key "$E-g" --variants a,b --condition "{\"id\": {\"\$inGroup\": \"$E-g\"}}"
for k in a b s g; do "$NB" exp start "$E-$k" >/dev/null; done
t_run key 0 "$NB" token create --name "sk-$run" --scopes features
FK=$T_OUT
t_run key2 0 "$NB" token create --name "sk2-$run" --scopes features
FK2=$T_OUT
t_run admin 0 "$NB" token create --name "sa-$run" --scopes admin
ADM=$T_OUT

port=$(t_free_port)
U=http://127.0.0.1:$port
"$NB" serve --listen "127.0.0.1:$port" --threads 4 --sse-keepalive 1 >"$tmp/serve.log" 2>&1 &
spid=$!
for _ in $(seq 100); do curl -sf "$U/healthz" >/dev/null && break; sleep 0.1; done
code() { curl -s -o "$tmp/body" -w '%{http_code}' "$@"; }

# ---- refusals ----
t_eq no-key-401 "$(code "$U/sub/")" 401
t_eq bare-401 "$(code "$U/sub")" 401
t_eq unknown-key-401 "$(code "$U/sub/nbt_nope")" 401
t_match 401-says "$(cat "$tmp/body")" 'client key'
t_eq scope-403 "$(code "$U/sub/$ADM")" 403
t_eq post-404 "$(code -XPOST "$U/sub/$FK")" 404
t_match features-says-sse "$(curl -s -D - -o /dev/null "$U/api/features/$FK")" $'x-sse-support: enabled\r'
# the stack's own server (started with the stack's --kafka) streams too
t_match stack-serve-says-sse "$(curl -s -D - -o /dev/null "$NEONBLUE_API/api/features/$FK")" $'x-sse-support: enabled\r'

# ---- the stream: the current payload first ----
client "$port" "/sub/$FK" "$tmp/s1" "$E-"
wait_event 1 30 "$tmp/s1"
t_match stream-200 "$(head -1 "$tmp/s1")" '^STATUS 200 ctype=text/event-stream'
t_match stream-retry "$(cat "$tmp/s1")" 'RETRY ms=1000'
t_match first-event "$(ev 1 "$tmp/s1")" "name=features keys=$E-a,$E-b,$E-g,$E-s "
t_run first-is-features 0 cmp -s "$tmp/s1.1.json" <(curl -s "$U/api/features/$FK" | tr -d '\n')
t_match metrics-subscribers "$(curl -s "$U/metrics")" $'nb_sse_subscribers 1\n'

# ---- stop: the payload without it, within 1 s of the commit ----
"$NB" exp stop "$E-a" >/dev/null
wait_event 2 10 "$tmp/s1"
t_match stop-pushed "$(ev 2 "$tmp/s1")" "keys=$E-b,$E-g,$E-s "
under_1s stop-within-1s "$(lag "$(audit_at experiment "$E-a" stop)" 2 "$tmp/s1")"
t_run stop-in-features-too 1 grep -q "\"$E-a\"" <(curl -s "$U/api/features/$FK")

# ---- start ----
"$NB" exp start "$E-c" >/dev/null
wait_event 3 10 "$tmp/s1"
t_match start-pushed "$(ev 3 "$tmp/s1")" "keys=$E-b,$E-c,$E-g,$E-s "
under_1s start-within-1s "$(lag "$(audit_at experiment "$E-c" start)" 3 "$tmp/s1")"

# ---- re-weight (variants and version) ----
"$NB" exp edit "$E-b" --variants a:80,b:20 --reseed >/dev/null
wait_event 4 10 "$tmp/s1"
t_run reweight-pushed 0 python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['features']['$E-b']['rules'][0]; sys.exit(r['weights'] != [0.8, 0.2])" "$tmp/s1.4.json"
under_1s reweight-within-1s "$(lag "$(audit_at experiment "$E-b" reseed)" 4 "$tmp/s1")"

# ---- a saved group a running experiment's condition names ----
"$NB" group edit "$E-g" --values '["u1","u2","u3"]' >/dev/null
wait_event 5 10 "$tmp/s1"
t_match group-pushed "$(ev 5 "$tmp/s1")" "groups=$E-g:3\$"
under_1s group-within-1s "$(lag "$(audit_at saved_group "$E-g" update)" 5 "$tmp/s1")"

# ---- a change that leaves the payload as it is sends nothing ----
"$NB" exp create --key "$E-draft" --variants a,b >/dev/null
"$NB" exp stop "$E-c" >/dev/null
wait_event 6 10 "$tmp/s1"
t_match next-is-the-stop "$(ev 6 "$tmp/s1")" "keys=$E-b,$E-g,$E-s "
sleep 0.3
t_eq draft-sent-nothing "$(grep -c '^EVENT ' "$tmp/s1")" 6
t_match keepalive-comments "$(grep -c '^COMMENT .*text=keepalive' "$tmp/s1")" '^[1-9][0-9]*$'
m=$(curl -s "$U/metrics")
t_match metrics-kafka-up "$m" $'nb_sse_kafka_up 1\n'
t_match metrics-lag-under-1s "$m" 'nb_sse_push_lag_seconds 0\.[0-9]+'
t_match metrics-route "$m" 'nb_http_requests_total\{route="sub",status="200"\} [1-9]'

# ---- the official GrowthBook SDK streams from us ----
node "$NB_ROOT/tests/integration/serve_sse_sdk.js" "$U" "$FK" "$ADM" "$E-s" >"$tmp/sdk.json" 2>"$tmp/sdk.err"
t_eq sdk-ran "$?" 0
sdk=$(cat "$tmp/sdk.json")
t_match sdk-streamed "$sdk" '"before":"[ab]","after":null,"ms":[0-9]+,"streamed":true'
ms=$(sed -n 's/.*"ms":\([0-9]*\).*/\1/p' <<<"$sdk")
echo "  measured sdk-update: ${ms:-?} ms (stop request sent → the SDK no longer assigns)"
[ -n "$ms" ] && [ "$ms" -lt 1000 ] && t_pass sdk-update-within-1s || t_fail sdk-update-within-1s "SDK saw the stop after '$ms' ms (request sent → SDK), expected < 1000: $sdk $(head -c 300 "$tmp/sdk.err")"

# ---- a revoked client key's stream ends ----
client "$port" "/sub/$FK2" "$tmp/s2"
wait_event 1 30 "$tmp/s2"
"$NB" token revoke "sk2-$run" >/dev/null
for _ in $(seq 100); do grep -q '^END ' "$tmp/s2" && break; sleep 0.05; done
t_match revoked-stream-ends "$(grep '^END ' "$tmp/s2")" 'how=eof'
t_eq revoked-key-401 "$(code "$U/sub/$FK2")" 401

# ---- no Kafka configured: 503 naming the setting; /api/features still works ----
port2=$(t_free_port)
mkdir -p "$tmp/nohome" "$tmp/noconf"
env -u NEONBLUE_KAFKA XDG_CONFIG_HOME="$tmp/noconf" "$NB" --home "$tmp/nohome" --pg "$NEONBLUE_PG" \
	serve --listen "127.0.0.1:$port2" --threads 2 >"$tmp/serve2.log" 2>&1 &
spid2=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port2/healthz" >/dev/null && break; sleep 0.1; done
t_eq no-kafka-503 "$(code "http://127.0.0.1:$port2/sub/$FK")" 503
t_match no-kafka-names-setting "$(cat "$tmp/body")" 'NEONBLUE_KAFKA or --kafka'
t_eq no-kafka-features-200 "$(code "http://127.0.0.1:$port2/api/features/$FK")" 200
t_run no-kafka-no-sse-header 1 grep -qi '^x-sse-support:' <(curl -s -D - -o /dev/null "http://127.0.0.1:$port2/api/features/$FK")
t_match no-kafka-logged "$(cat "$tmp/serve2.log")" 'GET /sub is off'
kill -TERM "$spid2"; wait "$spid2"; spid2=

# ---- SIGTERM: the open stream ends cleanly and the server exits at once ----
t_run help-mentions-sub 0 grep -q 'GET /sub/KEY' <("$NB" serve --help)
client "$port" "/sub/$FK" "$tmp/s3"
wait_event 1 30 "$tmp/s3"
t0=$(date +%s.%N)
kill -TERM "$spid"
wait "$spid"
t_eq sigterm-exit-0 "$?" 0
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
spid=
awk -v x="$took" 'BEGIN { exit !(x < 5) }' && t_pass drain-not-held-by-streams || t_fail drain-not-held-by-streams "exit took $took s with an open stream"
for _ in $(seq 40); do grep -q '^END ' "$tmp/s3" && break; sleep 0.05; done
t_match drain-ends-stream "$(grep '^END ' "$tmp/s3")" 'how=eof'
t_match drain-ends-every-stream "$(grep '^END ' "$tmp/s1")" 'how=eof'
t_match drain-logged "$(cat "$tmp/serve.log")" 'neonblue serve: stopped'
t_run no-sanitizer-reports 1 grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$tmp/serve.log" "$tmp/serve2.log"
t_done
