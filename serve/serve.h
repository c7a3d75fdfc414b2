/* serve.h — what the files of `neonblue serve` share (not public): a request
 * as the routes see it, their answer, and the group committer of events.
 * Calls go serve.c (the HTTP server) → api.c (the routes) → commit.c, and
 * api.c → flags.c (the /v1/flags routes), features.c (the flags in the
 * payload); errors.c (the error answers) is below them all. */
#ifndef NB_SERVE_H
#define NB_SERVE_H

#include "neonblue/front.h"
#include "neonblue/pg.h"

#include <cjson/cJSON.h>
#include <stddef.h>

#define SERVE_BODY_MAX (1u << 20)         /* 1 MiB */
#define SERVE_EVENTS_BODY_MAX (16u << 20) /* 16 MiB for POST /v1/events */
#define SERVE_EVENTS_MAX 10000            /* events per request */

typedef struct serve_req {
	const char *method, *path; /* path without the query */
	const char *body;          /* NUL-terminated; "" when none */
	size_t len;
	const char *actor;         /* the token's name */
	int scopes;                /* the token's nb_pg_scope bits */
	PGconn *conn;              /* this thread's connection, reachable */
	/* query parameter by name, or NULL */
	const char *(*query)(void *ud, const char *name);
	/* calls fn for every query parameter in order (value NULL when the
	 * parameter has none) until fn returns non-zero; returns that */
	int (*query_each)(void *ud, int (*fn)(void *fud, const char *name, const char *value),
			  void *fud);
	void *query_ud;
	const nb_config *cfg; /* the server's configuration (ClickHouse for reports) */
} serve_req;

typedef struct serve_resp {
	int status;
	cJSON *body; /* owned; NULL: no body */
	char *text;  /* owned JSON text sent instead of body when set */
	long assigned, events_ok, events_bad; /* for /metrics */
} serve_resp;

/* The route for method + path: its name for /metrics ("" if none) and the
 * scope it needs (0: none). */
const char *api_route(const char *method, const char *path, int *scope);
/* Answers one authorised request of a /v1 route. */
void api_handle(const serve_req *rq, serve_resp *rs);
/* The GrowthBook payload of /api/features, from the cache rebuilt when the
 * running experiments or saved groups changed (force: rebuilt whatever the
 * version says): a copy, or NULL with err. */
char *api_features_text(PGconn *conn, int force, nb_err *err);
/* The /v1/flags routes (flags.c): the route name and scope for method +
 * path, or NULL for none of them; flags_handle answers route (1) or
 * returns 0 when route is not one of them. */
const char *flags_route(const char *method, const char *path, int *scope);
int flags_handle(const char *route, const serve_req *rq, serve_resp *rs);
/* The flags in the payload (features.c, docs/flags.md): a flag as its
 * GrowthBook feature (an off flag: defaultValue, no rules; caller deletes);
 * every flag added to payload's "features" (nb_pg_features_version follows
 * the flags table). */
typedef struct nb_flag nb_flag;
cJSON *serve_flag_feature(const nb_flag *f);
int serve_flag_features_add(PGconn *conn, cJSON *payload, nb_err *err);
/* api_handle without holding the request thread while PostgreSQL works: 0
 * when rs is the answer already, or 1 when the request is queued (POST
 * /v1/events for the group committer, POST /v1/assign of a user not in
 * memory for the assigner); cb(ud) then runs on that thread once it is
 * answered, and api_finish gives the answer and frees *p. */
typedef struct api_pending api_pending;
int api_start(const serve_req *rq, serve_resp *rs, void (*cb)(void *), void *ud,
	      api_pending **p);
void api_finish(api_pending *p, serve_resp *rs);
/* Frees the routes' caches (at exit). */
void api_done(void);
/* {"error": msg, "field": field (when not NULL)} with status. */
void api_error(serve_resp *rs, int status, const char *field, const char *msg);
/* A library error as an answer: input → 400 with the field the message
 * starts with ("name: …", else prefix), a missing thing → 404, a server → 503. */
void api_fail(serve_resp *rs, const nb_err *err, const char *prefix);

/* The lag gauges of the pipeline (`stack status`'s figures) for /metrics,
 * appended to b; nothing when home holds no stack. At most one look a
 * second (cached). */
void lag_metrics(nb_buf *b, const char *home);
/* POST /v1/assign of one user to experiment exp (sticky.c): the stored
 * assignment from memory while exp runs (sticky_lookup: 1, checking the
 * running experiments on conn at most every 100 ms), else queued for the
 * assigner's thread, which runs nb_pg_assign_load + nb_pg_assign_batch once
 * for every user queued meanwhile; cb(ud) runs there once answered, then
 * sticky_finish gives the result (0, or -1 with err) and frees the job. gen
 * is sticky_lookup's, passed on to sticky_queue. sticky_assign: the same,
 * waiting. */
typedef struct sticky_job sticky_job;
int sticky_start(const nb_config *cfg, nb_err *err);
void sticky_stop(void);
void sticky_metrics(nb_buf *b); /* the assigner's workq_metrics */
int sticky_lookup(PGconn *conn, const char *exp, const char *user, nb_pg_assignment *out,
		  unsigned long *gen);
sticky_job *sticky_queue(const char *exp, const char *user, const cJSON *attrs,
			 unsigned long gen, void (*cb)(void *), void *ud);
int sticky_finish(sticky_job *j, nb_pg_assignment *out, nb_err *err);
int sticky_assign(PGconn *conn, const char *exp, const char *user, const cJSON *attrs,
		  nb_pg_assignment *out, nb_err *err);
/* The generation of the running experiments and saved groups as last read
 * (read on conn first when the last check is over 100 ms old): it changes
 * whenever they do. *fresh = 0 when no check succeeded lately. */
unsigned long sticky_generation(PGconn *conn, int *fresh);

/* Threads that each take every item queued while they worked on their
 * previous group, run it as one group and answer each (workq.c). An item is
 * embedded first in the caller's job; run(worker, group) answers each (the
 * list goes through next); then done is set and cb(ud), when set, runs on
 * that worker's thread (it may free the item). Each worker has its own
 * PostgreSQL connection (workq_conn) and run's own state (local, freed with
 * local_free at stop), so several groups run at once when threads > 1. */
#include <pthread.h>
typedef struct wq_item {
	int done;
	void (*cb)(void *);
	void *ud;
	struct wq_item *next;
} wq_item;
#define WORKQ_MAX 16 /* workers per queue */
struct workq;
typedef struct wq_worker {
	struct workq *q;
	pthread_t thread;
	PGconn *conn;
	void *local;
} wq_worker;
typedef struct workq {
	pthread_mutex_t mu;
	pthread_cond_t work, answered;
	wq_item *head, *tail;
	int quit, nworkers;
	wq_worker w[WORKQ_MAX];
	void (*run)(wq_worker *w, wq_item *group);
	void (*local_free)(void *local);
	nb_config cfg;      /* for the workers' connections */
	long groups, items; /* run so far (with mu) */
	double busy_s;      /* seconds spent in run, summed over workers (with mu) */
} workq;
#define WORKQ_INIT                                                                       \
	{                                                                                \
		.mu = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER,       \
		.answered = PTHREAD_COND_INITIALIZER                                     \
	}
/* threads: 1..WORKQ_MAX; local_free may be NULL. */
int workq_start(workq *q, const nb_config *cfg, int threads, void (*run)(wq_worker *w, wq_item *group),
		void (*local_free)(void *local), const char *what, nb_err *err);
void workq_stop(workq *q); /* and closes the workers' connections */
/* The worker's connection, reconnected when it broke; NULL (err) when
 * PostgreSQL cannot be reached. */
PGconn *workq_conn(wq_worker *w, nb_err *err);
void workq_push(workq *q, wq_item *it);
void workq_wait(workq *q, wq_item *it); /* until it is answered */
/* The queue's counters as Prometheus lines, named nb_NAME_groups_total,
 * nb_NAME_items_total and nb_NAME_busy_seconds_total. */
void workq_metrics(workq *q, const char *name, const char *what, nb_buf *b);

/* The group committer: one thread, one connection, every queued batch of
 * events of concurrent requests in one transaction. */
int commit_start(const nb_config *cfg, nb_err *err);
void commit_stop(void);
void commit_metrics(nb_buf *b); /* the committer's workq_metrics */
/* Blocks until evs are committed (0) or not (-1, err: NB_ESERVER when
 * PostgreSQL failed, NB_EINPUT when the load refused them). */
int commit_events(const nb_pg_event *evs, size_t n, nb_pg_load_stats *st, nb_err *err);
/* The same without waiting: cb(ud) runs on the committer's thread once the
 * group is answered (evs must live until then); commit_job_finish then gives
 * commit_events' result and frees the job. */
typedef struct job commit_job;
commit_job *commit_events_async(const nb_pg_event *evs, size_t n, void (*cb)(void *), void *ud);
int commit_job_finish(commit_job *j, nb_pg_load_stats *st, nb_err *err);

/* ---- GET /sub/{client_key}: the payload as server-sent events (sse.c) ---- */
struct MHD_Connection;
/* Whether the token of a hash is still active with scope: streams of a
 * revoked or expired client key end (serve.c's token list, no rate taken). */
typedef int (*sse_token_fn)(const char *hash, int scope);
/* Starts the notifier (a thread consuming the CDC topics) when Kafka is
 * configured; keepalive_s: seconds between keepalive comments. */
void sse_start(const nb_config *cfg, int keepalive_s, sse_token_fn token_active);
/* 1 when streams are served (Kafka configured and not draining). */
int sse_enabled(void);
/* Answers GET /sub for an authorised client key (key_hash: its SHA-256): 1
 * with *queued MHD_queue_response's result when the stream was queued; 0
 * with rs filled (503) when it cannot be served. */
int sse_open(struct MHD_Connection *c, PGconn *pc, const char *key_hash, serve_resp *rs,
	     int *queued);
/* SIGTERM: ends every stream (after what it has pending); new ones get 503. */
void sse_drain(void);
/* Joins the notifier; after sse_drain and before MHD_stop_daemon. */
void sse_stop(void);
/* The Prometheus lines of the streams. */
void sse_metrics(nb_buf *b);

int cmd_serve(nb_front *ctx, int argc, char **argv);

#endif
