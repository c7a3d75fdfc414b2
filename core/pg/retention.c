/* pg/retention.c — data retention on the PostgreSQL side (docs/retention.md):
 * the limits (table retention_settings, core/sql/pg/005_retention.sql), the
 * cutoffs they give at one instant, and their application — whole monthly
 * event partitions dropped, partly expired ones rewritten without their
 * expired rows (never a row-by-row DELETE of events: that would send every
 * expired row, whole, down the change stream), assignments and audit rows
 * deleted. */
#include "neonblue/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- limits */

int nb_pg_retention_parse(const char *flag, const char *v, int inherit_ok, char *out, size_t n,
			  nb_err *err)
{
	const char *hint = inherit_ok ? ", 'forever' or 'inherit'" : " or 'forever'";
	if (!v || !*v)
		return nb_err_set(err, NB_EINPUT, "%s needs a value: a duration such as 400d%s",
				  flag, hint);
	if (!strcmp(v, "forever") || (inherit_ok && !strcmp(v, "inherit"))) {
		snprintf(out, n, "%s", !strcmp(v, "forever") ? "forever" : "");
		return 0;
	}
	size_t len = strlen(v), digits = strspn(v, "0123456789");
	char unit = len ? v[len - 1] : 0;
	if (digits == 0 || digits + 1 != len || !strchr("dwmy", unit) || unit == 0)
		return nb_err_set(err, NB_EINPUT,
				  "%s \"%s\": not a duration (a whole number and a unit: d days, "
				  "w weeks, m months, y years, e.g. 400d)%s",
				  flag, v, hint);
	char *end;
	unsigned long long x = strtoull(v, &end, 10);
	if (x == 0)
		return nb_err_set(err, NB_EINPUT, "%s \"%s\": a limit must be at least 1%c", flag, v,
				  unit);
	/* 1000 years at most, in any unit */
	unsigned long long maxv = unit == 'd' ? 365250 : unit == 'w' ? 52179 : unit == 'm' ? 12000 : 1000;
	if (x > maxv)
		return nb_err_set(err, NB_EINPUT, "%s \"%s\": too long (at most %llu%c, 1000 years)",
				  flag, v, maxv, unit);
	snprintf(out, n, "%llu%c", x, unit);
	return 0;
}

#define RET_COLS                                                                           \
	"experiment, events, assignments, audit,"                                          \
	" to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static void add_str_or_null(cJSON *o, const char *name, PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		cJSON_AddNullToObject(o, name);
	else
		cJSON_AddStringToObject(o, name, PQgetvalue(r, row, col));
}

/* One retention_settings row as {experiment, events, assignments[, audit],
 * updated_at}. */
static cJSON *ret_row(PGresult *r, int row)
{
	cJSON *o = cJSON_CreateObject();
	add_str_or_null(o, "experiment", r, row, 0);
	add_str_or_null(o, "events", r, row, 1);
	add_str_or_null(o, "assignments", r, row, 2);
	if (PQgetisnull(r, row, 0))
		add_str_or_null(o, "audit", r, row, 3);
	cJSON_AddStringToObject(o, "updated_at", PQgetvalue(r, row, 4));
	return o;
}

/* The row of scope exp (NULL: global) as JSON, or NULL into *out when none. */
static int ret_get(PGconn *conn, const char *exp, cJSON **out, nb_err *err)
{
	const char *p[] = {exp ? exp : ""};
	PGresult *r = nb_pg_exec(conn,
				 "SELECT " RET_COLS " FROM retention_settings"
				 " WHERE scope = $1",
				 1, p, err);
	if (!r)
		return -1;
	*out = PQntuples(r) ? ret_row(r, 0) : NULL;
	PQclear(r);
	return 0;
}

int nb_pg_retention_set(PGconn *conn, const char *actor, const char *experiment,
			const char *events, const char *assignments, const char *audit,
			nb_err *err)
{
	if (experiment && audit)
		return nb_err_set(err, NB_EINPUT,
				  "--audit is platform-wide: it cannot be set per experiment "
				  "(drop --experiment)");
	if (!events && !assignments && !audit)
		return nb_err_set(err, NB_EINPUT, "nothing to set: give --events, --assignments "
						  "or --audit");
	if (nb_pg_begin(conn, err))
		return -1;
	cJSON *before = NULL, *after = NULL;
	if (experiment) {
		const char *p[] = {experiment};
		PGresult *r = nb_pg_exec(conn, "SELECT 1 FROM experiments WHERE key = $1 FOR SHARE",
					 1, p, err);
		if (!r)
			goto fail;
		int found = PQntuples(r) > 0;
		PQclear(r);
		if (!found) {
			nb_err_set(err, NB_EINPUT, "no experiment \"%s\" (see `neonblue exp list`)",
				   experiment);
			goto fail;
		}
	}
	/* serialise writers of the same scope: the unique index does the rest */
	if (nb_pg_run(conn, "LOCK TABLE retention_settings IN SHARE ROW EXCLUSIVE MODE", 0, NULL,
		      err) ||
	    ret_get(conn, experiment, &before, err))
		goto fail;
	/* "" = inherit / forever: the column becomes NULL */
	const char *v[3] = {events, assignments, audit};
	const char *p[7] = {experiment};
	for (int i = 0; i < 3; i++) {
		p[1 + 2 * i] = v[i] && *v[i] ? v[i] : NULL;
		p[2 + 2 * i] = v[i] ? "1" : NULL;
	}
	if (nb_pg_run(conn,
		      "INSERT INTO retention_settings (experiment, events, assignments, audit)"
		      " VALUES ($1, $2, $4, $6) ON CONFLICT (scope) DO UPDATE"
		      " SET events = CASE WHEN $3::text IS NULL THEN retention_settings.events"
		      "  ELSE $2 END,"
		      " assignments = CASE WHEN $5::text IS NULL THEN retention_settings.assignments"
		      "  ELSE $4 END,"
		      " audit = CASE WHEN $7::text IS NULL THEN retention_settings.audit ELSE $6 END,"
		      " updated_at = now()",
		      7, p, err))
		goto fail;
	/* an override that inherits everything is no override */
	if (experiment &&
	    nb_pg_run(conn,
		      "DELETE FROM retention_settings WHERE experiment = $1 AND events IS NULL"
		      " AND assignments IS NULL",
		      1, p, err))
		goto fail;
	if (ret_get(conn, experiment, &after, err))
		goto fail;
	if (nb_pg_audit(conn, actor, "set", "retention", experiment ? experiment : "global", before,
			after, err) ||
	    nb_pg_commit(conn, err))
		goto fail;
	cJSON_Delete(before);
	cJSON_Delete(after);
	return 0;
fail:
	cJSON_Delete(before);
	cJSON_Delete(after);
	nb_pg_rollback(conn);
	return -1;
}

static int ret_cutoff(PGconn *conn, long long t, const char *limit, long long *out, nb_err *err);

cJSON *nb_pg_retention_show(PGconn *conn, nb_err *err)
{
	PGresult *r = nb_pg_exec(conn,
				 "SELECT " RET_COLS " FROM retention_settings"
				 " ORDER BY experiment NULLS FIRST",
				 0, NULL, err);
	if (!r)
		return NULL;
	cJSON *o = cJSON_CreateObject();
	cJSON *g = NULL, *arr = cJSON_CreateArray();
	for (int i = 0; i < PQntuples(r); i++) {
		if (PQgetisnull(r, i, 0)) {
			g = ret_row(r, i);
			cJSON_DeleteItemFromObjectCaseSensitive(g, "experiment");
		} else {
			cJSON_AddItemToArray(arr, ret_row(r, i));
		}
	}
	PQclear(r);
	if (!g) {
		g = cJSON_CreateObject();
		cJSON_AddNullToObject(g, "events");
		cJSON_AddNullToObject(g, "assignments");
		cJSON_AddNullToObject(g, "audit");
		cJSON_AddNullToObject(g, "updated_at");
	}
	/* effective limits of each override (docs/retention.md): events are kept
	 * for the longer of the experiment's and the global limit; assignments
	 * follow the experiment's own limit, else the global one */
	const cJSON *ge = cJSON_GetObjectItemCaseSensitive(g, "events");
	const cJSON *ga = cJSON_GetObjectItemCaseSensitive(g, "assignments");
	cJSON *x;
	long long now = (long long)time(NULL), cg = 0, cx = 0;
	int rc = 0;
	if (cJSON_IsString(ge))
		rc = ret_cutoff(conn, now, ge->valuestring, &cg, err);
	cJSON_ArrayForEach(x, arr)
	{
		const cJSON *xe = cJSON_GetObjectItemCaseSensitive(x, "events");
		const cJSON *xa = cJSON_GetObjectItemCaseSensitive(x, "assignments");
		cJSON *eff = cJSON_CreateObject();
		const char *rule = "global";
		const cJSON *win = ge; /* null: forever */
		if (cJSON_IsString(xe) && cJSON_IsString(ge) && rc == 0) {
			rc = ret_cutoff(conn, now, xe->valuestring, &cx, err);
			if (cx < cg) {
				win = xe;
				rule = "this experiment's (longer than the global limit)";
			} else {
				rule = "global (this experiment's is not longer)";
			}
		}
		cJSON_AddItemToObject(eff, "events",
				      cJSON_IsString(win) && strcmp(win->valuestring, "forever")
					  ? cJSON_CreateString(win->valuestring)
					  : cJSON_CreateNull());
		cJSON_AddStringToObject(eff, "events_rule", rule);
		cJSON_AddItemToObject(eff, "assignments",
				      cJSON_IsString(xa) && strcmp(xa->valuestring, "forever")
					  ? cJSON_CreateString(xa->valuestring)
				      : cJSON_IsString(xa) ? cJSON_CreateNull()
							   : cJSON_Duplicate(ga, 1));
		cJSON_AddItemToObject(x, "effective", eff);
	}
	if (rc) {
		cJSON_Delete(g);
		cJSON_Delete(arr);
		cJSON_Delete(o);
		return NULL;
	}
	cJSON_AddItemToObject(o, "global", g);
	cJSON_AddItemToObject(o, "experiments", arr);
	return o;
}

/* ---------------------------------------------------------------- cutoffs */

/* t - limit as unix seconds (calendar months and years, UTC), or
 * NB_PG_RET_NEVER for NULL/"forever". */
static int ret_cutoff(PGconn *conn, long long t, const char *limit, long long *out, nb_err *err)
{
	if (!limit || !*limit || !strcmp(limit, "forever")) {
		*out = NB_PG_RET_NEVER;
		return 0;
	}
	static const char *const units[] = {"d", "days", "w", "weeks", "m", "months", "y", "years"};
	size_t len = strlen(limit);
	const char *unit = NULL;
	for (int i = 0; i < 8; i += 2)
		if (limit[len - 1] == units[i][0])
			unit = units[i + 1];
	if (!unit)
		return nb_err_set(err, NB_EINPUT, "stored retention limit \"%s\" is not a duration",
				  limit);
	char ts[32], iv[48];
	snprintf(ts, sizeof ts, "%lld", t);
	snprintf(iv, sizeof iv, "%.*s %s", (int)(len - 1), limit, unit);
	const char *p[] = {ts, iv};
	PGresult *r = nb_pg_exec(conn,
				 "SELECT floor(extract(epoch FROM to_timestamp($1::bigint)"
				 " - $2::interval))::bigint",
				 2, p, err);
	if (!r)
		return -1;
	*out = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

void nb_pg_retention_plan_done(nb_pg_ret_plan *p)
{
	free(p->over);
	memset(p, 0, sizeof *p);
}

int nb_pg_retention_plan(PGconn *conn, const char *at, nb_pg_ret_plan *out, nb_err *err)
{
	memset(out, 0, sizeof *out);
	PGresult *r = nb_pg_exec(conn, "SELECT floor(extract(epoch FROM now()))::bigint", 0, NULL,
				 err);
	if (!r)
		return -1;
	long long now = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	out->at = now;
	if (at) {
		double e;
		if (nb_pg_event_parse_ts(at, &e) < 0)
			return nb_err_set(err, NB_EINPUT,
					  "--at \"%s\": not an ISO-8601 time (e.g. 2026-12-01T00:00:00Z)",
					  at);
		if (e > (double)now)
			return nb_err_set(err, NB_EINPUT,
					  "--at \"%s\" is in the future: limits are measured from "
					  "now or an earlier time, never later",
					  at);
		out->at = (long long)e;
		if ((double)out->at > e)
			out->at--; /* floor */
	}
	r = nb_pg_exec(conn,
		       "SELECT experiment, events, assignments, audit FROM retention_settings"
		       " ORDER BY experiment NULLS FIRST",
		       0, NULL, err);
	if (!r)
		return -1;
	int n = PQntuples(r), rc = 0;
	out->events = out->assignments = out->audit = NB_PG_RET_NEVER;
	out->over = calloc((size_t)n + 1, sizeof *out->over);
	if (!out->over) {
		PQclear(r);
		return nb_err_set(err, NB_ESERVER, "out of memory");
	}
	/* the global row first (NULLS FIRST) */
	int first = 0;
	if (n && PQgetisnull(r, 0, 0)) {
		first = 1;
		rc = ret_cutoff(conn, out->at, PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1),
				&out->events, err);
		if (!rc)
			rc = ret_cutoff(conn, out->at,
					PQgetisnull(r, 0, 2) ? NULL : PQgetvalue(r, 0, 2),
					&out->assignments, err);
		if (!rc)
			rc = ret_cutoff(conn, out->at,
					PQgetisnull(r, 0, 3) ? NULL : PQgetvalue(r, 0, 3),
					&out->audit, err);
	}
	for (int i = first; rc == 0 && i < n; i++) {
		nb_pg_ret_over *o = &out->over[out->nover++];
		snprintf(o->experiment, sizeof o->experiment, "%s", PQgetvalue(r, i, 0));
		if (!PQgetisnull(r, i, 1) && out->events != NB_PG_RET_NEVER) {
			long long c;
			rc = ret_cutoff(conn, out->at, PQgetvalue(r, i, 1), &c, err);
			/* events: only a longer limit than the global one matters */
			if (!rc && c < out->events) {
				o->keep_events = 1;
				o->events = c;
			}
		}
		o->assignments = out->assignments;
		if (!rc && !PQgetisnull(r, i, 2)) {
			o->assign_override = 1;
			rc = ret_cutoff(conn, out->at, PQgetvalue(r, i, 2), &o->assignments, err);
		}
	}
	PQclear(r);
	if (rc)
		nb_pg_retention_plan_done(out);
	return rc;
}

/* ------------------------------------------------------------- applying */

/* "(e.ts >= cutoff OR <a kept assignment of an experiment that keeps the
 * event longer>)": the events that stay; e is the events row. */
static void keep_sql(nb_buf *b, PGconn *conn, const nb_pg_ret_plan *p)
{
	nb_buf_printf(b, "(e.ts >= to_timestamp(%lld)", p->events);
	int any = 0;
	for (int i = 0; i < p->nover; i++) {
		const nb_pg_ret_over *o = &p->over[i];
		if (!o->keep_events)
			continue;
		char *lit = PQescapeLiteral(conn, o->experiment, strlen(o->experiment));
		nb_buf_puts(b, any ? " OR " : " OR EXISTS (SELECT 1 FROM public.assignments a"
					      " WHERE a.user_id = e.user_id AND (");
		nb_buf_printf(b, "(a.experiment = %s", lit ? lit : "''");
		PQfreemem(lit);
		if (o->assignments != NB_PG_RET_NEVER)
			nb_buf_printf(b, " AND a.assigned_at >= to_timestamp(%lld)", o->assignments);
		if (o->events != NB_PG_RET_NEVER)
			nb_buf_printf(b, " AND e.ts >= to_timestamp(%lld)", o->events);
		nb_buf_putc(b, ')');
		any = 1;
	}
	nb_buf_puts(b, any ? ")))" : ")");
}

/* The assignments that go, or 0 when none can. */
static int assign_cond(nb_buf *b, PGconn *conn, const nb_pg_ret_plan *p)
{
	int any = 0;
	if (p->assignments != NB_PG_RET_NEVER) {
		nb_buf_printf(b, "(assigned_at < to_timestamp(%lld)", p->assignments);
		int first = 1;
		for (int i = 0; i < p->nover; i++) {
			if (!p->over[i].assign_override)
				continue;
			char *lit = PQescapeLiteral(conn, p->over[i].experiment,
						    strlen(p->over[i].experiment));
			nb_buf_printf(b, "%s%s", first ? " AND experiment NOT IN (" : ", ",
				      lit ? lit : "''");
			PQfreemem(lit);
			first = 0;
		}
		nb_buf_puts(b, first ? ")" : "))");
		any = 1;
	}
	for (int i = 0; i < p->nover; i++) {
		const nb_pg_ret_over *o = &p->over[i];
		if (!o->assign_override || o->assignments == NB_PG_RET_NEVER)
			continue;
		char *lit = PQescapeLiteral(conn, o->experiment, strlen(o->experiment));
		nb_buf_printf(b, "%s(experiment = %s AND assigned_at < to_timestamp(%lld))",
			      any ? " OR " : "", lit ? lit : "''", o->assignments);
		PQfreemem(lit);
		any = 1;
	}
	return any;
}

static void iso(long long t, char *out, size_t n)
{
	nb_pg_event_format_ts((double)t, out, n);
	/* whole seconds: drop ".000000" */
	char *dot = strchr(out, '.');
	if (dot)
		memmove(dot, dot + 7, strlen(dot + 7) + 1);
}

/* One event partition whose range starts before the cutoff: counts, then
 * (unless dry) drop or rewrite, in one transaction that blocks writes to
 * events (reads go on) until the partition is replaced. */
static int apply_partition(PGconn *conn, const nb_pg_ret_plan *p, const char *name,
			   const char *lo_txt, const char *hi_txt, long long hi, int dry,
			   cJSON *parts, long long *deleted, nb_err *err)
{
	char *id = PQescapeIdentifier(conn, name, strlen(name));
	if (!id)
		return nb_err_set(err, NB_ESERVER, "out of memory");
	nb_buf q;
	nb_buf_init(&q);
	int rc = dry ? 0 : nb_pg_begin(conn, err);
	if (!rc && !dry)
		rc = nb_pg_run(conn, "LOCK TABLE public.events IN SHARE ROW EXCLUSIVE MODE", 0, NULL,
			       err);
	long long total = 0, del = 0;
	if (!rc) {
		nb_buf_puts(&q, "SELECT count(*), count(*) FILTER (WHERE NOT ");
		keep_sql(&q, conn, p);
		nb_buf_printf(&q, ") FROM public.%s e", id);
		PGresult *r = nb_pg_exec(conn, q.data, 0, NULL, err);
		nb_buf_reset(&q);
		if (!r)
			rc = -1;
		else {
			total = atoll(PQgetvalue(r, 0, 0));
			del = atoll(PQgetvalue(r, 0, 1));
			PQclear(r);
		}
	}
	/* dropped only when the whole range is older than the limit and no
	 * override keeps a row of it */
	const char *action = hi <= p->events && del == total ? "drop" : del > 0 ? "rewrite" : NULL;
	if (!rc && !dry && action && !strcmp(action, "drop")) {
		nb_buf_printf(&q, "DROP TABLE public.%s", id);
		rc = nb_pg_run(conn, q.data, 0, NULL, err);
		nb_buf_reset(&q);
	} else if (!rc && !dry && action) {
		/* the rows that stay go to a new table outside the publication, which
		 * then takes the partition's place: nothing of this is replicated */
		static const char *tmp = "neonblue_retention_rewrite";
		nb_buf_printf(&q, "CREATE TABLE public.%s (LIKE public.events INCLUDING DEFAULTS "
				  "INCLUDING CONSTRAINTS)",
			      tmp);
		rc = nb_pg_run(conn, q.data, 0, NULL, err);
		nb_buf_reset(&q);
		if (!rc) {
			nb_buf_printf(&q, "INSERT INTO public.%s SELECT e.* FROM public.%s e WHERE ",
				      tmp, id);
			keep_sql(&q, conn, p);
			rc = nb_pg_run(conn, q.data, 0, NULL, err);
			nb_buf_reset(&q);
		}
		char *lo_l = PQescapeLiteral(conn, lo_txt, strlen(lo_txt));
		char *hi_l = PQescapeLiteral(conn, hi_txt, strlen(hi_txt));
		if (!rc) {
			nb_buf_printf(&q,
				      "DROP TABLE public.%s; ALTER TABLE public.%s RENAME TO %s; "
				      "ALTER TABLE public.%s REPLICA IDENTITY FULL; "
				      "ALTER TABLE public.events ATTACH PARTITION public.%s "
				      "FOR VALUES FROM (%s) TO (%s)",
				      id, tmp, id, id, id, lo_l ? lo_l : "''", hi_l ? hi_l : "''");
			PGresult *r = PQexec(conn, q.data);
			if (PQresultStatus(r) != PGRES_COMMAND_OK)
				rc = nb_err_set(err, NB_ESERVER, "PostgreSQL: rewriting %s: %s", name,
						PQresultErrorMessage(r));
			PQclear(r);
			nb_buf_reset(&q);
		}
		PQfreemem(lo_l);
		PQfreemem(hi_l);
	}
	if (!rc && !dry)
		rc = nb_pg_commit(conn, err);
	if (rc && !dry)
		nb_pg_rollback(conn);
	if (!rc && action) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "partition", name);
		cJSON_AddStringToObject(o, "from", lo_txt);
		cJSON_AddStringToObject(o, "to", hi_txt);
		cJSON_AddStringToObject(o, "action", action);
		cJSON_AddNumberToObject(o, "rows", (double)total);
		cJSON_AddNumberToObject(o, "deleted", (double)del);
		cJSON_AddItemToArray(parts, o);
		*deleted += del;
	}
	nb_buf_done(&q);
	PQfreemem(id);
	return rc;
}

static int apply_events(PGconn *conn, const nb_pg_ret_plan *p, int dry, cJSON *out, nb_err *err)
{
	cJSON *parts = cJSON_AddArrayToObject(out, "partitions");
	long long deleted = 0;
	if (p->events == NB_PG_RET_NEVER) {
		cJSON_AddNumberToObject(out, "deleted", 0);
		return 0;
	}
	/* the monthly partitions (neonblue_ensure_event_partitions) with their
	 * bounds; any other kind of partition (DEFAULT, MINVALUE) is left alone */
	PGresult *r = nb_pg_exec(
	    conn,
	    "SELECT relname, m[1], m[2], floor(extract(epoch FROM m[1]::timestamptz))::bigint,"
	    " floor(extract(epoch FROM m[2]::timestamptz))::bigint FROM"
	    " (SELECT c.relname, regexp_match(pg_get_expr(c.relpartbound, c.oid),"
	    "  '^FOR VALUES FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)$') AS m"
	    "  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
	    "  WHERE i.inhparent = 'public.events'::regclass) x"
	    " WHERE m IS NOT NULL ORDER BY 4",
	    0, NULL, err);
	if (!r)
		return -1;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		long long lo = atoll(PQgetvalue(r, i, 3)), hi = atoll(PQgetvalue(r, i, 4));
		if (lo >= p->events)
			continue; /* wholly within the limit: never touched */
		rc = apply_partition(conn, p, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
				     PQgetvalue(r, i, 2), hi, dry, parts, &deleted, err);
	}
	PQclear(r);
	cJSON_AddNumberToObject(out, "deleted", (double)deleted);
	return rc;
}

static int apply_rows(PGconn *conn, const nb_pg_ret_plan *p, int dry, cJSON *out, nb_err *err)
{
	nb_buf q;
	nb_buf_init(&q);
	int rc = dry ? 0 : nb_pg_begin(conn, err);
	cJSON *asg = cJSON_AddObjectToObject(out, "assignments");
	cJSON *by = cJSON_AddObjectToObject(asg, "by_experiment");
	long long na = 0, nu = 0;
	nb_buf w;
	nb_buf_init(&w);
	if (!rc && assign_cond(&w, conn, p)) {
		if (dry)
			nb_buf_printf(&q, "SELECT experiment, count(*) FROM public.assignments WHERE %s"
					  " GROUP BY 1 ORDER BY 1",
				      w.data);
		else
			nb_buf_printf(&q, "WITH d AS (DELETE FROM public.assignments WHERE %s"
					  " RETURNING experiment) SELECT experiment, count(*) FROM d"
					  " GROUP BY 1 ORDER BY 1",
				      w.data);
		PGresult *r = nb_pg_exec(conn, q.data, 0, NULL, err);
		nb_buf_reset(&q);
		if (!r)
			rc = -1;
		for (int i = 0; r && i < PQntuples(r); i++) {
			long long c = atoll(PQgetvalue(r, i, 1));
			cJSON_AddNumberToObject(by, PQgetvalue(r, i, 0), (double)c);
			na += c;
		}
		PQclear(r);
	}
	nb_buf_done(&w);
	cJSON_AddNumberToObject(asg, "deleted", (double)na);
	if (!rc && p->audit != NB_PG_RET_NEVER) {
		nb_buf_printf(&q,
			      dry ? "SELECT count(*) FROM public.audit_log WHERE at < to_timestamp(%lld)"
				  : "WITH d AS (DELETE FROM public.audit_log WHERE at < "
				    "to_timestamp(%lld) RETURNING 1) SELECT count(*) FROM d",
			      p->audit);
		PGresult *r = nb_pg_exec(conn, q.data, 0, NULL, err);
		nb_buf_reset(&q);
		if (!r)
			rc = -1;
		else
			nu = atoll(PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	cJSON *au = cJSON_AddObjectToObject(out, "audit_log");
	cJSON_AddNumberToObject(au, "deleted", (double)nu);
	if (!rc && !dry)
		rc = nb_pg_commit(conn, err);
	if (rc && !dry)
		nb_pg_rollback(conn);
	nb_buf_done(&q);
	return rc;
}

cJSON *nb_pg_retention_cutoffs_json(const nb_pg_ret_plan *p)
{
	char t[48];
	cJSON *o = cJSON_CreateObject();
	iso(p->at, t, sizeof t);
	cJSON_AddStringToObject(o, "at", t);
	const char *names[] = {"events", "assignments", "audit"};
	long long v[] = {p->events, p->assignments, p->audit};
	for (int i = 0; i < 3; i++) {
		if (v[i] == NB_PG_RET_NEVER) {
			cJSON_AddNullToObject(o, names[i]);
			continue;
		}
		iso(v[i], t, sizeof t);
		cJSON_AddStringToObject(o, names[i], t);
	}
	cJSON *ov = cJSON_AddArrayToObject(o, "experiments");
	for (int i = 0; i < p->nover; i++) {
		const nb_pg_ret_over *x = &p->over[i];
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "experiment", x->experiment);
		if (!x->keep_events || x->events == NB_PG_RET_NEVER) {
			if (x->keep_events)
				cJSON_AddNullToObject(e, "events");
			else if (p->events == NB_PG_RET_NEVER)
				cJSON_AddNullToObject(e, "events");
			else {
				iso(p->events, t, sizeof t);
				cJSON_AddStringToObject(e, "events", t);
			}
		} else {
			iso(x->events, t, sizeof t);
			cJSON_AddStringToObject(e, "events", t);
		}
		if (x->assignments == NB_PG_RET_NEVER)
			cJSON_AddNullToObject(e, "assignments");
		else {
			iso(x->assignments, t, sizeof t);
			cJSON_AddStringToObject(e, "assignments", t);
		}
		cJSON_AddItemToArray(ov, e);
	}
	return o;
}

int nb_pg_retention_apply(PGconn *conn, const nb_pg_ret_plan *p, int dry, cJSON **summary,
			  nb_err *err)
{
	cJSON *o = *summary = cJSON_CreateObject();
	cJSON *ev = cJSON_AddObjectToObject(o, "events");
	if (apply_events(conn, p, dry, ev, err))
		return -1;
	return apply_rows(conn, p, dry, o, err);
}
