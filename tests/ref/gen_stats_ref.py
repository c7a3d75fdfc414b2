#!/usr/bin/python3
# gen_stats_ref.py — independent reference values for nb_stats (tests/unit/test_stats.c).
#
# Every expected value is computed here in high precision with mpmath (50
# digits) from the definitions in shared/design/STATS.md, and cross-checked
# against scipy/statsmodels where they implement the same thing. Bayesian
# chances and losses come from exact sums (two arms, Evan Miller's formula and
# E[p·1(p>q)] = mean·P(Beta(a+1,b) > q)) or mpmath quadrature (3–5 arms),
# never from sampling. Output: tests/ref/stats_ref.json, a list of
# {"family", "name", "input", "expected"}; null marks an undefined value.
#
# Usage: tests/ref/gen_stats_ref.py > tests/ref/stats_ref.json
# Needs Debian's python3-mpmath, python3-scipy, python3-statsmodels.
import json
import math
import sys
import time

import mpmath as mp
import numpy as np
from scipy import stats as sst
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_confint

mp.mp.dps = 50
ONE = mp.mpf(1)
Z975 = mp.sqrt(2) * mp.erfinv(mp.mpf("0.95"))
CASES = []


def f(x):
    """mpf → float, None for undefined."""
    if x is None:
        return None
    x = mp.mpf(x)
    if mp.isnan(x) or mp.isinf(x):
        return None
    return float(x)


def norm_sf(z):
    return mp.erfc(z / mp.sqrt(2)) / 2


def p2(z):
    return None if z is None else 2 * norm_sf(abs(z))


def close(a, b, rel):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= rel * max(abs(a), abs(b)) + 1e-300


T0 = [time.time()]


def add(family, name, inp, exp):
    print("%7.1fs %s/%s" % (time.time() - T0[0], family, name), file=sys.stderr)
    out = {}
    for k, v in exp.items():
        if isinstance(v, (list, tuple)):
            out[k] = [x if isinstance(x, bool) else f(x) for x in v]
        elif isinstance(v, dict):
            out[k] = {kk: f(vv) for kk, vv in v.items()}
        elif isinstance(v, bool):
            out[k] = v
        else:
            out[k] = f(v)
    CASES.append({"family": family, "name": name, "input": inp, "expected": out})


def div(a, b):
    return None if b == 0 else a / b


# ---------------------------------------------------------------- proportions
def proportions(name, nc, xc, nt, xt):
    nc_, xc_, nt_, xt_ = map(mp.mpf, (nc, xc, nt, xt))
    pc, pt = div(xc_, nc_), div(xt_, nt_)
    d = None if pc is None or pt is None else pt - pc
    pp = div(xc_ + xt_, nc_ + nt_)
    se = mp.sqrt(pp * (1 - pp) * (1 / nc_ + 1 / nt_)) if nc and nt else None
    z = None if se is None or se == 0 else d / se
    seu = mp.sqrt(pc * (1 - pc) / nc_ + pt * (1 - pt) / nt_) if nc and nt else None
    lo = None if seu is None else d - Z975 * seu
    hi = None if seu is None else d + Z975 * seu
    if z is not None and nc > 1 and nt > 1:  # statsmodels cross-check
        from statsmodels.stats.proportion import proportions_ztest
        zs, ps = proportions_ztest([xt, xc], [nt, nc])
        assert close(float(z), zs, 1e-9), (name, z, zs)
    add("proportions", name,
        {"control_n": nc, "control_conversions": xc, "treatment_n": nt,
         "treatment_conversions": xt},
        {"p_control": pc, "p_treatment": pt, "diff": d, "p_pooled": pp, "se_pooled": se,
         "z": z, "p_value": p2(z), "se_unpooled": seu, "ci95_lower": lo, "ci95_upper": hi})


proportions("basic", 1000, 100, 1000, 120)
proportions("negative_effect", 5000, 600, 5200, 480)
proportions("zero_conversions", 1000, 0, 1000, 0)
proportions("one_side_zero", 1000, 0, 1000, 7)
proportions("all_converted", 500, 500, 400, 400)
proportions("hundred_percent_vs_less", 500, 500, 400, 399)
proportions("identical", 2000, 300, 2000, 300)
proportions("n_one", 1, 0, 1, 1)
proportions("n_two_three", 2, 1, 3, 2)
proportions("ten_million", 10000000, 1000000, 10000000, 1003000)
proportions("ten_million_tiny_p", 10000000, 1000000, 10000000, 1010000)
proportions("very_unequal", 1000000, 50000, 300, 21)
proportions("p_below_1e20", 100000, 10000, 100000, 12500)
proportions("p_below_1e100", 1000000, 100000, 1000000, 130000)


# ---------------------------------------------------------------- welch / lift
def t_sf(t, df):
    x = df / (df + t * t)
    return mp.betainc(df / 2, ONE / 2, 0, x, regularized=True) / 2


def t_ppf975(df):
    g = mp.mpf(sst.t.ppf(0.975, float(df)))
    return mp.findroot(lambda q: t_sf(q, df) - mp.mpf("0.025"), g)


def welch_ref(nc, mc, vc, nt, mt, vt):
    nc, mc, vc, nt, mt, vt = map(mp.mpf, (nc, mc, vc, nt, mt, vt))
    sc, st = vc / nc, vt / nt
    d = mt - mc
    se = mp.sqrt(sc + st)
    t = None if se == 0 else d / se
    if nc < 2 or nt < 2 or se == 0:
        df = None
    else:
        df = (sc + st) ** 2 / (sc ** 2 / (nc - 1) + st ** 2 / (nt - 1))
    p = None if df is None or t is None else min(ONE, 2 * t_sf(abs(t), df))
    tc = None if df is None else t_ppf975(df)
    lo = None if tc is None else d - tc * se
    hi = None if tc is None else d + tc * se
    return {"diff": d, "se": se, "t": t, "df": df, "p_value": p, "t_crit_975": tc,
            "ci95_lower": lo, "ci95_upper": hi}


def welch(name, nc, mc, vc, nt, mt, vt):
    r = welch_ref(nc, mc, vc, nt, mt, vt)
    if r["p_value"] is not None and vc > 0 and vt > 0:  # scipy cross-check
        s = sst.ttest_ind_from_stats(mt, math.sqrt(vt), nt, mc, math.sqrt(vc), nc,
                                     equal_var=False)
        assert close(float(r["t"]), s.statistic, 1e-9), name
        if s.pvalue > 1e-250:
            assert close(float(r["p_value"]), s.pvalue, 1e-6), (name, r["p_value"], s.pvalue)
    add("welch", name, {"control_n": nc, "control_mean": mc, "control_var": vc,
                        "treatment_n": nt, "treatment_mean": mt, "treatment_var": vt}, r)


def lift(name, nc, mc, vc, nt, mt, vt):
    nc_, mc_, vc_, nt_, mt_, vt_ = map(mp.mpf, (nc, mc, vc, nt, mt, vt))
    if mc == 0:
        e = dict.fromkeys(["lift", "se_lift", "ci95_lower", "ci95_upper", "z", "p_value"])
    else:
        l = mt_ / mc_ - 1
        se = mp.sqrt(vt_ / (nt_ * mc_ ** 2) + mt_ ** 2 * vc_ / (nc_ * mc_ ** 4))
        z = None if se == 0 else l / se
        e = {"lift": l, "se_lift": se, "ci95_lower": l - Z975 * se, "ci95_upper": l + Z975 * se,
             "z": z, "p_value": p2(z)}
    add("lift", name, {"control_n": nc, "control_mean": mc, "control_var": vc,
                       "treatment_n": nt, "treatment_mean": mt, "treatment_var": vt}, e)


MEANS = [
    ("basic", 1000, 10.0, 4.0, 1000, 10.3, 4.5),
    ("negative_effect", 800, 25.5, 100.0, 900, 24.1, 90.0),
    ("unequal_var_small_df", 5, 1.0, 0.5, 40, 2.5, 9.0),
    ("df_between_30_and_3000", 40, 0.0, 1.0, 60, 3.0, 1.2),
    ("large_t_moderate_df", 60, 0.0, 1.0, 60, 2.5, 1.0),
    ("n_two", 2, 1.0, 0.5, 2, 3.0, 2.0),
    ("n_three", 3, 1.0, 1.0, 3, 1.5, 0.75),
    ("n_one", 1, 1.0, 0.0, 5, 2.0, 1.0),
    ("identical", 500, 3.0, 2.0, 500, 3.0, 2.0),
    ("zero_variance", 10, 3.0, 0.0, 10, 3.0, 0.0),
    ("ten_million", 10000000, 50.0, 2500.0, 10000000, 50.02, 2510.0),
    ("very_unequal", 2000000, 5.0, 30.0, 250, 5.9, 41.0),
    ("p_below_1e20", 50000, 10.0, 4.0, 50000, 10.2, 4.0),
    ("zero_control_mean", 100, 0.0, 1.0, 100, 0.5, 1.0),
]
for c in MEANS:
    welch(*c)
    lift(*c)


# ---------------------------------------------------------------- srm
def srm(name, obs, w):
    tot = sum(mp.mpf(o) for o in obs)
    ws = sum(mp.mpf(x) for x in w)
    e = [tot * mp.mpf(x) / ws for x in w]
    chi2 = None if any(x == 0 for x in e) else sum((mp.mpf(o) - x) ** 2 / x for o, x in zip(obs, e))
    df = len(obs) - 1
    p = None if chi2 is None else mp.gammainc(mp.mpf(df) / 2, chi2 / 2, mp.inf, regularized=True)
    if chi2 is not None:
        s = sst.chisquare(obs, [float(x) for x in e])
        assert close(float(chi2), s.statistic, 1e-9), name
    add("srm", name, {"observed": obs, "weights": w},
        {"expected_counts": e, "chi2": chi2, "df": df, "p_value": p,
         "mismatch": bool(p is not None and p < 0.001)})


srm("balanced_two", [5000, 5050], [1, 1])
srm("mismatch_two", [5000, 5400], [50, 50])
srm("three_arms", [3300, 3350, 3280], [1, 1, 1])
srm("unequal_weights", [2000, 8100], [0.2, 0.8])
srm("five_arms_mismatch", [1000, 1000, 1000, 1000, 1200], [1, 1, 1, 1, 1])
srm("four_arms_weighted", [10000, 20100, 30050, 39850], [1, 2, 3, 4])
srm("ten_million", [10000000, 10010000], [1, 1])
srm("p_below_1e20", [100000, 103000], [1, 1])
srm("zero_counts", [0, 0], [1, 1])
srm("exact_match", [500, 500], [1, 1])


# ---------------------------------------------------------------- bayes
def beta_mp(a, b):
    return mp.exp(mp.loggamma(a) + mp.loggamma(b) - mp.loggamma(a + b))


def prob_b_beats_a(aa, ba, ab, bb):
    """P(B > A), A ~ Beta(aa, ba), B ~ Beta(ab, bb), ab a positive integer: Evan Miller's
    exact sum over i < ab of t_i = B(aa+i, ba+bb) Γ(bb+i) / (Γ(i+1) Γ(bb) B(aa, ba)).
    The terms are unimodal, so the sum starts at the largest and walks out both ways
    until the terms drop below 1e-40 of the total."""
    aa, ba, ab, bb = map(mp.mpf, (aa, ba, ab, bb))
    S = ba + bb
    n = int(ab)

    def logt(i):
        return (mp.loggamma(aa + i) + mp.loggamma(S) - mp.loggamma(aa + i + S)
                + mp.loggamma(bb + i) - mp.loggamma(i + 1) - mp.loggamma(bb)
                - (mp.loggamma(aa) + mp.loggamma(ba) - mp.loggamma(aa + ba)))

    def ratio(i):  # t_{i+1} / t_i
        return (aa + i) / (aa + i + S) * (bb + i) / (i + 1)

    # the peak: ratio(i) = 1, i.e. (aa+i)(bb+i) = (aa+S+i)(i+1)
    A, B, C = float(aa), float(bb), float(aa + S)
    qb, qc = A + B - C - 1, A * B - C  # the i² terms cancel: linear
    peak = -qc / qb if qb != 0 else 0.0
    i0 = int(min(max(peak, 0), n - 1))
    t0 = mp.exp(logt(i0))
    total = t0
    t, i = t0, i0
    while i > 0:
        t /= ratio(i - 1)
        i -= 1
        total += t
        if t < total * mp.mpf("1e-40"):
            break
    t, i = t0, i0
    while i + 1 < n:
        t *= ratio(i)
        i += 1
        total += t
        if t < total * mp.mpf("1e-40"):
            break
    return total


def prob_gt(X, Y):
    """P(X > Y) for X ~ Beta(X), Y ~ Beta(Y): Evan Miller's sum, or the same sum on the
    reflections 1-Y ~ Beta(bY, aY) > 1-X when that one is shorter (all-converted arms)."""
    if X[0] <= Y[1]:
        return prob_b_beats_a(Y[0], Y[1], X[0], X[1])
    return prob_b_beats_a(X[1], X[0], Y[1], Y[0])


def bayes_two(name, arms, prior=(1, 1)):
    a0, b0 = prior
    (n0, x0), (n1, x1) = arms
    A = (mp.mpf(a0 + x0), mp.mpf(b0 + n0 - x0))
    B = (mp.mpf(a0 + x1), mp.mpf(b0 + n1 - x1))
    mA, mB = A[0] / (A[0] + A[1]), B[0] / (B[0] + B[1])
    pB = prob_gt(B, A)
    # E[pB 1(pB > pA)] = mB P(Beta(aB+1,bB) > A); E[pA 1(pB > pA)] = mA P(B > Beta(aA+1,bA))
    eB = mB * prob_gt((B[0] + 1, B[1]), A)
    eA = mA * prob_gt(B, (A[0] + 1, A[1]))
    lossA = eB - eA          # E[(pB - pA)^+]
    lossB = lossA - (mB - mA)  # E[(pA - pB)^+]
    inp = {"variants": [{"n": n, "conversions": x} for n, x in arms]}
    if prior != (1, 1):
        inp["prior"] = list(prior)
    add("bayes", name, inp,
        {"posterior_params": [A[0], A[1], B[0], B[1]], "posterior_means": [mA, mB],
         "prob_best": [1 - pB, pB], "expected_loss": [lossA, lossB],
         "prob_treatment_beats_control": pB})


def bayes_quad(name, arms, prior=(1, 1)):
    """k arms by mpmath quadrature (moderate sizes; mpmath's betainc is exact there)."""
    a0, b0 = prior
    ps = [(mp.mpf(a0 + x), mp.mpf(b0 + n - x)) for n, x in arms]
    k = len(ps)
    memo = {}

    def cdf_at(i, t):  # every integral meets the same nodes: compute each CDF once
        key = (i, t)
        if key not in memo:
            a, b = ps[i]
            memo[key] = mp.betainc(a, b, 0, t, regularized=True)
        return memo[key]

    pdf = [lambda t, a=a, b=b: t ** (a - 1) * (1 - t) ** (b - 1) / beta_mp(a, b) for a, b in ps]
    cdf = [lambda t, i=i: cdf_at(i, t) for i in range(k)]
    pts = {mp.mpf(0), mp.mpf(1)}
    for a, b in ps:
        m = a / (a + b)
        sd = mp.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        for o in (-12, -6, -3, 0, 3, 6, 12):
            x = m + o * sd
            if 0 < x < 1:
                pts.add(x)
    pts = sorted(pts)
    best, loss = [], []
    for j in range(k):
        def g(t, j=j):
            r = pdf[j](t)
            for i in range(k):
                if i != j:
                    r *= cdf[i](t)
            return r

        def h(t, j=j):
            r = ONE
            for i in range(k):
                if i != j:
                    r *= cdf[i](t)
            return cdf[j](t) * (1 - r)
        best.append(mp.quad(g, pts))
        loss.append(mp.quad(h, pts))
    assert abs(sum(best) - 1) < 1e-20, (name, sum(best))
    inp = {"variants": [{"n": n, "conversions": x} for n, x in arms]}
    if prior != (1, 1):
        inp["prior"] = list(prior)
    e = {"posterior_params": [v for p in ps for v in p],
         "posterior_means": [a / (a + b) for a, b in ps], "prob_best": best, "expected_loss": loss}
    if k == 2:
        e["prob_treatment_beats_control"] = best[1]
    add("bayes", name, inp, e)


mp.mp.dps = 30
bayes_two("two_basic", [(1000, 100), (1000, 120)])
bayes_two("two_negative", [(1000, 120), (1000, 100)])
bayes_two("two_identical", [(500, 50), (500, 50)])
bayes_two("two_zero_conversions", [(1000, 0), (1000, 0)])
bayes_two("two_all_converted", [(300, 300), (200, 200)])
bayes_two("two_n_one", [(1, 0), (1, 1)])
bayes_two("two_n_three", [(3, 1), (2, 2)])
bayes_two("two_very_unequal", [(200000, 10000), (300, 21)])
bayes_two("two_prior_5_45", [(100, 12), (100, 9)], prior=(5, 45))
bayes_two("two_100k", [(100000, 10000), (100000, 10150)])
bayes_two("two_1m_small_rate", [(1000000, 2000), (1000000, 2100)])
bayes_two("two_ten_million", [(10000000, 1000000), (10000000, 1001000)])
bayes_two("two_ten_million_equal", [(10000000, 500000), (10000000, 500000)])
bayes_two("two_ten_million_zero_vs_one", [(10000000, 0), (10000000, 1)])
bayes_two("two_ten_million_all_vs_all_but_one", [(10000000, 10000000), (10000000, 9999999)])
bayes_two("two_ten_million_vs_three", [(10000000, 5000000), (3, 1)])
mp.mp.dps = 20
bayes_quad("quad_two_check", [(200, 20), (180, 25)])
bayes_quad("three_arms", [(500, 50), (500, 60), (500, 55)])
bayes_quad("three_arms_small", [(10, 1), (12, 3), (9, 0)])
bayes_quad("four_arms", [(200, 20), (210, 25), (205, 19), (195, 23)])
bayes_quad("five_arms", [(150, 15), (150, 17), (150, 13), (150, 18), (150, 15)])
bayes_quad("five_arms_one_far_behind", [(400, 40), (400, 42), (400, 12), (400, 41), (400, 38)])
bayes_quad("three_arms_zero", [(50, 0), (50, 0), (50, 1)])
mp.mp.dps = 50


# ---------------------------------------------------------------- power
def power_ref(name, p1, mde, alpha=0.05, power=0.8, ratio=1.0, keys=None):
    p1_, mde_, a_, pw_, r_ = map(mp.mpf, (p1, mde, alpha, power, ratio))
    p2 = p1_ * (1 + mde_)
    za = -mp.sqrt(2) * mp.erfinv(a_ - 1)  # Φ⁻¹(1 - α/2)
    zb = mp.sqrt(2) * mp.erfinv(2 * pw_ - 1)
    pbar = (p1_ + r_ * p2) / (1 + r_)
    s0 = mp.sqrt(pbar * (1 - pbar) * (1 + 1 / r_))
    s1 = mp.sqrt(p1_ * (1 - p1_) + p2 * (1 - p2) / r_)
    nn = (za * s0 + zb * s1) ** 2 / (p2 - p1_) ** 2
    h = abs(2 * mp.asin(mp.sqrt(p2)) - 2 * mp.asin(mp.sqrt(p1_)))

    def pw(n1):
        s = h * mp.sqrt(n1 * r_ / (1 + r_))
        return norm_sf(za - s) + (1 - norm_sf(-za - s)) - pw_

    g = NormalIndPower().solve_power(effect_size=float(h), alpha=alpha, power=power, ratio=ratio)
    nh = mp.findroot(pw, mp.mpf(g))
    assert close(float(nh), g, 1e-5), (name, nh, g)
    inp = {"baseline_rate": p1, "relative_mde": mde}
    for k, v in (keys or {}).items():
        inp[k] = v
    add("power", name, inp, {"n_normal_approx": nn, "n_normal_approx_ceil": mp.ceil(nn),
                             "n_cohens_h": nh, "n_cohens_h_ceil": mp.ceil(nh)})


power_ref("basic", 0.1, 0.1)
power_ref("negative_mde", 0.1, -0.1)
power_ref("low_baseline", 0.01, 0.05)
power_ref("high_baseline", 0.9, 0.05)
power_ref("big_mde_small_n", 0.3, 1.0)
power_ref("alpha_power_ratio", 0.2, 0.1, 0.01, 0.9, 2.0,
          {"alpha": 0.01, "power": 0.9, "ratio": 2.0})
power_ref("ratio_half", 0.05, -0.2, 0.05, 0.8, 0.5, {"ratio": 0.5})


# ---------------------------------------------------------------- adjust
def adjust(name, ps, alpha=0.05):
    h = multipletests(ps, alpha=alpha, method="holm")
    b = multipletests(ps, alpha=alpha, method="fdr_bh")
    bo = multipletests(ps, alpha=alpha, method="bonferroni")
    # the definitions, independently of statsmodels
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    holm = [0.0] * m
    run = 0.0
    for r, i in enumerate(order):
        run = max(run, min(1.0, (m - r) * ps[i]))
        holm[i] = run
    bh = [0.0] * m
    run = 1.0
    for r in range(m - 1, -1, -1):
        i = order[r]
        run = min(run, min(1.0, m * ps[i] / (r + 1)))
        bh[i] = run
    assert np.allclose(holm, h[1], rtol=1e-12, atol=0) and np.allclose(bh, b[1], rtol=1e-12, atol=0)
    assert list(h[0]) == [x <= alpha for x in holm] and list(b[0]) == [x <= alpha for x in bh]
    inp = {"p_values": ps}
    if alpha != 0.05:
        inp["alpha"] = alpha
    add("adjust", name, inp,
        {"holm_adjusted": holm, "holm_reject": [bool(x) for x in h[0]], "bh_adjusted": bh,
         "bh_reject": [bool(x) for x in b[0]], "bonferroni_adjusted": list(bo[1])})


adjust("basic", [0.01, 0.04, 0.03, 0.005, 0.2])
adjust("single", [0.03])
adjust("ties", [0.02, 0.02, 0.02, 0.5])
adjust("all_large", [0.6, 0.9, 0.7])
adjust("tiny", [1e-30, 1e-10, 0.049, 0.051])
adjust("alpha_01", [0.001, 0.02, 0.08, 0.09, 0.3, 0.011], alpha=0.1)


# ---------------------------------------------------------------- chisq
def chisq(name, table):
    t = [[mp.mpf(x) for x in row] for row in table]
    R, C = len(t), len(t[0])
    tot = sum(sum(r) for r in t)
    rs = [sum(r) for r in t]
    cs = [sum(t[i][j] for i in range(R)) for j in range(C)]
    e = [[rs[i] * cs[j] / tot for j in range(C)] for i in range(R)]
    dof = (R - 1) * (C - 1)
    undefined = any(e[i][j] == 0 for i in range(R) for j in range(C))

    def stat(y):
        s = mp.mpf(0)
        for i in range(R):
            for j in range(C):
                d = t[i][j] - e[i][j]
                if y:
                    mag = min(mp.mpf("0.5"), abs(d))
                    d = d - mag if d > 0 else d + mag
                s += d * d / e[i][j]
        return s

    def pv(c):
        return mp.gammainc(mp.mpf(dof) / 2, c / 2, mp.inf, regularized=True)

    c = None if undefined else stat(False)
    cy = None if undefined or (R, C) != (2, 2) else stat(True)
    if not undefined:
        s = sst.chi2_contingency(np.array(table, dtype=float), correction=False)
        assert close(float(c), s[0], 1e-9), name
        if cy is not None:
            s = sst.chi2_contingency(np.array(table, dtype=float), correction=True)
            assert close(float(cy), s[0], 1e-9), name
    add("chisq", name, {"table": table},
        {"expected_counts": [x for r in e for x in r], "dof": dof, "chi2": c,
         "p_value": None if c is None else pv(c), "chi2_yates": cy,
         "p_value_yates": None if cy is None else pv(cy)})


chisq("basic_2x2", [[120, 880], [100, 900]])
chisq("negative_2x2", [[80, 920], [100, 900]])
chisq("three_rows", [[100, 900], [120, 880], [90, 910]])
chisq("five_rows", [[30, 270], [33, 267], [27, 273], [36, 264], [30, 270]])
chisq("small_counts_yates_capped", [[1, 2], [2, 1]])
chisq("identical", [[50, 450], [50, 450]])
chisq("ten_million", [[1003000, 8997000], [1000000, 9000000]])
chisq("p_below_1e20", [[12500, 87500], [10000, 90000]])
chisq("zero_conversions", [[0, 100], [0, 100]])


# ---------------------------------------------------------------- mannwhitney
def mannwhitney(name, tr, ct):
    n1, n2 = len(tr), len(ct)
    allv = sorted([(v, 1) for v in tr] + [(v, 0) for v in ct])
    N = n1 + n2
    ranks_t = mp.mpf(0)
    ties = mp.mpf(0)
    i = 0
    while i < N:
        j = i
        while j < N and allv[j][0] == allv[i][0]:
            j += 1
        avg = mp.mpf(i + 1 + j) / 2
        ranks_t += avg * sum(1 for a in range(i, j) if allv[a][1])
        c = j - i
        ties += c ** 3 - c
        i = j
    U1 = ranks_t - mp.mpf(n1) * (n1 + 1) / 2
    U2 = n1 * n2 - U1
    sigma = mp.sqrt(mp.mpf(n1) * n2 / 12 * ((N + 1) - ties / (mp.mpf(N) * (N - 1))))
    z = None if sigma == 0 else (max(U1, U2) - mp.mpf(n1) * n2 / 2 - mp.mpf("0.5")) / sigma
    p = None if z is None else min(ONE, 2 * norm_sf(z))
    s = sst.mannwhitneyu(tr, ct, alternative="two-sided", method="asymptotic", use_continuity=True)
    assert float(U1) == s.statistic, name
    if p is not None and s.pvalue > 1e-250:
        assert close(float(p), s.pvalue, 1e-7), (name, p, s.pvalue)
    add("mannwhitney", name, {"treatment": tr, "control": ct},
        {"U_treatment": U1, "U_control": U2, "sigma": sigma, "z": z, "p_value": p})


rng = np.random.default_rng(20261127)
mannwhitney("basic", [1.2, 3.4, 2.2, 5.1, 4.4, 3.3], [0.5, 1.1, 2.0, 1.9, 3.0])
mannwhitney("ties", [1, 2, 2, 3, 3, 3, 4], [1, 1, 2, 3, 5, 5])
mannwhitney("negative_effect", [0.1, 0.3, 0.2, 0.25], [1.0, 2.0, 1.5, 3.0, 0.9])
mannwhitney("identical_groups", [1, 2, 3, 4], [1, 2, 3, 4])
mannwhitney("n_one", [5.0], [1.0, 2.0])
mannwhitney("all_tied", [7, 7, 7], [7, 7])
mannwhitney("large_random", [round(float(x), 3) for x in rng.normal(0.3, 1, 400)],
            [round(float(x), 3) for x in rng.normal(0, 1, 350)])
mannwhitney("large_ties", [int(x) for x in rng.poisson(3.3, 500)],
            [int(x) for x in rng.poisson(3.0, 600)])
mannwhitney("p_below_1e20", [round(float(x), 4) for x in rng.normal(2, 1, 300)],
            [round(float(x), 4) for x in rng.normal(0, 1, 300)])


# ---------------------------------------------------------------- msprt
def msprt_one(nc, nt, vc, vt, d, tau2, th0=0):
    nc, nt, vc, vt, d, tau2, th0 = map(mp.mpf, (nc, nt, vc, vt, d, tau2, th0))
    V = vc / nc + vt / nt
    ll = mp.log(V / (V + tau2)) / 2 + tau2 * (d - th0) ** 2 / (2 * V * (V + tau2))
    return {"V": V, "log_lambda": ll, "lambda": mp.exp(ll), "p_value": min(ONE, mp.exp(-ll)),
            "log10_p_value": min(mp.mpf(0), -ll / mp.log(10))}


def msprt(name, nc, nt, vc, vt, d, tau2, th0=None):
    inp = {"control_n": nc, "treatment_n": nt, "control_var": vc, "treatment_var": vt,
           "diff": d, "tau2": tau2}
    if th0 is not None:
        inp["theta0"] = th0
    add("msprt", name, inp, msprt_one(nc, nt, vc, vt, d, tau2, th0 or 0))


msprt("basic", 1000, 1000, 0.09, 0.0975, 0.02, 0.0001)
msprt("no_effect", 5000, 5000, 1.0, 1.0, 0.0, 0.01)
msprt("negative_effect", 20000, 20000, 4.0, 4.2, -0.15, 0.01)
msprt("theta0", 3000, 3000, 2.0, 2.0, 0.3, 0.05, 0.1)
msprt("ten_million", 10000000, 10000000, 0.09, 0.0901, 0.0003, 0.0001)
msprt("huge_evidence", 1000000, 1000000, 1.0, 1.0, 0.05, 0.001)
msprt("n_one", 1, 1, 1.0, 1.0, 0.5, 1.0)
looks = [(1000, 1000, 1.0, 1.0, 0.1, 0.01), (2000, 2000, 1.0, 1.0, 0.03, 0.01),
         (3000, 3000, 1.0, 1.0, 0.12, 0.01), (4000, 4000, 1.0, 1.0, 0.05, 0.01)]
per = [msprt_one(*l) for l in looks]
run, pr = ONE, []
for r in per:
    run = min(run, r["p_value"])
    pr.append(run)
add("msprt", "looks", {"looks": [dict(zip(["control_n", "treatment_n", "control_var",
                                           "treatment_var", "diff", "tau2"], l)) for l in looks]},
    {"p_running": pr, "p_value": per[-1]["p_value"], "log_lambda": per[-1]["log_lambda"]})


# ---------------------------------------------------------------- cuped
def cuped(name, xc, yc, xt, yt):
    X = [mp.mpf(v) for v in xc + xt]
    Y = [mp.mpf(v) for v in yc + yt]
    n = len(X)
    xbar, ybar = sum(X) / n, sum(Y) / n
    sxx = sum((x - xbar) ** 2 for x in X)
    theta = sum((x - xbar) * (y - ybar) for x, y in zip(X, Y)) / sxx if sxx else mp.mpf(0)

    def mv(ys):
        m = sum(ys) / len(ys)
        return m, sum((y - m) ** 2 for y in ys) / (len(ys) - 1)

    adj_c = [mp.mpf(y) - theta * (mp.mpf(x) - xbar) for x, y in zip(xc, yc)]
    adj_t = [mp.mpf(y) - theta * (mp.mpf(x) - xbar) for x, y in zip(xt, yt)]
    mc, vc = mv([mp.mpf(v) for v in yc])
    mt, vt = mv([mp.mpf(v) for v in yt])
    raw = welch_ref(len(yc), mc, vc, len(yt), mt, vt)
    mc, vc = mv(adj_c)
    mt, vt = mv(adj_t)
    adj = welch_ref(len(yc), mc, vc, len(yt), mt, vt)
    add("cuped", name, {"control": {"x": xc, "y": yc}, "treatment": {"x": xt, "y": yt}},
        {"theta": theta, "x_mean_pooled": xbar, "diff_raw": raw["diff"], "diff_adj": adj["diff"],
         "variance_reduction_ratio": 1 - adj["se"] ** 2 / raw["se"] ** 2,
         "welch_adjusted": adj, "welch_raw": raw})


def r3(a):
    return [round(float(v), 3) for v in a]


xc = rng.normal(10, 3, 200)
xt = rng.normal(10, 3, 220)
cuped("correlated", r3(xc), r3(0.8 * xc + rng.normal(0, 1, 200)), r3(xt),
      r3(0.8 * xt + 0.4 + rng.normal(0, 1, 220)))
xc = rng.normal(5, 1, 150)
xt = rng.normal(5, 1, 150)
cuped("uncorrelated", r3(xc), r3(rng.normal(2, 1, 150)), r3(xt), r3(rng.normal(2.1, 1, 150)))
cuped("negative_effect", [1, 2, 3, 4, 5], [1.5, 2.4, 3.1, 4.8, 5.2], [1, 2, 3, 4],
      [0.9, 1.8, 2.6, 3.9])
cuped("n_two", [1, 2], [1, 3], [2, 4], [2, 5])


# ---------------------------------------------------------------- engine functions
def wilson(name, n, x):
    z = Z975
    n_, x_ = mp.mpf(n), mp.mpf(x)
    c = (x_ + z * z / 2) / (n_ + z * z)
    h = z / (n_ + z * z) * mp.sqrt(x_ * (n_ - x_) / n_ + z * z / 4)
    lo, hi = max(mp.mpf(0), c - h), min(ONE, c + h)
    s = proportion_confint(x, n, alpha=0.05, method="wilson")
    assert close(float(lo), s[0], 1e-9) or float(lo) < 1e-12, name
    add("wilson", name, {"n": n, "conversions": x}, {"lower": lo, "upper": hi})


wilson("basic", 1000, 100)
wilson("zero", 50, 0)
wilson("all", 50, 50)
wilson("n_one", 1, 1)
wilson("ten_million", 10000000, 1000000)


def bnorm(name, effect, se, prior_sd=0):
    e, s, p = map(mp.mpf, (effect, se, prior_sd))
    prec = 1 / s ** 2 + (1 / p ** 2 if p > 0 else 0)
    sd = mp.sqrt(1 / prec)
    m = e / s ** 2 / prec
    add("bayes_normal", name, {"effect": effect, "se": se, "prior_sd": prior_sd},
        {"post_mean": m, "post_sd": sd, "chance_to_win": 1 - norm_sf(m / sd),
         "ci95_lower": m - Z975 * sd, "ci95_upper": m + Z975 * sd})


bnorm("flat", 0.03, 0.02)
bnorm("negative", -0.05, 0.01)
bnorm("prior", 0.03, 0.02, 0.05)
bnorm("far_tail", -2.0, 0.1)


def seq(name, effect, se, n, alpha=0.05, nstar=5000):
    e, s, n_, a, ns = map(mp.mpf, (effect, se, n, alpha, nstar))
    la = -2 * mp.log(a)
    rho = mp.sqrt((la + mp.log(la + 1)) / ns)
    s2 = s * s * n_
    hw = mp.sqrt(s2) * mp.sqrt(2 * (n_ * rho ** 2 + 1) / (n_ ** 2 * rho ** 2)
                               * mp.log(mp.sqrt(n_ * rho ** 2 + 1) / a))
    add("sequential", name, {"effect": effect, "se": se, "n": n, "alpha": alpha, "n_star": nstar},
        {"rho": rho, "halfwidth": hw, "ci_lower": e - hw, "ci_upper": e + hw})


seq("basic", 0.02, 0.01, 20000)
seq("early", 0.1, 0.08, 500)
seq("large", 0.001, 0.0004, 20000000)
seq("tuning", 0.02, 0.01, 20000, 0.1, 10000)


def ratio(name, c, t):
    def one(g):
        n, mn, md, vn, vd, cv = map(mp.mpf, g)
        r = mn / md
        return r, mp.sqrt((vn - 2 * r * cv + r * r * vd) / (md * md) / n)
    rc, sc = one(c)
    rt, st = one(t)
    se = mp.sqrt(sc ** 2 + st ** 2)
    z = (rt - rc) / se
    keys = ["n", "mean_num", "mean_den", "var_num", "var_den", "cov_num_den"]
    add("ratio", name, {"control": dict(zip(keys, c)), "treatment": dict(zip(keys, t))},
        {"control_ratio": rc, "control_se": sc, "treatment_ratio": rt, "treatment_se": st,
         "diff": rt - rc, "se": se, "z": z, "p_value": p2(z), "ci95_lower": rt - rc - Z975 * se,
         "ci95_upper": rt - rc + Z975 * se})


ratio("basic", (1000, 12.0, 3.0, 40.0, 2.0, 5.0), (1000, 13.0, 3.1, 42.0, 2.1, 5.5))
ratio("negative", (5000, 2.0, 1.0, 3.0, 0.5, 0.8), (5000, 1.9, 1.0, 3.0, 0.5, 0.8))


def winsor(name, values, pct):
    cap = float(np.percentile(values, pct))
    add("winsorize", name, {"values": values, "percentile": pct},
        {"cap": cap, "values": [min(v, cap) for v in values]})


winsor("basic", [1.0, 2.0, 3.0, 100.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], 90)
winsor("p99", [round(float(x), 2) for x in rng.lognormal(2, 1, 200)], 99)
winsor("p100_noop", [3.0, 1.0, 2.0], 100)

json.dump({"generator": "tests/ref/gen_stats_ref.py", "tolerance_rel": 1e-9,
           "tolerance_abs": 1e-12, "cases": CASES}, sys.stdout, indent=1)
sys.stdout.write("\n")
