/* kafka/kafka.c — librdkafka configuration and the at-least-once producer. */
#include "neonblue/kafka.h"

#include <stdio.h>

int nb_kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value, nb_err *err)
{
	char es[512];
	if (rd_kafka_conf_set(conf, key, value, es, sizeof es) != RD_KAFKA_CONF_OK)
		return nb_err_set(err, NB_EINPUT, "Kafka setting %s=%s: %s", key, value, es);
	return 0;
}

rd_kafka_conf_t *nb_kafka_conf_new(const char *bootstrap, const char *client_id, nb_err *err)
{
	if (!bootstrap || !*bootstrap)
		return nb_err_set(err, NB_EINPUT,
				  "no Kafka bootstrap servers: set NEONBLUE_KAFKA or --kafka"),
		       NULL;
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	if (nb_kafka_set(c, "bootstrap.servers", bootstrap, err) ||
	    nb_kafka_set(c, "client.id", client_id ? client_id : "neonblue", err) ||
	    nb_kafka_set(c, "log_level", "3", err) ||
	    nb_kafka_set(c, "log.connection.close", "false", err) ||
	    nb_kafka_set(c, "reconnect.backoff.max.ms", "2000", err)) {
		rd_kafka_conf_destroy(c);
		return NULL;
	}
	return c;
}

/* librdkafka's log lines are dropped: outages are reported by error_cb. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

rd_kafka_t *nb_kafka_producer_new(const char *bootstrap, const char *client_id, int linger_ms,
				  void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
				  void (*error_cb)(rd_kafka_t *, int, const char *, void *),
				  void *opaque, nb_err *err)
{
	rd_kafka_conf_t *c = nb_kafka_conf_new(bootstrap, client_id, err);
	if (!c)
		return NULL;
	char linger[32];
	snprintf(linger, sizeof linger, "%d", linger_ms < 0 ? 5 : linger_ms);
	if (nb_kafka_set(c, "enable.idempotence", "true", err) ||
	    nb_kafka_set(c, "acks", "all", err) ||
	    nb_kafka_set(c, "message.timeout.ms", "0", err) ||
	    nb_kafka_set(c, "linger.ms", linger, err) ||
	    /* murmur2 of the key, as the Java client (Kafka Connect, Debezium)
	     * partitions: a user's key lands where Debezium puts it */
	    nb_kafka_set(c, "partitioner", "murmur2_random", err) ||
	    nb_kafka_set(c, "compression.codec", "lz4", err) ||
	    nb_kafka_set(c, "batch.num.messages", "10000", err) ||
	    nb_kafka_set(c, "queue.buffering.max.messages", "200000", err) ||
	    nb_kafka_set(c, "queue.buffering.max.kbytes", "262144", err)) {
		rd_kafka_conf_destroy(c);
		return NULL;
	}
	rd_kafka_conf_set_log_cb(c, quiet_log);
	if (dr)
		rd_kafka_conf_set_dr_msg_cb(c, dr);
	if (error_cb)
		rd_kafka_conf_set_error_cb(c, error_cb);
	rd_kafka_conf_set_opaque(c, opaque);
	char es[512];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, es, sizeof es);
	if (!rk) {
		nb_err_set(err, NB_EINPUT, "cannot create a Kafka producer for %s: %s", bootstrap,
			   es);
		return NULL;
	}
	return rk;
}
