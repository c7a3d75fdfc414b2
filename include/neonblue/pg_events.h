/* pg_events.h — events into PostgreSQL: validation of the JSON Lines fields
 * shared by `neonblue track` and `neonblue ingest`, and the COPY loader. */
#ifndef NEONBLUE_PG_EVENTS_H
#define NEONBLUE_PG_EVENTS_H

#include "neonblue/err.h"

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <stddef.h>

/* Rows per COPY batch (and per event_id lookup) of nb_pg_events_load. */
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

/* A load in one transaction on conn, all or nothing. begin opens the
 * transaction and takes an advisory lock (one loader at a time decides which
 * event_ids are new). Each add, per NB_PG_EVENTS_BATCH rows: creates the
 * monthly partitions the rows need, skips event_ids repeated in this load or
 * already stored, and streams the rest into one open COPY — returning without
 * waiting for the server, so the caller reads the next batch meanwhile (evs
 * may be freed on return). aux, a second connection (or NULL), runs the
 * lookups and partition creation while the COPY on conn stays open; without
 * it the COPY is ended for each lookup. finish commits (commit = 1) or rolls
 * back, reports the totals in st (zero unless committed) and frees the
 * loader; after a failed add it rolls back whatever commit says. */
typedef struct nb_pg_events_loader nb_pg_events_loader;
nb_pg_events_loader *nb_pg_events_loader_begin(PGconn *conn, PGconn *aux, nb_err *err);
int nb_pg_events_loader_add(nb_pg_events_loader *l, const nb_pg_event *evs, size_t n,
			    nb_err *err);
int nb_pg_events_loader_finish(nb_pg_events_loader *l, int commit, nb_pg_load_stats *st,
			       nb_err *err);

/* begin + add + finish for events already in memory (`track`). */
int nb_pg_events_load(PGconn *conn, const nb_pg_event *evs, size_t n, nb_pg_load_stats *st,
		      nb_err *err);

#endif
