/* commit.c — the group committer of POST /v1/events: requests queue their
 * validated events and wait; one thread loads everything queued in one
 * transaction and answers each request after COMMIT, so single-event POSTs
 * are not bounded by one commit each. */
#include "serve.h"

#include "neonblue/base.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct job {
	const nb_pg_event *evs;
	size_t n;
	int done, rc;
	nb_pg_load_stats st;
	nb_err err;
	struct job *next;
} job;

static struct {
	pthread_mutex_t mu;
	pthread_cond_t work, answered;
	job *head, *tail;
	int quit, started;
	pthread_t thread;
	nb_config cfg;
	PGconn *conn;
} cq = {.mu = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.answered = PTHREAD_COND_INITIALIZER};

static PGconn *commit_conn(nb_err *err)
{
	if (cq.conn && PQconsumeInput(cq.conn) && PQstatus(cq.conn) == CONNECTION_OK)
		return cq.conn;
	if (cq.conn)
		PQfinish(cq.conn);
	cq.conn = nb_pg_connect(&cq.cfg, err);
	return cq.conn;
}

/* Loads one group; on a refusal of the whole group retries each job alone,
 * so one request's problem is not another's. */
static void commit_group(job *g, size_t total)
{
	nb_err err;
	nb_err_clear(&err);
	PGconn *c = commit_conn(&err);
	nb_pg_event *all = NULL;
	int rc = -1;
	nb_pg_load_stats st = {0, 0};
	if (c && g->next) {
		all = nb_xcalloc(total ? total : 1, sizeof *all);
		size_t k = 0;
		for (job *j = g; j; j = j->next) {
			memcpy(all + k, j->evs, j->n * sizeof *all);
			k += j->n;
		}
		rc = nb_pg_events_load(c, all, total, &st, &err);
		free(all);
	}
	for (job *j = g; j; j = j->next) {
		if (rc == 0) {
			j->rc = 0;
			j->st.inserted = (long)j->n; /* per request: accepted (new or known) */
			continue;
		}
		if (!c) {
			j->rc = -1;
			j->err = err;
			continue;
		}
		nb_err_clear(&j->err);
		j->rc = nb_pg_events_load(c, j->evs, j->n, &j->st, &j->err);
		/* the connection broke under the load (nothing was committed on
		 * it): once more on a new one */
		if (j->rc && PQstatus(c) != CONNECTION_OK && (c = commit_conn(&err))) {
			nb_err_clear(&j->err);
			j->rc = nb_pg_events_load(c, j->evs, j->n, &j->st, &j->err);
		}
		if (!c) {
			for (job *k = j->next; k; k = k->next)
				k->rc = -1, k->err = err;
			break;
		}
	}
}

static void *commit_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&cq.mu);
	for (;;) {
		while (!cq.head && !cq.quit)
			pthread_cond_wait(&cq.work, &cq.mu);
		if (!cq.head && cq.quit)
			break;
		job *g = cq.head;
		size_t total = 0;
		for (job *j = g; j; j = j->next)
			total += j->n;
		cq.head = cq.tail = NULL;
		pthread_mutex_unlock(&cq.mu);
		commit_group(g, total);
		pthread_mutex_lock(&cq.mu);
		for (job *j = g; j; j = j->next)
			j->done = 1;
		pthread_cond_broadcast(&cq.answered);
	}
	pthread_mutex_unlock(&cq.mu);
	return NULL;
}

int commit_start(const nb_config *cfg, nb_err *err)
{
	cq.cfg = *cfg;
	cq.quit = 0;
	if (pthread_create(&cq.thread, NULL, commit_main, NULL))
		return nb_err_set(err, NB_ESERVER, "cannot start the event committer thread");
	cq.started = 1;
	return 0;
}

void commit_stop(void)
{
	if (!cq.started)
		return;
	pthread_mutex_lock(&cq.mu);
	cq.quit = 1;
	pthread_cond_broadcast(&cq.work);
	pthread_mutex_unlock(&cq.mu);
	pthread_join(cq.thread, NULL);
	cq.started = 0;
	if (cq.conn)
		PQfinish(cq.conn);
	cq.conn = NULL;
}

int commit_events(const nb_pg_event *evs, size_t n, nb_pg_load_stats *st, nb_err *err)
{
	job j = {.evs = evs, .n = n};
	nb_err_clear(&j.err);
	pthread_mutex_lock(&cq.mu);
	if (cq.tail)
		cq.tail->next = &j;
	else
		cq.head = &j;
	cq.tail = &j;
	pthread_cond_signal(&cq.work);
	while (!j.done)
		pthread_cond_wait(&cq.answered, &cq.mu);
	pthread_mutex_unlock(&cq.mu);
	*st = j.st;
	if (j.rc)
		*err = j.err;
	return j.rc;
}
