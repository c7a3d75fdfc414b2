#!/usr/bin/env python3
# check.py — every nb_an query (through the `neonblue` commands' JSON) against
# a brute-force plain-SQL computation in PostgreSQL over the same events and
# assignments. Equal results, compared as exact doubles. Prints the PASS/FAIL
# lines of tests/lib/t.sh. Usage: check.py PGCONNINFO CHURL CHDB DIR
import json
import time
import os
import subprocess
import sys

PG, CH, CHDB, DIR = sys.argv[1:5]
# pipeline mode: check.py PG CH DB DIR --pipeline EXP SUFFIX — the report of EXP
# (its metrics are the generator's, keys ending in SUFFIX) against PostgreSQL
PREFIX = sys.argv[6] + "-" if len(sys.argv) > 6 and sys.argv[5] == "--again" else ""
PIPE = sys.argv[6:8] if len(sys.argv) > 7 and sys.argv[5] == "--pipeline" else None
NB = os.environ.get("NB", "build/asan/neonblue")
SUITE = os.environ.get("T_SUITE", "analytics")
meta = json.load(open(DIR + "/metrics.json"))
METRICS = {m[0]: m for m in meta["metrics"]}
failed = 0


def ok(name):
    print("PASS %s:%s" % (SUITE, name))


def fail(name, why):
    global failed
    failed += 1
    print("FAIL %s:%s" % (SUITE, name))
    print("  at tests/integration/analytics/check.py: %s" % why[:1500])


def psql(sql):
    r = subprocess.run(["psql", PG, "-XAtq", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("psql: " + r.stderr + "\n" + sql)
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def nb(*args):
    r = subprocess.run([NB, *args, "--json", "--clickhouse", CH, "--database", CHDB],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("neonblue %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))
    return json.loads(r.stdout)


def num(s):
    return None if s in ("", None) else float(s)


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def seg_expr(col, prop):
    return ("CASE WHEN jsonb_typeof(%s->%s) = 'string' THEN %s->>%s ELSE '' END"
            % (col, lit(prop), col, lit(prop)))


def value_expr(prop):
    if prop is None:
        return "ev.value"
    return ("CASE WHEN jsonb_typeof(ev.properties->%s) = 'number' THEN (ev.properties->>%s)::float8 END"
            % (lit(prop), lit(prop)))


def scope_ctes(exp, scope, seg_by=None):
    """a: the experiment's users in scope; ev: their events at or after assignment."""
    aw = ["experiment = %s" % lit(exp)]
    if scope.get("to"):
        aw.append("assigned_at < to_timestamp(%d)" % scope["to"])
    if scope.get("segment"):
        p, v = scope["segment"]
        aw.append("%s = %s" % (seg_expr("context", p), lit(v)))
    seg = ", %s AS seg" % seg_expr("context", seg_by) if seg_by else ""
    ew = ["e.ts >= a.assigned_at"]
    if scope.get("from"):
        ew.append("e.ts >= to_timestamp(%d)" % scope["from"])
    if scope.get("to"):
        ew.append("e.ts < to_timestamp(%d)" % scope["to"])
    if scope.get("event_type"):
        ew.append("e.type = %s" % lit(scope["event_type"]))
    if seg_by and seg_by.startswith("event:"):
        # the property on the user's first event at or after assignment having it
        p = lit(seg_by[6:])
        return ("a0 AS (SELECT user_id, variant, assigned_at FROM assignments WHERE %s), "
                "fe AS (SELECT DISTINCT ON (e.user_id) e.user_id, e.properties->>%s AS seg "
                "FROM events e JOIN a0 USING (user_id) WHERE e.ts >= a0.assigned_at AND "
                "jsonb_typeof(e.properties->%s) = 'string' AND e.properties->>%s <> '' "
                "ORDER BY e.user_id, e.ts, e.event_id::text), "
                "a AS (SELECT a0.*, coalesce(fe.seg, '') AS seg FROM a0 LEFT JOIN fe USING (user_id)), "
                "ev AS (SELECT e.*, a.variant AS avariant FROM events e JOIN a USING (user_id) WHERE %s)"
                % (" AND ".join(aw), p, p, p, " AND ".join(ew)))
    return ("a AS (SELECT user_id, variant, assigned_at%s FROM assignments WHERE %s), "
            "ev AS (SELECT e.*, a.variant AS avariant FROM events e JOIN a USING (user_id) WHERE %s)"
            % (seg, " AND ".join(aw), " AND ".join(ew)))


def types_in(types):
    return "ev.type IN (%s)" % ", ".join(lit(t) for t in types)


def user_cols(m):
    key, kind, types, prop, _, _ = m
    v = value_expr(prop)
    num_types = types[:1] if kind == "ratio" else types
    n = "count(ev.event_id) FILTER (WHERE %s)" % types_in(num_types)
    d = "0::float8"
    if kind == "binomial":
        x = "(%s > 0)::int::float8" % n
    elif kind == "count":
        x = "%s::float8" % n
    elif kind in ("sum", "mean"):
        x = "coalesce(sum(coalesce(%s, 0)) FILTER (WHERE %s), 0)" % (v, types_in(types))
        if kind == "mean":
            d = "count(%s) FILTER (WHERE %s)::float8" % (v, types_in(types))
    else:
        x = "coalesce(sum(coalesce(%s, 1)) FILTER (WHERE %s), 0)" % (v, types_in(types[:1]))
        d = "coalesce(sum(coalesce(%s, 1)) FILTER (WHERE %s), 0)" % (v, types_in(types[1:]))
    return n, x, d


def brute_metric(exp, m, scope, seg_by=None):
    """{(seg, variant): {users, converted, events, sum, sum_squares, den...}} and the cap."""
    n, x, d = user_cols(m)
    seg = ", a.seg" if seg_by else ""
    base = ("WITH %s, u AS (SELECT a.user_id, a.variant%s, %s AS n, %s AS x, %s AS d FROM a "
            "LEFT JOIN ev ON ev.user_id = a.user_id GROUP BY a.user_id, a.variant%s)"
            % (scope_ctes(exp, scope, seg_by), seg, n, x, d, seg))
    cap = None
    wins = m[5]
    if wins and m[1] in ("count", "sum"):
        level = wins / 100.0
        rows = psql(base + ", c AS (SELECT x, row_number() OVER (ORDER BY x) - 1 AS i, "
                    "count(*) OVER () AS k FROM u WHERE n > 0) SELECT x FROM c "
                    "WHERE i = least(floor(%r::float8 * k)::bigint, k - 1)" % level)
        cap = num(rows[0][0]) if rows else None
    # winsorisation caps the converted users' values (the others are 0)
    xe = "CASE WHEN n > 0 THEN least(x, %r::float8) ELSE x END" % cap if cap is not None else "x"
    rows = psql(base + " SELECT %s, variant, count(*), count(*) FILTER (WHERE n > 0), sum(n), "
                "sum(%s), sum(%s * %s), sum(d), sum(d * d), sum(%s * d) FROM u GROUP BY 1, 2"
                % ("seg" if seg_by else "''", xe, xe, xe, xe))
    out = {}
    for r in rows:
        out[(r[0], r[1])] = dict(zip(["users", "converted", "events", "sum", "sum_squares",
                                      "denominator_sum", "denominator_sum_squares", "cross_sum"],
                                     map(num, r[2:])))
    return out, cap


def compare(name, got, want):
    if got == want:
        ok(name)
    else:
        fail(name, "got %s, expected %s" % (json.dumps(got, sort_keys=True),
                                             json.dumps(want, sort_keys=True)))


def check_report(name, exp, scope, args=()):
    rep = nb("report", exp, *args)
    variants = [v["key"] for v in rep["variants"]]
    users = psql("WITH %s SELECT variant, count(*) FROM a GROUP BY 1" % scope_ctes(exp, scope))
    want_users = {v: 0.0 for v in variants}
    want_users.update({r[0]: float(r[1]) for r in users})
    compare(name + "-users", {v["key"]: v["users"] for v in rep["variants"]}, want_users)
    for mj in rep["metrics"]:
        base_key = mj["key"][:-len(PIPE[1])] if PIPE else mj["key"]
        m = METRICS[base_key]
        want, cap = brute_metric(exp, m, scope)
        den = m[1] in ("mean", "ratio")
        got_all, want_all = {}, {}
        for r in mj["results"]:
            a = r["aggregates"]
            g = {"users": r["users"], "converted": a["converted"], "events": a["events"],
                 "sum": a["sum"], "sum_squares": a["sum_squares"], "cap": a["winsorize_cap"]}
            w = dict(want.get(("", r["variant"]),
                              {"users": 0.0, "converted": 0.0, "events": 0.0, "sum": 0.0,
                               "sum_squares": 0.0, "denominator_sum": 0.0,
                               "denominator_sum_squares": 0.0, "cross_sum": 0.0}))
            w["users"] = want_users[r["variant"]]
            w["cap"] = cap
            if den:
                for k in ("denominator_sum", "denominator_sum_squares", "cross_sum"):
                    g[k] = a[k]
            else:
                for k in ("denominator_sum", "denominator_sum_squares", "cross_sum"):
                    w.pop(k)
            got_all[r["variant"]] = g
            want_all[r["variant"]] = w
        compare("%s-%s" % (name, mj["key"]), got_all, want_all)
    return rep


def check_funnel(exp, steps, window):
    got = nb("funnel", exp, "--steps", ",".join(steps), "--window", "%ds" % window)
    ev = ("ev2 AS (SELECT user_id, avariant, type, floor(extract(epoch FROM ts))::bigint AS s "
          "FROM ev WHERE type IN (%s))" % ", ".join(lit(s) for s in steps))
    levels = []
    for k in range(1, len(steps) + 1):
        joins = " ".join("JOIN ev2 e%d ON e%d.user_id = e1.user_id AND e%d.type = %s AND "
                         "e%d.s >= e%d.s" % (j, j, j, lit(steps[j - 1]), j, j - 1)
                         for j in range(2, k + 1))
        cond = "e%d.s - e1.s <= %d" % (k, window) if k > 1 else "true"
        levels.append("EXISTS (SELECT 1 FROM ev2 e1 %s WHERE e1.user_id = a.user_id AND "
                      "e1.type = %s AND %s)" % (joins, lit(steps[0]), cond))
    sel = ", ".join("count(*) FILTER (WHERE %s)" % l for l in levels)
    rows = psql("WITH %s, %s SELECT variant, %s FROM a GROUP BY 1" % (scope_ctes(exp, {}), ev, sel))
    want = {v["variant"]: [0.0] * len(steps) for v in got["variants"]}
    for r in rows:
        want[r[0]] = [float(x) for x in r[1:]]
    compare("funnel-%s-%d" % (exp, window),
            {v["variant"]: [s["users"] for s in v["steps"]] for v in got["variants"]}, want)


def check_cohorts(exp, period, nper, scope=None, args=()):
    """Every cell equal to PostgreSQL; a period that starts at or after the
    scope's end (or now) has not happened: null, not 0."""
    scope = scope or {}
    got = nb("cohort", exp, "--period", period, "--periods", str(nper), *args)
    unit = "day" if period == "day" else "week"
    div = 1 if period == "day" else 7
    cohort = "date_trunc('%s', a.assigned_at AT TIME ZONE 'UTC')" % unit
    diff = ("((date_trunc('%s', ev.ts AT TIME ZONE 'UTC')::date - date_trunc('%s', a.assigned_at "
            "AT TIME ZONE 'UTC')::date) / %d)" % (unit, unit, div))
    sel = ", ".join("count(DISTINCT a.user_id) FILTER (WHERE %s = %d)" % (diff, k)
                    for k in range(nper))
    rows = psql("WITH %s SELECT to_char(%s, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), a.variant, "
                "count(DISTINCT a.user_id), extract(epoch FROM %s)::bigint, %s FROM a "
                "LEFT JOIN ev ON ev.user_id = a.user_id "
                "GROUP BY 1, 2, 4 ORDER BY 1, 2" % (scope_ctes(exp, scope), cohort, cohort, sel))
    as_of = scope.get("to") or time.time()
    step = 86400 if period == "day" else 7 * 86400
    want = [[r[0], r[1], float(r[2])] +
            [None if int(r[3]) + k * step >= as_of else float(x) for k, x in enumerate(r[4:])]
            for r in rows]
    have = sorted([[c["cohort"], c["variant"], c["users"]] + c["retained"] for c in got["cohorts"]],
                  key=repr)
    compare("cohorts-%s-%s%s" % (exp, period, "-to" if scope.get("to") else ""), have,
            sorted(want, key=repr))
    if scope.get("to"):
        blank = sum(1 for c in got["cohorts"] for x in c["retained"] if x is None)
        if not blank:
            raise AssertionError("cohorts up to %d: no period left blank" % scope["to"])


def check_revenue(exp, metric):
    got = nb("revenue", exp, "--metric", metric)
    m = METRICS[metric]
    v = value_expr(m[3])
    base = ("WITH %s, u AS (SELECT a.user_id, a.variant, coalesce(sum(coalesce(%s, 0)) FILTER "
            "(WHERE %s), 0) AS r FROM a LEFT JOIN ev ON ev.user_id = a.user_id GROUP BY 1, 2), "
            "p AS (SELECT variant, r, row_number() OVER (PARTITION BY variant ORDER BY r) - 1 AS i, "
            "count(*) OVER (PARTITION BY variant) AS k FROM u WHERE r > 0)"
            % (scope_ctes(exp, {}), v, types_in(m[2])))
    q = lambda lv: ("(SELECT r FROM p WHERE p.variant = u.variant AND "
                    "i = least(floor(%r::float8 * k)::bigint, k - 1))" % lv)
    rows = psql(base + " SELECT variant, count(*), count(*) FILTER (WHERE r > 0), sum(r), %s, %s, %s "
                "FROM u GROUP BY 1" % (q(0.5), q(0.9), q(0.99)))
    want = {}
    for r in rows:
        want[r[0]] = [float(r[1]), float(r[2]), float(r[3]), num(r[4]), num(r[5]), num(r[6])]
    have = {}
    for x in got["variants"]:
        if x["users"] == 0 and x["variant"] not in want:
            continue
        have[x["variant"]] = [x["users"], x["paying_users"], x["revenue"], x["p50"], x["p90"],
                              x["p99"]]
    compare("revenue-%s-%s" % (exp, metric), have, want)


def check_segments(exp, metric, prop, top):
    got = nb("segments", exp, "--by", prop, "--metric", metric, "--top", str(top))
    m = METRICS[metric]
    want, _ = brute_metric(exp, m, {}, seg_by=prop)
    totals = {}
    for (seg, var), w in want.items():
        totals[seg] = totals.get(seg, 0) + w["users"]
    order = sorted(totals, key=lambda s: (-totals[s], s.encode()))[:top]
    compare(PREFIX + "segments-order-%s-%s" % (exp, prop), [s["value"] for s in got["segments"]], order)
    have, exp_ = {}, {}
    for s in got["segments"]:
        for r in s["results"]:
            key = s["value"] + "/" + r["variant"]
            have[key] = [r["users"], r["converted"], r["events"], r["sum"], r["sum_squares"]]
            w = want.get((s["value"], r["variant"]))
            exp_[key] = ([w["users"], w["converted"], w["events"], w["sum"], w["sum_squares"]]
                         if w else [0.0] * 5)
    compare(PREFIX + "segments-%s-%s-%s" % (exp, metric, prop), have, exp_)
    ps = [r["p_value_holm"] for s in got["segments"] for r in s["results"]
          if r["p_value_holm"] is not None]
    raw = [r["p_value"] for s in got["segments"] for r in s["results"]
           if r["p_value_holm"] is not None]
    if ps and all(h >= p for h, p in zip(ps, raw)) and all(h <= 1 for h in ps):
        ok(PREFIX + "segments-holm-%s-%s" % (exp, prop))
    else:
        fail(PREFIX + "segments-holm-%s-%s" % (exp, prop), "holm %s vs raw %s" % (ps, raw))


def check_series(exp, metric, period):
    got = nb("report", exp, "--metric", metric, "--series", period)
    m = METRICS[metric]
    p = 3600 if period == "hour" else 86400
    b = "(floor(extract(epoch FROM %s) / %d) * %d)::bigint"
    types = m[2][:1] if m[1] == "ratio" else m[2]
    if m[1] in ("sum", "mean"):
        val = "sum(coalesce(%s, 0))" % value_expr(m[3])
    elif m[1] == "ratio":
        val = "sum(coalesce(%s, 1))" % value_expr(m[3])
    else:
        val = "count(*)::float8"
    ev = psql("WITH %s SELECT %s, avariant, count(DISTINCT user_id), %s FROM ev WHERE %s "
              "GROUP BY 1, 2" % (scope_ctes(exp, {}), b % ("ev.ts", p, p), val, types_in(types)))
    asg = psql("WITH %s SELECT %s, variant, count(*) FROM a GROUP BY 1, 2"
               % (scope_ctes(exp, {}), b % ("assigned_at", p, p)))
    want = {}
    for r in asg:
        want.setdefault((int(r[0]), r[1]), [0.0, 0.0, 0.0])[0] = float(r[2])
    for r in ev:
        w = want.setdefault((int(r[0]), r[1]), [0.0, 0.0, 0.0])
        w[1], w[2] = float(r[2]), float(r[3])
    have = {(x["bucket"], x["variant"]): [x["assigned"], x["converted"], x["value"]]
            for x in got["points"]}
    compare("series-%s-%s-%s" % (exp, metric, period),
            sorted([list(k) + v for k, v in have.items()]),
            sorted([list(k) + v for k, v in want.items()]))


def run(name, fn, *args):
    try:
        fn(*args)
    except Exception as e:  # a crash of one check is that check's failure
        fail(name, repr(e))


if PIPE:
    pn = __import__("os").environ.get("NB_CHECK_NAME", "pipeline")
    run(pn + "-report", check_report, pn + "-report", PIPE[0], {})
    run(pn + "-report-segment", check_report, pn + "-report-segment", PIPE[0],
        {"segment": ("country", "de")}, ("--segment", "country=de"))
    sys.exit(1 if failed else 0)

if len(sys.argv) > 6 and sys.argv[5] == "--again":  # after more data arrived (rollup refresh)
    pre = sys.argv[6]
    run(pre + "-report-exp_a", check_report, pre + "-report-exp_a", "exp_a", {})
    run(pre + "-report-exp_b", check_report, pre + "-report-exp_b", "exp_b", {})
    run(pre + "-report-segment", check_report, pre + "-report-segment", "exp_a",
        {"segment": ("country", "de")}, ("--segment", "country=de"))
    run(pre + "-segments", check_segments, "exp_a", "revenue", "country", 3)
    run(pre + "-segments-event", check_segments, "exp_a", "conv", "event:country", 10)
    sys.exit(1 if failed else 0)

BASE = 1793500000
run("report-exp_a", check_report, "report-exp_a", "exp_a", {})
run("report-exp_b", check_report, "report-exp_b", "exp_b", {})
run("report-range", check_report, "report-range", "exp_a",
    {"from": BASE + 7200, "to": BASE + 2 * 86400},
    ("--from", str(BASE + 7200), "--to", __import__("datetime").datetime.fromtimestamp(
        BASE + 2 * 86400, __import__("datetime").timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")))
run("report-event-type", check_report, "report-event-type", "exp_a", {"event_type": "purchase"},
    ("--event-type", "purchase"))
run("report-segment", check_report, "report-segment", "exp_b", {"segment": ("country", "de")},
    ("--segment", "country=de"))
run("funnel", check_funnel, "exp_a", ["view", "add_to_cart", "checkout", "purchase"], 3600)
run("funnel-short", check_funnel, "exp_b", ["view", "add_to_cart", "checkout"], 30)
run("cohorts-day", check_cohorts, "exp_a", "day", 6)
run("cohorts-week", check_cohorts, "exp_b", "week", 3)
run("cohorts-future-blank", check_cohorts, "exp_a", "day", 6, {"to": BASE + 2 * 86400},
    ("--to", __import__("datetime").datetime.fromtimestamp(
        BASE + 2 * 86400, __import__("datetime").timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")))
run("revenue", check_revenue, "exp_a", "revenue")
run("revenue-value", check_revenue, "exp_b", "revenue")
run("segments", check_segments, "exp_a", "revenue", "country", 3)
run("segments-b", check_segments, "exp_b", "ctr", "country", 10)
run("segments-event", check_segments, "exp_a", "revenue", "event:country", 3)
run("segments-event-b", check_segments, "exp_b", "ctr", "event:country", 10)
run("series-hour", check_series, "exp_a", "conv", "hour")
run("series-day", check_series, "exp_b", "revenue", "day")
sys.exit(1 if failed else 0)
