/* sink_map.c — the sink's mapping: a Debezium envelope → TabSeparated rows of
 * the ClickHouse table, column by column as ClickHouse's own schema says. */
#include "neonblue/ch.h"
#include "neonblue/debezium.h"
#include "neonblue/sink.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char NB_SINK_SCHEMA_SQL[] =
	"SELECT table, name, type, is_in_sorting_key FROM system.columns "
	"WHERE database = 'neonblue' FORMAT TabSeparated";

/* ---- schema ---- */

static int map_scalar_type(const char *t)
{
	if (!strncmp(t, "UInt", 4))
		return NB_SINK_UINT;
	if (!strncmp(t, "Int", 3))
		return NB_SINK_INT;
	if (!strncmp(t, "Float", 5))
		return NB_SINK_FLOAT;
	if (!strcmp(t, "DateTime") || !strncmp(t, "DateTime(", 9))
		return NB_SINK_DATETIME;
	if (!strcmp(t, "Date"))
		return NB_SINK_DATE;
	return NB_SINK_STRING;
}

/* Strips Nullable(…) / LowCardinality(…); returns the inner type in buf. */
static const char *map_unwrap(const char *t, const char *wrapper, char *buf, size_t n, int *hit)
{
	size_t w = strlen(wrapper);
	size_t len = strlen(t);
	if (strncmp(t, wrapper, w) || t[w] != '(' || t[len - 1] != ')')
		return t;
	snprintf(buf, n, "%.*s", (int)(len - w - 2), t + w + 1);
	*hit = 1;
	return buf;
}

static int map_is_internal(const char *table)
{
	return !strncmp(table, "cdc_", 4) || !strcmp(table, "schema_migrations") ||
	       table[0] == '.';
}

static nb_sink_table *map_table_get(nb_sink_schema *s, const char *name)
{
	for (int i = 0; i < s->ntables; i++)
		if (!strcmp(s->tables[i].name, name))
			return &s->tables[i];
	s->tables = nb_xrealloc(s->tables, (size_t)(s->ntables + 1) * sizeof *s->tables);
	nb_sink_table *t = &s->tables[s->ntables++];
	memset(t, 0, sizeof *t);
	t->name = nb_xstrdup(name);
	return t;
}

static void map_col_add(nb_sink_table *t, const char *name, const char *type, int key)
{
	t->cols = nb_xrealloc(t->cols, (size_t)(t->ncols + 1) * sizeof *t->cols);
	nb_sink_col *c = &t->cols[t->ncols++];
	memset(c, 0, sizeof *c);
	c->name = nb_xstrdup(name);
	c->ch_type = nb_xstrdup(type);
	c->is_key = key;
	c->src = -1;
	char b1[256], b2[256];
	int dummy = 0;
	const char *in = map_unwrap(type, "LowCardinality", b1, sizeof b1, &dummy);
	in = map_unwrap(in, "Nullable", b2, sizeof b2, &c->nullable);
	if (!strcmp(name, "_version"))
		c->type = NB_SINK_VERSION;
	else if (!strcmp(name, "_deleted"))
		c->type = NB_SINK_DELETED;
	else if (!strncmp(in, "Array(", 6)) {
		char b3[256];
		int hit = 0;
		c->type = NB_SINK_ARRAY;
		c->elem_type = map_scalar_type(map_unwrap(in, "Array", b3, sizeof b3, &hit));
	} else
		c->type = map_scalar_type(in);
}

/* Pairs every "<x>_us" column with a DateTime column "<x>"; builds the INSERT. */
static void map_table_finish(nb_sink_table *t)
{
	for (int i = 0; i < t->ncols; i++) {
		nb_sink_col *c = &t->cols[i];
		size_t n = strlen(c->name);
		if (n < 4 || strcmp(c->name + n - 3, "_us") || c->nullable)
			continue;
		for (int j = 0; j < t->ncols; j++)
			if (t->cols[j].type == NB_SINK_DATETIME &&
			    strlen(t->cols[j].name) == n - 3 &&
			    !strncmp(t->cols[j].name, c->name, n - 3)) {
				c->type = NB_SINK_MICROS;
				c->src = j;
			}
	}
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_puts(&q, "INSERT INTO neonblue.");
	nb_ch_escape(&q, t->name, strlen(t->name), NB_CH_IDENT);
	nb_buf_puts(&q, " (");
	for (int i = 0; i < t->ncols; i++) {
		if (i)
			nb_buf_putc(&q, ',');
		nb_ch_escape(&q, t->cols[i].name, strlen(t->cols[i].name), NB_CH_IDENT);
	}
	nb_buf_puts(&q, ") FORMAT TabSeparated");
	free(t->insert_sql);
	t->insert_sql = nb_buf_steal(&q);
}

int nb_sink_schema_parse(const char *tsv, size_t len, nb_sink_schema *s, nb_err *err)
{
	memset(s, 0, sizeof *s);
	nb_ch_rows r;
	if (nb_ch_tsv_parse(tsv, len, &r, err) < 0)
		return -1;
	if (r.nrows && r.ncols != 4) {
		nb_ch_rows_done(&r);
		return nb_err_set(err, NB_ESERVER,
				  "ClickHouse's column list has %zu fields per row, expected 4",
				  r.ncols);
	}
	for (size_t i = 0; i < r.nrows; i++) {
		const char *table = nb_ch_cell(&r, i, 0);
		if (map_is_internal(table))
			continue;
		map_col_add(map_table_get(s, table), nb_ch_cell(&r, i, 1), nb_ch_cell(&r, i, 2),
			    atoi(nb_ch_cell(&r, i, 3)) != 0);
	}
	nb_ch_rows_done(&r);
	for (int i = 0; i < s->ntables; i++)
		map_table_finish(&s->tables[i]);
	return 0;
}

void nb_sink_schema_done(nb_sink_schema *s)
{
	for (int i = 0; i < s->ntables; i++) {
		nb_sink_table *t = &s->tables[i];
		for (int j = 0; j < t->ncols; j++) {
			free(t->cols[j].name);
			free(t->cols[j].ch_type);
		}
		free(t->cols);
		free(t->name);
		free(t->insert_sql);
	}
	free(s->tables);
	memset(s, 0, sizeof *s);
}

/* "events_y2026m11" → length of "events", else the full length. */
static size_t map_partition_base(const char *name, size_t n)
{
	if (n > 9 && !strncmp(name + n - 9, "_y", 2) && name[n - 3] == 'm') {
		const char *d = name + n - 7;
		for (int i = 0; i < 7; i++)
			if (i != 4 && (d[i] < '0' || d[i] > '9'))
				return n;
		return n - 9;
	}
	return n;
}

int nb_sink_schema_table_for_topic(const nb_sink_schema *s, const char *topic)
{
	const char *dot = strrchr(topic, '.');
	const char *name = dot ? dot + 1 : topic;
	size_t n = strlen(name);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < s->ntables; i++)
			if (strlen(s->tables[i].name) == n && !strncmp(s->tables[i].name, name, n))
				return i;
		n = map_partition_base(name, n);
	}
	return -1;
}

/* ---- values ---- */

static void map_civil(int64_t days, char out[48])
{
	/* H. Hinnant's civil_from_days */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	snprintf(out, 48, "%04d-%02d-%02d", (int)y, (int)m, (int)d);
}

static int map_is_unavailable(const nb_col *c)
{
	return c && c->json && cJSON_IsString(c->json) &&
	       !strcmp(c->json->valuestring, NB_DEBEZIUM_UNAVAILABLE);
}

static void map_float(nb_buf *b, double v)
{
	if (isnan(v))
		nb_buf_puts(b, "nan");
	else if (isinf(v))
		nb_buf_puts(b, v > 0 ? "inf" : "-inf");
	else
		nb_buf_printf(b, "%.17g", v);
}

static int map_int(const nb_col *v, int64_t *out, nb_err *err)
{
	int rc = nb_debezium_col_int(v, out, err);
	if (rc < 0) {
		int b;
		nb_err e2;
		if (nb_debezium_col_bool(v, &b, &e2) == 0) {
			*out = b;
			return 0;
		}
	}
	return rc;
}

/* One array element as a ClickHouse literal. */
static int map_array_elem(nb_buf *b, int type, const cJSON *e)
{
	if (cJSON_IsString(e)) {
		if (type == NB_SINK_STRING) {
			nb_ch_escape(b, e->valuestring, strlen(e->valuestring), NB_CH_STRING);
			return 0;
		}
		char *end;
		double d = strtod(e->valuestring, &end);
		if (end == e->valuestring || *end)
			return -1;
		map_float(b, d);
		return 0;
	}
	if (cJSON_IsNumber(e)) {
		if (type == NB_SINK_STRING)
			nb_buf_putc(b, '\'');
		if (e->valuedouble == floor(e->valuedouble) && fabs(e->valuedouble) < 9.2e18)
			nb_buf_printf(b, "%lld", (long long)e->valuedouble);
		else
			map_float(b, e->valuedouble);
		if (type == NB_SINK_STRING)
			nb_buf_putc(b, '\'');
		return 0;
	}
	if (cJSON_IsBool(e)) {
		nb_buf_puts(b, type == NB_SINK_STRING ? (cJSON_IsTrue(e) ? "'true'" : "'false'")
						      : (cJSON_IsTrue(e) ? "1" : "0"));
		return 0;
	}
	return -1;
}

static int map_array(nb_buf *b, const nb_sink_col *col, const nb_col *v, nb_err *err)
{
	const cJSON *a = v->json;
	cJSON *parsed = NULL;
	if (cJSON_IsString(a)) /* an array rendered as JSON text */
		a = parsed = cJSON_Parse(a->valuestring);
	if (!cJSON_IsArray(a)) {
		cJSON_Delete(parsed);
		return nb_err_set(err, NB_EINPUT, "column %s (%s) is not a JSON array", col->name,
				  col->ch_type);
	}
	nb_buf lit;
	nb_buf_init(&lit);
	nb_buf_putc(&lit, '[');
	int i = 0, rc = 0;
	for (const cJSON *e = a->child; e && rc == 0; e = e->next, i++) {
		if (i)
			nb_buf_putc(&lit, ',');
		if (map_array_elem(&lit, col->elem_type, e) < 0)
			rc = nb_err_set(err, NB_EINPUT, "column %s (%s): element %d is not a %s",
					col->name, col->ch_type, i,
					col->elem_type == NB_SINK_STRING ? "string" : "number");
	}
	nb_buf_putc(&lit, ']');
	if (rc == 0)
		nb_ch_escape(b, lit.data, lit.len, NB_CH_TSV);
	nb_buf_done(&lit);
	cJSON_Delete(parsed);
	return rc;
}

/* The default of a non-Nullable column that received NULL. */
static void map_default(nb_buf *b, const nb_sink_col *col)
{
	switch (col->type) {
	case NB_SINK_STRING: break;
	case NB_SINK_DATETIME: nb_buf_puts(b, "0000000000"); break;
	case NB_SINK_DATE: nb_buf_puts(b, "1970-01-01"); break;
	case NB_SINK_ARRAY: nb_buf_puts(b, "[]"); break;
	default: nb_buf_putc(b, '0'); break;
	}
}

/* Writes the value of v (non-NULL) as column col; 1 when it is NULL. */
static int map_value(nb_buf *b, const nb_sink_col *col, const nb_col *v, nb_err *err)
{
	int rc;
	switch (col->type) {
	case NB_SINK_STRING: {
		char *s = NULL;
		rc = nb_debezium_col_text(v, &s, err);
		if (rc == 0)
			nb_ch_escape(b, s, strlen(s), NB_CH_TSV);
		free(s);
		return rc;
	}
	case NB_SINK_INT:
	case NB_SINK_UINT: {
		int64_t x;
		rc = map_int(v, &x, err);
		if (rc == 0 && col->type == NB_SINK_UINT && x < 0)
			return nb_err_set(err, NB_EINPUT, "column %s (%s) got a negative value %" PRId64,
					  col->name, col->ch_type, x);
		if (rc == 0)
			nb_buf_printf(b, "%" PRId64, x);
		return rc;
	}
	case NB_SINK_FLOAT: {
		double x;
		rc = nb_debezium_col_double(v, &x, err);
		if (rc == 0)
			map_float(b, x);
		return rc;
	}
	case NB_SINK_DATETIME: {
		int64_t us;
		rc = nb_debezium_col_epoch_us(v, &us, err);
		if (rc == 0) {
			int64_t s = us >= 0 ? us / 1000000 : 0;
			nb_buf_printf(b, "%010" PRId64, s > (int64_t)4294967295 ? (int64_t)4294967295 : s);
		}
		return rc;
	}
	case NB_SINK_DATE: {
		int32_t days;
		rc = nb_debezium_col_days(v, &days, err);
		if (rc == 0) {
			char d[48];
			map_civil(days < 0 ? 0 : days, d);
			nb_buf_puts(b, d);
		}
		return rc;
	}
	case NB_SINK_ARRAY:
		if (!v->json || cJSON_IsNull(v->json))
			return 1;
		return map_array(b, col, v, err);
	default:
		return nb_err_set(err, NB_EINPUT, "column %s has no mapping", col->name);
	}
}

/* The source column for col: from img, else (TOAST unchanged) from fallback. */
static const nb_col *map_find(const nb_tuple *img, const nb_tuple *fallback, const char *name)
{
	const nb_col *v = nb_tuple_find(img, name);
	if ((!v || map_is_unavailable(v)) && fallback) {
		const nb_col *f = nb_tuple_find(fallback, name);
		if (f && !map_is_unavailable(f) && f->json && !cJSON_IsNull(f->json))
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
			nb_buf_printf(out, "%" PRIu64, lsn);
			continue;
		}
		if (col->type == NB_SINK_DELETED) {
			nb_buf_putc(out, deleted ? '1' : '0');
			continue;
		}
		if (col->type == NB_SINK_MICROS) {
			const nb_sink_col *src = &t->cols[col->src];
			nb_buf_printf(out, "%" PRId64,
				      map_micros_of(map_find(img, fallback, src->name)));
			continue;
		}
		const nb_col *v = map_find(img, fallback, col->name);
		nb_err e;
		int rc = v ? map_value(out, col, v, &e) : 1;
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
			map_default(out, col);
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
		if (!b || !b->json || cJSON_IsNull(b->json) || map_is_unavailable(b))
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

int nb_sink_map(const nb_sink_schema *s, int table, const char *value, size_t len, nb_buf *out,
		nb_sink_out *res, nb_err *err)
{
	memset(res, 0, sizeof *res);
	res->table = table;
	if (table < 0 || table >= s->ntables)
		return nb_err_set(err, NB_EINPUT, "no ClickHouse table for this topic");
	if (!value || len == 0) {
		res->kind = NB_SINK_TOMBSTONE;
		return 0;
	}
	nb_change c;
	nb_change_init(&c);
	size_t mark = out->len;
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
