/* features.c — the flags in the GrowthBook payload of /api/features and
 * /sub (docs/flags.md, "Serving"): one feature per flag, its rules in the
 * flag's order, so the official SDKs' getFeatureValue/isOn give what
 * nb_flag_eval gives. An experiment rule is the experiment's own rule
 * (nb_pg_experiment_rule: same key, seed, hashVersion, namespace, weights,
 * coverage, holdout filter as the experiment's feature), its variations the
 * flag's values. An off flag is its default value and no rules. */
#include "serve.h"

#include "neonblue/flag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A value as the payload holds it: NULL is JSON null. */
static cJSON *value_of(const cJSON *v)
{
	return v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
}

/* The experiment rule of r: NULL when nb_flag_eval skips it (not resolved,
 * experiment not running). A variant without a value is a passthrough: the
 * SDK goes on to the next rule, as nb_flag_eval does. */
static cJSON *experiment_rule(const nb_flag_rule *r)
{
	if (!r->resolved || !r->exp || !r->values)
		return NULL;
	const nb_pg_experiment *e = r->exp;
	cJSON *vars = cJSON_CreateArray();
	cJSON *meta = cJSON_CreateArray();
	for (int v = 0; v < e->nvariants; v++) {
		cJSON_AddItemToArray(vars, value_of(r->values[v]));
		cJSON *m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "key", e->variants[v].key);
		if (!r->values[v])
			cJSON_AddTrueToObject(m, "passthrough");
		cJSON_AddItemToArray(meta, m);
	}
	/* one SDK condition for the rule's and the experiment's own */
	cJSON *both = NULL;
	if (r->condition && r->view.condition) {
		both = cJSON_CreateObject();
		cJSON *and = cJSON_AddArrayToObject(both, "$and");
		cJSON_AddItemToArray(and, cJSON_Duplicate(r->condition, 1));
		cJSON_AddItemToArray(and, cJSON_Duplicate(r->view.condition, 1));
	}
	cJSON *j = nb_pg_experiment_rule(&r->view, vars, both ? both : r->condition);
	cJSON_Delete(both);
	cJSON_AddItemToObject(j, "meta", meta);
	return j;
}

/* A force or rollout rule: {id, condition, force} and for a rollout
 * {coverage, hashAttribute, seed, hashVersion} and its holdout's filter. */
static cJSON *force_rule(const nb_flag *f, int i)
{
	const nb_flag_rule *r = &f->rules[i];
	cJSON *j = cJSON_CreateObject();
	char id[100];
	snprintf(id, sizeof id, "%s-%d", f->key, i);
	cJSON_AddStringToObject(j, "id", id);
	if (r->condition)
		cJSON_AddItemToObject(j, "condition", cJSON_Duplicate(r->condition, 1));
	cJSON_AddItemToObject(j, "force", value_of(r->value));
	if (r->kind != NB_FLAG_ROLLOUT)
		return j;
	cJSON_AddNumberToObject(j, "coverage", r->coverage);
	cJSON_AddStringToObject(j, "hashAttribute",
				r->hash_attribute && *r->hash_attribute ? r->hash_attribute : "id");
	cJSON_AddStringToObject(j, "seed", r->seed && *r->seed ? r->seed : f->key);
	cJSON_AddNumberToObject(j, "hashVersion", r->hash_version);
	if (r->holdout && r->holdout_seed)
		cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "filters"),
				     nb_pg_holdout_filter(r->holdout_seed, r->holdout_share));
	return j;
}

cJSON *serve_flag_feature(const nb_flag *f)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "defaultValue", value_of(f->default_value));
	cJSON *rules = cJSON_AddArrayToObject(o, "rules");
	for (int i = 0; f->enabled && i < f->nrules; i++) { /* off: no rule at all */
		cJSON *r = f->rules[i].kind == NB_FLAG_EXPERIMENT ? experiment_rule(&f->rules[i])
								  : force_rule(f, i);
		if (r)
			cJSON_AddItemToArray(rules, r);
	}
	return o;
}

int serve_flag_features_add(PGconn *conn, cJSON *payload, nb_err *err)
{
	nb_flag *list;
	size_t n;
	if (nb_flag_list(conn, &list, &n, err))
		return -1;
	cJSON *fs = cJSON_GetObjectItemCaseSensitive(payload, "features");
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToObject(fs, list[i].key, serve_flag_feature(&list[i]));
	nb_flag_list_free(list, n);
	return 0;
}
