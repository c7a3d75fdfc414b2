#!/usr/bin/env bash
# serve_report.sh — GET /v1/experiments/KEY/report|funnel|cohort|revenue|segments
# of `neonblue serve` against the embedded stack: users assigned and events
# sent through the API reach ClickHouse by the pipeline; then every document
# equals, byte for byte, `neonblue KIND KEY --json` with the same scope (the
# flags as query parameters; complete_up_to, present in both, compared
# apart); a refused parameter is a 400 naming it, an
# unknown experiment 404, no read scope 403, ClickHouse down 503. /metrics
# carries the pipeline's lag gauges (stack status's figures) as numbers.
# needs: stack
. "$(dirname "$0")/../lib/t.sh"
: "${NEONBLUE_HOME:?needs a running stack (tests/run.sh starts one)}"
. "$NEONBLUE_HOME/stack.env"
export NEONBLUE_PG NEONBLUE_CLICKHOUSE
tmp=$(mktemp -d /tmp/nbsrep.XXXXXX)
spid= spid2=
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null; [ -n "$spid2" ] && kill "$spid2" 2>/dev/null; rm -rf "$tmp"' EXIT
run=$$
E=rep-$run B=rp_buy_$run R=rp_rev_$run VIEW=view-$run BUY=buy-$run
jf() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
chq() { curl -sS "$NEONBLUE_CLICKHOUSE" --data-binary "$1"; }

# ---- an experiment with two metrics, a token, the server ----
t_run metric-buy 0 "$NB" metric create --key "$B" --kind binomial --events "$BUY"
t_run metric-rev 0 "$NB" metric create --key "$R" --kind sum --events "$BUY"
t_run exp-create 0 "$NB" exp create --key "$E" --variants control:50,treatment:50 --metrics "$B:primary,$R:secondary"
t_run exp-start 0 "$NB" exp start "$E"
t_run token 0 "$NB" token create --name "rep-$run" --scopes assign,track,read --json
TOK=$(jf "$T_OUT" 'j["token"]')
t_run token-noread 0 "$NB" token create --name "rep-w-$run" --scopes assign,track --json
NOREAD=$(jf "$T_OUT" 'j["token"]')
port=$(t_free_port)
U=http://127.0.0.1:$port
"$NB" serve --listen "127.0.0.1:$port" --threads 4 >"$tmp/serve.log" 2>&1 &
spid=$!
for _ in $(seq 50); do curl -sf "$U/healthz" >/dev/null && break; sleep 0.1; done
A="Authorization: Bearer $TOK"
code() { curl -s -o "$tmp/body" -w '%{http_code}' "$@"; }

# ---- 80 users assigned, their events sent: all through the API ----
python3 - "$U" "$TOK" "$E" "$VIEW" "$BUY" "$run" >"$tmp/seed.out" <<'PY'
import http.client, json, random, sys, time
iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
url, tok, E, view, buy, run = sys.argv[1:]
host, port = url[7:].split(":")
c = http.client.HTTPConnection(host, int(port))
h = {"Authorization": "Bearer " + tok}
rnd = random.Random(int(run))
now = int(time.time())
evs, assigned = [], 0
for i in range(80):
    u = "rp-%s-%d" % (run, i)
    country = rnd.choice(["de", "fr", "us"])
    c.request("POST", "/v1/assign", json.dumps({"experiment": E, "user_id": u, "attributes": {"country": country}}), h)
    r = json.loads(c.getresponse().read())
    assigned += r.get("in_experiment") is True
    t = now + 2 + rnd.randint(0, 60)
    evs.append({"user_id": u, "type": view, "ts": iso(t), "properties": {"plan": rnd.choice(["free", "pro"])}})
    if rnd.random() < 0.4:
        evs.append({"user_id": u, "type": buy, "ts": iso(t + rnd.randint(1, 3000)), "value": rnd.randint(1, 90)})
c.request("POST", "/v1/events", json.dumps(evs), h)
r = c.getresponse()
print(assigned, len(evs), r.status)
PY
read -r assigned nev st <"$tmp/seed.out"
t_eq seed-assigned "$assigned" 80
t_eq seed-events-200 "$st" 200
# the pipeline brings them to ClickHouse
got=
for _ in $(seq 240); do
	got=$(chq "SELECT (SELECT count() FROM neonblue.events FINAL WHERE _deleted = 0 AND type IN ('$VIEW', '$BUY')), (SELECT count() FROM neonblue.assignments FINAL WHERE _deleted = 0 AND experiment = '$E')" | tr '\t' ' ')
	[ "$got" = "$nev 80" ] && break
	sleep 0.5
done
t_eq pipeline-delivered "$got" "$nev 80"

# ---- every document is the CLI's --json, with the flags as query parameters ----
from=$(date -u -d '-1 day' +%Y-%m-%d) to=$(date -u -d '+2 days' +%Y-%m-%d)
# same NAME KIND "QUERY" [FLAGS...]: GET KIND?QUERY == neonblue KIND E FLAGS --json
same() {
	local name=$1 kind=$2 q=$3
	shift 3
	"$NB" "$kind" "$E" "$@" --json >"$tmp/cli.json" 2>"$tmp/cli.err"
	local c
	c=$(curl -s -o "$tmp/api.json" -w '%{http_code}' -H "$A" "$U/v1/experiments/$E/$kind${q:+?$q}")
	# complete_up_to (docs/report.md) is in both, and may have moved on
	# between the two requests: compared apart
	if [ "$c" = 200 ] && [ -s "$tmp/cli.json" ] && python3 - "$tmp/cli.json" "$tmp/api.json" <<'PY'
import re, sys
a, b = (open(f).read() for f in sys.argv[1:])
pat = r',\s*"complete_up_to":\s*(null|"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z")'
ok = len(re.findall(pat, a)) == 1 and len(re.findall(pat, b)) == 1
sys.exit(0 if ok and re.sub(pat, "", a) == re.sub(pat, "", b) else 1)
PY
	then
		t_pass "$name"
	else
		t_fail "$name" "HTTP $c; API $(head -c 300 "$tmp/api.json") vs CLI $(head -c 300 "$tmp/cli.json") $(head -c 200 "$tmp/cli.err")"
	fi
}
same report-equals-cli report ""
same report-scoped report "metric=$B&from=$from&to=$to&segment=country%3Dde&alpha=0.1&mde=0.2" \
	--metric "$B" --from "$from" --to "$to" --segment country=de --alpha 0.1 --mde 0.2
same report-scan report "scan=1&event-type=$BUY" --scan --event-type "$BUY"
same report-series report "series=hour&metric=$R" --series hour --metric "$R"
same funnel-equals-cli funnel "steps=$VIEW,$BUY" --steps "$VIEW,$BUY"
same funnel-window funnel "steps=$VIEW,$BUY&window=30m&segment=country%3Dfr" --steps "$VIEW,$BUY" --window 30m --segment country=fr
same cohort-equals-cli cohort ""
same cohort-weeks cohort "period=week&periods=3" --period week --periods 3
same revenue-equals-cli revenue ""
same revenue-scoped revenue "metric=$R&from=$from" --metric "$R" --from "$from"
same segments-equals-cli segments "by=country" --by country
same segments-event-prop segments "by=event:plan&top=1&metric=$R" --by event:plan --top 1 --metric "$R"
# and the documents hold the data (not two equal empty answers)
t_eq report-users "$(jf "$(curl -s -H "$A" "$U/v1/experiments/$E/report")" 'sum(v["users"] for v in j["variants"])')" 80
t_match funnel-reached "$(jf "$(curl -s -H "$A" "$U/v1/experiments/$E/funnel?steps=$VIEW,$BUY")" '[s["users"] for v in j["variants"] for s in v["steps"]]')" '[1-9]'

# ---- refusals ----
t_eq bad-from-400 "$(code -H "$A" "$U/v1/experiments/$E/report?from=yesterday")" 400
t_eq bad-from-field "$(jf "$(cat "$tmp/body")" 'j["field"]')" from
t_match bad-from-says "$(jf "$(cat "$tmp/body")" 'j["error"]')" 'from "yesterday" is not a time'
t_eq bad-window-400 "$(code -H "$A" "$U/v1/experiments/$E/funnel?steps=a,b&window=5x")" 400
t_eq bad-window-field "$(jf "$(cat "$tmp/body")" 'j["field"]')" window
t_eq unknown-param-400 "$(code -H "$A" "$U/v1/experiments/$E/report?metrics=$B")" 400
t_eq unknown-param-field "$(jf "$(cat "$tmp/body")" 'j["field"]')" metrics
t_eq funnel-no-steps-400 "$(code -H "$A" "$U/v1/experiments/$E/funnel")" 400
t_eq funnel-no-steps-field "$(jf "$(cat "$tmp/body")" 'j["field"]')" steps
t_eq funnel-dup-step-field "$(code -H "$A" "$U/v1/experiments/$E/funnel?steps=a,a")/$(jf "$(cat "$tmp/body")" 'j["field"]')" 400/steps
t_eq unknown-metric-400 "$(code -H "$A" "$U/v1/experiments/$E/revenue?metric=nope")" 400
t_eq unknown-metric-field "$(jf "$(cat "$tmp/body")" 'j["field"]')" metric
t_eq bad-by-field "$(code -H "$A" "$U/v1/experiments/$E/segments?by=a%27b")/$(jf "$(cat "$tmp/body")" 'j["field"]')" 400/by
t_eq bad-range-field "$(code -H "$A" "$U/v1/experiments/$E/cohort?from=$to&to=$from")/$(jf "$(cat "$tmp/body")" 'j["field"]')" 400/to
t_eq bad-segment-field "$(code -H "$A" "$U/v1/experiments/$E/report?segment=country")/$(jf "$(cat "$tmp/body")" 'j["field"]')" 400/segment
t_eq unknown-exp-404 "$(code -H "$A" "$U/v1/experiments/nope-$run/report")" 404
t_match unknown-exp-says "$(cat "$tmp/body")" "no experiment \\\\\"nope-$run\\\\\""
t_eq no-read-403 "$(code -H "Authorization: Bearer $NOREAD" "$U/v1/experiments/$E/cohort")" 403
t_eq no-token-401 "$(code "$U/v1/experiments/$E/report")" 401
t_eq post-not-a-route "$(code -XPOST -H "$A" "$U/v1/experiments/$E/report")" 404

# ---- /metrics: the routes counted, the pipeline's lag as numbers ----
t_eq metrics-200 "$(code "$U/metrics")" 200
M=$(cat "$tmp/body")
t_match metrics-report-route "$M" 'nb_http_requests_total\{route="report",status="200"\} [1-9]'
t_match metrics-segments-400 "$M" 'nb_http_requests_total\{route="segments",status="400"\} 1'
num='-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?'
t_match lag-cdc-bytes "$M" "nb_pipeline_lag_bytes\\{component=\"cdc\"\\} $num"
t_match lag-cdc-messages "$M" "nb_pipeline_lag_messages\\{component=\"cdc\"\\} $num"
t_match lag-sink-messages "$M" "nb_pipeline_lag_messages\\{component=\"sink\"\\} $num"
t_match lag-sink-last-row "$M" "nb_pipeline_seconds_since_last_row\\{component=\"sink\"\\} $num"
t_match lag-status-age "$M" "nb_pipeline_status_age_seconds\\{component=\"sink\"\\} $num"
t_match lag-typed "$M" '# TYPE nb_pipeline_lag_messages gauge'
# the same figures as `stack status --json`. The relay's heartbeat (every 5 s
# when idle) makes the sink's lag 1 until the sink reads it, so the two are
# asked again until one /metrics and one `stack status` between them agree.
sink_lag_metrics() { curl -s "$U/metrics" | grep '^nb_pipeline_lag_messages{component="sink"}' | cut -d' ' -f2; }
sink_lag_status() {
	"$NB" stack status --json | python3 -c 'import json,sys; print(next("%g" % c["kafka_lag"] for c in json.load(sys.stdin) if c["name"] == "sink"))'
}
end=$((SECONDS + 20))
while :; do
	lm=$(sink_lag_metrics) ls=$(sink_lag_status)
	[ "$lm" = "$ls" ] || [ $SECONDS -ge $end ] && break
	sleep 0.5
done
t_eq lag-sink-is-stack-status "$lm" "$ls"

# ---- outside a stack, ClickHouse down: 503, and no lag gauges ----
port2=$(t_free_port)
mkdir -p "$tmp/nohome"
NEONBLUE_HOME=$tmp/nohome "$NB" --pg "$NEONBLUE_PG" --clickhouse "http://127.0.0.1:$(t_free_port)" \
	serve --listen "127.0.0.1:$port2" --threads 2 >"$tmp/serve2.log" 2>&1 &
spid2=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port2/healthz" >/dev/null && break; sleep 0.1; done
t_eq ch-down-503 "$(code -H "$A" "http://127.0.0.1:$port2/v1/experiments/$E/report")" 503
t_match ch-down-says "$(cat "$tmp/body")" 'ClickHouse'
t_eq ch-down-bad-param-still-400 "$(code -H "$A" "http://127.0.0.1:$port2/v1/experiments/$E/report?top=0")" 400
t_eq ch-down-server-up "$(code "http://127.0.0.1:$port2/healthz")" 200
t_eq no-stack-no-lag-gauges "$(curl -s "http://127.0.0.1:$port2/metrics" | grep -c nb_pipeline_)" 0
kill -TERM "$spid2"
wait "$spid2"
t_eq ch-down-server-exit-0 "$?" 0
spid2=
kill -TERM "$spid"
wait "$spid"
t_eq sigterm-exit-0 "$?" 0
spid=
t_run no-sanitizer-reports 1 grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp/serve.log" "$tmp/serve2.log"
t_done
