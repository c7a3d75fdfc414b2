/* bench_feed_producer.c — a paced feed of Debezium envelopes for the
 * dashboard's benchmark: events rows rendered by the relay's own renderer
 * (nb_debezium_value/key, source like `neonblue cdc`'s) and produced with the
 * relay's producer settings at --rate N messages a second on a fixed clock
 * (every 5 ms it catches up with N × elapsed, so a late tick never drifts).
 * Reports the rate achieved: produced and acknowledged by Kafka.
 *
 *   bench_feed_producer --kafka HOST:PORT [--topic T] [--rate N] [--seconds S]
 *                       [--experiments K] [--users U]
 *
 * Without arguments (as `make bench` runs it) it checks its own pacing for
 * 3 s against librdkafka's in-process mock cluster. */
#include "neonblue/cdc.h"
#include "neonblue/kafka.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_NS 5000000L

typedef struct opts {
	const char *kafka, *topic;
	long rate, seconds, experiments, users;
	int self_check;
} opts;

typedef struct counts {
	long long delivered, failed;
	char why[256];
} counts;

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	counts *c = opaque;
	if (m->err) {
		c->failed++;
		snprintf(c->why, sizeof c->why, "%s", rd_kafka_err2str(m->err));
	} else {
		c->delivered++;
	}
}

static int usage(const char *msg)
{
	fprintf(stderr,
		"bench_feed_producer: %s\n"
		"usage: bench_feed_producer --kafka HOST:PORT [--topic T] [--rate N] [--seconds S]\n"
		"                           [--experiments K] [--users U]\n",
		msg);
	return 2;
}

static int parse(int argc, char **argv, opts *o)
{
	const char *prefix = getenv("NEONBLUE_TOPIC_PREFIX");
	static char topic[256];
	snprintf(topic, sizeof topic, "%s.public.events", prefix && *prefix ? prefix : "neonblue");
	*o = (opts){.kafka = getenv("NEONBLUE_KAFKA"), .topic = topic, .rate = 10000,
		    .seconds = 10, .experiments = 20, .users = 5000, .self_check = argc == 1};
	for (int i = 1; i < argc; i++) {
		const char *k = argv[i];
		if (i + 1 >= argc)
			return usage("every option takes a value");
		const char *v = argv[++i];
		long *dst = !strcmp(k, "--rate")	  ? &o->rate
			    : !strcmp(k, "--seconds")	  ? &o->seconds
			    : !strcmp(k, "--experiments") ? &o->experiments
			    : !strcmp(k, "--users")	  ? &o->users
							  : NULL;
		if (!strcmp(k, "--kafka")) {
			o->kafka = v;
		} else if (!strcmp(k, "--topic")) {
			o->topic = v;
		} else if (dst) {
			char *end;
			errno = 0;
			*dst = strtol(v, &end, 10);
			if (errno || *end || *dst < 1 || *dst > 10000000) {
				fprintf(stderr, "bench_feed_producer: %s: \"%s\" is not a whole number "
						"from 1 to 10000000\n", k, v);
				return 2;
			}
		} else {
			fprintf(stderr, "bench_feed_producer: unknown option %s\n", k);
			return 2;
		}
	}
	if (o->self_check) {
		o->seconds = 3;
		o->topic = "bench.public.events";
	} else if (!o->kafka || !*o->kafka) {
		return usage("no Kafka: --kafka HOST:PORT or NEONBLUE_KAFKA");
	}
	return 0;
}

/* PostgreSQL's text form of a timestamptz in UTC, as pgoutput sends it. */
static void pg_now(char *out, size_t n)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char s[32];
	strftime(s, sizeof s, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out, n, "%.19s.%06d+00", s, (int)(ts.tv_nsec / 1000));
}

/* The i-th events row as the relay renders an insert: key and value. */
static int envelope(const opts *o, long long i, char **key, char **val, nb_err *err)
{
	static const char *types[] = {"view", "add_to_cart", "checkout", "purchase"};
	nb_change c;
	nb_change_init(&c);
	nb_change_set(&c.schema, "public");
	nb_change_set(&c.table, "events");
	c.op = 'c';
	c.has_after = 1;
	char id[40], user[32], ts[48], value[32], exp[32];
	snprintf(id, sizeof id, "00000000-0000-4000-8000-%012llx", i);
	snprintf(user, sizeof user, "bench-u%lld", i % o->users);
	pg_now(ts, sizeof ts);
	snprintf(value, sizeof value, "%lld.5", i % 100);
	snprintf(exp, sizeof exp, "bench-%03lld", i % o->experiments);
	nb_tuple_add(&c.after, "event_id", NB_OID_UUID, id)->is_key = 1;
	nb_tuple_add(&c.after, "user_id", NB_OID_TEXT, user);
	nb_tuple_add(&c.after, "type", NB_OID_TEXT, types[i % 4]);
	nb_tuple_add(&c.after, "ts", NB_OID_TIMESTAMPTZ, ts)->is_key = 1;
	nb_tuple_add(&c.after, "value", NB_OID_FLOAT8, value);
	nb_tuple_add(&c.after, "properties", NB_OID_JSONB, NULL);
	nb_tuple_add(&c.after, "experiment", NB_OID_TEXT, exp);
	nb_change_set(&c.source.version, "neonblue-cdc");
	nb_change_set(&c.source.name, "neonblue");
	nb_change_set(&c.source.db, "neonblue");
	nb_change_set(&c.source.snapshot, "false");
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	c.source.ts_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	c.source.lsn = 0x1000000 + (uint64_t)i * 64;
	c.source.tx_id = 1000 + i;
	c.ts_ms = c.source.ts_ms;
	*key = nb_debezium_key(&c, 0, err);
	*val = nb_debezium_value(&c, 0, err);
	nb_change_done(&c);
	if (!*val) {
		free(*key);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	opts o;
	int rc = parse(argc, argv, &o);
	if (rc)
		return rc;
	nb_err err;
	counts cnt = {0};
	rd_kafka_t *rk;
	if (o.self_check) {
		/* librdkafka hosts a mock cluster inside this producer */
		rd_kafka_conf_t *c = rd_kafka_conf_new();
		char es[256];
		if (rd_kafka_conf_set(c, "test.mock.num.brokers", "1", es, sizeof es) ||
		    rd_kafka_conf_set(c, "log_level", "3", es, sizeof es) ||
		    rd_kafka_conf_set(c, "linger.ms", "5", es, sizeof es)) {
			fprintf(stderr, "bench_feed_producer: %s\n", es);
			return 1;
		}
		rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
		rd_kafka_conf_set_opaque(c, &cnt);
		rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, es, sizeof es);
		if (!rk) {
			fprintf(stderr, "bench_feed_producer: %s\n", es);
			return 1;
		}
	} else {
		rk = nb_kafka_producer_new(o.kafka, "neonblue-bench-feed", 5, on_delivery, NULL, &cnt,
					   &err);
		if (!rk) {
			fprintf(stderr, "bench_feed_producer: %s\n", err.msg);
			return 1;
		}
	}
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o.topic, NULL);
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	double t0 = mono(), t_end = t0 + (double)o.seconds, late_max = 0;
	long long sent = 0, queue_full = 0;
	for (;;) {
		double now = mono();
		if (now > t_end)
			now = t_end;
		long long due = (long long)((now - t0) * (double)o.rate);
		if (due - sent > late_max)
			late_max = (double)(due - sent);
		while (sent < due) {
			char *key = NULL, *val = NULL;
			if (envelope(&o, sent, &key, &val, &err)) {
				fprintf(stderr, "bench_feed_producer: %s\n", err.msg);
				return 1;
			}
			int r = rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_FREE, val,
						 strlen(val), key, key ? strlen(key) : 0, NULL);
			free(key);
			if (r) {
				free(val);
				if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
					fprintf(stderr, "bench_feed_producer: produce to %s: %s\n", o.topic,
						rd_kafka_err2str(rd_kafka_last_error()));
					return 1;
				}
				queue_full++;
				rd_kafka_poll(rk, 1);
				continue;
			}
			sent++;
		}
		rd_kafka_poll(rk, 0);
		if (now >= t_end)
			break;
		next.tv_nsec += TICK_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	double produce_s = mono() - t0;
	rd_kafka_flush(rk, 30000);
	double acked_s = mono() - t0;
	printf("feed producer: %lld envelopes to %s in %.2f s: %.0f/s produced (asked %ld/s), "
	       "%lld acknowledged by Kafka (%.0f/s including the final flush, %.2f s), %lld failed%s%s; "
	       "largest catch-up batch %.0f messages (%ld expected per 5 ms tick), queue full %lld times\n",
	       sent, o.self_check ? "librdkafka's in-process mock cluster" : o.topic, produce_s,
	       (double)sent / produce_s, o.rate, cnt.delivered, (double)cnt.delivered / acked_s,
	       acked_s, cnt.failed, cnt.failed ? ": " : "", cnt.why, late_max, o.rate / 200, queue_full);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return cnt.failed || cnt.delivered < sent ? 1 : 0;
}
