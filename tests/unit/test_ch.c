/* test_ch.c — nb_ch without a server: escaping, TSV parsing, SQL splitting,
 * the embedded migrations and the transport error. */
#include "nbtest.h"
#include "neonblue/ch.h"

#include "../../core/sql/embed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char *esc(const char *s, size_t n, enum nb_ch_esc kind)
{
	nb_buf b;
	nb_buf_init(&b);
	nb_ch_escape(&b, s, n, kind);
	return nb_buf_steal(&b);
}

static void escape_string_literal(void)
{
	const char *in = "it's a \\ test\n";
	char *s = esc(in, strlen(in), NB_CH_STRING);
	CHECK_STR(s, "'it\\'s a \\\\ test\\n'");
	free(s);
	s = esc("", 0, NB_CH_STRING);
	CHECK_STR(s, "''");
	free(s);
	s = esc("a\0b", 3, NB_CH_STRING); /* an embedded NUL survives as \0 */
	CHECK_STR(s, "'a\\0b'");
	free(s);
	/* a quote cannot end the literal early: no unescaped ' inside */
	s = esc("x' OR 1=1 --", 12, NB_CH_STRING);
	CHECK_STR(s, "'x\\' OR 1=1 --'");
	free(s);
}

static void escape_identifier(void)
{
	char *s = esc("my col`x", 8, NB_CH_IDENT);
	CHECK_STR(s, "`my col\\`x`");
	free(s);
	s = esc("events", 6, NB_CH_IDENT);
	CHECK_STR(s, "`events`");
	free(s);
}

static void escape_tsv_field(void)
{
	char *s = esc("a\tb\nc\\d'e", 9, NB_CH_TSV);
	CHECK_STR(s, "a\\tb\\nc\\\\d'e");
	free(s);
	/* long input exercises the buffer growth path */
	char big[5000];
	for (int i = 0; i < 5000; i++)
		big[i] = (i % 7 == 0) ? '\t' : 'x';
	s = esc(big, sizeof big, NB_CH_TSV);
	CHECK_INT(strlen(s), 5000 + 715);
	free(s);
}

static void tsv_parse_rows(void)
{
	const char *t = "a\t1\t\\N\nb\\tc\t2\tx\\\\y\\n\n";
	nb_ch_rows r;
	nb_err e;
	CHECK_INT(nb_ch_tsv_parse(t, strlen(t), &r, &e), 0);
	CHECK_INT(r.nrows, 2);
	CHECK_INT(r.ncols, 3);
	CHECK_STR(nb_ch_cell(&r, 0, 0), "a");
	CHECK_INT(r.is_null[2], 1);
	CHECK_STR(nb_ch_cell(&r, 0, 2), "");
	CHECK_STR(nb_ch_cell(&r, 1, 0), "b\tc");
	CHECK_STR(nb_ch_cell(&r, 1, 2), "x\\y\n");
	CHECK_INT(r.is_null[5], 0);
	nb_ch_rows_done(&r);
	CHECK_INT(nb_ch_tsv_parse("", 0, &r, &e), 0);
	CHECK_INT(r.nrows, 0);
	nb_ch_rows_done(&r);
}

static void tsv_parse_errors(void)
{
	nb_ch_rows r;
	nb_err e;
	const char *t = "a\tb\nc\n";
	CHECK_INT(nb_ch_tsv_parse(t, strlen(t), &r, &e), -1);
	CHECK(strstr(e.msg, "line 2") != NULL);
	t = "a\tb\\";
	CHECK_INT(nb_ch_tsv_parse(t, strlen(t), &r, &e), -1);
	CHECK(strstr(e.msg, "backslash") != NULL);
}

/* Escaping then parsing gives back every byte string (NUL excepted: cells are
 * C strings), whatever bytes it holds. */
static void tsv_round_trip(void)
{
	unsigned seed = 12345;
	for (int iter = 0; iter < 300; iter++) {
		char in[3][40];
		nb_buf row;
		nb_buf_init(&row);
		for (int f = 0; f < 3; f++) {
			int n = (int)(rand_r(&seed) % 39);
			for (int i = 0; i < n; i++) {
				const char pool[] = "ab\t\n\\'\"\r\b\f N`";
				in[f][i] = (rand_r(&seed) % 3) ? pool[rand_r(&seed) % (sizeof pool - 1)]
								: (char)(1 + rand_r(&seed) % 255);
			}
			in[f][n] = '\0';
			if (f)
				nb_buf_putc(&row, '\t');
			nb_ch_escape(&row, in[f], (size_t)n, NB_CH_TSV);
		}
		nb_buf_putc(&row, '\n');
		nb_ch_rows r;
		nb_err e;
		int rc = nb_ch_tsv_parse(row.data, row.len, &r, &e);
		CHECKF(rc == 0, "iteration %d: %s", iter, e.msg);
		if (rc == 0) {
			CHECK_INT(r.nrows, 1);
			for (int f = 0; f < 3 && r.nrows == 1; f++)
				CHECKF(!strcmp(nb_ch_cell(&r, 0, (size_t)f), in[f]),
				       "iteration %d field %d differs", iter, f);
			nb_ch_rows_done(&r);
		}
		nb_buf_done(&row);
	}
}

static void split_statements(void)
{
	const char *sql = "-- header; with a semicolon\n"
			  "CREATE TABLE a (x String DEFAULT ';') ENGINE = TinyLog;\n"
			  "/* block; comment */ SELECT 'it\\'s;', `we;ird`;\n"
			  "-- only a comment;\n"
			  ";\n"
			  "SELECT 3";
	char **st;
	size_t n = nb_ch_split_sql(sql, &st);
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK(strstr(st[0], "CREATE TABLE a (x String DEFAULT ';') ENGINE = TinyLog") != NULL);
		CHECK(strstr(st[1], "SELECT 'it\\'s;', `we;ird`") != NULL);
		CHECK_STR(st[2], "SELECT 3");
	}
	nb_ch_split_free(st, n);
}

/* The embedded ClickHouse migrations split into CREATE/ALTER statements
 * (and backfill INSERTs) that use only syntax 18.16 accepts (no DateTime64,
 * no JSONExtract). */
static void migrations_embedded(void)
{
	int files = 0;
	for (int i = 0; i < nb_sql_nfiles; i++) {
		if (strncmp(nb_sql_files[i].name, "ch/", 3))
			continue;
		files++;
		char **st;
		size_t n = nb_ch_split_sql(nb_sql_files[i].text, &st);
		CHECKF(n > 0, "%s has no statements", nb_sql_files[i].name);
		for (size_t k = 0; k < n; k++) {
			/* schema changes, and backfills of a new table from an old one
			 * (a migration runs once) */
			CHECKF(!strncmp(st[k], "CREATE", 6) || !strncmp(st[k], "ALTER", 5) ||
				       !strncmp(st[k], "INSERT INTO neonblue.", 21),
			       "%s statement %zu: %.60s", nb_sql_files[i].name, k + 1, st[k]);
			CHECKF(!strstr(st[k], "DateTime64") && !strstr(st[k], "JSONExtract"),
			       "%s statement %zu uses syntax 18.16 lacks", nb_sql_files[i].name,
			       k + 1);
		}
		nb_ch_split_free(st, n);
	}
	CHECK(files >= 1);
}

static void transport_error_names_server(void)
{
	nb_err e;
	CHECK(nb_ch_new("", &e) == NULL);
	CHECK_INT(e.code, NB_EINPUT);
	/* a port nothing listens on: bind one, close it, use it */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	bind(fd, (struct sockaddr *)&a, sizeof a);
	getsockname(fd, (struct sockaddr *)&a, &len);
	close(fd);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
	nb_ch *ch = nb_ch_new(url, &e);
	CHECK(ch != NULL);
	nb_buf out;
	nb_buf_init(&out);
	CHECK_INT(nb_ch_query(ch, "SELECT 1", &out, &e), -1);
	CHECK_INT(e.code, NB_ESERVER);
	CHECK(strstr(e.msg, "cannot reach ClickHouse") && strstr(e.msg, url));
	CHECK_INT(out.len, 0);
	nb_buf_done(&out);
	nb_ch_free(ch);
	CHECK_INT(nb_ch_migrate(url, &e), -1);
	CHECK_INT(e.code, NB_ESERVER);
	/* a password in the URL is used, never shown */
	char cred[96];
	snprintf(cred, sizeof cred, "http://neonblue:s3cret@127.0.0.1:%d/", ntohs(a.sin_port));
	ch = nb_ch_new(cred, &e);
	CHECK(ch != NULL);
	CHECK_INT(nb_ch_query(ch, "SELECT 1", NULL, &e), -1);
	snprintf(cred, sizeof cred, "http://neonblue:***@127.0.0.1:%d", ntohs(a.sin_port));
	CHECK(strstr(e.msg, cred) != NULL);
	CHECK(strstr(e.msg, "s3cret") == NULL);
	nb_ch_free(ch);
}


static const char *ch_file(const char *name)
{
	for (int i = 0; i < nb_sql_nfiles; i++)
		if (!strcmp(nb_sql_files[i].name, name))
			return nb_sql_files[i].text;
	return NULL;
}

/* The statement of out[0..n) that starts with prefix (NULL when none). */
static const char *stmt_with(char **out, size_t n, const char *prefix)
{
	for (size_t i = 0; i < n; i++)
		if (!strncmp(out[i], prefix, strlen(prefix)))
			return out[i];
	return NULL;
}

/* The cluster form (core/ch/cluster.c) of the real migrations: which tables
 * are sharded, the engines, the views on the _local tables. */
static void cluster_form_of_migrations(void)
{
	char **sh = NULL;
	size_t nsh = 0;
	for (int i = 0; i < nb_sql_nfiles; i++)
		if (!strncmp(nb_sql_files[i].name, "ch/", 3))
			nb_ch_cluster_scan(nb_sql_files[i].text, &sh, &nsh);
	/* the tables with a user_id column, in file order (docs/operations.md's table) */
	static const char *want[] = {"events",	      "assignments", "events_by_user", "touched",
				     "rollup_base", "rollup_delta", "touched_ack"};
	CHECK_INT(nsh, sizeof want / sizeof *want);
	for (size_t i = 0; i < nsh && i < sizeof want / sizeof *want; i++)
		CHECK_STR(sh[i], want[i]);

	nb_err e;
	char **out;
	size_t n;
	CHECK_INT(nb_ch_cluster_form(ch_file("ch/001_init.sql"), "nb", sh, nsh, &out, &n, &e), 0);
	CHECK_INT(n, 10); /* events and assignments: _local + Distributed; 6 replicated tables */
	const char *s = stmt_with(out, n, "CREATE TABLE IF NOT EXISTS neonblue.events_local ON CLUSTER nb (");
	CHECK(s != NULL);
	CHECK(s && strstr(s, ") ENGINE = ReplicatedReplacingMergeTree("
			     "'/clickhouse/tables/{shard}/neonblue/events', '{replica}', _version)\n"
			     "PARTITION BY toYYYYMM(ts)\nORDER BY (ts, event_id)"));
	s = stmt_with(out, n, "CREATE TABLE IF NOT EXISTS neonblue.events ON CLUSTER nb (");
	CHECK(s && strstr(s, "value Nullable(Float64),"));
	CHECK(s && strstr(s, ") ENGINE = Distributed(nb, neonblue, events_local, cityHash64(user_id))"));
	s = stmt_with(out, n, "CREATE TABLE IF NOT EXISTS neonblue.experiments ON CLUSTER nb (");
	CHECK(s && strstr(s, "ENGINE = ReplicatedReplacingMergeTree("
			     "'/clickhouse/tables/all/neonblue/experiments', '{replica_all}', _version)"));
	CHECK(stmt_with(out, n, "CREATE TABLE IF NOT EXISTS neonblue.experiments_local") == NULL);
	s = stmt_with(out, n, "CREATE TABLE IF NOT EXISTS neonblue.cdc_progress ON CLUSTER nb");
	CHECK(s && strstr(s, "'{replica_all}', seq)\nORDER BY (topic, partition)"));
	nb_ch_split_free(out, n);

	CHECK_INT(nb_ch_cluster_form(ch_file("ch/002_rollup.sql"), "nb", sh, nsh, &out, &n, &e), 0);
	s = stmt_with(out, n, "CREATE MATERIALIZED VIEW IF NOT EXISTS neonblue.events_by_user_mv ");
	CHECK(s && strstr(s, "ON CLUSTER nb TO neonblue.events_by_user_local AS"));
	CHECK(s && strstr(s, "FROM neonblue.events_local"));
	s = stmt_with(out, n, "CREATE TABLE IF NOT EXISTS neonblue.touched_local ON CLUSTER nb");
	CHECK(s && strstr(s, "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/neonblue/"
			     "touched', '{replica}')\nPARTITION BY"));
	s = stmt_with(out, n, "CREATE MATERIALIZED VIEW IF NOT EXISTS neonblue.touched_assignments_mv");
	CHECK(s && strstr(s, "TO neonblue.touched_local AS SELECT now() AS at, user_id FROM "
			     "neonblue.assignments_local"));
	/* the backfill runs once, through the Distributed tables */
	s = stmt_with(out, n, "INSERT INTO neonblue.events_by_user\n");
	CHECK(s && strstr(s, "FROM neonblue.events") && !strstr(s, "_local"));
	s = stmt_with(out, n, "CREATE TABLE IF NOT EXISTS neonblue.rollup_state ON CLUSTER nb");
	CHECK(s && strstr(s, "'{replica_all}', version)"));
	nb_ch_split_free(out, n);

	CHECK_INT(nb_ch_cluster_form(ch_file("ch/004_touched_ack.sql"), "nb", sh, nsh, &out, &n, &e), 0);
	s = stmt_with(out, n, "CREATE TABLE IF NOT EXISTS neonblue.touched_ack_local ON CLUSTER nb");
	CHECK(s && strstr(s, ") ENGINE = Null") && !strstr(s, "Replicated"));
	CHECK(stmt_with(out, n, "CREATE TABLE IF NOT EXISTS neonblue.touched_ack ON CLUSTER nb") != NULL);
	nb_ch_split_free(out, n);

	/* an ALTER of a replicated-everywhere table runs once: replication carries it */
	CHECK_INT(nb_ch_cluster_form(ch_file("ch/011_progress_epoch.sql"), "nb", sh, nsh, &out, &n, &e), 0);
	CHECK_INT(n, 1);
	CHECK(n == 1 && !strncmp(out[0], "ALTER TABLE neonblue.cdc_progress ADD COLUMN", 44) &&
	      !strstr(out[0], "ON CLUSTER"));
	nb_ch_split_free(out, n);
	/* a sharded table's ALTER: both tables, ON CLUSTER */
	CHECK_INT(nb_ch_cluster_form("ALTER TABLE neonblue.events ADD COLUMN x UInt8", "nb", sh, nsh,
				     &out, &n, &e), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(out[0], "ALTER TABLE neonblue.events_local ON CLUSTER nb ADD COLUMN x UInt8");
		CHECK_STR(out[1], "ALTER TABLE neonblue.events ON CLUSTER nb ADD COLUMN x UInt8");
	}
	nb_ch_split_free(out, n);

	/* what has no mechanical form is refused, naming it */
	CHECK_INT(nb_ch_cluster_form(ch_file("ch/001_init.sql"), "bad-name", sh, nsh, &out, &n, &e), -1);
	CHECK(strstr(e.msg, "'bad-name'") != NULL);
	CHECK_INT(nb_ch_cluster_form("CREATE TABLE neonblue.x (a UInt8) ENGINE = TinyLog", "nb", sh,
				     nsh, &out, &n, &e), -1);
	CHECK(strstr(e.msg, "engine TinyLog") && strstr(e.msg, "neonblue.x"));
	CHECK_INT(nb_ch_cluster_form("DROP TABLE neonblue.events", "nb", sh, nsh, &out, &n, &e), -1);
	CHECK(strstr(e.msg, "DROP TABLE") != NULL);
	CHECK_INT(nb_ch_cluster_form("CREATE MATERIALIZED VIEW neonblue.v TO neonblue.touched AS "
				     "SELECT now() AS at, key AS user_id FROM neonblue.flags",
				     "nb", sh, nsh, &out, &n, &e), -1);
	CHECK(strstr(e.msg, "neonblue.v") && strstr(e.msg, "by hand"));
	CHECK_INT(out == NULL && n == 0, 1);
	nb_ch_split_free(sh, nsh);
}

/* A one-request HTTP server on loopback: keeps the request line, answers 200. */
typedef struct fake_http {
	int fd;
	char line[1024];
} fake_http;

static void *fake_http_serve(void *arg)
{
	fake_http *f = arg;
	int c = accept(f->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	char buf[4096];
	ssize_t n = read(c, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = '\0';
	snprintf(f->line, sizeof f->line, "%.*s", (int)strcspn(buf, "\r\n"), buf);
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
	if (write(c, ok, strlen(ok)) < 0)
		f->line[0] = '\0';
	close(c);
	return NULL;
}

/* The request line of one statement (or insert) sent through ch to a fake server. */
static void request_line(const char *base, void (*setup)(nb_ch *), const char *insert,
			 char *line, size_t cap)
{
	fake_http f = {.fd = socket(AF_INET, SOCK_STREAM, 0)};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	bind(f.fd, (struct sockaddr *)&a, sizeof a);
	listen(f.fd, 1);
	getsockname(f.fd, (struct sockaddr *)&a, &len);
	pthread_t t;
	pthread_create(&t, NULL, fake_http_serve, &f);
	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", ntohs(a.sin_port), base);
	nb_err e;
	nb_ch *ch = nb_ch_new(url, &e);
	setup(ch);
	if (insert)
		nb_ch_insert(ch, insert, "1\n", 2, &e);
	else
		nb_ch_query(ch, "SELECT 1", NULL, &e);
	nb_ch_free(ch);
	pthread_join(t, NULL);
	close(f.fd);
	snprintf(line, cap, "%s", f.line);
}

static void no_settings(nb_ch *ch)
{
	(void)ch;
}

static void two_settings(nb_ch *ch)
{
	nb_ch_set_setting(ch, "distributed_product_mode", "deny");
	nb_ch_set_setting(ch, "insert_distributed_sync", "1");
	nb_ch_set_setting(ch, "distributed_product_mode", "local"); /* replaces */
}

static void settings_in_the_url(void)
{
	char l[1024];
	request_line("", no_settings, NULL, l, sizeof l);
	CHECK_STR(l, "POST / HTTP/1.1");
	request_line("", two_settings, NULL, l, sizeof l);
	CHECK_STR(l, "POST /?insert_distributed_sync=1&distributed_product_mode=local HTTP/1.1");
	request_line("/?user=nb", two_settings, "INSERT INTO t FORMAT TSV", l, sizeof l);
	CHECK_STR(l, "POST /?user=nb&insert_distributed_sync=1&distributed_product_mode=local"
		     "&query=INSERT%20INTO%20t%20FORMAT%20TSV HTTP/1.1");
	request_line("/path", no_settings, "INSERT INTO t", l, sizeof l);
	CHECK_STR(l, "POST /path?query=INSERT%20INTO%20t HTTP/1.1");
}

int main(void)
{
	nbt_suite = "ch";
	RUN(escape_string_literal);
	RUN(escape_identifier);
	RUN(escape_tsv_field);
	RUN(tsv_parse_rows);
	RUN(tsv_parse_errors);
	RUN(tsv_round_trip);
	RUN(split_statements);
	RUN(migrations_embedded);
	RUN(cluster_form_of_migrations);
	RUN(transport_error_names_server);
	RUN(settings_in_the_url);
	return NBT_DONE();
}
