/* err.h — the error convention of libneonblue: 0/-1 plus an nb_err sentence. */
#ifndef NEONBLUE_ERR_H
#define NEONBLUE_ERR_H

#include <stddef.h>

/* Error classes double as the CLI's exit statuses. */
enum nb_errcode {
	NB_OK = 0,
	NB_ESERVER = 1, /* a server failed or could not be reached */
	NB_EINPUT = 2,  /* the caller's input is wrong */
};

typedef struct nb_err {
	int code;
	char msg[1024];
} nb_err;

/* Sets code and a printf-style sentence; always returns -1 so callers can
 * `return nb_err_set(...)`. err may be NULL. */
int nb_err_set(nb_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void nb_err_clear(nb_err *err);

/* Aborts with a message: allocation failure is the one fatal error. */
void *nb_xmalloc(size_t n);
void *nb_xcalloc(size_t n, size_t m);
void *nb_xrealloc(void *p, size_t n);
char *nb_xstrdup(const char *s);

#endif
