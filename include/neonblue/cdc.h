/* cdc.h — change data capture: the Debezium envelope (render and parse), the
 * pgoutput decoder, and the relay from PostgreSQL logical replication to Kafka. */
#ifndef NEONBLUE_CDC_H
#define NEONBLUE_CDC_H

#include "neonblue/base.h"

/* ==== debezium ==== */
/* row changes ⇄ Debezium PostgreSQL-connector envelope JSON: the row change
 * and its helpers in core/cdc/change.c, render in render.c, parse in parse.c.
 *
 * Render side (the relay): an nb_change built from pgoutput (PostgreSQL text
 * values plus type OIDs) becomes the Kafka value and key exactly as Debezium
 * renders them with its default settings (decimal.handling.mode=double):
 *   timestamptz → "2026-11-27T05:31:55.123456Z" (UTC, trailing zeros of the
 *   fraction dropped), timestamp → µs since epoch, date → days since epoch,
 *   time → µs since midnight, json/jsonb → JSON text as a string, uuid → string,
 *   int2/int4/int8/oid → numbers, float4/float8/numeric → numbers,
 *   bool → true/false, everything else (text, varchar, enums…) → string.
 *   Unchanged TOASTed values render as "__debezium_unavailable_value".
 *
 * Parse side (the sink): a Kafka value, with or without the JsonConverter
 * {"schema":…,"payload":…} wrapper, becomes an nb_change whose columns carry
 * the JSON value as it appeared (col->json) and, when a schema was present,
 * Debezium's field type and semantic name. nb_debezium_col_*() turn a column
 * into plain C values whatever rendering the producer used.
 */

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* PostgreSQL type OIDs the renderer knows; any other OID renders as a string. */
enum nb_pg_oid {
	NB_OID_BOOL = 16,
	NB_OID_BYTEA = 17,
	NB_OID_NAME = 19,
	NB_OID_INT8 = 20,
	NB_OID_INT2 = 21,
	NB_OID_INT4 = 23,
	NB_OID_TEXT = 25,
	NB_OID_OID = 26,
	NB_OID_JSON = 114,
	NB_OID_FLOAT4 = 700,
	NB_OID_FLOAT8 = 701,
	NB_OID_BPCHAR = 1042,
	NB_OID_VARCHAR = 1043,
	NB_OID_DATE = 1082,
	NB_OID_TIME = 1083,
	NB_OID_TIMESTAMP = 1114,
	NB_OID_TIMESTAMPTZ = 1184,
	NB_OID_NUMERIC = 1700,
	NB_OID_UUID = 2950,
	NB_OID_JSONB = 3802,
};

#define NB_DEBEZIUM_UNAVAILABLE "__debezium_unavailable_value"

/* One column of a row image. All strings are owned by the column. */
typedef struct nb_col {
	char *name;
	uint32_t type_oid;   /* 0 when unknown (parse side) */
	char *text;	     /* render side: PostgreSQL text form; NULL = SQL NULL */
	int toast_unchanged; /* value not sent by PostgreSQL (pgoutput 'u') */
	int is_key;	     /* part of the primary key / replica identity */
	/* Parse side (also accepted by the renderer, which then prints it as is): */
	cJSON *json;	/* the value as it appeared in the envelope; owned */
	char *dbz_type; /* schema "type" (int32, int64, string…); NULL without schema */
	char *dbz_name; /* schema "name" (io.debezium.time.ZonedTimestamp…) or NULL */
} nb_col;

typedef struct nb_tuple {
	nb_col *cols;
	int n, cap;
} nb_tuple;

typedef struct nb_source {
	char *version;	/* connector version, e.g. "2.5.0.Final" or "neonblue-0.1.0" */
	char *name;	/* logical server name = topic prefix */
	char *db;	/* database name */
	char *snapshot; /* "true", "false", "last", "first", "incremental"… */
	uint64_t lsn;	/* LSN of the change (commit LSN for our relay's confirm) */
	int64_t tx_id;	/* transaction id, -1 if unknown */
	int64_t ts_ms;	/* commit time, ms since epoch */
} nb_source;

typedef struct nb_change {
	char *schema, *table;
	char op;		   /* 'r' read (snapshot), 'c', 'u', 'd', 't' truncate */
	int has_before, has_after; /* before/after present (not JSON null) */
	nb_tuple before, after;
	nb_source source;
	int64_t ts_ms;	 /* envelope ts_ms: when the relay processed it */
	int tombstone;	 /* parse side: the value was null/empty (after a delete) */
	int with_schema; /* parse side: the message had the schema wrapper */
	/* Render side: the Kafka key is {"user_id": …} instead of the primary key
	 * (events, assignments whose replica identity holds user_id, so that every
	 * image of a row — a delete's before-image too — has it): the producer's
	 * partitioner then puts one user's changes in one partition, in order. */
	int key_by_user;
} nb_change;

void nb_change_init(nb_change *c);
/* Frees everything nb_change owns and re-initialises it. */
void nb_change_done(nb_change *c);
void nb_tuple_done(nb_tuple *t);
/* Appends a column (copies name and text; text NULL = SQL NULL). */
nb_col *nb_tuple_add(nb_tuple *t, const char *name, uint32_t type_oid, const char *text);
/* The column called name, or NULL. */
const nb_col *nb_tuple_find(const nb_tuple *t, const char *name);
/* Replaces a string field of nb_change/nb_source (frees the old value). */
void nb_change_set(char **field, const char *value);

/* ---- render (relay; core/cdc/render.c) ---- */

/* The Kafka value of c; the caller frees it. with_schema adds the
 * JsonConverter wrapper. Returns NULL (err set) for a value PostgreSQL could
 * not have produced (e.g. an int4 column whose text is not a number). */
char *nb_debezium_value(const nb_change *c, int with_schema, nb_err *err);
/* The Kafka key: the key columns (is_key) of after, else of before, as a JSON
 * object (wrapped when with_schema); {"user_id": …} when c->key_by_user.
 * NULL when the change has no key column (or, keyed by user, no user_id). */
char *nb_debezium_key(const nb_change *c, int with_schema, nb_err *err);
/* The Debezium rendering of one PostgreSQL text value (a new cJSON). */
cJSON *nb_debezium_render_value(uint32_t oid, const char *text, nb_err *err);

/* ---- parse (sink; core/cdc/parse.c) ---- */

/* Parses a Kafka value. Accepts the wrapped and unwrapped forms, op r/c/u/d/t,
 * and every rendering listed above. A NULL/empty value or JSON null is a
 * tombstone: returns 0 with out->tombstone = 1 and nothing else set. On
 * error returns -1 with NB_EINPUT and a sentence naming what is wrong; out is
 * left initialised (safe to nb_change_done). out must be initialised. */
int nb_debezium_parse(const char *json, size_t len, nb_change *out, nb_err *err);
/* Reads a heartbeat of __debezium-heartbeat.<prefix> (wrapped or not): the
 * relay's {"ts_ms":…,"source":{"lsn":L,"ts_ms":T}} gives the commit L, made
 * at T ms, whose messages and those of every commit before it Kafka holds;
 * Debezium's own {"ts_ms":T} gives lsn 0 and its send time T (docs/sink.md,
 * "Complete up to"). -1 (NB_EINPUT) when neither is there. */
int nb_debezium_heartbeat(const char *json, size_t len, uint64_t *lsn, int64_t *ts_ms,
			  nb_err *err);
/* Parses a Kafka key (wrapped or not) into columns with is_key set. */
int nb_debezium_parse_key(const char *json, size_t len, nb_tuple *out, nb_err *err);

/* Column accessors for the parse side. Each returns 0 on success, 1 when the
 * value is NULL (SQL NULL) or the unavailable-TOAST placeholder, -1 with err
 * when the value cannot be read as asked. */
/* Microseconds since epoch (UTC) from an ISO-8601 string with Z or an offset
 * (ZonedTimestamp), a number of µs (MicroTimestamp, the default without schema),
 * ms (io.debezium.time.Timestamp / org.apache.kafka.connect.data.Timestamp),
 * ns (NanoTimestamp), or days (io.debezium.time.Date: only with that schema). */
int nb_debezium_col_epoch_us(const nb_col *c, int64_t *us, nb_err *err);
/* Days since epoch: a number of days (Date) or an ISO date/timestamp string. */
int nb_debezium_col_days(const nb_col *c, int32_t *days, nb_err *err);
int nb_debezium_col_int(const nb_col *c, int64_t *v, nb_err *err);
int nb_debezium_col_double(const nb_col *c, double *v, nb_err *err);
/* bool: JSON true/false, or 0/1 numbers. */
int nb_debezium_col_bool(const nb_col *c, int *v, nb_err *err);
/* The value as text: strings as they are (a jsonb column gives its JSON text),
 * numbers with %.17g rules, booleans as true/false, objects/arrays as JSON.
 * *out is a new string the caller frees. */
int nb_debezium_col_text(const nb_col *c, char **out, nb_err *err);

/* ---- helpers shared with the relay and tests (core/cdc/change.c) ---- */

/* "0/16B3748" ⇄ 64-bit LSN. */
int nb_lsn_parse(const char *s, uint64_t *lsn);
void nb_lsn_format(uint64_t lsn, char out[32]);
/* Parses PostgreSQL ISO output "YYYY-MM-DD HH:MM:SS[.f][+hh[:mm[:ss]]]" (also
 * with 'T', and 'Z'); has_tz tells whether an offset was present. */
int nb_pg_parse_timestamp(const char *s, int64_t *us, int *has_tz);
/* µs since epoch → "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" (fraction trimmed). */
void nb_format_iso_utc(int64_t us, char out[48]);
/* Days from 1970-01-01 of a proleptic Gregorian date. */
int64_t nb_days_from_civil(int64_t y, unsigned m, unsigned d);

/* ==== pgoutput ==== */
/* a pure decoder of PostgreSQL's pgoutput logical replication
 * messages (proto_version 1) with the relation cache the protocol requires. */

#include <stddef.h>
#include <stdint.h>

/* µs between 1970-01-01 and PostgreSQL's epoch 2000-01-01. */
#define NB_PG_EPOCH_US 946684800000000LL

typedef struct nb_pgo_att {
	char *name;
	uint32_t type_oid;
	int32_t typmod;
	int is_key; /* part of the replica identity */
} nb_pgo_att;

typedef struct nb_pgo_relation {
	uint32_t oid;
	char *nspname, *relname;
	char replident; /* 'd' default, 'n' nothing, 'f' full, 'i' index */
	int natts;
	nb_pgo_att *atts;
} nb_pgo_relation;

/* One column of a TupleData: points into the decoded message buffer. */
typedef struct nb_pgo_value {
	char kind; /* 'n' NULL, 'u' unchanged TOAST (not sent), 't' text */
	const char *data;
	uint32_t len;
} nb_pgo_value;

typedef struct nb_pgo_tuple {
	int n;
	nb_pgo_value *vals; /* owned by the decoder, reused per message */
	int cap;
} nb_pgo_tuple;

enum nb_pgo_kind {
	NB_PGO_BEGIN = 'B',
	NB_PGO_COMMIT = 'C',
	NB_PGO_ORIGIN = 'O',
	NB_PGO_RELATION = 'R',
	NB_PGO_TYPE = 'Y',
	NB_PGO_INSERT = 'I',
	NB_PGO_UPDATE = 'U',
	NB_PGO_DELETE = 'D',
	NB_PGO_TRUNCATE = 'T',
	NB_PGO_MESSAGE = 'M',
};

/* A decoded message. Pointers are valid until the next decode on the same
 * decoder (tuple values also need the input buffer to stay alive). */
typedef struct nb_pgo_msg {
	char kind;
	uint64_t lsn;	     /* Begin: final (commit) LSN; Commit: commit LSN; Origin: origin LSN */
	uint64_t end_lsn;    /* Commit: end of the commit record */
	int64_t ts_us;	     /* Begin/Commit: commit time, µs since 1970 */
	uint32_t xid;	     /* Begin */
	uint8_t flags;	     /* Commit flags; Truncate options (1 cascade, 2 restart identity) */
	const char *name;    /* Origin name; Type name; Message prefix */
	const char *nspname; /* Type namespace */
	uint32_t oid;	     /* Type oid */
	const nb_pgo_relation *rel; /* Relation (the cached copy), Insert/Update/Delete */
	char old_kind; /* Update/Delete: 'K' key-only old tuple, 'O' full old tuple, 0 none */
	nb_pgo_tuple old_tuple, new_tuple;
	int nrels;		      /* Truncate */
	const nb_pgo_relation **rels; /* Truncate: the relations (from the cache) */
	const char *content;	      /* Message */
	uint32_t content_len;
} nb_pgo_msg;

typedef struct nb_pgoutput {
	nb_pgo_relation *rels;
	int nrels, cap_rels;
	struct nb_pgo_type {
		uint32_t oid;
		char *nspname, *name;
	} * types;
	int ntypes, cap_types;
	nb_pgo_msg msg;
	int cap_trunc;
} nb_pgoutput;

void nb_pgoutput_init(nb_pgoutput *d);
void nb_pgoutput_done(nb_pgoutput *d);

/* Decodes one pgoutput message (the payload of an XLogData 'w' message).
 * Returns the decoded message, or NULL with NB_EINPUT for a truncated or
 * malformed message, or a row message for a relation never described. */
const nb_pgo_msg *nb_pgoutput_decode(nb_pgoutput *d, const uint8_t *buf, size_t len, nb_err *err);

/* The cached relation with that oid, or NULL. */
const nb_pgo_relation *nb_pgoutput_relation(const nb_pgoutput *d, uint32_t oid);

/* Fills a row change (schema, table, op c/u/d, before/after with text values,
 * key flags, type OIDs) from an Insert/Update/Delete message. The source
 * fields are left for the caller. out is reset first. */
int nb_pgoutput_change(const nb_pgo_msg *m, nb_change *out, nb_err *err);

/* ==== cdc ==== */
/* `neonblue cdc`: the relay PostgreSQL (logical replication,
 * pgoutput) → Kafka (Debezium envelopes), at-least-once. core/cdc/relay.c is
 * its loop, replication.c the PostgreSQL side, publish.c the Kafka side.
 *
 * The relay creates the publication and the slot if missing, snapshots the
 * existing rows of a new slot with the slot's exported snapshot (op "r"),
 * then streams. One message per row change to <prefix>.<schema>.<table>,
 * key = primary key JSON, a tombstone after each delete; a key-changing
 * update becomes a delete (+ tombstone) of the old key and a create.
 * source.lsn is the commit LSN of the change's transaction (the slot's
 * consistent point for snapshot rows): monotone in stream order, so
 * "highest LSN stored" is a valid progress mark downstream.
 *
 * Confirmation (the LSN reported to PostgreSQL as flushed):
 *  - default: the end of every transaction whose messages Kafka all acknowledged;
 *  - embedded (non-durable Kafka): in addition only up to what ClickHouse holds
 *    per Kafka partition (neonblue.cdc_progress, written by the sink), and the
 *    produced-but-not-stored window per partition is bounded.
 */

#include <signal.h>
#include <stdint.h>

typedef struct nb_cdc_opts {
	const char *pg;		 /* libpq conninfo of the database to replicate */
	const char *kafka;	 /* bootstrap servers */
	const char *prefix;	 /* topic prefix and source.name; default "neonblue" */
	const char *slot;	 /* default "neonblue_cdc" */
	const char *publication; /* default "neonblue" */
	int with_schema;	 /* JsonConverter {"schema","payload"} wrapping */
	/* Embedded mode: confirm only what this ClickHouse holds (URL), NULL = off. */
	const char *clickhouse;
	int window_msgs;	 /* embedded: per-partition window, default 20000 */
	long window_bytes;	 /* embedded: per-partition window, default 3 MiB */
	int status_interval_ms;	 /* standby status period, default 10000 */
	const char *status_path; /* JSON status file rewritten every second, or NULL */
	/* Log lines (one sentence each, no newline); NULL = silent. */
	void (*log)(void *ud, const char *line);
	void *log_ud;
} nb_cdc_opts;

/* Runs the relay until *stop becomes non-zero, then flushes Kafka, confirms
 * what it can and returns 0. PostgreSQL or Kafka outages are waited out with
 * backoff (and logged); returns -1 only for what retrying cannot fix (bad
 * options, a publication or slot it may not create). */
int nb_cdc_run(const nb_cdc_opts *o, volatile sig_atomic_t *stop, nb_err *err);

/* The tables the relay publishes when it creates the publication. */
extern const char *const nb_cdc_tables[];
/* 1 for the tables keyed by user when their replica identity holds user_id
 * (events and its monthly partitions, assignments): see nb_change.key_by_user. */
int nb_cdc_user_keyed_table(const char *table);

/* WAL bytes the slot is behind: pg_current_wal_lsn() − confirmed_flush_lsn.
 * *bytes = -1 when the slot does not exist yet. For `stack status`. */
int nb_cdc_lag_bytes(const char *pg, const char *slot, int64_t *bytes, nb_err *err);

/* Drops the slot (and nothing else); for tests and re-snapshots. */
int nb_cdc_drop_slot(const char *pg, const char *slot, nb_err *err);

/* ==== progress ==== */
/* What the sink has committed to ClickHouse (neonblue.cdc_progress, written
 * in the same insert as the rows): the relay's embedded mode confirms its
 * slot from it (core/cdc/progress.c). */
typedef struct nb_cdc_progress {
	char topic[256];
	int partition;
	char source_table[128];
	int64_t next_offset; /* every offset below is in ClickHouse */
	uint64_t lsn;        /* highest source.lsn among the rows committed */
	uint64_t epoch;      /* the relay's producer epoch of the last message (0: none) */
} nb_cdc_progress;

/* The Kafka header naming the embedded relay's producer epoch on every
 * message: a random number drawn each time the relay opens a producer, so a
 * progress row the sink wrote from a dead Kafka's messages is told apart from
 * one written from this Kafka's (offsets restart at 0 with each mock cluster). */
#define NB_CDC_EPOCH_HEADER "neonblue-epoch"

/* Reads neonblue.cdc_progress FINAL; *out (caller frees) gets *n rows. */
int nb_cdc_progress_read(const char *clickhouse, nb_cdc_progress **out, size_t *n, nb_err *err);
/* The smallest, over the tables the sink has seen, of the highest LSN
 * committed for that table; 0 when nothing was committed yet. */
int nb_cdc_committed_lsn(const char *clickhouse, uint64_t *lsn, nb_err *err);

#endif
