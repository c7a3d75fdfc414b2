/* fuzz_scenario.c — libFuzzer harness of the simulator's scenario parser
 * (nb_sim_scenario_parse): the input is a scenario's JSON text. A scenario
 * that parses is also used a little, as `neonblue simulate` would: the truths
 * of every experiment and variant, and a few users with their events. */
#include "neonblue/sim.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A few users of sc and their events in the variant they got. */
static void generate(const nb_sim_scenario *sc)
{
	nb_sim_opts o = {.seed = 42, .users = 4, .days = 2, .start = 1795757515};
	nb_sim_gen *g = nb_sim_gen_new(sc, &o);
	if (!g)
		return;
	nb_sim_user u = {0};
	while (nb_sim_gen_next(g, &u)) {
		nb_sim_events ev = {0};
		nb_sim_user_events(g, &u, u.variant, &ev);
		nb_sim_events_done(&ev);
		nb_sim_user_done(&u);
	}
	nb_sim_gen_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *j = cJSON_ParseWithLength((const char *)data, size);
	if (!j)
		return 0;
	nb_sim_scenario sc;
	nb_err err = {0};
	if (nb_sim_scenario_parse(j, &sc, &err) == 0) {
		for (int e = 0; e < sc.nexps; e++)
			for (int v = 0; v < sc.exps[e].def.nvariants; v++) {
				nb_sim_true_conversion(&sc, e, v, -1, 0);
				for (int p = 0; p < sc.nprops; p++)
					for (int k = 0; k < sc.props[p].nvalues; k++)
						nb_sim_true_conversion(&sc, e, v, p, k);
			}
		nb_sim_revenue_mean(&sc.baseline.revenue);
		generate(&sc);
		nb_sim_scenario_done(&sc);
	}
	cJSON_Delete(j);
	return 0;
}
