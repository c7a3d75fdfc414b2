/* sink/internal.h — what the sink's files share: the runner's state (one
 * sink, its partitions, the batch in hand and the mapping lanes) and the
 * functions of status.c (log, partitions, status file) and store.c (the
 * store thread and the hand-over of batches). Calls go sink.c → store.c →
 * status.c, never back. */
#ifndef NB_SINK_INTERNAL_H
#define NB_SINK_INTERNAL_H

#include "neonblue/sink.h"

#include "neonblue/ch.h"
#include "neonblue/base.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdint.h>

#define SINK_STOP_GRACE_MS 15000 /* after a stop request, how long to retry a batch */

typedef struct sink_part {
	char *topic;
	int32_t partition;
	int table;           /* schema index or -1 */
	int64_t next;        /* offset expected next, -1 unknown */
	int64_t committed;   /* offset committed to the group, -1 unknown */
	int64_t batch_next;  /* offset after the last message in the filling batch */
	uint64_t batch_lsn;  /* highest lsn in the filling batch */
	uint64_t batch_epoch; /* relay epoch (NB_CDC_EPOCH_HEADER) of its last message, 0: none */
	unsigned batch_gen;  /* sink.kgen when batch_next was read */
	uint64_t lsn;        /* highest lsn committed */
	int dirty;           /* has offsets in the filling batch */
	int assigned;        /* the group gave it to this sink (until revoked) */
} sink_part;

/* A partition's share of a batch handed to the store thread. */
typedef struct sink_bpart {
	int idx;            /* in sink.parts */
	const char *topic;  /* owned by sink.parts (stable) */
	int32_t partition;
	int table;
	int64_t next;
	uint64_t lsn;
	uint64_t epoch;
	unsigned gen;       /* sink.kgen when that offset was read */
	int64_t base;       /* the group's offset this sink committed last (or was
			     * assigned at), -1 unknown: Kafka must still hold it */
	int committed;      /* result: the offset was committed */
} sink_bpart;

/* Rows per table plus the offsets they came from. The main thread fills one
 * while the store thread writes the other to ClickHouse and commits it. */
/* A truncate to apply once the rows before it are stored. */
typedef struct sink_trunc {
	int table;
	uint64_t lsn;
	char *sql; /* nb_sink_truncate_sql() */
} sink_trunc;

typedef struct sink_batch {
	nb_buf *bufs;
	int *buf_rows;
	uint64_t *min_lsn;   /* per table: the lowest source.lsn among its rows */
	sink_trunc *truncs;  /* in message order, applied after the rows */
	int ntruncs, cap_truncs;
	int rows, msgs;
	int64_t start_ms;
	sink_bpart *parts;
	int nparts, cap;
	int result;          /* store thread: 1 stored and committed, -1 dropped */
	uint64_t stored_rows;
	int64_t stored_ms;
} sink_batch;

#define SINK_TRUNCS_KEPT 64
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

typedef struct sink_complete sink_complete; /* complete.c */

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
	uint64_t msgs, rows, tombstones, truncates, ignored, dlq_count, batches, gaps, lost, seq;
	/* store thread: the truncates applied in this run, applied again after
	 * a later batch stored older rows of their table (from another Kafka
	 * partition of the topic); the last SINK_TRUNCS_KEPT are kept */
	sink_trunc applied[SINK_TRUNCS_KEPT];
	int napplied;
	int64_t started_s, last_row_ms, status_ms;
	char last_gap[512];
	nb_buf tmp, ptmp;
	nb_buf touch; /* store thread: user ids for touched_ack not yet inserted */
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
	sink_complete *complete; /* the heartbeats' thread, or NULL */
	/* Kafka's lives as the sink sees them: kafka_lost is set (error
	 * callback, main thread) when every broker went away; the main loop then
	 * counts a new generation kgen (under kmu, which the store thread holds
	 * while it commits) and reads its partitions again from the group's
	 * committed offsets. Offsets read in an older generation are never
	 * committed: they may count a log that is gone. */
	int kafka_lost;
	unsigned kgen;
	pthread_mutex_t kmu;
	char hb_topic[300];	 /* __debezium-heartbeat.<prefix> */
} sink;

/* ---- status.c ---- */
int64_t sink_now_ms(void);
int sink_gave_up(sink *s);
void sink_log(sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
sink_part *sink_part_get(sink *s, const char *topic, int32_t partition);
void sink_set_waiting(sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sink_sleep(sink *s, int ms);
void sink_status_tick(sink *s);
void sink_status_write(sink *s);

/* ---- complete.c: "complete up to" (docs/sink.md) ---- */
/* Starts the thread that records in neonblue.cdc_complete the heartbeats
 * ClickHouse holds (NULL if it cannot start: then nothing is recorded). */
sink_complete *sink_complete_start(sink *s);
/* Hands over a heartbeat the main thread consumed (a bad one is ignored). */
void sink_complete_heartbeat(sink_complete *c, const char *value, size_t len);
void sink_complete_stop(sink_complete *c);

/* ---- store.c ---- */
int sink_ch_open(sink *s, nb_err *err);
void sink_collect(sink *s);
void sink_flush_sync(sink *s);
void sink_handoff(sink *s, int block);
void *sink_store_main(void *arg);
void sink_store_stop(sink *s);

#endif
