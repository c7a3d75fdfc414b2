/* sink/sink.c — the sink's runner: a Kafka consumer group feeding batched
 * ClickHouse inserts; offsets are committed only after ClickHouse said 200. */
#include "neonblue/sink.h"

#include "neonblue/ch.h"
#include "neonblue/base.h"

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

#define SINK_STOP_GRACE_MS 15000 /* after a stop request, how long to retry a batch */

typedef struct sink_part {
	char *topic;
	int32_t partition;
	int table;           /* schema index or -1 */
	int64_t next;        /* offset expected next, -1 unknown */
	int64_t committed;   /* offset committed to the group, -1 unknown */
	int64_t batch_next;  /* offset after the last message in the filling batch */
	uint64_t batch_lsn;  /* highest lsn in the filling batch */
	uint64_t lsn;        /* highest lsn committed */
	int dirty;           /* has offsets in the filling batch */
} sink_part;

/* A partition's share of a batch handed to the store thread. */
typedef struct sink_bpart {
	int idx;            /* in sink.parts */
	const char *topic;  /* owned by sink.parts (stable) */
	int32_t partition;
	int table;
	int64_t next;
	uint64_t lsn;
	int committed;      /* result: the offset was committed */
} sink_bpart;

/* Rows per table plus the offsets they came from. The main thread fills one
 * while the store thread writes the other to ClickHouse and commits it. */
typedef struct sink_batch {
	nb_buf *bufs;
	int *buf_rows;
	int rows, msgs;
	int64_t start_ms;
	sink_bpart *parts;
	int nparts, cap;
	int result;          /* store thread: 1 stored and committed, -1 dropped */
	uint64_t stored_rows;
	int64_t stored_ms;
} sink_batch;

#define SINK_ROUND 512 /* messages taken from librdkafka at once */
#define SINK_LANES 8   /* at most this many lanes map a round (main thread = lane 0) */

/* One message of a round, mapped by some lane. */
typedef struct sink_job {
	const rd_kafka_message_t *m;
	int part, table;
	nb_sink_out r;
	char *error; /* why it goes to the DLQ, or NULL */
} sink_job;

/* A mapping lane: its slice of the round and its own row buffers, appended
 * to the batch in lane order (so each table keeps the messages' order). */
typedef struct sink_lane {
	nb_buf *bufs;
	int *rows;
	int from, to;
} sink_lane;

typedef struct sink {
	const nb_sink_opts *o;
	volatile sig_atomic_t *stop;
	rd_kafka_t *rk, *dlq;
	char dlq_topic[256];
	nb_ch *ch; /* the store thread's once it runs */
	nb_sink_schema schema;
	sink_batch batch[2];
	sink_batch *fill;   /* main thread */
	sink_batch *flight; /* store thread, while busy */
	sink_part *parts;
	int nparts, last_part;
	uint64_t msgs, rows, tombstones, skipped, dlq_count, batches, gaps, lost, seq;
	int64_t started_s, last_row_ms, status_ms;
	char last_gap[512];
	nb_buf tmp, ptmp;
	/* mapping lanes */
	sink_job jobs[SINK_ROUND];
	int njobs;
	sink_lane lanes[SINK_LANES];
	pthread_t lane_thr[SINK_LANES];
	int nlane_thr;
	pthread_mutex_t lmu;
	pthread_cond_t lcv;
	unsigned lane_gen;
	int lanes_pending, lanes_quit;
	/* shared with the store thread, under mu */
	pthread_t store;
	int store_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int busy, done, quit;
	int64_t stop_ms;
	int ch_ok;
	char waiting[1200];
} sink;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sink_log(sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sink_log(sink *s, const char *fmt, ...)
{
	if (!s->o->log)
		return;
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	s->o->log(s->o->log_ud, line);
}

/* ---- partitions ---- */

static sink_part *sink_part_get(sink *s, const char *topic, int32_t partition)
{
	if (s->last_part < s->nparts) { /* consecutive messages mostly share one */
		sink_part *p = &s->parts[s->last_part];
		if (p->partition == partition && !strcmp(p->topic, topic))
			return p;
	}
	for (int i = 0; i < s->nparts; i++)
		if (s->parts[i].partition == partition && !strcmp(s->parts[i].topic, topic)) {
			s->last_part = i;
			return &s->parts[i];
		}
	s->parts = nb_xrealloc(s->parts, (size_t)(s->nparts + 1) * sizeof *s->parts);
	sink_part *p = &s->parts[s->nparts];
	s->last_part = s->nparts++;
	memset(p, 0, sizeof *p);
	p->topic = nb_xstrdup(topic);
	p->partition = partition;
	p->table = nb_sink_schema_table_for_topic(&s->schema, topic);
	p->next = p->committed = p->batch_next = -1;
	return p;
}

/* ---- status file (main thread) ---- */

static void sink_status_write(sink *s)
{
	if (!s->o->status_path)
		return;
	int64_t now = now_ms();
	pthread_mutex_lock(&s->mu);
	int pending = s->fill->rows + (s->busy ? s->flight->rows : 0);
	int ch_ok = s->ch_ok;
	char waiting[sizeof s->waiting];
	memcpy(waiting, s->waiting, sizeof waiting);
	pthread_mutex_unlock(&s->mu);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "component", "sink");
	cJSON_AddNumberToObject(j, "pid", getpid());
	cJSON_AddStringToObject(j, "group", s->o->group);
	cJSON_AddNumberToObject(j, "started_at", (double)s->started_s);
	cJSON_AddNumberToObject(j, "updated_at", (double)(now / 1000));
	cJSON_AddNumberToObject(j, "messages", (double)s->msgs);
	cJSON_AddNumberToObject(j, "rows", (double)s->rows);
	cJSON_AddNumberToObject(j, "tombstones", (double)s->tombstones);
	cJSON_AddNumberToObject(j, "skipped", (double)s->skipped);
	cJSON_AddNumberToObject(j, "dlq", (double)s->dlq_count);
	cJSON_AddNumberToObject(j, "batches", (double)s->batches);
	cJSON_AddNumberToObject(j, "batch_rows_pending", pending);
	if (s->last_row_ms) {
		cJSON_AddNumberToObject(j, "last_row_at", (double)(s->last_row_ms / 1000));
		cJSON_AddNumberToObject(j, "seconds_since_last_row",
					(double)(now - s->last_row_ms) / 1000.0);
	} else {
		cJSON_AddNullToObject(j, "last_row_at");
		cJSON_AddNullToObject(j, "seconds_since_last_row");
	}
	cJSON *arr = cJSON_AddArrayToObject(j, "partitions");
	int64_t total = 0;
	for (int i = 0; i < s->nparts; i++) {
		sink_part *p = &s->parts[i];
		int64_t lo = -1, hi = -1;
		rd_kafka_get_watermark_offsets(s->rk, p->topic, p->partition, &lo, &hi);
		int64_t base = p->committed >= 0 ? p->committed : lo;
		int64_t lag = hi >= 0 && base >= 0 && hi > base ? hi - base : 0;
		total += lag;
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "topic", p->topic);
		cJSON_AddNumberToObject(e, "partition", p->partition);
		cJSON_AddNumberToObject(e, "committed", (double)p->committed);
		cJSON_AddNumberToObject(e, "high_watermark", (double)hi);
		cJSON_AddNumberToObject(e, "lag", (double)lag);
		cJSON_AddNumberToObject(e, "lsn", (double)p->lsn);
		cJSON_AddItemToArray(arr, e);
	}
	cJSON_AddNumberToObject(j, "lag_total", (double)total);
	cJSON_AddNumberToObject(j, "gaps", (double)s->gaps);
	cJSON_AddNumberToObject(j, "lost_messages", (double)s->lost);
	if (s->last_gap[0])
		cJSON_AddStringToObject(j, "last_gap", s->last_gap);
	else
		cJSON_AddNullToObject(j, "last_gap");
	cJSON_AddBoolToObject(j, "clickhouse_ok", ch_ok);
	if (waiting[0])
		cJSON_AddStringToObject(j, "waiting_for", waiting);
	else
		cJSON_AddNullToObject(j, "waiting_for");
	char *text = nb_json_print(j);
	cJSON_Delete(j);
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp", s->o->status_path);
	FILE *f = fopen(tmp, "w");
	if (f) {
		fputs(text, f);
		fputc('\n', f);
		if (fclose(f) == 0)
			rename(tmp, s->o->status_path);
	}
	free(text);
}

static void sink_status_tick(sink *s)
{
	int64_t now = now_ms();
	if (now - s->status_ms >= 1000) {
		s->status_ms = now;
		sink_status_write(s);
	}
}

static void sink_set_waiting(sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sink_set_waiting(sink *s, const char *fmt, ...)
{
	pthread_mutex_lock(&s->mu);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->waiting, sizeof s->waiting, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&s->mu);
}

/* True once a stop was requested and the grace period for storing is over. */
static int sink_gave_up(sink *s)
{
	pthread_mutex_lock(&s->mu);
	if (*s->stop && !s->stop_ms)
		s->stop_ms = now_ms();
	int over = *s->stop && now_ms() - s->stop_ms > SINK_STOP_GRACE_MS;
	pthread_mutex_unlock(&s->mu);
	return over;
}

/* Sleeps up to ms in small steps; returns early once sink_gave_up(). */
static void sink_sleep(sink *s, int ms)
{
	int64_t end = now_ms() + ms;
	while (now_ms() < end && !sink_gave_up(s)) {
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* ---- the store thread: ClickHouse, then the DLQ, then the offsets ---- */

static int sink_insert_progress(sink *s, sink_batch *b, nb_err *err)
{
	nb_buf *t = &s->ptmp;
	nb_buf_reset(t);
	int64_t now = now_ms();
	for (int i = 0; i < b->nparts; i++) {
		sink_bpart *p = &b->parts[i];
		const char *tab = p->table >= 0 ? s->schema.tables[p->table].name : "";
		nb_ch_escape(t, p->topic, strlen(p->topic), NB_CH_TSV);
		nb_buf_printf(t, "\t%d\t", (int)p->partition);
		nb_ch_escape(t, tab, strlen(tab), NB_CH_TSV);
		nb_buf_printf(t, "\t%" PRId64 "\t%" PRIu64 "\t%010" PRId64 "\t%" PRIu64 "\n", p->next,
			      p->lsn, now / 1000, (uint64_t)now * 1000 + (s->seq++ % 1000));
	}
	if (!t->len)
		return 0;
	return nb_ch_insert(s->ch,
			    "INSERT INTO neonblue.cdc_progress (topic, partition, source_table, "
			    "next_offset, lsn, updated_at, seq) FORMAT TabSeparated",
			    t->data, t->len, err);
}

/* Inserts every table's rows, then the progress rows. Tables already
 * inserted are emptied, so a retry sends only what is left. */
static int sink_insert_all(sink *s, sink_batch *b, nb_err *err)
{
	for (int t = 0; t < s->schema.ntables; t++) {
		if (!b->buf_rows[t])
			continue;
		if (nb_ch_insert(s->ch, s->schema.tables[t].insert_sql, b->bufs[t].data,
				 b->bufs[t].len, err) < 0)
			return -1;
		b->stored_rows += (uint64_t)b->buf_rows[t];
		b->stored_ms = now_ms();
		nb_buf_reset(&b->bufs[t]);
		b->buf_rows[t] = 0;
	}
	return sink_insert_progress(s, b, err);
}

/* Waits until the DLQ producer has every message acknowledged. */
static int sink_dlq_drain(sink *s)
{
	while (rd_kafka_outq_len(s->dlq) > 0) {
		if (sink_gave_up(s))
			return -1;
		rd_kafka_flush(s->dlq, 200);
		if (rd_kafka_outq_len(s->dlq) > 0)
			sink_set_waiting(s, "Kafka to acknowledge %d dead-letter messages",
					 rd_kafka_outq_len(s->dlq));
	}
	return 0;
}

static void sink_commit(sink *s, sink_batch *b)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(b->nparts + 1);
	for (int i = 0; i < b->nparts; i++)
		rd_kafka_topic_partition_list_add(l, b->parts[i].topic, b->parts[i].partition)
			->offset = b->parts[i].next;
	rd_kafka_resp_err_t e = l->cnt ? rd_kafka_commit(s->rk, l, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
	if (e)
		sink_log(s, "committing offsets failed: %s (the rows are in ClickHouse; a replay "
			    "of them is deduplicated)",
			 rd_kafka_err2str(e));
	for (int i = 0; i < l->cnt && !e; i++)
		b->parts[i].committed = !l->elems[i].err;
	rd_kafka_topic_partition_list_destroy(l);
}

/* Stores one batch (retrying with backoff while ClickHouse is down), waits
 * for the DLQ, then commits. -1 only when a stop's grace period ran out: the
 * batch is then dropped uncommitted. */
static int sink_store(sink *s, sink_batch *b)
{
	int backoff = 100, attempt = 0;
	int64_t t0 = now_ms();
	nb_err err;
	if (s->o->verbose)
		sink_log(s, "storing %d rows (%d messages) after %lld ms of batching", b->rows,
			 b->msgs, (long long)(t0 - b->start_ms));
	while (sink_insert_all(s, b, &err) < 0) {
		attempt++;
		pthread_mutex_lock(&s->mu);
		s->ch_ok = 0;
		snprintf(s->waiting, sizeof s->waiting, "ClickHouse (%d rows held): %s", b->rows,
			 err.msg);
		pthread_mutex_unlock(&s->mu);
		if (attempt == 1 || attempt % 10 == 0)
			sink_log(s, "holding %d rows and their offsets, retry %d in %d ms: %s",
				 b->rows, attempt, backoff, err.msg);
		if (sink_gave_up(s)) {
			sink_log(s, "stopping with %d rows not stored; their offsets stay "
				    "uncommitted and are consumed again on restart",
				 b->rows);
			return -1;
		}
		sink_sleep(s, backoff);
		backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
	}
	if (attempt)
		sink_log(s, "ClickHouse is back: stored the held batch after %d retries", attempt);
	pthread_mutex_lock(&s->mu);
	s->ch_ok = 1;
	pthread_mutex_unlock(&s->mu);
	if (sink_dlq_drain(s) < 0)
		return -1;
	sink_set_waiting(s, "%s", "");
	sink_commit(s, b);
	if (s->o->verbose)
		sink_log(s, "stored and committed in %lld ms", (long long)(now_ms() - t0));
	return 0;
}

static void *sink_store_main(void *arg)
{
	sink *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->busy && !s->quit)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->busy)
			break;
		sink_batch *b = s->flight;
		pthread_mutex_unlock(&s->mu);
		b->result = sink_store(s, b) < 0 ? -1 : 1;
		pthread_mutex_lock(&s->mu);
		s->busy = 0;
		s->done = 1;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- handing batches over (main thread) ---- */

static void sink_batch_reset(sink *s, sink_batch *b)
{
	for (int t = 0; t < s->schema.ntables; t++) {
		nb_buf_reset(&b->bufs[t]);
		b->buf_rows[t] = 0;
	}
	b->rows = b->msgs = b->nparts = 0;
	b->result = 0;
	b->stored_rows = 0;
	b->stored_ms = 0;
}

/* Applies a finished batch's results to the partitions and counters.
 * Called with mu held. */
static void sink_collect(sink *s)
{
	if (!s->done)
		return;
	s->done = 0;
	sink_batch *b = s->flight;
	for (int i = 0; i < b->nparts; i++) {
		sink_part *p = &s->parts[b->parts[i].idx];
		if (b->result > 0 && b->parts[i].committed)
			p->committed = b->parts[i].next;
		if (b->result > 0 && b->parts[i].lsn > p->lsn)
			p->lsn = b->parts[i].lsn;
	}
	s->rows += b->stored_rows;
	if (b->stored_rows)
		s->last_row_ms = b->stored_ms;
	if (b->result > 0)
		s->batches++;
	sink_batch_reset(s, b);
}

/* Waits (with mu held) until the store thread is idle, keeping the status
 * file fresh. */
static void sink_wait_idle(sink *s)
{
	while (s->busy) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		pthread_mutex_unlock(&s->mu);
		sink_status_tick(s);
		rd_kafka_poll(s->dlq, 0);
		pthread_mutex_lock(&s->mu);
	}
	sink_collect(s);
}

/* Hands the filling batch to the store thread. Without `block` it returns
 * at once if the store thread is still busy (and the filling batch is not
 * yet twice the batch size). */
static void sink_handoff(sink *s, int block)
{
	pthread_mutex_lock(&s->mu);
	sink_collect(s);
	if (s->busy && !block && s->fill->rows < 2 * s->o->batch_rows) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	sink_wait_idle(s);
	sink_batch *b = s->fill;
	for (int i = 0; i < s->nparts; i++) {
		sink_part *p = &s->parts[i];
		if (!p->dirty)
			continue;
		if (b->nparts == b->cap) {
			b->cap = b->cap ? b->cap * 2 : 16;
			b->parts = nb_xrealloc(b->parts, (size_t)b->cap * sizeof *b->parts);
		}
		b->parts[b->nparts++] = (sink_bpart){.idx = i, .topic = p->topic,
						     .partition = p->partition, .table = p->table,
						     .next = p->batch_next, .lsn = p->batch_lsn};
		p->dirty = 0;
		p->batch_lsn = 0;
	}
	s->flight = b;
	s->fill = b == &s->batch[0] ? &s->batch[1] : &s->batch[0];
	s->busy = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Stores everything consumed so far and waits for it. */
static void sink_flush_sync(sink *s)
{
	if (!s->store_started)
		return;
	if (s->fill->msgs)
		sink_handoff(s, 1);
	pthread_mutex_lock(&s->mu);
	sink_wait_idle(s);
	pthread_mutex_unlock(&s->mu);
}

/* ---- messages ---- */

static void sink_dlq_send(sink *s, const rd_kafka_message_t *m, const char *topic,
			  const char *reason)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "reason", reason);
	cJSON_AddStringToObject(j, "topic", topic);
	cJSON_AddNumberToObject(j, "partition", m->partition);
	cJSON_AddNumberToObject(j, "offset", (double)m->offset);
	cJSON_AddNumberToObject(j, "dlq_ts_ms", (double)now_ms());
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

/* Phase 1, in order: errors, gaps, offsets, routing; a message to map is
 * queued as a job of the round. */
static void sink_message(sink *s, const rd_kafka_message_t *m)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	if (m->err) {
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			return;
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
	p->dirty = 1;
	sink_batch *b = s->fill;
	if (!b->msgs)
		b->start_ms = now_ms();
	b->msgs++;
	s->msgs++;
	if (!strcmp(topic, s->dlq_topic))
		return; /* our own dead letters: consumed, never re-processed */
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
		} else if (j->r.kind == NB_SINK_SKIPPED) {
			s->skipped++;
			sink_log(s, "skipped op '%c' on %s @%" PRId64 " (not replicated)", j->r.op,
				 topic, j->m->offset);
		} else if (j->r.lsn > s->parts[j->part].batch_lsn) {
			s->parts[j->part].batch_lsn = j->r.lsn;
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
		sink_log(s, "assigned %d partitions", parts->cnt);
		rd_kafka_assign(rk, parts);
	} else {
		sink_flush_sync(s);
		for (int i = 0; i < s->nparts; i++)
			s->parts[i].next = -1;
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
	nb_buf_puts(&re, "\\..*");
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, re.data, RD_KAFKA_PARTITION_UA);
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

/* ---- ClickHouse setup ---- */

static int sink_ch_open(sink *s, nb_err *err)
{
	s->ch = nb_ch_new(s->o->clickhouse, err);
	if (!s->ch)
		return -1;
	int backoff = 200, attempt = 0;
	for (;;) {
		nb_buf b;
		nb_buf_init(&b);
		int rc = 0;
		if (s->o->migrate)
			rc = nb_ch_migrate(s->o->clickhouse, err) < 0 ? -1 : 0;
		if (rc == 0)
			rc = nb_ch_query(s->ch, NB_SINK_SCHEMA_SQL, &b, err);
		if (rc == 0) {
			rc = nb_sink_schema_parse(b.data ? b.data : "", b.len, &s->schema, err);
			nb_buf_done(&b);
			if (rc < 0)
				return -1;
			if (s->schema.ntables == 0) {
				nb_sink_schema_done(&s->schema);
				nb_err_set(err, NB_ESERVER,
					   "ClickHouse has no tables in database neonblue (run "
					   "`neonblue migrate`)");
			} else {
				break;
			}
		} else {
			nb_buf_done(&b);
		}
		if (err->code == NB_EINPUT)
			return -1;
		attempt++;
		sink_set_waiting(s, "ClickHouse: %s", err->msg);
		if (attempt == 1 || attempt % 10 == 0)
			sink_log(s, "waiting for ClickHouse (attempt %d): %s", attempt, err->msg);
		if (*s->stop)
			return -1;
		sink_sleep(s, backoff);
		backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
		sink_status_tick(s);
	}
	sink_set_waiting(s, "%s", "");
	s->ch_ok = 1;
	for (int i = 0; i < 2; i++) {
		s->batch[i].bufs = nb_xcalloc((size_t)s->schema.ntables, sizeof *s->batch[i].bufs);
		s->batch[i].buf_rows =
			nb_xcalloc((size_t)s->schema.ntables, sizeof *s->batch[i].buf_rows);
	}
	nb_buf b;
	nb_buf_init(&b);
	for (int i = 0; i < s->schema.ntables; i++)
		nb_buf_printf(&b, "%s%s", i ? ", " : "", s->schema.tables[i].name);
	sink_log(s, "ClickHouse %s: tables %s", s->o->clickhouse, b.data);
	nb_buf_done(&b);
	return 0;
}

/* ---- main loop ---- */

static int sink_due(const sink *s)
{
	const sink_batch *b = s->fill;
	return b->msgs &&
	       (b->rows >= s->o->batch_rows || now_ms() - b->start_ms >= s->o->batch_ms);
}

static void sink_loop(sink *s)
{
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(s->rk);
	rd_kafka_message_t *msgs[SINK_ROUND];
	while (!*s->stop) {
		int wait = 100;
		if (s->fill->msgs) {
			int64_t left = s->fill->start_ms + s->o->batch_ms - now_ms();
			wait = left < 0 ? 0 : left < wait ? (int)left : wait;
		}
		size_t want = sizeof msgs / sizeof *msgs;
		ssize_t n = rd_kafka_consume_batch_queue(q, wait, msgs, want);
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

static void sink_store_stop(sink *s)
{
	if (!s->store_started)
		return;
	pthread_mutex_lock(&s->mu);
	s->quit = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->store, NULL);
	s->store_started = 0;
}

static void sink_done(sink *s)
{
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
		free(s->batch[k].parts);
	}
	for (int i = 0; i < s->nparts; i++)
		free(s->parts[i].topic);
	free(s->parts);
	nb_sink_schema_done(&s->schema);
	nb_ch_free(s->ch);
	nb_buf_done(&s->tmp);
	nb_buf_done(&s->ptmp);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->lmu);
	pthread_cond_destroy(&s->lcv);
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
	s.started_s = now_ms() / 1000;
	s.fill = &s.batch[0];
	s.flight = &s.batch[1];
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	pthread_mutex_init(&s.lmu, NULL);
	pthread_cond_init(&s.lcv, NULL);
	nb_buf_init(&s.tmp);
	nb_buf_init(&s.ptmp);
	snprintf(s.dlq_topic, sizeof s.dlq_topic, "%s.dlq", o.prefix);
	int rc = sink_ch_open(&s, err);
	if (rc == 0)
		rc = sink_kafka_open(&s, err);
	if (rc == 0)
		sink_lanes_start(&s);
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

/* ---- status for `stack status` ---- */

static cJSON *sink_status_load(const char *path)
{
	char *text = path ? nb_buf_read_file(path) : NULL;
	cJSON *j = text ? cJSON_Parse(text) : NULL;
	free(text);
	return j;
}

static void sink_status_copy(cJSON *obj, const cJSON *st, const char *from, const char *to)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, from);
	cJSON_AddItemToObject(obj, to, v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
}

void nb_sink_status_describe(const char *status_path, cJSON *obj)
{
	cJSON *st = sink_status_load(status_path);
	if (!st) {
		cJSON_AddStringToObject(obj, "status", "no status file yet");
		return;
	}
	sink_status_copy(obj, st, "lag_total", "kafka_lag");
	sink_status_copy(obj, st, "seconds_since_last_row", "seconds_since_last_row");
	sink_status_copy(obj, st, "rows", "rows");
	sink_status_copy(obj, st, "dlq", "dlq");
	sink_status_copy(obj, st, "lost_messages", "lost_messages");
	sink_status_copy(obj, st, "waiting_for", "waiting_for");
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(st, "updated_at");
	if (cJSON_IsNumber(u))
		cJSON_AddNumberToObject(obj, "status_age_s",
					(double)(now_ms() / 1000) - u->valuedouble);
	cJSON_Delete(st);
}

int nb_sink_status_health(const char *status_path, int max_age_s, char *why, size_t n)
{
	cJSON *st = sink_status_load(status_path);
	if (!st) {
		snprintf(why, n, "no status file %s yet", status_path ? status_path : "");
		return -1;
	}
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(st, "updated_at");
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(st, "clickhouse_ok");
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(st, "waiting_for");
	int rc = 0;
	double age = cJSON_IsNumber(u) ? (double)(now_ms() / 1000) - u->valuedouble : 1e9;
	if (age > max_age_s) {
		snprintf(why, n, "status not updated for %.0f s", age);
		rc = -1;
	} else if (!cJSON_IsTrue(ok)) {
		snprintf(why, n, "waiting for %s", cJSON_IsString(w) ? w->valuestring : "ClickHouse");
		rc = -1;
	}
	cJSON_Delete(st);
	return rc;
}
