/* config.h — where NeonBlue's servers are: defaults < stack.env < config file
 * < environment < flags. */
#ifndef NEONBLUE_CONFIG_H
#define NEONBLUE_CONFIG_H

#include "neonblue/err.h"

#define NB_PATH_MAX 4096

typedef struct nb_config {
	char home[NB_PATH_MAX]; /* $NEONBLUE_HOME or ~/.local/share/neonblue */
	char pg[2048];          /* libpq conninfo; "" lets libpq read PG* */
	char kafka[512];        /* bootstrap servers */
	char clickhouse[512];   /* http://127.0.0.1:PORT */
	char topic_prefix[128]; /* default "neonblue" */
	char actor[128];        /* for the audit log: --actor, else $USER */
	int pg_set, kafka_set, clickhouse_set; /* where a value came from: 0 none */
} nb_config;

/* Overrides given on the command line; NULL fields are not set. */
typedef struct nb_config_flags {
	const char *home, *pg, *kafka, *clickhouse, *actor;
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
