/* sink/grouplag.c — a consumer group's lag as Kafka holds it, for `stack
 * status`: the group's committed offset of every partition of the prefix's
 * row topics (what the coordinator stores, whichever member wrote it, alive
 * or not) against each partition's high watermark, asked of the brokers
 * now. The sinks' status files say the same from each sink's side; this
 * also covers partitions no live sink holds. */
#include "internal.h"

#include "neonblue/kafka.h"

#include <stdio.h>
#include <string.h>

cJSON *nb_sink_group_lag(const char *kafka, const char *group, const char *prefix, int timeout_ms,
			 nb_err *err)
{
	rd_kafka_conf_t *c = nb_kafka_conf_new(kafka, "neonblue-status", err);
	if (!c || nb_kafka_set(c, "group.id", group, err) ||
	    nb_kafka_set(c, "enable.auto.commit", "false", err)) {
		if (c)
			rd_kafka_conf_destroy(c);
		return NULL;
	}
	char es[512];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof es);
	if (!rk) {
		rd_kafka_conf_destroy(c);
		nb_err_set(err, NB_EINPUT, "cannot create a Kafka client: %s", es);
		return NULL;
	}
	cJSON *out = NULL;
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
	rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
	if (e) {
		nb_err_set(err, NB_ESERVER, "Kafka %s: metadata: %s", kafka, rd_kafka_err2str(e));
		goto done;
	}
	for (int i = 0; i < md->topic_cnt; i++)
		if (nb_sink_row_topic(prefix, md->topics[i].topic))
			for (int k = 0; k < md->topics[i].partition_cnt; k++)
				rd_kafka_topic_partition_list_add(l, md->topics[i].topic,
								  md->topics[i].partitions[k].id);
	if (l->cnt && (e = rd_kafka_committed(rk, l, timeout_ms))) {
		nb_err_set(err, NB_ESERVER, "Kafka %s: committed offsets of group %s: %s", kafka,
			   group, rd_kafka_err2str(e));
		goto done;
	}
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "group", group);
	cJSON *arr = cJSON_AddArrayToObject(out, "partitions");
	int64_t total = 0;
	for (int i = 0; i < l->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &l->elems[i];
		int64_t lo = -1, hi = -1;
		if ((e = rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi,
							  timeout_ms))) {
			nb_err_set(err, NB_ESERVER, "Kafka %s: watermarks of %s [%d]: %s", kafka,
				   p->topic, (int)p->partition, rd_kafka_err2str(e));
			cJSON_Delete(out);
			out = NULL;
			goto done;
		}
		/* nothing committed yet: everything the partition holds is to read */
		int64_t base = p->err || p->offset < 0 ? lo : p->offset;
		int64_t lag = hi > base ? hi - base : 0;
		total += lag;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "topic", p->topic);
		cJSON_AddNumberToObject(o, "partition", p->partition);
		cJSON_AddNumberToObject(o, "committed", p->err || p->offset < 0 ? -1.0 : (double)p->offset);
		cJSON_AddNumberToObject(o, "high_watermark", (double)hi);
		cJSON_AddNumberToObject(o, "lag", (double)lag);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddNumberToObject(out, "lag_total", (double)total);
done:
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(rk);
	return out;
}
