/* test_flag.c — the pure part of core/flag: a definition's JSON (defaults,
 * errors naming the field, round trip) and nb_flag_eval (off wins, rule
 * order, rollout against GrowthBook's hash, holdouts, experiment rules). */
#include "nbtest.h"

#include "neonblue/flag.h"

#include <math.h>

/* Parses json expecting an error whose message contains want. */
static void refused(const char *json, const char *want)
{
	nb_flag f;
	nb_err err;
	nb_err_clear(&err);
	int rc = nb_flag_parse(json, &f, &err);
	CHECKF(rc == -1, "accepted %s", json);
	CHECKF(err.code == NB_EINPUT, "code %d for %s", err.code, json);
	CHECKF(strstr(err.msg, want), "error '%s' lacks '%s' (for %s)", err.msg, want, json);
	if (!rc)
		nb_flag_done(&f);
}

static void validation(void)
{
	refused("{\"key\": \"f\", \"rules\": [{\"type\": \"force\", \"value\": \"yes\"}]}",
		"rules[0].value: \"yes\" is not a boolean value");
	refused("{\"key\": \"f\", \"rules\": [{\"type\": \"force\", \"value\": true},"
		" {\"type\": \"rollout\", \"coverage\": 1.5, \"value\": true}]}",
		"rules[1].coverage must be between 0 and 1 (got 1.5)");
	refused("{\"key\": \"f\", \"rules\": [{\"type\": \"rollout\", \"value\": true}]}",
		"rules[0].coverage: a number 0..1 is required");
	refused("{\"key\": \"f\", \"rules\": [{\"type\": \"rollout\", \"coverage\": 0.5,"
		" \"hash_version\": 3, \"value\": true}]}",
		"rules[0].hash_version must be 1 or 2 (got 3)");
	refused(
	    "{\"key\": \"f\", \"rules\": [{\"type\": \"force\", \"value\": true, \"weight\": 3}]}",
	    "unknown field 'weight' in rules[0]");
	refused("{\"key\": \"f\", \"rules\": [{\"type\": \"force\", \"value\": true, \"coverage\": "
		"1}]}",
		"rules[0].coverage: a force rule has no such field");
	refused("{\"key\": \"f\", \"rules\": [{\"type\": \"ramp\"}]}", "rules[0].type must be");
	refused("{\"key\": \"f\", \"rules\": [{\"type\": \"force\", \"condition\": {\"a\": "
		"{\"$bogus\": 1}},"
		" \"value\": true}]}",
		"rules[0].condition: unknown operator '$bogus' at a");
	refused("{\"key\": \"f\", \"rules\": [{\"type\": \"experiment\", \"experiment\": \"e\"}]}",
		"rules[0].variations: an object");
	refused("{\"key\": \"f\", \"type\": \"number\", \"rules\": [{\"type\": \"experiment\","
		" \"experiment\": \"e\", \"variations\": {\"a\": 1, \"b\": \"2\"}}]}",
		"rules[0].variations.b: \"2\" is not a number value");
	refused("{\"key\": \"f\", \"type\": \"number\", \"default_value\": \"ten\"}",
		"default_value: \"ten\" is not a number value");
	refused("{\"key\": \"f\", \"type\": \"colour\"}", "type must be");
	refused("{\"key\": \"Bad Key\"}", "key 'Bad Key' must match");
	refused("{\"type\": \"boolean\"}", "key is required");
	refused("{\"key\": \"f\", \"enabled\": 1}", "enabled must be true or false");
	refused("{\"key\": \"f\", \"colour\": 1}", "unknown field 'colour' in the flag definition");
	refused("{\"key\": \"f\", \"rules\": {}}", "rules must be a JSON array");
	refused("[1]", "must be a JSON object");
	refused("{", "not valid JSON");
}

static void defaults_and_round_trip(void)
{
	static const char *zero[] = {"false", "\"\"", "0", "null"};
	static const char *types[] = {"boolean", "string", "number", "json"};
	for (int t = 0; t < 4; t++) {
		char json[128];
		snprintf(json, sizeof json, "{\"key\": \"f%d\", \"type\": \"%s\"}", t, types[t]);
		nb_flag f;
		nb_err err;
		CHECK_INT(nb_flag_parse(json, &f, &err), 0);
		char *dv = cJSON_PrintUnformatted(f.default_value);
		CHECK_STR(dv, zero[t]);
		free(dv);
		CHECK_INT(f.enabled, 0);
		nb_flag_done(&f);
	}
	const char *def =
	    "{\"key\": \"rt\", \"type\": \"string\", \"enabled\": true, \"default_value\": \"a\","
	    " \"rules\": [{\"type\": \"force\", \"condition\": {\"c\": 1}, \"value\": \"b\"},"
	    " {\"type\": \"rollout\", \"coverage\": 0.3, \"holdout\": \"h\", \"value\": \"c\"},"
	    " {\"type\": \"experiment\", \"experiment\": \"e\", \"variations\": {\"x\": \"d\"}}]}";
	nb_flag f, g;
	nb_err err;
	CHECK_INT(nb_flag_parse(def, &f, &err), 0);
	CHECK_STR(f.rules[1].seed, "rt");
	CHECK_STR(f.rules[1].hash_attribute, "id");
	CHECK_INT(f.rules[1].hash_version, 2);
	cJSON *j = nb_flag_to_json(&f);
	CHECK_INT(nb_flag_from_json(j, &g, &err), 0);
	cJSON *k = nb_flag_to_json(&g);
	CHECK(cJSON_Compare(j, k, 1));
	nb_flag c;
	nb_flag_copy(&c, &f);
	cJSON *l = nb_flag_to_json(&c);
	CHECK(cJSON_Compare(j, l, 1));
	cJSON_Delete(j);
	cJSON_Delete(k);
	cJSON_Delete(l);
	nb_flag_done(&f);
	nb_flag_done(&g);
	nb_flag_done(&c);
}

static nb_flag parse_ok(const char *json)
{
	nb_flag f;
	nb_err err;
	nb_err_clear(&err);
	if (nb_flag_parse(json, &f, &err))
		nbt_report(__FILE__, __LINE__, "parse: %s", err.msg);
	return f;
}

static void eval_order_and_off(void)
{
	nb_flag f = parse_ok(
	    "{\"key\": \"o\", \"type\": \"number\", \"enabled\": true, \"default_value\": 1,"
	    " \"rules\": [{\"type\": \"force\", \"condition\": {\"country\": \"NL\"}, \"value\": "
	    "2},"
	    " {\"type\": \"force\", \"value\": 3}]}");
	cJSON *nl = cJSON_Parse("{\"country\": \"NL\"}");
	nb_flag_result r;
	CHECK_INT(nb_flag_eval(&f, "u", nl, &r), 0);
	CHECK(r.value && r.value->valuedouble == 2 && r.source == NB_FLAG_SRC_FORCE && r.rule == 0);
	CHECK_INT(nb_flag_eval(&f, "u", NULL, &r), 0);
	CHECK(r.value && r.value->valuedouble == 3 && r.rule == 1);
	f.enabled = 0; /* off wins over every rule: the default, never null */
	CHECK_INT(nb_flag_eval(&f, "u", nl, &r), 0);
	CHECK(r.value && r.value->valuedouble == 1 && r.source == NB_FLAG_SRC_OFF && r.rule == -1);
	CHECK_STR(nb_flag_source_str(r.source), "off");
	cJSON_Delete(nl);
	nb_flag_done(&f);
}

static void eval_rollout(void)
{
	nb_flag f =
	    parse_ok("{\"key\": \"r\", \"enabled\": true, \"rules\": [{\"type\": \"rollout\","
		     " \"coverage\": 0.25, \"seed\": \"s\", \"value\": true}]}");
	int on = 0, exact = 1;
	char u[32];
	for (int i = 0; i < 10000; i++) {
		snprintf(u, sizeof u, "user%d", i);
		nb_flag_result r;
		nb_flag_eval(&f, u, NULL, &r);
		int in = r.source == NB_FLAG_SRC_ROLLOUT;
		on += in;
		exact &= in == (nb_hash("s", u, 2) <= 0.25);
	}
	CHECK(exact);
	CHECKF(on > 2300 && on < 2700, "rollout 25%% gave %d of 10000", on);
	/* a missing hash attribute excludes; coverage 0 includes nobody */
	free(f.rules[0].hash_attribute);
	f.rules[0].hash_attribute = strdup("company");
	nb_flag_result r;
	nb_flag_eval(&f, "user1", NULL, &r);
	CHECK(r.source == NB_FLAG_SRC_DEFAULT);
	cJSON *a = cJSON_Parse("{\"company\": \"acme\"}");
	f.rules[0].coverage = 1;
	nb_flag_eval(&f, "user1", a, &r);
	CHECK(r.source == NB_FLAG_SRC_ROLLOUT);
	f.rules[0].coverage = 0;
	nb_flag_eval(&f, "user1", a, &r);
	CHECK(r.source == NB_FLAG_SRC_DEFAULT);
	cJSON_Delete(a);
	/* a holdout excludes exactly its users */
	f.rules[0].coverage = 1;
	free(f.rules[0].hash_attribute);
	f.rules[0].hash_attribute = strdup("id");
	f.rules[0].holdout = strdup("h");
	f.rules[0].holdout_seed = strdup("hseed");
	f.rules[0].holdout_share = 0.2;
	int held = 0;
	exact = 1;
	for (int i = 0; i < 5000; i++) {
		snprintf(u, sizeof u, "user%d", i);
		nb_flag_eval(&f, u, NULL, &r);
		int out = r.source == NB_FLAG_SRC_DEFAULT;
		held += out;
		exact &= out == nb_in_holdout(u, "hseed", 0.2);
	}
	CHECK(exact);
	CHECKF(held > 850 && held < 1150, "holdout 20%% held %d of 5000", held);
	nb_flag_done(&f);
}

static void eval_experiment(void)
{
	nb_flag f =
	    parse_ok("{\"key\": \"x\", \"type\": \"string\", \"enabled\": true,"
		     " \"default_value\": \"d\", \"rules\": [{\"type\": \"experiment\","
		     " \"experiment\": \"e\", \"variations\": {\"a\": \"A\", \"b\": \"B\"}}]}");
	nb_flag_result r;
	nb_flag_eval(&f, "u1", NULL, &r); /* not resolved: skipped */
	CHECK(r.source == NB_FLAG_SRC_DEFAULT);
	nb_pg_variant vars[2] = {{.key = "a"}, {.key = "b"}};
	double w[2] = {0.5, 0.5};
	nb_pg_experiment e = {.key = "e",
			      .seed = "e",
			      .hash_version = 2,
			      .coverage = 0.5,
			      .nvariants = 2,
			      .variants = vars,
			      .weights = w};
	nb_flag_rule *rule = &f.rules[0];
	rule->exp = &e;
	nb_pg_experiment_assign_view(&e, &rule->view);
	const cJSON *values[2] = {cJSON_GetObjectItem(rule->variations, "a"),
				  cJSON_GetObjectItem(rule->variations, "b")};
	rule->values = values;
	rule->resolved = 1;
	int agree = 1, in = 0;
	char u[32];
	for (int i = 0; i < 2000; i++) {
		snprintf(u, sizeof u, "user%d", i);
		nb_assign_result a;
		nb_assign_decide(&rule->view, u, NULL, &a);
		nb_flag_eval(&f, u, NULL, &r);
		if (a.in_experiment) {
			in++;
			agree &= r.source == NB_FLAG_SRC_EXPERIMENT && r.variant == a.variant &&
				 r.value == values[a.variant];
		} else {
			agree &= r.source == NB_FLAG_SRC_DEFAULT;
		}
	}
	CHECK(agree);
	CHECKF(in > 880 && in < 1120, "coverage 0.5 put %d of 2000 in", in);
	cJSON *j = nb_flag_result_to_json(&f, "user1", &r);
	CHECK(cJSON_GetObjectItem(j, "value") && cJSON_GetObjectItem(j, "source"));
	cJSON_Delete(j);
	rule->exp = NULL;
	rule->values = NULL;
	nb_flag_done(&f);
}

int main(void)
{
	nbt_suite = "flag_core";
	RUN(validation);
	RUN(defaults_and_round_trip);
	RUN(eval_order_and_off);
	RUN(eval_rollout);
	RUN(eval_experiment);
	return NBT_DONE();
}
