/* cmd_stack.c — `neonblue stack up|down|status` (and the hidden `supervise`
 * and `kafka` that the stack runs itself). */
#include "cli.h"
#include "neonblue/stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_text[] =
    "usage: neonblue stack up [--pg-port N] [--ch-port N] [--ch-tcp-port N]\n"
    "                         [--kafka-port N] [--kafka-brokers N] [--partitions N]\n"
    "                         [--sinks N] [--clickhouse-shards S]\n"
    "                         [--clickhouse-replicas R] [--timeout S] [--json]\n"
    "                         [--no-pipeline | --pipeline]\n"
    "       neonblue stack status [--json]\n"
    "       neonblue stack down\n\n"
    "The embedded stack: PostgreSQL, ClickHouse and an in-memory Kafka (librdkafka's\n"
    "mock cluster) on free 127.0.0.1 ports, kept alive by a supervisor process.\n"
    "Its home is --home DIR, else $NEONBLUE_HOME, else ~/.local/share/neonblue;\n"
    "the endpoints go to HOME/stack.env, which every neonblue command reads.\n\n"
    "  up      start it (initdb on first use), apply migrations, return when every\n"
    "          component answers; a running stack is reported as it is\n"
    "  status  health, pid and endpoint of each component, lag of the relay and the\n"
    "          sink (exit 1 if not all healthy)\n"
    "  down    stop everything cleanly; the data stays in the home\n\n"
    "Ports are kept from one `up` to the next when still free; --pg-port and the\n"
    "others ask for a given one (refused when taken).\n"
    "The supervisor also runs the CDC relay (`cdc --embedded`) and the sink once\n"
    "the migrations ran; --no-pipeline runs the servers only (kept in stack.conf\n"
    "until --pipeline).\n"
    "--partitions N (1-64) creates the pipeline's topics (neonblue.public.<table>,\n"
    "neonblue.dlq) with N partitions each (else the mock cluster's default, 4);\n"
    "--sinks N (1-4) runs N sinks (sink, sink2 …) in one consumer group, which\n"
    "share the partitions; `status` shows each one's partitions and lag (from its\n"
    "status file), then the group's lag by the offsets Kafka holds committed\n"
    "(asked of Kafka; --json: group_lag on the kafka component). Both are\n"
    "kept in stack.conf and apply at an `up` after `down`.\n"
    "--clickhouse-shards S --clickhouse-replicas R (S*R at most 4; default 1 and 1,\n"
    "one server) start S*R ClickHouse servers (clickhouse, clickhouse2 …; data in\n"
    "HOME/clickhouse-<shard>-<replica>) as cluster `neonblue` and ZooKeeper\n"
    "(Debian's zookeeperd), and run the migrations' cluster form: sharded by user,\n"
    "replicated (docs/operations.md, \"ClickHouse cluster\"). stack.env then names\n"
    "NEONBLUE_CLICKHOUSE_CLUSTER and NEONBLUE_CLICKHOUSE_NODES. Kept in stack.conf.\n";

static void say_stderr(void *ud, const char *msg)
{
	(void)ud;
	fprintf(stderr, "neonblue stack: %s\n", msg);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int int_arg(const char *cmd, const char *flag, const char *v, int *out)
{
	char *end;
	long x = strtol(v, &end, 10);
	if (!*v || *end || x < 0 || x > 65535)
		return nb_front_usage_error(cmd, "%s wants a number from 0 to 65535, not '%s'", flag, v);
	*out = (int)x;
	return 0;
}

static double num(const cJSON *o, const char *k, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* A sink's third line: the partitions it holds, per topic, with their lag:
 * "partitions: events 0,2 (lag 0), assignments 0,2 (lag 3)". */
static void print_partitions(const cJSON *parts)
{
	if (!cJSON_IsArray(parts))
		return;
	printf("%-11s partitions:", "");
	if (!cJSON_GetArraySize(parts))
		printf(" none assigned");
	const char *shown[64];
	int nshown = 0;
	const cJSON *p, *q;
	cJSON_ArrayForEach(p, parts)
	{
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "topic");
		if (!cJSON_IsString(t) || nshown == 64)
			continue;
		int seen = 0;
		for (int i = 0; i < nshown && !seen; i++)
			seen = !strcmp(shown[i], t->valuestring);
		if (seen)
			continue;
		shown[nshown++] = t->valuestring;
		const char *dot = strrchr(t->valuestring, '.');
		printf("%s %s ", nshown > 1 ? "," : "", dot ? dot + 1 : t->valuestring);
		double lag = 0;
		int first = 1;
		cJSON_ArrayForEach(q, parts)
		{
			const cJSON *u = cJSON_GetObjectItemCaseSensitive(q, "topic");
			if (!cJSON_IsString(u) || strcmp(u->valuestring, t->valuestring))
				continue;
			printf("%s%.0f", first ? "" : ",", num(q, "partition", -1));
			lag += num(q, "lag", 0);
			first = 0;
		}
		printf(" (lag %.0f)", lag);
	}
	putchar('\n');
}

/* The second line of cdc and sink: their lag figures (from the same fields
 * as `status --json`). */
static void print_lag(const nb_stack_status *s, const char *name)
{
	cJSON *list = nb_stack_status_json(s->home, s), *c;
	cJSON_ArrayForEach(c, list)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(c, "name");
		if (!cJSON_IsString(n) || strcmp(n->valuestring, name) ||
		    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c, "pid")))
			continue;
		if (!strcmp(name, "cdc")) {
			double w = num(c, "wal_bytes_behind", -1);
			const cJSON *st = cJSON_GetObjectItemCaseSensitive(c, "state");
			printf("%-11s lag: ", "");
			if (w >= 0)
				printf("%.0f WAL bytes behind (slot)", w);
			else
				printf("WAL bytes behind unknown");
			printf(", %.0f messages not yet in ClickHouse; %s\n",
			       num(c, "not_in_clickhouse", 0),
			       cJSON_IsString(st) ? st->valuestring : "no status yet");
		} else {
			double since = num(c, "seconds_since_last_row", -1);
			printf("%-11s lag: %.0f messages (Kafka consumer lag), ", "",
			       num(c, "kafka_lag", 0));
			if (since >= 0)
				printf("last row in ClickHouse %.1f s ago", since);
			else
				printf("no row in ClickHouse yet");
			printf(", %.0f in the DLQ", num(c, "dlq", 0));
			double lost = num(c, "lost_messages", 0);
			if (lost > 0)
				printf(", %.0f lost by Kafka (replayed by the relay)", lost);
			putchar('\n');
			print_partitions(cJSON_GetObjectItemCaseSensitive(c, "partitions"));
		}
	}
	cJSON_Delete(list);
}

/* The group's line after the sinks: its lag by the offsets Kafka holds
 * committed (not the sinks' status files), and which partitions lag. */
static void print_group_lag(const nb_stack_status *s)
{
	nb_err err;
	nb_err_clear(&err);
	cJSON *g = nb_stack_group_lag(s->home, &err);
	printf("%-11s ", "group");
	if (!g) {
		printf("lag by Kafka's committed offsets unknown: %s\n", err.msg);
		return;
	}
	const cJSON *parts = cJSON_GetObjectItemCaseSensitive(g, "partitions"), *p;
	int behind = 0;
	cJSON_ArrayForEach(p, parts) behind += num(p, "lag", 0) > 0;
	printf("%s: lag %.0f messages by Kafka's committed offsets (%d partitions, %d behind)",
	       cJSON_GetObjectItemCaseSensitive(g, "group")->valuestring, num(g, "lag_total", 0),
	       cJSON_GetArraySize(parts), behind);
	int shown = 0;
	cJSON_ArrayForEach(p, parts)
	{
		if (num(p, "lag", 0) <= 0 || shown == 8)
			continue;
		const char *t = cJSON_GetObjectItemCaseSensitive(p, "topic")->valuestring;
		const char *dot = strrchr(t, '.');
		printf("%s %s [%.0f] %.0f", shown++ ? "," : ":", dot ? dot + 1 : t,
		       num(p, "partition", -1), num(p, "lag", 0));
	}
	putchar('\n');
	cJSON_Delete(g);
}

static void print_status(const nb_stack_status *s)
{
	int sinks = 0;
	if (s->supervisor_pid)
		printf("%-11s running (pid %d) in %s\n", "supervisor", s->supervisor_pid, s->home);
	else
		printf("%-11s not running (home %s)\n", "supervisor", s->home);
	for (int i = 0; i < s->n; i++) {
		const nb_stack_comp_status *c = &s->c[i];
		if (c->off) {
			printf("%-11s off       (stack up --no-pipeline)\n", c->name);
			continue;
		}
		char pid[32] = "-";
		if (c->pid)
			snprintf(pid, sizeof pid, "%d", c->pid);
		printf("%-11s %-9s pid %-8s %s", c->name, c->healthy ? "healthy" : "DOWN", pid,
		       c->endpoint);
		if (c->restarts)
			printf("  (%d restart%s)", c->restarts, c->restarts == 1 ? "" : "s");
		if (!c->healthy && s->supervisor_pid)
			printf("  — %s (log %s)", c->detail, c->log);
		putchar('\n');
		if (c->pid && (!strcmp(c->name, "cdc") || !strncmp(c->name, "sink", 4)))
			print_lag(s, c->name);
		sinks += c->pid && !strncmp(c->name, "sink", 4);
	}
	if (sinks)
		print_group_lag(s);
}

static void print_json(nb_front *ctx, const nb_stack_status *s)
{
	cJSON *j = nb_stack_status_json(ctx->cfg.home, s), *c;
	/* the sinks' group as Kafka holds it, on the kafka component */
	cJSON_ArrayForEach(c, j)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(c, "name");
		if (!s->supervisor_pid || !cJSON_IsString(n) || strcmp(n->valuestring, "kafka") ||
		    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c, "pid")))
			continue;
		nb_err err;
		nb_err_clear(&err);
		cJSON *g = nb_stack_group_lag(ctx->cfg.home, &err);
		cJSON_AddItemToObject(c, "group_lag", g ? g : cJSON_CreateString(err.msg));
	}
	nb_front_print_json(j);
	cJSON_Delete(j);
}

static int do_up(nb_front *ctx, int argc, char **argv)
{
	nb_stack_opts o;
	memset(&o, 0, sizeof o);
	o.say = say_stderr;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		struct {
			const char *flag;
			int *slot;
		} nums[] = {{"--pg-port", &o.pg_port},
			    {"--ch-port", &o.ch_http_port},
			    {"--ch-tcp-port", &o.ch_tcp_port},
			    {"--kafka-port", &o.kafka_port},
			    {"--kafka-brokers", &o.kafka_brokers},
			    {"--partitions", &o.partitions},
			    {"--sinks", &o.sinks},
			    {"--clickhouse-shards", &o.ch_shards},
			    {"--clickhouse-replicas", &o.ch_replicas},
			    {"--timeout", &o.timeout_s}};
		int hit = 0;
		for (size_t k = 0; k < sizeof nums / sizeof *nums && !hit; k++) {
			if (strcmp(argv[i], nums[k].flag))
				continue;
			if (i + 1 >= argc)
				return nb_front_usage_error("stack up", "%s needs a value", argv[i]);
			if (int_arg("stack up", argv[i], argv[i + 1], nums[k].slot))
				return 2;
			i++;
			hit = 1;
		}
		if (hit)
			continue;
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--no-pipeline"))
			o.pipeline = -1;
		else if (!strcmp(argv[i], "--pipeline"))
			o.pipeline = 1;
		else
			return nb_front_usage_error("stack up", "unknown option '%s'", argv[i]);
	}
	nb_stack_status s;
	nb_err err;
	nb_err_clear(&err);
	double t0 = now_s();
	if (nb_stack_up(ctx->cfg.home, NULL, &o, &s, &err))
		return nb_front_fail(&err);
	if (json) {
		print_json(ctx, &s);
		return 0;
	}
	if (s.already)
		printf("the stack already runs in %s\n", s.home);
	else
		printf("stack up in %s (%.1f s)\n", s.home, now_s() - t0);
	print_status(&s);
	printf("endpoints: %s/stack.env\n", s.home);
	return 0;
}

static int do_status(nb_front *ctx, int argc, char **argv)
{
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else
			return nb_front_usage_error("stack status", "unknown option '%s'", argv[i]);
	}
	nb_stack_status s;
	nb_err err;
	nb_err_clear(&err);
	if (nb_stack_status_get(ctx->cfg.home, &s, &err))
		return nb_front_fail(&err);
	if (json)
		print_json(ctx, &s);
	else
		print_status(&s);
	return nb_stack_status_ok(&s) ? 0 : 1;
}

static int do_down(nb_front *ctx, int argc, char **argv)
{
	if (argc > 1)
		return nb_front_usage_error("stack down", "unknown option '%s'", argv[1]);
	nb_stack_opts o;
	memset(&o, 0, sizeof o);
	o.say = say_stderr;
	int was = 0;
	nb_err err;
	nb_err_clear(&err);
	double t0 = now_s();
	if (nb_stack_down(ctx->cfg.home, &o, &was, &err))
		return nb_front_fail(&err);
	if (was)
		printf("stack down in %s (%.1f s); the data stays\n", ctx->cfg.home, now_s() - t0);
	else
		printf("no stack runs in %s\n", ctx->cfg.home);
	return 0;
}

static int do_kafka(int argc, char **argv)
{
	int ports[NB_STACK_MAX_BROKERS], n = 0, partitions = 0;
	const char *prefix = NULL;
	for (int i = 1; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "--partitions")) {
			if (int_arg("stack kafka", "--partitions", argv[i + 1], &partitions))
				return 2;
			continue;
		}
		if (!strcmp(argv[i], "--prefix")) {
			prefix = argv[i + 1];
			continue;
		}
		if (strcmp(argv[i], "--ports"))
			continue;
		char buf[256];
		snprintf(buf, sizeof buf, "%s", argv[i + 1]);
		char *save = NULL;
		for (char *t = strtok_r(buf, ",", &save); t && n < NB_STACK_MAX_BROKERS;
		     t = strtok_r(NULL, ",", &save))
			if (int_arg("stack kafka", "--ports", t, &ports[n++]))
				return 2;
	}
	if (!n)
		return nb_front_usage_error("stack kafka", "--ports P[,P…] is required");
	nb_err err;
	nb_err_clear(&err);
	if (nb_stack_kafka_serve(ports, n, partitions, prefix, &err))
		return nb_front_fail(&err);
	return 0;
}

int cmd_stack(nb_front *ctx, int argc, char **argv)
{
	if (argc < 2 || nb_front_wants_help(argc, argv)) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		fputs("\n" NB_FRONT_GLOBAL_HELP, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *sub = argv[1];
	if (!strcmp(sub, "up"))
		return do_up(ctx, argc - 1, argv + 1);
	if (!strcmp(sub, "status"))
		return do_status(ctx, argc - 1, argv + 1);
	if (!strcmp(sub, "down"))
		return do_down(ctx, argc - 1, argv + 1);
	if (!strcmp(sub, "kafka"))
		return do_kafka(argc - 1, argv + 1);
	if (!strcmp(sub, "supervise")) {
		nb_err err;
		nb_err_clear(&err);
		return nb_stack_supervise(ctx->cfg.home, &err) ? nb_front_fail(&err) : 0;
	}
	return nb_front_usage_error("stack", "unknown subcommand '%s' (up, status, down)", sub);
}
