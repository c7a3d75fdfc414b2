#!/usr/bin/env python3
# seeds.py — (re)writes the seed corpora in tests/fuzz/corpus/<target>/ from
# the project's real inputs (docs/fuzzing.md says which). Run from anywhere:
#   tests/fuzz/seeds.py [GROWTHBOOK_CASES_JSON]
# The GrowthBook cases default to ../shared/conformance/growthbook/cases.json
# beside the checkout; without them the condition seeds already committed stay.
import ast
import hashlib
import json
import os
import re
import shutil
import struct
import sys

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
corpus = os.path.join(root, "tests", "fuzz", "corpus")


def target_dir(name):
    d = os.path.join(corpus, name)
    os.makedirs(d, exist_ok=True)
    return d


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(target_dir(target), name), "wb") as f:
        f.write(data)


def clear(target):
    d = target_dir(target)
    for f in os.listdir(d):
        if not f.startswith("crash-"):  # found by fuzzing: kept
            os.remove(os.path.join(d, f))


# ---- pgoutput: tests/ref/pgoutput/stream.hex, one seed per transaction ----
def pgoutput():
    clear("pgoutput")
    msgs = []
    with open(os.path.join(root, "tests/ref/pgoutput/stream.hex")) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                msgs.append(bytes.fromhex(parts[2]))
    frame = lambda m: struct.pack(">H", len(m)) + m
    described = []  # Relation and Type messages seen so far, for later transactions
    tx, n = [], 0
    for m in msgs:
        if m[:1] in (b"R", b"Y"):
            described.append(m)
        tx.append(m)
        if m[:1] == b"C":
            n += 1
            head = [d for d in described if d not in tx]
            write("pgoutput", "tx%02d" % n, b"".join(frame(x) for x in head + tx))
            tx = []
    write("pgoutput", "stream", b"".join(frame(m) for m in msgs))


# ---- debezium: the envelopes of tests/unit/test_debezium.c ----
def c_strings(src, var):
    """The value of `var = "..." "..." ;` in C source, its literals joined."""
    m = re.search(r"\b%s\s*=\s*((?:\s*\"(?:[^\"\\]|\\.)*\")+)\s*;" % re.escape(var), src)
    if not m:
        sys.exit("seeds.py: no %s in test_debezium.c" % var)
    lits = re.findall(r"\"(?:[^\"\\]|\\.)*\"", m.group(1))
    return "".join(ast.literal_eval(x) for x in lits)


def debezium():
    clear("debezium")
    with open(os.path.join(root, "tests/unit/test_debezium.c")) as f:
        src = f.read()
    for var in ("real_wrapped", "upd", "old", "w"):
        write("debezium", var, c_strings(src, var))
    # the rejected shapes of rejects_bad_messages()
    block = src[src.index("rejects_bad_messages"):]
    block = block[:block.index("};")]
    for i, lit in enumerate(re.findall(r"\{(\"(?:[^\"\\]|\\.)*\"),", block)):
        write("debezium", "bad%d" % i, ast.literal_eval(lit))
    write("debezium", "key", '{"event_id":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}')
    write("debezium", "key_wrapped",
          '{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,'
          '"field":"id"}],"optional":false,"name":"neonblue.public.experiments.Key"},'
          '"payload":{"id":7}}')
    # every message of the Debezium fixtures (tests/fixtures/debezium), value and key
    fx = os.path.join(root, "tests", "fixtures", "debezium")
    for name in sorted(os.listdir(fx)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(fx, name)) as f:
            msgs = json.load(f)["messages"]
        for i, m in enumerate(msgs):
            for part in ("value", "key"):
                if m[part] is not None:
                    write("debezium", "fx-%s-%d-%s" % (name[:-5], i, part),
                          json.dumps(m[part], separators=(",", ":"), ensure_ascii=False))


# ---- condition: GrowthBook's evalCondition cases (condition \0 attributes [\0 groups]) ----
def condition(cases):
    if not os.path.exists(cases):
        print("seeds.py: %s not found, condition seeds left as they are" % cases)
        return
    clear("condition")
    with open(cases) as f:
        rows = json.load(f)["evalCondition"]
    for row in rows:
        parts = [json.dumps(row[1]), json.dumps(row[2])]
        if len(row) > 4:
            parts.append(json.dumps(row[4]))
        data = "\0".join(parts).encode()
        write("condition", "gb-" + hashlib.sha1(data).hexdigest()[:12], data)


# ---- config: stack.env as `stack up` writes it, a config file as docs/operations.md shows ----
def config():
    clear("config")
    write("config", "stack.env",
          "# Endpoints of the embedded stack in this directory (neonblue stack up).\n"
          "NEONBLUE_PG='host=127.0.0.1 port=35432 dbname=neonblue user=neonblue'\n"
          "NEONBLUE_KAFKA='127.0.0.1:39092'\n"
          "NEONBLUE_CLICKHOUSE='http://127.0.0.1:38123'\n"
          "NEONBLUE_CLICKHOUSE_TCP_PORT='39000'\n")
    write("config", "config",
          "# ~/.config/neonblue/config\n"
          "pg = \"host=db.internal dbname=neonblue\"\n"
          "export kafka=broker1:9092,broker2:9092\n"
          "clickhouse=http://127.0.0.1:8123\n"
          "topic_prefix = shop\n")


# ---- theme and scenario: the shipped files ----
def copy_dir(target, src_dir, suffix):
    clear(target)
    for f in sorted(os.listdir(os.path.join(root, src_dir))):
        if f.endswith(suffix):
            shutil.copy(os.path.join(root, src_dir, f), os.path.join(target_dir(target), f))


# ---- serve: requests as curl sends them (captured on a loopback socket) ----
def curl_capture(args):
    """The bytes curl sends for args (a URL path last), read by a listener
    on 127.0.0.1 that answers 204 and closes."""
    import socket
    import subprocess
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    url = "http://127.0.0.1:%d%s" % (port, args[-1])
    p = subprocess.Popen(["curl", "-s", "-m", "5", "-o", "/dev/null"] + args[:-1] + [url])
    c, _ = srv.accept()
    data = b""
    while True:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            if len(body) >= (int(m.group(1)) if m else 0):
                break
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    c.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
    c.close()
    srv.close()
    p.wait()
    return data


def serve():
    clear("serve")
    tok = ["-H", "Authorization: Bearer nbt_fuzz"]
    assign = '{"experiment": "checkout-cta", "user_id": "u42", "attributes": {"country": "de"}}'
    events = '[{"user_id": "u42", "type": "purchase", "value": 19.9}]'
    one = ('{"event_id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "user_id": "u1", "type": "view",'
           ' "ts": "2026-12-06T10:00:00.123+01:00", "properties": {"sku": "s1"}, "experiment": "checkout-cta"}')
    bad = '[{"user_id": "u42", "type": 3}]'
    exp = json.dumps({"key": "checkout-cta", "name": "Checkout", "coverage": 0.5,
                      "namespace": {"id": "ns", "range": [0, 0.5]},
                      "condition": {"country": {"$in": ["de", "fr"]}},
                      "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}]})
    requests = {
        "assign": tok + ["-d", assign, "/v1/assign"],
        "assign-all": tok + ["-d", '{"user_id": "u42"}', "/v1/assign"],
        "events": tok + ["-d", events, "/v1/events"],
        "event-one": tok + ["-H", "Content-Type: application/json", "-d", one, "/v1/events"],
        "events-bad": tok + ["-d", bad, "/v1/events"],
        "experiments": tok + ["/v1/experiments?status=running"],
        "experiment": tok + ["/v1/experiments/checkout-cta"],
        "experiment-create": tok + ["-d", exp, "/v1/experiments"],
        "experiment-stop": tok + ["-X", "POST", "/v1/experiments/checkout-cta/stop"],
        "features": ["/api/features/nbt_fuzz"],
        "healthz": ["/healthz"],
        "readyz": ["/readyz"],
        "metrics": ["/metrics"],
        "no-token": ["-d", assign, "/v1/assign"],
        "rate": ["-H", "Authorization: Bearer nbt_slow", "/v1/experiments"],
        "chunked": tok + ["-H", "Transfer-Encoding: chunked", "-d", events, "/v1/events"],
    }
    for name, args in requests.items():
        raw = curl_capture(args)
        # odd first byte: the whole server, fed these bytes
        write("serve", "http-" + name, b"\x01" + raw)
        # even: the routes' checks, METHOD \n PATH \n BODY
        line, _, rest = raw.partition(b"\r\n")
        method, path, _ = line.split(b" ", 2)
        body = rest.partition(b"\r\n\r\n")[2]
        write("serve", "route-" + name, b"\x00" + method + b"\n" + path.split(b"?")[0] + b"\n" + body)
    # two requests on one connection (keep-alive)
    write("serve", "http-two", b"\x01" + curl_capture(tok + ["-d", assign, "/v1/assign"]) +
          curl_capture(["/healthz"]))


pgoutput()
debezium()
condition(sys.argv[1] if len(sys.argv) > 1 else
          os.path.join(root, "..", "shared", "conformance", "growthbook", "cases.json"))
config()
copy_dir("theme", "themes", ".theme")
copy_dir("scenario", "scenarios", ".json")
serve()
