/* assign/assign.c — GrowthBook-compatible hashing, bucket ranges, namespaces and the
 * decision for one user (nb_assign). Pure: no I/O, no allocation. */
#include "neonblue/assign.h"
#include "neonblue/base.h"

#include <stdint.h>
#include <string.h>

#define FNV_OFFSET 0x811c9dc5u
#define FNV_PRIME 16777619u

static uint32_t assign_fnv_unit(uint32_t h, uint32_t unit)
{
	return (h ^ unit) * FNV_PRIME;
}

/* FNV-1a over the UTF-16 code units of a UTF-8 string, as JavaScript's
 * charCodeAt sees them (invalid bytes count as U+FFFD, like TextDecoder). */
static uint32_t assign_fnv(uint32_t h, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	while (*s) {
		if (*s < 0x80) {
			h = assign_fnv_unit(h, *s++);
			continue;
		}
		uint32_t cp;
		int n = nb_utf8_decode(s, &cp);
		if (!n) {
			h = assign_fnv_unit(h, 0xfffd);
			s++;
		} else if (cp < 0x10000) {
			h = assign_fnv_unit(h, cp);
			s += n;
		} else {
			cp -= 0x10000;
			h = assign_fnv_unit(h, 0xd800 + (cp >> 10));
			h = assign_fnv_unit(h, 0xdc00 + (cp & 0x3ff));
			s += n;
		}
	}
	return h;
}

double nb_hash(const char *seed, const char *value, int version)
{
	if (!seed)
		seed = "";
	if (!value)
		value = "";
	if (version == 1) {
		uint32_t h = assign_fnv(assign_fnv(FNV_OFFSET, value), seed);
		return (double)(h % 1000) / 1000.0;
	}
	if (version == 2) {
		char num[16], *p = num + sizeof num - 1;
		uint32_t h = assign_fnv(assign_fnv(FNV_OFFSET, seed), value);
		*p = '\0';
		do
			*--p = (char)('0' + h % 10);
		while (h /= 10);
		return (double)(assign_fnv(FNV_OFFSET, p) % 10000) / 10000.0;
	}
	return -1;
}

void nb_equal_weights(int n, double *out)
{
	for (int i = 0; i < n; i++)
		out[i] = 1.0 / n;
}

void nb_bucket_ranges(int n, double coverage, const double *weights, int nweights,
		      double (*ranges)[2])
{
	if (n < 1)
		return;
	if (!(coverage >= 0)) /* also NaN */
		coverage = 0;
	else if (coverage > 1)
		coverage = 1;
	double total = 0;
	if (weights && nweights == n) {
		for (int i = 0; i < n; i++)
			total += weights[i];
	}
	int equal = !weights || nweights != n || total < 0.99 || total > 1.01;
	double cumulative = 0;
	for (int i = 0; i < n; i++) {
		double w = equal ? 1.0 / n : weights[i];
		ranges[i][0] = cumulative;
		ranges[i][1] = cumulative + coverage * w;
		cumulative += w;
	}
}

int nb_choose_variation(double x, const double (*ranges)[2], int n)
{
	for (int i = 0; i < n; i++) {
		if (x >= ranges[i][0] && x < ranges[i][1])
			return i;
	}
	return -1;
}

/* hash("__" + ns_id, user, 1) without building the seed string. */
int nb_in_namespace(const char *user, const char *ns_id, double start, double end)
{
	uint32_t h = assign_fnv(FNV_OFFSET, user ? user : "");
	h = assign_fnv(assign_fnv(h, "__"), ns_id ? ns_id : "");
	double x = (double)(h % 1000) / 1000.0;
	return x >= start && x < end;
}

int nb_in_holdout(const char *user, const char *seed, double share)
{
	double x = nb_hash(seed, user, 2);
	return x >= 0 && x < share;
}

int nb_assign_decide(const nb_assign_exp *e, const char *user_id, const cJSON *attributes,
		     nb_assign_result *out)
{
	*out = (nb_assign_result){.variant = -1, .bucket = -1};
	if (e->nvariants < 2 || e->nvariants > NB_ASSIGN_MAX_VARIANTS ||
	    (e->hash_version != 1 && e->hash_version != 2))
		return -1;
	if (!user_id || !*user_id) {
		out->reason = NB_ASSIGN_NO_USER;
		return 0;
	}
	if (e->holdout_seed && nb_in_holdout(user_id, e->holdout_seed, e->holdout_share)) {
		out->reason = NB_ASSIGN_IN_HOLDOUT;
		return 0;
	}
	if (e->condition && !nb_eval_condition(e->condition, attributes, e->saved_groups)) {
		out->reason = NB_ASSIGN_NOT_TARGETED;
		return 0;
	}
	if (e->ns_id && !nb_in_namespace(user_id, e->ns_id, e->ns_start, e->ns_end)) {
		out->reason = NB_ASSIGN_NOT_IN_NAMESPACE;
		return 0;
	}
	const char *seed = e->seed && *e->seed ? e->seed : e->key;
	out->bucket = nb_hash(seed, user_id, e->hash_version);
	double ranges[NB_ASSIGN_MAX_VARIANTS][2];
	nb_bucket_ranges(e->nvariants, e->coverage, e->weights, e->weights ? e->nvariants : 0,
			 ranges);
	out->variant = nb_choose_variation(out->bucket, (const double(*)[2])ranges, e->nvariants);
	if (out->variant < 0) {
		out->reason = NB_ASSIGN_NOT_COVERED;
		return 0;
	}
	out->in_experiment = 1;
	out->reason = NB_ASSIGN_IN;
	return 0;
}

const char *nb_assign_reason_str(enum nb_assign_reason r)
{
	switch (r) {
	case NB_ASSIGN_IN:
		return "assigned by hash";
	case NB_ASSIGN_NOT_TARGETED:
		return "targeting condition not met";
	case NB_ASSIGN_NOT_IN_NAMESPACE:
		return "outside the experiment's namespace range";
	case NB_ASSIGN_NOT_COVERED:
		return "outside coverage (bucket falls in no variant's range)";
	case NB_ASSIGN_NO_USER:
		return "empty user id";
	case NB_ASSIGN_IN_HOLDOUT:
		return "in the experiment's holdout";
	}
	return "unknown reason";
}
