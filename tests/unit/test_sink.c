/* test_sink.c — the sink's mapping: Debezium messages (relay-rendered and
 * hand-written real Debezium, with and without schema) → ClickHouse TSV rows. */
#include "nbtest.h"
#include "neonblue/ch.h"
#include "neonblue/cdc.h"
#include "neonblue/sink.h"

#include <time.h>
#include <unistd.h>

/* The column list system.columns gives for core/sql/ch/001_init.sql
 * (table, name, type, is_in_sorting_key), plus internal tables to skip. */
static const char schema_tsv[] =
	"events\tevent_id\tUUID\t1\n"
	"events\tuser_id\tString\t0\n"
	"events\ttype\tString\t0\n"
	"events\tts\tDateTime\t1\n"
	"events\tts_us\tUInt32\t0\n"
	"events\tvalue\tNullable(Float64)\t0\n"
	"events\tproperties\tNullable(String)\t0\n"
	"events\texperiment\tNullable(String)\t0\n"
	"events\t_version\tUInt64\t0\n"
	"events\t_deleted\tUInt8\t0\n"
	"variants\texperiment\tString\t1\n"
	"variants\tkey\tString\t1\n"
	"variants\tname\tString\t0\n"
	"variants\tweight\tFloat64\t0\n"
	"variants\tis_control\tUInt8\t0\n"
	"variants\tconfig\tString\t0\n"
	"variants\tposition\tInt32\t0\n"
	"variants\t_version\tUInt64\t0\n"
	"variants\t_deleted\tUInt8\t0\n"
	"metrics\tkey\tString\t1\n"
	"metrics\tevent_types\tArray(String)\t0\n"
	"metrics\tcreated_at\tDateTime\t0\n"
	"metrics\tcreated_at_us\tUInt32\t0\n"
	"metrics\tday\tDate\t0\n"
	"metrics\t_version\tUInt64\t0\n"
	"metrics\t_deleted\tUInt8\t0\n"
	"cdc_progress\ttopic\tString\t1\n"
	"schema_migrations\tname\tString\t0\n";

static nb_sink_schema S;
static int T_EVENTS, T_VARIANTS, T_METRICS;

static void load_schema(void)
{
	nb_err e;
	if (nb_sink_schema_parse(schema_tsv, strlen(schema_tsv), &S, &e) < 0) {
		fprintf(stderr, "schema: %s\n", e.msg);
		exit(1);
	}
	T_EVENTS = nb_sink_schema_table_for_topic(&S, "neonblue.public.events");
	T_VARIANTS = nb_sink_schema_table_for_topic(&S, "neonblue.public.variants");
	T_METRICS = nb_sink_schema_table_for_topic(&S, "neonblue.public.metrics");
}

/* Maps value into a fresh buffer; returns the rows (caller frees) or NULL. */
static char *map(int table, const char *value, nb_sink_out *res, nb_err *e)
{
	nb_buf b;
	nb_buf_init(&b);
	nb_buf_puts(&b, ""); /* data non-NULL */
	if (nb_sink_map(&S, table, value, value ? strlen(value) : 0, &b, res, e) < 0) {
		CHECKF(b.len == 0, "a failed map left %zu bytes", b.len);
		nb_buf_done(&b);
		return NULL;
	}
	return nb_buf_steal(&b);
}

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			.tm_min = mi, .tm_sec = s};
	return (int64_t)timegm(&tm);
}

static void schema_from_columns(void)
{
	CHECK_INT(S.ntables, 3); /* cdc_progress and schema_migrations are skipped */
	CHECK(T_EVENTS >= 0 && T_VARIANTS >= 0 && T_METRICS >= 0);
	const nb_sink_table *t = &S.tables[T_EVENTS];
	CHECK_INT(t->ncols, 10);
	CHECK_INT(t->cols[4].type, NB_SINK_MICROS); /* ts_us pairs with ts */
	CHECK_INT(t->cols[4].src, 3);
	CHECK_INT(t->cols[0].is_key, 1);
	CHECK_INT(t->cols[5].nullable, 1);
	CHECK_INT(t->cols[8].type, NB_SINK_VERSION);
	CHECK_INT(t->cols[9].type, NB_SINK_DELETED);
	CHECK_STR(t->insert_sql, "INSERT INTO neonblue.`events` (`event_id`,`user_id`,`type`,`ts`,"
				 "`ts_us`,`value`,`properties`,`experiment`,`_version`,`_deleted`) "
				 "FORMAT TabSeparated");
	CHECK_INT(S.tables[T_METRICS].cols[1].type, NB_SINK_ARRAY);
	CHECK_INT(S.tables[T_METRICS].cols[1].elem_type, NB_SINK_STRING);
}

static void topic_routing(void)
{
	CHECK_INT(nb_sink_schema_table_for_topic(&S, "neonblue.public.events_y2026m11"), T_EVENTS);
	CHECK_INT(nb_sink_schema_table_for_topic(&S, "other.public.variants"), T_VARIANTS);
	CHECK_INT(nb_sink_schema_table_for_topic(&S, "neonblue.public.audit"), -1);
	CHECK_INT(nb_sink_schema_table_for_topic(&S, "neonblue.public.events_y2026mxx"), -1);
	CHECK_INT(nb_sink_schema_table_for_topic(&S, "neonblue.dlq"), -1);
}

/* An event as the relay renders it, with and without the schema wrapper:
 * both map to the same row. */
static nb_change event_change(char op)
{
	nb_change c;
	nb_change_init(&c);
	nb_change_set(&c.schema, "public");
	nb_change_set(&c.table, "events");
	nb_change_set(&c.source.name, "neonblue");
	nb_change_set(&c.source.db, "neonblue");
	c.op = op;
	c.source.lsn = 0x16B3748;
	c.source.ts_ms = 1795757515000;
	c.ts_ms = 1795757515100;
	nb_tuple *t = op == 'd' ? &c.before : &c.after;
	if (op == 'd')
		c.has_before = 1;
	else
		c.has_after = 1;
	nb_tuple_add(t, "event_id", NB_OID_UUID, "6f1b7d3e-0000-4000-8000-00000000000a")->is_key = 1;
	nb_tuple_add(t, "user_id", NB_OID_TEXT, op == 'd' ? NULL : "user\t7");
	nb_tuple_add(t, "type", NB_OID_TEXT, op == 'd' ? NULL : "purchase");
	nb_tuple_add(t, "ts", NB_OID_TIMESTAMPTZ, "2026-11-27 06:31:55.123456+01")->is_key = 1;
	nb_tuple_add(t, "value", NB_OID_FLOAT8, op == 'd' ? NULL : "19.5");
	nb_tuple_add(t, "properties", NB_OID_JSONB, op == 'd' ? NULL : "{\"sku\": \"a\\nb\"}");
	nb_tuple_add(t, "experiment", NB_OID_TEXT, NULL);
	return c;
}

static void relay_event_with_and_without_schema(void)
{
	int64_t secs = utc(2026, 11, 27, 5, 31, 55);
	char want[512];
	snprintf(want, sizeof want,
		 "6f1b7d3e-0000-4000-8000-00000000000a\tuser\\t7\tpurchase\t%010lld\t123456\t19.5\t"
		 "{\"sku\": \"a\\\\nb\"}\t\\N\t%d\t0\n",
		 (long long)secs, 0x16B3748);
	for (int ws = 0; ws < 2; ws++) {
		nb_change c = event_change('c');
		nb_err e;
		char *v = nb_debezium_value(&c, ws, &e);
		CHECKF(v != NULL, "render: %s", e.msg);
		nb_sink_out r;
		char *row = v ? map(T_EVENTS, v, &r, &e) : NULL;
		CHECKF(row != NULL, "with_schema=%d: %s", ws, e.msg);
		if (row) {
			CHECK_STR(row, want);
			CHECK_INT(r.kind, NB_SINK_ROWS);
			CHECK_INT(r.nrows, 1);
			CHECK_INT(r.lsn, 0x16B3748);
			CHECK_INT(r.op, 'c');
		}
		free(row);
		free(v);
		nb_change_done(&c);
	}
}

static void snapshot_read_is_a_row(void)
{
	nb_change c = event_change('r');
	nb_err e;
	char *v = nb_debezium_value(&c, 0, &e);
	nb_sink_out r;
	char *row = map(T_EVENTS, v, &r, &e);
	CHECK(row != NULL);
	CHECK_INT(r.op, 'r');
	CHECK(row && strstr(row, "\t0\n")); /* not deleted */
	free(row);
	free(v);
	nb_change_done(&c);
}

/* A delete under REPLICA IDENTITY DEFAULT: only the key in before; the row
 * carries the key, defaults elsewhere and _deleted = 1. */
static void delete_marks_row(void)
{
	nb_change c = event_change('d');
	nb_err e;
	char *v = nb_debezium_value(&c, 1, &e);
	nb_sink_out r;
	char *row = map(T_EVENTS, v, &r, &e);
	CHECKF(row != NULL, "%s", e.msg);
	char want[256];
	snprintf(want, sizeof want,
		 "6f1b7d3e-0000-4000-8000-00000000000a\t\t\t%010lld\t123456\t\\N\t\\N\t\\N\t%d\t1\n",
		 (long long)utc(2026, 11, 27, 5, 31, 55), 0x16B3748);
	if (row)
		CHECK_STR(row, want);
	free(row);
	free(v);
	nb_change_done(&c);
}

static void tombstones_store_nothing(void)
{
	nb_sink_out r;
	nb_err e;
	char *row = map(T_EVENTS, NULL, &r, &e);
	CHECK(row && !*row);
	CHECK_INT(r.kind, NB_SINK_TOMBSTONE);
	free(row);
	row = map(T_EVENTS, "null", &r, &e);
	CHECK(row && !*row);
	CHECK_INT(r.kind, NB_SINK_TOMBSTONE);
	free(row);
	row = map(T_EVENTS, "{\"schema\":null,\"payload\":null}", &r, &e);
	CHECK(row && !*row);
	CHECK_INT(r.kind, NB_SINK_TOMBSTONE);
	free(row);
}

/* Real Debezium 2.x output for the variants table, schema-wrapped, as its
 * JsonConverter prints it: boolean, double, int32, io.debezium.data.Json. */
static const char debezium_variant_update[] =
	"{\"schema\":{\"type\":\"struct\",\"fields\":["
	"{\"type\":\"struct\",\"fields\":["
	"{\"type\":\"string\",\"optional\":false,\"field\":\"experiment\"},"
	"{\"type\":\"string\",\"optional\":false,\"field\":\"key\"},"
	"{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"
	"{\"type\":\"double\",\"optional\":false,\"field\":\"weight\"},"
	"{\"type\":\"boolean\",\"optional\":false,\"default\":false,\"field\":\"is_control\"},"
	"{\"type\":\"string\",\"optional\":false,\"name\":\"io.debezium.data.Json\",\"version\":1,"
	"\"default\":\"{}\",\"field\":\"config\"},"
	"{\"type\":\"int32\",\"optional\":false,\"field\":\"position\"}],"
	"\"optional\":true,\"name\":\"neonblue.public.variants.Value\",\"field\":\"before\"},"
	"{\"type\":\"struct\",\"fields\":["
	"{\"type\":\"string\",\"optional\":false,\"field\":\"experiment\"},"
	"{\"type\":\"string\",\"optional\":false,\"field\":\"key\"},"
	"{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"
	"{\"type\":\"double\",\"optional\":false,\"field\":\"weight\"},"
	"{\"type\":\"boolean\",\"optional\":false,\"default\":false,\"field\":\"is_control\"},"
	"{\"type\":\"string\",\"optional\":false,\"name\":\"io.debezium.data.Json\",\"version\":1,"
	"\"default\":\"{}\",\"field\":\"config\"},"
	"{\"type\":\"int32\",\"optional\":false,\"field\":\"position\"}],"
	"\"optional\":true,\"name\":\"neonblue.public.variants.Value\",\"field\":\"after\"},"
	"{\"type\":\"struct\",\"fields\":["
	"{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},"
	"{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},"
	"{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"
	"{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},"
	"{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,"
	"\"parameters\":{\"allowed\":\"true,last,false,incremental\"},\"default\":\"false\","
	"\"field\":\"snapshot\"},"
	"{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},"
	"{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},"
	"{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"
	"{\"type\":\"string\",\"optional\":false,\"field\":\"table\"},"
	"{\"type\":\"int64\",\"optional\":true,\"field\":\"txId\"},"
	"{\"type\":\"int64\",\"optional\":true,\"field\":\"lsn\"},"
	"{\"type\":\"int64\",\"optional\":true,\"field\":\"xmin\"}],"
	"\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\","
	"\"field\":\"source\"},"
	"{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},"
	"{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"}],"
	"\"optional\":false,\"name\":\"neonblue.public.variants.Envelope\",\"version\":1},"
	"\"payload\":{"
	"\"before\":{\"experiment\":\"checkout\",\"key\":\"b\",\"name\":\"B\",\"weight\":0.5,"
	"\"is_control\":false,\"config\":\"{\\\"color\\\": \\\"red\\\"}\",\"position\":1},"
	"\"after\":{\"experiment\":\"checkout\",\"key\":\"b\",\"name\":\"Blue\",\"weight\":0.25,"
	"\"is_control\":true,\"config\":\"{\\\"color\\\": \\\"blue\\\"}\",\"position\":2},"
	"\"source\":{\"version\":\"2.5.0.Final\",\"connector\":\"postgresql\",\"name\":\"neonblue\","
	"\"ts_ms\":1795757515000,\"snapshot\":\"false\",\"db\":\"neonblue\","
	"\"sequence\":\"[\\\"24023928\\\",\\\"24023984\\\"]\",\"schema\":\"public\","
	"\"table\":\"variants\",\"txId\":771,\"lsn\":24023984,\"xmin\":null},"
	"\"op\":\"u\",\"ts_ms\":1795757515123}}";

static void real_debezium_update(void)
{
	nb_sink_out r;
	nb_err e;
	char *row = map(T_VARIANTS, debezium_variant_update, &r, &e);
	CHECKF(row != NULL, "%s", e.msg);
	if (row)
		CHECK_STR(row, "checkout\tb\tBlue\t0.25\t1\t{\"color\": \"blue\"}\t2\t24023984\t0\n");
	CHECK_INT(r.nrows, 1); /* the key did not change: no delete row */
	CHECK_INT(r.op, 'u');
	free(row);
}

/* An update that changes the key (experiment renamed, ON UPDATE CASCADE)
 * deletes the old key and writes the new one. */
static void key_change_deletes_old_key(void)
{
	const char *v = "{\"before\":{\"experiment\":\"old\",\"key\":\"a\",\"name\":\"A\",\"weight\":1,"
			"\"is_control\":true,\"config\":\"{}\",\"position\":0},"
			"\"after\":{\"experiment\":\"new\",\"key\":\"a\",\"name\":\"A\",\"weight\":1,"
			"\"is_control\":true,\"config\":\"{}\",\"position\":0},"
			"\"source\":{\"lsn\":77,\"schema\":\"public\",\"table\":\"variants\"},\"op\":\"u\",\"ts_ms\":1}";
	nb_sink_out r;
	nb_err e;
	char *row = map(T_VARIANTS, v, &r, &e);
	CHECKF(row != NULL, "%s", e.msg);
	CHECK_INT(r.nrows, 2);
	if (row)
		CHECK_STR(row, "old\ta\tA\t1\t1\t{}\t0\t77\t1\n"
			       "new\ta\tA\t1\t1\t{}\t0\t77\t0\n");
	free(row);
}

/* An unchanged TOASTed value in after is taken from before (REPLICA
 * IDENTITY FULL gives it). */
static void toast_unchanged_from_before(void)
{
	const char *v = "{\"before\":{\"experiment\":\"e\",\"key\":\"a\",\"name\":\"A\",\"weight\":1,"
			"\"is_control\":false,\"config\":\"{\\\"big\\\": 1}\",\"position\":0},"
			"\"after\":{\"experiment\":\"e\",\"key\":\"a\",\"name\":\"A2\",\"weight\":1,"
			"\"is_control\":false,\"config\":\"__debezium_unavailable_value\","
			"\"position\":0},\"source\":{\"lsn\":78,\"schema\":\"public\",\"table\":\"t\"},\"op\":\"u\"}";
	nb_sink_out r;
	nb_err e;
	char *row = map(T_VARIANTS, v, &r, &e);
	CHECKF(row != NULL, "%s", e.msg);
	if (row)
		CHECK_STR(row, "e\ta\tA2\t1\t0\t{\"big\": 1}\t0\t78\t0\n");
	free(row);
}

/* Arrays, Date, timestamps as µs numbers (MicroTimestamp without schema) and
 * as ms with the connect Timestamp schema. */
static void arrays_dates_and_micro_timestamps(void)
{
	int64_t us = utc(2026, 1, 2, 3, 4, 5) * 1000000 + 600007;
	char v[600];
	snprintf(v, sizeof v,
		 "{\"after\":{\"key\":\"rev\",\"event_types\":[\"buy\",\"it's\\tx\"],"
		 "\"created_at\":%lld,\"day\":\"2026-01-02\"},\"source\":{\"lsn\":5,\"schema\":\"public\",\"table\":\"t\"},\"op\":\"c\"}",
		 (long long)us);
	nb_sink_out r;
	nb_err e;
	char *row = map(T_METRICS, v, &r, &e);
	CHECKF(row != NULL, "%s", e.msg);
	char want[200];
	snprintf(want, sizeof want, "rev\t['buy','it\\\\'s\\\\tx']\t%010lld\t600007\t2026-01-02\t5\t0\n",
		 (long long)utc(2026, 1, 2, 3, 4, 5));
	if (row)
		CHECK_STR(row, want);
	free(row);
	/* days since epoch with the io.debezium.time.Date schema */
	const char *w = "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\","
			"\"field\":\"after\",\"fields\":[{\"type\":\"string\",\"field\":\"key\"},"
			"{\"type\":\"int32\",\"name\":\"io.debezium.time.Date\",\"field\":\"day\"},"
			"{\"type\":\"int64\",\"name\":\"org.apache.kafka.connect.data.Timestamp\","
			"\"field\":\"created_at\"}]}]},"
			"\"payload\":{\"after\":{\"key\":\"k\",\"day\":20455,\"created_at\":1767323045600,"
			"\"event_types\":null},\"source\":{\"lsn\":6,\"schema\":\"public\",\"table\":\"t\"},\"op\":\"r\"}}";
	row = map(T_METRICS, w, &r, &e);
	CHECKF(row != NULL, "%s", e.msg);
	char want2[200];
	char day[16];
	time_t d = (time_t)20455 * 86400;
	struct tm tm;
	gmtime_r(&d, &tm);
	strftime(day, sizeof day, "%Y-%m-%d", &tm);
	snprintf(want2, sizeof want2, "k\t[]\t%010lld\t600000\t%s\t6\t0\n", 1767323045LL, day);
	if (row)
		CHECK_STR(row, want2);
	free(row);
}

/* Messages that belong in the dead-letter topic: each fails with a reason
 * and leaves nothing behind. */
static void bad_messages_fail_with_reason(void)
{
	struct {
		const char *value, *why;
	} bad[] = {
		{"not json", "not valid JSON"},
		{"{\"after\":{\"user_id\":\"u\",\"ts\":\"2026-01-01T00:00:00Z\"},\"op\":\"c\","
		 "\"source\":{\"lsn\":1,\"schema\":\"public\",\"table\":\"t\"}}",
		 "key column event_id"},
		{"{\"before\":null,\"after\":null,\"op\":\"c\",\"source\":{\"lsn\":1,\"schema\":\"public\",\"table\":\"t\"}}",
		 "without an \"after\""},
		{"{\"before\":null,\"after\":{\"event_id\":\"6f1b7d3e-0000-4000-8000-0000000000aa\"},\"op\":\"x\",\"source\":{\"lsn\":1,\"schema\":\"public\",\"table\":\"t\"}}",
		 "op"},
		{"{\"after\":{\"event_id\":\"6f1b7d3e-0000-4000-8000-00000000000a\",\"ts\":\"yesterday\"},"
		 "\"op\":\"c\",\"source\":{\"lsn\":1,\"schema\":\"public\",\"table\":\"t\"}}",
		 "column ts"},
		{"{\"after\":{\"event_id\":\"6f1b7d3e-0000-4000-8000-00000000000a\","
		 "\"ts\":\"2026-01-01T00:00:00Z\",\"value\":\"abc\"},\"op\":\"c\",\"source\":{\"lsn\":1,\"schema\":\"public\",\"table\":\"t\"}}",
		 "column value"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		nb_sink_out r;
		nb_err e = {0};
		char *row = map(T_EVENTS, bad[i].value, &r, &e);
		CHECKF(row == NULL, "bad message %zu was accepted: %s", i, row ? row : "");
		CHECKF(row != NULL || strstr(e.msg, bad[i].why), "bad message %zu: reason '%s'", i,
		       e.msg);
		CHECK_INT(e.code, NB_EINPUT);
		free(row);
	}
	nb_sink_out r;
	nb_err e;
	CHECK(map(-1, "{}", &r, &e) == NULL);
	/* a truncate stores no rows: it is applied after the rows before it */
	char *row = map(T_EVENTS, "{\"op\":\"t\",\"source\":{\"lsn\":9,\"schema\":\"public\",\"table\":\"t\"}}", &r, &e);
	CHECKF(row != NULL, "%s", e.msg);
	CHECK_INT(r.kind, NB_SINK_TRUNCATE);
	CHECK_INT(r.trunc_col, -1);
	free(row);
}

/* Appending to a buffer that already holds rows keeps them when a later
 * message fails. */
static void failure_keeps_earlier_rows(void)
{
	nb_change c = event_change('c');
	nb_err e;
	char *v = nb_debezium_value(&c, 0, &e);
	nb_buf b;
	nb_buf_init(&b);
	nb_sink_out r;
	CHECK_INT(nb_sink_map(&S, T_EVENTS, v, strlen(v), &b, &r, &e), 0);
	size_t len = b.len;
	const char *bad = "{\"op\":\"c\",\"after\":{\"user_id\":\"x\"}}";
	CHECK_INT(nb_sink_map(&S, T_EVENTS, bad, strlen(bad), &b, &r, &e), -1);
	CHECK_INT(b.len, len);
	CHECK_INT(strlen(b.data), len);
	nb_buf_done(&b);
	free(v);
	nb_change_done(&c);
}

/* The zero-copy reader and nb_debezium_parse give byte-identical rows (or
 * both fail) on a corpus of envelopes, including escapes, unicode, surrogate
 * pairs, numbers of every shape and odd layouts. */
static void fast_path_equals_canonical(void)
{
	const char *ev = "\"source\":{\"lsn\":%s,\"schema\":\"public\",\"table\":\"events\"}";
	const char *bodies[] = {
		"{\"before\":null,\"after\":{\"event_id\":\"6f1b7d3e-0000-4000-8000-00000000000a\","
		"\"user_id\":\"a\\\"b\\\\c\\/d\\te\\u00e9\\ud83d\\ude00\\n\",\"type\":\"t\","
		"\"ts\":\"2026-11-27T05:31:55.5Z\",\"value\":-1.25e3,\"properties\":\"{\\\"k\\\": 1}\","
		"\"experiment\":null},%s,\"op\":\"c\",\"ts_ms\":1}",
		"{ \"op\" : \"r\" , %s , \"after\" : { \"event_id\" : \"6f1b7d3e-0000-4000-8000-0000000000aa\" , \"ts\" : 1767323045600007 ,"
		" \"value\" : 3 , \"extra\" : {\"nested\": [1, {\"a\": \"}\"}]} } }",
		"{\"after\":{\"event_id\":\"6f1b7d3e-0000-4000-8000-0000000000aa\",\"ts\":\"2026-01-01 10:00:00+02\",\"value\":\"NaN\"},"
		"%s,\"op\":\"c\"}",
		"{\"after\":{\"event_id\":\"6f1b7d3e-0000-4000-8000-0000000000aa\",\"ts\":\"2026-01-01T00:00:00Z\",\"user_id\":12},"
		"%s,\"op\":\"c\"}",
		"{\"after\":{\"event_id\":\"6f1b7d3e-0000-4000-8000-0000000000aa\",\"ts\":\"2026-01-01T00:00:00Z\",\"type\":true},"
		"%s,\"op\":\"c\"}",
		"{\"after\":{\"event_id\":\"6f1b7d3e-0000-4000-8000-0000000000aa\",\"ts\":\"2026-01-01T00:00:00Z\",\"type\":\"\\u0000\"},"
		"%s,\"op\":\"c\"}",
		"{\"after\":{\"event_id\":\"6f1b7d3e-0000-4000-8000-0000000000aa\",\"ts\":\"2026-01-01T00:00:00Z\",\"type\":\"\\ud800\"},"
		"%s,\"op\":\"c\"}",
		"{\"before\":{\"event_id\":\"6f1b7d3e-0000-4000-8000-0000000000aa\",\"ts\":\"1969-12-31T23:59:59.999999Z\"},\"after\":null,"
		"%s,\"op\":\"d\"}",
		"{\"after\":{\"user_id\":\"no key\"},%s,\"op\":\"c\"}",
		"{\"after\":{\"event_id\":\"6f1b7d3e-0000-4000-8000-0000000000aa\",\"ts\":\"2026-01-01T00:00:00Z\"},%s,\"op\":\"c\"} trailing",
		"{\"after\":{\"event_id\":\"6f1b7d3e-0000-4000-8000-0000000000aa\",\"ts\":\"2026-01-01T00:00:00Z\"},%s,\"op\":\"c\"",
		"{\"after\":{\"event_id\":\"6f1b7d3e-0000-4000-8000-0000000000aa\",\"ts\":\"2026-01-01T00:00:00Z\",\"value\":1e400},%s,"
		"\"op\":\"c\"}",
		"{\"after\":{\"event_id\":\"6f1b7d3e-0000-4000-8000-0000000000aa\",\"ts\":\"2026-01-01T00:00:00Z\",\"value\":true},%s,"
		"\"op\":\"u\"}",
		"{\"after\":{},%s,\"op\":\"c\"}",
		"[1,2]",
		"{}",
	};
	const char *lsns[] = {"5", "0", "18446744073709551615", "-1", "1.5"};
	/* numbers: what the fast path copies as text must equal what the canonical prints */
	const char *nums[] = {"0.1", "1.50", "100", "-0", "0", "0.0001", "0.00001", "12.34",
			      "123456789012345", "1234567890123456", "1e2", "-7.25", "00.5",
			      "0.30000000000000004", "1.7976931348623157e308", "-0.0"};
	for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
		char msg[400];
		snprintf(msg, sizeof msg,
			 "{\"after\":{\"event_id\":\"6f1b7d3e-0000-4000-8000-0000000000aa\",\"ts\":\"2026-01-01T00:00:00Z\",\"value\":%s},"
			 "\"source\":{\"lsn\":1,\"table\":\"events\"},\"op\":\"c\"}",
			 nums[i]);
		nb_buf a, b;
		nb_buf_init(&a);
		nb_buf_init(&b);
		nb_buf_puts(&a, "");
		nb_buf_puts(&b, "");
		nb_sink_out ra, rb;
		nb_err ea, eb;
		int x = nb_sink_map(&S, T_EVENTS, msg, strlen(msg), &a, &ra, &ea);
		int y = nb_sink_map_canonical(&S, T_EVENTS, msg, strlen(msg), &b, &rb, &eb);
		CHECKF(x == y && !strcmp(a.data, b.data), "number %s: fast %d '%s', canonical %d '%s'",
		       nums[i], x, a.data, y, b.data);
		nb_buf_done(&a);
		nb_buf_done(&b);
	}
	for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
		for (size_t l = 0; l < sizeof lsns / sizeof *lsns; l++) {
			char src[200], msg[2000];
			snprintf(src, sizeof src, ev, lsns[l]);
			snprintf(msg, sizeof msg, bodies[i], src);
			nb_buf a, b;
			nb_buf_init(&a);
			nb_buf_init(&b);
			nb_buf_puts(&a, "");
			nb_buf_puts(&b, "");
			nb_sink_out ra, rb;
			nb_err ea, eb;
			int x = nb_sink_map(&S, T_EVENTS, msg, strlen(msg), &a, &ra, &ea);
			int y = nb_sink_map_canonical(&S, T_EVENTS, msg, strlen(msg), &b, &rb, &eb);
			CHECKF(x == y, "body %zu lsn %s: fast %d, canonical %d (%s)", i, lsns[l], x, y,
			       x ? ea.msg : eb.msg);
			CHECKF(!strcmp(a.data, b.data), "body %zu lsn %s:\n fast      %s canonical %s", i,
			       lsns[l], a.data, b.data);
			CHECKF(x || (ra.nrows == rb.nrows && ra.lsn == rb.lsn && ra.op == rb.op &&
				     ra.kind == rb.kind),
			       "body %zu lsn %s: results differ", i, lsns[l]);
			if ((i == 0 || i == 1) && l < 2)
				CHECKF(ra.fast == 1, "body %zu lsn %s did not take the fast path", i,
				       lsns[l]);
			nb_buf_done(&a);
			nb_buf_done(&b);
		}
	}
}

/* What `stack status` reads from the sink's status file. */
static void status_file_for_stack(void)
{
	char path[] = "/tmp/nbsinkstatusXXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	char text[512];
	snprintf(text, sizeof text,
		 "{\"updated_at\":%lld,\"rows\":7,\"dlq\":1,\"lag_total\":42,"
		 "\"seconds_since_last_row\":1.5,\"lost_messages\":0,\"clickhouse_ok\":true,"
		 "\"waiting_for\":null}\n",
		 (long long)time(NULL));
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	cJSON *o = cJSON_CreateObject();
	nb_sink_status_describe(path, o);
	CHECK_INT(cJSON_GetObjectItem(o, "kafka_lag")->valuedouble, 42);
	CHECK_NEAR(cJSON_GetObjectItem(o, "seconds_since_last_row")->valuedouble, 1.5, 0, 1e-9);
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "waiting_for")));
	CHECK(cJSON_GetObjectItem(o, "status_age_s")->valuedouble < 5);
	cJSON_Delete(o);
	char why[200];
	CHECK_INT(nb_sink_status_health(path, 5, why, sizeof why), 0);
	/* stale and waiting: unhealthy, with the reason */
	FILE *f = fopen(path, "w");
	fprintf(f, "{\"updated_at\":%lld,\"clickhouse_ok\":false,\"waiting_for\":\"ClickHouse: down\"}",
		(long long)time(NULL));
	fclose(f);
	CHECK_INT(nb_sink_status_health(path, 5, why, sizeof why), -1);
	CHECK(strstr(why, "ClickHouse: down") != NULL);
	f = fopen(path, "w");
	fprintf(f, "{\"updated_at\":%lld,\"clickhouse_ok\":true}", (long long)time(NULL) - 60);
	fclose(f);
	CHECK_INT(nb_sink_status_health(path, 5, why, sizeof why), -1);
	CHECK(strstr(why, "not updated") != NULL);
	unlink(path);
	o = cJSON_CreateObject();
	nb_sink_status_describe(path, o);
	CHECK(cJSON_GetObjectItem(o, "status") != NULL);
	cJSON_Delete(o);
	CHECK_INT(nb_sink_status_health(path, 5, why, sizeof why), -1);
}


/* Values ClickHouse would refuse (failing the whole batch) are refused per
 * message, by both paths, naming the column and the value. */
static void values_checked_against_the_column(void)
{
	CHECK_INT(S.tables[T_EVENTS].cols[0].uuid, 1);
	CHECK_INT(S.tables[T_EVENTS].cols[1].uuid, 0);
	CHECK_INT(S.tables[T_VARIANTS].cols[4].bits, 8);  /* is_control UInt8 */
	CHECK_INT(S.tables[T_VARIANTS].cols[6].bits, 32); /* position Int32 */
	static const struct {
		int *table;
		const char *after, *why;
	} bad[] = {
	    {&T_EVENTS, "\"event_id\":\"x\",\"ts\":\"2026-01-01T00:00:00Z\"",
	     "column event_id: \"x\" is not a UUID"},
	    {&T_EVENTS, "\"event_id\":7,\"ts\":\"2026-01-01T00:00:00Z\"",
	     "column event_id: a UUID must be a string"},
	    {&T_VARIANTS, "\"experiment\":\"e\",\"key\":\"k\",\"position\":3000000000",
	     "column position: 3000000000 is out of the range of Int32"},
	    {&T_VARIANTS, "\"experiment\":\"e\",\"key\":\"k\",\"position\":true",
	     "column position: true is not an integer"},
	    {&T_VARIANTS, "\"experiment\":\"e\",\"key\":\"k\",\"position\":2.5",
	     "column position: 2.5 is not an integer (it has a fraction)"},
	    {&T_VARIANTS, "\"experiment\":\"e\",\"key\":\"k\",\"is_control\":256",
	     "column is_control: 256 is out of the range of UInt8"},
	    {&T_EVENTS, "\"event_id\":\"6f1b7d3e-0000-4000-8000-0000000000aa\","
			"\"ts\":\"2026-02-29T00:00:00Z\"",
	     "column ts: \"2026-02-29T00:00:00Z\" is not an ISO-8601 timestamp"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char msg[512];
		snprintf(msg, sizeof msg,
			 "{\"before\":null,\"after\":{%s},\"source\":{\"lsn\":1,\"table\":\"t\"},"
			 "\"op\":\"c\"}",
			 bad[i].after);
		for (int canonical = 0; canonical < 2; canonical++) {
			nb_buf b;
			nb_buf_init(&b);
			nb_sink_out r;
			nb_err e = {0};
			int rc = canonical ? nb_sink_map_canonical(&S, *bad[i].table, msg, strlen(msg),
								   &b, &r, &e)
					   : nb_sink_map(&S, *bad[i].table, msg, strlen(msg), &b, &r, &e);
			CHECKF(rc == -1, "case %zu (%s) was accepted: %s", i,
			       canonical ? "canonical" : "fast", b.data ? b.data : "");
			CHECKF(rc == 0 || strstr(e.msg, bad[i].why), "case %zu: reason '%s', expected '%s'",
			       i, e.msg, bad[i].why);
			CHECK_INT(b.len, 0);
			nb_buf_done(&b);
		}
	}
	/* what fits still maps, by the fast path */
	const char *ok = "{\"before\":null,\"after\":{\"experiment\":\"e\",\"key\":\"k\","
			 "\"is_control\":true,\"position\":-2147483648,\"weight\":0.5},"
			 "\"source\":{\"lsn\":1,\"table\":\"variants\"},\"op\":\"c\"}";
	nb_sink_out r;
	nb_err e;
	char *row = map(T_VARIANTS, ok, &r, &e);
	CHECKF(row != NULL, "%s", e.msg);
	CHECK_INT(r.fast, 1);
	CHECK(row && strstr(row, "\t1\t\t-2147483648\t") != NULL);
	free(row);
}

int main(void)
{
	nbt_suite = "sink";
	load_schema();
	RUN(schema_from_columns);
	RUN(topic_routing);
	RUN(relay_event_with_and_without_schema);
	RUN(snapshot_read_is_a_row);
	RUN(delete_marks_row);
	RUN(tombstones_store_nothing);
	RUN(real_debezium_update);
	RUN(key_change_deletes_old_key);
	RUN(toast_unchanged_from_before);
	RUN(arrays_dates_and_micro_timestamps);
	RUN(bad_messages_fail_with_reason);
	RUN(failure_keeps_earlier_rows);
	RUN(fast_path_equals_canonical);
	RUN(values_checked_against_the_column);
	RUN(status_file_for_stack);
	nb_sink_schema_done(&S);
	return NBT_DONE();
}
