/* analytics/cluster.c — where nb_an's statements go on a ClickHouse cluster
 * (docs/analytics.md, "On a cluster"). The layout is read from the database
 * itself: when db.events is a Distributed table, db is on cluster C (its
 * engine's first argument) and every user-keyed table T is db.T_local on
 * each shard with db.T = Distributed(C, db, T_local, cityHash64(user_id)) over
 * it; the other tables are full copies on every node. One code path: a
 * single server is a cluster of one, and only the statements that name a
 * node's own storage differ — ALTER (… ON CLUSTER C on T_local) and the
 * system tables (cluster(C, system, name): one replica of every shard).
 * Every statement is sent with distributed_product_mode = local (a JOIN or IN
 * over user-keyed tables inside a query sent to the shards reads the
 * shard's own part: exact, as a user's rows all live on one shard) and
 * insert_distributed_sync = 1 (an INSERT into a Distributed table returns
 * once every shard has its rows); a single server ignores both. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

int an_layout_get(nb_ch *ch, const nb_an_scope *s, an_layout *l, nb_err *err)
{
	memset(l, 0, sizeof *l);
	const char *db = s && s->db ? s->db : "neonblue";
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_puts(&q, "SELECT name, engine_full FROM system.tables WHERE database = ");
	an_str(&q, db);
	nb_buf_puts(&q, " AND engine = 'Distributed' ORDER BY name");
	nb_ch_rows r;
	int rc = an_rows(ch, &q, &r, err);
	nb_buf_done(&q);
	if (rc)
		return -1;
	for (size_t i = 0; rc == 0 && r.ncols == 2 && i < r.nrows; i++) {
		const char *name = nb_ch_cell(&r, i, 0);
		if (strlen(name) < sizeof l->dist[0] && l->ndist < (int)(sizeof l->dist / sizeof l->dist[0]))
			snprintf(l->dist[l->ndist++], sizeof l->dist[0], "%s", name);
		if (strcmp(name, "events"))
			continue;
		/* Distributed(cluster, db, table[, key]): the name, unquoted */
		const char *e = nb_ch_cell(&r, i, 1), *a = strchr(e, '(');
		a = a ? a + 1 : e;
		a += strspn(a, " '`\"");
		size_t n = strcspn(a, " ,)'`\"");
		if (n == 0 || n >= sizeof l->cluster)
			rc = nb_err_set(err, NB_ESERVER,
					"%s.events is a Distributed table of an unreadable cluster: %s",
					db, e);
		else
			memcpy(l->cluster, a, n);
	}
	nb_ch_rows_done(&r);
	return rc;
}

/* 1 when table is user-keyed on a cluster: db.table is Distributed over
 * db.table_local. */
static int an_sharded(const an_layout *l, const char *table)
{
	for (int i = 0; *l->cluster && i < l->ndist; i++)
		if (!strcmp(l->dist[i], table))
			return 1;
	return 0;
}

/* "ALTER TABLE `db`.`T_local` ON CLUSTER `C` " for user-keyed T on a
 * cluster (the DDL queue runs it on one replica of every shard; the
 * replicas follow), else "ALTER TABLE `db`.`T` " (a full copy on every node
 * is one replicated table: an ALTER on any node reaches all). */
void an_sql_alter(nb_buf *b, const nb_an_scope *s, const an_layout *l, const char *table)
{
	nb_buf_puts(b, "ALTER TABLE ");
	an_sql_local(b, s, l, table);
	if (an_sharded(l, table)) {
		nb_buf_puts(b, " ON CLUSTER ");
		nb_ch_escape(b, l->cluster, strlen(l->cluster), NB_CH_IDENT);
	}
	nb_buf_putc(b, ' ');
}

/* `db`.`T_local` for a user-keyed T on a cluster, else `db`.`T`. */
void an_sql_local(nb_buf *b, const nb_an_scope *s, const an_layout *l, const char *table)
{
	char t[128];
	snprintf(t, sizeof t, "%s%s", table, an_sharded(l, table) ? "_local" : "");
	an_table(b, s, t);
}

/* The same name as a string literal (for system.parts). */
void an_sql_local_name(nb_buf *b, const an_layout *l, const char *table)
{
	char t[128];
	snprintf(t, sizeof t, "%s%s", table, an_sharded(l, table) ? "_local" : "");
	an_str(b, t);
}

/* system.name of every shard: cluster('C', system, name), or system.name. */
void an_sql_system(nb_buf *b, const an_layout *l, const char *name)
{
	if (!*l->cluster) {
		nb_buf_printf(b, "system.%s", name);
		return;
	}
	nb_buf_puts(b, "cluster(");
	an_str(b, l->cluster);
	nb_buf_printf(b, ", system, %s)", name);
}
