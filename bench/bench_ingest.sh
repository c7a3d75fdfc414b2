#!/usr/bin/env bash
# bench_ingest.sh — `neonblue ingest` rows/s against `psql -c "\copy …"` of the
# same events (as TSV) into the same table, in the same run, on a temporary
# embedded stack. Target: ratio >= 0.8. Usage: bench/bench_ingest.sh [ROWS]
set -eu
cd "$(dirname "$0")/.."
NB=${NB:-$PWD/build/neonblue}
ROWS=${1:-200000}
tmp=$(mktemp -d /tmp/nbbench-ingest.XXXXXX)
home=$tmp/home
cleanup() { "$NB" stack down --home "$home" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
"$NB" stack up --home "$home" >/dev/null
. "$home/stack.env"
export NEONBLUE_HOME=$home
sql() { psql "$NEONBLUE_PG" -X -Atqc "$1"; }

python3 - "$tmp" "$ROWS" <<'PY'
import json, sys, uuid, random
d, n = sys.argv[1], int(sys.argv[2])
random.seed(1)
def esc(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
with open(f"{d}/events.jsonl", "w") as j, open(f"{d}/events.tsv", "w") as t:
    for i in range(n):
        eid = str(uuid.uuid4())
        ts = f"2026-{9 + i % 3:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i % 59:02d}.{i % 1000:03d}Z"
        e = {"event_id": eid, "user_id": f"u{i % 20000}", "type": ("view", "click", "purchase")[i % 3], "ts": ts}
        props = None
        if i % 3 == 2:
            e["value"] = round(random.uniform(1, 200), 2)
            e["properties"] = props = {"sku": f"s{i % 97}", "qty": 1 + i % 4}
        if i % 2:
            e["experiment"] = "checkout"
        j.write(json.dumps(e) + "\n")
        t.write("\t".join([eid, e["user_id"], e["type"], ts,
                           repr(e["value"]) if "value" in e else "\\N",
                           esc(json.dumps(props)) if props else "\\N",
                           e.get("experiment", "\\N")]) + "\n")
PY
sql "SELECT neonblue_ensure_event_partitions('2026-09-01', '2026-11-30')" >/dev/null

now() { date +%s.%N; }
best_nb=0 best_psql=0
for round in 1 2 3; do
	sql "TRUNCATE events"
	t0=$(now)
	"$NB" ingest "$tmp/events.jsonl" >/dev/null
	t1=$(now)
	[ "$(sql "SELECT count(*) FROM events")" = "$ROWS" ] || { echo "ingest stored a wrong count"; exit 1; }
	sql "TRUNCATE events"
	t2=$(now)
	psql "$NEONBLUE_PG" -X -q -c "\\copy events (event_id, user_id, type, ts, value, properties, experiment) FROM '$tmp/events.tsv'"
	t3=$(now)
	[ "$(sql "SELECT count(*) FROM events")" = "$ROWS" ] || { echo "psql stored a wrong count"; exit 1; }
	r_nb=$(python3 -c "print(round($ROWS / ($t1 - $t0)))")
	r_psql=$(python3 -c "print(round($ROWS / ($t3 - $t2)))")
	echo "round $round: neonblue ingest $r_nb rows/s, psql \\copy $r_psql rows/s"
	[ "$r_nb" -gt "$best_nb" ] && best_nb=$r_nb
	[ "$r_psql" -gt "$best_psql" ] && best_psql=$r_psql
done
ratio=$(python3 -c "print(f'{$best_nb / $best_psql:.2f}')")
echo "ingest: $best_nb rows/s (JSON Lines, validated, dedup by event_id, one transaction); psql \\copy of the same rows as TSV: $best_psql rows/s; ratio $ratio (target >= 0.8) — best of 3, $ROWS rows"
python3 -c "import sys; sys.exit(0 if $ratio >= 0.8 else 1)"
