/* flag/eval.c — feature flag evaluation as GrowthBook's SDK evaluates a
 * feature (evalFeature 1.8.0): the first rule that applies gives the value,
 * else the default; a flag turned off serves its default before any rule
 * (docs/flags.md). Pure, except nb_flag_eval_sticky. */
#include "neonblue/flag.h"

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
	if (r->holdout && r->holdout_seed) {
		const char *id = hash_value(attrs, "id", user, tmp, sizeof tmp);
		if (*id && nb_in_holdout(id, r->holdout_seed, r->holdout_share))
			return 0;
	}
	const char *attr = r->hash_attribute && *r->hash_attribute ? r->hash_attribute : "id";
	const char *hv = hash_value(attrs, attr, user, tmp, sizeof tmp);
	if (!*hv)
		return 0;
	double h = nb_hash(r->seed && *r->seed ? r->seed : f->key, hv, r->hash_version);
	return h >= 0 && h <= r->coverage;
}

/* An experiment rule that can decide: resolved, its experiment running. */
static int exp_rule_live(const nb_flag_rule *r)
{
	return r->resolved && r->exp && r->values;
}

/* Walks the rules; for an experiment rule decides with decide(ctx, ...). */
typedef int (*exp_decider)(void *ctx, const nb_flag_rule *r, const char *user, const cJSON *attrs,
			   int *variant);

static int eval_with(const nb_flag *f, const char *user, const cJSON *attrs, nb_flag_result *out,
		     exp_decider decide, void *ctx)
{
	out->value = f->default_value;
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
		if (r->kind == NB_FLAG_EXPERIMENT && !exp_rule_live(r))
			continue;
		if (r->condition && !nb_eval_condition(r->condition, attrs, f->saved_groups))
			continue;
		if (r->kind == NB_FLAG_EXPERIMENT) {
			int v = -1;
			if (decide(ctx, r, user, attrs, &v))
				return -1;
			if (v < 0 || v >= r->exp->nvariants || !r->values[v])
				continue;
			out->variant = v;
			out->value = r->values[v];
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
	out->source = NB_FLAG_SRC_DEFAULT;
	return 0;
}

static int decide_by_hash(void *ctx, const nb_flag_rule *r, const char *user, const cJSON *attrs,
			  int *variant)
{
	(void)ctx;
	nb_assign_result a;
	if (nb_assign_decide(&r->view, user, attrs, &a))
		return -1;
	*variant = a.in_experiment ? a.variant : -1;
	return 0;
}

int nb_flag_eval(const nb_flag *f, const char *user, const cJSON *attrs, nb_flag_result *out)
{
	return eval_with(f, user, attrs, out, decide_by_hash, NULL);
}

typedef struct sticky_ctx {
	PGconn *pg;
	nb_pg_assignment *a;
	nb_err *err;
} sticky_ctx;

static int decide_sticky(void *ctx, const nb_flag_rule *r, const char *user, const cJSON *attrs,
			 int *variant)
{
	sticky_ctx *c = ctx;
	const char *users[] = {user};
	const cJSON *at[] = {attrs};
	if (nb_pg_assign_batch(c->pg, r->exp, 1, users, at, c->a, c->err))
		return -1;
	*variant = -1;
	if (!c->a->in_experiment)
		return 0;
	for (int i = 0; i < r->exp->nvariants; i++)
		if (!strcmp(r->exp->variants[i].key, c->a->variant))
			*variant = i;
	return 0;
}

int nb_flag_eval_sticky(PGconn *pg, const nb_flag *f, const char *user, const cJSON *attrs,
			nb_flag_result *out, nb_pg_assignment *a, nb_err *err)
{
	nb_pg_assignment tmp;
	sticky_ctx c = {pg, a ? a : &tmp, err};
	memset(c.a, 0, sizeof *c.a);
	if (eval_with(f, user, attrs, out, decide_sticky, &c)) {
		if (err && !err->code)
			nb_err_set(err, NB_EINPUT, "flag %s: a rule cannot be evaluated", f->key);
		return -1;
	}
	if (out->source != NB_FLAG_SRC_EXPERIMENT)
		memset(c.a, 0, sizeof *c.a);
	return 0;
}

cJSON *nb_flag_result_to_json(const nb_flag *f, const char *user, const nb_flag_result *r)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "flag", f->key);
	cJSON_AddStringToObject(j, "user", user);
	cJSON_AddItemToObject(j, "value",
			      r->value ? cJSON_Duplicate(r->value, 1) : cJSON_CreateNull());
	cJSON_AddStringToObject(j, "source", nb_flag_source_str(r->source));
	cJSON_AddItemToObject(j, "rule",
			      r->rule >= 0 ? cJSON_CreateNumber(r->rule) : cJSON_CreateNull());
	const nb_flag_rule *rule = r->rule >= 0 ? &f->rules[r->rule] : NULL;
	if (rule && rule->kind == NB_FLAG_EXPERIMENT && r->variant >= 0) {
		cJSON_AddStringToObject(j, "experiment", rule->experiment);
		cJSON_AddStringToObject(j, "variant", rule->exp->variants[r->variant].key);
	} else {
		cJSON_AddNullToObject(j, "variant");
	}
	cJSON_AddBoolToObject(j, "enabled", f->enabled);
	return j;
}

const char *nb_flag_source_str(enum nb_flag_source s)
{
	static const char *const names[] = {"off", "default", "force", "rollout", "experiment"};
	return (unsigned)s < sizeof names / sizeof *names ? names[s] : "?";
}
