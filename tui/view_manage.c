/* view_manage.c — experiment management: the create and edit forms
 * (targeting JSON validated as you type), start/pause/stop/archive, each
 * behind a confirmation naming the experiment and the change. Every write
 * goes through nb_pg with the actor, so it lands in the audit log. The other
 * views reach the actions through the view interface (app_manage). */
#include "tui.h"

#include "neonblue/pg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { F_KEY, F_NAME, F_HYP, F_VARIANTS, F_METRICS, F_COVERAGE, F_TARGETING, F_NFIELDS };
enum { E_NAME, E_HYP, E_METRICS, E_COVERAGE, E_TARGETING, E_NFIELDS };

typedef struct manage_st {
	w_field cf[F_NFIELDS], ef[E_NFIELDS];
	w_form create, edit;
	int editing;
	char edit_key[128];
	char orig[E_NFIELDS][512]; /* values before editing */
	char status[512];
} manage_st;

static const enum action acts[] = {ACT_NONE};

/* ------------------------------------------------------------ validators */

static int v_key(const char *s, char *why, size_t n)
{
	if (nb_pg_slug_ok(s))
		return 1;
	snprintf(why, n, "key: 1–64 of a-z 0-9 _ -");
	return 0;
}

static int v_name(const char *s, char *why, size_t n)
{
	if (*s)
		return 1;
	snprintf(why, n, "name is required");
	return 0;
}

static int v_any(const char *s, char *why, size_t n)
{
	(void)s, (void)why, (void)n;
	return 1;
}

static int v_variants(const char *s, char *why, size_t n)
{
	nb_pg_variant *v = NULL;
	int nv = 0;
	nb_err err;
	if (nb_pg_variants_parse(s, &v, &nv, &err)) {
		snprintf(why, n, "%s", err.msg);
		return 0;
	}
	nb_pg_variants_free(v, nv);
	if (nv < 2) {
		snprintf(why, n, "at least two variants (control:50,treatment:50)");
		return 0;
	}
	return 1;
}

static int v_metrics(const char *s, char *why, size_t n)
{
	if (!*s)
		return 1;
	nb_pg_exp_metric *m = NULL;
	int nm = 0;
	nb_err err;
	if (nb_pg_exp_metrics_parse(s, &m, &nm, &err)) {
		snprintf(why, n, "%s", err.msg);
		return 0;
	}
	nb_pg_exp_metrics_free(m, nm);
	return 1;
}

static int v_coverage(const char *s, char *why, size_t n)
{
	char *end;
	double c = strtod(s, &end);
	if (*s && !*end && c >= 0 && c <= 1)
		return 1;
	snprintf(why, n, "coverage: a number from 0 to 1");
	return 0;
}

/* The condition parsed the way the model will store it (NULL for everyone). */
static int parse_condition(const char *s, cJSON **out, char *why, size_t n)
{
	*out = NULL;
	if (!*s || !strcmp(s, "null"))
		return 1;
	const char *ep = NULL;
	cJSON *c = cJSON_ParseWithOpts(s, &ep, 1);
	if (!c) {
		snprintf(why, n, "targeting: invalid JSON at column %d",
			 ep ? (int)(ep - s) + 1 : 1);
		return 0;
	}
	if (!cJSON_IsObject(c)) {
		cJSON_Delete(c);
		snprintf(why, n, "targeting: must be a JSON object like {\"country\":\"NL\"}");
		return 0;
	}
	*out = c;
	return 1;
}

/* Checks the condition with the experiment model's own validation (operators). */
static int v_targeting(const char *s, char *why, size_t n)
{
	cJSON *c;
	if (!parse_condition(s, &c, why, n))
		return 0;
	if (!c)
		return 1;
	cJSON *def = cJSON_CreateObject();
	cJSON_AddStringToObject(def, "key", "x");
	cJSON_AddStringToObject(def, "name", "x");
	cJSON *vs = cJSON_AddArrayToObject(def, "variants");
	for (int i = 0; i < 2; i++) {
		cJSON *v = cJSON_CreateObject();
		cJSON_AddStringToObject(v, "key", i ? "b" : "a");
		cJSON_AddNumberToObject(v, "weight", 0.5);
		cJSON_AddItemToArray(vs, v);
	}
	cJSON_AddItemToObject(def, "condition", c);
	nb_pg_experiment e;
	memset(&e, 0, sizeof e);
	nb_err err;
	int ok = nb_pg_experiment_from_json(def, &e, &err) == 0;
	if (ok)
		nb_pg_experiment_done(&e);
	else
		snprintf(why, n, "%s", err.msg);
	cJSON_Delete(def);
	return ok;
}

/* ---------------------------------------------------------------- forms */

static void field(w_field *f, const char *label, const char *value,
		  int (*valid)(const char *, char *, size_t))
{
	memset(f, 0, sizeof *f);
	f->label = label;
	w_copy(f->value, sizeof f->value, value);
	f->cursor = (int)strlen(f->value);
	f->valid = valid;
}

static void reset_create(manage_st *s)
{
	field(&s->cf[F_KEY], "Key", "", v_key);
	field(&s->cf[F_NAME], "Name", "", v_name);
	field(&s->cf[F_HYP], "Hypothesis", "", v_any);
	field(&s->cf[F_VARIANTS], "Variants", "control:50,treatment:50", v_variants);
	field(&s->cf[F_METRICS], "Metrics", "", v_metrics);
	field(&s->cf[F_COVERAGE], "Coverage", "1", v_coverage);
	field(&s->cf[F_TARGETING], "Targeting", "", v_targeting);
	s->create = (w_form){"New experiment (Tab next field, Enter create, Esc cancel)", s->cf,
			     F_NFIELDS, 0};
	w_form_validate(&s->create);
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static void metrics_spec(const cJSON *e, char *out, size_t n)
{
	size_t o = 0;
	out[0] = '\0';
	const cJSON *m;
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(e, "metrics"))
	{
		int w = snprintf(out + o, n - o, "%s%s:%s", o ? "," : "", jstr(m, "key"),
				 jstr(m, "role"));
		if (w < 0 || (size_t)w >= n - o)
			break;
		o += (size_t)w;
	}
}

static int reset_edit(manage_st *s, app *a, const char *key)
{
	const cJSON *e = app_exp_find(a, key);
	if (!e)
		return -1;
	w_copy(s->edit_key, sizeof s->edit_key, key);
	char ms[512], cov[64], *cond = NULL;
	metrics_spec(e, ms, sizeof ms);
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "coverage");
	snprintf(cov, sizeof cov, "%.17g", cJSON_IsNumber(c) ? c->valuedouble : 1.0);
	const cJSON *cj = cJSON_GetObjectItemCaseSensitive(e, "condition");
	if (cj && !cJSON_IsNull(cj))
		cond = cJSON_PrintUnformatted(cj);
	field(&s->ef[E_NAME], "Name", jstr(e, "name"), v_name);
	field(&s->ef[E_HYP], "Hypothesis", jstr(e, "hypothesis"), v_any);
	field(&s->ef[E_METRICS], "Metrics", ms, v_metrics);
	field(&s->ef[E_COVERAGE], "Coverage", cov, v_coverage);
	field(&s->ef[E_TARGETING], "Targeting", cond ? cond : "", v_targeting);
	free(cond);
	for (int i = 0; i < E_NFIELDS; i++)
		w_copy(s->orig[i], sizeof s->orig[i], s->ef[i].value);
	static char title[200];
	snprintf(title, sizeof title, "Edit %s (Tab next field, Enter save, Esc cancel)", key);
	s->edit = (w_form){title, s->ef, E_NFIELDS, 0};
	w_form_validate(&s->edit);
	return 0;
}

/* ----------------------------------------------------------- submitting */

static cJSON *create_def(manage_st *s, nb_err *err)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "key", s->cf[F_KEY].value);
	cJSON_AddStringToObject(d, "name", s->cf[F_NAME].value);
	cJSON_AddStringToObject(d, "hypothesis", s->cf[F_HYP].value);
	cJSON_AddNumberToObject(d, "coverage", atof(s->cf[F_COVERAGE].value));
	nb_pg_variant *v = NULL;
	int nv = 0;
	nb_pg_exp_metric *m = NULL;
	int nm = 0;
	if (nb_pg_variants_parse(s->cf[F_VARIANTS].value, &v, &nv, err) ||
	    (s->cf[F_METRICS].value[0] &&
	     nb_pg_exp_metrics_parse(s->cf[F_METRICS].value, &m, &nm, err))) {
		nb_pg_variants_free(v, nv);
		cJSON_Delete(d);
		return NULL;
	}
	cJSON *vs = cJSON_AddArrayToObject(d, "variants");
	for (int i = 0; i < nv; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "key", v[i].key);
		cJSON_AddNumberToObject(o, "weight", v[i].weight);
		cJSON_AddItemToArray(vs, o);
	}
	cJSON *ms = cJSON_AddArrayToObject(d, "metrics");
	for (int i = 0; i < nm; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "key", m[i].key);
		cJSON_AddStringToObject(o, "role", m[i].role);
		cJSON_AddItemToArray(ms, o);
	}
	nb_pg_variants_free(v, nv);
	nb_pg_exp_metrics_free(m, nm);
	cJSON *cond = NULL;
	char why[200];
	parse_condition(s->cf[F_TARGETING].value, &cond, why, sizeof why);
	cJSON_AddItemToObject(d, "condition", cond ? cond : cJSON_CreateNull());
	/* the full model validation, as the server will do it */
	nb_pg_experiment e;
	memset(&e, 0, sizeof e);
	if (nb_pg_experiment_from_json(d, &e, err)) {
		cJSON_Delete(d);
		return NULL;
	}
	nb_pg_experiment_done(&e);
	return d;
}

static void submit_create(manage_st *s, app *a)
{
	w_form_validate(&s->create);
	if (!w_form_all_valid(&s->create)) {
		app_message(a, 1, "fix the fields marked with %s first", a->ascii ? "X" : "✗");
		return;
	}
	nb_err err;
	cJSON *d = create_def(s, &err);
	if (!d) {
		app_message(a, 1, "%s", err.msg);
		return;
	}
	job *j = job_new(J_CREATE, V_MANAGE);
	j->in = d;
	w_copy(j->key, sizeof j->key, s->cf[F_KEY].value);
	char q[512];
	snprintf(q, sizeof q, "Create experiment %s (\"%s\") as a draft with variants %s?",
		 s->cf[F_KEY].value, s->cf[F_NAME].value, s->cf[F_VARIANTS].value);
	app_confirm(a, q, j);
}

static void submit_edit(manage_st *s, app *a)
{
	w_form_validate(&s->edit);
	if (!w_form_all_valid(&s->edit)) {
		app_message(a, 1, "fix the fields marked with %s first", a->ascii ? "X" : "✗");
		return;
	}
	static const char *keys[E_NFIELDS] = {"name", "hypothesis", "metrics", "coverage",
					      "condition"};
	cJSON *in = cJSON_CreateObject();
	char changes[400] = "";
	for (int i = 0; i < E_NFIELDS; i++) {
		const char *v = s->ef[i].value;
		if (!strcmp(v, s->orig[i]))
			continue;
		if (i == E_COVERAGE)
			cJSON_AddNumberToObject(in, keys[i], atof(v));
		else if (i == E_TARGETING)
			cJSON_AddStringToObject(in, keys[i], *v ? v : "null");
		else
			cJSON_AddStringToObject(in, keys[i], v);
		size_t l = strlen(changes);
		snprintf(changes + l, sizeof changes - l, "%s%s %s%s→ %s", l ? "; " : "", keys[i],
			 i == E_COVERAGE ? s->orig[i] : "", i == E_COVERAGE ? " " : "",
			 *v ? v : "(none)");
	}
	if (!cJSON_GetArraySize(in)) {
		cJSON_Delete(in);
		app_message(a, 0, "nothing changed");
		return;
	}
	job *j = job_new(J_EDIT, V_MANAGE);
	j->in = in;
	w_copy(j->key, sizeof j->key, s->edit_key);
	char q[640];
	snprintf(q, sizeof q, "Edit experiment %s: %s?", s->edit_key, changes);
	app_confirm(a, q, j);
}

/* ------------------------------------------------------ lifecycle actions */

/* The manage hook of the view interface (app_manage): start/pause, stop,
 * archive or edit the experiment key, each behind a confirmation; the job
 * comes back to from_view. */
static void manage_action(view *v, app *a, const char *key, enum action act, int from_view)
{
	(void)v;
	if (a->read_only) {
		app_message(a, 1, "read-only: changes are disabled (--read-only)");
		return;
	}
	if (act == ACT_EDIT) {
		char arg[160];
		snprintf(arg, sizeof arg, "edit:%s", key);
		app_open(a, V_MANAGE, arg);
		return;
	}
	const cJSON *e = app_exp_find(a, key);
	if (!e) {
		app_message(a, 1, "experiment %s is not loaded yet", key);
		return;
	}
	const char *status = jstr(e, "status");
	const char *action = act == ACT_STOP ? "stop" : act == ACT_ARCHIVE ? "archive"
				: !strcmp(status, "running") ? "pause" : "start";
	nb_err err;
	const char *to = nb_pg_transition(status, action, &err);
	if (!to) {
		app_message(a, 1, "%s: %s", key, err.msg);
		return;
	}
	static const char *const why[] = {
		"start", "users will be assigned and counted",
		"pause", "no new users are assigned; existing assignments stay",
		"stop", "the experiment ends; it cannot be restarted",
		"archive", "it leaves the active lists",
	};
	const char *effect = "";
	for (size_t i = 0; i < sizeof why / sizeof why[0]; i += 2)
		if (!strcmp(why[i], action))
			effect = why[i + 1];
	char q[512];
	snprintf(q, sizeof q, "%c%s experiment %s (\"%s\"): %s → %s? (%s)", action[0] - 32,
		 action + 1, key, jstr(e, "name"), status, to, effect);
	job *j = job_new(J_TRANSITION, from_view);
	w_copy(j->key, sizeof j->key, key);
	w_copy(j->arg, sizeof j->arg, action);
	app_confirm(a, q, j);
}

/* The result hook (app_manage_result): a management job's outcome in the
 * footer. */
static void manage_result(view *v, app *a, job *j)
{
	(void)v;
	if (j->rc) {
		app_message(a, 1, "%s: %s", j->key, j->err.msg);
		return;
	}
	const char *what = j->kind == J_CREATE ? "created as a draft"
			   : j->kind == J_EDIT ? "edited"
			   : !strcmp(j->arg, "start") ? "started"
			   : !strcmp(j->arg, "pause") ? "paused"
			   : !strcmp(j->arg, "stop")  ? "stopped"
						      : "archived";
	app_message(a, 0, "%s %s (audit log: %s)", j->key, what, a->cfg.actor);
}

/* ------------------------------------------------------------------ view */

static void manage_init(view *v, app *a)
{
	(void)a;
	manage_st *s = nb_xcalloc(1, sizeof *s);
	reset_create(s);
	v->st = s;
	v->text_input = 1;
}

static void manage_free(view *v)
{
	free(v->st);
}

static void manage_enter(view *v, app *a, const char *arg)
{
	manage_st *s = v->st;
	if (arg && !strncmp(arg, "edit:", 5)) {
		if (reset_edit(s, a, arg + 5)) {
			app_message(a, 1, "experiment %s is not loaded yet", arg + 5);
			app_back(a);
			return;
		}
		s->editing = 1;
	} else if (arg || s->editing) {
		s->editing = 0;
		reset_create(s);
	}
	v->dirty = 1;
}

static void manage_draw(view *v, app *a, WINDOW *w)
{
	manage_st *s = v->st;
	int W = getmaxx(w);
	(void)a;
	w_form_draw(s->editing ? &s->edit : &s->create, w, 0, 1, W - 2);
}

static int manage_key(view *v, app *a, enum action act, int ch, int is_code)
{
	manage_st *s = v->st;
	(void)act;
	w_form *f = s->editing ? &s->edit : &s->create;
	if ((!is_code && (ch == '\r' || ch == '\n')) || (is_code && ch == KEY_ENTER)) {
		if (s->editing)
			submit_edit(s, a);
		else
			submit_create(s, a);
	} else if (!is_code && ch == 27) {
		app_back(a);
	} else if (!w_form_key(f, ch, is_code)) {
		return 0;
	}
	v->dirty = 1;
	return VF_HANDLED | VF_REDRAW;
}

static void manage_data(view *v, app *a, job *j)
{
	manage_st *s = v->st;
	manage_result(v, a, j);
	if (j->rc == 0) {
		if (j->kind == J_CREATE)
			reset_create(s);
		w_copy(a->selected_exp, sizeof a->selected_exp, j->key);
		if (app_current(a) == V_MANAGE)
			app_back(a);
	}
}

const view_ops view_manage_ops = {
	.name = "new",
	.title = "New experiment",
	.actions = acts,
	.init = manage_init,
	.draw = manage_draw,
	.key = manage_key,
	.data = manage_data,
	.enter = manage_enter,
	.free = manage_free,
	.manage = manage_action,
	.result = manage_result,
};
