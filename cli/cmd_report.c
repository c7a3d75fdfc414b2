/* cmd_report.c — `neonblue report|funnel|cohort|revenue|segments`: experiment
 * analytics on ClickHouse (nb_an) rendered by nb_report. */
#include "cli.h"
#include "neonblue/analytics.h"
#include "neonblue/base.h"
#include "neonblue/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char report_common_help[] =
	"Scope (every command):\n"
	"  --from T, --to T   only events with from <= ts < to (ISO-8601 UTC date or\n"
	"                     time, or unix seconds); users assigned at or after --to\n"
	"                     are left out\n"
	"  --event-type T     only events of type T count\n"
	"  --segment P=V      only users whose assignment context has P = V\n"
	"  --database DB      ClickHouse database (default neonblue)\n"
	"  --scan             read the replicated tables instead of the per-user rollup\n"
	"                     (same numbers, slower; docs/analytics.md)\n"
	"Output: --json (docs/report.md), --csv, or --md (the default).\n"
	"\n" NB_FRONT_GLOBAL_HELP;

static const char report_help[] =
	"usage: neonblue report EXP [--metric M] [--from T] [--to T] [--segment P=V]\n"
	"                       [--mde X] [--alpha A] [--json|--csv|--md]\n"
	"       neonblue report EXP --series hour|day [--metric M] [scope] [--json|--csv|--md]\n"
	"\n"
	"Per variant and metric: users, counts, rate or mean with interval, lift with\n"
	"interval, fixed-horizon and sequential p-values, Holm-adjusted p-values across\n"
	"metrics, Bayesian chance to win and expected loss, SRM, power reached and\n"
	"users still needed for the planned relative effect --mde (default 0.05), and\n"
	"the recommendation.\n"
	"With --series: per hour or day and variant the users assigned, the users with\n"
	"an event of the metric (default: the primary) and the summed value (events\n"
	"for binomial, count and ratio metrics).\n"
	"\n";
static const char funnel_help[] =
	"usage: neonblue funnel EXP --steps a,b,c [--window 1h] [scope] [--json|--csv|--md]\n"
	"\n"
	"Users of each variant reaching each step (event types, in order, the last\n"
	"within --window of the first: 90s, 30m, 1h, 7d; default 1h), step and overall\n"
	"conversion, and each step against control.\n"
	"\n";
static const char cohort_help[] =
	"usage: neonblue cohort EXP [--period day|week] [--periods N] [scope] [--json|--csv|--md]\n"
	"\n"
	"Users by assignment day (or week) and the share active in period 0..N-1 after\n"
	"it (default N = 8), per variant, with the difference against control.\n"
	"Periods that have not started yet (at --to, or now) are blank (null), not 0.\n"
	"\n";
static const char revenue_help[] =
	"usage: neonblue revenue EXP [--metric M] [scope] [--json|--csv|--md]\n"
	"\n"
	"ARPU, revenue per paying user, paying share and p50/p90/p99 of per-user\n"
	"revenue, per variant. M defaults to the experiment's first sum metric.\n"
	"\n";
static const char segments_help[] =
	"usage: neonblue segments EXP --by PROP [--metric M] [--top N] [scope] [--json|--csv|--md]\n"
	"\n"
	"The metric (default: the primary) per value of a property (the top N = 10\n"
	"values by users), each treatment against control, with Holm-adjusted p-values\n"
	"across segments. PROP is a user property (the assignment context), or\n"
	"event:PROP, an event property: a user's segment is its value on their first\n"
	"event at or after assignment that has it (ties by event id); users without\n"
	"one are the segment \"\".\n"
	"\n";

enum rp_format { RP_MD, RP_JSON, RP_CSV };

typedef struct rp_args {
	const char *exp, *metric, *steps, *by, *db, *series;
	long long from, to;
	const char *event_type;
	char *seg_prop, *seg_value;
	long window;
	int period, nper, top;
	double mde, alpha;
	enum rp_format fmt;
	int scan;
} rp_args;

static int rp_number(const char *cmd, const char *flag, const char *v, double *out)
{
	char *end;
	*out = strtod(v, &end);
	if (!*v || *end)
		return nb_front_usage_error(cmd, "%s \"%s\" is not a number", flag, v);
	return 0;
}

/* One flag with its value; returns 1 when consumed, -1 (after printing) on error. */
static int rp_flag(const char *cmd, const char *a, const char *v, rp_args *r)
{
	if (!strcmp(a, "--metric"))
		r->metric = v;
	else if (!strcmp(a, "--steps"))
		r->steps = v;
	else if (!strcmp(a, "--by"))
		r->by = v;
	else if (!strcmp(a, "--series")) {
		if (strcmp(v, "hour") && strcmp(v, "day"))
			return nb_front_usage_error(cmd, "--series must be hour or day, got \"%s\"", v), -1;
		r->series = v;
	} else if (!strcmp(a, "--database"))
		r->db = v;
	else if (!strcmp(a, "--event-type"))
		r->event_type = v;
	else if (!strcmp(a, "--from") || !strcmp(a, "--to")) {
		if (nb_report_parse_time(v, a[2] == 'f' ? &r->from : &r->to))
			return nb_front_usage_error(cmd, "%s \"%s\" is not a time (ISO-8601 UTC or unix "
						    "seconds)", a, v), -1;
	} else if (!strcmp(a, "--segment")) {
		const char *eq = strchr(v, '=');
		if (!eq)
			return nb_front_usage_error(cmd, "--segment wants PROP=VALUE, got \"%s\"", v), -1;
		r->seg_prop = strndup(v, (size_t)(eq - v));
		r->seg_value = strdup(eq + 1);
	} else if (!strcmp(a, "--window")) {
		if ((r->window = nb_report_parse_duration(v)) < 0)
			return nb_front_usage_error(cmd, "--window \"%s\" is not a duration (90s, 30m, "
						    "1h, 7d)", v), -1;
	} else if (!strcmp(a, "--period")) {
		if (strcmp(v, "day") && strcmp(v, "week"))
			return nb_front_usage_error(cmd, "--period must be day or week, got \"%s\"", v), -1;
		r->period = v[0] == 'd' ? 86400 : 604800;
	} else if (!strcmp(a, "--periods") || !strcmp(a, "--top")) {
		char *end;
		long n = strtol(v, &end, 10);
		if (!*v || *end || n < 1 || n > (a[2] == 't' ? 1000 : 32))
			return nb_front_usage_error(cmd, "%s \"%s\" is out of range", a, v), -1;
		*(a[2] == 't' ? &r->top : &r->nper) = (int)n;
	} else if (!strcmp(a, "--mde")) {
		if (rp_number(cmd, a, v, &r->mde))
			return -1;
	} else if (!strcmp(a, "--alpha")) {
		if (rp_number(cmd, a, v, &r->alpha) || !(r->alpha > 0 && r->alpha < 1))
			return nb_front_usage_error(cmd, "--alpha must be between 0 and 1"), -1;
	} else
		return 0;
	return 1;
}

static int rp_parse(const char *cmd, int argc, char **argv, rp_args *r)
{
	memset(r, 0, sizeof *r);
	r->window = 3600;
	r->period = 86400;
	r->nper = 8;
	r->top = 10;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--json") || !strcmp(a, "--csv") || !strcmp(a, "--md")) {
			r->fmt = a[2] == 'j' ? RP_JSON : a[2] == 'c' ? RP_CSV : RP_MD;
			continue;
		}
		if (!strcmp(a, "--scan")) {
			r->scan = 1;
			continue;
		}
		if (a[0] == '-' && a[1]) {
			if (i + 1 >= argc)
				return nb_front_usage_error(cmd, "%s needs a value", a);
			int k = rp_flag(cmd, a, argv[i + 1], r);
			if (k < 0)
				return 2;
			if (k == 0)
				return nb_front_usage_error(cmd, "unknown option %s", a);
			i++;
			continue;
		}
		if (r->exp)
			return nb_front_usage_error(cmd, "unexpected argument \"%s\"", a);
		r->exp = a;
	}
	if (!r->exp)
		return nb_front_usage_error(cmd, "which experiment? (give its key)");
	if (r->from && r->to && r->to <= r->from)
		return nb_front_usage_error(cmd, "--to must be after --from");
	return 0;
}

static void rp_args_done(rp_args *r)
{
	free(r->seg_prop);
	free(r->seg_value);
}

static nb_an_scope rp_scope(const rp_args *r)
{
	nb_an_scope s = {.db = r->db, .from = r->from, .to = r->to, .event_type = r->event_type,
			 .segment_prop = r->seg_prop, .segment_value = r->seg_value, .scan = r->scan};
	return s;
}

static nb_ch *rp_connect(nb_front *ctx, nb_err *err)
{
	if (nb_config_require_clickhouse(&ctx->cfg, err))
		return NULL;
	nb_ch *ch = nb_ch_new(ctx->cfg.clickhouse, err);
	if (ch)
		nb_ch_set_timeouts(ch, 600, 3); /* a report over many events may take a while */
	return ch;
}

/* Prints an analysis object: JSON as is; CSV/Markdown as the table under key. */
static void rp_print_table(const cJSON *o, const char *key, enum rp_format fmt, const char *title)
{
	if (fmt == RP_JSON) {
		nb_front_print_json(o);
		return;
	}
	nb_buf b;
	nb_buf_init(&b);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, key);
	if (fmt == RP_CSV) {
		nb_report_csv_table(&b, t);
	} else {
		nb_buf_printf(&b, "# %s\n\n", title);
		nb_report_md_table(&b, t);
	}
	fputs(b.data ? b.data : "", stdout);
	nb_buf_done(&b);
}

static int rp_series(nb_front *ctx, int argc, char **argv);

int cmd_report(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		printf("%s%s", report_help, report_common_help);
		return 0;
	}
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--series"))
			return rp_series(ctx, argc, argv);
	rp_args a;
	int rc = rp_parse("report", argc, argv, &a);
	if (rc) {
		rp_args_done(&a);
		return rc;
	}
	nb_err err = {0};
	nb_ch *ch = rp_connect(ctx, &err);
	nb_report rep;
	nb_report_opts o = {.db = a.db, .experiment = a.exp, .metric = a.metric, .from = a.from,
			    .to = a.to, .event_type = a.event_type, .segment_prop = a.seg_prop,
			    .segment_value = a.seg_value, .alpha = a.alpha, .mde = a.mde,
			    .scan = a.scan};
	if (!ch || nb_report_build(ch, &o, &rep, &err)) {
		nb_ch_free(ch);
		rp_args_done(&a);
		return nb_front_fail(&err);
	}
	if (a.fmt == RP_JSON) {
		cJSON *j = nb_report_json(&rep);
		nb_front_print_json(j);
		cJSON_Delete(j);
	} else {
		nb_buf b;
		nb_buf_init(&b);
		(a.fmt == RP_CSV ? nb_report_csv : nb_report_md)(&rep, &b);
		fputs(b.data ? b.data : "", stdout);
		nb_buf_done(&b);
	}
	nb_report_done(&rep);
	nb_ch_free(ch);
	rp_args_done(&a);
	return 0;
}

/* Common start of the analyses: parse, connect, load the experiment. */
static int rp_begin(nb_front *ctx, const char *cmd, int argc, char **argv, rp_args *a, nb_ch **ch,
		    nb_an_experiment *e, nb_err *err)
{
	*ch = NULL;
	memset(e, 0, sizeof *e);
	int rc = rp_parse(cmd, argc, argv, a);
	if (rc)
		return rc;
	if (!(*ch = rp_connect(ctx, err)) || nb_an_experiment_load(*ch, a->db, a->exp, e, err))
		return nb_front_fail(err);
	return 0;
}

static int rp_end(int rc, rp_args *a, nb_ch *ch, nb_an_experiment *e)
{
	nb_an_experiment_done(e);
	nb_ch_free(ch);
	rp_args_done(a);
	return rc;
}

/* Splits "a,b,c" in place. */
static int rp_split(char *s, const char **out, int max)
{
	int n = 0;
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		if (n == max)
			return max + 1;
		out[n++] = tok;
	}
	return n;
}

int cmd_funnel(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		printf("%s%s", funnel_help, report_common_help);
		return 0;
	}
	rp_args a;
	nb_ch *ch;
	nb_an_experiment e;
	nb_err err = {0};
	int rc = rp_begin(ctx, "funnel", argc, argv, &a, &ch, &e, &err);
	if (rc)
		return rp_end(rc, &a, ch, &e);
	if (!a.steps)
		return rp_end(nb_front_usage_error("funnel", "--steps a,b,c is required"), &a, ch, &e);
	char *steps_s = strdup(a.steps);
	const char *steps[NB_AN_FUNNEL_MAX + 1];
	int n = rp_split(steps_s, steps, NB_AN_FUNNEL_MAX);
	nb_an_scope s = rp_scope(&a);
	double *users = calloc((size_t)e.nvariants, sizeof *users);
	double *reached = calloc((size_t)e.nvariants * NB_AN_FUNNEL_MAX + 1, sizeof *reached);
	if (nb_an_funnel(ch, &s, &e, steps, n, a.window, reached, &err) ||
	    nb_an_exposure(ch, &s, &e, users, &err)) {
		rc = nb_front_fail(&err);
	} else {
		cJSON *o = nb_report_funnel_json(&e, users, steps, n, a.window, reached);
		if (a.fmt == RP_JSON) {
			nb_front_print_json(o);
		} else {
			/* one flat row per variant × step */
			cJSON *flat = cJSON_CreateArray();
			const cJSON *v, *st;
			cJSON_ArrayForEach(v, cJSON_GetObjectItem(o, "variants"))
			cJSON_ArrayForEach(st, cJSON_GetObjectItem(v, "steps"))
			{
				cJSON *row = cJSON_Duplicate(st, 1);
				cJSON_AddItemToObject(row, "variant", cJSON_Duplicate(
					cJSON_GetObjectItem(v, "variant"), 0));
				cJSON_AddItemToArray(flat, row);
			}
			cJSON *w = cJSON_CreateObject();
			cJSON_AddItemToObject(w, "rows", flat);
			rp_print_table(w, "rows", a.fmt, "Funnel");
			cJSON_Delete(w);
		}
		cJSON_Delete(o);
	}
	free(users);
	free(reached);
	free(steps_s);
	return rp_end(rc, &a, ch, &e);
}

int cmd_cohort(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		printf("%s%s", cohort_help, report_common_help);
		return 0;
	}
	rp_args a;
	nb_ch *ch;
	nb_an_experiment e;
	nb_err err = {0};
	int rc = rp_begin(ctx, "cohort", argc, argv, &a, &ch, &e, &err);
	if (rc)
		return rp_end(rc, &a, ch, &e);
	nb_an_scope s = rp_scope(&a);
	nb_an_cohort_row *rows;
	size_t n;
	if (nb_an_cohorts(ch, &s, &e, a.period, a.nper, &rows, &n, &err))
		return rp_end(nb_front_fail(&err), &a, ch, &e);
	cJSON *o = nb_report_cohorts_json(&e, a.period, a.nper, rows, n);
	rp_print_table(o, "cohorts", a.fmt, "Retention cohorts");
	cJSON_Delete(o);
	free(rows);
	return rp_end(0, &a, ch, &e);
}

int cmd_revenue(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		printf("%s%s", revenue_help, report_common_help);
		return 0;
	}
	rp_args a;
	nb_ch *ch;
	nb_an_experiment e;
	nb_err err = {0};
	int rc = rp_begin(ctx, "revenue", argc, argv, &a, &ch, &e, &err);
	if (rc)
		return rp_end(rc, &a, ch, &e);
	int m = nb_an_pick_metric(&e, a.metric, "sum", &err);
	nb_an_scope s = rp_scope(&a);
	nb_an_revenue *rev = calloc((size_t)e.nvariants, sizeof *rev);
	if (m < 0 || nb_an_revenue_get(ch, &s, &e, m, rev, &err)) {
		free(rev);
		return rp_end(nb_front_fail(&err), &a, ch, &e);
	}
	cJSON *o = nb_report_revenue_json(&e, e.metrics[m].key, rev);
	rp_print_table(o, "variants", a.fmt, "Revenue");
	cJSON_Delete(o);
	free(rev);
	return rp_end(0, &a, ch, &e);
}

int cmd_segments(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		printf("%s%s", segments_help, report_common_help);
		return 0;
	}
	rp_args a;
	nb_ch *ch;
	nb_an_experiment e;
	nb_err err = {0};
	int rc = rp_begin(ctx, "segments", argc, argv, &a, &ch, &e, &err);
	if (rc)
		return rp_end(rc, &a, ch, &e);
	if (!a.by)
		return rp_end(nb_front_usage_error("segments", "--by PROP is required"), &a, ch, &e);
	int m = nb_an_pick_metric(&e, a.metric, NULL, &err);
	nb_an_scope s = rp_scope(&a);
	char **values;
	nb_an_agg *aggs;
	int n;
	if (m < 0 || nb_an_segments(ch, &s, &e, m, a.by, a.top, &values, &aggs, &n, &err))
		return rp_end(nb_front_fail(&err), &a, ch, &e);
	cJSON *o = nb_report_segments_json(&e, m, a.by, values, aggs, n, a.alpha);
	if (a.fmt == RP_JSON) {
		nb_front_print_json(o);
	} else {
		cJSON *flat = cJSON_CreateArray();
		const cJSON *sg, *x;
		cJSON_ArrayForEach(sg, cJSON_GetObjectItem(o, "segments"))
		cJSON_ArrayForEach(x, cJSON_GetObjectItem(sg, "results"))
		{
			cJSON *row = cJSON_CreateObject();
			cJSON_AddItemToObject(row, a.by, cJSON_Duplicate(cJSON_GetObjectItem(sg, "value"), 0));
			const cJSON *f;
			cJSON_ArrayForEach(f, x) cJSON_AddItemToObject(row, f->string, cJSON_Duplicate(f, 0));
			cJSON_AddItemToArray(flat, row);
		}
		cJSON *w = cJSON_CreateObject();
		cJSON_AddItemToObject(w, "rows", flat);
		rp_print_table(w, "rows", a.fmt, "Segments");
		cJSON_Delete(w);
	}
	cJSON_Delete(o);
	for (int i = 0; i < n; i++)
		free(values[i]);
	free(values);
	free(aggs);
	return rp_end(0, &a, ch, &e);
}

static int rp_series(nb_front *ctx, int argc, char **argv)
{
	rp_args a;
	nb_ch *ch;
	nb_an_experiment e;
	nb_err err = {0};
	int rc = rp_begin(ctx, "report", argc, argv, &a, &ch, &e, &err);
	if (rc)
		return rp_end(rc, &a, ch, &e);
	int m = nb_an_pick_metric(&e, a.metric, NULL, &err);
	nb_an_scope s = rp_scope(&a);
	nb_an_point *pts = NULL;
	size_t n = 0;
	int period = a.series[0] == 'h' ? 3600 : 86400;
	if (m < 0 || nb_an_timeseries(ch, &s, &e, m, period, &pts, &n, &err))
		return rp_end(nb_front_fail(&err), &a, ch, &e);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "experiment", e.key);
	cJSON_AddStringToObject(o, "metric", e.metrics[m].key);
	cJSON_AddStringToObject(o, "period", a.series);
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
		cJSON_AddStringToObject(p, "variant", e.variants[pts[i].variant].key);
		cJSON_AddNumberToObject(p, "assigned", pts[i].assigned);
		cJSON_AddNumberToObject(p, "converted", pts[i].converted);
		cJSON_AddItemToObject(p, "value", nb_json_number_or_null(pts[i].value));
		cJSON_AddItemToArray(ps, p);
	}
	rp_print_table(o, "points", a.fmt, "Time series");
	cJSON_Delete(o);
	free(pts);
	return rp_end(0, &a, ch, &e);
}
