/* bench_flag.c — in-process feature flag evaluations per second on one core
 * (nb_flag_eval), for a flag with every rule kind: a force rule on country,
 * a 25 % rollout outside a 10 % holdout, an experiment rule with a condition
 * and 2 variants, and the default. Printed beside the raw FNV-1a hash rate
 * of the same ids measured in the same run; exit status 1 below 2 M/s. */
#include "bench.h"
#include "neonblue/flag.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NUSERS 1000000
#define NATTRS 1024
#define ROUNDS 3
#define TARGET 2e6

static const char flag_json[] =
    "{\"key\": \"new-checkout\", \"type\": \"string\", \"enabled\": true,"
    " \"default_value\": \"old\", \"rules\": ["
    "  {\"type\": \"force\", \"condition\": {\"country\": \"NL\"}, \"value\": \"beta\"},"
    "  {\"type\": \"rollout\", \"condition\": {\"age\": {\"$gte\": 18}}, \"coverage\": 0.25,"
    "   \"holdout\": \"global\", \"value\": \"new\"},"
    "  {\"type\": \"experiment\", \"condition\": {\"plan\": {\"$ne\": \"free\"}},"
    "   \"experiment\": \"checkout-exp\", \"variations\": {\"control\": \"old\", \"treatment\": "
    "\"new\"}}]}";

int main(void)
{
	nb_err err;
	nb_flag f;
	if (nb_flag_parse(flag_json, &f, &err)) {
		fprintf(stderr, "bench_flag: %s\n", err.msg);
		return 2;
	}
	/* Resolve by hand what nb_flag_resolve loads from PostgreSQL. */
	nb_flag_rule *roll = &f.rules[1], *exp = &f.rules[2];
	roll->holdout_seed = strdup("global-seed");
	roll->holdout_share = 0.10;
	roll->resolved = 1;
	nb_pg_variant vars[2] = {{.key = "control"}, {.key = "treatment"}};
	double w[2] = {0.5, 0.5};
	nb_pg_experiment e = {.key = "checkout-exp",
			      .seed = "checkout-exp",
			      .hash_version = 2,
			      .coverage = 1,
			      .nvariants = 2,
			      .variants = vars,
			      .weights = w};
	exp->exp = &e;
	nb_pg_experiment_assign_view(&e, &exp->view);
	const cJSON *values[2] = {cJSON_GetObjectItem(exp->variations, "control"),
				  cJSON_GetObjectItem(exp->variations, "treatment")};
	exp->values = values;
	exp->resolved = 1;

	bench_id *users = bench_users(NUSERS);
	cJSON *attrs[NATTRS];
	bench_attrs(attrs, NATTRS, "NL");

	double best_hash = 0, best_eval = 0;
	long by_source[5] = {0};
	uint32_t sink = 0;
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = bench_cpu_now();
		for (int i = 0; i < NUSERS; i++)
			sink += bench_fnv1a(users[i]);
		double t1 = bench_cpu_now();
		memset(by_source, 0, sizeof by_source);
		for (int i = 0; i < NUSERS; i++) {
			nb_flag_result res;
			nb_flag_eval(&f, users[i], attrs[i % NATTRS], &res);
			by_source[res.source]++;
		}
		double t2 = bench_cpu_now();
		double hr = NUSERS / (t1 - t0), er = NUSERS / (t2 - t1);
		if (hr > best_hash)
			best_hash = hr;
		if (er > best_eval)
			best_eval = er;
	}
	printf("flag evaluations: %.0f/s on one core (force, rollout 25%% + holdout, experiment, "
	       "default; best of %d rounds of %d users)\n",
	       best_eval, ROUNDS, NUSERS);
	printf("  decided by: force %ld, rollout %ld, experiment %ld, default %ld\n",
	       by_source[NB_FLAG_SRC_FORCE], by_source[NB_FLAG_SRC_ROLLOUT],
	       by_source[NB_FLAG_SRC_EXPERIMENT], by_source[NB_FLAG_SRC_DEFAULT]);
	printf("baseline raw FNV-1a hash of the same ids: %.0f/s (checksum %u)\n", best_hash,
	       sink & 0xff);
	printf("ratio evaluations/hash: %.3f\n", best_eval / best_hash);
	printf("target >= 2000000 evaluations/s: %s\n", best_eval >= TARGET ? "met" : "NOT met");

	exp->exp = NULL; /* not owned: the bench's own */
	exp->values = NULL;
	nb_flag_done(&f);
	for (int i = 0; i < NATTRS; i++)
		cJSON_Delete(attrs[i]);
	free(users);
	return best_eval >= TARGET ? 0 : 1;
}
