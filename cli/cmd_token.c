/* cmd_token.c — `neonblue token create|list|revoke`: the API tokens of
 * `neonblue serve` (docs/api.md). */
#include "cli.h"
#include "neonblue/pg.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char token_usage[] =
	"usage: neonblue token create --name NAME --scopes LIST [--rate N/s] [--expires DURATION] [--json]\n"
	"       neonblue token list [--json]\n"
	"       neonblue token revoke NAME\n"
	"\n"
	"Tokens authorise applications on `neonblue serve` (docs/api.md): a request\n"
	"sends `Authorization: Bearer TOKEN`. `create` prints the token once;\n"
	"PostgreSQL keeps only its SHA-256. A revoked token is refused by every\n"
	"server within a second.\n"
	"\n"
	"  --name NAME        1-64 of a-z 0-9 _ - (the audit log's actor for its requests)\n"
	"  --scopes LIST      comma-separated: assign (POST /v1/assign), track\n"
	"                     (POST /v1/events), read (GET /v1/...), admin (changes to\n"
	"                     experiments), features (a client key: /api/features, /sub)\n"
	"  --rate N[/s]       requests per second (token bucket, burst N); default unlimited\n"
	"  --expires DURATION e.g. 30d, 12h, 90m, 3600s; default never\n"
	"  --json             create: {name, token, scopes, rate, expires_at};\n"
	"                     list: the tokens (never their secret)\n"
	"\n" NB_FRONT_GLOBAL_HELP;

enum { T_NAME = 1, T_SCOPES, T_RATE, T_EXPIRES, T_JSON };
static const struct option token_opts[] = {
	{"name", required_argument, 0, T_NAME},     {"scopes", required_argument, 0, T_SCOPES},
	{"rate", required_argument, 0, T_RATE},     {"expires", required_argument, 0, T_EXPIRES},
	{"json", no_argument, 0, T_JSON},           {0, 0, 0, 0},
};

/* "30d" / "12h" / "90m" / "3600s" / "3600" → seconds; -1 when bad. */
static double token_duration(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || !(v > 0))
		return -1;
	double mul = !*end || !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60 : !strcmp(end, "h") ? 3600
		     : !strcmp(end, "d") ? 86400 : !strcmp(end, "w") ? 7 * 86400 : -1;
	return mul < 0 ? -1 : v * mul;
}

/* "100", "100/s" → 100; -1 when bad. */
static double token_rate(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || !(v > 0) || (*end && strcmp(end, "/s")))
		return -1;
	return v;
}

static int token_create(nb_front *ctx, PGconn *conn, const char *name, int scopes, double rate,
			double expires, int json, nb_err *err)
{
	char secret[64];
	if (nb_pg_token_create(conn, name, scopes, rate, expires, ctx->cfg.actor, secret, err))
		return -1;
	if (json) {
		cJSON *list = nb_pg_token_list(conn, err), *o = cJSON_CreateObject(), *t;
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddStringToObject(o, "token", secret);
		cJSON_ArrayForEach(t, list) if (!strcmp(cJSON_GetStringValue(
						     cJSON_GetObjectItem(t, "name")), name))
		{
			cJSON_AddItemToObject(o, "scopes",
					      cJSON_Duplicate(cJSON_GetObjectItem(t, "scopes"), 1));
			cJSON_AddItemToObject(o, "rate", cJSON_Duplicate(cJSON_GetObjectItem(t, "rate"), 1));
			cJSON_AddItemToObject(o, "expires_at",
					      cJSON_Duplicate(cJSON_GetObjectItem(t, "expires_at"), 1));
		}
		nb_front_print_json(o);
		cJSON_Delete(o);
		cJSON_Delete(list);
	} else {
		printf("%s\n", secret);
		fprintf(stderr, "token %s created; it is shown only this once\n", name);
	}
	memset(secret, 0, sizeof secret);
	return 0;
}

static int token_list(PGconn *conn, int json, nb_err *err)
{
	cJSON *list = nb_pg_token_list(conn, err), *t;
	if (!list)
		return -1;
	if (json) {
		nb_front_print_json(list);
	} else {
		printf("%-24s %-8s %-28s %-8s %s\n", "NAME", "STATE", "SCOPES", "RATE", "EXPIRES");
		cJSON_ArrayForEach(t, list)
		{
			char sc[128] = "", rate[32] = "-";
			const cJSON *s;
			cJSON_ArrayForEach(s, cJSON_GetObjectItem(t, "scopes"))
				snprintf(sc + strlen(sc), sizeof sc - strlen(sc), "%s%s", sc[0] ? "," : "",
					 s->valuestring);
			const cJSON *r = cJSON_GetObjectItem(t, "rate");
			if (cJSON_IsNumber(r))
				snprintf(rate, sizeof rate, "%g/s", r->valuedouble);
			const char *ex = cJSON_GetStringValue(cJSON_GetObjectItem(t, "expires_at"));
			const char *state = cJSON_IsTrue(cJSON_GetObjectItem(t, "active"))      ? "active"
					    : cJSON_IsString(cJSON_GetObjectItem(t, "revoked_at")) ? "revoked"
												    : "expired";
			printf("%-24s %-8s %-28s %-8s %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")),
			       state, sc, rate, ex ? ex : "never");
		}
	}
	cJSON_Delete(list);
	return 0;
}

int cmd_token(nb_front *ctx, int argc, char **argv)
{
	if (argc < 2 || nb_front_wants_help(argc, argv) || !strcmp(argv[1], "help")) {
		fputs(token_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *action = argv[1];
	char cmd[64];
	snprintf(cmd, sizeof cmd, "token %.40s", action);
	if (strcmp(action, "create") && strcmp(action, "list") && strcmp(action, "revoke"))
		return nb_front_usage_error("token", "unknown action '%s'", action);
	const char *name = NULL, *scopes_s = NULL, *pos = NULL;
	double rate = 0, expires = 0;
	int json = 0, npos = 0, c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc - 1, argv + 1, ":", token_opts, NULL)) != -1) {
		const char *opt = argv[optind];
		(void)opt;
		if (c == '?')
			return nb_front_usage_error(cmd, "unknown option '%s'", argv[optind]);
		if (c == ':')
			return nb_front_usage_error(cmd, "option '%s' needs a value", argv[optind]);
		if (strcmp(action, "create") && c != T_JSON)
			return nb_front_usage_error(cmd, "option '--%s' does not apply here",
						    token_opts[c - 1].name);
		if (c == T_NAME)
			name = optarg;
		else if (c == T_SCOPES)
			scopes_s = optarg;
		else if (c == T_RATE && (rate = token_rate(optarg)) < 0)
			return nb_front_usage_error(cmd, "--rate: \"%s\" is not a positive number of "
							 "requests per second (e.g. 100/s)",
						    optarg);
		else if (c == T_EXPIRES && (expires = token_duration(optarg)) < 0)
			return nb_front_usage_error(cmd, "--expires: \"%s\" is not a duration such as "
							 "30d, 12h, 90m or 3600s",
						    optarg);
		else if (c == T_JSON)
			json = 1;
	}
	for (int i = optind + 1; i < argc; i++)
		if (!npos++)
			pos = argv[i];
	int scopes = 0;
	nb_err err;
	nb_err_clear(&err);
	if (!strcmp(action, "create")) {
		if (!name)
			return nb_front_usage_error(cmd, "--name is required");
		if (!scopes_s)
			return nb_front_usage_error(cmd, "--scopes is required");
		if (npos)
			return nb_front_usage_error(cmd, "takes no positional argument (got '%s')", pos);
		if (nb_pg_scopes_parse(scopes_s, &scopes, &err))
			return nb_front_usage_error(cmd, "%s", err.msg);
	} else if (!strcmp(action, "revoke") && npos != 1) {
		return nb_front_usage_error(cmd, "needs exactly one token NAME");
	} else if (!strcmp(action, "list") && npos) {
		return nb_front_usage_error(cmd, "takes no positional argument (got '%s')", pos);
	}
	PGconn *conn = nb_config_require_pg(&ctx->cfg, &err) ? NULL : nb_pg_connect(&ctx->cfg, &err);
	int rc = -1;
	if (conn && !strcmp(action, "create"))
		rc = token_create(ctx, conn, name, scopes, rate, expires, json, &err);
	else if (conn && !strcmp(action, "list"))
		rc = token_list(conn, json, &err);
	else if (conn && (rc = nb_pg_token_revoke(conn, pos, ctx->cfg.actor, &err)) == 0)
		printf("token %s revoked\n", pos);
	if (conn)
		PQfinish(conn);
	return rc ? nb_front_fail(&err) : 0;
}
