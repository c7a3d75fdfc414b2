/* sink/schema.c — the ClickHouse schema the sink maps into: read from
 * system.columns, one table per topic (partitions of events included). */
#include "neonblue/ch.h"
#include "neonblue/sink.h"

#include <inttypes.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* On a cluster (docs/operations.md, "ClickHouse cluster") a sharded table T
 * is a Distributed table, whose columns are in no sorting key, over T_local:
 * T's columns are read from T_local, under T's name. */
const char NB_SINK_SCHEMA_SQL[] =
	"SELECT replaceRegexpOne(table, '_local$', '') AS t, name, type, is_in_sorting_key "
	"FROM system.columns WHERE database = 'neonblue' AND table NOT IN (SELECT name FROM "
	"system.tables WHERE database = 'neonblue' AND engine = 'Distributed') "
	"FORMAT TabSeparated";

/* ---- schema ---- */

static int map_scalar_type(const char *t)
{
	if (!strncmp(t, "UInt", 4))
		return NB_SINK_UINT;
	if (!strncmp(t, "Int", 3))
		return NB_SINK_INT;
	if (!strncmp(t, "Float", 5))
		return NB_SINK_FLOAT;
	if (!strcmp(t, "DateTime") || !strncmp(t, "DateTime(", 9))
		return NB_SINK_DATETIME;
	if (!strcmp(t, "Date"))
		return NB_SINK_DATE;
	return NB_SINK_STRING;
}

/* Strips Nullable(…) / LowCardinality(…); returns the inner type in buf. */
static const char *map_unwrap(const char *t, const char *wrapper, char *buf, size_t n, int *hit)
{
	size_t w = strlen(wrapper);
	size_t len = strlen(t);
	if (strncmp(t, wrapper, w) || t[w] != '(' || t[len - 1] != ')')
		return t;
	snprintf(buf, n, "%.*s", (int)(len - w - 2), t + w + 1);
	*hit = 1;
	return buf;
}

static int map_is_internal(const char *table)
{
	return !strncmp(table, "cdc_", 4) || !strcmp(table, "schema_migrations") ||
	       table[0] == '.';
}

static nb_sink_table *map_table_get(nb_sink_schema *s, const char *name)
{
	for (int i = 0; i < s->ntables; i++)
		if (!strcmp(s->tables[i].name, name))
			return &s->tables[i];
	s->tables = nb_xrealloc(s->tables, (size_t)(s->ntables + 1) * sizeof *s->tables);
	nb_sink_table *t = &s->tables[s->ntables++];
	memset(t, 0, sizeof *t);
	t->name = nb_xstrdup(name);
	return t;
}

static void map_col_add(nb_sink_table *t, const char *name, const char *type, int key)
{
	t->cols = nb_xrealloc(t->cols, (size_t)(t->ncols + 1) * sizeof *t->cols);
	nb_sink_col *c = &t->cols[t->ncols++];
	memset(c, 0, sizeof *c);
	c->name = nb_xstrdup(name);
	c->ch_type = nb_xstrdup(type);
	c->is_key = key;
	c->src = -1;
	char b1[256], b2[256];
	int dummy = 0;
	const char *in = map_unwrap(type, "LowCardinality", b1, sizeof b1, &dummy);
	in = map_unwrap(in, "Nullable", b2, sizeof b2, &c->nullable);
	if (!strcmp(name, "_version"))
		c->type = NB_SINK_VERSION;
	else if (!strcmp(name, "_deleted"))
		c->type = NB_SINK_DELETED;
	else if (!strncmp(in, "Array(", 6)) {
		char b3[256];
		int hit = 0;
		c->type = NB_SINK_ARRAY;
		c->elem_type = map_scalar_type(map_unwrap(in, "Array", b3, sizeof b3, &hit));
	} else
		c->type = map_scalar_type(in);
	if (c->type == NB_SINK_INT || c->type == NB_SINK_UINT) {
		int b = atoi(in + (c->type == NB_SINK_UINT ? 4 : 3));
		c->bits = b == 8 || b == 16 || b == 32 ? b : 64;
	}
	c->uuid = c->type == NB_SINK_STRING && !strcmp(in, "UUID");
}

/* Pairs every "<x>_us" column with a DateTime column "<x>"; builds the INSERT. */
static void map_table_finish(nb_sink_table *t)
{
	for (int i = 0; i < t->ncols; i++) {
		nb_sink_col *c = &t->cols[i];
		size_t n = strlen(c->name);
		if (n < 4 || strcmp(c->name + n - 3, "_us") || c->nullable)
			continue;
		for (int j = 0; j < t->ncols; j++)
			if (t->cols[j].type == NB_SINK_DATETIME &&
			    strlen(t->cols[j].name) == n - 3 &&
			    !strncmp(t->cols[j].name, c->name, n - 3)) {
				c->type = NB_SINK_MICROS;
				c->src = j;
			}
	}
	nb_buf q;
	nb_buf_init(&q);
	nb_buf_puts(&q, "INSERT INTO neonblue.");
	nb_ch_escape(&q, t->name, strlen(t->name), NB_CH_IDENT);
	nb_buf_puts(&q, " (");
	for (int i = 0; i < t->ncols; i++) {
		if (i)
			nb_buf_putc(&q, ',');
		nb_ch_escape(&q, t->cols[i].name, strlen(t->cols[i].name), NB_CH_IDENT);
	}
	nb_buf_puts(&q, ") FORMAT TabSeparated");
	free(t->insert_sql);
	t->insert_sql = nb_buf_steal(&q);
}

int nb_sink_schema_parse(const char *tsv, size_t len, nb_sink_schema *s, nb_err *err)
{
	memset(s, 0, sizeof *s);
	nb_ch_rows r;
	if (nb_ch_tsv_parse(tsv, len, &r, err) < 0)
		return -1;
	if (r.nrows && r.ncols != 4) {
		nb_ch_rows_done(&r);
		return nb_err_set(err, NB_ESERVER,
				  "ClickHouse's column list has %zu fields per row, expected 4",
				  r.ncols);
	}
	for (size_t i = 0; i < r.nrows; i++) {
		const char *table = nb_ch_cell(&r, i, 0);
		if (map_is_internal(table))
			continue;
		map_col_add(map_table_get(s, table), nb_ch_cell(&r, i, 1), nb_ch_cell(&r, i, 2),
			    atoi(nb_ch_cell(&r, i, 3)) != 0);
	}
	nb_ch_rows_done(&r);
	for (int i = 0; i < s->ntables; i++)
		map_table_finish(&s->tables[i]);
	return 0;
}

void nb_sink_schema_done(nb_sink_schema *s)
{
	for (int i = 0; i < s->ntables; i++) {
		nb_sink_table *t = &s->tables[i];
		for (int j = 0; j < t->ncols; j++) {
			free(t->cols[j].name);
			free(t->cols[j].ch_type);
		}
		free(t->cols);
		free(t->name);
		free(t->insert_sql);
	}
	free(s->tables);
	memset(s, 0, sizeof *s);
}

size_t nb_sink_partition_month(const char *name, int *year, int *month)
{
	size_t n = strlen(name);
	if (n <= 9 || strncmp(name + n - 9, "_y", 2) || name[n - 3] != 'm')
		return 0;
	const char *d = name + n - 7;
	for (int i = 0; i < 7; i++)
		if (i != 4 && (d[i] < '0' || d[i] > '9'))
			return 0;
	int y = atoi(d), m = atoi(d + 5);
	if (m < 1 || m > 12)
		return 0;
	if (year)
		*year = y;
	if (month)
		*month = m;
	return n - 9;
}

/* "events_y2026m11" → length of "events", else the full length. */
static size_t map_partition_base(const char *name, size_t n)
{
	size_t base = nb_sink_partition_month(name, NULL, NULL);
	return base ? base : n;
}

int nb_sink_topic_ignored(const char *prefix, const char *topic)
{
	static const char hb[] = "__debezium-heartbeat.";
	size_t p = strlen(prefix);
	if (!strncmp(topic, hb, sizeof hb - 1) && !strcmp(topic + sizeof hb - 1, prefix))
		return 1;
	return !strncmp(topic, prefix, p) &&
	       (!strcmp(topic + p, ".transaction") || !strcmp(topic + p, ".message"));
}

int nb_sink_row_topic(const char *prefix, const char *topic)
{
	size_t p = strlen(prefix);
	return !strncmp(topic, prefix, p) && topic[p] == '.' && strcmp(topic + p, ".dlq") &&
	       !nb_sink_topic_ignored(prefix, topic);
}

int nb_sink_schema_table_for_topic(const nb_sink_schema *s, const char *topic)
{
	const char *dot = strrchr(topic, '.');
	const char *name = dot ? dot + 1 : topic;
	size_t n = strlen(name);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < s->ntables; i++)
			if (strlen(s->tables[i].name) == n && !strncmp(s->tables[i].name, name, n))
				return i;
		n = map_partition_base(name, n);
	}
	return -1;
}
