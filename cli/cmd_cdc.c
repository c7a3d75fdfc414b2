/* cmd_cdc.c — `neonblue cdc`: run the PostgreSQL → Kafka relay; `cdc lag`, `cdc drop-slot`. */
#include "cli.h"
#include "neonblue/cdc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static volatile sig_atomic_t cdc_stop;

static void cdc_on_signal(int sig)
{
	(void)sig;
	cdc_stop = 1;
}

static const char cdc_help[] =
    "usage: neonblue cdc [--with-schema] [--prefix PREFIX] [--slot NAME]\n"
    "                    [--publication NAME] [--embedded] [--window N]\n"
    "                    [--status FILE] [--quiet]\n"
    "       neonblue cdc lag [--slot NAME] [--json]\n"
    "       neonblue cdc drop-slot [--slot NAME]\n"
    "\n"
    "Streams every row change of NeonBlue's PostgreSQL tables to Kafka topics\n"
    "PREFIX.<schema>.<table> (default prefix neonblue) as Debezium PostgreSQL\n"
    "envelopes; key = the primary key as JSON, a tombstone after each delete.\n"
    "Creates the publication (default neonblue, publish_via_partition_root) and\n"
    "the logical slot (default neonblue_cdc, pgoutput) if missing; a new slot\n"
    "first snapshots the existing rows (op \"r\"). The LSN confirmed to\n"
    "PostgreSQL only covers transactions Kafka fully acknowledged. Waits out\n"
    "PostgreSQL and Kafka outages; stops cleanly on SIGTERM or SIGINT.\n"
    "\n"
    "  --with-schema   wrap keys and values as {\"schema\":…,\"payload\":…}\n"
    "  --embedded      Kafka is the embedded, non-durable mock: confirm only what\n"
    "                  ClickHouse holds (--clickhouse; the sink's cdc_progress) and\n"
    "                  keep at most --window messages (default 20000) per partition\n"
    "                  produced but not yet in ClickHouse\n"
    "  --status FILE   JSON status rewritten every second (default HOME/run/cdc.status)\n"
    "  --quiet         no log lines on stderr\n"
    "  lag             WAL bytes the slot is behind (pg_current_wal_lsn() minus\n"
    "                  confirmed_flush_lsn); -1 when the slot does not exist\n"
    "  drop-slot       drop the slot: the next start snapshots again\n"
    "\n"
    "Needs --pg and --kafka (or NEONBLUE_PG, NEONBLUE_KAFKA). See docs/cdc.md.\n\n" NB_FRONT_GLOBAL_HELP;

static int cdc_admin(nb_front *ctx, int argc, char **argv)
{
	const char *slot = "neonblue_cdc";
	int json = 0;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--slot") && i + 1 < argc)
			slot = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else
			return nb_front_usage_error("cdc", "unknown argument '%s'", argv[i]);
	}
	nb_err err;
	if (nb_config_require_pg(&ctx->cfg, &err) < 0)
		return nb_front_fail(&err);
	if (!strcmp(argv[1], "drop-slot"))
		return nb_cdc_drop_slot(ctx->cfg.pg, slot, &err) ? nb_front_fail(&err) : 0;
	int64_t lag;
	if (nb_cdc_lag_bytes(ctx->cfg.pg, slot, &lag, &err))
		return nb_front_fail(&err);
	if (json)
		printf("{\"slot\":\"%s\",\"lag_bytes\":%lld}\n", slot, (long long)lag);
	else
		printf("%lld\n", (long long)lag);
	return 0;
}

int cmd_cdc(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		fputs(cdc_help, stdout);
		return 0;
	}
	if (argc > 1 && (!strcmp(argv[1], "lag") || !strcmp(argv[1], "drop-slot")))
		return cdc_admin(ctx, argc, argv);
	nb_cdc_opts o = {.log = nb_front_log_line, .log_ud = (void *)"cdc"};
	o.prefix = ctx->cfg.topic_prefix[0] ? ctx->cfg.topic_prefix : "neonblue";
	const char *status = NULL;
	int embedded = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int rc = 0;
		if (!strcmp(a, "--with-schema"))
			o.with_schema = 1;
		else if (!strcmp(a, "--prefix") && v)
			o.prefix = argv[++i];
		else if (!strcmp(a, "--slot") && v)
			o.slot = argv[++i];
		else if (!strcmp(a, "--publication") && v)
			o.publication = argv[++i];
		else if (!strcmp(a, "--status") && v)
			status = argv[++i];
		else if (!strcmp(a, "--embedded"))
			embedded = 1;
		else if (!strcmp(a, "--window") && ++i)
			rc = nb_front_positive_int("cdc", a, v, &o.window_msgs);
		else if (!strcmp(a, "--quiet"))
			o.log = NULL;
		else
			return nb_front_usage_error("cdc", "unknown argument '%s'", a);
		if (rc)
			return rc;
	}
	nb_err err;
	if (nb_config_require_pg(&ctx->cfg, &err) < 0 ||
	    nb_config_require_kafka(&ctx->cfg, &err) < 0 ||
	    (embedded && nb_config_require_clickhouse(&ctx->cfg, &err) < 0))
		return nb_front_fail(&err);
	o.pg = ctx->cfg.pg;
	o.kafka = ctx->cfg.kafka;
	o.clickhouse = embedded ? ctx->cfg.clickhouse : NULL;
	char path[NB_PATH_MAX + 32];
	if (!status) {
		snprintf(path, sizeof path, "%s/run", ctx->cfg.home);
		mkdir(ctx->cfg.home, 0755);
		mkdir(path, 0755);
		snprintf(path, sizeof path, "%s/run/cdc.status", ctx->cfg.home);
		status = path;
	}
	o.status_path = status;

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cdc_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (nb_cdc_run(&o, &cdc_stop, &err) < 0)
		return nb_front_fail(&err);
	return 0;
}
