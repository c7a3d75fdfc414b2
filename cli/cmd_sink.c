/* cmd_sink.c — `neonblue sink`: run the Kafka → ClickHouse sink until a signal. */
#include "cli.h"
#include "neonblue/sink.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static volatile sig_atomic_t sink_stop;

static void sink_on_signal(int sig)
{
	(void)sig;
	sink_stop = 1;
}

static const char sink_help[] =
	"usage: neonblue sink [--group NAME] [--batch-rows N] [--batch-ms MS]\n"
	"                     [--prefix PREFIX] [--status FILE] [--threads N] [--no-migrate]\n"
	"                     [--quiet|--verbose]\n"
	"       neonblue sink status [--status FILE] [--json]\n"
	"\n"
	"Consumes the Debezium topics ^PREFIX\\. (default prefix neonblue) in a Kafka\n"
	"consumer group (default neonblue-sink) and inserts the rows into ClickHouse\n"
	"database neonblue, in batches of --batch-rows rows (default 50000) or\n"
	"--batch-ms milliseconds (default 200), whichever comes first. Offsets are\n"
	"committed only after ClickHouse stored a batch. Messages it cannot map go to\n"
	"PREFIX.dlq with the reason. Runs until SIGTERM or SIGINT, then stores and\n"
	"commits the batch in hand.\n"
	"\n"
	"Reads what the built-in relay (neonblue cdc) and Debezium 2.7's PostgreSQL\n"
	"connector write, with or without schemas: a truncate (op t) marks the\n"
	"table's older rows deleted in ClickHouse (a monthly partition's: that\n"
	"month's); PREFIX.transaction, PREFIX.message and __debezium-heartbeat.PREFIX\n"
	"are consumed and counted as ignored.\n"
	"\n"
	"`sink status` prints the counters of the status file (messages, rows,\n"
	"tombstones, truncates, ignored, dlq, lag, gaps); --json prints the file.\n"
	"\n"
	"  --status FILE  JSON status rewritten every second (default HOME/run/sink.status):\n"
	"                 consumer lag per partition, seconds since the last row reached\n"
	"                 ClickHouse, dead-letter and loss counters\n"
	"  --threads N    threads mapping messages to rows (default 4, at most 8); one more\n"
	"                 thread inserts into ClickHouse while the next batch fills\n"
	"  --no-migrate   do not apply the ClickHouse migrations at start\n"
	"  --quiet        no log lines on stderr\n"
	"  --verbose      a log line for every batch stored\n"
	"\n"
	"Needs --kafka and --clickhouse (or NEONBLUE_KAFKA, NEONBLUE_CLICKHOUSE).\n"
	"See docs/sink.md.\n\n" NB_FRONT_GLOBAL_HELP;

static void sink_status_path(nb_front *ctx, char *path, size_t n, int create)
{
	snprintf(path, n, "%s/run", ctx->cfg.home);
	if (create) {
		mkdir(ctx->cfg.home, 0755);
		mkdir(path, 0755);
	}
	snprintf(path, n, "%s/run/sink.status", ctx->cfg.home);
}

/* `neonblue sink status`: the status file's counters. */
static int sink_status_cmd(nb_front *ctx, int argc, char **argv)
{
	const char *file = NULL;
	int json = 0;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--status") && i + 1 < argc)
			file = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else
			return nb_front_usage_error("sink status", "unknown argument '%s'", argv[i]);
	}
	char path[NB_PATH_MAX + 32];
	if (!file) {
		sink_status_path(ctx, path, sizeof path, 0);
		file = path;
	}
	char *text = nb_buf_read_file(file);
	cJSON *st = text ? cJSON_Parse(text) : NULL;
	if (!st) {
		fprintf(stderr, "neonblue sink status: no status file %s (is the sink running?)\n",
			file);
		free(text);
		return 1;
	}
	if (json) {
		fputs(text, stdout);
	} else {
		static const char *const keys[] = {"messages", "rows",	  "tombstones", "truncates",
						   "ignored",  "dlq",	  "lag_total",  "gaps",
						   "lost_messages"};
		for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, keys[i]);
			printf("%-14s %.0f\n", keys[i], cJSON_IsNumber(v) ? v->valuedouble : 0.0);
		}
		const cJSON *w = cJSON_GetObjectItemCaseSensitive(st, "waiting_for");
		printf("%-14s %s\n", "waiting_for", cJSON_IsString(w) ? w->valuestring : "-");
	}
	cJSON_Delete(st);
	free(text);
	return 0;
}

int cmd_sink(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		fputs(sink_help, stdout);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "status"))
		return sink_status_cmd(ctx, argc, argv);
	nb_sink_opts o = {.group = "neonblue-sink",
			  .migrate = 1,
			  .log = nb_front_log_line,
			  .log_ud = (void *)"sink"};
	o.prefix = ctx->cfg.topic_prefix[0] ? ctx->cfg.topic_prefix : "neonblue";
	const char *status = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int rc = 0;
		if (!strcmp(a, "--group") && v)
			o.group = argv[++i];
		else if (!strcmp(a, "--prefix") && v)
			o.prefix = argv[++i];
		else if (!strcmp(a, "--status") && v)
			status = argv[++i];
		else if (!strcmp(a, "--batch-rows") && ++i)
			rc = nb_front_positive_int("sink", a, v, &o.batch_rows);
		else if (!strcmp(a, "--batch-ms") && ++i)
			rc = nb_front_positive_int("sink", a, v, &o.batch_ms);
		else if (!strcmp(a, "--threads") && ++i)
			rc = nb_front_positive_int("sink", a, v, &o.threads);
		else if (!strcmp(a, "--no-migrate"))
			o.migrate = 0;
		else if (!strcmp(a, "--quiet"))
			o.log = NULL;
		else if (!strcmp(a, "--verbose"))
			o.verbose = 1;
		else
			return nb_front_usage_error("sink", "unknown argument '%s'", a);
		if (rc)
			return rc;
	}
	nb_err err;
	if (nb_config_require_kafka(&ctx->cfg, &err) < 0 ||
	    nb_config_require_clickhouse(&ctx->cfg, &err) < 0)
		return nb_front_fail(&err);
	o.kafka = ctx->cfg.kafka;
	o.clickhouse = ctx->cfg.clickhouse;
	o.clickhouse_cluster = ctx->cfg.clickhouse_cluster;
	char path[NB_PATH_MAX + 32];
	if (!status) {
		sink_status_path(ctx, path, sizeof path, 1);
		status = path;
	}
	o.status_path = status;

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = sink_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (nb_sink_run(&o, &sink_stop, &err) < 0)
		return nb_front_fail(&err);
	return 0;
}
