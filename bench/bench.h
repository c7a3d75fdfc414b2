/* bench.h — what the in-process benchmarks share: the thread's CPU clock and
 * the baseline loop they measure against in the same run (plain FNV-1a 32). */
#ifndef NB_BENCH_H
#define NB_BENCH_H

#include <stdint.h>
#include <time.h>

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

#endif
