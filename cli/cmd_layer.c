/* cmd_layer.c — `neonblue layer` (mutually exclusive experiments) and
 * `neonblue holdout` (users kept out of the experiments naming it): create,
 * list, show; `holdout report` is `neonblue report` on the holdout.
 * docs/layers.md. */
#include "cli.h"
#include "neonblue/base.h"
#include "neonblue/pg.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *layer_usage =
	"usage: neonblue layer ACTION [options]\n"
	"\n"
	"Actions:\n"
	"  create KEY [--name N] [--description D] [--json]\n"
	"  list   [--json]\n"
	"  show   KEY [--json]\n"
	"\n"
	"A layer is a GrowthBook namespace with a name. Place an experiment in it with\n"
	"`neonblue exp create|edit --namespace KEY:START:END` (a range of [0,1)); the\n"
	"ranges of a layer's live experiments (not stopped or archived) may not overlap:\n"
	"an overlapping placement is refused naming the experiment in the way. A user\n"
	"is in at most one experiment of a layer. show prints the occupancy bar.\n"
	"Exit status: 0 success, 2 bad input or refused change, 1 server failure.\n"
	"\n" NB_FRONT_GLOBAL_HELP;

static const char *holdout_usage =
	"usage: neonblue holdout ACTION [options]\n"
	"\n"
	"Actions:\n"
	"  create KEY --percent P [--seed S] [--name N] [--metrics KEY:primary,...] [--json]\n"
	"  list   [--json]\n"
	"  show   KEY [--json]\n"
	"  report KEY [options of `neonblue report`]\n"
	"\n"
	"A holdout keeps P % of the users (by hash(S, user id), its own seed; default\n"
	"the key) out of every experiment that names it (`exp create|edit --holdout\n"
	"KEY`), in `assign`, `/v1/assign` and the GrowthBook payload alike. Every user\n"
	"who reaches such an experiment is stored as a member: variant holdout or\n"
	"general of the experiment KEY that backs the holdout (running from creation).\n"
	"report compares general against holdout on the holdout's metrics (--metrics;\n"
	"change them with `exp edit KEY --metrics`), like any experiment report.\n"
	"Exit status: 0 success, 2 bad input or refused change, 1 server failure.\n"
	"\n" NB_FRONT_GLOBAL_HELP;

enum { L_NAME = 1000, L_DESC, L_PERCENT, L_SEED, L_METRICS, L_JSON };

static const struct option layer_opts[] = {
	{"name", required_argument, 0, L_NAME},
	{"description", required_argument, 0, L_DESC},
	{"percent", required_argument, 0, L_PERCENT},
	{"seed", required_argument, 0, L_SEED},
	{"metrics", required_argument, 0, L_METRICS},
	{"json", no_argument, 0, L_JSON},
	{0, 0, 0, 0},
};

struct layer_args {
	const char *v[L_JSON - L_NAME]; /* option values by id */
	const char *key;
	int json, npos;
};

/* Parses options; `allowed` lists the option ids the action takes. */
static int layer_parse(const char *cmd, int argc, char **argv, const int *allowed,
		       struct layer_args *a)
{
	memset(a, 0, sizeof *a);
	optind = 0;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", layer_opts, NULL)) != -1) {
		if (c == '?')
			return nb_front_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		if (c == ':')
			return nb_front_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
		int ok = 0;
		for (const int *p = allowed; *p; p++)
			ok |= *p == c;
		if (!ok)
			return nb_front_usage_error(cmd, "takes no option '%s'", argv[optind - 1]);
		if (c == L_JSON)
			a->json = 1;
		else
			a->v[c - L_NAME] = optarg;
	}
	for (int i = optind; i < argc; i++, a->npos++)
		if (!a->npos)
			a->key = argv[i];
	return 0;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(it) ? it->valuestring : "";
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(it) ? it->valuedouble : 0;
}

/* The layer's occupancy as a 50-cell bar: '#' taken, '.' free. */
static void layer_bar(const cJSON *l)
{
	char bar[51];
	memset(bar, '.', 50);
	bar[50] = '\0';
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(l, "experiments"))
	{
		for (int i = 0; i < 50; i++) {
			double mid = (i + 0.5) / 50;
			if (mid >= jnum(e, "start") && mid < jnum(e, "end"))
				bar[i] = '#';
		}
	}
	printf("  [%s] %.4g%% occupied\n", bar, jnum(l, "occupied") * 100);
}

static void layer_print(const cJSON *l)
{
	printf("layer %s%s%s\n", jstr(l, "key"), *jstr(l, "name") ? "  " : "", jstr(l, "name"));
	if (*jstr(l, "description"))
		printf("  %s\n", jstr(l, "description"));
	layer_bar(l);
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(l, "experiments"))
	printf("  %-32s %-8s [%.4g, %.4g)\n", jstr(e, "key"), jstr(e, "status"), jnum(e, "start"),
	       jnum(e, "end"));
}

static void holdout_print(const cJSON *h)
{
	printf("holdout %s  %s\n", jstr(h, "key"), jstr(h, "name"));
	printf("  percent      %.4g%%   seed %s   %s\n", jnum(h, "percent"), jstr(h, "seed"),
	       jstr(h, "status"));
	printf("  members      %.0f (held out %.0f)\n", jnum(h, "members"), jnum(h, "held_out"));
	printf("  experiments ");
	const cJSON *e;
	int n = 0;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(h, "experiments"))
	{
		printf(" %s", e->valuestring);
		n++;
	}
	printf("%s\n", n ? "" : " (none yet: exp edit EXP --holdout KEY)");
}

/* list (key NULL) or show: JSON, a table, or one entity. */
static int ly_show(cJSON *arr, const char *what, const char *key, int json, int holdout,
		   nb_err *err)
{
	if (!arr)
		return -1;
	int rc = 0;
	if (key && !cJSON_GetArraySize(arr))
		rc = nb_err_set(err, NB_EINPUT, "no %s '%s' (see `neonblue %s list`)", what, key, what);
	else if (json)
		nb_front_print_json(key ? cJSON_GetArrayItem(arr, 0) : arr);
	else if (key)
		(holdout ? holdout_print : layer_print)(cJSON_GetArrayItem(arr, 0));
	else {
		const cJSON *x;
		printf("%-24s %-10s %s\n", "KEY", holdout ? "PERCENT" : "OCCUPIED", "EXPERIMENTS");
		cJSON_ArrayForEach(x, arr)
		printf("%-24s %9.4g%% %d\n", jstr(x, "key"),
		       holdout ? jnum(x, "percent") : jnum(x, "occupied") * 100,
		       cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(x, "experiments")));
	}
	cJSON_Delete(arr);
	return rc;
}

/* The common head of both commands: help, the action, its arguments. */
static int ly_head(int argc, char **argv, const char *usage, const char *what, char *cmd,
		   size_t ncmd)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 1;
	}
	if (nb_front_wants_help(argc - 1, argv + 1)) {
		fputs(usage, stdout);
		return 1;
	}
	snprintf(cmd, ncmd, "%s %.40s", what, argv[1]);
	return -1;
}

static int ly_need_key(const char *cmd, const char *action, const struct layer_args *a)
{
	if (!strcmp(action, "list"))
		return a->npos ? nb_front_usage_error(cmd, "takes no positional argument (got '%s')",
						      a->key)
			       : 0;
	return a->npos != 1 ? nb_front_usage_error(cmd, "needs exactly one key") : 0;
}

int cmd_layer(nb_front *ctx, int argc, char **argv)
{
	char cmd[64];
	int h = ly_head(argc, argv, layer_usage, "layer", cmd, sizeof cmd);
	if (h >= 0)
		return h == 1 ? 0 : h;
	const char *action = argv[1];
	int create = !strcmp(action, "create");
	if (!create && strcmp(action, "list") && strcmp(action, "show"))
		return nb_front_usage_error("layer", "unknown action '%s'", action);
	static const int ok_create[] = {L_NAME, L_DESC, L_JSON, 0}, ok_other[] = {L_JSON, 0};
	struct layer_args a;
	if (layer_parse(cmd, argc - 1, argv + 1, create ? ok_create : ok_other, &a) ||
	    ly_need_key(cmd, action, &a))
		return 2;
	nb_err err;
	nb_err_clear(&err);
	PGconn *conn = nb_pg_connect(&ctx->cfg, &err);
	int rc = -1;
	if (conn && create) {
		rc = nb_pg_layer_create(conn, a.key, a.v[L_NAME - L_NAME], a.v[L_DESC - L_NAME],
					ctx->cfg.actor, &err);
		if (!rc && a.json)
			rc = ly_show(nb_pg_layer_list(conn, a.key, &err), "layer", a.key, 1, 0, &err);
		else if (!rc)
			printf("created layer %s\n", a.key);
	} else if (conn) {
		rc = ly_show(nb_pg_layer_list(conn, a.key, &err), "layer", a.key, a.json, 0, &err);
	}
	if (conn)
		PQfinish(conn);
	return rc ? nb_front_fail(&err) : 0;
}

static int holdout_create(PGconn *conn, nb_front *ctx, const struct layer_args *a, nb_err *err)
{
	const char *pct = a->v[L_PERCENT - L_NAME], *metrics = a->v[L_METRICS - L_NAME];
	char *end = NULL;
	double p = pct ? strtod(pct, &end) : 0;
	if (!pct || end == pct || (*end && strcmp(end, "%")))
		return nb_err_set(err, NB_EINPUT, "--percent must be a number, e.g. 5 (got '%s')",
				  pct ? pct : "");
	if (nb_pg_holdout_create(conn, a->key, a->v[L_NAME - L_NAME], p, a->v[L_SEED - L_NAME],
				 ctx->cfg.actor, err))
		return -1;
	if (metrics) {
		nb_pg_experiment_edit ed;
		memset(&ed, 0, sizeof ed);
		ed.coverage = -1;
		ed.metrics_spec = metrics;
		if (nb_pg_experiment_edit_apply(conn, a->key, &ed, ctx->cfg.actor, NULL, err))
			return -1;
	}
	return 0;
}

int cmd_holdout(nb_front *ctx, int argc, char **argv)
{
	char cmd[64];
	int h = ly_head(argc, argv, holdout_usage, "holdout", cmd, sizeof cmd);
	if (h >= 0)
		return h == 1 ? 0 : h;
	const char *action = argv[1];
	int create = !strcmp(action, "create"), report = !strcmp(action, "report");
	if (!create && !report && strcmp(action, "list") && strcmp(action, "show"))
		return nb_front_usage_error("holdout", "unknown action '%s'", action);
	if (report) {
		/* `neonblue report KEY …` once KEY is known to be a holdout */
		if (argc < 3 || argv[2][0] == '-')
			return nb_front_usage_error(cmd, "needs the holdout's key first");
		nb_err err;
		nb_err_clear(&err);
		nb_pg_holdout ho;
		PGconn *conn = nb_pg_connect(&ctx->cfg, &err);
		int rc = conn ? nb_pg_holdout_get(conn, argv[2], &ho, &err) : -1;
		if (conn)
			PQfinish(conn);
		return rc ? nb_front_fail(&err) : cmd_report(ctx, argc - 1, argv + 1);
	}
	static const int ok_create[] = {L_NAME, L_PERCENT, L_SEED, L_METRICS, L_JSON, 0},
			 ok_other[] = {L_JSON, 0};
	struct layer_args a;
	if (layer_parse(cmd, argc - 1, argv + 1, create ? ok_create : ok_other, &a) ||
	    ly_need_key(cmd, action, &a))
		return 2;
	if (create && !a.v[L_PERCENT - L_NAME])
		return nb_front_usage_error(cmd, "needs --percent P (the share held out, 0 < P < 100)");
	nb_err err;
	nb_err_clear(&err);
	PGconn *conn = nb_pg_connect(&ctx->cfg, &err);
	int rc = -1;
	if (conn && create) {
		rc = holdout_create(conn, ctx, &a, &err);
		if (!rc && a.json)
			rc = ly_show(nb_pg_holdout_list(conn, a.key, &err), "holdout", a.key, 1, 1,
				     &err);
		else if (!rc)
			printf("created holdout %s\n", a.key);
	} else if (conn) {
		rc = ly_show(nb_pg_holdout_list(conn, a.key, &err), "holdout", a.key, a.json, 1,
			     &err);
	}
	if (conn)
		PQfinish(conn);
	return rc ? nb_front_fail(&err) : 0;
}
