/* cmd_stats.c — `neonblue stats FAMILY`: one JSON object in (stdin or flags),
 * one JSON object out (or a short table), through nb_stats. */
#include "cli.h"
#include "neonblue/base.h"
#include "neonblue/stats.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*stats_run_fn)(const cJSON *in, cJSON *out, nb_err *err);
typedef int (*stats_flag_fn)(const char *flag, const char *val, cJSON *in, nb_err *err);

typedef struct stats_family {
	const char *name, *summary;
	const char *const *keys; /* accepted input keys, NULL-terminated */
	const char *inputs, *outputs, *flags, *example;
	stats_run_fn run;
	stats_flag_fn flag;
} stats_family;

/* ---- reading input ---- */

static int in_num(const cJSON *o, const char *key, int required, double def, double *v,
		  nb_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!it || cJSON_IsNull(it)) {
		if (required)
			return nb_err_set(err, NB_EINPUT, "%s: missing", key);
		*v = def;
		return 0;
	}
	if (!cJSON_IsNumber(it))
		return nb_err_set(err, NB_EINPUT, "%s: must be a number", key);
	*v = it->valuedouble;
	if (!isfinite(*v))
		return nb_err_set(err, NB_EINPUT, "%s: must be a finite number (NaN/Inf)", key);
	return 0;
}

/* A JSON array of numbers; *v is allocated (free it). */
static int in_nums(const cJSON *o, const char *key, double **v, size_t *n, nb_err *err)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
	*v = NULL;
	*n = 0;
	if (!a)
		return nb_err_set(err, NB_EINPUT, "%s: missing", key);
	if (!cJSON_IsArray(a))
		return nb_err_set(err, NB_EINPUT, "%s: must be a list of numbers", key);
	size_t m = (size_t)cJSON_GetArraySize(a), i = 0;
	*v = nb_xcalloc(m ? m : 1, sizeof **v);
	for (const cJSON *it = a->child; it; it = it->next, i++) {
		if (!cJSON_IsNumber(it)) {
			free(*v);
			*v = NULL;
			return nb_err_set(err, NB_EINPUT, "%s[%zu]: must be a number", key, i);
		}
		(*v)[i] = it->valuedouble;
		if (!isfinite((*v)[i])) {
			free(*v);
			*v = NULL;
			return nb_err_set(err, NB_EINPUT, "%s[%zu]: must be a finite number", key, i);
		}
	}
	*n = m;
	return 0;
}

static int in_object(const cJSON *o, const char *key, const cJSON **out, nb_err *err)
{
	*out = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!*out)
		return nb_err_set(err, NB_EINPUT, "%s: missing", key);
	if (!cJSON_IsObject(*out))
		return nb_err_set(err, NB_EINPUT, "%s: must be an object", key);
	return 0;
}

/* ---- writing output ---- */

static void out_num(cJSON *o, const char *key, double v)
{
	cJSON_AddItemToObject(o, key, nb_json_number_or_null(v));
}

static void out_nums(cJSON *o, const char *key, const double *v, size_t n)
{
	cJSON *a = cJSON_AddArrayToObject(o, key);
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, nb_json_number_or_null(v[i]));
}

static void out_bools(cJSON *o, const char *key, const int *v, size_t n)
{
	cJSON *a = cJSON_AddArrayToObject(o, key);
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateBool(v[i]));
}

/* ---- families ---- */

static const char *const prop_keys[] = {"control_n", "control_conversions", "treatment_n",
					"treatment_conversions", NULL};

static int run_proportions(const cJSON *in, cJSON *o, nb_err *err)
{
	nb_stats_prop_in p;
	nb_stats_prop_out r;
	if (in_num(in, "control_n", 1, 0, &p.control_n, err) ||
	    in_num(in, "control_conversions", 1, 0, &p.control_conversions, err) ||
	    in_num(in, "treatment_n", 1, 0, &p.treatment_n, err) ||
	    in_num(in, "treatment_conversions", 1, 0, &p.treatment_conversions, err) ||
	    nb_stats_proportions(&p, &r, err))
		return -1;
	out_num(o, "p_control", r.p_control);
	out_num(o, "p_treatment", r.p_treatment);
	out_num(o, "diff", r.diff);
	out_num(o, "p_pooled", r.p_pooled);
	out_num(o, "se_pooled", r.se_pooled);
	out_num(o, "z", r.z);
	out_num(o, "p_value", r.p_value);
	out_num(o, "se_unpooled", r.se_unpooled);
	out_num(o, "ci95_lower", r.ci95_lower);
	out_num(o, "ci95_upper", r.ci95_upper);
	return 0;
}

static const char *const means_keys[] = {"control_n",   "control_mean",   "control_var",
					 "treatment_n", "treatment_mean", "treatment_var",
					 NULL};

static int in_means(const cJSON *in, nb_stats_means_in *m, nb_err *err)
{
	return in_num(in, "control_n", 1, 0, &m->control_n, err) ||
	       in_num(in, "control_mean", 1, 0, &m->control_mean, err) ||
	       in_num(in, "control_var", 1, 0, &m->control_var, err) ||
	       in_num(in, "treatment_n", 1, 0, &m->treatment_n, err) ||
	       in_num(in, "treatment_mean", 1, 0, &m->treatment_mean, err) ||
	       in_num(in, "treatment_var", 1, 0, &m->treatment_var, err);
}

static void out_welch(cJSON *o, const nb_stats_welch_out *r)
{
	out_num(o, "diff", r->diff);
	out_num(o, "se", r->se);
	out_num(o, "t", r->t);
	out_num(o, "df", r->df);
	out_num(o, "p_value", r->p_value);
	out_num(o, "t_crit_975", r->t_crit_975);
	out_num(o, "ci95_lower", r->ci95_lower);
	out_num(o, "ci95_upper", r->ci95_upper);
}

static int run_welch(const cJSON *in, cJSON *o, nb_err *err)
{
	nb_stats_means_in m;
	nb_stats_welch_out r;
	if (in_means(in, &m, err) || nb_stats_welch(&m, &r, err))
		return -1;
	out_welch(o, &r);
	return 0;
}

static int run_lift(const cJSON *in, cJSON *o, nb_err *err)
{
	nb_stats_means_in m;
	nb_stats_lift_out r;
	if (in_means(in, &m, err) || nb_stats_lift(&m, &r, err))
		return -1;
	out_num(o, "lift", r.lift);
	out_num(o, "se_lift", r.se_lift);
	out_num(o, "ci95_lower", r.ci95_lower);
	out_num(o, "ci95_upper", r.ci95_upper);
	out_num(o, "z", r.z);
	out_num(o, "p_value", r.p_value);
	return 0;
}

static const char *const srm_keys[] = {"observed", "weights", NULL};

static int run_srm(const cJSON *in, cJSON *o, nb_err *err)
{
	double *obs = NULL, *w = NULL, *e = NULL;
	size_t k = 0, kw = 0;
	nb_stats_srm_out r;
	int rc = -1;
	if (in_nums(in, "observed", &obs, &k, err) || in_nums(in, "weights", &w, &kw, err))
		goto out;
	if (kw != k) {
		nb_err_set(err, NB_EINPUT, "weights: %zu weights for %zu observed counts", kw, k);
		goto out;
	}
	e = nb_xcalloc(k ? k : 1, sizeof *e);
	if (nb_stats_srm(obs, w, k, e, &r, err))
		goto out;
	out_nums(o, "expected_counts", e, k);
	out_num(o, "chi2", r.chi2);
	out_num(o, "df", r.df);
	out_num(o, "p_value", r.p_value);
	cJSON_AddBoolToObject(o, "mismatch", r.mismatch);
	rc = 0;
out:
	free(obs);
	free(w);
	free(e);
	return rc;
}

static const char *const bayes_keys[] = {"variants", "prior", NULL};

static int in_arms(const cJSON *in, nb_stats_arm *arms, size_t *k, nb_err *err)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(in, "variants");
	if (!a)
		return nb_err_set(err, NB_EINPUT, "variants: missing");
	if (!cJSON_IsArray(a))
		return nb_err_set(err, NB_EINPUT, "variants: must be a list of {n, conversions}");
	size_t i = 0;
	char key[64];
	for (const cJSON *it = a->child; it; it = it->next, i++) {
		if (i >= NB_STATS_BAYES_MAX_ARMS)
			return nb_err_set(err, NB_EINPUT, "variants: at most %d arms",
					  NB_STATS_BAYES_MAX_ARMS);
		if (!cJSON_IsObject(it))
			return nb_err_set(err, NB_EINPUT, "variants[%zu]: must be an object", i);
		snprintf(key, sizeof key, "variants[%zu].n", i);
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "n");
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "conversions");
		if (!n)
			return nb_err_set(err, NB_EINPUT, "%s: missing", key);
		if (!cJSON_IsNumber(n))
			return nb_err_set(err, NB_EINPUT, "%s: must be a number", key);
		snprintf(key, sizeof key, "variants[%zu].conversions", i);
		if (!c)
			return nb_err_set(err, NB_EINPUT, "%s: missing", key);
		if (!cJSON_IsNumber(c))
			return nb_err_set(err, NB_EINPUT, "%s: must be a number", key);
		arms[i].n = n->valuedouble;
		arms[i].conversions = c->valuedouble;
	}
	*k = i;
	return 0;
}

static int run_bayes(const cJSON *in, cJSON *o, nb_err *err)
{
	nb_stats_arm arms[NB_STATS_BAYES_MAX_ARMS];
	nb_stats_bayes_arm r[NB_STATS_BAYES_MAX_ARMS];
	size_t k = 0;
	double pa = 1, pb = 1;
	if (in_arms(in, arms, &k, err))
		return -1;
	const cJSON *pr = cJSON_GetObjectItemCaseSensitive(in, "prior");
	if (pr) {
		if (!cJSON_IsArray(pr) || cJSON_GetArraySize(pr) != 2 ||
		    !cJSON_IsNumber(pr->child) || !cJSON_IsNumber(pr->child->next))
			return nb_err_set(err, NB_EINPUT, "prior: must be a list [a, b] of numbers");
		pa = pr->child->valuedouble;
		pb = pr->child->next->valuedouble;
	}
	if (nb_stats_bayes(arms, k, pa, pb, r, err))
		return -1;
	cJSON *pp = cJSON_AddArrayToObject(o, "posterior_params");
	double v[NB_STATS_BAYES_MAX_ARMS];
	for (size_t i = 0; i < k; i++) {
		double ab[2] = {r[i].alpha, r[i].beta};
		cJSON *x = cJSON_CreateArray();
		for (int j = 0; j < 2; j++)
			cJSON_AddItemToArray(x, nb_json_number_or_null(ab[j]));
		cJSON_AddItemToArray(pp, x);
	}
	for (size_t i = 0; i < k; i++)
		v[i] = r[i].mean;
	out_nums(o, "posterior_means", v, k);
	for (size_t i = 0; i < k; i++)
		v[i] = r[i].prob_best;
	out_nums(o, "prob_best", v, k);
	for (size_t i = 0; i < k; i++)
		v[i] = r[i].expected_loss;
	out_nums(o, "expected_loss", v, k);
	if (k == 2)
		out_num(o, "prob_treatment_beats_control", r[1].prob_best);
	return 0;
}

static const char *const power_keys[] = {"baseline_rate", "relative_mde", "alpha", "power",
					 "ratio", NULL};

static int run_power(const cJSON *in, cJSON *o, nb_err *err)
{
	nb_stats_power_in p;
	nb_stats_power_out r;
	if (in_num(in, "baseline_rate", 1, 0, &p.baseline_rate, err) ||
	    in_num(in, "relative_mde", 1, 0, &p.relative_mde, err) ||
	    in_num(in, "alpha", 0, 0.05, &p.alpha, err) ||
	    in_num(in, "power", 0, 0.8, &p.power, err) || in_num(in, "ratio", 0, 1, &p.ratio, err) ||
	    nb_stats_power(&p, &r, err))
		return -1;
	out_num(o, "n_normal_approx", r.n_normal_approx);
	out_num(o, "n_normal_approx_ceil", r.n_normal_approx_ceil);
	out_num(o, "n_cohens_h", r.n_cohens_h);
	out_num(o, "n_cohens_h_ceil", r.n_cohens_h_ceil);
	return 0;
}

static const char *const adjust_keys[] = {"p_values", "alpha", NULL};

static int run_adjust(const cJSON *in, cJSON *o, nb_err *err)
{
	double *p = NULL, alpha;
	size_t m = 0;
	if (in_nums(in, "p_values", &p, &m, err))
		return -1;
	if (in_num(in, "alpha", 0, 0.05, &alpha, err)) {
		free(p);
		return -1;
	}
	size_t n = m ? m : 1;
	double *h = nb_xcalloc(n, sizeof *h), *b = nb_xcalloc(n, sizeof *b),
	       *bo = nb_xcalloc(n, sizeof *bo);
	int *hr = nb_xcalloc(n, sizeof *hr), *br = nb_xcalloc(n, sizeof *br);
	size_t *idx = nb_xcalloc(n, sizeof *idx);
	nb_stats_adjust_out r = {h, b, bo, hr, br};
	int rc = nb_stats_adjust(p, m, alpha, idx, &r, err);
	if (!rc) {
		out_nums(o, "holm_adjusted", h, m);
		out_bools(o, "holm_reject", hr, m);
		out_nums(o, "bh_adjusted", b, m);
		out_bools(o, "bh_reject", br, m);
		out_nums(o, "bonferroni_adjusted", bo, m);
	}
	free(p);
	free(h);
	free(b);
	free(bo);
	free(hr);
	free(br);
	free(idx);
	return rc;
}

static const char *const chisq_keys[] = {"table", NULL};

static int run_chisq(const cJSON *in, cJSON *o, nb_err *err)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(in, "table");
	if (!t)
		return nb_err_set(err, NB_EINPUT, "table: missing");
	if (!cJSON_IsArray(t) || !t->child || !cJSON_IsArray(t->child))
		return nb_err_set(err, NB_EINPUT, "table: must be a list of rows of counts");
	size_t rows = (size_t)cJSON_GetArraySize(t), cols = (size_t)cJSON_GetArraySize(t->child);
	double *v = nb_xcalloc(rows * cols + 1, sizeof *v), *e = nb_xcalloc(rows * cols + 1, 8);
	size_t i = 0;
	int rc = -1;
	for (const cJSON *row = t->child; row; row = row->next, i++) {
		if (!cJSON_IsArray(row) || (size_t)cJSON_GetArraySize(row) != cols) {
			nb_err_set(err, NB_EINPUT, "table[%zu]: every row needs %zu counts", i, cols);
			goto out;
		}
		size_t j = 0;
		for (const cJSON *c = row->child; c; c = c->next, j++) {
			if (!cJSON_IsNumber(c)) {
				nb_err_set(err, NB_EINPUT, "table[%zu][%zu]: must be a number", i, j);
				goto out;
			}
			v[i * cols + j] = c->valuedouble;
		}
	}
	nb_stats_chisq_out r;
	if (nb_stats_chisq(v, rows, cols, e, &r, err))
		goto out;
	cJSON *ea = cJSON_AddArrayToObject(o, "expected_counts");
	for (size_t a = 0; a < rows; a++) {
		cJSON *row = cJSON_CreateArray();
		for (size_t b = 0; b < cols; b++)
			cJSON_AddItemToArray(row, nb_json_number_or_null(e[a * cols + b]));
		cJSON_AddItemToArray(ea, row);
	}
	out_num(o, "dof", r.dof);
	out_num(o, "chi2", r.chi2);
	out_num(o, "p_value", r.p_value);
	out_num(o, "chi2_yates", r.chi2_yates);
	out_num(o, "p_value_yates", r.p_value_yates);
	rc = 0;
out:
	free(v);
	free(e);
	return rc;
}

static const char *const mw_keys[] = {"treatment", "control", NULL};

static int run_mannwhitney(const cJSON *in, cJSON *o, nb_err *err)
{
	double *t = NULL, *c = NULL;
	size_t nt = 0, nc = 0;
	int rc = -1;
	if (in_nums(in, "treatment", &t, &nt, err) || in_nums(in, "control", &c, &nc, err))
		goto out;
	nb_stats_mw_item *s = nb_xcalloc(nt + nc + 1, sizeof *s);
	nb_stats_mw_out r;
	rc = nb_stats_mannwhitney(t, nt, c, nc, s, &r, err);
	free(s);
	if (rc)
		goto out;
	out_num(o, "U_treatment", r.U_treatment);
	out_num(o, "U_control", r.U_control);
	out_num(o, "sigma", r.sigma);
	out_num(o, "z", r.z);
	out_num(o, "p_value", r.p_value);
out:
	free(t);
	free(c);
	return rc;
}

static const char *const msprt_keys[] = {"control_n", "treatment_n", "control_var",
					 "treatment_var", "diff", "tau2", "theta0", "looks",
					 NULL};

static int in_msprt(const cJSON *in, nb_stats_msprt_in *m, nb_err *err)
{
	return in_num(in, "control_n", 1, 0, &m->control_n, err) ||
	       in_num(in, "treatment_n", 1, 0, &m->treatment_n, err) ||
	       in_num(in, "control_var", 1, 0, &m->control_var, err) ||
	       in_num(in, "treatment_var", 1, 0, &m->treatment_var, err) ||
	       in_num(in, "diff", 1, 0, &m->diff, err) || in_num(in, "tau2", 1, 0, &m->tau2, err) ||
	       in_num(in, "theta0", 0, 0, &m->theta0, err);
}

static void out_msprt(cJSON *o, const nb_stats_msprt_out *r)
{
	out_num(o, "V", r->V);
	out_num(o, "log_lambda", r->log_lambda);
	out_num(o, "lambda", r->lambda);
	out_num(o, "p_value", r->p_value);
	out_num(o, "log10_p_value", r->log10_p_value);
}

static int run_msprt(const cJSON *in, cJSON *o, nb_err *err)
{
	const cJSON *looks = cJSON_GetObjectItemCaseSensitive(in, "looks");
	if (!looks) {
		nb_stats_msprt_in m;
		nb_stats_msprt_out r;
		if (in_msprt(in, &m, err) || nb_stats_msprt(&m, &r, err))
			return -1;
		out_msprt(o, &r);
		return 0;
	}
	if (!cJSON_IsArray(looks) || !looks->child)
		return nb_err_set(err, NB_EINPUT, "looks: must be a non-empty list of objects");
	size_t n = (size_t)cJSON_GetArraySize(looks), i = 0;
	nb_stats_msprt_in *m = nb_xcalloc(n, sizeof *m);
	nb_stats_msprt_out *r = nb_xcalloc(n, sizeof *r);
	double *pr = nb_xcalloc(n, sizeof *pr);
	int rc = -1;
	for (const cJSON *it = looks->child; it; it = it->next, i++) {
		if (!cJSON_IsObject(it)) {
			nb_err_set(err, NB_EINPUT, "looks[%zu]: must be an object", i);
			goto out;
		}
		if (in_msprt(it, &m[i], err)) {
			char msg[sizeof err->msg];
			snprintf(msg, sizeof msg, "%s", err->msg);
			nb_err_set(err, NB_EINPUT, "looks[%zu].%s", i, msg);
			goto out;
		}
	}
	if (nb_stats_msprt_looks(m, n, r, pr, err))
		goto out;
	out_msprt(o, &r[n - 1]);
	out_nums(o, "p_running", pr, n);
	rc = 0;
out:
	free(m);
	free(r);
	free(pr);
	return rc;
}

static const char *const cuped_keys[] = {"control", "treatment", NULL};

static int in_cuped(const cJSON *in, const char *name, nb_stats_cuped_group *g, double **x,
		    double **y, nb_err *err)
{
	const cJSON *o;
	size_t nx = 0, ny = 0;
	char kx[32], ky[32];
	if (in_object(in, name, &o, err))
		return -1;
	snprintf(kx, sizeof kx, "%s.x", name);
	snprintf(ky, sizeof ky, "%s.y", name);
	cJSON *ox = cJSON_GetObjectItemCaseSensitive(o, "x"), *oy = cJSON_GetObjectItemCaseSensitive(o, "y");
	cJSON *wrap = cJSON_CreateObject(); /* to name keys as "control.x" in errors */
	if (ox)
		cJSON_AddItemReferenceToObject(wrap, kx, ox);
	if (oy)
		cJSON_AddItemReferenceToObject(wrap, ky, oy);
	int rc = in_nums(wrap, kx, x, &nx, err) || in_nums(wrap, ky, y, &ny, err) ? -1 : 0;
	cJSON_Delete(wrap);
	if (rc)
		return -1;
	if (nx != ny)
		return nb_err_set(err, NB_EINPUT, "%s: %zu x values but %zu y values", ky, nx, ny);
	g->x = *x;
	g->y = *y;
	g->n = nx;
	return 0;
}

static int run_cuped(const cJSON *in, cJSON *o, nb_err *err)
{
	double *xc = NULL, *yc = NULL, *xt = NULL, *yt = NULL;
	nb_stats_cuped_group c, t;
	nb_stats_cuped_out r;
	int rc = -1;
	if (in_cuped(in, "control", &c, &xc, &yc, err) ||
	    in_cuped(in, "treatment", &t, &xt, &yt, err) || nb_stats_cuped(&c, &t, &r, err))
		goto out;
	out_num(o, "theta", r.theta);
	out_num(o, "x_mean_pooled", r.x_mean_pooled);
	out_num(o, "diff_raw", r.diff_raw);
	out_num(o, "diff_adj", r.diff_adj);
	out_num(o, "variance_reduction_ratio", r.variance_reduction_ratio);
	out_welch(cJSON_AddObjectToObject(o, "welch_adjusted"), &r.welch_adjusted);
	out_welch(cJSON_AddObjectToObject(o, "welch_raw"), &r.welch_raw);
	rc = 0;
out:
	free(xc);
	free(yc);
	free(xt);
	free(yt);
	return rc;
}

/* ---- flags → JSON input ---- */

/* Splits "a:b:c" (or "a,b,c") into numbers; returns how many, -1 on junk. */
static int flag_split(const char *val, char sep, double *v, int max)
{
	int n = 0;
	const char *p = val;
	while (*p) {
		char *end;
		if (n == max)
			return -1;
		v[n++] = strtod(p, &end);
		if (end == p || (*end && *end != sep))
			return -1;
		p = *end ? end + 1 : end;
	}
	return n;
}

static cJSON *flag_list(const char *val)
{
	cJSON *a = cJSON_CreateArray();
	const char *p = val;
	while (*p) {
		char *end;
		double d = strtod(p, &end);
		if (end == p || (*end && *end != ',')) {
			cJSON_Delete(a);
			return NULL;
		}
		cJSON_AddItemToArray(a, cJSON_CreateNumber(d));
		p = *end ? end + 1 : end;
	}
	return a;
}

/* Sets key in `in` to a number parsed from val. */
static int flag_num(cJSON *in, const char *key, const char *flag, const char *val, nb_err *err)
{
	double v;
	if (flag_split(val, ':', &v, 1) != 1)
		return nb_err_set(err, NB_EINPUT, "%s: '%s' is not a number", flag, val);
	cJSON_DeleteItemFromObjectCaseSensitive(in, key);
	cJSON_AddNumberToObject(in, key, v);
	return 0;
}

static int flag_group(cJSON *in, const char *flag, const char *val, const char *side,
		      const char *const *names, int n, nb_err *err)
{
	double v[4];
	char key[64];
	if (flag_split(val, ':', v, 4) != n)
		return nb_err_set(err, NB_EINPUT, "%s: expected %d numbers separated by ':', got '%s'",
				  flag, n, val);
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof key, "%s_%s", side, names[i]);
		cJSON_DeleteItemFromObjectCaseSensitive(in, key);
		cJSON_AddNumberToObject(in, key, v[i]);
	}
	return 0;
}

static int flag_side(const char *flag, const char **side)
{
	if (!strcmp(flag, "--control"))
		*side = "control";
	else if (!strcmp(flag, "--treatment"))
		*side = "treatment";
	else
		return 0;
	return 1;
}

static int flag_unknown(const char *flag, nb_err *err)
{
	return nb_err_set(err, NB_EINPUT, "unknown option %s", flag);
}

static int flags_proportions(const char *f, const char *v, cJSON *in, nb_err *err)
{
	static const char *const names[] = {"n", "conversions"};
	const char *side;
	if (!flag_side(f, &side))
		return flag_unknown(f, err);
	return flag_group(in, f, v, side, names, 2, err);
}

static int flags_means(const char *f, const char *v, cJSON *in, nb_err *err)
{
	static const char *const names[] = {"n", "mean", "var"};
	const char *side;
	if (!flag_side(f, &side))
		return flag_unknown(f, err);
	return flag_group(in, f, v, side, names, 3, err);
}

static int flags_setlist(cJSON *in, const char *key, const char *f, const char *v, nb_err *err)
{
	cJSON *a = flag_list(v);
	if (!a)
		return nb_err_set(err, NB_EINPUT, "%s: expected numbers separated by ',', got '%s'",
				  f, v);
	cJSON_DeleteItemFromObjectCaseSensitive(in, key);
	cJSON_AddItemToObject(in, key, a);
	return 0;
}

static int flags_srm(const char *f, const char *v, cJSON *in, nb_err *err)
{
	if (!strcmp(f, "--observed"))
		return flags_setlist(in, "observed", f, v, err);
	if (!strcmp(f, "--weights"))
		return flags_setlist(in, "weights", f, v, err);
	return flag_unknown(f, err);
}

static int flags_bayes(const char *f, const char *v, cJSON *in, nb_err *err)
{
	double x[2];
	if (!strcmp(f, "--prior")) {
		if (flag_split(v, ':', x, 2) != 2)
			return nb_err_set(err, NB_EINPUT, "--prior: expected A:B, got '%s'", v);
		cJSON_DeleteItemFromObjectCaseSensitive(in, "prior");
		cJSON_AddItemToObject(in, "prior", cJSON_CreateDoubleArray(x, 2));
		return 0;
	}
	if (strcmp(f, "--variant") && strcmp(f, "--control") && strcmp(f, "--treatment"))
		return flag_unknown(f, err);
	if (flag_split(v, ':', x, 2) != 2)
		return nb_err_set(err, NB_EINPUT, "%s: expected N:CONVERSIONS, got '%s'", f, v);
	cJSON *arms = cJSON_GetObjectItemCaseSensitive(in, "variants");
	if (!arms)
		arms = cJSON_AddArrayToObject(in, "variants");
	cJSON *a = cJSON_CreateObject();
	cJSON_AddNumberToObject(a, "n", x[0]);
	cJSON_AddNumberToObject(a, "conversions", x[1]);
	if (!strcmp(f, "--control"))
		cJSON_InsertItemInArray(arms, 0, a);
	else
		cJSON_AddItemToArray(arms, a);
	return 0;
}

static int flags_power(const char *f, const char *v, cJSON *in, nb_err *err)
{
	static const char *const map[][2] = {{"--baseline-rate", "baseline_rate"},
					     {"--baseline", "baseline_rate"},
					     {"--relative-mde", "relative_mde"},
					     {"--mde", "relative_mde"},
					     {"--alpha", "alpha"},
					     {"--power", "power"},
					     {"--ratio", "ratio"}};
	for (size_t i = 0; i < sizeof map / sizeof *map; i++)
		if (!strcmp(f, map[i][0]))
			return flag_num(in, map[i][1], f, v, err);
	return flag_unknown(f, err);
}

static int flags_adjust(const char *f, const char *v, cJSON *in, nb_err *err)
{
	if (!strcmp(f, "--p-values"))
		return flags_setlist(in, "p_values", f, v, err);
	if (!strcmp(f, "--alpha"))
		return flag_num(in, "alpha", f, v, err);
	return flag_unknown(f, err);
}

static int flags_chisq(const char *f, const char *v, cJSON *in, nb_err *err)
{
	double x[2];
	if (strcmp(f, "--row"))
		return flag_unknown(f, err);
	if (flag_split(v, ':', x, 2) != 2)
		return nb_err_set(err, NB_EINPUT, "--row: expected CONVERTED:NOT, got '%s'", v);
	cJSON *t = cJSON_GetObjectItemCaseSensitive(in, "table");
	if (!t)
		t = cJSON_AddArrayToObject(in, "table");
	cJSON_AddItemToArray(t, cJSON_CreateDoubleArray(x, 2));
	return 0;
}

static int flags_mannwhitney(const char *f, const char *v, cJSON *in, nb_err *err)
{
	const char *side;
	if (!flag_side(f, &side))
		return flag_unknown(f, err);
	return flags_setlist(in, side, f, v, err);
}

static int flags_msprt(const char *f, const char *v, cJSON *in, nb_err *err)
{
	static const char *const names[] = {"n", "var"};
	const char *side;
	if (flag_side(f, &side))
		return flag_group(in, f, v, side, names, 2, err);
	if (!strcmp(f, "--diff"))
		return flag_num(in, "diff", f, v, err);
	if (!strcmp(f, "--tau2"))
		return flag_num(in, "tau2", f, v, err);
	if (!strcmp(f, "--theta0"))
		return flag_num(in, "theta0", f, v, err);
	return flag_unknown(f, err);
}

static int flags_cuped(const char *f, const char *v, cJSON *in, nb_err *err)
{
	static const char *const map[][3] = {{"--control-x", "control", "x"},
					     {"--control-y", "control", "y"},
					     {"--treatment-x", "treatment", "x"},
					     {"--treatment-y", "treatment", "y"}};
	for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
		if (strcmp(f, map[i][0]))
			continue;
		cJSON *g = cJSON_GetObjectItemCaseSensitive(in, map[i][1]);
		if (!g)
			g = cJSON_AddObjectToObject(in, map[i][1]);
		return flags_setlist(g, map[i][2], f, v, err);
	}
	return flag_unknown(f, err);
}

/* ---- the table ---- */

static const stats_family families[] = {
	{"proportions", "two-proportion pooled z test and Wald CI of the difference", prop_keys,
	 "control_n, control_conversions, treatment_n, treatment_conversions",
	 "p_control, p_treatment, diff, p_pooled, se_pooled, z, p_value, se_unpooled, "
	 "ci95_lower, ci95_upper",
	 "--control N:CONVERSIONS --treatment N:CONVERSIONS",
	 "--control 1000:100 --treatment 1000:120", run_proportions, flags_proportions},
	{"welch", "Welch t test on means (real-valued df)", means_keys,
	 "control_n, control_mean, control_var, treatment_n, treatment_mean, treatment_var",
	 "diff, se, t, df, p_value, t_crit_975, ci95_lower, ci95_upper",
	 "--control N:MEAN:VAR --treatment N:MEAN:VAR",
	 "--control 1000:10:4 --treatment 1000:10.3:4.5", run_welch, flags_means},
	{"lift", "relative lift mean_t/mean_c - 1 by the delta method", means_keys,
	 "control_n, control_mean, control_var, treatment_n, treatment_mean, treatment_var",
	 "lift, se_lift, ci95_lower, ci95_upper, z, p_value",
	 "--control N:MEAN:VAR --treatment N:MEAN:VAR",
	 "--control 1000:10:4 --treatment 1000:10.3:4.5", run_lift, flags_means},
	{"srm", "sample ratio mismatch: chi-square goodness of fit", srm_keys,
	 "observed [k counts], weights [k, any scale]",
	 "expected_counts, chi2, df, p_value, mismatch (p < 0.001)",
	 "--observed 5000,5400 --weights 1,1", "--observed 5000,5400 --weights 1,1", run_srm,
	 flags_srm},
	{"bayes", "Beta-binomial chance to be best and expected loss (exact quadrature)",
	 bayes_keys,
	 "variants [{n, conversions}, ...] (2+ arms, first is control), prior [a, b] "
	 "(default [1, 1])",
	 "posterior_params [[alpha, beta], ...], posterior_means, prob_best, expected_loss; "
	 "with two arms prob_treatment_beats_control",
	 "--variant N:CONVERSIONS (repeat; first is control) --prior A:B",
	 "--variant 1000:100 --variant 1000:120", run_bayes, flags_bayes},
	{"power", "per-group sample size for a two-proportion test", power_keys,
	 "baseline_rate, relative_mde (may be negative), alpha (0.05), power (0.8), ratio (1)",
	 "n_normal_approx, n_normal_approx_ceil, n_cohens_h, n_cohens_h_ceil",
	 "--baseline-rate P --relative-mde M [--alpha A] [--power P] [--ratio R]",
	 "--baseline-rate 0.1 --relative-mde 0.1", run_power, flags_power},
	{"adjust", "Holm, Benjamini-Hochberg and Bonferroni corrections", adjust_keys,
	 "p_values [...], alpha (0.05)",
	 "holm_adjusted, holm_reject, bh_adjusted, bh_reject, bonferroni_adjusted",
	 "--p-values P1,P2,... [--alpha A]", "--p-values 0.01,0.04,0.03", run_adjust,
	 flags_adjust},
	{"chisq", "chi-square test of independence (Yates for 2x2)", chisq_keys,
	 "table [[converted, not converted], ...] (rows = variants)",
	 "expected_counts, dof, chi2, p_value, chi2_yates, p_value_yates",
	 "--row CONVERTED:NOT (repeat)", "--row 120:880 --row 100:900", run_chisq, flags_chisq},
	{"mannwhitney", "Mann-Whitney U test (asymptotic, tie-corrected)", mw_keys,
	 "treatment [values], control [values]", "U_treatment, U_control, sigma, z, p_value",
	 "--treatment V1,V2,... --control V1,V2,...", "--treatment 1.2,3.4,2.2 --control 0.5,1.1",
	 run_mannwhitney, flags_mannwhitney},
	{"msprt", "always-valid mixture SPRT p-value", msprt_keys,
	 "control_n, treatment_n, control_var, treatment_var, diff, tau2, theta0 (0); or "
	 "looks [{...}, ...]",
	 "V, log_lambda, lambda, p_value, log10_p_value; with looks (last look) and p_running",
	 "--control N:VAR --treatment N:VAR --diff D --tau2 T [--theta0 X]",
	 "--control 1000:0.09 --treatment 1000:0.0975 --diff 0.02 --tau2 0.0001", run_msprt,
	 flags_msprt},
	{"cuped", "CUPED variance reduction with a pooled theta", cuped_keys,
	 "control {x: [...], y: [...]}, treatment {x: [...], y: [...]} (x pre-period, y "
	 "in-period)",
	 "theta, x_mean_pooled, diff_raw, diff_adj, variance_reduction_ratio (1 - se_adj²/"
	 "se_raw²), welch_adjusted {welch keys}, welch_raw {welch keys}",
	 "--control-x ... --control-y ... --treatment-x ... --treatment-y ... (comma lists)",
	 "--control-x 1,2,3 --control-y 1.5,2.4,3.1 --treatment-x 1,2,3 --treatment-y 2,2.9,4",
	 run_cuped, flags_cuped},
};

#define NFAMILIES (sizeof families / sizeof *families)

static void stats_usage(FILE *f)
{
	fprintf(f, "usage: neonblue stats FAMILY [--json] [flags]   (or JSON on stdin)\n\n"
		   "Reads one JSON object on stdin (when no flags are given) and writes one "
		   "JSON object;\nwith flags prints a short table, or JSON with --json. "
		   "Numbers use %%.17g, undefined values are null.\nBad input exits 2.\n\n"
		   "Families:\n");
	for (size_t i = 0; i < NFAMILIES; i++)
		fprintf(f, "  %-12s %s\n      in:  %s\n      out: %s\n", families[i].name,
			families[i].summary, families[i].inputs, families[i].outputs);
	fprintf(f, "\n`neonblue stats FAMILY --help` shows the flags of one family.\n");
}

static void family_usage(const stats_family *fam)
{
	printf("usage: neonblue stats %s [--json] %s\n"
	       "       echo '{...}' | neonblue stats %s\n\n%s.\n\n"
	       "Input keys:  %s\nOutput keys: %s\n\nExample: neonblue stats %s %s\n",
	       fam->name, fam->flags, fam->name, fam->summary, fam->inputs, fam->outputs,
	       fam->name, fam->example);
}

static char *read_stdin(void)
{
	nb_buf b;
	nb_buf_init(&b);
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, stdin)) > 0)
		nb_buf_append(&b, tmp, n);
	nb_buf_putc(&b, '\0');
	return nb_buf_steal(&b);
}

/* Names the key whose value failed to parse (NaN, Infinity, a typo). */
static void parse_error(const char *text, const char *at, nb_err *err)
{
	if (!at || at < text) {
		nb_err_set(err, NB_EINPUT, "input: not valid JSON");
		return;
	}
	const char *p = at;
	while (p > text && *p != ':')
		p--;
	const char *q = p - 1;
	while (q > text && isspace((unsigned char)*q))
		q--;
	if (*p == ':' && q > text && *q == '"') {
		const char *e = q--;
		while (q > text && *q != '"')
			q--;
		if (*q == '"') {
			nb_err_set(err, NB_EINPUT,
				   "%.*s: not a valid JSON value near '%.12s' (NaN and Infinity "
				   "are not JSON numbers)",
				   (int)(e - q - 1), q + 1, at);
			return;
		}
	}
	nb_err_set(err, NB_EINPUT, "input: not valid JSON near '%.12s'", at);
}

static int check_keys(const stats_family *fam, const cJSON *in, nb_err *err)
{
	if (!cJSON_IsObject(in))
		return nb_err_set(err, NB_EINPUT, "input: must be one JSON object");
	for (const cJSON *it = in->child; it; it = it->next) {
		int ok = 0;
		for (const char *const *k = fam->keys; *k && !ok; k++)
			ok = !strcmp(*k, it->string);
		if (!ok)
			return nb_err_set(err, NB_EINPUT, "%s: unknown key for stats %s", it->string,
					  fam->name);
	}
	return 0;
}

/* A short human table: one key per line, arrays and objects inline. */
static void print_value(const cJSON *v)
{
	if (cJSON_IsNumber(v)) {
		if (isfinite(v->valuedouble))
			printf("%.6g", v->valuedouble);
		else
			printf("-");
	} else if (cJSON_IsBool(v)) {
		printf("%s", cJSON_IsTrue(v) ? "yes" : "no");
	} else if (cJSON_IsNull(v)) {
		printf("-");
	} else if (cJSON_IsArray(v)) {
		printf("[");
		for (const cJSON *c = v->child; c; c = c->next) {
			print_value(c);
			if (c->next)
				printf(", ");
		}
		printf("]");
	}
}

static void print_table(const char *title, const cJSON *o, int indent)
{
	if (title)
		printf("%*s%s\n", indent, "", title);
	for (const cJSON *it = o->child; it; it = it->next) {
		if (cJSON_IsObject(it)) {
			print_table(it->string, it, indent + 2);
			continue;
		}
		printf("%*s  %-30s ", indent, "", it->string);
		print_value(it);
		printf("\n");
	}
}

static int stats_run(const stats_family *fam, int argc, char **argv)
{
	nb_err err;
	nb_err_clear(&err);
	int json = 0, nflags = 0;
	cJSON *in = cJSON_CreateObject(), *out = cJSON_CreateObject();
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
			continue;
		}
		const char *f = argv[i], *eq = strchr(f, '='), *v;
		char name[64];
		if (strncmp(f, "--", 2)) {
			rc = nb_front_usage_error("stats", "unexpected argument '%s'", f);
			goto done;
		}
		if (eq) {
			snprintf(name, sizeof name, "%.*s", (int)(eq - f), f);
			v = eq + 1;
		} else {
			if (i + 1 >= argc) {
				rc = nb_front_usage_error("stats", "%s needs a value", f);
				goto done;
			}
			snprintf(name, sizeof name, "%s", f);
			v = argv[++i];
		}
		if (fam->flag(name, v, in, &err)) {
			rc = nb_front_fail(&err);
			goto done;
		}
		nflags++;
	}
	if (nflags == 0) {
		json = 1;
		char *text = read_stdin();
		cJSON_Delete(in);
		const char *end = NULL;
		in = cJSON_ParseWithOpts(text, &end, 0);
		if (!in)
			parse_error(text, end ? end : cJSON_GetErrorPtr(), &err);
		free(text);
		if (!in) {
			rc = nb_front_fail(&err);
			goto done;
		}
	}
	if (check_keys(fam, in, &err) || fam->run(in, out, &err)) {
		rc = nb_front_fail(&err);
		goto done;
	}
	if (json)
		nb_front_print_json(out);
	else
		print_table(fam->name, out, 0);
done:
	cJSON_Delete(in);
	cJSON_Delete(out);
	return rc;
}

int cmd_stats(nb_front *ctx, int argc, char **argv)
{
	(void)ctx;
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		stats_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < NFAMILIES; i++) {
		if (strcmp(argv[1], families[i].name))
			continue;
		if (nb_front_wants_help(argc - 1, argv + 1)) {
			family_usage(&families[i]);
			return 0;
		}
		return stats_run(&families[i], argc - 1, argv + 1);
	}
	return nb_front_usage_error("stats", "unknown family '%s'", argv[1]);
}
