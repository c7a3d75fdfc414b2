/* sink/store.c — the sink's store side: the batches the main thread hands
 * over, and the store thread that inserts them into ClickHouse with their
 * progress rows, drains the DLQ, then commits the offsets; ClickHouse setup. */
#include "internal.h"

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

/* ---- the store thread: ClickHouse, then the DLQ, then the offsets ---- */

static int sink_insert_progress(sink *s, sink_batch *b, nb_err *err)
{
	nb_buf *t = &s->ptmp;
	nb_buf_reset(t);
	int64_t now = sink_now_ms();
	for (int i = 0; i < b->nparts; i++) {
		sink_bpart *p = &b->parts[i];
		const char *tab = p->table >= 0 ? s->schema.tables[p->table].name : "";
		nb_ch_escape(t, p->topic, strlen(p->topic), NB_CH_TSV);
		nb_buf_printf(t, "\t%d\t", (int)p->partition);
		nb_ch_escape(t, tab, strlen(tab), NB_CH_TSV);
		nb_buf_printf(t, "\t%" PRId64 "\t%" PRIu64 "\t%010" PRId64 "\t%" PRIu64 "\t%" PRIu64 "\n",
			      p->next, p->lsn, now / 1000, (uint64_t)now * 1000 + (s->seq++ % 1000),
			      p->epoch);
	}
	if (!t->len)
		return 0;
	return nb_ch_insert(s->ch,
			    "INSERT INTO neonblue.cdc_progress (topic, partition, source_table, "
			    "next_offset, lsn, updated_at, seq, epoch) FORMAT TabSeparated",
			    t->data, t->len, err);
}

/* The rollup's stamps (core/sql/ch/004_touched_ack.sql): after an insert
 * into events or assignments was acknowledged, the user ids of its rows
 * (TSV field `col` of every line, consecutive repeats once) are queued in
 * s->touch for neonblue.touched_ack (made distinct before they are sent). */
static void sink_touch_queue(sink *s, int t, const nb_buf *rows)
{
	const nb_sink_table *tab = &s->schema.tables[t];
	int col = -1;
	if (strcmp(tab->name, "events") && strcmp(tab->name, "assignments"))
		return;
	for (int i = 0; i < tab->ncols && col < 0; i++)
		if (!strcmp(tab->cols[i].name, "user_id"))
			col = i;
	const char *p = rows->data, *end = rows->data + rows->len, *last = NULL;
	size_t last_n = 0;
	while (col >= 0 && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		const char *f = p;
		for (int i = 0; i < col && f; i++) {
			f = memchr(f, '\t', (size_t)(eol - f));
			f = f ? f + 1 : NULL;
		}
		if (f) {
			const char *fe = memchr(f, '\t', (size_t)(eol - f));
			size_t n = (size_t)((fe ? fe : eol) - f);
			if (!last || n != last_n || memcmp(f, last, n)) {
				nb_buf_append(&s->touch, f, n);
				nb_buf_putc(&s->touch, '\n');
			}
			last = f;
			last_n = n;
		}
		p = eol + 1;
	}
}

typedef struct sink_id {
	const char *p;
	size_t n;
} sink_id;

static int sink_id_cmp(const void *a, const void *b)
{
	const sink_id *x = a, *y = b;
	int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Keeps one line of each distinct line of b (one stamp per user a batch). */
static void sink_touch_unique(nb_buf *b)
{
	size_t n = 0, cap = 64;
	sink_id *v = nb_xrealloc(NULL, cap * sizeof *v);
	for (const char *p = b->data, *end = b->data + b->len; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if (n == cap)
			v = nb_xrealloc(v, (cap *= 2) * sizeof *v);
		v[n].p = p;
		v[n++].n = (size_t)(eol - p);
		p = eol + 1;
	}
	qsort(v, n, sizeof *v, sink_id_cmp);
	nb_buf u;
	nb_buf_init(&u);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || sink_id_cmp(&v[i], &v[i - 1])) {
			nb_buf_append(&u, v[i].p, v[i].n);
			nb_buf_putc(&u, '\n');
		}
	free(v);
	nb_buf_done(b);
	*b = u;
}

static int sink_exec(sink *s, const char *sql, nb_err *err)
{
	nb_buf out;
	nb_buf_init(&out);
	int rc = nb_ch_query(s->ch, sql, &out, err);
	nb_buf_done(&out);
	return rc;
}

/* After a truncate of events or assignments: the touched stamps of the users
 * whose rows it marked deleted (the rollup recomputes them), as for any
 * acknowledged insert (core/sql/ch/004_touched_ack.sql). */
static int sink_truncate_stamps(sink *s, const sink_trunc *tr, nb_err *err)
{
	const char *name = s->schema.tables[tr->table].name;
	int ack = 0;
	for (int t = 0; t < s->schema.ntables && !ack; t++)
		ack = !strcmp(s->schema.tables[t].name, "touched_ack");
	if (!ack || (strcmp(name, "events") && strcmp(name, "assignments")))
		return 0;
	char q[512];
	snprintf(q, sizeof q,
		 "INSERT INTO neonblue.touched_ack (user_id) SELECT DISTINCT user_id FROM "
		 "neonblue.`%s` WHERE `_version` = %" PRIu64 " AND `_deleted` = 1",
		 name, tr->lsn);
	return sink_exec(s, q, err);
}

/* The batch's truncates, in order, after its rows; first the truncates of
 * earlier batches again where this batch stored rows older than them (a
 * topic's partitions are read in no particular order). Each one done is
 * taken off the batch, so a retry runs only what is left. */
static int sink_apply_truncates(sink *s, sink_batch *b, nb_err *err)
{
	for (int i = 0; i < s->napplied; i++) {
		sink_trunc *a = &s->applied[i];
		if (b->min_lsn[a->table] && b->min_lsn[a->table] < a->lsn) {
			if (sink_exec(s, a->sql, err) < 0 || sink_truncate_stamps(s, a, err) < 0)
				return -1;
			sink_log(s, "rows older than the truncate of %s (lsn %" PRIu64
				    ") arrived late: marked deleted too",
				 s->schema.tables[a->table].name, a->lsn);
		}
	}
	for (int t = 0; t < s->schema.ntables; t++)
		b->min_lsn[t] = 0;
	while (b->ntruncs) {
		sink_trunc tr = b->truncs[0];
		if (sink_exec(s, tr.sql, err) < 0 || sink_truncate_stamps(s, &tr, err) < 0)
			return -1;
		memmove(b->truncs, b->truncs + 1, (size_t)(b->ntruncs - 1) * sizeof *b->truncs);
		b->ntruncs--;
		if (s->napplied == SINK_TRUNCS_KEPT) {
			free(s->applied[0].sql);
			memmove(s->applied, s->applied + 1, (SINK_TRUNCS_KEPT - 1) * sizeof *s->applied);
			s->napplied--;
		}
		s->applied[s->napplied++] = tr;
	}
	return 0;
}

/* Inserts every table's rows, then the touched stamps of the users they
 * carry (when ClickHouse has neonblue.touched_ack), then applies the
 * truncates, then the progress rows. Tables already inserted are emptied,
 * stamps and truncates already done dropped, so a retry sends only what is
 * left — and a crash before the progress replays the rows, stamps included. */
static int sink_insert_all(sink *s, sink_batch *b, nb_err *err)
{
	int ack = 0;
	for (int t = 0; t < s->schema.ntables && !ack; t++)
		ack = !strcmp(s->schema.tables[t].name, "touched_ack");
	for (int t = 0; t < s->schema.ntables; t++) {
		if (!b->buf_rows[t])
			continue;
		if (nb_ch_insert(s->ch, s->schema.tables[t].insert_sql, b->bufs[t].data,
				 b->bufs[t].len, err) < 0)
			return -1;
		b->stored_rows += (uint64_t)b->buf_rows[t];
		b->stored_ms = sink_now_ms();
		if (ack)
			sink_touch_queue(s, t, &b->bufs[t]);
		nb_buf_reset(&b->bufs[t]);
		b->buf_rows[t] = 0;
	}
	if (s->touch.len) {
		sink_touch_unique(&s->touch);
		if (nb_ch_insert(s->ch, "INSERT INTO neonblue.touched_ack (user_id) FORMAT TabSeparated",
				 s->touch.data, s->touch.len, err) < 0)
			return -1;
		nb_buf_reset(&s->touch);
	}
	if (sink_apply_truncates(s, b, err) < 0)
		return -1;
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
	int *which = nb_xcalloc((size_t)b->nparts + 1, sizeof *which), stale = 0;
	/* kmu: the main loop cannot start a new generation (a Kafka that went
	 * away) between this check and the commit */
	pthread_mutex_lock(&s->kmu);
	for (int i = 0; i < b->nparts; i++) {
		if (b->parts[i].gen != s->kgen) {
			stale++; /* read from a Kafka that went away since: its offsets may count a lost log */
			continue;
		}
		which[l->cnt] = i;
		rd_kafka_topic_partition_list_add(l, b->parts[i].topic, b->parts[i].partition)
			->offset = b->parts[i].next;
	}
	rd_kafka_resp_err_t e = l->cnt ? rd_kafka_commit(s->rk, l, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
	pthread_mutex_unlock(&s->kmu);
	if (e)
		sink_log(s, "committing offsets failed: %s (the rows are in ClickHouse; a replay "
			    "of them is deduplicated)",
			 rd_kafka_err2str(e));
	if (stale)
		sink_log(s, "not committing the offsets of %d partitions: they were read before Kafka "
			    "went away (the rows are in ClickHouse)",
			 stale);
	for (int i = 0; i < l->cnt && !e; i++)
		b->parts[which[i]].committed = !l->elems[i].err;
	free(which);
	rd_kafka_topic_partition_list_destroy(l);
}

/* Before a batch is stored: does Kafka still hold the group's offsets this
 * sink committed? A Kafka that restarted empty on the same port (the
 * embedded one) has none, and librdkafka does not always report every broker
 * down (it counts the bootstrap, the broker and the coordinator connections,
 * which come back one by one): the fetch positions of the dead log then read
 * the new one from the middle, and storing that would let the relay take the
 * later rows for proof that the new log's first ones are stored. 1 when an
 * offset went back (the main loop then rewinds, the batch is not stored), 0
 * when all are there or the question could not be asked (the commit after
 * the insert fails then, and nothing is lost). */
static int sink_offsets_vanished(sink *s, const sink_batch *b)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(b->nparts + 1);
	pthread_mutex_lock(&s->kmu);
	for (int i = 0; i < b->nparts; i++)
		if (b->parts[i].base >= 0 && b->parts[i].gen == s->kgen)
			rd_kafka_topic_partition_list_add(l, b->parts[i].topic, b->parts[i].partition)
			    ->offset = b->parts[i].base;
	pthread_mutex_unlock(&s->kmu);
	int gone = 0;
	if (l->cnt) {
		int64_t *want = nb_xcalloc((size_t)l->cnt, sizeof *want);
		for (int i = 0; i < l->cnt; i++)
			want[i] = l->elems[i].offset;
		rd_kafka_resp_err_t e = rd_kafka_committed(s->rk, l, 2000);
		for (int i = 0; i < l->cnt && !e; i++)
			if (!l->elems[i].err && l->elems[i].offset < want[i]) {
				if (!gone++)
					sink_log(s, "Kafka no longer holds the group's offset %lld of %s [%d] "
						    "(it has %lld): it restarted empty; the batch is not "
						    "stored and the partitions are read again",
						 (long long)want[i], l->elems[i].topic,
						 (int)l->elems[i].partition,
						 (long long)l->elems[i].offset);
			}
		free(want);
	}
	rd_kafka_topic_partition_list_destroy(l);
	if (gone)
		__atomic_store_n(&s->kafka_lost, 1, __ATOMIC_RELAXED);
	return gone > 0;
}

/* Stores one batch (retrying with backoff while ClickHouse is down), waits
 * for the DLQ, then commits. -1 when a stop's grace period ran out, or when
 * Kafka lost the group's offsets: the batch is then dropped uncommitted. */
static int sink_store(sink *s, sink_batch *b)
{
	int backoff = 100, attempt = 0;
	int64_t t0 = sink_now_ms();
	nb_err err;
	if (s->o->verbose)
		sink_log(s, "storing %d rows (%d messages) after %lld ms of batching", b->rows,
			 b->msgs, (long long)(t0 - b->start_ms));
	if (sink_offsets_vanished(s, b))
		return -1;
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
		sink_log(s, "stored and committed in %lld ms", (long long)(sink_now_ms() - t0));
	return 0;
}

void *sink_store_main(void *arg)
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
		b->min_lsn[t] = 0;
	}
	for (int i = 0; i < b->ntruncs; i++) /* a dropped batch */
		free(b->truncs[i].sql);
	b->ntruncs = 0;
	b->rows = b->msgs = b->nparts = 0;
	b->result = 0;
	b->stored_rows = 0;
	b->stored_ms = 0;
}

/* Applies a finished batch's results to the partitions and counters.
 * Called with mu held. */
void sink_collect(sink *s)
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
void sink_handoff(sink *s, int block)
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
						     .next = p->batch_next, .lsn = p->batch_lsn,
						     .epoch = p->batch_epoch, .gen = p->batch_gen,
						     .base = p->committed};
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
void sink_flush_sync(sink *s)
{
	if (!s->store_started)
		return;
	if (s->fill->msgs)
		sink_handoff(s, 1);
	pthread_mutex_lock(&s->mu);
	sink_wait_idle(s);
	pthread_mutex_unlock(&s->mu);
}

/* ---- ClickHouse setup ---- */

int sink_ch_open(sink *s, nb_err *err)
{
	/* on a cluster, an insert into a Distributed table is acknowledged only
	 * once it is on its shard (docs/sink.md, "On a ClickHouse cluster") */
	int clustered = s->o->clickhouse_cluster && *s->o->clickhouse_cluster;
	s->ch = nb_ch_new(s->o->clickhouse, err);
	if (!s->ch)
		return -1;
	if (clustered)
		nb_ch_set_setting(s->ch, "insert_distributed_sync", "1");
	int backoff = 200, attempt = 0;
	for (;;) {
		nb_buf b;
		nb_buf_init(&b);
		int rc = 0;
		if (s->o->migrate)
			rc = nb_ch_migrate_cluster(s->o->clickhouse, s->o->clickhouse_cluster, err) < 0
				 ? -1
				 : 0;
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
		s->batch[i].min_lsn =
			nb_xcalloc((size_t)s->schema.ntables, sizeof *s->batch[i].min_lsn);
	}
	nb_buf b;
	nb_buf_init(&b);
	for (int i = 0; i < s->schema.ntables; i++)
		nb_buf_printf(&b, "%s%s", i ? ", " : "", s->schema.tables[i].name);
	sink_log(s, "ClickHouse %s: tables %s", s->o->clickhouse, b.data);
	nb_buf_done(&b);
	return 0;
}

void sink_store_stop(sink *s)
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
