/* base/err.c — nb_err and the allocation wrappers. */
#include "neonblue/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nb_err_set(nb_err *err, int code, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	err->code = code;
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	return -1;
}

void nb_err_clear(nb_err *err)
{
	if (err) {
		err->code = NB_OK;
		err->msg[0] = '\0';
	}
}

static void oom(void)
{
	fputs("neonblue: out of memory\n", stderr);
	abort();
}

void *nb_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *nb_xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		oom();
	return p;
}

void *nb_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom();
	return q;
}

char *nb_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = nb_xmalloc(n);
	memcpy(p, s, n);
	return p;
}
