/* report/periods.c — a report that knows its experiment's configuration
 * periods (nb_an_periods): when weights, coverage, targeting, namespace,
 * seed or holdout changed mid-run it says so, analyses each period's users
 * alone (users keep the experiment_version they were assigned under), and
 * counts the users already assigned that a change re-bucketed: those the new
 * version's bucketing (what an SDK evaluating the payload computes) puts in
 * another variant or leaves out. docs/report.md, "Configuration periods". */
#include "periods.h"

#include "neonblue/assign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The bucketing part of a definition (exp show --json) as a decision. */
typedef struct rp_bucketing {
	nb_assign_exp a;
	double w[NB_ASSIGN_MAX_VARIANTS];
	const char *keys[NB_ASSIGN_MAX_VARIANTS];
} rp_bucketing;

static int rp_bucketing_of(const cJSON *def, rp_bucketing *b)
{
	memset(b, 0, sizeof *b);
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(def, "key");
	const cJSON *seed = cJSON_GetObjectItemCaseSensitive(def, "seed");
	const cJSON *hv = cJSON_GetObjectItemCaseSensitive(def, "hash_version");
	const cJSON *cov = cJSON_GetObjectItemCaseSensitive(def, "coverage");
	const cJSON *ns = cJSON_GetObjectItemCaseSensitive(def, "namespace");
	if (!cJSON_IsString(k) || !cJSON_IsNumber(hv) || !cJSON_IsNumber(cov))
		return -1;
	b->a.key = k->valuestring;
	b->a.seed = cJSON_IsString(seed) ? seed->valuestring : NULL;
	b->a.hash_version = hv->valueint;
	b->a.coverage = cov->valuedouble;
	if (cJSON_IsArray(ns) && cJSON_GetArraySize(ns) == 3 &&
	    cJSON_IsString(cJSON_GetArrayItem(ns, 0))) {
		b->a.ns_id = cJSON_GetArrayItem(ns, 0)->valuestring;
		b->a.ns_start = cJSON_GetArrayItem(ns, 1)->valuedouble;
		b->a.ns_end = cJSON_GetArrayItem(ns, 2)->valuedouble;
	}
	const cJSON *v;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(def, "variants"))
	{
		const cJSON *vk = cJSON_GetObjectItemCaseSensitive(v, "key");
		const cJSON *w = cJSON_GetObjectItemCaseSensitive(v, "weight");
		if (b->a.nvariants == NB_ASSIGN_MAX_VARIANTS || !cJSON_IsString(vk) ||
		    !cJSON_IsNumber(w))
			return -1;
		b->keys[b->a.nvariants] = vk->valuestring;
		b->w[b->a.nvariants++] = w->valuedouble;
	}
	b->a.weights = b->w;
	return 0;
}

/* Of the users assigned under earlier versions, how many p's bucketing moves
 * to another variant or leaves out (targeting is not re-evaluated: the
 * attributes of a later visit are unknown). */
static int rp_rebucketed(nb_ch *ch, const nb_report_opts *o, const char *key,
			 nb_report_period *p, const cJSON *config, nb_err *err)
{
	rp_bucketing b;
	if (!config || rp_bucketing_of(config, &b))
		return 0;
	nb_ch_rows r;
	if (nb_an_assigned_users(ch, o->db, key, p->version, &r, err))
		return -1;
	p->earlier_users = (double)r.nrows;
	for (size_t i = 0; i < r.nrows; i++) {
		nb_assign_result res;
		if (nb_assign_decide(&b.a, nb_ch_cell(&r, i, 0), NULL, &res) < 0)
			break;
		if (!res.in_experiment)
			p->excluded++;
		else if (strcmp(b.keys[res.variant], nb_ch_cell(&r, i, 1)))
			p->rebucketed++;
	}
	nb_ch_rows_done(&r);
	return 0;
}

/* e with the weights of a period's definition (variants matched by key). */
static void rp_weights(const nb_an_experiment *e, const cJSON *config, nb_an_experiment *out,
		       nb_an_variant *vs)
{
	*out = *e;
	out->variants = vs;
	rp_bucketing b;
	int ok = config && !rp_bucketing_of(config, &b);
	for (int i = 0; i < e->nvariants; i++) {
		vs[i] = e->variants[i];
		for (int k = 0; ok && k < b.a.nvariants; k++)
			if (!strcmp(b.keys[k], vs[i].key))
				vs[i].weight = b.w[k];
	}
}

/* The period's own report: its users (experiment_version), its weights. */
static int rp_period_report(nb_ch *ch, const nb_an_experiment *e, const nb_report_opts *o,
			    rp_build_fn build, const nb_an_period *ap, nb_report_period *p,
			    nb_err *err)
{
	nb_an_variant *vs = nb_xcalloc((size_t)e->nvariants + 1, sizeof *vs);
	nb_an_experiment pe;
	rp_weights(e, ap->config, &pe, vs);
	nb_report_opts po = *o;
	po.version = ap->version;
	p->report = nb_xcalloc(1, sizeof *p->report);
	int rc = build(ch, &pe, &po, p->report, err);
	free(vs);
	if (rc) {
		free(p->report);
		p->report = NULL;
	}
	return rc;
}

int rp_periods_attach(nb_ch *ch, const nb_an_experiment *e, const nb_report_opts *o,
		      rp_build_fn build, nb_report *out, nb_err *err)
{
	nb_an_period *ap;
	int n;
	if (nb_an_periods(ch, o->db, e->key, &ap, &n, err))
		return -1;
	out->periods = nb_xcalloc((size_t)n + 1, sizeof *out->periods);
	out->nperiods = n;
	int with_users = 0, rc = 0;
	for (int i = 0; i < n; i++)
		with_users += ap[i].users > 0;
	out->config_changed = with_users > 1;
	for (int i = 0; i < n && !rc; i++) {
		nb_report_period *p = &out->periods[i];
		p->version = ap[i].version;
		p->from = ap[i].from;
		p->to = ap[i].to;
		p->users = ap[i].users;
		snprintf(p->changes, sizeof p->changes, "%s", ap[i].changes);
		/* a change of the bucketing itself (not only of targeting or holdout) */
		if (i > 0 && (strstr(p->changes, "weights") || strstr(p->changes, "coverage") ||
			      strstr(p->changes, "namespace") || strstr(p->changes, "seed")))
			rc = rp_rebucketed(ch, o, e->key, p, ap[i].config, err);
		out->rebucketed |= p->rebucketed > 0 || p->excluded > 0;
		if (!rc && out->config_changed && p->users > 0)
			rc = rp_period_report(ch, e, o, build, &ap[i], p, err);
	}
	nb_an_periods_free(ap, n);
	return rc;
}
