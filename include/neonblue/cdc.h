/* cdc.h — `neonblue cdc`: the relay PostgreSQL (logical replication,
 * pgoutput) → Kafka (Debezium envelopes), at-least-once.
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
#ifndef NEONBLUE_CDC_H
#define NEONBLUE_CDC_H

#include <signal.h>
#include <stdint.h>

#include "neonblue/err.h"

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

/* WAL bytes the slot is behind: pg_current_wal_lsn() − confirmed_flush_lsn.
 * *bytes = -1 when the slot does not exist yet. For `stack status`. */
int nb_cdc_lag_bytes(const char *pg, const char *slot, int64_t *bytes, nb_err *err);

/* Drops the slot (and nothing else); for tests and re-snapshots. */
int nb_cdc_drop_slot(const char *pg, const char *slot, nb_err *err);

#endif
