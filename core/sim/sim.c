/* sim/sim.c — nb_sim scenarios: parsing and validation of the scenario JSON
 * (docs/simulate.md), the compiled-in demo, and the true values an analysis
 * should recover. */
#include "neonblue/sim.h"

#include "neonblue/base.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small JSON helpers: errors name the path ---- */

static int sim_num(const cJSON *o, const char *key, const char *path, double lo, double hi,
		   double *out, nb_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return nb_err_set(err, NB_EINPUT, "%s.%s must be a number", path, key);
	if (v->valuedouble < lo || v->valuedouble > hi)
		return nb_err_set(err, NB_EINPUT, "%s.%s = %g is outside [%g, %g]", path, key,
				  v->valuedouble, lo, hi);
	*out = v->valuedouble;
	return 0;
}

/* A JSON array of exactly n finite numbers. */
static int sim_nums(const cJSON *o, const char *key, const char *path, int n, double *out,
		    nb_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!v)
		return 0;
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != n)
		return nb_err_set(err, NB_EINPUT, "%s.%s must be an array of %d numbers", path,
				  key, n);
	int i = 0;
	const cJSON *x;
	cJSON_ArrayForEach(x, v)
	{
		if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
			return nb_err_set(err, NB_EINPUT, "%s.%s[%d] must be a number", path,
					  key, i);
		out[i++] = x->valuedouble;
	}
	return 0;
}

/* Refuses keys of o not in the NULL-terminated list. */
static int sim_known(const cJSON *o, const char *path, const char *const *keys, nb_err *err)
{
	const cJSON *x;
	cJSON_ArrayForEach(x, o)
	{
		int ok = 0;
		for (int i = 0; keys[i] && !ok; i++)
			ok = !strcmp(x->string, keys[i]);
		if (!ok)
			return nb_err_set(err, NB_EINPUT, "%s: unknown field \"%s\"", path,
					  x->string);
	}
	return 0;
}

/* ---- arms ---- */

static void arm_done(nb_sim_arm *a)
{
	for (int i = 0; i < a->nextra; i++)
		free(a->extra[i].type);
	a->nextra = 0;
}

static void arm_copy(nb_sim_arm *dst, const nb_sim_arm *src)
{
	*dst = *src;
	for (int i = 0; i < src->nextra; i++)
		dst->extra[i].type = nb_xstrdup(src->extra[i].type);
}

static void arm_default(nb_sim_arm *a)
{
	*a = (nb_sim_arm){
		.funnel = {0.3, 0.5, 0.6},
		.revenue = {.zero_share = 0.05, .mu = 3.5, .sigma = 0.8, .tail_share = 0.02,
			    .xm = 150, .alpha = 2.5},
		.retention_day1 = 0.3,
		.retention_decay = 0.5,
		.repeat_purchase = 0.1,
	};
}

static int arm_revenue(const cJSON *o, const char *path, nb_sim_revenue *r, nb_err *err)
{
	static const char *const keys[] = {"zero_share", "lognormal", "pareto_share", "pareto",
					   NULL};
	if (!cJSON_IsObject(o))
		return nb_err_set(err, NB_EINPUT, "%s must be an object", path);
	double ln[2] = {r->mu, r->sigma}, pa[2] = {r->xm, r->alpha};
	if (sim_known(o, path, keys, err) ||
	    sim_num(o, "zero_share", path, 0, 1, &r->zero_share, err) ||
	    sim_num(o, "pareto_share", path, 0, 1, &r->tail_share, err) ||
	    sim_nums(o, "lognormal", path, 2, ln, err) || sim_nums(o, "pareto", path, 2, pa, err))
		return -1;
	if (ln[1] < 0 || ln[1] > 5)
		return nb_err_set(err, NB_EINPUT, "%s.lognormal sigma %g is outside [0, 5]", path,
				  ln[1]);
	if (pa[0] <= 0 || pa[1] <= 1)
		return nb_err_set(err, NB_EINPUT,
				  "%s.pareto needs xm > 0 and alpha > 1 (finite mean), got [%g, %g]",
				  path, pa[0], pa[1]);
	r->mu = ln[0];
	r->sigma = ln[1];
	r->xm = pa[0];
	r->alpha = pa[1];
	return 0;
}

static int arm_extra(const cJSON *o, const char *path, nb_sim_extra *x, nb_err *err)
{
	static const char *const keys[] = {"type", "per_session", "value", NULL};
	if (!cJSON_IsObject(o))
		return nb_err_set(err, NB_EINPUT, "%s must be an object", path);
	if (sim_known(o, path, keys, err))
		return -1;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
	if (!cJSON_IsString(t) || !t->valuestring[0] || strlen(t->valuestring) > 64)
		return nb_err_set(err, NB_EINPUT, "%s.type must be an event type (1-64 chars)",
				  path);
	double ms[2] = {0, 0};
	*x = (nb_sim_extra){.per_session = 1};
	if (sim_num(o, "per_session", path, 0, 100, &x->per_session, err) ||
	    sim_nums(o, "value", path, 2, ms, err))
		return -1;
	if (ms[1] < 0)
		return nb_err_set(err, NB_EINPUT, "%s.value sd %g is negative", path, ms[1]);
	x->has_value = cJSON_GetObjectItemCaseSensitive(o, "value") != NULL;
	x->mean = ms[0];
	x->sd = ms[1];
	x->type = nb_xstrdup(t->valuestring);
	return 0;
}

static int arm_extras(const cJSON *v, const char *path, nb_sim_arm *a, nb_err *err)
{
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > NB_SIM_MAX_EXTRA)
		return nb_err_set(err, NB_EINPUT, "%s.events must be an array of at most %d",
				  path, NB_SIM_MAX_EXTRA);
	arm_done(a);
	const cJSON *x;
	char p[256];
	cJSON_ArrayForEach(x, v)
	{
		snprintf(p, sizeof p, "%s.events[%d]", path, a->nextra);
		if (arm_extra(x, p, &a->extra[a->nextra], err))
			return -1;
		a->nextra++;
	}
	return 0;
}

/* Overrides the fields of a (a copy of the baseline) that o gives. */
static int arm_parse(const cJSON *o, const char *path, nb_sim_arm *a, nb_err *err)
{
	static const char *const keys[] = {"funnel",	      "conversion_mult", "revenue",
					   "revenue_mult",    "retention",	 "repeat_purchase",
					   "events",	      "srm_drop",	 NULL};
	if (!cJSON_IsObject(o))
		return nb_err_set(err, NB_EINPUT, "%s must be an object", path);
	if (sim_known(o, path, keys, err) || sim_nums(o, "funnel", path, 3, a->funnel, err))
		return -1;
	for (int i = 0; i < 3; i++)
		if (a->funnel[i] < 0 || a->funnel[i] > 1)
			return nb_err_set(err, NB_EINPUT, "%s.funnel[%d] = %g is not a probability",
					  path, i, a->funnel[i]);
	char p[256];
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "revenue");
	snprintf(p, sizeof p, "%s.revenue", path);
	if (v && arm_revenue(v, p, &a->revenue, err))
		return -1;
	v = cJSON_GetObjectItemCaseSensitive(o, "retention");
	if (v) {
		static const char *const rk[] = {"day1", "decay", NULL};
		snprintf(p, sizeof p, "%s.retention", path);
		if (!cJSON_IsObject(v))
			return nb_err_set(err, NB_EINPUT, "%s must be an object", p);
		if (sim_known(v, p, rk, err) ||
		    sim_num(v, "day1", p, 0, 1, &a->retention_day1, err) ||
		    sim_num(v, "decay", p, 0, 10, &a->retention_decay, err))
			return -1;
	}
	double cm = 1, rm = 1;
	if (sim_num(o, "repeat_purchase", path, 0, 1, &a->repeat_purchase, err) ||
	    sim_num(o, "srm_drop", path, 0, 0.99, &a->srm_drop, err) ||
	    sim_num(o, "conversion_mult", path, 0, 100, &cm, err) ||
	    sim_num(o, "revenue_mult", path, 1e-6, 1e6, &rm, err))
		return -1;
	v = cJSON_GetObjectItemCaseSensitive(o, "events");
	if (v && arm_extras(v, path, a, err))
		return -1;
	a->funnel[2] *= cm;
	if (a->funnel[2] > 1)
		return nb_err_set(err, NB_EINPUT,
				  "%s.conversion_mult makes P(purchase | checkout) %g > 1", path,
				  a->funnel[2]);
	a->revenue.mu += log(rm);
	a->revenue.xm *= rm;
	return 0;
}

/* ---- properties ---- */

static int prop_index(const nb_sim_scenario *sc, const char *name)
{
	for (int i = 0; i < sc->nprops; i++)
		if (!strcmp(sc->props[i].name, name))
			return i;
	return -1;
}

static int value_index(const nb_sim_prop *p, const char *v)
{
	for (int i = 0; i < p->nvalues; i++)
		if (!strcmp(p->values[i], v))
			return i;
	return -1;
}

static int prop_parse(const cJSON *o, nb_sim_prop *p, nb_err *err)
{
	static const char *const keys[] = {"values", "conversion_mult", NULL};
	char path[160];
	snprintf(path, sizeof path, "properties.%s", o->string);
	p->name = nb_xstrdup(o->string);
	if (!cJSON_IsObject(o) || sim_known(o, path, keys, err))
		return cJSON_IsObject(o) ? -1
					 : nb_err_set(err, NB_EINPUT, "%s must be an object", path);
	const cJSON *vals = cJSON_GetObjectItemCaseSensitive(o, "values");
	int n = cJSON_GetArraySize(vals);
	if (!cJSON_IsObject(vals) || n < 1 || n > NB_SIM_MAX_VALUES)
		return nb_err_set(err, NB_EINPUT,
				  "%s.values must be an object of 1-%d {value: weight}", path,
				  NB_SIM_MAX_VALUES);
	double sum = 0;
	const cJSON *x;
	cJSON_ArrayForEach(x, vals)
	{
		if (!cJSON_IsNumber(x) || !(x->valuedouble > 0) || !isfinite(x->valuedouble))
			return nb_err_set(err, NB_EINPUT, "%s.values.%s must be a positive weight",
					  path, x->string);
		p->values[p->nvalues] = nb_xstrdup(x->string);
		p->weights[p->nvalues] = x->valuedouble;
		p->conv_mult[p->nvalues++] = 1;
		sum += x->valuedouble;
	}
	for (int i = 0; i < p->nvalues; i++)
		p->weights[i] /= sum;
	const cJSON *cm = cJSON_GetObjectItemCaseSensitive(o, "conversion_mult");
	if (cm && !cJSON_IsObject(cm))
		return nb_err_set(err, NB_EINPUT, "%s.conversion_mult must be an object", path);
	cJSON_ArrayForEach(x, cm)
	{
		int k = value_index(p, x->string);
		if (k < 0)
			return nb_err_set(err, NB_EINPUT, "%s.conversion_mult: unknown value \"%s\"",
					  path, x->string);
		if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0) || x->valuedouble > 100)
			return nb_err_set(err, NB_EINPUT, "%s.conversion_mult.%s must be in [0, 100]",
					  path, x->string);
		p->conv_mult[k] = x->valuedouble;
	}
	return 0;
}

static int props_parse(const cJSON *o, nb_sim_scenario *sc, nb_err *err)
{
	if (!o)
		return 0;
	if (!cJSON_IsObject(o) || cJSON_GetArraySize(o) > NB_SIM_MAX_PROPS)
		return nb_err_set(err, NB_EINPUT, "properties must be an object of at most %d",
				  NB_SIM_MAX_PROPS);
	const cJSON *x;
	cJSON_ArrayForEach(x, o)
	{
		if (prop_parse(x, &sc->props[sc->nprops++], err))
			return -1;
	}
	return 0;
}

/* ---- experiments ---- */

static int effect_parse(const cJSON *o, const char *path, const nb_sim_scenario *sc,
			const nb_pg_experiment *def, nb_sim_effect *ef, nb_err *err)
{
	static const char *const keys[] = {"property", "value", "variant", "conversion_mult",
					   NULL};
	if (!cJSON_IsObject(o) || sim_known(o, path, keys, err))
		return cJSON_IsObject(o) ? -1
					 : nb_err_set(err, NB_EINPUT, "%s must be an object", path);
	const char *pr = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "property"));
	const char *va = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "value"));
	const char *vr = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "variant"));
	ef->prop = pr ? prop_index(sc, pr) : -1;
	if (ef->prop < 0)
		return nb_err_set(err, NB_EINPUT, "%s.property \"%s\" is not a scenario property",
				  path, pr ? pr : "");
	ef->value = va ? value_index(&sc->props[ef->prop], va) : -1;
	if (ef->value < 0)
		return nb_err_set(err, NB_EINPUT, "%s.value \"%s\" is not a value of %s", path,
				  va ? va : "", pr);
	ef->variant = -1;
	for (int i = 0; vr && i < def->nvariants; i++)
		if (!strcmp(def->variants[i].key, vr))
			ef->variant = i;
	if (ef->variant < 0)
		return nb_err_set(err, NB_EINPUT, "%s.variant \"%s\" is not a variant of %s", path,
				  vr ? vr : "", def->key);
	ef->conv_mult = 1;
	return sim_num(o, "conversion_mult", path, 0, 100, &ef->conv_mult, err);
}

static int exp_sim_parse(const cJSON *sim, const char *path, const nb_sim_scenario *sc,
			 nb_sim_exp *x, nb_err *err)
{
	static const char *const keys[] = {"arms", "segment_effects", NULL};
	int nv = x->def.nvariants;
	x->arms = nb_xcalloc((size_t)nv, sizeof *x->arms);
	for (int i = 0; i < nv; i++)
		arm_copy(&x->arms[i], &sc->baseline);
	if (!sim)
		return 0;
	if (!cJSON_IsObject(sim) || sim_known(sim, path, keys, err))
		return cJSON_IsObject(sim) ? -1
					   : nb_err_set(err, NB_EINPUT, "%s must be an object", path);
	const cJSON *arms = cJSON_GetObjectItemCaseSensitive(sim, "arms"), *a;
	if (arms && !cJSON_IsObject(arms))
		return nb_err_set(err, NB_EINPUT, "%s.arms must be an object", path);
	char p[256];
	cJSON_ArrayForEach(a, arms)
	{
		int k = -1;
		for (int i = 0; i < nv; i++)
			if (!strcmp(x->def.variants[i].key, a->string))
				k = i;
		snprintf(p, sizeof p, "%s.arms.%s", path, a->string);
		if (k < 0)
			return nb_err_set(err, NB_EINPUT, "%s: no such variant in %s", p, x->def.key);
		if (arm_parse(a, p, &x->arms[k], err))
			return -1;
	}
	const cJSON *effs = cJSON_GetObjectItemCaseSensitive(sim, "segment_effects"), *e;
	if (effs && !cJSON_IsArray(effs))
		return nb_err_set(err, NB_EINPUT, "%s.segment_effects must be an array", path);
	x->effects = nb_xcalloc((size_t)cJSON_GetArraySize(effs) + 1, sizeof *x->effects);
	cJSON_ArrayForEach(e, effs)
	{
		snprintf(p, sizeof p, "%s.segment_effects[%d]", path, x->neffects);
		if (effect_parse(e, p, sc, &x->def, &x->effects[x->neffects], err))
			return -1;
		x->neffects++;
	}
	return 0;
}

static int exp_parse(const cJSON *o, int idx, nb_sim_scenario *sc, nb_err *err)
{
	char path[64];
	snprintf(path, sizeof path, "experiments[%d]", idx);
	if (!cJSON_IsObject(o))
		return nb_err_set(err, NB_EINPUT, "%s must be an object", path);
	cJSON *copy = cJSON_Duplicate(o, 1);
	cJSON *sim = cJSON_DetachItemFromObjectCaseSensitive(copy, "sim");
	nb_sim_exp *x = &sc->exps[idx];
	nb_err e2;
	int rc = nb_pg_experiment_from_json(copy, &x->def, &e2);
	if (rc)
		nb_err_set(err, e2.code, "%s: %s", path, e2.msg);
	snprintf(path + strlen(path), sizeof path - strlen(path), ".sim");
	if (rc == 0)
		rc = exp_sim_parse(sim, path, sc, x, err);
	for (int i = 0; rc == 0 && i < idx; i++)
		if (!strcmp(sc->exps[i].def.key, x->def.key))
			rc = nb_err_set(err, NB_EINPUT, "experiments[%d]: key \"%s\" repeated", idx,
					x->def.key);
	cJSON_Delete(copy);
	cJSON_Delete(sim);
	return rc;
}

static int metrics_parse(const cJSON *a, nb_sim_scenario *sc, nb_err *err)
{
	if (!a)
		return 0;
	if (!cJSON_IsArray(a))
		return nb_err_set(err, NB_EINPUT, "metrics must be an array");
	sc->metrics = nb_xcalloc((size_t)cJSON_GetArraySize(a) + 1, sizeof *sc->metrics);
	const cJSON *m;
	cJSON_ArrayForEach(m, a)
	{
		nb_err e2;
		if (nb_pg_metric_from_json(m, &sc->metrics[sc->nmetrics], &e2))
			return nb_err_set(err, e2.code, "metrics[%d]: %s", sc->nmetrics, e2.msg);
		sc->nmetrics++;
	}
	return 0;
}

static int top_parse(const cJSON *j, nb_sim_scenario *sc, nb_err *err)
{
	static const char *const keys[] = {"name",	 "users",   "rate",	   "days",
					   "user_prefix", "properties", "baseline", "metrics",
					   "experiments", "description", NULL};
	if (!cJSON_IsObject(j))
		return nb_err_set(err, NB_EINPUT, "a scenario must be a JSON object");
	if (sim_known(j, "scenario", keys, err))
		return -1;
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "name"));
	const char *pre = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "user_prefix"));
	sc->name = nb_xstrdup(name ? name : "scenario");
	sc->user_prefix = nb_xstrdup(pre ? pre : "sim");
	if (strlen(sc->user_prefix) > 24)
		return nb_err_set(err, NB_EINPUT, "user_prefix \"%s\" is longer than 24",
				  sc->user_prefix);
	double users = 10000, rate = 0, days = 0;
	if (sim_num(j, "users", "scenario", 1, 1e9, &users, err) ||
	    sim_num(j, "rate", "scenario", 0, 1e7, &rate, err) ||
	    sim_num(j, "days", "scenario", 0, NB_SIM_MAX_DAYS, &days, err))
		return -1;
	sc->users = (long)users;
	sc->rate = rate;
	sc->days = (int)days;
	return 0;
}

int nb_sim_scenario_parse(const cJSON *j, nb_sim_scenario *sc, nb_err *err)
{
	memset(sc, 0, sizeof *sc);
	arm_default(&sc->baseline);
	if (top_parse(j, sc, err) ||
	    props_parse(cJSON_GetObjectItemCaseSensitive(j, "properties"), sc, err))
		goto fail;
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "baseline");
	if (b && arm_parse(b, "baseline", &sc->baseline, err))
		goto fail;
	if (metrics_parse(cJSON_GetObjectItemCaseSensitive(j, "metrics"), sc, err))
		goto fail;
	const cJSON *ex = cJSON_GetObjectItemCaseSensitive(j, "experiments"), *x;
	if (!cJSON_IsArray(ex) || cJSON_GetArraySize(ex) < 1) {
		nb_err_set(err, NB_EINPUT, "experiments must be a non-empty array");
		goto fail;
	}
	sc->exps = nb_xcalloc((size_t)cJSON_GetArraySize(ex), sizeof *sc->exps);
	cJSON_ArrayForEach(x, ex)
	{
		int idx = sc->nexps++;
		if (exp_parse(x, idx, sc, err))
			goto fail;
	}
	return 0;
fail:
	nb_sim_scenario_done(sc);
	return -1;
}

void nb_sim_scenario_done(nb_sim_scenario *sc)
{
	free(sc->name);
	free(sc->user_prefix);
	for (int i = 0; i < sc->nprops; i++) {
		free(sc->props[i].name);
		for (int k = 0; k < sc->props[i].nvalues; k++)
			free(sc->props[i].values[k]);
	}
	arm_done(&sc->baseline);
	for (int i = 0; i < sc->nmetrics; i++)
		nb_pg_metric_done(&sc->metrics[i]);
	free(sc->metrics);
	for (int i = 0; i < sc->nexps; i++) {
		nb_sim_exp *x = &sc->exps[i];
		for (int k = 0; x->arms && k < x->def.nvariants; k++)
			arm_done(&x->arms[k]);
		free(x->arms);
		free(x->effects);
		nb_pg_experiment_done(&x->def);
	}
	free(sc->exps);
	memset(sc, 0, sizeof *sc);
}

static char *sim_read_file(const char *path, nb_err *err)
{
	char *text = nb_buf_read_file(path);
	if (!text)
		nb_err_set(err, NB_EINPUT, "scenario \"%s\": %s (use \"demo\" or a JSON file)",
			   path, strerror(errno));
	return text;
}

int nb_sim_scenario_load(const char *name, nb_sim_scenario *out, nb_err *err)
{
	char *text = NULL;
	const char *src = nb_sim_demo_json();
	if (strcmp(name, "demo")) {
		if (!(text = sim_read_file(name, err)))
			return -1;
		src = text;
	}
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithOpts(src, &end, 0);
	int rc;
	if (!j) {
		int line = 1;
		for (const char *p = src; end && p < end; p++)
			line += *p == '\n';
		rc = nb_err_set(err, NB_EINPUT, "scenario \"%s\": invalid JSON at line %d", name,
				line);
	} else {
		nb_err e2;
		rc = nb_sim_scenario_parse(j, out, &e2);
		if (rc)
			nb_err_set(err, e2.code, "scenario \"%s\": %s", name, e2.msg);
	}
	cJSON_Delete(j);
	free(text);
	return rc;
}

/* ---- the truth ---- */

static double conv_of(const nb_sim_scenario *sc, int exp, int variant, const int *vals)
{
	const nb_sim_arm *a = exp >= 0 ? &sc->exps[exp].arms[variant] : &sc->baseline;
	double m = 1;
	for (int p = 0; p < sc->nprops; p++)
		m *= sc->props[p].conv_mult[vals[p]];
	for (int i = 0; exp >= 0 && i < sc->exps[exp].neffects; i++) {
		const nb_sim_effect *ef = &sc->exps[exp].effects[i];
		if (ef->variant == variant && vals[ef->prop] == ef->value)
			m *= ef->conv_mult;
	}
	double last = a->funnel[2] * m;
	return a->funnel[0] * a->funnel[1] * (last > 1 ? 1 : last);
}

double nb_sim_user_conversion(const nb_sim_scenario *sc, int exp, int variant, const int *vals)
{
	return conv_of(sc, exp, variant, vals);
}

double nb_sim_true_conversion(const nb_sim_scenario *sc, int exp, int variant, int prop,
			      int value)
{
	int vals[NB_SIM_MAX_PROPS] = {0};
	double total = 0, wsum = 0;
	for (;;) {
		double w = 1;
		int skip = 0;
		for (int p = 0; p < sc->nprops; p++) {
			w *= sc->props[p].weights[vals[p]];
			skip |= p == prop && vals[p] != value;
		}
		if (!skip) {
			total += w * conv_of(sc, exp, variant, vals);
			wsum += w;
		}
		int p = 0;
		while (p < sc->nprops && ++vals[p] == sc->props[p].nvalues)
			vals[p++] = 0;
		if (p == sc->nprops)
			break;
	}
	return wsum > 0 ? total / wsum : NAN;
}

double nb_sim_revenue_mean(const nb_sim_revenue *r)
{
	double body = exp(r->mu + r->sigma * r->sigma / 2);
	double tail = r->alpha * r->xm / (r->alpha - 1);
	return (1 - r->zero_share) * ((1 - r->tail_share) * body + r->tail_share * tail);
}

double nb_sim_retention(const nb_sim_arm *a, int k)
{
	if (k < 1)
		return 1;
	double p = a->retention_day1 * pow((double)k, -a->retention_decay);
	return p > 1 ? 1 : p;
}
