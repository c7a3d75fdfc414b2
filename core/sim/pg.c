/* sim/pg.c — nb_sim into PostgreSQL: creates (or reuses) the scenario's
 * metrics and experiments, then writes the generated users through
 * nb_pg_assign_batch (one statement per experiment and batch, assigned_at
 * back-dated to the simulated arrival in the same transaction) and their
 * events through the COPY loader (NB_PG_EVENTS_BATCH rows per add). */
#include "neonblue/pg.h"
#include "neonblue/sim.h"

#include "neonblue/base.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- setup ---- */

static int json_same(cJSON *a, cJSON *b, const char *const *ignore)
{
	for (int i = 0; ignore[i]; i++) {
		cJSON_DeleteItemFromObjectCaseSensitive(a, ignore[i]);
		cJSON_DeleteItemFromObjectCaseSensitive(b, ignore[i]);
	}
	int same = cJSON_Compare(a, b, 1);
	cJSON_Delete(a);
	cJSON_Delete(b);
	return same;
}

static int setup_metric(PGconn *conn, const nb_pg_metric *m, int reset, const char *actor,
			nb_err *err)
{
	static const char *const ign[] = {"created_at", "updated_at", NULL};
	nb_pg_metric cur = {0};
	nb_err e2;
	if (nb_pg_metric_get(conn, m->key, &cur, &e2)) {
		if (e2.code != NB_EINPUT)
			return nb_err_set(err, e2.code, "%s", e2.msg);
		return nb_pg_metric_create(conn, m, actor, err);
	}
	int same = json_same(nb_pg_metric_to_json(&cur), nb_pg_metric_to_json(m), ign);
	nb_pg_metric_done(&cur);
	if (same)
		return 0;
	if (!reset)
		return nb_err_set(err, NB_EINPUT,
				  "metric \"%s\" exists with a different definition (--reset replaces "
				  "it)",
				  m->key);
	return nb_pg_metric_update(conn, m, actor, err);
}

/* Deletes experiment key with its assignments and events (--reset). */
static int setup_drop_exp(PGconn *conn, const nb_pg_experiment *cur, const char *actor,
			  nb_err *err)
{
	const char *p[1] = {cur->key};
	cJSON *before = nb_pg_experiment_to_json(cur);
	int rc = nb_pg_begin(conn, err);
	if (rc == 0)
		rc = nb_pg_run(conn, "DELETE FROM events WHERE experiment = $1", 1, p, err);
	if (rc == 0)
		rc = nb_pg_run(conn, "DELETE FROM experiments WHERE key = $1", 1, p, err);
	if (rc == 0)
		rc = nb_pg_audit(conn, actor, "delete", "experiment", cur->key, before, NULL, err);
	if (rc == 0)
		rc = nb_pg_commit(conn, err);
	else
		nb_pg_rollback(conn);
	cJSON_Delete(before);
	return rc;
}

static int setup_create_exp(PGconn *conn, const nb_pg_experiment *def, const char *actor,
			    nb_err *err)
{
	cJSON *j = nb_pg_experiment_to_json(def);
	nb_pg_experiment copy = {0};
	int rc = nb_pg_experiment_from_json(j, &copy, err);
	if (rc == 0)
		rc = nb_pg_experiment_create(conn, &copy, actor, err);
	nb_pg_experiment_done(&copy);
	cJSON_Delete(j);
	return rc;
}

static int setup_exp(PGconn *conn, const nb_pg_experiment *def, int reset, const char *actor,
		     nb_err *err)
{
	static const char *const ign[] = {"status",	"version",    "created_at", "updated_at",
					  "started_at", "stopped_at", NULL};
	nb_pg_experiment cur = {0};
	nb_err e2;
	int rc = 0;
	if (nb_pg_experiment_get(conn, def->key, 0, &cur, &e2)) {
		if (e2.code != NB_EINPUT)
			return nb_err_set(err, e2.code, "%s", e2.msg);
		rc = setup_create_exp(conn, def, actor, err);
	} else {
		int same = json_same(nb_pg_experiment_to_json(&cur), nb_pg_experiment_to_json(def),
				     ign);
		int usable = !strcmp(cur.status, "draft") || !strcmp(cur.status, "running") ||
			     !strcmp(cur.status, "paused");
		if ((!same || !usable) && !reset)
			rc = nb_err_set(err, NB_EINPUT,
					"experiment \"%s\" exists %s (--reset deletes and recreates "
					"it with its assignments and events)",
					def->key,
					!same ? "with a different definition" : "and is not running");
		else if (!same || !usable)
			rc = setup_drop_exp(conn, &cur, actor, err) ||
			     setup_create_exp(conn, def, actor, err);
	}
	nb_pg_experiment_done(&cur);
	if (rc)
		return -1;
	if (nb_pg_experiment_get(conn, def->key, 0, &cur, err))
		return -1;
	if (strcmp(cur.status, "running"))
		rc = nb_pg_experiment_transition(conn, def->key, "start", actor, NULL, err);
	nb_pg_experiment_done(&cur);
	return rc;
}

int nb_sim_setup(PGconn *conn, const nb_sim_scenario *sc, int reset, const char *actor,
		 nb_err *err)
{
	for (int i = 0; i < sc->nmetrics; i++)
		if (setup_metric(conn, &sc->metrics[i], reset, actor, err))
			return -1;
	for (int i = 0; i < sc->nexps; i++)
		if (setup_exp(conn, &sc->exps[i].def, reset, actor, err))
			return -1;
	return 0;
}

/* ---- the run ---- */

/* An event waiting to be written: owned strings. */
typedef struct sim_pending {
	nb_sim_event ev;
	char *user, *props;
	const char *exp;
} sim_pending;

typedef struct sim_run {
	const nb_sim_scenario *sc;
	const nb_sim_run_opts *o;
	nb_sim_gen *gen;
	PGconn *ev, *aux, *as;
	nb_pg_experiment *pgexp; /* loaded for assignment, per scenario experiment */
	nb_sim_user *batch;
	int nbatch, batch_max; /* about NB_PG_ASSIGN_BATCH users per experiment */
	sim_pending *pend; /* generated, not yet due (paced) or not yet added */
	size_t npend, cappend;
	nb_pg_events_loader *loader;
	int adds; /* loader adds since begin */
	double last_commit;
	nb_sim_stats *st;
} sim_run;

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pend_push(sim_run *r, const nb_sim_event *e, const nb_sim_user *u, const char *exp)
{
	if (r->npend == r->cappend) {
		r->cappend = r->cappend ? r->cappend * 2 : 4096;
		r->pend = nb_xrealloc(r->pend, r->cappend * sizeof *r->pend);
	}
	r->pend[r->npend++] = (sim_pending){*e, nb_xstrdup(u->id), nb_xstrdup(u->props), exp};
}

static void pend_free(sim_pending *p)
{
	free(p->user);
	free(p->props);
}

/* Frees the strings an added (or failed) batch owned. */
static void batch_free(nb_pg_event *batch, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		free(batch[k].user_id);
		free(batch[k].properties);
	}
}

/* Hands the pending events due by `due` (all when due is INFINITY) to the
 * loader, NB_PG_EVENTS_BATCH per add; keeps the others (and, after an
 * error, the ones not yet handed over). */
static int events_add_due(sim_run *r, double due, nb_err *err)
{
	nb_pg_event *batch = nb_xmalloc(sizeof *batch * NB_PG_EVENTS_BATCH);
	size_t keep = 0, n = 0;
	int rc = 0;
	for (size_t i = 0; i <= r->npend; i++) {
		if (i < r->npend && (rc || r->pend[i].ev.ts > due)) {
			r->pend[keep++] = r->pend[i];
			continue;
		}
		if (i < r->npend) {
			sim_pending *p = &r->pend[i];
			nb_pg_event *e = &batch[n++];
			memset(e, 0, sizeof *e);
			memcpy(e->event_id, p->ev.event_id, sizeof e->event_id);
			e->user_id = p->user;
			e->type = (char *)p->ev.type;
			e->epoch = p->ev.ts;
			nb_pg_event_format_ts(p->ev.ts, e->ts, sizeof e->ts);
			e->has_value = p->ev.has_value;
			e->value = p->ev.value;
			e->properties = p->props;
			e->experiment = (char *)p->exp;
		}
		if (n && (n == NB_PG_EVENTS_BATCH || i == r->npend)) {
			if (!r->loader && !(r->loader = nb_pg_events_loader_begin(r->ev, r->aux, err)))
				rc = -1;
			if (rc == 0)
				rc = nb_pg_events_loader_add(r->loader, batch, n, err);
			r->adds++;
			r->st->events += (long)n;
			batch_free(batch, n);
			n = 0;
		}
	}
	r->npend = keep;
	free(batch);
	return rc;
}

static int events_commit(sim_run *r, nb_err *err)
{
	r->last_commit = mono_now();
	if (!r->loader)
		return 0;
	nb_pg_load_stats ls = {0};
	int rc = nb_pg_events_loader_finish(r->loader, 1, &ls, err);
	r->loader = NULL;
	r->adds = 0;
	r->st->inserted += ls.inserted;
	r->st->skipped += ls.skipped;
	return rc;
}

static int variant_index(const nb_pg_experiment *d, const char *key)
{
	for (int i = 0; i < d->nvariants; i++)
		if (!strcmp(d->variants[i].key, key))
			return i;
	return -1;
}

/* Back-dates the rows this batch created to the simulated arrivals. */
static int assign_backdate(sim_run *r, const char *exp, int n, nb_sim_user **us,
			   const nb_pg_assignment *out, nb_err *err)
{
	nb_buf u, t;
	nb_buf_init(&u);
	nb_buf_init(&t);
	nb_buf_putc(&u, '{');
	nb_buf_putc(&t, '{');
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (!out[i].is_new)
			continue;
		char ts[40];
		nb_pg_event_format_ts(us[i]->arrival, ts, sizeof ts);
		nb_pg_array_elem(&u, us[i]->id, k == 0);
		nb_pg_array_elem(&t, ts, k++ == 0);
	}
	nb_buf_putc(&u, '}');
	nb_buf_putc(&t, '}');
	int rc = 0;
	if (k) {
		const char *p[3] = {exp, u.data, t.data};
		rc = nb_pg_run(r->as,
			       "UPDATE assignments a SET assigned_at = t.at"
			       " FROM unnest($2::text[], $3::timestamptz[]) AS t(u, at)"
			       " WHERE a.experiment = $1 AND a.user_id = t.u",
			       3, p, err);
	}
	nb_buf_done(&u);
	nb_buf_done(&t);
	return rc;
}

/* Stores the batch's users of experiment e; sets their variant to the
 * stored one (-1 when the stored experiment left them out). */
static int assign_exp(sim_run *r, int e, nb_err *err)
{
	nb_sim_user **us = nb_xmalloc(sizeof *us * (size_t)(r->nbatch + 1));
	const char **ids = nb_xmalloc(sizeof *ids * (size_t)(r->nbatch + 1));
	const cJSON **at = nb_xmalloc(sizeof *at * (size_t)(r->nbatch + 1));
	int n = 0;
	for (int i = 0; i < r->nbatch; i++) {
		nb_sim_user *u = &r->batch[i];
		if (u->exp != e || u->dropped)
			continue;
		us[n] = u;
		ids[n] = u->id;
		at[n++] = u->attrs;
	}
	nb_pg_assignment *out = nb_xcalloc((size_t)n + 1, sizeof *out);
	int rc = 0;
	if (n) {
		rc = nb_pg_assign_batch(r->as, &r->pgexp[e], n, ids, at, out, err);
		if (rc == 0)
			rc = assign_backdate(r, r->pgexp[e].key, n, us, out, err);
	}
	for (int i = 0; rc == 0 && i < n; i++) {
		int v = out[i].in_experiment ? variant_index(&r->sc->exps[e].def, out[i].variant)
					     : -1;
		us[i]->variant = v;
		if (v < 0) {
			us[i]->exp = -1;
			r->st->outside++;
			continue;
		}
		r->st->assigned++;
		r->st->per_variant[e * NB_ASSIGN_MAX_VARIANTS + v]++;
	}
	free(out);
	free(us);
	free(ids);
	free(at);
	return rc;
}

/* Assigns the batch, generates its events into the pending list. */
static int flush_users(sim_run *r, double horizon, nb_err *err)
{
	double t0 = mono_now();
	for (int e = 0; e < r->sc->nexps; e++)
		if (assign_exp(r, e, err))
			return -1;
	r->st->seconds_assign += mono_now() - t0;
	nb_sim_events evs = {0};
	for (int i = 0; i < r->nbatch; i++) {
		nb_sim_user *u = &r->batch[i];
		if (u->dropped) {
			r->st->dropped++;
		} else {
			evs.n = 0;
			nb_sim_user_events(r->gen, u, u->exp >= 0 ? u->variant : -1, &evs);
			const char *exp = u->exp >= 0 ? r->sc->exps[u->exp].def.key : NULL;
			for (size_t k = 0; k < evs.n; k++)
				if (evs.v[k].ts <= horizon)
					pend_push(r, &evs.v[k], u, exp);
		}
		nb_sim_user_done(u);
	}
	nb_sim_events_done(&evs);
	r->nbatch = 0;
	return 0;
}

/* Sleeps until wall time t (or a stop request); 1 when stopped. */
static int sleep_until(const sim_run *r, double t)
{
	for (;;) {
		if (r->o->stop && *r->o->stop)
			return 1;
		double d = t - wall_now();
		if (d <= 0)
			return 0;
		if (d > 0.2)
			d = 0.2;
		struct timespec ts = {(time_t)d, (long)((d - floor(d)) * 1e9)};
		nanosleep(&ts, NULL);
	}
}

/* Writes and commits what is due; in unpaced runs, every 5 loader adds. */
static int maybe_write(sim_run *r, int final, nb_err *err)
{
	int pace = r->o->pace;
	if (pace && !final && mono_now() - r->last_commit < 1.0)
		return 0;
	if (!pace && !final && r->npend < NB_PG_EVENTS_BATCH)
		return 0;
	double t0 = mono_now();
	if (events_add_due(r, pace && !final ? wall_now() : INFINITY, err))
		return -1;
	int rc = 0;
	if (pace || final || r->adds >= 5)
		rc = events_commit(r, err);
	r->st->seconds_events += mono_now() - t0;
	return rc;
	return 0;
}

static int run_loop(sim_run *r, nb_err *err)
{
	nb_sim_user u;
	int stopped = 0;
	while (!stopped) {
		int more = nb_sim_gen_next(r->gen, &u);
		if (more && r->o->pace && u.arrival > wall_now()) {
			if (r->nbatch && flush_users(r, wall_now() + 3600, err)) {
				nb_sim_user_done(&u);
				return -1;
			}
			if (maybe_write(r, 0, err)) {
				nb_sim_user_done(&u);
				return -1;
			}
			stopped = sleep_until(r, u.arrival);
		}
		if (!more || stopped || (r->o->stop && *r->o->stop)) {
			nb_sim_user_done(&u);
			break;
		}
		r->batch[r->nbatch++] = u;
		r->st->users++;
		if (r->nbatch == r->batch_max) {
			if (flush_users(r, r->o->pace ? wall_now() + 3600 : INFINITY, err) ||
			    maybe_write(r, 0, err))
				return -1;
		}
	}
	if (r->nbatch && flush_users(r, r->o->pace ? wall_now() + 3600 : INFINITY, err))
		return -1;
	return maybe_write(r, 1, err);
}

static int run_connect(sim_run *r, const nb_config *cfg, nb_err *err)
{
	PGconn **cs[3] = {&r->ev, &r->aux, &r->as};
	for (int i = 0; i < 3; i++) {
		if (!(*cs[i] = nb_pg_connect(cfg, err)))
			return -1;
		/* simulated rows can be regenerated: no flush wait per commit */
		if (nb_pg_run(*cs[i], "SET synchronous_commit = off", 0, NULL, err))
			return -1;
	}
	r->pgexp = nb_xcalloc((size_t)r->sc->nexps, sizeof *r->pgexp);
	for (int e = 0; e < r->sc->nexps; e++)
		if (nb_pg_assign_load(r->as, r->sc->exps[e].def.key, &r->pgexp[e], err))
			return -1;
	return 0;
}

int nb_sim_run(const nb_config *cfg, const nb_sim_scenario *sc, const nb_sim_run_opts *o,
	       nb_sim_stats *st, nb_err *err)
{
	memset(st, 0, sizeof *st);
	st->per_variant = nb_xcalloc((size_t)sc->nexps * NB_ASSIGN_MAX_VARIANTS, sizeof(long));
	sim_run r = {.sc = sc, .o = o, .st = st};
	double t0 = mono_now();
	r.last_commit = t0;
	r.batch_max = NB_PG_ASSIGN_BATCH * (sc->nexps < 8 ? sc->nexps : 8);
	r.batch = nb_xcalloc((size_t)r.batch_max, sizeof *r.batch);
	int rc = run_connect(&r, cfg, err);
	if (rc == 0) {
		r.gen = nb_sim_gen_new(sc, &o->gen);
		rc = run_loop(&r, err);
	}
	if (r.loader)
		nb_pg_events_loader_finish(r.loader, 0, NULL, NULL);
	for (int i = 0; i < r.nbatch; i++)
		nb_sim_user_done(&r.batch[i]);
	for (size_t i = 0; i < r.npend; i++)
		pend_free(&r.pend[i]);
	free(r.pend);
	free(r.batch);
	for (int e = 0; r.pgexp && e < sc->nexps; e++)
		nb_pg_experiment_done(&r.pgexp[e]);
	free(r.pgexp);
	nb_sim_gen_free(r.gen);
	PGconn *cs[3] = {r.ev, r.aux, r.as};
	for (int i = 0; i < 3; i++)
		if (cs[i])
			PQfinish(cs[i]);
	st->seconds = mono_now() - t0;
	return rc;
}
