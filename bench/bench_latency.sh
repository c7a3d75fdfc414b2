#!/usr/bin/env bash
# bench_latency.sh — end-to-end latency of the supervised pipeline: from a
# PostgreSQL commit to the row being queryable in ClickHouse, p50 and p99, at
# a steady rate (default 5,000 events/s: 10 transactions of 500 events per
# second) on a stack of its own (`stack up` runs the relay and the sink).
#
# Each transaction inserts its 500 events with ts = clock_timestamp() and
# value = its batch number, then commits at once. A poller asks ClickHouse
# every 20 ms which batches are complete (500 distinct event ids) and takes
# latency = the time it first saw a batch complete − the batch's latest ts
# (same host clock). The poll interval bounds the error (+0–20 ms).
# Usage: bench/bench_latency.sh [RATE_EVENTS_PER_S] [SECONDS]
set -u
cd "$(dirname "$0")/.."
NB=${NB:-$PWD/build/neonblue}
RATE=${1:-5000}
SECS=${2:-30}
PER_TX=$((RATE / 10))
root=$(mktemp -d /tmp/nblat.XXXXXX)
H=$root/stack
cleanup() {
	[ -n "${PSQL_PID:-}" ] && kill "$PSQL_PID" 2>/dev/null
	"$NB" stack down --home "$H" >/dev/null 2>&1
	rm -rf "$root"
}
trap cleanup EXIT
"$NB" stack up --home "$H" >"$root/up.log" 2>&1 || { cat "$root/up.log"; exit 1; }
set -a; . "$H/stack.env"; set +a

python3 - "$NEONBLUE_PG" "$NEONBLUE_CLICKHOUSE" "$RATE" "$SECS" "$PER_TX" <<'EOF'
import subprocess, sys, threading, time, urllib.request

pg, ch, rate, secs, per_tx = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
tx_per_s = rate / per_tx
nbatches = int(secs * tx_per_s)

psql = subprocess.Popen(["psql", pg, "-XAtq", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL, text=True)
# sent = wall time each batch's INSERT was handed to psql (for the rate it sustained)
def produce():
    t0 = time.time()
    for b in range(1, nbatches + 1):
        due = t0 + (b - 1) / tx_per_s
        d = due - time.time()
        if d > 0:
            time.sleep(d)
        psql.stdin.write(
            f"INSERT INTO events (event_id, user_id, type, ts, value) SELECT gen_random_uuid(), "
            f"'lat-' || g, 'lat', clock_timestamp(), {b} FROM generate_series(1, {per_tx}) g;\n")
        psql.stdin.flush()
    psql.stdin.write("SELECT 1;\n")
    psql.stdin.close()

def chq(q):
    req = urllib.request.Request(ch + "/", data=q.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode()

# Warm-up: one event first, so that the topic exists and the sink's group
# has its partitions before the clock runs (the mock creates a topic on its
# first message and the sink's regex subscription sees it within ~2 s).
subprocess.run(["psql", pg, "-XAtqc", "INSERT INTO events (event_id, user_id, type, ts, value) "
                "VALUES (gen_random_uuid(), 'lat-warm', 'lat', clock_timestamp(), 0)"], check=True)
t_w = time.time()
while time.time() - t_w < 90:
    if chq("SELECT count() FROM neonblue.events WHERE type = 'lat' AND value = 0").strip() == "1":
        break
    time.sleep(0.1)
print(f"warm-up event in ClickHouse after {time.time() - t_w:.1f} s")

lat = {}
t_start = time.time()
prod = threading.Thread(target=produce)
prod.start()
lo = 1
deadline = t_start + secs + 60
while len(lat) < nbatches and time.time() < deadline:
    t = time.time()
    out = chq(f"SELECT value, uniqExact(event_id), max(toUInt64(ts) * 1000000 + ts_us) "
              f"FROM neonblue.events WHERE type = 'lat' AND value >= {lo} GROUP BY value FORMAT TSV")
    seen = time.time()
    for line in out.splitlines():
        b, n, mx = line.split("\t")
        b = int(float(b))
        if int(n) >= per_tx and b not in lat:
            lat[b] = seen - int(mx) / 1e6
    while lo in lat:
        lo += 1
    time.sleep(max(0, 0.02 - (time.time() - t)))
prod.join()
psql.wait()
# commit rate actually reached: PostgreSQL's own first and last ts of the run
out = subprocess.run(["psql", pg, "-XAtqc",
                      "SELECT count(*), extract(epoch FROM max(ts) - min(ts)) FROM events WHERE type = 'lat' AND value > 0"],
                     capture_output=True, text=True).stdout.strip().split("|")
n, span = int(out[0]), float(out[1] or 0)
warm = [lat[b] for b in sorted(lat) if b > tx_per_s]  # the first second is warm-up
warm.sort()
def pct(p):
    return warm[min(len(warm) - 1, int(p / 100 * len(warm)))] * 1000 if warm else float("nan")
print(f"target {rate} events/s ({per_tx} per transaction, {tx_per_s:g} tx/s) for {secs} s: "
      f"{n} events committed at {n / span if span else 0:.0f} events/s; "
      f"{len(lat)}/{nbatches} transactions seen complete in ClickHouse")
print(f"commit -> queryable in ClickHouse: p50 {pct(50):.0f} ms, p90 {pct(90):.0f} ms, "
      f"p99 {pct(99):.0f} ms, max {warm[-1] * 1000 if warm else float('nan'):.0f} ms "
      f"(over {len(warm)} transactions after 1 s warm-up; poll every 20 ms)")
worst = sorted(lat, key=lambda b: -lat[b])[:5]
print("slowest transactions (second of the run: ms):",
      ", ".join(f"{(b - 1) / tx_per_s:.1f}: {lat[b] * 1000:.0f}" for b in worst))
ok = len(lat) == nbatches and warm and pct(99) < 1000
print("target p99 < 1000 ms:", "met" if ok else "NOT met")
sys.exit(0 if ok else 1)
EOF
