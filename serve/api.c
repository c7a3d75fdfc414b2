/* api.c — the /v1 routes of `neonblue serve` (docs/api.md): the same library
 * calls as the CLI — sticky assignment, events with ingest's validation and
 * idempotency, experiments and their lifecycle audited with the token's name,
 * and the analyses of `neonblue report|funnel|…` (nb_report_query_doc) over
 * ClickHouse. */
#include "serve.h"

#include "neonblue/analytics.h"
#include "neonblue/base.h"
#include "neonblue/ch.h"
#include "neonblue/report.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- POST /v1/assign ---- */

/* The checks of a POST /v1/assign body, before any database: 0 with the
 * user, the experiment (NULL: every running one) and the attributes (NULL:
 * none) pointing into *j (the caller deletes it), or -1 with rs answered. */
static int assign_parse(const char *body, size_t len, serve_resp *rs, cJSON **j,
			const char **user, const char **exp, const cJSON **attrs_out)
{
	*j = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(*j)) {
		cJSON_Delete(*j);
		*j = NULL;
		api_error(rs, 400, NULL, "the body is not a JSON object");
		return -1;
	}
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(*j, "user_id");
	const cJSON *ex = cJSON_GetObjectItemCaseSensitive(*j, "experiment");
	const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(*j, "attributes");
	const cJSON *it;
	cJSON_ArrayForEach(it, *j) if (strcmp(it->string, "user_id") && strcmp(it->string, "experiment") &&
				       strcmp(it->string, "attributes"))
	{
		char m[200];
		snprintf(m, sizeof m, "unknown field \"%.100s\"", it->string);
		api_error(rs, 400, it->string, m);
		return -1;
	}
	if (!cJSON_IsString(uid) || !uid->valuestring[0] || strlen(uid->valuestring) > 256)
		api_error(rs, 400, "user_id", "user_id: a non-empty string of at most 256 bytes is required");
	else if (ex && !cJSON_IsString(ex))
		api_error(rs, 400, "experiment", "experiment: must be a string (an experiment key)");
	else if (attrs && !cJSON_IsObject(attrs) && !cJSON_IsNull(attrs))
		api_error(rs, 400, "attributes", "attributes: must be an object");
	else {
		*user = uid->valuestring;
		*exp = ex ? ex->valuestring : NULL;
		*attrs_out = cJSON_IsObject(attrs) ? attrs : NULL;
		return 0;
	}
	return -1;
}

static void api_assign(const serve_req *rq, serve_resp *rs)
{
	cJSON *j;
	const char *user, *exp;
	const cJSON *attrs;
	if (assign_parse(rq->body, rq->len, rs, &j, &user, &exp, &attrs) == 0) {
		nb_err err;
		nb_err_clear(&err);
		const cJSON *a1[] = {attrs};
		if (exp) {
			nb_pg_assignment a;
			if (sticky_assign(rq->conn, exp, user, attrs, &a, &err)) {
				api_fail(rs, &err, err.code == NB_EINPUT ? "experiment" : NULL);
			} else {
				rs->status = 200;
				rs->body = nb_pg_assignment_to_json(exp, user, &a);
				rs->assigned += a.in_experiment;
			}
		} else {
			nb_pg_experiment *list;
			int n;
			if (nb_pg_experiment_list(rq->conn, "running", &list, &n, &err)) {
				api_fail(rs, &err, NULL);
			} else {
				cJSON *o = cJSON_CreateObject();
				cJSON_AddStringToObject(o, "user_id", user);
				cJSON *arr = cJSON_AddArrayToObject(o, "assignments");
				int failed = 0;
				for (int i = 0; i < n && !failed; i++) {
					nb_pg_assignment a;
					/* a holdout's members come from the experiments naming it */
					if (list[i].is_holdout)
						continue;
					if (nb_pg_assign_batch(rq->conn, &list[i], 1, &user, a1, &a, &err)) {
						failed = 1;
						break;
					}
					cJSON_AddItemToArray(arr, nb_pg_assignment_to_json(list[i].key, user, &a));
					rs->assigned += a.in_experiment;
				}
				for (int i = 0; i < n; i++)
					nb_pg_experiment_done(&list[i]);
				free(list);
				if (failed) {
					cJSON_Delete(o);
					api_fail(rs, &err, NULL);
				} else {
					rs->status = 200;
					rs->body = o;
				}
			}
		}
	}
	cJSON_Delete(j);
}

/* ---- POST /v1/events ---- */

/* The event field an error of nb_pg_event_from_json names, into out
 * (prefixed "[i]." when i >= 0); "" when it names none. */
static void event_field(const char *msg, char *out, size_t n, int i)
{
	static const char *const names[] = {"event_id", "user_id", "type", "ts", "value",
					    "properties", "experiment", NULL};
	const char *f = NULL;
	char quoted[100];
	for (int k = 0; names[k] && !f; k++) {
		size_t l = strlen(names[k]);
		if (!strncmp(msg, names[k], l) && (msg[l] == ' ' || msg[l] == ':'))
			f = names[k];
	}
	const char *q = strstr(msg, "field \"");
	if (!f && q && sscanf(q + 7, "%99[^\"]", quoted) == 1)
		f = quoted;
	out[0] = '\0';
	if (f && i >= 0)
		snprintf(out, n, "[%d].%s", i, f);
	else if (f)
		snprintf(out, n, "%s", f);
}

/* Validates the body of POST /v1/events: 1 with the events to commit in
 * *out (n of them), or 0 with the answer in rs (a refusal, or no events). */
static int events_parse(const serve_req *rq, serve_resp *rs, nb_pg_event **out, int *nout)
{
	*out = NULL;
	*nout = 0;
	cJSON *j = cJSON_ParseWithLength(rq->body, rq->len);
	if (!cJSON_IsObject(j) && !cJSON_IsArray(j)) {
		cJSON_Delete(j);
		api_error(rs, 400, NULL, "the body is not a JSON event object or an array of them");
		rs->events_bad++;
		return 0;
	}
	int arr = cJSON_IsArray(j);
	int n = arr ? cJSON_GetArraySize(j) : 1;
	if (n > SERVE_EVENTS_MAX) {
		char m[120];
		snprintf(m, sizeof m, "%d events in one request; at most %d", n, SERVE_EVENTS_MAX);
		api_error(rs, 413, NULL, m);
		rs->events_bad += n;
		cJSON_Delete(j);
		return 0;
	}
	nb_pg_event *evs = nb_xcalloc(n ? (size_t)n : 1, sizeof *evs);
	int ok = 0;
	nb_err err;
	nb_err_clear(&err);
	const cJSON *e = arr ? j->child : j;
	for (; e && ok < n; e = e->next, ok++) {
		if (!cJSON_IsObject(e)) {
			nb_err_set(&err, NB_EINPUT, "not a JSON object");
			break;
		}
		if (nb_pg_event_from_json(e, &evs[ok], &err))
			break;
		if (!arr)
			break;
	}
	if (!arr && !err.msg[0])
		ok = 1;
	cJSON_Delete(j);
	if (!err.msg[0] && n) {
		*out = evs;
		*nout = n;
		return 1;
	}
	if (err.msg[0]) {
		/* the field the message names ("type must be a string"); of event i
		 * of an array it is "[i].type" */
		char field[160] = "", msg[1200];
		event_field(err.msg, field, sizeof field, arr ? ok : -1);
		if (arr)
			snprintf(msg, sizeof msg, "event %d: %.1100s", ok, err.msg);
		else
			snprintf(msg, sizeof msg, "%s", err.msg);
		api_error(rs, 400, field[0] ? field : NULL, msg);
		cJSON_AddNumberToObject(rs->body, "index", arr ? ok : 0);
		rs->events_bad += n;
	} else {
		rs->status = 200;
		rs->body = cJSON_CreateObject();
		cJSON_AddNumberToObject(rs->body, "accepted", 0);
	}
	/* the events validated, and the one refused (it may hold strings) */
	for (int i = 0; i <= ok && i < n; i++)
		nb_pg_event_done(&evs[i]);
	free(evs);
	return 0;
}

/* The answer once the committer answered for n events (freed here). */
static void events_answer(serve_resp *rs, nb_pg_event *evs, int n, int rc, const nb_err *err)
{
	if (rc) {
		api_fail(rs, err, NULL);
		rs->events_bad += n;
	} else {
		rs->status = 200;
		rs->body = cJSON_CreateObject();
		cJSON_AddNumberToObject(rs->body, "accepted", n);
		rs->events_ok += n;
	}
	for (int i = 0; i < n; i++)
		nb_pg_event_done(&evs[i]);
	free(evs);
}

static void api_events(const serve_req *rq, serve_resp *rs)
{
	nb_pg_event *evs;
	int n;
	if (!events_parse(rq, rs, &evs, &n))
		return;
	nb_err err;
	nb_err_clear(&err);
	nb_pg_load_stats st;
	int rc = commit_events(evs, (size_t)n, &st, &err);
	events_answer(rs, evs, n, rc, &err);
}

/* ---- experiments ---- */

static void api_experiments(const serve_req *rq, serve_resp *rs)
{
	nb_err err;
	nb_err_clear(&err);
	nb_pg_experiment *list;
	int n;
	const char *status = rq->query ? rq->query(rq->query_ud, "status") : NULL;
	if (nb_pg_experiment_list(rq->conn, status, &list, &n, &err)) {
		api_fail(rs, &err, NULL);
		return;
	}
	rs->status = 200;
	rs->body = cJSON_CreateArray();
	for (int i = 0; i < n; i++) {
		cJSON_AddItemToArray(rs->body, nb_pg_experiment_to_json(&list[i]));
		nb_pg_experiment_done(&list[i]);
	}
	free(list);
}

static const char *const api_actions[] = {"start", "pause", "stop", "archive", NULL};

/* "/v1/experiments/KEY[/ACTION]" → key (and action) into buffers. */
static int api_exp_path(const char *path, char *key, size_t kn, char *act, size_t an)
{
	const char *p = path + strlen("/v1/experiments/");
	size_t k = strcspn(p, "/");
	if (!k || k >= kn)
		return -1;
	snprintf(key, kn, "%.*s", (int)k, p);
	act[0] = '\0';
	if (p[k] == '/')
		snprintf(act, an, "%s", p + k + 1);
	return 0;
}

static void api_experiment(const serve_req *rq, serve_resp *rs)
{
	char key[NB_PG_KEY_MAX + 2], act[32];
	nb_err err;
	nb_err_clear(&err);
	if (api_exp_path(rq->path, key, sizeof key, act, sizeof act) || !nb_pg_slug_ok(key)) {
		api_error(rs, 404, NULL, "no such experiment");
		return;
	}
	nb_pg_experiment e;
	memset(&e, 0, sizeof e);
	if (!act[0]) {
		if (nb_pg_experiment_get(rq->conn, key, 0, &e, &err)) {
			api_fail(rs, &err, NULL);
			return;
		}
	} else if (nb_pg_experiment_transition(rq->conn, key, act, rq->actor, &e, &err)) {
		api_fail(rs, &err, NULL);
		return;
	}
	rs->status = 200;
	rs->body = nb_pg_experiment_to_json(&e);
	nb_pg_experiment_done(&e);
}

static void api_experiment_create(const serve_req *rq, serve_resp *rs)
{
	cJSON *j = cJSON_ParseWithLength(rq->body, rq->len);
	nb_err err;
	nb_err_clear(&err);
	nb_pg_experiment e;
	memset(&e, 0, sizeof e);
	if (!cJSON_IsObject(j))
		api_error(rs, 400, NULL, "the body is not a JSON object (an experiment definition)");
	else if (nb_pg_experiment_from_json(j, &e, &err) || nb_pg_experiment_validate(&e, &err) ||
		 nb_pg_experiment_create(rq->conn, &e, rq->actor, &err))
		api_fail(rs, &err, NULL);
	else {
		rs->status = 201;
		rs->body = nb_pg_experiment_to_json(&e);
	}
	nb_pg_experiment_done(&e);
	cJSON_Delete(j);
}

/* ---- GET /api/features/{client_key}: the GrowthBook SDK payload ---- */

static struct {
	pthread_mutex_t mu;
	char version[100];  /* nb_pg_features_version's, when built after one */
	unsigned long gen;  /* sticky_generation's + 1, when built after one; 0: none */
	char *text;
} fcache = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The payload text, rebuilt only when the running experiments or the saved
 * groups changed; otherwise the cached text. Whether they changed is known
 * from the generation of sticky.c's check (at most every 100 ms, on its own
 * thread: no query per call), or, while that check fails, from a version
 * query. A copy (the caller frees) or NULL with err. Shared by /api/features
 * and the notifier of GET /sub (sse.c), which forces a rebuild on every CDC
 * change (a change of variants alone would not move the version), so the
 * cache is fresh before the next request asks. */
char *api_features_text(PGconn *conn, int force, nb_err *err)
{
	char v[100] = "";
	int fresh;
	unsigned long gen = sticky_generation(conn, &fresh) + 1; /* never 0 */
	if (!fresh && nb_pg_features_version(conn, v, sizeof v, err))
		return NULL;
	char *out = NULL;
	pthread_mutex_lock(&fcache.mu);
	int same = !force && fcache.text &&
		   (fresh ? fcache.gen == gen : !strcmp(v, fcache.version));
	if (!same) {
		cJSON *p = nb_pg_features_payload(conn, err);
		if (p && serve_flag_features_add(conn, p, err)) {
			cJSON_Delete(p);
			p = NULL;
		}
		if (p) {
			free(fcache.text);
			fcache.text = nb_json_print(p);
			snprintf(fcache.version, sizeof fcache.version, "%s", fresh ? "" : v);
			fcache.gen = fresh ? gen : 0;
			cJSON_Delete(p);
		} else {
			/* a failed rebuild must not serve the payload of another version */
			pthread_mutex_unlock(&fcache.mu);
			return NULL;
		}
	}
	out = nb_xstrdup(fcache.text);
	pthread_mutex_unlock(&fcache.mu);
	return out;
}

static void api_features(const serve_req *rq, serve_resp *rs)
{
	nb_err err;
	nb_err_clear(&err);
	rs->text = api_features_text(rq->conn, 0, &err);
	if (rs->text)
		rs->status = 200;
	else
		api_fail(rs, &err, NULL);
}

/* ---- GET /v1/experiments/{key}/report|funnel|cohort|revenue|segments ---- */

/* One ClickHouse handle per request thread, made on first use; all are
 * freed by api_done. */
static pthread_mutex_t chs_mu = PTHREAD_MUTEX_INITIALIZER;
static nb_ch **chs;
static size_t nchs;
static __thread nb_ch *tch;

static nb_ch *thread_ch(const nb_config *cfg, nb_err *err)
{
	if (tch)
		return tch;
	if (nb_config_require_clickhouse(cfg, err) || !(tch = nb_ch_new(cfg->clickhouse, err)))
		return NULL;
	nb_ch_set_timeouts(tch, 120, 3); /* a report over many events takes a while */
	pthread_mutex_lock(&chs_mu);
	chs = nb_xrealloc(chs, (nchs + 1) * sizeof *chs);
	chs[nchs++] = tch;
	pthread_mutex_unlock(&chs_mu);
	return tch;
}

typedef struct report_params {
	nb_report_query *q;
	nb_err err;
	char field[80];
	int unknown;
} report_params;

static int report_param(void *ud, const char *name, const char *value)
{
	report_params *p = ud;
	int k = nb_report_query_set(p->q, name, value, &p->err);
	if (!k)
		return 0;
	snprintf(p->field, sizeof p->field, "%.79s", name);
	if (k > 0)
		nb_err_set(&p->err, NB_EINPUT, "unknown parameter \"%.80s\" (see docs/api.md)", name);
	return 1;
}

static void api_report(const serve_req *rq, serve_resp *rs, enum nb_report_kind kind)
{
	char key[NB_PG_KEY_MAX + 2], act[32];
	if (api_exp_path(rq->path, key, sizeof key, act, sizeof act) || !nb_pg_slug_ok(key)) {
		api_error(rs, 404, NULL, "no such experiment");
		return;
	}
	nb_report_query q;
	nb_report_query_init(&q);
	report_params p = {.q = &q};
	nb_err_clear(&p.err);
	if (rq->query_each && rq->query_each(rq->query_ud, report_param, &p)) {
		api_error(rs, 400, p.field, p.err.msg);
		nb_report_query_done(&q);
		return;
	}
	const char *param = NULL;
	nb_ch *ch = NULL;
	cJSON *doc = NULL;
	if (!nb_report_query_check(&q, kind, &param, &p.err) && (ch = thread_ch(rq->cfg, &p.err)))
		doc = nb_report_query_doc(ch, kind, key, &q, &param, &p.err);
	if (doc) {
		rs->status = 200;
		rs->body = doc;
	} else if (p.err.code != NB_EINPUT) {
		api_error(rs, 503, NULL, p.err.msg[0] ? p.err.msg : "ClickHouse failed");
	} else if (param && !strcmp(param, "experiment")) {
		api_error(rs, 404, NULL, p.err.msg);
	} else {
		api_error(rs, 400, param, p.err.msg);
	}
	nb_report_query_done(&q);
}

void api_done(void)
{
	sticky_stop();
	pthread_mutex_lock(&fcache.mu);
	free(fcache.text);
	fcache.text = NULL;
	pthread_mutex_unlock(&fcache.mu);
	pthread_mutex_lock(&chs_mu);
	for (size_t i = 0; i < nchs; i++)
		nb_ch_free(chs[i]);
	free(chs);
	chs = NULL;
	nchs = 0;
	pthread_mutex_unlock(&chs_mu);
}

/* ---- routing ---- */

/* "/v1/experiments/KEY/KIND" with KIND one of the analyses: the kind, or -1. */
static int api_report_kind(const char *path)
{
	if (strncmp(path, "/v1/experiments/", 16))
		return -1;
	const char *p = path + 16;
	size_t k = strcspn(p, "/");
	return k && p[k] == '/' ? nb_report_kind_from_name(p + k + 1) : -1;
}

static int api_is_exp_path(const char *path, int with_action)
{
	if (strncmp(path, "/v1/experiments/", 16))
		return 0;
	const char *p = path + 16;
	size_t k = strcspn(p, "/");
	if (!k)
		return 0;
	if (!p[k])
		return !with_action;
	if (!with_action)
		return 0;
	for (int i = 0; api_actions[i]; i++)
		if (!strcmp(p + k + 1, api_actions[i]))
			return 1;
	return 0;
}

const char *api_route(const char *method, const char *path, int *scope)
{
	int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	*scope = 0;
	if (get && !strncmp(path, "/api/features/", 14) && path[14] && !strchr(path + 14, '/'))
		return *scope = NB_SCOPE_FEATURES, "features";
	/* the stream (sse.c); "/sub" and "/sub/" too, refused for the missing key */
	if (get && (!strcmp(path, "/sub") || (!strncmp(path, "/sub/", 5) && !strchr(path + 5, '/'))))
		return *scope = NB_SCOPE_FEATURES, "sub";
	if (post && !strcmp(path, "/v1/assign"))
		return *scope = NB_SCOPE_ASSIGN, "assign";
	if (post && !strcmp(path, "/v1/events"))
		return *scope = NB_SCOPE_TRACK, "events";
	if (get && !strcmp(path, "/v1/experiments"))
		return *scope = NB_SCOPE_READ, "experiments";
	if (post && !strcmp(path, "/v1/experiments"))
		return *scope = NB_SCOPE_ADMIN, "experiment_create";
	if (get && api_is_exp_path(path, 0))
		return *scope = NB_SCOPE_READ, "experiment";
	int kind = get ? api_report_kind(path) : -1;
	if (kind >= 0)
		return *scope = NB_SCOPE_READ, nb_report_kind_name((enum nb_report_kind)kind);
	if (post && api_is_exp_path(path, 1))
		return *scope = NB_SCOPE_ADMIN, "experiment_lifecycle";
	const char *flags = flags_route(method, path, scope);
	return flags ? flags : "";
}

void api_handle(const serve_req *rq, serve_resp *rs)
{
	int scope;
	const char *r = api_route(rq->method, rq->path, &scope);
	if (!strcmp(r, "assign"))
		api_assign(rq, rs);
	else if (!strcmp(r, "events"))
		api_events(rq, rs);
	else if (!strcmp(r, "experiments"))
		api_experiments(rq, rs);
	else if (!strcmp(r, "experiment_create"))
		api_experiment_create(rq, rs);
	else if (!strcmp(r, "features"))
		api_features(rq, rs);
	else if (!strcmp(r, "experiment") || !strcmp(r, "experiment_lifecycle"))
		api_experiment(rq, rs);
	else if (flags_handle(r, rq, rs))
		; /* answered by flags.c */
	else if (api_report_kind(rq->path) >= 0 && !strcmp(rq->method, "GET"))
		api_report(rq, rs, (enum nb_report_kind)api_report_kind(rq->path));
	else
		api_error(rs, 404, NULL, "no such route");
}

/* ---- without holding the request thread ---- */

struct api_pending {
	nb_pg_event *evs; /* events: n of them, committed by job */
	int n;
	commit_job *job;
	sticky_job *sj; /* assign: the user queued for the assigner */
	char *exp, *user;
};

int api_start(const serve_req *rq, serve_resp *rs, void (*cb)(void *), void *ud,
	      api_pending **out)
{
	*out = NULL;
	int scope;
	const char *r = api_route(rq->method, rq->path, &scope);
	if (!strcmp(r, "events")) {
		nb_pg_event *evs;
		int n;
		if (!events_parse(rq, rs, &evs, &n))
			return 0;
		api_pending *p = nb_xcalloc(1, sizeof *p);
		p->evs = evs;
		p->n = n;
		p->job = commit_events_async(evs, (size_t)n, cb, ud);
		*out = p;
		return 1;
	}
	if (strcmp(r, "assign")) {
		api_handle(rq, rs);
		return 0;
	}
	cJSON *j;
	const char *user, *exp;
	const cJSON *attrs;
	nb_pg_assignment a;
	unsigned long gen;
	int queued = 0;
	if (assign_parse(rq->body, rq->len, rs, &j, &user, &exp, &attrs)) {
		/* refused: rs says why */
	} else if (!exp) {
		cJSON_Delete(j); /* every running experiment: answered here */
		api_assign(rq, rs);
		return 0;
	} else if (sticky_lookup(rq->conn, exp, user, &a, &gen)) {
		rs->status = 200;
		rs->body = nb_pg_assignment_to_json(exp, user, &a);
		rs->assigned += a.in_experiment;
	} else {
		api_pending *p = nb_xcalloc(1, sizeof *p);
		p->exp = nb_xstrdup(exp);
		p->user = nb_xstrdup(user);
		p->sj = sticky_queue(exp, user, attrs, gen, cb, ud);
		*out = p;
		queued = 1;
	}
	cJSON_Delete(j);
	return queued;
}

void api_finish(api_pending *p, serve_resp *rs)
{
	nb_err err;
	nb_err_clear(&err);
	if (p->sj) {
		nb_pg_assignment a;
		if (sticky_finish(p->sj, &a, &err)) {
			api_fail(rs, &err, err.code == NB_EINPUT ? "experiment" : NULL);
		} else {
			rs->status = 200;
			rs->body = nb_pg_assignment_to_json(p->exp, p->user, &a);
			rs->assigned += a.in_experiment;
		}
		free(p->exp);
		free(p->user);
	} else {
		nb_pg_load_stats st;
		int rc = commit_job_finish(p->job, &st, &err);
		events_answer(rs, p->evs, p->n, rc, &err);
	}
	free(p);
}
