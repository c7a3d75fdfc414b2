/* sink/sink.c — the sink's runner: a Kafka consumer group feeding batched
 * ClickHouse inserts; offsets are committed only after ClickHouse said 200.
 * This file: the messages, the mapping lanes, Kafka setup and the main loop;
 * the store thread is store.c, the status file status.c. */
#include "internal.h"
#include "neonblue/cdc.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- messages ---- */

static void sink_dlq_send(sink *s, const rd_kafka_message_t *m, const char *topic,
			  const char *reason)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "reason", reason);
	cJSON_AddStringToObject(j, "topic", topic);
	cJSON_AddNumberToObject(j, "partition", m->partition);
	cJSON_AddNumberToObject(j, "offset", (double)m->offset);
	cJSON_AddNumberToObject(j, "dlq_ts_ms", (double)sink_now_ms());
	char *k = m->key ? strndup(m->key, m->key_len) : NULL;
	char *v = m->payload ? strndup(m->payload, m->len) : NULL;
	if (k)
		cJSON_AddStringToObject(j, "key", k);
	else
		cJSON_AddNullToObject(j, "key");
	if (v)
		cJSON_AddStringToObject(j, "value", v);
	else
		cJSON_AddNullToObject(j, "value");
	free(k);
	free(v);
	char *text = nb_json_print(j);
	cJSON_Delete(j);
	rd_kafka_resp_err_t e;
	while ((e = rd_kafka_producev(s->dlq, RD_KAFKA_V_TOPIC(s->dlq_topic),
				      RD_KAFKA_V_KEY(m->key, m->key_len),
				      RD_KAFKA_V_VALUE(text, strlen(text)),
				      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
	       RD_KAFKA_RESP_ERR__QUEUE_FULL)
		rd_kafka_poll(s->dlq, 100);
	if (e)
		sink_log(s, "cannot queue a dead-letter message for %s [%d] @%" PRId64 ": %s", topic,
			 (int)m->partition, m->offset, rd_kafka_err2str(e));
	free(text);
	s->dlq_count++;
	if (s->dlq_count <= 20 || s->dlq_count % 1000 == 0)
		sink_log(s, "dead-lettered %s [%d] @%" PRId64 " to %s: %s (%" PRIu64 " so far)", topic,
			 (int)m->partition, m->offset, s->dlq_topic, reason, s->dlq_count);
}

static void sink_gap(sink *s, sink_part *p, int64_t got)
{
	int64_t n = got - p->next;
	s->gaps++;
	s->lost += (uint64_t)n;
	snprintf(s->last_gap, sizeof s->last_gap,
		 "%s [%d]: expected offset %" PRId64 ", got %" PRId64 " (%" PRId64
		 " messages lost by Kafka)",
		 p->topic, (int)p->partition, p->next, got, n);
	sink_log(s, "LOSS: %s; the relay must replay from the LSN ClickHouse holds "
		    "(neonblue.cdc_progress)",
		 s->last_gap);
}

/* The relay's producer epoch a message carries (NB_CDC_EPOCH_HEADER); 0
 * when it has none (real Debezium) or it is not a number. */
static uint64_t sink_msg_epoch(const rd_kafka_message_t *m)
{
	rd_kafka_headers_t *h;
	const void *v;
	size_t n;
	char buf[24];
	if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, NB_CDC_EPOCH_HEADER, &v, &n) ||
	    !v || !n || n >= sizeof buf)
		return 0;
	memcpy(buf, v, n);
	buf[n] = 0;
	char *end;
	unsigned long long e = strtoull(buf, &end, 10);
	return *end ? 0 : (uint64_t)e;
}

/* Phase 1, in order: errors, gaps, offsets, routing; a message to map is
 * queued as a job of the round. */
static void sink_message(sink *s, const rd_kafka_message_t *m)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	if (m->err) {
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			return;
		if ((m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
		     m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) &&
		    topic && topic[0] == '^')
			return; /* a pattern nothing matches yet (no heartbeats): not an error */
		sink_set_waiting(s, "Kafka: %s", rd_kafka_message_errstr(m));
		sink_log(s, "Kafka consumer: %s%s%s", rd_kafka_message_errstr(m), topic ? " on " : "",
			 topic ? topic : "");
		if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
		    m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
			s->gaps++;
			snprintf(s->last_gap, sizeof s->last_gap, "offset reset on %s: %s",
				 topic ? topic : "?", rd_kafka_message_errstr(m));
		}
		return;
	}
	sink_part *p = sink_part_get(s, topic, m->partition);
	if (p->next >= 0 && m->offset > p->next)
		sink_gap(s, p, m->offset);
	p->next = m->offset + 1;
	p->batch_next = m->offset + 1;
	p->batch_epoch = sink_msg_epoch(m);
	p->batch_gen = s->kgen;
	p->dirty = 1;
	sink_batch *b = s->fill;
	if (!b->msgs)
		b->start_ms = sink_now_ms();
	b->msgs++;
	s->msgs++;
	if (!strcmp(topic, s->dlq_topic))
		return; /* our own dead letters: consumed, never re-processed */
	if (nb_sink_topic_ignored(s->o->prefix, topic)) {
		if (!strcmp(topic, s->hb_topic))
			sink_complete_heartbeat(s->complete, m->payload, m->payload ? m->len : 0);
		s->ignored++; /* Debezium's transaction metadata and heartbeats: no rows */
		return;
	}
	if (p->table < 0) {
		nb_buf_reset(&s->tmp);
		nb_buf_printf(&s->tmp, "no ClickHouse table neonblue.<table> for topic %s", topic);
		sink_dlq_send(s, m, topic, s->tmp.data);
		return;
	}
	s->jobs[s->njobs++] = (sink_job){.m = m, .part = (int)(p - s->parts), .table = p->table};
}

/* Phase 2: maps the jobs of one lane into the lane's buffers. */
static void sink_lane_run(sink *s, sink_lane *l)
{
	for (int i = l->from; i < l->to; i++) {
		sink_job *j = &s->jobs[i];
		nb_err err;
		if (nb_sink_map(&s->schema, j->table, j->m->payload, j->m->payload ? j->m->len : 0,
				&l->bufs[j->table], &j->r, &err) < 0)
			j->error = nb_xstrdup(err.msg);
		else if (j->r.kind == NB_SINK_ROWS)
			l->rows[j->table] += j->r.nrows;
	}
}

static void *sink_lane_main(void *arg)
{
	sink *s = ((void **)arg)[0];
	sink_lane *l = ((void **)arg)[1];
	free(arg);
	unsigned seen = 0;
	pthread_mutex_lock(&s->lmu);
	for (;;) {
		while (s->lane_gen == seen && !s->lanes_quit)
			pthread_cond_wait(&s->lcv, &s->lmu);
		if (s->lanes_quit)
			break;
		seen = s->lane_gen;
		pthread_mutex_unlock(&s->lmu);
		sink_lane_run(s, l);
		pthread_mutex_lock(&s->lmu);
		if (--s->lanes_pending == 0)
			pthread_cond_broadcast(&s->lcv);
	}
	pthread_mutex_unlock(&s->lmu);
	return NULL;
}

/* Phases 2 and 3: map the round (in parallel when it is big enough), then
 * append the rows in lane order and account for every job in order. */
static void sink_map_round(sink *s)
{
	int n = s->njobs, lanes = n >= 64 && s->nlane_thr ? 1 + s->nlane_thr : 1;
	for (int k = 0; k < lanes; k++) {
		s->lanes[k].from = n * k / lanes;
		s->lanes[k].to = n * (k + 1) / lanes;
	}
	if (lanes > 1) {
		pthread_mutex_lock(&s->lmu);
		s->lanes_pending = lanes - 1;
		s->lane_gen++;
		pthread_cond_broadcast(&s->lcv);
		pthread_mutex_unlock(&s->lmu);
	}
	sink_lane_run(s, &s->lanes[0]);
	if (lanes > 1) {
		pthread_mutex_lock(&s->lmu);
		while (s->lanes_pending)
			pthread_cond_wait(&s->lcv, &s->lmu);
		pthread_mutex_unlock(&s->lmu);
	}
	sink_batch *b = s->fill;
	for (int k = 0; k < lanes; k++)
		for (int t = 0; t < s->schema.ntables; t++) {
			sink_lane *l = &s->lanes[k];
			if (!l->bufs[t].len)
				continue;
			nb_buf_append(&b->bufs[t], l->bufs[t].data, l->bufs[t].len);
			b->buf_rows[t] += l->rows[t];
			b->rows += l->rows[t];
			nb_buf_reset(&l->bufs[t]);
			l->rows[t] = 0;
		}
	for (int i = 0; i < n; i++) {
		sink_job *j = &s->jobs[i];
		const char *topic = rd_kafka_topic_name(j->m->rkt);
		if (j->error) {
			sink_dlq_send(s, j->m, topic, j->error);
			free(j->error);
		} else if (j->r.kind == NB_SINK_TOMBSTONE) {
			s->tombstones++;
		} else if (j->r.kind == NB_SINK_TRUNCATE) {
			if (b->ntruncs == b->cap_truncs) {
				b->cap_truncs = b->cap_truncs ? 2 * b->cap_truncs : 4;
				b->truncs = nb_xrealloc(b->truncs,
							(size_t)b->cap_truncs * sizeof *b->truncs);
			}
			b->truncs[b->ntruncs++] = (sink_trunc){
			    .table = j->table,
			    .lsn = j->r.lsn,
			    .sql = nb_sink_truncate_sql(&s->schema.tables[j->table], &j->r)};
			s->truncates++;
			sink_log(s, "truncate of %s @%" PRId64 " (lsn %" PRIu64 "): %s", topic,
				 j->m->offset, j->r.lsn,
				 j->r.trunc_col < 0 ? "every older row marked deleted"
						    : "that month's older rows marked deleted");
		} else {
			if (j->r.lsn > s->parts[j->part].batch_lsn)
				s->parts[j->part].batch_lsn = j->r.lsn;
			if (j->r.nrows && (!b->min_lsn[j->table] || j->r.lsn < b->min_lsn[j->table]))
				b->min_lsn[j->table] = j->r.lsn;
		}
	}
	s->njobs = 0;
}

static void sink_lanes_start(sink *s)
{
	for (int k = 0; k < SINK_LANES; k++) {
		s->lanes[k].bufs = nb_xcalloc((size_t)s->schema.ntables, sizeof *s->lanes[k].bufs);
		s->lanes[k].rows = nb_xcalloc((size_t)s->schema.ntables, sizeof *s->lanes[k].rows);
	}
	int lanes = s->o->threads < 1 ? 1 : s->o->threads > SINK_LANES ? SINK_LANES : s->o->threads;
	for (int k = 1; k < lanes; k++) {
		void **arg = nb_xmalloc(2 * sizeof *arg);
		arg[0] = s;
		arg[1] = &s->lanes[k];
		if (pthread_create(&s->lane_thr[k - 1], NULL, sink_lane_main, arg) != 0) {
			free(arg);
			break;
		}
		s->nlane_thr++;
	}
}

static void sink_lanes_stop(sink *s)
{
	pthread_mutex_lock(&s->lmu);
	s->lanes_quit = 1;
	pthread_cond_broadcast(&s->lcv);
	pthread_mutex_unlock(&s->lmu);
	for (int k = 0; k < s->nlane_thr; k++)
		pthread_join(s->lane_thr[k], NULL);
	s->nlane_thr = 0;
	for (int k = 0; k < SINK_LANES; k++) {
		for (int t = 0; s->lanes[k].bufs && t < s->schema.ntables; t++)
			nb_buf_done(&s->lanes[k].bufs[t]);
		free(s->lanes[k].bufs);
		free(s->lanes[k].rows);
		s->lanes[k].bufs = NULL;
		s->lanes[k].rows = NULL;
	}
}

/* ---- Kafka setup ---- */

static void sink_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
			   rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	sink *s = opaque;
	if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		/* what the group committed: the base for lag and gap detection */
		if (rd_kafka_committed(rk, parts, 5000) == 0) {
			for (int i = 0; i < parts->cnt; i++) {
				sink_part *p = sink_part_get(s, parts->elems[i].topic,
							     parts->elems[i].partition);
				p->committed = parts->elems[i].offset >= 0 ? parts->elems[i].offset : -1;
				p->next = p->committed;
			}
			for (int i = 0; i < parts->cnt; i++)
				parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
		}
		for (int i = 0; i < parts->cnt; i++)
			sink_part_get(s, parts->elems[i].topic, parts->elems[i].partition)->assigned = 1;
		sink_log(s, "assigned %d partitions", parts->cnt);
		rd_kafka_assign(rk, parts);
		sink_status_write(s);
	} else {
		/* the batch in hand is stored and committed before another sink of
		 * the group gets these partitions: it resumes where this one left */
		sink_flush_sync(s);
		for (int i = 0; i < s->nparts; i++) {
			s->parts[i].next = -1;
			s->parts[i].assigned = 0;
		}
		sink_log(s, "revoked %d partitions", parts->cnt);
		rd_kafka_assign(rk, NULL);
	}
}

static int sink_conf_set(rd_kafka_conf_t *c, const char *k, const char *v, nb_err *err)
{
	char es[512];
	if (rd_kafka_conf_set(c, k, v, es, sizeof es) != RD_KAFKA_CONF_OK)
		return nb_err_set(err, NB_EINPUT, "Kafka setting %s=%s: %s", k, v, es);
	return 0;
}

/* librdkafka's errors, served by the main loop's consume calls. Every
 * broker gone is what a restart of the embedded Kafka looks like (its log
 * and the group's offsets are gone with it): the main loop rewinds. */
static void sink_kafka_error(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
	(void)rk;
	sink *s = opaque;
	sink_log(s, "librdkafka ERROR: %s", reason);
	if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		__atomic_store_n(&s->kafka_lost, 1, __ATOMIC_RELAXED);
}

/* After every broker went away: the fetch positions and the offsets read
 * count a log that may be gone (the embedded Kafka restarts empty, on the
 * same port: a position of the old log, fetched in the new one, would skip
 * its first messages; the relay would then take later rows for proof that
 * the skipped ones are stored). The assigned partitions are read again from
 * the group's committed offsets in the Kafka that answers now — none in a
 * new embedded Kafka, so from its beginning (auto.offset.reset); with a
 * durable Kafka, the uncommitted rest again (deduplicated in ClickHouse) —
 * and nothing read before is committed (kgen). */
static void sink_kafka_rewind(sink *s)
{
	__atomic_store_n(&s->kafka_lost, 0, __ATOMIC_RELAXED);
	pthread_mutex_lock(&s->kmu);
	s->kgen++;
	pthread_mutex_unlock(&s->kmu);
	rd_kafka_topic_partition_list_t *cur = NULL;
	rd_kafka_resp_err_t e = rd_kafka_assignment(s->rk, &cur);
	if (!e && cur && cur->cnt) {
		for (int i = 0; i < cur->cnt; i++)
			cur->elems[i].offset = RD_KAFKA_OFFSET_INVALID; /* the committed one */
		/* unassigning drops what librdkafka fetched for them meanwhile */
		e = rd_kafka_assign(s->rk, NULL);
		if (!e)
			e = rd_kafka_assign(s->rk, cur);
	}
	for (int i = 0; i < s->nparts; i++)
		s->parts[i].next = s->parts[i].committed = -1;
	sink_log(s, "Kafka went away: %d partitions are read again from the group's committed "
		    "offsets (a Kafka that restarted empty has none: from its beginning); offsets "
		    "read before are not committed%s%s",
		 cur ? cur->cnt : 0, e ? "; reassigning failed: " : "", e ? rd_kafka_err2str(e) : "");
	if (cur)
		rd_kafka_topic_partition_list_destroy(cur);
}

static void sink_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	sink *s = rd_kafka_opaque(rk);
	if (level <= 4 && s)
		sink_log(s, "librdkafka %s: %s", fac, buf);
}

static int sink_kafka_open(sink *s, nb_err *err)
{
	const nb_sink_opts *o = s->o;
	char es[512];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	if (sink_conf_set(c, "bootstrap.servers", o->kafka, err) ||
	    sink_conf_set(c, "group.id", o->group, err) ||
	    sink_conf_set(c, "client.id", "neonblue-sink", err) ||
	    sink_conf_set(c, "enable.auto.commit", "false", err) ||
	    sink_conf_set(c, "enable.auto.offset.store", "false", err) ||
	    sink_conf_set(c, "auto.offset.reset", "earliest", err) ||
	    sink_conf_set(c, "topic.metadata.refresh.interval.ms", "2000", err) ||
	    sink_conf_set(c, "max.poll.interval.ms", "86400000", err) ||
	    sink_conf_set(c, "session.timeout.ms", "6000", err) ||
	    sink_conf_set(c, "heartbeat.interval.ms", "1000", err) ||
	    sink_conf_set(c, "fetch.wait.max.ms", "50", err)) {
		rd_kafka_conf_destroy(c);
		return -1;
	}
	rd_kafka_conf_set_opaque(c, s);
	rd_kafka_conf_set_rebalance_cb(c, sink_rebalance);
	rd_kafka_conf_set_error_cb(c, sink_kafka_error);
	rd_kafka_conf_set_log_cb(c, sink_kafka_log);
	s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof es);
	if (!s->rk) {
		rd_kafka_conf_destroy(c);
		return nb_err_set(err, NB_EINPUT, "cannot create the Kafka consumer: %s", es);
	}
	rd_kafka_poll_set_consumer(s->rk);

	rd_kafka_conf_t *pc = rd_kafka_conf_new();
	if (sink_conf_set(pc, "bootstrap.servers", o->kafka, err) ||
	    sink_conf_set(pc, "client.id", "neonblue-sink-dlq", err) ||
	    sink_conf_set(pc, "enable.idempotence", "true", err) ||
	    sink_conf_set(pc, "message.timeout.ms", "0", err) ||
	    sink_conf_set(pc, "linger.ms", "5", err)) {
		rd_kafka_conf_destroy(pc);
		return -1;
	}
	rd_kafka_conf_set_opaque(pc, s);
	rd_kafka_conf_set_log_cb(pc, sink_kafka_log);
	s->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, pc, es, sizeof es);
	if (!s->dlq) {
		rd_kafka_conf_destroy(pc);
		return nb_err_set(err, NB_EINPUT, "cannot create the dead-letter producer: %s", es);
	}

	/* ^<prefix>\. — every topic of the prefix; the DLQ itself is skipped. */
	nb_buf re;
	nb_buf_init(&re);
	nb_buf_putc(&re, '^');
	for (const char *p = o->prefix; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			nb_buf_putc(&re, '\\');
		nb_buf_putc(&re, *p);
	}
	size_t esc_end = re.len;
	nb_buf_puts(&re, "\\..*");
	/* Debezium's heartbeats go to __debezium-heartbeat.<prefix>: consumed
	 * and counted as ignored, so they never look like lag. */
	nb_buf hb;
	nb_buf_init(&hb);
	nb_buf_puts(&hb, "^__debezium-heartbeat\\.");
	nb_buf_append(&hb, re.data + 1, esc_end - 1);
	nb_buf_putc(&hb, '$');
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(2);
	rd_kafka_topic_partition_list_add(sub, re.data, RD_KAFKA_PARTITION_UA);
	rd_kafka_topic_partition_list_add(sub, hb.data, RD_KAFKA_PARTITION_UA);
	nb_buf_done(&hb);
	rd_kafka_resp_err_t e = rd_kafka_subscribe(s->rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (e) {
		nb_err_set(err, NB_EINPUT, "cannot subscribe to %s: %s", re.data, rd_kafka_err2str(e));
		nb_buf_done(&re);
		return -1;
	}
	sink_log(s, "consuming %s in group %s from %s", re.data, o->group, o->kafka);
	nb_buf_done(&re);
	return 0;
}

/* ---- main loop ---- */

static int sink_due(const sink *s)
{
	const sink_batch *b = s->fill;
	return b->msgs &&
	       (b->rows >= s->o->batch_rows || sink_now_ms() - b->start_ms >= s->o->batch_ms);
}

static void sink_loop(sink *s)
{
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(s->rk);
	rd_kafka_message_t *msgs[SINK_ROUND];
	while (!*s->stop) {
		int wait = 100;
		if (s->fill->msgs) {
			int64_t left = s->fill->start_ms + s->o->batch_ms - sink_now_ms();
			wait = left < 0 ? 0 : left < wait ? (int)left : wait;
		}
		size_t want = sizeof msgs / sizeof *msgs;
		ssize_t n = rd_kafka_consume_batch_queue(q, wait, msgs, want);
		if (n >= 0 && __atomic_load_n(&s->kafka_lost, __ATOMIC_RELAXED)) {
			/* every broker went away during this call: what it returned
			 * after that may come from a new log at the old positions.
			 * Dropped, read again from the committed offsets. */
			for (ssize_t i = 0; i < n; i++)
				rd_kafka_message_destroy(msgs[i]);
			n = 0;
			sink_kafka_rewind(s);
		}
		for (ssize_t i = 0; i < n; i++)
			sink_message(s, msgs[i]);
		if (s->njobs)
			sink_map_round(s);
		for (ssize_t i = 0; i < n; i++)
			rd_kafka_message_destroy(msgs[i]);
		if (sink_due(s))
			sink_handoff(s, 0);
		else if (s->done) {
			pthread_mutex_lock(&s->mu);
			sink_collect(s);
			pthread_mutex_unlock(&s->mu);
		}
		rd_kafka_poll(s->dlq, 0);
		sink_status_tick(s);
	}
	rd_kafka_queue_destroy(q);
}

static void sink_done(sink *s)
{
	sink_complete_stop(s->complete);
	if (s->rk) {
		rd_kafka_consumer_close(s->rk); /* the revoke stores what is left */
		sink_store_stop(s);
		rd_kafka_destroy(s->rk);
	}
	sink_store_stop(s);
	sink_lanes_stop(s);
	if (s->dlq) {
		rd_kafka_flush(s->dlq, 5000);
		rd_kafka_destroy(s->dlq);
	}
	for (int k = 0; k < 2; k++) {
		for (int i = 0; s->batch[k].bufs && i < s->schema.ntables; i++)
			nb_buf_done(&s->batch[k].bufs[i]);
		free(s->batch[k].bufs);
		free(s->batch[k].buf_rows);
		free(s->batch[k].min_lsn);
		for (int i = 0; i < s->batch[k].ntruncs; i++)
			free(s->batch[k].truncs[i].sql);
		free(s->batch[k].truncs);
		free(s->batch[k].parts);
	}
	for (int i = 0; i < s->napplied; i++)
		free(s->applied[i].sql);
	for (int i = 0; i < s->nparts; i++)
		free(s->parts[i].topic);
	free(s->parts);
	nb_sink_schema_done(&s->schema);
	nb_ch_free(s->ch);
	nb_buf_done(&s->tmp);
	nb_buf_done(&s->ptmp);
	nb_buf_done(&s->touch);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->lmu);
	pthread_cond_destroy(&s->lcv);
	pthread_mutex_destroy(&s->kmu);
}

int nb_sink_run(const nb_sink_opts *opts, volatile sig_atomic_t *stop, nb_err *err)
{
	nb_sink_opts o = *opts;
	if (!o.group || !*o.group)
		o.group = "neonblue-sink";
	if (!o.prefix || !*o.prefix)
		o.prefix = "neonblue";
	if (o.batch_rows <= 0)
		o.batch_rows = 50000;
	if (o.batch_ms <= 0)
		o.batch_ms = 200;
	if (o.threads <= 0)
		o.threads = 4;
	if (!o.kafka || !*o.kafka)
		return nb_err_set(err, NB_EINPUT, "no Kafka bootstrap servers given (--kafka or "
						  "NEONBLUE_KAFKA)");
	sink s;
	memset(&s, 0, sizeof s);
	s.o = &o;
	s.stop = stop;
	s.started_s = sink_now_ms() / 1000;
	s.fill = &s.batch[0];
	s.flight = &s.batch[1];
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	pthread_mutex_init(&s.lmu, NULL);
	pthread_cond_init(&s.lcv, NULL);
	pthread_mutex_init(&s.kmu, NULL);
	nb_buf_init(&s.tmp);
	nb_buf_init(&s.ptmp);
	nb_buf_init(&s.touch);
	snprintf(s.dlq_topic, sizeof s.dlq_topic, "%s.dlq", o.prefix);
	snprintf(s.hb_topic, sizeof s.hb_topic, "__debezium-heartbeat.%s", o.prefix);
	int rc = sink_ch_open(&s, err);
	if (rc == 0)
		rc = sink_kafka_open(&s, err);
	if (rc == 0) {
		sink_lanes_start(&s);
		s.complete = sink_complete_start(&s);
	}
	if (rc == 0 && pthread_create(&s.store, NULL, sink_store_main, &s) != 0)
		rc = nb_err_set(err, NB_ESERVER, "cannot start the store thread");
	if (rc == 0) {
		s.store_started = 1;
		sink_status_write(&s);
		sink_loop(&s);
		sink_gave_up(&s); /* starts the grace period */
		sink_flush_sync(&s);
		sink_log(&s, "stopping: %" PRIu64 " messages, %" PRIu64 " rows, %" PRIu64
			     " dead-lettered",
			 s.msgs, s.rows, s.dlq_count);
		sink_status_write(&s);
	}
	sink_done(&s);
	return rc;
}
