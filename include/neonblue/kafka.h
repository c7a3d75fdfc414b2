/* kafka.h — librdkafka setup shared by NeonBlue's producers: one place for
 * the connection settings, quiet logging and the at-least-once producer. */
#ifndef NEONBLUE_KAFKA_H
#define NEONBLUE_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "neonblue/base.h"

/* Sets key=value on conf; on failure err names the key and value. */
int nb_kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value, nb_err *err);

/* A configuration with bootstrap servers, client.id and librdkafka's own
 * logging limited to errors (connection refusals during an outage are
 * reported through the error callback instead). NULL with err on a bad value. */
rd_kafka_conf_t *nb_kafka_conf_new(const char *bootstrap, const char *client_id, nb_err *err);

/* An idempotent producer (acks=all, ordered retries, lz4, the Java client's
 * murmur2 partitioner, messages never time out: during a Kafka outage they
 * wait in the queue). dr is called from
 * rd_kafka_poll() for every message; opaque is the rd_kafka_t opaque.
 * linger_ms: how long a batch may wait to fill (5 is a good default). */
rd_kafka_t *nb_kafka_producer_new(const char *bootstrap, const char *client_id, int linger_ms,
				  void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
				  void (*error_cb)(rd_kafka_t *, int, const char *, void *),
				  void *opaque, nb_err *err);

#endif
