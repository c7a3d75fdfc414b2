/* report/render.c — nb_report renderers: the JSON contract (docs/report.md),
 * CSV and Markdown, and the JSON of funnels, cohorts, revenue and segments. */
#include "neonblue/base.h"
#include "neonblue/report.h"
#include "neonblue/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void rr_num(cJSON *o, const char *k, double v)
{
	cJSON_AddItemToObject(o, k, nb_json_number_or_null(v));
}

/* [lo, hi], or null when both are undefined. */
static void rr_pair(cJSON *o, const char *k, double lo, double hi)
{
	if (isnan(lo) && isnan(hi)) {
		cJSON_AddNullToObject(o, k);
		return;
	}
	cJSON *a = cJSON_AddArrayToObject(o, k);
	cJSON_AddItemToArray(a, nb_json_number_or_null(lo));
	cJSON_AddItemToArray(a, nb_json_number_or_null(hi));
}

/* ISO-8601 UTC of unix seconds, or null for 0. */
static void rr_time(cJSON *o, const char *k, long long t)
{
	if (!t) {
		cJSON_AddNullToObject(o, k);
		return;
	}
	char s[40];
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(o, k, s);
}

static cJSON *rr_result(const nb_report_result *x)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "variant", x->variant);
	cJSON_AddBoolToObject(o, "is_control", x->is_control);
	rr_num(o, "users", x->users);
	rr_num(o, "count", x->count);
	rr_num(o, "sum", x->sum);
	rr_num(o, "mean", x->mean);
	rr_pair(o, "mean_ci", x->mean_lo, x->mean_hi);
	rr_num(o, "diff", x->diff);
	rr_pair(o, "diff_ci", x->diff_lo, x->diff_hi);
	rr_num(o, "lift", x->lift);
	rr_pair(o, "lift_ci", x->lift_lo, x->lift_hi);
	rr_num(o, "p_value", x->p_value);
	rr_num(o, "p_value_sequential", x->p_value_sequential);
	rr_num(o, "p_value_adjusted", x->p_value_adjusted);
	rr_num(o, "chance_to_win", x->chance_to_win);
	rr_num(o, "expected_loss", x->expected_loss);
	cJSON *a = cJSON_AddObjectToObject(o, "aggregates");
	rr_num(a, "converted", x->agg.converted);
	rr_num(a, "events", x->agg.events);
	rr_num(a, "sum", x->agg.sum);
	rr_num(a, "sum_squares", x->agg.sum_sq);
	rr_num(a, "denominator_sum", x->agg.den_sum);
	rr_num(a, "denominator_sum_squares", x->agg.den_sum_sq);
	rr_num(a, "cross_sum", x->agg.cross);
	rr_num(a, "winsorize_cap", x->agg.cap);
	return o;
}

static cJSON *rr_metric(const nb_report_metric *m)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "key", m->key);
	cJSON_AddStringToObject(o, "kind", m->kind);
	cJSON_AddStringToObject(o, "role", m->role);
	cJSON_AddStringToObject(o, "direction", m->decrease ? "decrease" : "increase");
	rr_num(o, "power_reached", m->power_reached);
	rr_num(o, "users_planned", m->users_planned);
	rr_num(o, "users_needed", m->users_needed);
	cJSON *rs = cJSON_AddArrayToObject(o, "results");
	for (int v = 0; v < m->nresults; v++)
		cJSON_AddItemToArray(rs, rr_result(&m->results[v]));
	return o;
}

/* "weights,seed" → ["weights", "seed"] */
static cJSON *rr_changes(const char *s)
{
	cJSON *a = cJSON_CreateArray();
	char buf[96];
	snprintf(buf, sizeof buf, "%s", s);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		cJSON_AddItemToArray(a, cJSON_CreateString(t));
	return a;
}

static cJSON *rr_periods(const nb_report *r)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < r->nperiods; i++) {
		const nb_report_period *p = &r->periods[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "version", (double)p->version);
		rr_time(o, "from", p->from);
		rr_time(o, "to", p->to);
		rr_num(o, "users", p->users);
		cJSON_AddItemToObject(o, "changes", rr_changes(p->changes));
		cJSON *rb = cJSON_AddObjectToObject(o, "rebucketing");
		rr_num(rb, "earlier_users", p->earlier_users);
		rr_num(rb, "rebucketed", p->rebucketed);
		rr_num(rb, "excluded", p->excluded);
		cJSON_AddItemToObject(o, "report",
				      p->report ? nb_report_json(p->report) : cJSON_CreateNull());
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

cJSON *nb_report_json(const nb_report *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "experiment", r->experiment);
	cJSON_AddStringToObject(o, "status", r->status);
	cJSON *sc = cJSON_AddObjectToObject(o, "scope");
	rr_time(sc, "from", r->from);
	rr_time(sc, "to", r->to);
	if (r->segment[0])
		cJSON_AddStringToObject(sc, "segment", r->segment);
	else
		cJSON_AddNullToObject(sc, "segment");
	cJSON *srm = cJSON_AddObjectToObject(o, "srm");
	rr_num(srm, "chi2", r->srm_chi2);
	rr_num(srm, "df", r->srm_df);
	rr_num(srm, "p_value", r->srm_p_value);
	cJSON_AddBoolToObject(srm, "mismatch", r->srm_mismatch);
	cJSON *vs = cJSON_AddArrayToObject(o, "variants");
	for (int v = 0; v < r->nvariants; v++) {
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "key", r->variants[v].key);
		rr_num(x, "users", r->variants[v].users);
		rr_num(x, "weight", r->variants[v].weight);
		cJSON_AddBoolToObject(x, "is_control", r->variants[v].is_control);
		cJSON_AddItemToArray(vs, x);
	}
	cJSON *ms = cJSON_AddArrayToObject(o, "metrics");
	for (int i = 0; i < r->nmetrics; i++)
		cJSON_AddItemToArray(ms, rr_metric(&r->metrics[i]));
	cJSON_AddStringToObject(o, "recommendation", r->recommendation);
	cJSON_AddStringToObject(o, "reason", r->reason);
	rr_num(o, "users_needed", r->users_needed);
	rr_num(o, "alpha", r->alpha);
	rr_num(o, "mde", r->mde);
	rr_num(o, "power", r->power);
	if (r->nperiods) {
		cJSON_AddBoolToObject(o, "config_changed", r->config_changed);
		cJSON_AddBoolToObject(o, "rebucketed", r->rebucketed);
		cJSON_AddItemToObject(o, "periods", rr_periods(r));
	}
	return o;
}

/* A CSV number: integers exactly, others %.17g, empty when undefined. */
static void rr_csv_num(nb_buf *b, double v)
{
	nb_buf_putc(b, ',');
	if (isfinite(v))
		nb_json_write_number(b, v);
}

static void rr_csv_field(nb_buf *b, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		nb_buf_puts(b, s);
		return;
	}
	nb_buf_putc(b, '"');
	for (; *s; s++) {
		if (*s == '"')
			nb_buf_putc(b, '"');
		nb_buf_putc(b, *s);
	}
	nb_buf_putc(b, '"');
}

void nb_report_csv(const nb_report *r, nb_buf *b)
{
	nb_buf_puts(b, "experiment,metric,kind,role,variant,users,count,sum,mean,mean_lo,mean_hi,"
		       "diff,diff_lo,diff_hi,lift,lift_lo,lift_hi,p_value,p_value_sequential,"
		       "p_value_adjusted,chance_to_win,expected_loss\r\n");
	for (int i = 0; i < r->nmetrics; i++) {
		const nb_report_metric *m = &r->metrics[i];
		for (int v = 0; v < m->nresults; v++) {
			const nb_report_result *x = &m->results[v];
			rr_csv_field(b, r->experiment);
			nb_buf_putc(b, ',');
			rr_csv_field(b, m->key);
			nb_buf_printf(b, ",%s,%s,", m->kind, m->role);
			rr_csv_field(b, x->variant);
			const double f[] = {x->users, x->count, x->sum, x->mean, x->mean_lo,
					    x->mean_hi, x->diff, x->diff_lo, x->diff_hi, x->lift,
					    x->lift_lo, x->lift_hi, x->p_value,
					    x->p_value_sequential, x->p_value_adjusted,
					    x->chance_to_win, x->expected_loss};
			for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
				rr_csv_num(b, f[k]);
			nb_buf_puts(b, "\r\n");
		}
	}
}

/* Human numbers: 4 significant digits, "—" when undefined. */
static void rr_md_num(nb_buf *b, double v)
{
	if (!isfinite(v))
		nb_buf_puts(b, "—");
	else if (v == floor(v) && fabs(v) < 1e15)
		nb_buf_printf(b, "%.0f", v);
	else
		nb_buf_printf(b, "%.4g", v);
}

static void rr_md_pct(nb_buf *b, double v)
{
	if (!isfinite(v))
		nb_buf_puts(b, "—");
	else
		nb_buf_printf(b, "%+.2f%%", v * 100);
}

static void rr_md_interval(nb_buf *b, double lo, double hi, int pct)
{
	if (isnan(lo) && isnan(hi))
		return;
	nb_buf_puts(b, " [");
	pct ? rr_md_pct(b, lo) : rr_md_num(b, lo);
	nb_buf_puts(b, ", ");
	pct ? rr_md_pct(b, hi) : rr_md_num(b, hi);
	nb_buf_putc(b, ']');
}

static void rr_md_metric(nb_buf *b, const nb_report_metric *m)
{
	nb_buf_printf(b, "\n## %s (%s, %s, %s is better)\n\n", m->key, m->kind, m->role,
		      m->decrease ? "lower" : "higher");
	nb_buf_puts(b, "| variant | users | count | mean [95% CI] | lift [95% CI] | p | p (sequential) "
		       "| p (adjusted) | chance to win |\n");
	nb_buf_puts(b, "|---|---:|---:|---|---|---:|---:|---:|---:|\n");
	for (int v = 0; v < m->nresults; v++) {
		const nb_report_result *x = &m->results[v];
		nb_buf_printf(b, "| %s%s | ", x->variant, x->is_control ? " (control)" : "");
		rr_md_num(b, x->users);
		nb_buf_puts(b, " | ");
		rr_md_num(b, x->count);
		nb_buf_puts(b, " | ");
		rr_md_num(b, x->mean);
		rr_md_interval(b, x->mean_lo, x->mean_hi, 0);
		nb_buf_puts(b, " | ");
		rr_md_pct(b, x->lift);
		rr_md_interval(b, x->lift_lo, x->lift_hi, 1);
		const double f[] = {x->p_value, x->p_value_sequential, x->p_value_adjusted,
				    x->chance_to_win};
		for (size_t k = 0; k < 4; k++) {
			nb_buf_puts(b, " | ");
			rr_md_num(b, f[k]);
		}
		nb_buf_puts(b, " |\n");
	}
	nb_buf_puts(b, "\nPower reached for the planned effect: ");
	rr_md_pct(b, m->power_reached);
	nb_buf_puts(b, "; users still needed: ");
	rr_md_num(b, m->users_needed);
	nb_buf_puts(b, "\n");
}

void nb_report_md(const nb_report *r, nb_buf *b);

static void rr_md_time(nb_buf *b, long long t)
{
	char s[40] = "…";
	time_t tt = (time_t)t;
	struct tm tm;
	if (t && gmtime_r(&tt, &tm))
		strftime(s, sizeof s, "%Y-%m-%d %H:%M:%SZ", &tm);
	nb_buf_puts(b, s);
}

/* The configuration periods: the warning, one line each, each analysed. */
static void rr_md_periods(const nb_report *r, nb_buf *b)
{
	nb_buf_printf(b, "\n## Configuration periods\n\n**The configuration changed mid-run** "
			 "(%d periods): the tables above pool users assigned under different "
			 "configurations; each period's users are analysed alone below.\n\n",
		      r->nperiods);
	for (int i = 0; i < r->nperiods; i++) {
		const nb_report_period *p = &r->periods[i];
		nb_buf_printf(b, "- version %ld, ", p->version);
		rr_md_time(b, p->from);
		nb_buf_puts(b, " – ");
		if (p->to)
			rr_md_time(b, p->to);
		else
			nb_buf_puts(b, "now");
		nb_buf_puts(b, ": ");
		rr_md_num(b, p->users);
		nb_buf_printf(b, " users%s%s", *p->changes ? "; changed: " : "", p->changes);
		if (p->rebucketed > 0 || p->excluded > 0) {
			nb_buf_puts(b, "; **re-bucketed ");
			rr_md_num(b, p->rebucketed);
			nb_buf_puts(b, " and left out ");
			rr_md_num(b, p->excluded);
			nb_buf_puts(b, " of the ");
			rr_md_num(b, p->earlier_users);
			nb_buf_puts(b, " users already assigned** (SDKs evaluating the payload move "
				       "them; stored assignments keep theirs)");
		}
		nb_buf_puts(b, "\n");
	}
	for (int i = 0; i < r->nperiods; i++) {
		if (!r->periods[i].report)
			continue;
		nb_buf_printf(b, "\n### Period %d (version %ld)\n\n", i + 1, r->periods[i].version);
		nb_buf tmp;
		nb_buf_init(&tmp);
		nb_report_md(r->periods[i].report, &tmp);
		/* its own title is the period's heading above */
		const char *body = tmp.data ? strstr(tmp.data, "\n\n") : NULL;
		nb_buf_puts(b, body ? body + 2 : "");
		nb_buf_done(&tmp);
	}
}

void nb_report_md(const nb_report *r, nb_buf *b)
{
	nb_buf_printf(b, "# Experiment %s (%s)\n\n", r->experiment, r->status);
	nb_buf_printf(b, "**Recommendation: %s** — %s", r->recommendation, r->reason);
	if (r->users_needed > 0) {
		nb_buf_puts(b, " (about ");
		rr_md_num(b, r->users_needed);
		nb_buf_puts(b, " more users for the planned power)");
	}
	nb_buf_puts(b, "\n\nSample ratio: χ² = ");
	rr_md_num(b, r->srm_chi2);
	nb_buf_puts(b, ", p = ");
	rr_md_num(b, r->srm_p_value);
	nb_buf_printf(b, " — %s\n\n", r->srm_mismatch ? "**MISMATCH**" : "ok");
	nb_buf_puts(b, "| variant | weight | users |\n|---|---:|---:|\n");
	for (int v = 0; v < r->nvariants; v++) {
		nb_buf_printf(b, "| %s%s | ", r->variants[v].key,
			      r->variants[v].is_control ? " (control)" : "");
		rr_md_num(b, r->variants[v].weight);
		nb_buf_puts(b, " | ");
		rr_md_num(b, r->variants[v].users);
		nb_buf_puts(b, " |\n");
	}
	for (int i = 0; i < r->nmetrics; i++)
		rr_md_metric(b, &r->metrics[i]);
	if (r->config_changed)
		rr_md_periods(r, b);
}

/* ---- generic tables for the other analyses ---- */

static void rr_cell_text(nb_buf *b, const cJSON *c)
{
	if (cJSON_IsString(c))
		nb_buf_puts(b, c->valuestring);
	else if (cJSON_IsNumber(c))
		nb_json_write_number(b, c->valuedouble);
	else if (cJSON_IsNull(c) || !c)
		;
	else
		nb_json_write(b, c);
}

void nb_report_md_table(nb_buf *b, const cJSON *array)
{
	const cJSON *first = cJSON_GetArrayItem(array, 0);
	if (!first)
		return;
	const cJSON *k;
	nb_buf_puts(b, "|");
	cJSON_ArrayForEach(k, first) nb_buf_printf(b, " %s |", k->string);
	nb_buf_puts(b, "\n|");
	cJSON_ArrayForEach(k, first) nb_buf_puts(b, "---|");
	nb_buf_puts(b, "\n");
	const cJSON *row;
	cJSON_ArrayForEach(row, array)
	{
		nb_buf_puts(b, "|");
		cJSON_ArrayForEach(k, first)
		{
			nb_buf_putc(b, ' ');
			nb_buf text;
			nb_buf_init(&text);
			rr_cell_text(&text, cJSON_GetObjectItemCaseSensitive(row, k->string));
			for (size_t i = 0; i < text.len; i++)
				if (text.data[i] == '|')
					nb_buf_puts(b, "\\|");
				else
					nb_buf_putc(b, text.data[i]);
			nb_buf_done(&text);
			nb_buf_puts(b, " |");
		}
		nb_buf_puts(b, "\n");
	}
}

void nb_report_csv_table(nb_buf *b, const cJSON *array)
{
	const cJSON *first = cJSON_GetArrayItem(array, 0);
	if (!first)
		return;
	const cJSON *k, *row;
	int i = 0;
	cJSON_ArrayForEach(k, first)
	{
		nb_buf_puts(b, i++ ? "," : "");
		rr_csv_field(b, k->string);
	}
	nb_buf_puts(b, "\r\n");
	cJSON_ArrayForEach(row, array)
	{
		i = 0;
		cJSON_ArrayForEach(k, first)
		{
			nb_buf_puts(b, i++ ? "," : "");
			nb_buf text;
			nb_buf_init(&text);
			rr_cell_text(&text, cJSON_GetObjectItemCaseSensitive(row, k->string));
			rr_csv_field(b, text.data ? text.data : "");
			nb_buf_done(&text);
		}
		nb_buf_puts(b, "\r\n");
	}
}

/* Proportion test of (nt, xt) against (nc, xc): diff and p, nulls when undefined. */
static void rr_prop_vs(cJSON *o, double nc, double xc, double nt, double xt)
{
	nb_stats_prop_in in = {nc, xc, nt, xt};
	nb_stats_prop_out po;
	nb_err err;
	if (nc > 0 && nt > 0 && !nb_stats_proportions(&in, &po, &err)) {
		rr_num(o, "diff", po.diff);
		rr_pair(o, "diff_ci", po.ci95_lower, po.ci95_upper);
		rr_num(o, "p_value", po.p_value);
	} else {
		cJSON_AddNullToObject(o, "diff");
		cJSON_AddNullToObject(o, "diff_ci");
		cJSON_AddNullToObject(o, "p_value");
	}
}

static double rr_div(double a, double b)
{
	return b > 0 ? a / b : NAN;
}

cJSON *nb_report_funnel_json(const nb_an_experiment *e, const double *users,
			     const char *const *steps, int nsteps, long window,
			     const double *reached)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "experiment", e->key);
	cJSON *st = cJSON_AddArrayToObject(o, "steps");
	for (int i = 0; i < nsteps; i++)
		cJSON_AddItemToArray(st, cJSON_CreateString(steps[i]));
	rr_num(o, "window_seconds", (double)window);
	cJSON *vs = cJSON_AddArrayToObject(o, "variants");
	int c = e->control;
	for (int v = 0; v < e->nvariants; v++) {
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "variant", e->variants[v].key);
		cJSON_AddBoolToObject(x, "is_control", v == c);
		rr_num(x, "users", users[v]);
		cJSON *ss = cJSON_AddArrayToObject(x, "steps");
		for (int i = 0; i < nsteps; i++) {
			cJSON *s = cJSON_CreateObject();
			double prev = i ? reached[v * nsteps + i - 1] : users[v];
			double cprev = i ? reached[c * nsteps + i - 1] : users[c];
			cJSON_AddStringToObject(s, "step", steps[i]);
			rr_num(s, "users", reached[v * nsteps + i]);
			rr_num(s, "step_conversion", rr_div(reached[v * nsteps + i], prev));
			rr_num(s, "overall_conversion", rr_div(reached[v * nsteps + i], users[v]));
			if (v == c) {
				cJSON_AddNullToObject(s, "diff");
				cJSON_AddNullToObject(s, "diff_ci");
				cJSON_AddNullToObject(s, "p_value");
			} else {
				rr_prop_vs(s, cprev, reached[c * nsteps + i], prev,
					   reached[v * nsteps + i]);
			}
			cJSON_AddItemToArray(ss, s);
		}
		cJSON_AddItemToArray(vs, x);
	}
	return o;
}

cJSON *nb_report_cohorts_json(const nb_an_experiment *e, int period, int nper,
			      const nb_an_cohort_row *rows, size_t nrows)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "experiment", e->key);
	cJSON_AddStringToObject(o, "period", period == 86400 ? "day" : "week");
	cJSON *cs = cJSON_AddArrayToObject(o, "cohorts");
	for (size_t i = 0; i < nrows; i++) {
		const nb_an_cohort_row *r = &rows[i];
		const nb_an_cohort_row *ctl = NULL;
		for (size_t j = 0; j < nrows; j++)
			if (rows[j].cohort == r->cohort && rows[j].variant == e->control)
				ctl = &rows[j];
		cJSON *x = cJSON_CreateObject();
		rr_time(x, "cohort", r->cohort);
		cJSON_AddStringToObject(x, "variant", e->variants[r->variant].key);
		rr_num(x, "users", r->users);
		cJSON *ret = cJSON_AddArrayToObject(x, "retained");
		cJSON *rate = cJSON_AddArrayToObject(x, "rate");
		cJSON *diff = cJSON_AddArrayToObject(x, "diff_vs_control");
		for (int k = 0; k < nper; k++) {
			cJSON_AddItemToArray(ret, nb_json_number_or_null(r->retained[k]));
			double p = rr_div(r->retained[k], r->users);
			cJSON_AddItemToArray(rate, nb_json_number_or_null(p));
			double d = NAN;
			if (ctl && r->variant != e->control)
				d = p - rr_div(ctl->retained[k], ctl->users);
			cJSON_AddItemToArray(diff, nb_json_number_or_null(d));
		}
		cJSON_AddItemToArray(cs, x);
	}
	return o;
}

cJSON *nb_report_revenue_json(const nb_an_experiment *e, const char *metric,
			      const nb_an_revenue *rev)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "experiment", e->key);
	cJSON_AddStringToObject(o, "metric", metric);
	cJSON *vs = cJSON_AddArrayToObject(o, "variants");
	const nb_an_revenue *c = &rev[e->control];
	for (int v = 0; v < e->nvariants; v++) {
		const nb_an_revenue *r = &rev[v];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "variant", e->variants[v].key);
		cJSON_AddBoolToObject(x, "is_control", v == e->control);
		rr_num(x, "users", r->users);
		rr_num(x, "paying_users", r->paying);
		rr_num(x, "revenue", r->sum);
		rr_num(x, "arpu", rr_div(r->sum, r->users));
		rr_num(x, "revenue_per_paying_user", rr_div(r->sum, r->paying));
		rr_num(x, "paying_share", rr_div(r->paying, r->users));
		rr_num(x, "p50", r->p50);
		rr_num(x, "p90", r->p90);
		rr_num(x, "p99", r->p99);
		double arpu_p = NAN, arpu_diff = NAN, pay_p = NAN;
		nb_err err;
		if (v != e->control && c->users >= 2 && r->users >= 2) {
			nb_stats_means_in mi = {c->users, c->sum / c->users,
						(c->sum_sq - c->sum * c->sum / c->users) / (c->users - 1),
						r->users, r->sum / r->users,
						(r->sum_sq - r->sum * r->sum / r->users) / (r->users - 1)};
			nb_stats_welch_out wo;
			if (!nb_stats_welch(&mi, &wo, &err)) {
				arpu_p = wo.p_value;
				arpu_diff = wo.diff;
			}
			nb_stats_prop_in pi = {c->users, c->paying, r->users, r->paying};
			nb_stats_prop_out po;
			if (!nb_stats_proportions(&pi, &po, &err))
				pay_p = po.p_value;
		}
		rr_num(x, "arpu_diff", arpu_diff);
		rr_num(x, "arpu_p_value", arpu_p);
		rr_num(x, "paying_share_p_value", pay_p);
		cJSON_AddItemToArray(vs, x);
	}
	return o;
}

/* The p-value of treatment v against the control in one segment's aggregates. */
static double rr_seg_p(const char *kind, const nb_an_agg *c, const nb_an_agg *t, double *diff)
{
	nb_err err;
	*diff = NAN;
	if (!(c->users >= 2 && t->users >= 2))
		return NAN;
	if (!strcmp(kind, "binomial")) {
		nb_stats_prop_in pi = {c->users, c->converted, t->users, t->converted};
		nb_stats_prop_out po;
		if (nb_stats_proportions(&pi, &po, &err))
			return NAN;
		*diff = po.diff;
		return po.p_value;
	}
	if (!strcmp(kind, "mean") || !strcmp(kind, "ratio")) {
		nb_stats_ratio_group g[2];
		const nb_an_agg *a[2] = {c, t};
		for (int i = 0; i < 2; i++) {
			double n = a[i]->users;
			g[i].n = n;
			g[i].mean_num = a[i]->sum / n;
			g[i].mean_den = a[i]->den_sum / n;
			g[i].var_num = (a[i]->sum_sq - a[i]->sum * a[i]->sum / n) / (n - 1);
			g[i].var_den = (a[i]->den_sum_sq - a[i]->den_sum * a[i]->den_sum / n) / (n - 1);
			g[i].cov_num_den = (a[i]->cross - a[i]->sum * a[i]->den_sum / n) / (n - 1);
		}
		nb_stats_ratio_out ro;
		if (!(g[0].mean_den > 0 && g[1].mean_den > 0) || nb_stats_ratio(&g[0], &g[1], &ro, &err))
			return NAN;
		*diff = ro.diff;
		return ro.p_value;
	}
	nb_stats_means_in mi = {c->users, c->sum / c->users,
				fmax(0, (c->sum_sq - c->sum * c->sum / c->users) / (c->users - 1)),
				t->users, t->sum / t->users,
				fmax(0, (t->sum_sq - t->sum * t->sum / t->users) / (t->users - 1))};
	nb_stats_welch_out wo;
	if (nb_stats_welch(&mi, &wo, &err))
		return NAN;
	*diff = wo.diff;
	return wo.p_value;
}

static double rr_value(const char *kind, const nb_an_agg *a)
{
	if (!strcmp(kind, "binomial"))
		return rr_div(a->converted, a->users);
	if (!strcmp(kind, "mean") || !strcmp(kind, "ratio"))
		return rr_div(a->sum, a->den_sum);
	return rr_div(a->sum, a->users);
}

cJSON *nb_report_segments_json(const nb_an_experiment *e, int metric, const char *prop,
			       char *const *values, const nb_an_agg *aggs, int nseg,
			       double alpha)
{
	const char *kind = e->metrics[metric].kind;
	size_t nv = (size_t)e->nvariants, c = (size_t)e->control;
	size_t m = (size_t)nseg * nv;
	double *p = nb_xcalloc(m + 1, sizeof *p), *holm = nb_xcalloc(m + 1, sizeof *holm);
	double *bh = nb_xcalloc(m + 1, sizeof *bh), *bon = nb_xcalloc(m + 1, sizeof *bon);
	int *hr = nb_xcalloc(m + 1, sizeof *hr), *br = nb_xcalloc(m + 1, sizeof *br);
	size_t *scratch = nb_xcalloc(m + 1, sizeof *scratch), *idx = nb_xcalloc(m + 1, sizeof *idx);
	double *diff = nb_xcalloc(m + 1, sizeof *diff), *pall = nb_xcalloc(m + 1, sizeof *pall);
	size_t n = 0;
	for (size_t k = 0; k < (size_t)nseg; k++)
		for (size_t v = 0; v < nv; v++) {
			size_t i = k * nv + v;
			pall[i] = v == c ? NAN : rr_seg_p(kind, &aggs[k * nv + c], &aggs[i], &diff[i]);
			if (v == c)
				diff[i] = NAN;
			if (!isnan(pall[i])) {
				idx[n] = i;
				p[n++] = pall[i];
			}
		}
	double *adj = nb_xcalloc(m + 1, sizeof *adj);
	for (size_t i = 0; i < m; i++)
		adj[i] = NAN;
	nb_stats_adjust_out ao = {holm, bh, bon, hr, br};
	nb_err err;
	if (n > 0 && !nb_stats_adjust(p, n, alpha > 0 ? alpha : 0.05, scratch, &ao, &err))
		for (size_t i = 0; i < n; i++)
			adj[idx[i]] = holm[i];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "experiment", e->key);
	cJSON_AddStringToObject(o, "metric", e->metrics[metric].key);
	cJSON_AddStringToObject(o, "kind", kind);
	cJSON_AddStringToObject(o, "by", prop);
	cJSON *ss = cJSON_AddArrayToObject(o, "segments");
	for (size_t k = 0; k < (size_t)nseg; k++) {
		cJSON *s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "value", values[k]);
		cJSON *rs = cJSON_AddArrayToObject(s, "results");
		for (size_t v = 0; v < nv; v++) {
			const nb_an_agg *a = &aggs[k * nv + v];
			cJSON *x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "variant", e->variants[v].key);
			rr_num(x, "users", a->users);
			rr_num(x, "converted", a->converted);
			rr_num(x, "events", a->events);
			rr_num(x, "sum", a->sum);
			rr_num(x, "sum_squares", a->sum_sq);
			rr_num(x, "denominator_sum", a->den_sum);
			rr_num(x, "mean", rr_value(kind, a));
			rr_num(x, "diff", diff[k * nv + v]);
			rr_num(x, "p_value", pall[k * nv + v]);
			rr_num(x, "p_value_holm", adj[k * nv + v]);
			cJSON_AddItemToArray(rs, x);
		}
		cJSON_AddItemToArray(ss, s);
	}
	free(p);
	free(holm);
	free(bh);
	free(bon);
	free(hr);
	free(br);
	free(scratch);
	free(idx);
	free(diff);
	free(pall);
	free(adj);
	return o;
}
