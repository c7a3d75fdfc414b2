/* pg_events.h — events into PostgreSQL: validation of the JSON Lines fields
 * shared by `neonblue track` and `neonblue ingest`, and the COPY loader. */
#ifndef NEONBLUE_PG_EVENTS_H
#define NEONBLUE_PG_EVENTS_H

#include "neonblue/err.h"

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <stddef.h>

/* Rows per COPY batch of nb_pg_events_load. */
#define NB_PG_EVENTS_BATCH 20000

typedef struct nb_pg_event {
	char event_id[37];  /* lowercase uuid */
	char *user_id;
	char *type;
	char ts[40];        /* normalised "YYYY-MM-DDTHH:MM:SS.ffffffZ" */
	double epoch;       /* ts as seconds since 1970 (UTC) */
	int has_value;
	double value;
	char *properties;   /* JSON object text, or NULL */
	char *experiment;   /* key, or NULL */
} nb_pg_event;

/* Validates one event object (event_id uuid optional → generated, user_id,
 * type, ts ISO-8601 optional → now, value number, properties object,
 * experiment key); unknown fields are refused. The error names the field and
 * why. out owns its strings: nb_pg_event_done. */
int nb_pg_event_from_json(const cJSON *j, nb_pg_event *out, nb_err *err);
void nb_pg_event_done(nb_pg_event *ev);

/* Parses an ISO-8601 timestamp (YYYY-MM-DD, optionally [T ]HH:MM[:SS[.f]]
 * and Z / ±HH[:MM]; no zone means UTC) into seconds since 1970. -1 if bad. */
int nb_pg_event_parse_ts(const char *s, double *epoch);
/* Formats seconds since 1970 as "YYYY-MM-DDTHH:MM:SS.ffffffZ". */
void nb_pg_event_format_ts(double epoch, char *out, size_t n);
/* A random (version 4) uuid, lowercase. */
void nb_pg_event_uuid(char out[37]);

typedef struct nb_pg_load_stats {
	long inserted; /* new rows */
	long skipped;  /* event_id already stored (or repeated in the input) */
} nb_pg_load_stats;

/* Loads n validated events in one transaction: creates the monthly
 * partitions they need, COPYs them in batches into a temporary table, then
 * inserts those whose event_id is not stored yet. All or nothing. */
int nb_pg_events_load(PGconn *conn, const nb_pg_event *evs, size_t n, nb_pg_load_stats *st,
		      nb_err *err);

#endif
