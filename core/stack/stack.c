/* stack/stack.c — `neonblue stack up|down|status|supervise`: ports, the
 * supervisor's lifecycle, readiness, migrations and HOME/stack.env. */
#include "internal.h"

#include "neonblue/base.h"
#include "neonblue/ch.h"
#include "neonblue/pg.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------- HOME/stack.conf ---------- */

static void conf_kv(const char *k, const char *v, void *ud)
{
	nb_stack *st = ud;
	int x = atoi(v);
	if (!strcmp(k, "PG_PORT"))
		st->pg_port = x;
	else if (!strcmp(k, "CLICKHOUSE_HTTP_PORT"))
		st->ch_http_port = x;
	else if (!strcmp(k, "CLICKHOUSE_TCP_PORT"))
		st->ch_tcp_port = x;
	else if (!strcmp(k, "API_PORT"))
		st->api_port = x;
	else if (!strcmp(k, "PARTITIONS"))
		st->partitions = x;
	else if (!strcmp(k, "SINKS"))
		st->sinks = x;
	else if (!strcmp(k, "PIPELINE"))
		st->no_pipeline = x == 0;
	else if (!strcmp(k, "CLICKHOUSE_SHARDS"))
		st->ch_shards = x;
	else if (!strcmp(k, "CLICKHOUSE_REPLICAS"))
		st->ch_replicas = x;
	else if (!strcmp(k, "ZOOKEEPER_PORT"))
		st->zk_port = x;
	else if (!strcmp(k, "CLICKHOUSE_NODE_PORTS")) {
		/* "http:tcp:interserver" per node, comma separated */
		const char *p = v;
		for (int i = 0; i < NB_STACK_MAX_CH_NODES && *p; i++) {
			int *np = st->ch_node_ports[i];
			if (sscanf(p, "%d:%d:%d", &np[0], &np[1], &np[2]) != 3)
				break;
			p += strcspn(p, ",");
			p += *p == ',';
		}
	}
	else if (!strcmp(k, "KAFKA_PORTS")) {
		char buf[256];
		snprintf(buf, sizeof buf, "%s", v);
		st->kafka_brokers = 0;
		char *save = NULL;
		for (char *s = strtok_r(buf, ",", &save);
		     s && st->kafka_brokers < NB_STACK_MAX_BROKERS; s = strtok_r(NULL, ",", &save))
			st->kafka_ports[st->kafka_brokers++] = atoi(s);
	}
}

int nb_stack_load(nb_stack *st, const char *home, nb_err *err)
{
	memset(st, 0, sizeof *st);
	if (home[0] != '/')
		return nb_err_set(err, NB_EINPUT, "the stack home '%s' must be an absolute path",
				  home);
	snprintf(st->home, sizeof st->home, "%s", home);
	ssize_t r = readlink("/proc/self/exe", st->exe, sizeof st->exe - 1);
	st->exe[r > 0 ? r : 0] = '\0';
	/* rebuilt while running (make): the new binary at the same path */
	size_t l = strlen(st->exe), d = strlen(" (deleted)");
	if (l > d && !strcmp(st->exe + l - d, " (deleted)"))
		st->exe[l - d] = '\0';
	st->privileged = geteuid() == 0;
	char path[NB_PATH_MAX + 64];
	nb_stack_path(home, path, sizeof path, "stack.conf");
	nb_config_read_kv(path, conf_kv, st);
	return 0;
}

static int save_conf(const nb_stack *st, nb_err *err)
{
	nb_buf b;
	nb_buf_init(&b);
	nb_buf_printf(&b,
		      "# Ports of the embedded stack, kept from one `neonblue stack up` to the "
		      "next.\n# Edit only while the stack is down.\nPG_PORT=%d\n"
		      "CLICKHOUSE_HTTP_PORT=%d\nCLICKHOUSE_TCP_PORT=%d\nAPI_PORT=%d\nKAFKA_PORTS=",
		      st->pg_port, st->ch_http_port, st->ch_tcp_port, st->api_port);
	for (int i = 0; i < st->kafka_brokers; i++)
		nb_buf_printf(&b, "%s%d", i ? "," : "", st->kafka_ports[i]);
	nb_buf_printf(&b,
		      "\n# 1: the supervisor runs the relay and the sink (cdc, sink); 0: "
		      "up --no-pipeline\nPIPELINE=%d\n"
		      "# up --partitions N: partitions of each pipeline topic (0: the mock's "
		      "default, 4)\nPARTITIONS=%d\n"
		      "# up --sinks N: sink processes in the consumer group\nSINKS=%d\n",
		      !st->no_pipeline, st->partitions, st->sinks > 0 ? st->sinks : 1);
	nb_buf_printf(&b,
		      "# up --clickhouse-shards S --clickhouse-replicas R: S*R ClickHouse nodes\n"
		      "CLICKHOUSE_SHARDS=%d\nCLICKHOUSE_REPLICAS=%d\n"
		      "# per node: HTTP:native:interserver (node 1's first two: the ports above)\n"
		      "CLICKHOUSE_NODE_PORTS=",
		      st->ch_shards > 0 ? st->ch_shards : 1, st->ch_replicas > 0 ? st->ch_replicas : 1);
	for (int k = 1; k <= nb_stack_ch_nodes(st); k++)
		nb_buf_printf(&b, "%s%d:%d:%d", k > 1 ? "," : "", nb_stack_ch_http_port(st, k),
			      nb_stack_ch_tcp_port(st, k), st->ch_node_ports[k - 1][2]);
	nb_buf_printf(&b, "\nZOOKEEPER_PORT=%d\n", st->zk_port);
	char path[NB_PATH_MAX + 64];
	nb_stack_path(st->home, path, sizeof path, "stack.conf");
	int rc = nb_stack_write_file(path, b.data, err);
	nb_buf_done(&b);
	return rc;
}

static const nb_stack_component *find_comp(const char *name)
{
	for (int i = 0; i < nb_stack_ncomponents; i++)
		if (!strcmp(nb_stack_components[i].name, name))
			return &nb_stack_components[i];
	return NULL;
}

static int write_env(const nb_stack *st, nb_err *err)
{
	char pg[1024], kafka[1024], ch[1024], api[256];
	find_comp("postgresql")->endpoint(st, pg, sizeof pg);
	find_comp("kafka")->endpoint(st, kafka, sizeof kafka);
	find_comp("clickhouse")->endpoint(st, ch, sizeof ch);
	find_comp("serve")->endpoint(st, api, sizeof api);
	nb_buf b;
	nb_buf_init(&b);
	nb_buf_printf(&b,
		      "# Endpoints of the embedded stack in this directory (neonblue stack up).\n"
		      "NEONBLUE_PG='%s'\nNEONBLUE_KAFKA='%s'\nNEONBLUE_CLICKHOUSE='%s'\n"
		      "NEONBLUE_CLICKHOUSE_TCP_PORT='%d'\n",
		      pg, kafka, ch, st->ch_tcp_port);
	if (!st->no_pipeline)
		nb_buf_printf(&b, "NEONBLUE_API='%s'\n", api);
	if (nb_stack_ch_nodes(st) > 1) {
		nb_buf_printf(&b, "NEONBLUE_CLICKHOUSE_CLUSTER='" NB_STACK_CH_CLUSTER
				  "'\nNEONBLUE_CLICKHOUSE_NODES='");
		for (int k = 1; k <= nb_stack_ch_nodes(st); k++)
			nb_buf_printf(&b, "%shttp://127.0.0.1:%d", k > 1 ? "," : "",
				      nb_stack_ch_http_port(st, k));
		nb_buf_printf(&b, "'\nNEONBLUE_ZOOKEEPER='127.0.0.1:%d'\n", st->zk_port);
	}
	char path[NB_PATH_MAX + 64];
	nb_stack_path(st->home, path, sizeof path, "stack.env");
	int rc = nb_stack_write_file(path, b.data, err);
	nb_buf_done(&b);
	return rc;
}

/* ---------- ports ---------- */

static void say(const nb_stack_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const nb_stack_opts *o, const char *fmt, ...)
{
	if (!o || !o->say)
		return;
	char m[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	o->say(o->say_ud, m);
}

/* asked (flag) > recorded (if still free) > a new free port. */
static int choose_port(int *slot, int asked, const char *what, const char *flag,
		       const nb_stack_opts *o, nb_err *err)
{
	if (asked) {
		if (asked < 1 || asked > 65535)
			return nb_err_set(err, NB_EINPUT, "%s %d is not a TCP port (1-65535)", flag,
					  asked);
		if (!nb_stack_port_free(asked))
			return nb_err_set(err, NB_EINPUT,
					  "port %d for %s (%s) is already in use on 127.0.0.1: "
					  "choose another, or leave %s out to get a free one",
					  asked, what, flag, flag);
		*slot = asked;
		return 0;
	}
	if (*slot && nb_stack_port_free(*slot))
		return 0;
	int p = nb_stack_pick_port();
	if (!p)
		return nb_err_set(err, NB_ESERVER, "cannot find a free port on 127.0.0.1 for %s",
				  what);
	if (*slot)
		say(o, "port %d recorded for %s is taken by another program; %s now uses port %d",
		    *slot, what, what, p);
	*slot = p;
	return 0;
}

static int choose_ports(nb_stack *st, const nb_stack_opts *o, nb_err *err)
{
	if (choose_port(&st->pg_port, o->pg_port, "PostgreSQL", "--pg-port", o, err) ||
	    choose_port(&st->ch_http_port, o->ch_http_port, "ClickHouse HTTP", "--ch-port", o,
			err) ||
	    choose_port(&st->ch_tcp_port, o->ch_tcp_port, "ClickHouse native", "--ch-tcp-port", o,
			err) ||
	    choose_port(&st->api_port, 0, "the HTTP API", "API_PORT", o, err))
		return -1;
	int brokers =
	    o->kafka_brokers ? o->kafka_brokers : (st->kafka_brokers ? st->kafka_brokers : 1);
	if (brokers < 1 || brokers > NB_STACK_MAX_BROKERS)
		return nb_err_set(err, NB_EINPUT,
				  "--kafka-brokers %d: 1 to %d brokers are possible", brokers,
				  NB_STACK_MAX_BROKERS);
	if (brokers != st->kafka_brokers)
		for (int i = st->kafka_brokers; i < brokers; i++)
			st->kafka_ports[i] = 0;
	st->kafka_brokers = brokers;
	for (int i = 0; i < brokers; i++)
		if (choose_port(&st->kafka_ports[i], i == 0 ? o->kafka_port : 0, "Kafka",
				"--kafka-port", o, err))
			return -1;
	/* the ClickHouse cluster: ZooKeeper, nodes 2.., every node's interserver port */
	int nodes = nb_stack_ch_nodes(st);
	if (nodes > 1 && choose_port(&st->zk_port, 0, "ZooKeeper", "ZOOKEEPER_PORT", o, err))
		return -1;
	for (int k = 1; k <= nodes; k++) {
		int *np = st->ch_node_ports[k - 1];
		if ((k > 1 && (choose_port(&np[0], 0, "ClickHouse HTTP", "CLICKHOUSE_NODE_PORTS", o,
					   err) ||
			       choose_port(&np[1], 0, "ClickHouse native", "CLICKHOUSE_NODE_PORTS",
					   o, err))) ||
		    (nodes > 1 && choose_port(&np[2], 0, "ClickHouse interserver",
					      "CLICKHOUSE_NODE_PORTS", o, err)))
			return -1;
	}
	/* all distinct (a recorded port may collide with a freshly picked one) */
	int all[5 + NB_STACK_MAX_BROKERS + 3 * NB_STACK_MAX_CH_NODES] = {
	    st->pg_port, st->ch_http_port, st->ch_tcp_port, st->api_port};
	int na = 4;
	for (int i = 0; i < brokers; i++)
		all[na++] = st->kafka_ports[i];
	if (nodes > 1) {
		all[na++] = st->zk_port;
		for (int k = 1; k <= nodes; k++) {
			if (k > 1) {
				all[na++] = st->ch_node_ports[k - 1][0];
				all[na++] = st->ch_node_ports[k - 1][1];
			}
			all[na++] = st->ch_node_ports[k - 1][2];
		}
	}
	for (int i = 0; i < na; i++)
		for (int j = 0; j < i; j++)
			if (all[i] == all[j])
				return nb_err_set(err, NB_EINPUT,
						  "port %d is given to two components; choose "
						  "distinct ports",
						  all[i]);
	return 0;
}

/* ---------- home, lock, pids ---------- */

static int mkdirs(const char *home, nb_err *err)
{
	char p[NB_PATH_MAX];
	snprintf(p, sizeof p, "%s", home);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return nb_err_set(err, NB_ESERVER, "cannot create %s: %s", p,
					  strerror(errno));
		*s = '/';
	}
	if (mkdir(p, 0755) != 0 && errno != EEXIST)
		return nb_err_set(err, NB_ESERVER, "cannot create the stack home %s: %s", p,
				  strerror(errno));
	static const char *subs[] = {"logs", "run"};
	for (size_t i = 0; i < 2; i++) {
		char q[NB_PATH_MAX + 16];
		nb_stack_path(home, q, sizeof q, "%s", subs[i]);
		if (mkdir(q, 0755) != 0 && errno != EEXIST)
			return nb_err_set(err, NB_ESERVER, "cannot create %s: %s", q,
					  strerror(errno));
	}
	return 0;
}

/* Absolute form of home, without requiring it to exist. */
static int absolute(const char *home, char *out, size_t n, nb_err *err)
{
	if (!home || !*home)
		return nb_err_set(err, NB_EINPUT, "no stack home given (--home or NEONBLUE_HOME)");
	if (home[0] == '/') {
		snprintf(out, n, "%s", home);
	} else {
		char cwd[NB_PATH_MAX];
		if (!getcwd(cwd, sizeof cwd))
			return nb_err_set(err, NB_ESERVER, "cannot read the current directory");
		size_t lc = strlen(cwd);
		if (lc + strlen(home) + 2 > n)
			return nb_err_set(err, NB_EINPUT, "the stack home '%s' is too long", home);
		memcpy(out, cwd, lc);
		out[lc] = '/';
		memcpy(out + lc + 1, home, strlen(home) + 1);
	}
	size_t l = strlen(out);
	while (l > 1 && out[l - 1] == '/')
		out[--l] = '\0';
	if (l > 200)
		return nb_err_set(err, NB_EINPUT,
				  "the stack home '%s' is too long (%zu characters, at most 200)",
				  out, l);
	/* the path goes into XML, shell-style stack.env lines and libpq conninfo */
	for (const char *c = out; *c; c++)
		if (strchr("'\"<>&\\$`", *c) || (unsigned char)*c < 0x20)
			return nb_err_set(err, NB_EINPUT,
					  "the stack home '%s' contains '%c'; choose a path "
					  "without quotes, <, >, &, $, ` or backslashes",
					  out, *c);
	return 0;
}

/* Serialises up/down on one home. Returns the fd to close, or -1. */
static int lock_home(const char *home, nb_err *err)
{
	char p[NB_PATH_MAX + 32];
	nb_stack_path(home, p, sizeof p, "run/lock");
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return nb_err_set(err, NB_ESERVER, "cannot open %s: %s", p, strerror(errno));
	for (int i = 0; i < 1200; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		nb_stack_sleep_ms(100);
	}
	close(fd);
	return nb_err_set(err, NB_ESERVER,
			  "another `neonblue stack` command holds %s for more than 2 minutes", p);
}

/* The live supervisor's pid, or 0; *stale gets the pid of a dead one, whose
 * pid file is removed when remove is set (up and down, under the lock). */
static int supervisor_pid(const char *home, int *stale, int remove)
{
	char p[NB_PATH_MAX + 32];
	nb_stack_path(home, p, sizeof p, "run/supervisor.pid");
	int pid = nb_stack_read_pid(p);
	*stale = 0;
	if (!pid)
		return 0;
	if (nb_stack_pid_alive(pid, home))
		return pid;
	*stale = pid;
	if (remove)
		unlink(p);
	return 0;
}

static int wait_gone(int pid, const char *needle, double seconds)
{
	double end = nb_stack_now() + seconds;
	while (nb_stack_pid_alive(pid, needle)) {
		if (nb_stack_now() > end)
			return -1;
		nb_stack_sleep_ms(50);
	}
	return 0;
}

/* Components left running by a supervisor that died (kill -9): stop them. */
static void stop_orphans(const char *home, const nb_stack_opts *o)
{
	for (int i = nb_stack_ncomponents - 1; i >= 0; i--) {
		const nb_stack_component *c = &nb_stack_components[i];
		int pid, restarts;
		if (nb_stack_state_get(home, c->name, &pid, &restarts) || !pid ||
		    !nb_stack_pid_alive(pid, home))
			continue;
		say(o, "stopping %s (pid %d), left running by a supervisor that is gone", c->name,
		    pid);
		kill(pid, c->stop_signal);
		if (wait_gone(pid, home, c->stop_timeout_s)) {
			kill(pid, SIGKILL);
			wait_gone(pid, home, 5);
		}
	}
	char p[NB_PATH_MAX + 32];
	nb_stack_path(home, p, sizeof p, "run/state");
	unlink(p);
	nb_stack_path(home, p, sizeof p, "run/ready");
	unlink(p);
}

/* ---------- status ---------- */

static void comp_status(const nb_stack *st, const nb_stack_component *c, int running,
			nb_stack_comp_status *cs)
{
	memset(cs, 0, sizeof *cs);
	snprintf(cs->name, sizeof cs->name, "%s", c->name);
	if (st->pg_port) /* "" before the first `up` chose ports */
		c->endpoint(st, cs->endpoint, sizeof cs->endpoint);
	nb_stack_path(st->home, cs->log, sizeof cs->log, "logs/%s.log", c->name);
	if (!nb_stack_comp_on(st, c)) {
		cs->off = 1;
		snprintf(cs->detail, sizeof cs->detail, "off (stack up --no-pipeline)");
		return;
	}
	int pid = 0, restarts = 0;
	nb_stack_state_get(st->home, c->name, &pid, &restarts);
	cs->restarts = restarts;
	if (!running) {
		snprintf(cs->detail, sizeof cs->detail, "the stack is not running");
		return;
	}
	if (!pid || !nb_stack_pid_alive(pid, st->home)) {
		snprintf(cs->detail, sizeof cs->detail, "not running (the supervisor restarts it)");
		return;
	}
	cs->pid = pid;
	cs->healthy = c->health(st, pid, cs->detail, sizeof cs->detail) == 0;
}

static int status_of(const nb_stack *st, nb_stack_status *out)
{
	int stale;
	int keep = out->already;
	memset(out, 0, sizeof *out);
	out->already = keep;
	snprintf(out->home, sizeof out->home, "%s", st->home);
	out->supervisor_pid = supervisor_pid(st->home, &stale, 0);
	out->n = 0;
	for (int i = 0; i < nb_stack_ncomponents; i++) {
		const nb_stack_component *c = &nb_stack_components[i];
		if (c->sink_index > (st->sinks > 0 ? st->sinks : 1) || (c->enabled && !c->enabled(st)))
			continue; /* not one of the `up --sinks N`, or a cluster's part */
		comp_status(st, c, out->supervisor_pid != 0, &out->c[out->n++]);
	}
	return 0;
}

int nb_stack_status_get(const char *home, nb_stack_status *out, nb_err *err)
{
	char abs[NB_PATH_MAX];
	nb_stack st;
	memset(out, 0, sizeof *out);
	if (absolute(home, abs, sizeof abs, err) || nb_stack_load(&st, abs, err))
		return -1;
	return status_of(&st, out);
}

int nb_stack_status_ok(const nb_stack_status *s)
{
	if (!s->supervisor_pid)
		return 0;
	for (int i = 0; i < s->n; i++)
		if (!s->c[i].healthy && !s->c[i].off)
			return 0;
	return 1;
}

static cJSON *comp_json(const char *name, int pid, const char *endpoint, int healthy, int restarts,
			const char *detail, const char *log)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", name);
	if (pid)
		cJSON_AddNumberToObject(o, "pid", pid);
	else
		cJSON_AddNullToObject(o, "pid");
	cJSON_AddStringToObject(o, "endpoint", endpoint);
	cJSON_AddBoolToObject(o, "healthy", healthy);
	cJSON_AddNumberToObject(o, "restarts", restarts);
	if (detail && *detail)
		cJSON_AddStringToObject(o, "detail", detail);
	else
		cJSON_AddNullToObject(o, "detail");
	cJSON_AddStringToObject(o, "log", log);
	return o;
}

cJSON *nb_stack_status_json(const char *home, const nb_stack_status *s)
{
	cJSON *list = cJSON_CreateArray();
	char log[NB_PATH_MAX + 64];
	nb_stack_path(s->home, log, sizeof log, "logs/supervisor.log");
	cJSON_AddItemToArray(
	    list, comp_json("supervisor", s->supervisor_pid, s->home, s->supervisor_pid != 0, 0,
			    s->supervisor_pid ? "" : "the stack is not running", log));
	nb_stack st;
	int have = nb_stack_load(&st, s->home[0] ? s->home : home, NULL) == 0;
	for (int i = 0; i < s->n; i++) {
		const nb_stack_comp_status *c = &s->c[i];
		if (c->off)
			continue; /* not part of this stack (--no-pipeline) */
		cJSON *o = comp_json(c->name, c->pid, c->endpoint, c->healthy, c->restarts,
				     c->detail, c->log);
		const nb_stack_component *def = find_comp(c->name);
		if (have && def && def->describe && c->pid)
			def->describe(&st, o);
		cJSON_AddItemToArray(list, o);
	}
	return list;
}

/* ---------- the pipeline's lag, as `stack status` shows it ---------- */

/* A number of o, or NaN when it is not one. */
static double lag_num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* describe() of component name into a new object. */
static cJSON *lag_describe(const nb_stack *st, const char *name)
{
	cJSON *o = cJSON_CreateObject();
	const nb_stack_component *def = find_comp(name);
	if (def && def->describe)
		def->describe(st, o);
	return o;
}

cJSON *nb_stack_group_lag(const char *home, nb_err *err)
{
	nb_stack st;
	if (nb_stack_load(&st, home, err))
		return NULL;
	if (st.no_pipeline || !st.kafka_brokers) {
		nb_err_set(err, NB_EINPUT, "no pipeline in %s", home);
		return NULL;
	}
	return nb_stack_pipe_group_lag(&st, err);
}

int nb_stack_lag_get(const char *home, nb_stack_lag *out, nb_err *err)
{
	out->wal_bytes = out->cdc_messages = out->sink_messages = out->sink_idle_s = NAN;
	out->cdc_age_s = out->sink_age_s = NAN;
	nb_stack st;
	if (nb_stack_load(&st, home, err))
		return -1;
	if (!st.pg_port)
		return nb_err_set(err, NB_EINPUT, "no stack in %s (no PostgreSQL port recorded)", home);
	if (st.no_pipeline)
		return 0;
	cJSON *c = lag_describe(&st, "cdc");
	char path[NB_PATH_MAX + 64];
	nb_stack_path(st.home, path, sizeof path, "run/cdc.status");
	char *text = nb_buf_read_file(path);
	cJSON *cf = text ? cJSON_Parse(text) : NULL;
	free(text);
	double cu = lag_num(cf, "updated_at");
	cJSON_Delete(cf);
	out->cdc_age_s = isnan(cu) ? NAN : (double)time(NULL) - cu;
	out->wal_bytes = lag_num(c, "wal_bytes_behind");
	/* a status file not rewritten for the health checks' 15 s is no one's
	 * current figure */
	if (out->cdc_age_s <= 15)
		out->cdc_messages = lag_num(c, "not_in_clickhouse");
	/* every sink of the group (`up --sinks N`): the oldest status, the sum
	 * of the lags, the freshest row; unknown while one status is stale */
	int n = st.sinks > 0 ? st.sinks : 1;
	double age = 0, msgs = 0, idle = NAN;
	for (int k = 1; k <= n && k <= NB_STACK_MAX_SINKS; k++) {
		char name[16];
		snprintf(name, sizeof name, k == 1 ? "sink" : "sink%d", k);
		cJSON *s = lag_describe(&st, name);
		double a = isnan(age) ? NAN : lag_num(s, "status_age_s"), i = lag_num(s, "seconds_since_last_row");
		age = isnan(a) || a > age ? a : age; /* NaN (no status yet) stays */
		msgs += lag_num(s, "kafka_lag");
		if (!isnan(i))
			idle = isnan(idle) || i < idle ? i : idle;
		cJSON_Delete(s);
	}
	out->sink_age_s = age;
	if (out->sink_age_s <= 15) {
		out->sink_messages = msgs;
		out->sink_idle_s = idle;
	}
	cJSON_Delete(c);
	return 0;
}

/* ---------- the supervisor (`neonblue stack supervise`) ---------- */

/* Loads the stack in home and runs the supervisor over the component table. */
int nb_stack_supervise(const char *home, nb_err *err)
{
	nb_stack st;
	if (nb_stack_load(&st, home, err))
		return -1;
	return nb_stack_super_run(&st, nb_stack_components, nb_stack_ncomponents, err);
}

/* ---------- up ---------- */

static int start_supervisor(const nb_stack *st, nb_err *err)
{
	nb_stack_argv a = {0};
	nb_stack_argv_add(&a, "%s", st->exe);
	nb_stack_argv_add(&a, "stack");
	nb_stack_argv_add(&a, "supervise");
	nb_stack_argv_add(&a, "--home");
	nb_stack_argv_add(&a, "%s", st->home);
	char log[NB_PATH_MAX + 64];
	nb_stack_path(st->home, log, sizeof log, "logs/supervisor.log");
	pid_t pid = nb_stack_spawn(NULL, a.v, log, 0, err);
	nb_stack_argv_done(&a);
	return pid;
}

static int fail_with_log(const char *log, nb_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_with_log(const char *log, nb_err *err, const char *fmt, ...)
{
	char head[768], tail[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(head, sizeof head, fmt, ap);
	va_end(ap);
	nb_stack_log_tail(log, tail, sizeof tail, 6);
	return nb_err_set(err, NB_ESERVER, "%s (log %s):\n%s", head, log, tail);
}

/* Waits until every component of phase <= phase answers. Gives up early when
 * the supervisor is gone or a component died three times while waiting. */
static int wait_ready(const nb_stack *st, int phase, int sup_child, double deadline,
		      nb_stack_status *out, nb_err *err)
{
	char suplog[NB_PATH_MAX + 64];
	nb_stack_path(st->home, suplog, sizeof suplog, "logs/supervisor.log");
	int base[NB_STACK_MAX_COMPONENTS] = {0}, have_base = 0;
	for (;;) {
		int ws;
		if (sup_child > 0 && waitpid(sup_child, &ws, WNOHANG) == sup_child)
			return fail_with_log(suplog, err, "the stack's supervisor exited at start");
		status_of(st, out);
		if (!out->supervisor_pid && sup_child <= 0)
			return fail_with_log(suplog, err, "the stack's supervisor is gone");
		if (!have_base && out->supervisor_pid) {
			for (int i = 0; i < out->n; i++)
				base[i] = out->c[i].restarts;
			have_base = 1;
		}
		int ok = out->supervisor_pid != 0, bad = -1;
		for (int i = 0; i < out->n; i++) {
			if (find_comp(out->c[i].name)->phase > phase || out->c[i].healthy ||
			    out->c[i].off)
				continue;
			ok = 0;
			bad = bad < 0 ? i : bad;
			if (have_base && out->c[i].restarts - base[i] >= 3)
				return fail_with_log(out->c[i].log, err,
						     "%s keeps dying (restarted %d times while "
						     "`up` waited)",
						     out->c[i].name, out->c[i].restarts - base[i]);
		}
		if (ok)
			return 0;
		if (nb_stack_now() > deadline) {
			if (bad < 0)
				return fail_with_log(
				    suplog, err, "the stack's supervisor did not start in time");
			return fail_with_log(out->c[bad].log, err,
					     "%s did not answer in time (--timeout): %s",
					     out->c[bad].name, out->c[bad].detail);
		}
		nb_stack_sleep_ms(100);
	}
}

static int migrate(const nb_stack *st, nb_err *err)
{
	if (nb_stack_bootstrap_db(st, err))
		return -1;
	nb_config cfg;
	memset(&cfg, 0, sizeof cfg);
	find_comp("postgresql")->endpoint(st, cfg.pg, sizeof cfg.pg);
	cfg.pg_set = 4;
	PGconn *c = nb_pg_connect(&cfg, err);
	if (!c)
		return -1;
	int rc = nb_pg_migrate(c, NULL, err);
	PQfinish(c);
	if (rc)
		return -1;
	char url[256];
	find_comp("clickhouse")->endpoint(st, url, sizeof url);
	return nb_ch_migrate_cluster(url, nb_stack_ch_nodes(st) > 1 ? NB_STACK_CH_CLUSTER : NULL,
				     err) < 0
		   ? -1
		   : 0;
}

static int mark_ready(const nb_stack *st, nb_err *err)
{
	char p[NB_PATH_MAX + 32];
	nb_stack_path(st->home, p, sizeof p, "run/ready");
	return nb_stack_write_file(p, "migrations applied\n", err);
}

static int up_locked(nb_stack *st, const nb_stack_opts *o, nb_stack_status *out, nb_err *err)
{
	double deadline = nb_stack_now() + (o->timeout_s > 0 ? o->timeout_s : 90);
	int stale;
	int sup = supervisor_pid(st->home, &stale, 1);
	if (sup) {
		out->already = 1;
		if (o->pg_port || o->ch_http_port || o->ch_tcp_port || o->kafka_port ||
		    o->kafka_brokers || o->partitions || o->sinks || o->ch_shards || o->ch_replicas)
			say(o, "the stack already runs; port, --partitions, --sinks and "
			       "--clickhouse-shards/-replicas options apply at the next `up` after "
			       "`down`");
		if (o->pipeline && (o->pipeline < 0) != st->no_pipeline)
			say(o,
			    "the stack already runs %s the relay and the sink; --%spipeline "
			    "applies at the next `up` after `down`",
			    st->no_pipeline ? "without" : "with", o->pipeline < 0 ? "no-" : "");
		if (wait_ready(st, 2, 0, deadline, out, err) || migrate(st, err) ||
		    write_env(st, err))
			return -1;
		return 0;
	}
	if (stale)
		say(o, "removed a stale pid file (supervisor %d is gone)", stale);
	stop_orphans(st->home, o);
	if (o->pipeline)
		st->no_pipeline = o->pipeline < 0;
	if (o->partitions)
		st->partitions = o->partitions;
	if (o->sinks)
		st->sinks = o->sinks;
	if (st->partitions < 0 || st->partitions > NB_STACK_MAX_PARTITIONS)
		return nb_err_set(err, NB_EINPUT, "--partitions %d: 1 to %d partitions are possible",
				  st->partitions, NB_STACK_MAX_PARTITIONS);
	if (o->ch_shards)
		st->ch_shards = o->ch_shards;
	if (o->ch_replicas)
		st->ch_replicas = o->ch_replicas;
	if (st->ch_shards < 0 || st->ch_replicas < 0 ||
	    nb_stack_ch_nodes(st) > NB_STACK_MAX_CH_NODES)
		return nb_err_set(err, NB_EINPUT,
				  "--clickhouse-shards %d --clickhouse-replicas %d: at most %d "
				  "ClickHouse servers (shards x replicas) are possible",
				  st->ch_shards, st->ch_replicas, NB_STACK_MAX_CH_NODES);
	if (st->sinks < 0 || st->sinks > NB_STACK_MAX_SINKS)
		return nb_err_set(err, NB_EINPUT, "--sinks %d: 1 to %d sinks are possible", st->sinks,
				  NB_STACK_MAX_SINKS);
	if (choose_ports(st, o, err) || save_conf(st, err))
		return -1;
	if (st->privileged && nb_stack_make_traversable(st->home, o->say, o->say_ud, err))
		return -1;
	if (nb_stack_prepare(st, o->say, o->say_ud, err))
		return -1;
	pid_t child = start_supervisor(st, err);
	if (child < 0)
		return -1;
	if (wait_ready(st, 1, child, deadline, out, err) || migrate(st, err) ||
	    write_env(st, err) || mark_ready(st, err) ||
	    wait_ready(st, 2, child, deadline, out, err)) {
		/* leave nothing half-started behind */
		kill(child, SIGTERM);
		int ws;
		while (waitpid(child, &ws, 0) < 0 && errno == EINTR)
			;
		stop_orphans(st->home, o);
		char p[NB_PATH_MAX + 32];
		nb_stack_path(st->home, p, sizeof p, "run/supervisor.pid");
		unlink(p);
		if (err) {
			size_t l = strlen(err->msg);
			snprintf(err->msg + l, sizeof err->msg - l,
				 "\n(the stack was stopped again)");
		}
		return -1;
	}
	return 0;
}

int nb_stack_up(const char *home, const char *exe, const nb_stack_opts *opts, nb_stack_status *out,
		nb_err *err)
{
	nb_stack_opts none;
	memset(&none, 0, sizeof none);
	const nb_stack_opts *o = opts ? opts : &none;
	char abs[NB_PATH_MAX];
	nb_stack st;
	memset(out, 0, sizeof *out);
	if (absolute(home, abs, sizeof abs, err) || mkdirs(abs, err) ||
	    nb_stack_load(&st, abs, err))
		return -1;
	if (exe && *exe)
		snprintf(st.exe, sizeof st.exe, "%s", exe);
	if (access(st.exe, X_OK) != 0)
		return nb_err_set(err, NB_ESERVER, "cannot run the neonblue binary %s", st.exe);
	int lk = lock_home(abs, err);
	if (lk < 0)
		return -1;
	int rc = up_locked(&st, o, out, err);
	close(lk);
	return rc;
}

/* ---------- down ---------- */

int nb_stack_down(const char *home, const nb_stack_opts *opts, int *was_running, nb_err *err)
{
	char abs[NB_PATH_MAX];
	*was_running = 0;
	if (absolute(home, abs, sizeof abs, err))
		return -1;
	struct stat sb;
	if (stat(abs, &sb) != 0)
		return 0; /* no stack there: nothing runs */
	char run[NB_PATH_MAX + 16];
	nb_stack_path(abs, run, sizeof run, "run");
	if (stat(run, &sb) != 0)
		return 0;
	int lk = lock_home(abs, err);
	if (lk < 0)
		return -1;
	int stale;
	int sup = supervisor_pid(abs, &stale, 1);
	int rc = 0;
	if (sup) {
		*was_running = 1;
		kill(sup, SIGTERM);
		if (wait_gone(sup, abs, 150)) {
			kill(sup, SIGKILL);
			wait_gone(sup, abs, 5);
			rc = nb_err_set(err, NB_ESERVER,
					"the supervisor (pid %d) did not stop within 150 s and was "
					"killed; see %s/logs/supervisor.log",
					sup, abs);
		}
		char p[NB_PATH_MAX + 32];
		nb_stack_path(abs, p, sizeof p, "run/supervisor.pid");
		unlink(p);
	} else if (stale) {
		say(opts, "removed a stale pid file (supervisor %d is gone)", stale);
	}
	stop_orphans(abs, opts);
	close(lk);
	return rc;
}
