/* worker.c — the dashboard's query workers: PostgreSQL, ClickHouse, stack
 * status and the analyses (report, funnel, cohort, revenue, segments, run
 * in-process through libneonblue) happen here, never on the main thread.
 * Jobs go in through one queue (interactive ones before background ones,
 * which get at most NBG threads) and come back through another plus a
 * wake-up fd. Each thread keeps one PostgreSQL connection and one
 * ClickHouse client between jobs and drops them when they fail. */
#include "tui.h"

#include "neonblue/analytics.h"
#include "neonblue/base.h"
#include "neonblue/ch.h"
#include "neonblue/flag.h"
#include "neonblue/pg.h"
#include "neonblue/report.h"
#include "neonblue/stack.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 3
#define NBG 2 /* threads that may run background jobs at once */
#define REPORT_TIMEOUT_S 60

struct worker {
	nb_config cfg;
	char exe[4096];
	int wake_fd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	job *in_head, *in_tail, *out_head, *out_tail;
	int stopping;
	int bg_running; /* background jobs being run */
	int running;    /* jobs being run */
	pthread_t th[NTHREADS];
};

/* An experiment's definition as ClickHouse holds it, kept by a thread for
 * the reports that carry a tag (the home view's): loading it is about 40% of
 * a small report's ClickHouse time. */
typedef struct exp_cached {
	char key[128];
	char tag[64];
	double at;
	nb_an_experiment e;
} exp_cached;

#define EXP_CACHE_MAX 1024
#define EXP_TTL_S 30

/* What each thread keeps between jobs. */
typedef struct wctx {
	worker *w;
	PGconn *pg;
	nb_ch *ch;
	exp_cached *ec;
	int nec, capec;
} wctx;

job *job_new(enum job_kind kind, int view)
{
	job *j = nb_xcalloc(1, sizeof *j);
	j->kind = kind;
	j->view = view;
	return j;
}

void job_free(job *j)
{
	if (!j)
		return;
	cJSON_Delete(j->in);
	cJSON_Delete(j->out);
	free(j);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ PostgreSQL */

static PGconn *pg_get(wctx *c, nb_err *err)
{
	if (c->pg && PQstatus(c->pg) != CONNECTION_OK) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	if (!c->pg)
		c->pg = nb_pg_connect(&c->w->cfg, err);
	return c->pg;
}

/* Drops a connection that broke, so the next job reconnects. */
static void pg_check(wctx *c)
{
	if (c->pg && PQstatus(c->pg) != CONNECTION_OK) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
}

/* {exp: {variant: users}} */
static int users_by_variant(PGconn *pg, const char *key, cJSON *into, nb_err *err)
{
	const char *sql = key ? "SELECT experiment, variant, count(*) FROM assignments WHERE "
				"experiment = $1 GROUP BY 1, 2"
			      : "SELECT experiment, variant, count(*) FROM assignments GROUP BY 1, 2";
	const char *p[1] = {key};
	PGresult *r = nb_pg_exec(pg, sql, key ? 1 : 0, p, err);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *e = PQgetvalue(r, i, 0);
		cJSON *o = cJSON_GetObjectItemCaseSensitive(into, e);
		if (!o)
			o = cJSON_AddObjectToObject(into, e);
		cJSON_AddNumberToObject(o, PQgetvalue(r, i, 1), atof(PQgetvalue(r, i, 2)));
	}
	PQclear(r);
	return 0;
}

/* {exp: [24 hourly assignment counts, oldest first]} (or per variant when by_variant). */
static int traffic(PGconn *pg, const char *key, int by_variant, cJSON *into, nb_err *err)
{
	const char *sql =
		by_variant
			? "SELECT variant, floor(extract(epoch FROM now() - assigned_at) / 3600)::int, "
			  "count(*) FROM assignments WHERE experiment = $1 AND assigned_at > now() - "
			  "interval '24 hours' GROUP BY 1, 2"
			  : "SELECT experiment, floor(extract(epoch FROM now() - assigned_at) / 3600)::int, "
			    "count(*) FROM assignments WHERE assigned_at > now() - interval '24 hours' "
			    "GROUP BY 1, 2";
	const char *p[1] = {key};
	PGresult *r = nb_pg_exec(pg, sql, by_variant ? 1 : 0, p, err);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *e = PQgetvalue(r, i, 0);
		int h = atoi(PQgetvalue(r, i, 1));
		if (h < 0 || h > 23)
			continue;
		cJSON *a = cJSON_GetObjectItemCaseSensitive(into, e);
		if (!a) {
			a = cJSON_AddArrayToObject(into, e);
			for (int k = 0; k < 24; k++)
				cJSON_AddItemToArray(a, cJSON_CreateNumber(0));
		}
		cJSON_SetNumberValue(cJSON_GetArrayItem(a, 23 - h), atof(PQgetvalue(r, i, 2)));
	}
	PQclear(r);
	return 0;
}

static int run_exps(wctx *c, job *j)
{
	PGconn *pg = pg_get(c, &j->err);
	if (!pg)
		return -1;
	nb_pg_experiment *arr = NULL;
	int n = 0;
	if (nb_pg_experiment_list(pg, NULL, &arr, &n, &j->err))
		return -1;
	j->out = cJSON_CreateObject();
	cJSON *list = cJSON_AddArrayToObject(j->out, "experiments");
	for (int i = 0; i < n; i++) {
		cJSON_AddItemToArray(list, nb_pg_experiment_to_json(&arr[i]));
		nb_pg_experiment_done(&arr[i]);
	}
	free(arr);
	if (users_by_variant(pg, NULL, cJSON_AddObjectToObject(j->out, "users"), &j->err) ||
	    traffic(pg, NULL, 0, cJSON_AddObjectToObject(j->out, "traffic"), &j->err))
		return -1;
	return 0;
}

static int run_detail(wctx *c, job *j)
{
	PGconn *pg = pg_get(c, &j->err);
	if (!pg)
		return -1;
	nb_pg_experiment e;
	memset(&e, 0, sizeof e);
	if (nb_pg_experiment_get(pg, j->key, 0, &e, &j->err))
		return -1;
	j->out = cJSON_CreateObject();
	cJSON_AddItemToObject(j->out, "experiment", nb_pg_experiment_to_json(&e));
	/* its layer's occupancy (docs/layers.md), for the bar */
	cJSON *layer = e.ns_id ? nb_pg_layer_list(pg, e.ns_id, &j->err) : NULL;
	nb_pg_experiment_done(&e);
	if (layer)
		cJSON_AddItemToObject(j->out, "layer", cJSON_DetachItemFromArray(layer, 0));
	cJSON_Delete(layer);
	if (users_by_variant(pg, j->key, cJSON_AddObjectToObject(j->out, "users"), &j->err) ||
	    traffic(pg, j->key, 1, cJSON_AddObjectToObject(j->out, "traffic"), &j->err))
		return -1;
	cJSON *audit = nb_pg_audit_list(pg, "experiment", j->key, &j->err);
	if (!audit)
		return -1;
	cJSON_AddItemToObject(j->out, "audit", audit);
	return 0;
}

static int run_create(wctx *c, job *j)
{
	PGconn *pg = pg_get(c, &j->err);
	if (!pg)
		return -1;
	nb_pg_experiment def;
	memset(&def, 0, sizeof def);
	if (nb_pg_experiment_from_json(j->in, &def, &j->err))
		return -1;
	int rc = nb_pg_experiment_create(pg, &def, c->w->cfg.actor, &j->err);
	nb_pg_experiment_done(&def);
	return rc;
}

static int run_transition(wctx *c, job *j)
{
	PGconn *pg = pg_get(c, &j->err);
	if (!pg)
		return -1;
	return nb_pg_experiment_transition(pg, j->key, j->arg, c->w->cfg.actor, NULL, &j->err);
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int run_edit(wctx *c, job *j)
{
	PGconn *pg = pg_get(c, &j->err);
	if (!pg)
		return -1;
	nb_pg_experiment_edit ed;
	memset(&ed, 0, sizeof ed);
	ed.coverage = -1;
	ed.name = jstr(j->in, "name");
	ed.hypothesis = jstr(j->in, "hypothesis");
	ed.condition_json = jstr(j->in, "condition");
	ed.metrics_spec = jstr(j->in, "metrics");
	const cJSON *cov = cJSON_GetObjectItemCaseSensitive(j->in, "coverage");
	if (cJSON_IsNumber(cov))
		ed.coverage = cov->valuedouble;
	return nb_pg_experiment_edit_apply(pg, j->key, &ed, c->w->cfg.actor, NULL, &j->err);
}

/* Every flag, as `neonblue flag list --json` prints them. */
static int run_flags(wctx *c, job *j)
{
	PGconn *pg = pg_get(c, &j->err);
	if (!pg)
		return -1;
	nb_flag *v = NULL;
	size_t n = 0;
	if (nb_flag_list(pg, &v, &n, &j->err))
		return -1;
	j->out = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(j->out, nb_flag_to_json(&v[i]));
	nb_flag_list_free(v, n);
	return 0;
}

static int run_flag_set(wctx *c, job *j)
{
	PGconn *pg = pg_get(c, &j->err);
	if (!pg)
		return -1;
	return nb_flag_set_enabled(pg, j->key, !strcmp(j->arg, "on"), c->w->cfg.actor, &j->err);
}

/* ------------------------------------------------------------- ClickHouse */

static nb_ch *ch_get(wctx *c, nb_err *err)
{
	if (!c->ch) {
		if (nb_config_require_clickhouse(&c->w->cfg, err))
			return NULL;
		c->ch = nb_ch_new(c->w->cfg.clickhouse, err);
		if (c->ch)
			nb_ch_set_timeouts(c->ch, 5, 2);
	}
	return c->ch;
}

/* Drops the client after a failed request, so the next job starts with a
 * fresh one (and a fresh connection). */
static void ch_check(wctx *c, const nb_err *err)
{
	if (c->ch && err->code == NB_ESERVER) {
		nb_ch_free(c->ch);
		c->ch = NULL;
	}
}

static int run_ch_ping(wctx *c, job *j)
{
	nb_ch *ch = ch_get(c, &j->err);
	if (!ch)
		return -1;
	char *v = NULL;
	if (nb_ch_scalar(ch, "SELECT 1", &v, &j->err)) {
		ch_check(c, &j->err);
		return -1;
	}
	free(v);
	return 0;
}

/* ---------------------------------------------------------------- health */

static cJSON *read_json_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char buf[65536];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return cJSON_Parse(buf);
}

static int run_health(wctx *c, job *j)
{
	worker *w = c->w;
	j->out = cJSON_CreateObject();
	nb_stack_status st;
	nb_err e2;
	if (nb_stack_status_get(w->cfg.home, &st, &e2) == 0)
		cJSON_AddItemToObject(j->out, "stack", nb_stack_status_json(w->cfg.home, &st));
	char path[NB_PATH_MAX + 32];
	const char *names[2] = {"cdc", "sink"};
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/run/%s.status", w->cfg.home, names[i]);
		cJSON *s = read_json_file(path);
		if (s)
			cJSON_AddItemToObject(j->out, names[i], s);
	}
	PGconn *pg = pg_get(c, &e2);
	if (pg) {
		PGresult *r = nb_pg_exec(pg,
					 "SELECT slot_name, (pg_current_wal_lsn() - "
					 "confirmed_flush_lsn)::bigint FROM pg_replication_slots",
					 0, NULL, &e2);
		if (r) {
			cJSON *slots = cJSON_AddObjectToObject(j->out, "wal_lag");
			for (int i = 0; i < PQntuples(r); i++)
				cJSON_AddNumberToObject(slots, PQgetvalue(r, i, 0),
							atof(PQgetvalue(r, i, 1)));
			PQclear(r);
		}
		pg_check(c);
	}
	nb_ch *ch = ch_get(c, &e2);
	char *v = NULL;
	if (ch && nb_ch_scalar(ch,
			       "SELECT toUInt32(now()) - toUInt32(max(ts)) FROM neonblue.events "
			       "WHERE ts > now() - 86400",
			       &v, &e2) == 0) {
		if (v && *v)
			cJSON_AddNumberToObject(j->out, "last_event_age_s", atof(v));
		free(v);
	} else if (ch) {
		cJSON_AddStringToObject(j->out, "clickhouse_error", e2.msg);
		ch_check(c, &e2);
	}
	return 0;
}

/* ------------------------------------------------- analyses in-process */

/* A report job's scope and options, parsed from j->arg2: the flags of
 * `neonblue report|funnel|cohort|revenue|segments` (docs/report.md), so a
 * view can keep passing what a user types after `/`. */
typedef struct an_req {
	char buf[256]; /* tokens point in here */
	const char *metric, *steps, *by, *db, *event_type;
	char seg_prop[NB_AN_KEY_MAX + 1], seg_value[160];
	int has_segment;
	long long from, to;
	long window;
	int period, nper, top;
	double mde, alpha;
} an_req;

static int an_flag(an_req *r, const char *a, const char *v, nb_err *err)
{
	char *end;
	if (!strcmp(a, "--metric"))
		r->metric = v;
	else if (!strcmp(a, "--steps"))
		r->steps = v;
	else if (!strcmp(a, "--by"))
		r->by = v;
	else if (!strcmp(a, "--database"))
		r->db = v;
	else if (!strcmp(a, "--event-type"))
		r->event_type = v;
	else if (!strcmp(a, "--from") || !strcmp(a, "--to")) {
		if (nb_report_parse_time(v, a[2] == 'f' ? &r->from : &r->to))
			return nb_err_set(err, NB_EINPUT, "%s \"%s\" is not a time (ISO-8601 UTC or "
						     "unix seconds)", a, v);
	} else if (!strcmp(a, "--segment")) {
		const char *eq = strchr(v, '=');
		if (!eq || eq == v || (size_t)(eq - v) >= sizeof r->seg_prop)
			return nb_err_set(err, NB_EINPUT, "--segment wants PROP=VALUE, got \"%s\"", v);
		snprintf(r->seg_prop, sizeof r->seg_prop, "%.*s", (int)(eq - v), v);
		w_copy(r->seg_value, sizeof r->seg_value, eq + 1);
		r->has_segment = 1;
	} else if (!strcmp(a, "--window")) {
		if ((r->window = nb_report_parse_duration(v)) < 0)
			return nb_err_set(err, NB_EINPUT, "--window \"%s\" is not a duration (90s, "
						     "30m, 1h, 7d)", v);
	} else if (!strcmp(a, "--period")) {
		if (strcmp(v, "day") && strcmp(v, "week"))
			return nb_err_set(err, NB_EINPUT, "--period must be day or week, got \"%s\"", v);
		r->period = v[0] == 'd' ? 86400 : 604800;
	} else if (!strcmp(a, "--periods") || !strcmp(a, "--top")) {
		long n = strtol(v, &end, 10);
		if (!*v || *end || n < 1 || n > (a[2] == 't' ? 1000 : 32))
			return nb_err_set(err, NB_EINPUT, "%s \"%s\" is out of range", a, v);
		*(a[2] == 't' ? &r->top : &r->nper) = (int)n;
	} else if (!strcmp(a, "--mde") || !strcmp(a, "--alpha")) {
		double x = strtod(v, &end);
		if (!*v || *end || !(x > 0 && x < 1))
			return nb_err_set(err, NB_EINPUT, "%s \"%s\" is not a number between 0 and 1",
					  a, v);
		*(a[2] == 'm' ? &r->mde : &r->alpha) = x;
	} else {
		return nb_err_set(err, NB_EINPUT, "unknown option %s", a);
	}
	return 0;
}

/* Parses "--steps a,b --window 30m"; --json/--csv/--md are ignored. */
static int an_parse(const char *extra, an_req *r, nb_err *err)
{
	memset(r, 0, sizeof *r);
	r->window = 3600;
	r->period = 86400;
	r->nper = 8;
	r->top = 10;
	w_copy(r->buf, sizeof r->buf, extra);
	char *save = NULL;
	for (char *t = strtok_r(r->buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (!strcmp(t, "--json") || !strcmp(t, "--csv") || !strcmp(t, "--md"))
			continue;
		char *v = strtok_r(NULL, " ", &save);
		if (!v)
			return nb_err_set(err, NB_EINPUT, "%s needs a value", t);
		if (an_flag(r, t, v, err))
			return -1;
	}
	if (r->from && r->to && r->to <= r->from)
		return nb_err_set(err, NB_EINPUT, "--to must be after --from");
	return 0;
}

static nb_an_scope an_scope(const an_req *r)
{
	nb_an_scope s = {.db = r->db, .from = r->from, .to = r->to, .event_type = r->event_type,
			 .segment_prop = r->has_segment ? r->seg_prop : NULL,
			 .segment_value = r->has_segment ? r->seg_value : NULL};
	return s;
}

static int an_report(nb_ch *ch, const an_req *r, job *j)
{
	nb_report rep;
	nb_report_opts o = {.db = r->db, .experiment = j->key, .metric = r->metric,
			    .from = r->from, .to = r->to, .event_type = r->event_type,
			    .segment_prop = r->has_segment ? r->seg_prop : NULL,
			    .segment_value = r->has_segment ? r->seg_value : NULL,
			    .alpha = r->alpha, .mde = r->mde};
	if (nb_report_build(ch, &o, &rep, &j->err))
		return -1;
	j->out = nb_report_json(&rep);
	nb_report_done(&rep);
	return 0;
}

static int an_funnel(nb_ch *ch, const an_req *r, const nb_an_experiment *e, job *j)
{
	if (!r->steps)
		return nb_err_set(&j->err, NB_EINPUT, "funnel: --steps a,b,c is required");
	char sb[256];
	w_copy(sb, sizeof sb, r->steps);
	const char *steps[NB_AN_FUNNEL_MAX];
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(sb, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == NB_AN_FUNNEL_MAX)
			return nb_err_set(&j->err, NB_EINPUT, "funnel: at most %d steps",
					  NB_AN_FUNNEL_MAX);
		steps[n++] = t;
	}
	nb_an_scope s = an_scope(r);
	double *users = nb_xcalloc((size_t)e->nvariants, sizeof *users);
	double *reached = nb_xcalloc((size_t)e->nvariants * NB_AN_FUNNEL_MAX + 1, sizeof *reached);
	int rc = nb_an_funnel(ch, &s, e, steps, n, r->window, reached, &j->err) ||
		 nb_an_exposure(ch, &s, e, users, &j->err);
	if (!rc)
		j->out = nb_report_funnel_json(e, users, steps, n, r->window, reached);
	free(users);
	free(reached);
	return rc ? -1 : 0;
}

static int an_cohort(nb_ch *ch, const an_req *r, const nb_an_experiment *e, job *j)
{
	nb_an_scope s = an_scope(r);
	nb_an_cohort_row *rows;
	size_t n;
	if (nb_an_cohorts(ch, &s, e, r->period, r->nper, &rows, &n, &j->err))
		return -1;
	j->out = nb_report_cohorts_json(e, r->period, r->nper, rows, n);
	free(rows);
	return 0;
}

static int an_revenue(nb_ch *ch, const an_req *r, const nb_an_experiment *e, job *j)
{
	int m = nb_an_pick_metric(e, r->metric, "sum", &j->err);
	if (m < 0)
		return -1;
	nb_an_scope s = an_scope(r);
	nb_an_revenue *rev = nb_xcalloc((size_t)e->nvariants, sizeof *rev);
	int rc = nb_an_revenue_get(ch, &s, e, m, rev, &j->err);
	if (!rc)
		j->out = nb_report_revenue_json(e, e->metrics[m].key, rev);
	free(rev);
	return rc;
}

static int an_segments(nb_ch *ch, const an_req *r, const nb_an_experiment *e, job *j)
{
	if (!r->by)
		return nb_err_set(&j->err, NB_EINPUT, "segments: --by PROP is required");
	int m = nb_an_pick_metric(e, r->metric, NULL, &j->err);
	if (m < 0)
		return -1;
	nb_an_scope s = an_scope(r);
	char **values;
	nb_an_agg *aggs;
	int n;
	if (nb_an_segments(ch, &s, e, m, r->by, r->top, &values, &aggs, &n, &j->err))
		return -1;
	j->out = nb_report_segments_json(e, m, r->by, values, aggs, n, r->alpha);
	for (int i = 0; i < n; i++)
		free(values[i]);
	free(values);
	free(aggs);
	return 0;
}

static void cache_drop(wctx *c, const char *key)
{
	for (int i = 0; i < c->nec; i++)
		if (!strcmp(c->ec[i].key, key)) {
			nb_an_experiment_done(&c->ec[i].e);
			c->ec[i] = c->ec[--c->nec];
			return;
		}
}

static void cache_free(wctx *c)
{
	for (int i = 0; i < c->nec; i++)
		nb_an_experiment_done(&c->ec[i].e);
	free(c->ec);
	c->ec = NULL;
	c->nec = c->capec = 0;
}

/* The definition of j->key: cached while j->tag is the same and it is
 * younger than EXP_TTL_S (the copy in ClickHouse follows PostgreSQL through
 * CDC, so a reload right after a change may still see the old one). */
static const nb_an_experiment *cache_get(wctx *c, nb_ch *ch, job *j)
{
	double now = now_s();
	for (int i = 0; i < c->nec; i++) {
		exp_cached *x = &c->ec[i];
		if (strcmp(x->key, j->key))
			continue;
		if (!strcmp(x->tag, j->tag) && now - x->at < EXP_TTL_S)
			return &x->e;
		cache_drop(c, j->key);
		break;
	}
	nb_an_experiment e;
	if (nb_an_experiment_load(ch, NULL, j->key, &e, &j->err))
		return NULL;
	if (c->nec == EXP_CACHE_MAX)
		cache_free(c);
	if (c->nec == c->capec) {
		c->capec = c->capec ? c->capec * 2 : 64;
		c->ec = nb_xrealloc(c->ec, (size_t)c->capec * sizeof *c->ec);
	}
	exp_cached *x = &c->ec[c->nec++];
	w_copy(x->key, sizeof x->key, j->key);
	w_copy(x->tag, sizeof x->tag, j->tag);
	x->at = now;
	x->e = e;
	return &x->e;
}

/* The plain report (no flags) from a cached definition: what
 * nb_report_build does after loading it. */
static int an_report_cached(wctx *c, nb_ch *ch, job *j)
{
	const nb_an_experiment *e = cache_get(c, ch, j);
	if (!e)
		return -1;
	nb_report rep;
	nb_report_opts o = {.experiment = j->key};
	int rc = nb_report_build_exp(ch, e, &o, &rep, &j->err);
	if (!rc) {
		j->out = nb_report_json(&rep);
		nb_report_done(&rep);
	}
	if (rc)
		cache_drop(c, j->key); /* reload next time */
	return rc;
}

/* J_REPORT: what `neonblue ARG KEY --json ARG2` prints, computed here with
 * libneonblue on this thread's ClickHouse client (nb_report, nb_an). */
static int run_report(wctx *c, job *j)
{
	an_req r;
	if (an_parse(j->arg2, &r, &j->err))
		return -1;
	nb_ch *ch = ch_get(c, &j->err);
	if (!ch)
		return -1;
	nb_ch_set_timeouts(ch, REPORT_TIMEOUT_S, 2);
	cJSON *complete = nb_report_complete_read(ch, r.db); /* before the analysis */
	int rc;
	if (!strcmp(j->arg, "report") && j->tag[0] && !j->arg2[0]) {
		rc = an_report_cached(c, ch, j);
	} else if (!strcmp(j->arg, "report")) {
		rc = an_report(ch, &r, j);
	} else {
		int (*fn)(nb_ch *, const an_req *, const nb_an_experiment *, job *) =
			!strcmp(j->arg, "funnel")     ? an_funnel
			: !strcmp(j->arg, "cohort")   ? an_cohort
			: !strcmp(j->arg, "revenue")  ? an_revenue
			: !strcmp(j->arg, "segments") ? an_segments
						      : NULL;
		if (!fn) {
			rc = nb_err_set(&j->err, NB_EINPUT, "unknown analysis \"%s\"", j->arg);
		} else {
			nb_an_experiment e;
			rc = nb_an_experiment_load(ch, r.db, j->key, &e, &j->err);
			if (!rc) {
				rc = fn(ch, &r, &e, j);
				nb_an_experiment_done(&e);
			}
		}
	}
	nb_ch_set_timeouts(ch, 5, 2);
	if (rc) {
		cJSON_Delete(j->out);
		j->out = NULL;
		ch_check(c, &j->err);
	}
	j->out = nb_report_complete_add(j->out, complete);
	return rc;
}

/* ---------------------------------------------------------------- loop */

static void run_job(wctx *c, job *j)
{
	int rc = -1;
	j->started = now_s();
	switch (j->kind) {
	case J_EXPS:
		rc = run_exps(c, j);
		break;
	case J_DETAIL:
		rc = run_detail(c, j);
		break;
	case J_REPORT:
		rc = run_report(c, j);
		break;
	case J_HEALTH:
		rc = run_health(c, j);
		break;
	case J_CREATE:
		rc = run_create(c, j);
		break;
	case J_TRANSITION:
		rc = run_transition(c, j);
		break;
	case J_EDIT:
		rc = run_edit(c, j);
		break;
	case J_CH_PING:
		rc = run_ch_ping(c, j);
		break;
	case J_FLAGS:
		rc = run_flags(c, j);
		break;
	case J_FLAG_SET:
		rc = run_flag_set(c, j);
		break;
	}
	if (j->kind != J_CH_PING && j->kind != J_REPORT)
		pg_check(c);
	j->rc = rc;
	j->finished = now_s();
}

/* The next job to run (unlinked), or NULL: interactive jobs in submission
 * order first, then background ones while fewer than NBG run. Under mu. */
static job *take_next(worker *w)
{
	job *prev = NULL, *pick = NULL, *pick_prev = NULL;
	for (job *j = w->in_head; j; prev = j, j = j->next) {
		if (!j->bg) {
			pick = j;
			pick_prev = prev;
			break;
		}
		if (!pick && w->bg_running < NBG) {
			pick = j;
			pick_prev = prev;
		}
	}
	if (!pick)
		return NULL;
	if (pick_prev)
		pick_prev->next = pick->next;
	else
		w->in_head = pick->next;
	if (w->in_tail == pick)
		w->in_tail = pick_prev;
	pick->next = NULL;
	return pick;
}

/* Appends j to the finished queue and wakes the main loop. Under mu. */
static void put_done(worker *w, job *j)
{
	j->next = NULL;
	if (w->out_tail)
		w->out_tail->next = j;
	else
		w->out_head = j;
	w->out_tail = j;
	uint64_t one = 1;
	if (write(w->wake_fd, &one, sizeof one) < 0) {
		/* the counter is saturated: the main loop wakes up anyway */
	}
}

static void *worker_main(void *arg)
{
	wctx c = {.w = arg};
	worker *w = c.w;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		job *j = NULL;
		while (!w->stopping && !(j = take_next(w)))
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stopping) {
			if (j)
				put_done(w, j);
			break;
		}
		w->running++;
		w->bg_running += j->bg;
		pthread_mutex_unlock(&w->mu);
		run_job(&c, j);
		pthread_mutex_lock(&w->mu);
		w->running--;
		w->bg_running -= j->bg;
		put_done(w, j);
		if (j->bg)
			pthread_cond_broadcast(&w->cv); /* a background slot is free */
	}
	pthread_mutex_unlock(&w->mu);
	if (c.pg)
		PQfinish(c.pg);
	nb_ch_free(c.ch);
	cache_free(&c);
	return NULL;
}

worker *worker_start(const nb_config *cfg, const char *exe, int wake_fd)
{
	worker *w = nb_xcalloc(1, sizeof *w);
	w->cfg = *cfg;
	w_copy(w->exe, sizeof w->exe, exe);
	w->wake_fd = wake_fd;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&w->th[i], NULL, worker_main, w);
	return w;
}

void worker_submit(worker *w, job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->in_tail)
		w->in_tail->next = j;
	else
		w->in_head = j;
	w->in_tail = j;
	/* every thread looks: the one woken may be unable to take a background job */
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int worker_cancel(worker *w, int view, enum job_kind kind, const char *keep_key)
{
	int n = 0;
	pthread_mutex_lock(&w->mu);
	job *prev = NULL, *j = w->in_head;
	while (j) {
		job *next = j->next;
		if (j->view == view && j->kind == kind && (!keep_key || strcmp(j->key, keep_key))) {
			if (prev)
				prev->next = next;
			else
				w->in_head = next;
			if (w->in_tail == j)
				w->in_tail = prev;
			j->rc = -1;
			j->cancelled = 1;
			nb_err_set(&j->err, NB_EINPUT, "cancelled: superseded before it ran");
			put_done(w, j);
			n++;
		} else {
			prev = j;
		}
		j = next;
	}
	pthread_mutex_unlock(&w->mu);
	return n;
}

job *worker_take(worker *w)
{
	pthread_mutex_lock(&w->mu);
	job *j = w->out_head;
	if (j) {
		w->out_head = j->next;
		if (!w->out_head)
			w->out_tail = NULL;
		j->next = NULL;
	}
	pthread_mutex_unlock(&w->mu);
	return j;
}

static void free_list(job *j)
{
	while (j) {
		job *n = j->next;
		job_free(j);
		j = n;
	}
}

/* The worker left to threads that outlived worker_stop. */
static worker *abandoned_worker;

void worker_stop(worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	__atomic_store_n(&w->stopping, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	/* A thread inside a long ClickHouse request (libneonblue has no way to
	 * abort one) is given a moment, then abandoned with the worker: the
	 * process is exiting and the request times out on its own. */
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 1;
	int abandoned = 0;
	for (int i = 0; i < NTHREADS; i++)
		if (pthread_timedjoin_np(w->th[i], NULL, &dl)) {
			pthread_detach(w->th[i]);
			abandoned = 1;
		}
	if (abandoned) {
		abandoned_worker = w; /* still reachable: not a leak */
		return;
	}
	free_list(w->in_head);
	free_list(w->out_head);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
