/* sse.c — GET /sub/{client_key}: the GrowthBook payload of /api/features as
 * server-sent events, sent again whenever it changes. Driven by the CDC
 * topics, not by polling PostgreSQL: a notifier thread consumes
 * <prefix>.public.experiments, .variants, .flags, .saved_groups (when
 * published) and the saved-group rows of .audit_log; on a change it rebuilds the payload
 * (which refreshes api.c's cache of /api/features too) and, when the text
 * differs from the last one, queues "event: features" to every stream.
 *
 * A stream is an MHD response whose content reader suspends its connection
 * when it has nothing to send (MHD_ALLOW_SUSPEND_RESUME: a suspended
 * connection costs no thread and does not time out); the notifier resumes
 * it when there is a message. Messages are shared (reference counted) and a
 * stream holds at most the one being sent and the newest one after it: a
 * slow reader skips payloads it has not started, never piles them up.
 * docs/api.md has the contract. */
#include "serve.h"

#include "neonblue/base.h"
#include "neonblue/kafka.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SSE_RETRY_MS 1000   /* the reconnection delay EventSource clients are told */
#define SSE_TOKEN_CHECK_S 1 /* streams of revoked client keys end within this */
#define SSE_MAX_TP 64       /* topic partitions the notifier follows */

typedef struct msg {
	int refs;
	size_t len;
	char data[];
} msg;

typedef struct sub {
	struct MHD_Connection *conn;
	char hash[65];        /* the client key's SHA-256 */
	msg *cur, *next;      /* being sent (from off), the newest one after it */
	size_t off;
	unsigned long seq;    /* the payload version last queued (0: unknown) */
	int suspended, ending;
	struct sub *prev, *nxt;
} sub;

static struct {
	pthread_mutex_t mu; /* everything below, and every sub */
	sub *head;
	long nsubs;
	int enabled, draining;
	char *current;     /* the payload of the last broadcast */
	unsigned long seq; /* its version: incremented on every change */
	long sent, changes, rebuild_fail;
	int kafka_up;
	double push_lag;   /* commit → queued, of the last change, seconds */
	int keepalive_s;
	sse_token_fn token_active;
	nb_config cfg;
	pthread_t th;
	int started;
	int stop; /* __atomic */
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- messages ---- */

static msg *msg_new(const char *data, size_t len)
{
	msg *m = nb_xcalloc(1, sizeof *m + len + 1);
	m->refs = 1;
	m->len = len;
	memcpy(m->data, data, len);
	return m;
}

/* Under S.mu. */
static void msg_drop(msg *m)
{
	if (m && --m->refs == 0)
		free(m);
}

/* "event: features" with the payload as data lines (JSON text has no raw
 * newline, but a line break would end the field: each line gets "data: "). */
static void put_event(nb_buf *b, const char *text)
{
	nb_buf_puts(b, "event: features\n");
	const char *p = text;
	do {
		size_t n = strcspn(p, "\r\n");
		nb_buf_puts(b, "data: ");
		nb_buf_append(b, p, n);
		nb_buf_putc(b, '\n');
		p += n;
		if (*p == '\r' && p[1] == '\n')
			p++;
		if (*p)
			p++;
	} while (*p);
	nb_buf_putc(b, '\n');
}

/* Under S.mu: lets a suspended stream's connection run again. */
static void sub_wake(sub *s)
{
	if (s->suspended) {
		s->suspended = 0;
		MHD_resume_connection(s->conn);
	}
}

/* Under S.mu: m becomes the stream's next message (replacing one not
 * started: only the newest payload matters). */
static void sub_queue(sub *s, msg *m)
{
	msg_drop(s->next);
	m->refs++;
	s->next = m;
	sub_wake(s);
}

/* ---- the stream: MHD's content reader ---- */

static ssize_t sub_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	sub *s = cls;
	ssize_t n;
	pthread_mutex_lock(&S.mu);
	if (s->cur && s->off >= s->cur->len) {
		msg_drop(s->cur);
		s->cur = NULL;
	}
	if (!s->cur && s->next) {
		s->cur = s->next;
		s->next = NULL;
		s->off = 0;
	}
	if (s->cur) {
		size_t k = s->cur->len - s->off;
		if (k > max)
			k = max;
		memcpy(buf, s->cur->data + s->off, k);
		s->off += k;
		n = (ssize_t)k;
	} else if (s->ending) {
		n = MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		/* nothing to send: off MHD's loop until sub_wake (under the same
		 * lock, so a message queued now cannot be missed) */
		s->suspended = 1;
		MHD_suspend_connection(s->conn);
		n = 0;
	}
	pthread_mutex_unlock(&S.mu);
	return n;
}

/* The response is destroyed: the connection is gone. */
static void sub_free(void *cls)
{
	sub *s = cls;
	pthread_mutex_lock(&S.mu);
	if (s->prev)
		s->prev->nxt = s->nxt;
	else
		S.head = s->nxt;
	if (s->nxt)
		s->nxt->prev = s->prev;
	S.nsubs--;
	msg_drop(s->cur);
	msg_drop(s->next);
	pthread_mutex_unlock(&S.mu);
	free(s);
}

int sse_enabled(void)
{
	pthread_mutex_lock(&S.mu);
	int on = S.enabled && !S.draining;
	pthread_mutex_unlock(&S.mu);
	return on;
}

int sse_open(struct MHD_Connection *c, PGconn *pc, const char *key_hash, serve_resp *rs,
	     int *queued)
{
	pthread_mutex_lock(&S.mu);
	int enabled = S.enabled, draining = S.draining;
	unsigned long seq0 = S.seq;
	pthread_mutex_unlock(&S.mu);
	if (!enabled) {
		api_error(rs, 503, NULL,
			  "GET /sub streams changes from the CDC topics, and no Kafka is configured: "
			  "set NEONBLUE_KAFKA or --kafka (or run under `neonblue stack up`); "
			  "GET /api/features works without it");
		return 0;
	}
	if (draining) {
		api_error(rs, 503, NULL, "the server is shutting down");
		return 0;
	}
	/* the first message: the payload as it is now */
	nb_err err;
	nb_err_clear(&err);
	char *text = api_features_text(pc, 0, &err);
	if (!text) {
		api_error(rs, 503, NULL, err.msg[0] ? err.msg : "PostgreSQL failed");
		return 0;
	}
	sub *s = nb_xcalloc(1, sizeof *s);
	s->conn = c;
	snprintf(s->hash, sizeof s->hash, "%s", key_hash);
	pthread_mutex_lock(&S.mu);
	if (S.draining) {
		pthread_mutex_unlock(&S.mu);
		free(text);
		free(s);
		api_error(rs, 503, NULL, "the server is shutting down");
		return 0;
	}
	/* a change broadcast while we read: its payload is the newer one */
	if (S.seq != seq0 && S.current) {
		free(text);
		text = nb_xstrdup(S.current);
	}
	if (S.current && !strcmp(S.current, text))
		s->seq = S.seq; /* the next broadcast is news to this stream */
	nb_buf b;
	nb_buf_init(&b);
	nb_buf_printf(&b, "retry: %d\n", SSE_RETRY_MS);
	put_event(&b, text);
	free(text);
	s->next = msg_new(b.data, b.len);
	nb_buf_done(&b);
	s->nxt = S.head;
	if (S.head)
		S.head->prev = s;
	S.head = s;
	S.nsubs++;
	S.sent++;
	pthread_mutex_unlock(&S.mu);

	struct MHD_Response *r =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, sub_read, s, sub_free);
	if (!r) {
		sub_free(s);
		api_error(rs, 503, NULL, "cannot create the stream");
		return 0;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "X-Accel-Buffering", "no"); /* a proxy must not buffer it */
	MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
	/* the connection ends with the stream (drain waits for connections) */
	MHD_add_response_header(r, "Connection", "close");
	*queued = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r); /* sub_free runs when the connection is done with it */
	return 1;
}

/* ---- broadcasting ---- */

/* A new payload from the notifier: queued to every stream when it differs
 * from the last one. lag_from: commit time of the change (0: unknown). */
static void broadcast(const char *text, double lag_from)
{
	pthread_mutex_lock(&S.mu);
	if (S.current && !strcmp(S.current, text)) {
		pthread_mutex_unlock(&S.mu);
		return;
	}
	free(S.current);
	S.current = nb_xstrdup(text);
	S.seq++;
	nb_buf b;
	nb_buf_init(&b);
	put_event(&b, text);
	msg *m = msg_new(b.data, b.len);
	nb_buf_done(&b);
	for (sub *s = S.head; s; s = s->nxt) {
		if (s->ending || s->seq == S.seq)
			continue;
		s->seq = S.seq;
		sub_queue(s, m);
		S.sent++;
	}
	msg_drop(m);
	if (lag_from > 0)
		S.push_lag = now_s() - lag_from;
	pthread_mutex_unlock(&S.mu);
}

/* A comment line to every stream with nothing pending (proxies and clients
 * see the connection alive; a dead client is noticed at the write). */
static void keepalive(void)
{
	static const char ka[] = ": keepalive\n\n";
	pthread_mutex_lock(&S.mu);
	msg *m = msg_new(ka, sizeof ka - 1);
	for (sub *s = S.head; s; s = s->nxt)
		if (!s->ending && !s->cur && !s->next)
			sub_queue(s, m);
	msg_drop(m);
	pthread_mutex_unlock(&S.mu);
}

/* Streams whose client key was revoked or expired end. */
static void check_tokens(void)
{
	pthread_mutex_lock(&S.mu);
	for (sub *s = S.head; s; s = s->nxt)
		if (!s->ending && !S.token_active(s->hash, NB_SCOPE_FEATURES)) {
			s->ending = 1;
			sub_wake(s);
		}
	pthread_mutex_unlock(&S.mu);
}

void sse_drain(void)
{
	pthread_mutex_lock(&S.mu);
	S.draining = 1;
	for (sub *s = S.head; s; s = s->nxt) {
		s->ending = 1;
		sub_wake(s);
	}
	pthread_mutex_unlock(&S.mu);
}

void sse_metrics(nb_buf *b)
{
	pthread_mutex_lock(&S.mu);
	nb_buf_printf(b,
		      "# HELP nb_sse_subscribers Open GET /sub streams.\n"
		      "# TYPE nb_sse_subscribers gauge\nnb_sse_subscribers %ld\n"
		      "# HELP nb_sse_payloads_sent_total Payloads queued to GET /sub streams.\n"
		      "# TYPE nb_sse_payloads_sent_total counter\nnb_sse_payloads_sent_total %ld\n"
		      "# HELP nb_sse_cdc_changes_total CDC messages that changed experiments, "
		      "variants or saved groups.\n"
		      "# TYPE nb_sse_cdc_changes_total counter\nnb_sse_cdc_changes_total %ld\n"
		      "# HELP nb_sse_kafka_up 1 when the notifier follows the CDC topics.\n"
		      "# TYPE nb_sse_kafka_up gauge\nnb_sse_kafka_up %d\n"
		      "# HELP nb_sse_push_lag_seconds Commit to queued on the streams, last change.\n"
		      "# TYPE nb_sse_push_lag_seconds gauge\nnb_sse_push_lag_seconds %.6f\n",
		      S.nsubs, S.sent, S.changes, S.enabled && S.kafka_up, S.push_lag);
	pthread_mutex_unlock(&S.mu);
}

/* ---- the notifier: the CDC topics → rebuild → broadcast ---- */

typedef struct notifier {
	rd_kafka_t *rk;
	rd_kafka_queue_t *q;
	char tps[SSE_MAX_TP][200];
	int tpp[SSE_MAX_TP];
	int ntp;
	int have_main; /* experiments and variants are followed */
	char pre[200];
	PGconn *pg;
	char last_err[600];
} notifier;

static const char *const sse_tables[] = {"experiments", "variants", "saved_groups", "audit_log",
					 "flags", NULL};

static void say(notifier *n, const char *what)
{
	/* each state once, not once per retry */
	if (strncmp(n->last_err, what, sizeof n->last_err - 1)) {
		fprintf(stderr, "neonblue serve: /sub notifier: %s\n", what);
		snprintf(n->last_err, sizeof n->last_err, "%.*s", (int)sizeof n->last_err - 1, what);
	}
}

static void error_cb(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		pthread_mutex_lock(&S.mu);
		S.kafka_up = 0;
		pthread_mutex_unlock(&S.mu);
	}
	(void)reason;
}

static int consumer_new(notifier *n)
{
	nb_err err;
	nb_err_clear(&err);
	rd_kafka_conf_t *c = nb_kafka_conf_new(S.cfg.kafka, "neonblue-serve-sub", &err);
	char gid[64];
	snprintf(gid, sizeof gid, "neonblue-serve-sub-%d", (int)getpid());
	/* no group membership (partitions are assigned), no offsets committed:
	 * every server follows the topics from their end on its own */
	if (!c || nb_kafka_set(c, "group.id", gid, &err) ||
	    nb_kafka_set(c, "enable.auto.commit", "false", &err) ||
	    nb_kafka_set(c, "enable.auto.offset.store", "false", &err) ||
	    nb_kafka_set(c, "enable.partition.eof", "false", &err) ||
	    /* a topic recreated (a restarted Kafka) is read from its start */
	    nb_kafka_set(c, "auto.offset.reset", "earliest", &err) ||
	    nb_kafka_set(c, "fetch.wait.max.ms", "100", &err) ||
	    nb_kafka_set(c, "fetch.error.backoff.ms", "100", &err) ||
	    nb_kafka_set(c, "queued.max.messages.kbytes", "4096", &err)) {
		if (c)
			rd_kafka_conf_destroy(c);
		say(n, err.msg);
		return -1;
	}
	rd_kafka_conf_set_error_cb(c, error_cb);
	char es[256];
	n->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof es);
	if (!n->rk) {
		say(n, es);
		return -1;
	}
	rd_kafka_poll_set_consumer(n->rk);
	n->q = rd_kafka_queue_get_consumer(n->rk);
	snprintf(n->pre, sizeof n->pre, "%s.public.", S.cfg.topic_prefix);
	return 0;
}

/* Assigns the partitions of our topics not followed yet: from their end at
 * the first look, from their start when they appear later (they are new). */
static void discover(notifier *n, int first)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t e = rd_kafka_metadata(n->rk, 1, NULL, &md, 2000);
	if (e) {
		char m[300];
		snprintf(m, sizeof m, "Kafka metadata: %s", rd_kafka_err2str(e));
		say(n, m);
		pthread_mutex_lock(&S.mu);
		S.kafka_up = 0;
		pthread_mutex_unlock(&S.mu);
		return;
	}
	rd_kafka_topic_partition_list_t *add = rd_kafka_topic_partition_list_new(8);
	int exp = 0, var = 0;
	size_t pl = strlen(n->pre);
	for (int i = 0; i < md->topic_cnt; i++) {
		const struct rd_kafka_metadata_topic *t = &md->topics[i];
		if (strncmp(t->topic, n->pre, pl) || t->err)
			continue;
		int ours = 0;
		for (int k = 0; sse_tables[k]; k++)
			ours |= !strcmp(t->topic + pl, sse_tables[k]);
		if (!ours)
			continue;
		exp |= !strcmp(t->topic + pl, "experiments");
		var |= !strcmp(t->topic + pl, "variants");
		for (int p = 0; p < t->partition_cnt; p++) {
			int known = 0;
			for (int k = 0; k < n->ntp && !known; k++)
				known = n->tpp[k] == t->partitions[p].id && !strcmp(n->tps[k], t->topic);
			if (known || n->ntp >= SSE_MAX_TP || strlen(t->topic) >= sizeof n->tps[0])
				continue;
			snprintf(n->tps[n->ntp], sizeof n->tps[0], "%s", t->topic);
			n->tpp[n->ntp++] = t->partitions[p].id;
			rd_kafka_topic_partition_list_add(add, t->topic, t->partitions[p].id)->offset =
				first ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
		}
	}
	rd_kafka_metadata_destroy(md);
	if (add->cnt) {
		rd_kafka_error_t *ae = rd_kafka_incremental_assign(n->rk, add);
		if (ae) {
			say(n, rd_kafka_error_string(ae));
			rd_kafka_error_destroy(ae);
		}
	}
	rd_kafka_topic_partition_list_destroy(add);
	n->have_main = exp && var;
	pthread_mutex_lock(&S.mu);
	S.kafka_up = n->have_main;
	pthread_mutex_unlock(&S.mu);
	if (!n->have_main) {
		char m[600];
		snprintf(m, sizeof m, "waiting for the CDC topics %sexperiments and %svariants "
				      "(is `neonblue cdc` running?)", n->pre, n->pre);
		say(n, m);
	} else {
		say(n, "following the CDC topics");
	}
}

/* Whether a CDC message changes the payload; *ts gets its commit time. */
static int relevant(notifier *n, const rd_kafka_message_t *m, double *ts)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	if (!m->payload || strncmp(topic, n->pre, strlen(n->pre)))
		return 0; /* tombstones follow a delete that already counted */
	const char *table = topic + strlen(n->pre);
	cJSON *j = cJSON_ParseWithLength(m->payload, m->len);
	/* --with-schema wraps it: {"schema", "payload"} */
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "payload");
	if (!cJSON_IsObject(v))
		v = j;
	int yes = 1;
	if (!strcmp(table, "audit_log")) {
		/* saved groups are not published themselves (the sink has no table
		 * for them); their changes are audited in the same transaction */
		const cJSON *after = cJSON_GetObjectItemCaseSensitive(v, "after");
		const cJSON *ent = cJSON_GetObjectItemCaseSensitive(after, "entity");
		yes = cJSON_IsString(ent) && !strcmp(ent->valuestring, "saved_group");
	}
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(v, "source");
	const cJSON *tms = cJSON_GetObjectItemCaseSensitive(src, "ts_ms");
	*ts = cJSON_IsNumber(tms) ? tms->valuedouble / 1000 : 0;
	cJSON_Delete(j);
	return yes;
}

/* Rebuilds the payload from PostgreSQL and broadcasts it: 0, or -1 to retry. */
static int rebuild(notifier *n, double lag_from)
{
	nb_err err;
	nb_err_clear(&err);
	if (!n->pg || PQstatus(n->pg) != CONNECTION_OK) {
		if (n->pg)
			PQfinish(n->pg);
		n->pg = nb_pg_connect(&S.cfg, &err);
		if (!n->pg) {
			say(n, err.msg);
			return -1;
		}
	}
	char *text = api_features_text(n->pg, 1, &err);
	if (!text) {
		say(n, err.msg[0] ? err.msg : "PostgreSQL failed");
		pthread_mutex_lock(&S.mu);
		S.rebuild_fail++;
		pthread_mutex_unlock(&S.mu);
		return -1;
	}
	broadcast(text, lag_from);
	free(text);
	return 0;
}

static void *notifier_main(void *arg)
{
	(void)arg;
	notifier *n = nb_xcalloc(1, sizeof *n);
	double next_discover = 0, next_ka = mono_s() + S.keepalive_s,
	       next_tok = mono_s() + SSE_TOKEN_CHECK_S, retry_at = 0;
	int first = 1, dirty = 1; /* the payload as of the start */
	double dirty_ts = 0;
	while (!__atomic_load_n(&S.stop, __ATOMIC_RELAXED)) {
		double now = mono_s();
		if (!n->rk && consumer_new(n)) {
			usleep(500000);
			continue;
		}
		if (now >= next_discover) {
			discover(n, first);
			first = 0;
			/* until the topics exist, look every 500 ms; then for new
			 * partitions and recreated topics every 5 s */
			next_discover = now + (n->have_main ? 5 : 0.5);
		}
		/* the first change, waiting up to 100 ms; then whatever else has
		 * arrived, so a burst costs one rebuild */
		rd_kafka_message_t *m = rd_kafka_consume_queue(n->q, 100);
		long changes = 0;
		while (m) {
			double ts = 0;
			if (m->err) {
				if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
					say(n, rd_kafka_message_errstr(m));
			} else if (relevant(n, m, &ts)) {
				changes++;
				/* the oldest commit the rebuild answers, for the lag */
				if (ts > 0 && (dirty_ts == 0 || ts < dirty_ts))
					dirty_ts = ts;
				dirty = 1;
			}
			rd_kafka_message_destroy(m);
			m = rd_kafka_consume_queue(n->q, 0);
		}
		if (changes) {
			pthread_mutex_lock(&S.mu);
			S.changes += changes;
			pthread_mutex_unlock(&S.mu);
		}
		now = mono_s();
		if (dirty && now >= retry_at) {
			if (rebuild(n, dirty_ts) == 0) {
				dirty = 0;
				dirty_ts = 0;
			} else {
				retry_at = now + 0.5;
			}
		}
		if (now >= next_tok) {
			check_tokens();
			next_tok = now + SSE_TOKEN_CHECK_S;
		}
		if (now >= next_ka) {
			keepalive();
			next_ka = now + S.keepalive_s;
		}
	}
	if (n->q)
		rd_kafka_queue_destroy(n->q);
	if (n->rk) {
		rd_kafka_consumer_close(n->rk);
		rd_kafka_destroy(n->rk);
	}
	if (n->pg)
		PQfinish(n->pg);
	free(n);
	return NULL;
}

void sse_start(const nb_config *cfg, int keepalive_s, sse_token_fn token_active)
{
	S.cfg = *cfg;
	S.token_active = token_active;
	S.keepalive_s = keepalive_s > 0 ? keepalive_s : 15;
	if (!cfg->kafka_set) {
		fprintf(stderr, "neonblue serve: GET /sub is off (503): no Kafka configured "
				"(NEONBLUE_KAFKA or --kafka)\n");
		return;
	}
	S.enabled = 1;
	if (pthread_create(&S.th, NULL, notifier_main, NULL)) {
		S.enabled = 0;
		fprintf(stderr, "neonblue serve: GET /sub is off: cannot start its thread\n");
		return;
	}
	S.started = 1;
}

void sse_stop(void)
{
	if (S.started) {
		__atomic_store_n(&S.stop, 1, __ATOMIC_RELAXED);
		pthread_join(S.th, NULL);
		S.started = 0;
	}
	pthread_mutex_lock(&S.mu);
	free(S.current);
	S.current = NULL;
	pthread_mutex_unlock(&S.mu);
}
