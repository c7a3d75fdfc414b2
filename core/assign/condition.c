/* assign/condition.c — GrowthBook targeting conditions (MongoDB-like operators)
 * evaluated as the official SDK 1.8.0 does: JavaScript's comparison and
 * conversion rules, $regex through PCRE2, saved groups ($inGroup, $notInGroup,
 * $savedGroup). tests/cli/sdk_diff.sh checks it against the SDK itself. */
#include "neonblue/assign.h"
#include "neonblue/base.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <wctype.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A JavaScript primitive, the result of ToPrimitive(value). */
enum cond_pkind { P_NULL, P_BOOL, P_NUM, P_STR };
typedef struct cond_prim {
	enum cond_pkind kind;
	double num;      /* P_BOOL (0/1) and P_NUM */
	const char *str; /* P_STR */
	char *owned;     /* set when str was built (arrays) */
} cond_prim;

/* cJSON's type tests are out-of-line calls; these are on the hot path. */
#define COND_T(v) ((v) ? (v)->type & 0xff : cJSON_Invalid)
#define IS_BOOL(v) (COND_T(v) == cJSON_True || COND_T(v) == cJSON_False)
#define IS_TRUE(v) (COND_T(v) == cJSON_True)
#define IS_FALSE(v) (COND_T(v) == cJSON_False)
#define IS_NUM(v) (COND_T(v) == cJSON_Number)
#define IS_STR(v) (COND_T(v) == cJSON_String)
#define IS_ARR(v) (COND_T(v) == cJSON_Array)
#define IS_OBJ(v) (COND_T(v) == cJSON_Object)

static int cond_value(const cJSON *cond, const cJSON *v, const cJSON *groups);
static int cond_object(const cJSON *attrs, const cJSON *cond, const cJSON *groups);

static int cond_is_null(const cJSON *v)
{
	return COND_T(v) == cJSON_NULL || COND_T(v) == cJSON_Invalid;
}

/* JavaScript's Number.prototype.toString: shortest round-trip digits, plain
 * notation for 1e-7 < |x| < 1e21, exponent notation otherwise. */
static void cond_num_str(double x, char *out, size_t n)
{
	if (isnan(x)) {
		snprintf(out, n, "NaN");
		return;
	}
	if (isinf(x)) {
		snprintf(out, n, x > 0 ? "Infinity" : "-Infinity");
		return;
	}
	if (x == 0) {
		snprintf(out, n, "0");
		return;
	}
	char e[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(e, sizeof e, "%.*e", prec - 1, x);
		if (strtod(e, NULL) == x)
			break;
	}
	/* e is "[-]d[.ddd]e[+-]XX": pull out sign, digits and exponent */
	const char *p = e;
	int neg = *p == '-';
	if (neg)
		p++;
	char digits[24];
	int nd = 0;
	for (; *p && *p != 'e'; p++) {
		if (isdigit((unsigned char)*p))
			digits[nd++] = *p;
	}
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	int exp10 = atoi(p + 1); /* x = 0.d1d2... × 10^(exp10+1) */
	int k = exp10 + 1;       /* position of the decimal point */
	char buf[64];            /* at most 1 + 21 + 1 + 6 + 17 digits */
	size_t o = 0;
	if (neg)
		buf[o++] = '-';
	if (k >= nd && k <= 21) {
		memcpy(buf + o, digits, (size_t)nd);
		o += (size_t)nd;
		for (int i = nd; i < k; i++)
			buf[o++] = '0';
	} else if (k > 0 && k <= 21) {
		memcpy(buf + o, digits, (size_t)k);
		o += (size_t)k;
		buf[o++] = '.';
		memcpy(buf + o, digits + k, (size_t)(nd - k));
		o += (size_t)(nd - k);
	} else if (k > -6 && k <= 0) {
		buf[o++] = '0';
		buf[o++] = '.';
		for (int i = k; i < 0; i++)
			buf[o++] = '0';
		memcpy(buf + o, digits, (size_t)nd);
		o += (size_t)nd;
	} else {
		buf[o++] = digits[0];
		if (nd > 1) {
			buf[o++] = '.';
			memcpy(buf + o, digits + 1, (size_t)(nd - 1));
			o += (size_t)(nd - 1);
		}
		o += (size_t)snprintf(buf + o, sizeof buf - o, "e%c%d", k - 1 >= 0 ? '+' : '-',
				      abs(k - 1));
	}
	buf[o] = '\0';
	snprintf(out, n, "%s", buf);
}

/* Appends ToString(value) as JavaScript would for an array element. */
static void cond_join(const cJSON *v, nb_buf *b)
{
	char num[40];
	if (cond_is_null(v))
		return; /* null and undefined join as "" */
	if (IS_BOOL(v)) {
		nb_buf_puts(b, IS_TRUE(v) ? "true" : "false");
	} else if (IS_NUM(v)) {
		cond_num_str(v->valuedouble, num, sizeof num);
		nb_buf_puts(b, num);
	} else if (IS_STR(v)) {
		nb_buf_puts(b, v->valuestring);
	} else if (IS_ARR(v)) {
		const cJSON *c;
		int first = 1;
		cJSON_ArrayForEach(c, v)
		{
			if (!first)
				nb_buf_putc(b, ',');
			first = 0;
			cond_join(c, b);
		}
	} else {
		nb_buf_puts(b, "[object Object]");
	}
}

static void cond_to_prim(const cJSON *v, cond_prim *p)
{
	*p = (cond_prim){.kind = P_NULL};
	if (cond_is_null(v))
		return;
	if (IS_BOOL(v)) {
		p->kind = P_BOOL;
		p->num = IS_TRUE(v);
	} else if (IS_NUM(v)) {
		p->kind = P_NUM;
		p->num = v->valuedouble;
	} else if (IS_STR(v)) {
		p->kind = P_STR;
		p->str = v->valuestring;
	} else if (IS_ARR(v)) {
		nb_buf b;
		nb_buf_init(&b);
		nb_buf_puts(&b, "");
		cond_join(v, &b);
		p->kind = P_STR;
		p->str = p->owned = nb_buf_steal(&b);
	} else {
		p->kind = P_STR;
		p->str = "[object Object]";
	}
}

static void cond_prim_done(cond_prim *p)
{
	free(p->owned);
	p->owned = NULL;
}

/* Decodes the UTF-8 character at s (of n bytes left) into *cp; returns its
 * length, or 1 with *cp = U+FFFD for a byte that starts no valid sequence. */
static int cond_utf8(const unsigned char *s, size_t n, uint32_t *cp)
{
	int len;
	uint32_t c;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] < 0xe0)
		len = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] < 0xf0)
		len = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] < 0xf5)
		len = 4, c = s[0] & 0x07;
	else
		goto bad;
	if ((size_t)len > n)
		goto bad;
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto bad;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		goto bad;
	*cp = c;
	return len;
bad:
	*cp = 0xfffd;
	return 1;
}

/* JavaScript's WhiteSpace and LineTerminator, what String.prototype.trim and
 * ToNumber strip. */
static int cond_js_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
	       c == 0x205f || c == 0x3000 || c == 0xfeff;
}

/* Length of the JavaScript white space at the start of s (n bytes). */
static size_t cond_space_prefix(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint32_t c;
		int k = cond_utf8((const unsigned char *)s + i, n - i, &c);
		if (!cond_js_space(c))
			break;
		i += (size_t)k;
	}
	return i;
}

/* Length of s (n bytes) without its trailing JavaScript white space. */
static size_t cond_space_trim_end(const char *s, size_t n)
{
	size_t keep = 0, i = 0;
	while (i < n) {
		uint32_t c;
		int k = cond_utf8((const unsigned char *)s + i, n - i, &c);
		i += (size_t)k;
		if (!cond_js_space(c))
			keep = i;
	}
	return keep;
}

/* JavaScript's ToNumber of a string: trimmed of Unicode white space, decimal,
 * hex/octal/binary literals, Infinity; "" is 0; anything else NaN. */
static double cond_str_num(const char *s)
{
	size_t n = strlen(s);
	size_t lead = cond_space_prefix(s, n);
	s += lead;
	n = cond_space_trim_end(s, n - lead);
	if (!n)
		return 0;
	char tmp[128];
	if (n >= sizeof tmp)
		return NAN;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (tmp[0] == '0' && n > 2 && strchr("xXoObB", tmp[1])) {
		int base = tolower((unsigned char)tmp[1]) == 'x' ? 16
			   : tolower((unsigned char)tmp[1]) == 'o' ? 8
								  : 2;
		char *end;
		double v = (double)strtoull(tmp + 2, &end, base);
		return *end || tmp[2] == '-' || tmp[2] == '+' ? NAN : v;
	}
	const char *p = tmp;
	if (*p == '+' || *p == '-')
		p++;
	if (!strcmp(p, "Infinity"))
		return tmp[0] == '-' ? -INFINITY : INFINITY;
	/* StrDecimalLiteral: digits [. digits] [e[+-]digits], at least one digit */
	int digits = 0;
	while (isdigit((unsigned char)*p))
		p++, digits++;
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p))
			p++, digits++;
	}
	if (!digits)
		return NAN;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return NAN;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return *p ? NAN : strtod(tmp, NULL);
}

static double cond_prim_num(const cond_prim *p)
{
	switch (p->kind) {
	case P_NULL:
		return 0;
	case P_BOOL:
	case P_NUM:
		return p->num;
	case P_STR:
		return cond_str_num(p->str);
	}
	return NAN;
}

/* ToNumber(value), e.g. for `value * 1`. */
static double cond_num(const cJSON *v)
{
	if (IS_NUM(v))
		return v->valuedouble;
	if (IS_OBJ(v))
		return NAN;
	cond_prim p;
	cond_to_prim(v, &p);
	double d = cond_prim_num(&p);
	cond_prim_done(&p);
	return d;
}

/* Does `value + ""` equal s? */
static int cond_str_equals(const cJSON *v, const char *s)
{
	if (IS_STR(v))
		return !strcmp(v->valuestring, s);
	char num[40];
	if (cond_is_null(v))
		return !strcmp(s, "null");
	if (IS_BOOL(v))
		return !strcmp(s, IS_TRUE(v) ? "true" : "false");
	if (IS_NUM(v)) {
		cond_num_str(v->valuedouble, num, sizeof num);
		return !strcmp(num, s);
	}
	cond_prim p;
	cond_to_prim(v, &p);
	int r = !strcmp(p.str, s);
	cond_prim_done(&p);
	return r;
}

static int cond_lower_eq(const char *a, const char *b);

/* String(v).toLowerCase() === s.toLowerCase() */
static int cond_str_lower_equals(const cJSON *v, const char *s)
{
	char num[40];
	const char *str;
	cond_prim p = {0};
	if (IS_STR(v))
		str = v->valuestring;
	else if (cond_is_null(v))
		str = "null";
	else if (IS_BOOL(v))
		str = IS_TRUE(v) ? "true" : "false";
	else if (IS_NUM(v)) {
		cond_num_str(v->valuedouble, num, sizeof num);
		str = num;
	} else {
		cond_to_prim(v, &p);
		str = p.str;
	}
	int r = cond_lower_eq(str, s);
	cond_prim_done(&p);
	return r;
}

static int cond_truthy(const cJSON *v)
{
	if (cond_is_null(v) || IS_FALSE(v))
		return 0;
	if (IS_NUM(v))
		return v->valuedouble != 0 && !isnan(v->valuedouble);
	if (IS_STR(v))
		return v->valuestring[0] != '\0';
	return 1;
}

/* Compares two UTF-8 strings in UTF-16 code unit order, as JavaScript's < does:
 * code point order except that U+E000..U+FFFF sort after the surrogate pairs
 * of U+10000 and above. */
static int cond_u16cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
	size_t nx = strlen(a), ny = strlen(b);
	while (nx && ny) {
		uint32_t cx, cy;
		int kx = cond_utf8(x, nx, &cx), ky = cond_utf8(y, ny, &cy);
		if (cx != cy) {
			/* the first UTF-16 unit: a lead surrogate for astral code points */
			uint32_t ux = cx >= 0x10000 ? 0xd800 + ((cx - 0x10000) >> 10) : cx;
			uint32_t uy = cy >= 0x10000 ? 0xd800 + ((cy - 0x10000) >> 10) : cy;
			if (ux != uy)
				return ux < uy ? -1 : 1;
			return cx < cy ? -1 : 1; /* same lead: trail order = code point order */
		}
		x += kx, nx -= (size_t)kx;
		y += ky, ny -= (size_t)ky;
	}
	return nx ? 1 : ny ? -1 : 0;
}

/* Abstract relational comparison a ? b: -1, 0, 1, or 2 when undefined (NaN). */
static int cond_compare(const cJSON *a, const cJSON *b)
{
	if (IS_NUM(a) && IS_NUM(b)) {
		double x = a->valuedouble, y = b->valuedouble;
		return isnan(x) || isnan(y) ? 2 : (x > y) - (x < y);
	}
	cond_prim pa, pb;
	cond_to_prim(a, &pa);
	cond_to_prim(b, &pb);
	int r;
	if (pa.kind == P_STR && pb.kind == P_STR) {
		r = cond_u16cmp(pa.str, pb.str);
	} else {
		double x = cond_prim_num(&pa), y = cond_prim_num(&pb);
		r = isnan(x) || isnan(y) ? 2 : (x > y) - (x < y);
	}
	cond_prim_done(&pa);
	cond_prim_done(&pb);
	return r;
}

static locale_t cond_utf8_locale;
static pthread_once_t cond_locale_once = PTHREAD_ONCE_INIT;

static void cond_locale_init(void)
{
	cond_utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* Appends the UTF-8 encoding of code point c. */
static void cond_put_utf8(nb_buf *b, uint32_t c)
{
	if (c < 0x80) {
		nb_buf_putc(b, (char)c);
	} else if (c < 0x800) {
		nb_buf_putc(b, (char)(0xc0 | (c >> 6)));
		nb_buf_putc(b, (char)(0x80 | (c & 0x3f)));
	} else if (c < 0x10000) {
		nb_buf_putc(b, (char)(0xe0 | (c >> 12)));
		nb_buf_putc(b, (char)(0x80 | ((c >> 6) & 0x3f)));
		nb_buf_putc(b, (char)(0x80 | (c & 0x3f)));
	} else {
		nb_buf_putc(b, (char)(0xf0 | (c >> 18)));
		nb_buf_putc(b, (char)(0x80 | ((c >> 12) & 0x3f)));
		nb_buf_putc(b, (char)(0x80 | ((c >> 6) & 0x3f)));
		nb_buf_putc(b, (char)(0x80 | (c & 0x3f)));
	}
}

/* String.prototype.toLowerCase of s into b: Unicode simple lower-case mapping
 * (glibc's C.UTF-8 tables), plus U+0130 → "i\u0307" as JavaScript does. */
static void cond_lower(const char *s, nb_buf *b)
{
	pthread_once(&cond_locale_once, cond_locale_init);
	size_t n = strlen(s);
	nb_buf_puts(b, "");
	for (size_t i = 0; i < n;) {
		uint32_t c;
		int k = cond_utf8((const unsigned char *)s + i, n - i, &c);
		i += (size_t)k;
		if (c < 0x80)
			c = (uint32_t)tolower((int)c);
		else if (c == 0x130) {
			nb_buf_puts(b, "i\xcc\x87");
			continue;
		} else if (cond_utf8_locale)
			c = (uint32_t)towlower_l((wint_t)c, cond_utf8_locale);
		cond_put_utf8(b, c);
	}
}

/* a.toLowerCase() === b.toLowerCase() */
static int cond_lower_eq(const char *a, const char *b)
{
	nb_buf x, y;
	nb_buf_init(&x);
	nb_buf_init(&y);
	cond_lower(a, &x);
	cond_lower(b, &y);
	int r = x.len == y.len && !memcmp(x.data, y.data, x.len);
	nb_buf_done(&x);
	nb_buf_done(&y);
	return r;
}

/* Strict equality (===); arrays and objects are never === to another tree.
 * fold compares strings ignoring ASCII case. */
static int cond_strict_eq(const cJSON *a, const cJSON *b, int fold)
{
	if (cond_is_null(a) || cond_is_null(b))
		return cond_is_null(a) && cond_is_null(b);
	if (IS_BOOL(a) && IS_BOOL(b))
		return IS_TRUE(a) == IS_TRUE(b);
	if (IS_NUM(a) && IS_NUM(b))
		return a->valuedouble == b->valuedouble;
	if (IS_STR(a) && IS_STR(b))
		return fold ? cond_lower_eq(a->valuestring, b->valuestring)
			    : !strcmp(a->valuestring, b->valuestring);
	return 0;
}

/* Array.prototype.includes (SameValueZero), with optional case folding. */
static int cond_includes(const cJSON *arr, const cJSON *v, int fold)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, arr)
	{
		if (cond_strict_eq(c, v, fold))
			return 1;
		if (IS_NUM(c) && IS_NUM(v) && isnan(c->valuedouble) &&
		    isnan(v->valuedouble))
			return 1;
	}
	return 0;
}

/* isIn: an array attribute matches when any element is in expected. */
static int cond_is_in(const cJSON *actual, const cJSON *expected, int fold)
{
	if (!IS_ARR(expected))
		return 0;
	if (IS_ARR(actual)) {
		const cJSON *c;
		cJSON_ArrayForEach(c, actual)
		{
			if (cond_includes(expected, c, fold))
				return 1;
		}
		return 0;
	}
	return cond_includes(expected, actual, fold);
}

/* An array index key ("0", "7", "42"; not "01" or "-1"): JavaScript lists
 * these first, in numeric order, then the other keys in insertion order. */
static int cond_index_key(const char *k, double *idx)
{
	if (!*k || (k[0] == '0' && k[1]) || strlen(k) > 10)
		return 0;
	double v = 0;
	for (const char *p = k; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return 0;
		v = v * 10 + (*p - '0');
	}
	if (v >= 4294967295.0)
		return 0;
	*idx = v;
	return 1;
}

/* The i-th member of object o in JavaScript's property order, or NULL. */
static const cJSON *cond_js_member(const cJSON *o, int i)
{
	/* index keys, ascending */
	double last = -1;
	for (;;) {
		const cJSON *best = NULL;
		double bi = 0, v;
		for (const cJSON *c = o->child; c; c = c->next) {
			if (c->string && cond_index_key(c->string, &v) && v > last &&
			    (!best || v < bi))
				best = c, bi = v;
		}
		if (!best)
			break;
		if (i-- == 0)
			return best;
		last = bi;
	}
	double v;
	for (const cJSON *c = o->child; c; c = c->next) {
		if (!(c->string && cond_index_key(c->string, &v)) && i-- == 0)
			return c;
	}
	return NULL;
}

/* JSON.stringify(a) === JSON.stringify(b): deep equality, objects compared in
 * JavaScript's property order (index keys first), which is what the SDK sees. */
static int cond_deep_eq(const cJSON *a, const cJSON *b)
{
	int na = cond_is_null(a) || (IS_NUM(a) && !isfinite(a->valuedouble));
	int nb = cond_is_null(b) || (IS_NUM(b) && !isfinite(b->valuedouble));
	if (na || nb)
		return na && nb;
	if (IS_ARR(a) != IS_ARR(b) || IS_OBJ(a) != IS_OBJ(b))
		return 0;
	if (IS_OBJ(a)) {
		int n = cJSON_GetArraySize(a);
		if (n != cJSON_GetArraySize(b))
			return 0;
		for (int i = 0; i < n; i++) {
			const cJSON *x = cond_js_member(a, i), *y = cond_js_member(b, i);
			if (!x || !y || strcmp(x->string, y->string) || !cond_deep_eq(x, y))
				return 0;
		}
		return 1;
	}
	if (IS_ARR(a)) {
		const cJSON *x = a->child, *y = b->child;
		for (; x && y; x = x->next, y = y->next) {
			if (IS_OBJ(a) && strcmp(x->string, y->string))
				return 0;
			if (!cond_deep_eq(x, y))
				return 0;
		}
		return !x && !y;
	}
	return cond_strict_eq(a, b, 0);
}

/* An object whose keys all start with '$' (and at least one key). */
static int cond_is_operator_object(const cJSON *c)
{
	if (!IS_OBJ(c) || !c->child)
		return 0;
	for (const cJSON *k = c->child; k; k = k->next) {
		if (!k->string || k->string[0] != '$')
			return 0;
	}
	return 1;
}

/* getPath: follows "a.b.c" through objects (and array indices, and an
 * array's "length" which lands in *scratch). NULL when absent. */
static const cJSON *cond_get_path(const cJSON *obj, const char *path, cJSON *scratch)
{
	const cJSON *cur = obj;
	const char *p = path;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (!IS_OBJ(cur) && !IS_ARR(cur))
			return NULL;
		const cJSON *next = NULL;
		if (IS_OBJ(cur)) {
			for (const cJSON *c = cur->child; c; c = c->next) {
				if (c->string && strlen(c->string) == len && !memcmp(c->string, p, len)) {
					next = c;
					break;
				}
			}
		} else if (len == 6 && !memcmp(p, "length", 6)) {
			*scratch = (cJSON){.type = cJSON_Number};
			scratch->valuedouble = cJSON_GetArraySize(cur);
			scratch->valueint = (int)scratch->valuedouble;
			next = scratch;
		} else if (len > 0 && len < 10 && (len == 1 || p[0] != '0')) {
			int idx = 0, ok = 1;
			for (size_t i = 0; i < len; i++) {
				if (!isdigit((unsigned char)p[i]))
					ok = 0;
				else
					idx = idx * 10 + (p[i] - '0');
			}
			next = ok ? cJSON_GetArrayItem(cur, idx) : NULL;
		}
		if (!next)
			return NULL;
		cur = next;
		if (!dot)
			return cur;
		p = dot + 1;
	}
}

/* ---- versions ---- */

size_t nb_version_pad(const char *v, char *out, size_t n)
{
	if (!v || !*v)
		v = "0";
	if (*v == 'v')
		v++;
	/* JavaScript's /\+.*$/: the first '+' with no line terminator after it */
	size_t len = strlen(v), from = 0;
	for (size_t k = 0; k < len; k++) {
		if (v[k] == '\n' || v[k] == '\r' ||
		    (k + 2 < len && !memcmp(v + k, "\xe2\x80", 2) &&
		     (v[k + 2] == '\xa8' || v[k + 2] == '\xa9')))
			from = k + 1;
	}
	size_t end = from + strcspn(v + from, "+");
	nb_buf b;
	nb_buf_init(&b);
	nb_buf_puts(&b, "");
	int parts = 0;
	size_t i = 0;
	for (;;) {
		size_t len = strcspn(v + i, "-.");
		if (i + len > end)
			len = end - i;
		int numeric = len > 0;
		for (size_t k = 0; k < len; k++) {
			if (!isdigit((unsigned char)v[i + k]))
				numeric = 0;
		}
		if (parts++)
			nb_buf_putc(&b, '-');
		for (size_t k = len; numeric && k < 5; k++)
			nb_buf_putc(&b, ' ');
		nb_buf_append(&b, v + i, len);
		i += len;
		if (i >= end)
			break;
		i++; /* the separator */
	}
	if (parts == 3)
		nb_buf_puts(&b, "-~");
	size_t total = b.len;
	if (n) {
		size_t k = total < n - 1 ? total : n - 1;
		memcpy(out, b.data, k);
		out[k] = '\0';
	}
	nb_buf_done(&b);
	return total;
}

/* paddedVersionString(value): numbers become strings, other non-strings "0". */
static char *cond_version(const cJSON *v, char *stack, size_t n)
{
	char num[40];
	const char *s = "0";
	if (IS_STR(v))
		s = v->valuestring;
	else if (IS_NUM(v)) {
		cond_num_str(v->valuedouble, num, sizeof num);
		s = num;
	}
	size_t need = nb_version_pad(s, stack, n) + 1;
	if (need <= n)
		return stack;
	char *heap = malloc(need);
	if (!heap)
		abort();
	nb_version_pad(s, heap, need);
	return heap;
}

static int cond_version_cmp(const cJSON *actual, const cJSON *expected)
{
	char sa[128], sb[128];
	char *a = cond_version(actual, sa, sizeof sa);
	char *b = cond_version(expected, sb, sizeof sb);
	int c = strcmp(a, b);
	if (a != sa)
		free(a);
	if (b != sb)
		free(b);
	return (c > 0) - (c < 0);
}

/* ---- regular expressions ---- */

/* JavaScript's \s: ASCII white space plus the Unicode spaces PCRE2 leaves out
 * without PCRE2_UCP (which would also widen \d and \w, unlike JavaScript). */
#define COND_RX_USPACE                                                                     \
	"\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"

/* Rewrites a JavaScript (non-unicode-mode) pattern for PCRE2 where their
 * escapes differ: \s/\S get the Unicode spaces, \v is U+000B, letters that
 * JavaScript does not give a meaning are themselves (PCRE2 would read \Q \E
 * \A \Z \z \G \K \N \R \X \h \H \p \P \g \o \e \a \C \l \L \U as its own),
 * and \k is a letter unless the pattern has named groups. */
static void cond_regex_translate(const char *src, nb_buf *out)
{
	int in_class = 0, named = strstr(src, "(?<") != NULL;
	for (const char *p = src; *p;) {
		if (*p == '\\' && p[1]) {
			char c = p[1];
			if (c == 's' && !in_class)
				nb_buf_puts(out, "[\\s" COND_RX_USPACE "]");
			else if (c == 's')
				nb_buf_puts(out, "\\s" COND_RX_USPACE);
			else if (c == 'S' && !in_class)
				nb_buf_puts(out, "[^\\s" COND_RX_USPACE "]");
			else if (c == 'v')
				nb_buf_puts(out, "\\x0b");
			else if (c == 'k' && !named)
				nb_buf_putc(out, 'k');
			else if (isalpha((unsigned char)c) && !strchr("bBdDwWSfnrtcxuk", c))
				nb_buf_putc(out, c);
			else if (c == 'B' && in_class)
				nb_buf_putc(out, 'B');
			else {
				nb_buf_putc(out, '\\');
				nb_buf_putc(out, c);
			}
			p += 2;
			/* a class escape next to '-' in a class: JavaScript reads a literal '-' */
			if (in_class && strchr("dDwWsS", c) && p[0] == '-' && p[1] && p[1] != ']') {
				nb_buf_puts(out, "\\-");
				p++;
			}
			continue;
		}
		if (in_class && *p == '-' && p[1] == '\\' && p[2] && strchr("dDwWsS", p[2])) {
			nb_buf_puts(out, "\\-");
			p++;
			continue;
		}
		if (*p == '[' && !in_class)
			in_class = 1;
		else if (*p == ']' && in_class)
			in_class = 0;
		nb_buf_putc(out, *p++);
	}
	nb_buf_puts(out, "");
}

#define COND_RX_CACHE 32
struct cond_rx {
	char *pattern;
	int icase;
	pcre2_code *re;          /* NULL when the pattern does not compile */
	pcre2_match_data *md;
};
static _Thread_local struct cond_rx cond_rx_cache[COND_RX_CACHE];
static _Thread_local unsigned cond_rx_next;

/* A compiled pattern from the per-thread cache (round-robin eviction), or NULL
 * when it does not compile. PCRE2 in UTF mode with the options that bring it
 * closest to JavaScript's RegExp (docs/assign.md lists what still differs). */
static struct cond_rx *cond_regex(const char *pattern, int icase)
{
	for (int i = 0; i < COND_RX_CACHE; i++) {
		struct cond_rx *r = &cond_rx_cache[i];
		if (r->pattern && r->icase == icase && !strcmp(r->pattern, pattern))
			return r->re ? r : NULL;
	}
	struct cond_rx *r = &cond_rx_cache[cond_rx_next++ % COND_RX_CACHE];
	free(r->pattern);
	pcre2_match_data_free(r->md);
	pcre2_code_free(r->re);
	*r = (struct cond_rx){.icase = icase};
	r->pattern = strdup(pattern);
	if (!r->pattern)
		abort();
	nb_buf pat;
	nb_buf_init(&pat);
	cond_regex_translate(pattern, &pat);
	pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
	if (!cc)
		abort();
	pcre2_set_newline(cc, PCRE2_NEWLINE_ANYCRLF);
	uint32_t opts = PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_MATCH_UNSET_BACKREF |
			PCRE2_ALLOW_EMPTY_CLASS | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C |
			(icase ? PCRE2_CASELESS : 0);
	int err;
	PCRE2_SIZE off;
	r->re = pcre2_compile((PCRE2_SPTR)pat.data, pat.len, opts, &err, &off, cc);
	pcre2_compile_context_free(cc);
	nb_buf_done(&pat);
	if (r->re) {
		r->md = pcre2_match_data_create_from_pattern(r->re, NULL);
		if (!r->md)
			abort();
	}
	return r->re ? r : NULL;
}

static int cond_regex_test(const cJSON *actual, const cJSON *expected, int icase)
{
	if (!IS_STR(expected))
		return 0;
	struct cond_rx *re = cond_regex(expected->valuestring, icase);
	if (!re)
		return 0;
	char num[40];
	const char *s;
	cond_prim p = {0};
	if (IS_STR(actual))
		s = actual->valuestring;
	else if (cond_is_null(actual))
		s = "null";
	else if (IS_BOOL(actual))
		s = IS_TRUE(actual) ? "true" : "false";
	else if (IS_NUM(actual)) {
		cond_num_str(actual->valuedouble, num, sizeof num);
		s = num;
	} else {
		cond_to_prim(actual, &p);
		s = p.str;
	}
	int r = pcre2_match(re->re, (PCRE2_SPTR)s, strlen(s), 0, 0, re->md, NULL) >= 0;
	cond_prim_done(&p);
	return r;
}

/* ---- operators ---- */

static const char *cond_type(const cJSON *v)
{
	if (cond_is_null(v))
		return "null";
	if (IS_ARR(v))
		return "array";
	if (IS_BOOL(v))
		return "boolean";
	if (IS_NUM(v))
		return "number";
	if (IS_STR(v))
		return "string";
	return "object";
}

static int cond_elem_match(const cJSON *actual, const cJSON *expected, const cJSON *groups)
{
	if (!IS_ARR(actual))
		return 0;
	int op = cond_is_operator_object(expected);
	const cJSON *c;
	cJSON_ArrayForEach(c, actual)
	{
		if (cond_is_null(c))
			continue; /* the SDK skips only null elements */
		if (op ? cond_value(expected, c, groups) : cond_object(c, expected, groups))
			return 1;
	}
	return 0;
}

static int cond_all(const cJSON *actual, const cJSON *expected, int fold, const cJSON *groups)
{
	if (!IS_ARR(actual) || !IS_ARR(expected))
		return 0;
	const cJSON *e, *a;
	cJSON_ArrayForEach(e, expected)
	{
		int passed = 0;
		cJSON_ArrayForEach(a, actual)
		{
			if (fold && IS_STR(e) ? cond_str_lower_equals(a, e->valuestring)
					      : cond_value(e, a, groups)) {
				passed = 1;
				break;
			}
		}
		if (!passed)
			return 0;
	}
	return 1;
}

/* The saved group named by key in groups (NULL when absent). */
static const cJSON *cond_group_entry(const cJSON *groups, const char *key)
{
	if (!IS_OBJ(groups))
		return NULL;
	const cJSON *g = NULL;
	for (const cJSON *c = groups->child; c; c = c->next) {
		if (c->string && !strcmp(c->string, key))
			g = c; /* JSON.parse keeps the last of duplicate keys */
	}
	return g;
}

/* The SDK's getSavedGroupArrayValues for $inGroup/$notInGroup: 1 with *vals
 * the list (NULL for an unknown id, an empty list), or 0 when the entry is
 * malformed or a condition group, which matches nobody either way. */
static int cond_group_values(const cJSON *groups, const cJSON *id, const cJSON **vals)
{
	*vals = NULL;
	char num[40];
	const char *key;
	if (IS_STR(id))
		key = id->valuestring;
	else if (cond_is_null(id))
		key = "null";
	else if (IS_BOOL(id))
		key = IS_TRUE(id) ? "true" : "false";
	else if (IS_NUM(id)) {
		cond_num_str(id->valuedouble, num, sizeof num);
		key = num;
	} else
		return 1; /* "[object Object]" or a joined array: treated as unknown */
	const cJSON *g = cond_group_entry(groups, key);
	if (!g)
		return 1;
	if (IS_ARR(g)) {
		*vals = g;
		return 1;
	}
	const cJSON *type = IS_OBJ(g) ? cJSON_GetObjectItemCaseSensitive(g, "type") : NULL;
	if (IS_STR(type) && !strcmp(type->valuestring, "list")) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(g, "values");
		if (IS_ARR(v)) {
			*vals = v;
			return 1;
		}
	}
	return 0;
}

/* The condition groups being evaluated, innermost last (the SDK's visited). */
static _Thread_local const char *cond_seen[32];
static _Thread_local int cond_nseen;

/* The SDK's $savedGroup: {"id": …, "attributeKey"?: …} naming a "list" group
 * (its values against the attribute) or a "condition" group (evaluated, with
 * seen holding the ids on the way to stop cycles). Anything else: no match. */
static int cond_saved_group(const cJSON *attrs, const cJSON *ref, const cJSON *groups)
{
	if (!IS_OBJ(ref))
		return 0;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(ref, "id");
	const cJSON *ak = cJSON_GetObjectItemCaseSensitive(ref, "attributeKey");
	if (!IS_STR(id) || cond_nseen >= 32)
		return 0;
	for (int i = 0; i < cond_nseen; i++) {
		if (!strcmp(cond_seen[i], id->valuestring))
			return 0;
	}
	if (ak && !IS_STR(ak))
		return 0;
	const cJSON *g = cond_group_entry(groups, id->valuestring);
	if (!IS_OBJ(g))
		return 0;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(g, "type");
	if (!IS_STR(type))
		return 0;
	if (!strcmp(type->valuestring, "list")) {
		const cJSON *key = ak ? ak : cJSON_GetObjectItemCaseSensitive(g, "attributeKey");
		const cJSON *vals = cJSON_GetObjectItemCaseSensitive(g, "values");
		if (!IS_STR(key) || !IS_ARR(vals))
			return 0;
		cJSON scratch;
		return cond_is_in(cond_get_path(attrs, key->valuestring, &scratch), vals, 0);
	}
	if (!strcmp(type->valuestring, "condition")) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(g, "condition");
		if (!c || !(IS_OBJ(c) || IS_ARR(c)))
			return 0;
		if (IS_ARR(c))
			return 1; /* Object.entries of [] is empty; a non-empty array is not a condition */
		cond_seen[cond_nseen++] = id->valuestring;
		int r = cond_object(attrs, c, groups);
		cond_nseen--;
		return r;
	}
	return 0;
}

enum cond_op {
	OP_UNKNOWN, OP_VEQ, OP_VNE, OP_VGT, OP_VGTE, OP_VLT, OP_VLTE, OP_EQ, OP_NE, OP_LT,
	OP_LTE, OP_GT, OP_GTE, OP_EXISTS, OP_IN, OP_INI, OP_NIN, OP_NINI, OP_INGROUP,
	OP_NOTINGROUP, OP_NOT, OP_SIZE, OP_ELEMMATCH, OP_ALL, OP_ALLI, OP_REGEX, OP_REGEXI,
	OP_TYPE,
};

static const struct {
	const char *name;
	enum cond_op op;
} cond_ops[] = {
	{"$veq", OP_VEQ}, {"$vne", OP_VNE}, {"$vgt", OP_VGT}, {"$vgte", OP_VGTE},
	{"$vlt", OP_VLT}, {"$vlte", OP_VLTE}, {"$eq", OP_EQ}, {"$ne", OP_NE},
	{"$lt", OP_LT}, {"$lte", OP_LTE}, {"$gt", OP_GT}, {"$gte", OP_GTE},
	{"$exists", OP_EXISTS}, {"$in", OP_IN}, {"$ini", OP_INI}, {"$nin", OP_NIN},
	{"$nini", OP_NINI}, {"$inGroup", OP_INGROUP}, {"$notInGroup", OP_NOTINGROUP},
	{"$not", OP_NOT}, {"$size", OP_SIZE}, {"$elemMatch", OP_ELEMMATCH}, {"$all", OP_ALL},
	{"$alli", OP_ALLI}, {"$regex", OP_REGEX}, {"$regexi", OP_REGEXI}, {"$type", OP_TYPE},
};

/* Operator name → enum; compares only names with the same second letter. */
static enum cond_op cond_op_parse(const char *name)
{
	if (name[0] != '$' || !name[1])
		return OP_UNKNOWN;
	for (size_t i = 0; i < sizeof cond_ops / sizeof cond_ops[0]; i++) {
		if (cond_ops[i].name[1] == name[1] && !strcmp(cond_ops[i].name + 2, name + 2))
			return cond_ops[i].op;
	}
	return OP_UNKNOWN;
}

static int cond_operator(const char *name, const cJSON *actual, const cJSON *expected,
			 const cJSON *groups)
{
	enum cond_op op = cond_op_parse(name);
	int c;
	const cJSON *g;
	switch (op) {
	case OP_VEQ:
		return cond_version_cmp(actual, expected) == 0;
	case OP_VNE:
		return cond_version_cmp(actual, expected) != 0;
	case OP_VGT:
		return cond_version_cmp(actual, expected) > 0;
	case OP_VGTE:
		return cond_version_cmp(actual, expected) >= 0;
	case OP_VLT:
		return cond_version_cmp(actual, expected) < 0;
	case OP_VLTE:
		return cond_version_cmp(actual, expected) <= 0;
	case OP_EQ:
		return cond_strict_eq(actual, expected, 0);
	case OP_NE:
		return !cond_strict_eq(actual, expected, 0);
	case OP_LT:
		return cond_compare(actual, expected) == -1;
	case OP_LTE:
		c = cond_compare(actual, expected);
		return c == -1 || c == 0;
	case OP_GT:
		return cond_compare(actual, expected) == 1;
	case OP_GTE:
		c = cond_compare(actual, expected);
		return c == 1 || c == 0;
	case OP_EXISTS:
		return cond_truthy(expected) ? !cond_is_null(actual) : cond_is_null(actual);
	case OP_IN:
	case OP_INI:
		return cond_is_in(actual, expected, op == OP_INI);
	case OP_NIN:
	case OP_NINI:
		return IS_ARR(expected) && !cond_is_in(actual, expected, op == OP_NINI);
	case OP_INGROUP:
		if (!cond_group_values(groups, expected, &g))
			return 0;
		return g && cond_is_in(actual, g, 0);
	case OP_NOTINGROUP:
		if (!cond_group_values(groups, expected, &g))
			return 0;
		return !g || !cond_is_in(actual, g, 0);
	case OP_NOT:
		return !cond_value(expected, actual, groups);
	case OP_SIZE: {
		if (!IS_ARR(actual))
			return 0;
		cJSON len = {.type = cJSON_Number};
		len.valuedouble = cJSON_GetArraySize(actual);
		len.valueint = (int)len.valuedouble;
		return cond_value(expected, &len, groups);
	}
	case OP_ELEMMATCH:
		return cond_elem_match(actual, expected, groups);
	case OP_ALL:
	case OP_ALLI:
		return cond_all(actual, expected, op == OP_ALLI, groups);
	case OP_REGEX:
	case OP_REGEXI:
		return cond_regex_test(actual, expected, op == OP_REGEXI);
	case OP_TYPE:
		return IS_STR(expected) && !strcmp(cond_type(actual), expected->valuestring);
	case OP_UNKNOWN:
		break;
	}
	return 0; /* unknown operator */
}

/* evalConditionValue: cond against one attribute value v (NULL = missing). */
static int cond_value(const cJSON *cond, const cJSON *v, const cJSON *groups)
{
	if (IS_STR(cond))
		return cond_str_equals(v, cond->valuestring);
	if (IS_NUM(cond))
		return cond_num(v) == cond->valuedouble;
	if (IS_BOOL(cond))
		return !cond_is_null(v) && cond_truthy(v) == IS_TRUE(cond);
	if (cond_is_null(cond))
		return cond_is_null(v);
	if (!cond_is_operator_object(cond))
		return cond_deep_eq(v, cond);
	for (const cJSON *op = cond->child; op; op = op->next) {
		if (!cond_operator(op->string, v, op, groups))
			return 0;
	}
	return 1;
}

static int cond_or(const cJSON *attrs, const cJSON *list, const cJSON *groups)
{
	if (!IS_ARR(list) || !list->child)
		return 1;
	for (const cJSON *c = list->child; c; c = c->next) {
		if (cond_object(attrs, c, groups))
			return 1;
	}
	return 0;
}

static int cond_and(const cJSON *attrs, const cJSON *list, const cJSON *groups)
{
	if (!IS_ARR(list))
		return 1;
	for (const cJSON *c = list->child; c; c = c->next) {
		if (!cond_object(attrs, c, groups))
			return 0;
	}
	return 1;
}

/* evalCondition: every key of the condition object must hold. */
static int cond_object(const cJSON *attrs, const cJSON *cond, const cJSON *groups)
{
	if (!IS_OBJ(cond))
		return cond_is_null(cond);
	for (const cJSON *k = cond->child; k; k = k->next) {
		const char *key = k->string ? k->string : "";
		int ok;
		if (key[0] != '$') {
			cJSON scratch;
			ok = cond_value(k, cond_get_path(attrs, key, &scratch), groups);
		} else if (!strcmp(key, "$or"))
			ok = cond_or(attrs, k, groups);
		else if (!strcmp(key, "$nor"))
			ok = !cond_or(attrs, k, groups);
		else if (!strcmp(key, "$and"))
			ok = cond_and(attrs, k, groups);
		else if (!strcmp(key, "$not"))
			ok = !cond_object(attrs, k, groups);
		else if (!strcmp(key, "$savedGroup"))
			ok = cond_saved_group(attrs, k, groups);
		else {
			cJSON scratch;
			ok = cond_value(k, cond_get_path(attrs, key, &scratch), groups);
		}
		if (!ok)
			return 0;
	}
	return 1;
}

int nb_eval_condition(const cJSON *condition, const cJSON *attributes, const cJSON *saved_groups)
{
	if (!condition)
		return 1;
	return cond_object(attributes, condition, saved_groups);
}
