/* bench.h — what the in-process benchmarks share: the thread's CPU clock and
 * the baseline loop they measure against in the same run (plain FNV-1a 32). */
#ifndef NB_BENCH_H
#define NB_BENCH_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef char bench_id[24];

static inline double bench_cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline uint32_t bench_fnv1a(const char *s)
{
	uint32_t h = 0x811c9dc5u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* n user ids "user-00000000"...; caller frees. */
static inline bench_id *bench_users(int n)
{
	bench_id *users = malloc(sizeof *users * (size_t)n);
	for (int i = 0; i < n; i++)
		snprintf(users[i], sizeof users[i], "user-%08d", i);
	return users;
}

/* n attribute objects cycling through countries (the second is c2), ages
 * 14..63, plans free/pro/team, browser firefox. */
static inline void bench_attrs(cJSON **attrs, int n, const char *c2)
{
	const char *countries[] = {"US", c2, "DE", "FR", "BR", "IN"};
	static const char *plans[] = {"free", "pro", "team"};
	for (int i = 0; i < n; i++) {
		attrs[i] = cJSON_CreateObject();
		cJSON_AddStringToObject(attrs[i], "country", countries[i % 6]);
		cJSON_AddNumberToObject(attrs[i], "age", 14 + i % 50);
		cJSON_AddStringToObject(attrs[i], "plan", plans[i % 3]);
		cJSON_AddStringToObject(attrs[i], "browser", "firefox");
	}
}

#endif
