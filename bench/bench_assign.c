/* bench_assign.c — in-process assignment decisions per second on one core for
 * a 2-variant experiment with a 3-clause condition, against the raw FNV-1a
 * hash rate of the same user ids measured in the same run. */
#include "bench.h"
#include "neonblue/assign.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NUSERS 1000000
#define NATTRS 1024
#define ROUNDS 3

int main(void)
{
	bench_id *users = bench_users(NUSERS);
	cJSON *attrs[NATTRS];
	bench_attrs(attrs, NATTRS, "CA");
	cJSON *cond = cJSON_Parse("{\"country\":{\"$in\":[\"US\",\"CA\",\"DE\"]},"
				  "\"age\":{\"$gte\":18},\"plan\":{\"$ne\":\"free\"}}");
	double w[2] = {0.5, 0.5};
	nb_assign_exp e = {.key = "checkout-button", .hash_version = 2, .coverage = 1,
			   .condition = cond, .nvariants = 2, .weights = w};

	double best_hash = 0, best_decide = 0;
	long in = 0;
	uint32_t sink = 0;
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = bench_cpu_now();
		for (int i = 0; i < NUSERS; i++)
			sink += bench_fnv1a(users[i]);
		double t1 = bench_cpu_now();
		in = 0;
		for (int i = 0; i < NUSERS; i++) {
			nb_assign_result res;
			nb_assign_decide(&e, users[i], attrs[i % NATTRS], &res);
			in += res.in_experiment;
		}
		double t2 = bench_cpu_now();
		double hr = NUSERS / (t1 - t0), dr = NUSERS / (t2 - t1);
		if (hr > best_hash)
			best_hash = hr;
		if (dr > best_decide)
			best_decide = dr;
	}
	printf("assign decisions: %.0f/s on one core (2 variants, 3-clause condition, %ld of %d "
	       "users targeted; best of %d rounds of %d)\n",
	       best_decide, in, NUSERS, ROUNDS, NUSERS);
	printf("baseline raw FNV-1a hash of the same ids: %.0f/s (checksum %u)\n", best_hash,
	       sink & 0xff);
	printf("ratio decisions/hash: %.3f\n", best_decide / best_hash);
	printf("target >= 2000000 decisions/s: %s\n", best_decide >= 2e6 ? "met" : "NOT met");
	for (int i = 0; i < NATTRS; i++)
		cJSON_Delete(attrs[i]);
	cJSON_Delete(cond);
	free(users);
	return best_decide >= 2e6 ? 0 : 1;
}
