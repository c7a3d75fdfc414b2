/* feed.c — the live feed's worker: its own Kafka consumer of the CDC topics
 * (assign(), no group join, no offset commits), starting at the end or
 * backfilling the last N minutes through offsetsForTimes, into a ring the
 * main thread reads. */
#include "tui.h"

#include "neonblue/cdc.h"
#include "neonblue/kafka.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_TP 512
#define FEED_BATCH 1024

struct feed {
	nb_config cfg;
	int backfill_min;
	int wake_fd;
	pthread_t th;
	pthread_mutex_t mu;
	feed_row *ring;
	long long received; /* monotonic count of rows pushed */
	long long rate[FEED_RATE_SECS];
	long long rate_sec[FEED_RATE_SECS];
	int status;
	char msg[256];
	int stopping;
	double last_wake;
	int wake_pending;
	/* consumer thread only */
	feed_row batch[FEED_BATCH];
	char tps[MAX_TP][160];
	int tpp[MAX_TP];
	int ntp;
};

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set_status(feed *f, int st, const char *msg)
{
	pthread_mutex_lock(&f->mu);
	f->status = st;
	w_copy(f->msg, sizeof f->msg, msg ? msg : "");
	pthread_mutex_unlock(&f->mu);
}

static void wake(feed *f)
{
	uint64_t one = 1;
	if (write(f->wake_fd, &one, sizeof one) < 0) {
		/* saturated counter: the main loop is awake anyway */
	}
	f->last_wake = mono();
	f->wake_pending = 0;
}

static void error_cb(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
	(void)rk;
	feed *f = opaque;
	if (e == RD_KAFKA_RESP_ERR__TRANSPORT || e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
	    e == RD_KAFKA_RESP_ERR__RESOLVE) {
		char m[256];
		snprintf(m, sizeof m, "Kafka: %s", reason);
		set_status(f, 0, m);
		wake(f);
	}
}

static void copy_col(const nb_tuple *t, const char *name, char *out, size_t n)
{
	const nb_col *c = nb_tuple_find(t, name);
	out[0] = '\0';
	if (!c)
		return;
	char *s = NULL;
	nb_err err;
	if (nb_debezium_col_text(c, &s, &err) == 0 && s)
		snprintf(out, n, "%s", s);
	free(s);
}

int feed_parse(const char *topic, const char *payload, size_t len, feed_row *out)
{
	memset(out, 0, sizeof *out);
	nb_change c;
	nb_change_init(&c);
	nb_err err;
	if (nb_debezium_parse(payload, len, &c, &err) || c.tombstone) {
		nb_change_done(&c);
		return -1;
	}
	const char *table = c.table ? c.table : strrchr(topic, '.') ? strrchr(topic, '.') + 1 : topic;
	w_copy(out->table, sizeof out->table, table);
	out->op = c.op;
	const nb_tuple *t = c.has_after ? &c.after : &c.before;
	out->ts_us = c.source.ts_ms > 0 ? c.source.ts_ms * 1000 : c.ts_ms * 1000;
	copy_col(t, "user_id", out->user, sizeof out->user);
	copy_col(t, "value", out->value, sizeof out->value);
	if (!strcmp(table, "events")) {
		copy_col(t, "type", out->type, sizeof out->type);
		copy_col(t, "experiment", out->exp, sizeof out->exp);
	} else if (!strcmp(table, "assignments")) {
		copy_col(t, "variant", out->type, sizeof out->type);
		copy_col(t, "experiment", out->exp, sizeof out->exp);
	} else if (!strcmp(table, "experiments")) {
		copy_col(t, "status", out->type, sizeof out->type);
		copy_col(t, "key", out->exp, sizeof out->exp);
	} else if (!strcmp(table, "audit_log")) {
		copy_col(t, "action", out->type, sizeof out->type);
		copy_col(t, "key", out->exp, sizeof out->exp);
		copy_col(t, "actor", out->user, sizeof out->user);
	} else {
		copy_col(t, "experiment", out->exp, sizeof out->exp);
		copy_col(t, "key", out->type, sizeof out->type);
	}
	nb_change_done(&c);
	return 0;
}

/* Appends n rows to the ring under one lock (the oldest are overwritten). */
static void push_rows(feed *f, const feed_row *rows, int n)
{
	if (n <= 0)
		return;
	time_t now = time(NULL);
	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < n; i++)
		f->ring[(f->received + i) % FEED_CAP] = rows[i];
	f->received += n;
	int b = (int)(now % FEED_RATE_SECS);
	if (f->rate_sec[b] != now) {
		f->rate_sec[b] = now;
		f->rate[b] = 0;
	}
	f->rate[b] += n;
	pthread_mutex_unlock(&f->mu);
	f->wake_pending = 1;
}

/* The topic/partitions of PREFIX.public.* not yet assigned, added to list. */
static int discover(feed *f, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *add)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 2000);
	if (e) {
		char m[256];
		snprintf(m, sizeof m, "Kafka metadata: %s", rd_kafka_err2str(e));
		set_status(f, 0, m);
		return -1;
	}
	char pre[200];
	snprintf(pre, sizeof pre, "%s.public.", f->cfg.topic_prefix);
	for (int i = 0; i < md->topic_cnt; i++) {
		const struct rd_kafka_metadata_topic *t = &md->topics[i];
		if (strncmp(t->topic, pre, strlen(pre)) || t->err)
			continue;
		for (int p = 0; p < t->partition_cnt; p++) {
			int known = 0;
			for (int k = 0; k < f->ntp && !known; k++)
				known = f->tpp[k] == t->partitions[p].id && !strcmp(f->tps[k], t->topic);
			if (known || f->ntp >= MAX_TP)
				continue;
			w_copy(f->tps[f->ntp], sizeof f->tps[0], t->topic);
			f->tpp[f->ntp++] = t->partitions[p].id;
			rd_kafka_topic_partition_list_add(add, t->topic, t->partitions[p].id);
		}
	}
	rd_kafka_metadata_destroy(md);
	set_status(f, 1, "");
	return 0;
}

/* New partitions start at the end, or at now - backfill for the first batch. */
static void assign_new(feed *f, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *add, int first)
{
	if (add->cnt == 0)
		return;
	for (int i = 0; i < add->cnt; i++)
		add->elems[i].offset = RD_KAFKA_OFFSET_END;
	if (first && f->backfill_min > 0) {
		int64_t ts = (int64_t)time(NULL) * 1000 - (int64_t)f->backfill_min * 60000;
		for (int i = 0; i < add->cnt; i++)
			add->elems[i].offset = ts;
		if (rd_kafka_offsets_for_times(rk, add, 5000))
			for (int i = 0; i < add->cnt; i++)
				add->elems[i].offset = RD_KAFKA_OFFSET_END;
		for (int i = 0; i < add->cnt; i++)
			if (add->elems[i].offset < 0)
				add->elems[i].offset = RD_KAFKA_OFFSET_END;
	} else if (!first) {
		/* topics that appear later: read them from their start, they are new */
		for (int i = 0; i < add->cnt; i++)
			add->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
	}
	rd_kafka_error_t *err = rd_kafka_incremental_assign(rk, add);
	if (err) {
		set_status(f, 0, rd_kafka_error_string(err));
		rd_kafka_error_destroy(err);
	}
}

static rd_kafka_t *consumer_new(feed *f)
{
	nb_err err;
	rd_kafka_conf_t *c = nb_kafka_conf_new(f->cfg.kafka, "neonblue-dash", &err);
	char gid[64];
	snprintf(gid, sizeof gid, "neonblue-dash-%d", (int)getpid());
	if (!c || nb_kafka_set(c, "group.id", gid, &err) ||
	    nb_kafka_set(c, "enable.auto.commit", "false", &err) ||
	    nb_kafka_set(c, "enable.auto.offset.store", "false", &err) ||
	    nb_kafka_set(c, "enable.partition.eof", "false", &err) ||
	    /* Bounded prefetch: librdkafka's default (64 MB a partition) would be
	     * most of the dashboard's memory under a fast feed. And small fetches:
	     * librdkafka 2.0 takes a partition off the fetch list once one response
	     * fills the local queue past queued.min.messages or .kbytes, and puts
	     * it back only when its broker thread wakes up (up to ~1 s later),
	     * which held the feed to ~4.5k messages/s. A fetch of at most 1 MB
	     * (~2,400 envelopes; librdkafka wants >= message.max.bytes) stays
	     * under both while the loop below keeps up; more, smaller fetches cost
	     * nothing on loopback. */
	    nb_kafka_set(c, "queued.max.messages.kbytes", "2048", &err) ||
	    nb_kafka_set(c, "queued.min.messages", "10000", &err) ||
	    nb_kafka_set(c, "max.partition.fetch.bytes", "131072", &err) ||
	    nb_kafka_set(c, "fetch.max.bytes", "1048576", &err) ||
	    nb_kafka_set(c, "fetch.wait.max.ms", "500", &err) ||
	    nb_kafka_set(c, "fetch.error.backoff.ms", "100", &err)) {
		if (c)
			rd_kafka_conf_destroy(c);
		set_status(f, 0, err.msg);
		return NULL;
	}
	rd_kafka_conf_set_error_cb(c, error_cb);
	rd_kafka_conf_set_opaque(c, f);
	char es[256];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof es);
	if (!rk) {
		set_status(f, 0, es);
		return NULL;
	}
	return rk;
}

static int stopping(feed *f)
{
	return __atomic_load_n(&f->stopping, __ATOMIC_RELAXED);
}

/* Takes what arrived (up to FEED_BATCH messages, waiting at most 100 ms for
 * the first), parses it outside the lock and appends it in one go. */
static void consume_batch(feed *f, rd_kafka_queue_t *q)
{
	rd_kafka_message_t *ms[FEED_BATCH];
	feed_row *rows = f->batch;
	ssize_t got = rd_kafka_consume_batch_queue(q, 100, ms, FEED_BATCH);
	int n = 0;
	for (ssize_t i = 0; i < got; i++) {
		rd_kafka_message_t *m = ms[i];
		if (!m->err && m->payload) {
			if (feed_parse(rd_kafka_topic_name(m->rkt), m->payload, m->len, &rows[n]) == 0)
				n++;
		} else if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			set_status(f, 0, rd_kafka_message_errstr(m));
		}
		rd_kafka_message_destroy(m);
	}
	push_rows(f, rows, n);
}

static void *feed_main(void *arg)
{
	feed *f = arg;
	rd_kafka_t *rk = NULL;
	rd_kafka_queue_t *rkq = NULL;
	double next_discover = 0;
	int first = 1;
	while (!stopping(f)) {
		if (!rk) {
			if (!(rk = consumer_new(f))) {
				usleep(500000);
				continue;
			}
			/* errors and callbacks come through the consumer queue too */
			rd_kafka_poll_set_consumer(rk);
			rkq = rd_kafka_queue_get_consumer(rk);
		}
		if (mono() >= next_discover) {
			rd_kafka_topic_partition_list_t *add = rd_kafka_topic_partition_list_new(8);
			if (discover(f, rk, add) == 0) {
				assign_new(f, rk, add, first);
				first = 0;
			}
			rd_kafka_topic_partition_list_destroy(add);
			/* new tables get their topic on their first change: look often */
			next_discover = mono() + 1;
			wake(f);
		}
		consume_batch(f, rkq);
		if (f->wake_pending && mono() - f->last_wake >= 0.1)
			wake(f);
	}
	if (rkq)
		rd_kafka_queue_destroy(rkq);
	if (rk) {
		rd_kafka_consumer_close(rk);
		rd_kafka_destroy(rk);
	}
	return NULL;
}

feed *feed_start(const nb_config *cfg, int backfill_min, int wake_fd)
{
	feed *f = nb_xcalloc(1, sizeof *f);
	f->cfg = *cfg;
	f->backfill_min = backfill_min;
	f->wake_fd = wake_fd;
	f->status = -1;
	f->ring = nb_xcalloc(FEED_CAP, sizeof *f->ring);
	pthread_mutex_init(&f->mu, NULL);
	if (!cfg->kafka[0]) {
		f->status = 0;
		snprintf(f->msg, sizeof f->msg, "no Kafka configured (NEONBLUE_KAFKA or --kafka)");
		f->stopping = 1;
		return f;
	}
	pthread_create(&f->th, NULL, feed_main, f);
	return f;
}

/* The feed left to a thread that outlived feed_stop. */
static feed *abandoned_feed;

void feed_stop(feed *f)
{
	if (!f)
		return;
	if (!f->stopping) {
		__atomic_store_n(&f->stopping, 1, __ATOMIC_RELAXED);
		/* The consumer may sit in a librdkafka call (metadata, offsets for
		 * times, closing against a Kafka that went away): given 3 s, then
		 * abandoned with the feed — the process is exiting. */
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 3;
		if (pthread_timedjoin_np(f->th, NULL, &dl)) {
			pthread_detach(f->th);
			abandoned_feed = f; /* still reachable: not a leak */
			return;
		}
	}
	pthread_mutex_destroy(&f->mu);
	free(f->ring);
	free(f);
}

static int row_match(const feed_row *r, const char *flt)
{
	if (!flt || !*flt)
		return 1;
	int inv = flt[0] == '!';
	const char *s = inv ? flt + 1 : flt;
	int hit = strcasestr(r->exp, s) || strcasestr(r->type, s) || strcasestr(r->table, s) ||
		  strcasestr(r->user, s);
	return inv ? !hit : hit;
}

int feed_rows(feed *f, feed_row *out, int max, int skip, const char *filter, int *total)
{
	pthread_mutex_lock(&f->mu);
	long long held = f->received < FEED_CAP ? f->received : FEED_CAP;
	long long i = f->received - 1 - skip;
	int n = 0;
	feed_row tmp[1];
	for (; i >= f->received - held && n < max; i--) {
		tmp[0] = f->ring[i % FEED_CAP];
		if (row_match(tmp, filter))
			out[n++] = tmp[0];
	}
	if (total)
		*total = (int)(f->received > 0x7fffffff ? 0x7fffffff : f->received);
	pthread_mutex_unlock(&f->mu);
	/* newest last */
	for (int a = 0, b = n - 1; a < b; a++, b--) {
		feed_row t = out[a];
		out[a] = out[b];
		out[b] = t;
	}
	return n;
}

void feed_rate(feed *f, double *out, int n)
{
	time_t now = time(NULL);
	pthread_mutex_lock(&f->mu);
	for (int k = 0; k < n; k++) {
		time_t s = now - (n - 1 - k) - 1; /* complete seconds only */
		int b = (int)(s % FEED_RATE_SECS);
		out[k] = f->rate_sec[b] == s ? (double)f->rate[b] : 0;
	}
	pthread_mutex_unlock(&f->mu);
}

int feed_status(feed *f, char *msg, size_t n)
{
	pthread_mutex_lock(&f->mu);
	int s = f->status;
	snprintf(msg, n, "%s", f->msg);
	pthread_mutex_unlock(&f->mu);
	return s;
}
