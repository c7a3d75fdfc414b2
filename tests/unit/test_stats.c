/* test_stats.c — nb_stats against independent reference values
 * (tests/ref/stats_ref.json, from tests/ref/gen_stats_ref.py: mpmath, scipy,
 * statsmodels), plus property tests over random inputs. */
#include "nbtest.h"
#include "neonblue/stats.h"

#include <cjson/cJSON.h>

#define REL 1e-9
#define ABS 1e-12

static cJSON *ref;

/* ---- loading the reference file ---- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	if (fread(s, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	s[n] = '\0';
	fclose(f);
	return s;
}

static cJSON *load_ref(void)
{
	char path[4096];
	const char *root = getenv("NB_ROOT");
	snprintf(path, sizeof path, "%s/tests/ref/stats_ref.json", root ? root : ".");
	char *s = slurp(path);
	if (!s)
		return NULL;
	cJSON *j = cJSON_Parse(s);
	free(s);
	return j;
}

/* ---- comparing ---- */

static int n_compared;

/* One number against the reference: null means undefined (NaN/inf). */
static void cmp_num(const char *fam, const char *name, const char *key, double got,
		    const cJSON *exp)
{
	n_compared++;
	if (!exp) {
		nbt_report(__FILE__, __LINE__, "%s/%s: reference has no key %s", fam, name, key);
		return;
	}
	if (cJSON_IsNull(exp)) {
		CHECKF(!isfinite(got), "%s/%s %s = %.17g, expected null", fam, name, key, got);
		return;
	}
	double e = cJSON_IsBool(exp) ? cJSON_IsTrue(exp) : exp->valuedouble;
	double d = fabs(got - e);
	CHECKF(d <= ABS || d <= REL * fabs(e), "%s/%s %s = %.17g, expected %.17g (rel err %.3g)",
	       fam, name, key, got, e, d / fabs(e));
}

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static double num(const cJSON *o, const char *k, double def)
{
	const cJSON *it = get(o, k);
	return it && cJSON_IsNumber(it) ? it->valuedouble : def;
}

static size_t nums(const cJSON *o, const char *k, double *v, size_t max)
{
	size_t n = 0;
	for (const cJSON *it = get(o, k) ? get(o, k)->child : NULL; it && n < max; it = it->next)
		v[n++] = it->valuedouble;
	return n;
}

static const cJSON *at(const cJSON *o, const char *k, size_t i)
{
	return cJSON_GetArrayItem(get(o, k), (int)i);
}

#define FOR_CASES(fam_)                                                                    \
	for (const cJSON *c = get(ref, "cases") ? get(ref, "cases")->child : NULL; c;      \
	     c = c->next)                                                                  \
		if (!strcmp(get(c, "family")->valuestring, fam_))

#define CASE_VARS                                                                          \
	const cJSON *in = get(c, "input"), *ex = get(c, "expected");                       \
	const char *name = get(c, "name")->valuestring;                                    \
	(void)in;                                                                          \
	(void)ex;                                                                          \
	(void)name;

static int count_cases(const char *fam)
{
	int n = 0;
	FOR_CASES(fam)
	n++;
	return n;
}

/* ---- reference tests, one per family ---- */

static void ref_loaded(void)
{
	CHECKF(ref != NULL, "cannot read $NB_ROOT/tests/ref/stats_ref.json");
	const char *fams[] = {"proportions", "welch", "lift", "srm", "bayes", "power",
			      "adjust", "chisq", "mannwhitney", "msprt", "cuped", "wilson",
			      "bayes_normal", "sequential", "ratio", "winsorize"};
	for (size_t i = 0; ref && i < sizeof fams / sizeof *fams; i++)
		CHECKF(count_cases(fams[i]) >= 2, "no reference cases for %s", fams[i]);
}

static void ref_proportions(void)
{
	FOR_CASES("proportions")
	{
		CASE_VARS
		nb_stats_prop_in p = {num(in, "control_n", 0), num(in, "control_conversions", 0),
				      num(in, "treatment_n", 0),
				      num(in, "treatment_conversions", 0)};
		nb_stats_prop_out r;
		nb_err e;
		CHECK_INT(nb_stats_proportions(&p, &r, &e), 0);
#define K(f) cmp_num("proportions", name, #f, r.f, get(ex, #f))
		K(p_control);
		K(p_treatment);
		K(diff);
		K(p_pooled);
		K(se_pooled);
		K(z);
		K(p_value);
		K(se_unpooled);
		K(ci95_lower);
		K(ci95_upper);
#undef K
	}
}

static nb_stats_means_in means_in(const cJSON *in)
{
	nb_stats_means_in m = {num(in, "control_n", 0),   num(in, "control_mean", 0),
			       num(in, "control_var", 0), num(in, "treatment_n", 0),
			       num(in, "treatment_mean", 0), num(in, "treatment_var", 0)};
	return m;
}

static void cmp_welch(const char *fam, const char *name, const nb_stats_welch_out *r,
		      const cJSON *ex)
{
#define K(f) cmp_num(fam, name, #f, r->f, get(ex, #f))
	K(diff);
	K(se);
	K(t);
	K(df);
	K(p_value);
	K(t_crit_975);
	K(ci95_lower);
	K(ci95_upper);
#undef K
}

static void ref_welch(void)
{
	FOR_CASES("welch")
	{
		CASE_VARS
		nb_stats_means_in m = means_in(in);
		nb_stats_welch_out r;
		nb_err e;
		CHECK_INT(nb_stats_welch(&m, &r, &e), 0);
		cmp_welch("welch", name, &r, ex);
	}
}

static void ref_lift(void)
{
	FOR_CASES("lift")
	{
		CASE_VARS
		nb_stats_means_in m = means_in(in);
		nb_stats_lift_out r;
		nb_err e;
		CHECK_INT(nb_stats_lift(&m, &r, &e), 0);
#define K(f) cmp_num("lift", name, #f, r.f, get(ex, #f))
		K(lift);
		K(se_lift);
		K(ci95_lower);
		K(ci95_upper);
		K(z);
		K(p_value);
#undef K
	}
}

static void ref_srm(void)
{
	FOR_CASES("srm")
	{
		CASE_VARS
		double o[16], w[16], e[16];
		size_t k = nums(in, "observed", o, 16);
		CHECK_INT(nums(in, "weights", w, 16), k);
		nb_stats_srm_out r;
		nb_err err;
		CHECK_INT(nb_stats_srm(o, w, k, e, &r, &err), 0);
		for (size_t i = 0; i < k; i++)
			cmp_num("srm", name, "expected_counts[i]", e[i], at(ex, "expected_counts", i));
		cmp_num("srm", name, "chi2", r.chi2, get(ex, "chi2"));
		cmp_num("srm", name, "df", r.df, get(ex, "df"));
		cmp_num("srm", name, "p_value", r.p_value, get(ex, "p_value"));
		CHECK_INT(r.mismatch, cJSON_IsTrue(get(ex, "mismatch")));
	}
}

static void ref_bayes(void)
{
	FOR_CASES("bayes")
	{
		CASE_VARS
		nb_stats_arm arms[NB_STATS_BAYES_MAX_ARMS];
		nb_stats_bayes_arm r[NB_STATS_BAYES_MAX_ARMS];
		size_t k = 0;
		for (const cJSON *v = get(in, "variants")->child; v; v = v->next, k++) {
			arms[k].n = num(v, "n", 0);
			arms[k].conversions = num(v, "conversions", 0);
		}
		double prior[2] = {1, 1};
		nums(in, "prior", prior, 2);
		nb_err e;
		CHECK_INT(nb_stats_bayes(arms, k, prior[0], prior[1], r, &e), 0);
		for (size_t i = 0; i < k; i++) {
			cmp_num("bayes", name, "alpha", r[i].alpha, at(ex, "posterior_params", 2 * i));
			cmp_num("bayes", name, "beta", r[i].beta,
				at(ex, "posterior_params", 2 * i + 1));
			cmp_num("bayes", name, "posterior_means", r[i].mean,
				at(ex, "posterior_means", i));
			cmp_num("bayes", name, "prob_best", r[i].prob_best, at(ex, "prob_best", i));
			cmp_num("bayes", name, "expected_loss", r[i].expected_loss,
				at(ex, "expected_loss", i));
		}
	}
}

static void ref_power(void)
{
	FOR_CASES("power")
	{
		CASE_VARS
		nb_stats_power_in p;
		nb_stats_power_defaults(&p);
		p.baseline_rate = num(in, "baseline_rate", 0);
		p.relative_mde = num(in, "relative_mde", 0);
		p.alpha = num(in, "alpha", p.alpha);
		p.power = num(in, "power", p.power);
		p.ratio = num(in, "ratio", p.ratio);
		nb_stats_power_out r;
		nb_err e;
		CHECK_INT(nb_stats_power(&p, &r, &e), 0);
#define K(f) cmp_num("power", name, #f, r.f, get(ex, #f))
		K(n_normal_approx);
		K(n_normal_approx_ceil);
		K(n_cohens_h);
		K(n_cohens_h_ceil);
#undef K
	}
}

static void ref_adjust(void)
{
	FOR_CASES("adjust")
	{
		CASE_VARS
		double p[32], h[32], b[32], bo[32];
		int hr[32], br[32];
		size_t idx[32];
		size_t m = nums(in, "p_values", p, 32);
		nb_stats_adjust_out o = {h, b, bo, hr, br};
		nb_err e;
		CHECK_INT(nb_stats_adjust(p, m, num(in, "alpha", 0.05), idx, &o, &e), 0);
		for (size_t i = 0; i < m; i++) {
			cmp_num("adjust", name, "holm_adjusted", h[i], at(ex, "holm_adjusted", i));
			cmp_num("adjust", name, "bh_adjusted", b[i], at(ex, "bh_adjusted", i));
			cmp_num("adjust", name, "bonferroni_adjusted", bo[i],
				at(ex, "bonferroni_adjusted", i));
			CHECKF(hr[i] == cJSON_IsTrue(at(ex, "holm_reject", i)), "%s holm_reject[%zu]",
			       name, i);
			CHECKF(br[i] == cJSON_IsTrue(at(ex, "bh_reject", i)), "%s bh_reject[%zu]",
			       name, i);
		}
	}
}

static void ref_chisq(void)
{
	FOR_CASES("chisq")
	{
		CASE_VARS
		double t[64], e[64];
		size_t rows = 0, cols = (size_t)cJSON_GetArraySize(get(in, "table")->child);
		for (const cJSON *row = get(in, "table")->child; row; row = row->next, rows++) {
			size_t j = 0;
			for (const cJSON *x = row->child; x; x = x->next, j++)
				t[rows * cols + j] = x->valuedouble;
		}
		nb_stats_chisq_out r;
		nb_err err;
		CHECK_INT(nb_stats_chisq(t, rows, cols, e, &r, &err), 0);
		for (size_t i = 0; i < rows * cols; i++)
			cmp_num("chisq", name, "expected_counts", e[i], at(ex, "expected_counts", i));
#define K(f) cmp_num("chisq", name, #f, r.f, get(ex, #f))
		K(dof);
		K(chi2);
		K(p_value);
		K(chi2_yates);
		K(p_value_yates);
#undef K
	}
}

static void ref_mannwhitney(void)
{
	FOR_CASES("mannwhitney")
	{
		CASE_VARS
		static double t[2000], cc[2000];
		static nb_stats_mw_item s[4000];
		size_t nt = nums(in, "treatment", t, 2000), nc = nums(in, "control", cc, 2000);
		nb_stats_mw_out r;
		nb_err e;
		CHECK_INT(nb_stats_mannwhitney(t, nt, cc, nc, s, &r, &e), 0);
#define K(f) cmp_num("mannwhitney", name, #f, r.f, get(ex, #f))
		K(U_treatment);
		K(U_control);
		K(sigma);
		K(z);
		K(p_value);
#undef K
	}
}

static nb_stats_msprt_in msprt_in(const cJSON *in)
{
	nb_stats_msprt_in m = {num(in, "control_n", 0),	  num(in, "treatment_n", 0),
			       num(in, "control_var", 0), num(in, "treatment_var", 0),
			       num(in, "diff", 0),	  num(in, "tau2", 0),
			       num(in, "theta0", 0)};
	return m;
}

static void ref_msprt(void)
{
	FOR_CASES("msprt")
	{
		CASE_VARS
		nb_err e;
		if (get(in, "looks")) {
			nb_stats_msprt_in m[16];
			nb_stats_msprt_out r[16];
			double pr[16];
			size_t n = 0;
			for (const cJSON *l = get(in, "looks")->child; l && n < 16; l = l->next)
				m[n++] = msprt_in(l);
			CHECK_INT(nb_stats_msprt_looks(m, n, r, pr, &e), 0);
			for (size_t i = 0; i < n; i++)
				cmp_num("msprt", name, "p_running", pr[i], at(ex, "p_running", i));
			cmp_num("msprt", name, "p_value", r[n - 1].p_value, get(ex, "p_value"));
			cmp_num("msprt", name, "log_lambda", r[n - 1].log_lambda,
				get(ex, "log_lambda"));
			continue;
		}
		nb_stats_msprt_in m = msprt_in(in);
		nb_stats_msprt_out r;
		CHECK_INT(nb_stats_msprt(&m, &r, &e), 0);
#define K(f) cmp_num("msprt", name, #f, r.f, get(ex, #f))
		K(V);
		K(log_lambda);
		K(lambda);
		K(p_value);
		K(log10_p_value);
#undef K
	}
}

static void ref_cuped(void)
{
	FOR_CASES("cuped")
	{
		CASE_VARS
		static double xc[1000], yc[1000], xt[1000], yt[1000];
		const cJSON *gc = get(in, "control"), *gt = get(in, "treatment");
		nb_stats_cuped_group c = {xc, yc, nums(gc, "x", xc, 1000)};
		nb_stats_cuped_group t = {xt, yt, nums(gt, "x", xt, 1000)};
		nums(gc, "y", yc, 1000);
		nums(gt, "y", yt, 1000);
		nb_stats_cuped_out r;
		nb_err e;
		CHECK_INT(nb_stats_cuped(&c, &t, &r, &e), 0);
#define K(f) cmp_num("cuped", name, #f, r.f, get(ex, #f))
		K(theta);
		K(x_mean_pooled);
		K(diff_raw);
		K(diff_adj);
		K(variance_reduction_ratio);
#undef K
		cmp_welch("cuped.welch_adjusted", name, &r.welch_adjusted, get(ex, "welch_adjusted"));
		cmp_welch("cuped.welch_raw", name, &r.welch_raw, get(ex, "welch_raw"));
	}
}

static void ref_engine(void)
{
	nb_err e;
	FOR_CASES("wilson")
	{
		CASE_VARS
		double lo, hi;
		CHECK_INT(nb_stats_wilson(num(in, "n", 0), num(in, "conversions", 0), 0.05, &lo, &hi,
					  &e),
			  0);
		cmp_num("wilson", name, "lower", lo, get(ex, "lower"));
		cmp_num("wilson", name, "upper", hi, get(ex, "upper"));
	}
	FOR_CASES("bayes_normal")
	{
		CASE_VARS
		nb_stats_bnorm_out r;
		CHECK_INT(nb_stats_bayes_normal(num(in, "effect", 0), num(in, "se", 0),
						num(in, "prior_sd", 0), &r, &e),
			  0);
#define K(f) cmp_num("bayes_normal", name, #f, r.f, get(ex, #f))
		K(post_mean);
		K(post_sd);
		K(chance_to_win);
		K(ci95_lower);
		K(ci95_upper);
#undef K
	}
	FOR_CASES("sequential")
	{
		CASE_VARS
		nb_stats_seq_out r;
		CHECK_INT(nb_stats_sequential_ci(num(in, "effect", 0), num(in, "se", 0),
						 num(in, "n", 0), num(in, "alpha", 0),
						 num(in, "n_star", 0), &r, &e),
			  0);
#define K(f) cmp_num("sequential", name, #f, r.f, get(ex, #f))
		K(rho);
		K(halfwidth);
		K(ci_lower);
		K(ci_upper);
#undef K
	}
	FOR_CASES("ratio")
	{
		CASE_VARS
		nb_stats_ratio_group g[2];
		const char *side[2] = {"control", "treatment"};
		for (int i = 0; i < 2; i++) {
			const cJSON *o = get(in, side[i]);
			g[i] = (nb_stats_ratio_group){num(o, "n", 0),	    num(o, "mean_num", 0),
						      num(o, "mean_den", 0), num(o, "var_num", 0),
						      num(o, "var_den", 0),  num(o, "cov_num_den", 0)};
		}
		nb_stats_ratio_out r;
		CHECK_INT(nb_stats_ratio(&g[0], &g[1], &r, &e), 0);
#define K(f) cmp_num("ratio", name, #f, r.f, get(ex, #f))
		K(control_ratio);
		K(control_se);
		K(treatment_ratio);
		K(treatment_se);
		K(diff);
		K(se);
		K(z);
		K(p_value);
		K(ci95_lower);
		K(ci95_upper);
#undef K
	}
	FOR_CASES("winsorize")
	{
		CASE_VARS
		static double v[1000], s[1000];
		size_t n = nums(in, "values", v, 1000);
		double cap;
		CHECK_INT(nb_stats_winsorize(v, n, num(in, "percentile", 0), s, &cap, &e), 0);
		cmp_num("winsorize", name, "cap", cap, get(ex, "cap"));
		for (size_t i = 0; i < n; i++)
			cmp_num("winsorize", name, "values", v[i], at(ex, "values", i));
	}
}

/* ---- property tests ---- */

static unsigned long long rng_s = 0x9e3779b97f4a7c15ULL;

static double urand(void)
{
	rng_s ^= rng_s << 13;
	rng_s ^= rng_s >> 7;
	rng_s ^= rng_s << 17;
	return ((double)(rng_s >> 11) + 0.5) / 9007199254740992.0;
}

static double nrand(void)
{
	return sqrt(-2 * log(urand())) * cos(2 * M_PI * urand());
}

static int in01(double p)
{
	return p >= 0 && p <= 1;
}

static void prop_p_values_in_range_and_swap(void)
{
	nb_err e;
	for (int i = 0; i < 300; i++) {
		double nc = floor(1 + urand() * 5000), nt = floor(1 + urand() * 5000);
		nb_stats_prop_in p = {nc, floor(urand() * (nc + 1)), nt, floor(urand() * (nt + 1))};
		nb_stats_prop_in q = {p.treatment_n, p.treatment_conversions, p.control_n,
				      p.control_conversions};
		nb_stats_prop_out a, b;
		CHECK_INT(nb_stats_proportions(&p, &a, &e), 0);
		CHECK_INT(nb_stats_proportions(&q, &b, &e), 0);
		CHECKF(isnan(a.p_value) || in01(a.p_value), "proportions p = %g", a.p_value);
		CHECKF(a.diff == -b.diff, "swap diff %g vs %g", a.diff, b.diff);
		CHECKF(isnan(a.z) || a.z == -b.z, "swap z %g vs %g", a.z, b.z);
		CHECKF((isnan(a.p_value) && isnan(b.p_value)) || a.p_value == b.p_value,
		       "swap p %g vs %g", a.p_value, b.p_value);
		CHECKF(fabs(a.ci95_lower + b.ci95_upper) < 1e-15, "swap ci");

		nb_stats_means_in m = {floor(2 + urand() * 3000), nrand() * 10, urand() * 50,
				       floor(2 + urand() * 3000), nrand() * 10, urand() * 50};
		nb_stats_means_in mq = {m.treatment_n, m.treatment_mean, m.treatment_var,
					m.control_n,   m.control_mean,	 m.control_var};
		nb_stats_welch_out wa, wb;
		CHECK_INT(nb_stats_welch(&m, &wa, &e), 0);
		CHECK_INT(nb_stats_welch(&mq, &wb, &e), 0);
		CHECKF(in01(wa.p_value), "welch p = %g", wa.p_value);
		CHECKF(wa.t == -wb.t && wa.p_value == wb.p_value && wa.df == wb.df,
		       "welch swap t %g/%g p %g/%g", wa.t, wb.t, wa.p_value, wb.p_value);
		nb_stats_lift_out l;
		CHECK_INT(nb_stats_lift(&m, &l, &e), 0);
		CHECKF(in01(l.p_value), "lift p = %g", l.p_value);
		CHECKF(l.ci95_lower <= l.lift && l.lift <= l.ci95_upper, "lift %g outside [%g, %g]",
		       l.lift, l.ci95_lower, l.ci95_upper);

		double obs[5], w[5], ex[5];
		size_t k = 2 + (size_t)(urand() * 4);
		for (size_t j = 0; j < k; j++) {
			obs[j] = floor(urand() * 10000);
			w[j] = 0.1 + urand();
		}
		nb_stats_srm_out s;
		CHECK_INT(nb_stats_srm(obs, w, k, ex, &s, &e), 0);
		CHECKF(isnan(s.p_value) || in01(s.p_value), "srm p = %g", s.p_value);

		nb_stats_msprt_in mi = {nc, nt, urand(), urand(), nrand() * 0.05, 0.001, 0};
		nb_stats_msprt_out mo;
		CHECK_INT(nb_stats_msprt(&mi, &mo, &e), 0);
		CHECKF(in01(mo.p_value), "msprt p = %g", mo.p_value);
		mi.diff = -mi.diff;
		nb_stats_msprt_out mo2;
		CHECK_INT(nb_stats_msprt(&mi, &mo2, &e), 0);
		CHECKF(mo.p_value == mo2.p_value, "msprt swap p %g vs %g", mo.p_value, mo2.p_value);
	}
}

static void prop_mannwhitney_swap(void)
{
	double a[60], b[45];
	nb_stats_mw_item s[105];
	nb_err e;
	for (int r = 0; r < 50; r++) {
		for (int i = 0; i < 60; i++)
			a[i] = floor(nrand() * 3 + 0.5 * r / 50.0);
		for (int i = 0; i < 45; i++)
			b[i] = floor(nrand() * 3);
		nb_stats_mw_out x, y;
		CHECK_INT(nb_stats_mannwhitney(a, 60, b, 45, s, &x, &e), 0);
		CHECK_INT(nb_stats_mannwhitney(b, 45, a, 60, s, &y, &e), 0);
		CHECKF(in01(x.p_value), "mw p = %g", x.p_value);
		CHECKF(x.U_treatment == y.U_control && x.p_value == y.p_value, "mw swap");
	}
}

static void prop_prob_best_sums_to_one(void)
{
	nb_err e;
	for (int r = 0; r < 40; r++) {
		size_t k = 2 + (size_t)(urand() * 4);
		double scale = pow(10, 1 + urand() * 5);
		nb_stats_arm arms[5];
		nb_stats_bayes_arm o[5];
		for (size_t j = 0; j < k; j++) {
			arms[j].n = floor(scale * (0.5 + urand()));
			arms[j].conversions = floor(arms[j].n * (0.05 + 0.02 * urand()));
		}
		CHECK_INT(nb_stats_bayes(arms, k, 1, 1, o, &e), 0);
		double s = 0;
		for (size_t j = 0; j < k; j++) {
			s += o[j].prob_best;
			CHECKF(o[j].prob_best >= -1e-15 && o[j].expected_loss >= 0, "bayes ranges");
			/* loss_j - loss_0 = mean_0 - mean_j (E[max] is shared) */
			double id = o[j].expected_loss - o[0].expected_loss - (o[0].mean - o[j].mean);
			CHECKF(fabs(id) < 1e-10, "loss identity off by %g (k=%zu, n~%g)", id, k, scale);
		}
		CHECKF(fabs(s - 1) < 1e-10, "prob_best sums to %.17g (k=%zu, n~%g)", s, k, scale);
	}
}

/* Arms (n, x) and (n, n - x) are mirror images: the chance that arm j is
 * best for a rate equals its chance to be worst for the complement, and with
 * two arms that is the other arm's chance to be best. One side is integrated
 * directly, the other reflected. */
static void prop_bayes_mirror(void)
{
	double sizes[] = {3, 200, 1e5, 1e7};
	nb_err e;
	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		double n = sizes[s];
		nb_stats_arm a[2] = {{n, floor(0.03 * n)}, {n, floor(0.0302 * n) + 1}};
		nb_stats_arm m[2] = {{n, n - a[0].conversions}, {n, n - a[1].conversions}};
		nb_stats_bayes_arm oa[2], om[2];
		CHECK_INT(nb_stats_bayes(a, 2, 1, 1, oa, &e), 0);
		CHECK_INT(nb_stats_bayes(m, 2, 1, 1, om, &e), 0);
		for (int j = 0; j < 2; j++) {
			CHECKF(fabs(oa[j].prob_best - om[1 - j].prob_best) <=
				       1e-12 + 1e-9 * oa[j].prob_best,
			       "n=%g: prob_best %.17g vs mirror %.17g", n, oa[j].prob_best,
			       om[1 - j].prob_best);
			CHECKF(fabs(oa[j].expected_loss - om[1 - j].expected_loss) <=
				       1e-12 + 1e-9 * oa[j].expected_loss,
			       "n=%g: loss %.17g vs mirror %.17g", n, oa[j].expected_loss,
			       om[1 - j].expected_loss);
		}
	}
}

static void prop_bayes_ten_million_five_arms(void)
{
	nb_stats_arm arms[5] = {{1e7, 1e6}, {1e7, 1.0003e6}, {1e7, 0.9998e6}, {1e7, 1.0004e6},
				{1e7, 1e6}};
	nb_stats_bayes_arm o[5];
	nb_err e;
	CHECK_INT(nb_stats_bayes(arms, 5, 1, 1, o, &e), 0);
	double s = 0;
	for (int j = 0; j < 5; j++)
		s += o[j].prob_best;
	CHECKF(fabs(s - 1) < 1e-10, "prob_best sums to %.17g", s);
	CHECKF(fabs(o[0].prob_best - o[4].prob_best) < 1e-12, "identical arms differ");
	CHECKF(o[3].prob_best > o[1].prob_best, "better arm less likely best");
}

static void prop_holm_ge_bh(void)
{
	double p[20], h[20], b[20], bo[20];
	int hr[20], br[20];
	size_t idx[20];
	nb_stats_adjust_out o = {h, b, bo, hr, br};
	nb_err e;
	for (int r = 0; r < 200; r++) {
		size_t m = 1 + (size_t)(urand() * 20);
		for (size_t i = 0; i < m; i++)
			p[i] = urand() < 0.3 ? urand() * 0.01 : urand();
		CHECK_INT(nb_stats_adjust(p, m, 0.05, idx, &o, &e), 0);
		for (size_t i = 0; i < m; i++) {
			/* equal up to the last bit when only the largest p is at stake */
			CHECKF(h[i] >= b[i] * (1 - 4e-16), "holm %.17g < bh %.17g", h[i], b[i]);
			CHECKF(bo[i] >= h[i] && h[i] >= p[i] && in01(h[i]) && in01(b[i]),
			       "adjust ranges");
			CHECKF(!hr[i] || br[i], "holm rejects what BH keeps");
		}
	}
}

static void prop_cuped_uncorrelated_changes_little(void)
{
	enum { N = 3000 };
	static double xc[N], yc[N], xt[N], yt[N];
	for (int i = 0; i < N; i++) {
		xc[i] = 5 + nrand();
		xt[i] = 5 + nrand();
		yc[i] = 10 + 2 * nrand();
		yt[i] = 10.1 + 2 * nrand();
	}
	nb_stats_cuped_group c = {xc, yc, N}, t = {xt, yt, N};
	nb_stats_cuped_out r;
	nb_err e;
	CHECK_INT(nb_stats_cuped(&c, &t, &r, &e), 0);
	CHECKF(fabs(r.theta) < 0.15, "theta %g", r.theta);
	CHECKF(fabs(r.variance_reduction_ratio) < 0.01, "variance reduction %g",
	       r.variance_reduction_ratio);
	CHECKF(fabs(r.diff_adj - r.diff_raw) < 0.2 * r.welch_raw.se, "diff moved %g -> %g",
	       r.diff_raw, r.diff_adj);
	/* and a correlated one reduces variance a lot */
	for (int i = 0; i < N; i++) {
		yc[i] = 2 * xc[i] + 0.5 * nrand();
		yt[i] = 2 * xt[i] + 0.1 + 0.5 * nrand();
	}
	CHECK_INT(nb_stats_cuped(&c, &t, &r, &e), 0);
	CHECKF(r.variance_reduction_ratio > 0.9, "correlated reduction %g",
	       r.variance_reduction_ratio);
}

/* ---- bad input names the key ---- */

static void bad_input_names_key(void)
{
	nb_err e;
	nb_stats_prop_in p = {100, 120, 100, 10};
	nb_stats_prop_out po;
	CHECK_INT(nb_stats_proportions(&p, &po, &e), -1);
	CHECK_INT(e.code, NB_EINPUT);
	CHECK(strstr(e.msg, "control_conversions") != NULL);
	p = (nb_stats_prop_in){100, 10, -1, 0};
	CHECK_INT(nb_stats_proportions(&p, &po, &e), -1);
	CHECK(strstr(e.msg, "treatment_n") && strstr(e.msg, "negative"));
	p = (nb_stats_prop_in){NAN, 10, 100, 0};
	CHECK_INT(nb_stats_proportions(&p, &po, &e), -1);
	CHECK(strstr(e.msg, "control_n") != NULL);
	nb_stats_means_in m = {10, 1, INFINITY, 10, 1, 1};
	nb_stats_welch_out wo;
	CHECK_INT(nb_stats_welch(&m, &wo, &e), -1);
	CHECK(strstr(e.msg, "control_var") != NULL);
	nb_stats_arm arms[2] = {{10, 1}, {10, 11}};
	nb_stats_bayes_arm bo[2];
	CHECK_INT(nb_stats_bayes(arms, 1, 1, 1, bo, &e), -1);
	CHECK(strstr(e.msg, "two") != NULL);
	CHECK_INT(nb_stats_bayes(arms, 2, 1, 1, bo, &e), -1);
	CHECK(strstr(e.msg, "variants[1].conversions") != NULL);
	double obs[1] = {3}, w[1] = {1}, ex[1];
	nb_stats_srm_out so;
	CHECK_INT(nb_stats_srm(obs, w, 1, ex, &so, &e), -1);
	CHECK(strstr(e.msg, "observed") != NULL);
}

static void engine_recommendation(void)
{
	nb_err e;
	nb_stats_rec_out o;
	nb_stats_rec_in in = {0.5, 0.001, 0.02, 1, 0.05, 5000, 8000, 2};
	CHECK_INT(nb_stats_recommend(&in, &o, &e), 0);
	CHECK_STR(nb_stats_rec_name(o.rec), "ship");
	in.effect = -0.02;
	CHECK_INT(nb_stats_recommend(&in, &o, &e), 0);
	CHECK_STR(nb_stats_rec_name(o.rec), "stop for harm");
	in.higher_is_better = 0;
	CHECK_INT(nb_stats_recommend(&in, &o, &e), 0);
	CHECK_STR(nb_stats_rec_name(o.rec), "ship");
	in.p_value = 0.3;
	CHECK_INT(nb_stats_recommend(&in, &o, &e), 0);
	CHECK_STR(nb_stats_rec_name(o.rec), "keep running");
	CHECK_INT(o.users_needed, 6000);
	in.srm_p_value = 1e-5;
	CHECK_INT(nb_stats_recommend(&in, &o, &e), 0);
	CHECK_STR(nb_stats_rec_name(o.rec), "investigate SRM");
}

static void engine_t_sf_matches_symmetry(void)
{
	double dfs[] = {0.7, 3.5, 29, 31, 250, 2999, 3001, 1e5, 1e8};
	for (size_t i = 0; i < sizeof dfs / sizeof *dfs; i++)
		for (double t = 0; t < 40; t += 0.7) {
			double a = nb_stats_t_sf(t, dfs[i]), b = nb_stats_t_sf(-t, dfs[i]);
			CHECKF(fabs(a + b - 1) < 1e-14, "t_sf(%g,%g)+t_sf(-t) = %.17g", t, dfs[i],
			       a + b);
			CHECKF(t == 0 || a <= nb_stats_t_sf(t - 0.7, dfs[i]), "t_sf not decreasing");
		}
}

int main(void)
{
	nbt_suite = "stats";
	ref = load_ref();
	RUN(ref_loaded);
	RUN(ref_proportions);
	RUN(ref_welch);
	RUN(ref_lift);
	RUN(ref_srm);
	RUN(ref_bayes);
	RUN(ref_power);
	RUN(ref_adjust);
	RUN(ref_chisq);
	RUN(ref_mannwhitney);
	RUN(ref_msprt);
	RUN(ref_cuped);
	RUN(ref_engine);
	RUN(prop_p_values_in_range_and_swap);
	RUN(prop_mannwhitney_swap);
	RUN(prop_prob_best_sums_to_one);
	RUN(prop_bayes_mirror);
	RUN(prop_bayes_ten_million_five_arms);
	RUN(prop_holm_ge_bh);
	RUN(prop_cuped_uncorrelated_changes_little);
	RUN(bad_input_names_key);
	RUN(engine_recommendation);
	RUN(engine_t_sf_matches_symmetry);
	printf("stats: %d values compared with the reference\n", n_compared);
	cJSON_Delete(ref);
	return NBT_DONE();
}
