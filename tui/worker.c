/* worker.c — the dashboard's query workers: PostgreSQL, ClickHouse, stack
 * status and report subprocesses run here, never on the main thread. Jobs go
 * in through one queue and come back through another plus a wake-up fd. */
#include "tui.h"

#include "neonblue/buf.h"
#include "neonblue/ch.h"
#include "neonblue/json.h"
#include "neonblue/pg.h"
#include "neonblue/stack.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 2

extern char **environ;

struct worker {
	nb_config cfg;
	char exe[4096];
	int wake_fd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	job *in_head, *in_tail, *out_head, *out_tail;
	int stopping;
	pthread_t th[NTHREADS];
};

/* What each thread keeps between jobs. */
typedef struct wctx {
	worker *w;
	PGconn *pg;
	nb_ch *ch;
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
	nb_pg_experiment_done(&e);
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

static int run_ch_ping(wctx *c, job *j)
{
	nb_ch *ch = ch_get(c, &j->err);
	if (!ch)
		return -1;
	char *v = NULL;
	if (nb_ch_scalar(ch, "SELECT 1", &v, &j->err))
		return -1;
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
	}
	return 0;
}

/* ------------------------------------------------------- report commands */

/* Runs `exe SUBCMD KEY --json [extra] <global flags>` and parses stdout. */
static int run_report(wctx *c, job *j)
{
	worker *w = c->w;
	char *argv[24];
	int n = 0;
	argv[n++] = w->exe;
	argv[n++] = j->arg;
	argv[n++] = j->key;
	argv[n++] = "--json";
	char extra[256];
	w_copy(extra, sizeof extra, j->arg2);
	char *save = NULL;
	for (char *t = strtok_r(extra, " ", &save); t && n < 12; t = strtok_r(NULL, " ", &save))
		argv[n++] = t;
	argv[n++] = "--home";
	argv[n++] = w->cfg.home;
	if (w->cfg.pg_set) {
		argv[n++] = "--pg";
		argv[n++] = w->cfg.pg;
	}
	if (w->cfg.kafka_set) {
		argv[n++] = "--kafka";
		argv[n++] = w->cfg.kafka;
	}
	if (w->cfg.clickhouse_set) {
		argv[n++] = "--clickhouse";
		argv[n++] = w->cfg.clickhouse;
	}
	argv[n] = NULL;
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC))
		return nb_err_set(&j->err, NB_ESERVER, "pipe: %s", strerror(errno));
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	pid_t pid;
	int rc = posix_spawn(&pid, w->exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(po[1]);
	close(pe[1]);
	if (rc) {
		close(po[0]);
		close(pe[0]);
		return nb_err_set(&j->err, NB_ESERVER, "cannot run %s: %s", w->exe, strerror(rc));
	}
	nb_buf out, errb;
	nb_buf_init(&out);
	nb_buf_init(&errb);
	struct pollfd p[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
	int open_fds = 2;
	double deadline = now_s() + 120;
	while (open_fds > 0 && now_s() < deadline &&
	       !__atomic_load_n(&w->stopping, __ATOMIC_RELAXED)) {
		if (poll(p, 2, 500) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char buf[8192];
			ssize_t r = read(p[i].fd, buf, sizeof buf);
			if (r > 0) {
				nb_buf_append(i ? &errb : &out, buf, (size_t)r);
			} else {
				close(p[i].fd);
				p[i].fd = -1;
				open_fds--;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (p[i].fd >= 0) {
			close(p[i].fd);
			kill(pid, SIGKILL);
		}
	int status = 0;
	waitpid(pid, &status, 0);
	int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (ok) {
		j->out = out.len ? cJSON_Parse(out.data) : NULL;
		if (!j->out)
			nb_err_set(&j->err, NB_ESERVER, "`neonblue %s %s --json` printed no JSON", j->arg,
				   j->key);
	} else {
		char *msg = errb.len ? errb.data : (char *)"no message";
		char *nl = strchr(msg, '\n');
		if (nl)
			*nl = '\0';
		nb_err_set(&j->err,
			   WIFEXITED(status) && WEXITSTATUS(status) == 2 ? NB_EINPUT : NB_ESERVER,
			   "%s", msg);
	}
	nb_buf_done(&out);
	nb_buf_done(&errb);
	return ok && j->out ? 0 : -1;
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
	}
	if (j->kind != J_CH_PING && j->kind != J_REPORT)
		pg_check(c);
	j->rc = rc;
	j->finished = now_s();
}

static void *worker_main(void *arg)
{
	wctx c = {.w = arg};
	worker *w = c.w;
	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (!w->in_head && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stopping) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		job *j = w->in_head;
		w->in_head = j->next;
		if (!w->in_head)
			w->in_tail = NULL;
		pthread_mutex_unlock(&w->mu);
		j->next = NULL;
		run_job(&c, j);
		pthread_mutex_lock(&w->mu);
		if (w->out_tail)
			w->out_tail->next = j;
		else
			w->out_head = j;
		w->out_tail = j;
		pthread_mutex_unlock(&w->mu);
		uint64_t one = 1;
		if (write(w->wake_fd, &one, sizeof one) < 0) {
			/* the counter is saturated: the main loop wakes up anyway */
		}
	}
	if (c.pg)
		PQfinish(c.pg);
	nb_ch_free(c.ch);
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
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
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

void worker_stop(worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	__atomic_store_n(&w->stopping, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	/* a thread stuck in a long request is abandoned: the process is exiting */
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(w->th[i], NULL);
	free_list(w->in_head);
	free_list(w->out_head);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
