/* ch/cluster.c — the cluster form of the ClickHouse migrations
 * (docs/operations.md, "ClickHouse cluster"): each statement of a
 * core/sql/ch file is rewritten mechanically.
 *
 * A table with a user_id column is sharded: neonblue.T_local on every node
 * (Replicated<engine>('/clickhouse/tables/{shard}/neonblue/T', '{replica}',
 * …), a Null engine stays Null) and neonblue.T = Distributed(CLUSTER,
 * neonblue, T_local, cityHash64(user_id)). Every other table is one
 * replicated copy on every node (Replicated<engine>(
 * '/clickhouse/tables/all/neonblue/T', '{replica_all}', …)). Materialized
 * views between sharded tables read and write the _local tables; INSERT …
 * SELECT runs once through the Distributed tables; DDL runs ON CLUSTER, but
 * an ALTER of a table replicated to every node runs on one node (its
 * replicas apply it through ZooKeeper; ON CLUSTER would run it once per
 * shard). Anything else is refused: such a migration needs a hand-written
 * cluster form. */
#include "neonblue/ch.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_ws(const char *p)
{
	for (;;) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
			continue;
		}
		return p;
	}
}

/* Matches the keyword w (case-insensitive, a whole word) after blanks. */
static int kw(const char **pp, const char *w)
{
	const char *p = skip_ws(*pp);
	size_t n = strlen(w);
	if (strncasecmp(p, w, n) != 0 || isalnum((unsigned char)p[n]) || p[n] == '_')
		return 0;
	*pp = p + n;
	return 1;
}

static int name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.';
}

/* A table name "neonblue.T" after blanks: *t points at T, *tn its length. */
static int table_name(const char **pp, const char **t, size_t *tn)
{
	const char *p = skip_ws(*pp), *s = p;
	while (name_char(*p))
		p++;
	if (p - s <= 9 || strncmp(s, "neonblue.", 9) != 0)
		return 0;
	*t = s + 9;
	*tn = (size_t)(p - s - 9);
	*pp = p;
	return 1;
}

/* The text between the '(' at *pp (after blanks) and its matching ')'. */
static int parens(const char **pp, const char **in, size_t *n)
{
	const char *p = skip_ws(*pp);
	if (*p != '(')
		return 0;
	int depth = 0;
	const char *s = p;
	for (; *p; p++) {
		if (*p == '\'') {
			for (p++; *p && *p != '\''; p++)
				if (*p == '\\' && p[1])
					p++;
			if (!*p)
				return 0;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')' && --depth == 0) {
			*in = s + 1;
			*n = (size_t)(p - s - 1);
			*pp = p + 1;
			return 1;
		}
	}
	return 0;
}

/* 1 when a column of the list cols (depth 0, comma separated) is user_id. */
static int has_user_id(const char *cols, size_t n)
{
	int depth = 0, start = 1;
	for (size_t i = 0; i < n; i++) {
		char c = cols[i];
		if (start && !isspace((unsigned char)c)) {
			start = 0;
			if (n - i > 8 && !strncmp(cols + i, "user_id", 7) &&
			    isspace((unsigned char)cols[i + 7]))
				return 1;
		}
		if (c == '(')
			depth++;
		else if (c == ')')
			depth--;
		else if (c == ',' && depth == 0)
			start = 1;
	}
	return 0;
}

static int is_sharded(const char *t, size_t tn, char *const *sharded, size_t nsharded)
{
	for (size_t i = 0; i < nsharded; i++)
		if (strlen(sharded[i]) == tn && !strncmp(sharded[i], t, tn))
			return 1;
	return 0;
}

void nb_ch_cluster_scan(const char *sql, char ***names, size_t *n)
{
	char **st;
	size_t ns = nb_ch_split_sql(sql, &st);
	for (size_t i = 0; i < ns; i++) {
		const char *p = st[i], *t, *cols;
		size_t tn, cn;
		if (!kw(&p, "CREATE") || !kw(&p, "TABLE"))
			continue;
		if (kw(&p, "IF") && !(kw(&p, "NOT") && kw(&p, "EXISTS")))
			continue;
		if (!table_name(&p, &t, &tn) || !parens(&p, &cols, &cn) || !has_user_id(cols, cn))
			continue;
		*names = nb_xrealloc(*names, (*n + 1) * sizeof **names);
		char *s = nb_xmalloc(tn + 1);
		memcpy(s, t, tn);
		s[tn] = '\0';
		(*names)[(*n)++] = s;
	}
	nb_ch_split_free(st, ns);
}

static void push(char ***out, size_t *n, nb_buf *b)
{
	*out = nb_xrealloc(*out, (*n + 1) * sizeof **out);
	(*out)[(*n)++] = nb_buf_steal(b);
}

/* "ENGINE = E(args) tail" of a CREATE TABLE as its replicated form under
 * ZooKeeper path zk with replica macro rep; a Null engine stays (when
 * null_ok). */
static int engine_form(nb_buf *b, const char *rest, const char *zk, const char *rep, int null_ok,
		       const char *stmt_head, nb_err *err)
{
	const char *p = rest;
	if (!kw(&p, "ENGINE"))
		return nb_err_set(err, NB_EINPUT, "%s: no ENGINE clause", stmt_head);
	p = skip_ws(p);
	if (*p != '=')
		return nb_err_set(err, NB_EINPUT, "%s: no '=' after ENGINE", stmt_head);
	p = skip_ws(p + 1);
	const char *e = p;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	size_t en = (size_t)(p - e);
	const char *args = "";
	size_t an = 0;
	const char *q = p;
	if (parens(&q, &args, &an))
		p = q;
	if (en == 4 && !strncmp(e, "Null", 4) && null_ok) {
		nb_buf_printf(b, " ENGINE = Null%s", p);
		return 0;
	}
	if (en < 9 || strncmp(e + en - 9, "MergeTree", 9) != 0 || !strncmp(e, "Replicated", 10))
		return nb_err_set(err, NB_EINPUT,
				  "%s: engine %.*s has no replicated form here (write the "
				  "statement's cluster form by hand)",
				  stmt_head, (int)en, e);
	nb_buf_printf(b, " ENGINE = Replicated%.*s('%s', '%s'", (int)en, e, zk, rep);
	while (an && isspace((unsigned char)*args))
		args++, an--;
	if (an)
		nb_buf_printf(b, ", %.*s", (int)an, args);
	nb_buf_printf(b, ")%s", p);
	return 0;
}

static int create_table(const char *stmt, const char *cluster, char *const *sharded,
			size_t nsharded, char ***out, size_t *nout, nb_err *err)
{
	const char *p = stmt, *t, *cols;
	size_t tn, cn;
	kw(&p, "CREATE");
	kw(&p, "TABLE");
	if (kw(&p, "IF") && !(kw(&p, "NOT") && kw(&p, "EXISTS")))
		return nb_err_set(err, NB_EINPUT, "bad CREATE TABLE: %.80s", stmt);
	if (!table_name(&p, &t, &tn) || !parens(&p, &cols, &cn))
		return nb_err_set(err, NB_EINPUT,
				  "CREATE TABLE of a table outside database neonblue or without a "
				  "column list: %.80s",
				  stmt);
	char head[160];
	snprintf(head, sizeof head, "CREATE TABLE neonblue.%.*s", (int)tn, t);
	char zk[256];
	nb_buf b;
	nb_buf_init(&b);
	if (is_sharded(t, tn, sharded, nsharded)) {
		snprintf(zk, sizeof zk, "/clickhouse/tables/{shard}/neonblue/%.*s", (int)tn, t);
		nb_buf_printf(&b, "CREATE TABLE IF NOT EXISTS neonblue.%.*s_local ON CLUSTER %s (%.*s)",
			      (int)tn, t, cluster, (int)cn, cols);
		if (engine_form(&b, p, zk, "{replica}", 1, head, err)) {
			nb_buf_done(&b);
			return -1;
		}
		push(out, nout, &b);
		nb_buf_printf(&b,
			      "CREATE TABLE IF NOT EXISTS neonblue.%.*s ON CLUSTER %s (%.*s) ENGINE = "
			      "Distributed(%s, neonblue, %.*s_local, cityHash64(user_id))",
			      (int)tn, t, cluster, (int)cn, cols, cluster, (int)tn, t);
		push(out, nout, &b);
		return 0;
	}
	snprintf(zk, sizeof zk, "/clickhouse/tables/all/neonblue/%.*s", (int)tn, t);
	nb_buf_printf(&b, "CREATE TABLE IF NOT EXISTS neonblue.%.*s ON CLUSTER %s (%.*s)", (int)tn,
		      t, cluster, (int)cn, cols);
	if (engine_form(&b, p, zk, "{replica_all}", 0, head, err)) {
		nb_buf_done(&b);
		return -1;
	}
	push(out, nout, &b);
	return 0;
}

/* CREATE MATERIALIZED VIEW [IF NOT EXISTS] neonblue.V TO neonblue.X AS
 * SELECT … FROM neonblue.Y … */
static int create_view(const char *stmt, const char *cluster, char *const *sharded,
		       size_t nsharded, char ***out, size_t *nout, nb_err *err)
{
	const char *p = stmt, *v, *x, *y;
	size_t vn, xn, yn;
	kw(&p, "CREATE");
	kw(&p, "MATERIALIZED");
	kw(&p, "VIEW");
	if (kw(&p, "IF") && !(kw(&p, "NOT") && kw(&p, "EXISTS")))
		return nb_err_set(err, NB_EINPUT, "bad CREATE MATERIALIZED VIEW: %.80s", stmt);
	if (!table_name(&p, &v, &vn) || !kw(&p, "TO") || !table_name(&p, &x, &xn) ||
	    !kw(&p, "AS"))
		return nb_err_set(err, NB_EINPUT,
				  "a materialized view needs the form CREATE MATERIALIZED VIEW "
				  "neonblue.V TO neonblue.T AS SELECT … for its cluster form: %.80s",
				  stmt);
	const char *sel = p, *from = NULL;
	for (const char *q = sel; *q; q++) {
		const char *r = q;
		if ((q == sel || !name_char(q[-1])) && kw(&r, "FROM")) {
			if (from)
				return nb_err_set(err, NB_EINPUT,
						  "materialized view neonblue.%.*s reads more than one "
						  "FROM: write its cluster form by hand",
						  (int)vn, v);
			from = r;
		}
	}
	const char *after = from;
	if (!from || !table_name(&after, &y, &yn))
		return nb_err_set(err, NB_EINPUT,
				  "materialized view neonblue.%.*s reads no neonblue table", (int)vn, v);
	int xs = is_sharded(x, xn, sharded, nsharded), ys = is_sharded(y, yn, sharded, nsharded);
	if (xs != ys)
		return nb_err_set(err, NB_EINPUT,
				  "materialized view neonblue.%.*s joins a sharded and a replicated "
				  "table (neonblue.%.*s, neonblue.%.*s): write its cluster form by hand",
				  (int)vn, v, (int)yn, y, (int)xn, x);
	const char *sfx = xs ? "_local" : "";
	const char *ynames = y - 9; /* "neonblue.Y" */
	nb_buf b;
	nb_buf_init(&b);
	nb_buf_printf(&b,
		      "CREATE MATERIALIZED VIEW IF NOT EXISTS neonblue.%.*s ON CLUSTER %s TO "
		      "neonblue.%.*s%s AS%.*sneonblue.%.*s%s%s",
		      (int)vn, v, cluster, (int)xn, x, sfx, (int)(ynames - sel), sel, (int)yn, y,
		      sfx, after);
	push(out, nout, &b);
	return 0;
}

static int alter_table(const char *stmt, const char *cluster, char *const *sharded,
		       size_t nsharded, char ***out, size_t *nout, nb_err *err)
{
	const char *p = stmt, *t;
	size_t tn;
	kw(&p, "ALTER");
	kw(&p, "TABLE");
	if (!table_name(&p, &t, &tn))
		return nb_err_set(err, NB_EINPUT, "ALTER of a table outside database neonblue: %.80s",
				  stmt);
	nb_buf b;
	nb_buf_init(&b);
	if (!is_sharded(t, tn, sharded, nsharded)) {
		nb_buf_puts(&b, stmt);
		push(out, nout, &b);
		return 0;
	}
	nb_buf_printf(&b, "ALTER TABLE neonblue.%.*s_local ON CLUSTER %s%s", (int)tn, t, cluster, p);
	push(out, nout, &b);
	nb_buf_printf(&b, "ALTER TABLE neonblue.%.*s ON CLUSTER %s%s", (int)tn, t, cluster, p);
	push(out, nout, &b);
	return 0;
}

int nb_ch_cluster_name_ok(const char *cluster)
{
	if (!cluster || !*cluster || strlen(cluster) > 64)
		return 0;
	for (const char *c = cluster; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_')
			return 0;
	return !isdigit((unsigned char)*cluster);
}

int nb_ch_cluster_form(const char *sql, const char *cluster, char *const *sharded,
		       size_t nsharded, char ***out, size_t *nout, nb_err *err)
{
	*out = NULL;
	*nout = 0;
	if (!nb_ch_cluster_name_ok(cluster))
		return nb_err_set(err, NB_EINPUT,
				  "clickhouse_cluster '%s' is not a cluster name (letters, digits, _)",
				  cluster ? cluster : "");
	char **st;
	size_t ns = nb_ch_split_sql(sql, &st);
	int rc = 0;
	for (size_t i = 0; i < ns && rc == 0; i++) {
		const char *p = st[i];
		const char *q = p;
		if (kw(&q, "CREATE") && kw(&q, "TABLE")) {
			rc = create_table(p, cluster, sharded, nsharded, out, nout, err);
		} else if ((q = p, kw(&q, "CREATE") && kw(&q, "MATERIALIZED") && kw(&q, "VIEW"))) {
			rc = create_view(p, cluster, sharded, nsharded, out, nout, err);
		} else if ((q = p, kw(&q, "ALTER") && kw(&q, "TABLE"))) {
			rc = alter_table(p, cluster, sharded, nsharded, out, nout, err);
		} else if ((q = p, kw(&q, "INSERT"))) {
			nb_buf b;
			nb_buf_init(&b);
			nb_buf_puts(&b, p);
			push(out, nout, &b);
		} else {
			rc = nb_err_set(err, NB_EINPUT,
					"statement %zu has no mechanical cluster form (CREATE TABLE, "
					"CREATE MATERIALIZED VIEW, ALTER TABLE, INSERT): %.60s",
					i + 1, p);
		}
	}
	nb_ch_split_free(st, ns);
	if (rc) {
		nb_ch_split_free(*out, *nout);
		*out = NULL;
		*nout = 0;
		return -1;
	}
	return 0;
}
