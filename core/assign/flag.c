/* assign/flag.c — feature flag evaluation as GrowthBook's SDK evaluates a
 * feature (evalFeature 1.8.0): the first rule that applies gives the value,
 * else the default; a flag turned off gives null before any rule. Pure. */
#include "neonblue/assign.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The SDK's hash value: attributes[attr] when truthy, as JavaScript's String()
 * of a string or a number; "" otherwise. */
static const char *hash_value(const cJSON *attrs, const char *attr, const char *user, char *tmp,
			      size_t n)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(attrs, attr);
	if (!v && !strcmp(attr, "id"))
		return user ? user : "";
	if (cJSON_IsString(v))
		return v->valuestring;
	if (cJSON_IsNumber(v) && v->valuedouble != 0 && isfinite(v->valuedouble)) {
		double d = v->valuedouble;
		if (d == floor(d) && fabs(d) < 1e21) {
			snprintf(tmp, n, "%.0f", d);
			return tmp;
		}
		for (int p = 1; p <= 17; p++) { /* shortest text that reads back */
			snprintf(tmp, n, "%.*g", p, d);
			if (strtod(tmp, NULL) == d)
				break;
		}
		return tmp;
	}
	if (cJSON_IsTrue(v))
		return "true";
	return "";
}

static int rollout_includes(const nb_flag *f, const nb_flag_rule *r, const char *user,
			    const cJSON *attrs)
{
	if (r->coverage <= 0)
		return 0;
	char tmp[40];
	const char *attr = r->hash_attribute && *r->hash_attribute ? r->hash_attribute : "id";
	const char *hv = hash_value(attrs, attr, user, tmp, sizeof tmp);
	if (!*hv)
		return 0;
	double h = nb_hash(r->seed && *r->seed ? r->seed : f->key, hv, r->hash_version);
	return h >= 0 && h <= r->coverage;
}

int nb_flag_eval(const nb_flag *f, const char *user, const cJSON *attrs, nb_flag_result *out)
{
	out->value = NULL;
	out->rule = -1;
	out->variant = -1;
	if (!f->enabled) {
		out->source = NB_FLAG_SRC_OFF;
		return 0;
	}
	for (int i = 0; i < f->nrules; i++) {
		const nb_flag_rule *r = &f->rules[i];
		if (r->kind == NB_FLAG_ROLLOUT && r->hash_version != 1 && r->hash_version != 2)
			return -1;
		if (r->condition && !nb_eval_condition(r->condition, attrs, f->saved_groups))
			continue;
		if (r->kind == NB_FLAG_EXPERIMENT) {
			nb_assign_result a;
			if (!r->exp || nb_assign_decide(r->exp, user, attrs, &a))
				return -1;
			if (!a.in_experiment)
				continue;
			out->variant = a.variant;
			out->value = r->values[a.variant];
			out->source = NB_FLAG_SRC_EXPERIMENT;
		} else if (r->kind == NB_FLAG_ROLLOUT) {
			if (!rollout_includes(f, r, user, attrs))
				continue;
			out->value = r->value;
			out->source = NB_FLAG_SRC_ROLLOUT;
		} else {
			out->value = r->value;
			out->source = NB_FLAG_SRC_FORCE;
		}
		out->rule = i;
		return 0;
	}
	out->value = f->default_value;
	out->source = NB_FLAG_SRC_DEFAULT;
	return 0;
}

const char *nb_flag_source_str(enum nb_flag_source s)
{
	static const char *const names[] = {"off", "default", "force", "rollout", "experiment"};
	return (unsigned)s < sizeof names / sizeof *names ? names[s] : "?";
}
