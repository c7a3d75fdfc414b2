/* pg/events.c — event validation (the fields of `track` and `ingest` lines)
 * and the all-or-nothing COPY loader into the partitioned events table. */
#include "neonblue/pg.h"
#include "neonblue/base.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Timestamps outside these years are refused (partitions are monthly). */
#define EV_YEAR_MIN 1970
#define EV_YEAR_MAX 2199

void nb_pg_event_done(nb_pg_event *ev)
{
	if (!ev)
		return;
	free(ev->user_id);
	free(ev->type);
	free(ev->properties);
	free(ev->experiment);
	memset(ev, 0, sizeof *ev);
}

void nb_pg_event_uuid(char out[37])
{
	unsigned char b[16];
	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
		/* never expected on Linux; fall back to a time-seeded generator */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		srandom((unsigned)(ts.tv_nsec ^ ts.tv_sec));
		for (int i = 0; i < 16; i++)
			b[i] = (unsigned char)random();
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	static const char hex[] = "0123456789abcdef";
	int k = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[k++] = '-';
		out[k++] = hex[b[i] >> 4];
		out[k++] = hex[b[i] & 15];
	}
	out[k] = '\0';
}

/* 8-4-4-4-12 hex digits → lowercase copy in out. */
static int ev_uuid_ok(const char *s, char out[37])
{
	if (strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return 0;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[36] = '\0';
	return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static long ev_days(int y, int m, int d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int ev_mdays(int y, int m)
{
	static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : md[m - 1];
}

/* Reads exactly n digits. */
static int ev_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int nb_pg_event_parse_ts(const char *s, double *epoch)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0;
	long us = 0;
	if (ev_digits(&p, 4, &y) || *p++ != '-' || ev_digits(&p, 2, &mo) || *p++ != '-' ||
	    ev_digits(&p, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > ev_mdays(y, mo))
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (ev_digits(&p, 2, &h) || *p++ != ':' || ev_digits(&p, 2, &mi))
			return -1;
		if (*p == ':') {
			p++;
			if (ev_digits(&p, 2, &sec))
				return -1;
			if (*p == '.' || *p == ',') {
				p++;
				int nd = 0;
				long scale = 100000;
				while (isdigit((unsigned char)*p)) {
					if (nd++ < 6) {
						us += (*p - '0') * scale;
						scale /= 10;
					}
					p++;
				}
				if (!nd)
					return -1;
			}
		}
		if (h > 23 || mi > 59 || sec > 59)
			return -1;
	}
	long off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
		if (ev_digits(&p, 2, &oh))
			return -1;
		if (*p == ':')
			p++;
		if (isdigit((unsigned char)*p) && ev_digits(&p, 2, &om))
			return -1;
		if (oh > 18 || om > 59)
			return -1;
		off = sign * (oh * 3600L + om * 60L);
	}
	if (*p)
		return -1;
	double t = (double)(ev_days(y, mo, d) * 86400L + h * 3600L + mi * 60L + sec - off);
	int yr = y;
	if (yr < EV_YEAR_MIN || yr > EV_YEAR_MAX)
		return -1;
	*epoch = t + us / 1e6;
	return 0;
}

void nb_pg_event_format_ts(double epoch, char *out, size_t n)
{
	double whole = floor(epoch);
	long long us = llround((epoch - whole) * 1e6);
	long long secs = (long long)whole;
	if (us >= 1000000) {
		secs++;
		us -= 1000000;
	}
	time_t t = (time_t)secs;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
}

static const char *const ev_fields[] = {"event_id", "user_id",    "type",      "ts",
					"value",    "properties", "experiment", NULL};

static int ev_slug_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return 0;
	for (; *s; s++) {
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' ||
		      *s == '-'))
			return 0;
	}
	return 1;
}

static int ev_check_fields(const cJSON *j, nb_err *err)
{
	for (const cJSON *c = j->child; c; c = c->next) {
		int known = 0;
		for (int i = 0; ev_fields[i]; i++)
			known |= !strcmp(c->string, ev_fields[i]);
		if (!known)
			return nb_err_set(err, NB_EINPUT,
					  "unknown field \"%s\" (fields: event_id, user_id, type, "
					  "ts, value, properties, experiment)",
					  c->string);
	}
	return 0;
}

static int ev_string(const cJSON *j, const char *field, int required, char **out, nb_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, field);
	if (!v || cJSON_IsNull(v)) {
		if (required)
			return nb_err_set(err, NB_EINPUT, "%s is missing", field);
		return 0;
	}
	if (!cJSON_IsString(v))
		return nb_err_set(err, NB_EINPUT, "%s must be a string", field);
	if (!v->valuestring[0])
		return nb_err_set(err, NB_EINPUT, "%s must not be empty", field);
	if (!nb_utf8_valid(v->valuestring))
		return nb_err_set(err, NB_EINPUT, "%s is not valid UTF-8", field);
	*out = nb_xstrdup(v->valuestring);
	return 0;
}

static int ev_ts(const cJSON *j, nb_pg_event *out, nb_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "ts");
	if (!v || cJSON_IsNull(v)) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		out->epoch = (double)now.tv_sec + (double)(now.tv_nsec / 1000) / 1e6;
	} else if (!cJSON_IsString(v)) {
		return nb_err_set(err, NB_EINPUT, "ts must be an ISO-8601 string");
	} else if (nb_pg_event_parse_ts(v->valuestring, &out->epoch) < 0) {
		return nb_err_set(err, NB_EINPUT,
				  "ts \"%.60s\" is not an ISO-8601 timestamp between %d and %d",
				  v->valuestring, EV_YEAR_MIN, EV_YEAR_MAX);
	}
	nb_pg_event_format_ts(out->epoch, out->ts, sizeof out->ts);
	return 0;
}

int nb_pg_event_from_json(const cJSON *j, nb_pg_event *out, nb_err *err)
{
	memset(out, 0, sizeof *out);
	if (!cJSON_IsObject(j))
		return nb_err_set(err, NB_EINPUT, "an event must be a JSON object");
	if (ev_check_fields(j, err) < 0)
		goto fail;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "event_id");
	if (!id || cJSON_IsNull(id)) {
		nb_pg_event_uuid(out->event_id);
	} else if (!cJSON_IsString(id) || !ev_uuid_ok(id->valuestring, out->event_id)) {
		nb_err_set(err, NB_EINPUT, "event_id must be a uuid (8-4-4-4-12 hex digits)");
		goto fail;
	}
	if (ev_string(j, "user_id", 1, &out->user_id, err) < 0 ||
	    ev_string(j, "type", 1, &out->type, err) < 0 ||
	    ev_string(j, "experiment", 0, &out->experiment, err) < 0 || ev_ts(j, out, err) < 0)
		goto fail;
	if (out->experiment && !ev_slug_ok(out->experiment)) {
		nb_err_set(err, NB_EINPUT, "experiment \"%.64s\" is not a key ([a-z0-9_-]{1,64})",
			   out->experiment);
		goto fail;
	}
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "value");
	if (v && !cJSON_IsNull(v)) {
		if (!cJSON_IsNumber(v)) {
			nb_err_set(err, NB_EINPUT, "value must be a number");
			goto fail;
		}
		out->has_value = 1;
		out->value = v->valuedouble;
	}
	const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "properties");
	if (pr && !cJSON_IsNull(pr)) {
		if (!cJSON_IsObject(pr)) {
			nb_err_set(err, NB_EINPUT, "properties must be a JSON object");
			goto fail;
		}
		out->properties = cJSON_PrintUnformatted(pr);
		if (!nb_utf8_valid(out->properties)) {
			nb_err_set(err, NB_EINPUT, "properties is not valid UTF-8");
			goto fail;
		}
	}
	return 0;
fail:
	nb_pg_event_done(out);
	return -1;
}

/* ---- loading ---- */

/* Appends s in COPY text format (backslash escapes). */
static void ev_copy_text(nb_buf *b, const char *s)
{
	if (!s) {
		nb_buf_puts(b, "\\N");
		return;
	}
	const char *run = s;
	for (; *s; s++) {
		const char *esc = NULL;
		switch (*s) {
		case '\\':
			esc = "\\\\";
			break;
		case '\t':
			esc = "\\t";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		}
		if (esc) {
			nb_buf_append(b, run, (size_t)(s - run));
			nb_buf_puts(b, esc);
			run = s + 1;
		}
	}
	nb_buf_append(b, run, (size_t)(s - run));
}

static void ev_copy_row(nb_buf *b, const nb_pg_event *ev)
{
	nb_buf_puts(b, ev->event_id);
	nb_buf_putc(b, '\t');
	ev_copy_text(b, ev->user_id);
	nb_buf_putc(b, '\t');
	ev_copy_text(b, ev->type);
	nb_buf_putc(b, '\t');
	nb_buf_puts(b, ev->ts);
	nb_buf_putc(b, '\t');
	if (ev->has_value)
		nb_buf_printf(b, "%.17g", ev->value);
	else
		nb_buf_puts(b, "\\N");
	nb_buf_putc(b, '\t');
	ev_copy_text(b, ev->properties);
	nb_buf_putc(b, '\t');
	ev_copy_text(b, ev->experiment);
	nb_buf_putc(b, '\n');
}

/* ---- the loader ---- */

/* A set of 16-byte uuids (open addressing), for event_ids seen in this load. */
struct ev_set {
	unsigned char (*keys)[16];
	char *used;
	size_t cap, len;
	size_t first_cap; /* the table's first size (0: 65,536) */
};

static void ev_uuid_bytes(const char *s, unsigned char out[16])
{
	int k = 0;
	for (int i = 0; s[i] && k < 32; i++) {
		if (s[i] == '-')
			continue;
		int v = isdigit((unsigned char)s[i]) ? s[i] - '0' : tolower((unsigned char)s[i]) - 'a' + 10;
		if (k % 2)
			out[k / 2] |= (unsigned char)v;
		else
			out[k / 2] = (unsigned char)(v << 4);
		k++;
	}
}

static size_t ev_set_slot(const struct ev_set *set, const unsigned char key[16])
{
	uint64_t h;
	memcpy(&h, key, sizeof h); /* uuids are random enough; v4 bits are further in */
	h ^= h >> 29;
	h *= 0x9e3779b97f4a7c15ull;
	size_t i = (size_t)(h >> 7) & (set->cap - 1);
	while (set->used[i] && memcmp(set->keys[i], key, 16))
		i = (i + 1) & (set->cap - 1);
	return i;
}

/* Adds key; returns 1 if it was already there. */
static int ev_set_add(struct ev_set *set, const unsigned char key[16])
{
	if (2 * (set->len + 1) > set->cap) {
		struct ev_set big = {.cap = set->cap ? set->cap * 2 : set->first_cap ? set->first_cap : 1 << 16};
		big.keys = nb_xmalloc(big.cap * 16);
		big.used = nb_xcalloc(big.cap, 1);
		for (size_t i = 0; i < set->cap; i++) {
			if (set->used[i]) {
				size_t j = ev_set_slot(&big, set->keys[i]);
				memcpy(big.keys[j], set->keys[i], 16);
				big.used[j] = 1;
				big.len++;
			}
		}
		free(set->keys);
		free(set->used);
		*set = big;
	}
	size_t i = ev_set_slot(set, key);
	if (set->used[i])
		return 1;
	memcpy(set->keys[i], key, 16);
	set->used[i] = 1;
	set->len++;
	return 0;
}

struct nb_pg_events_loader {
	PGconn *conn;          /* the transaction and its COPY */
	PGconn *aux;           /* lookups and partitions (autocommit); may be conn */
	struct ev_set seen;
	int copy_open;         /* a COPY on conn is taking rows */
	int wrote;             /* conn has started a COPY into events */
	double part_lo, part_hi; /* the range whose partitions exist (lo > hi: none) */
	nb_pg_load_stats st;
	int failed;
};

static int ev_copy_error(PGconn *conn, const char *what, nb_err *err)
{
	return nb_err_set(err, NB_ESERVER, "COPY of events failed (%s): %s", what,
			  PQerrorMessage(conn));
}

static int ev_copy_start(nb_pg_events_loader *l, nb_err *err)
{
	if (l->copy_open)
		return 0;
	PGresult *r = PQexec(l->conn, "COPY events (event_id, user_id, type, ts, value,"
				      " properties, experiment) FROM STDIN");
	int ok = PQresultStatus(r) == PGRES_COPY_IN;
	PQclear(r);
	if (!ok)
		return ev_copy_error(l->conn, "start", err);
	l->copy_open = 1;
	l->wrote = 1;
	return 0;
}

/* Ends the open COPY (if any) and reads its result. */
static int ev_copy_end(nb_pg_events_loader *l, int abort_it, nb_err *err)
{
	if (!l->copy_open)
		return 0;
	l->copy_open = 0;
	int rc = 0;
	if (PQputCopyEnd(l->conn, abort_it ? "aborted by neonblue" : NULL) != 1)
		rc = ev_copy_error(l->conn, "end", err);
	PGresult *r;
	while ((r = PQgetResult(l->conn))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0 && !abort_it)
			rc = nb_err_set(err, NB_ESERVER, "COPY of events failed: %s",
					PQresultErrorMessage(r));
		PQclear(r);
	}
	return rc;
}

/* Streams the rows selected by keep into the COPY open on conn; the server
 * works on them while the caller reads the next batch. */
static int ev_copy_put(PGconn *conn, const nb_pg_event *evs, size_t n, const char *keep,
		       nb_err *err)
{
	nb_buf b;
	nb_buf_init(&b);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (keep[i])
			ev_copy_row(&b, &evs[i]);
		if (b.len >= 256 * 1024 || (i + 1 == n && b.len)) {
			if (PQputCopyData(conn, b.data, (int)b.len) != 1)
				rc = ev_copy_error(conn, "send", err);
			nb_buf_reset(&b);
		}
	}
	nb_buf_done(&b);
	return rc;
}

/* How many months of [from, to] have no events partition yet (read-only). */
static int ev_missing_months(PGconn *conn, const char *from, const char *to, long *missing,
			     nb_err *err)
{
	const char *p[2] = {from, to};
	PGresult *r = nb_pg_exec(
		conn,
		"SELECT count(*) FROM generate_series("
		" date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC'),"
		" date_trunc('month', $2::timestamptz AT TIME ZONE 'UTC'), interval '1 month') m"
		" WHERE to_regclass(format('public.events_y%s', to_char(m, 'YYYY\"m\"MM'))) IS NULL",
		2, p, err);
	if (!r)
		return -1;
	*missing = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

/* Creates missing monthly partitions before rows of new months are sent. A
 * COPY only routes to partitions that existed when it began, so an open COPY
 * is ended first. Creating a partition locks the events table exclusively:
 * before this load has written anything that happens on aux (committed at
 * once); afterwards this transaction already holds a lock on events that the
 * creation would wait for, so it happens here, and the lookups move to this
 * connection too (they would wait for the exclusive lock). */
static int ev_partitions(nb_pg_events_loader *l, const nb_pg_event *evs, size_t n, nb_err *err)
{
	double lo = evs[0].epoch, hi = evs[0].epoch;
	for (size_t i = 1; i < n; i++) {
		if (evs[i].epoch < lo)
			lo = evs[i].epoch;
		if (evs[i].epoch > hi)
			hi = evs[i].epoch;
	}
	if (l->part_lo <= l->part_hi && lo >= l->part_lo && hi <= l->part_hi)
		return 0;
	if (l->part_lo <= l->part_hi) {
		lo = lo < l->part_lo ? lo : l->part_lo;
		hi = hi > l->part_hi ? hi : l->part_hi;
	}
	char from[40], to[40];
	nb_pg_event_format_ts(lo, from, sizeof from);
	nb_pg_event_format_ts(hi, to, sizeof to);
	PGconn *where = l->aux;
	if (l->wrote && l->aux != l->conn) {
		long missing;
		if (ev_missing_months(l->aux, from, to, &missing, err) < 0)
			return -1;
		if (missing) {
			where = l->conn;
			l->aux = l->conn;
		}
	}
	if (where == l->conn && ev_copy_end(l, 0, err) < 0)
		return -1;
	if (nb_pg_ensure_event_partitions(where, from, to, err) < 0)
		return -1;
	l->part_lo = lo;
	l->part_hi = hi;
	return 0;
}

static int ev_cmp_id(const void *a, const void *b, void *evs)
{
	const nb_pg_event *e = evs;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(e[x].event_id, e[y].event_id);
	return c ? c : (x > y) - (x < y);
}

/* Positions of evs sorted by event_id (then position). */
static size_t *ev_sorted_ids(const nb_pg_event *evs, size_t n)
{
	size_t *order = nb_xmalloc(n * sizeof *order);
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof *order, ev_cmp_id, (void *)evs);
	return order;
}

/* Position in order of the first event with this id, or -1. */
static long ev_find(const nb_pg_event *evs, const size_t *order, size_t n, const char *id)
{
	long lo = 0, hi = (long)n - 1, hit = -1;
	while (lo <= hi) {
		long mid = (lo + hi) / 2;
		int c = strcmp(evs[order[mid]].event_id, id);
		if (c < 0) {
			lo = mid + 1;
		} else {
			if (!c)
				hit = mid;
			hi = mid - 1;
		}
	}
	return hit;
}

/* Up to this many ids are looked up one index probe each. */
#define EV_PROBE_MAX 5000

/* keep[i] = 1 (and the id appended to the array literal arr, *rows counted)
 * for the events whose id is not repeated before them in seen. */
static void ev_mark_unseen(struct ev_set *seen, const nb_pg_event *evs, size_t n, char *keep,
			   nb_buf *arr, long *rows)
{
	nb_buf_putc(arr, '{');
	*rows = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char key[16];
		ev_uuid_bytes(evs[i].event_id, key);
		keep[i] = !ev_set_add(seen, key);
		if (!keep[i])
			continue;
		if ((*rows)++)
			nb_buf_putc(arr, ',');
		nb_buf_puts(arr, evs[i].event_id);
	}
	nb_buf_putc(arr, '}');
}

/* The lookup of the ids of an array literal that are stored already: a few
 * ids (a POST of `neonblue serve`, `track`): one index probe per id and
 * partition, however large the table — a join may scan every stored row
 * when statistics lag (an emptied table filled since); many (ingest's
 * batches): the join. */
static const char *ev_lookup_sql(long ids)
{
	return ids <= EV_PROBE_MAX
		       ? "SELECT u.id::text FROM unnest($1::uuid[]) AS u(id) CROSS JOIN LATERAL"
			 " (SELECT 1 FROM events e WHERE e.event_id = u.id LIMIT 1) x"
		       : "SELECT DISTINCT e.event_id::text FROM unnest($1::uuid[]) AS u(id)"
			 " JOIN events e ON e.event_id = u.id";
}

/* The lookup's rows (event_ids stored already) unmarked in keep. */
static void ev_drop_stored(const nb_pg_event *evs, size_t n, char *keep, long *rows,
			   const PGresult *r)
{
	int stored = PQntuples(r);
	size_t *order = stored ? ev_sorted_ids(evs, n) : NULL;
	for (int row = 0; row < stored; row++) {
		long at = ev_find(evs, order, n, PQgetvalue(r, row, 0));
		for (; at >= 0 && (size_t)at < n &&
		       !strcmp(evs[order[at]].event_id, PQgetvalue(r, row, 0));
		     at++) {
			if (keep[order[at]]) {
				keep[order[at]] = 0;
				(*rows)--;
			}
		}
	}
	free(order);
}

/* keep[i] = 1 for events whose id is neither repeated in this load nor stored. */
static int ev_mark_new(nb_pg_events_loader *l, const nb_pg_event *evs, size_t n, char *keep,
		       long *rows, nb_err *err)
{
	nb_buf arr;
	nb_buf_init(&arr);
	ev_mark_unseen(&l->seen, evs, n, keep, &arr, rows);
	int rc = 0;
	if (*rows && l->aux == l->conn)
		rc = ev_copy_end(l, 0, err);
	if (*rows && rc == 0) {
		const char *p[1] = {arr.data};
		PGresult *r = nb_pg_exec(l->aux, ev_lookup_sql(*rows), 1, p, err);
		if (!r)
			rc = -1;
		else
			ev_drop_stored(evs, n, keep, rows, r);
		PQclear(r);
	}
	nb_buf_done(&arr);
	return rc;
}

nb_pg_events_loader *nb_pg_events_loader_begin(PGconn *conn, PGconn *aux, nb_err *err)
{
	/* one round trip: the transaction; bitmap scans off for the lookups'
	 * index probes (the planner picks them for the partitions it believes
	 * empty — never analysed — and each rescan of one asks the kernel for
	 * the relation's size: per event and partition, several times slower);
	 * one loader at a time decides which event_ids are new */
	PGresult *r = PQexec(conn, "BEGIN; SET LOCAL enable_bitmapscan = off;"
				   " SELECT pg_advisory_xact_lock(hashtext('neonblue_events_load'))");
	int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		nb_err_set(err, NB_ESERVER, "events: cannot begin the load: %s",
			   r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
	PQclear(r);
	if (!ok) {
		nb_pg_rollback(conn);
		return NULL;
	}
	nb_pg_events_loader *l = nb_xcalloc(1, sizeof *l);
	l->conn = conn;
	l->aux = aux ? aux : conn;
	l->part_lo = 1;
	l->part_hi = 0;
	return l;
}

int nb_pg_events_loader_add(nb_pg_events_loader *l, const nb_pg_event *evs, size_t n,
			    nb_err *err)
{
	if (l->failed)
		return nb_err_set(err, NB_ESERVER, "the event load already failed");
	for (size_t i = 0; i < n; i += NB_PG_EVENTS_BATCH) {
		size_t k = n - i < NB_PG_EVENTS_BATCH ? n - i : NB_PG_EVENTS_BATCH;
		char *keep = nb_xmalloc(k);
		long rows = 0;
		int rc = ev_partitions(l, evs + i, k, err);
		if (rc == 0)
			rc = ev_mark_new(l, evs + i, k, keep, &rows, err);
		if (rc == 0 && rows) {
			rc = ev_copy_start(l, err);
			if (rc == 0)
				rc = ev_copy_put(l->conn, evs + i, k, keep, err);
		}
		if (rc == 0) {
			l->st.inserted += rows;
			l->st.skipped += (long)k - rows;
		}
		free(keep);
		if (rc < 0) {
			l->failed = 1;
			return -1;
		}
	}
	return 0;
}

int nb_pg_events_loader_finish(nb_pg_events_loader *l, int commit, nb_pg_load_stats *st,
			       nb_err *err)
{
	nb_err local;
	if (!err)
		err = &local;
	int rc = l->failed ? -1 : 0;
	int ok = rc == 0 && commit;
	if (ev_copy_end(l, !ok, ok ? err : &local) < 0)
		rc = -1;
	if (rc == 0 && commit && nb_pg_commit(l->conn, err) < 0)
		rc = -1;
	if (rc < 0 || !commit)
		nb_pg_rollback(l->conn);
	if (st)
		*st = rc == 0 && commit ? l->st : (nb_pg_load_stats){0};
	free(l->seen.keys);
	free(l->seen.used);
	free(l);
	return rc;
}

/* Reads every result of a pipeline of nq statements and its sync: 0, or -1
 * with err naming what[q] of the first that failed. */
static int ev_pipeline_results(PGconn *conn, int nq, const char *const *what, PGresult **keep_q,
			       int keep_at, nb_err *err)
{
	int rc = 0;
	for (int q = 0; q <= nq; q++) {
		PGresult *r;
		int got = 0;
		while ((r = PQgetResult(conn))) {
			ExecStatusType st = PQresultStatus(r);
			got = 1;
			if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_PIPELINE_SYNC &&
			    rc == 0)
				rc = nb_err_set(err, NB_ESERVER, "events: %s failed: %s",
						q < nq ? what[q] : "the sync",
						st == PGRES_PIPELINE_ABORTED ? "aborted"
									     : PQresultErrorMessage(r));
			int sync = st == PGRES_PIPELINE_SYNC;
			if (q == keep_at && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) && !*keep_q)
				*keep_q = r;
			else
				PQclear(r);
			if (sync)
				break;
		}
		if (!got && PQstatus(conn) != CONNECTION_OK) {
			if (rc == 0)
				rc = nb_err_set(err, NB_ESERVER, "events: the connection broke: %s",
						PQerrorMessage(conn));
			break;
		}
	}
	return rc;
}

/* Up to this many new rows are loaded by ev_insert_small (one round trip);
 * more by ev_load_small's COPY (three round trips, less server CPU per row). */
#define EV_INSERT_MAX 256

/* Sends the nq statements (a name: prepared once per connection) in one
 * pipeline with its sync and reads every answer (ev_pipeline_results). */
static int ev_pipeline(PGconn *conn, int nq, const char *const *sql, const char *const *names,
		       const int *np, const char *const *const *params, const char *const *what,
		       PGresult **keep_q, int keep_at, nb_err *err)
{
	for (int q = 0; q < nq; q++)
		if (names[q] && nb_pg_prepare(conn, names[q], sql[q], np[q], err))
			return -1;
	if (PQenterPipelineMode(conn) != 1)
		return nb_err_set(err, NB_ESERVER, "events: cannot enter pipeline mode: %s",
				  PQerrorMessage(conn));
	int sent = 0, rc;
	while (sent < nq &&
	       (names[sent] ? PQsendQueryPrepared(conn, names[sent], np[sent], params[sent], NULL,
						  NULL, 0)
			    : PQsendQueryParams(conn, sql[sent], np[sent], NULL, params[sent], NULL,
						NULL, 0)) == 1)
		sent++;
	if (sent < nq || PQpipelineSync(conn) != 1) {
		rc = nb_err_set(err, NB_ESERVER, "events: cannot send the load: %s",
				PQerrorMessage(conn));
		/* what was sent still answers: read it (a broken connection ends it) */
		if (sent && PQpipelineSync(conn) == 1)
			ev_pipeline_results(conn, sent, what, keep_q, -1, err);
	} else {
		rc = ev_pipeline_results(conn, nq, what, keep_q, keep_at, err);
	}
	PQexitPipelineMode(conn);
	return rc;
}

/* The rows of keep (their event_id new in this group) in one round trip:
 * BEGIN, the loaders' lock, the partitions, an INSERT of those whose
 * event_id is not stored (one index probe each), COMMIT, pipelined. For the
 * serve committer's small groups (single-event POSTs): round trips, not
 * rows, bound them. *rows becomes the count inserted. */
static int ev_insert_small(PGconn *conn, const nb_pg_event *evs, size_t n, const char *keep,
			   const char *const *pp, long *rows, nb_err *err)
{
	nb_buf a[7];
	for (int k = 0; k < 7; k++) {
		nb_buf_init(&a[k]);
		nb_buf_putc(&a[k], '{');
	}
	int first = 1;
	for (size_t i = 0; i < n; i++) {
		if (!keep[i])
			continue;
		const nb_pg_event *e = &evs[i];
		char v[32];
		if (e->has_value)
			snprintf(v, sizeof v, "%.17g", e->value);
		nb_pg_array_elem(&a[0], e->event_id, first);
		nb_pg_array_elem(&a[1], e->user_id, first);
		nb_pg_array_elem(&a[2], e->type, first);
		nb_pg_array_elem(&a[3], e->ts, first);
		nb_pg_array_elem(&a[4], e->has_value ? v : NULL, first);
		nb_pg_array_elem(&a[5], e->properties, first);
		nb_pg_array_elem(&a[6], e->experiment, first);
		first = 0;
	}
	const char *pi[7];
	for (int k = 0; k < 7; k++) {
		nb_buf_putc(&a[k], '}');
		pi[k] = a[k].data;
	}
	/* bitmap scans off for the probes: see nb_pg_events_loader_begin */
	enum { Q_BEGIN, Q_SET, Q_LOCK, Q_PARTS, Q_INSERT, Q_COMMIT, NQ };
	static const char *const sql[NQ] = {
		"BEGIN", "SET LOCAL enable_bitmapscan = off",
		"SELECT pg_advisory_xact_lock(hashtext('neonblue_events_load'))",
		"SELECT neonblue_ensure_event_partitions($1::timestamptz, $2::timestamptz)",
		"INSERT INTO events (event_id, user_id, type, ts, value, properties, experiment)"
		" SELECT t.id, t.u, t.ty, t.ts, t.v, t.p, t.e FROM unnest($1::uuid[], $2::text[],"
		" $3::text[], $4::timestamptz[], $5::float8[], $6::jsonb[], $7::text[])"
		" AS t(id, u, ty, ts, v, p, e)"
		" LEFT JOIN LATERAL (SELECT 1 AS hit FROM events x WHERE x.event_id = t.id LIMIT 1) s"
		" ON true WHERE s.hit IS NULL",
		"COMMIT"};
	/* parsed and planned once per connection, not for every group */
	static const char *const names[NQ] = {NULL, NULL, "nb_events_lock", "nb_events_partitions",
					      "nb_events_insert", NULL};
	static const char *const what[NQ] = {"BEGIN", "SET", "the loaders' lock", "the partitions",
					     "the INSERT", "COMMIT"};
	static const int np[NQ] = {0, 0, 0, 2, 7, 0};
	const char *const *params[NQ] = {NULL, NULL, NULL, pp, pi, NULL};
	PGresult *ins = NULL;
	int rc = ev_pipeline(conn, NQ, sql, names, np, params, what, &ins, Q_INSERT, err);
	if (rc == 0)
		*rows = ins ? atol(PQcmdTuples(ins)) : 0;
	PQclear(ins);
	for (int k = 0; k < 7; k++)
		nb_buf_done(&a[k]);
	return rc;
}

/* nb_pg_events_load of up to NB_PG_EVENTS_BATCH rows in three round trips:
 * BEGIN, the loaders' lock, the partitions and the lookup of the event_ids
 * pipelined; then one COPY and COMMIT in one query string. */
static int ev_load_small(PGconn *conn, const nb_pg_event *evs, size_t n, nb_pg_load_stats *st,
			 nb_err *err)
{
	char *keep = nb_xmalloc(n);
	/* sized for this group: the default 65,536 slots (1 MiB, mapped and
	 * faulted in on every group) cost more than a small group's load */
	struct ev_set seen = {.first_cap = 64};
	while (seen.first_cap < 2 * n + 2)
		seen.first_cap *= 2;
	nb_buf arr;
	nb_buf_init(&arr);
	long rows;
	ev_mark_unseen(&seen, evs, n, keep, &arr, &rows);
	free(seen.keys);
	free(seen.used);
	double lo = evs[0].epoch, hi = evs[0].epoch;
	for (size_t i = 1; i < n; i++) {
		lo = evs[i].epoch < lo ? evs[i].epoch : lo;
		hi = evs[i].epoch > hi ? evs[i].epoch : hi;
	}
	char from[40], to[40];
	nb_pg_event_format_ts(lo, from, sizeof from);
	nb_pg_event_format_ts(hi, to, sizeof to);
	const char *pp[2] = {from, to}, *pa[1] = {arr.data};
	/* bitmap scans off for the probes: see nb_pg_events_loader_begin */
	enum { Q_BEGIN, Q_SET, Q_LOCK, Q_PARTS, Q_LOOKUP, NQ };
	const char *const sql[NQ] = {
		"BEGIN", "SET LOCAL enable_bitmapscan = off",
		"SELECT pg_advisory_xact_lock(hashtext('neonblue_events_load'))",
		"SELECT neonblue_ensure_event_partitions($1::timestamptz, $2::timestamptz)",
		ev_lookup_sql(rows)};
	static const char *const what[NQ] = {"BEGIN", "SET", "the loaders' lock", "the partitions",
					     "the event_id lookup"};
	const int np[NQ] = {0, 0, 0, 2, 1};
	const char *const *params[NQ] = {NULL, NULL, NULL, pp, pa};
	static const char *const names[NQ] = {NULL};
	int nq = rows ? NQ : Q_LOOKUP, rc = 0, committed = 0, inserted = 0;
	PGresult *stored = NULL;
	if (rows && rows <= EV_INSERT_MAX) {
		rc = ev_insert_small(conn, evs, n, keep, pp, &rows, err);
		inserted = 1;
	} else {
		rc = ev_pipeline(conn, nq, sql, names, np, params, what, &stored, Q_LOOKUP, err);
	}
	if (rc == 0 && stored)
		ev_drop_stored(evs, n, keep, &rows, stored);
	PQclear(stored);
	if (inserted) {
		/* committed, or rc says why not */
	} else if (rc == 0 && rows) {
		/* the COMMIT runs once the COPY ended well: no round trip of its own */
		PGresult *r = PQexec(conn, "COPY events (event_id, user_id, type, ts, value,"
					   " properties, experiment) FROM STDIN; COMMIT");
		int copying = PQresultStatus(r) == PGRES_COPY_IN;
		PQclear(r);
		if (!copying)
			rc = ev_copy_error(conn, "start", err);
		else if (ev_copy_put(conn, evs, n, keep, err) < 0)
			rc = -1;
		if (copying && PQputCopyEnd(conn, rc ? "aborted by neonblue" : NULL) != 1 && rc == 0)
			rc = ev_copy_error(conn, "end", err);
		for (int k = 0; copying && (r = PQgetResult(conn)); k++) {
			int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
			if (!ok && rc == 0)
				rc = nb_err_set(err, NB_ESERVER, "COPY of events failed: %s",
						PQresultErrorMessage(r));
			committed |= ok && k == 1;
			PQclear(r);
		}
		if (committed)
			rc = 0;
	} else if (rc == 0 && nb_pg_commit(conn, err) < 0) {
		rc = -1;
	}
	nb_buf_done(&arr);
	free(keep);
	if (rc) {
		if (PQstatus(conn) == CONNECTION_OK)
			nb_pg_rollback(conn);
		return -1;
	}
	st->inserted = rows;
	st->skipped = (long)n - rows;
	return 0;
}

int nb_pg_events_load(PGconn *conn, const nb_pg_event *evs, size_t n, nb_pg_load_stats *st,
		      nb_err *err)
{
	*st = (nb_pg_load_stats){0};
	if (n == 0)
		return 0;
	if (n <= NB_PG_EVENTS_BATCH)
		return ev_load_small(conn, evs, n, st, err);
	nb_pg_events_loader *l = nb_pg_events_loader_begin(conn, NULL, err);
	if (!l)
		return -1;
	int rc = nb_pg_events_loader_add(l, evs, n, err);
	if (nb_pg_events_loader_finish(l, rc == 0, st, err) < 0)
		rc = -1;
	return rc;
}
