/* pg/layers.c — layers (named GrowthBook namespaces whose experiments may not
 * overlap; the overlap rule itself is the trigger of
 * core/sql/pg/007_layers_holdouts.sql) and holdouts (a share of users, by a
 * seed of its own, kept out of every experiment that names it), with audit.
 * docs/layers.md. */
#include "neonblue/pg.h"

#include "neonblue/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LY_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define LY_LIVE "e.status NOT IN ('stopped', 'archived')"

static int ly_fail(PGconn *conn)
{
	nb_pg_rollback(conn);
	return -1;
}

/* The one text cell of r as JSON (NULL r: NULL). Clears r. */
static cJSON *ly_json_cell(PGresult *r)
{
	if (!r)
		return NULL;
	cJSON *j = cJSON_Parse(PQgetvalue(r, 0, 0));
	PQclear(r);
	return j ? j : cJSON_CreateArray();
}

cJSON *nb_pg_layer_list(PGconn *conn, const char *key, nb_err *err)
{
	const char *p[] = {key};
	return ly_json_cell(nb_pg_exec(
		conn,
		"SELECT coalesce(json_agg(json_build_object('key', l.key, 'name', l.name, "
		"'description', l.description, 'created_at', " LY_TS("l.created_at") ", "
		"'occupied', coalesce((SELECT sum(e.namespace_end - e.namespace_start) "
		"FROM experiments e WHERE e.namespace_id = l.key AND " LY_LIVE "), 0), "
		"'experiments', coalesce((SELECT json_agg(json_build_object('key', e.key, "
		"'status', e.status, 'start', e.namespace_start, 'end', e.namespace_end) "
		"ORDER BY e.namespace_start, e.key) FROM experiments e "
		"WHERE e.namespace_id = l.key AND " LY_LIVE "), '[]')) ORDER BY l.key), '[]')::text "
		"FROM layers l WHERE ($1::text IS NULL OR l.key = $1)",
		1, p, err));
}

int nb_pg_layer_create(PGconn *conn, const char *key, const char *name, const char *description,
		       const char *actor, nb_err *err)
{
	if (!key || !nb_pg_slug_ok(key))
		return nb_err_set(err, NB_EINPUT, "layer key '%s' must match [a-z0-9_-]{1,64}",
				  key ? key : "");
	if (nb_pg_begin(conn, err))
		return -1;
	/* live experiments already in namespace `key` must not overlap either */
	const char *p[] = {key, name ? name : "", description ? description : ""};
	PGresult *r = nb_pg_exec(
		conn,
		"SELECT a.key, a.namespace_start, a.namespace_end, b.key, b.namespace_start, "
		"b.namespace_end FROM experiments a JOIN experiments b ON a.namespace_id = "
		"b.namespace_id AND a.key < b.key AND a.namespace_start < b.namespace_end AND "
		"b.namespace_start < a.namespace_end WHERE a.namespace_id = $1 AND "
		"a.status NOT IN ('stopped', 'archived') AND b.status NOT IN ('stopped', 'archived') "
		"ORDER BY a.key, b.key LIMIT 1",
		1, p, err);
	if (!r)
		return ly_fail(conn);
	if (PQntuples(r)) {
		nb_err_set(err, NB_EINPUT,
			   "layer '%s': experiment \"%s\" [%s, %s) overlaps experiment \"%s\" [%s, %s) "
			   "in namespace %s; move one (`exp edit KEY --namespace`) first",
			   key, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
			   PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 4), PQgetvalue(r, 0, 5), key);
		PQclear(r);
		return ly_fail(conn);
	}
	PQclear(r);
	r = nb_pg_exec(conn,
		       "INSERT INTO layers (key, name, description) VALUES ($1, $2, $3) "
		       "ON CONFLICT (key) DO NOTHING",
		       3, p, err);
	if (!r)
		return ly_fail(conn);
	int rows = atoi(PQcmdTuples(r));
	PQclear(r);
	if (rows != 1) {
		nb_err_set(err, NB_EINPUT, "layer '%s' already exists", key);
		return ly_fail(conn);
	}
	cJSON *after = nb_pg_layer_list(conn, key, err);
	int rc = !after || nb_pg_audit(conn, actor, "create", "layer", key, NULL,
				       cJSON_GetArrayItem(after, 0), err);
	cJSON_Delete(after);
	if (rc || nb_pg_commit(conn, err))
		return ly_fail(conn);
	return 0;
}

/* ---- holdouts ----------------------------------------------------------- */

cJSON *nb_pg_holdout_list(PGconn *conn, const char *key, nb_err *err)
{
	const char *p[] = {key};
	return ly_json_cell(nb_pg_exec(
		conn,
		"SELECT coalesce(json_agg(json_build_object('key', h.key, 'name', e.name, "
		"'percent', h.percent, 'seed', e.seed, 'status', e.status, "
		"'created_at', " LY_TS("h.created_at") ", "
		"'experiments', coalesce((SELECT json_agg(x.key ORDER BY x.key) FROM experiments x "
		"WHERE x.holdout = h.key), '[]'), "
		"'members', (SELECT count(*) FROM assignments a WHERE a.experiment = h.key), "
		"'held_out', (SELECT count(*) FROM assignments a WHERE a.experiment = h.key "
		"AND a.variant = 'holdout')) ORDER BY h.key), '[]')::text "
		"FROM holdouts h JOIN experiments e ON e.key = h.key "
		"WHERE ($1::text IS NULL OR h.key = $1)",
		1, p, err));
}

int nb_pg_holdout_get(PGconn *conn, const char *key, nb_pg_holdout *out, nb_err *err)
{
	memset(out, 0, sizeof *out);
	const char *p[] = {key};
	PGresult *r = nb_pg_exec(conn,
				 "SELECT e.seed, h.percent FROM holdouts h JOIN experiments e "
				 "ON e.key = h.key WHERE h.key = $1",
				 1, p, err);
	if (!r)
		return -1;
	if (!PQntuples(r)) {
		PQclear(r);
		return nb_err_set(err, NB_EINPUT, "no holdout '%s' (see `neonblue holdout list`)",
				  key);
	}
	snprintf(out->key, sizeof out->key, "%s", key);
	snprintf(out->seed, sizeof out->seed, "%s", PQgetvalue(r, 0, 0));
	out->share = strtod(PQgetvalue(r, 0, 1), NULL) / 100;
	PQclear(r);
	return 0;
}

cJSON *nb_pg_holdout_filter(const char *seed, double share)
{
	cJSON *f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "attribute", "id");
	cJSON_AddStringToObject(f, "seed", seed);
	cJSON_AddNumberToObject(f, "hashVersion", 2);
	cJSON *ranges = cJSON_AddArrayToObject(f, "ranges");
	cJSON *r = cJSON_CreateArray();
	cJSON_AddItemToArray(r, cJSON_CreateNumber(share));
	cJSON_AddItemToArray(r, cJSON_CreateNumber(1));
	cJSON_AddItemToArray(ranges, r);
	return f;
}

int nb_pg_holdout_create(PGconn *conn, const char *key, const char *name, double percent,
			 const char *seed, const char *actor, nb_err *err)
{
	if (!key || !nb_pg_slug_ok(key))
		return nb_err_set(err, NB_EINPUT, "holdout key '%s' must match [a-z0-9_-]{1,64}",
				  key ? key : "");
	if (!(percent > 0 && percent < 100))
		return nb_err_set(err, NB_EINPUT,
				  "--percent must be more than 0 and less than 100 (got %g)", percent);
	if (seed && !*seed)
		return nb_err_set(err, NB_EINPUT, "--seed must not be empty");
	char w0[40], w1[40], pct[40], nm[160];
	snprintf(w0, sizeof w0, "%.17g", percent / 100);
	snprintf(w1, sizeof w1, "%.17g", 1 - percent / 100);
	snprintf(pct, sizeof pct, "%.17g", percent);
	snprintf(nm, sizeof nm, "Holdout %s", key);
	const char *p[] = {key, name && *name ? name : nm, seed ? seed : key, w0, w1, pct};
	if (nb_pg_begin(conn, err))
		return -1;
	PGresult *r = nb_pg_exec(conn, "SELECT status FROM experiments WHERE key = $1", 1, p, err);
	if (!r)
		return ly_fail(conn);
	if (PQntuples(r)) {
		nb_err_set(err, NB_EINPUT,
			   "holdout '%s': an experiment or holdout of that key already exists (it is "
			   "%s)",
			   key, PQgetvalue(r, 0, 0));
		PQclear(r);
		return ly_fail(conn);
	}
	PQclear(r);
	/* the backing experiment: running from now, holdout (control) and general */
	if (nb_pg_run(conn,
		      "WITH e AS (INSERT INTO experiments (key, name, seed, hash_version, coverage, "
		      "status, started_at, version) VALUES ($1, $2, $3, 2, 1, 'running', now(), 1) "
		      "RETURNING key), v AS (INSERT INTO variants (experiment, key, name, weight, "
		      "is_control, position) SELECT key, 'holdout', 'holdout', $4::float8, true, 0 "
		      "FROM e UNION ALL SELECT key, 'general', 'general', $5::float8, false, 1 FROM e) "
		      "INSERT INTO holdouts (key, percent) SELECT key, $6::float8 FROM e",
		      6, p, err))
		return ly_fail(conn);
	nb_pg_experiment e;
	if (nb_pg_experiment_get(conn, key, 0, &e, err))
		return ly_fail(conn);
	cJSON *ej = nb_pg_experiment_to_json(&e);
	nb_pg_experiment_done(&e);
	cJSON *hj = nb_pg_holdout_list(conn, key, err);
	int rc = !hj || nb_pg_audit(conn, actor, "create", "experiment", key, NULL, ej, err) ||
		 nb_pg_audit(conn, actor, "create", "holdout", key, NULL, cJSON_GetArrayItem(hj, 0),
			     err);
	cJSON_Delete(ej);
	cJSON_Delete(hj);
	if (rc || nb_pg_commit(conn, err))
		return ly_fail(conn);
	return 0;
}
