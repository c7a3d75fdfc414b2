/* cdc/parse.c — Debezium envelope JSON → nb_change (for the sink and the
 * dashboard's feed): values wrapped or not, keys, and the column accessors
 * that read a value whatever rendering the producer used. */
#include "change.h"
#include "neonblue/base.h"
#include "neonblue/cdc.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ parse */

/* The reverse of render.c's oid_schema, for re-rendering what was parsed
 * with a schema. */
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

static const char *get_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* 1 when d converts to an int64_t (|d| < 2^63, not NaN), else 0. */
static int i64_fits(double d)
{
	return d > -9223372036854775808.0 && d < 9223372036854775808.0;
}

static int64_t get_int(const cJSON *o, const char *k, int64_t dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) && i64_fits(v->valuedouble) ? (int64_t)v->valuedouble : dflt;
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

/* -------------------------------------------------------------- accessors */

static int col_absent(const nb_col *c)
{
	return !c->json || cJSON_IsNull(c->json) || c->toast_unchanged;
}

static int sem_is(const nb_col *c, const char *name)
{
	return c->dbz_name && !strcmp(c->dbz_name, name);
}

/* The value as it appeared, for an error message: JSON, at most 60 bytes. */
static void col_show(const nb_col *c, char out[80])
{
	char *j = c->json ? cJSON_PrintUnformatted(c->json) : NULL;
	if (!j)
		snprintf(out, 80, "(none)");
	else if (strlen(j) > 60)
		snprintf(out, 80, "%.57s...", j);
	else
		snprintf(out, 80, "%s", j);
	free(j);
}

/* Sets err: "column NAME: VALUE is not WHAT". */
static int col_bad(const nb_col *c, const char *what, nb_err *err)
{
	char v[80];
	col_show(c, v);
	return nb_err_set(err, NB_EINPUT, "column %s: %s is not %s", c->name, v, what);
}

int nb_debezium_col_epoch_us(const nb_col *c, int64_t *us, nb_err *err)
{
	if (col_absent(c))
		return 1;
	const cJSON *v = c->json;
	if (cJSON_IsString(v)) {
		if (nb_pg_parse_timestamp(v->valuestring, us, NULL))
			return col_bad(c, "an ISO-8601 timestamp (a valid date and time)", err);
		return 0;
	}
	if (!cJSON_IsNumber(v))
		return col_bad(c, "a timestamp (an ISO-8601 string or a number)", err);
	double d = v->valuedouble;
	if (sem_is(c, "io.debezium.time.Timestamp") ||
	    sem_is(c, "org.apache.kafka.connect.data.Timestamp"))
		d *= 1000;
	else if (sem_is(c, "io.debezium.time.NanoTimestamp"))
		d /= 1000;
	else if (sem_is(c, "io.debezium.time.Date") ||
		 sem_is(c, "org.apache.kafka.connect.data.Date"))
		d *= (double)US_PER_DAY;
	if (!i64_fits(d))
		return col_bad(c, "a timestamp in range", err);
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
		double d = c->json->valuedouble;
		if (!(d > -2147483649.0 && d < 2147483648.0))
			return col_bad(c, "a number of days in range", err);
		*days = (int32_t)d;
		return 0;
	}
	int64_t us;
	if (nb_debezium_col_epoch_us(c, &us, err))
		return -1;
	*days = (int32_t)cdc_floor_div(us, US_PER_DAY);
	return 0;
}

/* Integers: whole JSON numbers (1.0 is 1, 1.5 is refused), decimal strings,
 * and booleans as 0/1. */
int nb_debezium_col_int(const nb_col *c, int64_t *v, nb_err *err)
{
	if (col_absent(c))
		return 1;
	if (cJSON_IsNumber(c->json)) {
		double d = c->json->valuedouble;
		if (!i64_fits(d))
			return col_bad(c, "an integer in range", err);
		if (d != floor(d))
			return col_bad(c, "an integer (it has a fraction)", err);
		*v = (int64_t)d;
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
	return col_bad(c, "an integer", err);
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
	return col_bad(c, "a number", err);
}

int nb_debezium_col_bool(const nb_col *c, int *v, nb_err *err)
{
	if (col_absent(c))
		return 1;
	if (cJSON_IsBool(c->json)) {
		*v = cJSON_IsTrue(c->json);
		return 0;
	}
	if (cJSON_IsNumber(c->json) && (c->json->valuedouble == 0 || c->json->valuedouble == 1)) {
		*v = c->json->valuedouble != 0;
		return 0;
	}
	return col_bad(c, "a boolean", err);
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

int nb_debezium_heartbeat(const char *json, size_t len, uint64_t *lsn, int64_t *ts_ms,
			  nb_err *err)
{
	*lsn = 0;
	*ts_ms = 0;
	cJSON *root = json && len ? cJSON_ParseWithLength(json, len) : NULL;
	if (!root)
		return nb_err_set(err, NB_EINPUT, "the heartbeat is not JSON");
	const cJSON *p = root, *w = cJSON_GetObjectItemCaseSensitive(root, "payload");
	if (cJSON_IsObject(w) && cJSON_GetObjectItemCaseSensitive(root, "schema"))
		p = w;
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(p, "source");
	int rc = 0;
	if (cJSON_IsObject(src)) {
		int64_t l = get_int(src, "lsn", -1);
		*ts_ms = get_int(src, "ts_ms", 0);
		if (l <= 0 || *ts_ms <= 0)
			rc = nb_err_set(err, NB_EINPUT, "the heartbeat's \"source\" needs a positive "
							"\"lsn\" and \"ts_ms\"");
		else
			*lsn = (uint64_t)l;
	} else if ((*ts_ms = get_int(p, "ts_ms", 0)) <= 0) {
		rc = nb_err_set(err, NB_EINPUT, "the heartbeat has no positive \"ts_ms\"");
	}
	if (rc)
		*ts_ms = 0;
	cJSON_Delete(root);
	return rc;
}
