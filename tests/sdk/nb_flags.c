/* tests/sdk/nb_flags.c — NeonBlue's side of the flag differential test
 * against the GrowthBook SDK (tests/sdk/flags_diff.js): reads JSON Lines from
 * stdin, one flag and its users a line,
 *   {"flag": a flag as `flag show --json` prints it (nb_flag_from_json),
 *    "experiments": [the running experiments as `exp show --json` prints them],
 *    "holdouts": {key: [seed, share]} (the experiments' and the rollouts'),
 *    "savedGroups": {...},
 *    "users": [[id, attributes], ...]}
 * resolves the flag as nb_flag_resolve does from PostgreSQL (the experiment
 * rules' experiments, the rollouts' holdouts, the saved groups) and prints one
 * line: {"feature": the flag's entry of the served payload
 * (serve_flag_feature), "values": [nb_flag_eval's value for each user]}, or
 * {"error": "..."} for a definition the library refuses. */
#include "neonblue/flag.h"

#include "../../serve/serve.h"
#include "lines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* What nb_flag_resolve loads, from the case instead of PostgreSQL. */
static int resolve(nb_flag *f, const cJSON *c, nb_err *err)
{
	const cJSON *groups = get(c, "savedGroups");
	f->saved_groups = groups ? cJSON_Duplicate(groups, 1) : NULL;
	for (int i = 0; i < f->nrules; i++) {
		nb_flag_rule *r = &f->rules[i];
		r->resolved = 1;
		if (r->kind == NB_FLAG_ROLLOUT && r->holdout) {
			const cJSON *h = get(get(c, "holdouts"), r->holdout);
			if (!cJSON_IsArray(h))
				return nb_err_set(err, NB_EINPUT, "no holdout %s", r->holdout);
			r->holdout_seed = nb_xstrdup(cJSON_GetArrayItem(h, 0)->valuestring);
			r->holdout_share = cJSON_GetArrayItem(h, 1)->valuedouble;
		}
		if (r->kind != NB_FLAG_EXPERIMENT)
			continue;
		const cJSON *x;
		cJSON_ArrayForEach(x, get(c, "experiments"))
		{
			const cJSON *k = get(x, "key");
			if (!cJSON_IsString(k) || strcmp(k->valuestring, r->experiment))
				continue;
			r->exp = nb_xcalloc(1, sizeof *r->exp);
			if (nb_pg_experiment_from_json(x, r->exp, err))
				return -1;
			if (r->exp->holdout) { /* loaded with the experiment from PostgreSQL */
				const cJSON *h = get(get(c, "holdouts"), r->exp->holdout);
				if (!cJSON_IsArray(h))
					return nb_err_set(err, NB_EINPUT, "no holdout %s",
							  r->exp->holdout);
				r->exp->holdout_seed =
				    nb_xstrdup(cJSON_GetArrayItem(h, 0)->valuestring);
				r->exp->holdout_share = cJSON_GetArrayItem(h, 1)->valuedouble;
			}
			nb_pg_experiment_assign_view(r->exp, &r->view);
			r->view.saved_groups = f->saved_groups;
			r->values = nb_xcalloc((size_t)r->exp->nvariants, sizeof *r->values);
			for (int v = 0; v < r->exp->nvariants; v++)
				r->values[v] = get(r->variations, r->exp->variants[v].key);
		}
		/* not among them: not running, the rule is skipped (exp NULL) */
	}
	return 0;
}

static int nbf_case(const char *line)
{
	cJSON *c = cJSON_Parse(line);
	const cJSON *users = get(c, "users");
	if (!cJSON_IsObject(get(c, "flag")) || !cJSON_IsArray(users)) {
		cJSON_Delete(c);
		return -1;
	}
	cJSON *out = cJSON_CreateObject();
	nb_flag f;
	nb_err err;
	nb_err_clear(&err);
	memset(&f, 0, sizeof f);
	if (nb_flag_from_json(get(c, "flag"), &f, &err) || resolve(&f, c, &err)) {
		cJSON_AddStringToObject(out, "error", err.msg);
	} else {
		cJSON_AddItemToObject(out, "feature", serve_flag_feature(&f));
		cJSON *vals = cJSON_AddArrayToObject(out, "values");
		const cJSON *u;
		cJSON_ArrayForEach(u, users)
		{
			nb_flag_result res;
			if (nb_flag_eval(&f, cJSON_GetArrayItem(u, 0)->valuestring,
					 cJSON_GetArrayItem(u, 1), &res) < 0)
				cJSON_AddItemToArray(vals, cJSON_CreateString("<error>"));
			else
				cJSON_AddItemToArray(vals, res.value ? cJSON_Duplicate(res.value, 1)
								     : cJSON_CreateNull());
		}
	}
	char *text = cJSON_PrintUnformatted(out);
	puts(text);
	free(text);
	cJSON_Delete(out);
	nb_flag_done(&f);
	cJSON_Delete(c);
	return 0;
}

int main(void)
{
	return sdk_lines("nb_flags", nbf_case);
}
