/* stack/mock_kafka.c — hosts librdkafka's mock cluster on fixed loopback ports
 * (`neonblue stack kafka`), so that a restarted Kafka keeps its address. */
#include "internal.h"

#include "neonblue/cdc.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * The mock cluster binds each broker's listener to 127.0.0.1 port 0 and has
 * no setting for the port. While ports are queued here, this process's
 * bind() hands the queued ports, in order, to such binds; librdkafka's calls
 * resolve to this definition because the executable's symbols come first.
 * With nothing queued it is a plain bind.
 */
static pthread_mutex_t bind_mu = PTHREAD_MUTEX_INITIALIZER;
static int bind_ports[NB_STACK_MAX_BROKERS];
static int bind_n, bind_next;

int bind(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	const struct sockaddr *sa = addr.__sockaddr__;
	if (sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;
		memcpy(&sin, sa, sizeof sin);
		pthread_mutex_lock(&bind_mu);
		int port = 0;
		if (sin.sin_port == 0 && sin.sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
		    bind_next < bind_n)
			port = bind_ports[bind_next++];
		pthread_mutex_unlock(&bind_mu);
		if (port) {
			sin.sin_port = htons((uint16_t)port);
			return (int)syscall(SYS_bind, fd, &sin, (socklen_t)sizeof sin);
		}
	}
	return (int)syscall(SYS_bind, fd, sa, len);
}

static volatile sig_atomic_t kafka_stop;

static void on_stop(int sig)
{
	(void)sig;
	kafka_stop = 1;
}

static void expected_bootstraps(const int *ports, int n, char *out, size_t sz)
{
	out[0] = '\0';
	for (int i = 0; i < n; i++)
		snprintf(out + strlen(out), sz - strlen(out), "%s127.0.0.1:%d", i ? "," : "",
			 ports[i]);
}

/* The pipeline's topics with `partitions` partitions each, before any client
 * asks (an auto-created topic gets the mock's default of 4). */
static int create_topic(rd_kafka_mock_cluster_t *mc, const char *topic, int partitions,
			nb_err *err)
{
	rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topic, partitions, 1);
	if (e)
		return nb_err_set(err, NB_ESERVER, "kafka: cannot create topic %s (%d partitions): %s",
				  topic, partitions, rd_kafka_err2str(e));
	return 0;
}

static int create_topics(rd_kafka_mock_cluster_t *mc, int partitions, const char *prefix,
			 nb_err *err)
{
	char topic[512];
	for (int i = 0; nb_cdc_tables[i]; i++) {
		snprintf(topic, sizeof topic, "%s.public.%s", prefix, nb_cdc_tables[i]);
		if (create_topic(mc, topic, partitions, err))
			return -1;
	}
	snprintf(topic, sizeof topic, "%s.dlq", prefix);
	return create_topic(mc, topic, partitions, err);
}

int nb_stack_kafka_serve(const int *ports, int n, int partitions, const char *prefix, nb_err *err)
{
	if (partitions < 0 || partitions > NB_STACK_MAX_PARTITIONS)
		return nb_err_set(err, NB_EINPUT, "kafka: --partitions %d: 1 to %d are possible",
				  partitions, NB_STACK_MAX_PARTITIONS);
	if (n < 1 || n > NB_STACK_MAX_BROKERS)
		return nb_err_set(err, NB_EINPUT, "kafka: %d brokers asked; 1 to %d are possible",
				  n, NB_STACK_MAX_BROKERS);
	for (int i = 0; i < n; i++)
		if (!nb_stack_port_free(ports[i]))
			return nb_err_set(err, NB_ESERVER,
					  "kafka: port %d on 127.0.0.1 is already in use by "
					  "another program",
					  ports[i]);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* an in-memory broker outlives nothing: it stops with whoever started it
	 * (the supervisor, or a test script), so no orphan keeps a port */
	pid_t parent = getppid();
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		return nb_err_set(err, NB_ESERVER, "kafka: the process that started it is gone");

	char es[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "client.id", "neonblue-mock-host", es, sizeof es);
	rd_kafka_conf_set(conf, "log_level", "4", es,
			  sizeof es); /* no notice that it has no bootstrap */
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof es);
	if (!rk)
		return nb_err_set(err, NB_ESERVER, "kafka: cannot create the host client: %s", es);

	pthread_mutex_lock(&bind_mu);
	memcpy(bind_ports, ports, sizeof(int) * (size_t)n);
	bind_n = n;
	bind_next = 0;
	pthread_mutex_unlock(&bind_mu);
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, n);
	pthread_mutex_lock(&bind_mu);
	bind_n = 0;
	pthread_mutex_unlock(&bind_mu);
	if (!mc) {
		rd_kafka_destroy(rk);
		return nb_err_set(err, NB_ESERVER,
				  "kafka: the mock cluster did not start (ports in "
				  "use?)");
	}
	char want[256];
	expected_bootstraps(ports, n, want, sizeof want);
	const char *got = rd_kafka_mock_cluster_bootstraps(mc);
	if (strcmp(got, want)) {
		nb_err_set(err, NB_ESERVER, "kafka: the mock cluster listens on %s, not on %s", got,
			   want);
		rd_kafka_mock_cluster_destroy(mc);
		rd_kafka_destroy(rk);
		return -1;
	}
	if (partitions > 0 && create_topics(mc, partitions, prefix ? prefix : "neonblue", err)) {
		rd_kafka_mock_cluster_destroy(mc);
		rd_kafka_destroy(rk);
		return -1;
	}
	fprintf(stderr, "neonblue kafka: mock cluster of %d broker(s) on %s (pid %d)%s\n", n, got,
		(int)getpid(), partitions > 0 ? ", pipeline topics created" : "");
	if (partitions > 0)
		fprintf(stderr, "neonblue kafka: %s.public.* and %s.dlq have %d partitions each\n",
			prefix ? prefix : "neonblue", prefix ? prefix : "neonblue", partitions);
	while (!kafka_stop)
		nb_stack_sleep_ms(100);
	fprintf(stderr, "neonblue kafka: stopping\n");
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
