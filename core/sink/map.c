/* sink/map.c — the sink's mapping: a Debezium envelope → TabSeparated rows of
 * the ClickHouse table, column by column as ClickHouse's own schema says. */
#include "neonblue/ch.h"
#include "neonblue/cdc.h"
#include "neonblue/sink.h"

#include <inttypes.h>
#include <stddef.h>
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

/* 17 significant digits: ClickHouse 18.16 reads shorter forms of some
 * doubles one ulp off (3.72 becomes 3.7199999999999998), never these. */
static void map_float(nb_buf *b, double v)
{
	if (isnan(v))
		nb_buf_puts(b, "nan");
	else if (isinf(v))
		nb_buf_puts(b, v > 0 ? "inf" : "-inf");
	else
		nb_buf_printf(b, "%.17g", v);
}

/* Decimal digits of v, zero-padded to width (printf is too slow here). */
static void map_u64(nb_buf *b, uint64_t v, int width)
{
	char t[24];
	int n = 0;
	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n < width && n < (int)sizeof t)
		t[n++] = '0';
	nb_buf_reserve(b, (size_t)n);
	while (n)
		b->data[b->len++] = t[--n];
	b->data[b->len] = '\0';
}

static void map_i64(nb_buf *b, int64_t v)
{
	if (v < 0) {
		nb_buf_putc(b, '-');
		map_u64(b, (uint64_t)0 - (uint64_t)v, 0);
	} else {
		map_u64(b, (uint64_t)v, 0);
	}
}

/* A DateTime field: µs since epoch → 10-digit seconds, clamped to its range. */
static void map_datetime(nb_buf *b, int64_t us)
{
	int64_t sec = us >= 0 ? us / 1000000 : 0;
	map_u64(b, (uint64_t)(sec > (int64_t)4294967295 ? (int64_t)4294967295 : sec), 10);
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
		if (cJSON_IsString(v->json) && !map_is_unavailable(v)) { /* as it is, no copy */
			nb_ch_escape(b, v->json->valuestring, strlen(v->json->valuestring),
				     NB_CH_TSV);
			return 0;
		}
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
			map_i64(b, x);
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
		if (rc == 0)
			map_datetime(b, us);
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
			map_u64(out, lsn, 0);
			continue;
		}
		if (col->type == NB_SINK_DELETED) {
			nb_buf_putc(out, deleted ? '1' : '0');
			continue;
		}
		if (col->type == NB_SINK_MICROS) {
			const nb_sink_col *src = &t->cols[col->src];
			map_u64(out, (uint64_t)map_micros_of(map_find(img, fallback, src->name)),
				0);
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

/* ---- the zero-copy path ----
 * The hot messages (inserts, deletes, updates without a before image, no
 * schema wrapper) are read by a small JSON scanner straight into TSV: no tree,
 * no allocation. Anything it is not sure about — escapes in keys, nested
 * values, numbers in string columns, a wrapper — returns 1 and the message
 * goes through nb_debezium_parse instead, which also words every error. */

#define MAP_FAST_COLS 64

enum { J_STR, J_NUM, J_TRUE, J_FALSE, J_NULL, J_OBJ, J_ARR };

typedef struct jval {
	int type;
	const char *s; /* J_STR: after the opening quote; else the value's first byte */
	size_t n;      /* J_STR: raw length inside the quotes; else raw length */
	int esc;       /* J_STR: contains a backslash */
} jval;

typedef struct jscan {
	const char *p, *end;
} jscan;

static void js_ws(jscan *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int js_value(jscan *j, jval *v, int depth);

static int js_string(jscan *j, jval *v)
{
	const char *start = ++j->p; /* after the opening quote */
	for (;;) {
		const char *q = memchr(j->p, '"', (size_t)(j->end - j->p));
		if (!q)
			return -1;
		size_t bs = 0;
		while (q - bs > start && q[-1 - (ptrdiff_t)bs] == '\\')
			bs++;
		j->p = q + 1;
		if (bs % 2 == 0)
			break;
	}
	v->type = J_STR;
	v->s = start;
	v->n = (size_t)(j->p - 1 - start);
	v->esc = memchr(start, '\\', v->n) != NULL;
	return 0;
}

/* Skips a nested object or array (depth-limited). */
static int js_container(jscan *j, jval *v, int depth)
{
	char close = *j->p == '{' ? '}' : ']';
	v->type = close == '}' ? J_OBJ : J_ARR;
	v->s = j->p++;
	if (depth > 32)
		return -1;
	js_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		v->n = (size_t)(j->p - v->s);
		return 0;
	}
	for (;;) {
		jval k;
		if (close == '}') {
			js_ws(j);
			if (j->p >= j->end || *j->p != '"' || js_string(j, &k) < 0)
				return -1;
			js_ws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return -1;
		}
		if (js_value(j, &k, depth + 1) < 0)
			return -1;
		js_ws(j);
		if (j->p >= j->end)
			return -1;
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p++ != close)
			return -1;
		v->n = (size_t)(j->p - v->s);
		return 0;
	}
}

static int js_value(jscan *j, jval *v, int depth)
{
	js_ws(j);
	if (j->p >= j->end)
		return -1;
	char c = *j->p;
	if (c == '"')
		return js_string(j, v);
	if (c == '{' || c == '[')
		return js_container(j, v, depth);
	static const struct {
		const char *w;
		int type;
	} words[] = {{"true", J_TRUE}, {"false", J_FALSE}, {"null", J_NULL}};
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(words[i].w);
		if ((size_t)(j->end - j->p) >= n && !memcmp(j->p, words[i].w, n)) {
			v->type = words[i].type;
			v->s = j->p;
			v->n = n;
			j->p += n;
			return 0;
		}
	}
	v->type = J_NUM;
	v->s = j->p;
	while (j->p < j->end && ((*j->p >= '0' && *j->p <= '9') || *j->p == '-' || *j->p == '+' ||
				 *j->p == '.' || *j->p == 'e' || *j->p == 'E'))
		j->p++;
	v->n = (size_t)(j->p - v->s);
	return v->n ? 0 : -1;
}

/* The members of an object (keys with escapes make it fail). */
typedef struct jmember {
	const char *k;
	size_t kn;
	jval v;
} jmember;

static int js_object(jscan *j, jmember *out, int max)
{
	js_ws(j);
	if (j->p >= j->end || *j->p++ != '{')
		return -1;
	int n = 0;
	for (;;) {
		js_ws(j);
		if (j->p >= j->end)
			return -1;
		if (*j->p == '}' && n == 0) {
			j->p++;
			return 0;
		}
		jval k;
		if (*j->p != '"' || js_string(j, &k) < 0 || k.esc || n == max)
			return -1;
		js_ws(j);
		if (j->p >= j->end || *j->p++ != ':')
			return -1;
		out[n].k = k.s;
		out[n].kn = k.n;
		if (js_value(j, &out[n].v, 1) < 0)
			return -1;
		n++;
		js_ws(j);
		if (j->p >= j->end)
			return -1;
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p++ != '}')
			return -1;
		return n;
	}
}

static const jval *js_get(const jmember *m, int n, const char *key)
{
	size_t kn = strlen(key);
	for (int i = 0; i < n; i++)
		if (m[i].kn == kn && !memcmp(m[i].k, key, kn))
			return &m[i].v;
	return NULL;
}

static int js_hex4(const char *p, unsigned *cp)
{
	*cp = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return -1;
		*cp = *cp * 16 + (unsigned)d;
	}
	return 0;
}

static void js_utf8(nb_buf *b, unsigned cp)
{
	if (cp < 0x80) {
		nb_buf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		nb_buf_putc(b, (char)(0xC0 | (cp >> 6)));
		nb_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
	} else if (cp < 0x10000) {
		nb_buf_putc(b, (char)(0xE0 | (cp >> 12)));
		nb_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
		nb_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
	} else {
		nb_buf_putc(b, (char)(0xF0 | (cp >> 18)));
		nb_buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
		nb_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
		nb_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
	}
}

/* The JSON string v, unescaped, into b (NUL-free: \u0000 fails). */
static int js_unescape(const jval *v, nb_buf *b)
{
	const char *p = v->s, *e = v->s + v->n;
	while (p < e) {
		const char *bs = memchr(p, '\\', (size_t)(e - p));
		if (!bs) {
			nb_buf_append(b, p, (size_t)(e - p));
			return 0;
		}
		nb_buf_append(b, p, (size_t)(bs - p));
		p = bs + 1;
		if (p >= e)
			return -1;
		char c = *p++;
		switch (c) {
		case '"': case '\\': case '/': nb_buf_putc(b, c); break;
		case 'b': nb_buf_putc(b, '\b'); break;
		case 'f': nb_buf_putc(b, '\f'); break;
		case 'n': nb_buf_putc(b, '\n'); break;
		case 'r': nb_buf_putc(b, '\r'); break;
		case 't': nb_buf_putc(b, '\t'); break;
		case 'u': {
			unsigned cp, lo;
			if (e - p < 4 || js_hex4(p, &cp) < 0 || cp == 0)
				return -1;
			p += 4;
			if (cp >= 0xD800 && cp < 0xDC00) {
				if (e - p < 6 || p[0] != '\\' || p[1] != 'u' || js_hex4(p + 2, &lo) < 0 ||
				    lo < 0xDC00 || lo > 0xDFFF)
					return -1;
				p += 6;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			} else if (cp >= 0xDC00 && cp < 0xE000) {
				return -1;
			}
			js_utf8(b, cp);
			break;
		}
		default: return -1;
		}
	}
	return 0;
}

static int js_is_int(const jval *v)
{
	size_t i = v->s[0] == '-';
	if (i == v->n || v->n - i > 18)
		return 0;
	for (; i < v->n; i++)
		if (v->s[i] < '0' || v->s[i] > '9')
			return 0;
	return 1;
}

static int js_is_unavailable(const jval *v)
{
	return v && v->type == J_STR && v->n == sizeof NB_DEBEZIUM_UNAVAILABLE - 1 &&
	       !memcmp(v->s, NB_DEBEZIUM_UNAVAILABLE, v->n);
}

/* µs since epoch of a timestamp value (ISO string or µs number). */
static int js_epoch_us(const jval *v, nb_buf *tmp, int64_t *us)
{
	if (v->type == J_NUM) {
		if (!js_is_int(v))
			return -1;
		*us = strtoll(v->s, NULL, 10);
		return 0;
	}
	if (v->type != J_STR || v->esc || v->n > 64)
		return -1;
	nb_buf_reset(tmp);
	nb_buf_append(tmp, v->s, v->n);
	return nb_pg_parse_timestamp(tmp->data, us, NULL) ? -1 : 0;
}

/* One column from a scanned value; 1 = NULL, -1 = let the canonical path decide. */
static int js_column(nb_buf *b, const nb_sink_col *col, const jval *v, nb_buf *tmp)
{
	if (!v || v->type == J_NULL)
		return 1;
	switch (col->type) {
	case NB_SINK_STRING:
		if (v->type != J_STR || js_is_unavailable(v))
			return -1;
		if (!v->esc) {
			nb_ch_escape(b, v->s, v->n, NB_CH_TSV);
			return 0;
		}
		nb_buf_reset(tmp);
		if (js_unescape(v, tmp) < 0)
			return -1;
		nb_ch_escape(b, tmp->data, tmp->len, NB_CH_TSV);
		return 0;
	case NB_SINK_INT:
	case NB_SINK_UINT:
		if (v->type == J_TRUE || v->type == J_FALSE) {
			nb_buf_putc(b, v->type == J_TRUE ? '1' : '0');
			return 0;
		}
		if (v->type != J_NUM || !js_is_int(v) || (col->type == NB_SINK_UINT && v->s[0] == '-'))
			return -1;
		nb_buf_append(b, v->s, v->n);
		return 0;
	case NB_SINK_FLOAT:
		if (v->type != J_NUM || v->n > 60)
			return -1;
		char num[64], *end;
		memcpy(num, v->s, v->n);
		num[v->n] = '\0';
		double d = strtod(num, &end);
		if (*end)
			return -1;
		map_float(b, d);
		return 0;
	case NB_SINK_DATETIME: {
		int64_t us;
		if (js_epoch_us(v, tmp, &us) < 0)
			return -1;
		map_datetime(b, us);
		return 0;
	}
	default:
		return -1; /* Date, arrays: the canonical path */
	}
}

static int js_row(const nb_sink_table *t, const jmember *m, int n, int deleted, uint64_t lsn,
		  nb_buf *out, nb_buf *tmp)
{
	for (int i = 0; i < t->ncols; i++) {
		const nb_sink_col *col = &t->cols[i];
		if (i)
			nb_buf_putc(out, '\t');
		if (col->type == NB_SINK_VERSION) {
			map_u64(out, lsn, 0);
			continue;
		}
		if (col->type == NB_SINK_DELETED) {
			nb_buf_putc(out, deleted ? '1' : '0');
			continue;
		}
		if (col->type == NB_SINK_MICROS) {
			const jval *v = js_get(m, n, t->cols[col->src].name);
			int64_t us = 0;
			if (v && v->type != J_NULL && js_epoch_us(v, tmp, &us) < 0)
				return -1;
			int64_t r = us % 1000000;
			map_u64(out, (uint64_t)(r < 0 ? r + 1000000 : r), 0);
			continue;
		}
		int rc = js_column(out, col, js_get(m, n, col->name), tmp);
		if (rc < 0)
			return -1;
		if (rc == 0)
			continue;
		if (col->is_key)
			return -1; /* the canonical path words the error */
		if (col->nullable)
			nb_buf_puts(out, "\\N");
		else
			map_default(out, col);
	}
	nb_buf_putc(out, '\n');
	return 0;
}

/* The envelope's parts, each nested object read in the same single pass. */
typedef struct jenv {
	jval op;
	int has_op;
	int has[3];  /* before, after, source: 1 object, 0 absent or null */
	int n[3];    /* members read */
	jmember *m[3];
} jenv;

static int js_envelope(jscan *j, jenv *e)
{
	static const char *const parts[3] = {"before", "after", "source"};
	js_ws(j);
	if (j->p >= j->end || *j->p++ != '{')
		return -1;
	for (int first = 1;; first = 0) {
		js_ws(j);
		if (j->p >= j->end)
			return -1;
		if (*j->p == '}' && first)
			return -1;
		jval k, v;
		if (*j->p != '"' || js_string(j, &k) < 0 || k.esc)
			return -1;
		js_ws(j);
		if (j->p >= j->end || *j->p++ != ':')
			return -1;
		js_ws(j);
		int part = -1;
		for (int i = 0; i < 3; i++)
			if (k.n == strlen(parts[i]) && !memcmp(k.s, parts[i], k.n))
				part = i;
		if ((k.n == 7 && !memcmp(k.s, "payload", 7)) || (k.n == 6 && !memcmp(k.s, "schema", 6)))
			return -1;
		if (part >= 0 && j->p < j->end && *j->p == '{') {
			int max = part == 2 ? 32 : MAP_FAST_COLS;
			if (e->has[part] || (e->n[part] = js_object(j, e->m[part], max)) < 0)
				return -1;
			e->has[part] = 1;
		} else {
			if (js_value(j, &v, 1) < 0)
				return -1;
			if (part >= 0 && v.type != J_NULL)
				return -1;
			if (k.n == 2 && !memcmp(k.s, "op", 2)) {
				if (v.type != J_STR || v.n != 1)
					return -1;
				e->op = v;
				e->has_op = 1;
			}
		}
		js_ws(j);
		if (j->p >= j->end)
			return -1;
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p++ != '}')
			return -1;
		js_ws(j);
		return j->p == j->end ? 0 : -1;
	}
}

static int map_fast(const nb_sink_table *t, const char *value, size_t len, nb_buf *out,
		    nb_sink_out *res)
{
	jscan j = {value, value + len};
	jmember img[2][MAP_FAST_COLS], src[32];
	jenv e = {.m = {img[0], img[1], src}};
	if (js_envelope(&j, &e) < 0 || !e.has_op || !e.has[2])
		return 1;
	char o = e.op.s[0];
	if (!strchr("rcud", o) || (o == 'd' ? e.has[1] || !e.has[0] : e.has[0] || !e.has[1]))
		return 1;
	const jval *lsn = js_get(src, e.n[2], "lsn");
	const jval *table = js_get(src, e.n[2], "table");
	if (!lsn || lsn->type != J_NUM || !js_is_int(lsn) || lsn->s[0] == '-' || !table ||
	    table->type != J_STR)
		return 1;
	int which = o == 'd' ? 0 : 1;
	nb_buf tmp;
	nb_buf_init(&tmp);
	size_t mark = out->len;
	uint64_t v = strtoull(lsn->s, NULL, 10);
	int rc = js_row(t, img[which], e.n[which], o == 'd', v, out, &tmp);
	nb_buf_done(&tmp);
	if (rc < 0) {
		out->len = mark;
		if (out->data)
			out->data[mark] = '\0';
		return 1;
	}
	res->kind = NB_SINK_ROWS;
	res->nrows = 1;
	res->fast = 1;
	res->op = o;
	res->lsn = v;
	return 0;
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
	if (!canonical_only && map_fast(&s->tables[table], value, len, out, res) == 0)
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
