/* workq.c — a thread that takes every item queued while it worked on the
 * previous ones, runs them as one group and answers each: the group
 * committer of POST /v1/events (commit.c) and the assigner of POST
 * /v1/assign (sticky.c). An item is answered when done is set; its callback,
 * if any, runs after that on the queue's thread (and may free the item). */
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
	workq *q = arg;
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
		q->run(g);
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

int workq_start(workq *q, const nb_config *cfg, void (*run)(wq_item *group), const char *what,
		nb_err *err)
{
	q->cfg = *cfg;
	q->run = run;
	q->quit = 0;
	if (pthread_create(&q->thread, NULL, workq_main, q))
		return nb_err_set(err, NB_ESERVER, "cannot start the %s thread", what);
	q->started = 1;
	return 0;
}

void workq_stop(workq *q)
{
	if (!q->started)
		return;
	pthread_mutex_lock(&q->mu);
	q->quit = 1;
	pthread_cond_broadcast(&q->work);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->thread, NULL);
	q->started = 0;
	if (q->conn)
		PQfinish(q->conn);
	q->conn = NULL;
}

PGconn *workq_conn(workq *q, nb_err *err)
{
	if (q->conn && PQconsumeInput(q->conn) && PQstatus(q->conn) == CONNECTION_OK)
		return q->conn;
	if (q->conn)
		PQfinish(q->conn);
	q->conn = nb_pg_connect(&q->cfg, err);
	return q->conn;
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
		      "# HELP nb_%s_busy_seconds_total Seconds the %s spent running groups.\n"
		      "# TYPE nb_%s_busy_seconds_total counter\nnb_%s_busy_seconds_total %.6f\n",
		      name, what, name, name, groups, name, what, name, name, items, name, what, name,
		      name, busy);
}
