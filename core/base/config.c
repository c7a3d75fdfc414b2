/* base/config.c — resolve endpoints and settings from every source in order. */
#include "neonblue/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETSTR(dst, src) snprintf((dst), sizeof(dst), "%s", (src))

void nb_config_default_home(char *out, size_t n)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	if (xdg && *xdg)
		snprintf(out, n, "%s/neonblue", xdg);
	else
		snprintf(out, n, "%s/.local/share/neonblue", home && *home ? home : "/tmp");
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

int nb_config_read_kv(const char *path, void (*fn)(const char *, const char *, void *), void *ud)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[4096];
	while (fgets(line, sizeof line, f)) {
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		if (!strncmp(s, "export ", 7))
			s = trim(s + 7);
		char *eq = strchr(s, '=');
		if (!eq)
			continue;
		*eq = '\0';
		char *k = trim(s), *v = trim(eq + 1);
		size_t n = strlen(v);
		if (n >= 2 && ((v[0] == '\'' && v[n - 1] == '\'') || (v[0] == '"' && v[n - 1] == '"'))) {
			v[n - 1] = '\0';
			v++;
		}
		fn(k, v, ud);
	}
	fclose(f);
	return 0;
}

/* level: 1 stack.env, 2 config file, 3 environment, 4 flag */
struct kvctx {
	nb_config *cfg;
	int level;
};

static void apply(nb_config *c, const char *k, const char *v, int level)
{
	if (!strcmp(k, "NEONBLUE_PG") || !strcmp(k, "pg")) {
		if (level >= c->pg_set) {
			SETSTR(c->pg, v);
			c->pg_set = level;
		}
	} else if (!strcmp(k, "NEONBLUE_KAFKA") || !strcmp(k, "kafka")) {
		if (level >= c->kafka_set) {
			SETSTR(c->kafka, v);
			c->kafka_set = level;
		}
	} else if (!strcmp(k, "NEONBLUE_CLICKHOUSE") || !strcmp(k, "clickhouse")) {
		if (level >= c->clickhouse_set) {
			SETSTR(c->clickhouse, v);
			c->clickhouse_set = level;
		}
	} else if (!strcmp(k, "NEONBLUE_TOPIC_PREFIX") || !strcmp(k, "topic_prefix")) {
		SETSTR(c->topic_prefix, v);
	} else if (!strcmp(k, "NEONBLUE_CLICKHOUSE_CLUSTER") || !strcmp(k, "clickhouse_cluster")) {
		SETSTR(c->clickhouse_cluster, v);
	} else if (!strcmp(k, "NEONBLUE_CLICKHOUSE_NODES") || !strcmp(k, "clickhouse_nodes")) {
		SETSTR(c->clickhouse_nodes, v);
	}
}

static void kv_cb(const char *k, const char *v, void *ud)
{
	struct kvctx *x = ud;
	apply(x->cfg, k, v, x->level);
}

int nb_config_load(nb_config *cfg, const nb_config_flags *fl, nb_err *err)
{
	(void)err;
	memset(cfg, 0, sizeof *cfg);
	SETSTR(cfg->topic_prefix, "neonblue");
	const char *h = fl && fl->home ? fl->home : getenv("NEONBLUE_HOME");
	if (h && *h)
		SETSTR(cfg->home, h);
	else
		nb_config_default_home(cfg->home, sizeof cfg->home);

	char path[NB_PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/stack.env", cfg->home);
	struct kvctx x = {cfg, 1};
	nb_config_read_kv(path, kv_cb, &x);

	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	if (xdg && *xdg)
		snprintf(path, sizeof path, "%s/neonblue/config", xdg);
	else
		snprintf(path, sizeof path, "%s/.config/neonblue/config", home ? home : "/");
	x.level = 2;
	nb_config_read_kv(path, kv_cb, &x);

	static const char *envs[] = {"NEONBLUE_PG",	     "NEONBLUE_KAFKA",
				     "NEONBLUE_CLICKHOUSE",   "NEONBLUE_TOPIC_PREFIX",
				     "NEONBLUE_CLICKHOUSE_CLUSTER", "NEONBLUE_CLICKHOUSE_NODES"};
	for (size_t i = 0; i < sizeof envs / sizeof *envs; i++) {
		const char *v = getenv(envs[i]);
		if (v && *v)
			apply(cfg, envs[i], v, 3);
	}
	/* libpq's own variables: an empty conninfo lets libpq read them. */
	if (cfg->pg_set < 3 && (getenv("PGHOST") || getenv("PGPORT") || getenv("PGSERVICE") ||
				getenv("PGDATABASE"))) {
		cfg->pg[0] = '\0';
		cfg->pg_set = 3;
	}
	if (fl) {
		if (fl->pg)
			apply(cfg, "pg", fl->pg, 4);
		if (fl->kafka)
			apply(cfg, "kafka", fl->kafka, 4);
		if (fl->clickhouse)
			apply(cfg, "clickhouse", fl->clickhouse, 4);
		if (fl->clickhouse_cluster)
			apply(cfg, "clickhouse_cluster", fl->clickhouse_cluster, 4);
	}
	const char *actor = fl && fl->actor ? fl->actor : getenv("USER");
	if (!actor || !*actor)
		actor = getenv("LOGNAME");
	SETSTR(cfg->actor, actor && *actor ? actor : "unknown");
	return 0;
}

int nb_config_require_pg(const nb_config *cfg, nb_err *err)
{
	if (cfg->pg_set)
		return 0;
	return nb_err_set(err, NB_ESERVER,
			  "no PostgreSQL configured: run `neonblue stack up` (home %s), or set "
			  "NEONBLUE_PG or --pg",
			  cfg->home);
}

int nb_config_require_kafka(const nb_config *cfg, nb_err *err)
{
	if (cfg->kafka_set)
		return 0;
	return nb_err_set(err, NB_ESERVER,
			  "no Kafka configured: run `neonblue stack up` (home %s), or set "
			  "NEONBLUE_KAFKA or --kafka",
			  cfg->home);
}

int nb_config_require_clickhouse(const nb_config *cfg, nb_err *err)
{
	if (cfg->clickhouse_set)
		return 0;
	return nb_err_set(err, NB_ESERVER,
			  "no ClickHouse configured: run `neonblue stack up` (home %s), or set "
			  "NEONBLUE_CLICKHOUSE or --clickhouse",
			  cfg->home);
}
