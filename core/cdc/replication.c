/* cdc/replication.c — the relay's PostgreSQL side: connections, the
 * publication and the slot, the snapshot of a new slot, START_REPLICATION,
 * the XLogData and keepalive messages of the stream (row changes handed to
 * cdc/publish.c), standby status (LSN confirmation), `cdc lag` and slot drop. */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const nb_cdc_tables[] = {"experiments", "variants", "metrics",   "experiment_metrics",
				     "assignments", "events",	"audit_log", "flags", NULL};

#define PG_OPTIONS "-c datestyle=ISO -c timezone=UTC -c extra_float_digits=3"
#define SNAPSHOT_MARK "neonblue cdc: snapshot complete for slot "

/* ------------------------------------------------------------------ utils */

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

/* Trims libpq's trailing newline into err. */
int cdc_pg_fail(nb_err *err, PGconn *pg, const char *what)
{
	char msg[600];
	snprintf(msg, sizeof msg, "%s", pg ? PQerrorMessage(pg) : "out of memory");
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	return nb_err_set(err, NB_ESERVER, "PostgreSQL: %s: %s", what, msg);
}

PGconn *cdc_pg_connect(const char *conninfo, int replication, nb_err *err)
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
		cdc_pg_fail(err, pg, replication ? "replication connection" : "connection");
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
	cdc_pg_fail(err, pg, what);
	PQclear(r);
	return NULL;
}

static int pg_ok(PGconn *pg, const char *sql, int n, const char *const *params, nb_err *err)
{
	PGresult *r = pg_run(pg, sql, n, params, err);
	PQclear(r);
	return r ? 0 : -1;
}

/* --------------------------------------------------------- standby status */

/* Sends a standby status update: written = flushed = applied = confirmed. */
int cdc_send_status(cdc *c, int reply, nb_err *err)
{
	char m[34];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t pg_now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - NB_PG_EPOCH_US;
	/* write = flush: a walsender whose client has not confirmed everything
	 * it sent sends a keepalive when it runs out of WAL, which lets us
	 * confirm WAL that carried no published change (see cdc_on_keepalive). */
	m[0] = 'r';
	put64(m + 1, c->confirmed_lsn);
	put64(m + 9, c->confirmed_lsn);
	put64(m + 17, c->confirmed_lsn);
	put64(m + 25, (uint64_t)pg_now);
	m[33] = (char)reply;
	if (PQputCopyData(c->repl, m, sizeof m) <= 0 || PQflush(c->repl) < 0)
		return cdc_pg_fail(err, c->repl, "sending the standby status");
	c->last_status_ms = cdc_now_ms();
	c->sent_lsn = c->confirmed_lsn;
	return 0;
}

/* While the relay waits on Kafka: the walsender ends a connection whose
 * client has been silent for wal_sender_timeout. */
int cdc_status_if_due(cdc *c, nb_err *err)
{
	if (c->repl && cdc_now_ms() - c->last_status_ms > c->o->status_interval_ms)
		return cdc_send_status(c, 0, err);
	return 0;
}

/* ------------------------------------------------------------ row changes */

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

void cdc_pks_free(cdc *c)
{
	for (int i = 0; i < c->npks; i++)
		free_strv(c->pks[i].cols, c->pks[i].n);
	free(c->pks);
	c->pks = NULL;
	c->npks = 0;
}

int nb_cdc_user_keyed_table(const char *table)
{
	return table && (!strcmp(table, "assignments") || !strcmp(table, "events") ||
			 !strncmp(table, "events_", 7));
}

/* The user_id of t, NULL when absent, NULL or not sent. */
static const char *user_of(const nb_tuple *t)
{
	const nb_col *u = nb_tuple_find(t, "user_id");
	return u && u->text && !u->toast_unchanged ? u->text : NULL;
}

/* Keys ch by user when its relation's replica identity holds user_id
 * (user_in_identity), so a delete's before-image and its tombstone carry the
 * key of the insert; else by the primary key, for every change of the table
 * alike. An image without a user_id all the same (a partition of events left
 * with REPLICA IDENTITY DEFAULT under a FULL parent) falls back to the
 * primary key, with a warning: its partition may differ from its insert's. */
static void key_by_user(nb_change *ch, int user_in_identity)
{
	ch->key_by_user = 0;
	if (!user_in_identity || !nb_cdc_user_keyed_table(ch->table))
		return;
	const nb_tuple *t = ch->has_after ? &ch->after : ch->has_before ? &ch->before : NULL;
	if (t && user_of(t)) {
		ch->key_by_user = 1;
		return;
	}
	static unsigned long warned;
	if (warned++ % 10000 == 0)
		fprintf(stderr,
			"neonblue cdc: warning: a %c of %s without user_id (its partition's replica "
			"identity is not FULL?): keyed by its primary key, so it may go to "
			"another partition than its insert (%lu such changes)\n",
			ch->op, ch->table, warned);
}

/* The replica identity of rel holds user_id (FULL marks every column). */
static int rel_user_in_identity(const nb_pgo_relation *rel)
{
	for (int i = 0; i < rel->natts; i++)
		if (rel->atts[i].name && !strcmp(rel->atts[i].name, "user_id"))
			return rel->replident == 'f' || rel->atts[i].is_key;
	return 0;
}

static int key_changed(const nb_change *ch)
{
	if (!ch->has_before || !ch->has_after)
		return 0;
	if (ch->key_by_user) { /* the user moves: the key (and partition) changes */
		const char *b = user_of(&ch->before);
		if (b && strcmp(b, user_of(&ch->after)))
			return 1;
	}
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
	cdc_fill_source(c, ch, c->cur->commit_lsn, xid, ts_ms, "false");
	c->changes++;
	int by_user = rel_user_in_identity(m->rel);
	key_by_user(ch, by_user);
	if (ch->op == 'u' && key_changed(ch)) {
		/* As Debezium does: delete (+ tombstone) of the old key, create of the new. */
		ch->op = 'd';
		ch->has_after = 0;
		key_by_user(ch, by_user);
		if (cdc_emit(c, ch, c->cur, err))
			return -1;
		ch->op = 'c';
		ch->has_after = 1;
		ch->has_before = 0;
		key_by_user(ch, by_user);
	}
	return cdc_emit(c, ch, c->cur, err);
}

static int on_truncate(cdc *c, const nb_pgo_msg *m, uint32_t xid, int64_t ts_ms, nb_err *err)
{
	for (int i = 0; i < m->nrels; i++) {
		nb_change *ch = &c->ch;
		nb_change_done(ch);
		nb_change_set(&ch->schema, m->rels[i]->nspname);
		nb_change_set(&ch->table, m->rels[i]->relname);
		ch->op = 't';
		cdc_fill_source(c, ch, c->cur->commit_lsn, xid, ts_ms, "false");
		char topic[512];
		snprintf(topic, sizeof topic, "%s.%s.%s", c->prefix, ch->schema, ch->table);
		char *val = nb_debezium_value(ch, c->o->with_schema, err);
		if (!val || cdc_produce(c, topic, NULL, val, c->cur, err))
			return -1;
	}
	return 0;
}

/* -------------------------------------------------------------- streaming */

int cdc_on_xlogdata(cdc *c, const char *buf, int len, txinfo *ti, nb_err *err)
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
		c->cur = cdc_tx_open(c, m->lsn);
		ti->xid = m->xid;
		ti->ts_ms = m->ts_us / 1000;
		c->cur->ts_ms = ti->ts_ms;
		return 0;
	case NB_PGO_COMMIT:
		if (!c->cur)
			return nb_err_set(err, NB_ESERVER, "pgoutput Commit without Begin");
		c->cur->end_lsn = m->end_lsn;
		c->cur->closed = 1;
		c->cur = NULL;
		if (m->end_lsn > c->received_lsn)
			c->received_lsn = m->end_lsn;
		cdc_advance(c);
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

int cdc_on_keepalive(cdc *c, const char *buf, int len, nb_err *err)
{
	if (len < 18)
		return nb_err_set(err, NB_ESERVER, "PostgreSQL sent a short keepalive");
	uint64_t end = get64(buf + 1);
	if (end > c->received_lsn)
		c->received_lsn = end;
	cdc_advance(c);
	/* Everything sent so far is handled and safe: the WAL up to here (changes
	 * of unpublished tables) need not be retained. */
	if (cdc_all_safe(c) && end > c->kafka_lsn) {
		c->kafka_lsn = end;
		cdc_advance(c);
	}
	return buf[17] ? cdc_send_status(c, 0, err) : 0;
}

/* --------------------------------------------------------------- snapshot */

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

/* The primary key columns of schema.table, and whether its replica identity
 * holds user_id (FULL, or user_id in the identity's index) as the stream's
 * Relation message says (rel_user_in_identity). */
static int table_keys(cdc *c, const char *schema, const char *table, char ***keys, int *n,
		      int *user_in_identity, nb_err *err)
{
	char *s = PQescapeIdentifier(c->sql, schema, strlen(schema));
	char *t = PQescapeIdentifier(c->sql, table, strlen(table));
	nb_buf name;
	nb_buf_init(&name);
	nb_buf_printf(&name, "%s.%s", s, t);
	PQfreemem(s);
	PQfreemem(t);
	int rc = pk_query(c->sql, "t.oid = $1::regclass", name.data, keys, n, err);
	const char *params[] = {name.data};
	PGresult *r =
	    rc ? NULL
	       : pg_run(c->sql,
			"SELECT count(*) FROM pg_class t JOIN pg_attribute a ON a.attrelid = t.oid "
			"WHERE t.oid = $1::regclass AND a.attname = 'user_id' AND NOT a.attisdropped "
			"AND (t.relreplident = 'f' OR EXISTS (SELECT 1 FROM pg_index i WHERE "
			"i.indrelid = t.oid AND a.attnum = ANY(i.indkey) AND ((t.relreplident = 'd' "
			"AND i.indisprimary) OR (t.relreplident = 'i' AND i.indisreplident))))",
			1, params, err);
	nb_buf_done(&name);
	if (!rc && !r) {
		free_strv(*keys, *n);
		return -1;
	}
	if (r) {
		*user_in_identity = atoi(PQgetvalue(r, 0, 0)) > 0;
		PQclear(r);
	}
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

static int snapshot_rows(cdc *c, PGresult *r, char **keys, int nkeys, int user_in_identity,
			 const char *schema, const char *table, cdc_tx *tx, nb_err *err)
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
		key_by_user(ch, user_in_identity);
		cdc_fill_source(c, ch, tx->commit_lsn, -1, cdc_now_ms(), "true");
		c->changes++;
		if (cdc_emit(c, ch, tx, err))
			return -1;
		if (row % 256 == 0)
			rd_kafka_poll(c->rk, 0);
		while (cdc_window_full(c) && !*c->stop && !c->kafka_failed) {
			rd_kafka_poll(c->rk, 20);
			cdc_read_progress(c);
			cdc_write_status_file(c);
		}
		if (c->kafka_failed)
			return nb_err_set(err, NB_ESERVER, "%s", c->kafka_why);
		if (row % 1024 == 0) {
			rd_kafka_poll(c->rk, 0);
			if (c->kafka_failed)
				return nb_err_set(err, NB_ESERVER, "%s", c->kafka_why);
			cdc_write_status_file(c);
		}
	}
	return 0;
}

static int snapshot_table(cdc *c, const char *schema, const char *table, cdc_tx *tx, nb_err *err)
{
	char **keys;
	int nkeys, by_user = 0;
	if (table_keys(c, schema, table, &keys, &nkeys, &by_user, err))
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
		rc = snapshot_rows(c, r, keys, nkeys, by_user, schema, table, tx, err);
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
	cdc_set_state(c, "snapshot of the existing rows at %s", cdc_lsn_str(lsn, l));
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
	cdc_tx *tx = rc ? NULL : cdc_tx_open(c, lsn);
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

/* --------------------------------------------------- publication and slot */

int cdc_ensure_publication(cdc *c, nb_err *err)
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
int cdc_slot_usable(cdc *c, nb_err *err)
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
int cdc_mark_snapshot_done(cdc *c, nb_err *err)
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
int cdc_create_slot(cdc *c, nb_err *err)
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
	cdc_log(c, "created slot %s at %s", c->slot, cdc_lsn_str(lsn, l));
	c->snapshot_pending = 1;
	c->snapshot_lsn = lsn;
	int rc = snapshot(c, snapname, lsn, err);
	free(snapname);
	return rc;
}

int cdc_start_replication(cdc *c, nb_err *err)
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
	cdc_log(c, "streaming slot %s from %s to %s.*", c->slot, cdc_lsn_str(lsn, l), c->prefix);
	return 0;
}

/* ------------------------------------------------------------- lag, admin */

int nb_cdc_lag_bytes(const char *pg, const char *slot, int64_t *bytes, nb_err *err)
{
	*bytes = -1;
	PGconn *c = PQconnectdb(pg ? pg : "");
	if (!c || PQstatus(c) != CONNECTION_OK) {
		cdc_pg_fail(err, c, "connection");
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
		cdc_pg_fail(err, c, "connection");
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
