/* cmd_group.c — `neonblue group`: create, edit, list and show the saved groups
 * that conditions name with $inGroup, $notInGroup and $savedGroup. */
#include "cli.h"
#include "neonblue/base.h"
#include "neonblue/pg.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char *group_usage =
	"usage: neonblue group ACTION [options]\n"
	"\n"
	"Actions:\n"
	"  create ID --values JSON [--attribute KEY] [--description D] [--json]\n"
	"  edit   ID [--values JSON] [--attribute KEY|\"\"] [--description D] [--json]\n"
	"  list   [--json]\n"
	"  show   ID [--json]\n"
	"\n"
	"A saved group is a list of attribute values, e.g. --values '[\"u1\",\"u2\"]'.\n"
	"A condition {\"id\":{\"$inGroup\":\"beta\"}} matches users whose id is in group\n"
	"beta; {\"$savedGroup\":{\"id\":\"beta\"}} checks the group's --attribute. Every\n"
	"assignment reads the groups as they are now. Changes are audited.\n"
	"Exit status: 0 success, 2 bad input, 1 server failure.\n"
	"\n" NB_FRONT_GLOBAL_HELP;

enum { G_VALUES = 1000, G_ATTR, G_DESC, G_JSON };

static const struct option group_opts[] = {
	{"values", required_argument, 0, G_VALUES},
	{"attribute", required_argument, 0, G_ATTR},
	{"description", required_argument, 0, G_DESC},
	{"json", no_argument, 0, G_JSON},
	{0, 0, 0, 0},
};

struct group_args {
	const char *values, *attr, *desc, *id;
	int json, npos;
};

static int group_parse(const char *cmd, int argc, char **argv, struct group_args *a)
{
	memset(a, 0, sizeof *a);
	optind = 0;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", group_opts, NULL)) != -1) {
		if (c == '?')
			return nb_front_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		if (c == ':')
			return nb_front_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
		if (c == G_VALUES)
			a->values = optarg;
		else if (c == G_ATTR)
			a->attr = optarg;
		else if (c == G_DESC)
			a->desc = optarg;
		else
			a->json = 1;
	}
	for (int i = optind; i < argc; i++) {
		if (!a->npos)
			a->id = argv[i];
		a->npos++;
	}
	return 0;
}

/* Prints one group: JSON, or "key: value" lines. */
static void group_print(const cJSON *g, int json)
{
	if (json) {
		nb_front_print_json(g);
		return;
	}
	const cJSON *ak = cJSON_GetObjectItemCaseSensitive(g, "attribute_key");
	char *v = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(g, "values"));
	printf("id:          %s\n", cJSON_GetObjectItemCaseSensitive(g, "id")->valuestring);
	printf("attribute:   %s\n", cJSON_IsString(ak) ? ak->valuestring : "-");
	printf("values:      %s\n", v ? v : "[]");
	printf("description: %s\n",
	       cJSON_GetObjectItemCaseSensitive(g, "description")->valuestring);
	printf("updated_at:  %s\n",
	       cJSON_GetObjectItemCaseSensitive(g, "updated_at")->valuestring);
	cJSON_free(v);
}

/* list, or show of one id (unknown: NB_EINPUT). */
static int group_show(PGconn *conn, const struct group_args *a, int list, nb_err *err)
{
	cJSON *arr = nb_pg_group_list(conn, list ? NULL : a->id, err);
	if (!arr)
		return -1;
	int rc = 0;
	if (list && a->json) {
		nb_front_print_json(arr);
	} else if (list) {
		printf("%-24s %-16s %s\n", "ID", "ATTRIBUTE", "VALUES");
		const cJSON *g;
		cJSON_ArrayForEach(g, arr)
		{
			const cJSON *ak = cJSON_GetObjectItemCaseSensitive(g, "attribute_key");
			printf("%-24s %-16s %d\n",
			       cJSON_GetObjectItemCaseSensitive(g, "id")->valuestring,
			       cJSON_IsString(ak) ? ak->valuestring : "-",
			       cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(g, "values")));
		}
	} else if (!cJSON_GetArraySize(arr)) {
		rc = nb_err_set(err, NB_EINPUT, "no saved group \"%s\"", a->id);
	} else {
		group_print(cJSON_GetArrayItem(arr, 0), a->json);
	}
	cJSON_Delete(arr);
	return rc;
}

int cmd_group(nb_front *ctx, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(group_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (nb_front_wants_help(argc - 1, argv + 1)) {
		fputs(group_usage, stdout);
		return 0;
	}
	const char *action = argv[1];
	char cmd[64];
	snprintf(cmd, sizeof cmd, "group %.40s", action);
	struct group_args a;
	if (group_parse(cmd, argc - 1, argv + 1, &a))
		return 2;
	int create = !strcmp(action, "create"), edit = !strcmp(action, "edit");
	int list = !strcmp(action, "list"), show = !strcmp(action, "show");
	if (!create && !edit && !list && !show)
		return nb_front_usage_error("group", "unknown action '%s'", action);
	if ((list || show) && (a.values || a.attr || a.desc))
		return nb_front_usage_error(cmd, "takes no --values, --attribute or --description");
	if (list && a.npos)
		return nb_front_usage_error(cmd, "takes no positional argument (got '%s')", a.id);
	if (!list && a.npos != 1)
		return nb_front_usage_error(cmd, "needs exactly one group id");
	if (create && !a.values)
		return nb_front_usage_error(cmd, "needs --values JSON (an array)");
	nb_err err;
	nb_err_clear(&err);
	PGconn *conn = nb_pg_connect(&ctx->cfg, &err);
	int rc = -1;
	if (conn && (create || edit)) {
		rc = nb_pg_group_save(conn, ctx->cfg.actor, create, a.id, a.values, a.attr, a.desc,
				      &err);
		if (!rc && a.json)
			rc = group_show(conn, &a, 0, &err);
		else if (!rc)
			printf("%s saved group %s\n", create ? "created" : "updated", a.id);
	} else if (conn) {
		rc = group_show(conn, &a, list, &err);
	}
	if (conn)
		PQfinish(conn);
	return rc ? nb_front_fail(&err) : 0;
}
