/* workq.c — threads that take every item queued while they worked on their
 * previous group, run them as one group and answer each: the group
 * committer of POST /v1/events (commit.c, one thread) and the assigner of
 * POST /v1/assign (sticky.c, several: one group's commit waits for the disk
 * while the next group runs). An item is answered when done is set; its
 * callback, if any, runs after that on the worker's thread (and may free the
 * item). */
#include "serve.h"

#include "neonblue/base.h"

#include <stdlib.h>
#include <time.h>

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *workq_main(void *arg)
{
	wq_worker *w = arg;
	workq *q = w->q;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->head && !q->quit)
			pthread_cond_wait(&q->work, &q->mu);
		if (!q->head && q->quit)
			break;
		wq_item *g = q->head;
		q->head = q->tail = NULL;
		pthread_mutex_unlock(&q->mu);
		double t0 = mono_now();
		q->run(w, g);
		double t1 = mono_now();
		/* the callbacks gathered first: once one runs its item may be freed */
		size_t ncb = 0;
		for (wq_item *i = g; i; i = i->next)
			ncb += i->cb != NULL;
		struct {
			void (*cb)(void *);
			void *ud;
		} *cbs = ncb ? nb_xcalloc(ncb, sizeof *cbs) : NULL;
		ncb = 0;
		pthread_mutex_lock(&q->mu);
		q->groups++;
		q->busy_s += t1 - t0;
		for (wq_item *i = g, *next; i; i = next) {
			q->items++;
			next = i->next;
			if (i->cb) {
				cbs[ncb].cb = i->cb;
				cbs[ncb++].ud = i->ud;
			}
			i->done = 1;
		}
		pthread_cond_broadcast(&q->answered);
		pthread_mutex_unlock(&q->mu);
		for (size_t k = 0; k < ncb; k++)
			cbs[k].cb(cbs[k].ud);
		free(cbs);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

int workq_start(workq *q, const nb_config *cfg, int threads, void (*run)(wq_worker *w, wq_item *group),
		void (*local_free)(void *local), const char *what, nb_err *err)
{
	q->cfg = *cfg;
	q->run = run;
	q->local_free = local_free;
	q->quit = 0;
	q->nworkers = 0;
	threads = threads < 1 ? 1 : threads > WORKQ_MAX ? WORKQ_MAX : threads;
	for (int i = 0; i < threads; i++) {
		q->w[i] = (wq_worker){.q = q};
		if (pthread_create(&q->w[i].thread, NULL, workq_main, &q->w[i])) {
			workq_stop(q);
			return nb_err_set(err, NB_ESERVER, "cannot start the %s threads", what);
		}
		q->nworkers++;
	}
	return 0;
}

void workq_stop(workq *q)
{
	if (!q->nworkers)
		return;
	pthread_mutex_lock(&q->mu);
	q->quit = 1;
	pthread_cond_broadcast(&q->work);
	pthread_mutex_unlock(&q->mu);
	for (int i = 0; i < q->nworkers; i++) {
		wq_worker *w = &q->w[i];
		pthread_join(w->thread, NULL);
		if (w->conn)
			PQfinish(w->conn);
		w->conn = NULL;
		if (w->local && q->local_free)
			q->local_free(w->local);
		w->local = NULL;
	}
	q->nworkers = 0;
}

PGconn *workq_conn(wq_worker *w, nb_err *err)
{
	if (w->conn && PQconsumeInput(w->conn) && PQstatus(w->conn) == CONNECTION_OK)
		return w->conn;
	if (w->conn)
		PQfinish(w->conn);
	w->conn = nb_pg_connect(&w->q->cfg, err);
	return w->conn;
}

void workq_push(workq *q, wq_item *it)
{
	it->next = NULL;
	it->done = 0;
	pthread_mutex_lock(&q->mu);
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->mu);
}

void workq_wait(workq *q, wq_item *it)
{
	pthread_mutex_lock(&q->mu);
	while (!it->done)
		pthread_cond_wait(&q->answered, &q->mu);
	pthread_mutex_unlock(&q->mu);
}

void workq_metrics(workq *q, const char *name, const char *what, nb_buf *b)
{
	pthread_mutex_lock(&q->mu);
	long groups = q->groups, items = q->items;
	double busy = q->busy_s;
	pthread_mutex_unlock(&q->mu);
	nb_buf_printf(b,
		      "# HELP nb_%s_groups_total Groups the %s ran (one PostgreSQL round trip each).\n"
		      "# TYPE nb_%s_groups_total counter\nnb_%s_groups_total %ld\n"
		      "# HELP nb_%s_items_total Requests the %s answered in those groups.\n"
		      "# TYPE nb_%s_items_total counter\nnb_%s_items_total %ld\n"
		      "# HELP nb_%s_busy_seconds_total Seconds the %s spent running groups (summed over its threads).\n"
		      "# TYPE nb_%s_busy_seconds_total counter\nnb_%s_busy_seconds_total %.6f\n",
		      name, what, name, name, groups, name, what, name, name, items, name, what, name,
		      name, busy);
}
