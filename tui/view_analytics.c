/* view_analytics.c — Funnel, Cohorts, Revenue and Segments: each computes
 * what `neonblue funnel|cohort|revenue|segments KEY --json` prints, in the
 * query worker (in-process), and draws it: funnel steps as bars per variant, retention as a
 * heat map per variant, revenue and segments as tables. A shape it does not
 * know is shown as the JSON itself, so nothing is hidden. */
#include "tui.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct an_st {
	const char *cmd;   /* funnel cohort revenue segments */
	char key[128];
	char extra[256];   /* --steps a,b,c / --by country … (`:funnel KEY --steps …`) */
	cJSON *data;
	double data_at;
	char err[512];
	int inflight;
	int scroll;
} an_st;

static const enum action acts[] = {ACT_REFRESH, ACT_UP, ACT_DOWN, ACT_NONE};

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static void an_init_cmd(view *v, const char *cmd)
{
	an_st *s = nb_xcalloc(1, sizeof *s);
	s->cmd = cmd;
	/* the commands' required flags; `/` replaces them */
	if (!strcmp(cmd, "funnel"))
		w_copy(s->extra, sizeof s->extra, "--steps view,add_to_cart,checkout,purchase");
	else if (!strcmp(cmd, "segments"))
		w_copy(s->extra, sizeof s->extra, "--by country");
	v->st = s;
}

static void an_free(view *v)
{
	an_st *s = v->st;
	cJSON_Delete(s->data);
	free(s);
}

static int view_index(const an_st *s)
{
	return !strcmp(s->cmd, "funnel")   ? V_FUNNEL
	       : !strcmp(s->cmd, "cohort") ? V_COHORT
	       : !strcmp(s->cmd, "revenue") ? V_REVENUE
					    : V_SEGMENTS;
}

static void an_tick(view *v, app *a)
{
	an_st *s = v->st;
	if (s->inflight || !s->key[0])
		return;
	job *j = job_new(J_REPORT, view_index(s));
	w_copy(j->arg, sizeof j->arg, s->cmd);
	w_copy(j->key, sizeof j->key, s->key);
	w_copy(j->arg2, sizeof j->arg2, s->extra);
	s->inflight = 1;
	app_submit(a, j);
}

static void an_enter(view *v, app *a, const char *arg)
{
	an_st *s = v->st;
	const char *k = arg && *arg ? arg : a->selected_exp;
	if (k[0] && strcmp(k, s->key)) {
		w_copy(s->key, sizeof s->key, k);
		cJSON_Delete(s->data);
		s->data = NULL;
		s->err[0] = '\0';
		/* a request for the previous experiment still queued is dropped */
		if (a->wk)
			worker_cancel(a->wk, view_index(s), J_REPORT, s->key);
	}
	an_tick(v, a);
	v->dirty = 1;
}

static void an_data(view *v, app *a, job *j)
{
	an_st *s = v->st;
	s->inflight = 0;
	if (strcmp(j->key, s->key) || strcmp(j->arg2, s->extra)) {
		/* stale (another experiment or other flags since): ask again now */
		an_tick(v, a);
		return;
	}
	if (j->rc) {
		w_copy(s->err, sizeof s->err, j->err.msg);
		return;
	}
	s->err[0] = '\0';
	cJSON_Delete(s->data);
	s->data = j->out;
	j->out = NULL;
	s->data_at = app_now();
}

/* ------------------------------------------------------------ renderers */

/* Funnel: variants[] of {variant, steps[] of {step|name, users, conversion|rate, p_value}}. */
static int draw_funnel(an_st *s, app *a, WINDOW *w, int y, int H, int W)
{
	const cJSON *vs = cJSON_GetObjectItemCaseSensitive(s->data, "variants"), *v;
	if (!cJSON_IsArray(vs))
		return -1;
	int barw = W - 66 > 4 ? W - 66 : 4;
	cJSON_ArrayForEach(v, vs)
	{
		const cJSON *steps = cJSON_GetObjectItemCaseSensitive(v, "steps"), *st;
		if (!cJSON_IsArray(steps))
			return -1;
		wattron(w, w_attr(R_TITLE));
		w_put(w, y++, 0, W, str(v, "variant")[0] ? str(v, "variant") : str(v, "key"), 1);
		wattroff(w, w_attr(R_TITLE));
		double first = NAN;
		cJSON_ArrayForEach(st, steps)
		{
			if (y >= H)
				return y;
			double u = num(st, "users");
			if (isnan(first))
				first = u;
			double conv = num(st, "step_conversion");
			if (isnan(conv))
				conv = num(st, "conversion");
			double overall = num(st, "overall_conversion");
			double p = num(st, "p_value");
			char us[32], cs[16], os[16], ps[16], line[200];
			w_fmt_int(us, sizeof us, (long long)u);
			w_fmt_pct(cs, sizeof cs, conv, 1);
			w_fmt_pct(os, sizeof os, overall, 1);
			w_fmt_p(ps, sizeof ps, p);
			const char *name = str(st, "step")[0] ? str(st, "step") : str(st, "name");
			snprintf(line, sizeof line, "  %-14.14s %9s step %6s all %6s p %-7s%s", name, us,
				 cs, os, ps, p < 0.05 ? (a->ascii ? "*" : "★") : " ");
			w_put(w, y, 0, 62, line, 1);
			if (W > 66)
				w_bar(w, y, 64, barw, first > 0 ? u / first : 0,
				      p < 0.05 ? R_GOOD : R_ACCENT);
			y++;
		}
	}
	return y;
}

/* Cohorts: cohorts[] of {cohort, variant, users, rate[] (fractions),
 * diff_vs_control[]}: one heat map per variant, cohorts as rows. */
static int draw_cohort(an_st *s, app *a, WINDOW *w, int y, int H, int W)
{
	const cJSON *cs = cJSON_GetObjectItemCaseSensitive(s->data, "cohorts"), *c, *d;
	if (!cJSON_IsArray(cs))
		return -1;
	char seen[16][64];
	int nseen = 0;
	cJSON_ArrayForEach(c, cs)
	{
		const char *var = str(c, "variant");
		int known = 0;
		for (int i = 0; i < nseen; i++)
			known |= !strcmp(seen[i], var);
		if (known || nseen == 16)
			continue;
		w_copy(seen[nseen++], sizeof seen[0], var);
		if (y >= H)
			break;
		char hdr[160];
		snprintf(hdr, sizeof hdr, "%s — share active in period 0, 1, 2… after assignment (%%)%s",
			 var, a->ascii ? "" : "  ░▒▓█");
		wattron(w, w_attr(R_TITLE));
		w_put(w, y++, 0, W, hdr, 1);
		wattroff(w, w_attr(R_TITLE));
		cJSON_ArrayForEach(d, cs)
		{
			if (strcmp(str(d, "variant"), var) || y >= H)
				continue;
			const cJSON *rate = cJSON_GetObjectItemCaseSensitive(d, "rate");
			if (!cJSON_IsArray(rate))
				rate = cJSON_GetObjectItemCaseSensitive(d, "retention");
			if (!cJSON_IsArray(rate))
				return -1;
			double vals[64];
			int n = 0;
			const cJSON *r;
			cJSON_ArrayForEach(r, rate) if (n < 64) vals[n++] = cJSON_IsNumber(r) ? r->valuedouble : NAN;
			char line[64], us[32], day[16];
			w_fmt_int(us, sizeof us, (long long)num(d, "users"));
			snprintf(day, sizeof day, "%.10s", str(d, "cohort"));
			snprintf(line, sizeof line, "  %-10s %7s ", day, us);
			w_put(w, y, 0, 21, line, 1);
			int fit = (W - 22) / 5;
			w_heatmap(w, y, 22, vals, 1, n < fit ? n : fit, 5);
			y++;
		}
	}
	return y;
}

static void fmt_cell(const cJSON *f, char *out, size_t n)
{
	if (cJSON_IsNumber(f)) {
		double v = f->valuedouble;
		int dec = v == floor(v) && fabs(v) < 1e15 ? 0 : fabs(v) < 10 ? 4 : 2;
		w_fmt_num(out, n, v, dec);
	} else if (cJSON_IsString(f)) {
		w_copy(out, n, f->valuestring);
	} else if (cJSON_IsNull(f)) {
		w_copy(out, n, w_cur.ascii ? "-" : "–");
	} else if (cJSON_IsBool(f)) {
		w_copy(out, n, cJSON_IsTrue(f) ? "yes" : "no");
	} else {
		out[0] = '\0';
	}
}

/* An array of flat objects as an aligned table: the scalar fields of the
 * first object are the columns (strings left, numbers right-aligned). */
static int draw_rows(const cJSON *arr, WINDOW *w, int y, int H, int W)
{
	if (!cJSON_IsArray(arr) || !cJSON_IsObject(cJSON_GetArrayItem(arr, 0)))
		return -1;
	const char *keys[16];
	int width[16], num[16], nk = 0;
	const cJSON *f, *o;
	cJSON_ArrayForEach(f, cJSON_GetArrayItem(arr, 0))
	{
		if (nk == 16 || cJSON_IsObject(f) || cJSON_IsArray(f))
			continue;
		keys[nk] = f->string;
		width[nk] = w_strwidth(f->string);
		num[nk++] = cJSON_IsNumber(f);
	}
	if (!nk)
		return -1;
	char cell[64];
	cJSON_ArrayForEach(o, arr)
		for (int k = 0; k < nk; k++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[k]);
			fmt_cell(v, cell, sizeof cell);
			int cw = w_strwidth(cell);
			width[k] = cw > width[k] ? cw : width[k];
			num[k] |= cJSON_IsNumber(v);
		}
	char line[2048];
	for (int r = -1; r < cJSON_GetArraySize(arr) && y < H; r++) {
		size_t l = 0;
		o = r >= 0 ? cJSON_GetArrayItem(arr, r) : NULL;
		for (int k = 0; k < nk; k++) {
			if (o)
				fmt_cell(cJSON_GetObjectItemCaseSensitive(o, keys[k]), cell, sizeof cell);
			else
				w_copy(cell, sizeof cell, keys[k]);
			int pad = width[k] - w_strwidth(cell);
			int wr = snprintf(line + l, sizeof line - l, "%*s%s%*s  ", num[k] ? pad : 0, "",
					  cell, num[k] ? 0 : pad, "");
			if (wr < 0 || (size_t)wr >= sizeof line - l)
				break;
			l += (size_t)wr;
		}
		attr_t at = o ? 0 : w_attr(R_TITLE);
		wattron(w, at);
		w_put(w, y++, 0, W, line, 1);
		wattroff(w, at);
	}
	return y;
}

/* Segments: segments[] of {value, results[] per variant}: one row per
 * segment × variant, the segment value first. */
static int draw_segments(const cJSON *segs, WINDOW *w, int y, int H, int W)
{
	if (!cJSON_IsArray(segs))
		return -1;
	cJSON *flat = cJSON_CreateArray();
	const cJSON *sg, *r;
	cJSON_ArrayForEach(sg, segs)
	{
		const cJSON *res = cJSON_GetObjectItemCaseSensitive(sg, "results");
		if (!cJSON_IsArray(res)) {
			cJSON_Delete(flat);
			return -1;
		}
		cJSON_ArrayForEach(r, res)
		{
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "segment", str(sg, "value"));
			const cJSON *f;
			cJSON_ArrayForEach(f, r)
				if (!cJSON_IsObject(f) && !cJSON_IsArray(f))
					cJSON_AddItemToObject(o, f->string, cJSON_Duplicate(f, 0));
			cJSON_AddItemToArray(flat, o);
		}
	}
	int rc = draw_rows(flat, w, y, H, W);
	cJSON_Delete(flat);
	return rc;
}

static void draw_json(an_st *s, WINDOW *w, int y, int H, int W)
{
	char *t = cJSON_Print(s->data);
	if (!t)
		return;
	int line = 0;
	char *save = NULL;
	for (char *l = strtok_r(t, "\n", &save); l && y < H; l = strtok_r(NULL, "\n", &save))
		if (line++ >= s->scroll)
			w_put(w, y++, 0, W, l, 1);
	free(t);
}

static void an_draw(view *v, app *a, WINDOW *w)
{
	an_st *s = v->st;
	int H = getmaxy(w), W = getmaxx(w);
	char line[800], age[16];
	if (!s->key[0]) {
		w_put(w, 0, 0, W, "No experiment selected: pick one in Experiments (1), or :funnel KEY", 1);
		return;
	}
	w_fmt_age(age, sizeof age, app_now() - s->data_at);
	snprintf(line, sizeof line, "%s %s%s%s  (`neonblue %s %s %s`; / sets the flags)%s", s->cmd,
		 s->key, s->data ? ", data " : "", s->data ? age : "", s->cmd, s->key, s->extra,
		 s->inflight ? "  running…" : "");
	wattron(w, w_attr(R_TITLE));
	w_put(w, 0, 0, W, line, 1);
	wattroff(w, w_attr(R_TITLE));
	int y = 1;
	if (s->data) {
		complete_label(line, sizeof line, s->data, app_now(), w_fmt_age);
		wattron(w, w_attr(R_DIM));
		w_put(w, y++, 0, W, line, 1);
		wattroff(w, w_attr(R_DIM));
	}
	if (s->err[0]) {
		wattron(w, w_attr(s->data ? R_WARN : R_BAD));
		w_put(w, y++, 0, W, s->err, 1);
		wattroff(w, w_attr(s->data ? R_WARN : R_BAD));
	}
	if (!s->data)
		return;
	int r = -1;
	if (!strcmp(s->cmd, "funnel"))
		r = draw_funnel(s, a, w, y, H, W);
	else if (!strcmp(s->cmd, "cohort"))
		r = draw_cohort(s, a, w, y, H, W);
	else if (!strcmp(s->cmd, "revenue"))
		r = draw_rows(cJSON_GetObjectItemCaseSensitive(s->data, "variants"), w, y, H, W);
	else
		r = draw_segments(cJSON_GetObjectItemCaseSensitive(s->data, "segments"), w, y, H, W);
	if (r < 0) {
		for (int i = y; i < H; i++)
			w_put(w, i, 0, W, "", 1);
		draw_json(s, w, y, H, W);
	}
}

static int an_key(view *v, app *a, enum action act, int ch, int is_code)
{
	(void)a, (void)ch, (void)is_code;
	an_st *s = v->st;
	if (act == ACT_UP && s->scroll > 0)
		s->scroll--;
	else if (act == ACT_DOWN)
		s->scroll++;
	else if (act == ACT_FILTER && ch == -1)
		w_copy(s->extra, sizeof s->extra, a->input); /* extra flags */
	else
		return 0;
	if (act == ACT_FILTER)
		an_tick(v, a);
	v->dirty = 1;
	return VF_HANDLED | VF_REDRAW;
}

#define AN_VIEW(var, cmdname, ttl)                                                         \
	static void var##_init(view *v, app *a)                                            \
	{                                                                                  \
		(void)a;                                                                   \
		an_init_cmd(v, cmdname);                                                   \
	}                                                                                  \
	const view_ops var##_ops = {                                                       \
		.name = cmdname,                                                           \
		.title = ttl,                                                              \
		.actions = acts,                                                           \
		.init = var##_init,                                                        \
		.draw = an_draw,                                                           \
		.key = an_key,                                                             \
		.data = an_data,                                                           \
		.tick = an_tick,                                                           \
		.enter = an_enter,                                                         \
		.free = an_free,                                                           \
	};

AN_VIEW(view_funnel, "funnel", "Funnel")
AN_VIEW(view_cohort, "cohort", "Cohorts")
AN_VIEW(view_revenue, "revenue", "Revenue")
AN_VIEW(view_segments, "segments", "Segments")
