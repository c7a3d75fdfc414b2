/* pg_assign.h — sticky, persisted assignment: the first decision of nb_assign
 * for (experiment, user) is stored in PostgreSQL and returned ever after. */
#ifndef NEONBLUE_PG_ASSIGN_H
#define NEONBLUE_PG_ASSIGN_H

#include "neonblue/err.h"
#include "neonblue/pg.h"

#include <cjson/cJSON.h>
#include <libpq-fe.h>

/* Users decided and stored per round trip by nb_pg_assign_batch callers. */
#define NB_PG_ASSIGN_BATCH 1000

typedef struct nb_pg_assignment {
	int in_experiment;
	int is_new;             /* this call created the stored row */
	const char *reason;     /* static sentence: "stored assignment", "assigned by hash", ... */
	char variant[NB_PG_KEY_MAX + 1];
	char source[16];        /* hash | forced; "" when not in experiment */
	char assigned_at[40];   /* ISO-8601 UTC; "" when not in experiment */
} nb_pg_assignment;

/* Loads experiment key for assignment: unknown key or a status other than
 * running → NB_EINPUT with a sentence naming the status. */
int nb_pg_assign_load(PGconn *conn, const char *key, nb_pg_experiment *out, nb_err *err);

/* Assigns n users (attrs[i] may be NULL; attrs itself may be NULL): stored
 * assignments win; the others are decided with nb_assign and inserted with
 * INSERT … ON CONFLICT DO NOTHING, then read back, so concurrent callers agree.
 * Users outside targeting/namespace/coverage get in_experiment 0 and a reason,
 * and nothing is stored. At most NB_PG_ASSIGN_BATCH users per call is
 * efficient; any n works. */
int nb_pg_assign_batch(PGconn *conn, const nb_pg_experiment *e, int n, const char *const *users,
		       const cJSON *const *attrs, nb_pg_assignment *out, nb_err *err);

/* The JSON of one result: experiment, user, in_experiment, variant (key or
 * null), reason, source, assigned_at, new. Caller deletes. */
cJSON *nb_pg_assignment_to_json(const char *experiment, const char *user,
				const nb_pg_assignment *a);

/* Appends s to b as one element of a PostgreSQL array literal (quoted,
 * escaped; NULL → NULL), preceded by a comma unless first. */
struct nb_buf;
void nb_pg_array_elem(struct nb_buf *b, const char *s, int first);

#endif
