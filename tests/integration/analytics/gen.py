#!/usr/bin/env python3
# gen.py — deterministic test data for tests/integration/analytics.sh.
# Writes into DIR: pg.sql (plain PostgreSQL tables events/assignments + COPY
# data: the brute-force side) and ch_defs.sql (experiment, variant and metric
# definitions as ClickHouse INSERTs). Events and assignments reach ClickHouse
# by being exported from PostgreSQL (same rows, PostgreSQL's own text).
# The data has: ties (equal timestamps, equal per-user values), events exactly
# at, just before and long before/after the assignment, late events, users in
# two experiments, a variant without users, events without a value or without
# the value property, and values that are multiples of 1/4 (so every sum is
# exact in binary floating point in any order).
import json
import random
import sys
import uuid

rnd = random.Random(20261127)
out = sys.argv[1]
BASE = 1793500000  # 2026-10-31 UTC-ish; inside PostgreSQL's default partitions

EXPS = {
    "exp_a": [("control", 0.5, 1), ("treat", 0.3, 0), ("empty", 0.2, 0)],
    "exp_b": [("ctl", 0.5, 1), ("new", 0.5, 0)],
}
# key, kind, event_types, value_property, direction, winsorize
METRICS = [
    ("conv", "binomial", ["purchase"], None, "increase", None),
    ("purchases", "count", ["purchase", "checkout"], None, "increase", 90),
    ("revenue", "sum", ["purchase"], "amount", "increase", 95),
    ("value_sum", "sum", ["purchase", "add_to_cart"], None, "increase", None),
    ("avg_price", "mean", ["purchase"], None, "decrease", None),
    ("ctr", "ratio", ["click", "view"], None, "increase", None),
]
EXP_METRICS = {
    "exp_a": [("conv", "primary"), ("purchases", "secondary"), ("revenue", "secondary"),
              ("value_sum", "guardrail"), ("avg_price", "secondary"), ("ctr", "secondary")],
    "exp_b": [("revenue", "primary"), ("ctr", "secondary")],
}
TYPES = ["view", "click", "add_to_cart", "checkout", "purchase", "signup"]
COUNTRIES = ["de", "fr", "us", "br"]


def ts_text(sec, us):
    import datetime
    d = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc)
    return d.strftime("%Y-%m-%d %H:%M:%S") + ".%06d+00" % us


assignments = []  # (exp, user, variant, sec, us, context)
events = []       # (id, user, type, sec, us, value, props)
for i in range(500):
    user = "u%03d" % i
    exps = ["exp_a"] if i % 5 else []
    if i % 3 != 1:
        exps.append("exp_b")
    if not exps:
        exps = ["exp_a"]
    first = None
    for ex in exps:
        names = [v[0] for v in EXPS[ex] if v[0] != "empty"]
        w = [0.62, 0.38] if ex == "exp_a" else [0.5, 0.5]
        var = rnd.choices(names, w)[0]
        sec = BASE + rnd.randrange(0, 3 * 86400)
        if i % 17 == 0:
            sec = BASE + 3600  # ties: many users assigned in the same second
        us = rnd.randrange(0, 1000000)
        ctx = {}
        if i % 11:
            ctx["country"] = COUNTRIES[i % 4] if i % 7 else "de"
        ctx["plan"] = rnd.choice(["free", "pro"])
        assignments.append((ex, user, var, sec, us, json.dumps(ctx) if i % 13 else None))
        if first is None or sec < first[0]:
            first = (sec, us, var)
    sec0, us0, var0 = first
    lift = 1.4 if var0 in ("treat", "new") else 1.0
    nev = rnd.randrange(0, 14)
    for k in range(nev):
        t = rnd.choice(TYPES)
        r = rnd.random()
        if r < 0.08:
            s, u = sec0, us0                      # exactly at the assignment: counts
        elif r < 0.14:
            s, u = sec0, max(0, us0 - 1)          # same second, 1 µs before (0 µs: ties)
        elif r < 0.22:
            s, u = sec0 - rnd.randrange(1, 86400 * 2), rnd.randrange(1000000)  # before
        elif r < 0.30:
            s, u = sec0 + 86400 * rnd.randrange(3, 12), rnd.randrange(1000000)  # late
        else:
            s, u = sec0 + int(rnd.expovariate(1 / 7200.0)), rnd.randrange(1000000)
        if rnd.random() < 0.15:
            s, u = sec0 + 600, 0                  # ties: equal timestamps
        value = None
        props = {"country": COUNTRIES[(i + k) % 4]}
        if t in ("purchase", "add_to_cart"):
            if rnd.random() < 0.9:
                value = rnd.choice([1, 2, 2.5, 5, 10, 10, 19.75, 50, 99.25]) * lift
                value = round(value * 4) / 4
            if rnd.random() < 0.85:
                props["amount"] = rnd.choice([3, 3, 7.5, 12.25, 40, 250]) * (2 if lift > 1 else 1)
        if t in ("view", "click") and rnd.random() < 0.3:
            value = rnd.choice([1, 2, 3])
        events.append((str(uuid.UUID(int=rnd.getrandbits(128))), user, t, s, u, value,
                       json.dumps(props)))
    # a funnel walk with exact-second ties between steps
    if i % 4 == 0:
        s = sec0 + 5
        for step in ["view", "add_to_cart", "checkout", "purchase"]:
            events.append((str(uuid.UUID(int=rnd.getrandbits(128))), user, step, s,
                           rnd.randrange(1000000), 1.0 if step == "purchase" else None,
                           json.dumps({"amount": 5})))
            if rnd.random() < 0.5:
                s += rnd.choice([0, 0, 30, 3599, 3600, 3601])
            if rnd.random() < 0.3 * (1 if lift == 1 else 0.5):
                break


def copy_val(v):
    if v is None:
        return "\\N"
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


with open(out + "/pg.sql", "w") as f:
    f.write("""SET client_min_messages = warning;
CREATE TABLE assignments (experiment text, user_id text, variant text, assigned_at timestamptz,
  context jsonb, PRIMARY KEY (experiment, user_id));
CREATE TABLE events (event_id uuid PRIMARY KEY, user_id text, type text, ts timestamptz,
  value double precision, properties jsonb);
COPY assignments FROM STDIN;
""")
    for a in assignments:
        f.write("\t".join(copy_val(x) for x in (a[0], a[1], a[2], ts_text(a[3], a[4]), a[5])) + "\n")
    f.write("\\.\nCOPY events FROM STDIN;\n")
    for e in events:
        f.write("\t".join(copy_val(x) for x in (e[0], e[1], e[2], ts_text(e[3], e[4]), e[5], e[6]))
                + "\n")
    f.write("\\.\n")


def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(lit(x) for x in v) + "]"
    return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"


with open(out + "/ch_defs.sql", "w") as f:
    for ex, variants in EXPS.items():
        f.write("INSERT INTO DB.experiments (key, name, status, seed, hash_version, coverage, "
                "owner, created_at, updated_at, version, _version, _deleted) VALUES "
                "(%s, %s, 'running', %s, 2, 1, 'test', now(), now(), 1, 1, 0);\n"
                % (lit(ex), lit(ex), lit(ex)))
        for pos, (k, w, c) in enumerate(variants):
            f.write("INSERT INTO DB.variants (experiment, key, name, weight, is_control, config, "
                    "position, _version, _deleted) VALUES (%s, %s, %s, %r, %d, '{}', %d, 1, 0);\n"
                    % (lit(ex), lit(k), lit(k), w, c, pos))
        for pos, (m, role) in enumerate(EXP_METRICS[ex]):
            f.write("INSERT INTO DB.experiment_metrics (experiment, metric, role, position, "
                    "_version, _deleted) VALUES (%s, %s, %s, %d, 1, 0);\n"
                    % (lit(ex), lit(m), lit(role), pos))
    for (k, kind, types, prop, direction, wins) in METRICS:
        f.write("INSERT INTO DB.metrics (key, name, kind, event_types, value_property, direction, "
                "winsorize, description, created_at, updated_at, _version, _deleted) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, '', now(), now(), 1, 0);\n"
                % (lit(k), lit(k), lit(kind), lit(types), lit(prop), lit(direction), lit(wins)))
    # a replaced definition: version 2 of "ctr" wins over a stale version 0
    f.write("INSERT INTO DB.metrics (key, name, kind, event_types, value_property, direction, "
            "winsorize, description, created_at, updated_at, _version, _deleted) VALUES "
            "('ctr', 'old', 'binomial', ['signup'], NULL, 'increase', NULL, '', now(), now(), 0, 0);\n")

with open(out + "/metrics.json", "w") as f:
    json.dump({"metrics": METRICS, "exp_metrics": EXP_METRICS, "exps": EXPS}, f)


# The same rows as ClickHouse TabSeparated in the column order of
# core/sql/ch's events and assignments (for suites that load ClickHouse
# without PostgreSQL: tests/integration/chcluster_report.sh), delivered the
# way the sink can: a batch redelivered with a later version, and an event
# created then deleted (absent from pg.sql).
def ch_ts(sec, us):
    import datetime
    return datetime.datetime.fromtimestamp(sec, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S") + "\t%d" % us


with open(out + "/ch_assignments.tsv", "w") as f:
    for ver in (1, 2):
        for a in assignments:
            if ver == 1 or a[1].endswith("7"):
                f.write("\t".join([copy_val(a[0]), copy_val(a[1]), copy_val(a[2]),
                                   ch_ts(a[3], a[4]), "hash", "1", copy_val(a[5]),
                                   str(ver), "0"]) + "\n")
with open(out + "/ch_events.tsv", "w") as f:
    for ver in (1, 2):
        for n, e in enumerate(events):
            if ver == 1 or n % 10 == 3:
                f.write("\t".join([e[0], copy_val(e[1]), copy_val(e[2]), ch_ts(e[3], e[4]),
                                   copy_val(e[5]), copy_val(e[6]), "\\N", str(ver), "0"]) + "\n")
    ghost = ["00000000-0000-0000-0000-00000000abcd", "u004", "purchase", ch_ts(BASE + 7200, 0),
             "1000", '{"amount": 1000}', "\\N"]
    f.write("\t".join(ghost + ["1", "0"]) + "\n" + "\t".join(ghost + ["2", "1"]) + "\n")
