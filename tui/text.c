/* text.c — the text under every widget and view (see widgets.h): the style
 * (w_cur), number and duration formatting, UTF-8 strings (copy, width,
 * fitting, ASCII transliteration) and w_put. */
#include "widgets.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

w_style w_cur;

void w_style_mono(w_style *s, int ascii)
{
	memset(s, 0, sizeof *s);
	s->attr[R_HEADER] = A_REVERSE;
	s->attr[R_FOOTER] = A_REVERSE;
	s->attr[R_TITLE] = A_BOLD;
	s->attr[R_SELECT] = A_REVERSE;
	s->attr[R_GOOD] = A_BOLD;
	s->attr[R_BAD] = A_BOLD | A_UNDERLINE;
	s->attr[R_WARN] = A_UNDERLINE;
	s->attr[R_DIM] = A_DIM;
	s->attr[R_ACCENT] = A_BOLD;
	s->ascii = ascii;
}

/* ------------------------------------------------------------ formatting */

static void group_digits(char *out, size_t n, const char *digits, int neg)
{
	size_t len = strlen(digits), o = 0;
	char tmp[96];
	if (neg)
		tmp[o++] = '-';
	for (size_t i = 0; i < len && o + 2 < sizeof tmp; i++) {
		if (i && (len - i) % 3 == 0)
			tmp[o++] = ',';
		tmp[o++] = digits[i];
	}
	tmp[o] = '\0';
	snprintf(out, n, "%s", tmp);
}

void w_fmt_int(char *out, size_t n, long long v)
{
	char d[32];
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	snprintf(d, sizeof d, "%llu", u);
	group_digits(out, n, d, v < 0);
}

static const char *dash(void)
{
	return w_cur.ascii ? "-" : "–";
}

void w_fmt_num(char *out, size_t n, double v, int decimals)
{
	if (!isfinite(v)) {
		snprintf(out, n, "%s", dash());
		return;
	}
	char raw[64], ip[64];
	snprintf(raw, sizeof raw, "%.*f", decimals, fabs(v));
	const char *dot = strchr(raw, '.');
	size_t il = dot ? (size_t)(dot - raw) : strlen(raw);
	memcpy(ip, raw, il);
	ip[il] = '\0';
	int neg = v < 0 && strspn(raw, "0.") != strlen(raw);
	char g[96];
	group_digits(g, sizeof g, ip, neg);
	snprintf(out, n, "%s%s", g, dot ? dot : "");
}

void w_fmt_pct(char *out, size_t n, double v, int decimals)
{
	if (!isfinite(v)) {
		snprintf(out, n, "%s", dash());
		return;
	}
	char t[64];
	w_fmt_num(t, sizeof t, v * 100.0, decimals);
	snprintf(out, n, "%s%%", t);
}

void w_fmt_age(char *out, size_t n, double s)
{
	if (!isfinite(s) || s < 0)
		snprintf(out, n, "%s", dash());
	else if (s < 60)
		snprintf(out, n, "%.0fs", floor(s));
	else if (s < 3600)
		snprintf(out, n, "%.0fm", floor(s / 60));
	else if (s < 86400)
		snprintf(out, n, "%.0fh", floor(s / 3600));
	else
		snprintf(out, n, "%.0fd", floor(s / 86400));
}

void w_fmt_p(char *out, size_t n, double p)
{
	if (!isfinite(p))
		snprintf(out, n, "%s", dash());
	else if (p < 0.0001)
		snprintf(out, n, "<0.0001");
	else
		snprintf(out, n, "%.4f", p);
}

/* --------------------------------------------------------------- strings */

void w_copy(char *dst, size_t n, const char *src)
{
	if (n == 0)
		return;
	size_t l = strlen(src);
	if (l >= n) {
		l = n - 1;
		while (l > 0 && ((unsigned char)src[l] & 0xC0) == 0x80)
			l--;
	}
	memcpy(dst, src, l);
	dst[l] = '\0';
}

/* Decodes one UTF-8 character; returns its byte length (1 for bad bytes). */
int w_u8_next(const char *s, wchar_t *wc)
{
	if ((unsigned char)*s < 0x80) { /* ASCII, most of the text: no mbrtowc */
		*wc = (unsigned char)*s;
		return 1;
	}
	mbstate_t st;
	memset(&st, 0, sizeof st);
	size_t r = mbrtowc(wc, s, MB_CUR_MAX, &st);
	if (r == (size_t)-1 || r == (size_t)-2 || r == 0) {
		*wc = (unsigned char)*s;
		return 1;
	}
	return (int)r;
}

/* Display columns of one character (1 for unprintable ones). */
int w_wc_cols(wchar_t wc)
{
	if (wc >= 0x20 && wc < 0x7f)
		return 1;
	int c = wcwidth(wc);
	return c < 0 ? 1 : c;
}

int w_strwidth(const char *s)
{
	int w = 0;
	while (*s) {
		wchar_t wc;
		s += w_u8_next(s, &wc);
		w += w_wc_cols(wc);
	}
	return w;
}

/* --ascii: the few non-ASCII characters the dashboard writes, spelled in ASCII. */
static const char *const translit[][2] = {
	{"…", "..."}, {"—", "-"}, {"–", "-"}, {"→", "->"}, {"›", ">"}, {"●", "o"},
	{"✗", "x"},   {"✓", "ok"}, {"★", "*"}, {"◐", "~"}, {"χ²", "chi2"}, {"×", "x"},
	{"±", "+-"},  {"├", "["}, {"┤", "]"}, {"─", "-"}, {"┼", "+"},  {"┊", ":"},
	{"░", "."},   {"▒", ":"}, {"▓", "o"}, {"█", "#"}, {"▁", "_"}, {"▂", "."},
	{"▃", ","},   {"▄", "-"}, {"▅", "="}, {"▆", "+"}, {"▇", "*"}, {"▲", "^"},
	{"▼", "v"},
};

static void to_ascii(char *out, size_t n, const char *s)
{
	size_t o = 0;
	while (*s && o + 5 < n) {
		if ((unsigned char)*s < 0x80) {
			out[o++] = *s++;
			continue;
		}
		const char *rep = "?";
		size_t skip = 0;
		for (size_t i = 0; i < sizeof translit / sizeof translit[0]; i++) {
			size_t l = strlen(translit[i][0]);
			if (!strncmp(s, translit[i][0], l)) {
				rep = translit[i][1];
				skip = l;
				break;
			}
		}
		if (!skip) { /* an unknown character: one '?' for all its bytes */
			skip = 1;
			while ((s[skip] & 0xC0) == 0x80)
				skip++;
		}
		for (; *rep && o + 1 < n; rep++)
			out[o++] = *rep;
		s += skip;
	}
	out[o] = '\0';
}

void w_fit(char *out, size_t n, const char *s, int width)
{
	char ascii[4096];
	if (w_cur.ascii) {
		to_ascii(ascii, sizeof ascii, s);
		s = ascii;
	}
	if (n == 0)
		return;
	if (width <= 0) {
		out[0] = '\0';
		return;
	}
	int full = w_strwidth(s) <= width;
	int limit = full ? width : width - 1;
	size_t o = 0;
	int w = 0;
	while (*s) {
		wchar_t wc;
		int len = w_u8_next(s, &wc);
		int cw = w_wc_cols(wc);
		if (w + cw > limit || o + (size_t)len + 4 >= n)
			break;
		memcpy(out + o, s, (size_t)len);
		o += (size_t)len;
		w += cw;
		s += len;
	}
	if (!full) {
		const char *ell = w_cur.ascii ? "~" : "…";
		size_t el = strlen(ell);
		if (o + el < n) {
			memcpy(out + o, ell, el);
			o += el;
		}
	}
	out[o] = '\0';
}

void w_put(WINDOW *w, int y, int x, int width, const char *s, int pad)
{
	if (width <= 0)
		return;
	char buf[4096];
	w_fit(buf, sizeof buf - 512, s, width);
	if (pad) {
		size_t l = strlen(buf);
		for (int i = w_strwidth(buf); i < width && l + 1 < sizeof buf; i++)
			buf[l++] = ' ';
		buf[l] = '\0';
	}
	mvwaddstr(w, y, x, buf);
}
