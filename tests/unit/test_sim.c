/* test_sim.c — nb_sim in memory: scenario parsing and refusals, determinism
 * with a seed, and the generated distributions checked statistically (fixed
 * seeds) against the values the scenario states: conversion rates, funnel
 * step probabilities, zero-inflated heavy-tailed revenue, retention decay,
 * segment effects, SRM loss, extra events. No I/O but reading
 * scenarios/demo.json. */
#include "nbtest.h"
#include "neonblue/base.h"
#include "neonblue/sim.h"
#include "neonblue/stats.h"

#include <stdint.h>

#define DAY 86400.0
#define T0 1767225600.0 /* 2026-01-01T00:00:00Z */

/* A scenario from JSON text; aborts the test on a parse error. */
static int load(const char *text, nb_sim_scenario *sc)
{
	cJSON *j = cJSON_Parse(text);
	nb_err err = {0};
	int rc = j ? nb_sim_scenario_parse(j, sc, &err) : -1;
	cJSON_Delete(j);
	CHECKF(rc == 0, "scenario refused: %s", err.msg);
	return rc;
}

/* The refusal message of text, "" when accepted. */
static const char *refusal(const char *text)
{
	static nb_err err;
	nb_sim_scenario sc;
	cJSON *j = cJSON_Parse(text);
	err.msg[0] = '\0';
	if (!j)
		return "(bad test JSON)";
	if (nb_sim_scenario_parse(j, &sc, &err) == 0) {
		nb_sim_scenario_done(&sc);
		err.msg[0] = '\0';
	}
	cJSON_Delete(j);
	return err.msg;
}

/* |observed share - p| within z standard errors of a binomial share. */
static void check_share(const char *what, double hits, double n, double p, double z)
{
	double se = sqrt(p * (1 - p) / n);
	double obs = n > 0 ? hits / n : NAN;
	CHECKF(n > 0 && fabs(obs - p) <= z * se + 1e-12,
	       "%s: observed %.5f over n = %.0f, expected %.5f (se %.5f)", what, obs, n, p, se);
}

/* Two arms, no properties: conversion 0.5*0.5*0.4 = 0.1 and 0.15. */
static const char two_arms[] =
	"{\"name\":\"t\",\"user_prefix\":\"t\","
	"\"baseline\":{\"funnel\":[0.5,0.5,0.4],\"retention\":{\"day1\":0.4,\"decay\":0.7},"
	" \"repeat_purchase\":0,"
	" \"revenue\":{\"zero_share\":0.1,\"lognormal\":[3,0.6],\"pareto_share\":0.05,"
	"  \"pareto\":[100,2.5]},"
	" \"events\":[{\"type\":\"page_error\",\"per_session\":0.2}]},"
	"\"experiments\":[{\"key\":\"e1\",\"variants\":[{\"key\":\"control\",\"weight\":50},"
	" {\"key\":\"treatment\",\"weight\":50}],"
	" \"sim\":{\"arms\":{\"treatment\":{\"conversion_mult\":1.5}}}}]}";

typedef struct tally {
	double users[2], buyers[2], viewers[2], carts[2], checkouts[2];
	double purchases, zero, over_xm, sum, sum_sq, sessions, errors;
	double ret_n[8], ret_hit[8];
	double *values;
	size_t nvalues;
} tally;

/* Generates n users of sc (seed) and counts what the tests look at. */
static void run_tally(const nb_sim_scenario *sc, uint64_t seed, long n, int days, tally *t)
{
	memset(t, 0, sizeof *t);
	t->values = nb_xmalloc(sizeof(double) * (size_t)n * 4);
	nb_sim_opts o = {.seed = seed, .users = n, .days = days, .start = T0};
	nb_sim_gen *g = nb_sim_gen_new(sc, &o);
	nb_sim_user u;
	nb_sim_events ev = {0};
	double cutoff = T0 + days * DAY;
	while (nb_sim_gen_next(g, &u)) {
		int v = u.variant;
		ev.n = 0;
		nb_sim_user_events(g, &u, v, &ev);
		int seen[4] = {0}, dayseen[8] = {0};
		for (size_t k = 0; k < ev.n; k++) {
			const nb_sim_event *e = &ev.v[k];
			int d = (int)floor((e->ts - u.arrival) / DAY);
			if (!strcmp(e->type, "view")) {
				seen[0] = 1;
				t->sessions++;
				if (d >= 0 && d < 8)
					dayseen[d] = 1;
			} else if (!strcmp(e->type, "add_to_cart")) {
				seen[1] = 1;
			} else if (!strcmp(e->type, "checkout")) {
				seen[2] = 1;
			} else if (!strcmp(e->type, "purchase")) {
				seen[3] = 1;
				t->purchases++;
				t->zero += e->value == 0;
				t->over_xm += e->value > 100;
				t->sum += e->value;
				t->sum_sq += e->value * e->value;
				t->values[t->nvalues++] = e->value;
			} else if (!strcmp(e->type, "page_error")) {
				t->errors++;
			}
		}
		if (v >= 0 && v < 2) {
			t->users[v]++;
			t->viewers[v] += seen[0];
			t->carts[v] += seen[1];
			t->checkouts[v] += seen[2];
			t->buyers[v] += seen[3];
		}
		for (int k = 1; k < 8; k++) {
			if (u.arrival + (k + 1) * DAY > cutoff)
				break;
			t->ret_n[k]++;
			t->ret_hit[k] += dayseen[k];
		}
		nb_sim_user_done(&u);
	}
	nb_sim_events_done(&ev);
	nb_sim_gen_free(g);
}

static void rng_streams(void)
{
	nb_sim_rng a, b, c;
	nb_sim_rng_seed(&a, 42, 1);
	nb_sim_rng_seed(&b, 42, 1);
	nb_sim_rng_seed(&c, 42, 2);
	int same_ab = 1, same_ac = 1;
	double sum = 0;
	for (int i = 0; i < 100000; i++) {
		uint64_t x = nb_sim_rng_next(&a), y = nb_sim_rng_next(&b), z = nb_sim_rng_next(&c);
		same_ab &= x == y;
		same_ac &= x == z;
		double u = nb_sim_rng_unif(&a);
		nb_sim_rng_unif(&b);
		CHECK(u >= 0 && u < 1);
		sum += u;
	}
	CHECK(same_ab);
	CHECK(!same_ac);
	/* uniform mean 1/2, sd of the mean sqrt(1/12/1e5) ≈ 0.0009 */
	CHECK_NEAR(sum / 100000, 0.5, 0, 0.004);
}

static void demo_scenario(void)
{
	nb_sim_scenario sc;
	nb_err err = {0};
	CHECKF(nb_sim_scenario_load("demo", &sc, &err) == 0, "%s", err.msg);
	if (err.msg[0])
		return;
	CHECK_INT(sc.nexps, 4);
	const char *kinds[] = {"binomial", "sum", "count", "mean", "ratio"};
	for (int k = 0; k < 5; k++) {
		int found = 0;
		for (int m = 0; m < sc.nmetrics; m++)
			found |= !strcmp(sc.metrics[m].kind, kinds[k]);
		CHECKF(found, "no %s metric in the demo", kinds[k]);
	}
	const char *roles[] = {"primary", "secondary", "guardrail"};
	for (int k = 0; k < 3; k++) {
		int found = 0;
		for (int e = 0; e < sc.nexps; e++)
			for (int m = 0; m < sc.exps[e].def.nmetrics; m++)
				found |= !strcmp(sc.exps[e].def.metrics[m].role, roles[k]);
		CHECKF(found, "no %s role in the demo", roles[k]);
	}
	/* a winner, a flat test, an SRM arm */
	CHECK(nb_sim_true_conversion(&sc, 0, 1, -1, 0) > 1.2 * nb_sim_true_conversion(&sc, 0, 0, -1, 0));
	CHECK(nb_sim_true_conversion(&sc, 1, 1, -1, 0) == nb_sim_true_conversion(&sc, 1, 0, -1, 0));
	CHECK(sc.exps[3].arms[1].srm_drop > 0);
	nb_sim_scenario_done(&sc);
	/* the compiled-in text is scenarios/demo.json */
	FILE *f = fopen("scenarios/demo.json", "rb");
	CHECKF(f != NULL, "scenarios/demo.json not readable from the repository root");
	if (!f)
		return;
	nb_buf b;
	nb_buf_init(&b);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		nb_buf_append(&b, chunk, n);
	fclose(f);
	nb_buf_putc(&b, '\0');
	CHECK(!strcmp(b.data, nb_sim_demo_json()));
	nb_buf_done(&b);
}

static void scenario_refusals(void)
{
	CHECK(!strcmp(refusal(two_arms), ""));
	CHECK(strstr(refusal("{\"experiments\":[],\"x\":1}"), "unknown field \"x\"") != NULL);
	CHECK(strstr(refusal("{\"experiments\":[]}"), "experiments must be a non-empty") != NULL);
	CHECK(strstr(refusal("{\"baseline\":{\"funnel\":[0.5,1.5,0.1]},\"experiments\":[{\"key\":"
			     "\"a\",\"variants\":[{\"key\":\"c\",\"weight\":50},{\"key\":\"t\",\"weight\":50}]}]}"),
		      "baseline.funnel[1] = 1.5 is not a probability") != NULL);
	CHECK(strstr(refusal("{\"experiments\":[{\"key\":\"a\",\"variants\":[{\"key\":\"c\",\"weight\":50},"
			     "{\"key\":\"t\",\"weight\":50}],\"sim\":{\"arms\":{\"x\":{}}}}]}"),
		      "experiments[0].sim.arms.x: no such variant in a") != NULL);
	CHECK(strstr(refusal("{\"experiments\":[{\"key\":\"a\",\"variants\":[{\"key\":\"c\",\"weight\":50},"
			     "{\"key\":\"t\",\"weight\":50}],\"sim\":{\"segment_effects\":[{\"property\":"
			     "\"device\",\"value\":\"x\",\"variant\":\"t\"}]}}]}"),
		      "segment_effects[0].property \"device\" is not a scenario property") != NULL);
	CHECK(strstr(refusal("{\"experiments\":[{\"key\":\"a\",\"variants\":[{\"key\":\"c\",\"weight\":50},"
			     "{\"key\":\"t\",\"weight\":50}],\"sim\":{\"arms\":{\"t\":{\"conversion_mult\":9}}}}]}"),
		      "conversion_mult makes P(purchase | checkout)") != NULL);
	CHECK(strstr(refusal("{\"experiments\":[{\"key\":\"Bad Key\",\"variants\":[{\"key\":"
			     "\"c\"},{\"key\":\"t\",\"weight\":50}]}]}"),
		      "experiments[0]: ") != NULL);
	CHECK(strstr(refusal("{\"baseline\":{\"revenue\":{\"pareto\":[10,1]}},\"experiments\":[{"
			     "\"key\":\"a\",\"variants\":[{\"key\":\"c\",\"weight\":50},{\"key\":\"t\",\"weight\":50}]}]}"),
		      "alpha > 1") != NULL);
}

/* Everything a run produced, as text. */
static char *dump(const nb_sim_scenario *sc, uint64_t seed, double start, long n)
{
	nb_buf b;
	nb_buf_init(&b);
	nb_sim_opts o = {.seed = seed, .users = n, .days = 7, .start = start};
	nb_sim_gen *g = nb_sim_gen_new(sc, &o);
	nb_sim_user u;
	nb_sim_events ev = {0};
	while (nb_sim_gen_next(g, &u)) {
		nb_buf_printf(&b, "%s %.6f %s %d %d %d\n", u.id, u.arrival - start, u.props, u.exp,
			      u.variant, u.dropped);
		ev.n = 0;
		nb_sim_user_events(g, &u, u.variant, &ev);
		for (size_t k = 0; k < ev.n; k++)
			nb_buf_printf(&b, " %s %s %.6f %d %.17g\n", ev.v[k].event_id, ev.v[k].type,
				      ev.v[k].ts - start, ev.v[k].has_value, ev.v[k].value);
		nb_sim_user_done(&u);
	}
	nb_sim_events_done(&ev);
	nb_sim_gen_free(g);
	return nb_buf_steal(&b);
}

static void same_seed_same_rows(void)
{
	nb_sim_scenario sc;
	nb_err err;
	if (nb_sim_scenario_load("demo", &sc, &err))
		return;
	char *a = dump(&sc, 11, T0, 3000), *b = dump(&sc, 11, T0, 3000);
	char *c = dump(&sc, 12, T0, 3000), *d = dump(&sc, 11, T0 + 7 * DAY, 3000);
	CHECK(strlen(a) > 100000);
	CHECK(!strcmp(a, b));
	CHECK(strcmp(a, c) != 0);
	/* relative to the start, a later start gives the same rows */
	CHECK(!strcmp(a, d));
	/* event ids: uuid v4, all distinct */
	size_t nid = 0;
	char **ids = NULL;
	for (char *p = strstr(a, "\n "); p; p = strstr(p + 1, "\n ")) {
		ids = nb_xrealloc(ids, sizeof *ids * (nid + 1));
		ids[nid++] = p + 2;
	}
	CHECK(nid > 10000);
	int ok = 1;
	for (size_t i = 0; i < nid; i++)
		ok &= ids[i][14] == '4' && strchr("89ab", ids[i][19]) && ids[i][36] == ' ';
	CHECK(ok);
	qsort(ids, nid, sizeof *ids, (int (*)(const void *, const void *))strcmp);
	int distinct = 1;
	for (size_t i = 1; i < nid; i++)
		distinct &= strncmp(ids[i - 1], ids[i], 36) != 0;
	CHECK(distinct);
	free(ids);
	free(a);
	free(b);
	free(c);
	free(d);
	nb_sim_scenario_done(&sc);
}

/* Every user's variant is nb_assign's decision; each is in one experiment. */
static void variants_from_nb_assign(void)
{
	nb_sim_scenario sc;
	nb_err err;
	if (nb_sim_scenario_load("demo", &sc, &err))
		return;
	nb_sim_opts o = {.seed = 5, .users = 4000, .days = 3, .start = T0};
	nb_sim_gen *g = nb_sim_gen_new(&sc, &o);
	nb_sim_user u;
	int agree = 1, in_one = 1;
	while (nb_sim_gen_next(g, &u)) {
		int n_in = 0;
		for (int e = 0; e < sc.nexps; e++) {
			nb_assign_exp view;
			nb_assign_result res;
			nb_pg_experiment_assign_view(&sc.exps[e].def, &view);
			nb_assign_decide(&view, u.id, u.attrs, &res);
			n_in += res.in_experiment;
			if (res.in_experiment)
				agree &= u.exp == e && u.variant == res.variant;
		}
		in_one &= n_in == 1;
		nb_sim_user_done(&u);
	}
	CHECK(agree);
	CHECK(in_one); /* the demo's namespace covers [0, 1) in four quarters */
	nb_sim_gen_free(g);
	nb_sim_scenario_done(&sc);
}

static void conversion_and_funnel(void)
{
	nb_sim_scenario sc;
	if (load(two_arms, &sc))
		return;
	CHECK_NEAR(nb_sim_true_conversion(&sc, 0, 0, -1, 0), 0.5 * 0.5 * 0.4, 1e-12, 0);
	CHECK_NEAR(nb_sim_true_conversion(&sc, 0, 1, -1, 0), 0.5 * 0.5 * 0.4 * 1.5, 1e-12, 0);
	tally t;
	run_tally(&sc, 2024, 40000, 14, &t);
	for (int v = 0; v < 2; v++) {
		CHECK(t.viewers[v] == t.users[v]); /* every user views */
		check_share("conversion", t.buyers[v], t.users[v],
			    nb_sim_true_conversion(&sc, 0, v, -1, 0), 4);
		check_share("view → add_to_cart", t.carts[v], t.viewers[v], 0.5, 4);
		check_share("add_to_cart → checkout", t.checkouts[v], t.carts[v], 0.5, 4);
		check_share("checkout → purchase", t.buyers[v], t.checkouts[v], v ? 0.6 : 0.4, 4);
	}
	/* equal weights: the split is balanced (no SRM in this scenario) */
	double obs[2] = {t.users[0], t.users[1]}, w[2] = {1, 1}, expect[2];
	nb_stats_srm_out srm;
	nb_err err;
	CHECK(nb_stats_srm(obs, w, 2, expect, &srm, &err) == 0);
	CHECK(!srm.mismatch);
	free(t.values);
	nb_sim_scenario_done(&sc);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void revenue_zero_inflated_heavy_tailed(void)
{
	nb_sim_scenario sc;
	if (load(two_arms, &sc))
		return;
	tally t;
	run_tally(&sc, 77, 60000, 1, &t); /* one day: purchases are first purchases */
	const nb_sim_revenue *r = &sc.baseline.revenue;
	check_share("zero-valued purchases", t.zero, t.purchases, 0.1, 4);
	/* P(value > 100) = (1-z) [ (1-t) P(lognormal > 100) + t ] (Pareto xm = 100) */
	double p_ln = 0.5 * erfc((log(100.0) - 3) / (0.6 * sqrt(2.0)));
	check_share("values over 100", t.over_xm, t.purchases, 0.9 * (0.95 * p_ln + 0.05), 4);
	double mean = t.sum / t.purchases;
	double var = t.sum_sq / t.purchases - mean * mean;
	double want = 0.9 * (0.95 * exp(3 + 0.18) + 0.05 * 2.5 * 100 / 1.5);
	CHECK_NEAR(nb_sim_revenue_mean(r), want, 1e-12, 0);
	CHECKF(fabs(mean - want) <= 5 * sqrt(var / t.purchases), "mean order value %.3f, expected %.3f",
	       mean, want);
	/* heavy tail: the largest value dwarfs the median */
	qsort(t.values, t.nvalues, sizeof(double), cmp_double);
	double median = t.values[t.nvalues / 2], max = t.values[t.nvalues - 1];
	CHECKF(max > 20 * median, "max %.2f vs median %.2f", max, median);
	/* revenue per user is zero-inflated: most users have none */
	CHECK(t.purchases < 0.2 * 60000);
	free(t.values);
	nb_sim_scenario_done(&sc);
}

static void retention_decay_and_extras(void)
{
	nb_sim_scenario sc;
	if (load(two_arms, &sc))
		return;
	tally t;
	run_tally(&sc, 3, 30000, 10, &t);
	for (int k = 1; k < 8; k++)
		check_share("return on day k", t.ret_hit[k], t.ret_n[k],
			    0.4 * pow((double)k, -0.7), 4);
	CHECK(t.ret_hit[1] / t.ret_n[1] > t.ret_hit[7] / t.ret_n[7] + 0.1);
	/* page_error: Poisson(0.2) per session, 5 SE of a Poisson mean */
	CHECKF(fabs(t.errors / t.sessions - 0.2) <= 5 * sqrt(0.2 / t.sessions),
	       "page errors per session %.4f, expected 0.2", t.errors / t.sessions);
	free(t.values);
	nb_sim_scenario_done(&sc);
}

static void segment_effects(void)
{
	static const char text[] =
		"{\"properties\":{\"device\":{\"values\":{\"mobile\":1,\"desktop\":1},"
		"  \"conversion_mult\":{\"desktop\":1.5}}},"
		"\"baseline\":{\"funnel\":[0.5,0.5,0.4]},"
		"\"experiments\":[{\"key\":\"seg\",\"variants\":[{\"key\":\"control\",\"weight\":50},"
		" {\"key\":\"treatment\",\"weight\":50}],\"sim\":{\"segment_effects\":[{\"property\":\"device\","
		" \"value\":\"mobile\",\"variant\":\"treatment\",\"conversion_mult\":2}]}}]}";
	nb_sim_scenario sc;
	if (load(text, &sc))
		return;
	/* stated: control mobile .1, control desktop .15, treatment mobile .2,
	 * treatment desktop .15 */
	double want[2][2] = {{0.1, 0.15}, {0.2, 0.15}};
	for (int v = 0; v < 2; v++)
		for (int d = 0; d < 2; d++)
			CHECK_NEAR(nb_sim_true_conversion(&sc, 0, v, 0, d), want[v][d], 1e-12, 0);
	CHECK_NEAR(nb_sim_true_conversion(&sc, 0, 1, -1, 0), 0.175, 1e-12, 0);
	double users[2][2] = {{0}}, buyers[2][2] = {{0}}, mobile = 0, n = 0;
	nb_sim_opts o = {.seed = 99, .users = 40000, .days = 2, .start = T0};
	nb_sim_gen *g = nb_sim_gen_new(&sc, &o);
	nb_sim_user u;
	nb_sim_events ev = {0};
	while (nb_sim_gen_next(g, &u)) {
		ev.n = 0;
		nb_sim_user_events(g, &u, u.variant, &ev);
		int bought = 0;
		for (size_t k = 0; k < ev.n; k++)
			bought |= !strcmp(ev.v[k].type, "purchase");
		users[u.variant][u.value[0]]++;
		buyers[u.variant][u.value[0]] += bought;
		mobile += u.value[0] == 0;
		n++;
		/* the property is in the assignment context and event properties */
		CHECK(!strcmp(cJSON_GetObjectItem(u.attrs, "device")->valuestring,
			      u.value[0] ? "desktop" : "mobile"));
		CHECK(strstr(u.props, u.value[0] ? "\"desktop\"" : "\"mobile\"") != NULL);
		nb_sim_user_done(&u);
	}
	check_share("mobile share", mobile, n, 0.5, 4);
	for (int v = 0; v < 2; v++)
		for (int d = 0; d < 2; d++)
			check_share("segment conversion", buyers[v][d], users[v][d], want[v][d], 4);
	nb_sim_events_done(&ev);
	nb_sim_gen_free(g);
	nb_sim_scenario_done(&sc);
}

static void srm_drop_share(void)
{
	static const char text[] =
		"{\"experiments\":[{\"key\":\"srm\",\"variants\":[{\"key\":\"control\",\"weight\":50},"
		" {\"key\":\"treatment\",\"weight\":50}],\"sim\":{\"arms\":{\"treatment\":{\"srm_drop\":0.1}}}}]}";
	nb_sim_scenario sc;
	if (load(text, &sc))
		return;
	double all[2] = {0}, kept[2] = {0};
	nb_sim_opts o = {.seed = 8, .users = 20000, .days = 1, .start = T0};
	nb_sim_gen *g = nb_sim_gen_new(&sc, &o);
	nb_sim_user u;
	while (nb_sim_gen_next(g, &u)) {
		all[u.variant]++;
		kept[u.variant] += !u.dropped;
		nb_sim_user_done(&u);
	}
	nb_sim_gen_free(g);
	CHECK_INT((long)kept[0], (long)all[0]); /* control loses nobody */
	check_share("treatment users lost", all[1] - kept[1], all[1], 0.1, 4);
	/* hashing splits evenly; what is stored is flagged as a mismatch */
	double w[2] = {1, 1}, expect[2];
	nb_stats_srm_out before, after;
	nb_err err;
	CHECK(nb_stats_srm(all, w, 2, expect, &before, &err) == 0);
	CHECK(nb_stats_srm(kept, w, 2, expect, &after, &err) == 0);
	CHECK(!before.mismatch);
	CHECK(after.mismatch);
	nb_sim_scenario_done(&sc);
}

/* The demo tells its four stories with the default seed and size: a clear
 * winner, a flat test, more page errors in the harmful arm, an SRM. */
static void demo_tells_its_stories(void)
{
	nb_sim_scenario sc;
	nb_err err;
	if (nb_sim_scenario_load("demo", &sc, &err))
		return;
	double users[4][2] = {{0}}, buyers[4][2] = {{0}}, errors[4][2] = {{0}};
	nb_sim_opts o = {.seed = 1, .users = sc.users, .days = sc.days, .start = T0};
	nb_sim_gen *g = nb_sim_gen_new(&sc, &o);
	nb_sim_user u;
	nb_sim_events ev = {0};
	while (nb_sim_gen_next(g, &u)) {
		if (!u.dropped && u.exp >= 0 && u.exp < 4) {
			ev.n = 0;
			nb_sim_user_events(g, &u, u.variant, &ev);
			int bought = 0;
			for (size_t k = 0; k < ev.n; k++) {
				bought |= !strcmp(ev.v[k].type, "purchase");
				errors[u.exp][u.variant] += !strcmp(ev.v[k].type, "page_error");
			}
			users[u.exp][u.variant]++;
			buyers[u.exp][u.variant] += bought;
		}
		nb_sim_user_done(&u);
	}
	nb_sim_events_done(&ev);
	nb_sim_gen_free(g);
	nb_stats_prop_out pr[4];
	for (int e = 0; e < 4; e++) {
		nb_stats_prop_in in = {users[e][0], buyers[e][0], users[e][1], buyers[e][1]};
		CHECK(nb_stats_proportions(&in, &pr[e], &err) == 0);
	}
	CHECKF(pr[0].p_value < 1e-4 && pr[0].diff > 0, "winner: diff %g p %g", pr[0].diff,
	       pr[0].p_value);
	CHECKF(pr[1].p_value >= 0.05, "flat test: p %g", pr[1].p_value);
	CHECKF(errors[2][1] / users[2][1] > 3 * errors[2][0] / users[2][0],
	       "harmful arm: %g vs %g page errors per user", errors[2][1] / users[2][1],
	       errors[2][0] / users[2][0]);
	double w[2] = {1, 1}, expect[2];
	for (int e = 0; e < 4; e++) {
		nb_stats_srm_out srm;
		CHECK(nb_stats_srm(users[e], w, 2, expect, &srm, &err) == 0);
		CHECKF(srm.mismatch == (e == 3), "experiment %d: SRM mismatch %d (p %g)", e,
		       srm.mismatch, srm.p_value);
	}
	nb_sim_scenario_done(&sc);
}

int main(void)
{
	nbt_suite = "sim";
	RUN(rng_streams);
	RUN(demo_scenario);
	RUN(scenario_refusals);
	RUN(same_seed_same_rows);
	RUN(variants_from_nb_assign);
	RUN(conversion_and_funnel);
	RUN(revenue_zero_inflated_heavy_tailed);
	RUN(retention_decay_and_extras);
	RUN(segment_effects);
	RUN(srm_drop_share);
	RUN(demo_tells_its_stories);
	return NBT_DONE();
}
