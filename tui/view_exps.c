/* view_exps.c — the home view: every experiment with its users per variant,
 * primary-metric lift and interval, p-values, chance to win, SRM flag and
 * 24-hour traffic sparkline; sort, filter, drill in. */
#include "tui.h"

#include "neonblue/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { C_KEY, C_STATUS, C_AGE, C_USERS, C_SPLIT, C_LIFT, C_CI, C_P, C_PSEQ, C_WIN, C_SRM,
       C_TRAFFIC, C_NCOLS };

static const w_col cols[C_NCOLS] = {
	{"Key", 18, W_LEFT, 0, 0},     {"Status", 8, W_LEFT, 0, 0},  {"Age", 4, W_RIGHT, 1, 6},
	{"Users", 9, W_RIGHT, 1, 0},   {"Split", 15, W_LEFT, 0, 8},  {"Lift", 7, W_RIGHT, 1, 0},
	{"95% CI", 16, W_LEFT, 0, 7},  {"p", 8, W_RIGHT, 1, 0},      {"p(seq)", 8, W_RIGHT, 1, 4},
	{"Win", 5, W_RIGHT, 1, 3},     {"SRM", 4, W_LEFT, 0, 2},     {"Traffic 24h", 24, W_LEFT, 0, 5},
};

typedef struct exps_st {
	w_table t;
	cJSON *data;    /* last J_EXPS result */
	double data_at; /* wall time it arrived */
	int inflight;
	char err[512];
	cJSON *reports; /* key → report JSON (`neonblue report KEY --json`) */
	cJSON *tried;   /* keys whose report was asked for at least once */
	int rep_inflight;
	int rep_next;      /* round-robin position over experiments */
	double rep_off_until; /* report command unavailable: retry later */
	char rep_err[512];
} exps_st;

static const enum action acts[] = {ACT_ENTER, ACT_FILTER, ACT_SORT_NEXT, ACT_SORT_PREV, ACT_SORT_INVERT,
				   ACT_NEW,   ACT_EDIT,   ACT_START,	   ACT_STOP,	ACT_ARCHIVE,
				   ACT_REFRESH, ACT_NONE};

static void exps_init(view *v, app *a)
{
	(void)a;
	exps_st *s = nb_xcalloc(1, sizeof *s);
	w_table_init(&s->t, cols, C_NCOLS);
	s->reports = cJSON_CreateObject();
	s->tried = cJSON_CreateObject();
	v->st = s;
}

static void exps_free(view *v)
{
	exps_st *s = v->st;
	w_table_done(&s->t);
	cJSON_Delete(s->data);
	cJSON_Delete(s->reports);
	cJSON_Delete(s->tried);
	free(s);
}

cJSON *exps_find(app *a, const char *key)
{
	exps_st *s = app_view(a, V_EXPS)->st;
	cJSON *list = cJSON_GetObjectItemCaseSensitive(s->data, "experiments"), *e;
	cJSON_ArrayForEach(e, list)
	{
		cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "key");
		if (cJSON_IsString(k) && !strcmp(k->valuestring, key))
			return e;
	}
	return NULL;
}

cJSON *exps_report(app *a, const char *key)
{
	exps_st *s = app_view(a, V_EXPS)->st;
	return cJSON_GetObjectItemCaseSensitive(s->reports, key);
}

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

/* ISO-8601 UTC → epoch seconds (NaN when empty). */
double iso_epoch(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (!s || !*s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return NAN;
	return (double)timegm(&tm);
}

/* The primary metric's best treatment result in a report (NULL if none). */
const cJSON *report_primary(const cJSON *rep, const cJSON **metric)
{
	const cJSON *ms = cJSON_GetObjectItemCaseSensitive(rep, "metrics"), *m, *pick = NULL;
	cJSON_ArrayForEach(m, ms)
	{
		if (!pick || !strcmp(str(m, "role"), "primary")) {
			if (!pick || strcmp(str(pick, "role"), "primary"))
				pick = m;
		}
	}
	if (metric)
		*metric = pick;
	const cJSON *best = NULL, *r;
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(pick, "results"))
	{
		if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, "lift")))
			continue; /* the control */
		if (!best || num(r, "chance_to_win") > num(best, "chance_to_win"))
			best = r;
	}
	return best;
}

/* SRM from assignment counts and weights; -1 unknown, 0 fine, 1 mismatch. */
int exps_srm(const cJSON *exp, const cJSON *users, double *p_out)
{
	const cJSON *vs = cJSON_GetObjectItemCaseSensitive(exp, "variants"), *v;
	double obs[NB_STATS_BAYES_MAX_ARMS], w[NB_STATS_BAYES_MAX_ARMS], exp_c[NB_STATS_BAYES_MAX_ARMS];
	size_t k = 0;
	double total = 0;
	cJSON_ArrayForEach(v, vs)
	{
		if (k >= NB_STATS_BAYES_MAX_ARMS)
			return -1;
		obs[k] = num(users, str(v, "key"));
		if (isnan(obs[k]))
			obs[k] = 0;
		total += obs[k];
		w[k++] = num(v, "weight");
	}
	if (k < 2 || total < 20)
		return -1;
	nb_stats_srm_out o;
	nb_err err;
	if (nb_stats_srm(obs, w, k, exp_c, &o, &err))
		return -1;
	if (p_out)
		*p_out = o.p_value;
	return o.mismatch;
}

static void fill_row(exps_st *s, app *a, const cJSON *e)
{
	const char *key = str(e, "key");
	const cJSON *users = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(s->data, "users"), key);
	char c[C_NCOLS][160];
	double nv[C_NCOLS];
	for (int i = 0; i < C_NCOLS; i++)
		c[i][0] = '\0', nv[i] = NAN;
	w_copy(c[C_KEY], sizeof c[0], key);
	w_copy(c[C_STATUS], sizeof c[0], str(e, "status"));
	double since = iso_epoch(str(e, "started_at"));
	if (isnan(since))
		since = iso_epoch(str(e, "created_at"));
	nv[C_AGE] = app_now() - since;
	w_fmt_age(c[C_AGE], sizeof c[0], nv[C_AGE]);
	double total = 0;
	size_t o = 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(e, "variants"))
	{
		double n = num(users, str(v, "key"));
		n = isnan(n) ? 0 : n;
		total += n;
		char t[32];
		w_fmt_int(t, sizeof t, (long long)n);
		o += (size_t)snprintf(c[C_SPLIT] + o, o < sizeof c[0] ? sizeof c[0] - o : 0, "%s%s",
				      o ? "/" : "", t);
		if (o >= sizeof c[0])
			break;
	}
	nv[C_USERS] = total;
	w_fmt_int(c[C_USERS], sizeof c[0], (long long)total);
	/* statistics from the report */
	const cJSON *rep = cJSON_GetObjectItemCaseSensitive(s->reports, key);
	const cJSON *best = rep ? report_primary(rep, NULL) : NULL;
	enum w_role role = R_NORMAL;
	int srm = -1;
	if (best) {
		nv[C_LIFT] = num(best, "lift");
		w_fmt_pct(c[C_LIFT], sizeof c[0], nv[C_LIFT], 1);
		const cJSON *ci = cJSON_GetObjectItemCaseSensitive(best, "lift_ci");
		if (cJSON_GetArraySize(ci) == 2 && cJSON_IsNumber(cJSON_GetArrayItem(ci, 0)) &&
		    cJSON_IsNumber(cJSON_GetArrayItem(ci, 1))) {
			double lo = cJSON_GetArrayItem(ci, 0)->valuedouble;
			double hi = cJSON_GetArrayItem(ci, 1)->valuedouble;
			char l[32], h[32];
			w_fmt_pct(l, sizeof l, lo, 1);
			w_fmt_pct(h, sizeof h, hi, 1);
			snprintf(c[C_CI], sizeof c[0], "[%s, %s]", l, h);
		}
		nv[C_P] = num(best, "p_value");
		nv[C_PSEQ] = num(best, "p_value_sequential");
		nv[C_WIN] = num(best, "chance_to_win");
		w_fmt_p(c[C_P], sizeof c[0], nv[C_P]);
		w_fmt_p(c[C_PSEQ], sizeof c[0], nv[C_PSEQ]);
		w_fmt_pct(c[C_WIN], sizeof c[0], nv[C_WIN], 0);
		/* significance by colour and by a symbol in the p column */
		if (nv[C_P] < 0.05) {
			role = nv[C_LIFT] > 0 ? R_GOOD : R_BAD;
			size_t l = strlen(c[C_P]);
			w_copy(c[C_P] + l, sizeof c[0] - l, a->ascii ? "*" : "★");
		}
		const cJSON *sr = cJSON_GetObjectItemCaseSensitive(rep, "srm");
		const cJSON *mm = cJSON_GetObjectItemCaseSensitive(sr, "mismatch");
		if (cJSON_IsBool(mm))
			srm = cJSON_IsTrue(mm);
	} else {
		for (int i = C_LIFT; i <= C_WIN; i++)
			w_copy(c[i], sizeof c[0], i == C_CI ? "" : a->ascii ? "-" : "–");
	}
	if (srm < 0)
		srm = exps_srm(e, users, NULL);
	snprintf(c[C_SRM], sizeof c[0], "%s",
		 srm == 1 ? (a->ascii ? "!!" : "✗ !") : srm == 0 ? "ok" : a->ascii ? "-" : "–");
	if (srm == 1)
		role = R_WARN;
	const cJSON *tr = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(s->data, "traffic"), key);
	double series[24] = {0};
	for (int i = 0; i < 24; i++) {
		const cJSON *it = cJSON_GetArrayItem(tr, i);
		series[i] = cJSON_IsNumber(it) ? it->valuedouble : 0;
	}
	w_spark_str(c[C_TRAFFIC], sizeof c[0], series, 24, 24);
	if (!strcmp(str(e, "status"), "archived") || !strcmp(str(e, "status"), "stopped"))
		role = role == R_NORMAL ? R_DIM : role;
	const char *cells[C_NCOLS];
	for (int i = 0; i < C_NCOLS; i++)
		cells[i] = c[i];
	w_row *r = w_table_add(&s->t, cells, nv);
	r->role = role;
}

static void rebuild(exps_st *s, app *a)
{
	w_table_clear(&s->t);
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(s->data, "experiments"))
		fill_row(s, a, e);
	w_table_update(&s->t);
}

/* Asks for the report of one listed (filtered) experiment with traffic:
 * first those never asked for, else the next round robin. One child process
 * at a time; `chase` only looks at the never-asked ones, so a refill after a
 * result does not turn into a busy loop. */
static void request_report(exps_st *s, app *a, int chase)
{
	if (s->rep_inflight || app_now() < s->rep_off_until || s->t.nvis == 0)
		return;
	w_row *pick = NULL;
	for (int pass = 0; pass < (chase ? 1 : 2) && !pick; pass++)
		for (int tries = 0; tries < s->t.nvis && !pick; tries++) {
			w_row *r = &s->t.rows[s->t.vis[s->rep_next++ % s->t.nvis]];
			const char *st = r->cells[C_STATUS];
			if (!strcmp(st, "draft") || !strcmp(st, "archived"))
				continue;
			if (pass == 0 && cJSON_HasObjectItem(s->tried, r->cells[C_KEY]))
				continue;
			pick = r;
		}
	if (!pick)
		return;
	job *j = job_new(J_REPORT, V_EXPS);
	w_copy(j->arg, sizeof j->arg, "report");
	w_copy(j->key, sizeof j->key, pick->cells[C_KEY]);
	if (!cJSON_HasObjectItem(s->tried, j->key))
		cJSON_AddTrueToObject(s->tried, j->key);
	s->rep_inflight = 1;
	app_submit(a, j);
}

static void exps_tick(view *v, app *a)
{
	exps_st *s = v->st;
	if (!s->inflight) {
		s->inflight = 1;
		app_submit(a, job_new(J_EXPS, V_EXPS));
	}
	request_report(s, a, 0);
}

static void exps_data(view *v, app *a, job *j)
{
	exps_st *s = v->st;
	if (j->kind == J_EXPS) {
		s->inflight = 0;
		if (j->rc) {
			w_copy(s->err, sizeof s->err, j->err.msg);
			return; /* keep the last data; the header shows the age */
		}
		s->err[0] = '\0';
		cJSON_Delete(s->data);
		s->data = j->out;
		j->out = NULL;
		s->data_at = app_now();
		rebuild(s, a);
		request_report(s, a, 1);
	} else if (j->kind == J_REPORT) {
		s->rep_inflight = 0;
		if (j->rc) {
			snprintf(s->rep_err, sizeof s->rep_err, "report %s: %s", j->key, j->err.msg);
			if (strstr(j->err.msg, "unknown command"))
				s->rep_off_until = app_now() + 60;
		} else {
			cJSON_DeleteItemFromObjectCaseSensitive(s->reports, j->key);
			cJSON_AddItemToObject(s->reports, j->key, j->out);
			j->out = NULL;
			s->rep_err[0] = '\0';
			rebuild(s, a);
		}
		/* fill in the experiments never asked for (one child at a time) */
		request_report(s, a, 1);
	} else if (j->kind == J_CREATE || j->kind == J_TRANSITION || j->kind == J_EDIT) {
		manage_result(a, j);
	}
}

static void exps_draw(view *v, app *a, WINDOW *w)
{
	exps_st *s = v->st;
	(void)a;
	int H = getmaxy(w), W = getmaxx(w);
	char line[700], age[16];
	w_fmt_age(age, sizeof age, app_now() - s->data_at);
	if (!s->data && s->err[0])
		snprintf(line, sizeof line, "cannot load experiments: %s", s->err);
	else if (!s->data)
		snprintf(line, sizeof line, "loading experiments…");
	else
		snprintf(line, sizeof line, "%d experiments%s%s%s  (data %s old%s)%s%s", s->t.nvis,
			 s->t.filter[0] ? "  filter: " : "", s->t.invert ? "!" : "", s->t.filter, age,
			 s->inflight && app_now() - s->data_at > 2 ? ", refreshing…" : "",
			 s->err[0] ? "  last refresh failed: " : "", s->err);
	wattron(w, s->err[0] ? w_attr(R_WARN) : w_attr(R_DIM));
	w_put(w, 0, 0, W, line, 1);
	wattroff(w, s->err[0] ? w_attr(R_WARN) : w_attr(R_DIM));
	w_table_draw(&s->t, w, 1, 0, H - 2, W);
	if (s->rep_err[0] && H > 3) {
		wattron(w, w_attr(R_DIM));
		w_put(w, H - 1, 0, W, s->rep_err, 1);
		wattroff(w, w_attr(R_DIM));
	}
}

static const char *selected_key(exps_st *s)
{
	w_row *r = w_table_selected(&s->t);
	return r ? r->cells[C_KEY] : NULL;
}

static int exps_key(view *v, app *a, enum action act, int ch, int is_code)
{
	exps_st *s = v->st;
	int body = getmaxy(a->body ? a->body : stdscr) - 3;
	const char *key = selected_key(s);
	if (act == ACT_NONE && is_code == -1) {
		/* a click on body row ch: rows start under the status line and header */
		int idx = s->t.top + ch - 2;
		if (ch >= 2 && idx < s->t.nvis) {
			w_table_move(&s->t, idx - s->t.sel);
			v->dirty = 1;
		}
		return VF_HANDLED;
	}
	switch (act) {
	case ACT_UP:
		w_table_move(&s->t, -1);
		break;
	case ACT_DOWN:
		w_table_move(&s->t, 1);
		break;
	case ACT_PGUP:
		w_table_move(&s->t, -body);
		break;
	case ACT_PGDN:
		w_table_move(&s->t, body);
		break;
	case ACT_TOP:
		w_table_home(&s->t);
		break;
	case ACT_BOTTOM:
		w_table_end(&s->t);
		break;
	case ACT_FILTER:
		if (ch != -1)
			return 0; /* opens the prompt */
		w_table_set_filter(&s->t, a->input);
		break;
	case ACT_SORT_NEXT:
	case ACT_SORT_PREV: {
		int d = act == ACT_SORT_NEXT ? 1 : -1;
		int c = s->t.sort_col < 0 ? (d > 0 ? 0 : C_NCOLS - 1)
					  : (s->t.sort_col + d + C_NCOLS) % C_NCOLS;
		w_table_sort(&s->t, c);
		app_message(a, 0, "sorted by %s%s", cols[c].title, s->t.sort_desc ? " (descending)" : "");
		break;
	}
	case ACT_SORT_INVERT:
		if (s->t.sort_col >= 0)
			w_table_sort(&s->t, s->t.sort_col);
		break;
	case ACT_ENTER:
		if (!key)
			return VF_HANDLED;
		w_copy(a->selected_exp, sizeof a->selected_exp, key);
		app_open(a, V_DETAIL, key);
		break;
	case ACT_NEW:
		app_open(a, V_MANAGE, NULL);
		break;
	case ACT_EDIT:
	case ACT_START:
	case ACT_STOP:
	case ACT_ARCHIVE:
		if (key)
			manage_action(a, key, act, V_EXPS);
		break;
	default:
		return 0;
	}
	v->dirty = 1;
	return VF_HANDLED | VF_REDRAW;
}

static void exps_enter(view *v, app *a, const char *arg)
{
	(void)arg;
	(void)a;
	v->dirty = 1;
}

const view_ops view_exps_ops = {
	.name = "experiments",
	.title = "Experiments",
	.actions = acts,
	.init = exps_init,
	.draw = exps_draw,
	.key = exps_key,
	.data = exps_data,
	.tick = exps_tick,
	.enter = exps_enter,
	.free = exps_free,
};
