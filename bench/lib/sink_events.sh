# sink_events.sh — shared by the sink benches (bench/run.sh runs bench/*.sh
# only, not this folder). Source it after setting nothing; it defines:
#   sink_events FILE N   N relay-style `events` envelopes, one a line as
#                        KEY<TAB>VALUE for `kcat -P -K $'\t' -l FILE`;
#                        the same seed, so the same rows, in every run
#   free_port            a free TCP port on 127.0.0.1
#   now                  seconds since the epoch, with nanoseconds
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
now() { date +%s.%N; }
sink_events() {
	python3 - "$1" "$2" <<'PY'
import json, random, sys, time, uuid
rnd = random.Random(7)
base = 1795757515 * 1000000
with open(sys.argv[1], "w") as f:
    for n in range(int(sys.argv[2])):
        eid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        us = base - rnd.randrange(30 * 86400 * 1000000)
        ts = "%s.%06dZ" % (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(us // 1000000)), us % 1000000)
        env = {"before": None, "after": {"event_id": eid, "user_id": "user-%d" % rnd.randrange(100000),
               "type": rnd.choice(["view", "click", "buy"]), "ts": ts,
               "value": round(rnd.uniform(0, 100), 2), "properties": '{"page": "/p/%d"}' % n,
               "experiment": "exp-%d" % (n % 20)},
               "source": {"version": "bench", "connector": "postgresql", "name": "neonblue",
                          "ts_ms": 1795757515000, "db": "neonblue", "schema": "public",
                          "table": "events", "txId": n, "lsn": 1000 + n, "snapshot": "false"},
               "op": "c", "ts_ms": 1795757515001}
        f.write('{"event_id":"%s","ts":"%s"}\t%s\n' % (eid, ts, json.dumps(env, separators=(",", ":"))))
PY
}
