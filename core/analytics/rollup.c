/* analytics/rollup.c — the per-user rollup behind nb_an_metrics and
 * nb_an_segments: one row per assigned user holding, per slot (event type ×
 * value source), the count, Σ value, number of values and Σ value-or-1 of
 * the user's events at or after their assignment. Tables and their meaning:
 * core/sql/ch/002_rollup.sql; the argument for exactness: docs/analytics.md.
 *
 * Refresh: users whose events or assignment arrived since the experiment's
 * watermark (the `touched` log, stamped at ingest) are recomputed from
 * events_by_user into rollup_delta; the first call builds rollup_base. A
 * large delta is folded into a new base generation. Several processes may
 * refresh at once: every recomputation reads the committed rows as they are
 * and the newest one wins. */
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* A user's events and assignment are visible from their last touched stamp
 * on: the writer stamps them through touched_ack once its insert was
 * acknowledged (core/sql/ch/004_touched_ack.sql; the views' stamps of 002
 * are taken while the insert runs and may come first, which only costs a
 * recomputation). The stamp is floored to the second, so a computation that
 * started RU_SKIP_S (one for flooring, one to spare) after it saw the rows,
 * whatever order ClickHouse runs views in. A user is recomputed when their
 * last stamp is not at least RU_SKIP_S before the start of the computation
 * that made their current rollup row. */
#define RU_SKIP_S 2
/* The touched log is read from this far before the last refresh started: a
 * touched row itself becomes visible a little after its stamp (the time to
 * write its block). */
#define RU_WINDOW_S 10
/* A replaced generation is dropped after this many seconds (readers that
 * started on it finish first); NEONBLUE_ROLLUP_KEEP_S overrides. */
#define RU_KEEP_S 600
/* Fold the delta into a new base once it has this many rows and a tenth of
 * the base; NEONBLUE_ROLLUP_FOLD_MIN overrides. */
#define RU_FOLD_MIN 20000
/* A refresh that would recompute this many users and over half the base
 * builds a new generation instead. */
#define RU_REBUILD_MIN 20000

static unsigned long long ru_knob(const char *name, unsigned long long dflt)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long x = v && *v ? strtoull(v, &end, 10) : 0;
	return v && *v && !*end ? x : dflt;
}

typedef struct ru_slots {
	int n;
	char *type[64];
	char *prop[64]; /* "" = the value column */
} ru_slots;

static int ru_slot_find(const ru_slots *sl, const char *type, const char *prop)
{
	for (int i = 0; i < sl->n; i++)
		if (!strcmp(sl->type[i], type) && !strcmp(sl->prop[i], prop))
			return i + 1; /* ClickHouse arrays are 1-based */
	return 0;
}

/* Adds a slot unless there; -1 when full. */
static int ru_slot_add(ru_slots *sl, const char *type, const char *prop)
{
	if (ru_slot_find(sl, type, prop))
		return 0;
	if (sl->n == 64)
		return -1;
	sl->type[sl->n] = nb_xstrdup(type);
	sl->prop[sl->n++] = nb_xstrdup(prop);
	return 0;
}

static void ru_slots_free(ru_slots *sl)
{
	for (int i = 0; i < sl->n; i++) {
		free(sl->type[i]);
		free(sl->prop[i]);
	}
	sl->n = 0;
}

/* Adds the slots e's metrics read, in first-use order. -1 when over 64. */
static int ru_slots_of(const nb_an_experiment *e, ru_slots *sl)
{
	for (int i = 0; i < e->nmetrics; i++) {
		const nb_an_metric *m = &e->metrics[i];
		const char *prop = m->value_property ? m->value_property : "";
		for (int j = 0; j < m->nevents; j++)
			if (ru_slot_add(sl, m->event_types[j], prop) < 0)
				return -1;
	}
	return 0;
}

/* 1 when every slot of `need` is in `have`. */
static int ru_slots_cover(const ru_slots *have, const ru_slots *need)
{
	for (int i = 0; i < need->n; i++)
		if (!ru_slot_find(have, need->type[i], need->prop[i]))
			return 0;
	return 1;
}

static unsigned long long ru_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
}

static int ru_exec(nb_ch *ch, nb_buf *sql, nb_err *err)
{
	int rc = an_send(ch, sql->data, NULL, err);
	nb_buf_reset(sql);
	return rc < 0 ? -1 : 0;
}

int an_exec(nb_ch *ch, nb_buf *sql, nb_err *err)
{
	return ru_exec(ch, sql, err);
}

int an_rollup_usable(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e, nb_err *err)
{
	ru_slots sl = {0};
	int over = ru_slots_of(e, &sl) < 0;
	ru_slots_free(&sl);
	if (s->scan || s->from || s->to || s->event_type || e->nmetrics < 1 || over)
		return 0;
	nb_buf q;
	nb_buf_init(&q);
	const char *db = s->db ? s->db : "neonblue";
	nb_buf_puts(&q, "SELECT count() FROM system.tables WHERE database = ");
	an_str(&q, db);
	nb_buf_puts(&q, " AND name IN ('rollup_state', 'rollup_base', 'rollup_delta', "
		       "'events_by_user', 'touched')");
	unsigned long long n = 0;
	int rc = an_scalar(ch, &q, &n, err);
	nb_buf_done(&q);
	return rc < 0 ? -1 : n == 5;
}

typedef struct ru_dirty_t {
	const nb_an_experiment *e;
	unsigned long long gen;
	long long watermark; /* < 0: every user (a build) */
} ru_dirty_t;

static void ru_touched(nb_buf *b, const nb_an_scope *s, long long watermark)
{
	nb_buf_puts(b, "user_id IN (SELECT user_id FROM ");
	an_table(b, s, "touched");
	nb_buf_printf(b, " WHERE at >= toDateTime(%lld))", watermark);
}

/* " AND user_id IN (the users to recompute)": those touched since the
 * watermark whose rollup row was computed before their last touch was
 * surely visible (RU_SKIP_S); "" for a build. */
static void ru_dirty(nb_buf *b, const nb_an_scope *s, const ru_dirty_t *d)
{
	if (d->watermark < 0)
		return;
	nb_buf_puts(b, " AND user_id IN (SELECT user_id FROM (SELECT user_id, max(at) AS last FROM ");
	an_table(b, s, "touched");
	nb_buf_printf(b, " WHERE at >= toDateTime(%lld) GROUP BY user_id) ANY LEFT JOIN "
			 "(SELECT user_id, max(built) AS built FROM (",
		      d->watermark);
	for (int k = 0; k < 2; k++) {
		nb_buf_puts(b, k ? " UNION ALL SELECT user_id, built FROM " : "SELECT user_id, built FROM ");
		an_table(b, s, k ? "rollup_delta" : "rollup_base");
		nb_buf_printf(b, " WHERE gen = %llu AND experiment = ", d->gen);
		an_str(b, d->e->key);
		nb_buf_puts(b, " AND ");
		ru_touched(b, s, d->watermark);
	}
	nb_buf_printf(b, ") GROUP BY user_id) USING user_id WHERE toUInt64(toUInt32(last)) + %d > "
			 "intDiv(built, 1000000000))",
		      RU_SKIP_S);
}

/* Per user: n, vsum, vcnt, v1sum arrays over the slots, from the user's
 * events at or after their assignment (dirty users only when watermark >= 0). */
static void ru_sql_user_slots(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
			      const ru_slots *sl, const ru_dirty_t *d)
{
	static const char *const agg[4][2] = {{"countIf(", ""},
					      {"sumIf(ifNull(", ", 0), "},
					      {"countIf(isNotNull(", ") AND "},
					      {"sumIf(ifNull(", ", 1), "}};
	static const char *const name[4] = {"n", "vsum", "vcnt", "v1sum"};
	int props = 0;
	nb_buf_puts(b, "SELECT user_id");
	for (int k = 0; k < 4; k++) {
		nb_buf_puts(b, ", [");
		for (int i = 0; i < sl->n; i++) {
			nb_buf_puts(b, i ? ", " : "");
			nb_buf_puts(b, agg[k][0]);
			if (k) {
				an_sql_value_of(b, sl->prop[i]);
				nb_buf_puts(b, agg[k][1]);
			}
			nb_buf_puts(b, "type = ");
			an_str(b, sl->type[i]);
			nb_buf_putc(b, ')');
			props |= *sl->prop[i] != 0;
		}
		nb_buf_printf(b, "] AS %s", name[k]);
	}
	nb_buf_printf(b, " FROM (SELECT user_id, type, ts, ts_us, value%s FROM ",
		      props ? ", properties" : "");
	an_table(b, s, "events_by_user");
	nb_buf_puts(b, " FINAL WHERE _deleted = 0 AND has(");
	an_sql_array(b, sl->type, sl->n);
	nb_buf_puts(b, ", type)");
	ru_dirty(b, s, d);
	nb_buf_puts(b, ") ALL INNER JOIN (SELECT user_id, assigned_at AS a_at, assigned_at_us AS "
		       "a_us FROM ");
	an_table(b, s, "assignments");
	nb_buf_puts(b, " FINAL WHERE _deleted = 0 AND experiment = ");
	an_str(b, e->key);
	ru_dirty(b, s, d);
	nb_buf_puts(b, ") USING user_id WHERE (ts > a_at OR (ts = a_at AND ts_us >= a_us)) "
		       "GROUP BY user_id");
}

/* Writes the per-user rows of e into generation gen: all assigned users
 * into rollup_base (d->watermark < 0: a build), or the dirty users into
 * rollup_delta (a deleted assignment as _deleted = 1). The SELECT reads
 * assignments directly, so on a cluster the whole computation runs on each
 * shard over its own users (docs/analytics.md, "On a cluster"). `built`:
 * when the computation started — the second of now() of the server that
 * reads the rows (a shard: the clock of its users' touched stamps), ordered
 * within it by built_ns's nanoseconds. */
static void ru_sql_write(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
			 const ru_slots *sl, const ru_dirty_t *d, unsigned long long built_ns)
{
	int delta = d->watermark >= 0;
	nb_buf_puts(b, "INSERT INTO ");
	an_table(b, s, delta ? "rollup_delta" : "rollup_base");
	nb_buf_printf(b, " (gen, experiment, user_id, variant, context, n, vsum, vcnt, v1sum, "
			 "built%s) SELECT toUInt64(%llu), experiment, user_id, variant, context, n, "
			 "vsum, vcnt, v1sum, toUInt64(toUInt32(now())) * 1000000000 + %llu%s FROM ",
		      delta ? ", _deleted" : "", d->gen, built_ns % 1000000000ull,
		      delta ? ", _deleted" : "");
	an_table(b, s, "assignments");
	nb_buf_puts(b, " FINAL ANY LEFT JOIN (");
	ru_sql_user_slots(b, s, e, sl, d);
	nb_buf_puts(b, delta ? ") USING user_id WHERE experiment = "
			     : ") USING user_id WHERE _deleted = 0 AND experiment = ");
	an_str(b, e->key);
	ru_dirty(b, s, d);
}

/* The current rows of generation gen: base rows not recomputed since, and
 * the latest recomputation of the others. cols: the column list. */
static void ru_sql_current(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
			   unsigned long long gen, const char *cols, int with_delta)
{
	nb_buf_printf(b, "SELECT %s FROM ", cols);
	an_table(b, s, "rollup_base");
	nb_buf_printf(b, " WHERE gen = %llu AND experiment = ", gen);
	an_str(b, e->key);
	if (!with_delta)
		return;
	nb_buf_puts(b, " AND user_id NOT IN (SELECT user_id FROM ");
	an_table(b, s, "rollup_delta");
	nb_buf_printf(b, " WHERE gen = %llu AND experiment = ", gen);
	an_str(b, e->key);
	nb_buf_printf(b, ") UNION ALL SELECT %s FROM ", cols);
	an_table(b, s, "rollup_delta");
	nb_buf_printf(b, " FINAL WHERE gen = %llu AND _deleted = 0 AND experiment = ", gen);
	an_str(b, e->key);
}

static void ru_sql_state(nb_buf *b, const nb_an_scope *s, const nb_an_experiment *e,
			 const ru_slots *sl, unsigned long long gen, long long watermark,
			 unsigned long long base_rows, unsigned long long version)
{
	nb_buf_puts(b, "INSERT INTO ");
	an_table(b, s, "rollup_state");
	nb_buf_puts(b, " (experiment, gen, watermark, types, props, base_rows, version) SELECT ");
	an_str(b, e->key);
	nb_buf_printf(b, ", toUInt64(%llu), toDateTime(%lld), ", gen, watermark);
	an_sql_array(b, sl->type, sl->n);
	nb_buf_puts(b, ", ");
	an_sql_array(b, sl->prop, sl->n);
	nb_buf_printf(b, ", toUInt64(%llu), toUInt64(%llu)", base_rows, version);
}

/* Rows of base generation gen of e. */
static int ru_count_base(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e,
			 unsigned long long gen, const char *table, unsigned long long *n,
			 nb_err *err)
{
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_puts(&q, "SELECT count() FROM ");
	an_table(&q, s, table);
	nb_buf_printf(&q, " WHERE gen = %llu AND experiment = ", gen);
	an_str(&q, e->key);
	int rc = an_scalar(ch, &q, n, err);
	nb_buf_done(&q);
	return rc;
}

/* Drops the generations listed in r's first column from rollup_base and
 * rollup_delta (they are partitions of both). */
static int ru_drop_gens(nb_ch *ch, const nb_an_scope *s, const an_layout *l, const nb_ch_rows *r,
			nb_err *err)
{
	nb_buf q;
	nb_buf_init(&q);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < r->nrows; i++)
		for (int k = 0; rc == 0 && k < 2; k++) {
			an_sql_alter(&q, s, l, k ? "rollup_delta" : "rollup_base");
			nb_buf_printf(&q, "DROP PARTITION %llu",
				      strtoull(nb_ch_cell(r, i, 0), NULL, 10));
			rc = ru_exec(ch, &q, err);
		}
	nb_buf_done(&q);
	return rc;
}

/* Drops the generations (partitions of rollup_base and rollup_delta) that
 * were replaced by their experiment's current one more than RU_KEEP_S ago
 * (a generation is the ns time of its making, so its successor was made
 * after it was replaced; reports that read it before have finished). A
 * generation of an experiment without a state (a first build under way) is
 * kept. */
static int ru_drop_old(nb_ch *ch, const nb_an_scope *s, const an_layout *l,
		       unsigned long long now_ns, nb_err *err)
{
	const char *db = s->db ? s->db : "neonblue";
	unsigned long long keep = ru_knob("NEONBLUE_ROLLUP_KEEP_S", RU_KEEP_S);
	if (keep > 86400ull * 3650)
		keep = 86400ull * 3650;
	unsigned long long before = now_ns - keep * 1000000000ull;
	nb_buf q;
	nb_buf_init(&q);
	/* the cheap question first: any partition that is not a current gen? */
	nb_buf_puts(&q, "SELECT count() FROM ");
	an_sql_system(&q, l, "parts");
	nb_buf_puts(&q, " WHERE active AND database = ");
	an_str(&q, db);
	nb_buf_puts(&q, " AND table IN (");
	an_sql_local_name(&q, l, "rollup_base");
	nb_buf_puts(&q, ", ");
	an_sql_local_name(&q, l, "rollup_delta");
	nb_buf_puts(&q, ") AND toUInt64(partition) NOT IN (SELECT gen FROM ");
	an_table(&q, s, "rollup_state");
	nb_buf_puts(&q, " FINAL)");
	unsigned long long stale = 0;
	int rc = an_scalar(ch, &q, &stale, err);
	nb_buf_reset(&q);
	if (rc || stale == 0) {
		nb_buf_done(&q);
		return rc;
	}
	nb_buf_puts(&q, "SELECT gen FROM (SELECT gen, experiment FROM (");
	for (int k = 0; k < 2; k++) {
		nb_buf_puts(&q, k ? " UNION ALL SELECT gen, experiment FROM " : "SELECT gen, experiment FROM ");
		an_table(&q, s, k ? "rollup_delta" : "rollup_base");
		nb_buf_puts(&q, " WHERE gen NOT IN (SELECT gen FROM ");
		an_table(&q, s, "rollup_state");
		nb_buf_puts(&q, " FINAL)");
	}
	/* ALL, not ANY: in current releases an ANY INNER JOIN keeps one row per
	 * key of both sides (any_join_distinct_right_table_keys = 0), so it would drop
	 * one stale generation per experiment; the right side has one row per
	 * experiment, so ALL is 18.16's ANY */
	nb_buf_puts(&q, ") LIMIT 1 BY gen) ALL INNER JOIN (SELECT experiment, gen AS cur FROM ");
	an_table(&q, s, "rollup_state");
	nb_buf_printf(&q, " FINAL) USING experiment WHERE cur > gen AND cur < %llu GROUP BY gen",
		      before);
	nb_ch_rows r;
	rc = an_rows(ch, &q, &r, err);
	nb_buf_reset(&q);
	if (rc == 0)
		rc = ru_drop_gens(ch, s, l, &r, err);
	nb_ch_rows_done(&r);
	nb_buf_done(&q);
	return rc;
}

/* ClickHouse's now() in unix seconds: the earliest of every node's clock on
 * a cluster (the touched stamps are taken by the shards' clocks; the
 * watermark is behind the slowest of them). */
static int ru_now_ch(nb_ch *ch, const an_layout *l, unsigned long long *now_ch, nb_err *err)
{
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_puts(&q, "SELECT toUInt32(min(now())) FROM ");
	an_sql_system(&q, l, "one");
	int rc = an_scalar(ch, &q, now_ch, err);
	nb_buf_done(&q);
	return rc;
}

/* Brings e's rollup up to date; *gen is the generation to read and *sl its
 * slots (the state's when they cover what e needs, else a new generation
 * with the union). */
static int ru_refresh(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e,
		      unsigned long long *gen, ru_slots *sl, unsigned long long *delta_rows,
		      nb_err *err)
{
	*delta_rows = 1; /* unknown: read the delta */
	unsigned long long now_ch = 0;
	an_layout l;
	int rc = an_layout_get(ch, s, &l, err);
	if (!rc)
		rc = ru_now_ch(ch, &l, &now_ch, err);
	nb_buf q;
	nb_buf_init(&q);
	/* when this refresh started: ClickHouse's second (the clock of the
	 * touched stamps), ordered within it by our own nanoseconds */
	unsigned long long version = now_ch * 1000000000ull + ru_now_ns() % 1000000000ull;
	nb_ch_rows st = {0};
	if (rc == 0) {
		nb_buf_puts(&q, "SELECT gen, toUInt32(watermark), base_rows, t, p FROM ");
		an_table(&q, s, "rollup_state");
		nb_buf_puts(&q, " FINAL ARRAY JOIN types AS t, props AS p WHERE experiment = ");
		an_str(&q, e->key);
		rc = an_rows(ch, &q, &st, err);
		nb_buf_reset(&q);
	}
	if (rc) {
		nb_ch_rows_done(&st);
		nb_buf_done(&q);
		return -1;
	}
	ru_slots need = {0};
	ru_slots_of(e, &need);
	for (size_t i = 0; i < st.nrows; i++)
		ru_slot_add(sl, nb_ch_cell(&st, i, 3), nb_ch_cell(&st, i, 4));
	long long watermark = (long long)now_ch - RU_WINDOW_S;
	unsigned long long base_rows = 0;
	unsigned long long dirty = 0, window_rows = 0;
	int incremental = st.nrows > 0 && ru_slots_cover(sl, &need);
	if (incremental) {
		ru_dirty_t d = {e, strtoull(nb_ch_cell(&st, 0, 0), NULL, 10),
				atoll(nb_ch_cell(&st, 0, 1))};
		nb_ch_rows dr = {0};
		nb_buf_puts(&q, "SELECT count(), uniqExactIf(user_id, 1");
		ru_dirty(&q, s, &d);
		nb_buf_puts(&q, ") FROM ");
		an_table(&q, s, "touched");
		nb_buf_printf(&q, " WHERE at >= toDateTime(%lld)", d.watermark);
		rc = an_rows(ch, &q, &dr, err);
		if (!rc && dr.nrows == 1 && dr.ncols == 2) {
			window_rows = strtoull(nb_ch_cell(&dr, 0, 0), NULL, 10);
			dirty = strtoull(nb_ch_cell(&dr, 0, 1), NULL, 10);
		}
		nb_ch_rows_done(&dr);
		nb_buf_reset(&q);
		/* most users to redo: a new base is cheaper than a delta */
		base_rows = strtoull(nb_ch_cell(&st, 0, 2), NULL, 10);
		incremental = dirty < RU_REBUILD_MIN || dirty * 2 < base_rows;
	}
	if (!rc && incremental) {
		*gen = strtoull(nb_ch_cell(&st, 0, 0), NULL, 10);
		long long from = atoll(nb_ch_cell(&st, 0, 1));
		unsigned long long delta = 0;
		if (dirty > 0) {
			ru_dirty_t d = {e, *gen, from};
			ru_sql_write(&q, s, e, sl, &d, version);
			rc = ru_exec(ch, &q, err);
		}
		if (!rc)
			rc = ru_count_base(ch, s, e, *gen, "rollup_delta", &delta, err);
		if (!rc && delta >= ru_knob("NEONBLUE_ROLLUP_FOLD_MIN", RU_FOLD_MIN) &&
		    delta * 10 >= base_rows) {
			/* fold: a new base with the delta applied (same watermark) */
			unsigned long long g2 = version;
			nb_buf_puts(&q, "INSERT INTO ");
			an_table(&q, s, "rollup_base");
			/* the constant outside the UNION: 18.16 refuses a constant column
			 * of a UNION ALL over Distributed tables ("non constant in source
			 * stream but must be constant in result") */
			const char *cols = "experiment, user_id, variant, context, n, vsum, vcnt, "
					   "v1sum, built";
			nb_buf_printf(&q, " (gen, %s) SELECT toUInt64(%llu), %s FROM (", cols, g2, cols);
			ru_sql_current(&q, s, e, *gen, cols, 1);
			nb_buf_putc(&q, ')');
			rc = ru_exec(ch, &q, err);
			if (!rc)
				rc = ru_count_base(ch, s, e, g2, "rollup_base", &base_rows, err);
			if (!rc)
				*gen = g2;
			delta = 0;
		}
		*delta_rows = delta;
	} else if (!rc) {
		for (int i = 0; i < need.n; i++)
			if (ru_slot_add(sl, need.type[i], need.prop[i]) < 0) {
				/* the union is over 64: what e needs alone */
				ru_slots_free(sl);
				for (int k = 0; k < need.n; k++)
					ru_slot_add(sl, need.type[k], need.prop[k]);
				break;
			}
		*gen = version;
		*delta_rows = 0;
		ru_dirty_t all = {e, *gen, -1};
		ru_sql_write(&q, s, e, sl, &all, *gen);
		rc = ru_exec(ch, &q, err);
		if (!rc)
			rc = ru_count_base(ch, s, e, *gen, "rollup_base", &base_rows, err);
	}
	/* the state is rewritten only when the watermark has something to
	 * move past (fewer parts from dashboards refreshing idle experiments) */
	int rewrite = !incremental || window_rows > 0 ||
		      strtoull(nb_ch_cell(&st, 0, 0), NULL, 10) != *gen;
	if (!rc && rewrite) {
		/* versioned by generation: a slower refresh of an older generation
		 * never brings it back (equal versions: the last written wins) */
		ru_sql_state(&q, s, e, sl, *gen, watermark, base_rows, *gen);
		rc = ru_exec(ch, &q, err);
	}
	if (!rc)
		rc = ru_drop_old(ch, s, &l, version, err);
	ru_slots_free(&need);
	nb_ch_rows_done(&st);
	nb_buf_done(&q);
	return rc;
}

/* Per-user columns n<i>, x<i>, d<i> of every metric from the slot arrays,
 * as an_sql_user_cols computes them from events. */
static void ru_sql_metric_cols(nb_buf *b, const nb_an_experiment *e, const ru_slots *sl)
{
	for (int i = 0; i < e->nmetrics; i++) {
		const nb_an_metric *m = &e->metrics[i];
		const char *prop = m->value_property ? m->value_property : "";
		int ratio = !strcmp(m->kind, "ratio");
		int nnum = ratio ? 1 : m->nevents;
		int slot[64], ns = 0;
		for (int j = 0; j < nnum; j++) {
			int k = ru_slot_find(sl, m->event_types[j], prop), dup = 0;
			for (int t = 0; t < ns; t++)
				dup |= slot[t] == k;
			if (!dup)
				slot[ns++] = k;
		}
		const char *xs = !strcmp(m->kind, "binomial") || !strcmp(m->kind, "count") ? NULL
				 : ratio						    ? "v1sum"
											    : "vsum";
		nb_buf_puts(b, ", (");
		for (int t = 0; t < ns; t++)
			nb_buf_printf(b, "%sn[%d]", t ? " + " : "", slot[t]);
		nb_buf_printf(b, ") AS n%d", i);
		if (!xs)
			nb_buf_printf(b, ", toFloat64(%sn%d) AS x%d",
				      strcmp(m->kind, "binomial") ? "" : "0 < ", i, i);
		else {
			nb_buf_puts(b, ", (");
			for (int t = 0; t < ns; t++)
				nb_buf_printf(b, "%s%s[%d]", t ? " + " : "", xs, slot[t]);
			nb_buf_printf(b, ") AS x%d", i);
		}
		if (!strcmp(m->kind, "mean")) {
			nb_buf_puts(b, ", toFloat64(");
			for (int t = 0; t < ns; t++)
				nb_buf_printf(b, "%svcnt[%d]", t ? " + " : "", slot[t]);
			nb_buf_printf(b, ") AS d%d", i);
		} else if (ratio) {
			nb_buf_printf(b, ", v1sum[%d] AS d%d",
				      ru_slot_find(sl, m->event_types[1], prop), i);
		}
	}
}

int an_rollup_aggregate(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e,
			const char *seg_prop, nb_ch_rows *rows, nb_err *err)
{
	memset(rows, 0, sizeof *rows);
	unsigned long long gen = 0, delta_rows = 1;
	ru_slots sl = {0};
	if (ru_refresh(ch, s, e, &gen, &sl, &delta_rows, err)) {
		ru_slots_free(&sl);
		return -1;
	}
	nb_buf b;
	nb_buf_init(&b);
	nb_buf_printf(&b, "SELECT variant%s, count()", seg_prop ? ", seg" : "");
	an_sql_agg_cols(&b, e);
	nb_buf_puts(&b, " FROM (SELECT variant");
	if (seg_prop) {
		nb_buf_puts(&b, ", ");
		an_sql_prop_string(&b, "context", seg_prop);
		nb_buf_puts(&b, " AS seg");
	}
	ru_sql_metric_cols(&b, e, &sl);
	nb_buf_puts(&b, " FROM (");
	ru_sql_current(&b, s, e, gen, "variant, context, n, vsum, vcnt, v1sum", delta_rows > 0);
	nb_buf_putc(&b, ')');
	if (s->segment_prop) {
		nb_buf_puts(&b, " WHERE ");
		an_sql_prop_string(&b, "context", s->segment_prop);
		nb_buf_puts(&b, " = ");
		an_str(&b, s->segment_value ? s->segment_value : "");
	}
	nb_buf_printf(&b, ") GROUP BY variant%s", seg_prop ? ", seg" : "");
	int rc = an_rows(ch, &b, rows, err);
	nb_buf_done(&b);
	ru_slots_free(&sl);
	return rc;
}

int an_rollup_reset(nb_ch *ch, const nb_an_scope *s, char *const *exps, size_t n, nb_err *err)
{
	if (n == 0)
		return 0;
	an_layout l;
	unsigned long long now_ch = 0;
	int rc = an_layout_get(ch, s, &l, err);
	if (!rc)
		rc = ru_now_ch(ch, &l, &now_ch, err);
	nb_buf q;
	nb_buf_init(&q);
	/* a state without slots, newer than any refresh that started before:
	 * the next refresh finds no state and builds a new generation */
	unsigned long long version = now_ch * 1000000000ull + ru_now_ns() % 1000000000ull;
	ru_slots none = {0};
	for (size_t i = 0; rc == 0 && i < n; i++) {
		nb_an_experiment e;
		memset(&e, 0, sizeof e);
		snprintf(e.key, sizeof e.key, "%s", exps[i]);
		ru_sql_state(&q, s, &e, &none, 0, (long long)now_ch, 0, version);
		rc = ru_exec(ch, &q, err);
	}
	/* their generations hold per-user sums of what was deleted: gone now
	 * (a report reading one at this moment fails once; the next rebuilds) */
	nb_ch_rows r = {0};
	if (rc == 0) {
		nb_buf_puts(&q, "SELECT DISTINCT gen FROM (");
		for (int k = 0; k < 2; k++) {
			nb_buf_puts(&q, k ? " UNION ALL SELECT gen FROM " : "SELECT gen FROM ");
			an_table(&q, s, k ? "rollup_delta" : "rollup_base");
			nb_buf_puts(&q, " WHERE experiment IN (");
			for (size_t i = 0; i < n; i++) {
				nb_buf_puts(&q, i ? ", " : "");
				an_str(&q, exps[i]);
			}
			nb_buf_putc(&q, ')');
		}
		nb_buf_putc(&q, ')');
		rc = an_rows(ch, &q, &r, err);
		nb_buf_reset(&q);
	}
	if (rc == 0)
		rc = ru_drop_gens(ch, s, &l, &r, err);
	nb_ch_rows_done(&r);
	nb_buf_done(&q);
	return rc;
}
