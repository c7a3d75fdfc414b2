/* test_stack.c — nb_stack pieces that need no database server: stack.conf,
 * home checks, status of a stopped stack, port choice, the Kafka host on a
 * fixed port. (tests/integration/stack.sh runs the real stack.) */
#include "../../core/stack/internal.h"
#include "nbtest.h"
#include "neonblue/stack.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp[256];

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void conf_is_read(void)
{
	char p[512];
	snprintf(p, sizeof p, "%s/stack.conf", tmp);
	write_text(p, "# c\nPG_PORT=20001\nCLICKHOUSE_HTTP_PORT=20002\nCLICKHOUSE_TCP_PORT=20003\n"
		      "KAFKA_PORTS=20004,20005\n");
	nb_stack st;
	nb_err err;
	nb_err_clear(&err);
	CHECK_INT(nb_stack_load(&st, tmp, &err), 0);
	CHECK_INT(st.pg_port, 20001);
	CHECK_INT(st.ch_http_port, 20002);
	CHECK_INT(st.ch_tcp_port, 20003);
	CHECK_INT(st.kafka_brokers, 2);
	CHECK_INT(st.kafka_ports[0], 20004);
	CHECK_INT(st.kafka_ports[1], 20005);
	CHECK_STR(st.home, tmp);
	CHECK(strstr(st.exe, "test_stack") != NULL);
	unlink(p);
}

/* A 2x2 cluster's stack.conf: node k's ports, and the status lists ZooKeeper
 * and the four nodes (clickhouse … clickhouse4), not more. */
static void cluster_conf_is_read(void)
{
	char p[512];
	snprintf(p, sizeof p, "%s/stack.conf", tmp);
	write_text(p, "PG_PORT=20001\nCLICKHOUSE_HTTP_PORT=20002\nCLICKHOUSE_TCP_PORT=20003\n"
		      "CLICKHOUSE_SHARDS=2\nCLICKHOUSE_REPLICAS=2\nZOOKEEPER_PORT=20009\n"
		      "CLICKHOUSE_NODE_PORTS=20002:20003:20010,20011:20012:20013,"
		      "20014:20015:20016,20017:20018:20019\n");
	nb_stack st;
	nb_err err;
	nb_err_clear(&err);
	CHECK_INT(nb_stack_load(&st, tmp, &err), 0);
	CHECK_INT(nb_stack_ch_nodes(&st), 4);
	CHECK_INT(nb_stack_ch_http_port(&st, 1), 20002);
	CHECK_INT(nb_stack_ch_tcp_port(&st, 1), 20003);
	CHECK_INT(nb_stack_ch_http_port(&st, 3), 20014);
	CHECK_INT(nb_stack_ch_tcp_port(&st, 4), 20018);
	CHECK_INT(st.ch_node_ports[0][2], 20010);
	CHECK_INT(st.zk_port, 20009);
	nb_stack_status s;
	CHECK_INT(nb_stack_status_get(tmp, &s, &err), 0);
	char names[256] = "";
	for (int i = 0; i < s.n; i++)
		snprintf(names + strlen(names), sizeof names - strlen(names), "%s ", s.c[i].name);
	CHECK_STR(names, "kafka postgresql zookeeper clickhouse clickhouse2 clickhouse3 clickhouse4 "
			 "cdc sink serve ");
	CHECK_STR(s.c[6].endpoint, "http://127.0.0.1:20017");
	unlink(p);
}

static void relative_home_refused(void)
{
	nb_stack st;
	nb_err err;
	nb_err_clear(&err);
	CHECK_INT(nb_stack_load(&st, "some/dir", &err), -1);
	CHECK_INT(err.code, NB_EINPUT);
	CHECK(strstr(err.msg, "'some/dir' must be an absolute path") != NULL);
}

static void unsafe_home_refused(void)
{
	nb_stack_status s;
	nb_err err;
	nb_err_clear(&err);
	char home[300];
	snprintf(home, sizeof home, "%s/x<y", tmp);
	CHECK_INT(nb_stack_up(home, NULL, NULL, &s, &err), -1);
	CHECK_INT(err.code, NB_EINPUT);
	CHECKF(strstr(err.msg, "contains '<'") != NULL, "message: %s", err.msg);
	CHECK(access(home, F_OK) != 0); /* nothing created */
}

static void stopped_stack_status(void)
{
	nb_stack_status s;
	nb_err err;
	nb_err_clear(&err);
	CHECK_INT(nb_stack_status_get(tmp, &s, &err), 0);
	CHECK_INT(s.supervisor_pid, 0);
	/* sink2… only with up --sinks N; zookeeper, clickhouse2… only with a cluster */
	CHECK_INT(s.n, nb_stack_ncomponents - (NB_STACK_MAX_SINKS - 1) - NB_STACK_MAX_CH_NODES);
	for (int i = 0; i < s.n; i++)
		CHECKF(strcmp(s.c[i].name, "zookeeper") && strncmp(s.c[i].name, "clickhouse2", 11),
		       "%s listed in a one-node stack", s.c[i].name);
	CHECK(s.n >= 3);
	CHECK(!nb_stack_status_ok(&s));
	cJSON *j = nb_stack_status_json(tmp, &s);
	CHECK(cJSON_IsArray(j));
	CHECK_INT(cJSON_GetArraySize(j), s.n + 1);
	cJSON *first = cJSON_GetArrayItem(j, 0);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(first, "name")), "supervisor");
	const char *names[] = {"kafka", "postgresql", "clickhouse"};
	for (int i = 0; i < 3; i++) {
		cJSON *c = cJSON_GetArrayItem(j, i + 1);
		CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(c, "name")), names[i]);
		CHECK(cJSON_IsNull(cJSON_GetObjectItem(c, "pid")));
		CHECK(cJSON_IsFalse(cJSON_GetObjectItem(c, "healthy")));
		CHECK(cJSON_IsString(cJSON_GetObjectItem(c, "endpoint")));
		CHECK(cJSON_IsNumber(cJSON_GetObjectItem(c, "restarts")));
	}
	cJSON_Delete(j);
}

static void ports_below_ephemeral_range(void)
{
	int lo = 32768, hi = 60999;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f) {
		CHECK_INT(fscanf(f, "%d %d", &lo, &hi), 2);
		fclose(f);
	}
	for (int i = 0; i < 20; i++) {
		int p = nb_stack_pick_port();
		CHECKF(p > 0 && (lo - 1 - 15000 < 1000 || p < lo), "port %d (ephemeral from %d)", p,
		       lo);
		CHECK(nb_stack_port_free(p));
	}
}

static void pid_check_matches_whole_paths(void)
{
	char log[300];
	snprintf(log, sizeof log, "%s/spawn.log", tmp);
	char *argv[] = {"/bin/sh", "-c", "sleep 5", "/tmp/nbx/s2", NULL};
	nb_err err;
	nb_err_clear(&err);
	pid_t pid = nb_stack_spawn(NULL, argv, log, 0, &err);
	CHECK(pid > 0);
	int seen = 0;
	for (int i = 0; i < 100 && !seen; i++) {
		seen = nb_stack_pid_alive(pid, "/tmp/nbx/s2");
		if (!seen)
			nb_stack_sleep_ms(20);
	}
	CHECK(seen);
	CHECK(!nb_stack_pid_alive(pid, "/tmp/nbx/s"));
	CHECK(nb_stack_pid_alive(pid, "/tmp/nbx"));
	CHECK(nb_stack_pid_alive(pid, NULL));
	kill(pid, SIGKILL);
	/* a zombie is not alive */
	nb_stack_sleep_ms(100);
	CHECK(!nb_stack_pid_alive(pid, NULL));
	waitpid(pid, NULL, 0);
	CHECK(!nb_stack_pid_alive(pid, NULL));
}

static pid_t serve_kafka(int port, int partitions)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		nb_err err;
		nb_err_clear(&err);
		int rc = nb_stack_kafka_serve(&port, 1, partitions, "nbt", &err);
		if (rc)
			fprintf(stderr, "kafka host: %s\n", err.msg);
		_exit(rc ? 3 : 0);
	}
	return pid;
}

static void kafka_on_fixed_port(void)
{
	int port = nb_stack_pick_port();
	pid_t pid = serve_kafka(port, 3);
	int up = 0;
	for (int i = 0; i < 200 && !up; i++) {
		up = nb_stack_tcp_probe(port, 200) == 0;
		if (!up)
			nb_stack_sleep_ms(50);
	}
	CHECKF(up, "the mock cluster does not listen on the asked port %d", port);
	CHECK(!nb_stack_port_free(port));
	/* --partitions 3: the pipeline's topics exist with 3 partitions */
	char es[256], bs[64];
	snprintf(bs, sizeof bs, "127.0.0.1:%d", port);
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_conf_set(c, "bootstrap.servers", bs, es, sizeof es);
	rd_kafka_conf_set(c, "allow.auto.create.topics", "false", es, sizeof es);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, es, sizeof es);
	const rd_kafka_metadata_t *md = NULL;
	CHECK(rk && rd_kafka_metadata(rk, 1, NULL, &md, 10000) == 0);
	int events = -1, dlq = -1;
	for (int i = 0; md && i < md->topic_cnt; i++) {
		if (!strcmp(md->topics[i].topic, "nbt.public.events"))
			events = md->topics[i].partition_cnt;
		if (!strcmp(md->topics[i].topic, "nbt.dlq"))
			dlq = md->topics[i].partition_cnt;
	}
	CHECKF(events == 3 && dlq == 3, "partitions: events %d, dlq %d", events, dlq);
	if (md)
		rd_kafka_metadata_destroy(md);
	if (rk)
		rd_kafka_destroy(rk);
	/* a second host on the same port says so and exits */
	pid_t second = serve_kafka(port, 0);
	int st = 0;
	waitpid(second, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	/* stops cleanly on SIGTERM */
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
	CHECK(nb_stack_tcp_probe(port, 200) != 0);
}

int main(void)
{
	nbt_suite = "stack_unit";
	snprintf(tmp, sizeof tmp, "/tmp/nbstack.XXXXXX");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(conf_is_read);
	RUN(cluster_conf_is_read);
	RUN(relative_home_refused);
	RUN(unsafe_home_refused);
	RUN(stopped_stack_status);
	RUN(ports_below_ephemeral_range);
	RUN(pid_check_matches_whole_paths);
	RUN(kafka_on_fixed_port);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
	if (system(cmd) != 0)
		perror("rm");
	return NBT_DONE();
}
