/* pg/audit.c — nb_pg audit log: one row per change, in the change's transaction. */
#include "neonblue/pg.h"

#include "neonblue/base.h"

#include <stdlib.h>

int nb_pg_audit(PGconn *conn, const char *actor, const char *action, const char *entity,
		const char *key, const cJSON *before, const cJSON *after, nb_err *err)
{
	char *b = before ? nb_json_print(before) : NULL;
	char *a = after ? nb_json_print(after) : NULL;
	const char *p[] = {actor && *actor ? actor : "unknown", action, entity, key, b, a};
	int rc = nb_pg_run(conn,
			   "INSERT INTO audit_log (actor, action, entity, key, before, after) "
			   "VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb)",
			   6, p, err);
	free(b);
	free(a);
	return rc;
}

static cJSON *json_or_null(PGresult *r, int i, int c)
{
	cJSON *j = PQgetisnull(r, i, c) ? NULL : cJSON_Parse(PQgetvalue(r, i, c));
	return j ? j : cJSON_CreateNull();
}

cJSON *nb_pg_audit_list(PGconn *conn, const char *entity, const char *key, nb_err *err)
{
	const char *p[] = {entity, key};
	PGresult *r = nb_pg_exec(conn,
				 "SELECT id, to_char(at AT TIME ZONE 'UTC', "
				 "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), actor, action, entity, key, "
				 "before::text, after::text FROM audit_log "
				 "WHERE entity = $1 AND key = $2 ORDER BY id",
				 2, p, err);
	if (!r)
		return NULL;
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < PQntuples(r); i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", strtod(PQgetvalue(r, i, 0), NULL));
		static const char *names[] = {"at", "actor", "action", "entity", "key"};
		for (int c = 0; c < 5; c++)
			cJSON_AddStringToObject(o, names[c], PQgetvalue(r, i, c + 1));
		cJSON_AddItemToObject(o, "before", json_or_null(r, i, 6));
		cJSON_AddItemToObject(o, "after", json_or_null(r, i, 7));
		cJSON_AddItemToArray(a, o);
	}
	PQclear(r);
	return a;
}
