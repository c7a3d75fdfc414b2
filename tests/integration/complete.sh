#!/usr/bin/env bash
# complete.sh — "complete up to T" (docs/report.md, docs/sink.md) on the
# shared stack's own pipeline: an event committed while the sink is stopped
# (SIGSTOP) leaves the report's complete_up_to below the commit's time and the
# event out of ClickHouse; once the sink runs again complete_up_to reaches the
# commit's time and the event is then in ClickHouse. complete_up_to is in
# every analysis document (report, series, funnel, cohort, revenue, segments;
# the CLI's --json and the API's routes), and in the Markdown text.
# needs: stack
. "$(dirname "$0")/../lib/t.sh"
: "${NEONBLUE_HOME:?needs a running stack (tests/run.sh starts one)}"
. "$NEONBLUE_HOME/stack.env"
export NEONBLUE_PG NEONBLUE_CLICKHOUSE NEONBLUE_KAFKA
SINK=
trap '[ -n "$SINK" ] && kill -CONT "$SINK" 2>/dev/null' EXIT
run=$$
E=cu-$run B=cu_buy_$run R=cu_rev_$run
chq() { curl -sS "$NEONBLUE_CLICKHOUSE" --data-binary "$1"; }
# PostgreSQL's clock, ms
pg_ms() { psql "$NEONBLUE_PG" -XAtqc "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint"; }
# complete_up_to of a document on stdin, ms (-1: null, "missing": no field)
cu_ms() {
	python3 -c 'import json, sys, datetime
d = json.load(sys.stdin)
if "complete_up_to" not in d: print("missing"); sys.exit()
v = d["complete_up_to"]
print(-1 if v is None else round(datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ")
      .replace(tzinfo=datetime.timezone.utc).timestamp() * 1000))'
}
report_cu() { "$NB" report "$E" --json | cu_ms; }

SINK_PID=$("$NB" stack status --json | python3 -c 'import json, sys
print(next((c["pid"] for c in json.load(sys.stdin) if c["name"] == "sink" and c.get("pid")), ""))')
[ -n "$SINK_PID" ] && t_pass stack-runs-sink || { t_fail stack-runs-sink "no sink in stack status"; t_done; exit; }

# ---- an experiment and its users; wait until the pipeline has them ----
"$NB" metric create --key "$B" --kind binomial --events "$B" >/dev/null &&
	"$NB" metric create --key "$R" --kind sum --events "$B" >/dev/null &&
	"$NB" exp create --key "$E" --variants control:50,treatment:50 --metrics "$B:primary,$R:secondary" >/dev/null &&
	"$NB" exp start "$E" >/dev/null &&
	seq 1 20 | sed "s/^/$E-u/" | "$NB" assign "$E" --users - >/dev/null
t_eq setup $? 0
# a last commit of its own: once it is complete, so is everything before it
t0=$(pg_ms)
t_run track-last 0 "$NB" track "$E-u2" "$B-x" --exp "$E"
cu=-1
for _ in $(seq 120); do
	cu=$(report_cu)
	[ "$cu" != missing ] && [ "$cu" -ge "$t0" ] && break
	sleep 0.5
done
t_match caught-up-after-setup "$cu" '^[0-9]+$'
[ "$cu" -ge "$t0" ] 2>/dev/null && t_pass complete-past-setup || t_fail complete-past-setup "complete_up_to $cu < last commit's start $t0"
t_eq setup-in-clickhouse "$(chq "SELECT count() FROM neonblue.assignments FINAL WHERE _deleted = 0 AND experiment = '$E'")" 20

echo "# $SECONDS s: caught up"
# ---- the sink stopped: a commit is not complete ----
kill -STOP "$SINK_PID" && SINK=$SINK_PID
t1=$(pg_ms)
t_run track-while-stopped 0 "$NB" track "$E-u1" "$B" --value 5 --exp "$E"
sleep 3 # the relay has sent it to Kafka and its heartbeat after it
stopped=$(report_cu)
[ "$stopped" -ge "$t0" ] 2>/dev/null && [ "$stopped" -lt "$t1" ] && t_pass stopped-below-commit ||
	t_fail stopped-below-commit "complete_up_to $stopped, expected in [$t0, $t1) while the sink is stopped"
t_eq stopped-event-not-in-clickhouse "$(chq "SELECT count() FROM neonblue.events FINAL WHERE _deleted = 0 AND type = '$B'")" 0

# ---- the sink runs again: complete up to the commit, and the event is there ----
kill -CONT "$SINK_PID" && SINK=
after=-1
for _ in $(seq 120); do
	after=$(report_cu)
	[ "$after" -ge "$t1" ] 2>/dev/null && break
	sleep 0.5
done
[ "$after" -ge "$t1" ] 2>/dev/null && t_pass resumed-reaches-commit ||
	t_fail resumed-reaches-commit "complete_up_to $after < commit start $t1 after the sink resumed"
t_eq resumed-event-in-clickhouse "$(chq "SELECT count() FROM neonblue.events FINAL WHERE _deleted = 0 AND type = '$B'")" 1

echo "# $SECONDS s: resumed"
# ---- every analysis document carries it; the text shows it ----
# the CLI's report, above; the others through the API's routes (the same
# documents: tests/integration/serve_report.sh), one client for all
TOK=$("$NB" token create --name "cu-$run" --scopes read --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
python3 - "$NEONBLUE_API" "$TOK" "$E" "$B" <<'PY' >"${TMPDIR:-/tmp}/cu.$run"
import json, re, sys, urllib.request
api, tok, e, b = sys.argv[1:]
for name, q in (("report", "report"), ("series", "report?series=hour"),
                ("funnel", "funnel?steps=%s,%s-x" % (b, b)), ("cohort", "cohort"),
                ("revenue", "revenue"), ("segments", "segments?by=country")):
    req = urllib.request.Request("%s/v1/experiments/%s/%s" % (api, e, q),
                                 headers={"Authorization": "Bearer " + tok})
    try:
        v = json.load(urllib.request.urlopen(req, timeout=30)).get("complete_up_to", "missing")
    except Exception as x:
        v = "error %s" % x
    ok = isinstance(v, str) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", v)
    print(name, "ok" if ok else v)
PY
while read -r name v; do t_eq "api-$name" "$v" ok; done <"${TMPDIR:-/tmp}/cu.$run"
rm -f "${TMPDIR:-/tmp}/cu.$run"
t_run md-report 0 "$NB" report "$E"
t_match md-report-says "$T_OUT" "Complete up to 20[0-9-]{8}T[0-9:.]{12}Z: every change committed in PostgreSQL by then is in ClickHouse"
t_run md-funnel 0 "$NB" funnel "$E" --steps "$B,$B-x"
t_match md-funnel-says "$T_OUT" "# Funnel"$'\n\n'"Complete up to 20"
t_done
