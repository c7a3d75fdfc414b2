/* view_exps.c — the home view: every experiment with its users per variant,
 * primary-metric lift and interval, p-values, chance to win, SRM flag,
 * 24-hour traffic sparkline and the age of its statistics (Updated); sort (also by
 * Shift+column letter), filter, drill in.
 *
 * Statistics come from one report per experiment, refreshed in the
 * background so that hundreds of experiments stay cheap: only experiments
 * with users, the selected row first, then the rows on screen, then the
 * rest; never-seen rows before stale ones (but rows on screen older than
 * REP_STALE periods before rows off screen never seen), oldest first; at most
 * REP_INFLIGHT requests out and REP_BUDGET refreshes per tick (first fills
 * are limited only by the in-flight bound). Running experiments are due
 * every refresh period, the others every REP_STILL periods; failures back
 * off. The last numbers stay, with their age. The other views read the list
 * through the view interface (app_exp_find). */
#include "tui.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { C_KEY, C_STATUS, C_AGE, C_USERS, C_SPLIT, C_LIFT, C_CI, C_P, C_PSEQ, C_WIN, C_SRM,
       C_TRAFFIC, C_STATS, C_NCOLS };

/* The sort letters (Shift+letter, underlined in the header) avoid the
 * uppercase keys bound by default (G bottom, I sort-invert, A archive,
 * T theme); a key the user binds to an action keeps its action. */
static const w_col cols[C_NCOLS] = {
	{"Key", 18, W_LEFT, 0, 0, 'K'},	      {"Status", 8, W_LEFT, 0, 0, 'S'},
	{"Age", 4, W_RIGHT, 1, 6, 'E'},	      {"Users", 9, W_RIGHT, 1, 0, 'U'},
	{"Variants", 15, W_LEFT, 0, 8, 'V'},  {"Lift", 7, W_RIGHT, 1, 0, 'L'},
	{"95% CI", 16, W_LEFT, 0, 7, 'C'},    {"p", 8, W_RIGHT, 1, 0, 'P'},
	{"p(seq)", 8, W_RIGHT, 1, 4, 'Q'},    {"Win", 5, W_RIGHT, 1, 3, 'W'},
	{"SRM", 4, W_LEFT, 0, 2, 'R'},	      {"Traffic 24h", 24, W_LEFT, 0, 5, 'F'},
	{"Updated", 7, W_RIGHT, 1, 9, 'D'},
};

#define REP_INFLIGHT 2 /* report requests out at once (background jobs) */
#define REP_BUDGET 8   /* refreshes of already-shown rows started per tick */
#define REP_STILL 10   /* non-running experiments: due every REP_STILL periods */
#define REP_STALE 3    /* rows on screen older than this many periods go first */

/* Where one experiment's statistics stand. */
typedef struct rstat {
	char key[128];
	double at;       /* when the last report arrived (0: never) */
	double retry_at; /* after a failure: not before */
	int inflight;
	int fails;       /* consecutive failures */
} rstat;

typedef struct exps_st {
	w_table t;
	cJSON *data;    /* last J_EXPS result */
	double data_at; /* wall time it arrived */
	int inflight;
	char err[512];
	cJSON *reports; /* key → report JSON (as `neonblue report KEY --json`) */
	rstat *rs;      /* per experiment key, in order of first sight */
	int nrs, caprs;
	int rep_inflight;
	int budget;           /* refreshes still allowed until the next tick */
	int fails;            /* consecutive server failures (all experiments) */
	double rep_off_until; /* ClickHouse failing: no request before */
	int body_rows;        /* table rows on screen at the last draw */
	int n_want, n_have;   /* listed rows with users / of them with numbers */
	double oldest;        /* age of the oldest of those numbers (s) */
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
	s->body_rows = 20;
	v->st = s;
}

static void exps_free(view *v)
{
	exps_st *s = v->st;
	w_table_done(&s->t);
	cJSON_Delete(s->data);
	cJSON_Delete(s->reports);
	free(s->rs);
	free(s);
}

/* The experiment key's JSON in the last list (NULL: not in it). */
static cJSON *list_find(exps_st *s, const char *key)
{
	cJSON *list = cJSON_GetObjectItemCaseSensitive(s->data, "experiments"), *e;
	cJSON_ArrayForEach(e, list)
	{
		cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "key");
		if (cJSON_IsString(k) && !strcmp(k->valuestring, key))
			return e;
	}
	return NULL;
}

/* The find hook of the view interface (app_exp_find): the experiment key's
 * JSON from the list, for the other views. */
static cJSON *exps_find(view *v, const char *key)
{
	return list_find(v->st, key);
}

static rstat *rs_find(exps_st *s, const char *key, int add)
{
	for (int i = 0; i < s->nrs; i++)
		if (!strcmp(s->rs[i].key, key))
			return &s->rs[i];
	if (!add)
		return NULL;
	if (s->nrs == s->caprs) {
		s->caprs = s->caprs ? s->caprs * 2 : 64;
		s->rs = nb_xrealloc(s->rs, (size_t)s->caprs * sizeof *s->rs);
	}
	rstat *r = &s->rs[s->nrs++];
	memset(r, 0, sizeof *r);
	w_copy(r->key, sizeof r->key, key);
	return r;
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
	/* how old the statistics are: "…" while the first report is out */
	const rstat *st = rs_find(s, key, 0);
	if (st && st->at > 0) {
		nv[C_STATS] = app_now() - st->at;
		w_fmt_age(c[C_STATS], sizeof c[0], nv[C_STATS]);
	} else {
		w_copy(c[C_STATS], sizeof c[0],
		       st && st->inflight ? (a->ascii ? "..." : "…") : a->ascii ? "-" : "–");
	}
	if (!strcmp(str(e, "status"), "archived") || !strcmp(str(e, "status"), "stopped"))
		role = role == R_NORMAL ? R_DIM : role;
	const char *cells[C_NCOLS];
	for (int i = 0; i < C_NCOLS; i++)
		cells[i] = c[i];
	w_row *r = w_table_add(&s->t, cells, nv);
	r->role = role;
}

/* The status line's "stats H/W (oldest A)" over the listed (filtered)
 * rows: those with users, of them with numbers, the oldest numbers. */
static void count_stats(exps_st *s)
{
	s->n_want = s->n_have = 0;
	s->oldest = 0;
	for (int i = 0; i < s->t.nvis; i++) {
		const w_row *r = &s->t.rows[s->t.vis[i]];
		if (!(r->num[C_USERS] > 0) || !strcmp(r->cells[C_STATUS], "draft"))
			continue;
		s->n_want++;
		if (!isnan(r->num[C_STATS])) {
			s->n_have++;
			if (r->num[C_STATS] > s->oldest)
				s->oldest = r->num[C_STATS];
		}
	}
}

static void rebuild(exps_st *s, app *a)
{
	w_table_clear(&s->t);
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(s->data, "experiments"))
		fill_row(s, a, e);
	w_table_update(&s->t);
	count_stats(s);
}

/* How urgent a report for the row at vis index i is: 0 the selected row,
 * 1 on screen and never shown, 2 on screen and stale (older than
 * REP_STALE periods), 3 off screen and never shown (so that sorting by a
 * statistic soon covers every row), 4 on screen and due, 5 off screen and
 * due; -1 not wanted now (no users, a draft, in flight, backing off, or
 * fresh enough). */
static int rep_class(exps_st *s, app *a, int i, double now, rstat **out)
{
	w_row *r = &s->t.rows[s->t.vis[i]];
	const char *status = r->cells[C_STATUS];
	if (!strcmp(status, "draft") || !(r->num[C_USERS] > 0))
		return -1;
	rstat *st = rs_find(s, r->cells[C_KEY], 0);
	*out = st;
	if (st && (st->inflight || now < st->retry_at))
		return -1;
	int never = !st || st->at <= 0;
	double period = a->refresh_s > 0 ? a->refresh_s : 5;
	if (strcmp(status, "running"))
		period *= REP_STILL;
	if (!never && now - st->at < period)
		return -1;
	if (i == s->t.sel)
		return 0;
	int on = i >= s->t.top && i < s->t.top + s->body_rows;
	if (never)
		return on ? 1 : 3;
	if (on)
		return now - st->at > REP_STALE * period ? 2 : 4;
	return 5;
}

/* Starts report requests while fewer than REP_INFLIGHT are out: the most
 * urgent row first (then the oldest numbers, then table order). Refreshes
 * of rows that already have numbers spend the per-tick budget. */
static void schedule(exps_st *s, app *a)
{
	double now = app_now();
	if (now < s->rep_off_until)
		return;
	w_table_scroll(&s->t, s->body_rows);
	while (s->rep_inflight < REP_INFLIGHT) {
		int best = -1, best_cls = 99;
		double best_at = 0;
		for (int i = 0; i < s->t.nvis; i++) {
			rstat *st = NULL;
			int cls = rep_class(s, a, i, now, &st);
			double at = st ? st->at : 0;
			if (cls < 0 || (at > 0 && s->budget <= 0)) /* refreshes spend the budget */
				continue;
			if (cls > best_cls || (cls == best_cls && at >= best_at))
				continue;
			best = i, best_cls = cls, best_at = at;
		}
		if (best < 0)
			return;
		s->budget -= best_at > 0;
		w_row *r = &s->t.rows[s->t.vis[best]];
		rstat *st = rs_find(s, r->cells[C_KEY], 1);
		st->inflight = 1;
		job *j = job_new(J_REPORT, V_EXPS);
		w_copy(j->arg, sizeof j->arg, "report");
		w_copy(j->key, sizeof j->key, st->key);
		/* the worker reuses the definition until the experiment changes */
		w_copy(j->tag, sizeof j->tag, str(list_find(s, st->key), "updated_at"));
		j->bg = 1;
		s->rep_inflight++;
		app_submit(a, j);
	}
}

static void exps_tick(view *v, app *a)
{
	exps_st *s = v->st;
	if (!s->inflight) {
		s->inflight = 1;
		app_submit(a, job_new(J_EXPS, V_EXPS));
	}
	s->budget = REP_BUDGET;
	if (s->data)
		rebuild(s, a); /* the ages */
	schedule(s, a);
}

static void report_done(exps_st *s, app *a, job *j)
{
	s->rep_inflight--;
	rstat *st = rs_find(s, j->key, 1);
	st->inflight = 0;
	double now = app_now();
	if (j->rc) {
		snprintf(s->rep_err, sizeof s->rep_err, "report %s: %s", j->key, j->err.msg);
		st->fails++;
		double back = (a->refresh_s > 0 ? a->refresh_s : 5) * (double)(1 << (st->fails < 5 ? st->fails : 5));
		st->retry_at = now + (back < 120 ? back : 120);
		if (j->err.code == NB_ESERVER) {
			/* ClickHouse itself is failing: every experiment waits */
			s->fails++;
			double g = (double)(1 << (s->fails < 5 ? s->fails : 5));
			s->rep_off_until = now + (g < 30 ? g : 30);
		}
	} else {
		cJSON_DeleteItemFromObjectCaseSensitive(s->reports, j->key);
		cJSON_AddItemToObject(s->reports, j->key, j->out);
		j->out = NULL;
		st->at = now;
		st->fails = s->fails = 0;
		st->retry_at = 0;
		s->rep_off_until = 0;
		s->rep_err[0] = '\0';
	}
	rebuild(s, a);
	schedule(s, a);
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
		schedule(s, a);
	} else if (j->kind == J_REPORT) {
		report_done(s, a, j);
	} else if (j->kind == J_CREATE || j->kind == J_TRANSITION || j->kind == J_EDIT) {
		app_manage_result(a, j);
	}
}

static void exps_draw(view *v, app *a, WINDOW *w)
{
	exps_st *s = v->st;
	(void)a;
	int H = getmaxy(w), W = getmaxx(w);
	char line[700], age[16], stats[80] = "";
	w_fmt_age(age, sizeof age, app_now() - s->data_at);
	s->body_rows = H - 3 > 0 ? H - 3 : 0;
	if (s->n_want) {
		char old[16];
		w_fmt_age(old, sizeof old, s->oldest);
		snprintf(stats, sizeof stats, "  stats %d/%d%s%s%s", s->n_have, s->n_want,
			 s->n_have ? " (oldest " : "", s->n_have ? old : "", s->n_have ? ")" : "");
	}
	if (!s->data && s->err[0])
		snprintf(line, sizeof line, "cannot load experiments: %s", s->err);
	else if (!s->data)
		snprintf(line, sizeof line, "loading experiments…");
	else
		snprintf(line, sizeof line, "%d experiments%s%s%s  (data %s old%s)%s%s%s", s->t.nvis,
			 s->t.filter[0] ? "  filter: " : "", s->t.invert ? "!" : "", s->t.filter, age,
			 s->inflight && app_now() - s->data_at > 2 ? ", refreshing…" : "", stats,
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
			schedule(s, a);
		}
		return VF_HANDLED;
	}
	int tk = table_key(a, &s->t, act, ch, is_code, body);
	if (tk) {
		schedule(s, a); /* rows that came into view */
		v->dirty = 1;
		return VF_HANDLED | VF_REDRAW;
	}
	switch (act) {
	case ACT_FILTER:
		if (ch != -1)
			return 0; /* opens the prompt */
		w_table_set_filter(&s->t, a->input);
		count_stats(s);
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
			app_manage(a, key, act, V_EXPS);
		break;
	default:
		return 0;
	}
	schedule(s, a); /* rows that came into view */
	v->dirty = 1;
	return VF_HANDLED | VF_REDRAW;
}

static void exps_enter(view *v, app *a, const char *arg)
{
	(void)arg;
	(void)a;
	v->dirty = 1;
}

/* The help overlay's lines for Shift+column letter, from the columns: the
 * letters in short lines (they fit the two-column overlay at 80 columns). */
static const char *exps_help_extra(view *v)
{
	static char out[512];
	return table_help_extra(&((exps_st *)v->st)->t, out, sizeof out);
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
	.help_extra = exps_help_extra,
	.find = exps_find,
};
