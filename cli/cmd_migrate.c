/* cmd_migrate.c — `neonblue migrate`: apply the schema migrations compiled into the library. */
#include "cli.h"
#include "neonblue/pg.h"

#include <stdio.h>
#include <string.h>

static const char *migrate_usage =
	"usage: neonblue migrate [--json]\n"
	"\n"
	"Applies the PostgreSQL migrations compiled into neonblue that the database has\n"
	"not recorded yet (table schema_migrations), each in its own transaction, under\n"
	"an advisory lock so concurrent runs are safe. Running it again does nothing.\n"
	"Exit status: 0 success, 1 server failure, 2 bad usage.\n"
	"\n" CLI_GLOBAL_HELP;

int cmd_migrate(cli_ctx *ctx, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(migrate_usage, stdout);
		return 0;
	}
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else
			return cli_usage_error("migrate", "unexpected argument '%s'", argv[i]);
	}
	nb_err err;
	nb_err_clear(&err);
	PGconn *conn = nb_pg_connect(&ctx->cfg, &err);
	if (!conn)
		return cli_fail(&err);
	int pg_applied = 0;
	int rc = nb_pg_migrate(conn, &pg_applied, &err);
	PQfinish(conn);
	if (rc)
		return cli_fail(&err);

	/* ClickHouse migrations go here (the sink engineer's nb_ch_migrate), after
	 * PostgreSQL, e.g.:
	 *   int ch_applied = 0;
	 *   if (ctx->cfg.clickhouse_set && nb_ch_migrate(&ctx->cfg, &ch_applied, &err))
	 *           return cli_fail(&err);
	 * and add "clickhouse_applied" to the output below. */

	if (json)
		printf("{\"postgresql_applied\":%d}\n", pg_applied);
	else
		printf("postgresql: %d migration%s applied\n", pg_applied, pg_applied == 1 ? "" : "s");
	return 0;
}
