/* analytics/analytics.c — nb_an: runs the analytics SQL of analytics/sql.c on ClickHouse
 * and turns the TabSeparated answers into plain structs. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int nb_an_prop_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static double an_num(const nb_ch_rows *r, size_t row, size_t col)
{
	if (r->is_null[row * r->ncols + col])
		return NAN;
	return strtod(nb_ch_cell(r, row, col), NULL);
}

static int an_variant_index(const nb_an_experiment *e, const char *key)
{
	for (int i = 0; i < e->nvariants; i++)
		if (!strcmp(e->variants[i].key, key))
			return i;
	return -1;
}

int nb_an_metric_index(const nb_an_experiment *e, const char *key)
{
	for (int i = 0; i < e->nmetrics; i++)
		if (!strcmp(e->metrics[i].key, key))
			return i;
	return -1;
}

int nb_an_pick_metric(const nb_an_experiment *e, const char *key, const char *kind, nb_err *err)
{
	if (key) {
		int k = nb_an_metric_index(e, key);
		if (k < 0)
			nb_err_set(err, NB_EINPUT, "experiment \"%s\" has no metric \"%s\"", e->key, key);
		return k;
	}
	for (int i = 0; i < e->nmetrics; i++)
		if (kind ? !strcmp(e->metrics[i].kind, kind) : !strcmp(e->metrics[i].role, "primary"))
			return i;
	if (e->nmetrics < 1)
		nb_err_set(err, NB_EINPUT, "experiment \"%s\" has no metrics", e->key);
	return e->nmetrics > 0 ? 0 : -1;
}

static void an_copy_key(char *dst, const char *src)
{
	snprintf(dst, NB_AN_KEY_MAX + 1, "%s", src);
}

void nb_an_experiment_done(nb_an_experiment *e)
{
	for (int i = 0; i < e->nmetrics; i++) {
		nb_an_metric *m = &e->metrics[i];
		for (int j = 0; j < m->nevents; j++)
			free(m->event_types[j]);
		free(m->event_types);
		free(m->value_property);
	}
	free(e->metrics);
	free(e->variants);
	memset(e, 0, sizeof *e);
}

static int an_load_variants(nb_ch *ch, const char *db, nb_an_experiment *e, nb_err *err)
{
	nb_buf sql;
	nb_ch_rows r;
	nb_buf_init(&sql);
	an_sql_load(&sql, db, e->key, 1);
	int rc = an_rows(ch, &sql, &r, err);
	nb_buf_done(&sql);
	if (rc)
		return -1;
	if (r.nrows > 0 && r.ncols != 3) {
		nb_ch_rows_done(&r);
		return nb_err_set(err, NB_ESERVER, "unexpected variants answer from ClickHouse");
	}
	e->nvariants = (int)r.nrows;
	e->variants = nb_xcalloc(r.nrows ? r.nrows : 1, sizeof *e->variants);
	for (size_t i = 0; i < r.nrows; i++) {
		an_copy_key(e->variants[i].key, nb_ch_cell(&r, i, 0));
		e->variants[i].weight = an_num(&r, i, 1);
		e->variants[i].is_control = atoi(nb_ch_cell(&r, i, 2)) != 0;
		if (e->variants[i].is_control)
			e->control = (int)i;
	}
	nb_ch_rows_done(&r);
	if (e->nvariants < 1)
		return nb_err_set(err, NB_EINPUT, "experiment \"%s\" has no variants in ClickHouse",
				  e->key);
	return 0;
}

static int an_load_metrics(nb_ch *ch, const char *db, nb_an_experiment *e, nb_err *err)
{
	nb_buf sql;
	nb_ch_rows r, t;
	nb_buf_init(&sql);
	an_sql_load(&sql, db, e->key, 2);
	int rc = an_rows(ch, &sql, &r, err);
	nb_buf_reset(&sql);
	an_sql_load(&sql, db, e->key, 3);
	if (!rc && (rc = an_rows(ch, &sql, &t, err)))
		nb_ch_rows_done(&r);
	nb_buf_done(&sql);
	if (rc)
		return -1;
	e->nmetrics = (int)r.nrows;
	e->metrics = nb_xcalloc(r.nrows ? r.nrows : 1, sizeof *e->metrics);
	for (size_t i = 0; i < r.nrows; i++) {
		nb_an_metric *m = &e->metrics[i];
		an_copy_key(m->key, nb_ch_cell(&r, i, 0));
		snprintf(m->role, sizeof m->role, "%s", nb_ch_cell(&r, i, 1));
		snprintf(m->kind, sizeof m->kind, "%s", nb_ch_cell(&r, i, 2));
		m->decrease = !strcmp(nb_ch_cell(&r, i, 3), "decrease");
		if (!r.is_null[i * r.ncols + 4])
			m->value_property = nb_xstrdup(nb_ch_cell(&r, i, 4));
		m->winsorize = r.is_null[i * r.ncols + 5] ? 0 : an_num(&r, i, 5);
		m->event_types = nb_xcalloc((size_t)atoi(nb_ch_cell(&r, i, 6)) + 1, sizeof(char *));
		for (size_t j = 0; j < t.nrows; j++)
			if (!strcmp(nb_ch_cell(&t, j, 0), m->key))
				m->event_types[m->nevents++] = nb_xstrdup(nb_ch_cell(&t, j, 1));
	}
	nb_ch_rows_done(&r);
	nb_ch_rows_done(&t);
	for (int i = 0; i < e->nmetrics; i++) {
		nb_an_metric *m = &e->metrics[i];
		if (m->value_property && !nb_an_prop_ok(m->value_property))
			return nb_err_set(err, NB_EINPUT,
					  "metric \"%s\": value_property \"%s\" is not a plain "
					  "property name ([A-Za-z0-9_-]{1,64})",
					  m->key, m->value_property);
		if (m->nevents < 1 || (!strcmp(m->kind, "ratio") && m->nevents != 2))
			return nb_err_set(err, NB_EINPUT, "metric \"%s\" has %d event types",
					  m->key, m->nevents);
	}
	return 0;
}

int nb_an_experiment_load(nb_ch *ch, const char *db, const char *key, nb_an_experiment *out,
			  nb_err *err)
{
	memset(out, 0, sizeof *out);
	nb_buf sql;
	nb_ch_rows r;
	nb_buf_init(&sql);
	an_sql_load(&sql, db, key, 0);
	int rc = an_rows(ch, &sql, &r, err);
	nb_buf_done(&sql);
	if (rc)
		return -1;
	if (r.nrows != 1) {
		nb_ch_rows_done(&r);
		return nb_err_set(err, NB_EINPUT, "no experiment \"%s\" in ClickHouse", key);
	}
	an_copy_key(out->key, nb_ch_cell(&r, 0, 0));
	snprintf(out->status, sizeof out->status, "%s", nb_ch_cell(&r, 0, 1));
	nb_ch_rows_done(&r);
	if (an_load_variants(ch, db, out, err) || an_load_metrics(ch, db, out, err)) {
		nb_an_experiment_done(out);
		return -1;
	}
	return 0;
}

static int an_scope_check(const nb_an_scope *s, nb_err *err)
{
	if (s->segment_prop && !nb_an_prop_ok(s->segment_prop))
		return nb_err_set(err, NB_EINPUT,
				  "segment property \"%s\" is not a plain property name "
				  "([A-Za-z0-9_-]{1,64})",
				  s->segment_prop);
	if (s->from && s->to && s->to <= s->from)
		return nb_err_set(err, NB_EINPUT, "the time range is empty (--to is not after --from)");
	return 0;
}

/* Runs the exposure query; calls fn(variant index, seg, users) per row. */
static int an_exposure_rows(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e,
			    const char *seg_prop, nb_ch_rows *r, nb_err *err)
{
	if (an_scope_check(s, err))
		return -1;
	nb_buf sql;
	nb_buf_init(&sql);
	an_sql_exposure(&sql, s, e, seg_prop);
	int rc = an_rows(ch, &sql, r, err);
	nb_buf_done(&sql);
	return rc;
}

int nb_an_exposure(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e, double *users,
		   nb_err *err)
{
	nb_ch_rows r;
	if (an_exposure_rows(ch, s, e, NULL, &r, err))
		return -1;
	for (int v = 0; v < e->nvariants; v++)
		users[v] = 0;
	for (size_t i = 0; i < r.nrows; i++) {
		int v = an_variant_index(e, nb_ch_cell(&r, i, 0));
		if (v >= 0)
			users[v] = an_num(&r, i, 1);
	}
	nb_ch_rows_done(&r);
	return 0;
}

/* Columns one metric takes in an aggregate row. */
static size_t an_metric_cols(const nb_an_metric *m)
{
	return 4 + (an_has_den(m) ? 3 : 0) + (an_winsorized(m) ? 1 : 0);
}

/* Appends the numbers of a ClickHouse array "[1,2.5,3]" to *v. */
static void an_parse_array(const char *s, double **v, size_t *n, size_t *cap)
{
	while (*s && *s != ']') {
		if (*s == '[' || *s == ',') {
			s++;
			continue;
		}
		char *end;
		double x = strtod(s, &end);
		if (end == s)
			break;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 1024;
			*v = nb_xrealloc(*v, *cap * sizeof **v);
		}
		(*v)[(*n)++] = x;
		s = end;
	}
}

/* The k-th smallest of v[0..n) (0-based), moving elements around. */
static double an_select(double *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;
	while (lo < hi) {
		double pivot = v[lo + (hi - lo) / 2];
		size_t i = lo, j = hi;
		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				double t = v[i];
				v[i] = v[j];
				v[j] = t;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return v[k];
	}
	return v[k];
}

/* The cap of winsorised metrics: quantileExact's element (index
 * floor(level · k), k − 1 at level 1) of the converted users' values pooled
 * over every row of r; NaN when no user converted or not winsorised. With
 * the cap, capsum[(row * nmetrics + i) * 2 + {0,1}] receive Σ and Σ² of the
 * row's capped values (each array is parsed once). */
static void an_row_caps(const nb_an_experiment *e, const nb_ch_rows *r, size_t keycols,
			double *caps, double *capsum)
{
	size_t col = keycols;
	for (int i = 0; i < e->nmetrics; i++) {
		const nb_an_metric *m = &e->metrics[i];
		caps[i] = NAN;
		col += an_metric_cols(m);
		if (!an_winsorized(m))
			continue;
		double *v = NULL;
		size_t n = 0, cap = 0;
		size_t *end = nb_xcalloc(r->nrows + 1, sizeof *end);
		for (size_t row = 0; row < r->nrows; row++) {
			an_parse_array(nb_ch_cell(r, row, col - 1), &v, &n, &cap);
			end[row] = n;
		}
		double *sel = n ? nb_xmalloc(n * sizeof *sel) : NULL;
		if (n > 0) {
			double level = m->winsorize / 100.0;
			size_t k = level < 1 ? (size_t)(level * (double)n) : n - 1;
			memcpy(sel, v, n * sizeof *v);
			caps[i] = an_select(sel, n, k < n ? k : n - 1);
		}
		for (size_t row = 0, at = 0; row < r->nrows; at = end[row++]) {
			double s1 = 0, s2 = 0;
			for (size_t k = at; k < end[row]; k++) {
				double x = v[k] < caps[i] ? v[k] : caps[i];
				s1 += x;
				s2 += x * x;
			}
			capsum[(row * (size_t)e->nmetrics + (size_t)i) * 2] = s1;
			capsum[(row * (size_t)e->nmetrics + (size_t)i) * 2 + 1] = s2;
		}
		free(sel);
		free(end);
		free(v);
	}
}

/* Fills one nb_an_agg per metric from aggregate row `row` (metric columns
 * after keycols); winsorised metrics get Σ and Σ² of their capped values. */
static void an_fill_aggs(const nb_an_experiment *e, const nb_ch_rows *r, size_t row,
			 size_t keycols, const double *caps, const double *capsum, nb_an_agg *out,
			 size_t stride)
{
	size_t col = keycols;
	for (int i = 0; i < e->nmetrics; i++) {
		const nb_an_metric *m = &e->metrics[i];
		nb_an_agg *a = &out[(size_t)i * stride];
		a->converted = an_num(r, row, col++);
		a->events = an_num(r, row, col++);
		a->sum = an_num(r, row, col++);
		a->sum_sq = an_num(r, row, col++);
		if (an_has_den(m)) {
			a->den_sum = an_num(r, row, col++);
			a->den_sum_sq = an_num(r, row, col++);
			a->cross = an_num(r, row, col++);
		}
		a->cap = caps[i];
		if (an_winsorized(m)) {
			col++;
			if (!isnan(caps[i])) {
				a->sum = capsum[(row * (size_t)e->nmetrics + (size_t)i) * 2];
				a->sum_sq = capsum[(row * (size_t)e->nmetrics + (size_t)i) * 2 + 1];
			}
		}
	}
}

static void an_zero_aggs(nb_an_agg *a, size_t n, const double *caps, int nmetrics, size_t stride)
{
	for (size_t i = 0; i < n; i++) {
		memset(&a[i], 0, sizeof a[i]);
		a[i].cap = caps[(i / stride) % (size_t)nmetrics];
	}
}

int nb_an_metrics(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e, nb_an_agg *out,
		  nb_err *err)
{
	size_t nv = (size_t)e->nvariants;
	double *users = nb_xcalloc(nv, sizeof *users);
	double *caps = nb_xcalloc((size_t)e->nmetrics + 1, sizeof *caps), *capsum = NULL;
	nb_buf sql;
	nb_ch_rows r = {0};
	nb_buf_init(&sql);
	int rc = an_scope_check(s, err);
	/* the rollup keeps no experiment_version: a period is read from the tables */
	int rollup = rc || s->version ? 0 : an_rollup_usable(ch, s, e, err);
	size_t keycols = rollup > 0 ? 2 : 1; /* variant, [users] */
	if (rollup < 0)
		rc = -1;
	else if (rollup > 0)
		rc = an_rollup_aggregate(ch, s, e, NULL, &r, err);
	else if (!rc && !(rc = nb_an_exposure(ch, s, e, users, err)) &&
		 !(rc = an_sql_aggregate(&sql, s, e, NULL, err)))
		rc = an_rows(ch, &sql, &r, err);
	if (!rc) {
		capsum = nb_xcalloc(2 * (r.nrows + 1) * (size_t)e->nmetrics, sizeof *capsum);
		an_row_caps(e, &r, keycols, caps, capsum);
		an_zero_aggs(out, nv * (size_t)e->nmetrics, caps, e->nmetrics, nv);
		for (size_t i = 0; i < r.nrows; i++) {
			int v = an_variant_index(e, nb_ch_cell(&r, i, 0));
			if (v < 0)
				continue;
			if (rollup > 0)
				users[v] = an_num(&r, i, 1);
			an_fill_aggs(e, &r, i, keycols, caps, capsum, out + v, nv);
		}
		for (int m = 0; m < e->nmetrics; m++)
			for (size_t v = 0; v < nv; v++)
				out[(size_t)m * nv + v].users = users[v];
		nb_ch_rows_done(&r);
	}
	nb_buf_done(&sql);
	free(users);
	free(caps);
	free(capsum);
	return rc;
}

typedef struct an_seg {
	char *value;
	double total;
} an_seg;

static int an_seg_cmp(const void *a, const void *b)
{
	const an_seg *x = a, *y = b;
	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(x->value, y->value);
}

static int an_seg_find(char **values, int n, const char *v)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(values[i], v))
			return i;
	return -1;
}

/* Top `top` segment values of the exposure rows (variant, seg, users). */
static int an_top_segments(const nb_an_experiment *e, const nb_ch_rows *r, int top,
			   char ***values)
{
	an_seg *segs = nb_xcalloc(r->nrows + 1, sizeof *segs);
	int n = 0;
	for (size_t i = 0; i < r->nrows; i++) {
		if (an_variant_index(e, nb_ch_cell(r, i, 0)) < 0)
			continue;
		const char *v = nb_ch_cell(r, i, 1);
		int k = 0;
		while (k < n && strcmp(segs[k].value, v))
			k++;
		if (k == n)
			segs[n++].value = (char *)v;
		segs[k].total += an_num(r, i, 2);
	}
	qsort(segs, (size_t)n, sizeof *segs, an_seg_cmp);
	if (n > top)
		n = top;
	*values = nb_xcalloc((size_t)n + 1, sizeof **values);
	for (int i = 0; i < n; i++)
		(*values)[i] = nb_xstrdup(segs[i].value);
	free(segs);
	return n;
}

int nb_an_segments(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e, int metric,
		   const char *prop, int top, char ***values, nb_an_agg **aggs, int *nseg,
		   nb_err *err)
{
	*values = NULL;
	*aggs = NULL;
	*nseg = 0;
	int event_prop = !strncmp(prop, "event:", 6);
	if (!nb_an_prop_ok(event_prop ? prop + 6 : prop))
		return nb_err_set(err, NB_EINPUT,
				  "--by \"%s\" is not a plain property name ([A-Za-z0-9_-]{1,64}, "
				  "or event: and one)",
				  prop);
	if (metric < 0 || metric >= e->nmetrics)
		return nb_err_set(err, NB_EINPUT, "no such metric in experiment \"%s\"", e->key);
	nb_an_experiment one = *e; /* a view with just the one metric */
	one.nmetrics = 1;
	one.metrics = &e->metrics[metric];
	nb_ch_rows ex, r = {0};
	if (an_exposure_rows(ch, s, &one, prop, &ex, err))
		return -1;
	int n = an_top_segments(&one, &ex, top, values);
	size_t nv = (size_t)e->nvariants;
	double cap = NAN;
	nb_buf sql;
	nb_buf_init(&sql);
	int rollup = event_prop || s->version ? 0 : an_rollup_usable(ch, s, &one, err);
	size_t keycols = rollup > 0 ? 3 : 2; /* variant, seg, [users] */
	int rc = rollup < 0 ? -1 : 0;
	if (rollup > 0)
		rc = an_rollup_aggregate(ch, s, &one, prop, &r, err);
	else if (!rc && !(rc = an_sql_aggregate(&sql, s, &one, prop, err)))
		rc = an_rows(ch, &sql, &r, err);
	nb_buf_done(&sql);
	if (rc) {
		nb_ch_rows_done(&ex);
		for (int i = 0; i < n; i++)
			free((*values)[i]);
		free(*values);
		*values = NULL;
		return -1;
	}
	double *capsum = nb_xcalloc(2 * (r.nrows + 1), sizeof *capsum);
	an_row_caps(&one, &r, keycols, &cap, capsum);
	*aggs = nb_xcalloc((size_t)n * nv + 1, sizeof **aggs);
	an_zero_aggs(*aggs, (size_t)n * nv, &cap, 1, 1);
	for (size_t i = 0; i < ex.nrows; i++) {
		int v = an_variant_index(e, nb_ch_cell(&ex, i, 0));
		int k = an_seg_find(*values, n, nb_ch_cell(&ex, i, 1));
		if (v >= 0 && k >= 0)
			(*aggs)[(size_t)k * nv + (size_t)v].users = an_num(&ex, i, 2);
	}
	for (size_t i = 0; i < r.nrows; i++) {
		int v = an_variant_index(e, nb_ch_cell(&r, i, 0));
		int k = an_seg_find(*values, n, nb_ch_cell(&r, i, 1));
		if (v >= 0 && k >= 0)
			an_fill_aggs(&one, &r, i, keycols, &cap, capsum,
				     &(*aggs)[(size_t)k * nv + (size_t)v], 1);
	}
	free(capsum);
	nb_ch_rows_done(&ex);
	nb_ch_rows_done(&r);
	*nseg = n;
	return 0;
}

static int an_point_cmp(const void *a, const void *b)
{
	const nb_an_point *x = a, *y = b;
	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	return x->variant - y->variant;
}

/* The point of (bucket, variant), appended when new. */
static nb_an_point *an_point(nb_an_point **pts, size_t *n, size_t *cap, long long bucket, int v)
{
	for (size_t i = 0; i < *n; i++)
		if ((*pts)[i].bucket == bucket && (*pts)[i].variant == v)
			return &(*pts)[i];
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*pts = nb_xrealloc(*pts, *cap * sizeof **pts);
	}
	nb_an_point *p = &(*pts)[(*n)++];
	memset(p, 0, sizeof *p);
	p->bucket = bucket;
	p->variant = v;
	return p;
}

int nb_an_timeseries(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e, int metric,
		     int period, nb_an_point **pts, size_t *npts, nb_err *err)
{
	*pts = NULL;
	*npts = 0;
	if (period != 3600 && period != 86400)
		return nb_err_set(err, NB_EINPUT, "time series period must be hour or day");
	if (metric < 0 || metric >= e->nmetrics)
		return nb_err_set(err, NB_EINPUT, "no such metric in experiment \"%s\"", e->key);
	if (an_scope_check(s, err))
		return -1;
	nb_buf sql;
	nb_ch_rows a, r;
	nb_buf_init(&sql);
	an_sql_series_assigned(&sql, s, e, period);
	int rc = an_rows(ch, &sql, &a, err);
	nb_buf_reset(&sql);
	an_sql_series_events(&sql, s, e, &e->metrics[metric], period);
	if (!rc && (rc = an_rows(ch, &sql, &r, err)))
		nb_ch_rows_done(&a);
	nb_buf_done(&sql);
	if (rc)
		return -1;
	size_t cap = 0;
	for (size_t i = 0; i < a.nrows; i++) {
		int v = an_variant_index(e, nb_ch_cell(&a, i, 1));
		if (v >= 0)
			an_point(pts, npts, &cap, atoll(nb_ch_cell(&a, i, 0)), v)->assigned =
				an_num(&a, i, 2);
	}
	for (size_t i = 0; i < r.nrows; i++) {
		int v = an_variant_index(e, nb_ch_cell(&r, i, 1));
		if (v < 0)
			continue;
		nb_an_point *p = an_point(pts, npts, &cap, atoll(nb_ch_cell(&r, i, 0)), v);
		p->converted = an_num(&r, i, 2);
		p->value = an_num(&r, i, 3);
	}
	nb_ch_rows_done(&a);
	nb_ch_rows_done(&r);
	if (*npts)
		qsort(*pts, *npts, sizeof **pts, an_point_cmp);
	return 0;
}

int nb_an_funnel(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e,
		 const char *const *steps, int nsteps, long window, double *reached,
		 nb_err *err)
{
	if (nsteps < 2 || nsteps > NB_AN_FUNNEL_MAX)
		return nb_err_set(err, NB_EINPUT, "a funnel has 2 to %d steps, got %d",
				  NB_AN_FUNNEL_MAX, nsteps);
	if (window < 1 || window > 100L * 86400 * 366)
		return nb_err_set(err, NB_EINPUT, "funnel window must be 1 s to 100 years");
	for (int i = 0; i < nsteps; i++)
		for (int j = 0; j < i; j++)
			if (!strcmp(steps[i], steps[j]))
				return nb_err_set(err, NB_EINPUT,
						  "funnel step \"%s\" is given twice", steps[i]);
	if (an_scope_check(s, err))
		return -1;
	nb_buf sql;
	nb_ch_rows r;
	nb_buf_init(&sql);
	an_sql_funnel(&sql, s, e, (char *const *)steps, nsteps, window);
	int rc = an_rows(ch, &sql, &r, err);
	nb_buf_done(&sql);
	if (rc)
		return -1;
	for (int i = 0; i < e->nvariants * nsteps; i++)
		reached[i] = 0;
	for (size_t i = 0; i < r.nrows; i++) {
		int v = an_variant_index(e, nb_ch_cell(&r, i, 0));
		int level = atoi(nb_ch_cell(&r, i, 1));
		for (int k = 0; v >= 0 && k < level && k < nsteps; k++)
			reached[v * nsteps + k] += an_num(&r, i, 2);
	}
	nb_ch_rows_done(&r);
	return 0;
}

int nb_an_cohorts(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e, int period,
		  int nper, nb_an_cohort_row **rows, size_t *nrows, nb_err *err)
{
	*rows = NULL;
	*nrows = 0;
	if (period != 86400 && period != 604800)
		return nb_err_set(err, NB_EINPUT, "cohort period must be day or week");
	if (nper < 1 || nper > 32)
		return nb_err_set(err, NB_EINPUT, "cohorts have 1 to 32 periods, got %d", nper);
	if (an_scope_check(s, err))
		return -1;
	nb_buf sql;
	nb_ch_rows r;
	nb_buf_init(&sql);
	an_sql_cohorts(&sql, s, e, period, nper);
	int rc = an_rows(ch, &sql, &r, err);
	nb_buf_done(&sql);
	if (rc)
		return -1;
	long long as_of = s->to ? s->to : (long long)time(NULL);
	*rows = nb_xcalloc(r.nrows + 1, sizeof **rows);
	for (size_t i = 0; i < r.nrows; i++) {
		int v = an_variant_index(e, nb_ch_cell(&r, i, 1));
		if (v < 0)
			continue;
		nb_an_cohort_row *c = &(*rows)[(*nrows)++];
		c->cohort = atoll(nb_ch_cell(&r, i, 0));
		c->variant = v;
		c->users = an_num(&r, i, 2);
		/* a period that starts at or after the end of the scope (or now)
		 * has not happened yet: unknown (NAN, blank), not 0 */
		for (int k = 0; k < nper; k++)
			c->retained[k] = c->cohort + (long long)k * period >= as_of
						 ? NAN
						 : an_num(&r, i, 3 + (size_t)k);
	}
	nb_ch_rows_done(&r);
	return 0;
}

int nb_an_revenue_get(nb_ch *ch, const nb_an_scope *s, const nb_an_experiment *e, int metric,
		      nb_an_revenue *out, nb_err *err)
{
	if (metric < 0 || metric >= e->nmetrics)
		return nb_err_set(err, NB_EINPUT, "no such metric in experiment \"%s\"", e->key);
	double *users = nb_xcalloc((size_t)e->nvariants, sizeof *users);
	if (nb_an_exposure(ch, s, e, users, err)) {
		free(users);
		return -1;
	}
	for (int v = 0; v < e->nvariants; v++) {
		memset(&out[v], 0, sizeof out[v]);
		out[v].users = users[v];
		out[v].p50 = out[v].p90 = out[v].p99 = NAN;
	}
	free(users);
	nb_buf sql;
	nb_ch_rows r;
	nb_buf_init(&sql);
	an_sql_revenue(&sql, s, e, &e->metrics[metric]);
	int rc = an_rows(ch, &sql, &r, err);
	nb_buf_done(&sql);
	if (rc)
		return -1;
	for (size_t i = 0; i < r.nrows; i++) {
		int v = an_variant_index(e, nb_ch_cell(&r, i, 0));
		if (v < 0)
			continue;
		nb_an_revenue *o = &out[v];
		o->paying = an_num(&r, i, 1);
		o->sum = an_num(&r, i, 2);
		o->sum_sq = an_num(&r, i, 3);
		if (o->paying > 0) {
			o->p50 = an_num(&r, i, 4);
			o->p90 = an_num(&r, i, 5);
			o->p99 = an_num(&r, i, 6);
		}
	}
	nb_ch_rows_done(&r);
	return 0;
}
