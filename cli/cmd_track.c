/* cmd_track.c — `neonblue track`: record one event for a user. */
#include "cli.h"
#include "neonblue/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char track_help[] =
	"usage: neonblue track USER TYPE [--value X] [--props JSON] [--ts ISO8601]\n"
	"                      [--exp KEY] [--event-id UUID] [--json]\n"
	"\n"
	"Records one event (the same fields as an `ingest` line). An event_id already\n"
	"stored is skipped, so retrying with the same --event-id is safe.\n"
	"\n"
	"  --value X        a number (revenue, duration, ...)\n"
	"  --props JSON     properties, a JSON object\n"
	"  --ts ISO8601     event time (default now; no zone means UTC)\n"
	"  --exp KEY        the experiment the event belongs to\n"
	"  --event-id UUID  idempotency key (default: a new random uuid)\n"
	"  --json           print {event_id, user_id, type, ts, inserted}\n"
	"\n" NB_FRONT_GLOBAL_HELP;

/* Builds the event object from the command line; errors name the flag. */
static cJSON *track_object(int argc, char **argv, int *json, nb_err *err)
{
	cJSON *o = cJSON_CreateObject();
	int pos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--json")) {
			*json = 1;
			continue;
		}
		if (a[0] == '-' && a[1]) {
			if (!v) {
				nb_err_set(err, NB_EINPUT, "%s needs a value", a);
				goto fail;
			}
			i++;
			if (!strcmp(a, "--value")) {
				char *end;
				double d = strtod(v, &end);
				if (!*v || *end) {
					nb_err_set(err, NB_EINPUT, "--value \"%s\" is not a number", v);
					goto fail;
				}
				cJSON_AddNumberToObject(o, "value", d);
			} else if (!strcmp(a, "--props")) {
				cJSON *p = cJSON_Parse(v);
				if (!cJSON_IsObject(p)) {
					cJSON_Delete(p);
					nb_err_set(err, NB_EINPUT, "--props must be a JSON object, got \"%s\"", v);
					goto fail;
				}
				cJSON_AddItemToObject(o, "properties", p);
			} else if (!strcmp(a, "--ts")) {
				cJSON_AddStringToObject(o, "ts", v);
			} else if (!strcmp(a, "--exp")) {
				cJSON_AddStringToObject(o, "experiment", v);
			} else if (!strcmp(a, "--event-id")) {
				cJSON_AddStringToObject(o, "event_id", v);
			} else {
				nb_err_set(err, NB_EINPUT, "unknown option %s", a);
				goto fail;
			}
			continue;
		}
		if (pos >= 2) {
			nb_err_set(err, NB_EINPUT, "unexpected argument \"%s\"", a);
			goto fail;
		}
		cJSON_AddStringToObject(o, pos++ == 0 ? "user_id" : "type", a);
	}
	if (pos < 2) {
		nb_err_set(err, NB_EINPUT, "missing %s", pos == 0 ? "USER and TYPE" : "TYPE");
		goto fail;
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

int cmd_track(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		fputs(track_help, stdout);
		return 0;
	}
	nb_err err;
	nb_err_clear(&err);
	int json = 0;
	cJSON *o = track_object(argc, argv, &json, &err);
	if (!o)
		return nb_front_usage_error("track", "%s", err.msg);
	nb_pg_event ev;
	if (nb_pg_event_from_json(o, &ev, &err) < 0) {
		cJSON_Delete(o);
		return nb_front_usage_error("track", "%s", err.msg);
	}
	cJSON_Delete(o);
	int rc = 0;
	PGconn *conn = NULL;
	nb_pg_load_stats st;
	if (nb_config_require_pg(&ctx->cfg, &err) < 0 ||
	    !(conn = nb_pg_connect(&ctx->cfg, &err)) ||
	    nb_pg_events_load(conn, &ev, 1, &st, &err) < 0) {
		rc = nb_front_fail(&err);
	} else if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "event_id", ev.event_id);
		cJSON_AddStringToObject(j, "user_id", ev.user_id);
		cJSON_AddStringToObject(j, "type", ev.type);
		cJSON_AddStringToObject(j, "ts", ev.ts);
		cJSON_AddBoolToObject(j, "inserted", st.inserted == 1);
		nb_front_print_json(j);
		cJSON_Delete(j);
	} else {
		printf("%s event %s\n", st.inserted ? "tracked" : "already stored (skipped)",
		       ev.event_id);
	}
	if (conn)
		PQfinish(conn);
	nb_pg_event_done(&ev);
	return rc;
}
