/* pg/features.c — the running experiments as a GrowthBook SDK payload: one
 * feature per experiment whose one rule is an experiment rule (variations,
 * weights, coverage, hashAttribute, seed, hashVersion, namespace, condition),
 * and the saved groups, so an official SDK evaluating it locally picks the
 * variant nb_assign picks. An experiment naming a holdout gets "filters"
 * instead of "namespace" (the SDK ignores a namespace beside filters): its
 * namespace as a filter, then the holdout's (docs/layers.md). The
 * experiments backing holdouts are not features
 * (docs/api.md, GET /api/features). */
#include "neonblue/pg.h"

#include "neonblue/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *nb_pg_experiment_rule(const nb_assign_exp *a, cJSON *variations, const cJSON *condition)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "id", a->key);
	cJSON_AddStringToObject(r, "key", a->key);
	cJSON_AddItemToObject(r, "variations", variations);
	cJSON *w = cJSON_AddArrayToObject(r, "weights");
	for (int i = 0; i < a->nvariants; i++)
		cJSON_AddItemToArray(w, cJSON_CreateNumber(a->weights[i]));
	cJSON_AddNumberToObject(r, "coverage", a->coverage);
	cJSON_AddStringToObject(r, "hashAttribute", "id");
	cJSON_AddStringToObject(r, "seed", a->seed && *a->seed ? a->seed : a->key);
	cJSON_AddNumberToObject(r, "hashVersion", a->hash_version);
	if (a->holdout_seed) {
		cJSON *fl = cJSON_AddArrayToObject(r, "filters");
		if (a->ns_id) {
			/* inNamespace(id, [ns, a, b]) == hash("__" + ns, id, 1) in [a, b) */
			char seed[300];
			snprintf(seed, sizeof seed, "__%s", a->ns_id);
			cJSON *f = cJSON_CreateObject();
			cJSON_AddStringToObject(f, "attribute", "id");
			cJSON_AddStringToObject(f, "seed", seed);
			cJSON_AddNumberToObject(f, "hashVersion", 1);
			cJSON *rg = cJSON_CreateArray();
			cJSON_AddItemToArray(rg, cJSON_CreateNumber(a->ns_start));
			cJSON_AddItemToArray(rg, cJSON_CreateNumber(a->ns_end));
			cJSON_AddItemToArray(cJSON_AddArrayToObject(f, "ranges"), rg);
			cJSON_AddItemToArray(fl, f);
		}
		cJSON_AddItemToArray(fl, nb_pg_holdout_filter(a->holdout_seed, a->holdout_share));
	} else if (a->ns_id) {
		cJSON *ns = cJSON_AddArrayToObject(r, "namespace");
		cJSON_AddItemToArray(ns, cJSON_CreateString(a->ns_id));
		cJSON_AddItemToArray(ns, cJSON_CreateNumber(a->ns_start));
		cJSON_AddItemToArray(ns, cJSON_CreateNumber(a->ns_end));
	}
	if (!condition)
		condition = a->condition;
	if (condition)
		cJSON_AddItemToObject(r, "condition", cJSON_Duplicate(condition, 1));
	return r;
}

static cJSON *feature_of(const nb_pg_experiment *e)
{
	nb_assign_exp a;
	nb_pg_experiment_assign_view(e, &a);
	cJSON *vars = cJSON_CreateArray();
	cJSON *meta = cJSON_CreateArray();
	for (int i = 0; i < e->nvariants; i++) {
		cJSON_AddItemToArray(vars, cJSON_CreateString(e->variants[i].key));
		cJSON *m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "key", e->variants[i].key);
		cJSON_AddStringToObject(m, "name", e->variants[i].name && *e->variants[i].name
							   ? e->variants[i].name
							   : e->variants[i].key);
		cJSON_AddItemToArray(meta, m);
	}
	cJSON *r = nb_pg_experiment_rule(&a, vars, NULL);
	if (e->name && *e->name)
		cJSON_AddStringToObject(r, "name", e->name);
	cJSON_AddItemToObject(r, "meta", meta);
	cJSON *f = cJSON_CreateObject();
	cJSON_AddNullToObject(f, "defaultValue"); /* not in the experiment */
	cJSON_AddItemToArray(cJSON_AddArrayToObject(f, "rules"), r);
	return f;
}

cJSON *nb_pg_features_payload(PGconn *conn, nb_err *err)
{
	nb_pg_experiment *list;
	int n;
	if (nb_pg_experiment_list(conn, "running", &list, &n, err))
		return NULL;
	cJSON *groups = nb_pg_groups_load(conn, err);
	cJSON *o = groups ? cJSON_CreateObject() : NULL;
	cJSON *fs = o ? cJSON_AddObjectToObject(o, "features") : NULL;
	for (int i = 0; i < n; i++) {
		if (fs && !list[i].is_holdout)
			cJSON_AddItemToObject(fs, list[i].key, feature_of(&list[i]));
		nb_pg_experiment_done(&list[i]);
	}
	free(list);
	/* the groups $inGroup / $savedGroup refer to, as the SDK reads them */
	if (o)
		cJSON_AddItemToObject(o, "savedGroups", groups);
	return o;
}

int nb_pg_features_version(PGconn *conn, char *out, size_t n, nb_err *err)
{
	PGresult *r = nb_pg_exec(conn,
				 "SELECT coalesce(md5(string_agg(key || ':' || version || ':' || "
				 "updated_at::text, ',' ORDER BY key)), '') || ':' || "
				 "(SELECT coalesce(md5(string_agg(id || ':' || updated_at::text || "
				 "\"values\"::text, ',' ORDER BY id)), '') FROM saved_groups) || ':' || "
				 "(SELECT coalesce(md5(string_agg(key || ':' || version || ':' || "
				 "updated_at::text, ',' ORDER BY key)), '') FROM flags) "
				 "FROM experiments WHERE status = 'running'",
				 0, NULL, err);
	if (!r)
		return -1;
	snprintf(out, n, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return 0;
}
