/* cmd_assign.c — `neonblue assign`: sticky assignment of one user, or of many
 * users read line by line (--users FILE|-), persisted in PostgreSQL. */
#include "cli.h"
#include "neonblue/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char assign_help[] =
	"usage: neonblue assign EXP USER [--attr KEY=VALUE]... [--attrs JSON] [--json]\n"
	"       neonblue assign EXP --users FILE|-\n"
	"\n"
	"Assigns USER to a variant of the running experiment EXP. The first decision\n"
	"(GrowthBook-compatible hashing, targeting, namespace, coverage) is stored;\n"
	"later calls return the stored variant whatever the weights say now.\n"
	"Users outside targeting, namespace or coverage, or in the experiment's\n"
	"holdout (docs/layers.md), are \"not in experiment\" (exit 0, nothing stored;\n"
	"a holdout stores every user who comes by as its member). A non-running\n"
	"experiment is refused (exit 2).\n"
	"\n"
	"  --attr KEY=VALUE  a targeting attribute (repeatable); VALUE is a number,\n"
	"                    true/false/null when it reads as one, else a string\n"
	"  --attrs JSON      all attributes as one JSON object (merged under --attr)\n"
	"  --json            print {experiment, user, in_experiment, variant, reason,\n"
	"                    source, assigned_at, new}\n"
	"  --users FILE|-    bulk: one user per line, either an id or a JSON object\n"
	"                    {\"user_id\": ..., \"attributes\": {...}} (or the attributes\n"
	"                    as the object's other keys); prints one JSON result per\n"
	"                    line and stores new assignments in batches of 1000.\n"
	"                    Bad lines print {\"line\": N, \"error\": ...} and make the\n"
	"                    exit status 2.\n"
	"\n" NB_FRONT_GLOBAL_HELP;

static void assign_print_text(const char *exp, const char *user, const nb_pg_assignment *a)
{
	if (a->in_experiment)
		printf("%s %s: %s (%s%s)\n", exp, user, a->variant, a->reason,
		       a->is_new ? ", new" : "");
	else
		printf("%s %s: not in experiment (%s)\n", exp, user, a->reason);
}

/* Assigns the valid lines of a batch and prints every line's result. */
static int assign_flush(PGconn *conn, const nb_pg_experiment *e, nb_front_user_line *lines,
			int n, int *bad, nb_err *err)
{
	const char **users = nb_xmalloc(sizeof(char *) * (size_t)(n ? n : 1));
	const cJSON **attrs = nb_xmalloc(sizeof(cJSON *) * (size_t)(n ? n : 1));
	nb_pg_assignment *res = nb_xcalloc((size_t)(n ? n : 1), sizeof *res);
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (lines[i].error)
			continue;
		users[k] = lines[i].user;
		attrs[k++] = lines[i].attrs;
	}
	int rc = nb_pg_assign_batch(conn, e, k, users, attrs, res, err);
	k = 0;
	for (int i = 0; rc == 0 && i < n; i++) {
		cJSON *o;
		if (lines[i].error) {
			o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "line", (double)lines[i].lineno);
			cJSON_AddStringToObject(o, "error", lines[i].error);
			(*bad)++;
		} else {
			o = nb_pg_assignment_to_json(e->key, lines[i].user, &res[k++]);
		}
		nb_front_print_json(o);
		cJSON_Delete(o);
	}
	for (int i = 0; i < n; i++)
		nb_front_user_line_done(&lines[i]);
	free(users);
	free(attrs);
	free(res);
	return rc;
}

static int assign_bulk(PGconn *conn, const nb_pg_experiment *e, const char *path, nb_err *err)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f)
		return nb_err_set(err, NB_EINPUT, "--users: cannot open \"%s\"", path);
	nb_front_user_line *lines = nb_xcalloc(NB_PG_ASSIGN_BATCH, sizeof *lines);
	int n = 0, bad = 0, rc = 0;
	long lineno = 0;
	char *text = NULL;
	size_t cap = 0;
	while (rc == 0 && getline(&text, &cap, f) >= 0) {
		lineno++;
		if (strspn(text, " \t\r\n") == strlen(text))
			continue;
		lines[n] = (nb_front_user_line){.lineno = lineno};
		nb_front_user_line_parse(&lines[n++], text);
		if (n == NB_PG_ASSIGN_BATCH) {
			rc = assign_flush(conn, e, lines, n, &bad, err);
			n = 0;
		}
	}
	if (rc == 0)
		rc = assign_flush(conn, e, lines, n, &bad, err);
	fflush(stdout);
	free(text);
	free(lines);
	if (f != stdin)
		fclose(f);
	if (rc == 0 && bad)
		rc = nb_err_set(err, NB_EINPUT, "--users: %d bad line%s (see the \"error\" results)",
				bad, bad == 1 ? "" : "s");
	return rc;
}

struct assign_opts {
	const char *exp, *user, *users_path;
	cJSON *attrs;
	int json;
};

static int assign_parse(int argc, char **argv, struct assign_opts *o, nb_err *err)
{
	cJSON *kv = cJSON_CreateObject();
	const char *attrs_json = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int more = i + 1 < argc;
		if (!strcmp(a, "--json")) {
			o->json = 1;
		} else if (!strcmp(a, "--attr") && more) {
			if (nb_front_attr_add(kv, argv[++i], err) < 0)
				goto fail;
		} else if (!strcmp(a, "--attrs") && more) {
			attrs_json = argv[++i];
		} else if (!strcmp(a, "--users") && more) {
			o->users_path = argv[++i];
		} else if (a[0] == '-' && a[1]) {
			nb_err_set(err, NB_EINPUT, "unknown or incomplete option %s", a);
			goto fail;
		} else if (!o->exp) {
			o->exp = a;
		} else if (!o->user) {
			o->user = a;
		} else {
			nb_err_set(err, NB_EINPUT, "unexpected argument \"%s\"", a);
			goto fail;
		}
	}
	if (attrs_json) {
		o->attrs = cJSON_Parse(attrs_json);
		if (!cJSON_IsObject(o->attrs)) {
			nb_err_set(err, NB_EINPUT, "--attrs must be a JSON object, got \"%s\"",
				   attrs_json);
			goto fail;
		}
	} else {
		o->attrs = cJSON_CreateObject();
	}
	for (cJSON *c = kv->child; c; c = c->next) {
		cJSON_DeleteItemFromObjectCaseSensitive(o->attrs, c->string);
		cJSON_AddItemToObject(o->attrs, c->string, cJSON_Duplicate(c, 1));
	}
	cJSON_Delete(kv);
	if (!o->exp)
		return nb_err_set(err, NB_EINPUT, "missing EXP (the experiment key)");
	if (!o->user == !o->users_path)
		return nb_err_set(err, NB_EINPUT, "give either USER or --users FILE|-");
	return 0;
fail:
	cJSON_Delete(kv);
	return -1;
}

int cmd_assign(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		fputs(assign_help, stdout);
		return 0;
	}
	struct assign_opts o = {0};
	nb_err err;
	nb_err_clear(&err);
	if (assign_parse(argc, argv, &o, &err) < 0) {
		cJSON_Delete(o.attrs);
		return nb_front_usage_error("assign", "%s", err.msg);
	}
	int rc = 0;
	PGconn *conn = NULL;
	nb_pg_experiment e = {0};
	if (nb_config_require_pg(&ctx->cfg, &err) < 0 ||
	    !(conn = nb_pg_connect(&ctx->cfg, &err)) ||
	    nb_pg_assign_load(conn, o.exp, &e, &err) < 0) {
		rc = nb_front_fail(&err);
		goto out;
	}
	if (o.users_path) {
		if (assign_bulk(conn, &e, o.users_path, &err) < 0)
			rc = nb_front_fail(&err);
	} else {
		nb_pg_assignment a;
		const char *users[1] = {o.user};
		const cJSON *attrs[1] = {o.attrs->child ? o.attrs : NULL};
		if (nb_pg_assign_batch(conn, &e, 1, users, attrs, &a, &err) < 0) {
			rc = nb_front_fail(&err);
		} else if (o.json) {
			cJSON *j = nb_pg_assignment_to_json(e.key, o.user, &a);
			nb_front_print_json(j);
			cJSON_Delete(j);
		} else {
			assign_print_text(e.key, o.user, &a);
		}
	}
	nb_pg_experiment_done(&e);
out:
	if (conn)
		PQfinish(conn);
	cJSON_Delete(o.attrs);
	return rc;
}
