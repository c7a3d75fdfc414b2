#!/usr/bin/env bash
# bench_serve.sh — `neonblue serve` (the release build) against its baselines,
# all measured in this run on a temporary embedded stack (PostgreSQL on
# loopback, `stack up --no-pipeline`: no relay or sink competing for the CPU):
#  1. sticky POST /v1/assign for known users: throughput (wrk, the same
#     concurrency) >= 0.5 x GET /healthz of the same server; p99 < 2 ms at a
#     fixed 10,000 requests/s (build/bench/httpload, open loop: latency counted
#     from when each request was due);
#  2. new users' POST /v1/assign (one user per request, 64 connections) >= 0.8 x
#     bench/bench_assign_pg.sh's batched `neonblue assign --users` (run first);
#  3. POST /v1/events in batches of 500 >= 0.8 x `neonblue ingest` of the same
#     events; single-event POSTs from 64 connections >= 10,000 events/s, every
#     2xx counted and found in PostgreSQL;
#  4. GET /api/features with 1,000 running experiments: the cached payload in
#     < 1 ms (median of 2,000 requests one after the other), and rebuilt after
#     a change.
# Prints each figure and ratio; exits 1 when a goal is missed.
# Usage: bench/bench_serve.sh [SECONDS [SECTIONS]]
#   SECONDS: per throughput run (default 10); SECTIONS: the sections to run,
#   e.g. 23 for 2 and 3 (default 1234; section 2's baseline runs only with 2)
set -eu
cd "$(dirname "$0")/.."
NB=${NB:-$PWD/build/neonblue}
LOAD=$PWD/build/bench/httpload
SECS=${1:-10}
SECTIONS=${2:-1234}
run() { [[ $SECTIONS == *$1* ]]; }
KNOWN=10000
NEW=30000
EVENTS=100000
SINGLE=50000
EXPS=1000
for t in wrk "$LOAD"; do
	command -v "$t" >/dev/null || { echo "bench_serve: $t missing (make deps; make build/bench/httpload)"; exit 1; }
done
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"

# ---- 2's baseline first, on its own stack, so that nothing else runs meanwhile ----
if run 2; then
	base_out=$(bash bench/bench_assign_pg.sh 100000)
	echo "$base_out" | sed 's/^/  bench_assign_pg: /'
	base_assign=$(sed -n 's/^persisted assignments: \([0-9]*\)\/s.*/\1/p' <<<"$base_out")
	[ -n "$base_assign" ] || { echo "bench_serve: no figure from bench_assign_pg.sh"; exit 1; }
fi

tmp=$(mktemp -d /tmp/nbbench-serve.XXXXXX)
home=$tmp/home
spid=
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	"$NB" stack down --home "$home" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
"$NB" stack up --no-pipeline --home "$home" >/dev/null
. "$home/stack.env"
export NEONBLUE_HOME=$home NEONBLUE_PG
sql() { psql "$NEONBLUE_PG" -X -Atqc "$1"; }
py() { python3 -c "$@"; }
now() { date +%s.%N; }
status=0
goal() { # NAME VALUE OP TARGET
	if py "import sys; sys.exit(0 if $2 $3 $4 else 1)"; then echo "  goal $1: $2 $3 $4 ok"
	else echo "  goal $1: $2 $3 $4 MISSED"; status=1; fi
}

TOK=$("$NB" token create --name bench --scopes assign,track,read,admin 2>/dev/null)
CK=$("$NB" token create --name bench-client --scopes features 2>/dev/null)
A="Authorization: Bearer $TOK"
for e in sb sbnew; do
	"$NB" exp create --key $e --name "Serve bench" --variants control:50,treatment:50 >/dev/null
	"$NB" exp start $e >/dev/null
done
python3 - "$tmp" "$KNOWN" "$NEW" "$EVENTS" "$SINGLE" <<'PY'
import json, sys, uuid, random
d, known, new, events, single = sys.argv[1], *map(int, sys.argv[2:])
random.seed(1)
with open(f"{d}/known.users", "w") as f:
    f.writelines(f"known-{i:06d}\n" for i in range(known))
with open(f"{d}/known.bodies", "w") as f:
    f.writelines(json.dumps({"experiment": "sb", "user_id": f"known-{i:06d}"}) + "\n" for i in range(known))
with open(f"{d}/new.bodies", "w") as f:
    f.writelines(json.dumps({"experiment": "sbnew", "user_id": f"new-{i:07d}"}) + "\n" for i in range(new))
evs = []
for i in range(events):
    e = {"event_id": str(uuid.UUID(int=random.getrandbits(128), version=4)), "user_id": f"u{i % 20000}",
         "type": ("view", "click", "purchase")[i % 3],
         "ts": f"2026-{9 + i % 3:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i % 59:02d}.{i % 1000:03d}Z"}
    if i % 3 == 2:
        e["value"] = round(random.uniform(1, 200), 2)
        e["properties"] = {"sku": f"s{i % 97}", "qty": 1 + i % 4}
    if i % 2:
        e["experiment"] = "sb"
    evs.append(e)
with open(f"{d}/events.jsonl", "w") as f:
    f.writelines(json.dumps(e) + "\n" for e in evs)
with open(f"{d}/batches.bodies", "w") as f:
    f.writelines(json.dumps(evs[i:i + 500]) + "\n" for i in range(0, events, 500))
with open(f"{d}/single.bodies", "w") as f:
    for i in range(single):
        f.write(json.dumps({"event_id": str(uuid.UUID(int=random.getrandbits(128), version=4)),
                            "user_id": f"s{i % 5000}", "type": "single"}) + "\n")
PY
sql "SELECT neonblue_ensure_event_partitions('2026-09-01', now())" >/dev/null
"$NB" assign sb --users "$tmp/known.users" >/dev/null

port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
U=http://127.0.0.1:$port
"$NB" serve --listen "127.0.0.1:$port" >"$tmp/serve.log" 2>&1 &
spid=$!
for _ in $(seq 100); do curl -sf "$U/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$U/readyz" >/dev/null || { echo "bench_serve: the server did not start"; cat "$tmp/serve.log"; exit 1; }
field() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
wrk_rps() { sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$1" | cut -d. -f1; }
wrk_bad() { sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' <<<"$1"; }

# ---- 1. sticky assignment of known users ----
if run 1; then
	echo "-- 1. sticky POST /v1/assign, $KNOWN known users (stored before the server started)"
	first=$("$LOAD" -c 32 -H "$A" "127.0.0.1:$port" /v1/assign "$tmp/known.bodies")
	echo "  first request of each known user (read from PostgreSQL): $(field rps "$first") requests/s, $(field ok "$first") ok of $(field requests "$first")"
	[ "$(field ok "$first")" = "$KNOWN" ] || { echo "  known users refused"; status=1; }
	h=$(wrk -t2 -c32 -d"${SECS}s" "$U/healthz")
	a=$(wrk -t2 -c32 -d"${SECS}s" -s bench/serve_assign.lua -H "$A" "$U/" -- "$KNOWN")
	h_rps=$(wrk_rps "$h")
	a_rps=$(wrk_rps "$a")
	a_bad=$(wrk_bad "$a")
	echo "  GET /healthz: $h_rps requests/s; POST /v1/assign (known users): $a_rps requests/s (wrk -t2 -c32, ${SECS} s each; non-2xx: ${a_bad:-0})"
	[ -z "$a_bad" ] || { echo "  assignments refused"; status=1; }
	goal assign-vs-healthz "$(py "print(f'{$a_rps / $h_rps:.2f}')")" ">=" 0.5
	r=$("$LOAD" -c 32 -r 10000 -d "$SECS" -H "$A" "127.0.0.1:$port" /v1/assign "$tmp/known.bodies")
	echo "  at a fixed 10,000 requests/s (open loop, 32 connections, ${SECS} s): $(field rps "$r") requests/s," \
		"p50 $(field p50_us "$r") µs, p90 $(field p90_us "$r") µs, p99 $(field p99_us "$r") µs, p99.9 $(field p999_us "$r") µs, max $(field max_us "$r") µs, $(field bad "$r") non-2xx"
	[ "$(field bad "$r")" = 0 ] || status=1
	goal assign-p99-ms "$(py "print($(field p99_us "$r") / 1000)")" "<" 2
fi
# ---- 2. new users ----
if run 2; then
	echo "-- 2. POST /v1/assign of $NEW new users, one per request"
	n=$("$LOAD" -c 64 -H "$A" "127.0.0.1:$port" /v1/assign "$tmp/new.bodies")
	n_rps=$(field rps "$n")
	stored=$(sql "SELECT count(*) FROM assignments WHERE experiment = 'sbnew'")
	echo "  $n_rps new users/s (64 connections), $(field ok "$n") ok, $stored rows stored; bench_assign_pg.sh batched: $base_assign/s"
	[ "$stored" = "$NEW" ] && [ "$(field ok "$n")" = "$NEW" ] || { echo "  not every new user stored"; status=1; }
	goal new-users-vs-batched "$(py "print(f'{$n_rps / $base_assign:.2f}')")" ">=" 0.8
fi
# ---- 3. events ----
if run 3; then
	echo "-- 3. POST /v1/events"
	best_nb=0 best_http=0
	for round in 1 2; do
		sql "TRUNCATE events"
		t0=$(now)
		"$NB" ingest "$tmp/events.jsonl" >/dev/null
		t1=$(now)
		[ "$(sql "SELECT count(*) FROM events")" = "$EVENTS" ] || { echo "  ingest stored a wrong count"; exit 1; }
		sql "TRUNCATE events"
		b=$("$LOAD" -c 4 -H "$A" "127.0.0.1:$port" /v1/events "$tmp/batches.bodies")
		[ "$(sql "SELECT count(*) FROM events")" = "$EVENTS" ] && [ "$(field bad "$b")" = 0 ] ||
			{ echo "  the batches stored a wrong count: $b"; exit 1; }
		r_nb=$(py "print(round($EVENTS / ($t1 - $t0)))")
		r_http=$(py "print(round($EVENTS / $(field secs "$b")))")
		echo "  round $round: neonblue ingest $r_nb events/s; POST /v1/events, 500 per request, 4 connections: $r_http events/s"
		[ "$r_nb" -gt "$best_nb" ] && best_nb=$r_nb
		[ "$r_http" -gt "$best_http" ] && best_http=$r_http
	done
	goal events-batches-vs-ingest "$(py "print(f'{$best_http / $best_nb:.2f}')")" ">=" 0.8
	sql "TRUNCATE events"
	s=$("$LOAD" -c 64 -H "$A" "127.0.0.1:$port" /v1/events "$tmp/single.bodies")
	in_pg=$(sql "SELECT count(*) FROM events WHERE type = 'single'")
	echo "  single-event POSTs, 64 connections: $(field rps "$s") events/s; $(field ok "$s") answered 2xx, $in_pg in PostgreSQL (p50 $(field p50_us "$s") µs, p99 $(field p99_us "$s") µs)"
	[ "$in_pg" = "$(field ok "$s")" ] && [ "$in_pg" = "$SINGLE" ] || { echo "  answered and stored differ"; status=1; }
	goal single-events-per-s "$(field rps "$s")" ">=" 10000
fi
# ---- 4. features ----
if run 4; then
	echo "-- 4. GET /api/features with $EXPS running experiments"
	python3 - "$port" "$TOK" "$EXPS" <<-'PY'
import http.client, json, sys
port, tok, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
h = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
have = 2  # sb, sbnew
for i in range(n - have):
    k = f"feat-{i:04d}"
    body = {"key": k, "name": f"Feature {i}", "coverage": 0.5 + (i % 5) / 10,
            "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}]}
    for path, b in ((("/v1/experiments"), json.dumps(body)), (f"/v1/experiments/{k}/start", "")):
        c.request("POST", path, b, h)
        r = c.getresponse()
        r.read()
        if r.status not in (200, 201):
            sys.exit(f"{path}: {r.status}")
	PY
	running=$(sql "SELECT count(*) FROM experiments WHERE status = 'running'")
	t0=$(now)
	curl -sf "$U/api/features/$CK" -o "$tmp/payload.json"
	t1=$(now)
	nfeat=$(py "import json; print(len(json.load(open('$tmp/payload.json'))['features']))")
	f=$("$LOAD" -c 1 -n 2000 "127.0.0.1:$port" "/api/features/$CK")
	echo "  $running running, $nfeat features, $(stat -c %s "$tmp/payload.json") bytes; first request (built) $(py "print(round(($t1 - $t0) * 1000, 1))") ms (curl);" \
		"cached, 2,000 requests one after the other: p50 $(field p50_us "$f") µs, p90 $(field p90_us "$f") µs, p99 $(field p99_us "$f") µs, $(field bad "$f") non-2xx"
	[ "$nfeat" = "$EXPS" ] && [ "$(field bad "$f")" = 0 ] || { echo "  the payload lacks experiments"; status=1; }
	goal features-ms "$(py "print($(field p50_us "$f") / 1000)")" "<" 1
	"$NB" exp stop feat-0000 >/dev/null
	sleep 0.2 # the running experiments are read at most every 100 ms
	if curl -sf "$U/api/features/$CK" | grep -q '"feat-0000"'; then
		echo "  after exp stop feat-0000: still in the payload (not rebuilt) MISSED"; status=1
	else
		echo "  after exp stop feat-0000: gone from the next payload (rebuilt)"
	fi
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
