/* assign.h — deterministic, GrowthBook-compatible bucketing and targeting.
 * Pure: no I/O, no allocation on the decision path. */
#ifndef NEONBLUE_ASSIGN_H
#define NEONBLUE_ASSIGN_H

#include <cjson/cJSON.h>
#include <stddef.h>

#define NB_ASSIGN_MAX_VARIANTS 64

/* FNV-1a 32-bit based hash of GrowthBook: version 1 or 2; returns a float in
 * [0,1), or -1 for an unknown version (GrowthBook's null). */
double nb_hash(const char *seed, const char *value, int version);

/* Equal weights for n variations (n >= 1; n < 1 gives nothing). */
void nb_equal_weights(int n, double *out);

/* Bucket ranges for n variations from coverage (clamped to [0,1]) and weights
 * (NULL or not summing to 1 within 0.01, or count != n → equal weights). */
void nb_bucket_ranges(int n, double coverage, const double *weights, int nweights,
		      double (*ranges)[2]);

/* Index of the range holding bucket value x, or -1. */
int nb_choose_variation(double x, const double (*ranges)[2], int n);

/* GrowthBook's inNamespace: hash("__" + ns_id, user, 1) in [start, end). */
int nb_in_namespace(const char *user, const char *ns_id, double start, double end);

/* Holdout membership (docs/layers.md): 1 when hash(seed, user, 2) < share,
 * share in [0,1) (a holdout of 5 % has share 0.05). What the GrowthBook SDK
 * evaluates for the payload's filter {seed, ranges: [[share, 1]],
 * hashVersion: 2}: a user in the holdout falls in no range. Every rule that
 * names a holdout (experiments here, flag rollouts) excludes these users. */
int nb_in_holdout(const char *user, const char *seed, double share);

/* GrowthBook condition evaluation as the SDK 1.8.0 does it; saved_groups may be
 * NULL. 1 match, 0 not. Comparisons follow JavaScript's rules ("8" > 5, a
 * missing attribute compares as null, Number() trims Unicode white space,
 * objects compare in JavaScript's key order). $regex is JavaScript's RegExp
 * run by PCRE2 (UTF mode, ECMAScript-compatibility options); a pattern that
 * does not compile never matches. Compiled patterns are cached per thread.
 * $ini $nini $alli $regexi fold Unicode case. docs/assign.md lists what still
 * differs from the SDK. */
int nb_eval_condition(const cJSON *condition, const cJSON *attributes, const cJSON *saved_groups);

/* GrowthBook's paddedVersionString of a version ("v1.2.3+b" → comparable
 * string); writes at most n bytes (NUL included), returns the full length. */
size_t nb_version_pad(const char *version, char *out, size_t n);

/* What a decision needs to know about an experiment. */
typedef struct nb_assign_exp {
	const char *key;          /* experiment key */
	const char *seed;         /* hash salt; NULL or "" → key */
	int hash_version;         /* 1 or 2 */
	double coverage;          /* 0..1 */
	const char *ns_id;        /* namespace id, NULL for none */
	double ns_start, ns_end;  /* namespace range */
	const cJSON *condition;   /* targeting, NULL for everyone */
	int nvariants;            /* 2..NB_ASSIGN_MAX_VARIANTS */
	const double *weights;    /* nvariants weights summing to 1 */
	const cJSON *saved_groups; /* {"group id": [values]} for $inGroup, or NULL */
	const char *holdout_seed; /* the holdout's seed, NULL for none */
	double holdout_share;     /* its share of users, 0..1 */
} nb_assign_exp;

enum nb_assign_reason {
	NB_ASSIGN_IN = 0,
	NB_ASSIGN_NOT_TARGETED,   /* condition false */
	NB_ASSIGN_NOT_IN_NAMESPACE,
	NB_ASSIGN_NOT_COVERED,    /* bucket outside every range (coverage) */
	NB_ASSIGN_NO_USER,        /* empty user id: nothing to hash */
	NB_ASSIGN_IN_HOLDOUT,     /* the user is in the experiment's holdout */
};

typedef struct nb_assign_result {
	int in_experiment;        /* 1 when a variant was chosen */
	int variant;              /* index into weights, -1 when not in */
	enum nb_assign_reason reason;
	double bucket;            /* the hash value used */
} nb_assign_result;

/* Decides for one user; attributes may be NULL. Returns 0, or -1 when the
 * experiment definition is unusable (no variants, bad hash version). */
int nb_assign_decide(const nb_assign_exp *e, const char *user_id, const cJSON *attributes,
		     nb_assign_result *out);
/* "targeting condition not met", "outside namespace ...", ... */
const char *nb_assign_reason_str(enum nb_assign_reason r);

#endif
