/* cmd_flag.c — `neonblue flag`: feature flags (docs/flags.md) — create,
 * edit, list, show, on, off, rollout, eval, history. */
#include "cli.h"
#include "neonblue/flag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char flag_usage[] =
    "usage: neonblue flag ACTION [options]\n"
    "\n"
    "Actions:\n"
    "  create  KEY [--type T] [--default V] [--description D] [--on] [--rule JSON]...\n"
    "          | --file FILE|-          (a whole definition, docs/flags.md)\n"
    "  edit    KEY [--file FILE|-] [--default V] [--description D] [--rules JSON]\n"
    "              [--remove-rule N] [--add-rule JSON]\n"
    "  list    [--json]\n"
    "  show    KEY [--json]\n"
    "  on      KEY              the flag serves its rules\n"
    "  off     KEY              kill switch: every rule skipped, everyone gets the default\n"
    "  rollout KEY PERCENT      coverage of the first rollout rule (\"25%\", \"25\", \"0.5%\");\n"
    "                           a boolean flag without one gets {rollout, value true}\n"
    "  eval    KEY USER [--attr KEY=VALUE]... [--attrs JSON]\n"
    "  eval    KEY --users FILE|-   one user per line (an id, or {\"user_id\": ...,\n"
    "                           \"attributes\": {...}}); one JSON result per line\n"
    "  history KEY              the flag's audit rows, oldest first\n"
    "\n"
    "A flag has a type (boolean, string, number, json; default boolean), a default\n"
    "value (default false, \"\", 0 or null) and ordered rules; the first rule that\n"
    "applies gives the value (GrowthBook's evalFeature):\n"
    "  {\"type\":\"force\", \"condition\":{...}, \"value\":V}\n"
    "  {\"type\":\"rollout\", \"condition\":{...}, \"coverage\":0.25, \"hash_attribute\":\"id\",\n"
    "   \"seed\":KEY, \"hash_version\":2, \"holdout\":H, \"value\":V}\n"
    "  {\"type\":\"experiment\", \"condition\":{...}, \"experiment\":EXP,\n"
    "   \"variations\":{\"control\":V1, \"treatment\":V2}}\n"
    "A new flag is off unless --on. --default V and rule values are JSON; for a\n"
    "string flag a V that is not JSON is the string itself. eval decides an\n"
    "experiment rule through the user's sticky assignment (what `neonblue assign`\n"
    "gives, stored on first use); a rollout naming a holdout skips its users.\n"
    "Every change is audited (entity flag: create, edit, on, off, rollout).\n"
    "\n"
    "  --json   print the flag (create, edit, show, on, off, rollout), the list,\n"
    "           {flag, user, value, source, rule, variant, enabled} (eval) or the\n"
    "           audit rows (history)\n"
    "Exit status: 0 success, 2 bad input or refused change, 1 server failure.\n"
    "\n" NB_FRONT_GLOBAL_HELP;

struct flag_opts {
	const char *action, *key, *arg2;
	const char *type, *def, *description, *file, *rules, *add_rule, *attrs_json, *users;
	int on, json, remove_rule, npos;
	cJSON *rule_list; /* --rule, in order */
	cJSON *attrs;	  /* --attr */
};

/* The options each action takes (NULL-terminated names, without "--"). */
static const char *const takes[][12] = {
    {"create", "type", "default", "description", "on", "rule", "file", "json", NULL},
    {"edit", "file", "default", "description", "rules", "add-rule", "remove-rule", "json", NULL},
    {"list", "json", NULL},
    {"show", "json", NULL},
    {"on", "json", NULL},
    {"off", "json", NULL},
    {"rollout", "json", NULL},
    {"eval", "attr", "attrs", "users", "json", NULL},
    {"history", "json", NULL},
};

static int action_index(const char *a)
{
	for (size_t i = 0; i < sizeof takes / sizeof *takes; i++)
		if (!strcmp(takes[i][0], a))
			return (int)i;
	return -1;
}

static int option_ok(int action, const char *name)
{
	for (int k = 1; takes[action][k]; k++)
		if (!strcmp(takes[action][k], name))
			return 1;
	return 0;
}

/* Parses argv[2..]; usage errors are printed, returning 2. */
static int flag_parse(const char *cmd, int action, int argc, char **argv, struct flag_opts *o)
{
	nb_err err;
	nb_err_clear(&err);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || !a[1] || (a[1] != '-' && (a[1] < 'a' || a[1] > 'z'))) {
			if (o->npos == 0)
				o->key = a;
			else if (o->npos == 1)
				o->arg2 = a;
			o->npos++;
			continue;
		}
		const char *name = a + (a[1] == '-' ? 2 : 1);
		if (!option_ok(action, name))
			return nb_front_usage_error(cmd, "takes no option '%s'", a);
		if (!strcmp(name, "json") || !strcmp(name, "on")) {
			*(!strcmp(name, "json") ? &o->json : &o->on) = 1;
			continue;
		}
		if (i + 1 >= argc)
			return nb_front_usage_error(cmd, "option '%s' needs a value", a);
		const char *v = argv[++i];
		if (!strcmp(name, "type"))
			o->type = v;
		else if (!strcmp(name, "default"))
			o->def = v;
		else if (!strcmp(name, "description"))
			o->description = v;
		else if (!strcmp(name, "file"))
			o->file = v;
		else if (!strcmp(name, "rules"))
			o->rules = v;
		else if (!strcmp(name, "add-rule"))
			o->add_rule = v;
		else if (!strcmp(name, "attrs"))
			o->attrs_json = v;
		else if (!strcmp(name, "users"))
			o->users = v;
		else if (!strcmp(name, "attr")) {
			if (nb_front_attr_add(o->attrs, v, &err))
				return nb_front_usage_error(cmd, "%s", err.msg);
		} else if (!strcmp(name, "rule")) {
			cJSON *r = cJSON_Parse(v);
			if (!r)
				return nb_front_usage_error(cmd, "--rule %d is not JSON: '%s'",
							    cJSON_GetArraySize(o->rule_list) + 1,
							    v);
			cJSON_AddItemToArray(o->rule_list, r);
		} else if (!strcmp(name, "remove-rule")) {
			char *end;
			long n = strtol(v, &end, 10);
			if (*end || end == v || n < 0 || n > 100000)
				return nb_front_usage_error(
				    cmd, "--remove-rule needs a rule index (0, 1, ...), got '%s'",
				    v);
			o->remove_rule = (int)n;
		}
	}
	int want = !strcmp(takes[action][0], "list") ? 0
		   : !strcmp(takes[action][0], "rollout") ||
			   (!strcmp(takes[action][0], "eval") && !o->users)
		       ? 2
		       : 1;
	if (o->npos != want)
		return nb_front_usage_error(cmd, "needs %s (got %d argument%s)",
					    want == 0				? "no argument"
					    : want == 1				? "KEY"
					    : !strcmp(takes[action][0], "eval") ? "KEY USER"
										: "KEY PERCENT",
					    o->npos, o->npos == 1 ? "" : "s");
	return 0;
}

/* A value given on the command line: JSON, or for a string flag the text. */
static char *value_text(const char *v, enum nb_flag_type t)
{
	cJSON *j = cJSON_Parse(v);
	if (j || t != NB_FLAG_STRING) {
		cJSON_Delete(j);
		return nb_xstrdup(v);
	}
	cJSON *s = cJSON_CreateString(v);
	char *out = cJSON_PrintUnformatted(s);
	cJSON_Delete(s);
	return out;
}

/* "25%", "25" → 0.25; "0.5%" → 0.005. */
static int parse_percent(const char *s, double *out, nb_err *err)
{
	char *end;
	double p = strtod(s, &end);
	if (end == s || (*end && strcmp(end, "%")) || !(p >= 0 && p <= 100))
		return nb_err_set(err, NB_EINPUT, "PERCENT must be 0..100, e.g. 25%% (got '%s')",
				  s);
	*out = p / 100;
	return 0;
}

static int read_definition(const char *path, nb_flag *out, nb_err *err)
{
	nb_buf b;
	nb_buf_init(&b);
	char *text = NULL;
	if (!strcmp(path, "-")) {
		if (nb_buf_read_stream(&b, stdin) < 0) {
			nb_buf_done(&b);
			return nb_err_set(err, NB_EINPUT, "cannot read the definition from stdin");
		}
		text = nb_buf_steal(&b);
	} else if (!(text = nb_buf_read_file(path))) {
		nb_buf_done(&b);
		return nb_err_set(err, NB_EINPUT, "cannot read %s", path);
	}
	nb_buf_done(&b);
	int rc = nb_flag_parse(text, out, err);
	free(text);
	if (rc) {
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "%s", err->msg);
		nb_err_set(err, NB_EINPUT, "%s: %s", path, msg);
	}
	return rc;
}

/* The definition of `flag create` from its options. */
static int create_spec(const struct flag_opts *o, nb_flag *out, nb_err *err)
{
	if (o->file) {
		if (o->type || o->def || o->description || o->on ||
		    cJSON_GetArraySize(o->rule_list))
			return nb_err_set(err, NB_EINPUT,
					  "--file takes the whole definition: no other options");
		if (read_definition(o->file, out, err))
			return -1;
		if (strcmp(out->key, o->key)) {
			nb_flag_done(out);
			return nb_err_set(err, NB_EINPUT, "key: the file defines '%s', not '%s'",
					  out->key, o->key);
		}
		return 0;
	}
	enum nb_flag_type t = NB_FLAG_BOOLEAN;
	if (o->type && nb_flag_type_parse(o->type, &t))
		return nb_err_set(err, NB_EINPUT,
				  "--type must be boolean, string, number or json (got '%s')",
				  o->type);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "key", o->key);
	cJSON_AddStringToObject(j, "type", nb_flag_type_str(t));
	if (o->description)
		cJSON_AddStringToObject(j, "description", o->description);
	cJSON_AddBoolToObject(j, "enabled", o->on);
	int rc = 0;
	if (o->def) {
		char *dv = value_text(o->def, t);
		cJSON *v = cJSON_Parse(dv);
		free(dv);
		if (v)
			cJSON_AddItemToObject(j, "default_value", v);
		else
			rc = nb_err_set(err, NB_EINPUT, "--default: '%s' is not JSON", o->def);
	}
	cJSON_AddItemToObject(j, "rules", cJSON_Duplicate(o->rule_list, 1));
	if (!rc)
		rc = nb_flag_from_json(j, out, err);
	cJSON_Delete(j);
	return rc;
}

static void print_value(const cJSON *v)
{
	char *s = v ? cJSON_PrintUnformatted(v) : NULL;
	fputs(s ? s : "null", stdout);
	free(s);
}

static void print_rule(const nb_flag_rule *r, int i)
{
	printf("    %d %-10s ", i, nb_flag_rule_kind_str(r->kind));
	if (r->condition) {
		fputs("if ", stdout);
		print_value(r->condition);
		fputs(" ", stdout);
	}
	if (r->kind == NB_FLAG_EXPERIMENT) {
		printf("experiment %s%s:", r->experiment,
		       r->resolved && !r->exp ? " (not running: skipped)" : "");
		for (const cJSON *v = r->variations ? r->variations->child : NULL; v; v = v->next) {
			printf(" %s → ", v->string);
			print_value(v);
			fputs(v->next ? "," : "", stdout);
		}
		fputs("\n", stdout);
		return;
	}
	if (r->kind == NB_FLAG_ROLLOUT)
		printf("%.4g%% by %s (seed %s, hash v%d)%s%s ", r->coverage * 100,
		       r->hash_attribute, r->seed, r->hash_version,
		       r->holdout ? " outside holdout " : "", r->holdout ? r->holdout : "");
	fputs("→ ", stdout);
	print_value(r->value);
	fputs("\n", stdout);
}

static void print_flag(const nb_flag *f)
{
	printf("flag %s  %s  %s  version %ld  updated %s\n", f->key, nb_flag_type_str(f->type),
	       f->enabled ? "ON" : "OFF", f->version, f->updated_at);
	if (*f->description)
		printf("  %s\n", f->description);
	fputs("  default  ", stdout);
	print_value(f->default_value);
	fputs(f->enabled ? "\n" : "   (served to everyone: the flag is off)\n", stdout);
	printf("  rules%s\n", f->nrules ? "" : "    (none)");
	for (int i = 0; i < f->nrules; i++)
		print_rule(&f->rules[i], i);
}

static void print_list(const nb_flag *v, size_t n)
{
	printf("%-32s %-8s %-4s %-8s %-5s %s\n", "KEY", "TYPE", "", "ROLLOUT", "RULES", "UPDATED");
	for (size_t i = 0; i < n; i++) {
		char roll[16] = "-";
		for (int k = 0; k < v[i].nrules; k++)
			if (v[i].rules[k].kind == NB_FLAG_ROLLOUT) {
				snprintf(roll, sizeof roll, "%.4g%%", v[i].rules[k].coverage * 100);
				break;
			}
		printf("%-32s %-8s %-4s %-8s %-5d %s\n", v[i].key, nb_flag_type_str(v[i].type),
		       v[i].enabled ? "on" : "off", roll, v[i].nrules, v[i].updated_at);
	}
}

static void show_flag(const nb_flag *f, int json)
{
	if (json) {
		cJSON *j = nb_flag_to_json(f);
		nb_front_print_json(j);
		cJSON_Delete(j);
	} else {
		print_flag(f);
	}
}

/* Loads key and shows it (after a change). */
static int get_and_show(PGconn *pg, const char *key, int json, nb_err *err)
{
	nb_flag f;
	if (nb_flag_get(pg, key, &f, err))
		return -1;
	show_flag(&f, json);
	nb_flag_done(&f);
	return 0;
}

static int do_edit(PGconn *pg, nb_front *ctx, const struct flag_opts *o, nb_err *err)
{
	nb_flag cur;
	if (nb_flag_get(pg, o->key, &cur, err))
		return -1;
	nb_flag_changes ch;
	memset(&ch, 0, sizeof ch);
	ch.remove_rule = o->remove_rule;
	ch.description = o->description;
	ch.rules_json = o->rules;
	ch.add_rule_json = o->add_rule;
	nb_flag def;
	memset(&def, 0, sizeof def);
	int rc = 0;
	enum nb_flag_type t = cur.type;
	if (o->file) {
		rc = read_definition(o->file, &def, err);
		ch.replace = rc ? NULL : &def;
		t = def.type;
	}
	char *dv = o->def ? value_text(o->def, t) : NULL;
	ch.default_json = dv;
	if (!rc && !o->file && !o->def && !o->description && !o->rules && !o->add_rule &&
	    o->remove_rule < 0)
		rc =
		    nb_err_set(err, NB_EINPUT,
			       "nothing to change: give --file, --default, --description, --rules, "
			       "--add-rule or --remove-rule");
	nb_flag out;
	if (!rc && !(rc = nb_flag_edit(pg, o->key, &ch, ctx->cfg.actor, &out, err))) {
		if (o->json)
			show_flag(&out, 1);
		else
			printf("edited flag %s (version %ld)\n", out.key, out.version);
		nb_flag_done(&out);
	}
	free(dv);
	nb_flag_done(&def);
	nb_flag_done(&cur);
	return rc;
}

/* eval --users: one JSON result per line ({"line": N, "error": ...} for a bad one). */
static int eval_users(PGconn *pg, const nb_flag *f, const char *path, nb_err *err)
{
	FILE *in = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!in)
		return nb_err_set(err, NB_EINPUT, "--users: cannot open \"%s\"", path);
	char *text = NULL;
	size_t cap = 0;
	long lineno = 0;
	int bad = 0, rc = 0;
	while (!rc && getline(&text, &cap, in) >= 0) {
		nb_front_user_line l = {.lineno = ++lineno};
		if (strspn(text, " \t\r\n") == strlen(text))
			continue;
		nb_front_user_line_parse(&l, text);
		nb_flag_result r;
		cJSON *o = NULL;
		if (l.error) {
			o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "line", (double)l.lineno);
			cJSON_AddStringToObject(o, "error", l.error);
			bad++;
		} else if (!(rc = nb_flag_eval_sticky(pg, f, l.user, l.attrs, &r, NULL, err))) {
			o = nb_flag_result_to_json(f, l.user, &r);
		}
		if (o)
			nb_front_print_json(o);
		cJSON_Delete(o);
		nb_front_user_line_done(&l);
	}
	fflush(stdout);
	free(text);
	if (in != stdin)
		fclose(in);
	if (!rc && bad)
		rc =
		    nb_err_set(err, NB_EINPUT, "--users: %d bad line%s (see the \"error\" results)",
			       bad, bad == 1 ? "" : "s");
	return rc;
}

static int do_eval(PGconn *pg, const struct flag_opts *o, nb_err *err)
{
	if (o->users) {
		if (o->attrs_json || o->attrs->child)
			return nb_err_set(err, NB_EINPUT,
					  "--users takes each user's attributes from its line: no "
					  "--attr/--attrs");
		nb_flag f;
		if (nb_flag_get(pg, o->key, &f, err))
			return -1;
		int rc = eval_users(pg, &f, o->users, err);
		nb_flag_done(&f);
		return rc;
	}
	cJSON *attrs = NULL;
	if (o->attrs_json) {
		attrs = cJSON_Parse(o->attrs_json);
		if (!cJSON_IsObject(attrs)) {
			cJSON_Delete(attrs);
			return nb_err_set(err, NB_EINPUT, "--attrs must be a JSON object, got '%s'",
					  o->attrs_json);
		}
	} else {
		attrs = cJSON_CreateObject();
	}
	for (const cJSON *c = o->attrs->child; c; c = c->next) {
		cJSON_DeleteItemFromObjectCaseSensitive(attrs, c->string);
		cJSON_AddItemToObject(attrs, c->string, cJSON_Duplicate(c, 1));
	}
	nb_flag f;
	int rc = nb_flag_get(pg, o->key, &f, err);
	nb_flag_result r;
	if (!rc)
		rc = nb_flag_eval_sticky(pg, &f, o->arg2, attrs->child ? attrs : NULL, &r, NULL,
					 err);
	if (!rc) {
		cJSON *j = nb_flag_result_to_json(&f, o->arg2, &r);
		if (o->json) {
			nb_front_print_json(j);
		} else {
			printf("%s %s: ", f.key, o->arg2);
			print_value(r.value);
			printf(" (%s", nb_flag_source_str(r.source));
			if (r.rule >= 0)
				printf(", rule %d", r.rule);
			const cJSON *var = cJSON_GetObjectItemCaseSensitive(j, "variant");
			if (cJSON_IsString(var))
				printf(", variant %s", var->valuestring);
			printf(")\n");
		}
		cJSON_Delete(j);
		nb_flag_done(&f);
	}
	cJSON_Delete(attrs);
	return rc;
}

static int do_history(PGconn *pg, const struct flag_opts *o, nb_err *err)
{
	nb_flag f;
	if (nb_flag_get(pg, o->key, &f, err))
		return -1;
	nb_flag_done(&f);
	cJSON *rows = nb_pg_audit_list(pg, "flag", o->key, err);
	if (!rows)
		return -1;
	if (o->json) {
		nb_front_print_json(rows);
	} else {
		const cJSON *r;
		cJSON_ArrayForEach(r, rows)
		{
			const cJSON *at = cJSON_GetObjectItemCaseSensitive(r, "at");
			const cJSON *actor = cJSON_GetObjectItemCaseSensitive(r, "actor");
			const cJSON *act = cJSON_GetObjectItemCaseSensitive(r, "action");
			printf("%s  %-8s %s\n", cJSON_IsString(at) ? at->valuestring : "",
			       cJSON_IsString(act) ? act->valuestring : "",
			       cJSON_IsString(actor) ? actor->valuestring : "");
		}
	}
	cJSON_Delete(rows);
	return 0;
}

static int flag_run(PGconn *pg, nb_front *ctx, const struct flag_opts *o, nb_err *err)
{
	const char *a = o->action;
	const char *actor = ctx->cfg.actor;
	if (!strcmp(a, "create")) {
		nb_flag spec;
		if (create_spec(o, &spec, err))
			return -1;
		int rc = nb_flag_create(pg, &spec, actor, err);
		nb_flag_done(&spec);
		if (rc)
			return -1;
		if (!o->json) {
			printf("created flag %s\n", o->key);
			return 0;
		}
		return get_and_show(pg, o->key, 1, err);
	}
	if (!strcmp(a, "edit"))
		return do_edit(pg, ctx, o, err);
	if (!strcmp(a, "list")) {
		nb_flag *v;
		size_t n;
		if (nb_flag_list(pg, &v, &n, err))
			return -1;
		if (o->json) {
			cJSON *arr = cJSON_CreateArray();
			for (size_t i = 0; i < n; i++)
				cJSON_AddItemToArray(arr, nb_flag_to_json(&v[i]));
			nb_front_print_json(arr);
			cJSON_Delete(arr);
		} else {
			print_list(v, n);
		}
		nb_flag_list_free(v, n);
		return 0;
	}
	if (!strcmp(a, "show"))
		return get_and_show(pg, o->key, o->json, err);
	if (!strcmp(a, "on") || !strcmp(a, "off")) {
		int on = !strcmp(a, "on");
		if (nb_flag_set_enabled(pg, o->key, on, actor, err))
			return -1;
		if (!o->json) {
			printf("flag %s is %s%s\n", o->key, on ? "on" : "off",
			       on ? "" : ": everyone gets its default value");
			return 0;
		}
		return get_and_show(pg, o->key, 1, err);
	}
	if (!strcmp(a, "rollout")) {
		double c = 0;
		if (parse_percent(o->arg2, &c, err) ||
		    nb_flag_set_rollout(pg, o->key, c, actor, err))
			return -1;
		if (!o->json) {
			printf("flag %s rolls out to %.4g%%\n", o->key, c * 100);
			return 0;
		}
		return get_and_show(pg, o->key, 1, err);
	}
	if (!strcmp(a, "eval"))
		return do_eval(pg, o, err);
	return do_history(pg, o, err);
}

int cmd_flag(nb_front *ctx, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(flag_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (nb_front_wants_help(argc - 1, argv + 1)) {
		fputs(flag_usage, stdout);
		return 0;
	}
	int action = action_index(argv[1]);
	if (action < 0)
		return nb_front_usage_error("flag", "unknown action '%s'", argv[1]);
	char cmd[32];
	snprintf(cmd, sizeof cmd, "flag %s", argv[1]);
	struct flag_opts o;
	memset(&o, 0, sizeof o);
	o.action = argv[1];
	o.remove_rule = -1;
	o.rule_list = cJSON_CreateArray();
	o.attrs = cJSON_CreateObject();
	int rc = flag_parse(cmd, action, argc, argv, &o);
	if (!rc) {
		nb_err err;
		nb_err_clear(&err);
		PGconn *pg = NULL;
		if (nb_config_require_pg(&ctx->cfg, &err) ||
		    !(pg = nb_pg_connect(&ctx->cfg, &err)) || flag_run(pg, ctx, &o, &err))
			rc = nb_front_fail(&err);
		if (pg)
			PQfinish(pg);
	}
	cJSON_Delete(o.rule_list);
	cJSON_Delete(o.attrs);
	return rc;
}
