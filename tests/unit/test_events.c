/* test_events.c — event validation of track/ingest lines (no server). */
#include "nbtest.h"
#include "neonblue/pg.h"

#include <time.h>

static int parse(const char *json, nb_pg_event *ev, nb_err *err)
{
	cJSON *j = cJSON_Parse(json);
	int rc = nb_pg_event_from_json(j, ev, err);
	cJSON_Delete(j);
	return rc;
}

static void ts_forms_and_offsets(void)
{
	double t;
	CHECK_INT(nb_pg_event_parse_ts("2026-03-04T05:06:07Z", &t), 0);
	CHECK(t == 1772600767.0);
	CHECK_INT(nb_pg_event_parse_ts("2026-03-04 07:06:07+02:00", &t), 0);
	CHECK(t == 1772600767.0);
	CHECK_INT(nb_pg_event_parse_ts("2026-03-04T00:06:07-0500", &t), 0);
	CHECK(t == 1772600767.0);
	CHECK_INT(nb_pg_event_parse_ts("2026-03-04", &t), 0);
	CHECK(t == 1772582400.0);
	CHECK_INT(nb_pg_event_parse_ts("2024-02-29T23:59:59.1234567", &t), 0);
	char out[40];
	nb_pg_event_format_ts(t, out, sizeof out);
	CHECK_STR(out, "2024-02-29T23:59:59.123456Z");
	/* cross-check against the C library for a range of instants */
	for (time_t s = 0; s < 4000000000; s += 86399 * 37) {
		struct tm tm;
		gmtime_r(&s, &tm);
		char iso[40];
		strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
		CHECKF(nb_pg_event_parse_ts(iso, &t) == 0 && t == (double)s, "%s → %.1f", iso, t);
	}
	const char *bad[] = {"2026-02-29", "2026-13-01", "2026-1-01", "yesterday", "2026-03-04T24:00",
			     "2026-03-04T05:06:07Zjunk", "1969-12-31", "2026-03-04T05", "", NULL};
	for (int i = 0; bad[i]; i++)
		CHECKF(nb_pg_event_parse_ts(bad[i], &t) < 0, "\"%s\" accepted", bad[i]);
}

static void fields_validated_and_named(void)
{
	nb_pg_event ev;
	nb_err err;
	CHECK_INT(parse("{\"user_id\":\"u\",\"type\":\"t\",\"value\":2.5,\"properties\":{\"a\":1},"
			"\"experiment\":\"exp-1\",\"event_id\":\"0B5E2C4A-1F2D-4C3B-9A8E-7D6C5B4A3F21\"}",
			&ev, &err),
		  0);
	CHECK_STR(ev.event_id, "0b5e2c4a-1f2d-4c3b-9a8e-7d6c5b4a3f21");
	CHECK(ev.has_value && ev.value == 2.5);
	CHECK_STR(ev.properties, "{\"a\":1}");
	CHECK_STR(ev.experiment, "exp-1");
	nb_pg_event_done(&ev);
	CHECK_INT(parse("{\"user_id\":\"u\",\"type\":\"t\"}", &ev, &err), 0);
	CHECK_INT(strlen(ev.event_id), 36);
	CHECK(ev.event_id[14] == '4');
	CHECK(!ev.has_value && !ev.properties && !ev.experiment);
	CHECK(fabs(ev.epoch - (double)time(NULL)) < 5);
	nb_pg_event_done(&ev);
	struct {
		const char *json, *field;
	} bad[] = {
		{"{\"type\":\"t\"}", "user_id is missing"},
		{"{\"user_id\":\"\",\"type\":\"t\"}", "user_id must not be empty"},
		{"{\"user_id\":3,\"type\":\"t\"}", "user_id must be a string"},
		{"{\"user_id\":\"u\"}", "type is missing"},
		{"{\"user_id\":\"u\",\"type\":\"t\",\"value\":\"1\"}", "value must be a number"},
		{"{\"user_id\":\"u\",\"type\":\"t\",\"properties\":[]}", "properties must be"},
		{"{\"user_id\":\"u\",\"type\":\"t\",\"event_id\":\"123\"}", "event_id must be a uuid"},
		{"{\"user_id\":\"u\",\"type\":\"t\",\"ts\":5}", "ts must be an ISO-8601 string"},
		{"{\"user_id\":\"u\",\"type\":\"t\",\"experiment\":\"A B\"}", "experiment \"A B\""},
		{"{\"user_id\":\"u\",\"type\":\"t\",\"usr\":1}", "unknown field \"usr\""},
		{"[1]", "must be a JSON object"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		nb_err_clear(&err);
		CHECKF(parse(bad[i].json, &ev, &err) < 0, "%s accepted", bad[i].json);
		CHECKF(strstr(err.msg, bad[i].field) != NULL, "%s: \"%s\" does not say \"%s\"",
		       bad[i].json, err.msg, bad[i].field);
	}
}

static void uuids_are_v4_and_distinct(void)
{
	char a[37], b[37];
	nb_pg_event_uuid(a);
	nb_pg_event_uuid(b);
	CHECK(strcmp(a, b) != 0);
	CHECK(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
	CHECK(a[14] == '4' && strchr("89ab", a[19]));
}

int main(void)
{
	nbt_suite = "events";
	RUN(ts_forms_and_offsets);
	RUN(fields_validated_and_named);
	RUN(uuids_are_v4_and_distinct);
	return NBT_DONE();
}
