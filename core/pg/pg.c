/* pg/pg.c — nb_pg: PostgreSQL connection, parameterised queries, transactions, migrations. */
#include "neonblue/pg.h"

#include "neonblue/base.h"
#include "../sql/embed.h"

#include <libpq-events.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first line of a libpq message, without its trailing newline. */
static void first_line(char *dst, size_t n, const char *msg)
{
	snprintf(dst, n, "%s", msg && *msg ? msg : "unknown error");
	dst[strcspn(dst, "\n")] = '\0';
}

/* Notices (e.g. "already exists, skipping") are not for the user's terminal. */
static void quiet_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

PGconn *nb_pg_connect(const nb_config *cfg, nb_err *err)
{
	if (nb_config_require_pg(cfg, err))
		return NULL;
	const char *keys[] = {"dbname", "fallback_application_name", "connect_timeout", NULL};
	const char *vals[] = {cfg->pg, "neonblue", "10", NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c) {
		nb_err_set(err, NB_ESERVER, "cannot connect to PostgreSQL: out of memory in libpq");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		char line[512];
		first_line(line, sizeof line, PQerrorMessage(c));
		const char *h = PQhost(c), *p = PQport(c);
		nb_err_set(err, NB_ESERVER,
			   "cannot connect to PostgreSQL at %s:%s: %s (check NEONBLUE_PG, --pg or "
			   "`neonblue stack status`)",
			   h && *h ? h : "(default host)", p && *p ? p : "5432", line);
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	PGresult *r = PQexec(c, "SET TimeZone TO 'UTC'; SET client_encoding TO 'UTF8'");
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok) {
		char line[512];
		first_line(line, sizeof line, PQerrorMessage(c));
		nb_err_set(err, NB_ESERVER, "PostgreSQL session setup failed: %s", line);
		PQfinish(c);
		return NULL;
	}
	return c;
}

static int result_error(PGconn *conn, PGresult *r, nb_err *err)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
	char line[700];
	if (msg)
		snprintf(line, sizeof line, "%s", msg);
	else
		first_line(line, sizeof line, PQerrorMessage(conn));
	int code = state && (!strncmp(state, "22", 2) || !strncmp(state, "23", 2)) ? NB_EINPUT
										    : NB_ESERVER;
	if (detail && *detail)
		return nb_err_set(err, code, "PostgreSQL: %s (%.250s)", line, detail);
	return nb_err_set(err, code, "PostgreSQL: %s", line);
}

PGresult *nb_pg_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
		     nb_err *err)
{
	PGresult *r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	result_error(conn, r, err);
	PQclear(r);
	return NULL;
}

/* The names prepared on a connection: libpq instance data, freed with the
 * connection (PGEVT_CONNDESTROY), so a reconnected one starts empty. */
typedef struct pg_prepared {
	char **names;
	size_t n;
} pg_prepared;

static int pg_prepared_event(PGEventId id, void *info, void *pass)
{
	(void)pass;
	if (id == PGEVT_CONNDESTROY) {
		PGconn *c = ((PGEventConnDestroy *)info)->conn;
		pg_prepared *p = PQinstanceData(c, pg_prepared_event);
		if (p) {
			for (size_t i = 0; i < p->n; i++)
				free(p->names[i]);
			free(p->names);
			free(p);
		}
	}
	return 1;
}

int nb_pg_prepare(PGconn *conn, const char *name, const char *sql, int nparams, nb_err *err)
{
	pg_prepared *p = PQinstanceData(conn, pg_prepared_event);
	for (size_t i = 0; p && i < p->n; i++)
		if (!strcmp(p->names[i], name))
			return 0;
	if (!p) {
		if (!PQregisterEventProc(conn, pg_prepared_event, "nb_pg_prepare", NULL))
			return nb_err_set(err, NB_ESERVER, "PostgreSQL: cannot register a libpq event");
		p = nb_xcalloc(1, sizeof *p);
		PQsetInstanceData(conn, pg_prepared_event, p);
	}
	PGresult *r = PQprepare(conn, name, sql, nparams, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		result_error(conn, r, err);
		PQclear(r);
		return -1;
	}
	PQclear(r);
	p->names = nb_xrealloc(p->names, (p->n + 1) * sizeof *p->names);
	p->names[p->n++] = nb_xstrdup(name);
	return 0;
}

PGresult *nb_pg_exec_prepared(PGconn *conn, const char *name, const char *sql, int nparams,
			      const char *const *params, nb_err *err)
{
	if (nb_pg_prepare(conn, name, sql, nparams, err))
		return NULL;
	PGresult *r = PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	result_error(conn, r, err);
	PQclear(r);
	return NULL;
}

int nb_pg_run(PGconn *conn, const char *sql, int nparams, const char *const *params, nb_err *err)
{
	PGresult *r = nb_pg_exec(conn, sql, nparams, params, err);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

int nb_pg_begin(PGconn *conn, nb_err *err)
{
	return nb_pg_run(conn, "BEGIN", 0, NULL, err);
}

int nb_pg_commit(PGconn *conn, nb_err *err)
{
	return nb_pg_run(conn, "COMMIT", 0, NULL, err);
}

void nb_pg_rollback(PGconn *conn)
{
	if (PQtransactionStatus(conn) == PQTRANS_IDLE)
		return;
	PGresult *r = PQexec(conn, "ROLLBACK");
	PQclear(r);
}

int nb_pg_ensure_event_partitions(PGconn *conn, const char *from, const char *to, nb_err *err)
{
	const char *p[] = {from, to};
	return nb_pg_run(conn, "SELECT neonblue_ensure_event_partitions($1::timestamptz, $2::timestamptz)",
			 2, p, err);
}

/* Runs one migration file and records it, in one transaction. */
static int apply_one(PGconn *conn, const char *name, const char *text, nb_err *err)
{
	if (nb_pg_begin(conn, err))
		return -1;
	PGresult *r = PQexec(conn, text);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		nb_err e2;
		result_error(conn, r, &e2);
		PQclear(r);
		nb_pg_rollback(conn);
		return nb_err_set(err, NB_ESERVER, "migration %s failed: %s", name, e2.msg);
	}
	PQclear(r);
	const char *p[] = {name};
	if (nb_pg_run(conn, "INSERT INTO schema_migrations (name) VALUES ($1)", 1, p, err) ||
	    nb_pg_commit(conn, err)) {
		nb_pg_rollback(conn);
		return -1;
	}
	return 0;
}

static int is_applied(PGconn *conn, const char *name, int *yes, nb_err *err)
{
	const char *p[] = {name};
	PGresult *r = nb_pg_exec(conn, "SELECT 1 FROM schema_migrations WHERE name = $1", 1, p, err);
	if (!r)
		return -1;
	*yes = PQntuples(r) > 0;
	PQclear(r);
	return 0;
}

static int migrate_locked(PGconn *conn, int *applied, nb_err *err)
{
	if (nb_pg_run(conn,
		      "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, "
		      "applied_at timestamptz NOT NULL DEFAULT now())",
		      0, NULL, err))
		return -1;
	for (int i = 0; i < nb_sql_nfiles; i++) {
		const char *name = nb_sql_files[i].name;
		if (strncmp(name, "pg/", 3))
			continue;
		int yes = 0;
		if (is_applied(conn, name + 3, &yes, err))
			return -1;
		if (yes)
			continue;
		if (apply_one(conn, name + 3, nb_sql_files[i].text, err))
			return -1;
		(*applied)++;
	}
	return 0;
}

int nb_pg_migrate(PGconn *conn, int *applied, nb_err *err)
{
	int n = 0;
	const char *lock = "SELECT pg_advisory_lock(hashtext('neonblue_migrate'))";
	const char *unlock = "SELECT pg_advisory_unlock(hashtext('neonblue_migrate'))";
	if (nb_pg_run(conn, lock, 0, NULL, err))
		return -1;
	int rc = migrate_locked(conn, &n, err);
	nb_err e2;
	nb_pg_run(conn, unlock, 0, NULL, &e2);
	if (applied)
		*applied = n;
	return rc;
}
