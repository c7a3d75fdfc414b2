/* cmd_retention.c — `neonblue retention`: set and show the data retention
 * limits, and apply them to PostgreSQL and ClickHouse (docs/retention.md). */
#include "cli.h"
#include "neonblue/analytics.h"
#include "neonblue/base.h"
#include "neonblue/ch.h"
#include "neonblue/pg.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *retention_usage =
	"usage: neonblue retention ACTION [options]\n"
	"\n"
	"Actions:\n"
	"  set   [--events L] [--assignments L] [--audit L] [--experiment KEY] [--json]\n"
	"  show  [--json]\n"
	"  apply [--dry-run] [--at TIME] [--database DB] [--json]\n"
	"\n"
	"A limit L is a whole number and a unit: d days, w weeks, m months, y years\n"
	"(calendar months and years, UTC), e.g. 400d, 26w, 13m, 5y; or 'forever'.\n"
	"Whatever is strictly older than now minus the limit goes:\n"
	"  --events       events, by their ts\n"
	"  --assignments  assignments, by their assigned_at\n"
	"  --audit        audit log rows, by their time (platform-wide only)\n"
	"--experiment KEY sets an override for one experiment ('inherit' removes it):\n"
	"its assignments follow its own limit; the events of users it still has\n"
	"assigned are kept until the longer of its events limit and the global one\n"
	"(an experiment can keep events longer, never shorter: they are shared).\n"
	"Unset global limits keep data forever. Changes are audited.\n"
	"\n"
	"apply does both sides itself: in PostgreSQL, monthly event partitions whose\n"
	"whole range is past the limit are dropped, a partition holding expired and\n"
	"kept rows is rewritten without the expired ones, expired assignments and\n"
	"audit rows are deleted; in ClickHouse (--database, default neonblue) the\n"
	"same rows go from events (whole months dropped), events_by_user,\n"
	"assignments, audit_log and the old days of touched, and the rollups of the\n"
	"experiments that lost data are rebuilt on their next report. Nothing newer\n"
	"than a limit is touched. --dry-run counts what would go and changes nothing;\n"
	"--at TIME measures the limits from an earlier time (ISO-8601, not after now).\n"
	"Every application is audited (entity retention, key apply) with its counts.\n"
	"Exit status: 0 success, 2 bad input, 1 server failure.\n"
	"\n" NB_FRONT_GLOBAL_HELP;

enum { R_EVENTS = 1000, R_ASSIGN, R_AUDIT, R_EXP, R_JSON, R_DRY, R_AT, R_DB };

static const struct option retention_opts[] = {
	{"events", required_argument, 0, R_EVENTS},
	{"assignments", required_argument, 0, R_ASSIGN},
	{"audit", required_argument, 0, R_AUDIT},
	{"experiment", required_argument, 0, R_EXP},
	{"json", no_argument, 0, R_JSON},
	{"dry-run", no_argument, 0, R_DRY},
	{"at", required_argument, 0, R_AT},
	{"database", required_argument, 0, R_DB},
	{0, 0, 0, 0},
};

struct ret_args {
	const char *events, *assign, *audit, *exp, *at, *db;
	int json, dry, npos;
	const char *pos;
};

static int ret_parse(const char *cmd, int argc, char **argv, struct ret_args *a)
{
	memset(a, 0, sizeof *a);
	optind = 0;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", retention_opts, NULL)) != -1) {
		switch (c) {
		case '?':
			return nb_front_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		case ':':
			return nb_front_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
		case R_EVENTS: a->events = optarg; break;
		case R_ASSIGN: a->assign = optarg; break;
		case R_AUDIT: a->audit = optarg; break;
		case R_EXP: a->exp = optarg; break;
		case R_AT: a->at = optarg; break;
		case R_DB: a->db = optarg; break;
		case R_DRY: a->dry = 1; break;
		default: a->json = 1; break;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (!a->npos)
			a->pos = argv[i];
		a->npos++;
	}
	return 0;
}

static const char *jstr(const cJSON *o, const char *k, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : dflt;
}

static long long jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

static void print_show(const cJSON *s)
{
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(s, "global");
	printf("%-24s %-12s %-12s %s\n", "SCOPE", "EVENTS", "ASSIGNMENTS", "AUDIT");
	printf("%-24s %-12s %-12s %s\n", "(global)", jstr(g, "events", "forever"),
	       jstr(g, "assignments", "forever"), jstr(g, "audit", "forever"));
	const cJSON *x;
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(s, "experiments"))
	{
		const cJSON *eff = cJSON_GetObjectItemCaseSensitive(x, "effective");
		char ev[48], as[48];
		snprintf(ev, sizeof ev, "%s", jstr(x, "events", "inherit"));
		snprintf(as, sizeof as, "%s", jstr(x, "assignments", "inherit"));
		printf("%-24s %-12s %-12s -\n", jstr(x, "experiment", "?"), ev, as);
		printf("%-24s effective: events %s (%s), assignments %s\n", "",
		       jstr(eff, "events", "forever"), jstr(eff, "events_rule", ""),
		       jstr(eff, "assignments", "forever"));
	}
}

static void print_by(const cJSON *by)
{
	const cJSON *x;
	int first = 1;
	cJSON_ArrayForEach(x, by)
	{
		printf("%s%s %lld", first ? " (" : ", ", x->string, (long long)x->valuedouble);
		first = 0;
	}
	if (!first)
		putchar(')');
}

static void print_list(const cJSON *arr)
{
	const cJSON *x;
	int first = 1;
	cJSON_ArrayForEach(x, arr)
	{
		printf("%s%s", first ? "" : ", ", x->valuestring);
		first = 0;
	}
	if (first)
		printf("none");
}

static void print_apply(const cJSON *out, const char *db)
{
	int dry = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(out, "dry_run"));
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(out, "cutoffs");
	printf("retention as of %s%s\n", jstr(c, "at", "?"),
	       dry ? " — dry run: nothing changed, this is what would go" : "");
	printf("cutoffs (older goes): events %s, assignments %s, audit %s\n",
	       jstr(c, "events", "none"), jstr(c, "assignments", "none"), jstr(c, "audit", "none"));
	const cJSON *x;
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(c, "experiments"))
		printf("  experiment %s: events %s, assignments %s\n", jstr(x, "experiment", "?"),
		       jstr(x, "events", "none"), jstr(x, "assignments", "none"));
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(out, "postgresql");
	const cJSON *pe = cJSON_GetObjectItemCaseSensitive(p, "events");
	printf("postgresql:\n  events: %lld\n", jnum(pe, "deleted"));
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(pe, "partitions"))
		printf("    %s [%s, %s): %s, %lld of %lld rows\n", jstr(x, "partition", "?"),
		       jstr(x, "from", "?"), jstr(x, "to", "?"), jstr(x, "action", "?"),
		       jnum(x, "deleted"), jnum(x, "rows"));
	const cJSON *pa = cJSON_GetObjectItemCaseSensitive(p, "assignments");
	printf("  assignments: %lld", jnum(pa, "deleted"));
	print_by(cJSON_GetObjectItemCaseSensitive(pa, "by_experiment"));
	printf("\n  audit_log: %lld\n",
	       jnum(cJSON_GetObjectItemCaseSensitive(p, "audit_log"), "deleted"));
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(out, "clickhouse");
	if (!h)
		return;
	const cJSON *he = cJSON_GetObjectItemCaseSensitive(h, "events");
	printf("clickhouse (database %s):\n  events: %lld (whole months dropped: ", db,
	       jnum(he, "deleted"));
	print_list(cJSON_GetObjectItemCaseSensitive(he, "partitions_dropped"));
	printf("), events_by_user: %lld\n",
	       jnum(cJSON_GetObjectItemCaseSensitive(h, "events_by_user"), "deleted"));
	const cJSON *ha = cJSON_GetObjectItemCaseSensitive(h, "assignments");
	printf("  assignments: %lld", jnum(ha, "deleted"));
	print_by(cJSON_GetObjectItemCaseSensitive(ha, "by_experiment"));
	printf("\n  audit_log: %lld\n  touched days dropped: %d\n  rollups rebuilt: ",
	       jnum(cJSON_GetObjectItemCaseSensitive(h, "audit_log"), "deleted"),
	       cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
		   cJSON_GetObjectItemCaseSensitive(h, "touched"), "partitions_dropped")));
	print_list(cJSON_GetObjectItemCaseSensitive(h, "rollups_rebuilt"));
	putchar('\n');
}

static int ret_apply(nb_front *ctx, PGconn *conn, const struct ret_args *a, nb_err *err)
{
	if (nb_config_require_clickhouse(&ctx->cfg, err))
		return -1;
	nb_pg_ret_plan plan;
	if (nb_pg_retention_plan(conn, a->at, &plan, err))
		return -1;
	cJSON *out = cJSON_CreateObject();
	cJSON_AddBoolToObject(out, "dry_run", a->dry);
	cJSON_AddItemToObject(out, "cutoffs", nb_pg_retention_cutoffs_json(&plan));
	cJSON *pgs = NULL, *chs = NULL;
	/* PostgreSQL first: it is the source of truth; a ClickHouse failure
	 * after it is repaired by running apply again */
	int rc = nb_pg_retention_apply(conn, &plan, a->dry, &pgs, err);
	cJSON_AddItemToObject(out, "postgresql", pgs);
	nb_err cherr;
	nb_err_clear(&cherr);
	if (!rc) {
		nb_an_ret_over *ov = calloc((size_t)plan.nover + 1, sizeof *ov);
		for (int i = 0; ov && i < plan.nover; i++) {
			snprintf(ov[i].experiment, sizeof ov[i].experiment, "%s",
				 plan.over[i].experiment);
			ov[i].keep_events = plan.over[i].keep_events;
			ov[i].events = plan.over[i].events == NB_PG_RET_NEVER ? NB_AN_RET_NEVER
									      : plan.over[i].events;
			ov[i].assign_override = plan.over[i].assign_override;
			ov[i].assignments = plan.over[i].assignments == NB_PG_RET_NEVER
						? NB_AN_RET_NEVER
						: plan.over[i].assignments;
		}
#define AN_CUT(x) ((x) == NB_PG_RET_NEVER ? NB_AN_RET_NEVER : (x))
		nb_an_ret r = {.db = a->db,
			       .events = AN_CUT(plan.events),
			       .assignments = AN_CUT(plan.assignments),
			       .audit = AN_CUT(plan.audit),
			       .nover = plan.nover,
			       .over = ov};
#undef AN_CUT
		nb_ch *ch = nb_ch_new(ctx->cfg.clickhouse, &cherr);
		int chrc = ch ? 0 : -1;
		if (ch) {
			nb_ch_set_timeouts(ch, 3600, 3);
			chrc = nb_an_retention_apply(ch, &r, a->dry, &chs, &cherr);
			cJSON_AddItemToObject(out, "clickhouse", chs);
			nb_ch_free(ch);
		}
		free(ov);
		if (chrc) {
			cJSON_AddStringToObject(out, "clickhouse_error", cherr.msg);
			rc = -1;
			*err = cherr;
		}
	} else {
		cJSON_AddStringToObject(out, "postgresql_error", err->msg);
	}
	/* audited even when a side failed: what went is recorded */
	if (!a->dry) {
		nb_err aerr;
		nb_err_clear(&aerr);
		cJSON *after = cJSON_Duplicate(out, 1);
		cJSON_DeleteItemFromObjectCaseSensitive(after, "dry_run");
		if (nb_pg_audit(conn, ctx->cfg.actor, "apply", "retention", "apply", NULL, after,
				&aerr) &&
		    !rc) {
			*err = aerr;
			rc = -1;
		}
		cJSON_Delete(after);
	}
	if (a->json)
		nb_front_print_json(out);
	else
		print_apply(out, a->db ? a->db : "neonblue");
	cJSON_Delete(out);
	nb_pg_retention_plan_done(&plan);
	return rc;
}

int cmd_retention(nb_front *ctx, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(retention_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (nb_front_wants_help(argc - 1, argv + 1)) {
		fputs(retention_usage, stdout);
		return 0;
	}
	const char *action = argv[1];
	char cmd[64];
	snprintf(cmd, sizeof cmd, "retention %.40s", action);
	struct ret_args a;
	if (ret_parse(cmd, argc - 1, argv + 1, &a))
		return 2;
	int set = !strcmp(action, "set"), show = !strcmp(action, "show"),
	    apply = !strcmp(action, "apply");
	if (!set && !show && !apply)
		return nb_front_usage_error("retention", "unknown action '%s' (set, show, apply)",
					    action);
	if (a.npos)
		return nb_front_usage_error(cmd, "takes no positional argument (got '%s')", a.pos);
	if (!set && (a.events || a.assign || a.audit || a.exp))
		return nb_front_usage_error(cmd, "takes no --events, --assignments, --audit or "
						 "--experiment (those are for `retention set`)");
	if (!apply && (a.dry || a.at || a.db))
		return nb_front_usage_error(cmd, "takes no --dry-run, --at or --database (those "
						 "are for `retention apply`)");
	char ev[16], as[16], au[16];
	nb_err err;
	nb_err_clear(&err);
	if (set) {
		if (!a.events && !a.assign && !a.audit)
			return nb_front_usage_error(cmd,
						    "needs --events, --assignments or --audit");
		if (a.exp && a.audit)
			return nb_front_usage_error(
			    cmd, "--audit is platform-wide: it cannot be set per experiment");
		int inherit = a.exp != NULL;
		if ((a.events && nb_pg_retention_parse("--events", a.events, inherit, ev,
						       sizeof ev, &err)) ||
		    (a.assign && nb_pg_retention_parse("--assignments", a.assign, inherit, as,
						       sizeof as, &err)) ||
		    (a.audit &&
		     nb_pg_retention_parse("--audit", a.audit, 0, au, sizeof au, &err)))
			return nb_front_fail(&err);
	}
	PGconn *conn = nb_pg_connect(&ctx->cfg, &err);
	if (!conn)
		return nb_front_fail(&err);
	int rc = 0;
	if (set) {
		rc = nb_pg_retention_set(conn, ctx->cfg.actor, a.exp, a.events ? ev : NULL,
					 a.assign ? as : NULL, a.audit ? au : NULL, &err);
		if (!rc && !a.json)
			printf("retention limits of %s updated\n", a.exp ? a.exp : "the platform");
		if (!rc && a.exp && a.events && *ev)
			fprintf(stderr,
				"note: events of users assigned to %s are kept for the longer of %s "
				"and the global events limit: an experiment can extend event "
				"retention, not shorten it (docs/retention.md)\n",
				a.exp, ev);
	}
	if (!rc && (show || (set && a.json))) {
		cJSON *s = nb_pg_retention_show(conn, &err);
		if (!s)
			rc = -1;
		else if (a.json)
			nb_front_print_json(s);
		else
			print_show(s);
		cJSON_Delete(s);
	}
	if (apply)
		rc = ret_apply(ctx, conn, &a, &err);
	PQfinish(conn);
	return rc ? nb_front_fail(&err) : 0;
}
