/* flag.h — feature flags (core/flag/, docs/flags.md): the definition, its
 * JSON (shared by the CLI and the server), storage in PostgreSQL (table
 * flags, audited like experiments) and evaluation in GrowthBook's feature
 * semantics. Functions return 0/-1 (or a pointer/NULL) with nb_err:
 * NB_EINPUT for a caller mistake (the message names the field: "rules[2].
 * coverage", "default_value", ...), NB_ESERVER for a server failure. */
#ifndef NEONBLUE_FLAG_H
#define NEONBLUE_FLAG_H

#include "neonblue/assign.h"
#include "neonblue/base.h"
#include "neonblue/pg.h"

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <stddef.h>

enum nb_flag_type { NB_FLAG_BOOLEAN = 0, NB_FLAG_STRING, NB_FLAG_NUMBER, NB_FLAG_JSON };
/* "boolean", "string", "number", "json"; parse returns -1 for anything else. */
const char *nb_flag_type_str(enum nb_flag_type t);
int nb_flag_type_parse(const char *s, enum nb_flag_type *out);

enum nb_flag_rule_kind { NB_FLAG_FORCE = 0, NB_FLAG_ROLLOUT, NB_FLAG_EXPERIMENT };
/* "force", "rollout", "experiment"; parse returns -1 for anything else. */
const char *nb_flag_rule_kind_str(enum nb_flag_rule_kind k);
int nb_flag_rule_kind_parse(const char *s, enum nb_flag_rule_kind *out);

/* One rule, in the flag's order; the flag owns every pointer.
 * force: condition → value.
 * rollout: condition, then (holdout: the user is not in it), then
 *   hash(seed, attributes[hash_attribute], hash_version) <= coverage
 *   (GrowthBook's isIncludedInRollout: coverage 0 includes nobody, an empty
 *   or missing hash attribute excludes) → value.
 * experiment: condition, then the experiment's own decision (targeting,
 *   namespace, coverage, holdout, weights) → variations[the variant key]. */
typedef struct nb_flag_rule {
	enum nb_flag_rule_kind kind;
	cJSON *condition;     /* NULL: everyone */
	cJSON *value;	      /* force, rollout: of the flag's type */
	double coverage;      /* rollout: 0..1 */
	char *hash_attribute; /* rollout: "id" unless given */
	char *seed;	      /* rollout: the flag key unless given */
	int hash_version;     /* rollout: 1 or 2 (default 2) */
	char *holdout;	      /* rollout: a holdout's key, NULL for none */
	char *experiment;     /* experiment: its key */
	cJSON *variations;    /* experiment: {variant key: value of the flag's type} */

	/* Filled by nb_flag_resolve (nb_flag_get and nb_flag_list call it). */
	int resolved;	       /* 0: not resolved; an experiment rule is then skipped */
	char *holdout_seed;    /* rollout with holdout: its seed */
	double holdout_share;  /* and its share of users, 0..1 */
	nb_pg_experiment *exp; /* experiment: loaded when running, else NULL (rule skipped) */
	nb_assign_exp view;    /* experiment: the decision view of *exp */
	const cJSON **values; /* experiment: exp->nvariants values (NULL when a variant has none) */
} nb_flag_rule;

typedef struct nb_flag {
	char *key; /* [a-z0-9_-]{1,64}, not an experiment's key */
	enum nb_flag_type type;
	char *description;    /* "" unless given */
	int enabled;	      /* 0: off — every rule skipped, default_value served */
	cJSON *default_value; /* of the type; never NULL once parsed/validated */
	int nrules;
	nb_flag_rule *rules;
	cJSON *saved_groups; /* for $inGroup: set by nb_flag_resolve, or NULL */
	/* stored fields (0 / "" until stored) */
	long version; /* 1 at creation, +1 per change */
	char created_at[40], updated_at[40];
} nb_flag;

/* A definition to create or edit with: the same structure (its resolved and
 * stored fields are ignored). */
typedef nb_flag nb_flag_spec;

/* Frees what f owns and zeroes it. */
void nb_flag_done(nb_flag *f);
/* nb_flag_done on each of n flags, then free(v). */
void nb_flag_list_free(nb_flag *v, size_t n);

/* ---- JSON (core/flag/json.c) ------------------------------------------- *
 * {"key", "type", "description", "enabled", "default_value", "rules": [
 *   {"type": "force", "condition"?, "value"},
 *   {"type": "rollout", "condition"?, "coverage", "hash_attribute"?, "seed"?,
 *    "hash_version"?, "holdout"?, "value"},
 *   {"type": "experiment", "condition"?, "experiment", "variations": {VARIANT: value}}],
 *  "version", "created_at", "updated_at"}   (docs/flags.md)
 * from_json ignores version and timestamps, refuses unknown fields, fills the
 * defaults (type boolean, enabled false, default_value false / "" / 0 / null,
 * rule defaults above) and validates (nb_flag_validate). */
int nb_flag_from_json(const cJSON *j, nb_flag *out, nb_err *err);
/* The text form of the same (a file, a request body). */
int nb_flag_parse(const char *json, nb_flag *out, nb_err *err);
/* Replaces f's rules by the JSON array a (not validated: nb_flag_validate). */
int nb_flag_rules_from_json(const cJSON *a, nb_flag *f, nb_err *err);
/* One rule's JSON, as in nb_flag_to_json. Caller deletes. */
cJSON *nb_flag_rule_to_json(const nb_flag_rule *r);
/* Every field, defaults written out; the stored ones too once stored. Caller deletes. */
cJSON *nb_flag_to_json(const nb_flag *f);
/* The checks needing no database: key, type, values of the type, coverage in
 * 0..1, hash version, condition operators, non-empty variations. Fills the
 * rule defaults in place. Errors name the field ("rules[1].value"). */
int nb_flag_validate(nb_flag *f, nb_err *err);
/* Deep copy of a definition (not the resolved fields). */
void nb_flag_copy(nb_flag *dst, const nb_flag *src);

/* ---- storage (core/flag/store.c), table flags, audit entity "flag" ----- */

/* Validates spec (nb_flag_validate on a copy, plus: the key is not an
 * experiment's, each rollout holdout exists, each experiment rule's
 * experiment exists and its variations name exactly its variants) and
 * inserts it at version 1 with an audit row "create", in one transaction. An
 * existing key → NB_EINPUT "already exists". */
int nb_flag_create(PGconn *pg, const nb_flag_spec *spec, const char *actor, nb_err *err);

/* What `flag edit` changes; NULL fields are left alone. */
typedef struct nb_flag_changes {
	const nb_flag_spec *replace; /* a whole new definition; its key must be the flag's */
	const char *description;
	const char *default_json;  /* the default value as JSON text */
	const char *rules_json;	   /* a JSON array replacing every rule */
	const char *add_rule_json; /* a JSON object appended as the last rule */
	int remove_rule;	   /* >= 0: removes rules[remove_rule] (before add); -1: none */
} nb_flag_changes;
/* Applies ch to flag key (validated as nb_flag_create does), version + 1,
 * audit row "edit" with before and after; out (may be NULL) gets the result,
 * resolved. A change that changes nothing writes nothing (no version, no
 * audit row) — so do set_enabled and set_rollout. */
int nb_flag_edit(PGconn *pg, const char *key, const nb_flag_changes *ch, const char *actor,
		 nb_flag *out, nb_err *err);
/* The kill switch: on (1) or off (0), audit action "on" / "off". */
int nb_flag_set_enabled(PGconn *pg, const char *key, int on, const char *actor, nb_err *err);
/* Sets the coverage (0..1) of the flag's first rollout rule, audit action
 * "rollout". A boolean flag without a rollout rule gets one appended
 * (value true, everyone); any other type without one → NB_EINPUT. */
int nb_flag_set_rollout(PGconn *pg, const char *key, double coverage, const char *actor,
			nb_err *err);
/* Loads and resolves one flag. Unknown key → NB_EINPUT. */
int nb_flag_get(PGconn *pg, const char *key, nb_flag *out, nb_err *err);
/* Every flag, by key, resolved. Free with nb_flag_list_free. */
int nb_flag_list(PGconn *pg, nb_flag **out, size_t *n, nb_err *err);
/* Loads what evaluation needs: the saved groups, each rollout holdout's seed
 * and share, each experiment rule's experiment (when running). Idempotent. */
int nb_flag_resolve(PGconn *pg, nb_flag *f, nb_err *err);

/* ---- evaluation (core/flag/eval.c) ------------------------------------- */

enum nb_flag_source {
	NB_FLAG_SRC_OFF = 0, /* the flag is off: its default value */
	NB_FLAG_SRC_DEFAULT, /* no rule applied: its default value */
	NB_FLAG_SRC_FORCE,
	NB_FLAG_SRC_ROLLOUT,
	NB_FLAG_SRC_EXPERIMENT,
};

typedef struct nb_flag_result {
	const cJSON *value; /* points into the flag; never NULL once parsed */
	enum nb_flag_source source;
	int rule;    /* index of the rule that decided, -1 */
	int variant; /* experiment rule: the variant index, else -1 */
} nb_flag_result;

/* Evaluates f for user (the "id" attribute unless attributes has one) in
 * GrowthBook's evalFeature order: off → default; else the first rule that
 * applies; else default. Experiment rules decide by hash (nb_assign_decide),
 * as an SDK does for a new user. Pure, no allocation. Returns 0, or -1 for
 * an unusable rule (bad hash version). */
int nb_flag_eval(const nb_flag *f, const char *user, const cJSON *attributes, nb_flag_result *out);
/* The same, but an experiment rule reads and stores the user's sticky
 * assignment (nb_pg_assign_batch: what `neonblue assign` gives). f must be
 * resolved. a (may be NULL) gets the assignment of the deciding experiment
 * rule (in_experiment 0 otherwise). */
int nb_flag_eval_sticky(PGconn *pg, const nb_flag *f, const char *user, const cJSON *attributes,
			nb_flag_result *out, nb_pg_assignment *a, nb_err *err);
/* "off", "default", "force", "rollout", "experiment". */
const char *nb_flag_source_str(enum nb_flag_source s);
/* {flag, user, value, source, rule (index or null), variant (key or null),
 * enabled}. Caller deletes. */
cJSON *nb_flag_result_to_json(const nb_flag *f, const char *user, const nb_flag_result *r);

#endif
