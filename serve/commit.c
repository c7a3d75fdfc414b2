/* commit.c — the group committer of POST /v1/events: requests queue their
 * validated events and wait; one thread loads everything queued in one
 * transaction (ingest's COPY loader: one lookup of the event_ids, one COPY) and answers
 * each request after COMMIT, so single-event POSTs are not bounded by one
 * commit each. */
#include "serve.h"

#include "neonblue/base.h"

#include <stdlib.h>
#include <string.h>

typedef struct job {
	wq_item it; /* first: the queue's part */
	const nb_pg_event *evs;
	size_t n;
	int rc;
	nb_pg_load_stats st;
	nb_err err;
} job;

static job *next_job(const job *j)
{
	return (job *)j->it.next;
}

static struct {
	workq q;
} cq = {.q = WORKQ_INIT};

/* Loads one group; on a refusal of the whole group retries each job alone,
 * so one request's problem is not another's. The requests were validated
 * before they were queued, so a refusal here is the server's. */
static void commit_group(wq_worker *w, job *g, size_t total)
{
	nb_err err;
	nb_err_clear(&err);
	PGconn *c = workq_conn(w, &err);
	int rc = -1;
	nb_pg_load_stats st = {0, 0};
	if (c && g->it.next) {
		nb_pg_event *all = nb_xcalloc(total ? total : 1, sizeof *all);
		size_t k = 0;
		for (job *j = g; j; j = next_job(j)) {
			memcpy(all + k, j->evs, j->n * sizeof *all);
			k += j->n;
		}
		rc = nb_pg_events_load(c, all, total, &st, &err);
		free(all);
	}
	for (job *j = g; j; j = next_job(j)) {
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
		if (j->rc && PQstatus(c) != CONNECTION_OK && (c = workq_conn(w, &err))) {
			nb_err_clear(&j->err);
			j->rc = nb_pg_events_load(c, j->evs, j->n, &j->st, &j->err);
		}
		if (!c) {
			for (job *k = next_job(j); k; k = next_job(k))
				k->rc = -1, k->err = err;
			break;
		}
	}
}

/* The queue's work: one group. */
static void commit_run(wq_worker *w, wq_item *group)
{
	job *g = (job *)group;
	size_t total = 0;
	for (job *j = g; j; j = next_job(j))
		total += j->n;
	commit_group(w, g, total);
}

int commit_start(const nb_config *cfg, nb_err *err)
{
	/* one thread: loads take the loaders' lock one after the other anyway
	 * (two threads, the next group waiting for the lock while the previous
	 * one commits, measured no better: smaller groups) */
	return workq_start(&cq.q, cfg, 1, commit_run, NULL, "event committer", err);
}

void commit_stop(void)
{
	workq_stop(&cq.q);
}

void commit_metrics(nb_buf *b)
{
	workq_metrics(&cq.q, "event_committer", "event committer", b);
}

commit_job *commit_events_async(const nb_pg_event *evs, size_t n, void (*cb)(void *), void *ud)
{
	job *j = nb_xcalloc(1, sizeof *j);
	*j = (job){.it = {.cb = cb, .ud = ud}, .evs = evs, .n = n};
	nb_err_clear(&j->err);
	workq_push(&cq.q, &j->it);
	return j;
}

int commit_job_finish(commit_job *j, nb_pg_load_stats *st, nb_err *err)
{
	workq_wait(&cq.q, &j->it);
	*st = j->st;
	int rc = j->rc;
	if (rc)
		*err = j->err;
	free(j);
	return rc;
}

int commit_events(const nb_pg_event *evs, size_t n, nb_pg_load_stats *st, nb_err *err)
{
	job j = {.evs = evs, .n = n};
	nb_err_clear(&j.err);
	workq_push(&cq.q, &j.it);
	workq_wait(&cq.q, &j.it);
	*st = j.st;
	if (j.rc)
		*err = j.err;
	return j.rc;
}
