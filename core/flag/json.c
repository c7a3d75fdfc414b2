/* flag/json.c — a flag's definition: its JSON (the one format of the CLI,
 * files and the server), validation with errors naming the field, copies. */
#include "neonblue/flag.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {"boolean", "string", "number", "json"};
static const char *const kind_names[] = {"force", "rollout", "experiment"};

static int name_index(const char *const *names, int n, const char *s)
{
	for (int i = 0; s && i < n; i++)
		if (!strcmp(names[i], s))
			return i;
	return -1;
}

const char *nb_flag_type_str(enum nb_flag_type t)
{
	return (unsigned)t < 4 ? type_names[t] : "?";
}

int nb_flag_type_parse(const char *s, enum nb_flag_type *out)
{
	int i = name_index(type_names, 4, s);
	if (i >= 0)
		*out = (enum nb_flag_type)i;
	return i < 0 ? -1 : 0;
}

const char *nb_flag_rule_kind_str(enum nb_flag_rule_kind k)
{
	return (unsigned)k < 3 ? kind_names[k] : "?";
}

int nb_flag_rule_kind_parse(const char *s, enum nb_flag_rule_kind *out)
{
	int i = name_index(kind_names, 3, s);
	if (i >= 0)
		*out = (enum nb_flag_rule_kind)i;
	return i < 0 ? -1 : 0;
}

/* ---- freeing and copying ---- */

static void rule_unresolve(nb_flag_rule *r)
{
	free(r->holdout_seed);
	r->holdout_seed = NULL;
	r->holdout_share = 0;
	if (r->exp) {
		nb_pg_experiment_done(r->exp);
		free(r->exp);
		r->exp = NULL;
	}
	free(r->values);
	r->values = NULL;
	memset(&r->view, 0, sizeof r->view);
	r->resolved = 0;
}

static void rule_done(nb_flag_rule *r)
{
	rule_unresolve(r);
	cJSON_Delete(r->condition);
	cJSON_Delete(r->value);
	cJSON_Delete(r->variations);
	free(r->hash_attribute);
	free(r->seed);
	free(r->holdout);
	free(r->experiment);
	memset(r, 0, sizeof *r);
}

void nb_flag_done(nb_flag *f)
{
	for (int i = 0; i < f->nrules; i++)
		rule_done(&f->rules[i]);
	free(f->rules);
	free(f->key);
	free(f->description);
	cJSON_Delete(f->default_value);
	cJSON_Delete(f->saved_groups);
	memset(f, 0, sizeof *f);
}

void nb_flag_list_free(nb_flag *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		nb_flag_done(&v[i]);
	free(v);
}

static char *dup_or_null(const char *s)
{
	return s ? nb_xstrdup(s) : NULL;
}

static cJSON *dup_json(const cJSON *j)
{
	return j ? cJSON_Duplicate(j, 1) : NULL;
}

static void rule_copy(nb_flag_rule *d, const nb_flag_rule *s)
{
	memset(d, 0, sizeof *d);
	d->kind = s->kind;
	d->condition = dup_json(s->condition);
	d->value = dup_json(s->value);
	d->coverage = s->coverage;
	d->hash_attribute = dup_or_null(s->hash_attribute);
	d->seed = dup_or_null(s->seed);
	d->hash_version = s->hash_version;
	d->holdout = dup_or_null(s->holdout);
	d->experiment = dup_or_null(s->experiment);
	d->variations = dup_json(s->variations);
}

void nb_flag_copy(nb_flag *dst, const nb_flag *src)
{
	memset(dst, 0, sizeof *dst);
	dst->key = dup_or_null(src->key);
	dst->type = src->type;
	dst->description = dup_or_null(src->description);
	dst->enabled = src->enabled;
	dst->default_value = dup_json(src->default_value);
	dst->nrules = src->nrules;
	dst->rules = src->nrules ? nb_xcalloc((size_t)src->nrules, sizeof *dst->rules) : NULL;
	for (int i = 0; i < src->nrules; i++)
		rule_copy(&dst->rules[i], &src->rules[i]);
	dst->version = src->version;
	memcpy(dst->created_at, src->created_at, sizeof dst->created_at);
	memcpy(dst->updated_at, src->updated_at, sizeof dst->updated_at);
}

/* ---- validation ---- */

/* A value of the flag's type; field names it in the error. */
static int check_value(const nb_flag *f, const cJSON *v, const char *field, nb_err *err)
{
	if (!v)
		return nb_err_set(err, NB_EINPUT, "%s is missing (a %s value)", field,
				  nb_flag_type_str(f->type));
	int ok = f->type == NB_FLAG_JSON || (f->type == NB_FLAG_BOOLEAN && cJSON_IsBool(v)) ||
		 (f->type == NB_FLAG_STRING && cJSON_IsString(v)) ||
		 (f->type == NB_FLAG_NUMBER && cJSON_IsNumber(v) && isfinite(v->valuedouble));
	if (ok)
		return 0;
	char *txt = cJSON_PrintUnformatted(v);
	nb_err_set(err, NB_EINPUT, "%s: %s is not a %s value (flag '%s' is of type %s)", field,
		   txt ? txt : "?", nb_flag_type_str(f->type), f->key ? f->key : "",
		   nb_flag_type_str(f->type));
	free(txt);
	return -1;
}

static int check_rule(nb_flag *f, int i, nb_err *err)
{
	nb_flag_rule *r = &f->rules[i];
	char field[64];
	snprintf(field, sizeof field, "rules[%d].condition", i);
	if (nb_pg_condition_check(r->condition, field, err))
		return -1;
	if (r->kind == NB_FLAG_EXPERIMENT) {
		if (!r->experiment || !nb_pg_slug_ok(r->experiment))
			return nb_err_set(err, NB_EINPUT,
					  "rules[%d].experiment: an experiment key is required "
					  "([a-z0-9_-]{1,64}, got '%s')",
					  i, r->experiment ? r->experiment : "");
		if (!cJSON_IsObject(r->variations) || !r->variations->child)
			return nb_err_set(
			    err, NB_EINPUT,
			    "rules[%d].variations: an object {variant key: value} with "
			    "at least one variant is required",
			    i);
		for (const cJSON *v = r->variations->child; v; v = v->next) {
			snprintf(field, sizeof field, "rules[%d].variations.%.30s", i, v->string);
			if (check_value(f, v, field, err))
				return -1;
		}
		return 0;
	}
	snprintf(field, sizeof field, "rules[%d].value", i);
	if (check_value(f, r->value, field, err))
		return -1;
	if (r->kind == NB_FLAG_FORCE)
		return 0;
	if (!(r->coverage >= 0 && r->coverage <= 1))
		return nb_err_set(err, NB_EINPUT,
				  "rules[%d].coverage must be between 0 and 1 (got %g)", i,
				  r->coverage);
	if (r->hash_version == 0)
		r->hash_version = 2;
	if (r->hash_version != 1 && r->hash_version != 2)
		return nb_err_set(err, NB_EINPUT, "rules[%d].hash_version must be 1 or 2 (got %d)",
				  i, r->hash_version);
	if (!r->hash_attribute || !*r->hash_attribute) {
		free(r->hash_attribute);
		r->hash_attribute = nb_xstrdup("id");
	}
	if (!r->seed || !*r->seed) {
		free(r->seed);
		r->seed = nb_xstrdup(f->key);
	}
	if (r->holdout && !nb_pg_slug_ok(r->holdout))
		return nb_err_set(
		    err, NB_EINPUT,
		    "rules[%d].holdout '%s' must be a holdout's key ([a-z0-9_-]{1,64})", i,
		    r->holdout);
	return 0;
}

int nb_flag_validate(nb_flag *f, nb_err *err)
{
	if (!f->key || !nb_pg_slug_ok(f->key))
		return nb_err_set(err, NB_EINPUT, "key '%s' must match [a-z0-9_-]{1,64}",
				  f->key ? f->key : "");
	if ((unsigned)f->type > NB_FLAG_JSON)
		return nb_err_set(err, NB_EINPUT, "type must be boolean, string, number or json");
	if (!f->description)
		f->description = nb_xstrdup("");
	if (!f->default_value) {
		static const char *const zero[] = {"false", "\"\"", "0", "null"};
		f->default_value = cJSON_Parse(zero[f->type]);
	}
	if (check_value(f, f->default_value, "default_value", err))
		return -1;
	for (int i = 0; i < f->nrules; i++)
		if (check_rule(f, i, err))
			return -1;
	return 0;
}

/* ---- JSON ---- */

static int check_fields(const cJSON *j, const char *const *names, const char *where, nb_err *err)
{
	for (const cJSON *c = j->child; c; c = c->next) {
		int k = 0;
		while (names[k] && strcmp(c->string, names[k]))
			k++;
		if (!names[k])
			return nb_err_set(err, NB_EINPUT, "unknown field '%s' in %s", c->string,
					  where);
	}
	return 0;
}

/* A string field (absent or null: left NULL). */
static int get_str(const cJSON *j, const char *name, const char *where, char **dst, nb_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return nb_err_set(err, NB_EINPUT, "%s%s must be a string", where, name);
	*dst = nb_xstrdup(v->valuestring);
	return 0;
}

static const char *const rule_fields[] = {
    "type",    "condition",  "value",	   "coverage", "hash_attribute", "seed", "hash_version",
    "holdout", "experiment", "variations", NULL};

static int rule_from_json(const cJSON *j, int i, nb_flag_rule *r, nb_err *err)
{
	char where[48];
	snprintf(where, sizeof where, "rules[%d].", i);
	if (!cJSON_IsObject(j))
		return nb_err_set(err, NB_EINPUT, "rules[%d] must be an object", i);
	char what[48];
	snprintf(what, sizeof what, "rules[%d]", i);
	if (check_fields(j, rule_fields, what, err))
		return -1;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
	if (!cJSON_IsString(t) || nb_flag_rule_kind_parse(t->valuestring, &r->kind))
		return nb_err_set(err, NB_EINPUT,
				  "rules[%d].type must be \"force\", \"rollout\" or \"experiment\"",
				  i);
	/* the fields each kind takes */
	static const char *const only[3][8] = {
	    {"type", "condition", "value", NULL},
	    {"type", "condition", "value", "coverage", "hash_attribute", "seed", "hash_version",
	     "holdout"},
	    {"type", "condition", "experiment", "variations", NULL}};
	for (const cJSON *c = j->child; c; c = c->next) {
		int k = 0;
		while (k < 8 && only[r->kind][k] && strcmp(only[r->kind][k], c->string))
			k++;
		if (k == 8 || !only[r->kind][k])
			return nb_err_set(err, NB_EINPUT,
					  "rules[%d].%s: a %s rule has no such field", i, c->string,
					  t->valuestring);
	}
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "condition");
	if (c && !cJSON_IsNull(c))
		r->condition = cJSON_Duplicate(c, 1);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "value");
	if (v)
		r->value = cJSON_Duplicate(v, 1);
	const cJSON *cov = cJSON_GetObjectItemCaseSensitive(j, "coverage");
	if (r->kind == NB_FLAG_ROLLOUT && !cJSON_IsNumber(cov))
		return nb_err_set(err, NB_EINPUT, "rules[%d].coverage: a number 0..1 is required",
				  i);
	r->coverage = cov ? cov->valuedouble : 0;
	const cJSON *hv = cJSON_GetObjectItemCaseSensitive(j, "hash_version");
	if (hv && !cJSON_IsNumber(hv))
		return nb_err_set(err, NB_EINPUT, "rules[%d].hash_version must be 1 or 2", i);
	r->hash_version = hv ? (int)hv->valuedouble : 0;
	if (get_str(j, "hash_attribute", where, &r->hash_attribute, err) ||
	    get_str(j, "seed", where, &r->seed, err) ||
	    get_str(j, "holdout", where, &r->holdout, err) ||
	    get_str(j, "experiment", where, &r->experiment, err))
		return -1;
	const cJSON *vars = cJSON_GetObjectItemCaseSensitive(j, "variations");
	if (vars)
		r->variations = cJSON_Duplicate(vars, 1);
	return 0;
}

static const char *const flag_fields[] = {"key",	   "type",  "description", "enabled",
					  "default_value", "rules", "version",	   "created_at",
					  "updated_at",	   NULL};

int nb_flag_rules_from_json(const cJSON *a, nb_flag *f, nb_err *err)
{
	if (!cJSON_IsArray(a))
		return nb_err_set(err, NB_EINPUT, "rules must be a JSON array");
	int n = cJSON_GetArraySize(a);
	nb_flag_rule *rules = n ? nb_xcalloc((size_t)n, sizeof *rules) : NULL;
	int i = 0;
	for (const cJSON *it = a->child; it; it = it->next, i++)
		if (rule_from_json(it, i, &rules[i], err)) {
			for (int k = 0; k <= i; k++)
				rule_done(&rules[k]);
			free(rules);
			return -1;
		}
	for (int k = 0; k < f->nrules; k++)
		rule_done(&f->rules[k]);
	free(f->rules);
	f->rules = rules;
	f->nrules = n;
	return 0;
}

int nb_flag_from_json(const cJSON *j, nb_flag *out, nb_err *err)
{
	memset(out, 0, sizeof *out);
	if (!cJSON_IsObject(j))
		return nb_err_set(err, NB_EINPUT, "a flag definition must be a JSON object");
	if (check_fields(j, flag_fields, "the flag definition", err))
		return -1;
	int rc = -1;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
	const cJSON *en = cJSON_GetObjectItemCaseSensitive(j, "enabled");
	const cJSON *dv = cJSON_GetObjectItemCaseSensitive(j, "default_value");
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(j, "rules");
	if (get_str(j, "key", "", &out->key, err) ||
	    get_str(j, "description", "", &out->description, err))
		goto done;
	if (!out->key) {
		nb_err_set(err, NB_EINPUT, "key is required");
		goto done;
	}
	if (t && (!cJSON_IsString(t) || nb_flag_type_parse(t->valuestring, &out->type))) {
		nb_err_set(err, NB_EINPUT,
			   "type must be \"boolean\", \"string\", \"number\" or \"json\"");
		goto done;
	}
	if (en && !cJSON_IsBool(en)) {
		nb_err_set(err, NB_EINPUT, "enabled must be true or false");
		goto done;
	}
	out->enabled = cJSON_IsTrue(en);
	if (dv)
		out->default_value = cJSON_Duplicate(dv, 1);
	if (rules && !cJSON_IsNull(rules) && nb_flag_rules_from_json(rules, out, err))
		goto done;
	rc = nb_flag_validate(out, err);
done:
	if (rc)
		nb_flag_done(out);
	return rc;
}

int nb_flag_parse(const char *json, nb_flag *out, nb_err *err)
{
	memset(out, 0, sizeof *out);
	cJSON *j = cJSON_Parse(json ? json : "");
	if (!j)
		return nb_err_set(err, NB_EINPUT,
				  "the flag definition is not valid JSON (near '%.20s')",
				  cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
	int rc = nb_flag_from_json(j, out, err);
	cJSON_Delete(j);
	return rc;
}

static void add_json(cJSON *o, const char *name, const cJSON *v)
{
	cJSON_AddItemToObject(o, name, v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
}

cJSON *nb_flag_rule_to_json(const nb_flag_rule *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", nb_flag_rule_kind_str(r->kind));
	add_json(o, "condition", r->condition);
	if (r->kind == NB_FLAG_EXPERIMENT) {
		cJSON_AddStringToObject(o, "experiment", r->experiment ? r->experiment : "");
		add_json(o, "variations", r->variations);
		return o;
	}
	if (r->kind == NB_FLAG_ROLLOUT) {
		cJSON_AddNumberToObject(o, "coverage", r->coverage);
		cJSON_AddStringToObject(o, "hash_attribute",
					r->hash_attribute ? r->hash_attribute : "id");
		cJSON_AddStringToObject(o, "seed", r->seed ? r->seed : "");
		cJSON_AddNumberToObject(o, "hash_version", r->hash_version);
		if (r->holdout)
			cJSON_AddStringToObject(o, "holdout", r->holdout);
		else
			cJSON_AddNullToObject(o, "holdout");
	}
	add_json(o, "value", r->value);
	return o;
}

cJSON *nb_flag_to_json(const nb_flag *f)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "key", f->key ? f->key : "");
	cJSON_AddStringToObject(o, "type", nb_flag_type_str(f->type));
	cJSON_AddStringToObject(o, "description", f->description ? f->description : "");
	cJSON_AddBoolToObject(o, "enabled", f->enabled);
	add_json(o, "default_value", f->default_value);
	cJSON *a = cJSON_AddArrayToObject(o, "rules");
	for (int i = 0; i < f->nrules; i++)
		cJSON_AddItemToArray(a, nb_flag_rule_to_json(&f->rules[i]));
	if (f->version) {
		cJSON_AddNumberToObject(o, "version", (double)f->version);
		cJSON_AddStringToObject(o, "created_at", f->created_at);
		cJSON_AddStringToObject(o, "updated_at", f->updated_at);
	}
	return o;
}
