/* sim.h — nb_sim: the traffic simulator. A scenario (JSON, docs/simulate.md)
 * describes metrics, experiments and the true behaviour of each variant;
 * the generator turns a seed into users (arrival time, properties, the
 * variant nb_assign gives them) and their events, deterministically; the
 * writer (core/sim/pg.c) stores them through nb_pg_assign_batch and the
 * events COPY loader. Generation is pure: no I/O. */
#ifndef NEONBLUE_SIM_H
#define NEONBLUE_SIM_H

#include "neonblue/base.h"
#include "neonblue/pg.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define NB_SIM_MAX_PROPS 4
#define NB_SIM_MAX_VALUES 16
#define NB_SIM_MAX_EXTRA 8
#define NB_SIM_MAX_DAYS 60

/* ---- the scenario ---- */

/* A user property: its values, how often each occurs and the baseline
 * conversion multiplier of each (in every experiment and variant). */
typedef struct nb_sim_prop {
	char *name;
	int nvalues;
	char *values[NB_SIM_MAX_VALUES];
	double weights[NB_SIM_MAX_VALUES]; /* normalised to sum 1 */
	double conv_mult[NB_SIM_MAX_VALUES];
} nb_sim_prop;

/* Value of one purchase: 0 with probability zero_share, else lognormal(mu,
 * sigma) or, with probability tail_share, Pareto(xm, alpha). */
typedef struct nb_sim_revenue {
	double zero_share;
	double mu, sigma;
	double tail_share;
	double xm, alpha;
} nb_sim_revenue;

/* Extra events per session: Poisson(per_session) of `type`, with a value
 * drawn from normal(mean, sd) clamped at 0 when has_value. */
typedef struct nb_sim_extra {
	char *type;
	double per_session;
	int has_value;
	double mean, sd;
} nb_sim_extra;

/* The true behaviour of one variant (an "arm"). */
typedef struct nb_sim_arm {
	/* P(add_to_cart | view), P(checkout | add_to_cart), P(purchase | checkout) */
	double funnel[3];
	nb_sim_revenue revenue;
	double retention_day1;  /* P(return on day k) = day1 * k^-decay, k >= 1 */
	double retention_decay;
	double repeat_purchase; /* P(purchase on a return visit | converted) */
	int nextra;
	nb_sim_extra extra[NB_SIM_MAX_EXTRA];
	double srm_drop;        /* share of this variant's users lost (SRM) */
} nb_sim_arm;

/* Conversion multiplier of variant `variant` for users with property
 * `prop` = value `value` (applied to the purchase step). */
typedef struct nb_sim_effect {
	int prop, value, variant;
	double conv_mult;
} nb_sim_effect;

typedef struct nb_sim_exp {
	nb_pg_experiment def; /* the definition created in PostgreSQL */
	nb_sim_arm *arms;     /* def.nvariants */
	int neffects;
	nb_sim_effect *effects;
} nb_sim_exp;

typedef struct nb_sim_scenario {
	char *name;
	long users;       /* defaults for the options */
	double rate;
	int days;
	char *user_prefix;
	int nprops;
	nb_sim_prop props[NB_SIM_MAX_PROPS];
	nb_sim_arm baseline; /* behaviour outside experiments; defaults of arms */
	int nmetrics;
	nb_pg_metric *metrics;
	int nexps;
	nb_sim_exp *exps;
} nb_sim_scenario;

/* Parses and validates a scenario; errors name the field (path). */
int nb_sim_scenario_parse(const cJSON *j, nb_sim_scenario *out, nb_err *err);
/* "demo" → the compiled-in demo scenario, anything else → a JSON file. */
int nb_sim_scenario_load(const char *name_or_file, nb_sim_scenario *out, nb_err *err);
void nb_sim_scenario_done(nb_sim_scenario *sc);
/* The text of the compiled-in demo scenario. */
const char *nb_sim_demo_json(void);

/* ---- the truth (what an analysis should recover) ---- */

/* P(a user of exp/variant ever purchases), averaged over the property mix
 * (prop < 0) or within property prop = value. Ignores targeting conditions. */
double nb_sim_true_conversion(const nb_sim_scenario *sc, int exp, int variant, int prop,
			      int value);
/* P(purchase) of one user with property values vals (exp < 0: baseline). */
double nb_sim_user_conversion(const nb_sim_scenario *sc, int exp, int variant, const int *vals);
/* E[value of one purchase]. */
double nb_sim_revenue_mean(const nb_sim_revenue *r);
/* P(a session on day k) for k >= 1. */
double nb_sim_retention(const nb_sim_arm *a, int k);

/* ---- generation ---- */

typedef struct nb_sim_opts {
	uint64_t seed;
	double rate;     /* users per second of simulated time; 0 = 1000/s, no pacing */
	long users;      /* stop after this many users (0: no limit) */
	double duration; /* stop when arrivals pass start + duration (0: no limit) */
	int days;        /* > 0: arrivals spread over [start, start + days) */
	double start;    /* unix seconds of the first arrival */
	double cutoff;   /* no event at or after this (0: start + days, or no limit) */
	uint64_t tag;    /* != 0: part of user ids and streams (live runs: the start
			  * second, so two live runs never share users) */
} nb_sim_opts;

typedef struct nb_sim_user {
	long index;
	char id[96];
	double arrival; /* = assigned_at */
	int value[NB_SIM_MAX_PROPS];
	cJSON *attrs;   /* {prop: value}: the assignment context */
	char *props;    /* the same as JSON text: event properties */
	int exp;        /* experiment index, -1 when in none */
	int variant;    /* variant index, -1 when in none */
	int dropped;    /* lost by SRM: neither assigned nor any event */
} nb_sim_user;

typedef struct nb_sim_event {
	char event_id[37];
	const char *type; /* points into the scenario or a static string */
	double ts;        /* whole microseconds */
	int has_value;
	double value;
} nb_sim_event;

typedef struct nb_sim_events {
	nb_sim_event *v;
	size_t n, cap;
} nb_sim_events;

typedef struct nb_sim_gen nb_sim_gen;

nb_sim_gen *nb_sim_gen_new(const nb_sim_scenario *sc, const nb_sim_opts *o);
void nb_sim_gen_free(nb_sim_gen *g);
/* The next user (1), or 0 when --users/--duration say stop. u is
 * overwritten: nb_sim_user_done before reuse. */
int nb_sim_gen_next(nb_sim_gen *g, nb_sim_user *u);
void nb_sim_user_done(nb_sim_user *u);
/* Appends the events of u as if in variant `variant` of u->exp (-1: the
 * baseline), sorted by time. Depends only on the seed, u->index, u's
 * properties and arrival, and variant. */
void nb_sim_user_events(const nb_sim_gen *g, const nb_sim_user *u, int variant,
			nb_sim_events *out);
void nb_sim_events_done(nb_sim_events *ev);

/* The small PRNG (xoshiro256**, seeded by splitmix64), exposed for tests. */
typedef struct nb_sim_rng {
	uint64_t s[4];
} nb_sim_rng;
void nb_sim_rng_seed(nb_sim_rng *r, uint64_t seed, uint64_t stream);
uint64_t nb_sim_rng_next(nb_sim_rng *r);
double nb_sim_rng_unif(nb_sim_rng *r); /* [0, 1) */

/* ---- writing into PostgreSQL (core/sim/pg.c) ---- */

typedef struct nb_sim_run_opts {
	nb_sim_opts gen;
	int reset;       /* recreate existing experiments/metrics that differ */
	int pace;        /* wait for wall time to reach arrivals and events */
	const char *actor;
	volatile int *stop; /* set asynchronously (SIGINT) to end the run */
} nb_sim_run_opts;

typedef struct nb_sim_stats {
	long users, assigned, dropped, outside;
	long events, inserted, skipped;
	long *per_variant; /* [exp][variant] flattened, NB_ASSIGN_MAX_VARIANTS each */
	double seconds;        /* the whole run */
	double seconds_assign; /* waiting for assignment statements */
	double seconds_events; /* waiting for the events loader */
} nb_sim_stats;

/* Creates (or reuses when identical) the scenario's metrics and
 * experiments and starts the experiments. */
int nb_sim_setup(PGconn *conn, const nb_sim_scenario *sc, int reset, const char *actor,
		 nb_err *err);
/* Generates and writes; st->per_variant is allocated (free it). */
int nb_sim_run(const nb_config *cfg, const nb_sim_scenario *sc, const nb_sim_run_opts *o,
	       nb_sim_stats *st, nb_err *err);

#endif
