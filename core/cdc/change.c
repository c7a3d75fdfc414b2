/* cdc/change.c — the row change (nb_change, nb_tuple, nb_col) both sides of
 * the Debezium envelope use, and the LSN and date/time text helpers shared by
 * the renderer (cdc/render.c), the parser (cdc/parse.c) and the relay. */
#include "change.h"
#include "neonblue/base.h"
#include "neonblue/cdc.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ----------------------------------------------------------- time helpers */

int64_t nb_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void cdc_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
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

int64_t cdc_floor_div(int64_t a, int64_t b)
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

int cdc_parse_date_part(const char **p, int64_t *days)
{
	int64_t y, mo, d;
	if (read_digits(p, 0, &y) || **p != '-')
		return -1;
	(*p)++;
	if (read_digits(p, 2, &mo) || **p != '-')
		return -1;
	(*p)++;
	/* 294276: PostgreSQL's last year; larger ones would overflow the µs */
	if (read_digits(p, 2, &d) || mo < 1 || mo > 12 || d < 1 || y > 294276)
		return -1;
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap)) /* 2026-02-30 */
		return -1;
	*days = nb_days_from_civil(y, (unsigned)mo, (unsigned)d);
	return 0;
}

/* "HH:MM[:SS[.ffffff]]" → µs since midnight. */
int cdc_parse_time_part(const char **p, int64_t *us)
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
			int k = 0, up = 0;
			while (isdigit((unsigned char)**p)) {
				if (k < 6)
					frac = frac * 10 + (**p - '0');
				else if (k == 6)
					up = **p >= '5'; /* nanoseconds: to the nearest µs, as
							    PostgreSQL reads them */
				k++;
				(*p)++;
			}
			if (k == 0)
				return -1;
			for (; k < 6; k++)
				frac *= 10;
			frac += up;
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
	if (cdc_parse_date_part(&p, &days))
		return -1;
	if (*p == ' ' || *p == 'T' || *p == 't') {
		p++;
		if (cdc_parse_time_part(&p, &tod))
			return -1;
	}
	if (*p) {
		if (parse_offset(&p, &off))
			return -1;
		tz = 1;
	}
	if (*p)
		return -1;
	int64_t t;
	if (__builtin_mul_overflow(days, US_PER_DAY, &t) || __builtin_add_overflow(t, tod, &t) ||
	    __builtin_sub_overflow(t, off * 1000000, &t))
		return -1;
	*us = t;
	if (has_tz)
		*has_tz = tz;
	return 0;
}

void nb_format_iso_utc(int64_t us, char out[48])
{
	int64_t days = cdc_floor_div(us, US_PER_DAY);
	int64_t rem = us - days * US_PER_DAY;
	int64_t y;
	unsigned m, d;
	cdc_civil_from_days(days, &y, &m, &d);
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

/* -------------------------------------------------------------------- LSN */

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
