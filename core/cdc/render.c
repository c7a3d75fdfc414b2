/* cdc/debezium.c — row changes ⇄ Debezium PostgreSQL-connector envelope JSON. */
#include "neonblue/cdc.h"
#include "neonblue/base.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US_PER_DAY 86400000000LL

/* ---------------------------------------------------------------- structs */

void nb_change_init(nb_change *c)
{
	memset(c, 0, sizeof *c);
	c->source.tx_id = -1;
}

static void col_free(nb_col *col)
{
	free(col->name);
	free(col->text);
	free(col->dbz_type);
	free(col->dbz_name);
	cJSON_Delete(col->json);
}

void nb_tuple_done(nb_tuple *t)
{
	for (int i = 0; i < t->n; i++)
		col_free(&t->cols[i]);
	free(t->cols);
	memset(t, 0, sizeof *t);
}

void nb_change_done(nb_change *c)
{
	free(c->schema);
	free(c->table);
	nb_tuple_done(&c->before);
	nb_tuple_done(&c->after);
	free(c->source.version);
	free(c->source.name);
	free(c->source.db);
	free(c->source.snapshot);
	nb_change_init(c);
}

nb_col *nb_tuple_add(nb_tuple *t, const char *name, uint32_t type_oid, const char *text)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 8;
		t->cols = nb_xrealloc(t->cols, (size_t)t->cap * sizeof *t->cols);
	}
	nb_col *col = &t->cols[t->n++];
	memset(col, 0, sizeof *col);
	col->name = nb_xstrdup(name ? name : "");
	col->type_oid = type_oid;
	col->text = text ? nb_xstrdup(text) : NULL;
	return col;
}

const nb_col *nb_tuple_find(const nb_tuple *t, const char *name)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->cols[i].name, name))
			return &t->cols[i];
	return NULL;
}

void nb_change_set(char **field, const char *value)
{
	free(*field);
	*field = value ? nb_xstrdup(value) : NULL;
}

/* ------------------------------------------------------------ time helpers */

int64_t nb_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Reads exactly n digits (n > 0) or, when n == 0, one or more digits. */
static int read_digits(const char **p, int n, int64_t *v)
{
	int64_t x = 0;
	int k = 0;
	while (isdigit((unsigned char)**p) && (n == 0 || k < n) && k < 18) {
		x = x * 10 + (**p - '0');
		(*p)++;
		k++;
	}
	*v = x;
	return k > 0 && (n == 0 || k == n) ? 0 : -1;
}

static int parse_date_part(const char **p, int64_t *days)
{
	int64_t y, mo, d;
	if (read_digits(p, 0, &y) || **p != '-')
		return -1;
	(*p)++;
	if (read_digits(p, 2, &mo) || **p != '-')
		return -1;
	(*p)++;
	if (read_digits(p, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31)
		return -1;
	*days = nb_days_from_civil(y, (unsigned)mo, (unsigned)d);
	return 0;
}

/* "HH:MM[:SS[.ffffff]]" → µs since midnight. */
static int parse_time_part(const char **p, int64_t *us)
{
	int64_t h, mi, s = 0, frac = 0;
	if (read_digits(p, 2, &h) || **p != ':')
		return -1;
	(*p)++;
	if (read_digits(p, 2, &mi))
		return -1;
	if (**p == ':') {
		(*p)++;
		if (read_digits(p, 2, &s))
			return -1;
		if (**p == '.') {
			(*p)++;
			int k = 0;
			while (isdigit((unsigned char)**p)) {
				if (k < 6)
					frac = frac * 10 + (**p - '0');
				k++;
				(*p)++;
			}
			if (k == 0)
				return -1;
			for (; k < 6; k++)
				frac *= 10;
		}
	}
	if (h > 24 || mi > 59 || s > 60)
		return -1;
	*us = ((h * 60 + mi) * 60 + s) * 1000000 + frac;
	return 0;
}

/* "+hh[:mm[:ss]]", "+hhmm", "Z" → offset seconds east of UTC. */
static int parse_offset(const char **p, int64_t *off)
{
	if (**p == 'Z' || **p == 'z') {
		(*p)++;
		*off = 0;
		return 0;
	}
	int sign = **p == '-' ? -1 : 1;
	if (**p != '+' && **p != '-')
		return -1;
	(*p)++;
	int64_t h, m = 0, s = 0;
	if (read_digits(p, 2, &h))
		return -1;
	if (**p == ':')
		(*p)++;
	if (isdigit((unsigned char)**p)) {
		if (read_digits(p, 2, &m))
			return -1;
		if (**p == ':')
			(*p)++;
		if (isdigit((unsigned char)**p) && read_digits(p, 2, &s))
			return -1;
	}
	*off = sign * (h * 3600 + m * 60 + s);
	return 0;
}

int nb_pg_parse_timestamp(const char *s, int64_t *us, int *has_tz)
{
	const char *p = s;
	int64_t days, tod = 0, off = 0;
	int tz = 0;
	if (parse_date_part(&p, &days))
		return -1;
	if (*p == ' ' || *p == 'T' || *p == 't') {
		p++;
		if (parse_time_part(&p, &tod))
			return -1;
	}
	if (*p) {
		if (parse_offset(&p, &off))
			return -1;
		tz = 1;
	}
	if (*p)
		return -1;
	*us = days * US_PER_DAY + tod - off * 1000000;
	if (has_tz)
		*has_tz = tz;
	return 0;
}

int nb_lsn_parse(const char *s, uint64_t *lsn)
{
	char *end;
	errno = 0;
	unsigned long hi = strtoul(s, &end, 16);
	if (end == s || *end != '/' || errno)
		return -1;
	const char *lo_s = end + 1;
	unsigned long lo = strtoul(lo_s, &end, 16);
	if (end == lo_s || *end || errno || hi > 0xffffffffUL || lo > 0xffffffffUL)
		return -1;
	*lsn = ((uint64_t)hi << 32) | lo;
	return 0;
}

void nb_lsn_format(uint64_t lsn, char out[32])
{
	snprintf(out, 32, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
}

/* ------------------------------------------------------------------ render */

/* Debezium's Kafka Connect type and semantic name for a PostgreSQL type. */
static void oid_schema(uint32_t oid, const char **type, const char **name)
{
	*name = NULL;
	switch (oid) {
	case NB_OID_BOOL:
		*type = "boolean";
		break;
	case NB_OID_INT2:
		*type = "int16";
		break;
	case NB_OID_INT4:
		*type = "int32";
		break;
	case NB_OID_INT8:
	case NB_OID_OID:
		*type = "int64";
		break;
	case NB_OID_FLOAT4:
		*type = "float";
		break;
	case NB_OID_FLOAT8:
	case NB_OID_NUMERIC:
		*type = "double";
		break;
	case NB_OID_BYTEA:
		*type = "bytes";
		break;
	case NB_OID_DATE:
		*type = "int32";
		*name = "io.debezium.time.Date";
		break;
	case NB_OID_TIME:
		*type = "int64";
		*name = "io.debezium.time.MicroTime";
		break;
	case NB_OID_TIMESTAMP:
		*type = "int64";
		*name = "io.debezium.time.MicroTimestamp";
		break;
	case NB_OID_TIMESTAMPTZ:
		*type = "string";
		*name = "io.debezium.time.ZonedTimestamp";
		break;
	case NB_OID_JSON:
	case NB_OID_JSONB:
		*type = "string";
		*name = "io.debezium.data.Json";
		break;
	case NB_OID_UUID:
		*type = "string";
		*name = "io.debezium.data.Uuid";
		break;
	default:
		*type = "string";
		break;
	}
}

/* The reverse, for re-rendering what was parsed with a schema. */
static uint32_t schema_oid(const char *type, const char *name)
{
	static const struct {
		const char *name;
		uint32_t oid;
	} names[] = {
	    {"io.debezium.time.Date", NB_OID_DATE},
	    {"io.debezium.time.MicroTime", NB_OID_TIME},
	    {"io.debezium.time.MicroTimestamp", NB_OID_TIMESTAMP},
	    {"io.debezium.time.ZonedTimestamp", NB_OID_TIMESTAMPTZ},
	    {"io.debezium.data.Json", NB_OID_JSONB},
	    {"io.debezium.data.Uuid", NB_OID_UUID},
	};
	static const struct {
		const char *type;
		uint32_t oid;
	} types[] = {
	    {"boolean", NB_OID_BOOL}, {"int16", NB_OID_INT2},	{"int32", NB_OID_INT4},
	    {"int64", NB_OID_INT8},   {"float", NB_OID_FLOAT4}, {"double", NB_OID_FLOAT8},
	    {"bytes", NB_OID_BYTEA},  {"string", NB_OID_TEXT},
	};
	if (name)
		for (size_t i = 0; i < sizeof names / sizeof *names; i++)
			if (!strcmp(name, names[i].name))
				return names[i].oid;
	if (type)
		for (size_t i = 0; i < sizeof types / sizeof *types; i++)
			if (!strcmp(type, types[i].type))
				return types[i].oid;
	return 0;
}

static int hexdigit(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* JSON number grammar: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)? */
static int is_json_number(const char *s)
{
	const char *p = s;
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (isdigit((unsigned char)*p))
			p++;
	else
		return 0;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return *p == '\0';
}

/* The render path writes JSON straight into a buffer: the relay renders
 * every row change, and building a cJSON tree per message cost more than
 * decoding it. */

static void put_i64(nb_buf *b, int64_t v)
{
	char tmp[24];
	int n = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[n++] = '-';
	nb_buf_reserve(b, (size_t)n + 1);
	while (n)
		b->data[b->len++] = tmp[--n];
	b->data[b->len] = '\0';
}

/* A JSON string literal; runs of plain bytes are copied at once. */
static void put_str(nb_buf *b, const char *s)
{
	nb_buf_putc(b, '"');
	const char *run = s;
	for (const unsigned char *p = (const unsigned char *)s;; p++) {
		if (*p >= 0x20 && *p != '"' && *p != '\\')
			continue;
		nb_buf_append(b, run, (size_t)((const char *)p - run));
		if (!*p)
			break;
		switch (*p) {
		case '"':
			nb_buf_puts(b, "\\\"");
			break;
		case '\\':
			nb_buf_puts(b, "\\\\");
			break;
		case '\n':
			nb_buf_puts(b, "\\n");
			break;
		case '\r':
			nb_buf_puts(b, "\\r");
			break;
		case '\t':
			nb_buf_puts(b, "\\t");
			break;
		case '\b':
			nb_buf_puts(b, "\\b");
			break;
		case '\f':
			nb_buf_puts(b, "\\f");
			break;
		default:
			nb_buf_printf(b, "\\u%04x", *p);
		}
		run = (const char *)p + 1;
	}
	nb_buf_putc(b, '"');
}

static void put_2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/* "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" (fraction trimmed) without printf. */
static void put_iso(nb_buf *b, int64_t us)
{
	int64_t days = floor_div(us, US_PER_DAY);
	int64_t rem = us - days * US_PER_DAY;
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999) { /* rare: let printf handle the sign and width */
		char out[48];
		nb_format_iso_utc(us, out);
		put_str(b, out);
		return;
	}
	char o[40];
	int secs = (int)(rem / 1000000), frac = (int)(rem % 1000000);
	o[0] = '"';
	put_2(o + 1, (int)(y / 100));
	put_2(o + 3, (int)(y % 100));
	o[5] = '-';
	put_2(o + 6, (int)m);
	o[8] = '-';
	put_2(o + 9, (int)d);
	o[11] = 'T';
	put_2(o + 12, secs / 3600);
	o[14] = ':';
	put_2(o + 15, secs / 60 % 60);
	o[17] = ':';
	put_2(o + 18, secs % 60);
	int n = 20;
	if (frac) {
		o[n++] = '.';
		for (int div = 100000; div && frac; div /= 10) {
			o[n++] = (char)('0' + frac / div);
			frac %= div;
		}
	}
	o[n++] = 'Z';
	o[n++] = '"';
	nb_buf_append(b, o, (size_t)n);
}

void nb_format_iso_utc(int64_t us, char out[48])
{
	int64_t days = floor_div(us, US_PER_DAY);
	int64_t rem = us - days * US_PER_DAY;
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	int64_t secs = rem / 1000000, frac = rem % 1000000;
	int n = snprintf(out, 48, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d", y, m, d,
			 (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
	if (frac) {
		char f[8];
		snprintf(f, sizeof f, "%06d", (int)frac);
		int k = 6;
		while (k > 0 && f[k - 1] == '0')
			k--;
		f[k] = '\0';
		n += snprintf(out + n, (size_t)(48 - n), ".%s", f);
	}
	snprintf(out + n, (size_t)(48 - n), "Z");
}

static int put_int(nb_buf *b, const char *text, nb_err *err)
{
	const char *p = text + (*text == '-');
	int k = 0;
	while (p[k] >= '0' && p[k] <= '9')
		k++;
	if (!k || p[k] || k > 19)
		return nb_err_set(err, NB_EINPUT, "integer value \"%s\" is not a number", text);
	nb_buf_puts(b, text);
	return 0;
}

static int put_float(nb_buf *b, const char *text, nb_err *err)
{
	if (is_json_number(text)) {
		nb_buf_puts(b, text);
		return 0;
	}
	char *end;
	double v = strtod(text, &end);
	if (end == text || *end)
		return nb_err_set(err, NB_EINPUT, "floating-point value \"%s\" is not a number",
				  text);
	nb_json_write_number(b, v); /* NaN and infinities print as null */
	return 0;
}

static int put_bytea(nb_buf *b, const char *text, nb_err *err)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (strncmp(text, "\\x", 2))
		return nb_err_set(err, NB_EINPUT, "bytea value is not in hex format");
	const char *hex = text + 2;
	size_t nhex = strlen(hex);
	if (nhex % 2)
		return nb_err_set(err, NB_EINPUT, "bytea value has an odd number of hex digits");
	size_t n = nhex / 2;
	unsigned char *raw = nb_xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		int hi = hexdigit(hex[2 * i]), lo = hexdigit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(raw);
			return nb_err_set(err, NB_EINPUT, "bytea value has a bad hex digit");
		}
		raw[i] = (unsigned char)(hi << 4 | lo);
	}
	nb_buf_putc(b, '"');
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)raw[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)raw[i + 1] << 8;
		if (i + 2 < n)
			v |= raw[i + 2];
		char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63],
			     i + 1 < n ? b64[v >> 6 & 63] : '=', i + 2 < n ? b64[v & 63] : '='};
		nb_buf_append(b, q, 4);
	}
	nb_buf_putc(b, '"');
	free(raw);
	return 0;
}

static int put_time_value(nb_buf *b, uint32_t oid, const char *text, nb_err *err)
{
	int64_t v;
	int has_tz;
	const char *p = text;
	if (!strcmp(text, "infinity") || !strcmp(text, "-infinity")) {
		put_str(b, text);
		return 0;
	}
	int bad;
	switch (oid) {
	case NB_OID_DATE:
		bad = parse_date_part(&p, &v) || *p;
		break;
	case NB_OID_TIME:
		bad = parse_time_part(&p, &v) || *p;
		break;
	default:
		bad = nb_pg_parse_timestamp(text, &v, &has_tz) != 0;
		break;
	}
	if (bad)
		return nb_err_set(
		    err, NB_EINPUT,
		    "date/time value \"%s\" is not in PostgreSQL's ISO format (DateStyle=ISO)",
		    text);
	if (oid == NB_OID_TIMESTAMPTZ)
		put_iso(b, v);
	else
		put_i64(b, v);
	return 0;
}

/* Element type of the array types NeonBlue may use; 0 when oid is no array. */
static uint32_t array_elem(uint32_t oid)
{
	static const uint32_t map[][2] = {
	    {1000, NB_OID_BOOL},    {1001, NB_OID_BYTEA}, {1005, NB_OID_INT2},
	    {1007, NB_OID_INT4},    {1009, NB_OID_TEXT},  {1014, NB_OID_BPCHAR},
	    {1015, NB_OID_VARCHAR}, {1016, NB_OID_INT8},  {1021, NB_OID_FLOAT4},
	    {1022, NB_OID_FLOAT8},  {1028, NB_OID_OID},	  {1115, NB_OID_TIMESTAMP},
	    {1182, NB_OID_DATE},    {1183, NB_OID_TIME},  {1185, NB_OID_TIMESTAMPTZ},
	    {1231, NB_OID_NUMERIC}, {199, NB_OID_JSON},	  {2951, NB_OID_UUID},
	    {3807, NB_OID_JSONB},
	};
	for (size_t i = 0; i < sizeof map / sizeof *map; i++)
		if (map[i][0] == oid)
			return map[i][1];
	return 0;
}

static int put_value(nb_buf *b, uint32_t oid, const char *text, nb_err *err);

/* One element of an array's text form (quoted or not) into item. */
static int array_item(const char **pp, nb_buf *item, int *quoted, nb_err *err)
{
	const char *p = *pp;
	nb_buf_reset(item);
	nb_buf_puts(item, "");
	*quoted = *p == '"';
	if (*quoted) {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			nb_buf_putc(item, *p);
		}
		if (*p != '"')
			return nb_err_set(err, NB_EINPUT, "array value has an unterminated quote");
		p++;
	} else {
		while (*p && *p != ',' && *p != '}')
			nb_buf_putc(item, *p++);
	}
	*pp = p;
	return 0;
}

/* One level of PostgreSQL's array text form {a,"b c",NULL,{…}} as a JSON
 * array, elements rendered as their element type (as Debezium does). */
static int put_array_level(nb_buf *b, uint32_t elem, const char **pp, nb_buf *item, nb_err *err)
{
	const char *p = *pp;
	if (*p++ != '{')
		return nb_err_set(err, NB_EINPUT, "array value does not start with '{'");
	nb_buf_putc(b, '[');
	for (int n = 0; *p && *p != '}'; n++) {
		if (n)
			nb_buf_putc(b, ',');
		int quoted, rc;
		if (*p == '{') {
			rc = put_array_level(b, elem, &p, item, err);
		} else {
			rc = array_item(&p, item, &quoted, err);
			if (!rc)
				rc = put_value(b, elem,
					       !quoted && !strcmp(item->data, "NULL") ? NULL
										      : item->data,
					       err);
		}
		if (rc)
			return -1;
		if (*p == ',')
			p++;
	}
	if (*p != '}')
		return nb_err_set(err, NB_EINPUT, "array value does not end with '}'");
	*pp = p + 1;
	nb_buf_putc(b, ']');
	return 0;
}

static int put_array(nb_buf *b, uint32_t elem, const char *text, nb_err *err)
{
	const char *p = text;
	if (*p == '[') { /* explicit bounds "[0:1]={…}": keep the elements */
		const char *eq = strchr(p, '=');
		p = eq ? eq + 1 : p;
	}
	nb_buf item;
	nb_buf_init(&item);
	int rc = put_array_level(b, elem, &p, &item, err);
	nb_buf_done(&item);
	if (!rc && *p)
		rc = nb_err_set(err, NB_EINPUT, "array value has text after its closing '}'");
	return rc;
}

/* Appends the Debezium rendering of one PostgreSQL text value. */
static int put_value(nb_buf *b, uint32_t oid, const char *text, nb_err *err)
{
	if (!text) {
		nb_buf_puts(b, "null");
		return 0;
	}
	switch (oid) {
	case NB_OID_BOOL:
		nb_buf_puts(b, text[0] == 't' ? "true" : "false");
		return 0;
	case NB_OID_INT2:
	case NB_OID_INT4:
	case NB_OID_INT8:
	case NB_OID_OID:
		return put_int(b, text, err);
	case NB_OID_FLOAT4:
	case NB_OID_FLOAT8:
	case NB_OID_NUMERIC:
		return put_float(b, text, err);
	case NB_OID_BYTEA:
		return put_bytea(b, text, err);
	case NB_OID_DATE:
	case NB_OID_TIME:
	case NB_OID_TIMESTAMP:
	case NB_OID_TIMESTAMPTZ:
		return put_time_value(b, oid, text, err);
	default:
		if (array_elem(oid))
			return put_array(b, array_elem(oid), text, err);
		put_str(b, text);
		return 0;
	}
}

cJSON *nb_debezium_render_value(uint32_t oid, const char *text, nb_err *err)
{
	nb_buf b;
	nb_buf_init(&b);
	cJSON *v = put_value(&b, oid, text, err) ? NULL : cJSON_Parse(b.data);
	nb_buf_done(&b);
	return v;
}

/* A parsed number printed back in its shortest round-trip form (1.1, not
 * 1.1000000000000001), as a Java producer would have printed it. */
static void put_shortest(nb_buf *b, double v)
{
	if (!isfinite(v)) {
		nb_buf_puts(b, "null");
		return;
	}
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		put_i64(b, (int64_t)v);
		return;
	}
	char num[40];
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(num, sizeof num, "%.*g", prec, v);
		if (strtod(num, NULL) == v)
			break;
	}
	nb_buf_puts(b, num);
}

static int put_col(nb_buf *b, const nb_col *col, nb_err *err)
{
	if (col->toast_unchanged) {
		put_str(b, NB_DEBEZIUM_UNAVAILABLE);
		return 0;
	}
	if (col->json && cJSON_IsNumber(col->json)) {
		put_shortest(b, col->json->valuedouble);
		return 0;
	}
	if (col->json) {
		nb_json_write(b, col->json);
		return 0;
	}
	if (!put_value(b, col->type_oid, col->text, err))
		return 0;
	if (err) {
		char why[sizeof err->msg];
		snprintf(why, sizeof why, "%s", err->msg);
		nb_err_set(err, NB_EINPUT, "column %s: %s", col->name, why);
	}
	return -1;
}

static int put_tuple(nb_buf *b, const nb_tuple *t, int keys_only, nb_err *err)
{
	nb_buf_putc(b, '{');
	int first = 1;
	for (int i = 0; i < t->n; i++) {
		if (keys_only && !t->cols[i].is_key)
			continue;
		if (!first)
			nb_buf_putc(b, ',');
		first = 0;
		put_str(b, t->cols[i].name);
		nb_buf_putc(b, ':');
		if (put_col(b, &t->cols[i], err))
			return -1;
	}
	nb_buf_putc(b, '}');
	return 0;
}

static const char *str_or(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

static void put_source(nb_buf *b, const nb_change *c)
{
	const nb_source *s = &c->source;
	nb_buf_puts(b, "{\"version\":");
	put_str(b, str_or(s->version, "neonblue"));
	nb_buf_puts(b, ",\"connector\":\"postgresql\",\"name\":");
	put_str(b, str_or(s->name, "neonblue"));
	nb_buf_puts(b, ",\"ts_ms\":");
	put_i64(b, s->ts_ms);
	nb_buf_puts(b, ",\"snapshot\":");
	put_str(b, str_or(s->snapshot, c->op == 'r' ? "true" : "false"));
	nb_buf_puts(b, ",\"db\":");
	put_str(b, str_or(s->db, ""));
	nb_buf_puts(b, ",\"schema\":");
	put_str(b, str_or(c->schema, ""));
	nb_buf_puts(b, ",\"table\":");
	put_str(b, str_or(c->table, ""));
	nb_buf_puts(b, ",\"txId\":");
	if (s->tx_id >= 0)
		put_i64(b, s->tx_id);
	else
		nb_buf_puts(b, "null");
	nb_buf_puts(b, ",\"lsn\":");
	put_i64(b, (int64_t)s->lsn);
	nb_buf_puts(b, ",\"xmin\":null}");
}

static cJSON *field_schema(const char *type, const char *name, int optional, const char *field)
{
	cJSON *f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "type", type);
	cJSON_AddBoolToObject(f, "optional", optional);
	if (name) {
		cJSON_AddStringToObject(f, "name", name);
		cJSON_AddNumberToObject(f, "version", 1);
	}
	cJSON_AddStringToObject(f, "field", field);
	return f;
}

static cJSON *col_schema(const nb_col *col)
{
	const char *type, *name;
	uint32_t elem = col->dbz_type ? 0 : array_elem(col->type_oid);
	if (elem) { /* {"type":"array","items":{…},"optional":…,"field":…} */
		oid_schema(elem, &type, &name);
		cJSON *items = field_schema(type, name, 1, "");
		cJSON_DeleteItemFromObject(items, "field");
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "type", "array");
		cJSON_AddItemToObject(f, "items", items);
		cJSON_AddBoolToObject(f, "optional", !col->is_key);
		cJSON_AddStringToObject(f, "field", col->name);
		return f;
	}
	if (col->dbz_type) {
		type = col->dbz_type;
		name = col->dbz_name;
	} else {
		oid_schema(col->type_oid, &type, &name);
	}
	return field_schema(type, name, !col->is_key, col->name);
}

static cJSON *struct_schema(const nb_tuple *t, int keys_only, int optional, const char *name,
			    const char *field)
{
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "type", "struct");
	cJSON *fields = cJSON_AddArrayToObject(s, "fields");
	for (int i = 0; t && i < t->n; i++)
		if (!keys_only || t->cols[i].is_key)
			cJSON_AddItemToArray(fields, col_schema(&t->cols[i]));
	cJSON_AddBoolToObject(s, "optional", optional);
	cJSON_AddStringToObject(s, "name", name);
	if (field)
		cJSON_AddStringToObject(s, "field", field);
	return s;
}

static void record_name(nb_buf *b, const nb_change *c, const char *suffix)
{
	nb_buf_reset(b);
	nb_buf_printf(b, "%s.%s.%s.%s", str_or(c->source.name, "neonblue"), str_or(c->schema, ""),
		      str_or(c->table, ""), suffix);
}

static cJSON *source_schema(void)
{
	static const char *const fields[][3] = {
	    {"string", "0", "version"}, {"string", "0", "connector"}, {"string", "0", "name"},
	    {"int64", "0", "ts_ms"},	{"string", "1", "snapshot"},  {"string", "0", "db"},
	    {"string", "0", "schema"},	{"string", "0", "table"},     {"int64", "1", "txId"},
	    {"int64", "1", "lsn"},	{"int64", "1", "xmin"},
	};
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "type", "struct");
	cJSON *arr = cJSON_AddArrayToObject(s, "fields");
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		cJSON *f = field_schema(fields[i][0], NULL, fields[i][1][0] == '1', fields[i][2]);
		if (!strcmp(fields[i][2], "snapshot")) {
			cJSON_DeleteItemFromObject(f, "field");
			cJSON_AddStringToObject(f, "name", "io.debezium.data.Enum");
			cJSON_AddNumberToObject(f, "version", 1);
			cJSON *par = cJSON_AddObjectToObject(f, "parameters");
			cJSON_AddStringToObject(par, "allowed", "true,last,false,incremental");
			cJSON_AddStringToObject(f, "default", "false");
			cJSON_AddStringToObject(f, "field", "snapshot");
		}
		cJSON_AddItemToArray(arr, f);
	}
	cJSON_AddBoolToObject(s, "optional", 0);
	cJSON_AddStringToObject(s, "name", "io.debezium.connector.postgresql.Source");
	cJSON_AddStringToObject(s, "field", "source");
	return s;
}

static cJSON *envelope_schema(const nb_change *c)
{
	nb_buf name;
	nb_buf_init(&name);
	const nb_tuple *cols = c->has_after ? &c->after : c->has_before ? &c->before : NULL;
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "type", "struct");
	cJSON *fields = cJSON_AddArrayToObject(s, "fields");
	record_name(&name, c, "Value");
	cJSON_AddItemToArray(fields, struct_schema(cols, 0, 1, name.data, "before"));
	cJSON_AddItemToArray(fields, struct_schema(cols, 0, 1, name.data, "after"));
	cJSON_AddItemToArray(fields, source_schema());
	cJSON_AddItemToArray(fields, field_schema("string", NULL, 0, "op"));
	cJSON_AddItemToArray(fields, field_schema("int64", NULL, 1, "ts_ms"));
	cJSON_AddBoolToObject(s, "optional", 0);
	record_name(&name, c, "Envelope");
	cJSON_AddStringToObject(s, "name", name.data);
	nb_buf_done(&name);
	return s;
}

/* Wraps the payload held by b as {"schema":…,"payload":…} when schema is given. */
static char *finish(nb_buf *b, cJSON *schema)
{
	if (!schema)
		return nb_buf_steal(b);
	nb_buf w;
	nb_buf_init(&w);
	nb_buf_reserve(&w, b->len + 4096);
	nb_buf_puts(&w, "{\"schema\":");
	nb_json_write(&w, schema);
	nb_buf_puts(&w, ",\"payload\":");
	nb_buf_append(&w, b->data, b->len);
	nb_buf_putc(&w, '}');
	cJSON_Delete(schema);
	nb_buf_done(b);
	return nb_buf_steal(&w);
}

char *nb_debezium_value(const nb_change *c, int with_schema, nb_err *err)
{
	if (!c->op || !strchr("rcudt", c->op))
		return nb_err_set(err, NB_EINPUT, "change op '%c' is not one of r, c, u, d, t",
				  c->op),
		       NULL;
	nb_buf b;
	nb_buf_init(&b);
	nb_buf_reserve(&b, 1024);
	nb_buf_puts(&b, "{\"before\":");
	int rc = 0;
	if (c->has_before)
		rc = put_tuple(&b, &c->before, 0, err);
	else
		nb_buf_puts(&b, "null");
	nb_buf_puts(&b, ",\"after\":");
	if (!rc && c->has_after)
		rc = put_tuple(&b, &c->after, 0, err);
	else
		nb_buf_puts(&b, "null");
	if (rc) {
		nb_buf_done(&b);
		return NULL;
	}
	nb_buf_puts(&b, ",\"source\":");
	put_source(&b, c);
	char op[] = ",\"op\":\"x\",\"ts_ms\":";
	op[7] = c->op;
	nb_buf_puts(&b, op);
	put_i64(&b, c->ts_ms);
	nb_buf_putc(&b, '}');
	return finish(&b, with_schema ? envelope_schema(c) : NULL);
}

static int tuple_has_key(const nb_tuple *t)
{
	for (int i = 0; i < t->n; i++)
		if (t->cols[i].is_key)
			return 1;
	return 0;
}

char *nb_debezium_key(const nb_change *c, int with_schema, nb_err *err)
{
	const nb_tuple *t = NULL;
	if (c->has_after && tuple_has_key(&c->after))
		t = &c->after;
	else if (c->has_before && tuple_has_key(&c->before))
		t = &c->before;
	if (!t)
		return nb_err_set(err, NB_EINPUT, "table %s.%s: the change carries no key column",
				  str_or(c->schema, "?"), str_or(c->table, "?")),
		       NULL;
	nb_buf b;
	nb_buf_init(&b);
	if (put_tuple(&b, t, 1, err)) {
		nb_buf_done(&b);
		return NULL;
	}
	cJSON *schema = NULL;
	if (with_schema) {
		nb_buf name;
		nb_buf_init(&name);
		record_name(&name, c, "Key");
		schema = struct_schema(t, 1, 0, name.data, NULL);
		nb_buf_done(&name);
	}
	return finish(&b, schema);
}

/* ------------------------------------------------------------------- parse */

static const char *get_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t get_int(const cJSON *o, const char *k, int64_t dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : dflt;
}

/* The "fields" array of the struct field named field inside schema. */
static const cJSON *schema_fields_of(const cJSON *schema, const char *field)
{
	const cJSON *fields = cJSON_GetObjectItemCaseSensitive(schema, "fields");
	const cJSON *f;
	cJSON_ArrayForEach(f, fields)
	{
		const char *name = get_str(f, "field");
		if (name && !strcmp(name, field))
			return cJSON_GetObjectItemCaseSensitive(f, "fields");
	}
	return NULL;
}

static void apply_schema(nb_col *col, const cJSON *fields)
{
	const cJSON *f;
	cJSON_ArrayForEach(f, fields)
	{
		const char *name = get_str(f, "field");
		if (!name || strcmp(name, col->name))
			continue;
		const char *type = get_str(f, "type"), *sem = get_str(f, "name");
		nb_change_set(&col->dbz_type, type);
		nb_change_set(&col->dbz_name, sem);
		col->type_oid = schema_oid(type, sem);
		return;
	}
}

/* Moves the members of obj into t (obj is consumed member by member). */
static int parse_tuple(cJSON *obj, const cJSON *schema_fields, nb_tuple *t, int is_key,
		       const char *what, nb_err *err)
{
	if (!cJSON_IsObject(obj))
		return nb_err_set(err, NB_EINPUT, "\"%s\" is neither an object nor null", what);
	while (obj->child) {
		cJSON *v = cJSON_DetachItemViaPointer(obj, obj->child);
		nb_col *col = nb_tuple_add(t, v->string, 0, NULL);
		col->is_key = is_key;
		col->json = v;
		col->toast_unchanged =
		    cJSON_IsString(v) && !strcmp(v->valuestring, NB_DEBEZIUM_UNAVAILABLE);
		if (schema_fields)
			apply_schema(col, schema_fields);
	}
	return 0;
}

static int parse_source(const cJSON *src, nb_change *out, nb_err *err)
{
	if (!cJSON_IsObject(src))
		return nb_err_set(err, NB_EINPUT, "the envelope has no \"source\" object");
	const char *table = get_str(src, "table");
	if (!table)
		return nb_err_set(err, NB_EINPUT, "\"source.table\" is missing or not a string");
	nb_change_set(&out->table, table);
	nb_change_set(&out->schema, get_str(src, "schema"));
	nb_change_set(&out->source.version, get_str(src, "version"));
	nb_change_set(&out->source.name, get_str(src, "name"));
	nb_change_set(&out->source.db, get_str(src, "db"));
	const cJSON *snap = cJSON_GetObjectItemCaseSensitive(src, "snapshot");
	if (cJSON_IsString(snap))
		nb_change_set(&out->source.snapshot, snap->valuestring);
	else if (cJSON_IsBool(snap))
		nb_change_set(&out->source.snapshot, cJSON_IsTrue(snap) ? "true" : "false");
	out->source.tx_id = get_int(src, "txId", -1);
	out->source.lsn = (uint64_t)get_int(src, "lsn", 0);
	out->source.ts_ms = get_int(src, "ts_ms", 0);
	if (!out->source.ts_ms) /* Debezium 0.9 */
		out->source.ts_ms = get_int(src, "ts_usec", 0) / 1000;
	return 0;
}

/* Splits a value into (schema, payload); sets *tomb for a null payload. */
static cJSON *unwrap(cJSON *root, const cJSON **schema, int *wrapped)
{
	*schema = NULL;
	*wrapped = 0;
	if (cJSON_IsObject(root) && cJSON_HasObjectItem(root, "payload") &&
	    !cJSON_HasObjectItem(root, "op")) {
		*wrapped = 1;
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "schema");
		*schema = cJSON_IsObject(s) ? s : NULL;
		return cJSON_GetObjectItemCaseSensitive(root, "payload");
	}
	return root;
}

static int blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char)s[i]))
			return 0;
	return 1;
}

static int parse_payload(cJSON *p, const cJSON *schema, nb_change *out, nb_err *err)
{
	if (!cJSON_IsObject(p))
		return nb_err_set(err, NB_EINPUT, "the envelope payload is not a JSON object");
	const char *op = get_str(p, "op");
	if (!op || strlen(op) != 1 || !strchr("rcudt", op[0]))
		return nb_err_set(err, NB_EINPUT, "\"op\" is %s%s%s, expected one of r, c, u, d, t",
				  op ? "\"" : "", op ? op : "missing", op ? "\"" : "");
	out->op = op[0];
	out->ts_ms = get_int(p, "ts_ms", 0);
	if (parse_source(cJSON_GetObjectItemCaseSensitive(p, "source"), out, err))
		return -1;
	static const char *const names[2] = {"before", "after"};
	for (int i = 0; i < 2; i++) {
		cJSON *t = cJSON_GetObjectItemCaseSensitive(p, names[i]);
		if (!t || cJSON_IsNull(t))
			continue;
		nb_tuple *dst = i ? &out->after : &out->before;
		if (parse_tuple(t, schema ? schema_fields_of(schema, names[i]) : NULL, dst, 0,
				names[i], err))
			return -1;
		*(i ? &out->has_after : &out->has_before) = 1;
	}
	if ((out->op == 'c' || out->op == 'r' || out->op == 'u') && !out->has_after)
		return nb_err_set(err, NB_EINPUT, "op \"%c\" without an \"after\" row", out->op);
	if (out->op == 'd' && !out->has_before)
		return nb_err_set(err, NB_EINPUT, "op \"d\" without a \"before\" row");
	return 0;
}

int nb_debezium_parse(const char *json, size_t len, nb_change *out, nb_err *err)
{
	nb_change_done(out);
	if (!json || blank(json, len)) {
		out->tombstone = 1;
		return 0;
	}
	cJSON *root = cJSON_ParseWithLength(json, len);
	if (!root)
		return nb_err_set(err, NB_EINPUT, "the Kafka value is not valid JSON (%zu bytes)",
				  len);
	const cJSON *schema;
	int wrapped;
	cJSON *p = unwrap(root, &schema, &wrapped);
	int rc = 0;
	if (!p || cJSON_IsNull(p)) {
		out->tombstone = 1;
	} else {
		out->with_schema = wrapped;
		rc = parse_payload(p, schema, out, err);
		if (rc) {
			nb_change_done(out);
		}
	}
	cJSON_Delete(root);
	return rc;
}

int nb_debezium_parse_key(const char *json, size_t len, nb_tuple *out, nb_err *err)
{
	nb_tuple_done(out);
	if (!json || blank(json, len))
		return nb_err_set(err, NB_EINPUT, "the Kafka key is empty");
	cJSON *root = cJSON_ParseWithLength(json, len);
	if (!root)
		return nb_err_set(err, NB_EINPUT, "the Kafka key is not valid JSON (%zu bytes)",
				  len);
	const cJSON *schema;
	int wrapped;
	cJSON *p = unwrap(root, &schema, &wrapped);
	int rc = parse_tuple(p, schema ? cJSON_GetObjectItemCaseSensitive(schema, "fields") : NULL,
			     out, 1, "key", err);
	cJSON_Delete(root);
	if (rc)
		nb_tuple_done(out);
	return rc;
}

/* --------------------------------------------------------------- accessors */

static int col_absent(const nb_col *c)
{
	return !c->json || cJSON_IsNull(c->json) || c->toast_unchanged;
}

static int sem_is(const nb_col *c, const char *name)
{
	return c->dbz_name && !strcmp(c->dbz_name, name);
}

int nb_debezium_col_epoch_us(const nb_col *c, int64_t *us, nb_err *err)
{
	if (col_absent(c))
		return 1;
	const cJSON *v = c->json;
	if (cJSON_IsString(v)) {
		if (nb_pg_parse_timestamp(v->valuestring, us, NULL))
			return nb_err_set(err, NB_EINPUT,
					  "column %s: \"%s\" is not an ISO-8601 timestamp", c->name,
					  v->valuestring);
		return 0;
	}
	if (!cJSON_IsNumber(v))
		return nb_err_set(err, NB_EINPUT,
				  "column %s: a timestamp must be a string or a number", c->name);
	double d = v->valuedouble;
	if (sem_is(c, "io.debezium.time.Timestamp") ||
	    sem_is(c, "org.apache.kafka.connect.data.Timestamp"))
		d *= 1000;
	else if (sem_is(c, "io.debezium.time.NanoTimestamp"))
		d /= 1000;
	else if (sem_is(c, "io.debezium.time.Date") ||
		 sem_is(c, "org.apache.kafka.connect.data.Date"))
		d *= (double)US_PER_DAY;
	*us = (int64_t)llround(d);
	return 0;
}

int nb_debezium_col_days(const nb_col *c, int32_t *days, nb_err *err)
{
	if (col_absent(c))
		return 1;
	if (cJSON_IsNumber(c->json) && !sem_is(c, "io.debezium.time.MicroTimestamp") &&
	    !sem_is(c, "io.debezium.time.Timestamp") &&
	    !sem_is(c, "io.debezium.time.NanoTimestamp")) {
		*days = (int32_t)c->json->valuedouble;
		return 0;
	}
	int64_t us;
	if (nb_debezium_col_epoch_us(c, &us, err))
		return -1;
	*days = (int32_t)floor_div(us, US_PER_DAY);
	return 0;
}

int nb_debezium_col_int(const nb_col *c, int64_t *v, nb_err *err)
{
	if (col_absent(c))
		return 1;
	if (cJSON_IsNumber(c->json)) {
		*v = (int64_t)c->json->valuedouble;
		return 0;
	}
	if (cJSON_IsBool(c->json)) {
		*v = cJSON_IsTrue(c->json);
		return 0;
	}
	if (cJSON_IsString(c->json)) {
		char *end;
		errno = 0;
		long long x = strtoll(c->json->valuestring, &end, 10);
		if (end != c->json->valuestring && !*end && !errno) {
			*v = x;
			return 0;
		}
	}
	return nb_err_set(err, NB_EINPUT, "column %s: value is not an integer", c->name);
}

int nb_debezium_col_double(const nb_col *c, double *v, nb_err *err)
{
	if (col_absent(c))
		return 1;
	if (cJSON_IsNumber(c->json)) {
		*v = c->json->valuedouble;
		return 0;
	}
	if (cJSON_IsString(c->json)) {
		char *end;
		double x = strtod(c->json->valuestring, &end);
		if (end != c->json->valuestring && !*end) {
			*v = x;
			return 0;
		}
	}
	return nb_err_set(err, NB_EINPUT, "column %s: value is not a number", c->name);
}

int nb_debezium_col_bool(const nb_col *c, int *v, nb_err *err)
{
	if (col_absent(c))
		return 1;
	if (cJSON_IsBool(c->json)) {
		*v = cJSON_IsTrue(c->json);
		return 0;
	}
	if (cJSON_IsNumber(c->json)) {
		*v = c->json->valuedouble != 0;
		return 0;
	}
	return nb_err_set(err, NB_EINPUT, "column %s: value is not a boolean", c->name);
}

int nb_debezium_col_text(const nb_col *c, char **out, nb_err *err)
{
	(void)err;
	if (col_absent(c))
		return 1;
	const cJSON *v = c->json;
	if (cJSON_IsString(v)) {
		*out = nb_xstrdup(v->valuestring);
	} else if (cJSON_IsBool(v)) {
		*out = nb_xstrdup(cJSON_IsTrue(v) ? "true" : "false");
	} else {
		*out = nb_json_print(v);
	}
	return 0;
}
