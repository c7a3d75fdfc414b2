/* sink/map.c — the sink's mapping: a Debezium envelope → TabSeparated rows of
 * the ClickHouse table, column by column as ClickHouse's own schema says. The
 * general path (nb_debezium_parse, then row by row) and the dispatch between
 * it and the zero-copy path of fast.c; values come from values.c. */
#include "map.h"
#include "neonblue/ch.h"
#include "neonblue/cdc.h"

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
		if (rc < 0) /* e names the column and the value */
			return nb_err_set(err, NB_EINPUT, "table %s: %s", t->name, e.msg);
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

/* The rows a truncate of source table `name` covers: the whole table, or for
 * a monthly partition (events_y2026m01) that month of the table's first
 * DateTime sort-key column (PostgreSQL partitions by month in UTC). */
static int map_truncate(const nb_sink_table *t, const char *name, nb_sink_out *res, nb_err *err)
{
	int y, m;
	res->kind = NB_SINK_TRUNCATE;
	res->trunc_col = -1;
	size_t base = name ? nb_sink_partition_month(name, &y, &m) : 0;
	if (!base || base != strlen(t->name) || strncmp(name, t->name, base))
		return 0;
	for (int i = 0; i < t->ncols; i++)
		if (t->cols[i].type == NB_SINK_DATETIME && t->cols[i].is_key) {
			res->trunc_col = i;
			break;
		}
	if (res->trunc_col < 0)
		return nb_err_set(err, NB_EINPUT,
				  "a truncate of partition %s: table %s has no DateTime sort-key "
				  "column to tell that month's rows by",
				  name, t->name);
	res->trunc_from = nb_days_from_civil(y, (unsigned)m, 1) * 86400;
	res->trunc_to = nb_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1u : (unsigned)m + 1, 1) *
			86400;
	return 0;
}

char *nb_sink_truncate_sql(const nb_sink_table *t, const nb_sink_out *res)
{
	nb_buf q, sel;
	nb_buf_init(&q);
	nb_buf_init(&sel);
	nb_buf_puts(&q, "INSERT INTO neonblue.");
	nb_ch_escape(&q, t->name, strlen(t->name), NB_CH_IDENT);
	nb_buf_puts(&q, " (");
	for (int i = 0; i < t->ncols; i++) {
		const nb_sink_col *c = &t->cols[i];
		if (i) {
			nb_buf_putc(&q, ',');
			nb_buf_putc(&sel, ',');
		}
		nb_ch_escape(&q, c->name, strlen(c->name), NB_CH_IDENT);
		if (c->type == NB_SINK_VERSION)
			nb_buf_printf(&sel, "toUInt64(%" PRIu64 ")", res->lsn);
		else if (c->type == NB_SINK_DELETED)
			nb_buf_puts(&sel, "toUInt8(1)");
		else
			nb_ch_escape(&sel, c->name, strlen(c->name), NB_CH_IDENT);
	}
	nb_buf_puts(&q, ") SELECT ");
	nb_buf_append(&q, sel.data, sel.len);
	nb_buf_puts(&q, " FROM neonblue.");
	nb_ch_escape(&q, t->name, strlen(t->name), NB_CH_IDENT);
	nb_buf_printf(&q, " FINAL WHERE `_deleted` = 0 AND `_version` < %" PRIu64, res->lsn);
	if (res->trunc_col >= 0 && res->trunc_col < t->ncols) {
		const char *c = t->cols[res->trunc_col].name;
		nb_buf_puts(&q, " AND toUInt32(");
		nb_ch_escape(&q, c, strlen(c), NB_CH_IDENT);
		nb_buf_printf(&q, ") >= %" PRId64 " AND toUInt32(", res->trunc_from);
		nb_ch_escape(&q, c, strlen(c), NB_CH_IDENT);
		nb_buf_printf(&q, ") < %" PRId64, res->trunc_to);
	}
	nb_buf_done(&sel);
	return nb_buf_steal(&q);
}

static int map_change(const nb_sink_table *t, const nb_change *c, nb_buf *out, nb_sink_out *res,
		      nb_err *err)
{
	res->op = c->op;
	res->lsn = c->source.lsn;
	switch (c->op) {
	case 't':
		return map_truncate(t, c->table, res, err);
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
