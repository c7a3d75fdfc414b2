/* cmd_migrate.c — `neonblue migrate`: apply the schema migrations compiled into the library. */
#include "cli.h"
#include "neonblue/ch.h"
#include "neonblue/pg.h"

#include <stdio.h>
#include <string.h>

static const char *migrate_usage =
	"usage: neonblue migrate [--json]\n"
	"\n"
	"Applies the PostgreSQL migrations compiled into neonblue that the database has\n"
	"not recorded yet (table schema_migrations), each in its own transaction, under\n"
	"an advisory lock so concurrent runs are safe; then, when a ClickHouse is\n"
	"configured (--clickhouse, NEONBLUE_CLICKHOUSE or the local stack), the\n"
	"ClickHouse migrations; with a ClickHouse cluster configured\n"
	"(--clickhouse-cluster, NEONBLUE_CLICKHOUSE_CLUSTER) their cluster form: tables\n"
	"with a user_id sharded by it, the others replicated, DDL ON CLUSTER (every\n"
	"node must be up; docs/operations.md). Running it again does nothing. --json prints\n"
	"{\"postgresql_applied\": N, \"clickhouse_applied\": N or null}.\n"
	"Exit status: 0 success, 1 server failure, 2 bad usage.\n"
	"\n" NB_FRONT_GLOBAL_HELP;

int cmd_migrate(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		fputs(migrate_usage, stdout);
		return 0;
	}
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else
			return nb_front_usage_error("migrate", "unexpected argument '%s'", argv[i]);
	}
	nb_err err;
	nb_err_clear(&err);
	PGconn *conn = nb_pg_connect(&ctx->cfg, &err);
	if (!conn)
		return nb_front_fail(&err);
	int pg_applied = 0;
	int rc = nb_pg_migrate(conn, &pg_applied, &err);
	PQfinish(conn);
	if (rc)
		return nb_front_fail(&err);

	int ch_applied = -1; /* -1: no ClickHouse configured */
	if (ctx->cfg.clickhouse_set) {
		ch_applied = nb_ch_migrate_cluster(ctx->cfg.clickhouse, ctx->cfg.clickhouse_cluster, &err);
		if (ch_applied < 0)
			return nb_front_fail(&err);
	}
	if (json) {
		printf("{\"postgresql_applied\":%d,\"clickhouse_applied\":", pg_applied);
		if (ch_applied < 0)
			printf("null}\n");
		else
			printf("%d}\n", ch_applied);
	} else {
		printf("postgresql: %d migration%s applied\n", pg_applied, pg_applied == 1 ? "" : "s");
		if (ch_applied >= 0)
			printf("clickhouse: %d migration%s applied\n", ch_applied,
			       ch_applied == 1 ? "" : "s");
	}
	return 0;
}
