/* cdc/internal.h — the relay's state, shared by its files (not public):
 * relay.c (the loop) calls replication.c (the PostgreSQL side) and
 * publish.c (the Kafka side); replication.c hands row changes to
 * publish.c; all of them use status.c. Never the other way round. */
#ifndef NB_CDC_INT_H
#define NB_CDC_INT_H

#include "neonblue/base.h"
#include "neonblue/cdc.h"
#include "neonblue/kafka.h"

#include <libpq-fe.h>
#include <signal.h>
#include <stdint.h>

/* One transaction in stream order; freed once every message is acknowledged. */
typedef struct cdc_tx {
	uint64_t commit_lsn, end_lsn;
	int64_t ts_ms; /* commit time (0: a snapshot, no single commit) */
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
	int offsets_current; /* the sink wrote a row of this producer's epoch: sink_next counts this Kafka's offsets */
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
	/* This producer's (this Kafka's life's) epoch, stamped on every message
	 * (NB_CDC_EPOCH_HEADER); only progress rows of it count its offsets. */
	uint64_t epoch;
	char epoch_str[24];
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
	/* The heartbeat (publish.c, cdc_heartbeat): the newest commit that Kafka
	 * holds with every commit before it, and what was last sent. */
	uint64_t hb_lsn, hb_sent_lsn;
	int64_t hb_ts_ms, hb_sent_ms;
	/* Called by cdc_produce while it waits for room in the producer queue,
	 * so that the Kafka side can keep the replication connection alive
	 * without calling up into the PostgreSQL side (the loop sets it to
	 * cdc_status_if_due); NULL = nothing to do. */
	int (*waiting)(struct cdc *c, nb_err *err);
} cdc;

/* The transaction being streamed (from its Begin message). */
typedef struct txinfo {
	uint32_t xid;
	int64_t ts_ms;
} txinfo;

/* ---- status.c: clock, log, state, status file ---- */

int64_t cdc_now_ms(void);
void cdc_log(cdc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets the one-line state; logs it when it changed. */
void cdc_set_state(cdc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *cdc_lsn_str(uint64_t lsn, char out[32]);
/* Rewrites the --status file, at most once a second. */
void cdc_write_status_file(cdc *c);

/* ---- publish.c: the Kafka side ---- */

/* Forgets what every partition held (after Kafka lost it). */
void cdc_tps_clear(cdc *c);
void cdc_producer_close(cdc *c, int flush_ms);
int cdc_producer_open(cdc *c, nb_err *err);
/* Appends a transaction to the stream-order list. */
cdc_tx *cdc_tx_open(cdc *c, uint64_t commit_lsn);
void cdc_txs_free(cdc *c);
void cdc_advance(cdc *c);
/* True when every message handed to Kafka is safe (acknowledged, embedded: stored). */
int cdc_all_safe(const cdc *c);
int cdc_snapshot_safe(cdc *c);
/* Embedded: reads the sink's progress (every PROGRESS_EVERY_MS) and advances. */
void cdc_read_progress(cdc *c);
int cdc_window_full(cdc *c);
int cdc_produce(cdc *c, const char *topic, const char *key, char *val, cdc_tx *tx, nb_err *err);
/* Fills ch->source (and ch->ts_ms) as the relay renders it. */
void cdc_fill_source(cdc *c, nb_change *ch, uint64_t lsn, int64_t xid, int64_t ts_ms,
		     const char *snapshot);
int cdc_emit(cdc *c, nb_change *ch, cdc_tx *tx, nb_err *err);
/* Sends the heartbeat to __debezium-heartbeat.<prefix> when the newest
 * fully acknowledged commit moved (at most every 500 ms), and every 5 s
 * anyway (docs/cdc.md, "Heartbeats"). */
void cdc_heartbeat(cdc *c);

/* ---- replication.c: the PostgreSQL side ---- */

int cdc_pg_fail(nb_err *err, PGconn *pg, const char *what);
PGconn *cdc_pg_connect(const char *conninfo, int replication, nb_err *err);
int cdc_send_status(cdc *c, int reply, nb_err *err);
/* A standby status when the last one is older than the status interval. */
int cdc_status_if_due(cdc *c, nb_err *err);
/* Forgets the primary keys looked up per relation. */
void cdc_pks_free(cdc *c);
/* One XLogData ('w') / primary keepalive ('k') message of the stream. */
int cdc_on_xlogdata(cdc *c, const char *buf, int len, txinfo *ti, nb_err *err);
int cdc_on_keepalive(cdc *c, const char *buf, int len, nb_err *err);
int cdc_ensure_publication(cdc *c, nb_err *err);
int cdc_slot_usable(cdc *c, nb_err *err);
int cdc_mark_snapshot_done(cdc *c, nb_err *err);
int cdc_create_slot(cdc *c, nb_err *err);
int cdc_start_replication(cdc *c, nb_err *err);

#endif
