#!/usr/bin/env bash
# ingest.sh — `neonblue ingest` and `neonblue track` against the embedded
# stack: 100,000 events with one bad line (rejected whole, then
# --skip-invalid), re-ingest skipped, every bad line listed, track flags.
# needs: stack
. "$(dirname "$0")/../lib/t.sh"
: "${NEONBLUE_HOME:?needs a running stack (tests/run.sh starts one)}"
. "$NEONBLUE_HOME/stack.env"
export NEONBLUE_PG
sql() { psql "$NEONBLUE_PG" -X -Atqc "$1"; }
tmp=$(mktemp -d /tmp/nbingest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
P=ing$$- # user prefix of this run
count() { sql "SELECT count(*) FROM events WHERE user_id LIKE '$P%'"; }

# 100,000 lines over three months, line 50,000 broken (ts is not a date)
python3 - "$tmp/events.jsonl" "$P" <<'EOF'
import json, sys, uuid, random
random.seed(7)
path, prefix = sys.argv[1], sys.argv[2]
with open(path, "w") as f:
    for i in range(1, 100001):
        e = {"event_id": str(uuid.uuid4()),
             "user_id": f"{prefix}{i % 5000}", "type": random.choice(["view", "click", "purchase"]),
             "ts": f"2026-{8 + i % 3:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z"}
        if e["type"] == "purchase":
            e["value"] = round(random.uniform(1, 100), 2)
            e["properties"] = {"sku": f"s{i % 40}", "note": "tab\there \"quoted\" back\\slash"}
        if i % 2:
            e["experiment"] = "checkout"
        if i == 50000:
            e["ts"] = "yesterday"
        f.write(json.dumps(e) + "\n")
EOF
before=$(count)
t_run reject-whole-file 2 "$NB" ingest "$tmp/events.jsonl"
t_match reject-names-line "$T_ERR" 'line 50000: ts "yesterday" is not an ISO-8601 timestamp'
t_match reject-says-nothing-written "$T_ERR" '1 invalid line in .*nothing was written'
t_eq reject-count-unchanged "$(count)" "$before"

t_run skip-invalid 0 "$NB" ingest "$tmp/events.jsonl" --skip-invalid --json
t_eq skip-invalid-counts "$T_OUT" '{"lines":100000,"valid":99999,"invalid":1,"inserted":99999,"skipped":0}'
t_eq skip-invalid-rows "$(count)" $((before + 99999))
t_eq properties-roundtrip "$(sql "SELECT properties->>'note' FROM events WHERE user_id LIKE '$P%' AND properties IS NOT NULL LIMIT 1")" \
	"$(printf 'tab\there "quoted" back\\slash')"
t_eq values-summed "$(sql "SELECT round(sum(value)::numeric, 2) FROM events WHERE user_id LIKE '$P%'")" \
	"$(python3 -c '
import json,sys
s = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["ts"] != "yesterday": s += e.get("value", 0)
print(f"{s:.2f}")' "$tmp/events.jsonl")"
t_eq partitions-per-month "$(sql "SELECT count(DISTINCT tableoid) FROM events WHERE user_id LIKE '$P%'")" 3

t_run reingest-skipped 0 "$NB" ingest --skip-invalid --json - <"$tmp/events.jsonl"
t_eq reingest-counts "$T_OUT" '{"lines":100000,"valid":99999,"invalid":1,"inserted":0,"skipped":99999}'
t_eq reingest-rows-unchanged "$(count)" $((before + 99999))

# a file in time order whose later batches reach new months (partitions are
# created mid-load; this once deadlocked): 3 months of a year nobody used
Y=$((2100 + $$ % 99))
python3 - "$tmp/months.jsonl" "$P" "$Y" <<'EOF2'
import json, sys, uuid
path, prefix, year = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path, "w") as f:
    for i in range(45000):
        month, day = 1 + i // 15000, 1 + (i % 15000) // 1000
        f.write(json.dumps({"event_id": str(uuid.uuid4()), "user_id": f"{prefix}m{i}", "type": "view",
                            "ts": f"{year}-{month:02d}-{day:02d}T12:00:00Z"}) + "\n")
EOF2
t_run months-mid-load 0 timeout 300 "$NB" ingest "$tmp/months.jsonl" --json
t_match months-mid-load-counts "$T_OUT" '"inserted":45000,"skipped":0'
t_eq months-mid-load-partitions "$(sql "SELECT count(DISTINCT tableoid) FROM events WHERE user_id LIKE '${P}m%'")" 3

# an event_id repeated inside one file is loaded once
D1=$(python3 -c "import uuid; print(uuid.uuid4())")
printf '{"event_id":"%s","user_id":"%sd","type":"a"}\n{"event_id":"%s","user_id":"%sd","type":"b"}\n' \
	"$D1" "$P" "$D1" "$P" >"$tmp/dup.jsonl"
t_run dup-in-file 0 "$NB" ingest "$tmp/dup.jsonl" --json
t_match dup-in-file-counts "$T_OUT" '"inserted":1,"skipped":1'
t_eq dup-in-file-first-wins "$(sql "SELECT type FROM events WHERE event_id = '$D1'")" a

# every bad line is listed, with why
cat >"$tmp/bad.jsonl" <<EOF
{"user_id":"${P}x","type":"view"}
{"user_id":"${P}x"}
not json

{"user_id":"${P}x","type":"view","value":"12"}
{"user_id":"${P}x","type":"view","event_id":"not-a-uuid"}
{"user_id":"${P}x","type":"view","properties":[1]}
{"user_id":"${P}x","type":"view","experiment":"Bad Key"}
{"user_id":"${P}x","type":"view","colour":"red"}
{"user_id":7,"type":"view"}
EOF
b=$(count)
t_run bad-lines 2 "$NB" ingest "$tmp/bad.jsonl"
t_eq bad-lines-listed "$(grep -o '^line [0-9]*: [a-z_]*' <<<"$T_ERR" | tr '\n' '|')" \
	'line 2: type|line 3: not|line 5: value|line 6: event_id|line 7: properties|line 8: experiment|line 9: unknown|line 10: user_id|'
t_match bad-lines-count "$T_ERR" '8 invalid lines'
t_eq bad-lines-nothing-written "$(count)" "$b"
t_run bad-lines-skip 0 "$NB" ingest "$tmp/bad.jsonl" --skip-invalid
t_match bad-lines-skip-report "$T_OUT" 'ingested 1 events: 1 new, 0 skipped .*8 invalid lines skipped'

# an old month gets its partition on the fly; explicit offsets are honoured
echo "{\"user_id\":\"${P}old\",\"type\":\"view\",\"ts\":\"2021-02-03T04:05:06.789+02:00\"}" >"$tmp/old.jsonl"
t_run old-month 0 "$NB" ingest "$tmp/old.jsonl"
t_eq old-month-ts "$(sql "SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') FROM events WHERE user_id = '${P}old'")" \
	"2021-02-03 02:05:06.789"

# --- track -------------------------------------------------------------------
ID=$(python3 -c "import uuid; print(uuid.uuid4())")
t_run track-flags 0 "$NB" track "${P}t" purchase --value 12.5 --props '{"sku":"a1"}' \
	--ts 2026-09-10T11:12:13Z --exp checkout --event-id "$ID" --json
t_match track-json "$T_OUT" "\"event_id\":\"$ID\".*\"ts\":\"2026-09-10T11:12:13.000000Z\",\"inserted\":true"
t_eq track-stored "$(sql "SELECT type, value, properties->>'sku', experiment, ts = '2026-09-10T11:12:13Z' FROM events WHERE event_id = '$ID'")" \
	"purchase|12.5|a1|checkout|t"
t_run track-again 0 "$NB" track "${P}t" purchase --event-id "$ID"
t_match track-again-skipped "$T_OUT" "already stored \\(skipped\\) event $ID"
t_eq track-again-one-row "$(sql "SELECT count(*) FROM events WHERE event_id = '$ID'")" 1
t_run track-default-id 0 "$NB" track "${P}t" view --json
t_match track-default-id-uuid "$T_OUT" '"event_id":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"'
t_run track-bad-value 2 "$NB" track u view --value 12abc
t_match track-bad-value-msg "$T_ERR" '--value "12abc" is not a number'
t_run track-bad-props 2 "$NB" track u view --props '"x"'
t_match track-bad-props-msg "$T_ERR" '--props must be a JSON object'
t_run track-bad-ts 2 "$NB" track u view --ts 2026-02-30
t_match track-bad-ts-msg "$T_ERR" 'ts "2026-02-30" is not an ISO-8601 timestamp'
t_run track-bad-exp 2 "$NB" track u view --exp 'No Such'
t_match track-bad-exp-msg "$T_ERR" 'experiment "No Such" is not a key'
t_run track-bad-id 2 "$NB" track u view --event-id 123
t_match track-bad-id-msg "$T_ERR" 'event_id must be a uuid'
t_run track-missing-type 2 "$NB" track u
t_match track-missing-type-msg "$T_ERR" 'missing TYPE'
t_run track-help 0 "$NB" track --help

t_done
