/* pg_audit.c — nb_pg audit log: one row per change, in the change's transaction. */
#include "neonblue/pg.h"

#include "neonblue/json.h"

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
