/* base.h — the foundation every module shares: the error convention (nb_err),
 * the string buffer, the JSON writer and the configuration resolver. */
#ifndef NEONBLUE_BASE_H
#define NEONBLUE_BASE_H

/* ==== err ==== */
/* the error convention of libneonblue: 0/-1 plus an nb_err sentence. */

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

/* ==== buf ==== */
/* a growable byte/string buffer, the one string builder of the project. */

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

/* ==== json ==== */
/* the one JSON writer: cJSON trees printed with full-precision numbers. */

#include <cjson/cJSON.h>

/* Appends the compact JSON of item to b. Numbers: integers that fit exactly
 * print as integers, others with %.17g; NaN and infinities print as null. */
void nb_json_write(nb_buf *b, const cJSON *item);
/* Same, returning a string the caller frees. */
char *nb_json_print(const cJSON *item);
/* Appends s as a JSON string literal (with quotes). */
void nb_json_write_string(nb_buf *b, const char *s);
/* Appends a number with the rules above. */
void nb_json_write_number(nb_buf *b, double v);
/* A number item, or a JSON null when v is NaN or infinite. */
cJSON *nb_json_number_or_null(double v);
/* Decodes one UTF-8 sequence at s: its length with *cp set, or 0 when the
 * bytes are not valid UTF-8 (ASCII included: 0 for s[0] < 0x80 too). */
#include <stdint.h>
int nb_utf8_decode(const unsigned char *s, uint32_t *cp);
/* 1 when the NUL-terminated s is valid UTF-8 (what PostgreSQL accepts). */
int nb_utf8_valid(const char *s);

/* ==== config ==== */
/* where NeonBlue's servers are: defaults < stack.env < config file
 * < environment < flags. */

#define NB_PATH_MAX 4096

typedef struct nb_config {
	char home[NB_PATH_MAX]; /* $NEONBLUE_HOME or ~/.local/share/neonblue */
	char pg[2048];          /* libpq conninfo; "" lets libpq read PG* */
	char kafka[512];        /* bootstrap servers */
	char clickhouse[512];   /* http://127.0.0.1:PORT */
	char topic_prefix[128]; /* default "neonblue" */
	/* ClickHouse cluster mode (docs/operations.md, "ClickHouse cluster"):
	 * clickhouse_cluster / NEONBLUE_CLICKHOUSE_CLUSTER names the cluster of
	 * the servers' remote_servers ("" : one node); clickhouse_nodes /
	 * NEONBLUE_CLICKHOUSE_NODES lists every node's HTTP URL, comma separated
	 * (`clickhouse` stays the node queries and inserts go to). */
	char clickhouse_cluster[128];
	char clickhouse_nodes[2048];
	char actor[128];        /* for the audit log: --actor, else $USER */
	int pg_set, kafka_set, clickhouse_set; /* where a value came from: 0 none */
} nb_config;

/* Overrides given on the command line; NULL fields are not set. */
typedef struct nb_config_flags {
	const char *home, *pg, *kafka, *clickhouse, *actor;
	const char *clickhouse_cluster; /* --clickhouse-cluster NAME ("": one node) */
} nb_config_flags;

/* Resolves every setting. Never fails for a missing server: callers that need
 * one call nb_config_require_*(), which names what to do. */
int nb_config_load(nb_config *cfg, const nb_config_flags *flags, nb_err *err);
int nb_config_require_pg(const nb_config *cfg, nb_err *err);
int nb_config_require_kafka(const nb_config *cfg, nb_err *err);
int nb_config_require_clickhouse(const nb_config *cfg, nb_err *err);

/* Default home when neither --home nor $NEONBLUE_HOME is given. */
void nb_config_default_home(char *out, size_t n);

/* Parses shell-style KEY=VALUE lines (optional quotes, # comments) from path
 * and calls fn for each. Returns -1 if the file cannot be read. */
int nb_config_read_kv(const char *path, void (*fn)(const char *k, const char *v, void *ud),
		      void *ud);

#endif
