/* sticky.c — POST /v1/assign with an experiment, without a round trip for
 * the users a server already saw: a stored assignment never changes, so the
 * rows this process read or inserted are kept in memory and answered from
 * there while their experiment is running. Whether it is running is checked
 * at most every STICKY_CHECK_S (one query of the running experiments, on the
 * checker's thread and connection, woken by the first request that finds the
 * last check due; any change — a stop, an edit, a restart — empties the
 * memory; older than STICKY_STALE_S, the memory is not used). The users not
 * in memory go to PostgreSQL as `neonblue assign` does, on the assigner's
 * thread and connection: every user queued while its previous batch ran
 * shares one nb_pg_assign_batch per experiment (one INSERT … ON CONFLICT +
 * read back), and the request's connection is suspended meanwhile (serve.c),
 * so its thread serves others. The experiment is loaded once per generation
 * of the memory (nb_pg_assign_load), so a stop or an edit also reaches new
 * users within the check's interval. */
#include "serve.h"

#include "neonblue/base.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STICKY_CHECK_S 0.1     /* re-read the running experiments after this */
#define STICKY_STALE_S 0.25    /* past this, the memory is not used unchecked */
#define STICKY_MAX (1u << 20)  /* entries; emptied when full */
/* threads (and connections) of the assigner: while one group's commit waits
 * for the disk, the users queued meanwhile are inserted by another */
#define STICKY_ASSIGNERS 2

typedef struct entry {
	char *key; /* experiment '\n' user; NULL: free slot */
	uint64_t h;
	char variant[NB_PG_KEY_MAX + 1];
	char source[16];
	char assigned_at[40];
} entry;

static struct {
	pthread_mutex_t mu;
	entry *tab;
	size_t cap, n;
	char *fingerprint;  /* of the running experiments as last read */
	char **running;     /* their keys, strcmp order */
	size_t nrunning;
	double checked;     /* when, monotonic seconds; 0: never */
	int checking;
	unsigned long gen;  /* bumped whenever the memory is emptied */
} sc = {.mu = PTHREAD_MUTEX_INITIALIZER};

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t hash2(const char *a, const char *b)
{
	uint64_t h = 1469598103934665603ull;
	for (; *a; a++)
		h = (h ^ (unsigned char)*a) * 1099511628211ull;
	h = (h ^ '\n') * 1099511628211ull;
	for (; *b; b++)
		h = (h ^ (unsigned char)*b) * 1099511628211ull;
	return h;
}

static int key_is(const char *k, const char *exp, const char *user)
{
	size_t l = strlen(exp);
	return !strncmp(k, exp, l) && k[l] == '\n' && !strcmp(k + l + 1, user);
}

/* Caller holds sc.mu. */
static void sc_empty(void)
{
	for (size_t i = 0; i < sc.cap; i++)
		free(sc.tab[i].key);
	free(sc.tab);
	sc.tab = NULL;
	sc.cap = sc.n = 0;
	sc.gen++;
}

static entry *sc_find(const char *exp, const char *user, uint64_t h)
{
	if (!sc.cap)
		return NULL;
	for (size_t i = h & (sc.cap - 1);; i = (i + 1) & (sc.cap - 1)) {
		entry *e = &sc.tab[i];
		if (!e->key)
			return NULL;
		if (e->h == h && key_is(e->key, exp, user))
			return e;
	}
}

static void sc_insert_slot(entry *tab, size_t cap, entry *e)
{
	size_t i = e->h & (cap - 1);
	while (tab[i].key)
		i = (i + 1) & (cap - 1);
	tab[i] = *e;
}

static void sc_put(const char *exp, const char *user, const nb_pg_assignment *a)
{
	uint64_t h = hash2(exp, user);
	if (sc_find(exp, user, h))
		return;
	if (sc.n >= STICKY_MAX)
		sc_empty();
	if ((sc.n + 1) * 2 > sc.cap) { /* load at most 1/2 */
		size_t cap = sc.cap ? sc.cap * 2 : 1024;
		entry *tab = nb_xcalloc(cap, sizeof *tab);
		for (size_t i = 0; i < sc.cap; i++)
			if (sc.tab[i].key)
				sc_insert_slot(tab, cap, &sc.tab[i]);
		free(sc.tab);
		sc.tab = tab;
		sc.cap = cap;
	}
	entry e = {.h = h};
	size_t le = strlen(exp), lu = strlen(user);
	e.key = nb_xmalloc(le + lu + 2);
	memcpy(e.key, exp, le);
	e.key[le] = '\n';
	memcpy(e.key + le + 1, user, lu + 1);
	snprintf(e.variant, sizeof e.variant, "%s", a->variant);
	snprintf(e.source, sizeof e.source, "%s", a->source);
	snprintf(e.assigned_at, sizeof e.assigned_at, "%s", a->assigned_at);
	sc_insert_slot(sc.tab, sc.cap, &e);
	sc.n++;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int sc_running(const char *exp)
{
	return sc.nrunning &&
	       bsearch(&exp, sc.running, sc.nrunning, sizeof *sc.running, cmp_str) != NULL;
}

/* Reads the running experiments on conn (without sc.mu); a change of any of
 * them empties the memory. */
static void sc_check(PGconn *conn)
{
	nb_err err;
	nb_err_clear(&err);
	/* the running experiments, and (the last row, key NULL) the saved
	 * groups and the flags: the features payload follows this generation too */
	PGresult *r = nb_pg_exec(conn,
				 "(SELECT key, version || ':' || updated_at::text FROM experiments"
				 " WHERE status = 'running' ORDER BY key COLLATE \"C\")"
				 " UNION ALL SELECT NULL, (SELECT coalesce(md5(string_agg(id || ':' ||"
				 " updated_at::text || \"values\"::text, ',' ORDER BY id)), '')"
				 " FROM saved_groups) || ':' || (SELECT coalesce(md5(string_agg(key ||"
				 " ':' || version || ':' || updated_at::text, ',' ORDER BY key)), '')"
				 " FROM flags)",
				 0, NULL, &err);
	nb_buf fp;
	nb_buf_init(&fp);
	int n = r ? PQntuples(r) : 0;
	for (int i = 0; i < n; i++)
		nb_buf_printf(&fp, "%s=%s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
	if (n)
		n--; /* the saved groups' row is not an experiment */
	nb_buf_putc(&fp, '\0');
	pthread_mutex_lock(&sc.mu);
	sc.checking = 0;
	if (r && (!sc.fingerprint || strcmp(sc.fingerprint, fp.data))) {
		sc_empty();
		for (size_t i = 0; i < sc.nrunning; i++)
			free(sc.running[i]);
		free(sc.running);
		sc.running = nb_xcalloc((size_t)n + 1, sizeof *sc.running);
		for (int i = 0; i < n; i++)
			sc.running[i] = nb_xstrdup(PQgetvalue(r, i, 0));
		sc.nrunning = (size_t)n;
		/* PostgreSQL's "C" order is strcmp's; sorted again in case */
		qsort(sc.running, sc.nrunning, sizeof *sc.running, cmp_str);
		free(sc.fingerprint);
		sc.fingerprint = nb_buf_steal(&fp);
	}
	if (r)
		sc.checked = mono_s();
	pthread_mutex_unlock(&sc.mu);
	nb_buf_done(&fp);
	PQclear(r);
}

/* The checker: a thread with its own connection that runs sc_check when a
 * request finds the last one due, so that no request waits for it. */
static struct {
	pthread_t thread;
	pthread_cond_t kick; /* with sc.mu */
	int started, quit, kicked;
	nb_config cfg;
	PGconn *conn;
} ck = {.kick = PTHREAD_COND_INITIALIZER};

static void *ck_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&sc.mu);
	for (;;) {
		while (!ck.kicked && !ck.quit)
			pthread_cond_wait(&ck.kick, &sc.mu);
		if (ck.quit)
			break;
		ck.kicked = 0;
		pthread_mutex_unlock(&sc.mu);
		nb_err err;
		nb_err_clear(&err);
		if (!ck.conn || !PQconsumeInput(ck.conn) || PQstatus(ck.conn) != CONNECTION_OK) {
			if (ck.conn)
				PQfinish(ck.conn);
			ck.conn = nb_pg_connect(&ck.cfg, &err);
		}
		if (ck.conn) {
			sc_check(ck.conn);
		} else {
			pthread_mutex_lock(&sc.mu);
			sc.checking = 0;
			pthread_mutex_unlock(&sc.mu);
		}
		pthread_mutex_lock(&sc.mu);
	}
	pthread_mutex_unlock(&sc.mu);
	return NULL;
}

/* Caller holds sc.mu: when the check is due, wakes the checker (or, without
 * one, runs it on conn, without the lock); the time after. */
static double sc_due_check(PGconn *conn)
{
	double now = mono_s();
	if (now - sc.checked > STICKY_CHECK_S && !sc.checking && (ck.started || conn)) {
		sc.checking = 1;
		if (ck.started) {
			ck.kicked = 1;
			pthread_cond_signal(&ck.kick);
			return now;
		}
		pthread_mutex_unlock(&sc.mu);
		sc_check(conn);
		pthread_mutex_lock(&sc.mu);
		now = mono_s();
	}
	return now;
}

unsigned long sticky_generation(PGconn *conn, int *fresh)
{
	pthread_mutex_lock(&sc.mu);
	double now = sc_due_check(conn);
	*fresh = sc.checked > 0 && now - sc.checked <= STICKY_STALE_S;
	unsigned long gen = sc.gen;
	pthread_mutex_unlock(&sc.mu);
	return gen;
}

/* The stored assignment of user in memory (1), or 0; *gen gets the
 * generation to put a result under. */
static int sc_get(PGconn *conn, const char *exp, const char *user, nb_pg_assignment *out,
		  unsigned long *gen)
{
	pthread_mutex_lock(&sc.mu);
	double now = sc_due_check(conn);
	/* not known to run as of a recent check: nothing is answered or kept */
	*gen = (unsigned long)-1;
	int hit = 0;
	if (now - sc.checked <= STICKY_STALE_S && sc_running(exp)) {
		*gen = sc.gen;
		const entry *e = sc_find(exp, user, hash2(exp, user));
		if (e) {
			*out = (nb_pg_assignment){.in_experiment = 1, .reason = "stored assignment"};
			snprintf(out->variant, sizeof out->variant, "%s", e->variant);
			snprintf(out->source, sizeof out->source, "%s", e->source);
			snprintf(out->assigned_at, sizeof out->assigned_at, "%s", e->assigned_at);
			hit = 1;
		}
	}
	pthread_mutex_unlock(&sc.mu);
	return hit;
}

/* ---- the assigner: one thread, one connection, every queued user ---- */

struct sticky_job {
	wq_item it; /* first: the queue's part */
	char *exp, *user;
	cJSON *attrs;
	unsigned long gen; /* of the memory when the user was missed */
	nb_pg_assignment out;
	nb_err err;
	int rc;
};
typedef struct sticky_job job;

static job *next_job(const job *j)
{
	return (job *)j->it.next;
}

static struct {
	workq q;
} sa = {.q = WORKQ_INIT};

/* Experiments loaded by one worker of the assigner (only its thread
 * touches them: its wq_worker's local), usable while the memory's generation
 * is the one they were loaded under: a change of any running experiment
 * drops them. */
typedef struct gx_cache {
	struct gx_entry {
		char *key;
		nb_pg_experiment e;
		unsigned long gen;
	} *v;
	size_t n;
} gx_cache;

/* The generation exp may be kept under (1), or 0 when it is not known to
 * run as of a recent check. */
static int sc_usable(const char *exp, unsigned long *gen)
{
	pthread_mutex_lock(&sc.mu);
	int ok = mono_s() - sc.checked <= STICKY_STALE_S && sc_running(exp);
	*gen = sc.gen;
	pthread_mutex_unlock(&sc.mu);
	return ok;
}

static void gx_drop(gx_cache *c, unsigned long keep_gen, int all)
{
	size_t k = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (all || c->v[i].gen != keep_gen) {
			free(c->v[i].key);
			nb_pg_experiment_done(&c->v[i].e);
		} else {
			c->v[k++] = c->v[i];
		}
	}
	c->n = k;
}

static void gx_free(void *local)
{
	gx_cache *c = local;
	gx_drop(c, 0, 1);
	free(c->v);
	free(c);
}

/* Experiment key for a batch: the one loaded under this generation, or
 * nb_pg_assign_load's (kept when exp runs). *owned is set when the caller
 * must free the result (tmp). */
static nb_pg_experiment *gx_get(gx_cache *c, PGconn *conn, const char *key,
				nb_pg_experiment *tmp, int *owned, nb_err *err)
{
	unsigned long gen;
	int usable = sc_usable(key, &gen);
	*owned = 0;
	for (size_t i = 0; usable && i < c->n; i++)
		if (c->v[i].gen == gen && !strcmp(c->v[i].key, key))
			return &c->v[i].e;
	memset(tmp, 0, sizeof *tmp);
	if (nb_pg_assign_load(conn, key, tmp, err))
		return NULL;
	if (!usable || c->n >= 4096) {
		*owned = 1;
		return tmp;
	}
	gx_drop(c, gen, 0);
	c->v = nb_xrealloc(c->v, (c->n + 1) * sizeof *c->v);
	c->v[c->n] = (struct gx_entry){.key = nb_xstrdup(key), .e = *tmp, .gen = gen};
	return &c->v[c->n++].e;
}

/* The jobs of g (a list) not yet answered (rc 1) on conn: per experiment
 * one batch. */
static void sa_run(gx_cache *cache, PGconn *conn, job *g)
{
	for (job *j = g; j; j = next_job(j)) {
		if (j->rc != 1)
			continue;
		int n = 0;
		for (job *k = j; k; k = next_job(k))
			n += k->rc == 1 && !strcmp(k->exp, j->exp);
		const char **users = nb_xcalloc((size_t)n, sizeof *users);
		const cJSON **attrs = nb_xcalloc((size_t)n, sizeof *attrs);
		nb_pg_assignment *out = nb_xcalloc((size_t)n, sizeof *out);
		job **of = nb_xcalloc((size_t)n, sizeof *of);
		int m = 0;
		for (job *k = j; k; k = next_job(k))
			if (k->rc == 1 && !strcmp(k->exp, j->exp)) {
				of[m] = k;
				users[m] = k->user;
				attrs[m++] = k->attrs;
			}
		nb_err err;
		nb_err_clear(&err);
		nb_pg_experiment tmp;
		int owned = 0;
		nb_pg_experiment *e = gx_get(cache, conn, j->exp, &tmp, &owned, &err);
		int rc = e ? nb_pg_assign_batch(conn, e, n, users, attrs, out, &err) : -1;
		if (owned)
			nb_pg_experiment_done(&tmp);
		for (int i = 0; i < n; i++) {
			of[i]->rc = rc;
			if (rc)
				of[i]->err = err;
			else
				of[i]->out = out[i];
		}
		free(users);
		free(attrs);
		free(out);
		free(of);
	}
}

static void sa_batch(wq_worker *w, job *g)
{
	if (!w->local)
		w->local = nb_xcalloc(1, sizeof(gx_cache));
	for (job *j = g; j; j = next_job(j))
		j->rc = 1;
	nb_err err;
	nb_err_clear(&err);
	PGconn *c = workq_conn(w, &err);
	if (c) {
		sa_run(w->local, c, g);
		/* the connection broke under the batch (a restarted or terminated
		 * backend): the users not answered, once more on a new one */
		if (PQstatus(c) != CONNECTION_OK && (c = workq_conn(w, &err))) {
			for (job *j = g; j; j = next_job(j))
				if (j->rc) {
					j->rc = 1;
					nb_err_clear(&j->err);
				}
			sa_run(w->local, c, g);
		}
	}
	for (job *j = g; j; j = next_job(j))
		if (j->rc == 1) { /* no connection */
			j->rc = -1;
			j->err = err;
		}
	/* the answers into memory, unless it was emptied since they were missed */
	pthread_mutex_lock(&sc.mu);
	for (job *j = g; j; j = next_job(j))
		if (j->rc == 0 && j->out.in_experiment && j->gen == sc.gen)
			sc_put(j->exp, j->user, &j->out);
	pthread_mutex_unlock(&sc.mu);
}

/* The queue's work: one batch. */
static void sa_run_group(wq_worker *w, wq_item *group)
{
	sa_batch(w, (job *)group);
}

int sticky_start(const nb_config *cfg, nb_err *err)
{
	ck.cfg = *cfg;
	pthread_mutex_lock(&sc.mu);
	ck.quit = 0;
	ck.kicked = 1; /* the first check at once */
	sc.checking = 1;
	int bad = pthread_create(&ck.thread, NULL, ck_main, NULL);
	ck.started = !bad;
	if (bad)
		sc.checking = 0;
	pthread_mutex_unlock(&sc.mu);
	if (bad)
		return nb_err_set(err, NB_ESERVER, "cannot start the experiments' checker thread");
	return workq_start(&sa.q, cfg, STICKY_ASSIGNERS, sa_run_group, gx_free, "assignment", err);
}

void sticky_metrics(nb_buf *b)
{
	workq_metrics(&sa.q, "assigner", "assigner of new users", b);
}

void sticky_stop(void)
{
	workq_stop(&sa.q);
	pthread_mutex_lock(&sc.mu);
	int started = ck.started;
	ck.quit = 1;
	pthread_cond_signal(&ck.kick);
	pthread_mutex_unlock(&sc.mu);
	if (started)
		pthread_join(ck.thread, NULL);
	ck.started = 0;
	if (ck.conn)
		PQfinish(ck.conn);
	ck.conn = NULL;
	pthread_mutex_lock(&sc.mu);
	sc_empty();
	for (size_t i = 0; i < sc.nrunning; i++)
		free(sc.running[i]);
	free(sc.running);
	sc.running = NULL;
	sc.nrunning = 0;
	free(sc.fingerprint);
	sc.fingerprint = NULL;
	sc.checked = 0;
	pthread_mutex_unlock(&sc.mu);
}

int sticky_lookup(PGconn *conn, const char *exp, const char *user, nb_pg_assignment *out,
		  unsigned long *gen)
{
	return sc_get(conn, exp, user, out, gen);
}

sticky_job *sticky_queue(const char *exp, const char *user, const cJSON *attrs,
			 unsigned long gen, void (*cb)(void *), void *ud)
{
	job *j = nb_xcalloc(1, sizeof *j);
	j->it.cb = cb;
	j->it.ud = ud;
	j->exp = nb_xstrdup(exp);
	j->user = nb_xstrdup(user);
	j->attrs = attrs ? cJSON_Duplicate(attrs, 1) : NULL;
	j->gen = gen;
	nb_err_clear(&j->err);
	workq_push(&sa.q, &j->it);
	return j;
}

int sticky_finish(sticky_job *j, nb_pg_assignment *out, nb_err *err)
{
	workq_wait(&sa.q, &j->it);
	int rc = j->rc;
	if (rc)
		*err = j->err;
	else
		*out = j->out;
	free(j->exp);
	free(j->user);
	cJSON_Delete(j->attrs);
	free(j);
	return rc;
}

int sticky_assign(PGconn *conn, const char *exp, const char *user, const cJSON *attrs,
		  nb_pg_assignment *out, nb_err *err)
{
	unsigned long gen;
	if (sticky_lookup(conn, exp, user, out, &gen))
		return 0;
	return sticky_finish(sticky_queue(exp, user, attrs, gen, NULL, NULL), out, err);
}
