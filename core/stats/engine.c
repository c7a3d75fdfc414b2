/* stats/engine.c — nb_stats helpers for reports and the dashboard: Wilson
 * interval, Bayesian normal model, confidence sequences, winsorisation,
 * ratio metrics and the recommendation. */
#include "neonblue/stats.h"

#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_cdf.h>

int nb_stats_wilson(double n, double x, double alpha, double *lower, double *upper, nb_err *err)
{
	if (!isfinite(n) || n < 0)
		return nb_err_set(err, NB_EINPUT, "n: must be a non-negative number");
	if (!isfinite(x) || x < 0)
		return nb_err_set(err, NB_EINPUT, "conversions: must be a non-negative number");
	if (x > n)
		return nb_err_set(err, NB_EINPUT, "conversions: %g exceeds n = %g", x, n);
	if (!(alpha > 0 && alpha < 1))
		return nb_err_set(err, NB_EINPUT, "alpha: must be between 0 and 1 (%g)", alpha);
	if (n == 0) {
		*lower = *upper = NAN;
		return 0;
	}
	double z = gsl_cdf_ugaussian_Qinv(alpha / 2), z2 = z * z;
	double c = (x + z2 / 2) / (n + z2);
	double h = z / (n + z2) * sqrt(x * (n - x) / n + z2 / 4);
	*lower = fmax(0, c - h);
	*upper = fmin(1, c + h);
	return 0;
}

int nb_stats_bayes_normal(double effect, double se, double prior_sd, nb_stats_bnorm_out *o,
			  nb_err *err)
{
	if (!isfinite(effect))
		return nb_err_set(err, NB_EINPUT, "effect: must be a finite number");
	if (!isfinite(se) || se < 0)
		return nb_err_set(err, NB_EINPUT, "se: must be a non-negative number");
	if (!isfinite(prior_sd) || prior_sd < 0)
		return nb_err_set(err, NB_EINPUT, "prior_sd: must be a non-negative number");
	if (se == 0) {
		o->post_mean = effect;
		o->post_sd = 0;
		o->chance_to_win = NAN;
		o->ci95_lower = o->ci95_upper = effect;
		return 0;
	}
	double prec = 1 / (se * se) + (prior_sd > 0 ? 1 / (prior_sd * prior_sd) : 0);
	o->post_sd = sqrt(1 / prec);
	o->post_mean = effect / (se * se) / prec;
	o->chance_to_win = gsl_cdf_ugaussian_P(o->post_mean / o->post_sd);
	double h = gsl_cdf_ugaussian_Pinv(0.975) * o->post_sd;
	o->ci95_lower = o->post_mean - h;
	o->ci95_upper = o->post_mean + h;
	return 0;
}

int nb_stats_sequential_ci(double effect, double se, double n, double alpha, double n_star,
			   nb_stats_seq_out *o, nb_err *err)
{
	if (!isfinite(effect))
		return nb_err_set(err, NB_EINPUT, "effect: must be a finite number");
	if (!isfinite(se) || se < 0)
		return nb_err_set(err, NB_EINPUT, "se: must be a non-negative number");
	if (!isfinite(n) || n <= 0)
		return nb_err_set(err, NB_EINPUT, "n: must be a positive number");
	if (!(alpha > 0 && alpha < 1))
		return nb_err_set(err, NB_EINPUT, "alpha: must be between 0 and 1 (%g)", alpha);
	if (!isfinite(n_star) || n_star <= 0)
		return nb_err_set(err, NB_EINPUT, "n_star: must be a positive number");
	double la = -2 * log(alpha);
	double rho = sqrt((la + log(la + 1)) / n_star), r2 = rho * rho;
	double s2 = se * se * n;
	o->rho = rho;
	o->halfwidth = sqrt(s2) * sqrt(2 * (n * r2 + 1) / (n * n * r2) * log(sqrt(n * r2 + 1) / alpha));
	o->ci_lower = effect - o->halfwidth;
	o->ci_upper = effect + o->halfwidth;
	return 0;
}

static int winsor_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int nb_stats_winsorize(double *v, size_t n, double pct, double *scratch, double *cap,
		       nb_err *err)
{
	if (!(pct > 0 && pct <= 100))
		return nb_err_set(err, NB_EINPUT, "percentile: must be in (0, 100] (%g)", pct);
	if (n == 0)
		return nb_err_set(err, NB_EINPUT, "values: must not be empty");
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(v[i]))
			return nb_err_set(err, NB_EINPUT, "values[%zu]: must be a finite number", i);
		scratch[i] = v[i];
	}
	qsort(scratch, n, sizeof *scratch, winsor_cmp);
	double pos = pct / 100 * (double)(n - 1);
	size_t lo = (size_t)floor(pos);
	double frac = pos - (double)lo;
	*cap = lo + 1 < n ? scratch[lo] + frac * (scratch[lo + 1] - scratch[lo]) : scratch[lo];
	for (size_t i = 0; i < n; i++)
		if (v[i] > *cap)
			v[i] = *cap;
	return 0;
}

void nb_stats_mean_var(const double *v, size_t n, double *mean, double *var)
{
	if (n == 0) {
		*mean = *var = NAN;
		return;
	}
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	*mean = s / (double)n;
	if (n < 2) {
		*var = NAN;
		return;
	}
	double ss = 0;
	for (size_t i = 0; i < n; i++)
		ss += (v[i] - *mean) * (v[i] - *mean);
	*var = ss / (double)(n - 1);
}

static int ratio_check(const nb_stats_ratio_group *g, const char *name, nb_err *err)
{
	const double f[] = {g->n, g->mean_num, g->mean_den, g->var_num, g->var_den, g->cov_num_den};
	for (size_t i = 0; i < sizeof f / sizeof *f; i++)
		if (!isfinite(f[i]))
			return nb_err_set(err, NB_EINPUT, "%s: every moment must be a finite number",
					  name);
	if (g->n <= 0 || g->var_num < 0 || g->var_den < 0)
		return nb_err_set(err, NB_EINPUT, "%s: n must be positive, variances non-negative",
				  name);
	return 0;
}

/* R = mean_num/mean_den, Var(R) ≈ (v_n - 2R c + R² v_d) / (n m_d²). */
static void ratio_one(const nb_stats_ratio_group *g, double *r, double *se)
{
	double md = g->mean_den;
	*r = md == 0 ? NAN : g->mean_num / md;
	double v = (g->var_num - 2 * *r * g->cov_num_den + *r * *r * g->var_den) / (md * md);
	*se = sqrt(fmax(0, v) / g->n);
}

int nb_stats_ratio(const nb_stats_ratio_group *c, const nb_stats_ratio_group *t,
		   nb_stats_ratio_out *o, nb_err *err)
{
	if (ratio_check(c, "control", err) || ratio_check(t, "treatment", err))
		return -1;
	ratio_one(c, &o->control_ratio, &o->control_se);
	ratio_one(t, &o->treatment_ratio, &o->treatment_se);
	o->diff = o->treatment_ratio - o->control_ratio;
	o->se = sqrt(o->control_se * o->control_se + o->treatment_se * o->treatment_se);
	o->z = o->se == 0 ? NAN : o->diff / o->se;
	o->p_value = isnan(o->z) ? NAN : 2 * gsl_cdf_ugaussian_Q(fabs(o->z));
	double h = gsl_cdf_ugaussian_Pinv(0.975) * o->se;
	o->ci95_lower = o->diff - h;
	o->ci95_upper = o->diff + h;
	return 0;
}

int nb_stats_recommend(const nb_stats_rec_in *in, nb_stats_rec_out *o, nb_err *err)
{
	double alpha = in->alpha > 0 ? in->alpha : 0.05;
	if (!(alpha < 1))
		return nb_err_set(err, NB_EINPUT, "alpha: must be between 0 and 1 (%g)", alpha);
	o->users_needed = 0;
	if (!isnan(in->srm_p_value) && in->srm_p_value < 0.001) {
		o->rec = NB_REC_INVESTIGATE_SRM;
		return 0;
	}
	if (!isnan(in->p_value) && in->p_value < alpha && in->effect != 0) {
		int better = (in->effect > 0) == (in->higher_is_better != 0);
		o->rec = better ? NB_REC_SHIP : NB_REC_STOP_HARM;
		return 0;
	}
	o->rec = NB_REC_KEEP_RUNNING;
	double groups = in->groups > 0 ? in->groups : 2;
	if (in->planned_per_group > in->users_per_group)
		o->users_needed = ceil((in->planned_per_group - in->users_per_group) * groups);
	return 0;
}

const char *nb_stats_rec_name(enum nb_stats_rec rec)
{
	switch (rec) {
	case NB_REC_INVESTIGATE_SRM: return "investigate SRM";
	case NB_REC_STOP_HARM: return "stop for harm";
	case NB_REC_SHIP: return "ship";
	case NB_REC_KEEP_RUNNING: return "keep running";
	}
	return "?";
}
