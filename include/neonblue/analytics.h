/* analytics.h — nb_an: experiment analytics on ClickHouse (per-variant metric
 * aggregates, exposure, time series, funnels, retention cohorts, revenue,
 * segments). All SQL text is built in core/analytics/sql.c; every value and
 * identifier goes through nb_ch_escape. Definitions: docs/analytics.md.
 *
 * Reentrant: no globals; each call uses only the nb_ch handle passed in (one
 * handle per thread). Reads the replicated tables exactly (FINAL, _deleted =
 * 0) of database `db` (NULL: "neonblue"). */
#ifndef NEONBLUE_ANALYTICS_H
#define NEONBLUE_ANALYTICS_H

#include "neonblue/ch.h"
#include "neonblue/base.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#define NB_AN_KEY_MAX 64

/* ---- the experiment as ClickHouse holds it ---- */
typedef struct nb_an_variant {
	char key[NB_AN_KEY_MAX + 1];
	double weight;
	int is_control;
} nb_an_variant;

typedef struct nb_an_metric {
	char key[NB_AN_KEY_MAX + 1];
	char kind[16];       /* binomial count sum mean ratio */
	char role[16];       /* primary secondary guardrail */
	int nevents;         /* ratio: 2 (numerator, denominator) */
	char **event_types;
	char *value_property; /* NULL: the event's value column */
	int decrease;         /* direction = decrease (lower is better) */
	double winsorize;     /* percentile in (0,100]; 0 = none */
} nb_an_metric;

typedef struct nb_an_experiment {
	char key[NB_AN_KEY_MAX + 1];
	char status[16];
	int nvariants; /* in position order; the control is variants[control] */
	nb_an_variant *variants;
	int control;
	int nmetrics; /* in position order */
	nb_an_metric *metrics;
} nb_an_experiment;

/* Loads experiment `key` with its variants and metrics from ClickHouse.
 * Unknown experiment → NB_EINPUT. */
int nb_an_experiment_load(nb_ch *ch, const char *db, const char *key, nb_an_experiment *out,
			  nb_err *err);
void nb_an_experiment_done(nb_an_experiment *e);
/* Index of metric `key` in e, or -1. */
int nb_an_metric_index(const nb_an_experiment *e, const char *key);
/* The metric an analysis uses: `key` when given (-1 and an error when e has
 * no such metric), else the first of `kind` (NULL: the primary), else the
 * first; -1 and an error when e has no metrics. */
int nb_an_pick_metric(const nb_an_experiment *e, const char *key, const char *kind, nb_err *err);

/* ---- what is counted ---- */
typedef struct nb_an_scope {
	const char *db;            /* NULL: "neonblue" */
	long long from, to;        /* unix seconds: events with from <= ts < to; 0 = open.
				      Users assigned at or after `to` are left out. */
	const char *event_type;    /* NULL, or only events of this type count */
	const char *segment_prop;  /* NULL, or only users whose assignment context */
	const char *segment_value; /*   has segment_prop = segment_value (a string) */
	int scan;                  /* 1: read the replicated tables, never the rollup
				      (docs/analytics.md); 0: the rollup when it can answer */
	long version;              /* 0, or only users assigned under this
				      experiment_version (a configuration period;
				      read from the replicated tables) */
} nb_an_scope;

/* Property names (value_property, segment properties) must match
 * [A-Za-z0-9_-]{1,64}. Returns 1 when s does. */
int nb_an_prop_ok(const char *s);

/* Per variant (or segment × variant) aggregates of one metric over the users
 * assigned to the experiment, counting only qualifying events at or after
 * the user's assignment (docs/analytics.md has the per-user value x_u and
 * denominator d_u of each kind). */
typedef struct nb_an_agg {
	double users;     /* units: users assigned (in scope) */
	double converted; /* users with at least one qualifying event */
	double events;    /* qualifying events (mean: events with a value) */
	double sum, sum_sq; /* Σ x_u, Σ x_u² (after winsorisation) */
	double den_sum, den_sum_sq, cross; /* Σ d_u, Σ d_u², Σ x_u d_u (mean, ratio) */
	double cap;       /* winsorisation cap, NaN when none */
} nb_an_agg;

/* Users assigned per variant: users[e->nvariants]. */
int nb_an_exposure(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e, double *users,
		   nb_err *err);

/* Aggregates of every metric of e: out[m * nvariants + v] (users filled
 * from the exposure). Without a time range or event-type filter (and unless
 * s->scan) they come from the per-user rollup, which this call first brings
 * up to date (the first call on an experiment builds it); the numbers are
 * the same either way. */
int nb_an_metrics(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e, nb_an_agg *out,
		  nb_err *err);

/* Segments: one metric broken down by the assignment-context property
 * `prop`, or, as "event:P", by event property P: a user's value is P on
 * their first event at or after assignment that has it (by time, then event
 * id as text; "" when none); the top `top` values by users assigned (ties:
 * by value). Caller
 * frees *values (each string and the array) and *aggs (nseg * nvariants). */
int nb_an_segments(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e, int metric,
		   const char *prop, int top, char ***values, nb_an_agg **aggs, int *nseg,
		   nb_err *err);

/* ---- time series: per hour or day bucket and variant ---- */
typedef struct nb_an_point {
	long long bucket; /* unix seconds of the bucket start (UTC) */
	int variant;
	double assigned;  /* users assigned in the bucket */
	double converted; /* distinct users with a qualifying event in the bucket */
	double value;     /* Σ event value (binomial/count/ratio: events) in the bucket */
} nb_an_point;

/* period: 3600 or 86400. Points sorted by bucket then variant; only buckets
 * with something in them. Caller frees *pts. */
int nb_an_timeseries(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e, int metric,
		     int period, nb_an_point **pts, size_t *npts, nb_err *err);

/* ---- funnel: ordered steps (event types) within window seconds ---- */
#define NB_AN_FUNNEL_MAX 8
/* reached[v * nsteps + i] = users of variant v who reached step i+1 (the
 * chain step1 ≤ … ≤ step(i+1) at whole-second resolution, last within
 * window seconds of the first, all at or after assignment). */
int nb_an_funnel(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e,
		 const char *const *steps, int nsteps, long window, double *reached,
		 nb_err *err);

/* ---- retention cohorts ---- */
typedef struct nb_an_cohort_row {
	long long cohort; /* unix seconds of the UTC day (or Monday) of assignment */
	int variant;
	double users;          /* users assigned in the cohort */
	double retained[32];   /* users with an event in period k after assignment;
				  NAN for a period that starts at or after the
				  scope's `to` (or now): it has not happened yet */
} nb_an_cohort_row;

/* period: 86400 (days) or 604800 (weeks, Monday-based); periods 0..nper-1
 * (nper <= 32). Rows sorted by cohort then variant. Caller frees *rows. */
int nb_an_cohorts(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e, int period,
		  int nper, nb_an_cohort_row **rows, size_t *nrows, nb_err *err);

/* ---- revenue: per-user revenue r_u = Σ value of the metric's events ---- */
typedef struct nb_an_revenue {
	double users, paying; /* paying: r_u > 0 */
	double sum, sum_sq;
	double p50, p90, p99; /* over paying users (quantileExact), NaN if none */
} nb_an_revenue;

/* out[nvariants]. */
int nb_an_revenue_get(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e, int metric,
		      nb_an_revenue *out, nb_err *err);

/* ---- configuration periods (core/analytics/periods.c) ----
 * Every change of an experiment reaches audit_log with its time and the
 * definition after it; the definition's version bumps whenever who gets
 * which variant changes, and each assignment keeps the version it was made
 * under. A period is one version: from the first audit row showing it to the
 * next version's. */
typedef struct nb_an_period {
	long version;
	long long from, to;   /* unix seconds; to = 0: still current; from = 0: unknown */
	double users;         /* users assigned under this version */
	char changes[96];     /* against the previous period: "weights,coverage,
				 targeting,namespace,seed,holdout" (those that
				 changed); "" for the first */
	cJSON *config;        /* the definition (exp show --json), NULL when its
				 audit rows are gone */
} nb_an_period;

/* The periods of experiment key, by version (an experiment never changed has
 * one). Caller frees with nb_an_periods_free. */
int nb_an_periods(nb_ch *ch, const char *db, const char *key, nb_an_period **out, int *n,
		  nb_err *err);
void nb_an_periods_free(nb_an_period *p, int n);
/* Users assigned by hash under a version below below_version: rows of
 * user_id, variant, experiment_version. Caller frees with nb_ch_rows_done. */
int nb_an_assigned_users(nb_ch *ch, const char *db, const char *key, long below_version,
			 nb_ch_rows *rows, nb_err *err);

/* ---- the SQL (pure; for tests and EXPLAIN) ---- */
/* The per-user subquery over the experiment's joined events and
 * assignments that nb_an_metrics aggregates; appended to b. */
int nb_an_sql_metrics(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
		      const char *seg_prop, nb_err *err);


/* ---- data retention, the ClickHouse side (core/analytics/retention.c) ----
 * Cutoffs in unix seconds, computed by the PostgreSQL side (nb_pg_retention_
 * plan): what is strictly older goes. docs/retention.md has the rules. */
#define NB_AN_RET_NEVER (-0x7fffffffffffffffLL - 1) /* no cutoff */

typedef struct nb_an_ret_over {
	char experiment[NB_AN_KEY_MAX + 1];
	int keep_events;       /* its users' events stay until `events` */
	long long events;      /* with keep_events: the cutoff, or NB_AN_RET_NEVER */
	int assign_override;   /* the experiment has its own assignments limit */
	long long assignments; /* its effective assignments cutoff */
} nb_an_ret_over;

typedef struct nb_an_ret {
	const char *db; /* NULL: "neonblue" */
	long long events, assignments, audit;
	int nover;
	const nb_an_ret_over *over;
} nb_an_ret;

/* Deletes (dry = 0) or counts (dry = 1) what the cutoffs let go: events by
 * whole months (DROP PARTITION) where no row of the month stays, the rest
 * with ALTER … DELETE, the same rows of events_by_user, assignments,
 * audit_log, the days of `touched` older than the events cutoff; waits for
 * the mutations, then makes the rollups that held deleted data rebuild.
 * *summary (always set; caller deletes): {assignments: {deleted,
 * by_experiment}, events: {deleted, partitions_dropped}, events_by_user,
 * audit_log: {deleted}, touched: {partitions_dropped}, rollups_rebuilt}.
 * Counts are of live rows (FINAL, _deleted = 0). */
int nb_an_retention_apply(nb_ch *ch, const nb_an_ret *r, int dry, cJSON **summary, nb_err *err);

/* ---- how complete ClickHouse is (core/analytics/complete.c) ---- */
/* "Complete up to T" (docs/report.md): every change of every transaction
 * committed in PostgreSQL at or before T — in commit order, the LSN — is in
 * ClickHouse. Read from s->db's cdc_complete, which the sink fills from the
 * relay's heartbeats (docs/sink.md, "Complete up to"). */
typedef struct nb_an_complete {
	int known;           /* 0: nothing recorded yet (or no cdc_complete table) */
	int64_t ts_ms;       /* T: that commit's time, ms since 1970 */
	uint64_t lsn;        /* its commit LSN (0 from Debezium's own heartbeats) */
	long long recorded_at; /* when the sink found it in ClickHouse, unix seconds */
} nb_an_complete;
/* Fills out; a ClickHouse without the table gives known = 0 (no error). */
int nb_an_complete_get(nb_ch *ch, const nb_an_scope *s, nb_an_complete *out, nb_err *err);
/* out->known ? T as "YYYY-MM-DDTHH:MM:SS.mmmZ" : "" */
void nb_an_complete_iso(const nb_an_complete *c, char out[40]);

#endif
