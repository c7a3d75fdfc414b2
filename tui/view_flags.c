/* view_flags.c — the feature flags (docs/flags.md): each flag's state, type,
 * rollout percentage, rules, default value and last change; the selected
 * flag's rules below the table; the kill switch (`o`) behind a confirmation
 * naming the flag and what users will get. Sort (also by Shift+column
 * letter), filter. The switch is a write: hidden and refused with
 * --read-only. */
#include "tui.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { F_KEY, F_STATE, F_TYPE, F_ROLLOUT, F_RULES, F_DEFAULT, F_VERSION, F_CHANGED, F_NCOLS };

/* Sort letters avoid the uppercase keys bound by default (G, I, A, T). */
static const w_col cols[F_NCOLS] = {
	{"Key", 18, W_LEFT, 0, 0, 'K'},	    {"State", 5, W_LEFT, 0, 0, 'S'},
	{"Type", 7, W_LEFT, 0, 4, 'Y'},	    {"Rollout", 7, W_RIGHT, 1, 0, 'R'},
	{"Rules", 16, W_LEFT, 0, 3, 'U'},   {"Default", 10, W_LEFT, 0, 2, 'D'},
	{"Ver", 4, W_RIGHT, 1, 5, 'V'},	    {"Changed", 7, W_RIGHT, 1, 1, 'C'},
};

typedef struct flags_st {
	w_table t;
	cJSON *data;    /* last J_FLAGS result: an array of nb_flag_to_json */
	double data_at; /* wall time it arrived */
	int inflight;
	char err[512];
} flags_st;

static const enum action acts[] = {ACT_TOGGLE, ACT_FILTER, ACT_SORT_NEXT, ACT_SORT_PREV,
				   ACT_SORT_INVERT, ACT_REFRESH, ACT_NONE};

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A JSON value in one line (strings with their quotes, as in docs/flags.md). */
static void json_line(char *out, size_t n, const cJSON *v)
{
	char *s = v ? cJSON_PrintUnformatted(v) : NULL;
	w_copy(out, n, s ? s : "null");
	free(s);
}

/* The first rollout rule, or NULL. */
static const cJSON *first_rollout(const cJSON *f)
{
	const cJSON *r;
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(f, "rules"))
	{
		if (!strcmp(jstr(r, "type"), "rollout"))
			return r;
	}
	return NULL;
}

/* "force, rollout, experiment" (kinds in the flag's order) or "none". */
static void rule_kinds(char *out, size_t n, const cJSON *f)
{
	size_t o = 0;
	out[0] = '\0';
	const cJSON *r;
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(f, "rules"))
	{
		const char *k = jstr(r, "type");
		int w = snprintf(out + o, n - o, "%s%s", o ? ", " : "", !strcmp(k, "experiment") ? "exp" : k);
		if (w < 0 || (size_t)w >= n - o)
			break;
		o += (size_t)w;
	}
	if (!o)
		w_copy(out, n, "none");
}

static void rebuild(flags_st *s)
{
	w_table_clear(&s->t);
	const cJSON *f;
	double now = app_now();
	cJSON_ArrayForEach(f, s->data)
	{
		char rollout[16] = "–", rules[128], def[128], ver[16] = "", changed[16] = "–";
		const cJSON *ro = first_rollout(f);
		double cov = ro ? jnum(ro, "coverage") : NAN;
		if (!isnan(cov))
			w_fmt_pct(rollout, sizeof rollout, cov, cov * 100 == floor(cov * 100) ? 0 : 1);
		rule_kinds(rules, sizeof rules, f);
		json_line(def, sizeof def, cJSON_GetObjectItemCaseSensitive(f, "default_value"));
		double v = jnum(f, "version"), up = iso_epoch(jstr(f, "updated_at"));
		if (!isnan(v))
			snprintf(ver, sizeof ver, "%.0f", v);
		if (!isnan(up))
			w_fmt_age(changed, sizeof changed, now - up);
		int on = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "enabled"));
		const char *cells[F_NCOLS] = {jstr(f, "key"), on ? "on" : "OFF", jstr(f, "type"), rollout,
					      rules, def, ver, changed};
		double num[F_NCOLS] = {NAN, NAN, NAN, cov, NAN, NAN, v, isnan(up) ? NAN : now - up};
		w_row *row = w_table_add(&s->t, cells, num);
		row->role = on ? R_NORMAL : R_WARN;
		row->ud = (void *)f;
	}
	w_table_update(&s->t);
}

static void flags_init(view *v, app *a)
{
	(void)a;
	flags_st *s = nb_xcalloc(1, sizeof *s);
	w_table_init(&s->t, cols, F_NCOLS);
	v->st = s;
}

static void flags_free(view *v)
{
	flags_st *s = v->st;
	w_table_done(&s->t);
	cJSON_Delete(s->data);
	free(s);
}

static void flags_tick(view *v, app *a)
{
	flags_st *s = v->st;
	if (!s->inflight) {
		s->inflight = 1;
		app_submit(a, job_new(J_FLAGS, V_FLAGS));
	}
	if (s->data)
		rebuild(s); /* the ages */
	v->dirty = 1;
}

static void flags_enter(view *v, app *a, const char *arg)
{
	(void)arg;
	flags_tick(v, a);
}

static void flags_data(view *v, app *a, job *j)
{
	flags_st *s = v->st;
	if (j->kind == J_FLAGS) {
		s->inflight = 0;
		if (j->rc) {
			w_copy(s->err, sizeof s->err, j->err.msg);
		} else {
			s->err[0] = '\0';
			cJSON_Delete(s->data);
			s->data = j->out;
			j->out = NULL;
			s->data_at = app_now();
			rebuild(s);
		}
	} else if (j->kind == J_FLAG_SET) {
		if (j->rc)
			app_message(a, 1, "flag %s not turned %s: %s", j->key, j->arg, j->err.msg);
		else
			app_message(a, 0, "flag %s is %s", j->key, j->arg);
		flags_tick(v, a);
	}
	v->dirty = 1;
}

/* One line per rule of the selected flag, under the table. */
static int draw_rules(const cJSON *f, WINDOW *w, int y, int H, int W)
{
	char line[1024], val[256], cond[256];
	int on = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "enabled"));
	json_line(val, sizeof val, cJSON_GetObjectItemCaseSensitive(f, "default_value"));
	snprintf(line, sizeof line, "%s  %s%s%s", jstr(f, "key"),
		 on ? "on: the first rule that applies decides, else the default "
		    : "OFF: every user gets the default ",
		 val, jstr(f, "description")[0] ? "  — " : "");
	size_t o = strlen(line);
	snprintf(line + o, sizeof line - o, "%s", jstr(f, "description"));
	wattron(w, w_attr(R_TITLE));
	w_put(w, y++, 0, W, line, 1);
	wattroff(w, w_attr(R_TITLE));
	int i = 0;
	const cJSON *r;
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(f, "rules"))
	{
		if (y >= H)
			break;
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(r, "condition");
		if (c && !cJSON_IsNull(c))
			json_line(cond, sizeof cond, c);
		else
			w_copy(cond, sizeof cond, "everyone");
		const char *k = jstr(r, "type");
		if (!strcmp(k, "experiment")) {
			json_line(val, sizeof val, cJSON_GetObjectItemCaseSensitive(r, "variations"));
			snprintf(line, sizeof line, " %d. experiment %s  if %s  → variant: %s", i + 1,
				 jstr(r, "experiment"), cond, val);
		} else if (!strcmp(k, "rollout")) {
			char pct[16];
			w_fmt_pct(pct, sizeof pct, jnum(r, "coverage"), 1);
			json_line(val, sizeof val, cJSON_GetObjectItemCaseSensitive(r, "value"));
			snprintf(line, sizeof line, " %d. rollout %s by %s  if %s%s%s  → %s", i + 1, pct,
				 jstr(r, "hash_attribute")[0] ? jstr(r, "hash_attribute") : "id", cond,
				 jstr(r, "holdout")[0] ? "  outside holdout " : "", jstr(r, "holdout"), val);
		} else {
			json_line(val, sizeof val, cJSON_GetObjectItemCaseSensitive(r, "value"));
			snprintf(line, sizeof line, " %d. force  if %s  → %s", i + 1, cond, val);
		}
		wattron(w, on ? w_attr(R_NORMAL) : w_attr(R_DIM));
		w_put(w, y++, 0, W, line, 1);
		wattroff(w, on ? w_attr(R_NORMAL) : w_attr(R_DIM));
		i++;
	}
	if (!i && y < H)
		w_put(w, y++, 0, W, " no rules: every user gets the default", 1);
	return y;
}

static void flags_draw(view *v, app *a, WINDOW *w)
{
	flags_st *s = v->st;
	(void)a;
	int H = getmaxy(w), W = getmaxx(w);
	char line[700], age[16];
	w_fmt_age(age, sizeof age, app_now() - s->data_at);
	int non = 0;
	const cJSON *f;
	cJSON_ArrayForEach(f, s->data)
	{
		non += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "enabled"));
	}
	if (!s->data && s->err[0])
		snprintf(line, sizeof line, "cannot load flags: %s", s->err);
	else if (!s->data)
		snprintf(line, sizeof line, "loading flags…");
	else
		snprintf(line, sizeof line, "%d flags, %d on%s%s%s  (data %s old)%s%s", s->t.nvis, non,
			 s->t.filter[0] ? "  filter: " : "", s->t.invert ? "!" : "", s->t.filter, age,
			 s->err[0] ? "  last refresh failed: " : "", s->err);
	wattron(w, s->err[0] ? w_attr(R_WARN) : w_attr(R_DIM));
	w_put(w, 0, 0, W, line, 1);
	wattroff(w, s->err[0] ? w_attr(R_WARN) : w_attr(R_DIM));
	/* the table takes what the selected flag's rules leave (at most 8 lines) */
	w_row *sel = w_table_selected(&s->t);
	const cJSON *sf = sel ? sel->ud : NULL;
	int nrules = sf ? cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sf, "rules")) : 0;
	int below = sf ? 2 + (nrules ? (nrules < 7 ? nrules : 7) : 1) : 0;
	if (H - 1 - below < 4)
		below = 0;
	w_table_draw(&s->t, w, 1, 0, H - 1 - below, W);
	if (below) {
		int y = H - below;
		char rule[1024] = "";
		size_t o = 0;
		for (int i = 0; i < W && o + 4 < sizeof rule; i++)
			o += (size_t)snprintf(rule + o, sizeof rule - o, "%s", w_cur.ascii ? "-" : "─");
		wattron(w, w_attr(R_BORDER));
		w_put(w, y, 0, W, rule, 1);
		wattroff(w, w_attr(R_BORDER));
		draw_rules(sf, w, y + 1, H, W);
	}
}

static int flags_key(view *v, app *a, enum action act, int ch, int is_code)
{
	flags_st *s = v->st;
	int body = getmaxy(a->body ? a->body : stdscr) - 3;
	w_row *sel = w_table_selected(&s->t);
	if (table_key(a, &s->t, act, ch, is_code, body)) {
		v->dirty = 1;
		return VF_HANDLED | VF_REDRAW;
	}
	switch (act) {
	case ACT_FILTER:
		if (ch != -1)
			return 0; /* opens the prompt */
		w_table_set_filter(&s->t, a->input);
		break;
	case ACT_TOGGLE: {
		if (!sel)
			return VF_HANDLED;
		const cJSON *f = sel->ud;
		int on = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "enabled"));
		char q[512], def[128];
		json_line(def, sizeof def, cJSON_GetObjectItemCaseSensitive(f, "default_value"));
		int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(f, "rules"));
		if (on)
			snprintf(q, sizeof q, "Turn flag %s OFF? Every rule stops at once: every user gets "
					      "the default %s.", jstr(f, "key"), def);
		else
			snprintf(q, sizeof q, "Turn flag %s ON? Its %d rule%s apply again (default %s).",
				 jstr(f, "key"), n, n == 1 ? "" : "s", def);
		job *j = job_new(J_FLAG_SET, V_FLAGS);
		w_copy(j->key, sizeof j->key, jstr(f, "key"));
		w_copy(j->arg, sizeof j->arg, on ? "off" : "on");
		app_confirm(a, q, j);
		break;
	}
	default:
		return 0;
	}
	v->dirty = 1;
	return VF_HANDLED | VF_REDRAW;
}

/* The help overlay's lines for Shift+column letter. */
static const char *flags_help_extra(view *v)
{
	static char out[512];
	return table_help_extra(&((flags_st *)v->st)->t, out, sizeof out);
}

const view_ops view_flags_ops = {
	.name = "flags",
	.title = "Flags",
	.actions = acts,
	.init = flags_init,
	.draw = flags_draw,
	.key = flags_key,
	.data = flags_data,
	.tick = flags_tick,
	.enter = flags_enter,
	.free = flags_free,
	.help_extra = flags_help_extra,
};
