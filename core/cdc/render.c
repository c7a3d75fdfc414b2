/* cdc/render.c — nb_change → Debezium PostgreSQL-connector envelope JSON
 * (the Kafka value and key the relay produces), each PostgreSQL type rendered
 * as Debezium renders it with its default settings. */
#include "change.h"
#include "neonblue/base.h"
#include "neonblue/cdc.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------- render */

/* Debezium's Kafka Connect type and semantic name for a PostgreSQL type. */
static void oid_schema(uint32_t oid, const char **type, const char **name)
{
	*name = NULL;
	switch (oid) {
	case NB_OID_BOOL:
		*type = "boolean";
		break;
	case NB_OID_INT2:
		*type = "int16";
		break;
	case NB_OID_INT4:
		*type = "int32";
		break;
	case NB_OID_INT8:
	case NB_OID_OID:
		*type = "int64";
		break;
	case NB_OID_FLOAT4:
		*type = "float";
		break;
	case NB_OID_FLOAT8:
	case NB_OID_NUMERIC:
		*type = "double";
		break;
	case NB_OID_BYTEA:
		*type = "bytes";
		break;
	case NB_OID_DATE:
		*type = "int32";
		*name = "io.debezium.time.Date";
		break;
	case NB_OID_TIME:
		*type = "int64";
		*name = "io.debezium.time.MicroTime";
		break;
	case NB_OID_TIMESTAMP:
		*type = "int64";
		*name = "io.debezium.time.MicroTimestamp";
		break;
	case NB_OID_TIMESTAMPTZ:
		*type = "string";
		*name = "io.debezium.time.ZonedTimestamp";
		break;
	case NB_OID_JSON:
	case NB_OID_JSONB:
		*type = "string";
		*name = "io.debezium.data.Json";
		break;
	case NB_OID_UUID:
		*type = "string";
		*name = "io.debezium.data.Uuid";
		break;
	default:
		*type = "string";
		break;
	}
}

static int hexdigit(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* JSON number grammar: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)? */
static int is_json_number(const char *s)
{
	const char *p = s;
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (isdigit((unsigned char)*p))
			p++;
	else
		return 0;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return *p == '\0';
}

/* The render path writes JSON straight into a buffer: the relay renders
 * every row change, and building a cJSON tree per message cost more than
 * decoding it. */

static void put_i64(nb_buf *b, int64_t v)
{
	char tmp[24];
	int n = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[n++] = '-';
	nb_buf_reserve(b, (size_t)n + 1);
	while (n)
		b->data[b->len++] = tmp[--n];
	b->data[b->len] = '\0';
}

/* A JSON string literal; runs of plain bytes are copied at once. */
static void put_str(nb_buf *b, const char *s)
{
	nb_buf_putc(b, '"');
	const char *run = s;
	for (const unsigned char *p = (const unsigned char *)s;; p++) {
		if (*p >= 0x20 && *p != '"' && *p != '\\')
			continue;
		nb_buf_append(b, run, (size_t)((const char *)p - run));
		if (!*p)
			break;
		switch (*p) {
		case '"':
			nb_buf_puts(b, "\\\"");
			break;
		case '\\':
			nb_buf_puts(b, "\\\\");
			break;
		case '\n':
			nb_buf_puts(b, "\\n");
			break;
		case '\r':
			nb_buf_puts(b, "\\r");
			break;
		case '\t':
			nb_buf_puts(b, "\\t");
			break;
		case '\b':
			nb_buf_puts(b, "\\b");
			break;
		case '\f':
			nb_buf_puts(b, "\\f");
			break;
		default:
			nb_buf_printf(b, "\\u%04x", *p);
		}
		run = (const char *)p + 1;
	}
	nb_buf_putc(b, '"');
}

static void put_2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/* "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" (fraction trimmed) without printf. */
static void put_iso(nb_buf *b, int64_t us)
{
	int64_t days = cdc_floor_div(us, US_PER_DAY);
	int64_t rem = us - days * US_PER_DAY;
	int64_t y;
	unsigned m, d;
	cdc_civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999) { /* rare: let printf handle the sign and width */
		char out[48];
		nb_format_iso_utc(us, out);
		put_str(b, out);
		return;
	}
	char o[40];
	int secs = (int)(rem / 1000000), frac = (int)(rem % 1000000);
	o[0] = '"';
	put_2(o + 1, (int)(y / 100));
	put_2(o + 3, (int)(y % 100));
	o[5] = '-';
	put_2(o + 6, (int)m);
	o[8] = '-';
	put_2(o + 9, (int)d);
	o[11] = 'T';
	put_2(o + 12, secs / 3600);
	o[14] = ':';
	put_2(o + 15, secs / 60 % 60);
	o[17] = ':';
	put_2(o + 18, secs % 60);
	int n = 20;
	if (frac) {
		o[n++] = '.';
		for (int div = 100000; div && frac; div /= 10) {
			o[n++] = (char)('0' + frac / div);
			frac %= div;
		}
	}
	o[n++] = 'Z';
	o[n++] = '"';
	nb_buf_append(b, o, (size_t)n);
}

static int put_int(nb_buf *b, const char *text, nb_err *err)
{
	const char *p = text + (*text == '-');
	int k = 0;
	while (p[k] >= '0' && p[k] <= '9')
		k++;
	if (!k || p[k] || k > 19)
		return nb_err_set(err, NB_EINPUT, "integer value \"%s\" is not a number", text);
	nb_buf_puts(b, text);
	return 0;
}

static int put_float(nb_buf *b, const char *text, nb_err *err)
{
	if (is_json_number(text)) {
		nb_buf_puts(b, text);
		return 0;
	}
	char *end;
	double v = strtod(text, &end);
	if (end == text || *end)
		return nb_err_set(err, NB_EINPUT, "floating-point value \"%s\" is not a number",
				  text);
	nb_json_write_number(b, v); /* NaN and infinities print as null */
	return 0;
}

static int put_bytea(nb_buf *b, const char *text, nb_err *err)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (strncmp(text, "\\x", 2))
		return nb_err_set(err, NB_EINPUT, "bytea value is not in hex format");
	const char *hex = text + 2;
	size_t nhex = strlen(hex);
	if (nhex % 2)
		return nb_err_set(err, NB_EINPUT, "bytea value has an odd number of hex digits");
	size_t n = nhex / 2;
	unsigned char *raw = nb_xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		int hi = hexdigit(hex[2 * i]), lo = hexdigit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(raw);
			return nb_err_set(err, NB_EINPUT, "bytea value has a bad hex digit");
		}
		raw[i] = (unsigned char)(hi << 4 | lo);
	}
	nb_buf_putc(b, '"');
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)raw[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)raw[i + 1] << 8;
		if (i + 2 < n)
			v |= raw[i + 2];
		char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63],
			     i + 1 < n ? b64[v >> 6 & 63] : '=', i + 2 < n ? b64[v & 63] : '='};
		nb_buf_append(b, q, 4);
	}
	nb_buf_putc(b, '"');
	free(raw);
	return 0;
}

static int put_time_value(nb_buf *b, uint32_t oid, const char *text, nb_err *err)
{
	int64_t v;
	int has_tz;
	const char *p = text;
	if (!strcmp(text, "infinity") || !strcmp(text, "-infinity")) {
		put_str(b, text);
		return 0;
	}
	int bad;
	switch (oid) {
	case NB_OID_DATE:
		bad = cdc_parse_date_part(&p, &v) || *p;
		break;
	case NB_OID_TIME:
		bad = cdc_parse_time_part(&p, &v) || *p;
		break;
	default:
		bad = nb_pg_parse_timestamp(text, &v, &has_tz) != 0;
		break;
	}
	if (bad)
		return nb_err_set(
		    err, NB_EINPUT,
		    "date/time value \"%s\" is not in PostgreSQL's ISO format (DateStyle=ISO)",
		    text);
	if (oid == NB_OID_TIMESTAMPTZ)
		put_iso(b, v);
	else
		put_i64(b, v);
	return 0;
}

/* Element type of the array types NeonBlue may use; 0 when oid is no array. */
static uint32_t array_elem(uint32_t oid)
{
	static const uint32_t map[][2] = {
	    {1000, NB_OID_BOOL},    {1001, NB_OID_BYTEA}, {1005, NB_OID_INT2},
	    {1007, NB_OID_INT4},    {1009, NB_OID_TEXT},  {1014, NB_OID_BPCHAR},
	    {1015, NB_OID_VARCHAR}, {1016, NB_OID_INT8},  {1021, NB_OID_FLOAT4},
	    {1022, NB_OID_FLOAT8},  {1028, NB_OID_OID},	  {1115, NB_OID_TIMESTAMP},
	    {1182, NB_OID_DATE},    {1183, NB_OID_TIME},  {1185, NB_OID_TIMESTAMPTZ},
	    {1231, NB_OID_NUMERIC}, {199, NB_OID_JSON},	  {2951, NB_OID_UUID},
	    {3807, NB_OID_JSONB},
	};
	for (size_t i = 0; i < sizeof map / sizeof *map; i++)
		if (map[i][0] == oid)
			return map[i][1];
	return 0;
}

static int put_value(nb_buf *b, uint32_t oid, const char *text, nb_err *err);

/* One element of an array's text form (quoted or not) into item. */
static int array_item(const char **pp, nb_buf *item, int *quoted, nb_err *err)
{
	const char *p = *pp;
	nb_buf_reset(item);
	nb_buf_puts(item, "");
	*quoted = *p == '"';
	if (*quoted) {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			nb_buf_putc(item, *p);
		}
		if (*p != '"')
			return nb_err_set(err, NB_EINPUT, "array value has an unterminated quote");
		p++;
	} else {
		while (*p && *p != ',' && *p != '}')
			nb_buf_putc(item, *p++);
	}
	*pp = p;
	return 0;
}

/* One level of PostgreSQL's array text form {a,"b c",NULL,{…}} as a JSON
 * array, elements rendered as their element type (as Debezium does). */
static int put_array_level(nb_buf *b, uint32_t elem, const char **pp, nb_buf *item, nb_err *err)
{
	const char *p = *pp;
	if (*p++ != '{')
		return nb_err_set(err, NB_EINPUT, "array value does not start with '{'");
	nb_buf_putc(b, '[');
	for (int n = 0; *p && *p != '}'; n++) {
		if (n)
			nb_buf_putc(b, ',');
		int quoted, rc;
		if (*p == '{') {
			rc = put_array_level(b, elem, &p, item, err);
		} else {
			rc = array_item(&p, item, &quoted, err);
			if (!rc)
				rc = put_value(b, elem,
					       !quoted && !strcmp(item->data, "NULL") ? NULL
										      : item->data,
					       err);
		}
		if (rc)
			return -1;
		if (*p == ',')
			p++;
	}
	if (*p != '}')
		return nb_err_set(err, NB_EINPUT, "array value does not end with '}'");
	*pp = p + 1;
	nb_buf_putc(b, ']');
	return 0;
}

static int put_array(nb_buf *b, uint32_t elem, const char *text, nb_err *err)
{
	const char *p = text;
	if (*p == '[') { /* explicit bounds "[0:1]={…}": keep the elements */
		const char *eq = strchr(p, '=');
		p = eq ? eq + 1 : p;
	}
	nb_buf item;
	nb_buf_init(&item);
	int rc = put_array_level(b, elem, &p, &item, err);
	nb_buf_done(&item);
	if (!rc && *p)
		rc = nb_err_set(err, NB_EINPUT, "array value has text after its closing '}'");
	return rc;
}

/* Appends the Debezium rendering of one PostgreSQL text value. */
static int put_value(nb_buf *b, uint32_t oid, const char *text, nb_err *err)
{
	if (!text) {
		nb_buf_puts(b, "null");
		return 0;
	}
	switch (oid) {
	case NB_OID_BOOL:
		nb_buf_puts(b, text[0] == 't' ? "true" : "false");
		return 0;
	case NB_OID_INT2:
	case NB_OID_INT4:
	case NB_OID_INT8:
	case NB_OID_OID:
		return put_int(b, text, err);
	case NB_OID_FLOAT4:
	case NB_OID_FLOAT8:
	case NB_OID_NUMERIC:
		return put_float(b, text, err);
	case NB_OID_BYTEA:
		return put_bytea(b, text, err);
	case NB_OID_DATE:
	case NB_OID_TIME:
	case NB_OID_TIMESTAMP:
	case NB_OID_TIMESTAMPTZ:
		return put_time_value(b, oid, text, err);
	default:
		if (array_elem(oid))
			return put_array(b, array_elem(oid), text, err);
		put_str(b, text);
		return 0;
	}
}

cJSON *nb_debezium_render_value(uint32_t oid, const char *text, nb_err *err)
{
	nb_buf b;
	nb_buf_init(&b);
	cJSON *v = put_value(&b, oid, text, err) ? NULL : cJSON_Parse(b.data);
	nb_buf_done(&b);
	return v;
}

/* A parsed number printed back in its shortest round-trip form (1.1, not
 * 1.1000000000000001), as a Java producer would have printed it. */
static void put_shortest(nb_buf *b, double v)
{
	if (!isfinite(v)) {
		nb_buf_puts(b, "null");
		return;
	}
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		put_i64(b, (int64_t)v);
		return;
	}
	char num[40];
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(num, sizeof num, "%.*g", prec, v);
		if (strtod(num, NULL) == v)
			break;
	}
	nb_buf_puts(b, num);
}

static int put_col(nb_buf *b, const nb_col *col, nb_err *err)
{
	if (col->toast_unchanged) {
		put_str(b, NB_DEBEZIUM_UNAVAILABLE);
		return 0;
	}
	if (col->json && cJSON_IsNumber(col->json)) {
		put_shortest(b, col->json->valuedouble);
		return 0;
	}
	if (col->json) {
		nb_json_write(b, col->json);
		return 0;
	}
	if (!put_value(b, col->type_oid, col->text, err))
		return 0;
	if (err) {
		char why[sizeof err->msg];
		snprintf(why, sizeof why, "%s", err->msg);
		nb_err_set(err, NB_EINPUT, "column %s: %s", col->name, why);
	}
	return -1;
}

static int put_tuple(nb_buf *b, const nb_tuple *t, int keys_only, nb_err *err)
{
	nb_buf_putc(b, '{');
	int first = 1;
	for (int i = 0; i < t->n; i++) {
		if (keys_only && !t->cols[i].is_key)
			continue;
		if (!first)
			nb_buf_putc(b, ',');
		first = 0;
		put_str(b, t->cols[i].name);
		nb_buf_putc(b, ':');
		if (put_col(b, &t->cols[i], err))
			return -1;
	}
	nb_buf_putc(b, '}');
	return 0;
}

static const char *str_or(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

static void put_source(nb_buf *b, const nb_change *c)
{
	const nb_source *s = &c->source;
	nb_buf_puts(b, "{\"version\":");
	put_str(b, str_or(s->version, "neonblue"));
	nb_buf_puts(b, ",\"connector\":\"postgresql\",\"name\":");
	put_str(b, str_or(s->name, "neonblue"));
	nb_buf_puts(b, ",\"ts_ms\":");
	put_i64(b, s->ts_ms);
	nb_buf_puts(b, ",\"snapshot\":");
	put_str(b, str_or(s->snapshot, c->op == 'r' ? "true" : "false"));
	nb_buf_puts(b, ",\"db\":");
	put_str(b, str_or(s->db, ""));
	nb_buf_puts(b, ",\"schema\":");
	put_str(b, str_or(c->schema, ""));
	nb_buf_puts(b, ",\"table\":");
	put_str(b, str_or(c->table, ""));
	nb_buf_puts(b, ",\"txId\":");
	if (s->tx_id >= 0)
		put_i64(b, s->tx_id);
	else
		nb_buf_puts(b, "null");
	nb_buf_puts(b, ",\"lsn\":");
	put_i64(b, (int64_t)s->lsn);
	nb_buf_puts(b, ",\"xmin\":null}");
}

static cJSON *field_schema(const char *type, const char *name, int optional, const char *field)
{
	cJSON *f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "type", type);
	cJSON_AddBoolToObject(f, "optional", optional);
	if (name) {
		cJSON_AddStringToObject(f, "name", name);
		cJSON_AddNumberToObject(f, "version", 1);
	}
	cJSON_AddStringToObject(f, "field", field);
	return f;
}

static cJSON *col_schema(const nb_col *col)
{
	const char *type, *name;
	uint32_t elem = col->dbz_type ? 0 : array_elem(col->type_oid);
	if (elem) { /* {"type":"array","items":{…},"optional":…,"field":…} */
		oid_schema(elem, &type, &name);
		cJSON *items = field_schema(type, name, 1, "");
		cJSON_DeleteItemFromObject(items, "field");
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "type", "array");
		cJSON_AddItemToObject(f, "items", items);
		cJSON_AddBoolToObject(f, "optional", !col->is_key);
		cJSON_AddStringToObject(f, "field", col->name);
		return f;
	}
	if (col->dbz_type) {
		type = col->dbz_type;
		name = col->dbz_name;
	} else {
		oid_schema(col->type_oid, &type, &name);
	}
	return field_schema(type, name, !col->is_key, col->name);
}

static cJSON *struct_schema(const nb_tuple *t, int keys_only, int optional, const char *name,
			    const char *field)
{
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "type", "struct");
	cJSON *fields = cJSON_AddArrayToObject(s, "fields");
	for (int i = 0; t && i < t->n; i++)
		if (!keys_only || t->cols[i].is_key)
			cJSON_AddItemToArray(fields, col_schema(&t->cols[i]));
	cJSON_AddBoolToObject(s, "optional", optional);
	cJSON_AddStringToObject(s, "name", name);
	if (field)
		cJSON_AddStringToObject(s, "field", field);
	return s;
}

static void record_name(nb_buf *b, const nb_change *c, const char *suffix)
{
	nb_buf_reset(b);
	nb_buf_printf(b, "%s.%s.%s.%s", str_or(c->source.name, "neonblue"), str_or(c->schema, ""),
		      str_or(c->table, ""), suffix);
}

static cJSON *source_schema(void)
{
	static const char *const fields[][3] = {
	    {"string", "0", "version"}, {"string", "0", "connector"}, {"string", "0", "name"},
	    {"int64", "0", "ts_ms"},	{"string", "1", "snapshot"},  {"string", "0", "db"},
	    {"string", "0", "schema"},	{"string", "0", "table"},     {"int64", "1", "txId"},
	    {"int64", "1", "lsn"},	{"int64", "1", "xmin"},
	};
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "type", "struct");
	cJSON *arr = cJSON_AddArrayToObject(s, "fields");
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		cJSON *f = field_schema(fields[i][0], NULL, fields[i][1][0] == '1', fields[i][2]);
		if (!strcmp(fields[i][2], "snapshot")) {
			cJSON_DeleteItemFromObject(f, "field");
			cJSON_AddStringToObject(f, "name", "io.debezium.data.Enum");
			cJSON_AddNumberToObject(f, "version", 1);
			cJSON *par = cJSON_AddObjectToObject(f, "parameters");
			cJSON_AddStringToObject(par, "allowed", "true,last,false,incremental");
			cJSON_AddStringToObject(f, "default", "false");
			cJSON_AddStringToObject(f, "field", "snapshot");
		}
		cJSON_AddItemToArray(arr, f);
	}
	cJSON_AddBoolToObject(s, "optional", 0);
	cJSON_AddStringToObject(s, "name", "io.debezium.connector.postgresql.Source");
	cJSON_AddStringToObject(s, "field", "source");
	return s;
}

static cJSON *envelope_schema(const nb_change *c)
{
	nb_buf name;
	nb_buf_init(&name);
	const nb_tuple *cols = c->has_after ? &c->after : c->has_before ? &c->before : NULL;
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "type", "struct");
	cJSON *fields = cJSON_AddArrayToObject(s, "fields");
	record_name(&name, c, "Value");
	cJSON_AddItemToArray(fields, struct_schema(cols, 0, 1, name.data, "before"));
	cJSON_AddItemToArray(fields, struct_schema(cols, 0, 1, name.data, "after"));
	cJSON_AddItemToArray(fields, source_schema());
	cJSON_AddItemToArray(fields, field_schema("string", NULL, 0, "op"));
	cJSON_AddItemToArray(fields, field_schema("int64", NULL, 1, "ts_ms"));
	cJSON_AddBoolToObject(s, "optional", 0);
	record_name(&name, c, "Envelope");
	cJSON_AddStringToObject(s, "name", name.data);
	nb_buf_done(&name);
	return s;
}

/* Wraps the payload held by b as {"schema":…,"payload":…} when schema is given. */
static char *finish(nb_buf *b, cJSON *schema)
{
	if (!schema)
		return nb_buf_steal(b);
	nb_buf w;
	nb_buf_init(&w);
	nb_buf_reserve(&w, b->len + 4096);
	nb_buf_puts(&w, "{\"schema\":");
	nb_json_write(&w, schema);
	nb_buf_puts(&w, ",\"payload\":");
	nb_buf_append(&w, b->data, b->len);
	nb_buf_putc(&w, '}');
	cJSON_Delete(schema);
	nb_buf_done(b);
	return nb_buf_steal(&w);
}

char *nb_debezium_value(const nb_change *c, int with_schema, nb_err *err)
{
	if (!c->op || !strchr("rcudt", c->op))
		return nb_err_set(err, NB_EINPUT, "change op '%c' is not one of r, c, u, d, t",
				  c->op),
		       NULL;
	nb_buf b;
	nb_buf_init(&b);
	nb_buf_reserve(&b, 1024);
	nb_buf_puts(&b, "{\"before\":");
	int rc = 0;
	if (c->has_before)
		rc = put_tuple(&b, &c->before, 0, err);
	else
		nb_buf_puts(&b, "null");
	nb_buf_puts(&b, ",\"after\":");
	if (!rc && c->has_after)
		rc = put_tuple(&b, &c->after, 0, err);
	else
		nb_buf_puts(&b, "null");
	if (rc) {
		nb_buf_done(&b);
		return NULL;
	}
	nb_buf_puts(&b, ",\"source\":");
	put_source(&b, c);
	char op[] = ",\"op\":\"x\",\"ts_ms\":";
	op[7] = c->op;
	nb_buf_puts(&b, op);
	put_i64(&b, c->ts_ms);
	nb_buf_putc(&b, '}');
	return finish(&b, with_schema ? envelope_schema(c) : NULL);
}

static int tuple_has_key(const nb_tuple *t)
{
	for (int i = 0; i < t->n; i++)
		if (t->cols[i].is_key)
			return 1;
	return 0;
}

/* The user_id of the image the key comes from (after, else before); NULL
 * when it has none or it is NULL/unavailable. */
static const nb_col *user_key_col(const nb_change *c)
{
	const nb_tuple *t = c->has_after ? &c->after : c->has_before ? &c->before : NULL;
	const nb_col *u = t ? nb_tuple_find(t, "user_id") : NULL;
	return u && (u->text || u->json) && !u->toast_unchanged ? u : NULL;
}

char *nb_debezium_key(const nb_change *c, int with_schema, nb_err *err)
{
	const nb_tuple *t = NULL;
	nb_col ucol;
	nb_tuple ut;
	if (c->key_by_user) { /* {"user_id": …}: a view of that one column */
		const nb_col *u = user_key_col(c);
		if (!u)
			return nb_err_set(err, NB_EINPUT,
					  "table %s.%s: keyed by user, but the change has no user_id",
					  str_or(c->schema, "?"), str_or(c->table, "?")),
			       NULL;
		ucol = *u;
		ucol.is_key = 1;
		ut = (nb_tuple){&ucol, 1, 1};
		t = &ut;
	} else if (c->has_after && tuple_has_key(&c->after))
		t = &c->after;
	else if (c->has_before && tuple_has_key(&c->before))
		t = &c->before;
	if (!t)
		return nb_err_set(err, NB_EINPUT, "table %s.%s: the change carries no key column",
				  str_or(c->schema, "?"), str_or(c->table, "?")),
		       NULL;
	nb_buf b;
	nb_buf_init(&b);
	if (put_tuple(&b, t, 1, err)) {
		nb_buf_done(&b);
		return NULL;
	}
	cJSON *schema = NULL;
	if (with_schema) {
		nb_buf name;
		nb_buf_init(&name);
		record_name(&name, c, "Key");
		schema = struct_schema(t, 1, 0, name.data, NULL);
		nb_buf_done(&name);
	}
	return finish(&b, schema);
}
