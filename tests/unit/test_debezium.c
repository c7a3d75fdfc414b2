/* test_debezium.c — nb_debezium: rendering, parsing, round trips, real-Debezium shapes. */
#include "nbtest.h"
#include "neonblue/cdc.h"
#include "neonblue/sink.h"

#include <cjson/cJSON.h>
#include <glob.h>
#include <regex.h>
#include <time.h>

/* Expected values come from libc's timegm, not from the code under test. */
static long long tm_us(int y, int mo, int d, int h, int mi, int s, int us, int off_s)
{
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = s};
	return ((long long)timegm(&tm) - off_s) * 1000000LL + us;
}

/* canonical: values whose JSON has one spelling, so that a parse and a
 * re-render give the same bytes (a double cannot keep 9007199254740993 or the
 * trailing zeros of 19.9900). */
static void build_row(nb_change *c, int canonical)
{
	nb_change_init(c);
	nb_change_set(&c->schema, "public");
	nb_change_set(&c->table, "events");
	nb_change_set(&c->source.name, "neonblue");
	nb_change_set(&c->source.db, "neonblue");
	c->op = 'c';
	c->has_after = 1;
	c->source.lsn = 0x16B3748;
	c->source.tx_id = 771;
	c->source.ts_ms = 1795757515123;
	c->ts_ms = 1795757515200;
	nb_tuple *t = &c->after;
	nb_tuple_add(t, "id", NB_OID_INT8, canonical ? "900719925474099" : "9007199254740993")
	    ->is_key = 1;
	nb_tuple_add(t, "small", NB_OID_INT2, "-7");
	nb_tuple_add(t, "n", NB_OID_INT4, "42");
	nb_tuple_add(t, "ok", NB_OID_BOOL, "t");
	nb_tuple_add(t, "no", NB_OID_BOOL, "f");
	nb_tuple_add(t, "f4", NB_OID_FLOAT4, "1.1");
	nb_tuple_add(t, "f8", NB_OID_FLOAT8, "-2.5e-07");
	nb_tuple_add(t, "amount", NB_OID_NUMERIC, canonical ? "19.99" : "19.9900");
	nb_tuple_add(t, "nan", NB_OID_FLOAT8, "NaN");
	nb_tuple_add(t, "ts", NB_OID_TIMESTAMPTZ, "2026-11-27 06:31:55.123456+01");
	nb_tuple_add(t, "ts_whole", NB_OID_TIMESTAMPTZ, "2026-11-27 05:31:55+05:30");
	nb_tuple_add(t, "ts_old", NB_OID_TIMESTAMPTZ, "1969-12-31 23:59:59.5+00");
	nb_tuple_add(t, "local", NB_OID_TIMESTAMP, "2026-11-27 05:31:55.000001");
	nb_tuple_add(t, "day", NB_OID_DATE, "2026-11-27");
	nb_tuple_add(t, "old_day", NB_OID_DATE, "1969-07-20");
	nb_tuple_add(t, "at", NB_OID_TIME, "13:45:10.25");
	nb_tuple_add(t, "props", NB_OID_JSONB, "{\"plan\": \"pro\", \"n\": [1, 2]}");
	nb_tuple_add(t, "user_uuid", NB_OID_UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
	nb_tuple_add(t, "name", NB_OID_TEXT, "quote \" back \\ nl \n é");
	nb_tuple_add(t, "kind", 16384, "click"); /* an enum: unknown OID → string */
	nb_tuple_add(t, "blob", NB_OID_BYTEA, "\\x00ff10");
	nb_tuple_add(t, "tags", 1009, "{x,\"y z\",NULL,\"q\\\"b\\\\\",NULL}");
	nb_tuple_add(t, "grid", 1007, "{{1,-2},{3,4}}");
	nb_tuple_add(t, "none", 1009, "{}");
	nb_tuple_add(t, "missing", NB_OID_TEXT, NULL);
	nb_tuple_add(t, "big", NB_OID_TEXT, NULL)->toast_unchanged = 1;
}

static void render_values_as_debezium_does(void)
{
	nb_change c;
	build_row(&c, 0);
	nb_err e;
	char *v = nb_debezium_value(&c, 0, &e);
	CHECKF(v != NULL, "render failed: %s", e.msg);
	if (!v)
		return;
	/* the exact int8 survives (it does not fit a double) */
	CHECK(strstr(v, "\"id\":9007199254740993,") != NULL);
	CHECK(strstr(v, "\"f4\":1.1,") != NULL);
	CHECK(strstr(v, "\"amount\":19.9900,") != NULL);
	cJSON *r = cJSON_Parse(v);
	CHECK(r != NULL);
	cJSON *a = cJSON_GetObjectItem(r, "after");
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(r, "before")));
	CHECK_INT(cJSON_GetObjectItem(a, "small")->valuedouble, -7);
	CHECK_INT(cJSON_GetObjectItem(a, "n")->valuedouble, 42);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(a, "ok")));
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(a, "no")));
	CHECK_NEAR(cJSON_GetObjectItem(a, "f8")->valuedouble, -2.5e-7, 1e-15, 0);
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(a, "nan")));
	CHECK_STR(cJSON_GetObjectItem(a, "ts")->valuestring, "2026-11-27T05:31:55.123456Z");
	CHECK_STR(cJSON_GetObjectItem(a, "ts_whole")->valuestring, "2026-11-27T00:01:55Z");
	CHECK_STR(cJSON_GetObjectItem(a, "ts_old")->valuestring, "1969-12-31T23:59:59.5Z");
	CHECK_INT((long long)cJSON_GetObjectItem(a, "local")->valuedouble,
		  tm_us(2026, 11, 27, 5, 31, 55, 1, 0));
	CHECK_INT(cJSON_GetObjectItem(a, "day")->valuedouble,
		  tm_us(2026, 11, 27, 0, 0, 0, 0, 0) / 86400000000LL);
	CHECK_INT(cJSON_GetObjectItem(a, "old_day")->valuedouble,
		  -(tm_us(1970, 1, 1, 0, 0, 0, 0, 0) - tm_us(1969, 7, 20, 0, 0, 0, 0, 0)) /
		      86400000000LL);
	CHECK_INT(cJSON_GetObjectItem(a, "at")->valuedouble,
		  (13 * 3600 + 45 * 60 + 10) * 1000000LL + 250000);
	CHECK_STR(cJSON_GetObjectItem(a, "props")->valuestring,
		  "{\"plan\": \"pro\", \"n\": [1, 2]}");
	CHECK_STR(cJSON_GetObjectItem(a, "user_uuid")->valuestring,
		  "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
	CHECK_STR(cJSON_GetObjectItem(a, "name")->valuestring, "quote \" back \\ nl \n é");
	CHECK_STR(cJSON_GetObjectItem(a, "kind")->valuestring, "click");
	CHECK_STR(cJSON_GetObjectItem(a, "blob")->valuestring, "AP8Q");
	/* arrays become JSON arrays of their elements' renderings */
	CHECK(strstr(v, "\"tags\":[\"x\",\"y z\",null,\"q\\\"b\\\\\",null],") != NULL);
	CHECK(strstr(v, "\"grid\":[[1,-2],[3,4]],") != NULL);
	CHECK(strstr(v, "\"none\":[],") != NULL);
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(a, "missing")));
	CHECK_STR(cJSON_GetObjectItem(a, "big")->valuestring, NB_DEBEZIUM_UNAVAILABLE);
	cJSON *s = cJSON_GetObjectItem(r, "source");
	CHECK_STR(cJSON_GetObjectItem(s, "connector")->valuestring, "postgresql");
	CHECK_STR(cJSON_GetObjectItem(s, "table")->valuestring, "events");
	CHECK_STR(cJSON_GetObjectItem(s, "schema")->valuestring, "public");
	CHECK_STR(cJSON_GetObjectItem(s, "snapshot")->valuestring, "false");
	CHECK_INT(cJSON_GetObjectItem(s, "lsn")->valuedouble, 0x16B3748);
	CHECK_INT(cJSON_GetObjectItem(s, "txId")->valuedouble, 771);
	CHECK_STR(cJSON_GetObjectItem(r, "op")->valuestring, "c");
	cJSON_Delete(r);
	free(v);
	nb_change_done(&c);
}

static void round_trip_plain(void)
{
	nb_change c, p;
	build_row(&c, 1);
	nb_change_init(&p);
	nb_err e;
	char *v = nb_debezium_value(&c, 0, &e);
	CHECK_INT(nb_debezium_parse(v, strlen(v), &p, &e), 0);
	CHECK_INT(p.op, 'c');
	CHECK(!p.tombstone && !p.with_schema && p.has_after && !p.has_before);
	CHECK_STR(p.schema, "public");
	CHECK_STR(p.table, "events");
	CHECK_INT(p.source.lsn, 0x16B3748);
	CHECK_INT(p.source.tx_id, 771);
	CHECK_INT(p.source.ts_ms, 1795757515123);
	CHECK_INT(p.ts_ms, 1795757515200);
	CHECK_INT(p.after.n, c.after.n);
	for (int i = 0; i < p.after.n && i < c.after.n; i++)
		CHECK_STR(p.after.cols[i].name, c.after.cols[i].name);
	/* accessors give the values back whatever their rendering */
	int64_t us, iv;
	int32_t days;
	double d;
	int b;
	char *txt = NULL;
	CHECK_INT(nb_debezium_col_epoch_us(nb_tuple_find(&p.after, "ts"), &us, &e), 0);
	CHECK_INT(us, tm_us(2026, 11, 27, 5, 31, 55, 123456, 0));
	CHECK_INT(nb_debezium_col_epoch_us(nb_tuple_find(&p.after, "local"), &us, &e), 0);
	CHECK_INT(us, tm_us(2026, 11, 27, 5, 31, 55, 1, 0));
	CHECK_INT(nb_debezium_col_days(nb_tuple_find(&p.after, "day"), &days, &e), 0);
	CHECK_INT(days, tm_us(2026, 11, 27, 0, 0, 0, 0, 0) / 86400000000LL);
	CHECK_INT(nb_debezium_col_int(nb_tuple_find(&p.after, "n"), &iv, &e), 0);
	CHECK_INT(iv, 42);
	CHECK_INT(nb_debezium_col_double(nb_tuple_find(&p.after, "amount"), &d, &e), 0);
	CHECK_NEAR(d, 19.99, 1e-12, 0);
	CHECK_INT(nb_debezium_col_bool(nb_tuple_find(&p.after, "ok"), &b, &e), 0);
	CHECK_INT(b, 1);
	CHECK_INT(nb_debezium_col_text(nb_tuple_find(&p.after, "props"), &txt, &e), 0);
	CHECK_STR(txt, "{\"plan\": \"pro\", \"n\": [1, 2]}");
	free(txt);
	CHECK_INT(nb_debezium_col_text(nb_tuple_find(&p.after, "missing"), &txt, &e), 1);
	CHECK_INT(nb_debezium_col_text(nb_tuple_find(&p.after, "big"), &txt, &e), 1);
	CHECK(nb_tuple_find(&p.after, "big")->toast_unchanged);
	CHECK_INT(nb_debezium_col_int(nb_tuple_find(&p.after, "name"), &iv, &e), -1);
	CHECK(strstr(e.msg, "name") != NULL);
	/* re-rendering what was parsed gives the same bytes */
	char *v2 = nb_debezium_value(&p, 0, &e);
	CHECK_STR(v2, v);
	free(v);
	free(v2);
	nb_change_done(&c);
	nb_change_done(&p);
}

static void round_trip_with_schema(void)
{
	nb_change c, p;
	build_row(&c, 1);
	nb_change_init(&p);
	nb_err e;
	char *plain = nb_debezium_value(&c, 0, &e);
	char *v = nb_debezium_value(&c, 1, &e);
	cJSON *r = cJSON_Parse(v);
	cJSON *schema = cJSON_GetObjectItem(r, "schema");
	CHECK_STR(cJSON_GetObjectItem(schema, "name")->valuestring,
		  "neonblue.public.events.Envelope");
	CHECK(cJSON_GetObjectItem(r, "payload") != NULL);
	cJSON_Delete(r);
	CHECK(strstr(v, "\"name\":\"io.debezium.connector.postgresql.Source\"") != NULL);
	CHECK_INT(nb_debezium_parse(v, strlen(v), &p, &e), 0);
	CHECK(p.with_schema);
	const nb_col *ts = nb_tuple_find(&p.after, "ts");
	CHECK(ts && ts->dbz_name && !strcmp(ts->dbz_name, "io.debezium.time.ZonedTimestamp"));
	const nb_col *props = nb_tuple_find(&p.after, "props");
	CHECK(props && props->dbz_name && !strcmp(props->dbz_name, "io.debezium.data.Json"));
	const nb_col *uu = nb_tuple_find(&p.after, "user_uuid");
	CHECK(uu && uu->dbz_name && !strcmp(uu->dbz_name, "io.debezium.data.Uuid"));
	const nb_col *lo = nb_tuple_find(&p.after, "local");
	CHECK(lo && lo->dbz_name && !strcmp(lo->dbz_name, "io.debezium.time.MicroTimestamp"));
	CHECK_INT(lo ? lo->type_oid : 0, NB_OID_TIMESTAMP);
	const nb_col *dy = nb_tuple_find(&p.after, "day");
	CHECK(dy && dy->dbz_name && !strcmp(dy->dbz_name, "io.debezium.time.Date"));
	CHECK(strstr(v, "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":true},"
			"\"optional\":true,\"field\":\"tags\"}") != NULL);
	const nb_col *tags = nb_tuple_find(&p.after, "tags");
	CHECK(tags && cJSON_IsArray(tags->json) && cJSON_GetArraySize(tags->json) == 5);
	const nb_col *sm = nb_tuple_find(&p.after, "small");
	CHECK(sm && sm->dbz_type && !strcmp(sm->dbz_type, "int16"));
	char *v2 = nb_debezium_value(&p, 0, &e);
	CHECK_STR(v2, plain);
	char *v3 = nb_debezium_value(&p, 1, &e);
	nb_change q;
	nb_change_init(&q);
	CHECK_INT(nb_debezium_parse(v3, strlen(v3), &q, &e), 0);
	char *v4 = nb_debezium_value(&q, 1, &e);
	CHECK_STR(v4, v3); /* stable after one trip */
	free(plain);
	free(v);
	free(v2);
	free(v3);
	free(v4);
	nb_change_done(&q);
	nb_change_done(&c);
	nb_change_done(&p);
}

static void key_and_delete(void)
{
	nb_change c;
	nb_change_init(&c);
	nb_change_set(&c.schema, "public");
	nb_change_set(&c.table, "assignments");
	c.op = 'd';
	c.has_before = 1;
	nb_tuple_add(&c.before, "experiment_id", NB_OID_INT8, "3")->is_key = 1;
	nb_tuple_add(&c.before, "user_id", NB_OID_TEXT, "u-17")->is_key = 1;
	nb_tuple_add(&c.before, "variant", NB_OID_TEXT, NULL);
	nb_err e;
	char *k = nb_debezium_key(&c, 0, &e);
	CHECK_STR(k, "{\"experiment_id\":3,\"user_id\":\"u-17\"}");
	char *kw = nb_debezium_key(&c, 1, &e);
	CHECK(kw && strstr(kw, "\"name\":\"neonblue.public.assignments.Key\"") != NULL);
	nb_tuple kt = {0};
	CHECK_INT(nb_debezium_parse_key(kw, strlen(kw), &kt, &e), 0);
	CHECK_INT(kt.n, 2);
	CHECK(kt.n == 2 && kt.cols[0].is_key && !strcmp(kt.cols[1].name, "user_id"));
	CHECK(kt.n == 2 && kt.cols[0].dbz_type && !strcmp(kt.cols[0].dbz_type, "int64"));
	nb_tuple_done(&kt);
	char *v = nb_debezium_value(&c, 0, &e);
	CHECK(v && strstr(v, "\"after\":null") && strstr(v, "\"op\":\"d\""));
	nb_change p;
	nb_change_init(&p);
	CHECK_INT(nb_debezium_parse(v, strlen(v), &p, &e), 0);
	CHECK(p.op == 'd' && p.has_before && !p.has_after);
	free(k);
	free(kw);
	free(v);
	nb_change_done(&p);
	/* a change without key columns has no key */
	c.before.cols[0].is_key = c.before.cols[1].is_key = 0;
	CHECK(nb_debezium_key(&c, 0, &e) == NULL);
	CHECK(strstr(e.msg, "assignments") != NULL);
	nb_change_done(&c);
}

static void tombstones(void)
{
	nb_change p;
	nb_change_init(&p);
	nb_err e;
	CHECK_INT(nb_debezium_parse(NULL, 0, &p, &e), 0);
	CHECK(p.tombstone);
	CHECK_INT(nb_debezium_parse("", 0, &p, &e), 0);
	CHECK(p.tombstone);
	CHECK_INT(nb_debezium_parse("null", 4, &p, &e), 0);
	CHECK(p.tombstone);
	const char *w = "{\"schema\":null,\"payload\":null}";
	CHECK_INT(nb_debezium_parse(w, strlen(w), &p, &e), 0);
	CHECK(p.tombstone);
	nb_change_done(&p);
}

static void rejects_bad_messages(void)
{
	static const struct {
		const char *json, *why;
	} bad[] = {
	    {"{\"op\":", "not valid JSON"},
	    {"[1,2]", "not a JSON object"},
	    {"{\"before\":null,\"after\":{},\"source\":{\"table\":\"t\"}}", "\"op\""},
	    {"{\"op\":\"x\",\"after\":{},\"source\":{\"table\":\"t\"}}", "\"op\" is \"x\""},
	    {"{\"op\":\"c\",\"after\":{\"a\":1}}", "source"},
	    {"{\"op\":\"c\",\"after\":{\"a\":1},\"source\":{\"schema\":\"p\"}}", "source.table"},
	    {"{\"op\":\"c\",\"after\":null,\"source\":{\"table\":\"t\"}}", "after"},
	    {"{\"op\":\"d\",\"before\":null,\"source\":{\"table\":\"t\"}}", "before"},
	    {"{\"op\":\"c\",\"after\":[1],\"source\":{\"table\":\"t\"}}", "\"after\""},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		nb_change p;
		nb_change_init(&p);
		nb_err e = {0};
		int rc = nb_debezium_parse(bad[i].json, strlen(bad[i].json), &p, &e);
		CHECKF(rc == -1, "accepted %s", bad[i].json);
		CHECKF(e.code == NB_EINPUT, "code %d for %s", e.code, bad[i].json);
		CHECKF(strstr(e.msg, bad[i].why) != NULL, "message \"%s\" lacks \"%s\"", e.msg,
		       bad[i].why);
		CHECK(!p.tombstone && p.table == NULL && p.after.n == 0);
		nb_change_done(&p);
	}
	nb_err e;
	CHECK(nb_debezium_render_value(1009, "{a,\"b", &e) == NULL);
	CHECK(strstr(e.msg, "quote") != NULL);
	CHECK(nb_debezium_render_value(1007, "{1,x}", &e) == NULL);
	CHECK(nb_debezium_render_value(1007, "{1,2}}", &e) == NULL);
	CHECK(nb_debezium_render_value(NB_OID_INT4, "12x", &e) == NULL);
	CHECK(strstr(e.msg, "12x") != NULL);
	CHECK(nb_debezium_render_value(NB_OID_TIMESTAMPTZ, "Fri Nov 27 05:31:55 2026 UTC", &e) ==
	      NULL);
	CHECK(strstr(e.msg, "DateStyle") != NULL);
}

/* The shape of the Debezium PostgreSQL connector's documentation example
 * (customers table), with JsonConverter schemas enabled. */
static const char *real_wrapped =
    "{\"schema\":{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"first_name\"},"
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.time.ZonedTimestamp\","
    "\"version\":1,\"field\":\"created_at\"},"
    "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroTimestamp\","
    "\"version\":1,\"field\":\"seen\"},"
    "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.Timestamp\",\"version\":1,"
    "\"field\":\"seen_ms\"},"
    "{\"type\":\"int32\",\"optional\":true,\"name\":\"io.debezium.time.Date\",\"version\":1,"
    "\"field\":\"born\"},"
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Json\",\"version\":1,"
    "\"field\":\"props\"},"
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Uuid\",\"version\":1,"
    "\"field\":\"uid\"}],"
    "\"optional\":true,\"name\":\"dbserver1.public.customers.Value\",\"field\":\"before\"},"
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"first_name\"},"
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.time.ZonedTimestamp\","
    "\"version\":1,\"field\":\"created_at\"},"
    "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroTimestamp\","
    "\"version\":1,\"field\":\"seen\"},"
    "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.Timestamp\",\"version\":1,"
    "\"field\":\"seen_ms\"},"
    "{\"type\":\"int32\",\"optional\":true,\"name\":\"io.debezium.time.Date\",\"version\":1,"
    "\"field\":\"born\"},"
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Json\",\"version\":1,"
    "\"field\":\"props\"},"
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Uuid\",\"version\":1,"
    "\"field\":\"uid\"}],"
    "\"optional\":true,\"name\":\"dbserver1.public.customers.Value\",\"field\":\"after\"},"
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":"
    "\"version\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},{\"type\":\"string\","
    "\"optional\":false,\"field\":\"name\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},{\"type\":\"string\",\"optional\":"
    "true,\"name\":\"io.debezium.data.Enum\",\"version\":1,\"parameters\":{\"allowed\":\"true,last,"
    "false\"},\"default\":\"false\",\"field\":\"snapshot\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},{\"type\":\"string\",\"optional\":"
    "true,\"field\":\"sequence\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},{\"type\":\"string\","
    "\"optional\":false,\"field\":\"table\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"txId\"},{\"type\":\"int64\",\"optional\":"
    "true,\"field\":\"lsn\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"xmin\"}],\"optional\":false,\"name\":\"io."
    "debezium.connector.postgresql.Source\",\"field\":\"source\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},{\"type\":\"int64\",\"optional\":"
    "true,\"field\":\"ts_ms\"},"
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},{"
    "\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}],\"optional\":"
    "true,\"field\":\"transaction\"}],"
    "\"optional\":false,\"name\":\"dbserver1.public.customers.Envelope\"},"
    "\"payload\":{\"before\":null,\"after\":{\"id\":1,\"first_name\":\"Anne\","
    "\"created_at\":\"2026-11-27T05:31:55.123456Z\",\"seen\":1795757515123456,\"seen_ms\":"
    "1795757515123,"
    "\"born\":20784,\"props\":\"{\\\"a\\\": 1}\",\"uid\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"},"
    "\"source\":{\"version\":\"2.5.0.Final\",\"connector\":\"postgresql\",\"name\":\"dbserver1\","
    "\"ts_ms\":1559033904863,\"snapshot\":\"true\",\"db\":\"postgres\",\"sequence\":\"["
    "\\\"24023119\\\",\\\"24023128\\\"]\","
    "\"schema\":\"public\",\"table\":\"customers\",\"txId\":555,\"lsn\":24023128,\"xmin\":null},"
    "\"op\":\"r\",\"ts_ms\":1559033904863,\"transaction\":null}}";

static void parses_real_debezium_wrapped(void)
{
	nb_change p;
	nb_change_init(&p);
	nb_err e;
	CHECKF(nb_debezium_parse(real_wrapped, strlen(real_wrapped), &p, &e) == 0, "%s", e.msg);
	CHECK(p.with_schema && p.op == 'r');
	CHECK_STR(p.table, "customers");
	CHECK_STR(p.source.name, "dbserver1");
	CHECK_STR(p.source.snapshot, "true");
	CHECK_INT(p.source.lsn, 24023128);
	CHECK_INT(p.source.tx_id, 555);
	CHECK_INT(p.after.n, 8);
	int64_t us;
	int32_t days;
	char *txt = NULL;
	CHECK_INT(nb_debezium_col_epoch_us(nb_tuple_find(&p.after, "created_at"), &us, &e), 0);
	CHECK_INT(us, tm_us(2026, 11, 27, 5, 31, 55, 123456, 0));
	CHECK_INT(nb_debezium_col_epoch_us(nb_tuple_find(&p.after, "seen"), &us, &e), 0);
	CHECK_INT(us, 1795757515123456LL);
	CHECK_INT(nb_debezium_col_epoch_us(nb_tuple_find(&p.after, "seen_ms"), &us, &e), 0);
	CHECK_INT(us, 1795757515123000LL);
	CHECK_INT(nb_debezium_col_epoch_us(nb_tuple_find(&p.after, "born"), &us, &e), 0);
	CHECK_INT(us, 20784LL * 86400000000LL);
	CHECK_INT(nb_debezium_col_days(nb_tuple_find(&p.after, "seen"), &days, &e), 0);
	CHECK_INT(days, tm_us(2026, 11, 27, 0, 0, 0, 0, 0) / 86400000000LL);
	CHECK_INT(nb_debezium_col_text(nb_tuple_find(&p.after, "props"), &txt, &e), 0);
	CHECK_STR(txt, "{\"a\": 1}");
	free(txt);
	nb_change_done(&p);
}

static void parses_real_debezium_plain(void)
{
	/* update with an unchanged TOASTed column; then an old (0.9) shape */
	const char *upd =
	    "{\"before\":{\"id\":7,\"body\":null},\"after\":{\"id\":7,\"title\":\"x\","
	    "\"body\":\"__debezium_unavailable_value\"},\"source\":{\"version\":\"1.9.7.Final\","
	    "\"connector\":\"postgresql\",\"name\":\"pg\",\"ts_ms\":1700000000000,\"snapshot\":"
	    "\"false\","
	    "\"db\":\"app\",\"sequence\":\"[null,\\\"34567\\\"]\",\"schema\":\"public\",\"table\":"
	    "\"posts\","
	    "\"txId\":900,\"lsn\":34567,\"xmin\":null},\"op\":\"u\",\"ts_ms\":1700000000123,"
	    "\"transaction\":null}";
	nb_change p;
	nb_change_init(&p);
	nb_err e;
	CHECKF(nb_debezium_parse(upd, strlen(upd), &p, &e) == 0, "%s", e.msg);
	CHECK(p.op == 'u' && p.has_before && p.has_after && !p.with_schema);
	CHECK(nb_tuple_find(&p.after, "body")->toast_unchanged);
	CHECK(!nb_tuple_find(&p.after, "title")->toast_unchanged);
	CHECK_INT(p.ts_ms, 1700000000123);
	const char *old =
	    "{\"before\":null,\"after\":{\"id\":1,\"created_at\":\"2020-09-27T13:37:24.058468Z\"},"
	    "\"source\":{\"version\":\"0.9.5.Final\",\"connector\":\"postgresql\",\"name\":\"foo\","
	    "\"db\":\"foo\",\"ts_usec\":1601213844074632,\"txId\":644,\"lsn\":28581784,"
	    "\"schema\":\"bar\",\"table\":\"events\",\"snapshot\":false,\"last_snapshot_record\":"
	    "null,"
	    "\"xmin\":null},\"op\":\"c\",\"ts_ms\":1601213844598}";
	CHECKF(nb_debezium_parse(old, strlen(old), &p, &e) == 0, "%s", e.msg);
	CHECK_STR(p.source.snapshot, "false");
	CHECK_INT(p.source.ts_ms, 1601213844074);
	CHECK_STR(p.schema, "bar");
	int64_t us;
	CHECK_INT(nb_debezium_col_epoch_us(nb_tuple_find(&p.after, "created_at"), &us, &e), 0);
	CHECK_INT(us, tm_us(2020, 9, 27, 13, 37, 24, 58468, 0));
	nb_change_done(&p);
}

static void time_and_lsn_helpers(void)
{
	int64_t us;
	int tz;
	CHECK_INT(nb_pg_parse_timestamp("2026-11-27 11:01:55.5+05:30", &us, &tz), 0);
	CHECK_INT(tz, 1);
	CHECK_INT(us, tm_us(2026, 11, 27, 5, 31, 55, 500000, 0));
	CHECK_INT(nb_pg_parse_timestamp("1900-02-28 00:00:00-03", &us, &tz), 0);
	CHECK_INT(us, tm_us(1900, 2, 28, 3, 0, 0, 0, 0));
	CHECK_INT(nb_pg_parse_timestamp("2000-01-01", &us, &tz), 0);
	CHECK_INT(tz, 0);
	CHECK_INT(nb_pg_parse_timestamp("2000-13-01 00:00:00", &us, &tz), -1);
	CHECK_INT(nb_pg_parse_timestamp("2000-01-01 00:00:00 junk", &us, &tz), -1);
	char out[48];
	nb_format_iso_utc(tm_us(1960, 3, 1, 12, 0, 0, 120, 0), out);
	CHECK_STR(out, "1960-03-01T12:00:00.00012Z");
	uint64_t lsn;
	CHECK_INT(nb_lsn_parse("16/B374D848", &lsn), 0);
	CHECK_INT(lsn, 0x16B374D848ULL);
	char l[32];
	nb_lsn_format(lsn, l);
	CHECK_STR(l, "16/B374D848");
	CHECK_INT(nb_lsn_parse("16B374D848", &lsn), -1);
}

/* Found by tests/fuzz/fuzz_debezium.c (corpus crash-*-out-of-range,
 * crash-year-overflow): numbers and years no integer can hold are refused
 * instead of converted (undefined behaviour). */
static void out_of_range_numbers(void)
{
	const char *v = "{\"op\":\"c\",\"after\":{\"day\":1601213844598,\"n\":1e300,"
			"\"at\":\"99999999999-11-27T05:31:55Z\"},\"source\":{\"table\":\"t\","
			"\"lsn\":1e300,\"txId\":-1e300}}";
	nb_change p;
	nb_change_init(&p);
	nb_err e;
	CHECKF(nb_debezium_parse(v, strlen(v), &p, &e) == 0, "%s", e.msg);
	CHECK_INT(p.source.lsn, 0);
	CHECK_INT(p.source.tx_id, -1);
	int32_t days;
	int64_t x;
	CHECK_INT(nb_debezium_col_days(nb_tuple_find(&p.after, "day"), &days, &e), -1);
	CHECKF(strstr(e.msg, "column day: 1601213844598 is not a number of days in range") != NULL, "%s", e.msg);
	CHECK_INT(nb_debezium_col_int(nb_tuple_find(&p.after, "n"), &x, &e), -1);
	CHECK_INT(nb_debezium_col_epoch_us(nb_tuple_find(&p.after, "n"), &x, &e), -1);
	CHECK_INT(nb_debezium_col_epoch_us(nb_tuple_find(&p.after, "at"), &x, &e), -1);
	nb_change_done(&p);
	int tz;
	CHECK_INT(nb_pg_parse_timestamp("294277-01-01 00:00:00", &x, &tz), -1);
	CHECK_INT(nb_pg_parse_timestamp("200000-01-01 00:00:00+00", &x, &tz), 0);
}


/* io.debezium.time.ZonedTimestamp: ISO_OFFSET_DATE_TIME, 0 to 9 fraction
 * digits, Z or an offset; nanoseconds to the nearest µs (as PostgreSQL). */
static void zoned_timestamps(void)
{
	static const struct {
		const char *s;
		long long want;
	} ok[] = {
	    {"2026-11-02T08:00:00Z", 0},
	    {"2026-11-02T08:00:00.5Z", 500000},
	    {"2026-11-02T08:00:00.25Z", 250000},
	    {"2026-11-02T08:00:00.123Z", 123000},
	    {"2026-11-02T08:00:00.1234Z", 123400},
	    {"2026-11-02T08:00:00.12345Z", 123450},
	    {"2026-11-02T08:00:00.123456Z", 123456},
	    {"2026-11-02T08:00:00.1234564Z", 123456},
	    {"2026-11-02T08:00:00.1234565Z", 123457},
	    {"2026-11-02T08:00:00.12345678Z", 123457},
	    {"2026-11-02T08:00:00.123456789Z", 123457},
	    {"2026-11-02T07:59:59.9999996Z", 1000000 - 1000000}, /* carries into the second */
	    {"2026-11-02T10:00:00+02:00", 0},
	    {"2026-11-02T02:30:00.000001-05:30", 1},
	    {"2026-11-02T08:00:00+00:00", 0},
	};
	long long base = tm_us(2026, 11, 2, 8, 0, 0, 0, 0);
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		int64_t us = 0;
		int tz = 0;
		CHECKF(nb_pg_parse_timestamp(ok[i].s, &us, &tz) == 0, "%s refused", ok[i].s);
		CHECKF(us == base + ok[i].want, "%s: %lld µs past, expected %lld", ok[i].s,
		       (long long)us - base, ok[i].want);
		CHECK_INT(tz, 1);
	}
	/* dates no calendar has, and malformed ones */
	static const char *const bad[] = {"2026-02-30T10:00:00Z", "2026-02-29T00:00:00Z",
					  "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z",
					  "2026-00-10T00:00:00Z", "2026-11-02T25:00:00Z",
					  "2026-11-02T08:00:00.Z",  "2026-11-02T08:00:00+0x"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int64_t us;
		CHECKF(nb_pg_parse_timestamp(bad[i], &us, NULL) == -1, "%s accepted", bad[i]);
	}
	int64_t us;
	CHECK_INT(nb_pg_parse_timestamp("2028-02-29T00:00:00Z", &us, NULL), 0); /* leap year */
	CHECK_INT(nb_pg_parse_timestamp("2000-02-29T00:00:00Z", &us, NULL), 0);
	CHECK_INT(nb_pg_parse_timestamp("1900-02-29T00:00:00Z", &us, NULL), -1);
	/* the accessor names the column and the value */
	const char *v = "{\"op\":\"c\",\"after\":{\"ts\":\"2026-02-30T10:00:00Z\"},"
			"\"source\":{\"table\":\"events\"}}";
	nb_change p;
	nb_change_init(&p);
	nb_err e;
	CHECKF(nb_debezium_parse(v, strlen(v), &p, &e) == 0, "%s", e.msg);
	CHECK_INT(nb_debezium_col_epoch_us(nb_tuple_find(&p.after, "ts"), &us, &e), -1);
	CHECK_STR(e.msg, "column ts: \"2026-02-30T10:00:00Z\" is not an ISO-8601 timestamp (a "
			 "valid date and time)");
	nb_change_done(&p);
}

/* INT16/INT32/INT64 are whole numbers; BOOLEAN is true/false. */
static void integers_and_booleans(void)
{
	const char *v = "{\"op\":\"c\",\"after\":{\"a\":1.5,\"b\":2.0,\"c\":\"abc\",\"d\":\"-7\","
			"\"e\":true,\"f\":2,\"g\":\"yes\",\"h\":-9007199254740992},"
			"\"source\":{\"table\":\"t\"}}";
	nb_change p;
	nb_change_init(&p);
	nb_err e;
	CHECKF(nb_debezium_parse(v, strlen(v), &p, &e) == 0, "%s", e.msg);
	int64_t x;
	int b;
	CHECK_INT(nb_debezium_col_int(nb_tuple_find(&p.after, "a"), &x, &e), -1);
	CHECK_STR(e.msg, "column a: 1.5 is not an integer (it has a fraction)");
	CHECK_INT(nb_debezium_col_int(nb_tuple_find(&p.after, "b"), &x, &e), 0);
	CHECK_INT(x, 2);
	CHECK_INT(nb_debezium_col_int(nb_tuple_find(&p.after, "c"), &x, &e), -1);
	CHECK_STR(e.msg, "column c: \"abc\" is not an integer");
	CHECK_INT(nb_debezium_col_int(nb_tuple_find(&p.after, "d"), &x, &e), 0);
	CHECK_INT(x, -7);
	CHECK_INT(nb_debezium_col_int(nb_tuple_find(&p.after, "h"), &x, &e), 0);
	CHECK_INT(x, -9007199254740992LL);
	CHECK_INT(nb_debezium_col_bool(nb_tuple_find(&p.after, "e"), &b, &e), 0);
	CHECK_INT(b, 1);
	CHECK_INT(nb_debezium_col_bool(nb_tuple_find(&p.after, "f"), &b, &e), -1);
	CHECK_STR(e.msg, "column f: 2 is not a boolean");
	CHECK_INT(nb_debezium_col_bool(nb_tuple_find(&p.after, "g"), &b, &e), -1);
	double d;
	CHECK_INT(nb_debezium_col_double(nb_tuple_find(&p.after, "g"), &d, &e), -1);
	CHECK_STR(e.msg, "column g: \"yes\" is not a number");
	nb_change_done(&p);
}

/* ---- the fixtures of tests/fixtures/debezium, mapped into the schema of
 * core/sql/ch/001_init.sql (read from the file itself) ---- */

/* system.columns' answer for the CREATE TABLEs of a ClickHouse migration. */
static char *ch_schema_tsv(const char *path)
{
	char *sql = nb_buf_read_file(path);
	nb_buf out;
	nb_buf_init(&out);
	nb_buf_puts(&out, "");
	for (char *p = sql; p && (p = strstr(p, "CREATE TABLE IF NOT EXISTS neonblue."));) {
		p += strlen("CREATE TABLE IF NOT EXISTS neonblue.");
		char table[64];
		if (sscanf(p, "%63[a-z_]", table) != 1)
			break;
		char *body = strchr(p, '('), *end = strstr(p, ") ENGINE");
		char *order = end ? strstr(end, "ORDER BY") : NULL;
		if (!body || !end || !order)
			break;
		char key[256] = "";
		sscanf(order + 8, " %255[^;\n]", key);
		for (char *l = strchr(body, '\n'); l && l < end; l = strchr(l + 1, '\n')) {
			char name[64], type[64];
			if (sscanf(l + 1, " %63[a-z_] %63[A-Za-z0-9()]", name, type) != 2)
				continue;
			char pat[80];
			int in_key = 0;
			const char *seps = "(, )";
			for (const char *k = strstr(key, name); k; k = strstr(k + 1, name))
				if ((k == key || strchr(seps, k[-1])) && strchr(seps, k[strlen(name)]))
					in_key = 1;
			snprintf(pat, sizeof pat, "%s", type);
			nb_buf_printf(&out, "%s\t%s\t%s\t%d\n", table, name, pat, in_key);
		}
		p = end;
	}
	free(sql);
	return nb_buf_steal(&out);
}

static char *json_text(const cJSON *v)
{
	return v && !cJSON_IsNull(v) ? cJSON_PrintUnformatted(v) : NULL;
}

/* Every fixture message maps (both paths agree) or, for a "dlq" fixture, is
 * refused with a reason matching the fixture's (read as the DLQ shows it). */
static void fixtures_map(void)
{
	char *tsv = ch_schema_tsv("core/sql/ch/001_init.sql");
	nb_sink_schema s;
	nb_err e;
	CHECKF(nb_sink_schema_parse(tsv, strlen(tsv), &s, &e) == 0, "%s", e.msg);
	free(tsv);
	CHECK_INT(s.ntables, 7);
	glob_t g;
	CHECK_INT(glob("tests/fixtures/debezium/*.json", 0, NULL, &g), 0);
	CHECKF(g.gl_pathc >= 20, "%zu fixtures", g.gl_pathc);
	int rows = 0, truncs = 0, tombs = 0, ignored = 0, dead = 0;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		char *text = nb_buf_read_file(g.gl_pathv[i]);
		cJSON *fx = text ? cJSON_Parse(text) : NULL;
		free(text);
		CHECKF(fx != NULL, "%s is not JSON", g.gl_pathv[i]);
		if (!fx)
			continue;
		const cJSON *doc = cJSON_GetObjectItem(fx, "doc");
		CHECKF(cJSON_IsString(doc) && !strncmp(doc->valuestring, "Debezium 2.7", 12),
		       "%s: no doc field naming Debezium 2.7", g.gl_pathv[i]);
		const cJSON *dlq = cJSON_GetObjectItem(fx, "dlq"), *m;
		int failed = 0;
		cJSON_ArrayForEach(m, cJSON_GetObjectItem(fx, "messages"))
		{
			const char *topic = cJSON_GetObjectItem(m, "topic")->valuestring;
			if (nb_sink_topic_ignored("neonblue", topic)) {
				ignored++;
				continue;
			}
			int t = nb_sink_schema_table_for_topic(&s, topic);
			CHECKF(t >= 0, "%s: no table for %s", g.gl_pathv[i], topic);
			char *v = json_text(cJSON_GetObjectItem(m, "value"));
			char *k = json_text(cJSON_GetObjectItem(m, "key"));
			if (k) { /* keys parse too */
				nb_tuple key = {0};
				CHECKF(nb_debezium_parse_key(k, strlen(k), &key, &e) == 0, "%s: key: %s",
				       g.gl_pathv[i], e.msg);
				nb_tuple_done(&key);
			}
			nb_buf a, b;
			nb_buf_init(&a);
			nb_buf_init(&b);
			nb_buf_puts(&a, "");
			nb_buf_puts(&b, "");
			nb_sink_out ra, rb;
			nb_err ea = {0}, eb = {0};
			int x = nb_sink_map(&s, t, v, v ? strlen(v) : 0, &a, &ra, &ea);
			int y = nb_sink_map_canonical(&s, t, v, v ? strlen(v) : 0, &b, &rb, &eb);
			CHECKF(x == y && !strcmp(a.data, b.data), "%s: fast %d '%s', canonical %d '%s'",
			       g.gl_pathv[i], x, a.data, y, b.data);
			if (x < 0) {
				failed = 1;
				CHECKF(dlq != NULL, "%s: refused: %s", g.gl_pathv[i], ea.msg);
				if (dlq) { /* the reason as the DLQ's JSON carries it */
					cJSON *r = cJSON_CreateString(ea.msg);
					char *shown = cJSON_PrintUnformatted(r);
					regex_t re;
					CHECK_INT(regcomp(&re, dlq->valuestring, REG_EXTENDED | REG_NOSUB), 0);
					CHECKF(regexec(&re, shown, 0, NULL, 0) == 0, "%s: reason %s, expected /%s/",
					       g.gl_pathv[i], shown, dlq->valuestring);
					regfree(&re);
					free(shown);
					cJSON_Delete(r);
				}
				dead++;
			} else if (ra.kind == NB_SINK_TRUNCATE) {
				truncs++;
				CHECK_INT(ra.nrows, 0);
			} else if (ra.kind == NB_SINK_TOMBSTONE) {
				tombs++;
			} else {
				rows += ra.nrows;
				CHECK(ra.nrows >= 1);
			}
			nb_buf_done(&a);
			nb_buf_done(&b);
			free(v);
			free(k);
		}
		CHECKF(!dlq || failed, "%s: expected a dead letter, everything mapped",
		       g.gl_pathv[i]);
		cJSON_Delete(fx);
	}
	globfree(&g);
	CHECK_INT(truncs, 2);
	CHECK_INT(tombs, 3);
	CHECK_INT(ignored, 3);
	CHECK_INT(dead, 7);
	CHECK_INT(rows, 25); /* one per create, read, update and delete message */
	nb_sink_schema_done(&s);
}

/* A truncate's statement: whole table, or one month of a partition. */
static void truncate_statements(void)
{
	char *tsv = ch_schema_tsv("core/sql/ch/001_init.sql");
	nb_sink_schema s;
	nb_err e;
	CHECKF(nb_sink_schema_parse(tsv, strlen(tsv), &s, &e) == 0, "%s", e.msg);
	free(tsv);
	int ev = nb_sink_schema_table_for_topic(&s, "neonblue.public.events_y2026m10");
	int au = nb_sink_schema_table_for_topic(&s, "neonblue.public.audit_log");
	CHECK(ev >= 0 && au >= 0);
	const char *part = "{\"op\":\"t\",\"before\":null,\"after\":null,\"source\":{\"lsn\":5030,"
			   "\"schema\":\"public\",\"table\":\"events_y2026m10\"}}";
	const char *whole = "{\"op\":\"t\",\"source\":{\"lsn\":2820,\"table\":\"audit_log\"}}";
	nb_buf b;
	nb_buf_init(&b);
	nb_sink_out r;
	CHECKF(nb_sink_map(&s, ev, part, strlen(part), &b, &r, &e) == 0, "%s", e.msg);
	CHECK_INT(r.kind, NB_SINK_TRUNCATE);
	CHECK_INT(b.len, 0);
	CHECK_INT(r.trunc_from, tm_us(2026, 10, 1, 0, 0, 0, 0, 0) / 1000000);
	CHECK_INT(r.trunc_to, tm_us(2026, 11, 1, 0, 0, 0, 0, 0) / 1000000);
	char *q = nb_sink_truncate_sql(&s.tables[ev], &r);
	char want[1024];
	snprintf(want, sizeof want,
		 "INSERT INTO neonblue.`events` (`event_id`,`user_id`,`type`,`ts`,`ts_us`,`value`,"
		 "`properties`,`experiment`,`_version`,`_deleted`) SELECT `event_id`,`user_id`,"
		 "`type`,`ts`,`ts_us`,`value`,`properties`,`experiment`,toUInt64(5030),toUInt8(1) "
		 "FROM neonblue.`events` FINAL WHERE `_deleted` = 0 AND `_version` < 5030 AND "
		 "toUInt32(`ts`) >= %lld AND toUInt32(`ts`) < %lld",
		 tm_us(2026, 10, 1, 0, 0, 0, 0, 0) / 1000000, tm_us(2026, 11, 1, 0, 0, 0, 0, 0) / 1000000);
	CHECK_STR(q, want);
	free(q);
	/* December wraps into January */
	const char *dec = "{\"op\":\"t\",\"source\":{\"lsn\":9,\"table\":\"events_y2026m12\"}}";
	CHECKF(nb_sink_map(&s, ev, dec, strlen(dec), &b, &r, &e) == 0, "%s", e.msg);
	CHECK_INT(r.trunc_to, tm_us(2027, 1, 1, 0, 0, 0, 0, 0) / 1000000);
	CHECKF(nb_sink_map(&s, au, whole, strlen(whole), &b, &r, &e) == 0, "%s", e.msg);
	CHECK_INT(r.trunc_col, -1);
	q = nb_sink_truncate_sql(&s.tables[au], &r);
	CHECK(strstr(q, "FROM neonblue.`audit_log` FINAL WHERE `_deleted` = 0 AND `_version` < "
			"2820") != NULL);
	CHECK(strstr(q, "toUInt32") == NULL);
	free(q);
	/* a partition of a table with no DateTime in its sort key cannot be told apart */
	const char *odd = "{\"op\":\"t\",\"source\":{\"lsn\":9,\"table\":\"audit_log_y2026m10\"}}";
	CHECK_INT(nb_sink_map(&s, au, odd, strlen(odd), &b, &r, &e), -1);
	CHECK(strstr(e.msg, "audit_log_y2026m10") != NULL);
	nb_buf_done(&b);
	/* names */
	int y = 0, m = 0;
	CHECK_INT(nb_sink_partition_month("events_y2026m01", &y, &m), 6);
	CHECK(y == 2026 && m == 1);
	CHECK_INT(nb_sink_partition_month("events_y2026m13", &y, &m), 0);
	CHECK_INT(nb_sink_partition_month("events", &y, &m), 0);
	CHECK(nb_sink_topic_ignored("neonblue", "__debezium-heartbeat.neonblue"));
	CHECK(nb_sink_topic_ignored("neonblue", "neonblue.transaction"));
	CHECK(nb_sink_topic_ignored("neonblue", "neonblue.message"));
	CHECK(!nb_sink_topic_ignored("neonblue", "__debezium-heartbeat.other"));
	CHECK(!nb_sink_topic_ignored("neonblue", "neonblue.public.transaction"));
	CHECK(!nb_sink_topic_ignored("neonblue", "neonblue.public.events"));
	nb_sink_schema_done(&s);
}

/* Heartbeats: the relay's (the commit's lsn and time under "source"),
 * Debezium's own ({"ts_ms"}, also wrapped), and what is refused. */
static void heartbeats(void)
{
	uint64_t lsn;
	int64_t ts;
	nb_err e;
	const char *relay = "{\"ts_ms\":1796614642519,\"source\":{\"lsn\":27029960,"
			    "\"lsn_text\":\"0/19C7148\",\"ts_ms\":1796614639197}}";
	CHECK_INT(nb_debezium_heartbeat(relay, strlen(relay), &lsn, &ts, &e), 0);
	CHECK(lsn == 27029960 && ts == 1796614639197);
	const char *dbz = "{\"ts_ms\":1793779205000}";
	CHECK_INT(nb_debezium_heartbeat(dbz, strlen(dbz), &lsn, &ts, &e), 0);
	CHECK(lsn == 0 && ts == 1793779205000);
	const char *wrapped = "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"ts_ms\":5}}";
	CHECK_INT(nb_debezium_heartbeat(wrapped, strlen(wrapped), &lsn, &ts, &e), 0);
	CHECK(lsn == 0 && ts == 5);
	static const char *const bad[] = {"", "{}", "{\"ts_ms\":0}", "nope", "{\"ts_ms\":\"1\"}",
					  "{\"ts_ms\":9,\"source\":{\"lsn\":0,\"ts_ms\":9}}",
					  "{\"ts_ms\":9,\"source\":{\"lsn\":7}}"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		CHECKF(nb_debezium_heartbeat(bad[i], strlen(bad[i]), &lsn, &ts, &e) == -1 &&
			       e.code == NB_EINPUT && strstr(e.msg, "heartbeat") && lsn == 0 && ts == 0,
		       "%s", bad[i]);
	}
	CHECK_INT(nb_debezium_heartbeat(NULL, 0, &lsn, &ts, &e), -1);
}

/* Keyed by user: an event's insert, update and delete (its before-image, as
 * REPLICA IDENTITY FULL sends it) render the same key {"user_id": …}, so the
 * partitioner puts them (and the tombstone, same key) in one partition. */
static nb_change *event_change(nb_change *c, char op, const char *user)
{
	nb_change_init(c);
	nb_change_set(&c->schema, "public");
	nb_change_set(&c->table, "events");
	c->op = op;
	nb_tuple *t = op == 'd' ? &c->before : &c->after;
	if (op == 'd')
		c->has_before = 1;
	else
		c->has_after = 1;
	nb_tuple_add(t, "event_id", NB_OID_UUID, "6f1c0a2e-2d55-4b8e-9a0e-0c6b5e5d2a01")->is_key = 1;
	nb_tuple_add(t, "user_id", NB_OID_TEXT, user);
	nb_tuple_add(t, "ts", NB_OID_TIMESTAMPTZ, "2026-12-07 08:00:00+00")->is_key = 1;
	c->key_by_user = 1;
	return c;
}

static void key_by_user(void)
{
	CHECK(nb_cdc_user_keyed_table("events") && nb_cdc_user_keyed_table("events_y2026m12") &&
	      nb_cdc_user_keyed_table("assignments"));
	CHECK(!nb_cdc_user_keyed_table("metrics") && !nb_cdc_user_keyed_table("eventsx") &&
	      !nb_cdc_user_keyed_table(NULL));
	nb_change c, u, d;
	nb_err e;
	char *kc = nb_debezium_key(event_change(&c, 'c', "u-7"), 0, &e);
	char *ku = nb_debezium_key(event_change(&u, 'u', "u-7"), 0, &e);
	char *kd = nb_debezium_key(event_change(&d, 'd', "u-7"), 0, &e);
	CHECK_STR(kc, "{\"user_id\":\"u-7\"}");
	CHECK_STR(ku, kc);
	CHECK_STR(kd, kc);
	/* with schema: one required string field, the table's Key record */
	char *kw = nb_debezium_key(&d, 1, &e);
	CHECK(kw && strstr(kw, "\"name\":\"neonblue.public.events.Key\"") &&
	      strstr(kw, "{\"type\":\"string\",\"optional\":false,\"field\":\"user_id\"}") &&
	      !strstr(kw, "event_id"));
	nb_tuple kt = {0};
	CHECK_INT(nb_debezium_parse_key(kw, strlen(kw), &kt, &e), 0);
	CHECK(kt.n == 1 && !strcmp(kt.cols[0].name, "user_id") && kt.cols[0].is_key);
	nb_tuple_done(&kt);
	/* the value keeps every column */
	char *v = nb_debezium_value(&d, 0, &e);
	CHECK(v && strstr(v, "\"event_id\":\"6f1c0a2e") && strstr(v, "\"user_id\":\"u-7\""));
	/* not keyed by user: the primary key, as Debezium's default */
	c.key_by_user = 0;
	char *kp = nb_debezium_key(&c, 0, &e);
	CHECK(kp && strstr(kp, "\"event_id\"") && strstr(kp, "\"ts\"") && !strstr(kp, "user_id"));
	/* keyed by user without a user_id value: no key, an error naming the table */
	nb_change_done(&u);
	event_change(&u, 'd', NULL);
	CHECK(nb_debezium_key(&u, 0, &e) == NULL);
	CHECK(strstr(e.msg, "events") && strstr(e.msg, "user_id"));
	free(kc);
	free(ku);
	free(kd);
	free(kw);
	free(v);
	free(kp);
	nb_change_done(&c);
	nb_change_done(&u);
	nb_change_done(&d);
}

int main(void)
{
	nbt_suite = "debezium";
	RUN(key_by_user);
	RUN(render_values_as_debezium_does);
	RUN(round_trip_plain);
	RUN(round_trip_with_schema);
	RUN(key_and_delete);
	RUN(tombstones);
	RUN(rejects_bad_messages);
	RUN(parses_real_debezium_wrapped);
	RUN(parses_real_debezium_plain);
	RUN(out_of_range_numbers);
	RUN(time_and_lsn_helpers);
	RUN(zoned_timestamps);
	RUN(integers_and_booleans);
	RUN(fixtures_map);
	RUN(truncate_statements);
	RUN(heartbeats);
	return NBT_DONE();
}
