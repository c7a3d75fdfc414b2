/* analytics/sql.c — every SQL text nb_an sends to ClickHouse, in one place.
 * Values and identifiers go through nb_ch_escape; numbers are printed by us.
 * Must run on ClickHouse 18.16 and current releases (one JOIN per SELECT,
 * ALL joins, no JSONExtract: properties are read with extract()). an_rows
 * sends one to ClickHouse and parses its answer (for analytics.c and rollup.c). */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Sends sql with the cluster settings (docs/analytics.md, "On a cluster";
 * a single server ignores them); its answer appended to out when not NULL. */
int an_send(nb_ch *ch, const char *sql, nb_buf *out, nb_err *err)
{
	nb_ch_set_setting(ch, "distributed_product_mode", "local");
	nb_ch_set_setting(ch, "insert_distributed_sync", "1");
	return nb_ch_query(ch, sql, out, err);
}

/* Runs sql and parses its TSV answer; on failure rows is empty. */
int an_rows(nb_ch *ch, const nb_buf *sql, nb_ch_rows *rows, nb_err *err)
{
	nb_buf out;
	nb_buf_init(&out);
	memset(rows, 0, sizeof *rows);
	int rc = an_send(ch, sql->data, &out, err);
	if (!rc)
		rc = nb_ch_tsv_parse(out.data ? out.data : "", out.len, rows, err);
	nb_buf_done(&out);
	return rc;
}

/* The first value of sql's answer as a number (0 when there is no row). */
int an_scalar(nb_ch *ch, const nb_buf *sql, unsigned long long *v, nb_err *err)
{
	nb_ch_rows r;
	int rc = an_rows(ch, sql, &r, err);
	*v = rc == 0 && r.nrows && r.ncols ? strtoull(nb_ch_cell(&r, 0, 0), NULL, 10) : 0;
	nb_ch_rows_done(&r);
	return rc;
}

void an_str(nb_buf *b, const char *s)
{
	nb_ch_escape(b, s, strlen(s), NB_CH_STRING);
}

/* `db`.table */
void an_table(nb_buf *b, const nb_an_scope *s, const char *table)
{
	const char *db = s && s->db ? s->db : "neonblue";
	nb_ch_escape(b, db, strlen(db), NB_CH_IDENT);
	nb_buf_putc(b, '.');
	nb_ch_escape(b, table, strlen(table), NB_CH_IDENT);
}

/* A string property of a JSON text column as PostgreSQL's jsonb prints it
 * ("key": "value"); '' when absent or not a plain string. */
void an_sql_prop_string(nb_buf *b, const char *column, const char *prop)
{
	char re[128];
	snprintf(re, sizeof re, "\"%s\": *\"([^\"\\\\]*)\"", prop);
	nb_buf_printf(b, "extract(ifNull(%s, ''), ", column);
	an_str(b, re);
	nb_buf_putc(b, ')');
}

/* The numeric value of an event for metric m: the value column, or the
 * number stored under value_property (NULL when absent or not a number). */
void an_sql_value_of(nb_buf *b, const char *prop)
{
	if (!prop || !*prop) {
		nb_buf_puts(b, "value");
		return;
	}
	char re[128];
	snprintf(re, sizeof re, "\"%s\": *(-?[0-9][0-9.eE+-]*)", prop);
	nb_buf_puts(b, "toFloat64OrNull(extract(ifNull(properties, ''), ");
	an_str(b, re);
	nb_buf_puts(b, "))");
}

static void an_sql_value(nb_buf *b, const nb_an_metric *m)
{
	an_sql_value_of(b, m->value_property);
}

static void an_sql_strings(nb_buf *b, char *const *items, int n, const char *open,
			   const char *close)
{
	nb_buf_puts(b, open);
	for (int i = 0; i < n; i++) {
		if (i)
			nb_buf_puts(b, ", ");
		an_str(b, items[i]);
	}
	nb_buf_puts(b, close);
}

/* ('a', 'b') */
static void an_sql_list(nb_buf *b, char *const *items, int n)
{
	an_sql_strings(b, items, n, "(", ")");
}

/* ['a', 'b'] */
void an_sql_array(nb_buf *b, char *const *items, int n)
{
	an_sql_strings(b, items, n, "[", "]");
}

/* The assignments of the experiment in scope: user_id, variant, a_at, a_us
 * (and seg when seg_prop is given). */
/* seg_prop "event:P": the user's segment is P on their first event at or
 * after assignment that has it (by time, then event id as text). */
static void an_sql_assignments_event_seg(nb_buf *b, const nb_an_scope *s,
					 const nb_an_experiment *e, const char *prop)
{
	nb_buf_puts(b, "SELECT user_id, variant, a_at, a_us, seg FROM (");
	an_sql_assignments(b, s, e, NULL);
	nb_buf_puts(b, ") ANY LEFT JOIN (SELECT user_id, argMin(seg, (toUInt64(ts) * 1000000 + "
		       "ts_us, toString(event_id))) AS seg FROM (SELECT user_id, ts, ts_us, event_id, ");
	an_sql_prop_string(b, "properties", prop);
	nb_buf_puts(b, " AS seg FROM ");
	an_table(b, s, "events");
	nb_buf_puts(b, " FINAL WHERE _deleted = 0 AND seg != '') ALL INNER JOIN (SELECT user_id, "
		       "assigned_at AS a_at, assigned_at_us AS a_us FROM ");
	an_table(b, s, "assignments");
	nb_buf_puts(b, " FINAL WHERE _deleted = 0 AND experiment = ");
	an_str(b, e->key);
	nb_buf_puts(b, ") USING user_id WHERE (ts > a_at OR (ts = a_at AND ts_us >= a_us)) "
		       "GROUP BY user_id) USING user_id");
}

void an_sql_assignments(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
			const char *seg_prop)
{
	if (seg_prop && !strncmp(seg_prop, "event:", 6)) {
		an_sql_assignments_event_seg(b, s, e, seg_prop + 6);
		return;
	}
	nb_buf_puts(b, "SELECT user_id, variant, assigned_at AS a_at, assigned_at_us AS a_us");
	if (seg_prop) {
		nb_buf_puts(b, ", ");
		an_sql_prop_string(b, "context", seg_prop);
		nb_buf_puts(b, " AS seg");
	}
	nb_buf_puts(b, " FROM ");
	an_table(b, s, "assignments");
	nb_buf_puts(b, " FINAL WHERE _deleted = 0 AND experiment = ");
	an_str(b, e->key);
	if (s->to)
		nb_buf_printf(b, " AND assigned_at < toDateTime(%lld)", s->to);
	if (s->version)
		nb_buf_printf(b, " AND experiment_version = %ld", s->version);
	if (s->segment_prop) {
		nb_buf_puts(b, " AND ");
		an_sql_prop_string(b, "context", s->segment_prop);
		nb_buf_puts(b, " = ");
		an_str(b, s->segment_value ? s->segment_value : "");
	}
}

/* Events of the given types in scope, joined to the assignments, at or
 * after the assignment: the FROM … WHERE of every event query. The events
 * table is the query's own FROM (no subquery around it), so on a cluster the
 * query — its join and its GROUP BY user_id — runs on every shard over the
 * shard's own users (docs/analytics.md, "On a cluster"). The type and time
 * filters are a PREWHERE (read before the join: every version of an event
 * has the same type and ts — NeonBlue never updates events, a delete carries
 * the whole row, and ts is the partition key — so they keep all of an
 * event's versions or none, and FINAL still picks the last); _deleted is
 * tested in the WHERE, after FINAL. props: unused (every column is there). */
void an_sql_joined(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
		   char *const *types, int ntypes, const char *seg_prop, int props)
{
	(void)props;
	nb_buf_puts(b, " FROM ");
	an_table(b, s, "events");
	nb_buf_puts(b, " FINAL ALL INNER JOIN (");
	an_sql_assignments(b, s, e, seg_prop);
	nb_buf_puts(b, ") USING user_id");
	const char *kw = " PREWHERE ";
	if (types) {
		nb_buf_puts(b, kw);
		nb_buf_puts(b, "type IN ");
		an_sql_list(b, types, ntypes);
		kw = " AND ";
	}
	if (s->event_type) {
		nb_buf_puts(b, kw);
		nb_buf_puts(b, "type = ");
		an_str(b, s->event_type);
		kw = " AND ";
	}
	if (s->from) {
		nb_buf_printf(b, "%sts >= toDateTime(%lld)", kw, s->from);
		kw = " AND ";
	}
	if (s->to)
		nb_buf_printf(b, "%sts < toDateTime(%lld)", kw, s->to);
	nb_buf_puts(b, " WHERE _deleted = 0 AND (ts > a_at OR (ts = a_at AND ts_us >= a_us))");
}

/* Every event type the metrics of e read (duplicates are harmless in IN). */
static void an_all_types(const nb_an_experiment *e, char ***types, int *n)
{
	int total = 0;
	for (int i = 0; i < e->nmetrics; i++)
		total += e->metrics[i].nevents;
	*types = nb_xcalloc(total ? total : 1, sizeof **types);
	*n = 0;
	for (int i = 0; i < e->nmetrics; i++)
		for (int j = 0; j < e->metrics[i].nevents; j++)
			(*types)[(*n)++] = e->metrics[i].event_types[j];
}

static void an_sql_if_types(nb_buf *b, const nb_an_metric *m, int first, int n)
{
	nb_buf_puts(b, "type IN ");
	an_sql_list(b, m->event_types + first, n);
}

/* Per-user columns of metric i: n<i> qualifying events, x<i> raw value,
 * d<i> denominator (mean, ratio). */
static void an_sql_user_cols(nb_buf *b, const nb_an_metric *m, int i)
{
	int ratio = !strcmp(m->kind, "ratio");
	int nnum = ratio ? 1 : m->nevents;
	nb_buf_puts(b, ", countIf(");
	an_sql_if_types(b, m, 0, nnum);
	nb_buf_printf(b, ") AS n%d", i);
	if (!strcmp(m->kind, "binomial")) {
		nb_buf_printf(b, ", toFloat64(n%d > 0) AS x%d", i, i);
	} else if (!strcmp(m->kind, "count")) {
		nb_buf_printf(b, ", toFloat64(n%d) AS x%d", i, i);
	} else if (!strcmp(m->kind, "sum") || !strcmp(m->kind, "mean")) {
		nb_buf_puts(b, ", sumIf(ifNull(");
		an_sql_value(b, m);
		nb_buf_puts(b, ", 0), ");
		an_sql_if_types(b, m, 0, nnum);
		nb_buf_printf(b, ") AS x%d", i);
		if (!strcmp(m->kind, "mean")) {
			nb_buf_puts(b, ", toFloat64(countIf(isNotNull(");
			an_sql_value(b, m);
			nb_buf_puts(b, ") AND ");
			an_sql_if_types(b, m, 0, nnum);
			nb_buf_printf(b, ")) AS d%d", i);
		}
	} else { /* ratio: Σ value (1 when none) of numerator / denominator events */
		for (int k = 0; k < 2; k++) {
			nb_buf_puts(b, ", sumIf(ifNull(");
			an_sql_value(b, m);
			nb_buf_puts(b, ", 1), ");
			an_sql_if_types(b, m, k, 1);
			nb_buf_printf(b, ") AS %c%d", k ? 'd' : 'x', i);
		}
	}
}

int an_has_den(const nb_an_metric *m)
{
	return !strcmp(m->kind, "mean") || !strcmp(m->kind, "ratio");
}

int an_winsorized(const nb_an_metric *m)
{
	return m->winsorize > 0 && (!strcmp(m->kind, "count") || !strcmp(m->kind, "sum"));
}

int nb_an_sql_metrics(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
		      const char *seg_prop, nb_err *err)
{
	if (e->nmetrics < 1)
		return nb_err_set(err, NB_EINPUT, "experiment \"%s\" has no metrics", e->key);
	char **types;
	int ntypes;
	an_all_types(e, &types, &ntypes);
	/* one row per user: (experiment, user_id) is unique, so variant and seg are
	 * functions of user_id; grouping by user_id alone is cheaper */
	nb_buf_puts(b, "SELECT user_id, any(variant) AS variant");
	if (seg_prop)
		nb_buf_puts(b, ", any(seg) AS seg");
	for (int i = 0; i < e->nmetrics; i++)
		an_sql_user_cols(b, &e->metrics[i], i);
	int props = 0;
	for (int i = 0; i < e->nmetrics; i++)
		props |= e->metrics[i].value_property != NULL;
	an_sql_joined(b, s, e, types, ntypes, seg_prop, props);
	nb_buf_puts(b, " GROUP BY user_id");
	free(types);
	return 0;
}

/* The per-variant (and segment) aggregates over the per-user rows. Columns:
 * variant, [seg], then per metric: converted, events, Σx, Σx², [Σd, Σd², Σxd]
 * (mean, ratio), [the converted users' x as an array] (winsorised metrics:
 * the cap is a quantile over every row, applied by the caller). */
void an_sql_agg_cols(nb_buf *b, const nb_an_experiment *e)
{
	for (int i = 0; i < e->nmetrics; i++) {
		const nb_an_metric *m = &e->metrics[i];
		nb_buf_printf(b, ", countIf(n%d > 0), sum(n%d), sum(x%d), sum(x%d * x%d)", i, i, i, i,
			      i);
		if (an_has_den(m))
			nb_buf_printf(b, ", sum(d%d), sum(d%d * d%d), sum(x%d * d%d)", i, i, i, i, i);
		if (an_winsorized(m))
			nb_buf_printf(b, ", groupArrayIf(x%d, n%d > 0)", i, i);
	}
}

int an_sql_aggregate(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
		     const char *seg_prop, nb_err *err)
{
	nb_buf_printf(b, "SELECT variant%s", seg_prop ? ", seg" : "");
	an_sql_agg_cols(b, e);
	nb_buf_puts(b, " FROM (");
	if (nb_an_sql_metrics(b, s, e, seg_prop, err))
		return -1;
	nb_buf_printf(b, ") GROUP BY variant%s", seg_prop ? ", seg" : "");
	return 0;
}

/* variant, [seg], users assigned. */
void an_sql_exposure(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
		     const char *seg_prop)
{
	nb_buf_printf(b, "SELECT variant%s, count() FROM (", seg_prop ? ", seg" : "");
	an_sql_assignments(b, s, e, seg_prop);
	nb_buf_printf(b, ") GROUP BY variant%s", seg_prop ? ", seg" : "");
}

/* The event value a time series sums for metric m. */
static void an_sql_series_value(nb_buf *b, const nb_an_metric *m)
{
	if (!strcmp(m->kind, "sum") || !strcmp(m->kind, "mean")) {
		nb_buf_puts(b, "sum(ifNull(");
		an_sql_value(b, m);
		nb_buf_puts(b, ", 0))");
	} else if (!strcmp(m->kind, "ratio")) {
		nb_buf_puts(b, "sum(ifNull(");
		an_sql_value(b, m);
		nb_buf_puts(b, ", 1))");
	} else {
		nb_buf_puts(b, "toFloat64(count())");
	}
}

/* bucket, variant, distinct users, value — over the metric's (numerator) events. */
void an_sql_series_events(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
			  const nb_an_metric *m, int period)
{
	int n = !strcmp(m->kind, "ratio") ? 1 : m->nevents;
	nb_buf_printf(b, "SELECT intDiv(toUInt32(ts), %d) * %d AS bucket, variant, "
			 "uniqExact(user_id), ",
		      period, period);
	an_sql_series_value(b, m);
	an_sql_joined(b, s, e, m->event_types, n, NULL, m->value_property != NULL);
	nb_buf_puts(b, " GROUP BY bucket, variant ORDER BY bucket, variant");
}

/* bucket, variant, users assigned. */
void an_sql_series_assigned(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
			    int period)
{
	nb_buf_printf(b, "SELECT intDiv(toUInt32(a_at), %d) * %d AS bucket, variant, count() FROM (",
		      period, period);
	an_sql_assignments(b, s, e, NULL);
	nb_buf_puts(b, ") GROUP BY bucket, variant ORDER BY bucket, variant");
}

/* variant, level, users: windowFunnel over a timestamp that puts, within one
 * second, earlier steps first: t = 8·(seconds since assignment) + step, and
 * window 8·W + 7 (so "last − first ≤ W seconds" exactly). */
void an_sql_funnel(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
		   char *const *steps, int nsteps, long window)
{
	nb_buf_printf(b, "SELECT variant, level, count() FROM (SELECT user_id, variant, "
			 "windowFunnel(%ld)(toUInt32((toUInt32(ts) - toUInt32(a_at)) * 8 + indexOf(",
		      window * 8 + 7);
	an_sql_array(b, steps, nsteps);
	nb_buf_puts(b, ", type) - 1)");
	for (int i = 0; i < nsteps; i++) {
		nb_buf_puts(b, ", type = ");
		an_str(b, steps[i]);
	}
	nb_buf_puts(b, ") AS level");
	an_sql_joined(b, s, e, steps, nsteps, NULL, 0);
	nb_buf_puts(b, " GROUP BY user_id, variant) GROUP BY variant, level");
}

/* cohort, variant, users, retained in period 0..nper-1. retention()'s first
 * condition marks the user's assignment row, the others their event rows
 * (exclusive conditions, which 18.16's retention() needs). */
void an_sql_cohorts(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e, int period,
		    int nper)
{
	char cohort[160], diff[200];
	if (period == 86400) {
		snprintf(cohort, sizeof cohort, "intDiv(toUInt32(a_at), 86400) * 86400");
		snprintf(diff, sizeof diff,
			 "toInt64(intDiv(toUInt32(ts), 86400)) - toInt64(intDiv(toUInt32(a_at), 86400))");
	} else { /* Monday-based weeks: 1970-01-01 was a Thursday */
		snprintf(cohort, sizeof cohort,
			 "(intDiv(intDiv(toUInt32(a_at), 86400) + 3, 7) * 7 - 3) * 86400");
		snprintf(diff, sizeof diff,
			 "toInt64(intDiv(intDiv(toUInt32(ts), 86400) + 3, 7)) - "
			 "toInt64(intDiv(intDiv(toUInt32(a_at), 86400) + 3, 7))");
	}
	nb_buf_puts(b, "SELECT cohort, variant, count()");
	for (int k = 0; k < nper; k++)
		nb_buf_printf(b, ", sum(r[%d])", k + 2);
	nb_buf_puts(b, " FROM (SELECT user_id, variant, cohort, retention(m = 1");
	for (int k = 0; k < nper; k++)
		nb_buf_printf(b, ", m = 0 AND d = %d", k);
	nb_buf_printf(b, ") AS r FROM (SELECT user_id, variant, toUInt32(%s) AS cohort, "
			 "toUInt8(1) AS m, toInt64(0) AS d FROM (",
		      cohort);
	an_sql_assignments(b, s, e, NULL);
	nb_buf_printf(b, ") UNION ALL SELECT user_id, variant, toUInt32(%s) AS cohort, toUInt8(0) "
			 "AS m, %s AS d",
		      cohort, diff);
	an_sql_joined(b, s, e, NULL, 0, NULL, 0);
	nb_buf_printf(b, " AND %s < %d) GROUP BY user_id, variant, cohort) "
			 "GROUP BY cohort, variant ORDER BY cohort, variant",
		      diff, nper);
}

/* variant, paying, Σr, Σr², p50, p90, p99 of per-user revenue r. */
void an_sql_revenue(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
		    const nb_an_metric *m)
{
	nb_buf_puts(b, "SELECT variant, countIf(r > 0), sum(r), sum(r * r), "
		       "quantileExactIf(0.5)(r, r > 0), quantileExactIf(0.9)(r, r > 0), "
		       "quantileExactIf(0.99)(r, r > 0) FROM (SELECT user_id, variant, sum(ifNull(");
	an_sql_value(b, m);
	nb_buf_puts(b, ", 0)) AS r");
	an_sql_joined(b, s, e, m->event_types, m->nevents, NULL, m->value_property != NULL);
	nb_buf_puts(b, " GROUP BY user_id, variant) GROUP BY variant");
}

/* The experiment row, its variants, its metrics and their event types. */
void an_sql_load(nb_buf *b, const char *db, const char *key, int what)
{
	nb_an_scope s = {.db = db};
	switch (what) {
	case 0:
		nb_buf_puts(b, "SELECT key, status FROM ");
		an_table(b, &s, "experiments");
		nb_buf_puts(b, " FINAL WHERE _deleted = 0 AND key = ");
		an_str(b, key);
		break;
	case 1:
		nb_buf_puts(b, "SELECT key, weight, is_control FROM ");
		an_table(b, &s, "variants");
		nb_buf_puts(b, " FINAL WHERE _deleted = 0 AND experiment = ");
		an_str(b, key);
		nb_buf_puts(b, " ORDER BY position, key");
		break;
	case 2:
		nb_buf_puts(b, "SELECT metric, role, kind, direction, value_property, winsorize, "
			       "length(event_types) FROM (SELECT metric, role, position FROM ");
		an_table(b, &s, "experiment_metrics");
		nb_buf_puts(b, " FINAL WHERE _deleted = 0 AND experiment = ");
		an_str(b, key);
		nb_buf_puts(b, ") ALL INNER JOIN (SELECT key AS metric, kind, direction, "
			       "value_property, winsorize, event_types FROM ");
		an_table(b, &s, "metrics");
		nb_buf_puts(b, " FINAL WHERE _deleted = 0) USING metric ORDER BY position, metric");
		break;
	default:
		nb_buf_puts(b, "SELECT key, t FROM (SELECT key, event_types FROM ");
		an_table(b, &s, "metrics");
		nb_buf_puts(b, " FINAL WHERE _deleted = 0 AND key IN (SELECT metric FROM ");
		an_table(b, &s, "experiment_metrics");
		nb_buf_puts(b, " FINAL WHERE _deleted = 0 AND experiment = ");
		an_str(b, key);
		nb_buf_puts(b, ")) ARRAY JOIN event_types AS t");
		break;
	}
}

/* The newest heartbeat the sink found in ClickHouse (core/sql/ch/007). */
void an_sql_complete(nb_buf *b, const nb_an_scope *s)
{
	nb_buf_puts(b, "SELECT count(), max(source_ts_ms), argMax(lsn, source_ts_ms), "
		       "toUnixTimestamp(argMax(recorded_at, source_ts_ms)) FROM ");
	an_table(b, s, "cdc_complete");
	nb_buf_puts(b, " FORMAT TabSeparated");
}
