/* analytics/retention.c — data retention on the ClickHouse side
 * (docs/retention.md): the same rows PostgreSQL lets go, by the same rule,
 * from events (whole months by DROP PARTITION, the rest by ALTER … DELETE),
 * events_by_user, assignments and audit_log; the days of `touched` older
 * than the events limit; and the rollups of the experiments that lost data
 * rebuilt from what remains. SQL for ClickHouse 18.16 and current releases
 * (ALTER … DELETE is a mutation there: it runs in the background, and this
 * waits for it in system.mutations). */
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void rt_time(nb_buf *b, long long t)
{
	nb_buf_printf(b, "toDateTime(%lld)", t < 0 ? 0 : t);
}

/* The events (of `events` or `events_by_user`: columns user_id, ts) that go. */
static void rt_events_del(nb_buf *b, const nb_an_scope *s, const nb_an_ret *r)
{
	nb_buf_puts(b, "(ts < ");
	rt_time(b, r->events);
	for (int i = 0; i < r->nover; i++) {
		const nb_an_ret_over *o = &r->over[i];
		if (!o->keep_events)
			continue;
		nb_buf_puts(b, " AND NOT (user_id IN (SELECT user_id FROM ");
		an_table(b, s, "assignments");
		nb_buf_puts(b, " FINAL WHERE _deleted = 0 AND experiment = ");
		an_str(b, o->experiment);
		if (o->assignments != NB_AN_RET_NEVER && o->assignments > 0) {
			nb_buf_puts(b, " AND assigned_at >= ");
			rt_time(b, o->assignments);
		}
		nb_buf_putc(b, ')');
		if (o->events != NB_AN_RET_NEVER) {
			nb_buf_puts(b, " AND ts >= ");
			rt_time(b, o->events);
		}
		nb_buf_putc(b, ')');
	}
	nb_buf_putc(b, ')');
}

/* The assignments that go; 0 when none can. */
static int rt_assign_del(nb_buf *b, const nb_an_ret *r)
{
	int any = 0;
	nb_buf_putc(b, '(');
	if (r->assignments != NB_AN_RET_NEVER) {
		nb_buf_puts(b, "(assigned_at < ");
		rt_time(b, r->assignments);
		int first = 1;
		for (int i = 0; i < r->nover; i++) {
			if (!r->over[i].assign_override)
				continue;
			nb_buf_puts(b, first ? " AND experiment NOT IN (" : ", ");
			an_str(b, r->over[i].experiment);
			first = 0;
		}
		nb_buf_puts(b, first ? ")" : "))");
		any = 1;
	}
	for (int i = 0; i < r->nover; i++) {
		const nb_an_ret_over *o = &r->over[i];
		if (!o->assign_override || o->assignments == NB_AN_RET_NEVER)
			continue;
		nb_buf_puts(b, any ? " OR (experiment = " : "(experiment = ");
		an_str(b, o->experiment);
		nb_buf_puts(b, " AND assigned_at < ");
		rt_time(b, o->assignments);
		nb_buf_putc(b, ')');
		any = 1;
	}
	nb_buf_putc(b, ')');
	return any;
}

static int rt_count(nb_ch *ch, nb_buf *q, long long *n, nb_err *err)
{
	unsigned long long v = 0;
	int rc = an_scalar(ch, q, &v, err);
	*n = (long long)v;
	nb_buf_reset(q);
	return rc;
}

/* The active partitions of db.table (their ids: YYYYMM, YYYYMMDD), on
 * every shard. */
static int rt_partitions(nb_ch *ch, const char *db, const an_layout *l, const char *table,
			 nb_ch_rows *rows, nb_err *err)
{
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_puts(&q, "SELECT DISTINCT partition FROM ");
	an_sql_system(&q, l, "parts");
	nb_buf_puts(&q, " WHERE active AND database = ");
	an_str(&q, db);
	nb_buf_puts(&q, " AND table = ");
	an_sql_local_name(&q, l, table);
	nb_buf_puts(&q, " ORDER BY partition");
	int rc = an_rows(ch, &q, rows, err);
	nb_buf_done(&q);
	return rc;
}

/* The end (unix seconds) of the month YYYYMM or the day YYYYMMDD a
 * partition id names; -1 when it is neither. */
static long long rt_partition_end(const char *id)
{
	size_t n = strlen(id);
	if ((n != 6 && n != 8) || strspn(id, "0123456789") != n)
		return -1;
	struct tm t;
	memset(&t, 0, sizeof t);
	char y[5] = {id[0], id[1], id[2], id[3], 0}, m[3] = {id[4], id[5], 0};
	t.tm_year = atoi(y) - 1900;
	t.tm_mon = atoi(m) - 1;
	t.tm_mday = 1;
	if (n == 6)
		t.tm_mon++;
	else
		t.tm_mday = atoi(id + 6) + 1;
	return (long long)timegm(&t);
}

/* Waits until db has no unfinished mutation on any shard (at most ~10
 * minutes). */
static int rt_wait_mutations(nb_ch *ch, const char *db, const an_layout *l, nb_err *err)
{
	nb_buf q;
	nb_buf_init(&q);
	int rc = 0;
	for (int i = 0; rc == 0; i++) {
		nb_buf_puts(&q, "SELECT count() FROM ");
		an_sql_system(&q, l, "mutations");
		nb_buf_puts(&q, " WHERE is_done = 0 AND database = ");
		an_str(&q, db);
		long long left = 0;
		rc = rt_count(ch, &q, &left, err);
		if (rc || left == 0)
			break;
		if (i >= 6000) {
			rc = nb_err_set(err, NB_ESERVER,
					"ClickHouse: %lld mutation(s) of database %s still running "
					"after 10 minutes (system.mutations); run `retention apply` "
					"again once they finish",
					left, db);
			break;
		}
		usleep(100000);
	}
	nb_buf_done(&q);
	return rc;
}

static cJSON *rt_obj(cJSON *o, const char *name, long long deleted)
{
	cJSON *x = cJSON_AddObjectToObject(o, name);
	cJSON_AddNumberToObject(x, "deleted", (double)deleted);
	return x;
}

int nb_an_retention_apply(nb_ch *ch, const nb_an_ret *r, int dry, cJSON **summary, nb_err *err)
{
	cJSON *o = *summary = cJSON_CreateObject();
	const char *db = r->db ? r->db : "neonblue";
	nb_an_scope s = {.db = db};
	nb_buf q, del, adel;
	nb_buf_init(&q);
	nb_buf_init(&del);
	nb_buf_init(&adel);
	int ev = r->events != NB_AN_RET_NEVER && r->events > 0;
	if (ev)
		rt_events_del(&del, &s, r);
	int as = rt_assign_del(&adel, r);
	nb_ch_rows parts = {0}, months = {0}, tparts = {0}, aff = {0}, byexp = {0};
	long long n_ev = 0, n_eu = 0, n_as = 0, n_au = 0;
	an_layout l;
	int rc = an_layout_get(ch, &s, &l, err);
	/* ---- what goes: counted over the live rows, as PostgreSQL counts */
	cJSON *dropped = cJSON_CreateArray(), *tdropped = cJSON_CreateArray();
	if (ev) {
		nb_buf_puts(&q, "SELECT count() FROM ");
		an_table(&q, &s, "events");
		nb_buf_printf(&q, " FINAL WHERE _deleted = 0 AND %s", del.data);
		rc = rt_count(ch, &q, &n_ev, err);
		if (!rc) {
			nb_buf_puts(&q, "SELECT count() FROM ");
			an_table(&q, &s, "events_by_user");
			nb_buf_printf(&q, " FINAL WHERE _deleted = 0 AND %s", del.data);
			rc = rt_count(ch, &q, &n_eu, err);
		}
		/* whole months: every live row of the month goes, and the month
		 * ends at or before the cutoff */
		if (!rc) {
			nb_buf_puts(&q, "SELECT toString(toYYYYMM(ts)), countIf(NOT ");
			nb_buf_puts(&q, del.data);
			nb_buf_puts(&q, ") FROM ");
			an_table(&q, &s, "events");
			nb_buf_puts(&q, " FINAL WHERE _deleted = 0 AND ts < ");
			rt_time(&q, r->events);
			nb_buf_puts(&q, " GROUP BY toYYYYMM(ts)");
			rc = an_rows(ch, &q, &months, err);
			nb_buf_reset(&q);
		}
		if (!rc)
			rc = rt_partitions(ch, db, &l, "events", &parts, err);
		for (size_t i = 0; rc == 0 && i < parts.nrows; i++) {
			const char *id = nb_ch_cell(&parts, i, 0);
			long long end = rt_partition_end(id);
			if (end < 0 || end > r->events)
				continue;
			int kept = 0;
			for (size_t k = 0; k < months.nrows; k++)
				if (!strcmp(nb_ch_cell(&months, k, 0), id))
					kept = atoll(nb_ch_cell(&months, k, 1)) > 0;
			if (!kept)
				cJSON_AddItemToArray(dropped, cJSON_CreateString(id));
		}
		if (!rc)
			rc = rt_partitions(ch, db, &l, "touched", &tparts, err);
		for (size_t i = 0; rc == 0 && i < tparts.nrows; i++) {
			const char *id = nb_ch_cell(&tparts, i, 0);
			long long end = rt_partition_end(id);
			if (end >= 0 && end <= r->events)
				cJSON_AddItemToArray(tdropped, cJSON_CreateString(id));
		}
	}
	cJSON *asg = rt_obj(o, "assignments", 0);
	cJSON *by = cJSON_AddObjectToObject(asg, "by_experiment");
	if (!rc && as) {
		nb_buf_puts(&q, "SELECT experiment, count() FROM ");
		an_table(&q, &s, "assignments");
		nb_buf_printf(&q, " FINAL WHERE _deleted = 0 AND %s GROUP BY experiment ORDER BY "
				  "experiment",
			      adel.data);
		rc = an_rows(ch, &q, &byexp, err);
		nb_buf_reset(&q);
		for (size_t i = 0; rc == 0 && i < byexp.nrows; i++) {
			long long c = atoll(nb_ch_cell(&byexp, i, 1));
			cJSON_AddNumberToObject(by, nb_ch_cell(&byexp, i, 0), (double)c);
			n_as += c;
		}
		cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(asg, "deleted"), (double)n_as);
	}
	if (!rc && r->audit != NB_AN_RET_NEVER) {
		nb_buf_puts(&q, "SELECT count() FROM ");
		an_table(&q, &s, "audit_log");
		nb_buf_puts(&q, " FINAL WHERE _deleted = 0 AND at < ");
		rt_time(&q, r->audit);
		rc = rt_count(ch, &q, &n_au, err);
	}
	/* the experiments whose rollup holds something that goes: assignments
	 * that go, or assigned users with events that go; and those whose
	 * rollup would still read days of `touched` dropped now */
	if (!rc && (ev || as)) {
		nb_buf_puts(&q, "SELECT DISTINCT experiment FROM ");
		an_table(&q, &s, "rollup_state");
		nb_buf_puts(&q, " FINAL WHERE notEmpty(types) AND (0");
		if (as) {
			nb_buf_puts(&q, " OR experiment IN (SELECT experiment FROM ");
			an_table(&q, &s, "assignments");
			nb_buf_printf(&q, " WHERE %s)", adel.data);
		}
		if (ev) {
			nb_buf_puts(&q, " OR experiment IN (SELECT experiment FROM ");
			an_table(&q, &s, "assignments");
			nb_buf_puts(&q, " WHERE user_id IN (SELECT user_id FROM ");
			an_table(&q, &s, "events");
			nb_buf_printf(&q, " WHERE %s)) OR watermark < ", del.data);
			rt_time(&q, r->events);
		}
		nb_buf_puts(&q, ") ORDER BY experiment");
		rc = an_rows(ch, &q, &aff, err);
		nb_buf_reset(&q);
	}
	/* ---- the deletion */
	long long left = 0;
	for (int i = 0; rc == 0 && !dry && i < cJSON_GetArraySize(dropped); i++) {
		an_sql_alter(&q, &s, &l, "events");
		nb_buf_printf(&q, "DROP PARTITION %s", cJSON_GetArrayItem(dropped, i)->valuestring);
		rc = an_exec(ch, &q, err);
	}
	/* what the partitions did not take (raw rows: older versions and delete
	 * markers too) */
	static const char *const ev_tables[] = {"events", "events_by_user"};
	for (int t = 0; ev && rc == 0 && !dry && t < 2; t++) {
		nb_buf_puts(&q, "SELECT count() FROM ");
		an_table(&q, &s, ev_tables[t]);
		nb_buf_printf(&q, " WHERE %s", del.data);
		rc = rt_count(ch, &q, &left, err);
		if (!rc && left > 0) {
			an_sql_alter(&q, &s, &l, ev_tables[t]);
			nb_buf_printf(&q, "DELETE WHERE %s", del.data);
			rc = an_exec(ch, &q, err);
		}
	}
	if (rc == 0 && !dry && as) {
		nb_buf_puts(&q, "SELECT count() FROM ");
		an_table(&q, &s, "assignments");
		nb_buf_printf(&q, " WHERE %s", adel.data);
		rc = rt_count(ch, &q, &left, err);
		if (!rc && left > 0) {
			an_sql_alter(&q, &s, &l, "assignments");
			nb_buf_printf(&q, "DELETE WHERE %s", adel.data);
			rc = an_exec(ch, &q, err);
		}
	}
	if (rc == 0 && !dry && r->audit != NB_AN_RET_NEVER) {
		nb_buf_puts(&q, "SELECT count() FROM ");
		an_table(&q, &s, "audit_log");
		nb_buf_puts(&q, " WHERE at < ");
		rt_time(&q, r->audit);
		rc = rt_count(ch, &q, &left, err);
		if (!rc && left > 0) {
			an_sql_alter(&q, &s, &l, "audit_log");
			nb_buf_puts(&q, "DELETE WHERE at < ");
			rt_time(&q, r->audit);
			rc = an_exec(ch, &q, err);
		}
	}
	for (int i = 0; rc == 0 && !dry && i < cJSON_GetArraySize(tdropped); i++) {
		an_sql_alter(&q, &s, &l, "touched");
		nb_buf_printf(&q, "DROP PARTITION %s", cJSON_GetArrayItem(tdropped, i)->valuestring);
		rc = an_exec(ch, &q, err);
	}
	if (rc == 0 && !dry)
		rc = rt_wait_mutations(ch, db, &l, err);
	/* rebuilt from what remains, once the mutations are done */
	char **exps = calloc(aff.nrows + 1, sizeof *exps);
	cJSON *rebuilt = cJSON_CreateArray();
	for (size_t i = 0; exps && i < aff.nrows; i++) {
		exps[i] = aff.cells[i * aff.ncols];
		cJSON_AddItemToArray(rebuilt, cJSON_CreateString(exps[i]));
	}
	if (rc == 0 && !dry && exps)
		rc = an_rollup_reset(ch, &s, exps, aff.nrows, err);
	free(exps);
	cJSON *e = rt_obj(o, "events", n_ev);
	cJSON_AddItemToObject(e, "partitions_dropped", dropped);
	rt_obj(o, "events_by_user", n_eu);
	rt_obj(o, "audit_log", n_au);
	cJSON *tt = cJSON_AddObjectToObject(o, "touched");
	cJSON_AddItemToObject(tt, "partitions_dropped", tdropped);
	cJSON_AddItemToObject(o, "rollups_rebuilt", rebuilt);
	nb_ch_rows_done(&parts);
	nb_ch_rows_done(&months);
	nb_ch_rows_done(&tparts);
	nb_ch_rows_done(&aff);
	nb_ch_rows_done(&byexp);
	nb_buf_done(&q);
	nb_buf_done(&del);
	nb_buf_done(&adel);
	return rc;
}
