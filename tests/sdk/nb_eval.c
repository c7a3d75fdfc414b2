/* tests/sdk/nb_eval.c — NeonBlue's side of the differential test against the
 * GrowthBook SDK (tests/sdk/diff.js): reads JSON Lines from stdin, one case a
 * line, and prints one answer a line:
 *   {"condition":…, "attributes":…, "savedGroups":…}  → true | false
 *   {"hash":[seed, value, version]}                   → number | null
 *   {"ranges":[n, coverage, weights|null]}            → [[a,b],…]
 *   {"choose":[x, [[a,b],…]]}                         → index
 *   {"decide":{key, seed, hashVersion, coverage, namespace, condition,
 *              weights, user, attributes, savedGroups}}   → {"in":…,"variant":…} */
#include "neonblue/assign.h"

#include "lines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* nb_assign_decide for one experiment and user: {"in":bool,"variant":index or -1}. */
static void nbe_decide(const cJSON *d)
{
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(d, "weights");
	const cJSON *ns = cJSON_GetObjectItemCaseSensitive(d, "namespace");
	const cJSON *seed = cJSON_GetObjectItemCaseSensitive(d, "seed");
	const cJSON *cond = cJSON_GetObjectItemCaseSensitive(d, "condition");
	double weights[NB_ASSIGN_MAX_VARIANTS];
	int n = cJSON_GetArraySize(w);
	for (int i = 0; i < n && i < NB_ASSIGN_MAX_VARIANTS; i++)
		weights[i] = cJSON_GetArrayItem(w, i)->valuedouble;
	nb_assign_exp e = {
		.key = cJSON_GetObjectItemCaseSensitive(d, "key")->valuestring,
		.seed = cJSON_IsString(seed) ? seed->valuestring : NULL,
		.hash_version = cJSON_GetObjectItemCaseSensitive(d, "hashVersion")->valueint,
		.coverage = cJSON_GetObjectItemCaseSensitive(d, "coverage")->valuedouble,
		.condition = cJSON_IsObject(cond) ? cond : NULL,
		.nvariants = n,
		.weights = weights,
		.saved_groups = cJSON_GetObjectItemCaseSensitive(d, "savedGroups"),
	};
	if (cJSON_IsArray(ns)) {
		e.ns_id = cJSON_GetArrayItem(ns, 0)->valuestring;
		e.ns_start = cJSON_GetArrayItem(ns, 1)->valuedouble;
		e.ns_end = cJSON_GetArrayItem(ns, 2)->valuedouble;
	}
	nb_assign_result r;
	if (nb_assign_decide(&e, cJSON_GetObjectItemCaseSensitive(d, "user")->valuestring,
			     cJSON_GetObjectItemCaseSensitive(d, "attributes"), &r) < 0)
		r = (nb_assign_result){.variant = -1};
	printf("{\"in\":%s,\"variant\":%d}\n", r.in_experiment ? "true" : "false",
	       r.in_experiment ? r.variant : -1);
}

/* Prints one answer for the case in line; -1 when the line is not a case. */
static int nbe_case(const char *line)
{
	cJSON *c = cJSON_Parse(line);
	if (!cJSON_IsObject(c)) {
		cJSON_Delete(c);
		return -1;
	}
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(c, "hash");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(c, "ranges");
	const cJSON *ch = cJSON_GetObjectItemCaseSensitive(c, "choose");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(c, "decide");
	if (cJSON_IsObject(d)) {
		nbe_decide(d);
	} else if (cJSON_IsArray(h)) {
		double v = nb_hash(cJSON_GetArrayItem(h, 0)->valuestring,
				   cJSON_GetArrayItem(h, 1)->valuestring,
				   cJSON_GetArrayItem(h, 2)->valueint);
		if (v < 0)
			printf("null\n");
		else
			printf("%.17g\n", v);
	} else if (cJSON_IsArray(r)) {
		int n = cJSON_GetArrayItem(r, 0)->valueint;
		double cov = cJSON_GetArrayItem(r, 1)->valuedouble;
		const cJSON *w = cJSON_GetArrayItem(r, 2);
		double weights[NB_ASSIGN_MAX_VARIANTS], ranges[NB_ASSIGN_MAX_VARIANTS][2];
		int nw = cJSON_IsArray(w) ? cJSON_GetArraySize(w) : 0;
		for (int i = 0; i < nw && i < NB_ASSIGN_MAX_VARIANTS; i++)
			weights[i] = cJSON_GetArrayItem(w, i)->valuedouble;
		nb_bucket_ranges(n, cov, cJSON_IsArray(w) ? weights : NULL, nw, ranges);
		printf("[");
		for (int i = 0; i < n; i++)
			printf("%s[%.17g,%.17g]", i ? "," : "", ranges[i][0], ranges[i][1]);
		printf("]\n");
	} else if (cJSON_IsArray(ch)) {
		double x = cJSON_GetArrayItem(ch, 0)->valuedouble;
		const cJSON *rs = cJSON_GetArrayItem(ch, 1);
		int n = cJSON_GetArraySize(rs);
		double ranges[NB_ASSIGN_MAX_VARIANTS][2];
		for (int i = 0; i < n && i < NB_ASSIGN_MAX_VARIANTS; i++) {
			ranges[i][0] = cJSON_GetArrayItem(cJSON_GetArrayItem(rs, i), 0)->valuedouble;
			ranges[i][1] = cJSON_GetArrayItem(cJSON_GetArrayItem(rs, i), 1)->valuedouble;
		}
		printf("%d\n", nb_choose_variation(x, (const double(*)[2])ranges, n));
	} else {
		const cJSON *cond = cJSON_GetObjectItemCaseSensitive(c, "condition");
		const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(c, "attributes");
		const cJSON *groups = cJSON_GetObjectItemCaseSensitive(c, "savedGroups");
		printf("%s\n", nb_eval_condition(cond, attrs, groups) ? "true" : "false");
	}
	cJSON_Delete(c);
	return 0;
}

int main(void)
{
	return sdk_lines("nb_eval", nbe_case);
}
