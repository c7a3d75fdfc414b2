/* ch.h — the ClickHouse HTTP client: queries, inserts, THE escaping function,
 * TSV result parsing and the ClickHouse migrations.
 *
 * SQL sent through this module must run on ClickHouse 18.16 and current
 * releases: no server-side parameters, so every value and identifier built
 * into SQL goes through nb_ch_escape(). */
#ifndef NEONBLUE_CH_H
#define NEONBLUE_CH_H

#include <stddef.h>

#include "neonblue/base.h"

/* One connection (a libcurl easy handle kept alive between requests). */
typedef struct nb_ch nb_ch;

/* url is "http://host:port" (a path, user:password@ or ?user=… are kept).
 * Never contacts the server. Returns NULL only for an empty url. */
nb_ch *nb_ch_new(const char *url, nb_err *err);
void nb_ch_free(nb_ch *ch);
/* Seconds a request may take (default 60) and to connect (default 3). */
void nb_ch_set_timeouts(nb_ch *ch, long total_s, long connect_s);
/* Sends the ClickHouse setting name=value with every later request (a URL
 * parameter, which applies to the whole statement: an INSERT … SELECT's
 * insert too, unlike a SETTINGS clause); setting a name again replaces its
 * value. */
void nb_ch_set_setting(nb_ch *ch, const char *name, const char *value);

/* Runs one SQL statement (sent as the POST body). The response body (for a
 * SELECT, in the FORMAT the statement names, TabSeparated by default) is
 * appended to out when out is not NULL. Errors: NB_ESERVER with ClickHouse's
 * own message ("Code: 60 … Table neonblue.x doesn't exist") or the transport
 * failure ("cannot reach ClickHouse at URL: …"). */
int nb_ch_query(nb_ch *ch, const char *sql, nb_buf *out, nb_err *err);
/* Sends data as the body of insert_sql ("INSERT INTO db.t (a,b) FORMAT
 * TabSeparated"), which travels in the URL. Returns 0 only when ClickHouse
 * answered 200: the rows are then stored. */
int nb_ch_insert(nb_ch *ch, const char *insert_sql, const char *data, size_t len,
		 nb_err *err);
/* Runs a query and returns the single value of its first row (TSV unescaped)
 * in *out (caller frees); "" when there is no row. */
int nb_ch_scalar(nb_ch *ch, const char *sql, char **out, nb_err *err);

/* How nb_ch_escape quotes. */
enum nb_ch_esc {
	NB_CH_STRING, /* a string literal in SQL: 'it\'s' */
	NB_CH_IDENT,  /* an identifier in SQL: `my col` */
	NB_CH_TSV,    /* a field of TabSeparated data: \t \n \\ escaped, no quotes */
};
/* THE escaping function for ClickHouse: appends s (len bytes, may contain NUL)
 * to b, quoted as kind says. */
void nb_ch_escape(nb_buf *b, const char *s, size_t len, enum nb_ch_esc kind);

/* Rows of a TabSeparated result, fields unescaped. A field that was \N has
 * is_null set and an empty string. */
typedef struct nb_ch_rows {
	size_t nrows, ncols; /* ncols of the first row; every row must match */
	char **cells;        /* nrows * ncols strings, row-major */
	unsigned char *is_null;
} nb_ch_rows;

/* Parses TabSeparated text. Fails (NB_ESERVER, naming the line) on a row
 * whose field count differs from the first row's or a bad escape. */
int nb_ch_tsv_parse(const char *text, size_t len, nb_ch_rows *rows, nb_err *err);
void nb_ch_rows_done(nb_ch_rows *rows);
static inline const char *nb_ch_cell(const nb_ch_rows *r, size_t row, size_t col)
{
	return r->cells[row * r->ncols + col];
}

/* Splits a migration file into statements on ';' outside quotes and
 * comments. Returns the count; *out is an array of strings (each trimmed,
 * without the ';') the caller frees with nb_ch_split_free. */
size_t nb_ch_split_sql(const char *sql, char ***out);
void nb_ch_split_free(char **stmts, size_t n);

/* Creates database `neonblue` and applies every embedded core/sql/ch file
 * not yet recorded in neonblue.schema_migrations, in name order. Statements
 * are idempotent (IF NOT EXISTS), so concurrent runs are harmless. Returns
 * how many files it applied now (0 when up to date), or -1. */
int nb_ch_migrate(const char *url, nb_err *err);
/* The same for a cluster (docs/operations.md, "ClickHouse cluster"): with
 * cluster NULL or "" exactly nb_ch_migrate; else every file's cluster form
 * (nb_ch_cluster_form) runs through url (any node; DDL ON CLUSTER cluster,
 * inserts with insert_distributed_sync=1) and neonblue.schema_migrations is
 * one replicated table on every node. Needs every node up (the DDL waits for
 * each). Refuses a node that holds a single-node schema. */
int nb_ch_migrate_cluster(const char *url, const char *cluster, nb_err *err);

/* ---- the cluster form of the migrations (core/ch/cluster.c) ---- */
/* 1 when cluster is a usable cluster name (letters, digits, _). */
int nb_ch_cluster_name_ok(const char *cluster);
/* Appends to *names (count *n; free with nb_ch_split_free) the tables the
 * migration text sql creates with a user_id column: the sharded ones. */
void nb_ch_cluster_scan(const char *sql, char ***names, size_t *n);
/* The statements to run for the migration text sql on cluster `cluster`,
 * given the sharded tables of every migration (nb_ch_cluster_scan): a
 * sharded table T becomes T_local (Replicated engine, ZooKeeper path
 * /clickhouse/tables/{shard}/neonblue/T, replica {replica}) and T =
 * Distributed(cluster, neonblue, T_local, cityHash64(user_id)); another table
 * one replicated copy per node (/clickhouse/tables/all/neonblue/T,
 * {replica_all}); views between sharded tables use the _local tables; DDL
 * gets ON CLUSTER (not an ALTER of a replicated-everywhere table: replication
 * carries it); INSERT stays. *out (count *nout) is freed with
 * nb_ch_split_free. Fails (NB_EINPUT, naming the statement) for a statement
 * with no mechanical cluster form. */
int nb_ch_cluster_form(const char *sql, const char *cluster, char *const *sharded,
		       size_t nsharded, char ***out, size_t *nout, nb_err *err);

#endif
