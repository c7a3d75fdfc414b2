/* analytics/periods.c — an experiment's configuration periods as ClickHouse
 * holds them: every change of an experiment reaches neonblue.audit_log
 * through CDC with its time and the whole definition after it (its
 * `version` bumps whenever who-gets-what changes: weights, coverage,
 * targeting, namespace, seed, holdout), and every assignment keeps the
 * experiment_version it was made under. docs/report.md, "Configuration
 * periods". */
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* The definition's field as compact JSON ("" when absent). */
static void per_field(const cJSON *def, const char *k, nb_buf *b)
{
	char *s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(def, k));
	nb_buf_puts(b, s ? s : "");
	cJSON_free(s);
}

static int per_same(const cJSON *a, const cJSON *b, const char *k)
{
	nb_buf x, y;
	nb_buf_init(&x);
	nb_buf_init(&y);
	per_field(a, k, &x);
	per_field(b, k, &y);
	int same = !strcmp(x.data ? x.data : "", y.data ? y.data : "");
	nb_buf_done(&x);
	nb_buf_done(&y);
	return same;
}

/* The variants' keys and weights as "key:weight,..." */
static void per_weights(const cJSON *def, nb_buf *b)
{
	const cJSON *v;
	int i = 0;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(def, "variants"))
	{
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(v, "key");
		const cJSON *w = cJSON_GetObjectItemCaseSensitive(v, "weight");
		nb_buf_printf(b, "%s%s:%.17g", i++ ? "," : "", cJSON_IsString(k) ? k->valuestring : "",
			      cJSON_IsNumber(w) ? w->valuedouble : 0);
	}
}

/* What differs between two definitions: weights, coverage, targeting,
 * namespace, seed, holdout (comma-separated into out). */
static void per_changes(const cJSON *prev, const cJSON *cur, char *out, size_t n)
{
	nb_buf b, wa, wb;
	nb_buf_init(&b);
	nb_buf_init(&wa);
	nb_buf_init(&wb);
	per_weights(prev, &wa);
	per_weights(cur, &wb);
	if (strcmp(wa.data ? wa.data : "", wb.data ? wb.data : ""))
		nb_buf_puts(&b, ",weights");
	if (!per_same(prev, cur, "coverage"))
		nb_buf_puts(&b, ",coverage");
	if (!per_same(prev, cur, "condition"))
		nb_buf_puts(&b, ",targeting");
	if (!per_same(prev, cur, "namespace"))
		nb_buf_puts(&b, ",namespace");
	if (!per_same(prev, cur, "seed") || !per_same(prev, cur, "hash_version"))
		nb_buf_puts(&b, ",seed");
	if (!per_same(prev, cur, "holdout"))
		nb_buf_puts(&b, ",holdout");
	snprintf(out, n, "%s", b.data ? b.data + 1 : "");
	nb_buf_done(&b);
	nb_buf_done(&wa);
	nb_buf_done(&wb);
}

static nb_an_period *per_add(nb_an_period **p, int *n, long version)
{
	*p = nb_xrealloc(*p, sizeof **p * (size_t)(*n + 1));
	nb_an_period *x = &(*p)[(*n)++];
	memset(x, 0, sizeof *x);
	x->version = version;
	return x;
}

static nb_an_period *per_find(nb_an_period *p, int n, long version)
{
	for (int i = 0; i < n; i++)
		if (p[i].version == version)
			return &p[i];
	return NULL;
}

/* One period per version in the audit log, from the first row showing it. */
static int per_from_audit(nb_ch *ch, const nb_an_scope *s, const char *key, nb_an_period **p,
			  int *n, nb_err *err)
{
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_puts(&q, "SELECT toUInt32(at), after FROM ");
	an_table(&q, s, "audit_log");
	nb_buf_puts(&q, " FINAL WHERE _deleted = 0 AND entity = 'experiment' AND key = ");
	an_str(&q, key);
	nb_buf_puts(&q, " AND after IS NOT NULL ORDER BY id");
	nb_ch_rows r;
	int rc = an_rows(ch, &q, &r, err);
	nb_buf_done(&q);
	if (rc)
		return -1;
	for (size_t i = 0; i < r.nrows; i++) {
		cJSON *def = cJSON_Parse(nb_ch_cell(&r, i, 1));
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(def, "version");
		if (!cJSON_IsNumber(v) || per_find(*p, *n, (long)v->valuedouble)) {
			cJSON_Delete(def);
			continue;
		}
		nb_an_period *x = per_add(p, n, (long)v->valuedouble);
		x->from = strtoll(nb_ch_cell(&r, i, 0), NULL, 10);
		x->config = def;
		if (*n > 1) {
			nb_an_period *prev = &(*p)[*n - 2];
			prev->to = x->from;
			if (prev->config)
				per_changes(prev->config, def, x->changes, sizeof x->changes);
		}
	}
	nb_ch_rows_done(&r);
	return 0;
}

int nb_an_periods(nb_ch *ch, const char *db, const char *key, nb_an_period **out, int *n,
		  nb_err *err)
{
	*out = NULL;
	*n = 0;
	nb_an_scope s = {.db = db};
	if (per_from_audit(ch, &s, key, out, n, err))
		return -1;
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_puts(&q, "SELECT experiment_version, count() FROM ");
	an_table(&q, &s, "assignments");
	nb_buf_puts(&q, " FINAL WHERE _deleted = 0 AND experiment = ");
	an_str(&q, key);
	nb_buf_puts(&q, " GROUP BY experiment_version ORDER BY experiment_version");
	nb_ch_rows r;
	int rc = an_rows(ch, &q, &r, err);
	nb_buf_done(&q);
	if (rc) {
		nb_an_periods_free(*out, *n);
		*out = NULL;
		*n = 0;
		return -1;
	}
	for (size_t i = 0; i < r.nrows; i++) {
		long v = strtol(nb_ch_cell(&r, i, 0), NULL, 10);
		nb_an_period *x = per_find(*out, *n, v);
		if (!x) /* its audit rows are gone (retention): known by its users only */
			x = per_add(out, n, v);
		x->users = strtod(nb_ch_cell(&r, i, 1), NULL);
	}
	nb_ch_rows_done(&r);
	return 0;
}

void nb_an_periods_free(nb_an_period *p, int n)
{
	for (int i = 0; p && i < n; i++)
		cJSON_Delete(p[i].config);
	free(p);
}

int nb_an_assigned_users(nb_ch *ch, const char *db, const char *key, long below_version,
			 nb_ch_rows *rows, nb_err *err)
{
	nb_an_scope s = {.db = db};
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_puts(&q, "SELECT user_id, variant, experiment_version FROM ");
	an_table(&q, &s, "assignments");
	nb_buf_puts(&q, " FINAL WHERE _deleted = 0 AND source = 'hash' AND experiment = ");
	an_str(&q, key);
	nb_buf_printf(&q, " AND experiment_version < %ld", below_version);
	int rc = an_rows(ch, &q, rows, err);
	nb_buf_done(&q);
	return rc;
}
