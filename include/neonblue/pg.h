/* pg.h — nb_pg: PostgreSQL connection, migrations, experiments, metrics, audit log.
 * Schema: core/sql/pg/(numbered .sql files), documented in docs/schema.md. Every SQL value goes
 * through PQexecParams. Functions return 0/-1 (or a pointer/NULL) with nb_err:
 * NB_EINPUT for a caller mistake (unknown key, refused transition, bad field),
 * NB_ESERVER for a server failure. */
#ifndef NEONBLUE_PG_H
#define NEONBLUE_PG_H

#include "neonblue/assign.h"
#include "neonblue/config.h"
#include "neonblue/err.h"

#include <cjson/cJSON.h>
#include <libpq-fe.h>

/* ---- connection, queries, migrations (core/pg.c) ---------------------- */

/* Connects with cfg->pg (libpq conninfo; "" lets libpq use PG*), after
 * nb_config_require_pg. The error names host and port. Sets client_encoding
 * UTF8 and TimeZone UTC for the session. */
PGconn *nb_pg_connect(const nb_config *cfg, nb_err *err);

/* Applies the embedded pg/ migrations not yet in schema_migrations, each in
 * its own transaction, under a session advisory lock (concurrent runs are
 * safe: the second waits, then finds nothing to do). *applied (may be NULL)
 * gets how many were applied. */
int nb_pg_migrate(PGconn *conn, int *applied, nb_err *err);

/* PQexecParams with text parameters (NULL entries are SQL NULL). Returns the
 * result when it is PGRES_COMMAND_OK or PGRES_TUPLES_OK, else NULL with err set
 * (NB_EINPUT for integrity/data errors — SQLSTATE classes 22 and 23 — else
 * NB_ESERVER). The caller PQclear()s the result. */
PGresult *nb_pg_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
		     nb_err *err);
/* Same, discarding the result. */
int nb_pg_run(PGconn *conn, const char *sql, int nparams, const char *const *params, nb_err *err);
int nb_pg_begin(PGconn *conn, nb_err *err);
int nb_pg_commit(PGconn *conn, nb_err *err);
/* Never fails; safe to call when no transaction is open. */
void nb_pg_rollback(PGconn *conn);

/* Makes sure monthly partitions of events cover [from, to] (ISO-8601 or any
 * PostgreSQL timestamptz text). Call before writing events with those ts. */
int nb_pg_ensure_event_partitions(PGconn *conn, const char *from, const char *to, nb_err *err);

/* ---- audit log (core/pg_audit.c) --------------------------------------- */

/* Appends an audit_log row in the caller's transaction. entity is
 * "experiment", "metric" or "assignment"; before/after may be NULL. */
int nb_pg_audit(PGconn *conn, const char *actor, const char *action, const char *entity,
		const char *key, const cJSON *before, const cJSON *after, nb_err *err);

/* The audit rows of one entity, oldest first, as a JSON array of
 * {id, at, actor, action, entity, key, before, after}. Caller deletes. */
cJSON *nb_pg_audit_list(PGconn *conn, const char *entity, const char *key, nb_err *err);

/* ---- the experiment model (pure: core/pg_model.c) ---------------------- */

#define NB_PG_KEY_MAX 64

typedef struct nb_pg_variant {
	char *key;
	char *name;
	double weight;  /* normalised: the weights of an experiment sum to 1 */
	int is_control; /* exactly one per experiment */
	cJSON *config;  /* JSON object, never NULL once loaded/parsed */
} nb_pg_variant;

typedef struct nb_pg_exp_metric {
	char *key;  /* metric key */
	char *role; /* "primary", "secondary" or "guardrail" */
} nb_pg_exp_metric;

typedef struct nb_pg_experiment {
	char *key, *name, *description, *hypothesis, *owner;
	char *status;     /* draft running paused stopped archived */
	char *seed;       /* hash salt; defaults to key */
	int hash_version; /* 1 or 2 */
	double coverage;  /* 0..1 */
	char *ns_id;      /* namespace id, NULL for none */
	double ns_start, ns_end;
	cJSON *condition; /* targeting condition object, NULL for everyone */
	int nvariants;
	nb_pg_variant *variants; /* in position order */
	double *weights;         /* nvariants weights (copy of variants[i].weight) */
	int nmetrics;
	nb_pg_exp_metric *metrics;
	long version;
	/* ISO-8601 UTC timestamps, "" when unset (filled when loaded) */
	char created_at[40], updated_at[40], started_at[40], stopped_at[40];
} nb_pg_experiment;

/* Frees what e owns and zeroes it. */
void nb_pg_experiment_done(nb_pg_experiment *e);
/* A view for nb_assign_decide, pointing into e (valid while e lives). */
void nb_pg_experiment_assign_view(const nb_pg_experiment *e, nb_assign_exp *out);

/* The JSON that `exp show --json` prints (docs/cli.md): key, name,
 * description, hypothesis, status, seed, hash_version, coverage, namespace
 * ([id,start,end] or null), condition, owner, variants [{key,name,weight,
 * is_control,config}], metrics [{key,role}], version, created_at, updated_at,
 * started_at, stopped_at. Caller deletes. */
cJSON *nb_pg_experiment_to_json(const nb_pg_experiment *e);
/* Parses and validates a definition (the JSON above; status, version and
 * timestamps are ignored). Missing optional fields get defaults: seed = key,
 * hash_version 2, coverage 1, control = first variant unless one is marked,
 * variant name = key. Weights are normalised; unknown fields and unknown
 * condition operators are refused. Errors name the field. */
int nb_pg_experiment_from_json(const cJSON *j, nb_pg_experiment *out, nb_err *err);
/* Validates every field of e and normalises its weights in place. */
int nb_pg_experiment_validate(nb_pg_experiment *e, nb_err *err);

/* 1 when s matches [a-z0-9_-]{1,64}. */
int nb_pg_slug_ok(const char *s);
/* Weights must be positive and sum to 1 or to 100 within 0.01 % (relative);
 * they are then scaled to sum to exactly 1. field names them in errors. */
int nb_pg_weights_normalise(double *w, int n, const char *field, nb_err *err);
/* "control:50,treatment:50" (or "a,b,c" for equal weights) → variants.
 * Caller frees with nb_pg_variants_free. */
int nb_pg_variants_parse(const char *spec, nb_pg_variant **out, int *n, nb_err *err);
void nb_pg_variants_free(nb_pg_variant *v, int n);
/* "KEY:role,KEY:role" → metrics; a bare KEY is secondary. */
int nb_pg_exp_metrics_parse(const char *spec, nb_pg_exp_metric **out, int *n, nb_err *err);
void nb_pg_exp_metrics_free(nb_pg_exp_metric *m, int n);

/* Lifecycle: action is start, pause, stop or archive. Returns the status the
 * action leads to, or NULL with err (NB_EINPUT) naming the current state. */
const char *nb_pg_transition(const char *status, const char *action, nb_err *err);

/* ---- experiments in PostgreSQL (core/pg_experiments.c) ----------------- */

/* Loads an experiment with its variants and metrics. Unknown key → NB_EINPUT.
 * for_update: lock the experiment row (inside the caller's transaction). */
int nb_pg_experiment_get(PGconn *conn, const char *key, int for_update, nb_pg_experiment *out,
			 nb_err *err);
/* Every experiment, ordered by key (status NULL for all). Caller frees each
 * with nb_pg_experiment_done and the array with free. */
int nb_pg_experiment_list(PGconn *conn, const char *status, nb_pg_experiment **out, int *n,
			  nb_err *err);
/* Validates def and inserts it as a draft at version 1, with audit row. An
 * existing key (even one created concurrently) → NB_EINPUT "already exists". */
int nb_pg_experiment_create(PGconn *conn, nb_pg_experiment *def, const char *actor, nb_err *err);

/* What `exp edit` changes: NULL/negative fields are left alone. */
typedef struct nb_pg_experiment_edit {
	const char *name, *description, *hypothesis, *owner;
	const char *condition_json; /* "null" clears */
	const char *namespace_spec; /* "id:start:end" or "none" */
	double coverage;            /* < 0: unchanged */
	int hash_version;           /* 0: unchanged */
	const char *variants_spec;  /* drafts: replace; running/paused: weights, needs reseed */
	const char *metrics_spec;   /* replaces the metric list */
	const char *seed;           /* with reseed, or on drafts */
	int reseed;                 /* bump version and seed */
	/* A whole new definition (`exp edit KEY --file`): its key must be KEY; the
	 * fields above still apply on top of it. NULL: start from the stored one. */
	const nb_pg_experiment *replace;
} nb_pg_experiment_edit;
int nb_pg_experiment_edit_apply(PGconn *conn, const char *key, const nb_pg_experiment_edit *ed,
				const char *actor, nb_pg_experiment *out, nb_err *err);
/* start|pause|stop|archive with audit row; out (may be NULL) gets the result. */
int nb_pg_experiment_transition(PGconn *conn, const char *key, const char *action,
				const char *actor, nb_pg_experiment *out, nb_err *err);
/* Deletes a draft (refused otherwise), with audit row. */
int nb_pg_experiment_delete(PGconn *conn, const char *key, const char *actor, nb_err *err);

/* ---- metrics (core/pg_metrics.c) --------------------------------------- */

typedef struct nb_pg_metric {
	char *key, *name, *description;
	char *kind;         /* binomial count sum mean ratio */
	int nevents;
	char **event_types; /* ratio: [numerator, denominator] */
	char *value_property; /* NULL for none */
	char *direction;    /* increase | decrease */
	double winsorize;   /* percentile in (0,100], 0 for none */
	char created_at[40], updated_at[40];
} nb_pg_metric;

void nb_pg_metric_done(nb_pg_metric *m);
cJSON *nb_pg_metric_to_json(const nb_pg_metric *m);
int nb_pg_metric_from_json(const cJSON *j, nb_pg_metric *out, nb_err *err);
int nb_pg_metric_validate(const nb_pg_metric *m, nb_err *err);
int nb_pg_metric_get(PGconn *conn, const char *key, nb_pg_metric *out, nb_err *err);
int nb_pg_metric_list(PGconn *conn, nb_pg_metric **out, int *n, nb_err *err);
int nb_pg_metric_create(PGconn *conn, const nb_pg_metric *m, const char *actor, nb_err *err);
/* Replaces every field but key with those of m (validated), with audit row. */
int nb_pg_metric_update(PGconn *conn, const nb_pg_metric *m, const char *actor, nb_err *err);

#endif
