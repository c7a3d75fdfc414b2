/* report/report.c — nb_report: per-variant aggregates (nb_an) → the statistics of
 * every metric (nb_stats), SRM, power, adjusted p-values, recommendation. */
#include "neonblue/report.h"
#include "neonblue/stats.h"
#include "periods.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Summary of one arm of a metric on the unit (user) level. */
typedef struct rp_arm {
	double n, mean, var; /* per-unit mean and sample variance (binomial, count, sum) */
	nb_stats_ratio_group ratio;
} rp_arm;

static int rp_is_ratio(const char *kind)
{
	return !strcmp(kind, "mean") || !strcmp(kind, "ratio");
}

static double rp_var(double n, double sum, double sum_sq)
{
	if (n < 2)
		return NAN;
	double v = (sum_sq - sum * sum / n) / (n - 1);
	return v < 0 ? 0 : v;
}

static void rp_arm_of(const nb_an_agg *a, rp_arm *o)
{
	double n = a->users;
	o->n = n;
	o->mean = n > 0 ? a->sum / n : NAN;
	o->var = rp_var(n, a->sum, a->sum_sq);
	o->ratio.n = n;
	o->ratio.mean_num = o->mean;
	o->ratio.mean_den = n > 0 ? a->den_sum / n : NAN;
	o->ratio.var_num = o->var;
	o->ratio.var_den = rp_var(n, a->den_sum, a->den_sum_sq);
	o->ratio.cov_num_den = n >= 2 ? (a->cross - a->sum * a->den_sum / n) / (n - 1) : NAN;
}

static double rp_z975(void)
{
	return gsl_cdf_ugaussian_Pinv(0.975);
}

static void rp_nan_compare(nb_report_result *r)
{
	r->diff = r->diff_lo = r->diff_hi = NAN;
	r->lift = r->lift_lo = r->lift_hi = NAN;
	r->p_value = r->p_value_sequential = r->p_value_adjusted = NAN;
	r->chance_to_win = r->expected_loss = NAN;
}

/* The interval of the arm's own rate / mean / ratio. */
static void rp_own_interval(const char *kind, const nb_an_agg *a, const rp_arm *arm,
			    nb_report_result *r)
{
	nb_err err;
	r->mean_lo = r->mean_hi = NAN;
	if (!strcmp(kind, "binomial")) {
		r->mean = a->users > 0 ? a->converted / a->users : NAN;
		if (a->users > 0 && nb_stats_wilson(a->users, a->converted, 0.05, &r->mean_lo,
						    &r->mean_hi, &err))
			r->mean_lo = r->mean_hi = NAN;
	} else if (rp_is_ratio(kind)) {
		r->mean = a->den_sum > 0 ? a->sum / a->den_sum : NAN;
		nb_stats_ratio_out ro;
		/* the se of one arm: the ratio function against itself */
		if (arm->n >= 2 && a->den_sum > 0 &&
		    !nb_stats_ratio(&arm->ratio, &arm->ratio, &ro, &err)) {
			r->mean_lo = ro.control_ratio - rp_z975() * ro.control_se;
			r->mean_hi = ro.control_ratio + rp_z975() * ro.control_se;
		}
	} else {
		r->mean = arm->mean;
		if (arm->n >= 2) {
			double se = sqrt(arm->var / arm->n);
			r->mean_lo = arm->mean - rp_z975() * se;
			r->mean_hi = arm->mean + rp_z975() * se;
		}
	}
}

/* Bayesian normal model on (effect, se): chance to win and expected loss
 * E[max(0, -effect)] (signs flipped when lower is better). */
static void rp_bayes_normal(double effect, double se, int decrease, nb_report_result *r)
{
	nb_stats_bnorm_out b;
	nb_err err;
	double e = decrease ? -effect : effect;
	if (!(se > 0) || !isfinite(e) || nb_stats_bayes_normal(e, se, 0, &b, &err))
		return;
	r->chance_to_win = b.chance_to_win;
	double z = b.post_mean / b.post_sd;
	r->expected_loss = b.post_sd * gsl_ran_ugaussian_pdf(z) - b.post_mean * gsl_cdf_ugaussian_Q(z);
}

/* mSPRT p-value with mixing variance (mde · |control mean|)². */
static double rp_sequential(double nc, double vc, double nt, double vt, double diff,
			    double scale, double mde)
{
	nb_stats_msprt_in in = {.control_n = nc, .treatment_n = nt, .control_var = vc,
				.treatment_var = vt, .diff = diff};
	in.tau2 = pow(mde * fabs(scale), 2);
	nb_stats_msprt_out o;
	nb_err err;
	if (!(nc > 0 && nt > 0) || !(in.tau2 > 0) || isnan(vc) || isnan(vt) || isnan(diff) ||
	    nb_stats_msprt(&in, &o, &err))
		return NAN;
	return o.p_value;
}

static void rp_compare_binomial(const nb_an_agg *c, const nb_an_agg *t, const rp_arm *ac,
				const rp_arm *at, int decrease, double mde, nb_report_result *r)
{
	nb_err err;
	if (!(c->users > 0 && t->users > 0))
		return;
	nb_stats_prop_in pi = {c->users, c->converted, t->users, t->converted};
	nb_stats_prop_out po;
	if (!nb_stats_proportions(&pi, &po, &err)) {
		r->diff = po.diff;
		r->diff_lo = po.ci95_lower;
		r->diff_hi = po.ci95_upper;
		r->p_value = po.p_value;
	}
	nb_stats_means_in mi = {ac->n, ac->mean, ac->var, at->n, at->mean, at->var};
	nb_stats_lift_out lo;
	if (ac->n >= 2 && at->n >= 2 && !nb_stats_lift(&mi, &lo, &err)) {
		r->lift = lo.lift;
		r->lift_lo = lo.ci95_lower;
		r->lift_hi = lo.ci95_upper;
	}
	r->p_value_sequential = rp_sequential(ac->n, ac->var, at->n, at->var, r->diff, ac->mean, mde);
	nb_stats_arm arms[2] = {{c->users, c->converted}, {t->users, t->converted}};
	nb_stats_bayes_arm bo[2];
	if (!nb_stats_bayes(arms, 2, 1, 1, bo, &err)) {
		r->chance_to_win = decrease ? bo[0].prob_best : bo[1].prob_best;
		r->expected_loss = decrease ? bo[0].expected_loss : bo[1].expected_loss;
	}
}

static void rp_compare_means(const rp_arm *ac, const rp_arm *at, int decrease, double mde,
			     nb_report_result *r)
{
	nb_err err;
	if (!(ac->n >= 2 && at->n >= 2))
		return;
	nb_stats_means_in mi = {ac->n, ac->mean, ac->var, at->n, at->mean, at->var};
	nb_stats_welch_out wo;
	if (!nb_stats_welch(&mi, &wo, &err)) {
		r->diff = wo.diff;
		r->diff_lo = wo.ci95_lower;
		r->diff_hi = wo.ci95_upper;
		r->p_value = wo.p_value;
		rp_bayes_normal(wo.diff, wo.se, decrease, r);
	}
	nb_stats_lift_out lo;
	if (!nb_stats_lift(&mi, &lo, &err)) {
		r->lift = lo.lift;
		r->lift_lo = lo.ci95_lower;
		r->lift_hi = lo.ci95_upper;
	}
	r->p_value_sequential = rp_sequential(ac->n, ac->var, at->n, at->var, r->diff, ac->mean, mde);
}

static void rp_compare_ratio(const rp_arm *ac, const rp_arm *at, int decrease, double mde,
			     nb_report_result *r)
{
	nb_err err;
	nb_stats_ratio_out ro;
	if (!(ac->n >= 2 && at->n >= 2) || !(ac->ratio.mean_den > 0 && at->ratio.mean_den > 0) ||
	    nb_stats_ratio(&ac->ratio, &at->ratio, &ro, &err))
		return;
	r->diff = ro.diff;
	r->diff_lo = ro.ci95_lower;
	r->diff_hi = ro.ci95_upper;
	r->p_value = ro.p_value;
	if (ro.control_ratio != 0) {
		/* relative lift; interval: the difference's interval over the control ratio */
		r->lift = ro.treatment_ratio / ro.control_ratio - 1;
		r->lift_lo = ro.ci95_lower / fabs(ro.control_ratio);
		r->lift_hi = ro.ci95_upper / fabs(ro.control_ratio);
	}
	double vc = ro.control_se * ro.control_se * ac->n;
	double vt = ro.treatment_se * ro.treatment_se * at->n;
	r->p_value_sequential = rp_sequential(ac->n, vc, at->n, vt, ro.diff, ro.control_ratio, mde);
	rp_bayes_normal(ro.diff, ro.se, decrease, r);
}

/* Planned users per arm and power reached, for the metric's control arm. */
static void rp_power(const nb_report_metric *m, const rp_arm *ac, const nb_an_agg *c,
		     double nmin, const nb_report_opts *o, nb_report_metric *out)
{
	out->power_reached = out->users_planned = NAN;
	double z = rp_z975(), zb = gsl_cdf_ugaussian_Pinv(o->power);
	if (!strcmp(m->kind, "binomial")) {
		double p = c->users > 0 ? c->converted / c->users : NAN;
		nb_stats_power_in pi = {.baseline_rate = p, .relative_mde = o->mde};
		nb_stats_power_defaults(&pi);
		pi.alpha = o->alpha;
		pi.power = o->power;
		nb_stats_power_out po;
		nb_err err;
		if (!(p > 0 && p < 1) || nb_stats_power(&pi, &po, &err))
			return;
		out->users_planned = po.n_normal_approx_ceil;
		double p2 = p * (1 + o->mde);
		double se = sqrt(p * (1 - p) / nmin + p2 * (1 - p2) / nmin);
		if (nmin > 0 && se > 0)
			out->power_reached = gsl_cdf_ugaussian_P(fabs(p2 - p) / se - z);
		return;
	}
	double var = ac->var, mean = ac->mean;
	if (rp_is_ratio(m->kind)) {
		nb_stats_ratio_out ro;
		nb_err err;
		if (!(ac->n >= 2 && ac->ratio.mean_den > 0) ||
		    nb_stats_ratio(&ac->ratio, &ac->ratio, &ro, &err))
			return;
		var = ro.control_se * ro.control_se * ac->n;
		mean = ro.control_ratio;
	}
	double delta = o->mde * fabs(mean);
	if (!(delta > 0) || !(var > 0))
		return;
	out->users_planned = ceil(2 * (z + zb) * (z + zb) * var / (delta * delta));
	if (nmin > 0)
		out->power_reached = gsl_cdf_ugaussian_P(delta / sqrt(2 * var / nmin) - z);
}

static void rp_metric(const nb_an_experiment *e, int mi, const nb_an_agg *aggs,
		      const nb_report_opts *o, nb_report_metric *out)
{
	const nb_an_metric *m = &e->metrics[mi];
	int nv = e->nvariants;
	snprintf(out->key, sizeof out->key, "%s", m->key);
	snprintf(out->kind, sizeof out->kind, "%s", m->kind);
	snprintf(out->role, sizeof out->role, "%s", m->role);
	out->decrease = m->decrease;
	out->nresults = nv;
	out->results = nb_xcalloc((size_t)nv, sizeof *out->results);
	rp_arm *arms = nb_xcalloc((size_t)nv, sizeof *arms);
	const nb_an_agg *a = aggs + (size_t)mi * (size_t)nv;
	double nmin = INFINITY;
	for (int v = 0; v < nv; v++) {
		nb_report_result *r = &out->results[v];
		rp_arm_of(&a[v], &arms[v]);
		snprintf(r->variant, sizeof r->variant, "%s", e->variants[v].key);
		r->is_control = v == e->control;
		r->agg = a[v];
		r->users = a[v].users;
		r->count = !strcmp(m->kind, "binomial") ? a[v].converted
			   : !strcmp(m->kind, "mean")   ? a[v].den_sum
							: a[v].events;
		r->sum = a[v].sum;
		rp_own_interval(m->kind, &a[v], &arms[v], r);
		rp_nan_compare(r);
		if (a[v].users < nmin)
			nmin = a[v].users;
	}
	int c = e->control;
	for (int v = 0; v < nv; v++) {
		if (v == c)
			continue;
		if (!strcmp(m->kind, "binomial"))
			rp_compare_binomial(&a[c], &a[v], &arms[c], &arms[v], m->decrease, o->mde,
					    &out->results[v]);
		else if (rp_is_ratio(m->kind))
			rp_compare_ratio(&arms[c], &arms[v], m->decrease, o->mde, &out->results[v]);
		else
			rp_compare_means(&arms[c], &arms[v], m->decrease, o->mde, &out->results[v]);
	}
	rp_power(out, &arms[c], &a[c], nmin, o, out);
	out->users_needed = NAN;
	if (!isnan(out->users_planned))
		out->users_needed = out->users_planned > nmin ? ceil((out->users_planned - nmin) * nv)
							       : 0;
	free(arms);
}

static void rp_srm(const nb_an_experiment *e, const double *users, nb_report *r)
{
	size_t k = (size_t)e->nvariants;
	double *w = nb_xcalloc(k, sizeof *w), *exp = nb_xcalloc(k, sizeof *exp);
	nb_stats_srm_out so;
	nb_err err;
	double total = 0;
	for (size_t i = 0; i < k; i++) {
		w[i] = e->variants[i].weight;
		total += users[i];
	}
	r->srm_chi2 = r->srm_df = r->srm_p_value = NAN;
	if (k >= 2 && total > 0 && !nb_stats_srm(users, w, k, exp, &so, &err)) {
		r->srm_chi2 = so.chi2;
		r->srm_df = so.df;
		r->srm_p_value = so.p_value;
		r->srm_mismatch = so.mismatch;
	}
	free(w);
	free(exp);
}

/* Holm across every (metric, treatment) fixed-horizon p-value. */
static void rp_adjust(nb_report *r, double alpha)
{
	size_t m = 0;
	for (int i = 0; i < r->nmetrics; i++)
		m += (size_t)r->metrics[i].nresults;
	double *p = nb_xcalloc(m + 1, sizeof *p);
	nb_report_result **who = nb_xcalloc(m + 1, sizeof *who);
	size_t n = 0;
	for (int i = 0; i < r->nmetrics; i++)
		for (int v = 0; v < r->metrics[i].nresults; v++) {
			nb_report_result *x = &r->metrics[i].results[v];
			if (!x->is_control && !isnan(x->p_value)) {
				who[n] = x;
				p[n++] = x->p_value;
			}
		}
	double *holm = nb_xcalloc(n + 1, sizeof *holm), *bh = nb_xcalloc(n + 1, sizeof *bh);
	double *bon = nb_xcalloc(n + 1, sizeof *bon);
	int *hr = nb_xcalloc(n + 1, sizeof *hr), *br = nb_xcalloc(n + 1, sizeof *br);
	size_t *scratch = nb_xcalloc(n + 1, sizeof *scratch);
	nb_stats_adjust_out ao = {holm, bh, bon, hr, br};
	nb_err err;
	if (n > 0 && !nb_stats_adjust(p, n, alpha, scratch, &ao, &err))
		for (size_t i = 0; i < n; i++)
			who[i]->p_value_adjusted = holm[i];
	free(p);
	free(who);
	free(holm);
	free(bh);
	free(bon);
	free(hr);
	free(br);
	free(scratch);
}

/* The decision for one result: sequential p while running, else fixed. */
static int rp_decide(const nb_report *r, const nb_report_metric *m, const nb_report_result *x,
		     nb_stats_rec_out *out)
{
	int running = !strcmp(r->status, "running") || !strcmp(r->status, "paused");
	nb_stats_rec_in in = {.srm_p_value = r->srm_p_value,
			      .p_value = running ? x->p_value_sequential : x->p_value,
			      .effect = x->diff,
			      .higher_is_better = !m->decrease,
			      .alpha = r->alpha,
			      .users_per_group = 0,
			      .planned_per_group = 0,
			      .groups = r->nvariants};
	nb_err err;
	return nb_stats_recommend(&in, out, &err);
}

static void rp_recommend(nb_report *r)
{
	int primary = -1;
	for (int i = 0; i < r->nmetrics && primary < 0; i++)
		if (!strcmp(r->metrics[i].role, "primary"))
			primary = i;
	if (primary < 0 && r->nmetrics > 0)
		primary = 0;
	enum nb_stats_rec rec = NB_REC_KEEP_RUNNING;
	const char *why = "no metric is significant yet";
	nb_stats_rec_out o;
	if (!isnan(r->srm_p_value) && r->srm_mismatch) {
		rec = NB_REC_INVESTIGATE_SRM;
		why = "sample ratio mismatch: the users per variant do not match the weights";
	}
	for (int i = 0; rec != NB_REC_INVESTIGATE_SRM && i < r->nmetrics; i++) {
		const nb_report_metric *m = &r->metrics[i];
		if (i != primary && strcmp(m->role, "guardrail"))
			continue;
		for (int v = 0; v < m->nresults; v++) {
			if (m->results[v].is_control || rp_decide(r, m, &m->results[v], &o))
				continue;
			if (o.rec == NB_REC_STOP_HARM) {
				rec = NB_REC_STOP_HARM;
				snprintf(r->reason, sizeof r->reason,
					 "%s is significantly worse for %s (%s)", m->results[v].variant,
					 m->key, m->role);
			} else if (o.rec == NB_REC_SHIP && i == primary && rec == NB_REC_KEEP_RUNNING) {
				rec = NB_REC_SHIP;
				snprintf(r->reason, sizeof r->reason,
					 "%s is significantly better on the primary metric %s",
					 m->results[v].variant, m->key);
			}
		}
	}
	if (rec == NB_REC_INVESTIGATE_SRM || rec == NB_REC_KEEP_RUNNING)
		snprintf(r->reason, sizeof r->reason, "%s", why);
	r->users_needed = 0;
	if (rec == NB_REC_KEEP_RUNNING && primary >= 0 && !isnan(r->metrics[primary].users_needed))
		r->users_needed = r->metrics[primary].users_needed;
	snprintf(r->recommendation, sizeof r->recommendation, "%s", nb_stats_rec_name(rec));
}

static void rp_defaults(nb_report_opts *o)
{
	if (!(o->alpha > 0 && o->alpha < 1))
		o->alpha = 0.05;
	if (!(o->mde != 0 && isfinite(o->mde)))
		o->mde = 0.05;
	if (!(o->power > 0 && o->power < 1))
		o->power = 0.8;
}

int nb_report_compute(const nb_an_experiment *e, const double *users, const nb_an_agg *aggs,
		      const nb_report_opts *opts, nb_report *out, nb_err *err)
{
	memset(out, 0, sizeof *out);
	nb_report_opts o = *opts;
	rp_defaults(&o);
	if (e->nvariants < 1 || e->control < 0 || e->control >= e->nvariants)
		return nb_err_set(err, NB_EINPUT, "experiment \"%s\" has no control variant", e->key);
	snprintf(out->experiment, sizeof out->experiment, "%s", e->key);
	snprintf(out->status, sizeof out->status, "%s", e->status);
	out->alpha = o.alpha;
	out->mde = o.mde;
	out->power = o.power;
	out->from = o.from;
	out->to = o.to;
	if (o.segment_prop)
		snprintf(out->segment, sizeof out->segment, "%s=%s", o.segment_prop,
			 o.segment_value ? o.segment_value : "");
	out->nvariants = e->nvariants;
	out->variants = nb_xcalloc((size_t)e->nvariants, sizeof *out->variants);
	for (int v = 0; v < e->nvariants; v++) {
		snprintf(out->variants[v].key, sizeof out->variants[v].key, "%s", e->variants[v].key);
		out->variants[v].weight = e->variants[v].weight;
		out->variants[v].users = users[v];
		out->variants[v].is_control = v == e->control;
	}
	rp_srm(e, users, out);
	out->nmetrics = e->nmetrics;
	out->metrics = nb_xcalloc((size_t)e->nmetrics + 1, sizeof *out->metrics);
	for (int i = 0; i < e->nmetrics; i++)
		rp_metric(e, i, aggs, &o, &out->metrics[i]);
	rp_adjust(out, o.alpha);
	rp_recommend(out);
	return 0;
}

void nb_report_done(nb_report *r)
{
	for (int i = 0; i < r->nmetrics; i++)
		free(r->metrics[i].results);
	free(r->metrics);
	free(r->variants);
	for (int i = 0; i < r->nperiods; i++) {
		if (r->periods[i].report)
			nb_report_done(r->periods[i].report);
		free(r->periods[i].report);
	}
	free(r->periods);
	memset(r, 0, sizeof *r);
}

int nb_report_only_metric(nb_an_experiment *e, const char *key, nb_err *err)
{
	int k = nb_an_metric_index(e, key);
	if (k < 0)
		return nb_err_set(err, NB_EINPUT, "experiment \"%s\" has no metric \"%s\"", e->key,
				  key);
	for (int i = 0; i < e->nmetrics; i++) {
		if (i == k)
			continue;
		for (int j = 0; j < e->metrics[i].nevents; j++)
			free(e->metrics[i].event_types[j]);
		free(e->metrics[i].event_types);
		free(e->metrics[i].value_property);
	}
	e->metrics[0] = e->metrics[k];
	e->nmetrics = 1;
	return 0;
}

/* One analysis: every user in scope, or one period's (o->version). */
static int report_one(nb_ch *ch, const nb_an_experiment *e, const nb_report_opts *o,
		      nb_report *out, nb_err *err)
{
	memset(out, 0, sizeof *out);
	nb_an_scope s = {.db = o->db, .from = o->from, .to = o->to, .event_type = o->event_type,
			 .segment_prop = o->segment_prop, .segment_value = o->segment_value,
			 .scan = o->scan, .version = o->version};
	size_t nv = (size_t)e->nvariants;
	double *users = nb_xcalloc(nv, sizeof *users);
	nb_an_agg *aggs = nb_xcalloc(nv * (size_t)(e->nmetrics + 1), sizeof *aggs);
	int rc = e->nmetrics > 0 ? nb_an_metrics(ch, &s, e, aggs, err)
				 : nb_an_exposure(ch, &s, e, users, err);
	for (size_t v = 0; !rc && e->nmetrics > 0 && v < nv; v++)
		users[v] = aggs[v].users;
	if (!rc)
		rc = nb_report_compute(e, users, aggs, o, out, err);
	free(users);
	free(aggs);
	return rc;
}

int nb_report_build_exp(nb_ch *ch, const nb_an_experiment *e, const nb_report_opts *o,
			nb_report *out, nb_err *err)
{
	if (report_one(ch, e, o, out, err))
		return -1;
	if (!o->pooled && !o->version && rp_periods_attach(ch, e, o, report_one, out, err)) {
		nb_report_done(out);
		return -1;
	}
	return 0;
}

int nb_report_build(nb_ch *ch, const nb_report_opts *o, nb_report *out, nb_err *err)
{
	nb_an_experiment e;
	memset(out, 0, sizeof *out);
	if (nb_an_experiment_load(ch, o->db, o->experiment, &e, err))
		return -1;
	if (o->metric && nb_report_only_metric(&e, o->metric, err)) {
		nb_an_experiment_done(&e);
		return -1;
	}
	int rc = nb_report_build_exp(ch, &e, o, out, err);
	nb_an_experiment_done(&e);
	return rc;
}

/* "2026-11-01", "2026-11-01T10:00:00Z" (also with a space, without Z) or unix seconds. */
int nb_report_parse_time(const char *s, long long *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*s && !*end) {
		*out = v;
		return v > 0 ? 0 : -1;
	}
	static const char *const fmts[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S",
					   "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%MZ",
					   "%Y-%m-%dT%H:%M", "%Y-%m-%d"};
	for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
		struct tm tm;
		memset(&tm, 0, sizeof tm);
		const char *e = strptime(s, fmts[i], &tm);
		if (e && !*e) {
			*out = (long long)timegm(&tm);
			return 0;
		}
	}
	return -1;
}

/* "90s", "30m", "1h", "7d" or plain seconds; -1 when it is none of them. */
long nb_report_parse_duration(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || v <= 0)
		return -1;
	long mul = !*end || !strcmp(end, "s") ? 1
		   : !strcmp(end, "m")	       ? 60
		   : !strcmp(end, "h")	       ? 3600
		   : !strcmp(end, "d")	       ? 86400
					       : -1;
	return mul < 0 ? -1 : v * mul;
}
