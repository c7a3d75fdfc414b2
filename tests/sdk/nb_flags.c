/* tests/sdk/nb_flags.c — NeonBlue's side of the flag differential test
 * against the GrowthBook SDK (tests/sdk/flags_diff.js): reads JSON Lines from
 * stdin, one flag and its users a line,
 *   {"flag": {key, enabled, defaultValue, savedGroups, rules: [
 *        {"type":"force", condition, value}
 *      | {"type":"rollout", condition, value, coverage, hashAttribute, seed, hashVersion}
 *      | {"type":"experiment", condition, values: [...], experiment: {key, seed,
 *          hashVersion, coverage, namespace, condition, weights, holdout: [seed, share]}}]},
 *    "users": [[id, attributes], ...]}
 * and prints one line: {"feature": nb_pg_flag_feature's payload entry,
 * "values": [nb_flag_eval's value for each user, in order]}. */
#include "neonblue/assign.h"
#include "neonblue/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULES 16

static const cJSON *get(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNull(v) ? NULL : v;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = get(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num(const cJSON *o, const char *k, double dflt)
{
	const cJSON *v = get(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* The experiment of an experiment rule; weights into w. */
static void exp_of(const cJSON *x, const cJSON *groups, double *w, nb_assign_exp *e)
{
	const cJSON *ws = get(x, "weights"), *ns = get(x, "namespace"), *h = get(x, "holdout");
	memset(e, 0, sizeof *e);
	e->key = str(x, "key");
	e->seed = str(x, "seed");
	e->hash_version = (int)num(x, "hashVersion", 2);
	e->coverage = num(x, "coverage", 1);
	e->condition = get(x, "condition");
	e->nvariants = cJSON_GetArraySize(ws);
	for (int i = 0; i < e->nvariants && i < NB_ASSIGN_MAX_VARIANTS; i++)
		w[i] = cJSON_GetArrayItem(ws, i)->valuedouble;
	e->weights = w;
	e->saved_groups = groups;
	if (cJSON_IsArray(ns)) {
		e->ns_id = cJSON_GetArrayItem(ns, 0)->valuestring;
		e->ns_start = cJSON_GetArrayItem(ns, 1)->valuedouble;
		e->ns_end = cJSON_GetArrayItem(ns, 2)->valuedouble;
	}
	if (cJSON_IsArray(h)) {
		e->holdout_seed = cJSON_GetArrayItem(h, 0)->valuestring;
		e->holdout_share = cJSON_GetArrayItem(h, 1)->valuedouble;
	}
}

static int nbf_case(const char *line)
{
	cJSON *c = cJSON_Parse(line);
	const cJSON *fj = get(c, "flag"), *users = get(c, "users");
	if (!cJSON_IsObject(fj) || !cJSON_IsArray(users)) {
		cJSON_Delete(c);
		return -1;
	}
	const cJSON *groups = get(fj, "savedGroups");
	nb_flag_rule rules[MAX_RULES];
	nb_assign_exp exps[MAX_RULES];
	double weights[MAX_RULES][NB_ASSIGN_MAX_VARIANTS];
	const cJSON *values[MAX_RULES][NB_ASSIGN_MAX_VARIANTS];
	int n = 0;
	const cJSON *r;
	cJSON_ArrayForEach(r, get(fj, "rules"))
	{
		if (n == MAX_RULES)
			break;
		const char *type = str(r, "type");
		nb_flag_rule *fr = &rules[n];
		memset(fr, 0, sizeof *fr);
		fr->condition = get(r, "condition");
		fr->value = get(r, "value");
		if (type && !strcmp(type, "experiment")) {
			fr->kind = NB_FLAG_EXPERIMENT;
			exp_of(get(r, "experiment"), groups, weights[n], &exps[n]);
			fr->exp = &exps[n];
			for (int v = 0; v < exps[n].nvariants && v < NB_ASSIGN_MAX_VARIANTS; v++)
				values[n][v] = get(r, "values") ? cJSON_GetArrayItem(get(r, "values"), v)
								: NULL;
			for (int v = 0; v < exps[n].nvariants; v++)
				if (cJSON_IsNull(values[n][v]))
					values[n][v] = NULL;
			fr->values = values[n];
		} else if (type && !strcmp(type, "rollout")) {
			fr->kind = NB_FLAG_ROLLOUT;
			fr->coverage = num(r, "coverage", 1);
			fr->hash_attribute = str(r, "hashAttribute");
			fr->seed = str(r, "seed");
			fr->hash_version = (int)num(r, "hashVersion", 2);
		} else {
			fr->kind = NB_FLAG_FORCE;
		}
		n++;
	}
	nb_flag f = {
		.key = str(fj, "key"),
		.enabled = cJSON_IsTrue(get(fj, "enabled")),
		.default_value = get(fj, "defaultValue"),
		.nrules = n,
		.rules = rules,
		.saved_groups = groups,
	};
	cJSON *out = cJSON_CreateObject();
	cJSON_AddItemToObject(out, "feature", nb_pg_flag_feature(&f));
	cJSON *vals = cJSON_AddArrayToObject(out, "values");
	const cJSON *u;
	cJSON_ArrayForEach(u, users)
	{
		nb_flag_result res;
		const cJSON *attrs = cJSON_GetArrayItem(u, 1);
		if (nb_flag_eval(&f, cJSON_GetArrayItem(u, 0)->valuestring, attrs, &res) < 0)
			cJSON_AddItemToArray(vals, cJSON_CreateString("<error>"));
		else
			cJSON_AddItemToArray(vals, res.value ? cJSON_Duplicate(res.value, 1)
							     : cJSON_CreateNull());
	}
	char *text = cJSON_PrintUnformatted(out);
	puts(text);
	free(text);
	cJSON_Delete(out);
	cJSON_Delete(c);
	return 0;
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0;
	while ((len = getline(&line, &cap, stdin)) > 0) {
		if (nbf_case(line)) {
			fprintf(stderr, "nb_flags: not a case: %.80s\n", line);
			rc = 1;
		}
	}
	free(line);
	return rc;
}
