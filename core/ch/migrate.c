/* ch/migrate.c — the ClickHouse migration runner: applies the embedded
 * core/sql/ch files, or their cluster form (ch/cluster.c), once each. */
#include "neonblue/ch.h"

#include "../sql/embed.h"

#include <stdlib.h>
#include <string.h>

/* ---- migrations ---- */

static int ch_migration_applied(nb_ch *ch, const char *name, int *applied, nb_err *err)
{
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_puts(&q, "SELECT count() FROM neonblue.schema_migrations WHERE name = ");
	nb_ch_escape(&q, name, strlen(name), NB_CH_STRING);
	char *v = NULL;
	int rc = nb_ch_scalar(ch, q.data, &v, err);
	nb_buf_done(&q);
	if (rc == 0)
		*applied = atoi(v) > 0;
	free(v);
	return rc;
}

/* Runs a file's statements, or their cluster form when cluster is set. */
static int ch_apply_file(nb_ch *ch, const struct nb_sql_file *f, const char *cluster,
			 char *const *sharded, size_t nsharded, nb_err *err)
{
	char **st;
	size_t n = 0;
	int rc = 0;
	if (!cluster) {
		n = nb_ch_split_sql(f->text, &st);
	} else {
		nb_err e;
		if (nb_ch_cluster_form(f->text, cluster, sharded, nsharded, &st, &n, &e) < 0)
			return nb_err_set(err, e.code, "ClickHouse migration %s, cluster form: %s",
					  f->name, e.msg);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		nb_err e;
		if (nb_ch_query(ch, st[i], NULL, &e) < 0)
			rc = nb_err_set(err, e.code, "ClickHouse migration %s, statement %zu: %s",
					f->name, i + 1, e.msg);
	}
	nb_ch_split_free(st, n);
	if (rc < 0)
		return -1;
	nb_buf d;
	nb_buf_init(&d);
	nb_ch_escape(&d, f->name, strlen(f->name), NB_CH_TSV);
	nb_buf_puts(&d, "\n");
	rc = nb_ch_insert(ch, "INSERT INTO neonblue.schema_migrations (name) FORMAT TabSeparated",
			  d.data, d.len, err);
	nb_buf_done(&d);
	return rc;
}

/* Cluster mode: the database and schema_migrations exist on every node, the
 * latter one replicated copy (so every node knows what ran); a node that
 * holds a single-node schema is refused. */
static int ch_cluster_bootstrap(nb_ch *ch, const char *cluster, nb_err *err)
{
	nb_buf q;
	nb_buf_init(&q);
	char *engine = NULL;
	int rc = nb_ch_scalar(ch,
			      "SELECT engine FROM system.tables WHERE database = 'neonblue' AND "
			      "name = 'schema_migrations'",
			      &engine, err);
	if (rc == 0 && *engine && strncmp(engine, "Replicated", 10) != 0)
		rc = nb_err_set(err, NB_EINPUT,
				"ClickHouse at this node holds a single-node NeonBlue schema "
				"(neonblue.schema_migrations is %s): cluster mode "
				"(clickhouse_cluster %s) starts from nodes without database neonblue",
				engine, cluster);
	free(engine);
	if (rc == 0) {
		nb_buf_printf(&q, "CREATE DATABASE IF NOT EXISTS neonblue ON CLUSTER %s", cluster);
		rc = nb_ch_query(ch, q.data, NULL, err);
	}
	if (rc == 0) {
		nb_buf_reset(&q);
		nb_buf_printf(&q,
			      "CREATE TABLE IF NOT EXISTS neonblue.schema_migrations ON CLUSTER %s "
			      "(name String, applied_at DateTime DEFAULT now()) ENGINE = "
			      "ReplicatedMergeTree('/clickhouse/tables/all/neonblue/schema_migrations', "
			      "'{replica_all}') ORDER BY name",
			      cluster);
		rc = nb_ch_query(ch, q.data, NULL, err);
	}
	nb_buf_done(&q);
	return rc;
}

/* The sharded tables (those with a user_id column) of every embedded file. */
static void ch_sharded_tables(char ***names, size_t *n)
{
	*names = NULL;
	*n = 0;
	for (int i = 0; i < nb_sql_nfiles; i++)
		if (!strncmp(nb_sql_files[i].name, "ch/", 3))
			nb_ch_cluster_scan(nb_sql_files[i].text, names, n);
}

int nb_ch_migrate_cluster(const char *url, const char *cluster, nb_err *err)
{
	int clustered = cluster && *cluster;
	if (clustered && !nb_ch_cluster_name_ok(cluster))
		return nb_err_set(err, NB_EINPUT,
				  "clickhouse_cluster '%s' is not a cluster name (letters, digits, _)",
				  cluster);
	/* INSERT … SELECT through Distributed tables: acknowledged once on the shards */
	nb_ch *ch = nb_ch_new(url, err);
	if (!ch)
		return -1;
	if (clustered)
		nb_ch_set_setting(ch, "insert_distributed_sync", "1");
	int count = 0;
	if (clustered) {
		/* ON CLUSTER waits for every node (distributed_ddl_task_timeout) */
		nb_ch_set_timeouts(ch, 240, 3);
		if (ch_cluster_bootstrap(ch, cluster, err) < 0) {
			nb_ch_free(ch);
			return -1;
		}
	} else if (nb_ch_query(ch, "CREATE DATABASE IF NOT EXISTS neonblue", NULL, err) < 0 ||
		   nb_ch_query(ch,
			       "CREATE TABLE IF NOT EXISTS neonblue.schema_migrations (name String, "
			       "applied_at DateTime DEFAULT now()) ENGINE = TinyLog",
			       NULL, err) < 0) {
		nb_ch_free(ch);
		return -1;
	}
	char **sharded = NULL;
	size_t nsharded = 0;
	if (clustered)
		ch_sharded_tables(&sharded, &nsharded);
	for (int i = 0; i < nb_sql_nfiles; i++) {
		const struct nb_sql_file *f = &nb_sql_files[i];
		if (strncmp(f->name, "ch/", 3) != 0)
			continue;
		int done = 0;
		if (ch_migration_applied(ch, f->name, &done, err) < 0 ||
		    (!done && ch_apply_file(ch, f, clustered ? cluster : NULL, sharded, nsharded,
					    err) < 0)) {
			count = -1;
			break;
		}
		count += !done;
	}
	nb_ch_split_free(sharded, nsharded);
	nb_ch_free(ch);
	return count;
}

int nb_ch_migrate(const char *url, nb_err *err)
{
	return nb_ch_migrate_cluster(url, NULL, err);
}
