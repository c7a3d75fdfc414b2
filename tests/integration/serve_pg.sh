#!/usr/bin/env bash
# serve_pg.sh — `neonblue serve` while its PostgreSQL is stopped and started
# again under load: 8 clients post events steadily through /v1/events (each
# with its own event_id); once they are committed steadily PostgreSQL is
# stopped (pg_ctl stop -m fast) for 3 s and started again. No acknowledged event is lost and none answered 503 is
# stored: the event ids in PostgreSQL are exactly the ones answered 2xx. The
# server stays up (/healthz 200, /readyz 503 during the outage) and recovers
# by itself. A throwaway PostgreSQL of its own (run as postgres).
. "$(dirname "$0")/../lib/t.sh"
set -u
tmp=$(mktemp -d /tmp/nbservepg.XXXXXX)
chmod 755 "$tmp"
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pgport=$(t_free_port)
PG="host=127.0.0.1 port=$pgport user=postgres dbname=nb"
unset NEONBLUE_PG NEONBLUE_CLICKHOUSE NEONBLUE_KAFKA NEONBLUE_API
export NEONBLUE_HOME=$tmp/home
spid= lpid=
pg_start() {
	as_pg "$bin/pg_ctl" -D "$tmp/pg" -l "$tmp/pgrun/pg.log" -w -o "-c listen_addresses=127.0.0.1 -c port=$pgport -c unix_socket_directories=$tmp/pgrun -c fsync=off" start >/dev/null
}
pg_stop() { as_pg "$bin/pg_ctl" -D "$tmp/pg" -m fast -w stop >/dev/null 2>&1; }
cleanup() {
	[ -n "$lpid" ] && kill "$lpid" 2>/dev/null
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	pg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
sql() { psql "$PG" -X -Atqc "$1"; }

mkdir -p "$tmp/pg" "$tmp/pgrun" "$tmp/home"
chown postgres "$tmp/pg" "$tmp/pgrun" 2>/dev/null
as_pg "$bin/initdb" -D "$tmp/pg" -U postgres -A trust >/dev/null || { t_fail setup "initdb failed"; t_done; exit 1; }
pg_start || { t_fail setup "PostgreSQL did not start: $(tail -5 "$tmp/pgrun/pg.log")"; t_done; exit 1; }
psql "host=127.0.0.1 port=$pgport user=postgres dbname=postgres" -X -qc "CREATE DATABASE nb"
t_run migrate 0 "$NB" --pg "$PG" migrate
t_run token 0 "$NB" --pg "$PG" token create --name load --scopes track,read
TOK=$T_OUT
port=$(t_free_port)
U=http://127.0.0.1:$port
"$NB" --pg "$PG" serve --listen "127.0.0.1:$port" --threads 4 >"$tmp/serve.log" 2>&1 &
spid=$!
for _ in $(seq 50); do curl -sf "$U/healthz" >/dev/null && break; sleep 0.1; done
t_eq ready-before "$(curl -s -o /dev/null -w '%{http_code}' "$U/readyz")" 200

# ---- the load: 8 clients, one or five events a request, until told to stop ----
cat >"$tmp/load.py" <<'PY'
import http.client, json, os, sys, threading, time, uuid
url, tok, stopfile, out = sys.argv[1:]
host, port = url[7:].split(":")
lock = threading.Lock()
acked, codes, errors = [], {}, []
def client(n):
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    i = 0
    while not os.path.exists(stopfile):
        i += 1
        k = 1 if i % 2 else 5
        evs = [{"event_id": str(uuid.uuid4()), "user_id": "u%d-%d" % (n, i), "type": "pgload"}
               for _ in range(k)]
        try:
            c.request("POST", "/v1/events", json.dumps(evs if k > 1 else evs[0]),
                      {"Authorization": "Bearer " + tok})
            r = c.getresponse()
            body = r.read()
        except Exception as e:  # the server must stay up: counted, and fails the test
            with lock:
                errors.append(repr(e))
            c.close()
            c = http.client.HTTPConnection(host, int(port), timeout=30)
            time.sleep(0.05)
            continue
        with lock:
            codes[r.status] = codes.get(r.status, 0) + 1
            if 200 <= r.status < 300:
                acked.extend(e["event_id"] for e in evs)
        if r.status == 503:
            time.sleep(0.02)
ts = [threading.Thread(target=client, args=(n,)) for n in range(8)]
for t in ts: t.start()
for t in ts: t.join()
with open(out + ".ids", "w") as f:
    f.write("\n".join(sorted(acked)) + ("\n" if acked else ""))
json.dump({"acked": len(acked), "codes": {str(k): v for k, v in codes.items()}, "errors": errors[:5],
           "nerrors": len(errors)}, open(out, "w"))
PY
python3 "$tmp/load.py" "$U" "$TOK" "$tmp/stop" "$tmp/load.json" &
lpid=$!
# wait for the load to be committed steadily (the machine may be slow)
count() { sql "SELECT count(*) FROM events WHERE type = 'pgload'"; }
before=0
for _ in $(seq 150); do before=$(count); [ "$before" -ge 50 ] && break; sleep 0.2; done
pg_stop
t_eq pg-stopped "$(psql "$PG" -X -Atqc 'SELECT 1' 2>/dev/null)" ""
sleep 1
t_eq healthz-during-outage "$(curl -s -o /dev/null -w '%{http_code}' "$U/healthz")" 200
t_eq readyz-during-outage "$(curl -s -o /dev/null -w '%{http_code}' "$U/readyz")" 503
sleep 2
pg_start
mid=$(count)
# the clients go on with PostgreSQL back until more is committed, and 1 s more
after=$mid
for _ in $(seq 150); do after=$(count); [ "$after" -ge $((mid + 50)) ] && break; sleep 0.2; done
sleep 1
touch "$tmp/stop"
wait "$lpid"
lpid=
L=$(cat "$tmp/load.json")
jl() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$tmp/load.json" "$1"; }
t_match load-before-outage "$before" '^([5-9][0-9]|[0-9]{3,})$'
t_eq server-stayed-up "$(jl 'j["nerrors"]')" 0
t_match outage-seen-503 "$(jl 'j["codes"].get("503", 0)')" '^[1-9][0-9]*$'
t_eq only-200-or-503 "$(jl 'sorted(j["codes"])')" "['200', '503']"
sql "SELECT event_id FROM events WHERE type = 'pgload' ORDER BY 1" >"$tmp/pg.ids"
LC_ALL=C sort -o "$tmp/pg.ids" "$tmp/pg.ids"
LC_ALL=C sort -o "$tmp/load.json.ids" "$tmp/load.json.ids"
t_eq count-equals-acknowledged "$(wc -l <"$tmp/pg.ids")" "$(jl 'j["acked"]')"
t_eq no-acknowledged-lost "$(comm -13 "$tmp/pg.ids" "$tmp/load.json.ids" | wc -l)" 0
t_eq none-refused-stored "$(comm -23 "$tmp/pg.ids" "$tmp/load.json.ids" | wc -l)" 0
# acknowledged after the restart: the server recovered by itself
t_match recovered-under-load "$((after - mid))" '^([5-9][0-9]|[0-9]{3,})$'
t_eq ready-after "$(curl -s -o /dev/null -w '%{http_code}' "$U/readyz")" 200
t_eq post-after "$(curl -s -o /dev/null -w '%{http_code}' -XPOST -H "Authorization: Bearer $TOK" "$U/v1/events" -d '{"user_id":"z","type":"pgafter"}')" 200
t_match metrics-counted-503 "$(curl -s "$U/metrics")" 'nb_http_requests_total\{route="events",status="503"\} [1-9]'
echo "load: $L"
kill -TERM "$spid"
wait "$spid"
t_eq sigterm-exit-0 "$?" 0
spid=
t_run no-sanitizer-reports 1 grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp/serve.log"
t_done
