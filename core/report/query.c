/* report/query.c — the scope of the report commands as named parameters (the
 * CLI's flags and the HTTP API's query parameters are one list, parsed here)
 * and the JSON document of each analysis: `neonblue report|funnel|cohort|
 * revenue|segments --json` and GET /v1/experiments/KEY/report|funnel|… print
 * what nb_report_query_doc returns. */
#include "neonblue/analytics.h"
#include "neonblue/base.h"
#include "neonblue/report.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const rq_kinds[] = {"report", "funnel", "cohort", "revenue", "segments", NULL};

int nb_report_kind_from_name(const char *name)
{
	for (int i = 0; rq_kinds[i]; i++)
		if (!strcmp(name, rq_kinds[i]))
			return i;
	return -1;
}

const char *nb_report_kind_name(enum nb_report_kind kind)
{
	return (unsigned)kind < sizeof rq_kinds / sizeof *rq_kinds - 1 ? rq_kinds[kind] : "";
}

void nb_report_query_init(nb_report_query *q)
{
	memset(q, 0, sizeof *q);
	q->window = 3600;
	q->period = 86400;
	q->nper = 8;
	q->top = 10;
	q->prefix = "";
}

void nb_report_query_done(nb_report_query *q)
{
	free(q->metric);
	free(q->steps);
	free(q->by);
	free(q->db);
	free(q->series);
	free(q->event_type);
	free(q->seg_prop);
	free(q->seg_value);
	memset(q, 0, sizeof *q);
}

static const char *rq_bare(const char *name)
{
	return name[0] == '-' && name[1] == '-' ? name + 2 : name;
}

int nb_report_query_is_switch(const char *name)
{
	return !strcmp(rq_bare(name), "scan") || !strcmp(rq_bare(name), "pooled");
}

static void rq_str(char **slot, const char *v)
{
	free(*slot);
	*slot = nb_xstrdup(v);
}

static int rq_double(const char *v, double *out)
{
	char *end;
	*out = strtod(v, &end);
	return !*v || *end ? -1 : 0;
}

/* n in [lo, hi], decimal digits only */
static int rq_int(const char *v, long lo, long hi, int *out)
{
	char *end;
	long n = strtol(v, &end, 10);
	if (!*v || *end || n < lo || n > hi)
		return -1;
	*out = (int)n;
	return 0;
}

int nb_report_query_set(nb_report_query *q, const char *name, const char *value, nb_err *err)
{
	const char *n = rq_bare(name), *v = value ? value : "";
	if (!strcmp(n, "metric")) {
		rq_str(&q->metric, v);
	} else if (!strcmp(n, "steps")) {
		rq_str(&q->steps, v);
	} else if (!strcmp(n, "by")) {
		int ev = !strncmp(v, "event:", 6);
		if (!nb_an_prop_ok(ev ? v + 6 : v))
			return nb_err_set(err, NB_EINPUT,
					  "%s \"%s\" is not a plain property name "
					  "([A-Za-z0-9_-]{1,64}, or event: and one)",
					  name, v);
		rq_str(&q->by, v);
	} else if (!strcmp(n, "series")) {
		if (strcmp(v, "hour") && strcmp(v, "day"))
			return nb_err_set(err, NB_EINPUT, "%s must be hour or day, got \"%s\"", name, v);
		rq_str(&q->series, v);
	} else if (!strcmp(n, "database")) {
		if (!*v)
			return nb_err_set(err, NB_EINPUT, "%s must not be empty", name);
		rq_str(&q->db, v);
	} else if (!strcmp(n, "event-type")) {
		rq_str(&q->event_type, v);
	} else if (!strcmp(n, "from") || !strcmp(n, "to")) {
		if (nb_report_parse_time(v, n[0] == 'f' ? &q->from : &q->to))
			return nb_err_set(err, NB_EINPUT,
					  "%s \"%s\" is not a time (ISO-8601 UTC or unix seconds)", name,
					  v);
	} else if (!strcmp(n, "segment")) {
		const char *eq = strchr(v, '=');
		if (!eq)
			return nb_err_set(err, NB_EINPUT, "%s wants PROP=VALUE, got \"%s\"", name, v);
		char *prop = strndup(v, (size_t)(eq - v));
		if (!nb_an_prop_ok(prop)) {
			nb_err_set(err, NB_EINPUT,
				   "%s: property \"%s\" is not a plain property name "
				   "([A-Za-z0-9_-]{1,64})",
				   name, prop);
			free(prop);
			return -1;
		}
		free(q->seg_prop);
		q->seg_prop = prop;
		rq_str(&q->seg_value, eq + 1);
	} else if (!strcmp(n, "window")) {
		long w = nb_report_parse_duration(v);
		if (w < 1 || w > 100L * 86400 * 366)
			return nb_err_set(err, NB_EINPUT,
					  "%s \"%s\" is not a duration (90s, 30m, 1h, 7d; at most "
					  "100 years)",
					  name, v);
		q->window = w;
	} else if (!strcmp(n, "period")) {
		if (strcmp(v, "day") && strcmp(v, "week"))
			return nb_err_set(err, NB_EINPUT, "%s must be day or week, got \"%s\"", name, v);
		q->period = v[0] == 'd' ? 86400 : 604800;
	} else if (!strcmp(n, "periods")) {
		if (rq_int(v, 1, 32, &q->nper))
			return nb_err_set(err, NB_EINPUT, "%s \"%s\" is out of range (1 to 32)", name, v);
	} else if (!strcmp(n, "top")) {
		if (rq_int(v, 1, 1000, &q->top))
			return nb_err_set(err, NB_EINPUT, "%s \"%s\" is out of range (1 to 1000)", name,
					  v);
	} else if (!strcmp(n, "mde")) {
		if (rq_double(v, &q->mde) || !(q->mde > 0))
			return nb_err_set(err, NB_EINPUT, "%s \"%s\" is not a positive number", name, v);
	} else if (!strcmp(n, "alpha")) {
		if (rq_double(v, &q->alpha) || !(q->alpha > 0 && q->alpha < 1))
			return nb_err_set(err, NB_EINPUT, "%s must be between 0 and 1, got \"%s\"", name,
					  v);
	} else if (!strcmp(n, "scan") || !strcmp(n, "pooled")) {
		int *sw = n[0] == 's' ? &q->scan : &q->pooled;
		if (!*v || !strcmp(v, "1") || !strcmp(v, "true"))
			*sw = 1;
		else if (!strcmp(v, "0") || !strcmp(v, "false"))
			*sw = 0;
		else
			return nb_err_set(err, NB_EINPUT, "%s takes 1, true, 0 or false, got \"%s\"",
					  name, v);
	} else {
		return 1;
	}
	return 0;
}

int nb_report_query_check(const nb_report_query *q, enum nb_report_kind kind,
			  const char **param, nb_err *err)
{
	const char *p = q->prefix ? q->prefix : "";
	*param = NULL;
	if (q->from && q->to && q->to <= q->from)
		return *param = "to", nb_err_set(err, NB_EINPUT, "%sto must be after %sfrom", p, p);
	if (kind == NB_REPORT_KIND_FUNNEL && !q->steps)
		return *param = "steps",
		       nb_err_set(err, NB_EINPUT, "%ssteps a,b,c is required", p);
	if (kind == NB_REPORT_KIND_SEGMENTS && !q->by)
		return *param = "by", nb_err_set(err, NB_EINPUT, "%sby PROP is required", p);
	return 0;
}

nb_report_opts nb_report_query_opts(const nb_report_query *q, const char *experiment)
{
	nb_report_opts o = {.db = q->db, .experiment = experiment, .metric = q->metric,
			    .from = q->from, .to = q->to, .event_type = q->event_type,
			    .segment_prop = q->seg_prop, .segment_value = q->seg_value,
			    .alpha = q->alpha, .mde = q->mde, .scan = q->scan, .pooled = q->pooled};
	return o;
}

nb_an_scope nb_report_query_scope(const nb_report_query *q)
{
	nb_an_scope s = {.db = q->db, .from = q->from, .to = q->to, .event_type = q->event_type,
			 .segment_prop = q->seg_prop, .segment_value = q->seg_value,
			 .scan = q->scan};
	return s;
}

/* ---- the documents ---- */

static cJSON *rq_report(nb_ch *ch, nb_an_experiment *e, const nb_report_query *q,
			const char **param, nb_err *err)
{
	if (q->metric && nb_report_only_metric(e, q->metric, err))
		return *param = "metric", NULL;
	nb_report_opts o = nb_report_query_opts(q, e->key);
	nb_report rep;
	if (nb_report_build_exp(ch, e, &o, &rep, err))
		return NULL;
	cJSON *j = nb_report_json(&rep);
	nb_report_done(&rep);
	return j;
}

/* The analysis' metric (nb_an_pick_metric); -1 blaming the parameter. */
static int rq_metric(const nb_an_experiment *e, const nb_report_query *q, const char *kind,
		     const char **param, nb_err *err)
{
	int m = nb_an_pick_metric(e, q->metric, kind, err);
	if (m < 0)
		*param = q->metric ? "metric" : NULL;
	return m;
}

static cJSON *rq_series(nb_ch *ch, const nb_an_experiment *e, const nb_report_query *q,
			const char **param, nb_err *err)
{
	int m = rq_metric(e, q, NULL, param, err);
	if (m < 0)
		return NULL;
	nb_an_scope s = nb_report_query_scope(q);
	nb_an_point *pts = NULL;
	size_t n = 0;
	if (nb_an_timeseries(ch, &s, e, m, q->series[0] == 'h' ? 3600 : 86400, &pts, &n, err))
		return NULL;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "experiment", e->key);
	cJSON_AddStringToObject(o, "metric", e->metrics[m].key);
	cJSON_AddStringToObject(o, "period", q->series);
	cJSON *ps = cJSON_AddArrayToObject(o, "points");
	for (size_t i = 0; i < n; i++) {
		cJSON *p = cJSON_CreateObject();
		char t[40];
		time_t tt = (time_t)pts[i].bucket;
		struct tm tm;
		gmtime_r(&tt, &tm);
		strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);
		cJSON_AddNumberToObject(p, "bucket", (double)pts[i].bucket);
		cJSON_AddStringToObject(p, "time", t);
		cJSON_AddStringToObject(p, "variant", e->variants[pts[i].variant].key);
		cJSON_AddNumberToObject(p, "assigned", pts[i].assigned);
		cJSON_AddNumberToObject(p, "converted", pts[i].converted);
		cJSON_AddItemToObject(p, "value", nb_json_number_or_null(pts[i].value));
		cJSON_AddItemToArray(ps, p);
	}
	free(pts);
	return o;
}

static cJSON *rq_funnel(nb_ch *ch, const nb_an_experiment *e, const nb_report_query *q,
			const char **param, nb_err *err)
{
	char *copy = nb_xstrdup(q->steps);
	const char *steps[NB_AN_FUNNEL_MAX + 1];
	int n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == NB_AN_FUNNEL_MAX) {
			n++; /* too many: nb_an_funnel says so */
			break;
		}
		steps[n++] = tok;
	}
	nb_an_scope s = nb_report_query_scope(q);
	double *users = nb_xcalloc((size_t)e->nvariants, sizeof *users);
	double *reached = nb_xcalloc((size_t)e->nvariants * NB_AN_FUNNEL_MAX + 1, sizeof *reached);
	cJSON *o = NULL;
	if (nb_an_funnel(ch, &s, e, steps, n, q->window, reached, err)) {
		if (err->code == NB_EINPUT)
			*param = "steps"; /* the window was checked when set */
	} else if (!nb_an_exposure(ch, &s, e, users, err)) {
		o = nb_report_funnel_json(e, users, steps, n, q->window, reached);
	}
	free(users);
	free(reached);
	free(copy);
	return o;
}

static cJSON *rq_cohort(nb_ch *ch, const nb_an_experiment *e, const nb_report_query *q,
			nb_err *err)
{
	nb_an_scope s = nb_report_query_scope(q);
	nb_an_cohort_row *rows;
	size_t n;
	if (nb_an_cohorts(ch, &s, e, q->period, q->nper, &rows, &n, err))
		return NULL;
	cJSON *o = nb_report_cohorts_json(e, q->period, q->nper, rows, n);
	free(rows);
	return o;
}

static cJSON *rq_revenue(nb_ch *ch, const nb_an_experiment *e, const nb_report_query *q,
			 const char **param, nb_err *err)
{
	int m = rq_metric(e, q, "sum", param, err);
	if (m < 0)
		return NULL;
	nb_an_scope s = nb_report_query_scope(q);
	nb_an_revenue *rev = nb_xcalloc((size_t)e->nvariants, sizeof *rev);
	cJSON *o = NULL;
	if (!nb_an_revenue_get(ch, &s, e, m, rev, err))
		o = nb_report_revenue_json(e, e->metrics[m].key, rev);
	free(rev);
	return o;
}

static cJSON *rq_segments(nb_ch *ch, const nb_an_experiment *e, const nb_report_query *q,
			  const char **param, nb_err *err)
{
	int m = rq_metric(e, q, NULL, param, err);
	if (m < 0)
		return NULL;
	nb_an_scope s = nb_report_query_scope(q);
	char **values;
	nb_an_agg *aggs;
	int n;
	if (nb_an_segments(ch, &s, e, m, q->by, q->top, &values, &aggs, &n, err)) {
		if (err->code == NB_EINPUT)
			*param = "by";
		return NULL;
	}
	cJSON *o = nb_report_segments_json(e, m, q->by, values, aggs, n, q->alpha);
	for (int i = 0; i < n; i++)
		free(values[i]);
	free(values);
	free(aggs);
	return o;
}

cJSON *nb_report_complete_read(nb_ch *ch, const char *db)
{
	nb_an_scope s = {.db = db};
	nb_an_complete c;
	nb_err err;
	char iso[40];
	if (nb_an_complete_get(ch, &s, &c, &err) < 0 || !c.known)
		return cJSON_CreateNull();
	nb_an_complete_iso(&c, iso);
	return cJSON_CreateString(iso);
}

cJSON *nb_report_complete_add(cJSON *doc, cJSON *complete)
{
	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(complete);
		return doc;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "complete_up_to");
	cJSON_AddItemToObject(doc, "complete_up_to", complete);
	return doc;
}

cJSON *nb_report_query_doc(nb_ch *ch, enum nb_report_kind kind, const char *experiment,
			   const nb_report_query *q, const char **param, nb_err *err)
{
	*param = NULL;
	if (nb_report_query_check(q, kind, param, err))
		return NULL;
	nb_an_experiment e;
	if (nb_an_experiment_load(ch, q->db, experiment, &e, err)) {
		if (err->code == NB_EINPUT)
			*param = "experiment";
		return NULL;
	}
	/* Read before the analysis: what it says is complete is in what follows. */
	cJSON *complete = nb_report_complete_read(ch, q->db);
	cJSON *o = NULL;
	switch (kind) {
	case NB_REPORT_KIND_REPORT:
		o = q->series ? rq_series(ch, &e, q, param, err) : rq_report(ch, &e, q, param, err);
		break;
	case NB_REPORT_KIND_FUNNEL:
		o = rq_funnel(ch, &e, q, param, err);
		break;
	case NB_REPORT_KIND_COHORT:
		o = rq_cohort(ch, &e, q, err);
		break;
	case NB_REPORT_KIND_REVENUE:
		o = rq_revenue(ch, &e, q, param, err);
		break;
	case NB_REPORT_KIND_SEGMENTS:
		o = rq_segments(ch, &e, q, param, err);
		break;
	}
	nb_an_experiment_done(&e);
	return nb_report_complete_add(o, complete);
}
