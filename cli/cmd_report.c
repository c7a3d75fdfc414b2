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
	"  --pooled           (report) one analysis of every user, without the\n"
	"                     configuration periods\n"
	"Output: --json (docs/report.md), --csv, or --md (the default). JSON and\n"
	"Markdown say how complete the data is: complete_up_to, the time up to which\n"
	"every change committed in PostgreSQL is in ClickHouse (null: not known yet).\n"
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
	"Configuration periods: when the experiment's weights, coverage, targeting,\n"
	"namespace, seed or holdout changed mid-run, the report says so, analyses\n"
	"each period's users (by the version they were assigned under) on its own,\n"
	"and counts the already-assigned users a change re-bucketed (docs/report.md).\n"
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

/* The command line: the experiment, the output format and the scope (the
 * flags are nb_report_query's parameters, as the HTTP API's query). */
typedef struct rp_args {
	const char *exp;
	nb_report_query q;
	enum rp_format fmt;
} rp_args;

static int rp_parse(const char *cmd, int argc, char **argv, rp_args *r)
{
	memset(r, 0, sizeof *r);
	nb_report_query_init(&r->q);
	r->q.prefix = "--";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--json") || !strcmp(a, "--csv") || !strcmp(a, "--md")) {
			r->fmt = a[2] == 'j' ? RP_JSON : a[2] == 'c' ? RP_CSV : RP_MD;
			continue;
		}
		if (a[0] == '-' && a[1]) {
			int sw = a[1] == '-' && nb_report_query_is_switch(a);
			if (!sw && i + 1 >= argc)
				return nb_front_usage_error(cmd, "%s needs a value", a);
			nb_err err;
			nb_err_clear(&err);
			int k = a[1] == '-' ? nb_report_query_set(&r->q, a, sw ? "" : argv[i + 1], &err) : 1;
			if (k < 0)
				return nb_front_usage_error(cmd, "%s", err.msg);
			if (k > 0)
				return nb_front_usage_error(cmd, "unknown option %s", a);
			i += !sw;
			continue;
		}
		if (r->exp)
			return nb_front_usage_error(cmd, "unexpected argument \"%s\"", a);
		r->exp = a;
	}
	if (!r->exp)
		return nb_front_usage_error(cmd, "which experiment? (give its key)");
	return 0;
}

static void rp_args_done(rp_args *r)
{
	nb_report_query_done(&r->q);
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

/* Markdown's line under the title: how complete the data is (docs/report.md,
 * "complete_up_to"); v is that field. */
static void rp_complete_md(nb_buf *b, const cJSON *v)
{
	if (cJSON_IsString(v))
		nb_buf_printf(b, "Complete up to %s: every change committed in PostgreSQL by then "
				 "is in ClickHouse.\n\n",
			      v->valuestring);
	else
		nb_buf_puts(b, "Complete up to: unknown (the sink has recorded no heartbeat of the "
			       "relay yet; docs/sink.md).\n\n");
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
		rp_complete_md(&b, cJSON_GetObjectItemCaseSensitive(o, "complete_up_to"));
		nb_report_md_table(&b, t);
	}
	fputs(b.data ? b.data : "", stdout);
	nb_buf_done(&b);
}

/* Checks, connects and computes the document of kind for parsed args; rc
 * != 0 when it failed (printed). */
static int rp_doc(nb_front *ctx, const char *cmd, enum nb_report_kind kind, rp_args *a,
		  cJSON **doc)
{
	*doc = NULL;
	nb_err err;
	nb_err_clear(&err);
	const char *param;
	if (nb_report_query_check(&a->q, kind, &param, &err))
		return nb_front_usage_error(cmd, "%s", err.msg);
	nb_ch *ch = rp_connect(ctx, &err);
	if (ch)
		*doc = nb_report_query_doc(ch, kind, a->exp, &a->q, &param, &err);
	nb_ch_free(ch);
	return *doc ? 0 : nb_front_fail(&err);
}

/* Prints rows (taken) as a table. */
static void rp_flat_print(cJSON *flat, const cJSON *doc, enum rp_format fmt, const char *title)
{
	cJSON *w = cJSON_CreateObject();
	cJSON_AddItemToObject(w, "rows", flat);
	cJSON_AddItemToObject(
	    w, "complete_up_to",
	    cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(doc, "complete_up_to"), 0));
	rp_print_table(w, "rows", fmt, title);
	cJSON_Delete(w);
}

static void rp_funnel_table(const cJSON *o, enum rp_format fmt)
{
	/* one flat row per variant × step */
	cJSON *flat = cJSON_CreateArray();
	const cJSON *v, *st;
	cJSON_ArrayForEach(v, cJSON_GetObjectItem(o, "variants"))
	cJSON_ArrayForEach(st, cJSON_GetObjectItem(v, "steps"))
	{
		cJSON *row = cJSON_Duplicate(st, 1);
		cJSON_AddItemToObject(row, "variant",
				      cJSON_Duplicate(cJSON_GetObjectItem(v, "variant"), 0));
		cJSON_AddItemToArray(flat, row);
	}
	rp_flat_print(flat, o, fmt, "Funnel");
}

static void rp_segments_table(const cJSON *o, const char *by, enum rp_format fmt)
{
	/* one flat row per segment × variant */
	cJSON *flat = cJSON_CreateArray();
	const cJSON *sg, *x;
	cJSON_ArrayForEach(sg, cJSON_GetObjectItem(o, "segments"))
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(sg, "results"))
	{
		cJSON *row = cJSON_CreateObject();
		cJSON_AddItemToObject(row, by, cJSON_Duplicate(cJSON_GetObjectItem(sg, "value"), 0));
		const cJSON *f;
		cJSON_ArrayForEach(f, x) cJSON_AddItemToObject(row, f->string, cJSON_Duplicate(f, 0));
		cJSON_AddItemToArray(flat, row);
	}
	rp_flat_print(flat, o, fmt, "Segments");
}

int cmd_report(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		printf("%s%s", report_help, report_common_help);
		return 0;
	}
	rp_args a;
	int rc = rp_parse("report", argc, argv, &a);
	if (rc || a.fmt == RP_JSON || a.q.series) {
		cJSON *o = NULL;
		if (!rc)
			rc = rp_doc(ctx, "report", NB_REPORT_KIND_REPORT, &a, &o);
		if (!rc)
			rp_print_table(o, "points", a.fmt, "Time series");
		cJSON_Delete(o);
		rp_args_done(&a);
		return rc;
	}
	/* Markdown and CSV render the report itself */
	nb_err err;
	nb_err_clear(&err);
	const char *param;
	if (nb_report_query_check(&a.q, NB_REPORT_KIND_REPORT, &param, &err)) {
		rp_args_done(&a);
		return nb_front_usage_error("report", "%s", err.msg);
	}
	nb_ch *ch = rp_connect(ctx, &err);
	nb_report rep;
	nb_report_opts o = nb_report_query_opts(&a.q, a.exp);
	cJSON *complete = ch ? nb_report_complete_read(ch, a.q.db) : NULL; /* before the report */
	if (!ch || nb_report_build(ch, &o, &rep, &err)) {
		cJSON_Delete(complete);
		nb_ch_free(ch);
		rp_args_done(&a);
		return nb_front_fail(&err);
	}
	nb_buf b;
	nb_buf_init(&b);
	(a.fmt == RP_CSV ? nb_report_csv : nb_report_md)(&rep, &b);
	if (a.fmt == RP_MD) { /* the line goes under the title */
		const char *d = b.data ? b.data : "";
		const char *eol = d[0] == '#' ? strstr(d, "\n\n") : NULL;
		size_t head = eol ? (size_t)(eol - d) + 2 : 0;
		fwrite(d, 1, head, stdout);
		nb_buf line;
		nb_buf_init(&line);
		rp_complete_md(&line, complete);
		fputs(line.data ? line.data : "", stdout);
		nb_buf_done(&line);
		fputs(d + head, stdout);
	} else {
		fputs(b.data ? b.data : "", stdout);
	}
	cJSON_Delete(complete);
	nb_buf_done(&b);
	nb_report_done(&rep);
	nb_ch_free(ch);
	rp_args_done(&a);
	return 0;
}

/* The other analyses: the document, then as JSON or one of its tables. */
static int rp_analysis(nb_front *ctx, const char *cmd, enum nb_report_kind kind, int argc,
		       char **argv)
{
	rp_args a;
	cJSON *o = NULL;
	int rc = rp_parse(cmd, argc, argv, &a);
	if (!rc)
		rc = rp_doc(ctx, cmd, kind, &a, &o);
	if (!rc) {
		if (a.fmt == RP_JSON)
			nb_front_print_json(o);
		else if (kind == NB_REPORT_KIND_FUNNEL) /* one row per variant × step */
			rp_funnel_table(o, a.fmt);
		else if (kind == NB_REPORT_KIND_COHORT)
			rp_print_table(o, "cohorts", a.fmt, "Retention cohorts");
		else if (kind == NB_REPORT_KIND_REVENUE)
			rp_print_table(o, "variants", a.fmt, "Revenue");
		else /* one row per segment × variant */
			rp_segments_table(o, a.q.by, a.fmt);
	}
	cJSON_Delete(o);
	rp_args_done(&a);
	return rc;
}

int cmd_funnel(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		printf("%s%s", funnel_help, report_common_help);
		return 0;
	}
	return rp_analysis(ctx, "funnel", NB_REPORT_KIND_FUNNEL, argc, argv);
}

int cmd_cohort(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		printf("%s%s", cohort_help, report_common_help);
		return 0;
	}
	return rp_analysis(ctx, "cohort", NB_REPORT_KIND_COHORT, argc, argv);
}

int cmd_revenue(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		printf("%s%s", revenue_help, report_common_help);
		return 0;
	}
	return rp_analysis(ctx, "revenue", NB_REPORT_KIND_REVENUE, argc, argv);
}

int cmd_segments(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		printf("%s%s", segments_help, report_common_help);
		return 0;
	}
	return rp_analysis(ctx, "segments", NB_REPORT_KIND_SEGMENTS, argc, argv);
}
