/* view_detail.c — one experiment: variants with users and SRM verdict,
 * hourly traffic sparklines, and per metric the report's table (rate/mean,
 * lift with an interval plot around zero, p-values, chance to win, expected
 * loss), power and the recommendation; `m` switches metric. */
#include "tui.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct detail_st {
	char key[128];
	cJSON *data; /* J_DETAIL */
	double data_at;
	cJSON *report; /* J_REPORT (computed in-process by the worker) */
	double report_at;
	char err[512], rep_err[512];
	int inflight, rep_inflight;
	int metric;
	int scroll;
} detail_st;

static const enum action acts[] = {ACT_METRIC, ACT_EDIT,	ACT_START, ACT_STOP, ACT_ARCHIVE,
				   ACT_REFRESH, ACT_BACK, ACT_NONE};

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

static void detail_init(view *v, app *a)
{
	(void)a;
	v->st = nb_xcalloc(1, sizeof(detail_st));
}

static void detail_free(view *v)
{
	detail_st *s = v->st;
	cJSON_Delete(s->data);
	cJSON_Delete(s->report);
	free(s);
}

static void request(detail_st *s, app *a)
{
	if (!s->key[0])
		return;
	if (!s->inflight) {
		job *j = job_new(J_DETAIL, V_DETAIL);
		w_copy(j->key, sizeof j->key, s->key);
		s->inflight = 1;
		app_submit(a, j);
	}
	if (!s->rep_inflight) {
		job *j = job_new(J_REPORT, V_DETAIL);
		w_copy(j->key, sizeof j->key, s->key);
		snprintf(j->arg, sizeof j->arg, "report");
		s->rep_inflight = 1;
		app_submit(a, j);
	}
}

static void detail_enter(view *v, app *a, const char *arg)
{
	detail_st *s = v->st;
	const char *k = arg && *arg ? arg : a->selected_exp;
	if (k[0] && strcmp(k, s->key)) {
		w_copy(s->key, sizeof s->key, k);
		cJSON_Delete(s->data);
		cJSON_Delete(s->report);
		s->data = s->report = NULL;
		s->err[0] = s->rep_err[0] = '\0';
		s->metric = 0;
		/* requests for the previous experiment still queued are dropped */
		if (a->wk) {
			worker_cancel(a->wk, V_DETAIL, J_DETAIL, s->key);
			worker_cancel(a->wk, V_DETAIL, J_REPORT, s->key);
		}
	}
	request(s, a);
	v->dirty = 1;
}

static void detail_tick(view *v, app *a)
{
	request(v->st, a);
}

static void detail_data(view *v, app *a, job *j)
{
	detail_st *s = v->st;
	if (j->kind == J_CREATE || j->kind == J_TRANSITION || j->kind == J_EDIT) {
		app_manage_result(a, j);
		request(s, a);
		return;
	}
	int mine = !strcmp(j->key, s->key);
	if (j->kind == J_DETAIL) {
		s->inflight = 0;
		if (!mine) {
			request(s, a);
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
	} else if (j->kind == J_REPORT) {
		s->rep_inflight = 0;
		if (!mine) {
			request(s, a);
			return;
		}
		if (j->rc) {
			w_copy(s->rep_err, sizeof s->rep_err, j->err.msg);
			return;
		}
		s->rep_err[0] = '\0';
		cJSON_Delete(s->report);
		s->report = j->out;
		j->out = NULL;
		s->report_at = app_now();
	}
}

/* Variants: weight, users, expected share, hourly sparkline; SRM verdict. */
static int draw_variants(detail_st *s, app *a, WINDOW *w, int y, int W)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(s->data, "experiment");
	const cJSON *users = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(s->data, "users"), s->key);
	const cJSON *traffic = cJSON_GetObjectItemCaseSensitive(s->data, "traffic");
	double total = 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(e, "variants"))
	{
		double n = num(users, str(v, "key"));
		total += isnan(n) ? 0 : n;
	}
	wattron(w, w_attr(R_TITLE));
	char hdr[200];
	snprintf(hdr, sizeof hdr, "%-16s %7s %11s %7s  %s", "Variant", "Weight", "Users", "Share",
		 "Assignments/h (24h)");
	w_put(w, y++, 0, W, hdr, 1);
	wattroff(w, w_attr(R_TITLE));
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(e, "variants"))
	{
		double n = num(users, str(v, "key"));
		n = isnan(n) ? 0 : n;
		char wt[16], u[32], sh[16], line[200];
		w_fmt_pct(wt, sizeof wt, num(v, "weight"), 1);
		w_fmt_int(u, sizeof u, (long long)n);
		w_fmt_pct(sh, sizeof sh, total > 0 ? n / total : NAN, 1);
		size_t o = 0;
		line[0] = '\0';
		const char *cells[4] = {str(v, "key"), wt, u, sh};
		static const int widths[4] = {16, 7, 11, 7};
		for (int k = 0; k < 4; k++) {
			w_cat_cell(line, sizeof line, &o, cells[k], widths[k], k ? W_RIGHT : W_LEFT);
			w_cat_cell(line, sizeof line, &o, " ", 1, W_LEFT);
		}
		w_cat_cell(line, sizeof line, &o, " ", 1, W_LEFT);
		w_put(w, y, 0, W, line, 1);
		const cJSON *tr = cJSON_GetObjectItemCaseSensitive(traffic, str(v, "key"));
		double series[24] = {0};
		for (int i = 0; i < 24; i++) {
			const cJSON *it = cJSON_GetArrayItem(tr, i);
			series[i] = cJSON_IsNumber(it) ? it->valuedouble : 0;
		}
		int x = w_strwidth(line);
		if (x + 24 <= W)
			w_sparkline(w, y, x, 24, series, 24);
		y++;
	}
	double p = NAN;
	int srm = exps_srm(e, users, &p);
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(s->report, "srm");
	if (total >= 20 && rs && cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(rs, "mismatch"))) {
		srm = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rs, "mismatch"));
		p = num(rs, "p_value");
	}
	char line[200], ps[32];
	w_fmt_p(ps, sizeof ps, p);
	snprintf(line, sizeof line, "SRM: %s (χ² p = %s)",
		 srm == 1   ? (a->ascii ? "!! MISMATCH - do not trust the results" : "✗ MISMATCH — do not trust the results")
		 : srm == 0 ? (a->ascii ? "ok" : "✓ ok")
			    : "not enough users yet",
		 ps);
	if (a->ascii)
		snprintf(line, sizeof line, "SRM: %s (chi2 p = %s)",
			 srm == 1 ? "!! MISMATCH - do not trust the results"
			 : srm == 0 ? "ok" : "not enough users yet", ps);
	enum w_role r = srm == 1 ? R_BAD : srm == 0 ? R_GOOD : R_DIM;
	wattron(w, w_attr(r));
	w_put(w, y++, 0, W, line, 1);
	wattroff(w, w_attr(r));
	return y;
}

/* The metric table of the report, with interval plots around zero. */
static int draw_metric(detail_st *s, app *a, WINDOW *w, int y, int H, int W)
{
	const cJSON *ms = cJSON_GetObjectItemCaseSensitive(s->report, "metrics");
	int nm = cJSON_GetArraySize(ms);
	if (nm == 0) {
		wattron(w, w_attr(R_DIM));
		w_put(w, y++, 0, W, s->rep_err[0] ? s->rep_err : "waiting for the report…", 1);
		wattroff(w, w_attr(R_DIM));
		return y;
	}
	if (s->metric >= nm)
		s->metric = 0;
	const cJSON *m = cJSON_GetArrayItem(ms, s->metric);
	char line[400];
	snprintf(line, sizeof line, "Metric %d/%d: %s (%s, %s)   m: next metric", s->metric + 1, nm,
		 str(m, "key"), str(m, "kind"), str(m, "role"));
	wattron(w, w_attr(R_TITLE));
	w_put(w, y++, 0, W, line, 1);
	wattroff(w, w_attr(R_TITLE));
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(m, "results"), *r;
	/* a common scale for the interval plots */
	double span = 0;
	cJSON_ArrayForEach(r, res)
	{
		const cJSON *ci = cJSON_GetObjectItemCaseSensitive(r, "lift_ci");
		for (int i = 0; i < 2; i++) {
			const cJSON *b = cJSON_GetArrayItem(ci, i);
			if (cJSON_IsNumber(b) && fabs(b->valuedouble) > span)
				span = fabs(b->valuedouble);
		}
	}
	span = span > 0 ? span * 1.1 : 0.1;
	int plot = W - 108; /* the interval plot takes what the table (107) leaves */
	if (plot > 40)
		plot = 40;
	snprintf(line, sizeof line, "%-12s %10s %10s %9s %8s %-18s %9s %8s %5s %8s", "Variant",
		 "Users", "Count", "Mean", "Lift", "95% CI", "p ", "p(seq)", "Win", "Loss");
	wattron(w, w_attr(R_TITLE));
	w_put(w, y, 0, W, line, 1);
	if (plot >= 12) {
		char sc[64];
		w_fmt_pct(sc, sizeof sc, span, 0);
		char t[80];
		snprintf(t, sizeof t, "lift ±%s", sc);
		w_put(w, y, 108, plot, t, 1);
	}
	wattroff(w, w_attr(R_TITLE));
	y++;
	cJSON_ArrayForEach(r, res)
	{
		if (y >= H - 2)
			break;
		char u[32], c[32], mean[32], lift[32], ci[40] = "", p[16], ps[16], win[16], loss[32];
		w_fmt_int(u, sizeof u, (long long)num(r, "users"));
		w_fmt_num(c, sizeof c, num(r, "count"), 0);
		w_fmt_num(mean, sizeof mean, num(r, "mean"), 4);
		w_fmt_pct(lift, sizeof lift, num(r, "lift"), 2);
		const cJSON *cj = cJSON_GetObjectItemCaseSensitive(r, "lift_ci");
		double lo = NAN, hi = NAN;
		if (cJSON_IsNumber(cJSON_GetArrayItem(cj, 0)) && cJSON_IsNumber(cJSON_GetArrayItem(cj, 1))) {
			lo = cJSON_GetArrayItem(cj, 0)->valuedouble;
			hi = cJSON_GetArrayItem(cj, 1)->valuedouble;
			char l[16], h[16];
			w_fmt_pct(l, sizeof l, lo, 1);
			w_fmt_pct(h, sizeof h, hi, 1);
			snprintf(ci, sizeof ci, "[%s, %s]", l, h);
		}
		double pv = num(r, "p_value");
		w_fmt_p(p, sizeof p, pv);
		w_fmt_p(ps, sizeof ps, num(r, "p_value_sequential"));
		w_fmt_pct(win, sizeof win, num(r, "chance_to_win"), 0);
		w_fmt_num(loss, sizeof loss, num(r, "expected_loss"), 5);
		char pv_s[24];
		snprintf(pv_s, sizeof pv_s, "%s%s", p, pv < 0.05 ? (a->ascii ? "*" : "★") : " ");
		const char *cells[10] = {str(r, "variant"), u, c, mean, lift, ci, pv_s, ps, win, loss};
		static const int widths[10] = {12, 10, 10, 9, 8, 18, 9, 8, 5, 8};
		size_t o = 0;
		line[0] = '\0';
		for (int k = 0; k < 10; k++) {
			w_cat_cell(line, sizeof line, &o, cells[k], widths[k], k == 0 || k == 5 ? W_LEFT : W_RIGHT);
			w_cat_cell(line, sizeof line, &o, " ", 1, W_LEFT);
		}
		enum w_role role = pv < 0.05 ? (num(r, "lift") > 0 ? R_GOOD : R_BAD) : R_NORMAL;
		wattron(w, w_attr(role));
		w_put(w, y, 0, W - (plot >= 12 ? plot + 1 : 0), line, 1);
		wattroff(w, w_attr(role));
		if (plot >= 12 && !isnan(lo))
			w_interval(w, y, 108, plot, lo, num(r, "lift"), hi, span);
		y++;
	}
	/* power: fields of the metric (power_reached, users_needed) */
	double reached = num(m, "power_reached"), needed = num(m, "users_needed");
	if (!isnan(reached) && y < H - 2) {
		char a1[32], a2[32];
		w_fmt_pct(a1, sizeof a1, reached, 0);
		w_fmt_int(a2, sizeof a2, (long long)needed);
		snprintf(line, sizeof line, "Power reached %s for the planned effect; users still needed %s",
			 a1, isnan(needed) ? (a->ascii ? "-" : "–") : a2);
		w_put(w, y++, 0, W, line, 1);
	}
	return y;
}

static void draw_recommendation(detail_st *s, WINDOW *w, int y, int W)
{
	const cJSON *rec = cJSON_GetObjectItemCaseSensitive(s->report, "recommendation");
	const char *t = cJSON_IsString(rec) ? rec->valuestring : NULL;
	if (!t && cJSON_IsObject(rec)) {
		t = str(rec, "text");
		if (!*t)
			t = str(rec, "action");
	}
	if (!t || !*t)
		return;
	char line[800], need[32] = "";
	const char *why = str(s->report, "reason");
	double un = num(s->report, "users_needed");
	if (un > 0)
		w_fmt_int(need, sizeof need, (long long)un);
	snprintf(line, sizeof line, "Recommendation: %s%s%s%s%s", t, *why ? " — " : "", why,
		 *need ? "; users still needed: " : "", need);
	wattron(w, w_attr(R_ACCENT));
	w_put(w, y, 0, W, line, 1);
	wattroff(w, w_attr(R_ACCENT));
}

/* Layer, range and holdout (docs/layers.md); when the experiment is in a
 * layer, the layer's occupancy bar and who holds which range. */
static int draw_layer(detail_st *s, app *a, WINDOW *w, int y, int W)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(s->data, "experiment");
	const cJSON *ns = cJSON_GetObjectItemCaseSensitive(e, "namespace");
	const cJSON *ho = cJSON_GetObjectItemCaseSensitive(e, "holdout");
	char line[800];
	size_t o = 0;
	if (cJSON_GetArraySize(ns) == 3)
		o = (size_t)snprintf(line, sizeof line, "Layer: %s [%g, %g)",
				     cJSON_GetStringValue(cJSON_GetArrayItem(ns, 0)),
				     cJSON_GetNumberValue(cJSON_GetArrayItem(ns, 1)),
				     cJSON_GetNumberValue(cJSON_GetArrayItem(ns, 2)));
	else
		o = (size_t)snprintf(line, sizeof line, "Layer: none");
	snprintf(line + o, sizeof line - o, "   Holdout: %s",
		 cJSON_IsString(ho) ? ho->valuestring : "none");
	w_put(w, y++, 0, W, line, 1);
	const cJSON *layer = cJSON_GetObjectItemCaseSensitive(s->data, "layer");
	if (!layer)
		return y;
	char bar[2048];
	int bw = W - 12 < 50 ? W - 12 : 50;
	if (bw < 10)
		return y;
	double free_share = layer_bar(bar, sizeof bar, layer, s->key, bw, a->ascii);
	snprintf(line, sizeof line, "  |%s| %.0f%% free", bar, free_share * 100);
	w_put(w, y++, 0, W, line, 1);
	o = (size_t)snprintf(line, sizeof line, "  ");
	const cJSON *x;
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(layer, "experiments"))
	{
		if (o >= sizeof line - 1)
			break;
		const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "key"));
		o += (size_t)snprintf(line + o, sizeof line - o, "%s%s [%g, %g)  ",
				      k && !strcmp(k, s->key) ? "*" : "", k ? k : "?",
				      cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(x, "start")),
				      cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(x, "end")));
	}
	wattron(w, w_attr(R_DIM));
	w_put(w, y++, 0, W, line, 1);
	wattroff(w, w_attr(R_DIM));
	return y;
}

static void detail_draw(view *v, app *a, WINDOW *w)
{
	detail_st *s = v->st;
	int H = getmaxy(w), W = getmaxx(w);
	if (!s->key[0]) {
		w_put(w, 0, 0, W, "No experiment selected: pick one in Experiments (1) and press Enter, or :exp KEY", 1);
		return;
	}
	if (!s->data) {
		w_put(w, 0, 0, W, s->err[0] ? s->err : "loading…", 1);
		return;
	}
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(s->data, "experiment");
	char line[800], age[16], started[16];
	w_fmt_age(age, sizeof age, app_now() - s->data_at);
	double t0 = iso_epoch(str(e, "started_at"));
	int started_yet = !isnan(t0);
	w_fmt_age(started, sizeof started,
		  app_now() - (started_yet ? t0 : iso_epoch(str(e, "created_at"))));
	snprintf(line, sizeof line, "%s — %s   [%s]   %s %s   coverage %.0f%%   v%.0f   (data %s old)",
		 s->key, str(e, "name"), str(e, "status"), started_yet ? "started" : "created",
		 started, num(e, "coverage") * 100, num(e, "version"), age);
	wattron(w, w_attr(R_TITLE));
	w_put(w, 0, 0, W, line, 1);
	wattroff(w, w_attr(R_TITLE));
	int y = 1;
	if (s->report) { /* the report's document says how complete its data is */
		complete_label(line, sizeof line, s->report, app_now(), w_fmt_age);
		wattron(w, w_attr(R_DIM));
		w_put(w, y++, 0, W, line, 1);
		wattroff(w, w_attr(R_DIM));
	}
	if (str(e, "hypothesis")[0]) {
		snprintf(line, sizeof line, "Hypothesis: %s", str(e, "hypothesis"));
		w_put(w, y++, 0, W, line, 1);
	}
	if (s->err[0]) {
		wattron(w, w_attr(R_WARN));
		snprintf(line, sizeof line, "refresh failed (showing data %s old): %s", age, s->err);
		w_put(w, y++, 0, W, line, 1);
		wattroff(w, w_attr(R_WARN));
	}
	y = draw_layer(s, a, w, y, W);
	y = draw_variants(s, a, w, y + 1, W);
	y = draw_metric(s, a, w, y + 1, H, W);
	if (y < H - 1)
		draw_recommendation(s, w, y + (y < H - 2), W);
	/* last audit entry: who changed it */
	const cJSON *audit = cJSON_GetObjectItemCaseSensitive(s->data, "audit");
	int na = cJSON_GetArraySize(audit);
	if (na > 0 && H > 12) {
		const cJSON *last = cJSON_GetArrayItem(audit, na - 1);
		snprintf(line, sizeof line, "Last change: %s by %s at %s (%d in audit log)",
			 str(last, "action"), str(last, "actor"), str(last, "at"), na);
		wattron(w, w_attr(R_DIM));
		w_put(w, H - 1, 0, W, line, 1);
		wattroff(w, w_attr(R_DIM));
	}
}

static int detail_key(view *v, app *a, enum action act, int ch, int is_code)
{
	(void)ch, (void)is_code;
	detail_st *s = v->st;
	switch (act) {
	case ACT_METRIC:
		s->metric++;
		break;
	case ACT_EDIT:
	case ACT_START:
	case ACT_STOP:
	case ACT_ARCHIVE:
		if (s->key[0])
			app_manage(a, s->key, act, V_DETAIL);
		break;
	case ACT_FILTER:
		return ch == -1 ? VF_HANDLED : 0;
	default:
		return 0;
	}
	v->dirty = 1;
	return VF_HANDLED | VF_REDRAW;
}

const view_ops view_detail_ops = {
	.name = "detail",
	.title = "Detail",
	.actions = acts,
	.init = detail_init,
	.draw = detail_draw,
	.key = detail_key,
	.data = detail_data,
	.tick = detail_tick,
	.enter = detail_enter,
	.free = detail_free,
};
