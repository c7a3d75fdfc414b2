/* pgoutput.h — a pure decoder of PostgreSQL's pgoutput logical replication
 * messages (proto_version 1) with the relation cache the protocol requires. */
#ifndef NEONBLUE_PGOUTPUT_H
#define NEONBLUE_PGOUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "neonblue/debezium.h"
#include "neonblue/err.h"

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

#endif
