/* sink/values.c — one Debezium column value → one TSV cell, as the
 * ClickHouse column's type says (numbers, dates, times, arrays, defaults). */
#include "map.h"
#include "neonblue/ch.h"

#include <inttypes.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int sink_map_is_unavailable(const nb_col *c)
{
	return c && c->json && cJSON_IsString(c->json) &&
	       !strcmp(c->json->valuestring, NB_DEBEZIUM_UNAVAILABLE);
}

/* 17 significant digits: ClickHouse 18.16 reads shorter forms of some
 * doubles one ulp off (3.72 becomes 3.7199999999999998), never these. */
void sink_map_float(nb_buf *b, double v)
{
	if (isnan(v))
		nb_buf_puts(b, "nan");
	else if (isinf(v))
		nb_buf_puts(b, v > 0 ? "inf" : "-inf");
	else
		nb_buf_printf(b, "%.17g", v);
}

/* Decimal digits of v, zero-padded to width (printf is too slow here). */
void sink_map_u64(nb_buf *b, uint64_t v, int width)
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
		sink_map_u64(b, (uint64_t)0 - (uint64_t)v, 0);
	} else {
		sink_map_u64(b, (uint64_t)v, 0);
	}
}

/* A DateTime field: µs since epoch → 10-digit seconds, clamped to its range. */
void sink_map_datetime(nb_buf *b, int64_t us)
{
	int64_t sec = us >= 0 ? us / 1000000 : 0;
	sink_map_u64(b, (uint64_t)(sec > (int64_t)4294967295 ? (int64_t)4294967295 : sec), 10);
}

/* 1 when x fits the ClickHouse integer column col (Int8 … UInt64). */
int sink_map_int_fits(const nb_sink_col *col, int64_t x)
{
	if (col->type == NB_SINK_UINT)
		return x >= 0 && (col->bits >= 64 || x < ((int64_t)1 << col->bits));
	if (col->bits >= 64)
		return 1;
	int64_t lim = (int64_t)1 << (col->bits - 1);
	return x >= -lim && x < lim;
}

/* 1 when s[0..n) is a UUID as ClickHouse reads it: 8-4-4-4-12 hex digits. */
int sink_map_uuid_ok(const char *s, size_t n)
{
	if (n != 36)
		return 0;
	for (size_t i = 0; i < 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;
		char c = s[i];
		int hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		if (dash ? c != '-' : !hex)
			return 0;
	}
	return 1;
}

/* An integer for col: booleans only into UInt8 (PostgreSQL boolean), and
 * only values within the column's range. */
static int map_int(const nb_sink_col *col, const nb_col *v, int64_t *out, nb_err *err)
{
	if (cJSON_IsBool(v->json) && !(col->type == NB_SINK_UINT && col->bits == 8))
		return nb_err_set(err, NB_EINPUT, "column %s: %s is not an integer", v->name,
				  cJSON_IsTrue(v->json) ? "true" : "false");
	int rc = nb_debezium_col_int(v, out, err);
	if (rc == 0 && !sink_map_int_fits(col, *out))
		return nb_err_set(err, NB_EINPUT, "column %s: %" PRId64 " is out of the range of %s",
				  v->name, *out, col->ch_type);
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
		sink_map_float(b, d);
		return 0;
	}
	if (cJSON_IsNumber(e)) {
		if (type == NB_SINK_STRING)
			nb_buf_putc(b, '\'');
		if (e->valuedouble == floor(e->valuedouble) && fabs(e->valuedouble) < 9.2e18)
			nb_buf_printf(b, "%lld", (long long)e->valuedouble);
		else
			sink_map_float(b, e->valuedouble);
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
void sink_map_default(nb_buf *b, const nb_sink_col *col)
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
int sink_map_value(nb_buf *b, const nb_sink_col *col, const nb_col *v, nb_err *err)
{
	int rc;
	switch (col->type) {
	case NB_SINK_STRING: {
		if (col->uuid && cJSON_IsString(v->json) && !sink_map_is_unavailable(v) &&
		    !sink_map_uuid_ok(v->json->valuestring, strlen(v->json->valuestring)))
			return nb_err_set(err, NB_EINPUT, "column %s: \"%.60s\" is not a UUID",
					  col->name, v->json->valuestring);
		if (col->uuid && !cJSON_IsString(v->json) && !cJSON_IsNull(v->json))
			return nb_err_set(err, NB_EINPUT, "column %s: a UUID must be a string",
					  col->name);
		if (cJSON_IsString(v->json) && !sink_map_is_unavailable(v)) { /* as it is, no copy */
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
		rc = map_int(col, v, &x, err);
		if (rc == 0)
			map_i64(b, x);
		return rc;
	}
	case NB_SINK_FLOAT: {
		double x;
		rc = nb_debezium_col_double(v, &x, err);
		if (rc == 0)
			sink_map_float(b, x);
		return rc;
	}
	case NB_SINK_DATETIME: {
		int64_t us;
		rc = nb_debezium_col_epoch_us(v, &us, err);
		if (rc == 0)
			sink_map_datetime(b, us);
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
