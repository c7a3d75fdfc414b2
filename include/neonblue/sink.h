/* sink.h — `neonblue sink`: Debezium envelopes from Kafka → batched
 * ClickHouse inserts, offsets committed only after ClickHouse stored them.
 *
 * Two halves: the mapping (pure: a Kafka message → TabSeparated rows of a
 * ClickHouse table, driven by the column list ClickHouse reports) and the
 * runner (librdkafka consumer group, batches, retries, DLQ, status file). */
#ifndef NEONBLUE_SINK_H
#define NEONBLUE_SINK_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "neonblue/base.h"

/* ---- the mapping ---- */

enum nb_sink_coltype {
	NB_SINK_STRING, /* String, FixedString, UUID, Enum: text */
	NB_SINK_INT,    /* Int8..Int64 */
	NB_SINK_UINT,   /* UInt8..UInt64 */
	NB_SINK_FLOAT,  /* Float32, Float64 */
	NB_SINK_DATETIME,
	NB_SINK_DATE,
	NB_SINK_ARRAY, /* Array(T) of the scalar types above, from a JSON array */
	NB_SINK_MICROS, /* <col>_us UInt32 next to a DateTime <col> */
	NB_SINK_VERSION, /* _version: the change's LSN */
	NB_SINK_DELETED, /* _deleted: 1 for a delete */
};

typedef struct nb_sink_col {
	char *name;
	char *ch_type;   /* as ClickHouse spells it */
	int type;        /* enum nb_sink_coltype */
	int elem_type;   /* for NB_SINK_ARRAY: the element's type */
	int nullable;
	int is_key;      /* in the sorting key: must be present */
	int src;         /* NB_SINK_MICROS: index of the DateTime column */
	int bits;        /* NB_SINK_INT/UINT: 8, 16, 32 or 64 (the range checked) */
	int uuid;        /* NB_SINK_STRING of ClickHouse type UUID: the text is checked */
} nb_sink_col;

typedef struct nb_sink_table {
	char *name;
	nb_sink_col *cols;
	int ncols;
	char *insert_sql; /* INSERT INTO neonblue.`t` (`a`,…) FORMAT TabSeparated */
} nb_sink_table;

typedef struct nb_sink_schema {
	nb_sink_table *tables;
	int ntables;
} nb_sink_schema;

/* The query whose TabSeparated answer nb_sink_schema_parse() reads. */
extern const char NB_SINK_SCHEMA_SQL[];
/* Builds the schema from rows "table \t column \t type \t is_in_sorting_key"
 * (tables whose name starts with "cdc_" or is schema_migrations are not
 * replication targets and are skipped). */
int nb_sink_schema_parse(const char *tsv, size_t len, nb_sink_schema *s, nb_err *err);
void nb_sink_schema_done(nb_sink_schema *s);
/* The table for a topic "<prefix>.<schema>.<table>" (a monthly partition name
 * events_y2026m11 maps to events), or -1. */
int nb_sink_schema_table_for_topic(const nb_sink_schema *s, const char *topic);

enum nb_sink_kind {
	NB_SINK_ROWS,      /* rows appended */
	NB_SINK_TOMBSTONE, /* null value after a delete: nothing to store */
	NB_SINK_TRUNCATE,  /* op "t": apply with nb_sink_truncate_sql() after the rows before it */
};

typedef struct nb_sink_out {
	int kind;     /* enum nb_sink_kind */
	int table;    /* index in the schema */
	int nrows;    /* rows appended (2 for an update that changed the key) */
	uint64_t lsn; /* source.lsn */
	char op;
	int fast;     /* read by the zero-copy path (1) or nb_debezium_parse (0) */
	/* NB_SINK_TRUNCATE: the rows it covers. trunc_col < 0: the whole table;
	 * else only rows whose column trunc_col (a DateTime) is in
	 * [trunc_from, trunc_to) seconds — a truncate of one monthly partition
	 * (source.table events_y2026m01). */
	int trunc_col;
	int64_t trunc_from, trunc_to;
} nb_sink_out;

/* Maps one Kafka message (value may be NULL for a tombstone) of table
 * `table` into TabSeparated rows appended to out (columns in the order of
 * s->tables[table].cols). On failure nothing is appended and err says why
 * (NB_EINPUT): the message belongs in the dead-letter topic. */
int nb_sink_map(const nb_sink_schema *s, int table, const char *value, size_t len, nb_buf *out,
		nb_sink_out *res, nb_err *err);
/* The same through nb_debezium_parse only. nb_sink_map reads the common
 * unwrapped envelope in place (no copies) and hands everything else to
 * nb_debezium_parse; both give the same rows (tests/unit/test_sink.c). */
int nb_sink_map_canonical(const nb_sink_schema *s, int table, const char *value, size_t len,
			  nb_buf *out, nb_sink_out *res, nb_err *err);

/* The statement that applies a truncate (res from nb_sink_map, kind
 * NB_SINK_TRUNCATE) in ClickHouse: every live row of the table (of the
 * partition's month) whose _version is below the truncate's LSN is written
 * again with that LSN as _version and _deleted = 1, so newer rows are never
 * touched and a replay changes nothing. The caller frees it. */
char *nb_sink_truncate_sql(const nb_sink_table *t, const nb_sink_out *res);

/* "events_y2026m01" → 2026, 1 and the length of "events"; 0 when name is
 * not a monthly partition's name. */
size_t nb_sink_partition_month(const char *name, int *year, int *month);

/* Topics that carry no rows: "<prefix>.transaction" (Debezium's transaction
 * metadata), "<prefix>.message" (logical decoding messages, op "m") and
 * "__debezium-heartbeat.<prefix>" (its heartbeats). */
int nb_sink_topic_ignored(const char *prefix, const char *topic);
/* True for a topic whose messages are rows: PREFIX.<anything> but not
 * PREFIX.dlq nor what nb_sink_topic_ignored() names. */
int nb_sink_row_topic(const char *prefix, const char *topic);

/* ---- the runner ---- */

typedef struct nb_sink_opts {
	const char *kafka;      /* bootstrap servers */
	const char *clickhouse; /* http://127.0.0.1:8123 */
	const char *clickhouse_cluster; /* NULL/"": one node; else the cluster's name */
	const char *group;      /* consumer group, default "neonblue-sink" */
	const char *prefix;     /* topic prefix, default "neonblue" */
	const char *status_path; /* JSON status file rewritten every second, or NULL */
	int batch_rows;         /* flush at this many rows (default 50000) */
	int batch_ms;           /* or when the oldest row waited this long (default 200) */
	int migrate;            /* apply the ClickHouse migrations at start */
	int verbose;            /* log every batch */
	int threads;            /* threads mapping messages to rows (default 4, max 8) */
	/* Log lines (one sentence each, no newline); NULL = silent. */
	void (*log)(void *ud, const char *line);
	void *log_ud;
} nb_sink_opts;

/* Runs until *stop becomes non-zero (a signal handler sets it), then
 * finishes the batch in hand, commits and returns 0. Returns -1 only for a
 * configuration it cannot start with (bad URL, no schema in ClickHouse after
 * retrying…); outages of Kafka or ClickHouse are waited out. */
int nb_sink_run(const nb_sink_opts *o, volatile sig_atomic_t *stop, nb_err *err);

/* ---- for `stack status` ---- */

/* Adds the sink's figures from its status file (nb_sink_opts.status_path,
 * by default HOME/run/sink.status) to obj: "kafka_lag" (messages, sum over
 * partitions of high watermark − committed), "seconds_since_last_row"
 * (null before the first row), "rows", "dlq", "lost_messages",
 * "waiting_for" (null or what it waits for), "status_age_s". Adds
 * "status": "no status file yet" when the file cannot be read. */
void nb_sink_status_describe(const char *status_path, cJSON *obj);
/* 0 when the status file was rewritten within max_age_s seconds and
 * ClickHouse accepted the last attempt; else -1 and a reason in why. */
int nb_sink_status_health(const char *status_path, int max_age_s, char *why, size_t n);
/* The consumer group's lag as Kafka holds it (core/sink/grouplag.c): asks
 * the brokers at kafka for the group's committed offset and the high
 * watermark of every partition of the row topics (nb_sink_row_topic) now.
 * {"group", "partitions": [{"topic", "partition", "committed" (-1: none),
 * "high_watermark", "lag"}], "lag_total"}; lag counts from the low watermark
 * where nothing is committed. Does not join the group. NULL with err when
 * Kafka does not answer within timeout_ms (per request). */
cJSON *nb_sink_group_lag(const char *kafka, const char *group, const char *prefix, int timeout_ms,
			 nb_err *err);

#endif
