/* cmd_simulate.c — `neonblue simulate`: realistic traffic from a scenario
 * through the real write path (nb_sim: assignments and events into
 * PostgreSQL), or as JSON Lines with --dry-run. */
#include "cli.h"
#include "neonblue/base.h"
#include "neonblue/pg.h"
#include "neonblue/sim.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char simulate_help[] =
	"usage: neonblue simulate [--scenario demo|FILE] [--seed N] [--rate USERS_PER_S]\n"
	"                         [--users N] [--duration SECONDS] [--days D] [--start ISO8601]\n"
	"                         [--reset] [--json] [--dry-run] [--print-scenario]\n"
	"\n"
	"Creates the scenario's metrics and experiments (reusing identical ones) and starts\n"
	"them, then simulates users: each arrives, is assigned by the experiment's hash\n"
	"(stored like `neonblue assign`), and produces events (view, add_to_cart, checkout,\n"
	"purchase with revenue, return visits on later days, extra events) written with\n"
	"the `ingest` COPY loader. The same seed and start give the same rows.\n"
	"\n"
	"  --scenario S      \"demo\" (built in: four experiments) or a JSON file (docs/simulate.md)\n"
	"  --seed N          PRNG seed (default 1); user ids are PREFIX-SEED-INDEX, or\n"
	"                    PREFIX-SEED-START-INDEX in live mode (START: unix seconds)\n"
	"  --rate R          users per second; live and paced in real time (0: as fast as possible)\n"
	"  --users N         stop after N users (default: the scenario's, unlimited with --rate)\n"
	"  --duration S      stop after S seconds of arrivals\n"
	"  --days D          back-date: arrivals spread over D days ending at today 00:00 UTC\n"
	"                    (default: the scenario's unless --rate or --duration is given)\n"
	"  --start ISO8601   first arrival (default: now, or D days before today 00:00 UTC)\n"
	"  --reset           delete and recreate experiments/metrics that differ or are stopped\n"
	"  --json            print the summary as JSON (counts, true conversion per variant)\n"
	"  --dry-run         no database: print the events as JSON Lines (`ingest` input)\n"
	"  --print-scenario  print the scenario JSON and exit\n"
	"\n" NB_FRONT_GLOBAL_HELP;

typedef struct sim_args {
	const char *scenario, *start;
	unsigned long long seed;
	double rate, duration;
	long users, days;
	int has_rate, has_users, has_duration, has_days;
	int reset, json, dry_run, print;
} sim_args;

static int num_arg(const char *flag, const char *v, double lo, double hi, double *out, nb_err *err)
{
	char *end;
	double d = strtod(v, &end);
	if (!*v || *end || !isfinite(d) || d < lo || d > hi)
		return nb_err_set(err, NB_EINPUT, "%s \"%s\" must be a number in [%g, %g]", flag, v,
				  lo, hi);
	*out = d;
	return 0;
}

static int sim_parse_args(int argc, char **argv, sim_args *a, nb_err *err)
{
	*a = (sim_args){.scenario = "demo", .seed = 1};
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int *flag = !strcmp(f, "--reset")	   ? &a->reset
			    : !strcmp(f, "--json")	   ? &a->json
			    : !strcmp(f, "--dry-run")	   ? &a->dry_run
			    : !strcmp(f, "--print-scenario") ? &a->print
							   : NULL;
		if (flag) {
			*flag = 1;
			continue;
		}
		if (f[0] != '-')
			return nb_err_set(err, NB_EINPUT, "unexpected argument \"%s\"", f);
		if (!v)
			return nb_err_set(err, NB_EINPUT, "%s needs a value", f);
		i++;
		double d;
		if (!strcmp(f, "--scenario")) {
			a->scenario = v;
		} else if (!strcmp(f, "--start")) {
			a->start = v;
		} else if (!strcmp(f, "--seed")) {
			char *end;
			a->seed = strtoull(v, &end, 10);
			if (!*v || *end || v[0] == '-')
				return nb_err_set(err, NB_EINPUT, "--seed \"%s\" must be an integer >= 0",
						  v);
		} else if (!strcmp(f, "--rate")) {
			if (num_arg(f, v, 0, 1e7, &a->rate, err))
				return -1;
			a->has_rate = 1;
		} else if (!strcmp(f, "--duration")) {
			if (num_arg(f, v, 0, 1e9, &a->duration, err))
				return -1;
			a->has_duration = 1;
		} else if (!strcmp(f, "--users")) {
			if (num_arg(f, v, 1, 1e9, &d, err))
				return -1;
			a->users = (long)d;
			a->has_users = 1;
		} else if (!strcmp(f, "--days")) {
			if (num_arg(f, v, 1, NB_SIM_MAX_DAYS, &d, err) || d != floor(d))
				return nb_err_set(err, NB_EINPUT, "--days \"%s\" must be an integer in [1, %d]",
						  v, NB_SIM_MAX_DAYS);
			a->days = (long)d;
			a->has_days = 1;
		} else {
			return nb_err_set(err, NB_EINPUT, "unknown option %s", f);
		}
	}
	return 0;
}

/* Fills the generator options from the flags and the scenario's defaults. */
static int sim_resolve(const sim_args *a, const nb_sim_scenario *sc, nb_sim_run_opts *ro,
		       nb_err *err)
{
	nb_sim_opts *o = &ro->gen;
	memset(ro, 0, sizeof *ro);
	o->seed = a->seed;
	int live = a->has_rate || a->has_duration;
	o->days = a->has_days ? (int)a->days : live ? 0 : sc->days;
	o->rate = a->has_rate ? a->rate : sc->rate;
	o->duration = a->duration;
	o->users = a->has_users ? a->users : (o->rate > 0 && !o->days) ? 0 : sc->users;
	if (o->days && a->has_rate)
		return nb_err_set(err, NB_EINPUT,
				  "--rate and --days exclude each other (--days spreads --users "
				  "over the days)");
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	double now = (double)ts.tv_sec + floor(ts.tv_nsec / 1e3) / 1e6;
	if (a->start) {
		if (nb_pg_event_parse_ts(a->start, &o->start) < 0)
			return nb_err_set(err, NB_EINPUT, "--start \"%s\" is not an ISO-8601 time",
					  a->start);
	} else {
		o->start = o->days ? floor(now / 86400) * 86400 - o->days * 86400.0 : now;
	}
	o->start = floor(o->start * 1e6 + 0.5) / 1e6; /* whole microseconds */
	if (!o->days && (o->users > 0 || o->duration > 0)) {
		double span = o->duration > 0 ? o->duration
					      : (double)o->users / (o->rate > 0 ? o->rate : 1000);
		o->cutoff = o->start + span + 3600;
	}
	ro->pace = !o->days && o->rate > 0;
	/* live runs get their own users: PREFIX-SEED-STARTSECOND-INDEX */
	if (!o->days)
		o->tag = (uint64_t)floor(o->start);
	return 0;
}

static volatile int sim_stop;

static void sim_on_signal(int sig)
{
	(void)sig;
	sim_stop = 1;
}

/* --dry-run: the events as JSON Lines, in the shape `ingest` reads. */
static int sim_dry_run(const nb_sim_scenario *sc, const nb_sim_opts *o)
{
	nb_sim_gen *g = nb_sim_gen_new(sc, o);
	nb_sim_user u;
	nb_sim_events ev = {0};
	nb_buf b;
	nb_buf_init(&b);
	while (!sim_stop && nb_sim_gen_next(g, &u)) {
		if (!u.dropped) {
			ev.n = 0;
			nb_sim_user_events(g, &u, u.variant, &ev);
		}
		for (size_t k = 0; !u.dropped && k < ev.n; k++) {
			char ts[40];
			nb_pg_event_format_ts(ev.v[k].ts, ts, sizeof ts);
			nb_buf_reset(&b);
			nb_buf_printf(&b, "{\"event_id\":\"%s\",\"user_id\":", ev.v[k].event_id);
			nb_json_write_string(&b, u.id);
			nb_buf_puts(&b, ",\"type\":");
			nb_json_write_string(&b, ev.v[k].type);
			nb_buf_printf(&b, ",\"ts\":\"%s\"", ts);
			if (ev.v[k].has_value) {
				nb_buf_puts(&b, ",\"value\":");
				nb_json_write_number(&b, ev.v[k].value);
			}
			nb_buf_printf(&b, ",\"properties\":%s", u.props);
			if (u.exp >= 0) {
				nb_buf_puts(&b, ",\"experiment\":");
				nb_json_write_string(&b, sc->exps[u.exp].def.key);
			}
			nb_buf_puts(&b, "}\n");
			fwrite(b.data, 1, b.len, stdout);
		}
		nb_sim_user_done(&u);
	}
	nb_buf_done(&b);
	nb_sim_events_done(&ev);
	nb_sim_gen_free(g);
	return fflush(stdout) ? 1 : 0;
}

static cJSON *sim_summary(const nb_sim_scenario *sc, const nb_sim_run_opts *ro,
			  const nb_sim_stats *st)
{
	cJSON *o = cJSON_CreateObject();
	char ts[40];
	nb_pg_event_format_ts(ro->gen.start, ts, sizeof ts);
	cJSON_AddStringToObject(o, "scenario", sc->name);
	cJSON_AddNumberToObject(o, "seed", (double)ro->gen.seed);
	cJSON_AddStringToObject(o, "start", ts);
	cJSON_AddNumberToObject(o, "days", ro->gen.days);
	cJSON_AddNumberToObject(o, "users", (double)st->users);
	cJSON_AddNumberToObject(o, "assigned", (double)st->assigned);
	cJSON_AddNumberToObject(o, "dropped", (double)st->dropped);
	cJSON_AddNumberToObject(o, "outside", (double)st->outside);
	cJSON_AddNumberToObject(o, "events", (double)st->events);
	cJSON_AddNumberToObject(o, "inserted", (double)st->inserted);
	cJSON_AddNumberToObject(o, "skipped", (double)st->skipped);
	cJSON_AddNumberToObject(o, "seconds", st->seconds);
	cJSON_AddNumberToObject(o, "seconds_assign", st->seconds_assign);
	cJSON_AddNumberToObject(o, "seconds_events", st->seconds_events);
	cJSON_AddItemToObject(o, "events_per_second",
			      nb_json_number_or_null(st->seconds > 0 ? st->events / st->seconds
								     : NAN));
	cJSON *exps = cJSON_AddArrayToObject(o, "experiments");
	for (int e = 0; e < sc->nexps; e++) {
		cJSON *x = cJSON_CreateObject(), *vs = cJSON_CreateArray();
		cJSON_AddStringToObject(x, "key", sc->exps[e].def.key);
		for (int v = 0; v < sc->exps[e].def.nvariants; v++) {
			cJSON *y = cJSON_CreateObject();
			cJSON_AddStringToObject(y, "key", sc->exps[e].def.variants[v].key);
			cJSON_AddNumberToObject(y, "assigned",
						(double)st->per_variant[e * NB_ASSIGN_MAX_VARIANTS + v]);
			cJSON_AddNumberToObject(y, "true_conversion",
						nb_sim_true_conversion(sc, e, v, -1, 0));
			cJSON_AddNumberToObject(y, "srm_drop", sc->exps[e].arms[v].srm_drop);
			cJSON_AddItemToArray(vs, y);
		}
		cJSON_AddItemToObject(x, "variants", vs);
		cJSON_AddItemToArray(exps, x);
	}
	return o;
}

static void sim_print_text(const cJSON *s)
{
#define N(k) cJSON_GetObjectItem(s, k)->valuedouble
	printf("simulated %.0f users from %s (%.0f assigned, %.0f lost to SRM, %.0f outside "
	       "experiments)\n",
	       N("users"), cJSON_GetObjectItem(s, "start")->valuestring, N("assigned"),
	       N("dropped"), N("outside"));
	printf("%.0f events written (%.0f new, %.0f already stored) in %.2f s", N("events"),
	       N("inserted"), N("skipped"), N("seconds"));
	if (N("seconds") > 0)
		printf(" — %.0f events/s", N("events") / N("seconds"));
	printf("\n");
#undef N
	const cJSON *x, *y;
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(s, "experiments"))
	{
		cJSON_ArrayForEach(y, cJSON_GetObjectItem(x, "variants"))
		{
			printf("  %-28s %-14s %8.0f assigned  true conversion %.4f\n",
			       cJSON_GetObjectItem(x, "key")->valuestring,
			       cJSON_GetObjectItem(y, "key")->valuestring,
			       cJSON_GetObjectItem(y, "assigned")->valuedouble,
			       cJSON_GetObjectItem(y, "true_conversion")->valuedouble);
		}
	}
}

static int sim_write(nb_front *ctx, const sim_args *a, const nb_sim_scenario *sc,
		     nb_sim_run_opts *ro)
{
	nb_err err = {0};
	PGconn *conn = nb_pg_connect(&ctx->cfg, &err);
	int rc = conn ? nb_sim_setup(conn, sc, a->reset, ctx->cfg.actor, &err) : -1;
	if (conn)
		PQfinish(conn);
	if (rc)
		return nb_front_fail(&err);
	ro->reset = a->reset;
	ro->actor = ctx->cfg.actor;
	ro->stop = &sim_stop;
	nb_sim_stats st;
	rc = nb_sim_run(&ctx->cfg, sc, ro, &st, &err);
	if (rc == 0) {
		cJSON *s = sim_summary(sc, ro, &st);
		if (a->json)
			nb_front_print_json(s);
		else
			sim_print_text(s);
		cJSON_Delete(s);
	}
	free(st.per_variant);
	return rc ? nb_front_fail(&err) : 0;
}

int cmd_simulate(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		fputs(simulate_help, stdout);
		return 0;
	}
	sim_args a;
	nb_err err = {0};
	if (sim_parse_args(argc, argv, &a, &err))
		return nb_front_usage_error("simulate", "%s", err.msg);
	if (a.print && !strcmp(a.scenario, "demo")) {
		fputs(nb_sim_demo_json(), stdout);
		return 0;
	}
	nb_sim_scenario sc;
	if (nb_sim_scenario_load(a.scenario, &sc, &err))
		return nb_front_fail(&err);
	nb_sim_run_opts ro;
	int rc = 0;
	if (sim_resolve(&a, &sc, &ro, &err)) {
		rc = nb_front_usage_error("simulate", "%s", err.msg);
	} else if (a.print) {
		printf("scenario \"%s\" is valid: %d experiments, %d metrics\n", sc.name, sc.nexps,
		       sc.nmetrics);
	} else {
		struct sigaction sa = {.sa_handler = sim_on_signal};
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		if (!ro.pace && !ro.gen.users && !ro.gen.duration && !ro.gen.days)
			rc = nb_front_usage_error("simulate", "nothing bounds the run: give --users");
		else
			rc = a.dry_run ? sim_dry_run(&sc, &ro.gen) : sim_write(ctx, &a, &sc, &ro);
	}
	nb_sim_scenario_done(&sc);
	return rc;
}
