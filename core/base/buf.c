/* base/buf.c — growable string buffer. */
#include "neonblue/base.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nb_buf_init(nb_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void nb_buf_done(nb_buf *b)
{
	free(b->data);
	nb_buf_init(b);
}

void nb_buf_reset(nb_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void nb_buf_reserve(nb_buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1)
		cap *= 2;
	b->data = nb_xrealloc(b->data, cap);
	b->cap = cap;
}

void nb_buf_append(nb_buf *b, const void *p, size_t n)
{
	nb_buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void nb_buf_puts(nb_buf *b, const char *s)
{
	nb_buf_append(b, s, strlen(s));
}

void nb_buf_putc(nb_buf *b, char c)
{
	nb_buf_append(b, &c, 1);
}

void nb_buf_printf(nb_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[256];
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		nb_buf_append(b, tmp, (size_t)n);
		return;
	}
	nb_buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

int nb_buf_read_stream(nb_buf *b, FILE *f)
{
	char chunk[16384];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		nb_buf_append(b, chunk, n);
	nb_buf_reserve(b, 0); /* a NUL-terminated string even when empty */
	b->data[b->len] = '\0';
	return ferror(f) ? -1 : 0;
}

char *nb_buf_read_file(const char *path)
{
	int is_stdin = !strcmp(path, "-");
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	if (!f)
		return NULL;
	nb_buf b;
	nb_buf_init(&b);
	int rc = nb_buf_read_stream(&b, f);
	int saved = errno;
	if (!is_stdin)
		fclose(f);
	if (rc) {
		nb_buf_done(&b);
		errno = saved;
		return NULL;
	}
	return nb_buf_steal(&b);
}

char *nb_buf_steal(nb_buf *b)
{
	char *s = b->data ? b->data : nb_xstrdup("");
	nb_buf_init(b);
	return s;
}
