/* base/json.c — compact JSON output with full-precision numbers; UTF-8
 * validity. */
#include "neonblue/base.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void nb_json_write_number(nb_buf *b, double v)
{
	if (!isfinite(v)) {
		nb_buf_puts(b, "null");
		return;
	}
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		nb_buf_printf(b, "%.0f", v == 0 ? 0.0 : v);
		return;
	}
	/* the shortest of %.15g/%.16g/%.17g that reads back as the same double */
	char tmp[40];
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		if (prec == 17 || strtod(tmp, NULL) == v)
			break;
	}
	nb_buf_puts(b, tmp);
}

void nb_json_write_string(nb_buf *b, const char *s)
{
	nb_buf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': nb_buf_puts(b, "\\\""); break;
		case '\\': nb_buf_puts(b, "\\\\"); break;
		case '\n': nb_buf_puts(b, "\\n"); break;
		case '\r': nb_buf_puts(b, "\\r"); break;
		case '\t': nb_buf_puts(b, "\\t"); break;
		case '\b': nb_buf_puts(b, "\\b"); break;
		case '\f': nb_buf_puts(b, "\\f"); break;
		default:
			if (*p < 0x20)
				nb_buf_printf(b, "\\u%04x", *p);
			else
				nb_buf_putc(b, (char)*p);
		}
	}
	nb_buf_putc(b, '"');
}

void nb_json_write(nb_buf *b, const cJSON *it)
{
	if (!it) {
		nb_buf_puts(b, "null");
		return;
	}
	if (cJSON_IsRaw(it)) {
		nb_buf_puts(b, it->valuestring ? it->valuestring : "null");
	} else if (cJSON_IsNull(it) || cJSON_IsInvalid(it)) {
		nb_buf_puts(b, "null");
	} else if (cJSON_IsTrue(it)) {
		nb_buf_puts(b, "true");
	} else if (cJSON_IsFalse(it)) {
		nb_buf_puts(b, "false");
	} else if (cJSON_IsNumber(it)) {
		nb_json_write_number(b, it->valuedouble);
	} else if (cJSON_IsString(it)) {
		nb_json_write_string(b, it->valuestring ? it->valuestring : "");
	} else if (cJSON_IsArray(it) || cJSON_IsObject(it)) {
		int obj = cJSON_IsObject(it);
		nb_buf_putc(b, obj ? '{' : '[');
		for (const cJSON *c = it->child; c; c = c->next) {
			if (c != it->child)
				nb_buf_putc(b, ',');
			if (obj) {
				nb_json_write_string(b, c->string ? c->string : "");
				nb_buf_putc(b, ':');
			}
			nb_json_write(b, c);
		}
		nb_buf_putc(b, obj ? '}' : ']');
	}
}

char *nb_json_print(const cJSON *item)
{
	nb_buf b;
	nb_buf_init(&b);
	nb_json_write(&b, item);
	return nb_buf_steal(&b);
}

cJSON *nb_json_number_or_null(double v)
{
	return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

int nb_utf8_decode(const unsigned char *s, uint32_t *cp)
{
	int len;
	uint32_t c;
	if (s[0] < 0xc2)
		return 0;
	else if (s[0] < 0xe0)
		len = 2, c = s[0] & 0x1f;
	else if (s[0] < 0xf0)
		len = 3, c = s[0] & 0x0f;
	else if (s[0] < 0xf5)
		len = 4, c = s[0] & 0x07;
	else
		return 0;
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	*cp = c;
	return len;
}

int nb_utf8_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	while (*s) {
		if (*s < 0x80) {
			s++;
			continue;
		}
		uint32_t cp;
		int n = nb_utf8_decode(s, &cp);
		if (!n)
			return 0;
		s += n;
	}
	return 1;
}
