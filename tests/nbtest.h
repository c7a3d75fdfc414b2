/* nbtest.h — the project's tiny C test harness. Each test prints
 * "PASS <suite>:<name>" or "FAIL <suite>:<name>" followed by "  at file:line: why";
 * tests/run.sh counts those lines across every suite. */
#ifndef NBTEST_H
#define NBTEST_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nbt_cur_failed, nbt_passed, nbt_failed;
static char nbt_msgs[16384];
static const char *nbt_suite = "unit";

static void nbt_report(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), unused));
static void nbt_report(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = strlen(nbt_msgs);
	if (nbt_cur_failed < 20 && n + 200 < sizeof nbt_msgs) { /* cap noise per test */
		n += (size_t)snprintf(nbt_msgs + n, sizeof nbt_msgs - n, "  at %s:%d: ", file, line);
		n += (size_t)vsnprintf(nbt_msgs + n, sizeof nbt_msgs - n - 2, fmt, ap);
		if (n > sizeof nbt_msgs - 2)
			n = sizeof nbt_msgs - 2;
		nbt_msgs[n++] = '\n';
		nbt_msgs[n] = '\0';
	}
	va_end(ap);
	nbt_cur_failed++;
}

#define CHECK(c)                                                                           \
	do {                                                                               \
		if (!(c))                                                                  \
			nbt_report(__FILE__, __LINE__, "check failed: %s", #c);            \
	} while (0)
#define CHECKF(c, ...)                                                                     \
	do {                                                                               \
		if (!(c))                                                                  \
			nbt_report(__FILE__, __LINE__, __VA_ARGS__);                       \
	} while (0)
#define CHECK_INT(a, b)                                                                    \
	do {                                                                               \
		long long nbt_a = (long long)(a), nbt_b = (long long)(b);                  \
		if (nbt_a != nbt_b)                                                        \
			nbt_report(__FILE__, __LINE__, "%s == %lld, expected %lld", #a,    \
				   nbt_a, nbt_b);                                          \
	} while (0)
#define CHECK_STR(a, b)                                                                    \
	do {                                                                               \
		const char *nbt_a = (a), *nbt_b = (b);                                     \
		if (!nbt_a || !nbt_b || strcmp(nbt_a, nbt_b))                              \
			nbt_report(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, \
				   nbt_a ? nbt_a : "(null)", nbt_b ? nbt_b : "(null)");    \
	} while (0)
/* Relative tolerance rel, absolute tolerance abs near zero. */
#define CHECK_NEAR(a, b, rel, abs_)                                                        \
	do {                                                                               \
		double nbt_a = (a), nbt_b = (b);                                           \
		double nbt_d = fabs(nbt_a - nbt_b);                                        \
		if (!(nbt_d <= (abs_) || nbt_d <= (rel)*fabs(nbt_b)))                      \
			nbt_report(__FILE__, __LINE__, "%s == %.17g, expected %.17g", #a,  \
				   nbt_a, nbt_b);                                          \
	} while (0)

#define RUN(fn)                                                                            \
	do {                                                                               \
		nbt_cur_failed = 0;                                                        \
		nbt_msgs[0] = '\0';                                                        \
		fn();                                                                      \
		if (nbt_cur_failed) {                                                      \
			printf("FAIL %s:%s\n%s", nbt_suite, #fn, nbt_msgs);               \
			nbt_failed++;                                                      \
		} else {                                                                   \
			printf("PASS %s:%s\n", nbt_suite, #fn);                            \
			nbt_passed++;                                                      \
		}                                                                          \
		fflush(stdout);                                                            \
	} while (0)

#define NBT_DONE()                                                                         \
	(printf("%s: %d passed, %d failed\n", nbt_suite, nbt_passed, nbt_failed),          \
	 nbt_failed ? 1 : 0)

#endif
