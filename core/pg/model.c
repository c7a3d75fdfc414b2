/* pg/model.c — nb_pg experiment model: validation, JSON form, lifecycle rules (pure, no I/O). */
#include "neonblue/pg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nb_pg_slug_ok(const char *s)
{
	if (!s)
		return 0;
	size_t n = strlen(s);
	if (n < 1 || n > NB_PG_KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int nb_pg_weights_normalise(double *w, int n, const char *field, nb_err *err)
{
	double sum = 0;
	for (int i = 0; i < n; i++) {
		if (!isfinite(w[i]) || w[i] <= 0)
			return nb_err_set(err, NB_EINPUT, "%s[%d].weight must be a positive number (got %g)",
					  field, i, w[i]);
		sum += w[i];
	}
	if (!(fabs(sum - 1) <= 1e-4 || fabs(sum - 100) <= 1e-2))
		return nb_err_set(err, NB_EINPUT,
				  "%s: weights sum to %.10g; they must sum to 1 or to 100 (within 0.01%%)",
				  field, sum);
	for (int i = 0; i < n; i++)
		w[i] /= sum;
	return 0;
}

void nb_pg_variants_free(nb_pg_variant *v, int n)
{
	for (int i = 0; v && i < n; i++) {
		free(v[i].key);
		free(v[i].name);
		cJSON_Delete(v[i].config);
	}
	free(v);
}

void nb_pg_exp_metrics_free(nb_pg_exp_metric *m, int n)
{
	for (int i = 0; m && i < n; i++) {
		free(m[i].key);
		free(m[i].role);
	}
	free(m);
}

void nb_pg_experiment_done(nb_pg_experiment *e)
{
	if (!e)
		return;
	free(e->key);
	free(e->name);
	free(e->description);
	free(e->hypothesis);
	free(e->owner);
	free(e->status);
	free(e->seed);
	free(e->ns_id);
	free(e->holdout);
	free(e->holdout_seed);
	cJSON_Delete(e->condition);
	nb_pg_variants_free(e->variants, e->nvariants);
	free(e->weights);
	nb_pg_exp_metrics_free(e->metrics, e->nmetrics);
	memset(e, 0, sizeof *e);
}

void nb_pg_experiment_assign_view(const nb_pg_experiment *e, nb_assign_exp *out)
{
	memset(out, 0, sizeof *out);
	out->key = e->key;
	out->seed = e->seed;
	out->hash_version = e->hash_version;
	out->coverage = e->coverage;
	out->ns_id = e->ns_id;
	out->ns_start = e->ns_start;
	out->ns_end = e->ns_end;
	out->condition = e->condition;
	out->nvariants = e->nvariants;
	out->weights = e->weights;
	out->holdout_seed = e->holdout ? e->holdout_seed : NULL;
	out->holdout_share = e->holdout_share;
}

/* Parses a number that must use the whole string. */
static int parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* One "key[:weight]" item of a --variants spec. */
static int variant_item(char *item, nb_pg_variant *v, int i, int *has_weight, nb_err *err)
{
	char *colon = strchr(item, ':');
	if (colon)
		*colon = '\0';
	if (!nb_pg_slug_ok(item))
		return nb_err_set(err, NB_EINPUT,
				  "variants[%d].key '%s' is not a valid key ([a-z0-9_-]{1,64})", i, item);
	v->key = nb_xstrdup(item);
	v->name = nb_xstrdup(item);
	v->config = cJSON_CreateObject();
	*has_weight = colon != NULL;
	if (colon && parse_double(colon + 1, &v->weight))
		return nb_err_set(err, NB_EINPUT, "variants[%d].weight '%s' is not a number", i,
				  colon + 1);
	return 0;
}

int nb_pg_variants_parse(const char *spec, nb_pg_variant **out, int *n, nb_err *err)
{
	*out = NULL;
	*n = 0;
	char *copy = nb_xstrdup(spec ? spec : "");
	int cap = 1;
	for (const char *p = copy; *p; p++)
		cap += *p == ',';
	nb_pg_variant *v = nb_xcalloc((size_t)cap, sizeof *v);
	int cnt = 0, weighted = 0, unweighted = 0, rc = 0;
	char *save = NULL;
	for (char *it = strtok_r(copy, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
		int hw = 0;
		if (variant_item(it, &v[cnt], cnt, &hw, err)) {
			cnt++;
			rc = -1;
			break;
		}
		cnt++;
		hw ? weighted++ : unweighted++;
	}
	free(copy);
	if (!rc && weighted && unweighted)
		rc = nb_err_set(err, NB_EINPUT,
				"variants: give a weight to every variant (key:weight) or to none");
	if (!rc && cnt < 2)
		rc = nb_err_set(err, NB_EINPUT, "variants: at least two variants are needed (got %d)",
				cnt);
	for (int i = 0; !rc && unweighted && i < cnt; i++)
		v[i].weight = 1.0 / cnt;
	if (rc) {
		nb_pg_variants_free(v, cnt);
		return -1;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static int role_ok(const char *r)
{
	return r && (!strcmp(r, "primary") || !strcmp(r, "secondary") || !strcmp(r, "guardrail"));
}

int nb_pg_exp_metrics_parse(const char *spec, nb_pg_exp_metric **out, int *n, nb_err *err)
{
	*out = NULL;
	*n = 0;
	char *copy = nb_xstrdup(spec ? spec : "");
	int cap = 1;
	for (const char *p = copy; *p; p++)
		cap += *p == ',';
	nb_pg_exp_metric *m = nb_xcalloc((size_t)cap, sizeof *m);
	int cnt = 0, rc = 0;
	char *save = NULL;
	for (char *it = strtok_r(copy, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(it, ':');
		const char *role = colon ? colon + 1 : "secondary";
		if (colon)
			*colon = '\0';
		if (!nb_pg_slug_ok(it)) {
			rc = nb_err_set(err, NB_EINPUT,
					"metrics[%d].key '%s' is not a valid key ([a-z0-9_-]{1,64})", cnt, it);
			break;
		}
		if (!role_ok(role)) {
			rc = nb_err_set(err, NB_EINPUT,
					"metrics[%d].role '%s' must be primary, secondary or guardrail", cnt,
					role);
			break;
		}
		m[cnt].key = nb_xstrdup(it);
		m[cnt].role = nb_xstrdup(role);
		cnt++;
	}
	free(copy);
	if (rc) {
		nb_pg_exp_metrics_free(m, cnt);
		return -1;
	}
	*out = m;
	*n = cnt;
	return 0;
}

static int validate_variants(nb_pg_experiment *e, nb_err *err)
{
	if (e->nvariants < 2)
		return nb_err_set(err, NB_EINPUT, "variants: at least two variants are needed (got %d)",
				  e->nvariants);
	if (e->nvariants > NB_ASSIGN_MAX_VARIANTS)
		return nb_err_set(err, NB_EINPUT, "variants: at most %d variants are allowed (got %d)",
				  NB_ASSIGN_MAX_VARIANTS, e->nvariants);
	int controls = 0;
	for (int i = 0; i < e->nvariants; i++) {
		nb_pg_variant *v = &e->variants[i];
		if (!nb_pg_slug_ok(v->key))
			return nb_err_set(err, NB_EINPUT,
					  "variants[%d].key '%s' is not a valid key ([a-z0-9_-]{1,64})", i,
					  v->key ? v->key : "");
		for (int k = 0; k < i; k++)
			if (!strcmp(e->variants[k].key, v->key))
				return nb_err_set(err, NB_EINPUT,
						  "variants[%d].key '%s' is used twice", i, v->key);
		if (!v->name || !*v->name) {
			free(v->name);
			v->name = nb_xstrdup(v->key);
		}
		if (!v->config)
			v->config = cJSON_CreateObject();
		if (!cJSON_IsObject(v->config))
			return nb_err_set(err, NB_EINPUT, "variants[%d].config must be a JSON object", i);
		controls += v->is_control != 0;
	}
	if (controls > 1)
		return nb_err_set(err, NB_EINPUT,
				  "variants: %d variants have is_control set; exactly one must", controls);
	if (controls == 0)
		e->variants[0].is_control = 1;
	double *w = nb_xrealloc(e->weights, sizeof(double) * (size_t)e->nvariants);
	e->weights = w;
	for (int i = 0; i < e->nvariants; i++)
		w[i] = e->variants[i].weight;
	if (nb_pg_weights_normalise(w, e->nvariants, "variants", err))
		return -1;
	for (int i = 0; i < e->nvariants; i++)
		e->variants[i].weight = w[i];
	return 0;
}

static int validate_metrics(const nb_pg_experiment *e, nb_err *err)
{
	for (int i = 0; i < e->nmetrics; i++) {
		const nb_pg_exp_metric *m = &e->metrics[i];
		if (!nb_pg_slug_ok(m->key))
			return nb_err_set(err, NB_EINPUT,
					  "metrics[%d].key '%s' is not a valid key ([a-z0-9_-]{1,64})", i,
					  m->key ? m->key : "");
		if (!role_ok(m->role))
			return nb_err_set(err, NB_EINPUT,
					  "metrics[%d].role '%s' must be primary, secondary or guardrail",
					  i, m->role ? m->role : "");
		for (int k = 0; k < i; k++)
			if (!strcmp(e->metrics[k].key, m->key))
				return nb_err_set(err, NB_EINPUT, "metrics[%d].key '%s' is listed twice",
						  i, m->key);
	}
	return 0;
}

/* GrowthBook's condition operators (an unknown one silently never matches, so
 * it is refused up front). */
static const char *const cond_operators[] = {
	"$and", "$or", "$nor", "$not", "$veq", "$vne", "$vgt", "$vgte", "$vlt", "$vlte", "$eq",
	"$ne", "$lt", "$lte", "$gt", "$gte", "$exists", "$in", "$ini", "$nin", "$nini",
	"$inGroup", "$notInGroup", "$size", "$elemMatch", "$all", "$alli", "$regex", "$regexi",
	"$type", "$savedGroup", NULL};

static int check_operators(const cJSON *c, const char *path, const char *field, nb_err *err)
{
	for (const cJSON *it = c ? c->child : NULL; it; it = it->next) {
		const char *name = it->string;
		if (name && name[0] == '$') {
			int k = 0;
			while (cond_operators[k] && strcmp(cond_operators[k], name))
				k++;
			if (!cond_operators[k])
				return nb_err_set(err, NB_EINPUT,
						  "%s: unknown operator '%s'%s%s", field, name,
						  *path ? " at " : "", path);
		}
		const char *sub = name && name[0] != '$' ? name : path;
		if ((cJSON_IsObject(it) || cJSON_IsArray(it)) && check_operators(it, sub, field, err))
			return -1;
	}
	return 0;
}

int nb_pg_condition_check(const cJSON *c, const char *field, nb_err *err)
{
	if (c && !cJSON_IsObject(c))
		return nb_err_set(err, NB_EINPUT, "%s must be a JSON object or null", field);
	return c ? check_operators(c, "", field, err) : 0;
}

static int validate_targeting(const nb_pg_experiment *e, nb_err *err)
{
	if (!(e->coverage >= 0 && e->coverage <= 1))
		return nb_err_set(err, NB_EINPUT, "coverage must be between 0 and 1 (got %g)",
				  e->coverage);
	if (e->hash_version != 1 && e->hash_version != 2)
		return nb_err_set(err, NB_EINPUT, "hash_version must be 1 or 2 (got %d)",
				  e->hash_version);
	if (nb_pg_condition_check(e->condition, "condition", err))
		return -1;
	if (e->holdout && !nb_pg_slug_ok(e->holdout))
		return nb_err_set(err, NB_EINPUT, "holdout '%s' must be a holdout's key ([a-z0-9_-]{1,64})",
				  e->holdout);
	if (e->holdout && e->key && !strcmp(e->holdout, e->key))
		return nb_err_set(err, NB_EINPUT, "holdout: experiment '%s' cannot name itself", e->key);
	if (e->ns_id) {
		if (!*e->ns_id)
			return nb_err_set(err, NB_EINPUT, "namespace: the id must not be empty");
		if (!(e->ns_start >= 0 && e->ns_end <= 1 && e->ns_start < e->ns_end))
			return nb_err_set(err, NB_EINPUT,
					  "namespace: range [%g, %g) must satisfy 0 <= start < end <= 1",
					  e->ns_start, e->ns_end);
	}
	return 0;
}

int nb_pg_experiment_validate(nb_pg_experiment *e, nb_err *err)
{
	if (!nb_pg_slug_ok(e->key))
		return nb_err_set(err, NB_EINPUT, "key '%s' is not a valid key ([a-z0-9_-]{1,64})",
				  e->key ? e->key : "");
	if (!e->name || !*e->name) {
		free(e->name);
		e->name = nb_xstrdup(e->key);
	}
	if (!e->seed || !*e->seed) {
		free(e->seed);
		e->seed = nb_xstrdup(e->key);
	}
	if (!e->description)
		e->description = nb_xstrdup("");
	if (!e->hypothesis)
		e->hypothesis = nb_xstrdup("");
	if (!e->owner)
		e->owner = nb_xstrdup("");
	if (validate_targeting(e, err) || validate_variants(e, err) || validate_metrics(e, err))
		return -1;
	return 0;
}

/* ---- JSON ---------------------------------------------------------------- */

static cJSON *str_or_null(const char *s)
{
	return s && *s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *variants_json(const nb_pg_experiment *e)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < e->nvariants; i++) {
		const nb_pg_variant *v = &e->variants[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "key", v->key);
		cJSON_AddStringToObject(o, "name", v->name ? v->name : v->key);
		cJSON_AddNumberToObject(o, "weight", v->weight);
		cJSON_AddBoolToObject(o, "is_control", v->is_control);
		cJSON_AddItemToObject(o, "config", v->config ? cJSON_Duplicate(v->config, 1)
							      : cJSON_CreateObject());
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

cJSON *nb_pg_experiment_to_json(const nb_pg_experiment *e)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "key", e->key);
	cJSON_AddStringToObject(o, "name", e->name ? e->name : "");
	cJSON_AddStringToObject(o, "description", e->description ? e->description : "");
	cJSON_AddStringToObject(o, "hypothesis", e->hypothesis ? e->hypothesis : "");
	cJSON_AddStringToObject(o, "status", e->status ? e->status : "draft");
	cJSON_AddStringToObject(o, "seed", e->seed ? e->seed : e->key);
	cJSON_AddNumberToObject(o, "hash_version", e->hash_version);
	cJSON_AddNumberToObject(o, "coverage", e->coverage);
	if (e->ns_id) {
		cJSON *ns = cJSON_CreateArray();
		cJSON_AddItemToArray(ns, cJSON_CreateString(e->ns_id));
		cJSON_AddItemToArray(ns, cJSON_CreateNumber(e->ns_start));
		cJSON_AddItemToArray(ns, cJSON_CreateNumber(e->ns_end));
		cJSON_AddItemToObject(o, "namespace", ns);
	} else {
		cJSON_AddNullToObject(o, "namespace");
	}
	cJSON_AddItemToObject(o, "condition",
			      e->condition ? cJSON_Duplicate(e->condition, 1) : cJSON_CreateNull());
	if (e->holdout)
		cJSON_AddStringToObject(o, "holdout", e->holdout);
	else
		cJSON_AddNullToObject(o, "holdout");
	cJSON_AddStringToObject(o, "owner", e->owner ? e->owner : "");
	cJSON_AddItemToObject(o, "variants", variants_json(e));
	cJSON *ms = cJSON_CreateArray();
	for (int i = 0; i < e->nmetrics; i++) {
		cJSON *m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "key", e->metrics[i].key);
		cJSON_AddStringToObject(m, "role", e->metrics[i].role);
		cJSON_AddItemToArray(ms, m);
	}
	cJSON_AddItemToObject(o, "metrics", ms);
	cJSON_AddNumberToObject(o, "version", (double)e->version);
	cJSON_AddItemToObject(o, "created_at", str_or_null(e->created_at));
	cJSON_AddItemToObject(o, "updated_at", str_or_null(e->updated_at));
	cJSON_AddItemToObject(o, "started_at", str_or_null(e->started_at));
	cJSON_AddItemToObject(o, "stopped_at", str_or_null(e->stopped_at));
	return o;
}

/* Reads an optional string field; NULL/absent leaves *dst alone. */
static int get_str(const cJSON *j, const char *field, char **dst, nb_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, field);
	if (!it || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsString(it))
		return nb_err_set(err, NB_EINPUT, "%s must be a string", field);
	free(*dst);
	*dst = nb_xstrdup(it->valuestring);
	return 0;
}

static int get_num(const cJSON *j, const char *field, double *dst, nb_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, field);
	if (!it || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsNumber(it))
		return nb_err_set(err, NB_EINPUT, "%s must be a number", field);
	*dst = it->valuedouble;
	return 0;
}

static int parse_namespace(const cJSON *ns, nb_pg_experiment *e, nb_err *err)
{
	if (!ns || cJSON_IsNull(ns))
		return 0;
	if (!cJSON_IsArray(ns) || cJSON_GetArraySize(ns) != 3 ||
	    !cJSON_IsString(cJSON_GetArrayItem(ns, 0)) ||
	    !cJSON_IsNumber(cJSON_GetArrayItem(ns, 1)) || !cJSON_IsNumber(cJSON_GetArrayItem(ns, 2)))
		return nb_err_set(err, NB_EINPUT,
				  "namespace must be null or [id, start, end] (string, number, number)");
	e->ns_id = nb_xstrdup(cJSON_GetArrayItem(ns, 0)->valuestring);
	e->ns_start = cJSON_GetArrayItem(ns, 1)->valuedouble;
	e->ns_end = cJSON_GetArrayItem(ns, 2)->valuedouble;
	return 0;
}

static int parse_variant(const cJSON *it, int i, nb_pg_variant *v, nb_err *err)
{
	if (!cJSON_IsObject(it))
		return nb_err_set(err, NB_EINPUT, "variants[%d] must be an object", i);
	static const char *known[] = {"key", "name", "weight", "is_control", "config"};
	for (const cJSON *c = it->child; c; c = c->next) {
		size_t k = 0;
		while (k < 5 && strcmp(c->string, known[k]))
			k++;
		if (k == 5)
			return nb_err_set(err, NB_EINPUT, "variants[%d]: unknown field '%s'", i,
					  c->string);
	}
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(it, "key");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(it, "weight");
	const cJSON *ctl = cJSON_GetObjectItemCaseSensitive(it, "is_control");
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(it, "config");
	if (!cJSON_IsString(key))
		return nb_err_set(err, NB_EINPUT, "variants[%d].key must be a string", i);
	v->key = nb_xstrdup(key->valuestring);
	if (name && !cJSON_IsNull(name) && !cJSON_IsString(name))
		return nb_err_set(err, NB_EINPUT, "variants[%d].name must be a string", i);
	v->name = cJSON_IsString(name) ? nb_xstrdup(name->valuestring) : NULL;
	if (!cJSON_IsNumber(w))
		return nb_err_set(err, NB_EINPUT, "variants[%d].weight must be a number", i);
	v->weight = w->valuedouble;
	if (ctl && !cJSON_IsBool(ctl) && !cJSON_IsNull(ctl))
		return nb_err_set(err, NB_EINPUT, "variants[%d].is_control must be true or false", i);
	v->is_control = cJSON_IsTrue(ctl);
	if (cfg && !cJSON_IsNull(cfg) && !cJSON_IsObject(cfg))
		return nb_err_set(err, NB_EINPUT, "variants[%d].config must be a JSON object", i);
	v->config = cJSON_IsObject(cfg) ? cJSON_Duplicate(cfg, 1) : cJSON_CreateObject();
	return 0;
}

static int parse_variants(const cJSON *a, nb_pg_experiment *e, nb_err *err)
{
	if (!cJSON_IsArray(a))
		return nb_err_set(err, NB_EINPUT, "variants must be a list of objects");
	int n = cJSON_GetArraySize(a);
	e->variants = nb_xcalloc((size_t)(n ? n : 1), sizeof *e->variants);
	for (const cJSON *it = a->child; it; it = it->next) {
		int i = e->nvariants++;
		if (parse_variant(it, i, &e->variants[i], err))
			return -1;
	}
	return 0;
}

static int parse_metrics(const cJSON *a, nb_pg_experiment *e, nb_err *err)
{
	if (!a || cJSON_IsNull(a))
		return 0;
	if (!cJSON_IsArray(a))
		return nb_err_set(err, NB_EINPUT, "metrics must be a list of {key, role}");
	int n = cJSON_GetArraySize(a);
	e->metrics = nb_xcalloc((size_t)(n ? n : 1), sizeof *e->metrics);
	for (const cJSON *it = a->child; it; it = it->next) {
		int i = e->nmetrics;
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "key");
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(it, "role");
		if (!cJSON_IsObject(it) || !cJSON_IsString(k))
			return nb_err_set(err, NB_EINPUT, "metrics[%d] must be an object with a key", i);
		if (r && !cJSON_IsNull(r) && !cJSON_IsString(r))
			return nb_err_set(err, NB_EINPUT, "metrics[%d].role must be a string", i);
		e->metrics[i].key = nb_xstrdup(k->valuestring);
		e->metrics[i].role = nb_xstrdup(cJSON_IsString(r) ? r->valuestring : "secondary");
		e->nmetrics++;
	}
	return 0;
}

static const char *exp_fields[] = {"key",	  "name",	"description", "hypothesis",
				   "status",	  "seed",	"hash_version", "coverage",
				   "namespace",	  "condition",	"holdout",     "owner",	      "variants",
				   "metrics",	  "version",	"created_at",  "updated_at",
				   "started_at",  "stopped_at", NULL};

static int check_fields(const cJSON *j, nb_err *err)
{
	for (const cJSON *c = j->child; c; c = c->next) {
		int k = 0;
		while (exp_fields[k] && strcmp(c->string, exp_fields[k]))
			k++;
		if (!exp_fields[k])
			return nb_err_set(err, NB_EINPUT, "unknown field '%s' in the experiment definition",
					  c->string);
	}
	return 0;
}

static int parse_core(const cJSON *j, nb_pg_experiment *e, nb_err *err)
{
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key");
	if (!cJSON_IsString(key))
		return nb_err_set(err, NB_EINPUT, "key is required (a string)");
	e->key = nb_xstrdup(key->valuestring);
	double hv = 2;
	if (get_str(j, "name", &e->name, err) || get_str(j, "description", &e->description, err) ||
	    get_str(j, "hypothesis", &e->hypothesis, err) || get_str(j, "seed", &e->seed, err) ||
	    get_str(j, "owner", &e->owner, err) || get_str(j, "holdout", &e->holdout, err) ||
	    get_num(j, "coverage", &e->coverage, err) ||
	    get_num(j, "hash_version", &hv, err))
		return -1;
	if (hv != floor(hv) || fabs(hv) > 1e6)
		return nb_err_set(err, NB_EINPUT, "hash_version must be 1 or 2 (got %g)", hv);
	e->hash_version = (int)hv;
	const cJSON *cond = cJSON_GetObjectItemCaseSensitive(j, "condition");
	if (cond && !cJSON_IsNull(cond)) {
		if (!cJSON_IsObject(cond))
			return nb_err_set(err, NB_EINPUT, "condition must be a JSON object or null");
		e->condition = cJSON_Duplicate(cond, 1);
	}
	return parse_namespace(cJSON_GetObjectItemCaseSensitive(j, "namespace"), e, err);
}

int nb_pg_experiment_from_json(const cJSON *j, nb_pg_experiment *out, nb_err *err)
{
	memset(out, 0, sizeof *out);
	out->coverage = 1;
	out->hash_version = 2;
	out->version = 1;
	if (!cJSON_IsObject(j))
		return nb_err_set(err, NB_EINPUT, "an experiment definition must be a JSON object");
	const cJSON *vs = cJSON_GetObjectItemCaseSensitive(j, "variants");
	if (check_fields(j, err) || parse_core(j, out, err))
		goto fail;
	if (!vs) {
		nb_err_set(err, NB_EINPUT, "variants: at least two variants are needed (got 0)");
		goto fail;
	}
	if (parse_variants(vs, out, err) ||
	    parse_metrics(cJSON_GetObjectItemCaseSensitive(j, "metrics"), out, err) ||
	    nb_pg_experiment_validate(out, err))
		goto fail;
	out->status = nb_xstrdup("draft");
	return 0;
fail:
	nb_pg_experiment_done(out);
	return -1;
}

/* ---- lifecycle ------------------------------------------------------------ */

struct transition {
	const char *action, *from, *to;
};

static const struct transition transitions[] = {
	{"start", "draft", "running"},	{"start", "paused", "running"},
	{"pause", "running", "paused"}, {"stop", "running", "stopped"},
	{"stop", "paused", "stopped"},	{"archive", "stopped", "archived"},
};

static const char *allowed_from(const char *action)
{
	if (!strcmp(action, "start"))
		return "draft or paused";
	if (!strcmp(action, "pause"))
		return "running";
	if (!strcmp(action, "stop"))
		return "running or paused";
	return "stopped";
}

static const char *participle(const char *action)
{
	if (!strcmp(action, "stop"))
		return "stopped";
	if (!strcmp(action, "start"))
		return "started";
	return !strcmp(action, "pause") ? "paused" : "archived";
}

const char *nb_pg_transition(const char *status, const char *action, nb_err *err)
{
	int known = 0;
	for (size_t i = 0; i < sizeof transitions / sizeof *transitions; i++) {
		if (strcmp(transitions[i].action, action))
			continue;
		known = 1;
		if (!strcmp(transitions[i].from, status))
			return transitions[i].to;
	}
	if (!known) {
		nb_err_set(err, NB_EINPUT, "unknown action '%s' (start, pause, stop or archive)",
			   action);
		return NULL;
	}
	nb_err_set(err, NB_EINPUT, "cannot %s an experiment that is %s (only %s experiments can be %s)",
		   action, status, allowed_from(action), participle(action));
	return NULL;
}
