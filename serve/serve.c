/* serve.c — `neonblue serve`: the HTTP API on libmicrohttpd (a pool of
 * threads, each with its own PostgreSQL connection): bodies, bearer tokens
 * and scopes, per-token rate limits, /healthz, /readyz, /metrics, draining on
 * SIGTERM; the /v1 routes are api.c's. */
#include "serve.h"

#include "neonblue/base.h"

#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char serve_help[] =
	"usage: neonblue serve [--listen ADDR:PORT] [--threads N] [--sse-keepalive SECONDS]\n"
	"\n"
	"The HTTP API applications call (docs/api.md): POST /v1/assign, POST /v1/events,\n"
	"GET/POST /v1/experiments..., GET /v1/experiments/KEY/report|funnel|cohort|\n"
	"revenue|segments (ClickHouse; the report commands' flags as query parameters),\n"
	"GET/POST /v1/flags, GET /v1/flags/KEY, POST /v1/flags/KEY/on|off|rollout\n"
	"(rollout's body: {\"percent\": 25}), GET /healthz, /readyz, /metrics (with\n"
	"the pipeline's lag under a stack). Requests carry `Authorization: Bearer\n"
	"TOKEN` (`neonblue token create`); a token needs the route's scope and is\n"
	"held to its rate. GrowthBook SDKs use a client key (scope features):\n"
	"GET /api/features/KEY, the payload (running experiments and flags), and\n"
	"GET /sub/KEY, the payload again as server-sent events whenever an experiment,\n"
	"flag or saved group changes, driven by the CDC topics (needs Kafka:\n"
	"NEONBLUE_KAFKA or --kafka; else 503). SIGTERM ends the streams, finishes the\n"
	"requests in flight, then exits.\n"
	"\n"
	"  --listen ADDR:PORT       where to listen (default 127.0.0.1:8080; an IPv4 address)\n"
	"  --threads N              request threads, each with a PostgreSQL connection (default 8);\n"
	"                           events and new users' assignments wait for the group\n"
	"                           committer and the assigner without holding a thread\n"
	"  --sse-keepalive SECONDS  a comment line on idle /sub streams this often (default 15)\n"
	"\n" NB_FRONT_GLOBAL_HELP;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- tokens: the active ones, refreshed every 500 ms; a bucket each ---- */

typedef struct tok {
	nb_pg_token t;
	double level, at; /* token bucket: requests available, as of at */
} tok;

static struct {
	pthread_mutex_t mu;
	tok *v;
	size_t n;
	int loaded, pg_ok;
} toks = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void tokens_refresh(PGconn **conn, const nb_config *cfg)
{
	nb_err err;
	nb_err_clear(&err);
	if (!*conn || PQstatus(*conn) != CONNECTION_OK) {
		if (*conn)
			PQfinish(*conn);
		*conn = nb_pg_connect(cfg, &err);
	}
	nb_pg_token *fresh = NULL;
	size_t n = 0;
	int ok = *conn && nb_pg_tokens_active(*conn, &fresh, &n, &err) == 0;
	pthread_mutex_lock(&toks.mu);
	toks.pg_ok = ok;
	if (ok) {
		tok *v = nb_xcalloc(n + 1, sizeof *v);
		for (size_t i = 0; i < n; i++) {
			v[i].t = fresh[i];
			v[i].level = fresh[i].rate;
			v[i].at = now_s();
			for (size_t k = 0; k < toks.n; k++)
				if (!strcmp(toks.v[k].t.name, fresh[i].name)) {
					v[i].level = toks.v[k].level;
					v[i].at = toks.v[k].at;
				}
		}
		free(toks.v);
		toks.v = v;
		toks.n = n;
		toks.loaded = 1;
	}
	pthread_mutex_unlock(&toks.mu);
	free(fresh);
}

enum auth { AUTH_OK, AUTH_NONE, AUTH_SCOPE, AUTH_RATE };

/* Finds the bearer token, checks the scope and takes one request from its
 * bucket. name gets the token's name; *retry the seconds until the next. */
static enum auth tokens_check(const char *header, int scope, char *name, size_t nn, double *retry)
{
	if (!header || strncmp(header, "Bearer ", 7) || !header[7])
		return AUTH_NONE;
	/* the hash of this thread's last token (a client sends the same one on
	 * every request): no SHA-256 per request */
	static __thread char last[300], last_hash[65];
	const char *secret = header + 7;
	size_t sl = strlen(secret);
	if (sl >= sizeof last || memcmp(last, secret, sl + 1)) {
		nb_pg_token_hash(secret, last_hash);
		if (sl < sizeof last)
			memcpy(last, secret, sl + 1);
		else
			last[0] = '\0';
	}
	const char *hash = last_hash;
	enum auth r = AUTH_NONE;
	pthread_mutex_lock(&toks.mu);
	for (size_t i = 0; i < toks.n; i++) {
		tok *t = &toks.v[i];
		if (strcmp(t->t.hash, hash))
			continue;
		double now = now_s();
		if (t->t.expires && t->t.expires <= now)
			break;
		snprintf(name, nn, "%s", t->t.name);
		if ((t->t.scopes & scope) != scope) {
			r = AUTH_SCOPE;
			break;
		}
		r = AUTH_OK;
		if (t->t.rate > 0) {
			t->level = fmin(t->t.rate, t->level + (now - t->at) * t->t.rate);
			t->at = now;
			if (t->level >= 1) {
				t->level -= 1;
			} else {
				r = AUTH_RATE;
				*retry = (1 - t->level) / t->t.rate;
			}
		}
		break;
	}
	pthread_mutex_unlock(&toks.mu);
	return r;
}

/* For sse.c: whether a token of this hash is active with scope (no rate
 * taken), so the streams of a revoked or expired client key end. */
static int token_active(const char *hash, int scope)
{
	int ok = 0;
	double now = now_s();
	pthread_mutex_lock(&toks.mu);
	for (size_t i = 0; i < toks.n && !ok; i++)
		ok = !strcmp(toks.v[i].t.hash, hash) && (!toks.v[i].t.expires || toks.v[i].t.expires > now) &&
		     (toks.v[i].t.scopes & scope) == scope;
	pthread_mutex_unlock(&toks.mu);
	return ok;
}

/* ---- /metrics ---- */

static const char *const m_routes[] = {"assign", "events", "experiments", "experiment_create",
				       "experiment", "experiment_lifecycle", "report", "funnel",
				       "cohort", "revenue", "segments", "healthz", "readyz",
				       "metrics", "features", "sub", "flags", "flag_create", "flag",
				       "flag_change", "other"};
#define M_ROUTES (int)(sizeof m_routes / sizeof *m_routes)
static const int m_codes[] = {200, 201, 400, 401, 403, 404, 405, 413, 429, 500, 503};
#define M_CODES (int)(sizeof m_codes / sizeof *m_codes)
static const double m_le[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5};
#define M_LE (int)(sizeof m_le / sizeof *m_le)

static struct {
	pthread_mutex_t mu;
	long req[M_ROUTES][M_CODES];
	long hist[M_ROUTES][M_LE + 1];
	double sum[M_ROUTES];
	long assigned, events_ok, events_bad;
} met = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int m_route_index(const char *r)
{
	for (int i = 0; i < M_ROUTES - 1; i++)
		if (!strcmp(m_routes[i], r))
			return i;
	return M_ROUTES - 1;
}

static void metrics_count(const char *route, int status, double secs, const serve_resp *rs)
{
	int ri = m_route_index(route), ci = -1;
	for (int i = 0; i < M_CODES; i++)
		if (m_codes[i] == status)
			ci = i;
	pthread_mutex_lock(&met.mu);
	if (ci >= 0)
		met.req[ri][ci]++;
	int b = 0;
	while (b < M_LE && secs > m_le[b])
		b++;
	met.hist[ri][b]++;
	met.sum[ri] += secs;
	if (rs) {
		met.assigned += rs->assigned;
		met.events_ok += rs->events_ok;
		met.events_bad += rs->events_bad;
	}
	pthread_mutex_unlock(&met.mu);
}

static char *metrics_text(const char *home)
{
	nb_buf b;
	nb_buf_init(&b);
	pthread_mutex_lock(&met.mu);
	nb_buf_puts(&b, "# HELP nb_http_requests_total HTTP requests by route and status.\n"
			"# TYPE nb_http_requests_total counter\n");
	for (int r = 0; r < M_ROUTES; r++)
		for (int c = 0; c < M_CODES; c++)
			if (met.req[r][c])
				nb_buf_printf(&b, "nb_http_requests_total{route=\"%s\",status=\"%d\"} %ld\n",
					      m_routes[r], m_codes[c], met.req[r][c]);
	nb_buf_puts(&b, "# HELP nb_http_request_duration_seconds Time to answer, by route.\n"
			"# TYPE nb_http_request_duration_seconds histogram\n");
	for (int r = 0; r < M_ROUTES; r++) {
		long cum = 0;
		for (int i = 0; i <= M_LE; i++) {
			cum += met.hist[r][i];
			if (i < M_LE)
				nb_buf_printf(&b, "nb_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %ld\n",
					      m_routes[r], m_le[i], cum);
			else
				nb_buf_printf(&b, "nb_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %ld\n",
					      m_routes[r], cum);
		}
		nb_buf_printf(&b, "nb_http_request_duration_seconds_sum{route=\"%s\"} %.9g\n", m_routes[r],
			      met.sum[r]);
		nb_buf_printf(&b, "nb_http_request_duration_seconds_count{route=\"%s\"} %ld\n", m_routes[r],
			      cum);
	}
	nb_buf_printf(&b,
		      "# HELP nb_assignments_total Users assigned into an experiment by POST /v1/assign.\n"
		      "# TYPE nb_assignments_total counter\nnb_assignments_total %ld\n"
		      "# HELP nb_events_accepted_total Events committed by POST /v1/events.\n"
		      "# TYPE nb_events_accepted_total counter\nnb_events_accepted_total %ld\n"
		      "# HELP nb_events_rejected_total Events of refused POST /v1/events requests.\n"
		      "# TYPE nb_events_rejected_total counter\nnb_events_rejected_total %ld\n",
		      met.assigned, met.events_ok, met.events_bad);
	pthread_mutex_unlock(&met.mu);
	commit_metrics(&b);
	sticky_metrics(&b);
	lag_metrics(&b, home);
	sse_metrics(&b);
	return nb_buf_steal(&b);
}

/* ---- PostgreSQL: one connection per request thread ---- */

static nb_config g_cfg;
static pthread_mutex_t conns_mu = PTHREAD_MUTEX_INITIALIZER;
static PGconn **conns;
static size_t nconns;
static __thread PGconn *tconn;
static __thread int tconn_slot = -1;

/* This thread's connection, reconnected when it broke; NULL when PostgreSQL
 * cannot be reached (the request gets 503). */
static __thread double tconn_checked;

static PGconn *thread_conn(nb_err *err)
{
	/* reading what the server sent meanwhile notices a connection it closed;
	 * at most every 100 ms (a system call per request otherwise: a request
	 * whose connection broke since runs once more on a new one, below) */
	double now = now_s();
	if (tconn && PQstatus(tconn) == CONNECTION_OK && now - tconn_checked < 0.1)
		return tconn;
	tconn_checked = now;
	if (tconn && PQconsumeInput(tconn) && PQstatus(tconn) == CONNECTION_OK)
		return tconn;
	if (tconn)
		PQfinish(tconn);
	tconn = nb_pg_connect(&g_cfg, err);
	pthread_mutex_lock(&conns_mu);
	if (tconn_slot < 0) {
		conns = nb_xrealloc(conns, (nconns + 1) * sizeof *conns);
		tconn_slot = (int)nconns++;
	}
	conns[tconn_slot] = tconn;
	pthread_mutex_unlock(&conns_mu);
	return tconn;
}

/* ---- requests ---- */

typedef struct conn_state {
	nb_buf body;
	size_t limit;
	int too_big;
	double start;
	api_pending *pending; /* queued by api_start; the connection is suspended */
} conn_state;

/* libmicrohttpd's memory per connection (request line, headers, read
 * buffer): zeroed after every request, so the 32 KiB default cost a 32 KiB
 * memset per request (3-4 % of the server's CPU for single events); 16 KiB
 * holds any sane header block, and bodies stream through it in chunks */
#define SERVE_CONN_POOL 16384

static volatile sig_atomic_t g_stop;
static pthread_mutex_t active_mu = PTHREAD_MUTEX_INITIALIZER;
static long g_active;

/* sdk: an answer of the GrowthBook routes (/api/features, /sub): any origin
 * may read it (a client key is public), and /api/features tells the SDK
 * whether GET /sub streams (x-sse-support). */
static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *ctype, char *text,
			     double retry, int sdk)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", ctype);
	if (sdk) {
		MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
		MHD_add_response_header(r, "Access-Control-Expose-Headers", "x-sse-support");
		if (sse_enabled())
			MHD_add_response_header(r, "x-sse-support", "enabled");
	}
	if (retry > 0) {
		char ra[32];
		snprintf(ra, sizeof ra, "%d", (int)ceil(retry));
		MHD_add_response_header(r, "Retry-After", ra);
	}
	enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, serve_resp *rs, double retry, int sdk)
{
	char *text = rs->text ? rs->text : rs->body ? nb_json_print(rs->body) : nb_xstrdup("{}");
	rs->text = NULL;
	size_t n = strlen(text);
	text = nb_xrealloc(text, n + 2);
	text[n] = '\n';
	text[n + 1] = '\0';
	cJSON_Delete(rs->body);
	rs->body = NULL;
	return reply(c, rs->status, "application/json", text, retry, sdk);
}

/* The committer's or the assigner's thread, once a suspended request is answered. */
static void request_answered(void *c)
{
	MHD_resume_connection(c);
}

static const char *query_arg(void *ud, const char *name)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)ud, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct query_walk {
	int (*fn)(void *fud, const char *name, const char *value);
	void *fud;
	int rc;
} query_walk;

static enum MHD_Result query_walk_one(void *cls, enum MHD_ValueKind kind, const char *name,
				      const char *value)
{
	(void)kind;
	query_walk *w = cls;
	w->rc = w->fn(w->fud, name, value);
	return w->rc ? MHD_NO : MHD_YES;
}

static int query_each(void *ud, int (*fn)(void *fud, const char *name, const char *value),
		      void *fud)
{
	query_walk w = {fn, fud, 0};
	MHD_get_connection_values((struct MHD_Connection *)ud, MHD_GET_ARGUMENT_KIND, query_walk_one,
				  &w);
	return w.rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	(void)cls;
	(void)version;
	conn_state *st = *state;
	int events = !strcmp(url, "/v1/events");
	if (!st) {
		st = nb_xcalloc(1, sizeof *st);
		nb_buf_init(&st->body);
		st->limit = events ? SERVE_EVENTS_BODY_MAX : SERVE_BODY_MAX;
		st->start = now_s();
		*state = st;
		pthread_mutex_lock(&active_mu);
		g_active++;
		pthread_mutex_unlock(&active_mu);
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (!cl || strtoull(cl, NULL, 10) <= st->limit)
			return MHD_YES;
		st->too_big = 1;
	}
	if (*upload_size) {
		if (st->body.len + *upload_size > st->limit)
			st->too_big = 1;
		else
			nb_buf_append(&st->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	serve_resp rs = {0};
	int scope = 0;
	const char *route = api_route(method, url, &scope);
	double retry = 0;
	if (st->pending) { /* resumed: answered */
		api_finish(st->pending, &rs);
		st->pending = NULL;
	} else if (st->too_big) {
		char m[120];
		snprintf(m, sizeof m, "the body is larger than %zu MiB", st->limit >> 20);
		api_error(&rs, 413, NULL, m);
		route = route[0] ? route : "other";
	} else if (!strcmp(url, "/healthz") && !strcmp(method, "GET")) {
		route = "healthz";
		rs.status = 200;
		rs.body = cJSON_CreateObject();
		cJSON_AddStringToObject(rs.body, "status", "alive");
	} else if (!strcmp(url, "/readyz") && !strcmp(method, "GET")) {
		route = "readyz";
		nb_err err;
		nb_err_clear(&err);
		PGconn *pc = thread_conn(&err);
		PGresult *r = pc ? PQexec(pc, "SELECT 1") : NULL;
		int ok = r && PQresultStatus(r) == PGRES_TUPLES_OK;
		if (r)
			PQclear(r);
		rs.status = ok ? 200 : 503;
		rs.body = cJSON_CreateObject();
		cJSON_AddStringToObject(rs.body, "status", ok ? "ready" : "PostgreSQL unreachable");
		if (!ok && err.msg[0])
			cJSON_AddStringToObject(rs.body, "error", err.msg);
	} else if (!strcmp(url, "/metrics") && !strcmp(method, "GET")) {
		metrics_count("metrics", 200, now_s() - st->start, NULL);
		return reply(c, 200, "text/plain; version=0.0.4", metrics_text(g_cfg.home), 0, 0);
	} else if (!route[0]) {
		route = "other";
		api_error(&rs, 404, NULL, "no such route (see docs/api.md)");
	} else {
		char name[NB_PG_KEY_MAX + 1] = "", keyhdr[300];
		const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
		int sdk = !strcmp(route, "features") || !strcmp(route, "sub");
		if (sdk) { /* the client key is in the path */
			const char *k = !strcmp(route, "sub") ? (url[4] ? url + 5 : "")
							      : url + strlen("/api/features/");
			snprintf(keyhdr, sizeof keyhdr, "Bearer %.280s", k);
			authz = keyhdr;
		}
		enum auth a = tokens_check(authz, scope, name, sizeof name, &retry);
		if (a == AUTH_NONE && sdk) {
			api_error(&rs, 401, NULL, "a valid client key (a token with scope features) is "
						  "required in the path");
		} else if (a == AUTH_NONE) {
			api_error(&rs, 401, NULL, "a valid bearer token is required (Authorization: Bearer TOKEN)");
		} else if (a == AUTH_SCOPE) {
			api_error(&rs, 403, NULL, "the token lacks the scope this route needs");
		} else if (a == AUTH_RATE) {
			api_error(&rs, 429, NULL, "over the token's rate limit");
		} else {
			nb_err err;
			nb_err_clear(&err);
			PGconn *pc = thread_conn(&err);
			int queued;
			char hash[65];
			if (!pc) {
				api_error(&rs, 503, NULL, err.msg);
			} else if (!strcmp(route, "sub")) {
				/* the stream (sse.c) stays open after this returns */
				nb_pg_token_hash(authz + 7, hash);
				if (sse_open(c, pc, hash, &rs, &queued)) {
					metrics_count(route, 200, now_s() - st->start, NULL);
					return (enum MHD_Result)queued;
				}
			} else {
				nb_buf_putc(&st->body, '\0');
				st->body.len--;
				serve_req rq = {.method = method, .path = url,
						.body = st->body.data ? st->body.data : "",
						.len = st->body.len, .actor = name, .scopes = scope,
						.conn = pc, .query = query_arg, .query_each = query_each,
						.query_ud = c, .cfg = &g_cfg};
				/* events and new users' assignments wait for their group
				 * without holding this thread: it serves its other
				 * connections meanwhile */
				if (api_start(&rq, &rs, request_answered, c, &st->pending)) {
					MHD_suspend_connection(c);
					return MHD_YES;
				}
				/* the connection broke under the request (a restarted or
				 * terminated backend): nothing was committed on it, so the
				 * request runs once more on a new connection */
				if (rs.status == 503 && PQstatus(pc) != CONNECTION_OK &&
				    (pc = thread_conn(&err))) {
					cJSON_Delete(rs.body);
					memset(&rs, 0, sizeof rs);
					rq.conn = pc;
					api_handle(&rq, &rs);
				}
			}
		}
	}
	metrics_count(route, rs.status, now_s() - st->start, &rs);
	return reply_json(c, &rs, retry, !strcmp(route, "features") || !strcmp(route, "sub"));
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
		      enum MHD_RequestTerminationCode why)
{
	(void)cls;
	(void)c;
	(void)why;
	conn_state *st = *state;
	if (!st)
		return;
	if (st->pending) { /* closed before its answer went out */
		serve_resp rs = {0};
		api_finish(st->pending, &rs);
		cJSON_Delete(rs.body);
	}
	nb_buf_done(&st->body);
	free(st);
	*state = NULL;
	pthread_mutex_lock(&active_mu);
	g_active--;
	pthread_mutex_unlock(&active_mu);
}


/* libmicrohttpd's error log, with the tokens of the URLs it quotes masked
 * (client keys travel in the path), and without the normal end of a /sub
 * stream whose client went away. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char m[1024];
	vsnprintf(m, sizeof m, fmt, ap);
	if (strstr(m, "/sub/") && strstr(m, "no longer available"))
		return;
	for (char *p = m; (p = strstr(p, "nbt_"));)
		for (p += 4; *p && *p != '\'' && *p != ' ' && *p != '/' && *p != '\n'; p++)
			*p = '*';
	fputs(m, stderr);
}

static int parse_listen(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || (size_t)(colon - s) >= sizeof host)
		return -1;
	snprintf(host, sizeof host, "%.*s", (int)(colon - s), s);
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -1;
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof host, "127.0.0.1");
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

int cmd_serve(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		fputs(serve_help, stdout);
		return 0;
	}
	const char *listen = "127.0.0.1:8080";
	int threads = 8, keepalive = 15;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--listen") && i + 1 < argc)
			listen = argv[++i];
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			if (nb_front_positive_int("serve", "--threads", argv[++i], &threads))
				return 2;
		} else if (!strcmp(argv[i], "--sse-keepalive") && i + 1 < argc) {
			if (nb_front_positive_int("serve", "--sse-keepalive", argv[++i], &keepalive))
				return 2;
		} else if (!strcmp(argv[i], "--listen") || !strcmp(argv[i], "--threads") ||
			   !strcmp(argv[i], "--sse-keepalive"))
			return nb_front_usage_error("serve", "%s needs a value", argv[i]);
		else
			return nb_front_usage_error("serve", "unknown argument '%s'", argv[i]);
	}
	struct sockaddr_in sa;
	if (parse_listen(listen, &sa))
		return nb_front_usage_error("serve", "--listen: \"%s\" is not IPV4-ADDRESS:PORT", listen);
	nb_err err;
	nb_err_clear(&err);
	if (nb_config_require_pg(&ctx->cfg, &err))
		return nb_front_fail(&err);
	g_cfg = ctx->cfg;
	PGconn *tokconn = NULL;
	tokens_refresh(&tokconn, &g_cfg);
	if (!toks.loaded) {
		PQfinish(tokconn);
		nb_err_set(&err, NB_ESERVER, "serve: cannot read the tokens from PostgreSQL (is it up "
					     "and migrated?)");
		return nb_front_fail(&err);
	}
	/* SIGTERM and SIGINT are taken by the main thread only (sigtimedwait
	 * below): blocked before any thread starts, so no request thread's
	 * PostgreSQL I/O is interrupted while it drains */
	sigset_t stops;
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stops, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (commit_start(&g_cfg, &err) || sticky_start(&g_cfg, &err)) {
		commit_stop();
		PQfinish(tokconn);
		return nb_front_fail(&err);
	}
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY | MHD_USE_ITC |
			MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL,
		NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_NOTIFY_COMPLETED, completed,
		NULL, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 4096u,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)SERVE_CONN_POOL, MHD_OPTION_END);
	if (!d) {
		commit_stop();
		sticky_stop();
		PQfinish(tokconn);
		nb_err_set(&err, NB_ESERVER, "serve: cannot listen on %s (in use?)", listen);
		return nb_front_fail(&err);
	}
	sse_start(&g_cfg, keepalive, token_active);
	fprintf(stderr, "neonblue serve: listening on http://%s (%d threads)\n", listen, threads);
	while (!g_stop) {
		struct timespec half = {0, 500000000};
		if (sigtimedwait(&stops, NULL, &half) > 0)
			g_stop = 1;
		else
			tokens_refresh(&tokconn, &g_cfg);
	}
	/* drain: stop accepting, let the requests in flight finish (10 s at most) */
	MHD_quiesce_daemon(d);
	sse_drain(); /* the streams end (their connections close), new ones get 503 */
	for (int i = 0; i < 100; i++) {
		pthread_mutex_lock(&active_mu);
		long n = g_active;
		pthread_mutex_unlock(&active_mu);
		/* requests in their handler, and connections accepted whose request
		 * has not reached it yet */
		const union MHD_DaemonInfo *di =
			MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (!n && (!di || !di->num_connections))
			break;
		usleep(100000);
	}
	sse_stop(); /* no connection is suspended any more: MHD may stop */
	MHD_stop_daemon(d);
	commit_stop();
	api_done();
	for (size_t i = 0; i < nconns; i++)
		if (conns[i])
			PQfinish(conns[i]);
	free(conns);
	free(toks.v);
	if (tokconn)
		PQfinish(tokconn);
	fprintf(stderr, "neonblue serve: stopped\n");
	return 0;
}
