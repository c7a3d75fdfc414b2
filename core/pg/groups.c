/* pg/groups.c — saved groups (core/sql/pg/004_saved_groups.sql): create,
 * edit, list, and the {"id": group} object the condition evaluator takes. */
#include "neonblue/pg.h"

#include <stdlib.h>
#include <string.h>

#define GROUP_COLS                                                                         \
	"id, attribute_key, \"values\"::text, description,"                               \
	" to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"          \
	" to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* One row of GROUP_COLS as {id, attribute_key, values, description,
 * created_at, updated_at}. */
static cJSON *group_row(PGresult *r, int row)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", PQgetvalue(r, row, 0));
	if (PQgetisnull(r, row, 1))
		cJSON_AddNullToObject(o, "attribute_key");
	else
		cJSON_AddStringToObject(o, "attribute_key", PQgetvalue(r, row, 1));
	cJSON *v = cJSON_Parse(PQgetvalue(r, row, 2));
	cJSON_AddItemToObject(o, "values", v ? v : cJSON_CreateArray());
	cJSON_AddStringToObject(o, "description", PQgetvalue(r, row, 3));
	cJSON_AddStringToObject(o, "created_at", PQgetvalue(r, row, 4));
	cJSON_AddStringToObject(o, "updated_at", PQgetvalue(r, row, 5));
	return o;
}

cJSON *nb_pg_group_list(PGconn *conn, const char *id, nb_err *err)
{
	const char *p[1] = {id};
	PGresult *r = id ? nb_pg_exec(conn, "SELECT " GROUP_COLS " FROM saved_groups WHERE id = $1",
				      1, p, err)
			 : nb_pg_exec(conn, "SELECT " GROUP_COLS " FROM saved_groups ORDER BY id", 0,
				      NULL, err);
	if (!r)
		return NULL;
	cJSON *arr = cJSON_CreateArray();
	for (int i = 0; i < PQntuples(r); i++)
		cJSON_AddItemToArray(arr, group_row(r, i));
	PQclear(r);
	return arr;
}

int nb_pg_group_save(PGconn *conn, const char *actor, int create, const char *id,
		     const char *values, const char *attribute_key, const char *description,
		     nb_err *err)
{
	if (!id || !*id)
		return nb_err_set(err, NB_EINPUT, "a saved group needs an id");
	if (values) {
		cJSON *v = cJSON_Parse(values);
		int ok = cJSON_IsArray(v);
		cJSON_Delete(v);
		if (!ok)
			return nb_err_set(err, NB_EINPUT, "--values must be a JSON array (got '%s')",
					  values);
	}
	if (nb_pg_begin(conn, err))
		return -1;
	cJSON *before = NULL;
	if (!create) {
		before = nb_pg_group_list(conn, id, err);
		if (!before)
			goto fail;
		if (!cJSON_GetArraySize(before)) {
			nb_err_set(err, NB_EINPUT, "no saved group \"%s\"", id);
			goto fail;
		}
	}
	/* "" clears the attribute key */
	const char *ak = attribute_key && !*attribute_key ? NULL : attribute_key;
	const char *p[6] = {id, values, ak, description, attribute_key ? "1" : NULL, NULL};
	int rc = create ? nb_pg_run(conn,
				    "INSERT INTO saved_groups (id, \"values\", attribute_key, description)"
				    " VALUES ($1, COALESCE($2::jsonb, '[]'), $3, COALESCE($4, ''))",
				    4, p, err)
			: nb_pg_run(conn,
				    "UPDATE saved_groups SET \"values\" = COALESCE($2::jsonb, \"values\"),"
				    " attribute_key = CASE WHEN $5::text IS NULL THEN attribute_key"
				    " ELSE $3 END, description = COALESCE($4, description),"
				    " updated_at = now() WHERE id = $1",
				    5, p, err);
	if (rc)
		goto fail;
	cJSON *after = nb_pg_group_list(conn, id, err);
	if (!after)
		goto fail;
	rc = nb_pg_audit(conn, actor, create ? "create" : "update", "saved_group", id,
			 before ? cJSON_GetArrayItem(before, 0) : NULL, cJSON_GetArrayItem(after, 0),
			 err);
	cJSON_Delete(after);
	if (rc || nb_pg_commit(conn, err))
		goto fail;
	cJSON_Delete(before);
	return 0;
fail:
	cJSON_Delete(before);
	nb_pg_rollback(conn);
	return -1;
}

cJSON *nb_pg_groups_load(PGconn *conn, nb_err *err)
{
	PGresult *r = nb_pg_exec(conn, "SELECT id, attribute_key, \"values\"::text FROM saved_groups",
				 0, NULL, err);
	if (!r)
		return NULL;
	cJSON *o = cJSON_CreateObject();
	for (int i = 0; i < PQntuples(r); i++) {
		cJSON *g = cJSON_CreateObject();
		cJSON_AddStringToObject(g, "type", "list");
		if (!PQgetisnull(r, i, 1))
			cJSON_AddStringToObject(g, "attributeKey", PQgetvalue(r, i, 1));
		cJSON *v = cJSON_Parse(PQgetvalue(r, i, 2));
		cJSON_AddItemToObject(g, "values", v ? v : cJSON_CreateArray());
		cJSON_AddItemToObject(o, PQgetvalue(r, i, 0), g);
	}
	PQclear(r);
	return o;
}
