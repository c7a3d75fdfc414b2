/* cdc/relay.c — the relay: PostgreSQL logical replication (pgoutput) → Debezium
 * envelopes → Kafka, confirming LSNs only for what is safely stored. */
#include "neonblue/cdc.h"
#include "neonblue/base.h"
#include "neonblue/kafka.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *const nb_cdc_tables[] = {"experiments", "variants", "metrics",   "experiment_metrics",
				     "assignments", "events",	"audit_log", NULL};

#define PG_OPTIONS "-c datestyle=ISO -c timezone=UTC -c extra_float_digits=3"
#define SNAPSHOT_MARK "neonblue cdc: snapshot complete for slot "
#define PROGRESS_EVERY_MS 200

/* One transaction in stream order; freed once every message is acknowledged. */
typedef struct cdc_tx {
	uint64_t commit_lsn, end_lsn;
	int64_t outstanding;
	int closed;
	struct cdc_tx *next;
} cdc_tx;

/* Embedded mode: what was produced to one partition and is not yet in ClickHouse. */
typedef struct cdc_entry {
	uint64_t lsn;
	int64_t msgs, bytes;
	int64_t last_offset; /* Kafka offset of its last message */
} cdc_entry;

typedef struct cdc_tp {
	char *topic;
	int32_t partition;
	cdc_entry *q;
	int head, n, cap;
	int64_t msgs, bytes;
	uint64_t sink_lsn;   /* highest source.lsn the sink stored from here */
	int64_t sink_next;   /* every offset below it is in ClickHouse */
	int offsets_current; /* sink_next differs from the baseline: it counts this Kafka's offsets */
	int64_t max_offset;  /* highest offset acknowledged by this Kafka (-1: none) */
} cdc_tp;

typedef struct cdc {
	const nb_cdc_opts *o;
	volatile sig_atomic_t *stop;
	const char *prefix, *slot, *pub;
	int embedded;
	PGconn *sql, *repl;
	rd_kafka_t *rk;
	nb_pgoutput dec;
	char dbname[128];
	cdc_tx *head, *tail, *cur;
	uint64_t received_lsn, kafka_lsn, confirmed_lsn, sent_lsn;
	int64_t last_status_ms, last_file_ms, last_progress_ms, last_progress_ok_ms;
	int kafka_failed;
	char kafka_why[512];
	int kafka_down;
	cdc_tp *tps;
	int ntps;
	/* The sink's progress when this producer (this Kafka's life) began: a
	 * row still equal to it may count a dead Kafka's offsets. */
	nb_cdc_progress *baseline;
	size_t nbaseline;
	int snapshot_pending; /* the snapshot rows of a new slot are not yet safe */
	uint64_t snapshot_lsn;
	uint64_t changes, messages, acked;
	int64_t inflight_msgs, inflight_bytes; /* produced, no delivery report yet */
	char state[256];
	nb_change ch;
	struct cdc_pk {
		uint32_t oid;
		char **cols;
		int n;
	} * pks; /* primary key columns per relation oid (pgoutput flags every
		  * column of a REPLICA IDENTITY FULL table as key) */
	int npks;
	int64_t waiting_since;
} cdc;

/* ------------------------------------------------------------------ utils */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cdc_log(cdc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cdc_log(cdc *c, const char *fmt, ...)
{
	if (!c->o->log)
		return;
	char line[1500];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	c->o->log(c->o->log_ud, line);
}

static void set_state(cdc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_state(cdc *c, const char *fmt, ...)
{
	char s[sizeof c->state];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s, sizeof s, fmt, ap);
	va_end(ap);
	if (strcmp(s, c->state)) {
		snprintf(c->state, sizeof c->state, "%s", s);
		cdc_log(c, "%s", s);
	}
}

static void put64(char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (char)(v & 0xff);
}

static uint64_t get64(const char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | (uint8_t)p[i];
	return v;
}

static char *lsn_str(uint64_t lsn, char out[32])
{
	nb_lsn_format(lsn, out);
	return out;
}

/* Trims libpq's trailing newline into err. */
static int pg_fail(nb_err *err, PGconn *pg, const char *what)
{
	char msg[600];
	snprintf(msg, sizeof msg, "%s", pg ? PQerrorMessage(pg) : "out of memory");
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	return nb_err_set(err, NB_ESERVER, "PostgreSQL: %s: %s", what, msg);
}

static PGconn *pg_connect(const char *conninfo, int replication, nb_err *err)
{
	const char *keys[] = {"dbname",
			      "options",
			      "application_name",
			      "connect_timeout",
			      replication ? "replication" : NULL,
			      NULL};
	const char *vals[] = {conninfo, PG_OPTIONS, "neonblue-cdc", "10", "database", NULL};
	PGconn *pg = PQconnectdbParams(keys, vals, 1);
	if (!pg || PQstatus(pg) != CONNECTION_OK) {
		pg_fail(err, pg, replication ? "replication connection" : "connection");
		PQfinish(pg);
		return NULL;
	}
	return pg;
}

/* Runs a statement with text parameters; returns the result (caller clears)
 * or NULL with err when it did not succeed. */
static PGresult *pg_run(PGconn *pg, const char *sql, int n, const char *const *params, nb_err *err)
{
	PGresult *r = n ? PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0) : PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_BOTH)
		return r;
	char what[200];
	snprintf(what, sizeof what, "%.160s", sql);
	pg_fail(err, pg, what);
	PQclear(r);
	return NULL;
}

static int pg_ok(PGconn *pg, const char *sql, int n, const char *const *params, nb_err *err)
{
	PGresult *r = pg_run(pg, sql, n, params, err);
	PQclear(r);
	return r ? 0 : -1;
}

/* ------------------------------------------------------- kafka callbacks */

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

/* Drops the entries ClickHouse holds. An LSN below the sink's highest is
 * stored (each partition is produced in LSN order). For the same LSN (one
 * transaction; one snapshot) the sink stored at least one of its messages:
 * that settles a complete group of one message; otherwise the sink's next
 * offset must be past the group and count this Kafka's offsets, not a dead
 * Kafka's: the progress row must have changed since this producer began
 * (the baseline), i.e. the sink committed from this Kafka since.
 * kafka_lsn: transactions below it are fully acknowledged. */
static int entry_stored(const cdc_tp *t, const cdc_entry *e, uint64_t kafka_lsn)
{
	if (e->lsn < t->sink_lsn)
		return 1;
	if (e->lsn != t->sink_lsn)
		return 0;
	if (e->msgs == 1 && e->lsn < kafka_lsn)
		return 1;
	return t->offsets_current && e->last_offset < t->sink_next;
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

static void tps_clear(cdc *c)
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

static void producer_close(cdc *c, int flush_ms)
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
}

static int producer_open(cdc *c, nb_err *err)
{
	if (c->rk)
		return 0;
	if (c->embedded) {
		/* Taken before anything is produced to this Kafka. */
		free(c->baseline);
		c->baseline = NULL;
		c->nbaseline = 0;
		if (nb_cdc_progress_read(c->o->clickhouse, &c->baseline, &c->nbaseline, err) < 0)
			return -1;
	}
	c->kafka_failed = 0;
	c->kafka_down = 0;
	c->rk = nb_kafka_producer_new(c->o->kafka, "neonblue-cdc", 5, on_delivery, on_kafka_error,
				      c, err);
	return c->rk ? 0 : -1;
}

/* -------------------------------------------------------- transactions */

static cdc_tx *tx_open(cdc *c, uint64_t commit_lsn)
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

static void txs_free(cdc *c)
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
static void advance(cdc *c)
{
	while (c->head && c->head->closed && c->head->outstanding == 0) {
		cdc_tx *tx = c->head;
		if (tx->end_lsn > c->kafka_lsn)
			c->kafka_lsn = tx->end_lsn;
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

static int all_safe(const cdc *c)
{
	if (c->head || c->cur)
		return 0;
	for (int i = 0; c->embedded && i < c->ntps; i++)
		if (c->tps[i].n)
			return 0;
	return 1;
}

/* ------------------------------------------------------ embedded window */

/* True when the sink's row for this partition is not the one it had when
 * this producer began (absent then, or another next_offset). */
static int baseline_moved(const cdc *c, const nb_cdc_progress *row)
{
	for (size_t i = 0; i < c->nbaseline; i++)
		if (c->baseline[i].partition == row->partition &&
		    !strcmp(c->baseline[i].topic, row->topic))
			return c->baseline[i].next_offset != row->next_offset;
	return 1;
}

static void read_progress(cdc *c)
{
	int64_t now = now_ms();
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
			set_state(c, "waiting for ClickHouse at %s (the sink's progress): %s",
				  c->o->clickhouse, e.msg);
		return;
	}
	c->last_progress_ok_ms = now;
	for (size_t i = 0; i < n; i++) {
		for (int k = 0; k < c->ntps; k++) {
			cdc_tp *t = &c->tps[k];
			if (t->partition == p[i].partition && !strcmp(t->topic, p[i].topic)) {
				t->sink_lsn = p[i].lsn;
				if (!t->offsets_current && baseline_moved(c, &p[i]))
					t->offsets_current = 1;
				t->sink_next = p[i].next_offset;
			}
		}
	}
	free(p);
	advance(c);
}

/* True while some partition holds more unstored messages than the window. */
static int window_full(cdc *c)
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
				c->waiting_since = now_ms();
			if (now_ms() - c->waiting_since > 5000)
				set_state(c,
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

/* -------------------------------------------------------------- status */

static void write_status_file(cdc *c)
{
	int64_t now = now_ms();
	if (!c->o->status_path || now - c->last_file_ms < 1000)
		return;
	c->last_file_ms = now;
	char a[32], b[32];
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "component", "cdc");
	cJSON_AddNumberToObject(j, "pid", getpid());
	cJSON_AddStringToObject(j, "slot", c->slot);
	cJSON_AddStringToObject(j, "state", c->state);
	cJSON_AddStringToObject(j, "received_lsn", lsn_str(c->received_lsn, a));
	cJSON_AddStringToObject(j, "confirmed_lsn", lsn_str(c->confirmed_lsn, b));
	cJSON_AddNumberToObject(j, "changes", (double)c->changes);
	cJSON_AddNumberToObject(j, "messages", (double)c->messages);
	cJSON_AddNumberToObject(j, "unacknowledged", (double)(c->messages - c->acked));
	int64_t pending = 0;
	for (int i = 0; i < c->ntps; i++)
		pending += c->tps[i].msgs;
	cJSON_AddNumberToObject(j, "not_in_clickhouse", c->embedded ? (double)pending : 0);
	cJSON_AddBoolToObject(j, "embedded", c->embedded);
	cJSON_AddNumberToObject(j, "updated_at", (double)(now / 1000));
	char *s = nb_json_print(j);
	cJSON_Delete(j);
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp", c->o->status_path);
	FILE *f = fopen(tmp, "w");
	if (f) {
		fprintf(f, "%s\n", s);
		if (fclose(f) == 0)
			rename(tmp, c->o->status_path);
	}
	free(s);
}

/* Sends a standby status update: written = flushed = applied = confirmed. */
static int send_status(cdc *c, int reply, nb_err *err)
{
	char m[34];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t pg_now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - NB_PG_EPOCH_US;
	/* write = flush: a walsender whose client has not confirmed everything
	 * it sent sends a keepalive when it runs out of WAL, which lets us
	 * confirm WAL that carried no published change (see on_keepalive). */
	m[0] = 'r';
	put64(m + 1, c->confirmed_lsn);
	put64(m + 9, c->confirmed_lsn);
	put64(m + 17, c->confirmed_lsn);
	put64(m + 25, (uint64_t)pg_now);
	m[33] = (char)reply;
	if (PQputCopyData(c->repl, m, sizeof m) <= 0 || PQflush(c->repl) < 0)
		return pg_fail(err, c->repl, "sending the standby status");
	c->last_status_ms = now_ms();
	c->sent_lsn = c->confirmed_lsn;
	return 0;
}

/* ------------------------------------------------------------ producing */

/* Hands one message to Kafka (value NULL = tombstone); waits while the
 * producer queue is full. val is freed. */
static int produce(cdc *c, const char *topic, const char *key, char *val, cdc_tx *tx, nb_err *err)
{
	size_t vlen = val ? strlen(val) : 0;
	for (;;) {
		rd_kafka_resp_err_t e = rd_kafka_producev(
		    c->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
		    RD_KAFKA_V_VALUE(val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
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
		advance(c);
		if (c->kafka_failed || *c->stop) {
			free(val);
			return nb_err_set(err, NB_ESERVER, "%s",
					  c->kafka_failed ? c->kafka_why : "stopping");
		}
		if (c->repl && now_ms() - c->last_status_ms > c->o->status_interval_ms &&
		    send_status(c, 0, err))
			return free(val), -1;
		set_state(c, "waiting for Kafka at %s: %d messages not yet acknowledged",
			  c->o->kafka, rd_kafka_outq_len(c->rk));
		write_status_file(c);
	}
}

static void fill_source(cdc *c, nb_change *ch, uint64_t lsn, int64_t xid, int64_t ts_ms,
			const char *snapshot)
{
	nb_change_set(&ch->source.version, "neonblue-cdc");
	nb_change_set(&ch->source.name, c->prefix);
	nb_change_set(&ch->source.db, c->dbname);
	nb_change_set(&ch->source.snapshot, snapshot);
	ch->source.lsn = lsn;
	ch->source.tx_id = xid;
	ch->source.ts_ms = ts_ms;
	ch->ts_ms = now_ms();
}

/* The envelope of ch (and a tombstone after a delete) to its topic. */
static int emit(cdc *c, nb_change *ch, cdc_tx *tx, nb_err *err)
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
	int rc = produce(c, topic, key, val, tx, err);
	if (!rc && ch->op == 'd' && key)
		rc = produce(c, topic, key, NULL, tx, err);
	free(key);
	return rc;
}

static int pk_query(PGconn *pg, const char *where, const char *param, char ***keys, int *n,
		    nb_err *err);
static void free_strv(char **v, int n);
static int is_in(char **v, int n, const char *s);

/* Marks the primary key columns of the relation as the key. */
static int apply_pk(cdc *c, const nb_pgo_relation *rel, nb_change *ch, nb_err *err)
{
	struct cdc_pk *pk = NULL;
	for (int i = 0; i < c->npks && !pk; i++)
		if (c->pks[i].oid == rel->oid)
			pk = &c->pks[i];
	if (!pk) {
		char oid[16];
		snprintf(oid, sizeof oid, "%u", rel->oid);
		char **cols;
		int n;
		if (pk_query(c->sql, "t.oid = $1::oid", oid, &cols, &n, err))
			return -1;
		c->pks = nb_xrealloc(c->pks, (size_t)(c->npks + 1) * sizeof *c->pks);
		pk = &c->pks[c->npks++];
		*pk = (struct cdc_pk){rel->oid, cols, n};
	}
	if (!pk->n) /* no primary key: keep the replica identity's columns */
		return 0;
	nb_tuple *ts[2] = {&ch->before, &ch->after};
	for (int t = 0; t < 2; t++)
		for (int i = 0; i < ts[t]->n; i++)
			ts[t]->cols[i].is_key = is_in(pk->cols, pk->n, ts[t]->cols[i].name);
	return 0;
}

static void pks_free(cdc *c)
{
	for (int i = 0; i < c->npks; i++)
		free_strv(c->pks[i].cols, c->pks[i].n);
	free(c->pks);
	c->pks = NULL;
	c->npks = 0;
}

static int key_changed(const nb_change *ch)
{
	if (!ch->has_before || !ch->has_after)
		return 0;
	for (int i = 0; i < ch->after.n && i < ch->before.n; i++) {
		const nb_col *a = &ch->after.cols[i], *b = &ch->before.cols[i];
		if (!a->is_key || b->toast_unchanged || a->toast_unchanged)
			continue;
		if (!a->text != !b->text || (a->text && strcmp(a->text, b->text)))
			return 1;
	}
	return 0;
}

static int on_row(cdc *c, const nb_pgo_msg *m, uint32_t xid, int64_t ts_ms, nb_err *err)
{
	nb_change *ch = &c->ch;
	if (nb_pgoutput_change(m, ch, err) || apply_pk(c, m->rel, ch, err))
		return -1;
	fill_source(c, ch, c->cur->commit_lsn, xid, ts_ms, "false");
	c->changes++;
	if (ch->op == 'u' && key_changed(ch)) {
		/* As Debezium does: delete (+ tombstone) of the old key, create of the new. */
		ch->op = 'd';
		ch->has_after = 0;
		if (emit(c, ch, c->cur, err))
			return -1;
		ch->op = 'c';
		ch->has_after = 1;
		ch->has_before = 0;
	}
	return emit(c, ch, c->cur, err);
}

static int on_truncate(cdc *c, const nb_pgo_msg *m, uint32_t xid, int64_t ts_ms, nb_err *err)
{
	for (int i = 0; i < m->nrels; i++) {
		nb_change *ch = &c->ch;
		nb_change_done(ch);
		nb_change_set(&ch->schema, m->rels[i]->nspname);
		nb_change_set(&ch->table, m->rels[i]->relname);
		ch->op = 't';
		fill_source(c, ch, c->cur->commit_lsn, xid, ts_ms, "false");
		char topic[512];
		snprintf(topic, sizeof topic, "%s.%s.%s", c->prefix, ch->schema, ch->table);
		char *val = nb_debezium_value(ch, c->o->with_schema, err);
		if (!val || produce(c, topic, NULL, val, c->cur, err))
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ streaming */

typedef struct txinfo {
	uint32_t xid;
	int64_t ts_ms;
} txinfo;

static int on_xlogdata(cdc *c, const char *buf, int len, txinfo *ti, nb_err *err)
{
	if (len < 25)
		return nb_err_set(err, NB_ESERVER, "PostgreSQL sent a short XLogData message");
	uint64_t start = get64(buf + 1);
	if (start > c->received_lsn)
		c->received_lsn = start;
	const nb_pgo_msg *m =
	    nb_pgoutput_decode(&c->dec, (const uint8_t *)buf + 25, (size_t)(len - 25), err);
	if (!m)
		return -1;
	switch (m->kind) {
	case NB_PGO_BEGIN:
		c->cur = tx_open(c, m->lsn);
		ti->xid = m->xid;
		ti->ts_ms = m->ts_us / 1000;
		return 0;
	case NB_PGO_COMMIT:
		if (!c->cur)
			return nb_err_set(err, NB_ESERVER, "pgoutput Commit without Begin");
		c->cur->end_lsn = m->end_lsn;
		c->cur->closed = 1;
		c->cur = NULL;
		if (m->end_lsn > c->received_lsn)
			c->received_lsn = m->end_lsn;
		advance(c);
		return 0;
	case NB_PGO_INSERT:
	case NB_PGO_UPDATE:
	case NB_PGO_DELETE:
		if (!c->cur)
			return nb_err_set(err, NB_ESERVER,
					  "pgoutput row change outside a transaction");
		return on_row(c, m, ti->xid, ti->ts_ms, err);
	case NB_PGO_TRUNCATE:
		if (!c->cur)
			return nb_err_set(err, NB_ESERVER,
					  "pgoutput Truncate outside a transaction");
		return on_truncate(c, m, ti->xid, ti->ts_ms, err);
	default: /* Relation, Type (cached by the decoder), Origin, Message */
		return 0;
	}
}

static int on_keepalive(cdc *c, const char *buf, int len, nb_err *err)
{
	if (len < 18)
		return nb_err_set(err, NB_ESERVER, "PostgreSQL sent a short keepalive");
	uint64_t end = get64(buf + 1);
	if (end > c->received_lsn)
		c->received_lsn = end;
	advance(c);
	/* Everything sent so far is handled and safe: the WAL up to here (changes
	 * of unpublished tables) need not be retained. */
	if (all_safe(c) && end > c->kafka_lsn) {
		c->kafka_lsn = end;
		advance(c);
	}
	return buf[17] ? send_status(c, 0, err) : 0;
}

static int snapshot_mark_check(cdc *c, nb_err *err);

/* Periodic duties between reads; returns -1 when the session must end. */
static int housekeeping(cdc *c, nb_err *err)
{
	rd_kafka_poll(c->rk, 0);
	if (c->kafka_failed)
		return nb_err_set(err, NB_ESERVER, "%s", c->kafka_why);
	if (c->kafka_down && rd_kafka_outq_len(c->rk) == 0)
		c->kafka_down = 0;
	if (c->embedded)
		read_progress(c);
	advance(c);
	int64_t now = now_ms();
	if (now - c->last_status_ms >= c->o->status_interval_ms ||
	    (c->confirmed_lsn > c->sent_lsn && now - c->last_status_ms >= 200))
		if (send_status(c, 0, err))
			return -1;
	write_status_file(c);
	return snapshot_mark_check(c, err);
}

static int stream(cdc *c, nb_err *err)
{
	txinfo ti = {0, 0};
	int sock = PQsocket(c->repl);
	while (!*c->stop) {
		if (housekeeping(c, err))
			return -1;
		if (window_full(c)) {
			usleep(20000);
			continue;
		}
		if (!c->waiting_since && !c->kafka_down)
			set_state(c, "streaming from slot %s", c->slot);
		int n = 0, got = 0;
		char *buf = NULL;
		while (got < 2000 && (n = PQgetCopyData(c->repl, &buf, 1)) > 0) {
			int rc = 0;
			if (buf[0] == 'w')
				rc = on_xlogdata(c, buf, n, &ti, err);
			else if (buf[0] == 'k')
				rc = on_keepalive(c, buf, n, err);
			PQfreemem(buf);
			if (rc)
				return -1;
			got++;
		}
		if (n == -2)
			return pg_fail(err, c->repl, "replication stream");
		if (n == -1) {
			PQclear(PQgetResult(c->repl));
			return nb_err_set(err, NB_ESERVER,
					  "PostgreSQL ended the replication stream");
		}
		if (got == 2000)
			continue;
		/* Drained. After a busy read let the socket fill for a moment: one
		 * big read beats one small packet per message (ARCHITECTURE.md). */
		if (got) {
			usleep(1000);
		} else {
			struct pollfd pfd = {sock, POLLIN, 0};
			poll(&pfd, 1, 50);
		}
		if (!PQconsumeInput(c->repl))
			return pg_fail(err, c->repl, "replication stream");
	}
	return 0;
}

/* ------------------------------------------------------------- snapshot */

static int pk_query(PGconn *pg, const char *where, const char *param, char ***keys, int *n,
		    nb_err *err)
{
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_printf(&q,
		      "SELECT a.attname FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
		      "JOIN pg_namespace s ON s.oid = t.relnamespace JOIN pg_attribute a ON "
		      "a.attrelid = t.oid AND a.attnum = ANY(i.indkey) WHERE i.indisprimary AND %s "
		      "ORDER BY array_position(i.indkey, a.attnum)",
		      where);
	const char *params[] = {param};
	PGresult *r = pg_run(pg, q.data, 1, params, err);
	nb_buf_done(&q);
	if (!r)
		return -1;
	*n = PQntuples(r);
	*keys = nb_xcalloc((size_t)*n + 1, sizeof **keys);
	for (int i = 0; i < *n; i++)
		(*keys)[i] = nb_xstrdup(PQgetvalue(r, i, 0));
	PQclear(r);
	return 0;
}

static int table_keys(cdc *c, const char *schema, const char *table, char ***keys, int *n,
		      nb_err *err)
{
	char *s = PQescapeIdentifier(c->sql, schema, strlen(schema));
	char *t = PQescapeIdentifier(c->sql, table, strlen(table));
	nb_buf name;
	nb_buf_init(&name);
	nb_buf_printf(&name, "%s.%s", s, t);
	PQfreemem(s);
	PQfreemem(t);
	int rc = pk_query(c->sql, "t.oid = $1::regclass", name.data, keys, n, err);
	nb_buf_done(&name);
	return rc;
}

static void free_strv(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int is_in(char **v, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return 1;
	return 0;
}

static int snapshot_rows(cdc *c, PGresult *r, char **keys, int nkeys, const char *schema,
			 const char *table, cdc_tx *tx, nb_err *err)
{
	int ncols = PQnfields(r);
	for (int row = 0; row < PQntuples(r); row++) {
		nb_change *ch = &c->ch;
		nb_change_done(ch);
		nb_change_set(&ch->schema, schema);
		nb_change_set(&ch->table, table);
		ch->op = 'r';
		ch->has_after = 1;
		for (int k = 0; k < ncols; k++) {
			nb_col *col =
			    nb_tuple_add(&ch->after, PQfname(r, k), PQftype(r, k),
					 PQgetisnull(r, row, k) ? NULL : PQgetvalue(r, row, k));
			col->is_key = is_in(keys, nkeys, col->name);
		}
		fill_source(c, ch, tx->commit_lsn, -1, now_ms(), "true");
		c->changes++;
		if (emit(c, ch, tx, err))
			return -1;
		if (row % 256 == 0)
			rd_kafka_poll(c->rk, 0);
		while (window_full(c) && !*c->stop && !c->kafka_failed) {
			rd_kafka_poll(c->rk, 20);
			read_progress(c);
			write_status_file(c);
		}
		if (c->kafka_failed)
			return nb_err_set(err, NB_ESERVER, "%s", c->kafka_why);
		if (row % 1024 == 0) {
			rd_kafka_poll(c->rk, 0);
			if (c->kafka_failed)
				return nb_err_set(err, NB_ESERVER, "%s", c->kafka_why);
			write_status_file(c);
		}
	}
	return 0;
}

static int snapshot_table(cdc *c, const char *schema, const char *table, cdc_tx *tx, nb_err *err)
{
	char **keys;
	int nkeys;
	if (table_keys(c, schema, table, &keys, &nkeys, err))
		return -1;
	char *s = PQescapeIdentifier(c->sql, schema, strlen(schema));
	char *t = PQescapeIdentifier(c->sql, table, strlen(table));
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_printf(&q, "DECLARE nb_snap NO SCROLL CURSOR FOR SELECT * FROM %s.%s", s, t);
	PQfreemem(s);
	PQfreemem(t);
	int rc = pg_ok(c->sql, q.data, 0, NULL, err);
	nb_buf_done(&q);
	uint64_t before = c->changes;
	while (!rc && !*c->stop) {
		PGresult *r = pg_run(c->sql, "FETCH 5000 FROM nb_snap", 0, NULL, err);
		if (!r) {
			rc = -1;
			break;
		}
		int n = PQntuples(r);
		rc = snapshot_rows(c, r, keys, nkeys, schema, table, tx, err);
		PQclear(r);
		if (n == 0)
			break;
	}
	if (!rc)
		rc = pg_ok(c->sql, "CLOSE nb_snap", 0, NULL, err);
	if (!rc)
		cdc_log(c, "snapshot of %s.%s: %" PRIu64 " rows", schema, table,
			c->changes - before);
	free_strv(keys, nkeys);
	return rc;
}

/* Reads every published table as of the slot's exported snapshot (op "r"). */
static int snapshot(cdc *c, const char *snapname, uint64_t lsn, nb_err *err)
{
	char l[32];
	set_state(c, "snapshot of the existing rows at %s", lsn_str(lsn, l));
	if (pg_ok(c->sql, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL, err))
		return -1;
	char *lit = PQescapeLiteral(c->sql, snapname, strlen(snapname));
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_printf(&q, "SET TRANSACTION SNAPSHOT %s", lit);
	PQfreemem(lit);
	int rc = pg_ok(c->sql, q.data, 0, NULL, err);
	nb_buf_done(&q);
	const char *params[] = {c->pub};
	PGresult *r = rc ? NULL
			 : pg_run(c->sql,
				  "SELECT schemaname, tablename FROM pg_publication_tables WHERE "
				  "pubname = $1 ORDER BY 1, 2",
				  1, params, err);
	if (!r)
		rc = -1;
	cdc_tx *tx = rc ? NULL : tx_open(c, lsn);
	if (tx)
		tx->end_lsn = lsn;
	for (int i = 0; !rc && r && i < PQntuples(r) && !*c->stop; i++)
		rc = snapshot_table(c, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), tx, err);
	PQclear(r);
	if (tx)
		tx->closed = 1;
	if (!rc && *c->stop)
		rc = nb_err_set(err, NB_ESERVER, "stopped during the snapshot");
	if (!rc)
		rc = pg_ok(c->sql, "COMMIT", 0, NULL, err);
	else
		PQclear(PQexec(c->sql, "ROLLBACK"));
	return rc;
}

/* ------------------------------------------------- publication and slot */

static int ensure_publication(cdc *c, nb_err *err)
{
	const char *params[] = {c->pub};
	PGresult *r =
	    pg_run(c->sql, "SELECT 1 FROM pg_publication WHERE pubname = $1", 1, params, err);
	if (!r)
		return -1;
	int exists = PQntuples(r) > 0;
	PQclear(r);
	if (exists)
		return 0;
	nb_buf q;
	nb_buf_init(&q);
	char *p = PQescapeIdentifier(c->sql, c->pub, strlen(c->pub));
	nb_buf_printf(&q, "CREATE PUBLICATION %s FOR TABLE ", p);
	PQfreemem(p);
	int n = 0;
	for (int i = 0; nb_cdc_tables[i]; i++) {
		const char *tp[] = {nb_cdc_tables[i]};
		r = pg_run(c->sql, "SELECT to_regclass('public.' || quote_ident($1)) IS NOT NULL",
			   1, tp, err);
		if (!r) {
			nb_buf_done(&q);
			return -1;
		}
		if (!strcmp(PQgetvalue(r, 0, 0), "t")) {
			char *t =
			    PQescapeIdentifier(c->sql, nb_cdc_tables[i], strlen(nb_cdc_tables[i]));
			nb_buf_printf(&q, "%spublic.%s", n++ ? ", " : "", t);
			PQfreemem(t);
		}
		PQclear(r);
	}
	if (!n) {
		nb_buf_done(&q);
		return nb_err_set(err, NB_ESERVER,
				  "database %s has none of NeonBlue's tables yet; run `neonblue "
				  "migrate`",
				  c->dbname);
	}
	nb_buf_puts(&q, " WITH (publish_via_partition_root = true)");
	int rc = pg_ok(c->sql, q.data, 0, NULL, err);
	nb_buf_done(&q);
	if (!rc)
		cdc_log(c, "created publication %s (%d tables)", c->pub, n);
	return rc;
}

/* 1: the slot exists and its snapshot completed; 0: no usable slot (an
 * incomplete one is dropped). */
static int slot_usable(cdc *c, nb_err *err)
{
	const char *params[] = {c->slot};
	PGresult *r =
	    pg_run(c->sql, "SELECT plugin, database FROM pg_replication_slots WHERE slot_name = $1",
		   1, params, err);
	if (!r)
		return -1;
	int exists = PQntuples(r) > 0;
	if (exists &&
	    (strcmp(PQgetvalue(r, 0, 0), "pgoutput") || strcmp(PQgetvalue(r, 0, 1), c->dbname))) {
		nb_err_set(err, NB_EINPUT,
			   "replication slot %s exists but is not a pgoutput slot of database %s; "
			   "pick another --slot",
			   c->slot, c->dbname);
		PQclear(r);
		return -1;
	}
	PQclear(r);
	if (!exists)
		return 0;
	const char *pp[] = {c->pub};
	r = pg_run(
	    c->sql,
	    "SELECT coalesce(obj_description(oid, 'pg_publication'), '') FROM pg_publication "
	    "WHERE pubname = $1",
	    1, pp, err);
	if (!r)
		return -1;
	char mark[300];
	snprintf(mark, sizeof mark, SNAPSHOT_MARK "%s;", c->slot);
	int done = PQntuples(r) && strstr(PQgetvalue(r, 0, 0), mark);
	PQclear(r);
	if (done)
		return 1;
	cdc_log(c, "slot %s exists but its snapshot never completed: dropping it to start over",
		c->slot);
	if (pg_ok(c->sql, "SELECT pg_drop_replication_slot($1)", 1, params, err))
		return -1;
	return 0;
}

/* Appends "snapshot complete for slot S" to the publication's comment (other
 * slots on the same publication keep their marks). */
static int mark_snapshot_done(cdc *c, nb_err *err)
{
	char mark[300];
	snprintf(mark, sizeof mark, SNAPSHOT_MARK "%s;", c->slot);
	const char *pp[] = {c->pub};
	PGresult *r = pg_run(c->sql,
			     "SELECT coalesce(obj_description(oid, 'pg_publication'), '') FROM "
			     "pg_publication WHERE pubname = $1",
			     1, pp, err);
	if (!r)
		return -1;
	nb_buf text;
	nb_buf_init(&text);
	if (PQntuples(r) && !strstr(PQgetvalue(r, 0, 0), mark))
		nb_buf_puts(&text, PQgetvalue(r, 0, 0));
	PQclear(r);
	nb_buf_puts(&text, mark);
	char *p = PQescapeIdentifier(c->sql, c->pub, strlen(c->pub));
	char *l = PQescapeLiteral(c->sql, text.data, text.len);
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_printf(&q, "COMMENT ON PUBLICATION %s IS %s", p, l);
	PQfreemem(p);
	PQfreemem(l);
	nb_buf_done(&text);
	int rc = pg_ok(c->sql, q.data, 0, NULL, err);
	nb_buf_done(&q);
	if (!rc) {
		c->snapshot_pending = 0;
		cdc_log(c, "snapshot of slot %s is safely stored", c->slot);
	}
	return rc;
}

/* Creates the slot and snapshots the rows as of its consistent point. */
static int create_slot(cdc *c, nb_err *err)
{
	char *s = PQescapeIdentifier(c->repl, c->slot, strlen(c->slot));
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_printf(&q, "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput EXPORT_SNAPSHOT", s);
	PQfreemem(s);
	PGresult *r = pg_run(c->repl, q.data, 0, NULL, err);
	nb_buf_done(&q);
	if (!r)
		return -1;
	uint64_t lsn = 0;
	nb_lsn_parse(PQgetvalue(r, 0, 1), &lsn);
	char *snapname = nb_xstrdup(PQgetvalue(r, 0, 2));
	PQclear(r);
	char l[32];
	cdc_log(c, "created slot %s at %s", c->slot, lsn_str(lsn, l));
	c->snapshot_pending = 1;
	c->snapshot_lsn = lsn;
	int rc = snapshot(c, snapname, lsn, err);
	free(snapname);
	return rc;
}

/* The snapshot is safe once its messages are acknowledged (and, embedded,
 * in ClickHouse): only then may a restart skip it. */
static int snapshot_safe(cdc *c)
{
	if (c->head && c->head->commit_lsn == c->snapshot_lsn)
		return 0;
	for (int i = 0; c->embedded && i < c->ntps; i++)
		if (c->tps[i].n && c->tps[i].q[c->tps[i].head].lsn <= c->snapshot_lsn)
			return 0;
	return 1;
}

static int start_replication(cdc *c, nb_err *err)
{
	char *s = PQescapeIdentifier(c->repl, c->slot, strlen(c->slot));
	char *p = PQescapeIdentifier(c->repl, c->pub, strlen(c->pub));
	char *pl = PQescapeLiteral(c->repl, p, strlen(p));
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_printf(&q,
		      "START_REPLICATION SLOT %s LOGICAL 0/0 (proto_version '1', "
		      "publication_names %s)",
		      s, pl);
	PQfreemem(s);
	PQfreemem(p);
	PQfreemem(pl);
	PGresult *r = pg_run(c->repl, q.data, 0, NULL, err);
	nb_buf_done(&q);
	if (!r)
		return -1;
	PQclear(r);
	const char *params[] = {c->slot};
	r = pg_run(c->sql,
		   "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", 1,
		   params, err);
	if (!r)
		return -1;
	uint64_t lsn = 0;
	if (PQntuples(r))
		nb_lsn_parse(PQgetvalue(r, 0, 0), &lsn);
	PQclear(r);
	/* Start over from the slot: what a lost Kafka had acknowledged no
	 * longer counts (embedded mode), and the slot is the truth anyway. */
	c->confirmed_lsn = c->kafka_lsn = c->sent_lsn = lsn;
	char l[32];
	cdc_log(c, "streaming slot %s from %s to %s.*", c->slot, lsn_str(lsn, l), c->prefix);
	return 0;
}

/* ------------------------------------------------------------- sessions */

static void session_end(cdc *c, int clean)
{
	/* Let Kafka acknowledge what it has, confirm it, then drop the rest:
	 * unconfirmed changes come again from the slot. */
	if (c->rk) {
		int64_t until = now_ms() + (clean ? 30000 : 5000);
		while (rd_kafka_outq_len(c->rk) > 0 && now_ms() < until && !c->kafka_failed)
			rd_kafka_poll(c->rk, 50);
		advance(c);
	}
	nb_err e;
	if (c->sql && PQstatus(c->sql) == CONNECTION_OK)
		snapshot_mark_check(c, &e);
	if (c->repl && PQstatus(c->repl) == CONNECTION_OK && c->confirmed_lsn > c->sent_lsn &&
	    !send_status(c, 0, &e)) {
		char l[32];
		cdc_log(c, "confirmed %s to PostgreSQL", lsn_str(c->confirmed_lsn, l));
	}
	if (c->repl && clean) {
		PQputCopyEnd(c->repl, NULL);
		PQflush(c->repl);
	}
	int lost = c->rk && (rd_kafka_outq_len(c->rk) > 0 || c->kafka_failed);
	if (lost || !clean)
		producer_close(c, 0);
	if (c->kafka_failed)
		tps_clear(c); /* whatever Kafka held is replayed from the slot */
	txs_free(c);
	PQfinish(c->repl);
	PQfinish(c->sql);
	c->repl = c->sql = NULL;
	nb_pgoutput_done(&c->dec);
	nb_pgoutput_init(&c->dec);
	pks_free(c); /* tables may have changed while we were away */
}

static int session(cdc *c, nb_err *err)
{
	set_state(c, "connecting to PostgreSQL");
	c->sql = pg_connect(c->o->pg, 0, err);
	if (!c->sql)
		return -1;
	snprintf(c->dbname, sizeof c->dbname, "%s", PQdb(c->sql));
	if (ensure_publication(c, err))
		return -1;
	c->repl = pg_connect(c->o->pg, 1, err);
	if (!c->repl || producer_open(c, err))
		return -1;
	int usable = slot_usable(c, err);
	if (usable < 0)
		return -1;
	if (!usable && create_slot(c, err))
		return -1;
	if (start_replication(c, err))
		return -1;
	c->last_status_ms = 0;
	return stream(c, err);
}

/* Also advances the snapshot mark while streaming. */
static int snapshot_mark_check(cdc *c, nb_err *err)
{
	if (c->snapshot_pending && c->sql && snapshot_safe(c))
		return mark_snapshot_done(c, err);
	return 0;
}

static void sleep_ms(volatile sig_atomic_t *stop, int ms)
{
	for (int t = 0; t < ms && !*stop; t += 50)
		usleep(50000);
}

int nb_cdc_run(const nb_cdc_opts *o, volatile sig_atomic_t *stop, nb_err *err)
{
	if (!o->pg || !o->kafka)
		return nb_err_set(err, NB_EINPUT, "the relay needs PostgreSQL and Kafka endpoints");
	nb_cdc_opts opts = *o;
	if (opts.window_msgs <= 0)
		opts.window_msgs = 20000;
	if (opts.window_bytes <= 0)
		opts.window_bytes = 3L << 20;
	if (opts.status_interval_ms <= 0)
		opts.status_interval_ms = 10000;
	cdc c;
	memset(&c, 0, sizeof c);
	c.o = &opts;
	c.stop = stop;
	c.prefix = o->prefix && *o->prefix ? o->prefix : "neonblue";
	c.slot = o->slot && *o->slot ? o->slot : "neonblue_cdc";
	c.pub = o->publication && *o->publication ? o->publication : "neonblue";
	c.embedded = o->clickhouse && *o->clickhouse;
	nb_pgoutput_init(&c.dec);
	nb_change_init(&c.ch);
	int backoff = 500, rc = 0;
	while (!*stop) {
		int64_t started = now_ms();
		nb_err e = {0};
		rc = session(&c, &e);
		session_end(&c, rc == 0);
		if (rc == 0)
			break;
		if (e.code == NB_EINPUT) {
			*err = e;
			break;
		}
		if (now_ms() - started > 30000)
			backoff = 500;
		set_state(&c, "%s; retrying in %.1f s", e.msg, backoff / 1000.0);
		write_status_file(&c);
		sleep_ms(stop, backoff);
		backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
		rc = 0;
	}
	if (c.rk)
		producer_close(&c, 30000);
	char l[32];
	cdc_log(&c, "stopped; %" PRIu64 " changes, %" PRIu64 " messages, confirmed %s", c.changes,
		c.messages, lsn_str(c.confirmed_lsn, l));
	nb_change_done(&c.ch);
	nb_pgoutput_done(&c.dec);
	for (int i = 0; i < c.ntps; i++) {
		free(c.tps[i].topic);
		free(c.tps[i].q);
	}
	free(c.baseline);
	free(c.tps);
	return rc ? -1 : 0;
}

/* --------------------------------------------------------- lag, admin */

int nb_cdc_lag_bytes(const char *pg, const char *slot, int64_t *bytes, nb_err *err)
{
	*bytes = -1;
	PGconn *c = PQconnectdb(pg ? pg : "");
	if (!c || PQstatus(c) != CONNECTION_OK) {
		pg_fail(err, c, "connection");
		PQfinish(c);
		return -1;
	}
	const char *params[] = {slot && *slot ? slot : "neonblue_cdc"};
	PGresult *r = pg_run(c,
			     "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM "
			     "pg_replication_slots WHERE slot_name = $1",
			     1, params, err);
	int rc = r ? 0 : -1;
	if (r && PQntuples(r) && !PQgetisnull(r, 0, 0))
		*bytes = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return rc;
}

int nb_cdc_drop_slot(const char *pg, const char *slot, nb_err *err)
{
	PGconn *c = PQconnectdb(pg ? pg : "");
	if (!c || PQstatus(c) != CONNECTION_OK) {
		pg_fail(err, c, "connection");
		PQfinish(c);
		return -1;
	}
	const char *params[] = {slot && *slot ? slot : "neonblue_cdc"};
	int rc = pg_ok(c,
		       "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE "
		       "slot_name = $1",
		       1, params, err);
	PQfinish(c);
	return rc;
}
