/* stats/stats.c — nb_stats families: proportions, welch, lift, srm, power, adjust,
 * chisq, mannwhitney, msprt, cuped (bayes lives in stats/bayes.c). */
#include "neonblue/stats.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>

static pthread_once_t stats_once = PTHREAD_ONCE_INIT;

/* GSL aborts on a domain error by default; nb_stats reports NaN instead. */
static void stats_init(void)
{
	gsl_set_error_handler_off();
}

static double stats_z975(void)
{
	return gsl_cdf_ugaussian_Pinv(0.975);
}

/* Two-sided normal p-value, accurate far into the tail. */
static double stats_p_norm2(double z)
{
	return isnan(z) ? NAN : 2 * gsl_cdf_ugaussian_Q(fabs(z));
}

/* Division that is NaN for 0/0 and for a zero standard error. */
static double stats_div(double a, double b)
{
	return b == 0 ? NAN : a / b;
}

static int stats_num(double v, const char *key, nb_err *err)
{
	if (!isfinite(v))
		return nb_err_set(err, NB_EINPUT, "%s: must be a finite number", key);
	return 0;
}

static int stats_nonneg(double v, const char *key, nb_err *err)
{
	if (stats_num(v, key, err))
		return -1;
	if (v < 0)
		return nb_err_set(err, NB_EINPUT, "%s: must not be negative (%g)", key, v);
	return 0;
}

/* Checks one element of a list; the key is only formatted on failure. */
static int stats_elem(double v, int nonneg, nb_err *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int stats_elem(double v, int nonneg, nb_err *err, const char *fmt, ...)
{
	if (isfinite(v) && (!nonneg || v >= 0))
		return 0;
	char key[96];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(key, sizeof key, fmt, ap);
	va_end(ap);
	return nonneg ? stats_nonneg(v, key, err) : stats_num(v, key, err);
}

/* ---- proportions ---- */

int nb_stats_proportions(const nb_stats_prop_in *in, nb_stats_prop_out *o, nb_err *err)
{
	pthread_once(&stats_once, stats_init);
	if (stats_nonneg(in->control_n, "control_n", err) ||
	    stats_nonneg(in->control_conversions, "control_conversions", err) ||
	    stats_nonneg(in->treatment_n, "treatment_n", err) ||
	    stats_nonneg(in->treatment_conversions, "treatment_conversions", err))
		return -1;
	if (in->control_conversions > in->control_n)
		return nb_err_set(err, NB_EINPUT, "control_conversions: %g exceeds control_n = %g",
				  in->control_conversions, in->control_n);
	if (in->treatment_conversions > in->treatment_n)
		return nb_err_set(err, NB_EINPUT,
				  "treatment_conversions: %g exceeds treatment_n = %g",
				  in->treatment_conversions, in->treatment_n);
	double nc = in->control_n, nt = in->treatment_n;
	double pc = stats_div(in->control_conversions, nc);
	double pt = stats_div(in->treatment_conversions, nt);
	o->p_control = pc;
	o->p_treatment = pt;
	o->diff = pt - pc;
	o->p_pooled = stats_div(in->control_conversions + in->treatment_conversions, nc + nt);
	o->se_pooled = sqrt(o->p_pooled * (1 - o->p_pooled) * (1 / nc + 1 / nt));
	o->z = stats_div(o->diff, o->se_pooled);
	o->p_value = stats_p_norm2(o->z);
	o->se_unpooled = sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt);
	double h = stats_z975() * o->se_unpooled;
	o->ci95_lower = o->diff - h;
	o->ci95_upper = o->diff + h;
	return 0;
}

/* ---- welch, lift ---- */

static int stats_means_check(const nb_stats_means_in *in, nb_err *err)
{
	if (stats_nonneg(in->control_n, "control_n", err) ||
	    stats_num(in->control_mean, "control_mean", err) ||
	    stats_nonneg(in->control_var, "control_var", err) ||
	    stats_nonneg(in->treatment_n, "treatment_n", err) ||
	    stats_num(in->treatment_mean, "treatment_mean", err) ||
	    stats_nonneg(in->treatment_var, "treatment_var", err))
		return -1;
	return 0;
}

/* Welch's test from the two variance terms; shared with cuped. */
static void stats_welch_core(double nc, double mc, double vc, double nt, double mt, double vt,
			     nb_stats_welch_out *o)
{
	double sc = vc / nc, st = vt / nt;
	o->diff = mt - mc;
	o->se = sqrt(sc + st);
	o->t = stats_div(o->diff, o->se);
	double den = sc * sc / (nc - 1) + st * st / (nt - 1);
	o->df = (nc < 2 || nt < 2) ? NAN : stats_div((sc + st) * (sc + st), den);
	if (isnan(o->df) || isnan(o->t)) {
		o->p_value = NAN;
	} else {
		o->p_value = 2 * nb_stats_t_sf(fabs(o->t), o->df);
		if (o->p_value > 1)
			o->p_value = 1;
	}
	o->t_crit_975 = isnan(o->df) ? NAN : nb_stats_t_ppf(0.975, o->df);
	o->ci95_lower = o->diff - o->t_crit_975 * o->se;
	o->ci95_upper = o->diff + o->t_crit_975 * o->se;
}

int nb_stats_welch(const nb_stats_means_in *in, nb_stats_welch_out *o, nb_err *err)
{
	pthread_once(&stats_once, stats_init);
	if (stats_means_check(in, err))
		return -1;
	stats_welch_core(in->control_n, in->control_mean, in->control_var, in->treatment_n,
			 in->treatment_mean, in->treatment_var, o);
	return 0;
}

int nb_stats_lift(const nb_stats_means_in *in, nb_stats_lift_out *o, nb_err *err)
{
	pthread_once(&stats_once, stats_init);
	if (stats_means_check(in, err))
		return -1;
	double mc = in->control_mean, mt = in->treatment_mean;
	double mc2 = mc * mc;
	o->lift = stats_div(mt, mc) - 1;
	double se2 = in->treatment_var / (in->treatment_n * mc2) +
		     mt * mt * in->control_var / (in->control_n * mc2 * mc2);
	o->se_lift = mc == 0 ? NAN : sqrt(se2);
	double h = stats_z975() * o->se_lift;
	o->ci95_lower = o->lift - h;
	o->ci95_upper = o->lift + h;
	o->z = stats_div(o->lift, o->se_lift);
	o->p_value = stats_p_norm2(o->z);
	return 0;
}

/* ---- srm ---- */

int nb_stats_srm(const double *obs, const double *w, size_t k, double *expected,
		 nb_stats_srm_out *o, nb_err *err)
{
	pthread_once(&stats_once, stats_init);
	if (k < 2)
		return nb_err_set(err, NB_EINPUT, "observed: need at least two arms, got %zu", k);
	double tot = 0, wsum = 0;
	for (size_t i = 0; i < k; i++) {
		if (stats_elem(obs[i], 1, err, "observed[%zu]", i) ||
		    stats_elem(w[i], 0, err, "weights[%zu]", i))
			return -1;
		if (w[i] <= 0)
			return nb_err_set(err, NB_EINPUT, "weights[%zu]: must be positive (%g)", i,
					  w[i]);
		tot += obs[i];
		wsum += w[i];
	}
	o->chi2 = 0;
	for (size_t i = 0; i < k; i++) {
		expected[i] = tot * (w[i] / wsum);
		double d = obs[i] - expected[i];
		o->chi2 += stats_div(d * d, expected[i]);
	}
	o->df = (double)(k - 1);
	o->p_value = isnan(o->chi2) ? NAN : gsl_cdf_chisq_Q(o->chi2, o->df);
	o->mismatch = o->p_value < 0.001;
	return 0;
}

/* ---- power ---- */

void nb_stats_power_defaults(nb_stats_power_in *in)
{
	in->alpha = 0.05;
	in->power = 0.8;
	in->ratio = 1;
}

/* Power of the two-sided z test on Cohen's h with n1 control units,
 * both rejection tails (statsmodels NormalIndPower). */
static double stats_power_h(double h, double n1, double ratio, double crit)
{
	double s = fabs(h) * sqrt(n1 * ratio / (1 + ratio));
	return gsl_cdf_ugaussian_Q(crit - s) + gsl_cdf_ugaussian_P(-crit - s);
}

static double stats_solve_h(double h, double ratio, double alpha, double power)
{
	double crit = gsl_cdf_ugaussian_Qinv(alpha / 2);
	double lo = 1e-12, hi = 1;
	while (stats_power_h(h, hi, ratio, crit) < power && hi < 1e300)
		hi *= 2;
	if (stats_power_h(h, lo, ratio, crit) >= power)
		return lo;
	for (int i = 0; i < 400 && hi - lo > 1e-15 * hi; i++) {
		double mid = 0.5 * (lo + hi);
		if (stats_power_h(h, mid, ratio, crit) < power)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

int nb_stats_power(const nb_stats_power_in *in, nb_stats_power_out *o, nb_err *err)
{
	pthread_once(&stats_once, stats_init);
	double p1 = in->baseline_rate, m = in->relative_mde, r = in->ratio;
	if (stats_num(p1, "baseline_rate", err) || stats_num(m, "relative_mde", err) ||
	    stats_num(in->alpha, "alpha", err) || stats_num(in->power, "power", err) ||
	    stats_num(r, "ratio", err))
		return -1;
	if (!(p1 > 0 && p1 < 1))
		return nb_err_set(err, NB_EINPUT, "baseline_rate: must be between 0 and 1 (%g)", p1);
	double p2 = p1 * (1 + m);
	if (m == 0 || !(p2 > 0 && p2 < 1))
		return nb_err_set(err, NB_EINPUT,
				  "relative_mde: must be non-zero and keep the treatment rate "
				  "between 0 and 1 (%g gives %g)",
				  m, p2);
	if (!(in->alpha > 0 && in->alpha < 1))
		return nb_err_set(err, NB_EINPUT, "alpha: must be between 0 and 1 (%g)", in->alpha);
	if (!(in->power > 0 && in->power < 1))
		return nb_err_set(err, NB_EINPUT, "power: must be between 0 and 1 (%g)", in->power);
	if (!(r > 0))
		return nb_err_set(err, NB_EINPUT, "ratio: must be positive (%g)", r);
	double za = gsl_cdf_ugaussian_Qinv(in->alpha / 2), zb = gsl_cdf_ugaussian_Pinv(in->power);
	double pbar = (p1 + r * p2) / (1 + r);
	double s0 = sqrt(pbar * (1 - pbar) * (1 + 1 / r));
	double s1 = sqrt(p1 * (1 - p1) + p2 * (1 - p2) / r);
	double num = za * s0 + zb * s1;
	o->n_normal_approx = num * num / ((p2 - p1) * (p2 - p1));
	o->n_normal_approx_ceil = ceil(o->n_normal_approx);
	double h = 2 * asin(sqrt(p2)) - 2 * asin(sqrt(p1));
	o->n_cohens_h = stats_solve_h(h, r, in->alpha, in->power);
	o->n_cohens_h_ceil = ceil(o->n_cohens_h);
	return 0;
}

/* ---- adjust ---- */

/* Stable index sort by p (insertion sort: no global state, m is small). */
static void adjust_order(const double *p, size_t m, size_t *idx)
{
	for (size_t i = 0; i < m; i++) {
		size_t v = idx[i] = i, j = i;
		for (; j > 0 && p[idx[j - 1]] > p[v]; j--)
			idx[j] = idx[j - 1];
		idx[j] = v;
	}
}

int nb_stats_adjust(const double *p, size_t m, double alpha, size_t *idx,
		    const nb_stats_adjust_out *o, nb_err *err)
{
	pthread_once(&stats_once, stats_init);
	if (m == 0)
		return nb_err_set(err, NB_EINPUT, "p_values: must not be empty");
	if (!(alpha > 0 && alpha < 1))
		return nb_err_set(err, NB_EINPUT, "alpha: must be between 0 and 1 (%g)", alpha);
	for (size_t i = 0; i < m; i++) {
		if (!isfinite(p[i]) || p[i] < 0 || p[i] > 1)
			return nb_err_set(err, NB_EINPUT,
					  "p_values[%zu]: must be a number between 0 and 1", i);
	}
	adjust_order(p, m, idx);
	double run = 0;
	for (size_t r = 0; r < m; r++) { /* Holm: running max of (m - r) p */
		double v = fmin(1, (double)(m - r) * p[idx[r]]);
		run = fmax(run, v);
		o->holm_adjusted[idx[r]] = run;
	}
	run = 1;
	for (size_t r = m; r-- > 0;) { /* BH: running min of m p / rank from the top */
		double v = fmin(1, (double)m * p[idx[r]] / (double)(r + 1));
		run = fmin(run, v);
		o->bh_adjusted[idx[r]] = run;
	}
	for (size_t i = 0; i < m; i++) {
		o->bonferroni_adjusted[i] = fmin(1, (double)m * p[i]);
		o->holm_reject[i] = o->holm_adjusted[i] <= alpha;
		o->bh_reject[i] = o->bh_adjusted[i] <= alpha;
	}
	return 0;
}

/* ---- chisq ---- */

static double chisq_stat(const double *t, const double *e, size_t n, int yates)
{
	double s = 0;
	for (size_t i = 0; i < n; i++) {
		double d = t[i] - e[i];
		if (yates) {
			double mag = fmin(0.5, fabs(d));
			d = d > 0 ? d - mag : d + mag;
		}
		s += stats_div(d * d, e[i]);
	}
	return s;
}

int nb_stats_chisq(const double *t, size_t rows, size_t cols, double *e, nb_stats_chisq_out *o,
		   nb_err *err)
{
	pthread_once(&stats_once, stats_init);
	if (rows < 2)
		return nb_err_set(err, NB_EINPUT, "table: need at least two rows, got %zu", rows);
	if (cols < 2)
		return nb_err_set(err, NB_EINPUT, "table: need at least two columns, got %zu",
				  cols);
	double tot = 0;
	for (size_t i = 0; i < rows * cols; i++) {
		if (stats_elem(t[i], 1, err, "table[%zu][%zu]", i / cols, i % cols))
			return -1;
		tot += t[i];
	}
	for (size_t i = 0; i < rows; i++)
		for (size_t j = 0; j < cols; j++) {
			double rs = 0, cs = 0;
			for (size_t a = 0; a < cols; a++)
				rs += t[i * cols + a];
			for (size_t a = 0; a < rows; a++)
				cs += t[a * cols + j];
			e[i * cols + j] = stats_div(rs * cs, tot);
		}
	o->dof = (double)((rows - 1) * (cols - 1));
	o->chi2 = chisq_stat(t, e, rows * cols, 0);
	o->p_value = isnan(o->chi2) ? NAN : gsl_cdf_chisq_Q(o->chi2, o->dof);
	if (rows == 2 && cols == 2) {
		o->chi2_yates = chisq_stat(t, e, 4, 1);
		o->p_value_yates = isnan(o->chi2_yates) ? NAN : gsl_cdf_chisq_Q(o->chi2_yates, 1);
	} else {
		o->chi2_yates = o->p_value_yates = NAN;
	}
	return 0;
}

/* ---- mannwhitney ---- */

static int mw_cmp(const void *a, const void *b)
{
	double x = ((const nb_stats_mw_item *)a)->v, y = ((const nb_stats_mw_item *)b)->v;
	return (x > y) - (x < y);
}

int nb_stats_mannwhitney(const double *tr, size_t nt, const double *ct, size_t nc,
			 nb_stats_mw_item *s, nb_stats_mw_out *o, nb_err *err)
{
	pthread_once(&stats_once, stats_init);
	if (nt == 0)
		return nb_err_set(err, NB_EINPUT, "treatment: need at least one value");
	if (nc == 0)
		return nb_err_set(err, NB_EINPUT, "control: need at least one value");
	for (size_t i = 0; i < nt; i++) {
		if (stats_elem(tr[i], 0, err, "treatment[%zu]", i))
			return -1;
		s[i].v = tr[i];
		s[i].treatment = 1;
	}
	for (size_t i = 0; i < nc; i++) {
		if (stats_elem(ct[i], 0, err, "control[%zu]", i))
			return -1;
		s[nt + i].v = ct[i];
		s[nt + i].treatment = 0;
	}
	size_t n = nt + nc;
	qsort(s, n, sizeof *s, mw_cmp);
	double rank_t = 0, ties = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && s[j].v == s[i].v)
			j++;
		double avg = 0.5 * ((double)i + 1 + (double)j), cnt = (double)(j - i);
		for (size_t a = i; a < j; a++)
			if (s[a].treatment)
				rank_t += avg;
		ties += cnt * cnt * cnt - cnt;
		i = j;
	}
	double N = (double)n, n1 = (double)nt, n2 = (double)nc;
	o->U_treatment = rank_t - n1 * (n1 + 1) / 2;
	o->U_control = n1 * n2 - o->U_treatment;
	o->sigma = sqrt(n1 * n2 / 12 * ((N + 1) - ties / (N * (N - 1))));
	double U = fmax(o->U_treatment, o->U_control);
	o->z = stats_div(U - n1 * n2 / 2 - 0.5, o->sigma);
	o->p_value = isnan(o->z) ? NAN : fmin(1, 2 * gsl_cdf_ugaussian_Q(o->z));
	return 0;
}

/* ---- msprt ---- */

int nb_stats_msprt(const nb_stats_msprt_in *in, nb_stats_msprt_out *o, nb_err *err)
{
	pthread_once(&stats_once, stats_init);
	if (stats_nonneg(in->control_n, "control_n", err) ||
	    stats_nonneg(in->treatment_n, "treatment_n", err) ||
	    stats_nonneg(in->control_var, "control_var", err) ||
	    stats_nonneg(in->treatment_var, "treatment_var", err) ||
	    stats_num(in->diff, "diff", err) || stats_nonneg(in->tau2, "tau2", err) ||
	    stats_num(in->theta0, "theta0", err))
		return -1;
	if (in->tau2 <= 0)
		return nb_err_set(err, NB_EINPUT, "tau2: must be positive");
	double V = in->control_var / in->control_n + in->treatment_var / in->treatment_n;
	double d = in->diff - in->theta0;
	o->V = V;
	if (!(V > 0) || !isfinite(V)) {
		o->log_lambda = o->lambda = o->p_value = o->log10_p_value = NAN;
		return 0;
	}
	double t2 = in->tau2;
	o->log_lambda = 0.5 * log(V / (V + t2)) + t2 * d * d / (2 * V * (V + t2));
	o->lambda = exp(o->log_lambda);
	o->p_value = fmin(1, exp(-o->log_lambda));
	o->log10_p_value = fmin(0, -o->log_lambda / M_LN10);
	return 0;
}

int nb_stats_msprt_looks(const nb_stats_msprt_in *looks, size_t n, nb_stats_msprt_out *out,
			 double *p_running, nb_err *err)
{
	if (n == 0)
		return nb_err_set(err, NB_EINPUT, "looks: must not be empty");
	double run = 1;
	for (size_t i = 0; i < n; i++) {
		if (nb_stats_msprt(&looks[i], &out[i], err)) {
			char msg[sizeof err->msg];
			snprintf(msg, sizeof msg, "%s", err->msg);
			return nb_err_set(err, NB_EINPUT, "looks[%zu].%s", i, msg);
		}
		if (!isnan(out[i].p_value))
			run = fmin(run, out[i].p_value);
		p_running[i] = run;
	}
	return 0;
}

/* ---- cuped ---- */

static int cuped_check(const nb_stats_cuped_group *g, const char *name, nb_err *err)
{
	if (g->n < 2)
		return nb_err_set(err, NB_EINPUT, "%s: need at least two units (x and y), got %zu",
				  name, g->n);
	for (size_t i = 0; i < g->n; i++) {
		if (stats_elem(g->x[i], 0, err, "%s.x[%zu]", name, i) ||
		    stats_elem(g->y[i], 0, err, "%s.y[%zu]", name, i))
			return -1;
	}
	return 0;
}

/* Mean and variance of y - theta (x - xbar), two-pass. */
static void cuped_moments(const nb_stats_cuped_group *g, double theta, double xbar, double *m,
			  double *v)
{
	double s = 0;
	for (size_t i = 0; i < g->n; i++)
		s += g->y[i] - theta * (g->x[i] - xbar);
	*m = s / (double)g->n;
	double ss = 0;
	for (size_t i = 0; i < g->n; i++) {
		double d = g->y[i] - theta * (g->x[i] - xbar) - *m;
		ss += d * d;
	}
	*v = ss / (double)(g->n - 1);
}

int nb_stats_cuped(const nb_stats_cuped_group *c, const nb_stats_cuped_group *t,
		   nb_stats_cuped_out *o, nb_err *err)
{
	pthread_once(&stats_once, stats_init);
	if (cuped_check(c, "control", err) || cuped_check(t, "treatment", err))
		return -1;
	const nb_stats_cuped_group *g[2] = {c, t};
	double sx = 0, sy = 0, n = (double)(c->n + t->n);
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < g[k]->n; i++) {
			sx += g[k]->x[i];
			sy += g[k]->y[i];
		}
	double xbar = sx / n, ybar = sy / n, sxy = 0, sxx = 0;
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < g[k]->n; i++) {
			double dx = g[k]->x[i] - xbar;
			sxy += dx * (g[k]->y[i] - ybar);
			sxx += dx * dx;
		}
	o->theta = sxx == 0 ? 0 : sxy / sxx; /* a constant covariate adjusts nothing */
	o->x_mean_pooled = xbar;
	double mc, vc, mt, vt;
	cuped_moments(c, 0, xbar, &mc, &vc);
	cuped_moments(t, 0, xbar, &mt, &vt);
	stats_welch_core((double)c->n, mc, vc, (double)t->n, mt, vt, &o->welch_raw);
	cuped_moments(c, o->theta, xbar, &mc, &vc);
	cuped_moments(t, o->theta, xbar, &mt, &vt);
	stats_welch_core((double)c->n, mc, vc, (double)t->n, mt, vt, &o->welch_adjusted);
	o->diff_raw = o->welch_raw.diff;
	o->diff_adj = o->welch_adjusted.diff;
	double r = stats_div(o->welch_adjusted.se * o->welch_adjusted.se,
			     o->welch_raw.se * o->welch_raw.se);
	o->variance_reduction_ratio = 1 - r;
	return 0;
}
