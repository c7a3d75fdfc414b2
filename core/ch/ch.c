/* ch/ch.c — ClickHouse over HTTP (libcurl): queries, inserts, escaping, TSV
 * parsing, splitting migration files (the runner: ch/migrate.c). */
#include "neonblue/ch.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct nb_ch {
	CURL *curl;
	char *url;  /* as given, without a trailing '/' */
	char *shown; /* url for messages: a password in it replaced by *** */
	nb_buf resp;
	long total_s, connect_s;
	struct curl_slist *headers;
	nb_buf settings; /* "&name=value…" (URL-escaped) sent with every request */
};

static pthread_once_t ch_curl_once = PTHREAD_ONCE_INIT;

/* url with the password of "scheme://user:password@host" replaced by ***. */
static char *ch_url_shown(const char *url)
{
	const char *a = strstr(url, "://");
	a = a ? a + 3 : url;
	size_t n = strcspn(a, "/?#");
	const char *at = memchr(a, '@', n), *colon = at ? memchr(a, ':', (size_t)(at - a)) : NULL;
	if (!colon)
		return nb_xstrdup(url);
	nb_buf b;
	nb_buf_init(&b);
	nb_buf_append(&b, url, (size_t)(colon + 1 - url));
	nb_buf_puts(&b, "***");
	nb_buf_puts(&b, at);
	return nb_buf_steal(&b);
}

static void ch_curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

nb_ch *nb_ch_new(const char *url, nb_err *err)
{
	if (!url || !*url) {
		nb_err_set(err, NB_EINPUT, "no ClickHouse URL given (use --clickhouse URL or "
					   "NEONBLUE_CLICKHOUSE)");
		return NULL;
	}
	pthread_once(&ch_curl_once, ch_curl_init);
	nb_ch *ch = nb_xcalloc(1, sizeof *ch);
	ch->url = nb_xstrdup(url);
	size_t n = strlen(ch->url);
	while (n > 0 && ch->url[n - 1] == '/')
		ch->url[--n] = '\0';
	ch->shown = ch_url_shown(ch->url);
	ch->curl = curl_easy_init();
	if (!ch->curl) {
		nb_ch_free(ch);
		nb_err_set(err, NB_ESERVER, "cannot initialise libcurl");
		return NULL;
	}
	nb_buf_init(&ch->resp);
	nb_buf_init(&ch->settings);
	ch->total_s = 60;
	ch->connect_s = 3;
	/* No "Expect: 100-continue" round trip before large bodies. */
	ch->headers = curl_slist_append(NULL, "Expect:");
	return ch;
}

void nb_ch_free(nb_ch *ch)
{
	if (!ch)
		return;
	if (ch->curl)
		curl_easy_cleanup(ch->curl);
	curl_slist_free_all(ch->headers);
	nb_buf_done(&ch->resp);
	nb_buf_done(&ch->settings);
	free(ch->url);
	free(ch->shown);
	free(ch);
}

void nb_ch_set_timeouts(nb_ch *ch, long total_s, long connect_s)
{
	ch->total_s = total_s;
	ch->connect_s = connect_s;
}

void nb_ch_set_setting(nb_ch *ch, const char *name, const char *value)
{
	char *n = curl_easy_escape(ch->curl, name, 0), *v = curl_easy_escape(ch->curl, value, 0);
	nb_buf pat, kept;
	nb_buf_init(&pat);
	nb_buf_init(&kept);
	nb_buf_printf(&pat, "&%s=", n ? n : "");
	/* the others as they were, then this one */
	const char *p = ch->settings.data ? ch->settings.data : "";
	while (*p) {
		size_t len = strcspn(p + 1, "&") + 1;
		if (len < pat.len || strncmp(p, pat.data, pat.len))
			nb_buf_append(&kept, p, len);
		p += len;
	}
	nb_buf_printf(&kept, "%s%s", pat.data, v ? v : "");
	nb_buf_done(&ch->settings);
	ch->settings = kept;
	nb_buf_done(&pat);
	curl_free(n);
	curl_free(v);
}

static size_t ch_write_cb(char *p, size_t size, size_t n, void *ud)
{
	nb_buf_append(ud, p, size * n);
	return size * n;
}

/* The request URL: base (with "/" when it has no path), then the settings
 * and "query=…" as its query string ("?" or, when the base already has a
 * query string, "&"). */
static char *ch_url_with_query(nb_ch *ch, const char *query)
{
	nb_buf u;
	nb_buf_init(&u);
	nb_buf_puts(&u, ch->url);
	const char *hp = strstr(ch->url, "://");
	int has_q = strchr(ch->url, '?') != NULL;
	if (!has_q && hp && !strchr(hp + 3, '/'))
		nb_buf_putc(&u, '/');
	nb_buf params;
	nb_buf_init(&params);
	if (ch->settings.len)
		nb_buf_puts(&params, ch->settings.data);
	if (query) {
		char *enc = curl_easy_escape(ch->curl, query, 0);
		nb_buf_puts(&params, "&query=");
		nb_buf_puts(&params, enc ? enc : "");
		curl_free(enc);
	}
	if (params.len) {
		nb_buf_putc(&u, has_q ? '&' : '?');
		nb_buf_puts(&u, params.data + 1);
	}
	nb_buf_done(&params);
	return nb_buf_steal(&u);
}

/* ClickHouse's message, first line(s) only, without the trailing newline. */
static void ch_server_error(nb_ch *ch, long status, nb_err *err)
{
	char *m = ch->resp.data ? ch->resp.data : "";
	size_t n = strlen(m);
	while (n && (m[n - 1] == '\n' || m[n - 1] == '\r' || m[n - 1] == ' '))
		n--;
	if (n > 700)
		n = 700;
	nb_err_set(err, NB_ESERVER, "ClickHouse at %s answered HTTP %ld: %.*s", ch->shown, status,
		   (int)n, m);
}

static int ch_post(nb_ch *ch, const char *query, const char *body, size_t len, nb_buf *out,
		   nb_err *err)
{
	char *url = ch_url_with_query(ch, query);
	CURL *c = ch->curl;
	nb_buf_reset(&ch->resp);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, ch->headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ch_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out ? out : &ch->resp);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, ch->total_s);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, ch->connect_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	size_t out_start = out ? out->len : 0;
	CURLcode rc = curl_easy_perform(c);
	free(url);
	if (rc != CURLE_OK) {
		if (out) {
			out->len = out_start;
			if (out->data)
				out->data[out_start] = '\0';
		}
		return nb_err_set(err, NB_ESERVER, "cannot reach ClickHouse at %s: %s", ch->shown,
				  curl_easy_strerror(rc));
	}
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		if (out) { /* the error text went to out: move it where we report from */
			nb_buf_reset(&ch->resp);
			nb_buf_append(&ch->resp, out->data + out_start, out->len - out_start);
			out->len = out_start;
			out->data[out_start] = '\0';
		}
		ch_server_error(ch, status, err);
		return -1;
	}
	return 0;
}

/* NEONBLUE_TRACE_SQL=1: every query's wall time and text on stderr. */
int nb_ch_query(nb_ch *ch, const char *sql, nb_buf *out, nb_err *err)
{
	const char *trace = getenv("NEONBLUE_TRACE_SQL");
	if (!trace || strcmp(trace, "1"))
		return ch_post(ch, NULL, sql, strlen(sql), out, err);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = ch_post(ch, NULL, sql, strlen(sql), out, err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "clickhouse: %.1f ms%s: %s\n",
		(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
		rc < 0 ? " (failed)" : "", sql);
	return rc;
}

int nb_ch_insert(nb_ch *ch, const char *insert_sql, const char *data, size_t len, nb_err *err)
{
	return ch_post(ch, insert_sql, data ? data : "", data ? len : 0, NULL, err);
}

int nb_ch_scalar(nb_ch *ch, const char *sql, char **out, nb_err *err)
{
	nb_buf b;
	nb_buf_init(&b);
	*out = NULL;
	if (nb_ch_query(ch, sql, &b, err) < 0) {
		nb_buf_done(&b);
		return -1;
	}
	nb_ch_rows r;
	int rc = nb_ch_tsv_parse(b.data ? b.data : "", b.len, &r, err);
	nb_buf_done(&b);
	if (rc < 0)
		return -1;
	*out = nb_xstrdup(r.nrows && r.ncols ? nb_ch_cell(&r, 0, 0) : "");
	nb_ch_rows_done(&r);
	return 0;
}

/* ---- escaping ---- */

static void ch_escape_char(nb_buf *b, unsigned char c, char quote)
{
	switch (c) {
	case '\\': nb_buf_puts(b, "\\\\"); return;
	case '\n': nb_buf_puts(b, "\\n"); return;
	case '\t': nb_buf_puts(b, "\\t"); return;
	case '\r': nb_buf_puts(b, "\\r"); return;
	case '\b': nb_buf_puts(b, "\\b"); return;
	case '\f': nb_buf_puts(b, "\\f"); return;
	case '\0': nb_buf_puts(b, "\\0"); return;
	default: break;
	}
	if (quote && c == (unsigned char)quote) {
		nb_buf_putc(b, '\\');
		nb_buf_putc(b, (char)c);
		return;
	}
	nb_buf_putc(b, (char)c);
}

void nb_ch_escape(nb_buf *b, const char *s, size_t len, enum nb_ch_esc kind)
{
	char quote = kind == NB_CH_STRING ? '\'' : kind == NB_CH_IDENT ? '`' : 0;
	nb_buf_reserve(b, len + 2);
	if (quote)
		nb_buf_putc(b, quote);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		/* fast path for the common bytes */
		if (c >= 0x20 && c != '\\' && c != (unsigned char)quote) {
			b->data[b->len++] = (char)c;
			if (b->len + 4 > b->cap)
				nb_buf_reserve(b, len - i + 4);
			continue;
		}
		b->data[b->len] = '\0';
		ch_escape_char(b, c, quote);
	}
	if (b->data)
		b->data[b->len] = '\0';
	if (quote)
		nb_buf_putc(b, quote);
}

/* ---- TSV parsing ---- */

static int ch_unescape_field(const char *s, size_t n, nb_buf *out, int *is_null)
{
	*is_null = n == 2 && s[0] == '\\' && s[1] == 'N';
	if (*is_null)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\') {
			nb_buf_putc(out, s[i]);
			continue;
		}
		if (++i >= n)
			return -1;
		switch (s[i]) {
		case 'n': nb_buf_putc(out, '\n'); break;
		case 't': nb_buf_putc(out, '\t'); break;
		case 'r': nb_buf_putc(out, '\r'); break;
		case 'b': nb_buf_putc(out, '\b'); break;
		case 'f': nb_buf_putc(out, '\f'); break;
		case '0': nb_buf_putc(out, '\0'); break;
		case 'a': nb_buf_putc(out, '\a'); break;
		case 'v': nb_buf_putc(out, '\v'); break;
		default: nb_buf_putc(out, s[i]); break; /* \\ \' \" and others */
		}
	}
	return 0;
}

void nb_ch_rows_done(nb_ch_rows *rows)
{
	for (size_t i = 0; i < rows->nrows * rows->ncols; i++)
		free(rows->cells[i]);
	free(rows->cells);
	free(rows->is_null);
	memset(rows, 0, sizeof *rows);
}

int nb_ch_tsv_parse(const char *text, size_t len, nb_ch_rows *rows, nb_err *err)
{
	memset(rows, 0, sizeof *rows);
	size_t cap = 0, line = 0;
	const char *p = text, *end = text + len;
	nb_buf f;
	nb_buf_init(&f);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		line++;
		size_t nf = 1;
		for (const char *q = p; q < eol; q++)
			nf += *q == '\t';
		if (rows->nrows == 0)
			rows->ncols = nf;
		if (nf != rows->ncols) {
			nb_buf_done(&f);
			nb_ch_rows_done(rows);
			return nb_err_set(err, NB_ESERVER,
					  "ClickHouse result line %zu has %zu fields, expected %zu",
					  line, nf, nf == 0 ? 0 : rows->ncols);
		}
		if ((rows->nrows + 1) * rows->ncols > cap) {
			cap = cap ? cap * 2 : 16 * rows->ncols;
			rows->cells = nb_xrealloc(rows->cells, cap * sizeof *rows->cells);
			rows->is_null = nb_xrealloc(rows->is_null, cap);
		}
		const char *fs = p;
		for (size_t k = 0; k < nf; k++) {
			const char *fe = memchr(fs, '\t', (size_t)(eol - fs));
			if (!fe)
				fe = eol;
			int isnull;
			nb_buf_reset(&f);
			nb_buf_putc(&f, 0);
			f.len = 0;
			size_t at = rows->nrows * rows->ncols + k;
			if (ch_unescape_field(fs, (size_t)(fe - fs), &f, &isnull) < 0) {
				rows->nrows++; /* cells before `at` are set; free them */
				for (size_t j = k; j < rows->ncols; j++)
					rows->cells[rows->nrows * rows->ncols - rows->ncols + j] =
						NULL;
				nb_buf_done(&f);
				nb_ch_rows_done(rows);
				return nb_err_set(err, NB_ESERVER,
						  "ClickHouse result line %zu ends in a lone backslash",
						  line);
			}
			rows->cells[at] = nb_xstrdup(f.data ? f.data : "");
			rows->is_null[at] = (unsigned char)isnull;
			fs = fe + 1;
		}
		rows->nrows++;
		p = eol + 1;
	}
	nb_buf_done(&f);
	return 0;
}

/* ---- splitting migration files ---- */

static void ch_split_push(const char *s, size_t n, char ***out, size_t *count, size_t *cap)
{
	for (;;) { /* leading blanks and -- comment lines */
		while (n && strchr(" \t\r\n", *s))
			s++, n--;
		if (n < 2 || s[0] != '-' || s[1] != '-')
			break;
		while (n && *s != '\n')
			s++, n--;
	}
	while (n && strchr(" \t\r\n", s[n - 1]))
		n--;
	/* a statement made only of comments is no statement */
	int has_code = 0;
	for (size_t i = 0; i < n && !has_code;) {
		if (s[i] == '-' && i + 1 < n && s[i + 1] == '-') {
			while (i < n && s[i] != '\n')
				i++;
		} else if (!strchr(" \t\r\n", s[i])) {
			has_code = 1;
		} else {
			i++;
		}
	}
	if (!has_code)
		return;
	if (*count == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*out = nb_xrealloc(*out, *cap * sizeof **out);
	}
	char *st = nb_xmalloc(n + 1);
	memcpy(st, s, n);
	st[n] = '\0';
	(*out)[(*count)++] = st;
}

size_t nb_ch_split_sql(const char *sql, char ***out)
{
	size_t count = 0, cap = 0;
	*out = NULL;
	const char *start = sql, *p = sql;
	while (*p) {
		if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");
			p = e ? e + 2 : p + strlen(p);
		} else if (*p == '\'' || *p == '`' || *p == '"') {
			char q = *p++;
			while (*p && *p != q)
				p += (*p == '\\' && p[1]) ? 2 : 1;
			if (*p)
				p++;
		} else if (*p == ';') {
			ch_split_push(start, (size_t)(p - start), out, &count, &cap);
			start = ++p;
		} else {
			p++;
		}
	}
	ch_split_push(start, (size_t)(p - start), out, &count, &cap);
	return count;
}

void nb_ch_split_free(char **stmts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(stmts[i]);
	free(stmts);
}
