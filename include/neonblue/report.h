/* report.h — nb_report: analytics (nb_an) + statistics (nb_stats) → one
 * experiment report, and its renderers (JSON via nb_json, CSV, Markdown).
 * The JSON is the dashboard's contract: docs/report.md. Reentrant: no
 * globals; the computing half (nb_report_compute) is pure. */
#ifndef NEONBLUE_REPORT_H
#define NEONBLUE_REPORT_H

#include "neonblue/analytics.h"
#include "neonblue/base.h"

#include <cjson/cJSON.h>

typedef struct nb_report_opts {
	const char *db;         /* NULL: "neonblue" */
	const char *experiment; /* key */
	const char *metric;     /* NULL: every metric of the experiment */
	long long from, to;     /* unix seconds, 0 = open */
	const char *event_type; /* NULL or only this event type counts */
	const char *segment_prop, *segment_value; /* NULL or one segment only */
	double alpha;           /* 0 → 0.05 */
	double mde;             /* planned relative minimum detectable effect; 0 → 0.05 */
	double power;           /* planned power; 0 → 0.8 */
	int scan;               /* 1: read the replicated tables, not the rollup */
	int pooled;             /* 1: no configuration periods (one analysis of every user) */
	long version;           /* > 0: only users assigned under this experiment_version
				   (one period; no periods of its own) */
} nb_report_opts;

/* One variant of one metric. NaN = null in JSON (and for the control: every
 * comparison field). */
typedef struct nb_report_result {
	char variant[NB_AN_KEY_MAX + 1];
	int is_control;
	double users;           /* units: users assigned */
	double count;           /* binomial: converted users; count/sum/ratio: events;
				   mean: events with a value */
	double sum;             /* Σ per-user value (binomial: converted users) */
	double mean, mean_lo, mean_hi; /* rate / mean / ratio with its 95% interval */
	double diff, diff_lo, diff_hi; /* absolute lift (treatment − control) */
	double lift, lift_lo, lift_hi; /* relative lift (treatment / control − 1) */
	double p_value;            /* fixed horizon */
	double p_value_sequential; /* always valid (mSPRT) */
	double p_value_adjusted;   /* Holm across metrics (and treatments) */
	double chance_to_win, expected_loss;
	nb_an_agg agg;             /* the raw aggregates it came from */
} nb_report_result;

typedef struct nb_report_metric {
	char key[NB_AN_KEY_MAX + 1];
	char kind[16], role[16];
	int decrease;
	int nresults; /* one per variant, in variant order */
	nb_report_result *results;
	double power_reached; /* for the planned mde at the current smallest arm */
	double users_planned; /* per arm, for the planned mde and power */
	double users_needed;  /* more users in total to reach it (0 when reached) */
} nb_report_metric;

typedef struct nb_report_variant {
	char key[NB_AN_KEY_MAX + 1];
	double weight, users;
	int is_control;
} nb_report_variant;

struct nb_report;
/* One configuration period (nb_an_period) as the report sees it. */
typedef struct nb_report_period {
	long version;
	long long from, to;     /* unix seconds; 0: unknown / still current */
	double users;           /* assigned under this version */
	char changes[96];       /* what changed from the previous period ("" first) */
	double earlier_users;   /* users assigned (by hash) under earlier versions */
	double rebucketed;      /* of them, those this version's bucketing puts in
				   another variant: SDKs evaluating the payload move
				   them (stored assignments keep theirs) */
	double excluded;        /* of them, those it leaves out (coverage, namespace) */
	struct nb_report *report; /* this period's users alone, its weights; NULL
				     when the experiment has one period */
} nb_report_period;

typedef struct nb_report {
	char experiment[NB_AN_KEY_MAX + 1];
	char status[16];
	double srm_chi2, srm_df, srm_p_value; /* NaN when fewer than 2 variants have weight */
	int srm_mismatch;
	int nvariants;
	nb_report_variant *variants;
	int nmetrics;
	nb_report_metric *metrics;
	char recommendation[32]; /* ship | keep running | stop for harm | investigate SRM */
	char reason[256];
	double users_needed;
	double alpha, mde, power;
	long long from, to;
	char segment[160]; /* "prop=value" or "" */
	int nperiods;      /* configuration periods (0 with opts.pooled or opts.version) */
	nb_report_period *periods;
	int config_changed; /* more than one period has users */
	int rebucketed;     /* a change re-bucketed users already assigned */
} nb_report;

/* Pure: the report from the experiment, users assigned per variant and the
 * metric aggregates aggs[m * nvariants + v] (nb_an_metrics' layout). */
int nb_report_compute(const nb_an_experiment *e, const double *users, const nb_an_agg *aggs,
		      const nb_report_opts *o, nb_report *out, nb_err *err);
/* Loads, queries and computes (one nb_ch handle; no globals). */
int nb_report_build(nb_ch *ch, const nb_report_opts *o, nb_report *out, nb_err *err);
/* Scope flags as the report commands take them: a time ("2026-11-01",
 * "2026-11-01T10:00:00Z", with a space or without Z, or unix seconds; 0 or
 * -1 on error) and a duration ("90s", "30m", "1h", "7d" or seconds; -1 when
 * none of them). */
int nb_report_parse_time(const char *s, long long *out);
long nb_report_parse_duration(const char *s);
/* The same for an experiment already loaded (nb_an_experiment_load; o->metric
 * is not applied: pass e with the metrics wanted). */
int nb_report_build_exp(nb_ch *ch, const nb_an_experiment *e, const nb_report_opts *o,
			nb_report *out, nb_err *err);
void nb_report_done(nb_report *r);

/* Renderers. The JSON object is documented in docs/report.md; caller deletes. */
cJSON *nb_report_json(const nb_report *r);
/* CSV: a header line, then one line per metric × variant. */
void nb_report_csv(const nb_report *r, nb_buf *b);
/* Markdown: a title, SRM and recommendation lines, one table per metric. */
void nb_report_md(const nb_report *r, nb_buf *b);

/* ---- the other analyses, each as a JSON object (docs/report.md) ---- */
/* funnel: steps, per variant users reaching each step, step and overall
 * conversion, each step's conversion against control (proportions). */
cJSON *nb_report_funnel_json(const nb_an_experiment *e, const double *users,
			     const char *const *steps, int nsteps, long window,
			     const double *reached);
/* cohorts: per cohort and variant users and retained share per period, with
 * the difference against control. */
cJSON *nb_report_cohorts_json(const nb_an_experiment *e, int period, int nper,
			      const nb_an_cohort_row *rows, size_t nrows);
/* revenue: ARPU (Welch against control), revenue per paying user, paying
 * share (proportions against control), p50/p90/p99. */
cJSON *nb_report_revenue_json(const nb_an_experiment *e, const char *metric,
			      const nb_an_revenue *rev);
/* segments: per segment value the per-variant results of one metric, p of
 * each treatment against control, Holm-adjusted across segments. */
cJSON *nb_report_segments_json(const nb_an_experiment *e, int metric, const char *prop,
			       char *const *values, const nb_an_agg *aggs, int nseg,
			       double alpha);
/* A JSON array of objects rendered as a Markdown table (columns = keys of
 * the first object; nested values as compact JSON). */
void nb_report_md_table(nb_buf *b, const cJSON *array);
/* The same as CSV (RFC 4180 quoting). */
void nb_report_csv_table(nb_buf *b, const cJSON *array);

/* ---- the report commands' scope as named parameters: the CLI's flags
 * (--metric …) and the HTTP API's query parameters (metric=…) are the same
 * names, parsed here (docs/report.md, docs/api.md) ---- */
enum nb_report_kind {
	NB_REPORT_KIND_REPORT,   /* `report` (with series: the time series) */
	NB_REPORT_KIND_FUNNEL,
	NB_REPORT_KIND_COHORT,
	NB_REPORT_KIND_REVENUE,
	NB_REPORT_KIND_SEGMENTS,
};
/* "report", "funnel", "cohort", "revenue", "segments" → the kind, or -1. */
int nb_report_kind_from_name(const char *name);
const char *nb_report_kind_name(enum nb_report_kind kind);

typedef struct nb_report_query {
	char *metric, *steps, *by, *db, *series, *event_type; /* owned; NULL: not given */
	long long from, to;      /* unix seconds, 0 = open */
	char *seg_prop, *seg_value;
	long window;             /* funnel window, seconds (default 3600) */
	int period, nper, top;   /* cohort period 86400|604800, periods (8); segments top (10) */
	double mde, alpha;       /* 0: the report's defaults */
	int scan;
	int pooled;              /* no configuration periods: one analysis of every user */
	const char *prefix;      /* how names are spelled in messages of
				    nb_report_query_check: "--" (CLI) or "" (API) */
} nb_report_query;

void nb_report_query_init(nb_report_query *q);
void nb_report_query_done(nb_report_query *q);
/* Sets one parameter: name with or without a leading "--" (metric, steps,
 * by, series, database, event-type, from, to, segment, window, period,
 * periods, top, mde, alpha, scan, pooled). Returns 0; 1 when there is no parameter
 * of that name (nothing set); -1 (NB_EINPUT) when the value is wrong, the
 * message naming the parameter as spelled and the value. scan is a switch:
 * "", "1" or "true" set it, "0" or "false" clear it; so is pooled. */
int nb_report_query_set(nb_report_query *q, const char *name, const char *value, nb_err *err);
/* True for the parameters that take no value on the command line (scan). */
int nb_report_query_is_switch(const char *name);
/* What only the whole query shows (to after from; a funnel needs steps,
 * segments need by). -1 with *param the parameter at fault. */
int nb_report_query_check(const nb_report_query *q, enum nb_report_kind kind,
			  const char **param, nb_err *err);
nb_report_opts nb_report_query_opts(const nb_report_query *q, const char *experiment);
nb_an_scope nb_report_query_scope(const nb_report_query *q);
/* The JSON document of `neonblue KIND KEY --json` with this query (checked
 * first). NULL on failure, with *param the parameter at fault: "experiment"
 * when ClickHouse has no such experiment, a parameter name for a refused
 * value, NULL when a server failed (err->code NB_ESERVER) or no parameter is
 * to blame. Caller deletes. */
cJSON *nb_report_query_doc(nb_ch *ch, enum nb_report_kind kind, const char *experiment,
			   const nb_report_query *q, const char **param, nb_err *err);
/* "complete_up_to" of every analysis document (docs/report.md): T as
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" — every change committed at or before T is in
 * ClickHouse — or null when nothing is recorded (or ClickHouse did not
 * answer). Read it before the analysis' queries, then add it to the
 * document: nb_report_complete_add takes complete (deleted when doc is not
 * an object, e.g. NULL after a failure) and returns doc. */
cJSON *nb_report_complete_read(nb_ch *ch, const char *db);
cJSON *nb_report_complete_add(cJSON *doc, cJSON *complete);
/* Keeps only metric `key` in e (the others are freed); -1 if e has none. */
int nb_report_only_metric(nb_an_experiment *e, const char *key, nb_err *err);

#endif
