/* pg/metrics.c — nb_pg metrics: validation, JSON form, storage (+ audit). */
#include "neonblue/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nb_pg_metric_done(nb_pg_metric *m)
{
	if (!m)
		return;
	free(m->key);
	free(m->name);
	free(m->description);
	free(m->kind);
	for (int i = 0; i < m->nevents; i++)
		free(m->event_types[i]);
	free(m->event_types);
	free(m->value_property);
	free(m->direction);
	memset(m, 0, sizeof *m);
}

static int one_of(const char *s, const char *const *set)
{
	for (; s && *set; set++)
		if (!strcmp(s, *set))
			return 1;
	return 0;
}

int nb_pg_metric_validate(const nb_pg_metric *m, nb_err *err)
{
	static const char *const kinds[] = {"binomial", "count", "sum", "mean", "ratio", NULL};
	static const char *const dirs[] = {"increase", "decrease", NULL};
	if (!nb_pg_slug_ok(m->key))
		return nb_err_set(err, NB_EINPUT, "key '%s' is not a valid key ([a-z0-9_-]{1,64})",
				  m->key ? m->key : "");
	if (!one_of(m->kind, kinds))
		return nb_err_set(err, NB_EINPUT,
				  "kind '%s' must be binomial, count, sum, mean or ratio",
				  m->kind ? m->kind : "");
	if (m->nevents < 1)
		return nb_err_set(err, NB_EINPUT, "events: at least one event type is needed");
	for (int i = 0; i < m->nevents; i++) {
		if (!m->event_types[i] || !*m->event_types[i])
			return nb_err_set(err, NB_EINPUT, "events[%d] must not be empty", i);
		for (int k = 0; k < i; k++)
			if (!strcmp(m->event_types[k], m->event_types[i]))
				return nb_err_set(err, NB_EINPUT, "events[%d] '%s' is listed twice", i,
						  m->event_types[i]);
	}
	if (!strcmp(m->kind, "ratio") && m->nevents != 2)
		return nb_err_set(err, NB_EINPUT,
				  "events: a ratio metric needs exactly two event types, numerator "
				  "and denominator (got %d)",
				  m->nevents);
	if (m->value_property && !*m->value_property)
		return nb_err_set(err, NB_EINPUT, "value_property must not be empty");
	if (!one_of(m->direction, dirs))
		return nb_err_set(err, NB_EINPUT, "direction '%s' must be increase or decrease",
				  m->direction ? m->direction : "");
	if (!(m->winsorize == 0 || (m->winsorize > 0 && m->winsorize <= 100)))
		return nb_err_set(err, NB_EINPUT,
				  "winsorize must be a percentile in (0, 100], or 0 for none (got %g)",
				  m->winsorize);
	if (m->winsorize > 0 && !strcmp(m->kind, "binomial"))
		return nb_err_set(err, NB_EINPUT, "winsorize does not apply to binomial metrics");
	return 0;
}

cJSON *nb_pg_metric_to_json(const nb_pg_metric *m)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "key", m->key);
	cJSON_AddStringToObject(o, "name", m->name ? m->name : m->key);
	cJSON_AddStringToObject(o, "description", m->description ? m->description : "");
	cJSON_AddStringToObject(o, "kind", m->kind);
	cJSON *ev = cJSON_CreateArray();
	for (int i = 0; i < m->nevents; i++)
		cJSON_AddItemToArray(ev, cJSON_CreateString(m->event_types[i]));
	cJSON_AddItemToObject(o, "event_types", ev);
	if (m->value_property)
		cJSON_AddStringToObject(o, "value_property", m->value_property);
	else
		cJSON_AddNullToObject(o, "value_property");
	cJSON_AddStringToObject(o, "direction", m->direction ? m->direction : "increase");
	if (m->winsorize > 0)
		cJSON_AddNumberToObject(o, "winsorize", m->winsorize);
	else
		cJSON_AddNullToObject(o, "winsorize");
	cJSON_AddItemToObject(o, "created_at", m->created_at[0] ? cJSON_CreateString(m->created_at)
								: cJSON_CreateNull());
	cJSON_AddItemToObject(o, "updated_at", m->updated_at[0] ? cJSON_CreateString(m->updated_at)
								: cJSON_CreateNull());
	return o;
}

static int opt_string(const cJSON *j, const char *f, char **dst, nb_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, f);
	if (!it || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsString(it))
		return nb_err_set(err, NB_EINPUT, "%s must be a string", f);
	free(*dst);
	*dst = nb_xstrdup(it->valuestring);
	return 0;
}

static int parse_events(const cJSON *ev, nb_pg_metric *m, nb_err *err)
{
	if (cJSON_IsString(ev)) {
		m->event_types = nb_xcalloc(1, sizeof(char *));
		m->event_types[m->nevents++] = nb_xstrdup(ev->valuestring);
		return 0;
	}
	if (!cJSON_IsArray(ev))
		return nb_err_set(err, NB_EINPUT, "event_types must be a list of strings");
	int n = cJSON_GetArraySize(ev);
	m->event_types = nb_xcalloc((size_t)(n ? n : 1), sizeof(char *));
	for (const cJSON *it = ev->child; it; it = it->next) {
		if (!cJSON_IsString(it))
			return nb_err_set(err, NB_EINPUT, "events[%d] must be a string", m->nevents);
		m->event_types[m->nevents++] = nb_xstrdup(it->valuestring);
	}
	return 0;
}

int nb_pg_metric_from_json(const cJSON *j, nb_pg_metric *out, nb_err *err)
{
	memset(out, 0, sizeof *out);
	static const char *const known[] = {"key",	 "name",	   "description",
					    "kind",	 "event_types",	   "value_property",
					    "direction", "winsorize",	   "created_at",
					    "updated_at", NULL};
	if (!cJSON_IsObject(j))
		return nb_err_set(err, NB_EINPUT, "a metric definition must be a JSON object");
	for (const cJSON *c = j->child; c; c = c->next)
		if (!one_of(c->string, known))
			return nb_err_set(err, NB_EINPUT, "unknown field '%s' in the metric definition",
					  c->string);
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "winsorize");
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "event_types");
	int rc = opt_string(j, "key", &out->key, err) || opt_string(j, "name", &out->name, err) ||
		 opt_string(j, "description", &out->description, err) ||
		 opt_string(j, "kind", &out->kind, err) ||
		 opt_string(j, "value_property", &out->value_property, err) ||
		 opt_string(j, "direction", &out->direction, err);
	if (!rc && w && !cJSON_IsNull(w)) {
		if (!cJSON_IsNumber(w))
			rc = nb_err_set(err, NB_EINPUT, "winsorize must be a number or null");
		else
			out->winsorize = w->valuedouble;
	}
	if (!rc && ev)
		rc = parse_events(ev, out, err) ? 1 : 0;
	if (!rc && !out->direction)
		out->direction = nb_xstrdup("increase");
	if (!rc && (!out->name || !*out->name)) {
		free(out->name);
		out->name = nb_xstrdup(out->key ? out->key : "");
	}
	if (!rc && !out->description)
		out->description = nb_xstrdup("");
	if (!rc && nb_pg_metric_validate(out, err))
		rc = 1;
	if (rc) {
		nb_pg_metric_done(out);
		return -1;
	}
	return 0;
}

/* ---- storage ---------------------------------------------------------------- */

#define MTS(c) "coalesce(to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '')"

static const char *metric_select =
	"SELECT key, name, description, kind, array_to_json(event_types)::text, value_property, "
	"direction, winsorize, " MTS("created_at") ", " MTS("updated_at") " FROM metrics ";

static void fill_metric(PGresult *r, int i, nb_pg_metric *m)
{
	memset(m, 0, sizeof *m);
	m->key = nb_xstrdup(PQgetvalue(r, i, 0));
	m->name = nb_xstrdup(PQgetvalue(r, i, 1));
	m->description = nb_xstrdup(PQgetvalue(r, i, 2));
	m->kind = nb_xstrdup(PQgetvalue(r, i, 3));
	cJSON *ev = cJSON_Parse(PQgetvalue(r, i, 4));
	nb_err e;
	if (ev)
		parse_events(ev, m, &e); /* text[] as JSON: always a list of strings */
	cJSON_Delete(ev);
	m->value_property = PQgetisnull(r, i, 5) ? NULL : nb_xstrdup(PQgetvalue(r, i, 5));
	m->direction = nb_xstrdup(PQgetvalue(r, i, 6));
	m->winsorize = PQgetisnull(r, i, 7) ? 0 : strtod(PQgetvalue(r, i, 7), NULL);
	snprintf(m->created_at, sizeof m->created_at, "%s", PQgetvalue(r, i, 8));
	snprintf(m->updated_at, sizeof m->updated_at, "%s", PQgetvalue(r, i, 9));
}

static int metric_query(PGconn *conn, const char *where, const char *key, nb_pg_metric **out,
			int *n, nb_err *err)
{
	char sql[1024];
	snprintf(sql, sizeof sql, "%s%s", metric_select, where);
	const char *p[] = {key};
	PGresult *r = nb_pg_exec(conn, sql, key ? 1 : 0, key ? p : NULL, err);
	if (!r)
		return -1;
	int cnt = PQntuples(r);
	nb_pg_metric *a = nb_xcalloc((size_t)(cnt ? cnt : 1), sizeof *a);
	for (int i = 0; i < cnt; i++)
		fill_metric(r, i, &a[i]);
	PQclear(r);
	*out = a;
	*n = cnt;
	return 0;
}

int nb_pg_metric_get(PGconn *conn, const char *key, nb_pg_metric *out, nb_err *err)
{
	nb_pg_metric *a;
	int n;
	memset(out, 0, sizeof *out);
	if (metric_query(conn, "WHERE key = $1", key, &a, &n, err))
		return -1;
	if (n == 0) {
		free(a);
		return nb_err_set(err, NB_EINPUT, "no metric '%s' (see `neonblue metric list`)", key);
	}
	*out = a[0];
	free(a);
	return 0;
}

int nb_pg_metric_list(PGconn *conn, nb_pg_metric **out, int *n, nb_err *err)
{
	return metric_query(conn, "ORDER BY key", NULL, out, n, err);
}

/* Writes m (insert or update) and its audit row, in one transaction. */
static int metric_write(PGconn *conn, const nb_pg_metric *m, const char *actor, int insert,
			nb_err *err)
{
	if (nb_pg_metric_validate(m, err))
		return -1;
	if (nb_pg_begin(conn, err))
		return -1;
	nb_pg_metric before;
	nb_err gerr;
	nb_err_clear(&gerr);
	int exists = nb_pg_metric_get(conn, m->key, &before, &gerr) == 0;
	if (!exists && (gerr.code != NB_EINPUT || !insert)) {
		nb_err_set(err, gerr.code, "%s", gerr.msg);
		goto fail;
	}
	if (insert && exists) {
		nb_pg_metric_done(&before);
		nb_err_set(err, NB_EINPUT, "metric '%s' already exists", m->key);
		goto fail;
	}
	cJSON *ev = cJSON_CreateArray();
	for (int i = 0; i < m->nevents; i++)
		cJSON_AddItemToArray(ev, cJSON_CreateString(m->event_types[i]));
	char *evs = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	char w[40];
	snprintf(w, sizeof w, "%.17g", m->winsorize);
	const char *p[] = {m->key, m->name, m->description ? m->description : "", m->kind, evs,
			   m->value_property, m->direction, m->winsorize > 0 ? w : NULL};
	const char *sql =
		insert ? "INSERT INTO metrics (key, name, description, kind, event_types, "
			 "value_property, direction, winsorize) VALUES ($1, $2, $3, $4, "
			 "ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), $6, $7, $8) "
			 "ON CONFLICT (key) DO NOTHING"
		       : "UPDATE metrics SET name = $2, description = $3, kind = $4, event_types = "
			 "ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), value_property = $6, "
			 "direction = $7, winsorize = $8, updated_at = now() WHERE key = $1";
	PGresult *r = nb_pg_exec(conn, sql, 8, p, err);
	free(evs);
	int rc = r ? 0 : -1;
	if (r && atoi(PQcmdTuples(r)) != 1) /* a concurrent create won the race */
		rc = nb_err_set(err, NB_EINPUT, "metric '%s' already exists", m->key);
	PQclear(r);
	cJSON *bj = exists ? nb_pg_metric_to_json(&before) : NULL;
	if (exists)
		nb_pg_metric_done(&before);
	nb_pg_metric now;
	if (!rc)
		rc = nb_pg_metric_get(conn, m->key, &now, err);
	if (!rc) {
		cJSON *aj = nb_pg_metric_to_json(&now);
		rc = nb_pg_audit(conn, actor, insert ? "create" : "update", "metric", m->key, bj, aj,
				 err);
		cJSON_Delete(aj);
		nb_pg_metric_done(&now);
	}
	cJSON_Delete(bj);
	if (rc || nb_pg_commit(conn, err))
		goto fail;
	return 0;
fail:
	nb_pg_rollback(conn);
	return -1;
}

int nb_pg_metric_create(PGconn *conn, const nb_pg_metric *m, const char *actor, nb_err *err)
{
	return metric_write(conn, m, actor, 1, err);
}

int nb_pg_metric_update(PGconn *conn, const nb_pg_metric *m, const char *actor, nb_err *err)
{
	return metric_write(conn, m, actor, 0, err);
}
