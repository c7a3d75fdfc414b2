/* sink/complete.c — "complete up to T" (docs/sink.md, "Complete up to"): the
 * heartbeats of the relay (or Debezium) the main thread reads, the high
 * watermarks of every partition they cover, and the row of
 * neonblue.cdc_complete (core/sql/ch/007_cdc_complete.sql) once
 * neonblue.cdc_progress shows all of them in ClickHouse. Its own thread,
 * its own ClickHouse client: the main loop only hands over the newest
 * heartbeat. */
#include "internal.h"

#include "neonblue/cdc.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CP_MAX 64	  /* heartbeats waiting for ClickHouse (halved when full) */
#define CP_EVERY_MS 200	  /* how often the waiting ones are checked */
#define CP_KAFKA_MS 5000  /* timeout of the metadata and watermark requests */

typedef struct cp_target {
	char *topic;
	int32_t partition;
	int64_t hw; /* high watermark read after the heartbeat */
} cp_target;

/* A heartbeat and what ClickHouse must hold for it to be true there. */
typedef struct cp_front {
	uint64_t lsn;
	int64_t ts_ms;
	cp_target *t;
	int n;
} cp_front;

struct sink_complete {
	sink *s;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int quit;
	int have_hb; /* under mu: the newest heartbeat read, not yet taken */
	uint64_t hb_lsn;
	int64_t hb_ts;
	/* the thread's */
	cp_front q[CP_MAX];
	int nq;
	uint64_t last_lsn;
	int64_t last_ts, done_ts;
	/* The progress rows when this sink began, and the group's committed
	 * offset of each in this Kafka: a row that has not moved since counts
	 * only if this Kafka's group holds its offset (after the embedded Kafka
	 * restarted, an old row speaks of a log that is gone). */
	nb_cdc_progress *base;
	size_t nbase;
	int64_t *base_committed;
	int base_ok;
	nb_ch *ch;
	int warned;
};

static void cp_front_free(cp_front *f)
{
	for (int i = 0; i < f->n; i++)
		free(f->t[i].topic);
	free(f->t);
	f->t = NULL;
	f->n = 0;
}

/* The high watermark of every partition of the prefix's row topics, read
 * now (after the heartbeat was consumed: each is at or past the offsets of
 * the messages the heartbeat speaks for). */
static int cp_targets(sink_complete *c, cp_front *f)
{
	sink *s = c->s;
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t e = rd_kafka_metadata(s->rk, 1, NULL, &md, CP_KAFKA_MS);
	if (e)
		return -1;
	int rc = 0, cap = 0;
	for (int i = 0; i < md->topic_cnt && !rc; i++) {
		const char *name = md->topics[i].topic;
		if (!nb_sink_row_topic(s->o->prefix, name))
			continue;
		for (int k = 0; k < md->topics[i].partition_cnt && !rc; k++) {
			int32_t part = md->topics[i].partitions[k].id;
			int64_t lo, hi;
			if (rd_kafka_query_watermark_offsets(s->rk, name, part, &lo, &hi, CP_KAFKA_MS)) {
				rc = -1;
				break;
			}
			if (hi <= 0)
				continue;
			if (f->n == cap)
				f->t = nb_xrealloc(f->t, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *f->t);
			f->t[f->n++] = (cp_target){nb_xstrdup(name), part, hi};
		}
	}
	rd_kafka_metadata_destroy(md);
	if (rc)
		cp_front_free(f);
	return rc;
}

static void cp_push(sink_complete *c, cp_front *f)
{
	if (c->nq == CP_MAX) { /* keep every other one, the newest among them */
		int k = 0;
		for (int i = 0; i < c->nq; i++) {
			if ((c->nq - 1 - i) % 2 == 0)
				c->q[k++] = c->q[i];
			else
				cp_front_free(&c->q[i]);
		}
		c->nq = k;
	}
	c->q[c->nq++] = *f;
}

/* Reads the baseline once: the progress rows and the group's committed
 * offsets for them in this Kafka. */
static int cp_baseline(sink_complete *c, const nb_cdc_progress *p, size_t n)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n + 1);
	for (size_t i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(l, p[i].topic, p[i].partition);
	rd_kafka_resp_err_t e = n ? rd_kafka_committed(c->s->rk, l, CP_KAFKA_MS) : 0;
	if (!e) {
		c->base = nb_xcalloc(n + 1, sizeof *c->base);
		c->base_committed = nb_xcalloc(n + 1, sizeof *c->base_committed);
		if (n) /* no progress rows yet: p may be NULL */
			memcpy(c->base, p, n * sizeof *p);
		for (int i = 0; i < l->cnt; i++)
			c->base_committed[i] = l->elems[i].err ? -1 : l->elems[i].offset;
		c->nbase = n;
		c->base_ok = 1;
	}
	rd_kafka_topic_partition_list_destroy(l);
	return e ? -1 : 0;
}

/* The next offset ClickHouse holds for one partition (0: none that counts). */
static int64_t cp_held(const sink_complete *c, const nb_cdc_progress *p, size_t n,
		       const cp_target *t)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i].partition != t->partition || strcmp(p[i].topic, t->topic))
			continue;
		for (size_t b = 0; b < c->nbase; b++)
			if (c->base[b].partition == t->partition && !strcmp(c->base[b].topic, t->topic) &&
			    c->base[b].next_offset == p[i].next_offset &&
			    c->base_committed[b] < p[i].next_offset)
				return 0;
		return p[i].next_offset;
	}
	return 0;
}

static void cp_record(sink_complete *c, const cp_front *f)
{
	sink *s = c->s;
	char row[128];
	int n = snprintf(row, sizeof row, "0\t%" PRIu64 "\t%" PRId64 "\t%010lld\n", f->lsn, f->ts_ms,
			 (long long)time(NULL));
	nb_err err;
	if (!c->ch)
		c->ch = nb_ch_new(s->o->clickhouse, &err);
	if (!c->ch || nb_ch_insert(c->ch,
				   "INSERT INTO neonblue.cdc_complete (id, lsn, source_ts_ms, "
				   "recorded_at) FORMAT TabSeparated",
				   row, (size_t)n, &err) < 0) {
		if (!c->warned++)
			sink_log(s, "cannot record how complete ClickHouse is "
				    "(neonblue.cdc_complete, ClickHouse migration 007): %s",
				 err.msg);
		return;
	}
	c->warned = 0;
	c->done_ts = f->ts_ms;
}

/* Records the newest waiting heartbeat ClickHouse now holds, and drops it
 * and the older ones. */
static void cp_check(sink_complete *c)
{
	nb_cdc_progress *p;
	size_t n;
	nb_err err;
	if (nb_cdc_progress_read(c->s->o->clickhouse, &p, &n, &err) < 0)
		return;
	if (!c->base_ok && cp_baseline(c, p, n) < 0) {
		free(p);
		return;
	}
	for (int i = c->nq - 1; i >= 0; i--) {
		int held = 1;
		for (int k = 0; k < c->q[i].n && held; k++)
			held = cp_held(c, p, n, &c->q[i].t[k]) >= c->q[i].t[k].hw;
		if (!held)
			continue;
		if (c->q[i].ts_ms > c->done_ts)
			cp_record(c, &c->q[i]);
		if (c->done_ts < c->q[i].ts_ms)
			break; /* not recorded: tried again next time */
		for (int k = 0; k <= i; k++)
			cp_front_free(&c->q[k]);
		memmove(c->q, c->q + i + 1, (size_t)(c->nq - i - 1) * sizeof *c->q);
		c->nq -= i + 1;
		break;
	}
	free(p);
}

static void *cp_main(void *arg)
{
	sink_complete *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->quit) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += CP_EVERY_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (!c->have_hb)
			pthread_cond_timedwait(&c->cv, &c->mu, &ts);
		int have = c->have_hb;
		cp_front f = {c->hb_lsn, c->hb_ts, NULL, 0};
		c->have_hb = 0;
		pthread_mutex_unlock(&c->mu);
		if (have && (f.lsn != c->last_lsn || f.ts_ms != c->last_ts) && f.ts_ms > c->done_ts &&
		    cp_targets(c, &f) == 0) {
			c->last_lsn = f.lsn;
			c->last_ts = f.ts_ms;
			cp_push(c, &f);
		}
		if (c->nq)
			cp_check(c);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

sink_complete *sink_complete_start(sink *s)
{
	sink_complete *c = nb_xcalloc(1, sizeof *c);
	c->s = s;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&c->thr, NULL, cp_main, c) != 0) {
		sink_log(s, "cannot start the thread that records how complete ClickHouse is");
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		free(c);
		return NULL;
	}
	return c;
}

void sink_complete_heartbeat(sink_complete *c, const char *value, size_t len)
{
	uint64_t lsn;
	int64_t ts;
	nb_err err;
	if (!c || nb_debezium_heartbeat(value, len, &lsn, &ts, &err) < 0)
		return;
	pthread_mutex_lock(&c->mu);
	c->have_hb = 1;
	c->hb_lsn = lsn;
	c->hb_ts = ts;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void sink_complete_stop(sink_complete *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->quit = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thr, NULL);
	for (int i = 0; i < c->nq; i++)
		cp_front_free(&c->q[i]);
	free(c->base);
	free(c->base_committed);
	nb_ch_free(c->ch);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}
