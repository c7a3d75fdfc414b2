/* cdc/publish.c — the relay's Kafka side: the producer and its delivery
 * reports, topics and messages (envelope, key, tombstone), and the accounting
 * of what is acknowledged (and, embedded, in ClickHouse) that decides the LSN
 * the relay may confirm. */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define PROGRESS_EVERY_MS 200

/* -------------------------------------------------------- kafka callbacks */

static cdc_tp *tp_get(cdc *c, const char *topic, int32_t partition)
{
	for (int i = 0; i < c->ntps; i++)
		if (c->tps[i].partition == partition && !strcmp(c->tps[i].topic, topic))
			return &c->tps[i];
	c->tps = nb_xrealloc(c->tps, (size_t)(c->ntps + 1) * sizeof *c->tps);
	cdc_tp *t = &c->tps[c->ntps++];
	memset(t, 0, sizeof *t);
	t->topic = nb_xstrdup(topic);
	t->partition = partition;
	t->max_offset = -1;
	return t;
}

static void tp_push(cdc_tp *t, uint64_t lsn, int64_t bytes, int64_t offset)
{
	t->msgs++;
	t->bytes += bytes;
	if (t->n && t->q[(t->head + t->n - 1) % t->cap].lsn == lsn) {
		cdc_entry *e = &t->q[(t->head + t->n - 1) % t->cap];
		e->msgs++;
		e->bytes += bytes;
		e->last_offset = offset;
		return;
	}
	if (t->n == t->cap) {
		int ncap = t->cap ? 2 * t->cap : 64;
		cdc_entry *q = nb_xmalloc((size_t)ncap * sizeof *q);
		for (int i = 0; i < t->n; i++)
			q[i] = t->q[(t->head + i) % t->cap];
		free(t->q);
		t->q = q;
		t->cap = ncap;
		t->head = 0;
	}
	t->q[(t->head + t->n++) % t->cap] = (cdc_entry){lsn, 1, bytes, offset};
}

/* Drops the entries ClickHouse holds. Only a progress row of this
 * producer's epoch counts (sink_lsn, sink_next are from one): a row the sink
 * wrote from a dead Kafka's messages, even after this producer began, says
 * nothing of this Kafka's. An LSN below the sink's highest is stored (each
 * partition is produced in LSN order). For the same LSN (one transaction; one
 * snapshot) the sink stored at least one of its messages: that settles a
 * complete group of one message; otherwise the sink's next offset must be
 * past the group. kafka_lsn: transactions below it are fully acknowledged. */
static int entry_stored(const cdc_tp *t, const cdc_entry *e, uint64_t kafka_lsn)
{
	if (!t->offsets_current)
		return 0;
	if (e->lsn < t->sink_lsn)
		return 1;
	if (e->lsn != t->sink_lsn)
		return 0;
	if (e->msgs == 1 && e->lsn < kafka_lsn)
		return 1;
	return e->last_offset < t->sink_next;
}

static void tp_pop_stored(cdc_tp *t, uint64_t kafka_lsn)
{
	while (t->n && entry_stored(t, &t->q[t->head], kafka_lsn)) {
		t->msgs -= t->q[t->head].msgs;
		t->bytes -= t->q[t->head].bytes;
		t->head = (t->head + 1) % t->cap;
		t->n--;
	}
}

void cdc_tps_clear(cdc *c)
{
	for (int i = 0; i < c->ntps; i++) {
		c->tps[i].n = c->tps[i].head = 0;
		c->tps[i].msgs = c->tps[i].bytes = 0;
		c->tps[i].offsets_current = 0;
		c->tps[i].max_offset = -1;
	}
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	cdc *c = opaque;
	cdc_tx *tx = m->_private;
	c->inflight_msgs--;
	c->inflight_bytes -= (int64_t)(m->len + m->key_len);
	if (!tx)
		return; /* a heartbeat: nothing waits for it */
	if (m->err) {
		if (!c->kafka_failed)
			snprintf(c->kafka_why, sizeof c->kafka_why,
				 "Kafka did not take a message for %s: %s",
				 rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
		c->kafka_failed = 1;
		return; /* the transaction stays unconfirmed: it will be replayed */
	}
	c->acked++;
	tx->outstanding--;
	/* Rows (keyed, with a value) must reach ClickHouse before their LSN is
	 * confirmed; tombstones and truncates are not stored there. */
	if (!c->embedded)
		return;
	cdc_tp *t = tp_get(c, rd_kafka_topic_name(m->rkt), m->partition);
	if (m->offset <= t->max_offset) {
		/* Offsets of one partition only grow while the same log lives: an
		 * offset at or below one already acknowledged means the embedded
		 * Kafka restarted (quickly enough that no error was reported) and its
		 * log, with what it held, is gone. Replay from what ClickHouse holds. */
		if (!c->kafka_failed)
			snprintf(c->kafka_why, sizeof c->kafka_why,
				 "the embedded Kafka restarted (%s [%d] acknowledged offset "
				 "%lld after %lld): its messages are lost",
				 rd_kafka_topic_name(m->rkt), (int)m->partition,
				 (long long)m->offset, (long long)t->max_offset);
		c->kafka_failed = 1;
		return;
	}
	t->max_offset = m->offset;
	if (m->key && m->payload)
		tp_push(t, tx->commit_lsn, (int64_t)(m->len + m->key_len), m->offset);
}

static void on_kafka_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
	(void)rk;
	cdc *c = opaque;
	if (rd_kafka_fatal_error(c->rk, NULL, 0)) {
		snprintf(c->kafka_why, sizeof c->kafka_why, "Kafka producer failed: %s", reason);
		c->kafka_failed = 1;
		return;
	}
	if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || code == RD_KAFKA_RESP_ERR__TRANSPORT) {
		if (c->embedded && !c->kafka_failed) {
			/* The mock cluster keeps messages in memory: a broker that goes
			 * away took them along. Replay from what ClickHouse holds. */
			snprintf(c->kafka_why, sizeof c->kafka_why,
				 "the embedded Kafka went away (%s): its messages are lost",
				 reason);
			c->kafka_failed = 1;
		}
		if (!c->kafka_down)
			cdc_log(c, "waiting for Kafka at %s: %s", c->o->kafka, reason);
		c->kafka_down = 1;
	}
}

void cdc_producer_close(cdc *c, int flush_ms)
{
	if (!c->rk)
		return;
	if (flush_ms > 0)
		rd_kafka_flush(c->rk, flush_ms);
	rd_kafka_purge(c->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(c->rk, 0);
	rd_kafka_destroy(c->rk);
	c->rk = NULL;
	c->inflight_msgs = c->inflight_bytes = 0;
	/* A heartbeat speaks for one producer's acknowledgements: the next
	 * Kafka (the embedded one may have lost everything) hears one only
	 * after a transaction it acknowledged itself. */
	c->hb_lsn = c->hb_sent_lsn = 0;
	c->hb_ts_ms = c->hb_sent_ms = 0;
}

int cdc_producer_open(cdc *c, nb_err *err)
{
	if (c->rk)
		return 0;
	/* A new epoch before anything is produced to this Kafka. */
	uint64_t e = 0;
	while (e == 0)
		if (getrandom(&e, sizeof e, 0) != (ssize_t)sizeof e)
			return nb_err_set(err, NB_ESERVER,
					  "getrandom: no randomness for the producer epoch");
	c->epoch = e;
	snprintf(c->epoch_str, sizeof c->epoch_str, "%" PRIu64, e);
	c->kafka_failed = 0;
	c->kafka_down = 0;
	c->rk = nb_kafka_producer_new(c->o->kafka, "neonblue-cdc", 5, on_delivery, on_kafka_error,
				      c, err);
	return c->rk ? 0 : -1;
}

/* ----------------------------------------------------------- transactions */

cdc_tx *cdc_tx_open(cdc *c, uint64_t commit_lsn)
{
	cdc_tx *tx = nb_xcalloc(1, sizeof *tx);
	tx->commit_lsn = commit_lsn;
	if (c->tail)
		c->tail->next = tx;
	else
		c->head = tx;
	c->tail = tx;
	return tx;
}

void cdc_txs_free(cdc *c)
{
	while (c->head) {
		cdc_tx *n = c->head->next;
		free(c->head);
		c->head = n;
	}
	c->tail = c->cur = NULL;
}

/* Moves kafka_lsn past fully acknowledged transactions, then derives the
 * LSN that may be confirmed. */
void cdc_advance(cdc *c)
{
	while (c->head && c->head->closed && c->head->outstanding == 0) {
		cdc_tx *tx = c->head;
		if (tx->end_lsn > c->kafka_lsn)
			c->kafka_lsn = tx->end_lsn;
		if (tx->ts_ms && tx->commit_lsn >= c->hb_lsn) {
			c->hb_lsn = tx->commit_lsn;
			c->hb_ts_ms = tx->ts_ms;
		}
		c->head = tx->next;
		if (!c->head)
			c->tail = NULL;
		free(tx);
	}
	uint64_t lsn = c->kafka_lsn;
	if (c->embedded)
		for (int i = 0; i < c->ntps; i++)
			tp_pop_stored(&c->tps[i], c->kafka_lsn);
	if (c->embedded)
		for (int i = 0; i < c->ntps; i++)
			if (c->tps[i].n && c->tps[i].q[c->tps[i].head].lsn < lsn)
				lsn = c->tps[i].q[c->tps[i].head].lsn;
	if (lsn > c->confirmed_lsn)
		c->confirmed_lsn = lsn;
}

int cdc_all_safe(const cdc *c)
{
	if (c->head || c->cur)
		return 0;
	for (int i = 0; c->embedded && i < c->ntps; i++)
		if (c->tps[i].n)
			return 0;
	return 1;
}

/* The snapshot is safe once its messages are acknowledged (and, embedded,
 * in ClickHouse): only then may a restart skip it. */
int cdc_snapshot_safe(cdc *c)
{
	if (c->head && c->head->commit_lsn == c->snapshot_lsn)
		return 0;
	for (int i = 0; c->embedded && i < c->ntps; i++)
		if (c->tps[i].n && c->tps[i].q[c->tps[i].head].lsn <= c->snapshot_lsn)
			return 0;
	return 1;
}

/* -------------------------------------------------------- embedded window */

void cdc_read_progress(cdc *c)
{
	int64_t now = cdc_now_ms();
	if (now - c->last_progress_ms < PROGRESS_EVERY_MS)
		return;
	c->last_progress_ms = now;
	int pending = 0;
	for (int i = 0; i < c->ntps; i++)
		pending |= c->tps[i].n > 0;
	if (!pending && !c->snapshot_pending)
		return;
	nb_cdc_progress *p;
	size_t n;
	nb_err e;
	if (nb_cdc_progress_read(c->o->clickhouse, &p, &n, &e) < 0) {
		if (now - c->last_progress_ok_ms > 5000)
			cdc_set_state(c, "waiting for ClickHouse at %s (the sink's progress): %s",
				      c->o->clickhouse, e.msg);
		return;
	}
	c->last_progress_ok_ms = now;
	for (size_t i = 0; i < n; i++) {
		for (int k = 0; k < c->ntps; k++) {
			cdc_tp *t = &c->tps[k];
			/* a row of another epoch counts a dead Kafka's offsets
			 * and LSNs: it says nothing of what this one holds */
			if (t->partition == p[i].partition && !strcmp(t->topic, p[i].topic) &&
			    p[i].epoch == c->epoch) {
				t->sink_lsn = p[i].lsn;
				t->offsets_current = 1;
				t->sink_next = p[i].next_offset;
			}
		}
	}
	free(p);
	cdc_advance(c);
}

/* True while some partition holds more unstored messages than the window. */
int cdc_window_full(cdc *c)
{
	if (!c->embedded)
		return 0;
	/* Messages not yet acknowledged may all land in any one partition. */
	for (int i = 0; i <= c->ntps; i++) {
		cdc_tp none = {.topic = "(not yet acknowledged)", .partition = -1};
		cdc_tp *t = i < c->ntps ? &c->tps[i] : &none;
		int64_t msgs = t->msgs + c->inflight_msgs, bytes = t->bytes + c->inflight_bytes;
		if (msgs >= c->o->window_msgs || bytes >= c->o->window_bytes) {
			if (!c->waiting_since)
				c->waiting_since = cdc_now_ms();
			if (cdc_now_ms() - c->waiting_since > 5000)
				cdc_set_state(c,
					      "paused: %s [%d] has %" PRId64 " messages (%" PRId64
					      " KiB) not yet in ClickHouse, counting %" PRId64
					      " unacknowledged (window %d messages, %ld KiB); "
					      "waiting for the sink",
					      t->topic, (int)t->partition, msgs, bytes / 1024,
					      c->inflight_msgs, c->o->window_msgs,
					      c->o->window_bytes / 1024);
			return 1;
		}
	}
	c->waiting_since = 0;
	return 0;
}

/* -------------------------------------------------------------- producing */

/* Hands one message to Kafka (value NULL = tombstone); waits while the
 * producer queue is full. val is freed. */
int cdc_produce(cdc *c, const char *topic, const char *key, char *val, cdc_tx *tx, nb_err *err)
{
	size_t vlen = val ? strlen(val) : 0;
	for (;;) {
		rd_kafka_resp_err_t e = rd_kafka_producev(
		    c->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
		    RD_KAFKA_V_VALUE(val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
		    RD_KAFKA_V_HEADER(NB_CDC_EPOCH_HEADER, c->epoch_str, (ssize_t)strlen(c->epoch_str)),
		    RD_KAFKA_V_OPAQUE(tx), RD_KAFKA_V_END);
		if (!e) {
			tx->outstanding++;
			c->messages++;
			c->inflight_msgs++;
			c->inflight_bytes += (int64_t)((key ? strlen(key) : 0) + vlen);
			return 0;
		}
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			free(val);
			return nb_err_set(err, NB_ESERVER, "Kafka: cannot produce to %s: %s", topic,
					  rd_kafka_err2str(e));
		}
		rd_kafka_poll(c->rk, 50);
		cdc_advance(c);
		if (c->kafka_failed || *c->stop) {
			free(val);
			return nb_err_set(err, NB_ESERVER, "%s",
					  c->kafka_failed ? c->kafka_why : "stopping");
		}
		if (c->waiting && c->waiting(c, err)) /* keeps PostgreSQL's connection alive */
			return free(val), -1;
		cdc_set_state(c, "waiting for Kafka at %s: %d messages not yet acknowledged",
			      c->o->kafka, rd_kafka_outq_len(c->rk));
		cdc_write_status_file(c);
	}
}

#define HEARTBEAT_MS 500
#define HEARTBEAT_IDLE_MS 5000

/* Transactions leave c->head in stream (commit) order once every message is
 * acknowledged, so when hb_lsn is set Kafka holds every message of that
 * commit and of every commit before it: the heartbeat, sent after, says so.
 * Its value is Debezium's heartbeat ({"ts_ms": now}) plus the commit's
 * source.lsn and source.ts_ms. A failed produce is skipped (the next one
 * says more). */
void cdc_heartbeat(cdc *c)
{
	int64_t now = cdc_now_ms();
	if (!c->rk || !c->hb_lsn || c->kafka_failed ||
	    now - c->hb_sent_ms < (c->hb_lsn != c->hb_sent_lsn ? HEARTBEAT_MS : HEARTBEAT_IDLE_MS))
		return;
	char topic[512];
	snprintf(topic, sizeof topic, "__debezium-heartbeat.%s", c->prefix);
	nb_buf k, v;
	nb_buf_init(&k);
	nb_buf_init(&v);
	nb_buf_puts(&k, "{\"serverName\":");
	nb_json_write_string(&k, c->prefix);
	nb_buf_putc(&k, '}');
	char lsn[32];
	nb_buf_printf(&v, "{\"ts_ms\":%" PRId64 ",\"source\":{\"lsn\":%" PRIu64 ",\"lsn_text\":",
		      now, c->hb_lsn);
	nb_json_write_string(&v, cdc_lsn_str(c->hb_lsn, lsn));
	nb_buf_printf(&v, ",\"ts_ms\":%" PRId64 "}}", c->hb_ts_ms);
	rd_kafka_resp_err_t e = rd_kafka_producev(
	    c->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(k.data, k.len),
	    RD_KAFKA_V_VALUE(v.data, v.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	    RD_KAFKA_V_OPAQUE(NULL), RD_KAFKA_V_END);
	if (!e) {
		c->inflight_msgs++;
		c->inflight_bytes += (int64_t)(k.len + v.len);
		c->hb_sent_lsn = c->hb_lsn;
		c->hb_sent_ms = now;
	}
	nb_buf_done(&k);
	nb_buf_done(&v);
}

void cdc_fill_source(cdc *c, nb_change *ch, uint64_t lsn, int64_t xid, int64_t ts_ms,
		     const char *snapshot)
{
	nb_change_set(&ch->source.version, "neonblue-cdc");
	nb_change_set(&ch->source.name, c->prefix);
	nb_change_set(&ch->source.db, c->dbname);
	nb_change_set(&ch->source.snapshot, snapshot);
	ch->source.lsn = lsn;
	ch->source.tx_id = xid;
	ch->source.ts_ms = ts_ms;
	ch->ts_ms = cdc_now_ms();
}

/* The envelope of ch (and a tombstone after a delete) to its topic. */
int cdc_emit(cdc *c, nb_change *ch, cdc_tx *tx, nb_err *err)
{
	char topic[512];
	snprintf(topic, sizeof topic, "%s.%s.%s", c->prefix, ch->schema, ch->table);
	nb_err e2;
	char *key = nb_debezium_key(ch, c->o->with_schema, &e2); /* NULL: keyless table */
	char *val = nb_debezium_value(ch, c->o->with_schema, err);
	if (!val) {
		free(key);
		return -1;
	}
	int rc = cdc_produce(c, topic, key, val, tx, err);
	if (!rc && ch->op == 'd' && key)
		rc = cdc_produce(c, topic, key, NULL, tx, err);
	free(key);
	return rc;
}
