/* stack/components.c — the table of supervised components and how each one
 * is prepared, started, checked and reached. Add a component here (see
 * docs/operations.md, "Adding a supervised component"). */
#include "internal.h"

#include "neonblue/cdc.h"
#include "neonblue/sink.h"

#include <errno.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------- PostgreSQL ---------- */

static const char *pg_bindir(void)
{
	static const char *dirs[] = {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
				     "/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/14/bin",
				     "/usr/lib/postgresql/13/bin"};
	const char *env = getenv("NEONBLUE_PG_BINDIR");
	if (env && *env)
		return env;
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		char p[256];
		snprintf(p, sizeof p, "%s/postgres", dirs[i]);
		if (access(p, X_OK) == 0)
			return dirs[i];
	}
	return dirs[0];
}

/* The unix socket directory: HOME/pg/run, or /tmp when that path is too long
 * for a socket (the socket's name carries the port, so stacks do not clash). */
static void pg_sockdir(const nb_stack *st, char *out, size_t n)
{
	nb_stack_path(st->home, out, n, "pg/run");
	if (strlen(out) + sizeof "/.s.PGSQL.65535" > 107)
		snprintf(out, n, "/tmp");
}

static void pg_argv(const nb_stack *st, nb_stack_argv *a)
{
	char sock[NB_PATH_MAX];
	pg_sockdir(st, sock, sizeof sock);
	nb_stack_argv_add(a, "%s/postgres", pg_bindir());
	nb_stack_argv_add(a, "-D");
	nb_stack_argv_add(a, "%s/pg/data", st->home);
	nb_stack_argv_add(a, "-p");
	nb_stack_argv_add(a, "%d", st->pg_port);
	nb_stack_argv_add(a, "-h");
	nb_stack_argv_add(a, "127.0.0.1");
	nb_stack_argv_add(a, "-k");
	nb_stack_argv_add(a, "%s", sock);
}

static void pg_endpoint(const nb_stack *st, char *out, size_t n)
{
	snprintf(out, n, "host=127.0.0.1 port=%d user=neonblue dbname=neonblue", st->pg_port);
}

static int pg_health(const nb_stack *st, int pid, char *why, size_t n)
{
	(void)pid;
	char ci[256];
	snprintf(ci, sizeof ci,
		 "host=127.0.0.1 port=%d user=neonblue dbname=postgres connect_timeout=2",
		 st->pg_port);
	PGPing r = PQping(ci);
	if (r == PQPING_OK)
		return 0;
	snprintf(why, n, "%s",
		 r == PQPING_REJECT
		     ? "PostgreSQL rejects connections (starting up or shutting down)"
		 : r == PQPING_NO_RESPONSE ? "PostgreSQL does not answer on its port"
					   : "PostgreSQL answered oddly to a ping");
	return -1;
}

/* Settings that need no port: written once into postgresql.conf by initdb time. */
static const char pg_conf[] = "\n# --- NeonBlue embedded stack ---\n"
			      "listen_addresses = '127.0.0.1'\n"
			      "wal_level = logical\n"
			      "max_wal_senders = 10\n"
			      "max_replication_slots = 10\n"
			      "max_connections = 100\n"
			      "timezone = 'UTC'\n"
			      "log_timezone = 'UTC'\n"
			      "logging_collector = off\n"
			      "log_line_prefix = '%m [%p] '\n";

static const char pg_hba[] = "# NeonBlue embedded stack: loopback only, trust (no passwords).\n"
			     "local   all          all                 trust\n"
			     "host    all          all   127.0.0.1/32  trust\n"
			     "local   replication  all                 trust\n"
			     "host    replication  all   127.0.0.1/32  trust\n";

static int chown_to(const nb_stack *st, const char *path, const char *user, nb_err *err)
{
	if (!st->privileged)
		return 0;
	uid_t u;
	gid_t g;
	if (nb_stack_user(user, &u, &g))
		return nb_err_set(err, NB_ESERVER,
				  "system user '%s' does not exist: install the Debian package "
				  "that creates it (make deps)",
				  user);
	if (chown(path, u, g) != 0)
		return nb_err_set(err, NB_ESERVER, "cannot chown %s to %s: %s", path, user,
				  strerror(errno));
	return 0;
}

static int mkdir_owned(const nb_stack *st, const char *path, mode_t mode, const char *user,
		       nb_err *err)
{
	if (mkdir(path, mode) != 0 && errno != EEXIST)
		return nb_err_set(err, NB_ESERVER, "cannot create %s: %s", path, strerror(errno));
	chmod(path, mode);
	return user ? chown_to(st, path, user, err) : 0;
}

static int append_file(const char *path, const char *text, nb_err *err)
{
	FILE *f = fopen(path, "a");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		return nb_err_set(err, NB_ESERVER, "cannot write %s: %s", path, strerror(errno));
	return 0;
}

static int pg_prepare(const nb_stack *st, nb_stack_say_fn say, void *ud, nb_err *err)
{
	const char *user = st->privileged ? "postgres" : NULL;
	char dir[NB_PATH_MAX + 64], data[NB_PATH_MAX + 64], ver[NB_PATH_MAX + 64];
	nb_stack_path(st->home, dir, sizeof dir, "pg");
	nb_stack_path(st->home, data, sizeof data, "pg/data");
	nb_stack_path(st->home, ver, sizeof ver, "pg/data/PG_VERSION");
	if (mkdir_owned(st, dir, 0755, user, err))
		return -1;
	nb_stack_path(st->home, dir, sizeof dir, "pg/run");
	if (mkdir_owned(st, dir, 0755, user, err))
		return -1;
	if (access(ver, F_OK) == 0)
		return 0;
	if (mkdir_owned(st, data, 0700, user, err))
		return -1;
	if (say)
		say(ud, "initialising the PostgreSQL cluster (initdb)");
	nb_stack_argv a = {0};
	nb_stack_argv_add(&a, "%s/initdb", pg_bindir());
	nb_stack_argv_add(&a, "-D");
	nb_stack_argv_add(&a, "%s", data);
	nb_stack_argv_add(&a, "-U");
	nb_stack_argv_add(&a, "neonblue");
	nb_stack_argv_add(&a, "--auth=trust");
	nb_stack_argv_add(&a, "-E");
	nb_stack_argv_add(&a, "UTF8");
	nb_stack_argv_add(&a, "--locale=C");
	nb_stack_argv_add(&a, "--no-sync");
	char log[NB_PATH_MAX + 64];
	nb_stack_path(st->home, log, sizeof log, "logs/initdb.log");
	int rc = nb_stack_run(user, a.v, log, err);
	nb_stack_argv_done(&a);
	if (rc)
		return -1;
	char conf[NB_PATH_MAX + 64];
	nb_stack_path(st->home, conf, sizeof conf, "pg/data/postgresql.conf");
	if (append_file(conf, pg_conf, err))
		return -1;
	nb_stack_path(st->home, conf, sizeof conf, "pg/data/pg_hba.conf");
	if (nb_stack_write_file(conf, pg_hba, err))
		return -1;
	return chown_to(st, conf, "postgres", err);
}

/* ---------- ClickHouse ---------- */

static const char *ch_binary(int *needs_server_arg)
{
	static const char *bins[] = {"/usr/bin/clickhouse-server", "/usr/sbin/clickhouse-server"};
	*needs_server_arg = 0;
	for (size_t i = 0; i < sizeof bins / sizeof *bins; i++)
		if (access(bins[i], X_OK) == 0)
			return bins[i];
	*needs_server_arg = 1;
	return "/usr/bin/clickhouse";
}

int nb_stack_ch_nodes(const nb_stack *st)
{
	int s = st->ch_shards > 0 ? st->ch_shards : 1, r = st->ch_replicas > 0 ? st->ch_replicas : 1;
	return s * r;
}

int nb_stack_ch_http_port(const nb_stack *st, int k)
{
	return k <= 1 ? st->ch_http_port : st->ch_node_ports[k - 1][0];
}

int nb_stack_ch_tcp_port(const nb_stack *st, int k)
{
	return k <= 1 ? st->ch_tcp_port : st->ch_node_ports[k - 1][1];
}

static int ch_clustered(const nb_stack *st)
{
	return nb_stack_ch_nodes(st) > 1;
}

static int ch_replicas(const nb_stack *st)
{
	return st->ch_replicas > 0 ? st->ch_replicas : 1;
}

/* Node k's directory under HOME: "clickhouse" for the single node, else
 * "clickhouse-<shard>-<replica>". */
static void ch_dir(const nb_stack *st, int k, char *out, size_t n)
{
	if (!ch_clustered(st))
		snprintf(out, n, "%s/clickhouse", st->home);
	else
		snprintf(out, n, "%s/clickhouse-%d-%d", st->home, (k - 1) / ch_replicas(st) + 1,
			 (k - 1) % ch_replicas(st) + 1);
}

static void ch_argv_k(const nb_stack *st, nb_stack_argv *a, int k)
{
	int srv;
	char dir[NB_PATH_MAX + 64];
	ch_dir(st, k, dir, sizeof dir);
	nb_stack_argv_add(a, "%s", ch_binary(&srv));
	if (srv)
		nb_stack_argv_add(a, "server");
	nb_stack_argv_add(a, "--config-file=%s/config.xml", dir);
}

static void ch_endpoint_k(const nb_stack *st, char *out, size_t n, int k)
{
	snprintf(out, n, "http://127.0.0.1:%d", nb_stack_ch_http_port(st, k));
}

static int ch_health_k(const nb_stack *st, int pid, char *why, size_t n, int k)
{
	(void)pid;
	char body[256];
	int port = nb_stack_ch_http_port(st, k);
	if (nb_stack_http(port, "/?query=SELECT%201", NULL, body, sizeof body, 2000) == 0 &&
	    !strcmp(body, "1\n"))
		return 0;
	snprintf(why, n, "ClickHouse does not answer SELECT 1 over HTTP on port %d", port);
	return -1;
}

static void ch_describe_k(const nb_stack *st, cJSON *o, int k)
{
	if (!ch_clustered(st))
		return;
	cJSON_AddStringToObject(o, "cluster", NB_STACK_CH_CLUSTER);
	cJSON_AddNumberToObject(o, "shard", (k - 1) / ch_replicas(st) + 1);
	cJSON_AddNumberToObject(o, "replica", (k - 1) % ch_replicas(st) + 1);
}

static int ch_enabled_k(const nb_stack *st, int k)
{
	return k <= nb_stack_ch_nodes(st);
}

/* The entry points of the component table for ClickHouse node k. */
#define CH_FNS(k, id)                                                                          \
	static void id##_argv(const nb_stack *st, nb_stack_argv *a) { ch_argv_k(st, a, k); }    \
	static int id##_health(const nb_stack *st, int pid, char *why, size_t n)               \
	{                                                                                      \
		return ch_health_k(st, pid, why, n, k);                                        \
	}                                                                                      \
	static void id##_endpoint(const nb_stack *st, char *out, size_t n)                     \
	{                                                                                      \
		ch_endpoint_k(st, out, n, k);                                                  \
	}                                                                                      \
	static void id##_describe(const nb_stack *st, cJSON *o) { ch_describe_k(st, o, k); }
/* Nodes 2..4 run only in a cluster that large (node 1 always runs). */
#define CH_NODE_FNS(k, id)                                                                     \
	CH_FNS(k, id)                                                                          \
	static int id##_enabled(const nb_stack *st) { return ch_enabled_k(st, k); }
CH_FNS(1, ch)
CH_NODE_FNS(2, ch2)
CH_NODE_FNS(3, ch3)
CH_NODE_FNS(4, ch4)

static const char ch_users_head[] =
    "<?xml version=\"1.0\"?>\n<!-- NeonBlue embedded stack: user default, no password, "
    "loopback only. -->\n<yandex>\n"
    "  <profiles><default><max_memory_usage>4000000000</max_memory_usage>"
    "<use_uncompressed_cache>0</use_uncompressed_cache>";
/* Cluster mode (docs/operations.md, "ClickHouse cluster"): an insert into a
 * Distributed table is acknowledged once on its shard, and queries and
 * inserts go to the first live replica of each shard. */
static const char ch_users_cluster[] =
    "<insert_distributed_sync>1</insert_distributed_sync>"
    "<load_balancing>in_order</load_balancing>";
static const char ch_users_tail[] =
    "</default>"
    "<readonly><readonly>1</readonly></readonly></profiles>\n"
    "  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>"
    "<profile>default</profile><quota>default</quota></default></users>\n"
    "  <quotas><default><interval><duration>3600</duration><queries>0</queries>"
    "<errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows>"
    "<execution_time>0</execution_time></interval></default></quotas>\n"
    "</yandex>\n";

/* remote_servers, macros, ZooKeeper and the interserver port of node k. */
static void ch_cluster_config(const nb_stack *st, FILE *m, int k)
{
	int r = ch_replicas(st), n = nb_stack_ch_nodes(st);
	int shard = (k - 1) / r + 1, rep = (k - 1) % r + 1;
	fprintf(m,
		"  <interserver_http_host>127.0.0.1</interserver_http_host>\n"
		"  <interserver_http_port>%d</interserver_http_port>\n"
		"  <remote_servers><" NB_STACK_CH_CLUSTER ">\n",
		st->ch_node_ports[k - 1][2]);
	for (int i = 1; i <= n; i++) {
		if ((i - 1) % r == 0)
			fprintf(m, "    <shard><internal_replication>true</internal_replication>");
		fprintf(m, "<replica><host>127.0.0.1</host><port>%d</port></replica>",
			nb_stack_ch_tcp_port(st, i));
		if ((i - 1) % r == r - 1)
			fprintf(m, "</shard>\n");
	}
	fprintf(m,
		"  </" NB_STACK_CH_CLUSTER "></remote_servers>\n"
		"  <zookeeper><node><host>127.0.0.1</host><port>%d</port></node>"
		"<session_timeout_ms>30000</session_timeout_ms></zookeeper>\n"
		"  <macros><shard>%d</shard><replica>r%d</replica><replica_all>s%dr%d</replica_all>"
		"</macros>\n"
		"  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>\n",
		st->zk_port, shard, rep, shard, rep);
}

static int ch_write_config(const nb_stack *st, int k, nb_err *err)
{
	char d[NB_PATH_MAX + 64];
	ch_dir(st, k, d, sizeof d);
	char *xml = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&xml, &len);
	fprintf(
	    m,
	    "<?xml version=\"1.0\"?>\n<!-- Written by `neonblue stack up`: rewritten on each "
	    "start. -->\n<yandex>\n"
	    "  <logger><level>information</level>"
	    "<log>%s/logs/clickhouse-server.log</log>"
	    "<errorlog>%s/logs/clickhouse-server.err.log</errorlog>"
	    "<size>50M</size><count>3</count></logger>\n"
	    "  <listen_host>127.0.0.1</listen_host>\n"
	    "  <http_port>%d</http_port>\n  <tcp_port>%d</tcp_port>\n"
	    "  <max_connections>256</max_connections>\n"
	    "  <keep_alive_timeout>10</keep_alive_timeout>\n"
	    "  <max_concurrent_queries>100</max_concurrent_queries>\n"
	    "  <uncompressed_cache_size>268435456</uncompressed_cache_size>\n"
	    "  <mark_cache_size>268435456</mark_cache_size>\n"
	    "  <path>%s/data/</path>\n"
	    "  <tmp_path>%s/data/tmp/</tmp_path>\n"
	    "  <user_files_path>%s/data/user_files/</user_files_path>\n"
	    "  <format_schema_path>%s/data/format_schemas/</format_schema_path>\n"
	    "  <users_config>users.xml</users_config>\n"
	    "  <default_profile>default</default_profile>\n"
	    "  <default_database>default</default_database>\n"
	    "  <timezone>UTC</timezone>\n"
	    "  <mlock_executable>false</mlock_executable>\n"
	    "  <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>\n"
	    "  <max_session_timeout>3600</max_session_timeout>\n"
	    "  <default_session_timeout>60</default_session_timeout>\n",
	    d, d, nb_stack_ch_http_port(st, k), nb_stack_ch_tcp_port(st, k), d, d, d, d);
	if (ch_clustered(st))
		ch_cluster_config(st, m, k);
	fputs("</yandex>\n", m);
	fclose(m);
	char path[NB_PATH_MAX + 128];
	snprintf(path, sizeof path, "%s/config.xml", d);
	int rc = nb_stack_write_file(path, xml, err);
	free(xml);
	if (rc)
		return -1;
	chmod(path, 0644);
	snprintf(path, sizeof path, "%s/users.xml", d);
	nb_buf u;
	nb_buf_init(&u);
	nb_buf_puts(&u, ch_users_head);
	if (ch_clustered(st))
		nb_buf_puts(&u, ch_users_cluster);
	nb_buf_puts(&u, ch_users_tail);
	rc = nb_stack_write_file(path, u.data, err);
	nb_buf_done(&u);
	if (rc)
		return -1;
	chmod(path, 0644);
	return 0;
}

static int ch_prepare(const nb_stack *st, nb_err *err)
{
	const char *user = st->privileged ? "clickhouse" : NULL;
	static const char *dirs[] = {"", "/data", "/logs"};
	for (int k = 1; k <= nb_stack_ch_nodes(st); k++) {
		char d[NB_PATH_MAX + 64];
		ch_dir(st, k, d, sizeof d);
		for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
			char p[NB_PATH_MAX + 128];
			snprintf(p, sizeof p, "%s%s", d, dirs[i]);
			if (mkdir_owned(st, p, 0755, user, err))
				return -1;
		}
		if (ch_write_config(st, k, err))
			return -1;
	}
	return 0;
}

/* ---------- ZooKeeper (Debian's zookeeperd), for the ClickHouse cluster ---------- */

#define ZK_JAR "/usr/share/java/zookeeper.jar"

static int zk_enabled(const nb_stack *st)
{
	return ch_clustered(st);
}

static void zk_argv(const nb_stack *st, nb_stack_argv *a)
{
	nb_stack_argv_add(a, "/usr/bin/java");
	nb_stack_argv_add(a, "-Xmx256m");
	nb_stack_argv_add(a, "-XX:+UseSerialGC");
	nb_stack_argv_add(a, "-Dzookeeper.admin.enableServer=false");
	/* its log through java.util.logging to stderr, the component's log */
	nb_stack_argv_add(a, "-cp");
	nb_stack_argv_add(a, ZK_JAR ":/usr/share/java/slf4j-jdk14.jar");
	nb_stack_argv_add(a, "org.apache.zookeeper.server.ZooKeeperServerMain");
	nb_stack_argv_add(a, "%s/zookeeper/zoo.cfg", st->home);
}

static void zk_endpoint(const nb_stack *st, char *out, size_t n)
{
	snprintf(out, n, "127.0.0.1:%d", st->zk_port);
}

/* "ruok", the one four-letter command zoo.cfg allows. */
static int zk_health(const nb_stack *st, int pid, char *why, size_t n)
{
	(void)pid;
	char ans[64];
	if (nb_stack_tcp_ask(st->zk_port, "ruok", 4, ans, sizeof ans, 2000) == 0 &&
	    !strcmp(ans, "imok"))
		return 0;
	snprintf(why, n, "ZooKeeper does not answer ruok on port %d", st->zk_port);
	return -1;
}

static int zk_prepare(const nb_stack *st, nb_err *err)
{
	if (!zk_enabled(st))
		return 0;
	if (access(ZK_JAR, R_OK) != 0 || access("/usr/bin/java", X_OK) != 0)
		return nb_err_set(err, NB_ESERVER,
				  "a ClickHouse cluster needs ZooKeeper: %s or /usr/bin/java is "
				  "missing (install Debian's zookeeperd: make deps)",
				  ZK_JAR);
	const char *user = st->privileged ? "zookeeper" : NULL;
	char p[NB_PATH_MAX + 64];
	nb_stack_path(st->home, p, sizeof p, "zookeeper");
	if (mkdir_owned(st, p, 0755, user, err))
		return -1;
	nb_stack_path(st->home, p, sizeof p, "zookeeper/data");
	if (mkdir_owned(st, p, 0755, user, err))
		return -1;
	char *cfg = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&cfg, &len);
	fprintf(m,
		"# Written by `neonblue stack up`: rewritten on each start.\n"
		"tickTime=2000\ninitLimit=10\nsyncLimit=5\n"
		"dataDir=%s/zookeeper/data\n"
		"clientPort=%d\nclientPortAddress=127.0.0.1\n"
		"maxClientCnxns=0\n"
		"admin.enableServer=false\n"
		"4lw.commands.whitelist=ruok\n"
		"autopurge.snapRetainCount=3\nautopurge.purgeInterval=1\n",
		st->home, st->zk_port);
	fclose(m);
	nb_stack_path(st->home, p, sizeof p, "zookeeper/zoo.cfg");
	int rc = nb_stack_write_file(p, cfg, err);
	free(cfg);
	if (rc)
		return -1;
	chmod(p, 0644);
	return 0;
}

/* ---------- Kafka (librdkafka's mock cluster in `neonblue stack kafka`) ---------- */

#define PIPE_PREFIX "neonblue"
#define PIPE_SLOT "neonblue_cdc"
#define PIPE_PUBLICATION "neonblue"
#define PIPE_GROUP "neonblue-sink"

static void kafka_argv(const nb_stack *st, nb_stack_argv *a)
{
	nb_stack_argv_add(a, "%s", st->exe);
	nb_stack_argv_add(a, "stack");
	nb_stack_argv_add(a, "kafka");
	nb_stack_argv_add(a, "--home");
	nb_stack_argv_add(a, "%s", st->home);
	char ports[128] = "";
	for (int i = 0; i < st->kafka_brokers; i++)
		snprintf(ports + strlen(ports), sizeof ports - strlen(ports), "%s%d", i ? "," : "",
			 st->kafka_ports[i]);
	nb_stack_argv_add(a, "--ports");
	nb_stack_argv_add(a, "%s", ports);
	if (st->partitions > 0) {
		nb_stack_argv_add(a, "--partitions");
		nb_stack_argv_add(a, "%d", st->partitions);
		nb_stack_argv_add(a, "--prefix");
		nb_stack_argv_add(a, PIPE_PREFIX);
	}
}

static void kafka_endpoint(const nb_stack *st, char *out, size_t n)
{
	out[0] = '\0';
	for (int i = 0; i < st->kafka_brokers; i++)
		snprintf(out + strlen(out), n - strlen(out), "%s127.0.0.1:%d", i ? "," : "",
			 st->kafka_ports[i]);
}

static int kafka_health(const nb_stack *st, int pid, char *why, size_t n)
{
	(void)pid;
	for (int i = 0; i < st->kafka_brokers; i++)
		if (nb_stack_tcp_probe(st->kafka_ports[i], 1000)) {
			snprintf(why, n, "Kafka broker %d does not accept connections on port %d",
				 i + 1, st->kafka_ports[i]);
			return -1;
		}
	return 0;
}

int nb_stack_health_alive(const nb_stack *st, int pid, char *why, size_t n)
{
	if (nb_stack_pid_alive(pid, st->home))
		return 0;
	snprintf(why, n, "not running");
	return -1;
}

/* ---------- the pipeline: the relay (cdc) and the sink ----------
 * Both run against the embedded (non-durable) Kafka, so the relay runs with
 * --embedded: it confirms an LSN only once ClickHouse holds it. Names are the
 * defaults; other relays/sinks on the same stack use their own slot,
 * publication, topic prefix, consumer group and status file. */


/* Global flags naming this stack's servers: explicit, so that neither the
 * supervisor's environment (NEONBLUE_PG …) nor a stale stack.env can point
 * a component elsewhere. */
static void pipe_globals(const nb_stack *st, nb_stack_argv *a, int with_pg)
{
	char ep[1024];
	nb_stack_argv_add(a, "%s", st->exe);
	nb_stack_argv_add(a, "--home");
	nb_stack_argv_add(a, "%s", st->home);
	if (with_pg) {
		pg_endpoint(st, ep, sizeof ep);
		nb_stack_argv_add(a, "--pg");
		nb_stack_argv_add(a, "%s", ep);
	}
	kafka_endpoint(st, ep, sizeof ep);
	nb_stack_argv_add(a, "--kafka");
	nb_stack_argv_add(a, "%s", ep);
	ch_endpoint(st, ep, sizeof ep);
	nb_stack_argv_add(a, "--clickhouse");
	nb_stack_argv_add(a, "%s", ep);
	nb_stack_argv_add(a, "--clickhouse-cluster");
	nb_stack_argv_add(a, "%s", ch_clustered(st) ? NB_STACK_CH_CLUSTER : "");
}

static void cdc_argv(const nb_stack *st, nb_stack_argv *a)
{
	pipe_globals(st, a, 1);
	nb_stack_argv_add(a, "cdc");
	nb_stack_argv_add(a, "--embedded");
	nb_stack_argv_add(a, "--prefix");
	nb_stack_argv_add(a, PIPE_PREFIX);
	nb_stack_argv_add(a, "--slot");
	nb_stack_argv_add(a, PIPE_SLOT);
	nb_stack_argv_add(a, "--publication");
	nb_stack_argv_add(a, PIPE_PUBLICATION);
	nb_stack_argv_add(a, "--status");
	nb_stack_argv_add(a, "%s/run/cdc.status", st->home);
}

/* Sink k of `up --sinks N` (1: "sink", else "sinkK"): same group, its own
 * status file HOME/run/<name>.status. */
static void sink_name(int k, char *out, size_t n)
{
	if (k <= 1)
		snprintf(out, n, "sink");
	else
		snprintf(out, n, "sink%d", k);
}

static void sink_argv_k(const nb_stack *st, nb_stack_argv *a, int k)
{
	char name[16];
	sink_name(k, name, sizeof name);
	pipe_globals(st, a, 0);
	nb_stack_argv_add(a, "sink");
	nb_stack_argv_add(a, "--prefix");
	nb_stack_argv_add(a, PIPE_PREFIX);
	nb_stack_argv_add(a, "--group");
	nb_stack_argv_add(a, PIPE_GROUP);
	nb_stack_argv_add(a, "--status");
	nb_stack_argv_add(a, "%s/run/%s.status", st->home, name);
}

static void cdc_endpoint(const nb_stack *st, char *out, size_t n)
{
	(void)st;
	snprintf(out, n, "slot " PIPE_SLOT " -> topics " PIPE_PREFIX ".public.*");
}

static void sink_endpoint(const nb_stack *st, char *out, size_t n)
{
	(void)st;
	snprintf(out, n, "group " PIPE_GROUP " -> ClickHouse database neonblue");
}

/* HOME/run/NAME.status as JSON (NULL when missing or unreadable). */
static cJSON *status_file(const nb_stack *st, const char *name)
{
	char path[NB_PATH_MAX + 64];
	nb_stack_path(st->home, path, sizeof path, "run/%s.status", name);
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char buf[16384];
	size_t len = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[len] = '\0';
	return cJSON_Parse(buf);
}

static double num_field(const cJSON *o, const char *k, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* The relay answers when its status file is its own (pid) and fresh: it
 * rewrites it every second while it works and at each retry (backoff up to
 * 10 s) while it waits for a server; what it does is in "state". */
static int cdc_health(const nb_stack *st, int pid, char *why, size_t n)
{
	if (nb_stack_health_alive(st, pid, why, n))
		return -1;
	cJSON *j = status_file(st, "cdc");
	int rc = -1;
	double age = j ? (double)time(NULL) - num_field(j, "updated_at", 0) : 0;
	const cJSON *state = j ? cJSON_GetObjectItemCaseSensitive(j, "state") : NULL;
	const char *s = cJSON_IsString(state) ? state->valuestring : "";
	if (!j)
		snprintf(why, n, "no status file %s/run/cdc.status yet", st->home);
	else if ((int)num_field(j, "pid", 0) != pid)
		snprintf(why, n, "%s/run/cdc.status is not yet written by this relay (pid %d)",
			 st->home, pid);
	else if (age > 15)
		snprintf(why, n, "its status file is %.0f s old (stuck?); state: %s", age, s);
	else
		rc = 0;
	cJSON_Delete(j);
	return rc;
}

static int sink_health_k(const nb_stack *st, int pid, char *why, size_t n, int k)
{
	char name[16];
	sink_name(k, name, sizeof name);
	if (nb_stack_health_alive(st, pid, why, n))
		return -1;
	cJSON *j = status_file(st, name);
	int mine = j && (int)num_field(j, "pid", 0) == pid;
	cJSON_Delete(j);
	if (!mine) {
		snprintf(why, n, "%s/run/%s.status is not yet written by this sink (pid %d)",
			 st->home, name, pid);
		return -1;
	}
	char path[NB_PATH_MAX + 64];
	nb_stack_path(st->home, path, sizeof path, "run/%s.status", name);
	return nb_sink_status_health(path, 15, why, n); /* as the relay: a busy batch may take seconds */
}

/* Lag of the relay: WAL bytes the slot is behind (asked of PostgreSQL), and
 * from its status file what it does and what ClickHouse does not hold yet. */
static void cdc_describe(const nb_stack *st, cJSON *o)
{
	char ci[1100];
	pg_endpoint(st, ci, sizeof ci);
	snprintf(ci + strlen(ci), sizeof ci - strlen(ci), " connect_timeout=3");
	int64_t bytes = -1;
	nb_err err;
	nb_err_clear(&err);
	if (nb_cdc_lag_bytes(ci, PIPE_SLOT, &bytes, &err) == 0 && bytes >= 0)
		cJSON_AddNumberToObject(o, "wal_bytes_behind", (double)bytes);
	else
		cJSON_AddNullToObject(o, "wal_bytes_behind");
	cJSON_AddStringToObject(o, "slot", PIPE_SLOT);
	cJSON *j = status_file(st, "cdc");
	static const char *const keep[] = {"state",    "confirmed_lsn",	 "changes",
					   "messages", "unacknowledged", "not_in_clickhouse"};
	for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
		cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, keep[i]) : NULL;
		cJSON_AddItemToObject(o, keep[i], v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
	}
	cJSON_Delete(j);
}

static void sink_describe_k(const nb_stack *st, cJSON *o, int k)
{
	char name[16], path[NB_PATH_MAX + 64];
	sink_name(k, name, sizeof name);
	nb_stack_path(st->home, path, sizeof path, "run/%s.status", name);
	nb_sink_status_describe(path, o);
}

/* The sinks' consumer group's lag as Kafka holds it (committed offsets and
 * high watermarks, asked of the brokers now), for `stack status`. */
cJSON *nb_stack_pipe_group_lag(const nb_stack *st, nb_err *err)
{
	char kafka[256];
	kafka_endpoint(st, kafka, sizeof kafka);
	return nb_sink_group_lag(kafka, PIPE_GROUP, PIPE_PREFIX, 2000, err);
}

/* The entry points of the component table for sink k. */
#define SINK_FNS(k, id)                                                                        \
	static void id##_argv(const nb_stack *st, nb_stack_argv *a) { sink_argv_k(st, a, k); }  \
	static int id##_health(const nb_stack *st, int pid, char *why, size_t n)               \
	{                                                                                      \
		return sink_health_k(st, pid, why, n, k);                                      \
	}                                                                                      \
	static void id##_describe(const nb_stack *st, cJSON *o) { sink_describe_k(st, o, k); }
SINK_FNS(1, sink)
SINK_FNS(2, sink2)
SINK_FNS(3, sink3)
SINK_FNS(4, sink4)

/* ---------- the HTTP API: `neonblue serve` (docs/api.md) ---------- */

static void serve_argv(const nb_stack *st, nb_stack_argv *a)
{
	char ep[1024];
	nb_stack_argv_add(a, "%s", st->exe);
	nb_stack_argv_add(a, "--home");
	nb_stack_argv_add(a, "%s", st->home);
	pg_endpoint(st, ep, sizeof ep);
	nb_stack_argv_add(a, "--pg");
	nb_stack_argv_add(a, "%s", ep);
	/* GET /sub follows this stack's CDC topics */
	kafka_endpoint(st, ep, sizeof ep);
	nb_stack_argv_add(a, "--kafka");
	nb_stack_argv_add(a, "%s", ep);
	nb_stack_argv_add(a, "serve");
	nb_stack_argv_add(a, "--listen");
	nb_stack_argv_add(a, "127.0.0.1:%d", st->api_port);
}

static void serve_endpoint(const nb_stack *st, char *out, size_t n)
{
	snprintf(out, n, "http://127.0.0.1:%d", st->api_port);
}

static int serve_health(const nb_stack *st, int pid, char *why, size_t n)
{
	(void)pid;
	char body[512];
	/* liveness, not readiness: while PostgreSQL restarts the API answers 503
	 * by itself and must not be restarted for it */
	if (nb_stack_http(st->api_port, "/healthz", NULL, body, sizeof body, 2000) ||
	    !strstr(body, "\"alive\"")) {
		snprintf(why, n, "GET /healthz on port %d: %.200s", st->api_port, body);
		return -1;
	}
	return 0;
}

/* ---------- the table ---------- */

const nb_stack_component nb_stack_components[] = {
    {"kafka", NULL, 1, SIGTERM, 10, kafka_argv, kafka_health, kafka_endpoint, NULL, NULL, 0, NULL, NULL},
    {"postgresql", "postgres", 1, SIGINT, 60, pg_argv, pg_health, pg_endpoint, NULL, NULL, 0, NULL, NULL},
    /* `up --clickhouse-shards S --clickhouse-replicas R` with S*R > 1: ZooKeeper
     * and nodes 2..S*R (clickhouse is node 1, shard 1 replica 1) */
    {"zookeeper", "zookeeper", 1, SIGTERM, 20, zk_argv, zk_health, zk_endpoint, NULL, NULL, 0,
     zk_enabled, NULL},
    {"clickhouse", "clickhouse", 1, SIGTERM, 60, ch_argv, ch_health, ch_endpoint, ch_describe,
     NULL, 0, NULL, "zookeeper"},
    {"clickhouse2", "clickhouse", 1, SIGTERM, 60, ch2_argv, ch2_health, ch2_endpoint,
     ch2_describe, NULL, 0, ch2_enabled, "zookeeper"},
    {"clickhouse3", "clickhouse", 1, SIGTERM, 60, ch3_argv, ch3_health, ch3_endpoint,
     ch3_describe, NULL, 0, ch3_enabled, "zookeeper"},
    {"clickhouse4", "clickhouse", 1, SIGTERM, 60, ch4_argv, ch4_health, ch4_endpoint,
     ch4_describe, NULL, 0, ch4_enabled, "zookeeper"},
    /* phase 2, after the migrations; off with `up --no-pipeline` (the relay, the
     * sink and the HTTP API) */
    {"cdc", NULL, 2, SIGTERM, 40, cdc_argv, cdc_health, cdc_endpoint, cdc_describe, "kafka", 0, NULL, NULL},
    {"sink", NULL, 2, SIGTERM, 30, sink_argv, sink_health, sink_endpoint, sink_describe, "kafka", 0, NULL, NULL},
    /* `up --sinks N`: more sinks of the same consumer group */
    {"sink2", NULL, 2, SIGTERM, 30, sink2_argv, sink2_health, sink_endpoint, sink2_describe, "kafka", 2, NULL, NULL},
    {"sink3", NULL, 2, SIGTERM, 30, sink3_argv, sink3_health, sink_endpoint, sink3_describe, "kafka", 3, NULL, NULL},
    {"sink4", NULL, 2, SIGTERM, 30, sink4_argv, sink4_health, sink_endpoint, sink4_describe, "kafka", 4, NULL, NULL},
    {"serve", NULL, 2, SIGTERM, 15, serve_argv, serve_health, serve_endpoint, NULL, NULL, 0, NULL, NULL},
};
const int nb_stack_ncomponents = (int)(sizeof nb_stack_components / sizeof *nb_stack_components);

int nb_stack_prepare(const nb_stack *st, nb_stack_say_fn say, void *ud, nb_err *err)
{
	if (pg_prepare(st, say, ud, err) || zk_prepare(st, err))
		return -1;
	return ch_prepare(st, err);
}

/* ---------- after the servers answer ---------- */

static int pg_create_db(const nb_stack *st, nb_err *err)
{
	char ci[256];
	snprintf(ci, sizeof ci,
		 "host=127.0.0.1 port=%d user=neonblue dbname=postgres connect_timeout=5",
		 st->pg_port);
	PGconn *c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK) {
		nb_err_set(err, NB_ESERVER, "cannot connect to PostgreSQL on port %d: %s",
			   st->pg_port, PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	PGresult *r = PQexec(c, "SELECT 1 FROM pg_database WHERE datname = 'neonblue'");
	int exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	PQclear(r);
	int rc = 0;
	if (!exists) {
		r = PQexec(c, "CREATE DATABASE neonblue");
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = nb_err_set(err, NB_ESERVER, "cannot create database neonblue: %s",
					PQerrorMessage(c));
		PQclear(r);
	}
	PQfinish(c);
	return rc;
}

int nb_stack_bootstrap_db(const nb_stack *st, nb_err *err)
{
	if (pg_create_db(st, err))
		return -1;
	char body[1024];
	if (!ch_clustered(st) && /* a cluster's: ON CLUSTER, by the migrations */
	    nb_stack_http(st->ch_http_port, "/", "CREATE DATABASE IF NOT EXISTS neonblue", body,
			  sizeof body, 10000))
		return nb_err_set(err, NB_ESERVER, "cannot create ClickHouse database neonblue: %s",
				  body);
	return 0;
}
