/* buf.h — a growable byte/string buffer, the one string builder of the project. */
#ifndef NEONBLUE_BUF_H
#define NEONBLUE_BUF_H

#include <stddef.h>
#include <stdio.h>

typedef struct nb_buf {
	char *data; /* always NUL-terminated when len > 0 or after any append */
	size_t len;
	size_t cap;
} nb_buf;

void nb_buf_init(nb_buf *b);
void nb_buf_done(nb_buf *b);
void nb_buf_reset(nb_buf *b);
void nb_buf_reserve(nb_buf *b, size_t extra);
void nb_buf_append(nb_buf *b, const void *p, size_t n);
void nb_buf_puts(nb_buf *b, const char *s);
void nb_buf_putc(nb_buf *b, char c);
void nb_buf_printf(nb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends everything f yields until EOF; -1 on a read error (errno set). */
int nb_buf_read_stream(nb_buf *b, FILE *f);
/* Reads a whole file ("-" = stdin) into a string the caller frees; NULL with
 * errno set when it cannot be opened or read. */
char *nb_buf_read_file(const char *path);
/* Returns the string and leaves b empty; the caller frees the result. */
char *nb_buf_steal(nb_buf *b);

#endif
