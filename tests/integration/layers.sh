#!/usr/bin/env bash
# layers.sh — layers, holdouts and configuration periods against the embedded
# stack: overlapping ranges in a layer are refused naming the experiment in the
# way; a holdout's users get no variant from `assign`, `/v1/assign` or the
# official GrowthBook SDK on the /api/features payload (1,000 users, counted in
# PostgreSQL); a re-weight mid-run gives the report two periods with the
# right users.
# needs: stack
. "$(dirname "$0")/../lib/t.sh"
: "${NEONBLUE_HOME:?needs a running stack (tests/run.sh starts one)}"
. "$NEONBLUE_HOME/stack.env"
export NEONBLUE_PG NEONBLUE_CLICKHOUSE
sql() { psql "$NEONBLUE_PG" -X -Atqc "$1"; }
jf() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
run=$$
tmp=$(mktemp -d /tmp/nblayers.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
L=ly$run

# ---- layers ----
t_run layer-create 0 "$NB" layer create "$L" --name "Checkout layer"
t_run layer-dup 2 "$NB" layer create "$L"
t_run layer-bad-key 2 "$NB" layer create "Bad Key"
t_run exp-a 0 "$NB" exp create --key "$L-a" --variants c,t --namespace "$L:0:0.5"
t_run exp-b-overlap 2 "$NB" exp create --key "$L-b" --variants c,t --namespace "$L:0.4:0.8"
t_match exp-b-overlap-names "$T_ERR" "overlaps experiment \"$L-a\" \\[0, 0.5\\)"
t_eq exp-b-not-stored "$(sql "SELECT count(*) FROM experiments WHERE key = '$L-b'")" 0
t_run exp-b 0 "$NB" exp create --key "$L-b" --variants c,t --namespace "$L:0.5:0.8"
t_run edit-overlap 2 "$NB" exp edit "$L-b" --namespace "$L:0.3:0.8"
t_match edit-overlap-names "$T_ERR" "overlaps experiment \"$L-a\""
t_eq edit-kept "$(sql "SELECT namespace_start FROM experiments WHERE key = '$L-b'")" 0.5
t_run layer-show 0 "$NB" layer show "$L"
t_match layer-bar "$T_OUT" '\[#{40}\.{10}\] 80% occupied'
t_run layer-json 0 "$NB" layer show "$L" --json
t_eq layer-json-ranges "$(jf "$T_OUT" "[(e['key'], e['start'], e['end']) for e in j['experiments']]")" "[('$L-a', 0, 0.5), ('$L-b', 0.5, 0.8)]"
# a stopped experiment frees its range
"$NB" exp start "$L-b" >/dev/null && "$NB" exp stop "$L-b" >/dev/null
t_run freed-range 0 "$NB" exp create --key "$L-c" --variants c,t --namespace "$L:0.5:1"
# a namespace with overlapping experiments cannot become a layer
t_run ns-x 0 "$NB" exp create --key "$L-x1" --variants c,t --namespace "ns$run:0:0.6"
t_run ns-y 0 "$NB" exp create --key "$L-x2" --variants c,t --namespace "ns$run:0.5:1"
t_run layer-over-existing 2 "$NB" layer create "ns$run"
t_match layer-over-existing-names "$T_ERR" "\"$L-x1\" \\[0, 0.6\\) overlaps experiment \"$L-x2\""

# ---- holdouts ----
H=ho$run
t_run holdout-create 0 "$NB" holdout create "$H" --percent 10 --seed "hs-$run"
t_run holdout-bad-pct 2 "$NB" holdout create "$H-x" --percent 100
t_match holdout-bad-pct-says "$T_ERR" 'percent'
t_run holdout-unknown 2 "$NB" exp create --key "$H-bad" --variants c,t --holdout "nope-$run"
t_match holdout-unknown-says "$T_ERR" "no holdout 'nope-$run'"
E=$H-e
t_run hexp-overlap 2 "$NB" exp create --key "$E" --variants a:30,b:70 --holdout "$H" --namespace "$L:0:0.5" \
	--condition '{"country": {"$ne": "nl"}}'
"$NB" exp archive "$L-a" >/dev/null 2>&1 || { "$NB" exp start "$L-a" >/dev/null; "$NB" exp stop "$L-a" >/dev/null; }
t_run hexp-placed 0 "$NB" exp create --key "$E" --variants a:30,b:70 --holdout "$H" --namespace "$L:0:0.5" \
	--condition '{"country": {"$ne": "nl"}}'
t_run hexp-start 0 "$NB" exp start "$E"
python3 - "$run" >"$tmp/users.json" <<'PY'
import json, random, sys
rnd = random.Random(int(sys.argv[1]))
print(json.dumps([{"user_id": "ho-%s-%d" % (sys.argv[1], i),
                   "attributes": {"id": "ho-%s-%d" % (sys.argv[1], i),
                                  "country": rnd.choice(["de", "fr", "us", "nl"])}} for i in range(1000)]))
PY
python3 -c 'import json,sys; [print(json.dumps(u)) for u in json.load(open(sys.argv[1]))]' "$tmp/users.json" >"$tmp/users.jsonl"
"$NB" assign "$E" --users "$tmp/users.jsonl" >"$tmp/assign.jsonl"
t_eq assign-1000 "$(wc -l <"$tmp/assign.jsonl")" 1000
# what the holdout is by its own hash (the SDK computes it the same way below)
held=$(python3 - "$tmp/assign.jsonl" <<'PY'
import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["reason"] == "in the experiment's holdout"))
PY
)
t_match held-some "$held" '^[0-9]+$'
t_eq pg-members "$(sql "SELECT count(*) FROM assignments WHERE experiment = '$H'")" 1000
t_eq pg-held-out "$(sql "SELECT count(*) FROM assignments WHERE experiment = '$H' AND variant = 'holdout'")" "$held"
t_eq pg-held-out-unassigned "$(sql "SELECT count(*) FROM assignments a JOIN assignments h ON h.user_id = a.user_id AND h.experiment = '$H' AND h.variant = 'holdout' WHERE a.experiment = '$E'")" 0
t_match pg-held-out-share "$(sql "SELECT round(100.0 * count(*) FILTER (WHERE variant = 'holdout') / count(*)) FROM assignments WHERE experiment = '$H'")" '^([6-9]|1[0-4])$'
t_run holdout-show 0 "$NB" holdout show "$H" --json
t_eq holdout-show-counts "$(jf "$T_OUT" "(j['members'], j['held_out'], j['experiments'], j['percent'])")" "(1000, $held, ['$E'], 10)"

# /v1/assign and the GrowthBook payload
t_run tokens 0 "$NB" token create --name "ly-$run" --scopes assign,features --json
TOK=$(jf "$T_OUT" 'j["token"]')
# the server learns new tokens within a second (it re-reads them every 0.5 s)
end=$((SECONDS + 10))
while :; do
	curl -s "$NEONBLUE_API/api/features/$TOK" >"$tmp/payload.json"
	grep -q '"features"' "$tmp/payload.json" || [ $SECONDS -ge $end ] || { sleep 0.2; continue; }
	break
done
t_eq payload-no-holdout-feature "$(jf "$(cat "$tmp/payload.json")" "'$H' in j['features']")" False
t_eq payload-filters "$(jf "$(cat "$tmp/payload.json")" "[(f['seed'], f['ranges'], f['hashVersion']) for f in j['features']['$E']['rules'][0]['filters']]")" "[('__$L', [[0, 0.5]], 1), ('hs-$run', [[0.1, 1]], 2)]"
node "$NB_ROOT/tests/integration/serve_sdk.js" "$tmp/payload.json" "$tmp/users.json" >"$tmp/sdk.tsv"
python3 - "$E" "$tmp/assign.jsonl" "$tmp/sdk.tsv" "$NEONBLUE_API" "$TOK" "$tmp/users.json" >"$tmp/diff.out" <<'PY'
import http.client, json, sys
E, assign, sdk, url, tok, ufile = sys.argv[1:]
users = {u["user_id"]: u["attributes"] for u in json.load(open(ufile))}
sdkv = {}
for line in open(sdk):
    u, k, v = line.rstrip("\n").split("\t")
    if k == E:
        sdkv[u] = None if v == "null" else v
host, port = url[7:].split(":")
c = http.client.HTTPConnection(host, int(port))
agree = differ = api_agree = api_n = 0
first = None
reasons = set()
for i, l in enumerate(open(assign)):
    a = json.loads(l)
    got = a["variant"] if a["in_experiment"] else None
    reasons.add(a["reason"])
    if got == sdkv.get(a["user"], "missing"):
        agree += 1
    else:
        differ += 1
        first = first or (a, sdkv.get(a["user"], "missing"))
    if i < 200:  # the server agrees with the command line
        c.request("POST", "/v1/assign", json.dumps({"experiment": E, "user_id": a["user"],
                                                      "attributes": users[a["user"]]}),
                  {"Authorization": "Bearer " + tok})
        r = json.loads(c.getresponse().read())
        api_n += 1
        api_agree += (r["variant"] if r["in_experiment"] else None) == got
print(agree, differ, first, api_agree == api_n, len(reasons))
PY
t_match sdk-agrees-1000 "$(cat "$tmp/diff.out")" '^1000 0 None True 4$'
# ---- configuration periods: a re-weight mid-run ----
P=per$run
t_run metric 0 "$NB" metric create --key "$P-buy" --kind binomial --events "buy-$run"
t_run pexp 0 "$NB" exp create --key "$P" --variants a:50,b:50 --metrics "$P-buy:primary"
t_run pexp-start 0 "$NB" exp start "$P"
seq -f "p1-$run-%g" 0 299 | "$NB" assign "$P" --users - >"$tmp/p1.jsonl"
t_run reweight-refused 2 "$NB" exp edit "$P" --variants a:20,b:80
t_run reweight 0 "$NB" exp edit "$P" --variants a:20,b:80 --reseed
seq -f "p2-$run-%g" 0 399 | "$NB" assign "$P" --users - >"$tmp/p2.jsonl"
# the first period's users keep their stored variant
seq -f "p1-$run-%g" 0 49 | "$NB" assign "$P" --users - >"$tmp/p1again.jsonl"
vs() { python3 -c 'import json,sys; print([(a["user"], a["variant"], a["reason"]) for a in map(json.loads, sys.stdin)])'; }
t_eq p1-sticky "$(vs <"$tmp/p1again.jsonl" | sed 's/stored assignment/X/g')" "$(head -50 "$tmp/p1.jsonl" | vs | sed 's/assigned by hash/X/g')"
for u in $(seq 0 5 299); do echo "{\"user_id\":\"p1-$run-$u\",\"type\":\"buy-$run\"}"; done >"$tmp/ev.jsonl"
for u in $(seq 0 2 399); do echo "{\"user_id\":\"p2-$run-$u\",\"type\":\"buy-$run\"}"; done >>"$tmp/ev.jsonl"
t_run ingest 0 "$NB" ingest "$tmp/ev.jsonl"
# wait until ClickHouse has every assignment, event and the audit rows (CDC)
chq() { curl -s "$NEONBLUE_CLICKHOUSE/" --data-binary "$1"; }
for i in $(seq 1 300); do
	[ "$(chq "SELECT count() FROM neonblue.assignments FINAL WHERE experiment = '$P' AND _deleted = 0")" = 700 ] &&
	[ "$(chq "SELECT count() FROM neonblue.events FINAL WHERE type = 'buy-$run' AND _deleted = 0")" = 260 ] &&
	[ "$(chq "SELECT count() FROM neonblue.audit_log FINAL WHERE entity = 'experiment' AND key = '$P' AND _deleted = 0")" = 3 ] && break
	sleep 0.2
done
t_eq ch-audit-versions "$(chq "SELECT groupArray(action) FROM (SELECT action FROM neonblue.audit_log FINAL WHERE entity = 'experiment' AND key = '$P' ORDER BY id)")" "['create','start','reseed']"
t_run report 0 "$NB" report "$P" --json
R=$T_OUT
t_eq periods "$(jf "$R" "[(p['version'], p['users'], p['changes']) for p in j['periods']]")" "[(1, 300, []), (2, 400, ['weights', 'seed'])]"
t_eq config-changed "$(jf "$R" "(j['config_changed'], j['rebucketed'])")" "(True, True)"
t_eq pooled-users "$(jf "$R" "sum(v['users'] for v in j['variants'])")" 700
# each period: its own users, its own weights, its own conversions
want=$(python3 - "$tmp/p1.jsonl" "$tmp/p2.jsonl" "$run" <<'PY'
import json, sys
out = []
for f, step in ((sys.argv[1], 5), (sys.argv[2], 2)):
    n = {}; c = {}
    for l in open(f):
        a = json.loads(l)
        v = a["variant"]; i = int(a["user"].rsplit("-", 1)[1])
        n[v] = n.get(v, 0) + 1
        c[v] = c.get(v, 0) + (i % step == 0)
    out.append([(v, n[v], c[v]) for v in ("a", "b")])
print(out)
PY
)
t_eq period-users "$(jf "$R" "[[(r['variant'], r['users'], r['count']) for r in p['report']['metrics'][0]['results']] for p in j['periods']]")" "$want"
t_eq period-weights "$(jf "$R" "[[v['weight'] for v in p['report']['variants']] for p in j['periods']]")" "[[0.5, 0.5], [0.2, 0.8]]"
# the reseed re-bucketed about half of the 300 users already assigned
t_match rebucketed "$(jf "$R" "(lambda b: (b['earlier_users'], 100 < b['rebucketed'] < 200, b['excluded']))(j['periods'][1]['rebucketing'])")" '^\(300, True, 0\)$'
t_run report-md 0 "$NB" report "$P"
t_match report-md-says "$T_OUT" 'The configuration changed mid-run'
t_match report-md-rebucketed "$T_OUT" 're-bucketed [0-9]+ and left out 0 of the 300 users already assigned'
t_run report-pooled 0 "$NB" report "$P" --json --pooled
t_eq report-pooled-no-periods "$(jf "$T_OUT" "'periods' in j")" False
t_done
