/* cdc/pgoutput.c — decoder of pgoutput proto_version 1 messages with a relation cache. */
#include "neonblue/cdc.h"

#include <stdlib.h>
#include <string.h>

typedef struct rd {
	const uint8_t *p, *end;
	int bad;
} rd;

static int need(rd *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return 0;
	}
	return 1;
}

static uint8_t u8(rd *r)
{
	return need(r, 1) ? *r->p++ : 0;
}

static uint16_t u16(rd *r)
{
	if (!need(r, 2))
		return 0;
	uint16_t v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	return v;
}

static uint32_t u32(rd *r)
{
	if (!need(r, 4))
		return 0;
	uint32_t v =
	    (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	return v;
}

static uint64_t u64(rd *r)
{
	uint64_t hi = u32(r);
	return hi << 32 | u32(r);
}

/* A NUL-terminated string inside the message. */
static const char *cstr(rd *r)
{
	if (r->bad)
		return "";
	const uint8_t *z = memchr(r->p, 0, (size_t)(r->end - r->p));
	if (!z) {
		r->bad = 1;
		return "";
	}
	const char *s = (const char *)r->p;
	r->p = z + 1;
	return s;
}

void nb_pgoutput_init(nb_pgoutput *d)
{
	memset(d, 0, sizeof *d);
}

static void rel_free(nb_pgo_relation *rel)
{
	for (int i = 0; i < rel->natts; i++)
		free(rel->atts[i].name);
	free(rel->atts);
	free(rel->nspname);
	free(rel->relname);
}

void nb_pgoutput_done(nb_pgoutput *d)
{
	for (int i = 0; i < d->nrels; i++)
		rel_free(&d->rels[i]);
	free(d->rels);
	for (int i = 0; i < d->ntypes; i++) {
		free(d->types[i].nspname);
		free(d->types[i].name);
	}
	free(d->types);
	free(d->msg.old_tuple.vals);
	free(d->msg.new_tuple.vals);
	free(d->msg.rels);
	nb_pgoutput_init(d);
}

const nb_pgo_relation *nb_pgoutput_relation(const nb_pgoutput *d, uint32_t oid)
{
	for (int i = 0; i < d->nrels; i++)
		if (d->rels[i].oid == oid)
			return &d->rels[i];
	return NULL;
}

static const nb_pgo_msg *fail(nb_err *err, const char *what, char kind)
{
	nb_err_set(err, NB_EINPUT, "pgoutput %s message '%c' is truncated or malformed", what,
		   kind >= 32 && kind < 127 ? kind : '?');
	return NULL;
}

static int read_relation(nb_pgoutput *d, rd *r, nb_pgo_msg *m)
{
	nb_pgo_relation rel = {0};
	rel.oid = u32(r);
	rel.nspname = nb_xstrdup(cstr(r));
	rel.relname = nb_xstrdup(cstr(r));
	rel.replident = (char)u8(r);
	int natts = u16(r);
	if (!r->bad && natts > 0)
		rel.atts = nb_xcalloc((size_t)natts, sizeof *rel.atts);
	for (int i = 0; i < natts && !r->bad; i++) {
		nb_pgo_att *a = &rel.atts[i];
		a->is_key = u8(r) & 1;
		a->name = nb_xstrdup(cstr(r));
		a->type_oid = u32(r);
		a->typmod = (int32_t)u32(r);
		rel.natts = i + 1;
	}
	if (r->bad) {
		rel_free(&rel);
		return -1;
	}
	/* A relation is re-sent after DDL: replace the cached copy. */
	for (int i = 0; i < d->nrels; i++) {
		if (d->rels[i].oid == rel.oid) {
			rel_free(&d->rels[i]);
			d->rels[i] = rel;
			m->rel = &d->rels[i];
			return 0;
		}
	}
	if (d->nrels == d->cap_rels) {
		d->cap_rels = d->cap_rels ? 2 * d->cap_rels : 16;
		d->rels = nb_xrealloc(d->rels, (size_t)d->cap_rels * sizeof *d->rels);
	}
	d->rels[d->nrels] = rel;
	m->rel = &d->rels[d->nrels++];
	return 0;
}

static int read_type(nb_pgoutput *d, rd *r, nb_pgo_msg *m)
{
	uint32_t oid = u32(r);
	const char *nsp = cstr(r), *name = cstr(r);
	if (r->bad)
		return -1;
	int i;
	for (i = 0; i < d->ntypes && d->types[i].oid != oid; i++)
		;
	if (i == d->ntypes) {
		if (d->ntypes == d->cap_types) {
			d->cap_types = d->cap_types ? 2 * d->cap_types : 8;
			d->types = nb_xrealloc(d->types, (size_t)d->cap_types * sizeof *d->types);
		}
		d->ntypes++;
	} else {
		free(d->types[i].nspname);
		free(d->types[i].name);
	}
	d->types[i].oid = oid;
	d->types[i].nspname = nb_xstrdup(nsp);
	d->types[i].name = nb_xstrdup(name);
	m->oid = oid;
	m->nspname = d->types[i].nspname;
	m->name = d->types[i].name;
	return 0;
}

static int read_tuple(rd *r, nb_pgo_tuple *t)
{
	int n = u16(r);
	if (r->bad)
		return -1;
	if (n > t->cap) {
		t->cap = n;
		t->vals = nb_xrealloc(t->vals, (size_t)n * sizeof *t->vals);
	}
	t->n = n;
	for (int i = 0; i < n; i++) {
		nb_pgo_value *v = &t->vals[i];
		v->kind = (char)u8(r);
		v->data = NULL;
		v->len = 0;
		if (v->kind == 't') {
			v->len = u32(r);
			if (!need(r, v->len))
				return -1;
			v->data = (const char *)r->p;
			r->p += v->len;
		} else if (v->kind != 'n' && v->kind != 'u') {
			r->bad = 1; /* 'b' (binary) only exists in proto_version >= 2 */
		}
		if (r->bad)
			return -1;
	}
	return 0;
}

/* Insert/Update/Delete: the relation must be known and the tuples match it. */
static const nb_pgo_msg *read_row(nb_pgoutput *d, rd *r, nb_pgo_msg *m, nb_err *err)
{
	uint32_t oid = u32(r);
	if (r->bad)
		return fail(err, "row", m->kind);
	m->rel = nb_pgoutput_relation(d, oid);
	if (!m->rel)
		return nb_err_set(err, NB_EINPUT,
				  "pgoutput '%c' message for relation %u that no Relation message "
				  "described",
				  m->kind, oid),
		       NULL;
	char c = (char)u8(r);
	if (m->kind != NB_PGO_INSERT && (c == 'K' || c == 'O')) {
		m->old_kind = c;
		if (read_tuple(r, &m->old_tuple))
			return fail(err, "row", m->kind);
		if (m->kind == NB_PGO_UPDATE)
			c = (char)u8(r);
	}
	if (m->kind != NB_PGO_DELETE) {
		if (c != 'N' || read_tuple(r, &m->new_tuple))
			return fail(err, "row", m->kind);
	} else if (!m->old_kind) {
		return fail(err, "row", m->kind);
	}
	/* every tuple sent has one value per column, even a key-only one ('K') */
	nb_pgo_tuple *ts[2] = {m->old_kind ? &m->old_tuple : NULL,
			       m->kind != NB_PGO_DELETE ? &m->new_tuple : NULL};
	for (int i = 0; i < 2; i++)
		if (ts[i] && ts[i]->n != m->rel->natts)
			return nb_err_set(
				   err, NB_EINPUT,
				   "pgoutput '%c' message for %s.%s has %d columns, the relation "
				   "has %d",
				   m->kind, m->rel->nspname, m->rel->relname, ts[i]->n,
				   m->rel->natts),
			       NULL;
	return r->p == r->end ? m : fail(err, "row", m->kind);
}

static const nb_pgo_msg *read_truncate(nb_pgoutput *d, rd *r, nb_pgo_msg *m, nb_err *err)
{
	uint32_t n = u32(r);
	m->flags = u8(r);
	if (r->bad || !need(r, (size_t)n * 4))
		return fail(err, "Truncate", m->kind);
	if ((int)n > d->cap_trunc) {
		d->cap_trunc = (int)n;
		m->rels = nb_xrealloc(m->rels, n * sizeof *m->rels);
	}
	m->nrels = (int)n;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t oid = u32(r);
		m->rels[i] = nb_pgoutput_relation(d, oid);
		if (!m->rels[i])
			return nb_err_set(
				   err, NB_EINPUT,
				   "pgoutput Truncate of relation %u that no Relation message "
				   "described",
				   oid),
			       NULL;
	}
	return m;
}

static void reset_msg(nb_pgo_msg *m)
{
	nb_pgo_tuple o = m->old_tuple, n = m->new_tuple;
	const nb_pgo_relation **rels = m->rels;
	memset(m, 0, sizeof *m);
	o.n = n.n = 0;
	m->old_tuple = o;
	m->new_tuple = n;
	m->rels = rels;
}

/* PostgreSQL's µs since 2000 → µs since 1970; a value past the range wraps
 * (an absurd time, never undefined arithmetic on a hostile message). */
static int64_t pgo_ts(uint64_t pg_us)
{
	return (int64_t)(pg_us + (uint64_t)NB_PG_EPOCH_US);
}

const nb_pgo_msg *nb_pgoutput_decode(nb_pgoutput *d, const uint8_t *buf, size_t len, nb_err *err)
{
	nb_pgo_msg *m = &d->msg;
	reset_msg(m);
	if (!len)
		return nb_err_set(err, NB_EINPUT, "empty pgoutput message"), NULL;
	rd r = {buf + 1, buf + len, 0};
	m->kind = (char)buf[0];
	switch (m->kind) {
	case NB_PGO_BEGIN:
		m->lsn = u64(&r);
		m->ts_us = pgo_ts(u64(&r));
		m->xid = u32(&r);
		return r.bad ? fail(err, "Begin", m->kind) : m;
	case NB_PGO_COMMIT:
		m->flags = u8(&r);
		m->lsn = u64(&r);
		m->end_lsn = u64(&r);
		m->ts_us = pgo_ts(u64(&r));
		return r.bad ? fail(err, "Commit", m->kind) : m;
	case NB_PGO_ORIGIN:
		m->lsn = u64(&r);
		m->name = cstr(&r);
		return r.bad ? fail(err, "Origin", m->kind) : m;
	case NB_PGO_RELATION:
		return read_relation(d, &r, m) ? fail(err, "Relation", m->kind) : m;
	case NB_PGO_TYPE:
		return read_type(d, &r, m) ? fail(err, "Type", m->kind) : m;
	case NB_PGO_INSERT:
	case NB_PGO_UPDATE:
	case NB_PGO_DELETE:
		return read_row(d, &r, m, err);
	case NB_PGO_TRUNCATE:
		return read_truncate(d, &r, m, err);
	case NB_PGO_MESSAGE:
		m->flags = u8(&r);
		m->lsn = u64(&r);
		m->name = cstr(&r);
		m->content_len = u32(&r);
		if (!need(&r, m->content_len))
			return fail(err, "Message", m->kind);
		m->content = (const char *)r.p;
		return m;
	default:
		return nb_err_set(err, NB_EINPUT, "unknown pgoutput message type 0x%02x",
				  (unsigned)buf[0]),
		       NULL;
	}
}

static void add_tuple(const nb_pgo_relation *rel, const nb_pgo_tuple *t, nb_tuple *out)
{
	for (int i = 0; i < t->n; i++) {
		const nb_pgo_value *v = &t->vals[i];
		const nb_pgo_att *a = &rel->atts[i];
		nb_col *c = nb_tuple_add(out, a->name, a->type_oid, NULL);
		c->is_key = a->is_key;
		if (v->kind == 'u') {
			c->toast_unchanged = 1;
		} else if (v->kind == 't') {
			c->text = nb_xmalloc(v->len + 1);
			memcpy(c->text, v->data, v->len);
			c->text[v->len] = '\0';
		}
	}
}

int nb_pgoutput_change(const nb_pgo_msg *m, nb_change *out, nb_err *err)
{
	nb_change_done(out);
	if (m->kind != NB_PGO_INSERT && m->kind != NB_PGO_UPDATE && m->kind != NB_PGO_DELETE)
		return nb_err_set(err, NB_EINPUT, "pgoutput message '%c' is not a row change",
				  m->kind);
	const nb_pgo_relation *rel = m->rel;
	nb_change_set(&out->schema, rel->nspname);
	nb_change_set(&out->table, rel->relname);
	out->op = m->kind == NB_PGO_INSERT ? 'c' : m->kind == NB_PGO_UPDATE ? 'u' : 'd';
	if (m->old_kind) {
		out->has_before = 1;
		add_tuple(rel, &m->old_tuple, &out->before);
	}
	if (m->kind != NB_PGO_DELETE) {
		out->has_after = 1;
		add_tuple(rel, &m->new_tuple, &out->after);
		/* An unchanged TOASTed value is known if the old tuple carried it
		 * (REPLICA IDENTITY FULL). */
		for (int i = 0; out->has_before && i < out->after.n; i++) {
			nb_col *c = &out->after.cols[i];
			const nb_col *o = &out->before.cols[i];
			if (c->toast_unchanged && !o->toast_unchanged && o->text) {
				c->toast_unchanged = 0;
				c->text = nb_xstrdup(o->text);
			}
		}
	}
	return 0;
}
