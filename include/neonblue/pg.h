/* pg.h — nb_pg: PostgreSQL connection, migrations, experiments, metrics, audit log.
 * Schema: core/sql/pg/(numbered .sql files), documented in docs/schema.md. Every SQL value goes
 * through PQexecParams. Functions return 0/-1 (or a pointer/NULL) with nb_err:
 * NB_EINPUT for a caller mistake (unknown key, refused transition, bad field),
 * NB_ESERVER for a server failure. */
#ifndef NEONBLUE_PG_H
#define NEONBLUE_PG_H

#include "neonblue/base.h"
#include "neonblue/assign.h"


#include <cjson/cJSON.h>
#include <libpq-fe.h>

/* ---- connection, queries, migrations (core/pg/pg.c) ---------------------- */

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
/* A statement run often: prepared once per connection under name (the
 * connection remembers it; a new connection prepares again), so PostgreSQL
 * parses and plans it once. name must always go with the same sql.
 * nb_pg_prepare alone (0, or -1 with err) is for callers that then send it
 * with PQsendQueryPrepared (pipeline mode). */
int nb_pg_prepare(PGconn *conn, const char *name, const char *sql, int nparams, nb_err *err);
PGresult *nb_pg_exec_prepared(PGconn *conn, const char *name, const char *sql, int nparams,
			      const char *const *params, nb_err *err);
int nb_pg_begin(PGconn *conn, nb_err *err);
int nb_pg_commit(PGconn *conn, nb_err *err);
/* Never fails; safe to call when no transaction is open. */
void nb_pg_rollback(PGconn *conn);

/* Makes sure monthly partitions of events cover [from, to] (ISO-8601 or any
 * PostgreSQL timestamptz text). Call before writing events with those ts. */
int nb_pg_ensure_event_partitions(PGconn *conn, const char *from, const char *to, nb_err *err);

/* ---- audit log (core/pg/audit.c) --------------------------------------- */

/* Appends an audit_log row in the caller's transaction. entity is
 * "experiment", "metric" or "assignment"; before/after may be NULL. */
int nb_pg_audit(PGconn *conn, const char *actor, const char *action, const char *entity,
		const char *key, const cJSON *before, const cJSON *after, nb_err *err);

/* The audit rows of one entity, oldest first, as a JSON array of
 * {id, at, actor, action, entity, key, before, after}. Caller deletes. */
cJSON *nb_pg_audit_list(PGconn *conn, const char *entity, const char *key, nb_err *err);

/* ---- the experiment model (pure: core/pg/model.c) ---------------------- */

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
	char *holdout;    /* the holdout it names (a holdout's key), NULL for none */
	char *holdout_seed;   /* loaded: that holdout's seed */
	double holdout_share; /* loaded: its share of users (percent / 100) */
	int is_holdout;       /* loaded: this experiment backs a holdout */
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

/* A targeting condition: NULL or a JSON object using only GrowthBook's
 * operators; the error names field ("rules[1].condition: unknown operator
 * '$foo' at country"). */
int nb_pg_condition_check(const cJSON *c, const char *field, nb_err *err);
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

/* ---- experiments in PostgreSQL (core/pg/experiments.c) ----------------- */

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
	const char *holdout;        /* a holdout's key, or "none" */
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

/* ---- metrics (core/pg/metrics.c) --------------------------------------- */

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

/* ==== pg_groups ==== */
/* saved groups (core/pg/groups.c, table saved_groups) for $inGroup,
 * $notInGroup and $savedGroup. */

/* The saved groups as a JSON array of {id, attribute_key, values,
 * description, created_at, updated_at}, by id; only id's when id is not NULL
 * (an empty array when there is none). Caller deletes. */
cJSON *nb_pg_group_list(PGconn *conn, const char *id, nb_err *err);

/* Creates (create = 1) or edits saved group id in one audited transaction.
 * values is a JSON array text (NULL: keep, or [] for a new group);
 * attribute_key NULL keeps it, "" clears it; description NULL keeps it.
 * Errors: NB_EINPUT for bad values, a duplicate id or an unknown one. */
int nb_pg_group_save(PGconn *conn, const char *actor, int create, const char *id,
		     const char *values, const char *attribute_key, const char *description,
		     nb_err *err);

/* Every saved group as the evaluator's saved_groups object:
 * {"id": {"type": "list", "attributeKey"?: …, "values": […]}}. Caller deletes. */
cJSON *nb_pg_groups_load(PGconn *conn, nb_err *err);

/* ==== pg_assign ==== */
/* sticky, persisted assignment: the first decision of nb_assign
 * for (experiment, user) is stored in PostgreSQL and returned ever after. */

#include <cjson/cJSON.h>
#include <libpq-fe.h>

/* Users decided and stored per round trip by nb_pg_assign_batch callers. */
#define NB_PG_ASSIGN_BATCH 1000

typedef struct nb_pg_assignment {
	int in_experiment;
	int is_new;             /* this call created the stored row */
	const char *reason;     /* static sentence: "stored assignment", "assigned by hash", ... */
	char variant[NB_PG_KEY_MAX + 1];
	char source[16];        /* hash | forced; "" when not in experiment */
	char assigned_at[40];   /* ISO-8601 UTC; "" when not in experiment */
} nb_pg_assignment;

/* Loads experiment key for assignment: unknown key or a status other than
 * running → NB_EINPUT with a sentence naming the status. */
int nb_pg_assign_load(PGconn *conn, const char *key, nb_pg_experiment *out, nb_err *err);

/* Assigns n users (attrs[i] may be NULL; attrs itself may be NULL): stored
 * assignments win; the others are decided with nb_assign and inserted with
 * INSERT … ON CONFLICT DO NOTHING, then read back, so concurrent callers agree.
 * Users outside targeting/namespace/coverage get in_experiment 0 and a reason,
 * and nothing is stored. At most NB_PG_ASSIGN_BATCH users per call is
 * efficient; any n works. */
int nb_pg_assign_batch(PGconn *conn, const nb_pg_experiment *e, int n, const char *const *users,
		       const cJSON *const *attrs, nb_pg_assignment *out, nb_err *err);

/* The JSON of one result: experiment, user, in_experiment, variant (key or
 * null), reason, source, assigned_at, new. Caller deletes. */
cJSON *nb_pg_assignment_to_json(const char *experiment, const char *user,
				const nb_pg_assignment *a);

/* Appends s to b as one element of a PostgreSQL array literal (quoted,
 * escaped; NULL → NULL), preceded by a comma unless first. */
struct nb_buf;
void nb_pg_array_elem(struct nb_buf *b, const char *s, int first);

/* ==== pg_events ==== */
/* events into PostgreSQL: validation of the JSON Lines fields
 * shared by `neonblue track` and `neonblue ingest`, and the COPY loader. */

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <stddef.h>

/* Rows per COPY batch (and per event_id lookup) of nb_pg_events_load. */
#define NB_PG_EVENTS_BATCH 20000

typedef struct nb_pg_event {
	char event_id[37];  /* lowercase uuid */
	char *user_id;
	char *type;
	char ts[40];        /* normalised "YYYY-MM-DDTHH:MM:SS.ffffffZ" */
	double epoch;       /* ts as seconds since 1970 (UTC) */
	int has_value;
	double value;
	char *properties;   /* JSON object text, or NULL */
	char *experiment;   /* key, or NULL */
} nb_pg_event;

/* Validates one event object (event_id uuid optional → generated, user_id,
 * type, ts ISO-8601 optional → now, value number, properties object,
 * experiment key); unknown fields are refused. The error names the field and
 * why. out owns its strings: nb_pg_event_done. */
int nb_pg_event_from_json(const cJSON *j, nb_pg_event *out, nb_err *err);
void nb_pg_event_done(nb_pg_event *ev);

/* Parses an ISO-8601 timestamp (YYYY-MM-DD, optionally [T ]HH:MM[:SS[.f]]
 * and Z / ±HH[:MM]; no zone means UTC) into seconds since 1970. -1 if bad. */
int nb_pg_event_parse_ts(const char *s, double *epoch);
/* Formats seconds since 1970 as "YYYY-MM-DDTHH:MM:SS.ffffffZ". */
void nb_pg_event_format_ts(double epoch, char *out, size_t n);
/* A random (version 4) uuid, lowercase. */
void nb_pg_event_uuid(char out[37]);

typedef struct nb_pg_load_stats {
	long inserted; /* new rows */
	long skipped;  /* event_id already stored (or repeated in the input) */
} nb_pg_load_stats;

/* A load in one transaction on conn, all or nothing. begin opens the
 * transaction and takes an advisory lock (one loader at a time decides which
 * event_ids are new). Each add, per NB_PG_EVENTS_BATCH rows: creates the
 * monthly partitions the rows need, skips event_ids repeated in this load or
 * already stored, and streams the rest into one open COPY — returning without
 * waiting for the server, so the caller reads the next batch meanwhile (evs
 * may be freed on return). aux, a second connection (or NULL), runs the
 * lookups and partition creation while the COPY on conn stays open; without
 * it the COPY is ended for each lookup. finish commits (commit = 1) or rolls
 * back, reports the totals in st (zero unless committed) and frees the
 * loader; after a failed add it rolls back whatever commit says. */
typedef struct nb_pg_events_loader nb_pg_events_loader;
nb_pg_events_loader *nb_pg_events_loader_begin(PGconn *conn, PGconn *aux, nb_err *err);
int nb_pg_events_loader_add(nb_pg_events_loader *l, const nb_pg_event *evs, size_t n,
			    nb_err *err);
int nb_pg_events_loader_finish(nb_pg_events_loader *l, int commit, nb_pg_load_stats *st,
			       nb_err *err);

/* begin + add + finish for events already in memory (`track`, the group
 * committer of `neonblue serve`): up to NB_PG_EVENTS_BATCH rows in three
 * round trips (BEGIN, the lock, the partitions and the event_id lookup
 * pipelined; then the COPY and COMMIT in one query string). 0 once
 * committed; -1 (rolled back) with err. */
int nb_pg_events_load(PGconn *conn, const nb_pg_event *evs, size_t n, nb_pg_load_stats *st,
		      nb_err *err);

/* ==== tokens ==== */
/* API tokens of `neonblue serve` (core/pg/tokens.c): a random secret shown
 * once, its SHA-256 stored, scopes, a rate, an expiry, revocation. */

enum nb_pg_scope {
	NB_SCOPE_ASSIGN = 1,
	NB_SCOPE_TRACK = 2,
	NB_SCOPE_READ = 4,
	NB_SCOPE_ADMIN = 8,
	NB_SCOPE_FEATURES = 16,
};

typedef struct nb_pg_token {
	char name[NB_PG_KEY_MAX + 1];
	char hash[65];     /* lowercase hex SHA-256 of the secret */
	int scopes;        /* enum nb_pg_scope bits */
	double rate;       /* requests/s; 0: unlimited */
	double expires;    /* unix seconds; 0: never */
	double revoked;    /* unix seconds; 0: active */
} nb_pg_token;

/* "assign,track" → bits; an unknown or empty scope is an NB_EINPUT error
 * naming it. */
int nb_pg_scopes_parse(const char *list, int *scopes, nb_err *err);
/* Bits → "assign,track" into out. */
void nb_pg_scopes_format(int scopes, char *out, size_t n);
/* Lowercase hex SHA-256 of s (OpenSSL's libcrypto). */
void nb_pg_token_hash(const char *s, char out[65]);
/* Creates token name: a new secret "nbt_" + 43 base64url characters (256
 * random bits) into secret (the only time it exists outside the caller);
 * expires_s 0 = never, rate 0 = unlimited. Audited. A name in use →
 * NB_EINPUT. */
int nb_pg_token_create(PGconn *conn, const char *name, int scopes, double rate, double expires_s,
		       const char *actor, char secret[64], nb_err *err);
/* Revokes token name (audited); unknown or already revoked → NB_EINPUT. */
int nb_pg_token_revoke(PGconn *conn, const char *name, const char *actor, nb_err *err);
/* Every token, oldest first: {name, scopes[], rate, created_at, expires_at,
 * revoked_at, active}. Never the hash. Caller deletes. */
cJSON *nb_pg_token_list(PGconn *conn, nb_err *err);
/* The tokens a server may accept (not revoked, not expired) into *out
 * (caller frees), *n of them. */
int nb_pg_tokens_active(PGconn *conn, nb_pg_token **out, size_t *n, nb_err *err);

/* ==== features ==== */
/* The running experiments as a GrowthBook SDK payload (core/pg/features.c):
 * {"features": {KEY: {"defaultValue": null, "rules": [one experiment rule:
 * key, variations (the variant keys), weights, coverage, hashAttribute "id",
 * seed, hashVersion, namespace, condition, meta]}}, "savedGroups":
 * nb_pg_groups_load's object}. Caller deletes. */
cJSON *nb_pg_features_payload(PGconn *conn, nb_err *err);
/* The GrowthBook experiment rule of a (an assignment view) with the given
 * variations (taken over) and condition (NULL: a's own; duplicated): id and
 * key, seed, hashVersion, weights, coverage, namespace or (with a holdout)
 * filters are a's, so the SDK's bucket is nb_assign_decide's. Shared by the
 * experiments' features and the flags' experiment rules. Caller deletes. */
cJSON *nb_pg_experiment_rule(const nb_assign_exp *a, cJSON *variations, const cJSON *condition);
/* A short text that changes whenever the payload would (the running
 * experiments' keys, versions and update times, the saved groups, the flags
 * table's keys, versions and update times — the server adds the flags to
 * the payload, serve/features.c): the cache key. */
int nb_pg_features_version(PGconn *conn, char *out, size_t n, nb_err *err);

/* ==== layers and holdouts ==== */
/* core/pg/layers.c, docs/layers.md. A layer is a GrowthBook namespace with a
 * name: an experiment whose namespace id is the layer's key occupies its
 * range, and the live experiments (not stopped or archived) of a layer may
 * not overlap — PostgreSQL refuses the write (NB_EINPUT) naming the
 * experiment in the way, whatever writes it. */

/* Creates layer key (audited). Refused when live experiments already in
 * namespace `key` overlap (both named), or when it exists. */
int nb_pg_layer_create(PGconn *conn, const char *key, const char *name, const char *description,
		       const char *actor, nb_err *err);
/* The layers (or only `key`) as [{key, name, description, created_at,
 * occupied (the share of the namespace its live experiments hold),
 * experiments: [{key, status, start, end}] by start}]. Caller deletes. */
cJSON *nb_pg_layer_list(PGconn *conn, const char *key, nb_err *err);

/* A holdout: percent of the users, by its own seed (hash version 2), kept out
 * of every experiment that names it (nb_pg_experiment.holdout) and of every
 * flag rollout that names it. Backed by a running experiment of the same key
 * (variants "holdout", the control, and "general") whose assignments are the
 * users who reached an experiment naming it; its report is that
 * experiment's report. */
typedef struct nb_pg_holdout {
	char key[NB_PG_KEY_MAX + 1];
	char seed[256];
	double share; /* percent / 100 */
} nb_pg_holdout;

/* Creates holdout key (seed NULL: the key) with its backing experiment, in
 * one audited transaction. */
int nb_pg_holdout_create(PGconn *conn, const char *key, const char *name, double percent,
			 const char *seed, const char *actor, nb_err *err);
/* The hook for every rule that names a holdout: loads it (unknown →
 * NB_EINPUT); nb_in_holdout(user, h.seed, h.share) then says whether a user
 * is held out, and nb_pg_holdout_filter(h.seed, h.share) is the GrowthBook
 * filter that makes the SDKs agree. */
int nb_pg_holdout_get(PGconn *conn, const char *key, nb_pg_holdout *out, nb_err *err);
/* The GrowthBook SDK filter of a holdout: {"attribute": "id", "seed": seed,
 * "hashVersion": 2, "ranges": [[share, 1]]} — in a rule's "filters", a user
 * in the holdout falls in no range and skips the rule. Caller deletes. */
cJSON *nb_pg_holdout_filter(const char *seed, double share);
/* The holdouts (or only `key`) as [{key, name, percent, seed, status,
 * created_at, experiments: [keys naming it], members (users stored),
 * held_out (of them in the holdout)}]. Caller deletes. */
cJSON *nb_pg_holdout_list(PGconn *conn, const char *key, nb_err *err);

/* ==== retention ==== */
/* Data retention, the PostgreSQL side (core/pg/retention.c, table
 * retention_settings; docs/retention.md has the rules). Cutoffs are unix
 * seconds: what is strictly older goes. */

#define NB_PG_RET_NEVER (-0x7fffffffffffffffLL - 1) /* no cutoff: kept forever */

/* Checks a limit given as flag's value: a whole number and d, w, m or y
 * ("400d", "5y"), "forever", or (inherit_ok) "inherit". Writes the canonical
 * form into out ("" for inherit). The error names the flag and the value. */
int nb_pg_retention_parse(const char *flag, const char *v, int inherit_ok, char *out, size_t n,
			  nb_err *err);
/* Sets limits of the platform (experiment NULL) or of one experiment's
 * override, in one audited transaction (entity "retention", key "global" or
 * the experiment). NULL leaves a limit alone; "" makes it inherit (an
 * override) or keep forever (the platform). audit is platform-wide only. An
 * override left with nothing of its own is removed. */
int nb_pg_retention_set(PGconn *conn, const char *actor, const char *experiment,
			const char *events, const char *assignments, const char *audit,
			nb_err *err);
/* {"global": {events, assignments, audit, updated_at}, "experiments":
 * [{experiment, events, assignments, updated_at, effective: {events,
 * events_rule, assignments}}]}; null limits: forever (global) or inherited
 * (override). Caller deletes. */
cJSON *nb_pg_retention_show(PGconn *conn, nb_err *err);

typedef struct nb_pg_ret_over {
	char experiment[NB_PG_KEY_MAX + 1];
	int keep_events;       /* its users' events are kept longer than the global limit */
	long long events;      /* with keep_events: that cutoff (or NB_PG_RET_NEVER) */
	int assign_override;   /* the experiment has its own assignments limit */
	long long assignments; /* its effective assignments cutoff (own or global) */
} nb_pg_ret_over;

typedef struct nb_pg_ret_plan {
	long long at;                     /* the instant the limits are measured from */
	long long events, assignments, audit; /* global cutoffs */
	int nover;
	nb_pg_ret_over *over;             /* every experiment with an override */
} nb_pg_ret_plan;

/* The cutoffs of the stored limits at `at` (ISO-8601; NULL: now; later than
 * now is refused), computed by PostgreSQL (calendar months and years, UTC),
 * floored to the second. */
int nb_pg_retention_plan(PGconn *conn, const char *at, nb_pg_ret_plan *out, nb_err *err);
void nb_pg_retention_plan_done(nb_pg_ret_plan *p);
/* The plan as {at, events, assignments, audit, experiments: [{experiment,
 * events, assignments}]} with ISO-8601 cutoffs (null: none). */
cJSON *nb_pg_retention_cutoffs_json(const nb_pg_ret_plan *p);
/* Applies (dry = 0) or counts (dry = 1) the plan: event partitions whose
 * whole range is older than the events cutoff and hold no row an override
 * keeps are dropped; other partitions with expired rows are rewritten
 * without them (a new table swapped in, so nothing reaches the change
 * stream); expired assignments and audit rows are deleted. *summary (always
 * set, partial after an error; caller deletes): {events: {partitions:
 * [{partition, from, to, action, rows, deleted}], deleted}, assignments:
 * {by_experiment: {KEY: n}, deleted}, audit_log: {deleted}}. */
int nb_pg_retention_apply(PGconn *conn, const nb_pg_ret_plan *p, int dry, cJSON **summary,
			  nb_err *err);

#endif
