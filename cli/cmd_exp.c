/* cmd_exp.c — `neonblue exp`: create, list, show, edit and the lifecycle of experiments. */
#include "cli.h"
#include "neonblue/base.h"
#include "neonblue/pg.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *exp_usage =
	"usage: neonblue exp ACTION [options]\n"
	"\n"
	"Actions:\n"
	"  create  --key KEY [--name NAME] --variants control:50,treatment:50\n"
	"          [--metrics KEY:primary,KEY:guardrail] [--coverage 0..1] [--hash-version 1|2]\n"
	"          [--seed S] [--condition JSON] [--namespace ID:START:END] [--description D]\n"
	"          [--holdout H] [--hypothesis H] [--owner O] [--json]\n"
	"  create  --file FILE|-     (the JSON printed by `exp show --json`)\n"
	"  list    [--status STATUS] [--json]\n"
	"  show    KEY [--json]\n"
	"  edit    KEY [--name N] [--description D] [--hypothesis H] [--owner O]\n"
	"          [--coverage C] [--hash-version V] [--condition JSON|null]\n"
	"          [--namespace ID:START:END|none] [--variants SPEC] [--metrics SPEC]\n"
	"          [--holdout H|none] [--seed S] [--reseed] [--json]\n"
	"  edit    KEY --file FILE|- [options above] [--reseed]   (a whole new definition)\n"
	"  start|pause|stop|archive KEY [--json]\n"
	"  history KEY [--json]      (the audit log of the experiment)\n"
	"  delete  KEY               (drafts only)\n"
	"\n"
	"Lifecycle: draft -> running <-> paused -> stopped -> archived. Only drafts can be\n"
	"deleted or have their variants changed; a running or paused experiment is\n"
	"re-weighted only with --reseed, which bumps version and seed. Every change is\n"
	"written to the audit log with the actor (--actor or $USER).\n"
	"Variants: KEY:WEIGHT,... (weights sum to 1 or 100, normalised) or KEY,KEY (equal);\n"
	"the first variant is the control.\n"
	"Layers and holdouts (docs/layers.md): --namespace LAYER:START:END places the\n"
	"experiment in a layer (`neonblue layer`; overlapping ranges are refused);\n"
	"--holdout H keeps the users of holdout H (`neonblue holdout`) out of it.\n"
	"Exit status: 0 success, 2 bad input or refused change, 1 server failure.\n"
	"\n" NB_FRONT_GLOBAL_HELP;

enum {
	O_KEY = 1000, O_NAME, O_DESC, O_HYP, O_OWNER, O_VARIANTS, O_METRICS, O_COVERAGE, O_HASHV,
	O_SEED, O_COND, O_NS, O_HOLDOUT, O_FILE, O_JSON, O_STATUS, O_RESEED,
};

static const struct option exp_opts[] = {
	{"key", required_argument, 0, O_KEY},
	{"name", required_argument, 0, O_NAME},
	{"description", required_argument, 0, O_DESC},
	{"hypothesis", required_argument, 0, O_HYP},
	{"owner", required_argument, 0, O_OWNER},
	{"variants", required_argument, 0, O_VARIANTS},
	{"metrics", required_argument, 0, O_METRICS},
	{"coverage", required_argument, 0, O_COVERAGE},
	{"hash-version", required_argument, 0, O_HASHV},
	{"seed", required_argument, 0, O_SEED},
	{"condition", required_argument, 0, O_COND},
	{"namespace", required_argument, 0, O_NS},
	{"holdout", required_argument, 0, O_HOLDOUT},
	{"file", required_argument, 0, O_FILE},
	{"json", no_argument, 0, O_JSON},
	{"status", required_argument, 0, O_STATUS},
	{"reseed", no_argument, 0, O_RESEED},
	{0, 0, 0, 0},
};

struct exp_args {
	const char *v[O_RESEED - O_KEY + 1]; /* option values by id */
	int json, reseed;
	const char *pos; /* the one positional argument (KEY) */
	int npos;
};

#define ARG(a, id) ((a)->v[(id)-O_KEY])

/* Parses argv (argv[0] = action). Returns 0 or the exit status 2. */
static int parse_args(const char *cmd, int argc, char **argv, struct exp_args *a)
{
	memset(a, 0, sizeof *a);
	optind = 0;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", exp_opts, NULL)) != -1) {
		if (c == '?')
			return nb_front_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		if (c == ':')
			return nb_front_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
		if (c == O_JSON)
			a->json = 1;
		else if (c == O_RESEED)
			a->reseed = 1;
		else
			ARG(a, c) = optarg;
	}
	for (int i = optind; i < argc; i++) {
		if (!a->npos)
			a->pos = argv[i];
		a->npos++;
	}
	return 0;
}

/* Refuses options that the action does not take. */
static int only_opts(const char *cmd, const struct exp_args *a, const int *allowed)
{
	for (int id = O_KEY; id <= O_RESEED; id++) {
		int set = id == O_JSON ? a->json : id == O_RESEED ? a->reseed : ARG(a, id) != NULL;
		if (!set)
			continue;
		int ok = 0;
		for (const int *p = allowed; *p; p++)
			ok |= *p == id;
		if (!ok)
			return nb_front_usage_error(cmd, "option '--%s' does not apply here",
					       exp_opts[id - O_KEY].name);
	}
	return 0;
}

static int need_key(const char *cmd, const struct exp_args *a)
{
	if (a->npos != 1)
		return nb_front_usage_error(cmd, "expects exactly one experiment KEY (got %d arguments)",
				       a->npos);
	return 0;
}

static int parse_num(const char *field, const char *s, double *out, nb_err *err)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v))
		return nb_err_set(err, NB_EINPUT, "%s '%s' is not a number", field, s);
	*out = v;
	return 0;
}

static int parse_hashv(const char *s, int *out, nb_err *err)
{
	if (!strcmp(s, "1") || !strcmp(s, "2")) {
		*out = s[0] - '0';
		return 0;
	}
	return nb_err_set(err, NB_EINPUT, "hash_version must be 1 or 2 (got '%s')", s);
}

static int parse_namespace(const char *spec, nb_pg_experiment *e, nb_err *err)
{
	char id[256];
	int used = 0;
	if (sscanf(spec, "%255[^:]:%lf:%lf%n", id, &e->ns_start, &e->ns_end, &used) != 3 ||
	    spec[used])
		return nb_err_set(err, NB_EINPUT, "namespace '%s' must be id:start:end", spec);
	e->ns_id = nb_xstrdup(id);
	return 0;
}

static char *read_all(const char *path, nb_err *err)
{
	char *text = nb_buf_read_file(path);
	if (!text)
		nb_err_set(err, NB_EINPUT, "cannot read --file %s: %s", path, strerror(errno));
	return text;
}

static int def_from_file(const char *path, nb_pg_experiment *e, nb_err *err)
{
	char *text = read_all(path, err);
	if (!text)
		return -1;
	cJSON *j = cJSON_Parse(text);
	free(text);
	if (!j)
		return nb_err_set(err, NB_EINPUT, "--file %s is not valid JSON", path);
	int rc = nb_pg_experiment_from_json(j, e, err);
	cJSON_Delete(j);
	return rc;
}

static char *dup_opt(const char *s)
{
	return s ? nb_xstrdup(s) : NULL;
}

static int def_targeting(const struct exp_args *a, nb_pg_experiment *e, nb_err *err)
{
	e->coverage = 1;
	e->hash_version = 2;
	if (ARG(a, O_COVERAGE) && parse_num("coverage", ARG(a, O_COVERAGE), &e->coverage, err))
		return -1;
	if (ARG(a, O_HASHV) && parse_hashv(ARG(a, O_HASHV), &e->hash_version, err))
		return -1;
	if (ARG(a, O_NS) && parse_namespace(ARG(a, O_NS), e, err))
		return -1;
	if (ARG(a, O_HOLDOUT))
		e->holdout = nb_xstrdup(ARG(a, O_HOLDOUT));
	if (ARG(a, O_COND)) {
		e->condition = cJSON_Parse(ARG(a, O_COND));
		if (!e->condition || !(cJSON_IsObject(e->condition) || cJSON_IsNull(e->condition)))
			return nb_err_set(err, NB_EINPUT,
					  "condition must be a JSON object (got '%.80s')",
					  ARG(a, O_COND));
		if (cJSON_IsNull(e->condition)) {
			cJSON_Delete(e->condition);
			e->condition = NULL;
		}
	}
	return 0;
}

static int def_from_flags(const struct exp_args *a, nb_pg_experiment *e, nb_err *err)
{
	memset(e, 0, sizeof *e);
	if (!ARG(a, O_KEY))
		return nb_err_set(err, NB_EINPUT, "key is required (--key KEY or --file FILE)");
	if (!ARG(a, O_VARIANTS))
		return nb_err_set(err, NB_EINPUT,
				  "variants are required (--variants control:50,treatment:50)");
	e->key = nb_xstrdup(ARG(a, O_KEY));
	e->name = dup_opt(ARG(a, O_NAME));
	e->description = dup_opt(ARG(a, O_DESC));
	e->hypothesis = dup_opt(ARG(a, O_HYP));
	e->owner = dup_opt(ARG(a, O_OWNER));
	e->seed = dup_opt(ARG(a, O_SEED));
	if (def_targeting(a, e, err) ||
	    nb_pg_variants_parse(ARG(a, O_VARIANTS), &e->variants, &e->nvariants, err))
		return -1;
	if (ARG(a, O_METRICS) &&
	    nb_pg_exp_metrics_parse(ARG(a, O_METRICS), &e->metrics, &e->nmetrics, err))
		return -1;
	return nb_pg_experiment_validate(e, err);
}

/* ---- output ----------------------------------------------------------------- */

static void print_exp_text(const nb_pg_experiment *e)
{
	printf("%s  (%s, version %ld)\n", e->key, e->status, e->version);
	printf("  name         %s\n", e->name);
	if (*e->description)
		printf("  description  %s\n", e->description);
	if (*e->hypothesis)
		printf("  hypothesis   %s\n", e->hypothesis);
	if (*e->owner)
		printf("  owner        %s\n", e->owner);
	printf("  seed         %s   hash version %d   coverage %.4g%%\n", e->seed, e->hash_version,
	       e->coverage * 100);
	if (e->ns_id)
		printf("  namespace    %s [%.4g, %.4g)\n", e->ns_id, e->ns_start, e->ns_end);
	if (e->holdout)
		printf("  holdout      %s (%.4g%% of users held out)\n", e->holdout,
		       e->holdout_share * 100);
	if (e->is_holdout)
		printf("  backs        holdout %s (`neonblue holdout show %s`)\n", e->key, e->key);
	if (e->condition) {
		char *c = nb_json_print(e->condition);
		printf("  condition    %s\n", c);
		free(c);
	}
	printf("  variants\n");
	for (int i = 0; i < e->nvariants; i++)
		printf("    %-20s %7.3f%%%s\n", e->variants[i].key, e->variants[i].weight * 100,
		       e->variants[i].is_control ? "  (control)" : "");
	if (e->nmetrics)
		printf("  metrics\n");
	for (int i = 0; i < e->nmetrics; i++)
		printf("    %-20s %s\n", e->metrics[i].key, e->metrics[i].role);
	printf("  created      %s\n", e->created_at);
	if (*e->started_at)
		printf("  started      %s\n", e->started_at);
	if (*e->stopped_at)
		printf("  stopped      %s\n", e->stopped_at);
}

static void print_exp(const nb_pg_experiment *e, int json)
{
	if (json) {
		cJSON *j = nb_pg_experiment_to_json(e);
		nb_front_print_json(j);
		cJSON_Delete(j);
	} else {
		print_exp_text(e);
	}
}

/* ---- actions -------------------------------------------------------------------- */

static PGconn *connect_pg(nb_front *ctx, nb_err *err)
{
	return nb_pg_connect(&ctx->cfg, err);
}

static int finish(PGconn *conn, nb_err *err, int rc)
{
	if (conn)
		PQfinish(conn);
	return rc ? nb_front_fail(err) : 0;
}

static int act_create(nb_front *ctx, const struct exp_args *a)
{
	static const int ok[] = {O_KEY,	   O_NAME, O_DESC, O_HYP,  O_OWNER, O_VARIANTS,
				 O_METRICS, O_COVERAGE, O_HASHV, O_SEED, O_COND,  O_NS,
				 O_HOLDOUT, O_FILE,    O_JSON, 0};
	if (only_opts("exp create", a, ok))
		return 2;
	if (a->npos)
		return nb_front_usage_error("exp create", "takes no positional argument (got '%s')",
				       a->pos);
	nb_err err;
	nb_err_clear(&err);
	nb_pg_experiment e;
	memset(&e, 0, sizeof e);
	if (ARG(a, O_FILE)) {
		for (int id = O_KEY; id <= O_HOLDOUT; id++)
			if (ARG(a, id))
				return nb_front_usage_error("exp create",
						       "--file cannot be combined with --%s",
						       exp_opts[id - O_KEY].name);
		if (def_from_file(ARG(a, O_FILE), &e, &err))
			return nb_front_fail(&err);
	} else if (def_from_flags(a, &e, &err)) {
		nb_pg_experiment_done(&e);
		return nb_front_fail(&err);
	}
	PGconn *conn = connect_pg(ctx, &err);
	int rc = !conn || nb_pg_experiment_create(conn, &e, ctx->cfg.actor, &err);
	nb_pg_experiment out;
	if (!rc)
		rc = nb_pg_experiment_get(conn, e.key, 0, &out, &err);
	if (!rc) {
		if (a->json)
			print_exp(&out, 1);
		else
			printf("created experiment %s (draft, version %ld)\n", out.key, out.version);
		nb_pg_experiment_done(&out);
	}
	nb_pg_experiment_done(&e);
	return finish(conn, &err, rc);
}

static int act_list(nb_front *ctx, const struct exp_args *a)
{
	static const int ok[] = {O_STATUS, O_JSON, 0};
	if (only_opts("exp list", a, ok))
		return 2;
	if (a->npos)
		return nb_front_usage_error("exp list", "takes no positional argument (got '%s')", a->pos);
	const char *st = ARG(a, O_STATUS);
	if (st && strcmp(st, "draft") && strcmp(st, "running") && strcmp(st, "paused") &&
	    strcmp(st, "stopped") && strcmp(st, "archived"))
		return nb_front_usage_error("exp list",
				       "status '%s' must be draft, running, paused, stopped or archived",
				       st);
	nb_err err;
	nb_err_clear(&err);
	PGconn *conn = connect_pg(ctx, &err);
	nb_pg_experiment *list = NULL;
	int n = 0;
	int rc = !conn || nb_pg_experiment_list(conn, ARG(a, O_STATUS), &list, &n, &err);
	if (!rc && a->json) {
		cJSON *arr = cJSON_CreateArray();
		for (int i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, nb_pg_experiment_to_json(&list[i]));
		nb_front_print_json(arr);
		cJSON_Delete(arr);
	} else if (!rc) {
		printf("%-24s %-9s %7s %8s  %s\n", "KEY", "STATUS", "VERSION", "VARIANTS", "NAME");
		for (int i = 0; i < n; i++)
			printf("%-24s %-9s %7ld %8d  %s\n", list[i].key, list[i].status,
			       list[i].version, list[i].nvariants, list[i].name);
	}
	for (int i = 0; i < n; i++)
		nb_pg_experiment_done(&list[i]);
	free(list);
	return finish(conn, &err, rc);
}

static int act_show(nb_front *ctx, const struct exp_args *a)
{
	static const int ok[] = {O_JSON, 0};
	if (only_opts("exp show", a, ok) || need_key("exp show", a))
		return 2;
	nb_err err;
	nb_err_clear(&err);
	PGconn *conn = connect_pg(ctx, &err);
	nb_pg_experiment e;
	int rc = !conn || nb_pg_experiment_get(conn, a->pos, 0, &e, &err);
	if (!rc) {
		print_exp(&e, a->json);
		nb_pg_experiment_done(&e);
	}
	return finish(conn, &err, rc);
}

static int edit_from_args(const struct exp_args *a, nb_pg_experiment_edit *ed, nb_err *err)
{
	memset(ed, 0, sizeof *ed);
	ed->name = ARG(a, O_NAME);
	ed->description = ARG(a, O_DESC);
	ed->hypothesis = ARG(a, O_HYP);
	ed->owner = ARG(a, O_OWNER);
	ed->condition_json = ARG(a, O_COND);
	ed->namespace_spec = ARG(a, O_NS);
	ed->holdout = ARG(a, O_HOLDOUT);
	ed->variants_spec = ARG(a, O_VARIANTS);
	ed->metrics_spec = ARG(a, O_METRICS);
	ed->seed = ARG(a, O_SEED);
	ed->reseed = a->reseed;
	ed->coverage = -1;
	if (ARG(a, O_COVERAGE)) {
		if (parse_num("coverage", ARG(a, O_COVERAGE), &ed->coverage, err))
			return -1;
		if (!(ed->coverage >= 0 && ed->coverage <= 1))
			return nb_err_set(err, NB_EINPUT, "coverage must be between 0 and 1 (got %s)",
					  ARG(a, O_COVERAGE));
	}
	if (ARG(a, O_HASHV) && parse_hashv(ARG(a, O_HASHV), &ed->hash_version, err))
		return -1;
	return 0;
}

static int act_edit(nb_front *ctx, const struct exp_args *a)
{
	static const int ok[] = {O_NAME,    O_DESC,	O_HYP,	O_OWNER, O_VARIANTS, O_METRICS,
				 O_COVERAGE, O_HASHV, O_SEED, O_COND,	O_NS,	    O_RESEED,
				 O_HOLDOUT, O_FILE,    O_JSON,	0};
	if (only_opts("exp edit", a, ok) || need_key("exp edit", a))
		return 2;
	int any = a->reseed;
	for (int id = O_NAME; id <= O_FILE; id++)
		any |= ARG(a, id) != NULL;
	if (!any)
		return nb_front_usage_error("exp edit", "nothing to change: give at least one option");
	nb_err err;
	nb_err_clear(&err);
	nb_pg_experiment_edit ed;
	nb_pg_experiment def;
	memset(&def, 0, sizeof def);
	if (edit_from_args(a, &ed, &err))
		return nb_front_fail(&err);
	if (ARG(a, O_FILE)) {
		if (def_from_file(ARG(a, O_FILE), &def, &err))
			return nb_front_fail(&err);
		ed.replace = &def;
	}
	PGconn *conn = connect_pg(ctx, &err);
	nb_pg_experiment out;
	int rc = !conn || nb_pg_experiment_edit_apply(conn, a->pos, &ed, ctx->cfg.actor, &out, &err);
	nb_pg_experiment_done(&def);
	if (!rc) {
		if (a->json)
			print_exp(&out, 1);
		else
			printf("updated experiment %s (%s, version %ld)\n", out.key, out.status,
			       out.version);
		nb_pg_experiment_done(&out);
	}
	return finish(conn, &err, rc);
}

static int act_transition(nb_front *ctx, const char *action, const struct exp_args *a)
{
	static const int ok[] = {O_JSON, 0};
	char cmd[32];
	snprintf(cmd, sizeof cmd, "exp %s", action);
	if (only_opts(cmd, a, ok) || need_key(cmd, a))
		return 2;
	nb_err err;
	nb_err_clear(&err);
	PGconn *conn = connect_pg(ctx, &err);
	nb_pg_experiment out;
	int rc = !conn || nb_pg_experiment_transition(conn, a->pos, action, ctx->cfg.actor, &out, &err);
	if (!rc) {
		if (a->json)
			print_exp(&out, 1);
		else
			printf("experiment %s is %s\n", out.key, out.status);
		nb_pg_experiment_done(&out);
	}
	return finish(conn, &err, rc);
}

/* The top-level fields that differ between before and after, comma-separated. */
static void changed_fields(const cJSON *b, const cJSON *a, char *out, size_t n)
{
	out[0] = '\0';
	if (!cJSON_IsObject(b) || !cJSON_IsObject(a))
		return;
	size_t len = 0;
	for (const cJSON *f = a->child; f; f = f->next) {
		if (!strcmp(f->string, "updated_at"))
			continue;
		const cJSON *old = cJSON_GetObjectItemCaseSensitive(b, f->string);
		if (old && cJSON_Compare(old, f, 1))
			continue;
		len += (size_t)snprintf(out + len, len < n ? n - len : 0, "%s%s", len ? ", " : "",
					f->string);
		if (len >= n)
			break;
	}
}

static int act_history(nb_front *ctx, const struct exp_args *a)
{
	static const int ok[] = {O_JSON, 0};
	if (only_opts("exp history", a, ok) || need_key("exp history", a))
		return 2;
	nb_err err;
	nb_err_clear(&err);
	PGconn *conn = connect_pg(ctx, &err);
	cJSON *rows = conn ? nb_pg_audit_list(conn, "experiment", a->pos, &err) : NULL;
	int rc = !rows;
	if (!rc && !cJSON_GetArraySize(rows))
		rc = nb_err_set(&err, NB_EINPUT, "no history for experiment '%s' (see `neonblue exp list`)",
				a->pos);
	if (!rc && a->json) {
		nb_front_print_json(rows);
	} else if (!rc) {
		for (const cJSON *r = rows->child; r; r = r->next) {
			char fields[512];
			changed_fields(cJSON_GetObjectItem(r, "before"), cJSON_GetObjectItem(r, "after"),
				       fields, sizeof fields);
			printf("%-27s %-16s %-8s %s\n", cJSON_GetObjectItem(r, "at")->valuestring,
			       cJSON_GetObjectItem(r, "actor")->valuestring,
			       cJSON_GetObjectItem(r, "action")->valuestring, fields);
		}
	}
	cJSON_Delete(rows);
	return finish(conn, &err, rc);
}

static int act_delete(nb_front *ctx, const struct exp_args *a)
{
	static const int ok[] = {0};
	if (only_opts("exp delete", a, ok) || need_key("exp delete", a))
		return 2;
	nb_err err;
	nb_err_clear(&err);
	PGconn *conn = connect_pg(ctx, &err);
	int rc = !conn || nb_pg_experiment_delete(conn, a->pos, ctx->cfg.actor, &err);
	if (!rc)
		printf("deleted experiment %s\n", a->pos);
	return finish(conn, &err, rc);
}

int cmd_exp(nb_front *ctx, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(exp_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (nb_front_wants_help(argc - 1, argv + 1)) {
		fputs(exp_usage, stdout);
		return 0;
	}
	const char *action = argv[1];
	char cmd[64];
	snprintf(cmd, sizeof cmd, "exp %.40s", action);
	struct exp_args a;
	if (parse_args(cmd, argc - 1, argv + 1, &a))
		return 2;
	if (!strcmp(action, "create"))
		return act_create(ctx, &a);
	if (!strcmp(action, "list"))
		return act_list(ctx, &a);
	if (!strcmp(action, "show"))
		return act_show(ctx, &a);
	if (!strcmp(action, "edit"))
		return act_edit(ctx, &a);
	if (!strcmp(action, "delete"))
		return act_delete(ctx, &a);
	if (!strcmp(action, "history"))
		return act_history(ctx, &a);
	if (!strcmp(action, "start") || !strcmp(action, "pause") || !strcmp(action, "stop") ||
	    !strcmp(action, "archive"))
		return act_transition(ctx, action, &a);
	return nb_front_usage_error("exp", "unknown action '%s'", action);
}
