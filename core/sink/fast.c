/* sink/fast.c — the zero-copy path of the mapping: a small JSON scanner
 * reading the hot envelopes straight into TSV rows (no tree, no allocation). */
#include "map.h"
#include "neonblue/ch.h"

#include <inttypes.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		if (v->type != J_STR || js_is_unavailable(v) ||
		    (col->uuid && (v->esc || !sink_map_uuid_ok(v->s, v->n))))
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
		if ((v->type == J_TRUE || v->type == J_FALSE) && col->type == NB_SINK_UINT &&
		    col->bits == 8) {
			nb_buf_putc(b, v->type == J_TRUE ? '1' : '0');
			return 0;
		}
		if (v->type != J_NUM || !js_is_int(v) ||
		    !sink_map_int_fits(col, strtoll(v->s, NULL, 10)))
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
		sink_map_float(b, d);
		return 0;
	case NB_SINK_DATETIME: {
		int64_t us;
		if (js_epoch_us(v, tmp, &us) < 0)
			return -1;
		sink_map_datetime(b, us);
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
			sink_map_u64(out, lsn, 0);
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
			sink_map_u64(out, (uint64_t)(r < 0 ? r + 1000000 : r), 0);
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
			sink_map_default(out, col);
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

int sink_map_fast(const nb_sink_table *t, const char *value, size_t len, nb_buf *out,
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
