/* test_pg_model.c — the pure part of nb_pg: slugs, weights, variant specs, definitions, lifecycle. */
#include "nbtest.h"

#include "neonblue/base.h"
#include "neonblue/pg.h"

static void slugs(void)
{
	CHECK(nb_pg_slug_ok("checkout-button_v2"));
	CHECK(nb_pg_slug_ok("a"));
	char k64[65], k65[66];
	memset(k64, 'a', 64);
	k64[64] = '\0';
	memset(k65, 'b', 65);
	k65[65] = '\0';
	CHECK(nb_pg_slug_ok(k64));
	CHECK(!nb_pg_slug_ok(k65));
	CHECK(!nb_pg_slug_ok(""));
	CHECK(!nb_pg_slug_ok(NULL));
	CHECK(!nb_pg_slug_ok("Upper"));
	CHECK(!nb_pg_slug_ok("has space"));
	CHECK(!nb_pg_slug_ok("dot.ted"));
	CHECK(!nb_pg_slug_ok("é"));
}

static void weights(void)
{
	nb_err err;
	double pct[] = {50, 30, 20};
	CHECK_INT(nb_pg_weights_normalise(pct, 3, "variants", &err), 0);
	CHECK_NEAR(pct[0], 0.5, 1e-12, 0);
	CHECK_NEAR(pct[1] + pct[2], 0.5, 1e-12, 0);
	/* within 0.01 % of 100: accepted and scaled so the sum is exactly 1 */
	double near[] = {33.333, 33.333, 33.333};
	CHECK_INT(nb_pg_weights_normalise(near, 3, "variants", &err), 0);
	CHECK_NEAR(near[0] + near[1] + near[2], 1, 1e-12, 0);
	double frac[] = {0.25, 0.75};
	CHECK_INT(nb_pg_weights_normalise(frac, 2, "variants", &err), 0);
	CHECK_NEAR(frac[1], 0.75, 1e-15, 0);
	double off[] = {50, 49};
	CHECK_INT(nb_pg_weights_normalise(off, 2, "variants", &err), -1);
	CHECK_INT(err.code, NB_EINPUT);
	CHECKF(strstr(err.msg, "variants") && strstr(err.msg, "99"), "msg: %s", err.msg);
	double offa[] = {0.5, 0.4998}; /* 0.02 % off */
	CHECK_INT(nb_pg_weights_normalise(offa, 2, "variants", &err), -1);
	double neg[] = {1.5, -0.5};
	CHECK_INT(nb_pg_weights_normalise(neg, 2, "variants", &err), -1);
	CHECKF(strstr(err.msg, "variants[1].weight"), "msg: %s", err.msg);
	double zero[] = {1, 0};
	CHECK_INT(nb_pg_weights_normalise(zero, 2, "variants", &err), -1);
	CHECKF(strstr(err.msg, "variants[1].weight"), "msg: %s", err.msg);
}

static void variant_specs(void)
{
	nb_err err;
	nb_pg_variant *v;
	int n;
	CHECK_INT(nb_pg_variants_parse("control:50,treatment:50", &v, &n, &err), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(v[0].key, "control");
		CHECK_STR(v[1].key, "treatment");
		CHECK_NEAR(v[1].weight, 50, 1e-12, 0); /* normalised later, by validation */
		CHECK(cJSON_IsObject(v[0].config));
	}
	nb_pg_variants_free(v, n);
	CHECK_INT(nb_pg_variants_parse("a,b,c", &v, &n, &err), 0);
	CHECK_INT(n, 3);
	if (n == 3)
		CHECK_NEAR(v[0].weight + v[1].weight + v[2].weight, 1, 1e-12, 0);
	nb_pg_variants_free(v, n);
	CHECK_INT(nb_pg_variants_parse("only:100", &v, &n, &err), -1);
	CHECKF(strstr(err.msg, "at least two"), "msg: %s", err.msg);
	CHECK_INT(nb_pg_variants_parse("a:50,B:50", &v, &n, &err), -1);
	CHECKF(strstr(err.msg, "variants[1].key"), "msg: %s", err.msg);
	CHECK_INT(nb_pg_variants_parse("a:50,b:x", &v, &n, &err), -1);
	CHECKF(strstr(err.msg, "variants[1].weight"), "msg: %s", err.msg);
	CHECK_INT(nb_pg_variants_parse("a:50,b", &v, &n, &err), -1);
	CHECK_INT(err.code, NB_EINPUT);

	nb_pg_exp_metric *m;
	CHECK_INT(nb_pg_exp_metrics_parse("conv:primary,aov,latency:guardrail", &m, &n, &err), 0);
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK_STR(m[1].role, "secondary");
		CHECK_STR(m[2].role, "guardrail");
	}
	nb_pg_exp_metrics_free(m, n);
	CHECK_INT(nb_pg_exp_metrics_parse("conv:main", &m, &n, &err), -1);
	CHECKF(strstr(err.msg, "metrics[0].role"), "msg: %s", err.msg);
}

/* from_json on text; returns the rc and leaves err. */
static int def(const char *text, nb_pg_experiment *e, nb_err *err)
{
	cJSON *j = cJSON_Parse(text);
	if (!j) {
		memset(e, 0, sizeof *e);
		return nb_err_set(err, NB_EINPUT, "test JSON does not parse");
	}
	int rc = nb_pg_experiment_from_json(j, e, err);
	cJSON_Delete(j);
	return rc;
}

#define VARS "\"variants\":[{\"key\":\"a\",\"weight\":60},{\"key\":\"b\",\"weight\":40}]"

static void definitions(void)
{
	nb_err err;
	nb_pg_experiment e;
	CHECK_INT(def("{\"key\":\"exp-1\"," VARS "}", &e, &err), 0);
	CHECK_STR(e.seed, "exp-1");
	CHECK_STR(e.name, "exp-1");
	CHECK_INT(e.hash_version, 2);
	CHECK_NEAR(e.coverage, 1, 0, 0);
	CHECK_INT(e.variants[0].is_control, 1);
	CHECK_INT(e.variants[1].is_control, 0);
	CHECK_NEAR(e.weights[0], 0.6, 1e-12, 0);
	CHECK_STR(e.status, "draft");
	nb_assign_exp ae;
	nb_pg_experiment_assign_view(&e, &ae);
	CHECK_INT(ae.nvariants, 2);
	CHECK_NEAR(ae.weights[1], 0.4, 1e-12, 0);
	CHECK(ae.condition == NULL && ae.ns_id == NULL);
	nb_pg_experiment_done(&e);
	/* every GrowthBook operator is accepted */
	CHECK_INT(def("{\"key\":\"ops\",\"condition\":{\"$and\":[{\"v\":{\"$vgte\":\"1.2\"}},"
		      "{\"tags\":{\"$elemMatch\":{\"$eq\":\"a\"}}},{\"$not\":{\"x\":{\"$exists\":true}}},"
		      "{\"id\":{\"$inGroup\":\"g\"}},{\"n\":{\"$size\":{\"$gt\":1}}}],"
		      "\"$nor\":[{\"c\":{\"$regexi\":\"^x\"}}]}," VARS "}",
		      &e, &err),
		  0);
	nb_pg_experiment_done(&e);

	struct {
		const char *json, *needle;
	} bad[] = {
		{"{\"key\":\"Bad Key\"," VARS "}", "key 'Bad Key'"},
		{"{\"key\":\"k\",\"coverage\":1.5," VARS "}", "coverage"},
		{"{\"key\":\"k\",\"hash_version\":3," VARS "}", "hash_version"},
		{"{\"key\":\"k\",\"condition\":[1]," VARS "}", "condition"},
		{"{\"key\":\"k\",\"namespace\":[\"ns\",0.5,0.2]," VARS "}", "namespace"},
		{"{\"key\":\"k\",\"namespace\":\"ns\"," VARS "}", "namespace"},
		{"{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"weight\":1}]}", "at least two"},
		{"{\"key\":\"k\"}", "variants"},
		{"{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"weight\":1,\"is_control\":true},"
		 "{\"key\":\"b\",\"weight\":1,\"is_control\":true}]}",
		 "is_control"},
		{"{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"weight\":1},{\"key\":\"a\","
		 "\"weight\":1}]}",
		 "variants[1].key 'a' is used twice"},
		{"{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"weight\":1},{\"key\":\"b\","
		 "\"weight\":1,\"config\":5}]}",
		 "variants[1].config"},
		{"{\"key\":\"k\",\"metrics\":[{\"key\":\"m\",\"role\":\"main\"}]," VARS "}",
		 "metrics[0].role"},
		{"{\"key\":\"k\",\"colour\":\"blue\"," VARS "}", "unknown field 'colour'"},
		{"{\"name\":\"no key\"," VARS "}", "key is required"},
		{"{\"key\":\"k\",\"condition\":{\"country\":{\"$inn\":[\"US\"]}}," VARS "}",
		 "unknown operator '$inn' at country"},
		{"{\"key\":\"k\",\"condition\":{\"$or\":[{\"a\":1},{\"b\":{\"$regexp\":\"x\"}}]},"
		 VARS "}",
		 "unknown operator '$regexp' at b"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		nb_err_clear(&err);
		int rc = def(bad[i].json, &e, &err);
		CHECKF(rc == -1 && err.code == NB_EINPUT && strstr(err.msg, bad[i].needle),
		       "case %zu: rc %d, msg '%s', expected to mention '%s'", i, rc, err.msg,
		       bad[i].needle);
		if (rc == 0)
			nb_pg_experiment_done(&e);
	}
}

/* to_json → from_json → to_json gives the same JSON. */
static void round_trip(void)
{
	nb_err err;
	nb_pg_experiment e, f;
	const char *text =
		"{\"key\":\"rt\",\"name\":\"Round trip\",\"description\":\"d\",\"hypothesis\":\"h\","
		"\"seed\":\"s1\",\"hash_version\":1,\"coverage\":0.75,\"namespace\":[\"ns\",0,0.5],"
		"\"condition\":{\"country\":{\"$in\":[\"US\",\"CA\"]}},\"owner\":\"ann\","
		"\"variants\":[{\"key\":\"c\",\"name\":\"Control\",\"weight\":0.3,\"is_control\":false,"
		"\"config\":{}},{\"key\":\"t\",\"name\":\"T\",\"weight\":0.7,\"is_control\":true,"
		"\"config\":{\"color\":\"red\"}}],\"metrics\":[{\"key\":\"conv\",\"role\":\"primary\"}]}";
	CHECK_INT(def(text, &e, &err), 0);
	cJSON *j1 = nb_pg_experiment_to_json(&e);
	CHECK_INT(nb_pg_experiment_from_json(j1, &f, &err), 0);
	cJSON *j2 = nb_pg_experiment_to_json(&f);
	char *s1 = nb_json_print(j1), *s2 = nb_json_print(j2);
	CHECK_STR(s2, s1);
	CHECK(strstr(s1, "\"is_control\":true,\"config\":{\"color\":\"red\"}") != NULL);
	CHECK(strstr(s1, "\"namespace\":[\"ns\",0,0.5]") != NULL);
	free(s1);
	free(s2);
	cJSON_Delete(j1);
	cJSON_Delete(j2);
	nb_pg_experiment_done(&e);
	nb_pg_experiment_done(&f);
}

static void lifecycle(void)
{
	nb_err err;
	CHECK_STR(nb_pg_transition("draft", "start", &err), "running");
	CHECK_STR(nb_pg_transition("running", "pause", &err), "paused");
	CHECK_STR(nb_pg_transition("paused", "start", &err), "running");
	CHECK_STR(nb_pg_transition("running", "stop", &err), "stopped");
	CHECK_STR(nb_pg_transition("paused", "stop", &err), "stopped");
	CHECK_STR(nb_pg_transition("stopped", "archive", &err), "archived");
	static const char *states[] = {"draft", "running", "paused", "stopped", "archived"};
	static const char *actions[] = {"start", "pause", "stop", "archive"};
	int refused = 0;
	for (int s = 0; s < 5; s++) {
		for (int a = 0; a < 4; a++) {
			nb_err_clear(&err);
			const char *to = nb_pg_transition(states[s], actions[a], &err);
			if (!to) {
				refused++;
				CHECKF(err.code == NB_EINPUT && strstr(err.msg, states[s]),
				       "%s from %s: '%s' should name the state", actions[a], states[s],
				       err.msg);
			}
		}
	}
	CHECK_INT(refused, 20 - 6);
	CHECK(nb_pg_transition("draft", "launch", &err) == NULL);
	CHECKF(strstr(err.msg, "launch"), "msg: %s", err.msg);
}

static void metrics(void)
{
	nb_err err;
	nb_pg_metric m;
	cJSON *j = cJSON_Parse("{\"key\":\"rev\",\"kind\":\"sum\",\"event_types\":[\"purchase\"],"
			       "\"value_property\":\"amount\",\"winsorize\":99}");
	CHECK_INT(nb_pg_metric_from_json(j, &m, &err), 0);
	cJSON_Delete(j);
	CHECK_STR(m.direction, "increase");
	CHECK_STR(m.name, "rev");
	CHECK_NEAR(m.winsorize, 99, 0, 0);
	nb_pg_metric_done(&m);
	struct {
		const char *json, *needle;
	} bad[] = {
		{"{\"key\":\"m\",\"kind\":\"median\",\"event_types\":[\"x\"]}", "kind 'median'"},
		{"{\"key\":\"m\",\"kind\":\"count\",\"event_types\":[]}", "events"},
		{"{\"key\":\"m\",\"kind\":\"ratio\",\"event_types\":[\"x\"]}", "exactly two"},
		{"{\"key\":\"m\",\"kind\":\"sum\",\"event_types\":[\"x\"],\"direction\":\"up\"}",
		 "direction 'up'"},
		{"{\"key\":\"m\",\"kind\":\"sum\",\"event_types\":[\"x\"],\"winsorize\":120}",
		 "winsorize"},
		{"{\"key\":\"m\",\"kind\":\"binomial\",\"event_types\":[\"x\"],\"winsorize\":99}",
		 "binomial"},
		{"{\"key\":\"M!\",\"kind\":\"count\",\"event_types\":[\"x\"]}", "key 'M!'"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		j = cJSON_Parse(bad[i].json);
		nb_err_clear(&err);
		int rc = nb_pg_metric_from_json(j, &m, &err);
		cJSON_Delete(j);
		CHECKF(rc == -1 && strstr(err.msg, bad[i].needle), "case %zu: '%s' lacks '%s'", i,
		       err.msg, bad[i].needle);
		if (!rc)
			nb_pg_metric_done(&m);
	}
}

int main(void)
{
	nbt_suite = "pg_model";
	RUN(slugs);
	RUN(weights);
	RUN(variant_specs);
	RUN(definitions);
	RUN(round_trip);
	RUN(lifecycle);
	RUN(metrics);
	return NBT_DONE();
}
