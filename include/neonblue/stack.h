/* stack.h — the embedded stack: PostgreSQL, ClickHouse and librdkafka's mock
 * Kafka as children of one supervisor process, endpoints in HOME/stack.env. */
#ifndef NEONBLUE_STACK_H
#define NEONBLUE_STACK_H

#include "neonblue/base.h"

#include <cjson/cJSON.h>

#define NB_STACK_MAX_COMPONENTS 16
#define NB_STACK_MAX_SINKS 4 /* `up --sinks N`: sink, sink2 … sink4 */
#define NB_STACK_MAX_PARTITIONS 64
#define NB_STACK_MAX_BROKERS 3
#define NB_STACK_MAX_ARGS 48
#define NB_STACK_MAX_CH_NODES 4 /* `up --clickhouse-shards S --clickhouse-replicas R`: S*R */
#define NB_STACK_CH_CLUSTER "neonblue" /* the embedded cluster's name (remote_servers) */

/* Where a stack lives and which ports it uses (HOME/stack.conf keeps them
 * from one `up` to the next). */
typedef struct nb_stack {
	char home[NB_PATH_MAX]; /* absolute */
	char exe[NB_PATH_MAX];	/* the neonblue binary that starts child components */
	int pg_port;
	int ch_http_port, ch_tcp_port;
	int api_port;	 /* `neonblue serve`, the HTTP API (NEONBLUE_API) */
	int kafka_ports[NB_STACK_MAX_BROKERS];
	int kafka_brokers;
	int privileged;	 /* started by root: servers run as postgres / clickhouse */
	int no_pipeline; /* `up --no-pipeline` (PIPELINE=0 in stack.conf): no phase 2 */
	int partitions;	 /* `up --partitions N` (PARTITIONS=): partitions per pipeline topic; 0: the mock's default (4) */
	int sinks;	 /* `up --sinks N` (SINKS=): sink processes in the consumer group; 0: 1 */
	/* `up --clickhouse-shards S --clickhouse-replicas R` (CLICKHOUSE_SHARDS=,
	 * CLICKHOUSE_REPLICAS=; 0: 1): S*R ClickHouse servers and ZooKeeper.
	 * Node k (1-based) is shard (k-1)/R+1, replica (k-1)%R+1; node 1 listens on
	 * ch_http_port/ch_tcp_port, node k>1 on ch_node_ports[k-1][0]/[1]; every
	 * node's interserver (replication) port is ch_node_ports[k-1][2]. */
	int ch_shards, ch_replicas;
	int ch_node_ports[NB_STACK_MAX_CH_NODES][3];
	int zk_port; /* ZooKeeper's client port (ZOOKEEPER_PORT=), cluster mode only */
} nb_stack;

/* S*R (at least 1); 1: today's single node, no ZooKeeper. */
int nb_stack_ch_nodes(const nb_stack *st);
/* Node k's (1-based) HTTP and native ports. */
int nb_stack_ch_http_port(const nb_stack *st, int k);
int nb_stack_ch_tcp_port(const nb_stack *st, int k);

/* An argv under construction; strings are owned and freed by nb_stack_argv_done. */
typedef struct nb_stack_argv {
	char *v[NB_STACK_MAX_ARGS + 1];
	int n;
} nb_stack_argv;

void nb_stack_argv_add(nb_stack_argv *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void nb_stack_argv_done(nb_stack_argv *a);

/* One supervised process. The table nb_stack_components (core/stack/components.c)
 * lists them in start order; the supervisor stops them in reverse order. */
typedef struct nb_stack_component {
	const char *name;   /* "postgresql", "clickhouse", "kafka", later "cdc", "sink" */
	const char *run_as; /* system user when the stack is started by root; NULL: same user */
	int phase;	    /* 1: servers; 2: started once phase 1 answers and migrations ran */
	int stop_signal;    /* SIGINT for PostgreSQL's fast shutdown, SIGTERM otherwise */
	int stop_timeout_s; /* then SIGKILL */
	/* The command line (argv[0] is the program path). */
	void (*argv)(const nb_stack *st, nb_stack_argv *out);
	/* 0 when the component answers; otherwise -1 and a reason in why. */
	int (*health)(const nb_stack *st, int pid, char *why, size_t n);
	/* Where clients reach it ("" when nothing listens). */
	void (*endpoint)(const nb_stack *st, char *out, size_t n);
	/* Optional: more fields for `stack status --json` (lag figures…). */
	void (*describe)(const nb_stack *st, cJSON *obj);
	/* Optional: the name of a component whose death this one must share
	 * (it is killed with SIGKILL and restarted): the relay and the sink
	 * follow the embedded Kafka, whose messages and offsets die with it. */
	const char *follows;
	/* Optional: 2..NB_STACK_MAX_SINKS for the extra sinks of `up --sinks N`
	 * (run only when st->sinks reaches it); 0 for every other component. */
	int sink_index;
	/* Optional: 0 when the component does not run in this stack (the
	 * ClickHouse nodes beyond the first and ZooKeeper of a 1x1 stack). A
	 * phase-1 component with this hook does not hold back phase 2's
	 * (re)starts while it is down (a cluster runs on with a replica down). */
	int (*enabled)(const nb_stack *st);
	/* Optional: the name of a component that must answer before this one
	 * starts (ClickHouse 18.16 crashes when its ZooKeeper is not up yet). */
	const char *after;
} nb_stack_component;

extern const nb_stack_component nb_stack_components[];
extern const int nb_stack_ncomponents;

/* Health check for components that listen nowhere: the process is alive. */
int nb_stack_health_alive(const nb_stack *st, int pid, char *why, size_t n);

/* Progress and notices of `up`/`down` (one sentence, no newline). */
typedef void (*nb_stack_say_fn)(void *ud, const char *msg);

typedef struct nb_stack_opts {
	int pg_port, ch_http_port, ch_tcp_port, kafka_port; /* 0: recorded, else a free one */
	int kafka_brokers;				    /* 0: recorded, else 1 */
	int partitions; /* 0: recorded (none: the mock's default of 4); else partitions per topic */
	int sinks;	/* 0: recorded, else 1; sink processes in one consumer group */
	int ch_shards, ch_replicas; /* 0: recorded, else 1; ClickHouse shards x replicas */
	int timeout_s;					    /* how long `up` waits; 0: 90 */
	int pipeline; /* 0: as recorded (default on); 1: run cdc+sink; -1: --no-pipeline */
	nb_stack_say_fn say;
	void *say_ud;
} nb_stack_opts;

typedef struct nb_stack_comp_status {
	char name[32];
	int pid; /* 0: not running */
	int healthy;
	int off; /* a phase-2 component of a stack started with --no-pipeline */
	int restarts;
	char endpoint[1024];
	char detail[256]; /* why it is not healthy */
	char log[NB_PATH_MAX + 64];
} nb_stack_comp_status;

typedef struct nb_stack_status {
	char home[NB_PATH_MAX];
	int supervisor_pid; /* 0: no supervisor runs */
	int already;	    /* `up` found it running */
	int n;
	nb_stack_comp_status c[NB_STACK_MAX_COMPONENTS];
} nb_stack_status;

/* Starts the stack in home (created if missing) and returns once every
 * component answers, migrations ran and HOME/stack.env is written. A running
 * stack is reported as it is (out->already = 1). exe is the neonblue binary
 * (NULL: /proc/self/exe). */
int nb_stack_up(const char *home, const char *exe, const nb_stack_opts *opts, nb_stack_status *out,
		nb_err *err);
/* Stops every component cleanly and the supervisor; data stays. *was_running
 * says whether anything ran. */
int nb_stack_down(const char *home, const nb_stack_opts *opts, int *was_running, nb_err *err);
/* Probes every component (no global state: callable from any thread; takes
 * up to a few seconds when a server hangs). Returns 0; out->supervisor_pid
 * is 0 when stopped. */
int nb_stack_status_get(const char *home, nb_stack_status *out, nb_err *err);
/* True when the supervisor runs and every component answers. */
int nb_stack_status_ok(const nb_stack_status *s);
/* The list printed by `stack status --json`; the caller deletes it. */
cJSON *nb_stack_status_json(const char *home, const nb_stack_status *s);

/* The supervisor's loop (`neonblue stack supervise`): runs until SIGTERM,
 * then stops the components. Started by nb_stack_up. */
int nb_stack_supervise(const char *home, nb_err *err);
/* Hosts librdkafka's mock cluster on the given loopback ports until SIGTERM
 * (`neonblue stack kafka`). */
/* The mock cluster on ports[0..n); with partitions > 0 it first creates the
 * topics of the pipeline (prefix.public.<table> of nb_cdc_tables, prefix.dlq)
 * with that many partitions (topics it auto-creates get librdkafka's 4). */
int nb_stack_kafka_serve(const int *ports, int n, int partitions, const char *prefix, nb_err *err);

/* Reads HOME/stack.conf into st (ports stay 0 when not recorded). */
int nb_stack_load(nb_stack *st, const char *home, nb_err *err);

/* The lag figures of `stack status` (cdc and sink), NaN when unknown: the
 * pipeline is off, a status file is missing or not rewritten for 15 s (its
 * component is not running), PostgreSQL does not answer. For /metrics of
 * `neonblue serve`; asks PostgreSQL once (connect timeout 3 s). -1 when home
 * holds no stack. */
typedef struct nb_stack_lag {
	double wal_bytes;     /* cdc: WAL bytes the replication slot is behind */
	double cdc_messages;  /* cdc: messages sent and not yet in ClickHouse */
	double sink_messages; /* sink: Kafka consumer lag (messages) */
	double sink_idle_s;   /* sink: seconds since its last row in ClickHouse */
	double cdc_age_s, sink_age_s; /* age of their status files, seconds */
} nb_stack_lag;
int nb_stack_lag_get(const char *home, nb_stack_lag *out, nb_err *err);
/* The sinks' consumer group (neonblue-sink) as Kafka holds it: the committed
 * offset and high watermark of every partition of the pipeline's row topics,
 * asked of the stack's Kafka now (nb_sink_group_lag; ~2 s at most per
 * request). NULL with err without a pipeline or when Kafka does not answer. */
cJSON *nb_stack_group_lag(const char *home, nb_err *err);

#endif
