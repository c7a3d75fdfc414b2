/* cmd_metric.c — `neonblue metric`: create, list, show and edit metric definitions. */
#include "cli.h"
#include "neonblue/base.h"
#include "neonblue/pg.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *metric_usage =
	"usage: neonblue metric ACTION [options]\n"
	"\n"
	"Actions:\n"
	"  create --key KEY [--name NAME] --kind binomial|count|sum|mean|ratio\n"
	"         --events TYPE[,TYPE] [--value-property P] [--direction increase|decrease]\n"
	"         [--winsorize PCT] [--description D] [--json]\n"
	"  list   [--json]\n"
	"  show   KEY [--json]\n"
	"  edit   KEY [--name N] [--kind K] [--events T,..] [--value-property P|none]\n"
	"         [--direction D] [--winsorize PCT|none] [--description D] [--json]\n"
	"\n"
	"Kinds: binomial (user had any of the events), count (events per user), sum and\n"
	"mean (of the event value, or of properties.P with --value-property), ratio\n"
	"(sum over the first event type / sum over the second). --winsorize caps values\n"
	"at that percentile (e.g. 99). Every change is written to the audit log.\n"
	"Exit status: 0 success, 2 bad input, 1 server failure.\n"
	"\n" NB_FRONT_GLOBAL_HELP;

enum { M_KEY = 1000, M_NAME, M_KIND, M_EVENTS, M_VALUE, M_DIR, M_WINS, M_DESC, M_JSON };

static const struct option metric_opts[] = {
	{"key", required_argument, 0, M_KEY},
	{"name", required_argument, 0, M_NAME},
	{"kind", required_argument, 0, M_KIND},
	{"events", required_argument, 0, M_EVENTS},
	{"value-property", required_argument, 0, M_VALUE},
	{"direction", required_argument, 0, M_DIR},
	{"winsorize", required_argument, 0, M_WINS},
	{"description", required_argument, 0, M_DESC},
	{"json", no_argument, 0, M_JSON},
	{0, 0, 0, 0},
};

struct metric_args {
	const char *v[M_JSON - M_KEY];
	int json;
	const char *pos;
	int npos;
};

#define MARG(a, id) ((a)->v[(id)-M_KEY])

static int parse_args(const char *cmd, int argc, char **argv, struct metric_args *a)
{
	memset(a, 0, sizeof *a);
	optind = 0;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", metric_opts, NULL)) != -1) {
		if (c == '?')
			return nb_front_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		if (c == ':')
			return nb_front_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
		if (c == M_JSON)
			a->json = 1;
		else
			MARG(a, c) = optarg;
	}
	for (int i = optind; i < argc; i++) {
		if (!a->npos)
			a->pos = argv[i];
		a->npos++;
	}
	return 0;
}

static void set_str(char **dst, const char *v)
{
	if (!v)
		return;
	free(*dst);
	*dst = nb_xstrdup(v);
}

static void set_events(nb_pg_metric *m, const char *spec)
{
	for (int i = 0; i < m->nevents; i++)
		free(m->event_types[i]);
	free(m->event_types);
	int cap = 1;
	for (const char *p = spec; *p; p++)
		cap += *p == ',';
	m->event_types = nb_xcalloc((size_t)cap, sizeof(char *));
	m->nevents = 0;
	const char *p = spec;
	for (;;) {
		size_t n = strcspn(p, ",");
		char *t = nb_xmalloc(n + 1);
		memcpy(t, p, n);
		t[n] = '\0';
		m->event_types[m->nevents++] = t;
		if (!p[n])
			break;
		p += n + 1;
	}
}

/* Applies the flags to m (a new metric or the stored one). */
static int apply_flags(const struct metric_args *a, nb_pg_metric *m, nb_err *err)
{
	set_str(&m->name, MARG(a, M_NAME));
	set_str(&m->kind, MARG(a, M_KIND));
	set_str(&m->direction, MARG(a, M_DIR));
	set_str(&m->description, MARG(a, M_DESC));
	if (MARG(a, M_EVENTS))
		set_events(m, MARG(a, M_EVENTS));
	const char *vp = MARG(a, M_VALUE);
	if (vp && !strcmp(vp, "none")) {
		free(m->value_property);
		m->value_property = NULL;
	} else {
		set_str(&m->value_property, vp);
	}
	const char *w = MARG(a, M_WINS);
	if (w && !strcmp(w, "none")) {
		m->winsorize = 0;
	} else if (w) {
		char *end;
		errno = 0;
		double v = strtod(w, &end);
		if (!*w || *end || errno || !isfinite(v))
			return nb_err_set(err, NB_EINPUT, "winsorize '%s' is not a number", w);
		m->winsorize = v;
	}
	if (!m->name || !*m->name)
		set_str(&m->name, m->key);
	if (!m->direction)
		set_str(&m->direction, "increase");
	if (!m->description)
		set_str(&m->description, "");
	return nb_pg_metric_validate(m, err);
}

static void print_metric(const nb_pg_metric *m, int json)
{
	if (json) {
		cJSON *j = nb_pg_metric_to_json(m);
		nb_front_print_json(j);
		cJSON_Delete(j);
		return;
	}
	printf("%s  (%s, %s)\n  name        %s\n  events     ", m->key, m->kind, m->direction,
	       m->name);
	for (int i = 0; i < m->nevents; i++)
		printf(" %s", m->event_types[i]);
	printf("\n");
	if (m->value_property)
		printf("  value       properties.%s\n", m->value_property);
	if (m->winsorize > 0)
		printf("  winsorize   %g%%\n", m->winsorize);
	if (*m->description)
		printf("  description %s\n", m->description);
}

static int need_key(const char *cmd, const struct metric_args *a)
{
	if (a->npos != 1)
		return nb_front_usage_error(cmd, "expects exactly one metric KEY (got %d arguments)",
				       a->npos);
	return 0;
}

/* Builds and validates a new metric from the flags (no server needed). */
static int build_new(const struct metric_args *a, nb_pg_metric *m, nb_err *err)
{
	memset(m, 0, sizeof *m);
	if (a->npos)
		return nb_err_set(err, NB_EINPUT, "metric create takes no positional argument (got '%s')",
				  a->pos);
	if (!MARG(a, M_KEY))
		return nb_err_set(err, NB_EINPUT, "key is required (--key KEY)");
	if (!MARG(a, M_KIND))
		return nb_err_set(err, NB_EINPUT, "kind is required (--kind binomial|count|sum|mean|ratio)");
	if (!MARG(a, M_EVENTS))
		return nb_err_set(err, NB_EINPUT, "events are required (--events TYPE[,TYPE])");
	m->key = nb_xstrdup(MARG(a, M_KEY));
	return apply_flags(a, m, err);
}

static int act_create(PGconn *conn, nb_front *ctx, const struct metric_args *a, nb_pg_metric *m,
		      nb_err *err)
{
	if (nb_pg_metric_create(conn, m, ctx->cfg.actor, err))
		return -1;
	nb_pg_metric got;
	if (nb_pg_metric_get(conn, m->key, &got, err))
		return -1;
	if (a->json)
		print_metric(&got, 1);
	else
		printf("created metric %s\n", got.key);
	nb_pg_metric_done(&got);
	return 0;
}

static int act_edit(PGconn *conn, nb_front *ctx, const struct metric_args *a, nb_err *err)
{
	if (MARG(a, M_KEY))
		return nb_err_set(err, NB_EINPUT, "metric edit: the key cannot be changed");
	nb_pg_metric m;
	if (nb_pg_metric_get(conn, a->pos, &m, err))
		return -1;
	int rc = apply_flags(a, &m, err) || nb_pg_metric_update(conn, &m, ctx->cfg.actor, err);
	nb_pg_metric_done(&m);
	if (rc || nb_pg_metric_get(conn, a->pos, &m, err))
		return -1;
	if (a->json)
		print_metric(&m, 1);
	else
		printf("updated metric %s\n", m.key);
	nb_pg_metric_done(&m);
	return 0;
}

static int act_list(PGconn *conn, const struct metric_args *a, nb_err *err)
{
	nb_pg_metric *list;
	int n;
	if (nb_pg_metric_list(conn, &list, &n, err))
		return -1;
	if (a->json) {
		cJSON *arr = cJSON_CreateArray();
		for (int i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, nb_pg_metric_to_json(&list[i]));
		nb_front_print_json(arr);
		cJSON_Delete(arr);
	} else {
		printf("%-24s %-9s %-9s %s\n", "KEY", "KIND", "DIRECTION", "EVENTS");
		for (int i = 0; i < n; i++) {
			printf("%-24s %-9s %-9s", list[i].key, list[i].kind, list[i].direction);
			for (int k = 0; k < list[i].nevents; k++)
				printf("%s%s", k ? "," : " ", list[i].event_types[k]);
			printf("\n");
		}
	}
	for (int i = 0; i < n; i++)
		nb_pg_metric_done(&list[i]);
	free(list);
	return 0;
}

int cmd_metric(nb_front *ctx, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(metric_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (nb_front_wants_help(argc - 1, argv + 1)) {
		fputs(metric_usage, stdout);
		return 0;
	}
	const char *action = argv[1];
	char cmd[64];
	snprintf(cmd, sizeof cmd, "metric %.40s", action);
	struct metric_args a;
	if (parse_args(cmd, argc - 1, argv + 1, &a))
		return 2;
	int known = !strcmp(action, "create") || !strcmp(action, "list") ||
		    !strcmp(action, "show") || !strcmp(action, "edit");
	if (!known)
		return nb_front_usage_error("metric", "unknown action '%s'", action);
	if (strcmp(action, "create") && strcmp(action, "edit")) {
		for (int id = M_KEY; id < M_JSON; id++)
			if (MARG(&a, id))
				return nb_front_usage_error(cmd, "option '--%s' does not apply here",
						       metric_opts[id - M_KEY].name);
	}
	if ((!strcmp(action, "show") || !strcmp(action, "edit")) && need_key(cmd, &a))
		return 2;
	if (!strcmp(action, "list") && a.npos)
		return nb_front_usage_error(cmd, "takes no positional argument (got '%s')", a.pos);
	nb_err err;
	nb_err_clear(&err);
	nb_pg_metric fresh;
	memset(&fresh, 0, sizeof fresh);
	if (!strcmp(action, "create") && build_new(&a, &fresh, &err)) {
		nb_pg_metric_done(&fresh);
		return nb_front_fail(&err);
	}
	PGconn *conn = nb_pg_connect(&ctx->cfg, &err);
	int rc = -1;
	if (conn && !strcmp(action, "create"))
		rc = act_create(conn, ctx, &a, &fresh, &err);
	else if (conn && !strcmp(action, "edit"))
		rc = act_edit(conn, ctx, &a, &err);
	else if (conn && !strcmp(action, "list"))
		rc = act_list(conn, &a, &err);
	else if (conn) {
		nb_pg_metric m;
		rc = nb_pg_metric_get(conn, a.pos, &m, &err);
		if (!rc) {
			print_metric(&m, a.json);
			nb_pg_metric_done(&m);
		}
	}
	nb_pg_metric_done(&fresh);
	if (conn)
		PQfinish(conn);
	return rc ? nb_front_fail(&err) : 0;
}
