/* sink/map.c — the sink's mapping: a Debezium envelope → TabSeparated rows of
 * the ClickHouse table, column by column as ClickHouse's own schema says. The
 * general path (nb_debezium_parse, then row by row) and the dispatch between
 * it and the zero-copy path of fast.c; values come from values.c. */
#include "map.h"
#include "neonblue/ch.h"

#include <inttypes.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const nb_col *map_find(const nb_tuple *img, const nb_tuple *fallback, const char *name)
{
	const nb_col *v = nb_tuple_find(img, name);
	if ((!v || sink_map_is_unavailable(v)) && fallback) {
		const nb_col *f = nb_tuple_find(fallback, name);
		if (f && !sink_map_is_unavailable(f) && f->json && !cJSON_IsNull(f->json))
			return f;
	}
	return v;
}

static int64_t map_micros_of(const nb_col *v)
{
	int64_t us;
	nb_err e;
	if (!v || nb_debezium_col_epoch_us(v, &us, &e) != 0)
		return 0;
	int64_t r = us % 1000000;
	return r < 0 ? r + 1000000 : r;
}

/* One TabSeparated row of table t from the image img. */
static int map_row(const nb_sink_table *t, const nb_tuple *img, const nb_tuple *fallback,
		   int deleted, uint64_t lsn, nb_buf *out, nb_err *err)
{
	for (int i = 0; i < t->ncols; i++) {
		const nb_sink_col *col = &t->cols[i];
		if (i)
			nb_buf_putc(out, '\t');
		if (col->type == NB_SINK_VERSION) {
			sink_map_u64(out, lsn, 0);
			continue;
		}
		if (col->type == NB_SINK_DELETED) {
			nb_buf_putc(out, deleted ? '1' : '0');
			continue;
		}
		if (col->type == NB_SINK_MICROS) {
			const nb_sink_col *src = &t->cols[col->src];
			sink_map_u64(out, (uint64_t)map_micros_of(map_find(img, fallback, src->name)),
				0);
			continue;
		}
		const nb_col *v = map_find(img, fallback, col->name);
		nb_err e;
		int rc = v ? sink_map_value(out, col, v, &e) : 1;
		if (rc < 0)
			return nb_err_set(err, NB_EINPUT, "table %s, column %s: %s", t->name,
					  col->name, e.msg);
		if (rc == 0)
			continue;
		if (col->is_key)
			return nb_err_set(err, NB_EINPUT,
					  "table %s: key column %s is missing or null in the %s image",
					  t->name, col->name, deleted ? "before" : "after");
		if (col->nullable)
			nb_buf_puts(out, "\\N");
		else
			sink_map_default(out, col);
	}
	nb_buf_putc(out, '\n');
	return 0;
}

/* 1 when the key columns of before are all present and one differs from after. */
static int map_key_changed(const nb_sink_table *t, const nb_tuple *before, const nb_tuple *after)
{
	int differs = 0;
	for (int i = 0; i < t->ncols; i++) {
		if (!t->cols[i].is_key || t->cols[i].type == NB_SINK_MICROS)
			continue;
		const nb_col *b = nb_tuple_find(before, t->cols[i].name);
		const nb_col *a = nb_tuple_find(after, t->cols[i].name);
		if (!b || !b->json || cJSON_IsNull(b->json) || sink_map_is_unavailable(b))
			return 0;
		if (!a || !a->json || !cJSON_Compare(a->json, b->json, 1))
			differs = 1;
	}
	return differs;
}

static int map_change(const nb_sink_table *t, const nb_change *c, nb_buf *out, nb_sink_out *res,
		      nb_err *err)
{
	res->op = c->op;
	res->lsn = c->source.lsn;
	switch (c->op) {
	case 't':
		res->kind = NB_SINK_SKIPPED;
		return 0;
	case 'd':
		if (!c->has_before)
			return nb_err_set(err, NB_EINPUT, "a delete of %s without a before image",
					  t->name);
		if (map_row(t, &c->before, NULL, 1, c->source.lsn, out, err) < 0)
			return -1;
		res->nrows = 1;
		return 0;
	case 'r':
	case 'c':
	case 'u':
		if (!c->has_after)
			return nb_err_set(err, NB_EINPUT, "op '%c' on %s without an after image",
					  c->op, t->name);
		if (c->op == 'u' && c->has_before && map_key_changed(t, &c->before, &c->after)) {
			if (map_row(t, &c->before, NULL, 1, c->source.lsn, out, err) < 0)
				return -1;
			res->nrows++;
		}
		if (map_row(t, &c->after, c->has_before ? &c->before : NULL, 0, c->source.lsn,
			    out, err) < 0)
			return -1;
		res->nrows++;
		return 0;
	default:
		return nb_err_set(err, NB_EINPUT, "unknown op '%c' in a message of %s", c->op,
				  t->name);
	}
}

static int map_message(const nb_sink_schema *s, int table, const char *value, size_t len,
		       nb_buf *out, nb_sink_out *res, nb_err *err, int canonical_only)
{
	memset(res, 0, sizeof *res);
	res->table = table;
	if (table < 0 || table >= s->ntables)
		return nb_err_set(err, NB_EINPUT, "no ClickHouse table for this topic");
	if (!value || len == 0) {
		res->kind = NB_SINK_TOMBSTONE;
		return 0;
	}
	size_t mark = out->len;
	if (!canonical_only && sink_map_fast(&s->tables[table], value, len, out, res) == 0)
		return 0;
	nb_change c;
	nb_change_init(&c);
	int rc = nb_debezium_parse(value, len, &c, err);
	if (rc == 0 && c.tombstone)
		res->kind = NB_SINK_TOMBSTONE;
	else if (rc == 0)
		rc = map_change(&s->tables[table], &c, out, res, err);
	nb_change_done(&c);
	if (rc < 0) {
		out->len = mark;
		if (out->data)
			out->data[mark] = '\0';
		res->nrows = 0;
	}
	return rc;
}

int nb_sink_map(const nb_sink_schema *s, int table, const char *value, size_t len, nb_buf *out,
		nb_sink_out *res, nb_err *err)
{
	return map_message(s, table, value, len, out, res, err, 0);
}

int nb_sink_map_canonical(const nb_sink_schema *s, int table, const char *value, size_t len,
			  nb_buf *out, nb_sink_out *res, nb_err *err)
{
	return map_message(s, table, value, len, out, res, err, 1);
}
