/* analytics/internal.h — what the nb_an files share (an_rows and the SQL builders of
 * analytics/sql.c, the rollup of analytics/rollup.c). */
#ifndef NB_ANALYTICS_INT_H
#define NB_ANALYTICS_INT_H

#include "neonblue/analytics.h"

#include <stdlib.h>

/* ---- the layout (analytics/cluster.c) ---- */
typedef struct an_layout {
	char cluster[128]; /* "" on a single server */
	int ndist;         /* the tables of db that are Distributed (over T_local) */
	char dist[32][64];
} an_layout;
/* Sends one statement with the cluster settings (every statement of nb_an
 * goes through here); the answer is appended to out when not NULL. */
int an_send(nb_ch *ch, const char *sql, nb_buf *out, nb_err *err);
/* How s->db is laid out: l->cluster is the cluster when its events table is
 * Distributed, else ""; l->dist its Distributed tables. */
int an_layout_get(nb_ch *ch, const nb_an_scope *s, an_layout *l, nb_err *err);
void an_sql_alter(nb_buf *b, const nb_an_scope *s, const an_layout *l, const char *table);
void an_sql_local(nb_buf *b, const nb_an_scope *s, const an_layout *l, const char *table);
void an_sql_local_name(nb_buf *b, const an_layout *l, const char *table);
void an_sql_system(nb_buf *b, const an_layout *l, const char *name);

/* Runs sql on ch and parses its TSV answer; on failure rows is empty. */
int an_rows(nb_ch *ch, const nb_buf *sql, nb_ch_rows *rows, nb_err *err);
/* The first value of sql's answer as a number (0 when there is no row). */
int an_scalar(nb_ch *ch, const nb_buf *sql, unsigned long long *v, nb_err *err);
void an_str(nb_buf *b, const char *s);
/* ['a', 'b'] */
void an_sql_array(nb_buf *b, char *const *items, int n);
void an_table(nb_buf *b, const nb_an_scope *s, const char *table);
void an_sql_prop_string(nb_buf *b, const char *column, const char *prop);
void an_sql_assignments(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
			const char *seg_prop);
void an_sql_joined(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
		   char *const *types, int ntypes, const char *seg_prop, int props);
void an_sql_value_of(nb_buf *b, const char *prop);
/* The per-metric aggregate columns over per-user rows n<i>, x<i>, d<i>. */
void an_sql_agg_cols(nb_buf *b, const nb_an_experiment *e);
int an_winsorized(const nb_an_metric *m);
int an_has_den(const nb_an_metric *m);
int an_sql_aggregate(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
		     const char *seg_prop, nb_err *err);
void an_sql_exposure(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
		     const char *seg_prop);
void an_sql_series_events(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
			  const nb_an_metric *m, int period);
void an_sql_series_assigned(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
			    int period);
void an_sql_funnel(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
		   char *const *steps, int nsteps, long window);
void an_sql_cohorts(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e, int period,
		    int nper);
void an_sql_revenue(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
		    const nb_an_metric *m);
void an_sql_complete(nb_buf *b, const nb_an_scope *s);
/* what: 0 experiment, 1 variants, 2 metrics, 3 metric event types */
void an_sql_load(nb_buf *b, const char *db, const char *key, int what);

/* ---- the rollup (analytics/rollup.c) ---- */
/* 1 when the rollup can answer for (s, e): no time range or event-type
 * filter, and the database has the rollup tables. */
int an_rollup_usable(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e, nb_err *err);
/* Brings e's rollup up to date, then runs the aggregate over it: rows of
 * variant, [seg], users, then an_sql_agg_cols' columns. */
int an_rollup_aggregate(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e,
			const char *seg_prop, nb_ch_rows *rows, nb_err *err);
/* Runs one statement, discarding its answer, and empties sql. */
int an_exec(nb_ch *ch, nb_buf *sql, nb_err *err);
/* Forces a full rebuild of the rollups of exps[n] (retention deleted some
 * of their data): a newer state without slots for each, and their
 * generations dropped. */
int an_rollup_reset(nb_ch *ch, const nb_an_scope *s, char *const *exps, size_t n, nb_err *err);

#endif
