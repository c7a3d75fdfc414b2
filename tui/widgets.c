/* widgets.c — the dashboard's shared widgets (see widgets.h): sparkline,
 * bar, interval plot, heat map, status bar, table, form, confirm dialog;
 * the text they are made of is text.c's. */
#include "widgets.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* ------------------------------------------------------------- sparkline */

static const char *const spark_u8[8] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
static const char spark_ascii[8] = {'_', '.', ',', '-', '=', '+', '*', '#'};

int w_spark_str(char *out, size_t n, const double *v, int nv, int width)
{
	size_t o = 0;
	out[0] = '\0';
	if (width <= 0 || nv <= 0)
		return 0;
	int first = nv > width ? nv - width : 0;
	double max = 0;
	for (int i = first; i < nv; i++)
		if (isfinite(v[i]) && v[i] > max)
			max = v[i];
	int cols = 0;
	for (int i = first; i < nv; i++) {
		int lvl = 0;
		if (isfinite(v[i]) && max > 0 && v[i] > 0)
			lvl = 1 + (int)floor(v[i] / max * 6.999);
		if (lvl > 7)
			lvl = 7;
		const char *g = w_cur.ascii ? NULL : spark_u8[lvl];
		size_t gl = g ? strlen(g) : 1;
		if (o + gl + 1 >= n)
			break;
		if (g)
			memcpy(out + o, g, gl);
		else
			out[o] = spark_ascii[lvl];
		o += gl;
		cols++;
	}
	out[o] = '\0';
	return cols;
}

void w_sparkline(WINDOW *w, int y, int x, int width, const double *v, int nv)
{
	char buf[4096];
	w_spark_str(buf, sizeof buf, v, nv, width);
	wattron(w, w_attr(R_ACCENT));
	mvwaddstr(w, y, x, buf);
	wattroff(w, w_attr(R_ACCENT));
}

/* ------------------------------------------------------------------- bar */

void w_bar(WINDOW *w, int y, int x, int width, double frac, enum w_role role)
{
	if (!isfinite(frac) || frac < 0)
		frac = 0;
	if (frac > 1)
		frac = 1;
	int full = (int)floor(frac * width + 1e-9);
	wmove(w, y, x);
	wattron(w, w_attr(role));
	for (int i = 0; i < full; i++)
		waddstr(w, w_cur.ascii ? "#" : "█");
	wattroff(w, w_attr(role));
	wattron(w, w_attr(R_DIM));
	for (int i = full; i < width; i++)
		waddstr(w, w_cur.ascii ? "." : "░");
	wattroff(w, w_attr(R_DIM));
}

/* -------------------------------------------------------- interval plot */

static int scale_col(double v, double span, int width)
{
	double f = (v + span) / (2 * span);
	int c = (int)lround(f * (width - 1));
	return c < 0 ? 0 : c >= width ? width - 1 : c;
}

void w_interval_str(char *out, size_t n, double lo, double mid, double hi, double span,
		    int width)
{
	const char *cell[256];
	if (width > 255)
		width = 255;
	if (width < 3 || !(span > 0)) {
		snprintf(out, n, "%s", "");
		return;
	}
	int a = w_cur.ascii;
	for (int i = 0; i < width; i++)
		cell[i] = " ";
	int z = scale_col(0, span, width);
	cell[z] = a ? ":" : "┊";
	if (isfinite(lo) && isfinite(hi) && isfinite(mid)) {
		int l = scale_col(lo, span, width), h = scale_col(hi, span, width);
		int m = scale_col(mid, span, width);
		for (int i = l; i <= h; i++)
			cell[i] = i == z ? (a ? "+" : "┼") : (a ? "-" : "─");
		cell[l] = a ? "[" : "├";
		cell[h] = a ? "]" : "┤";
		cell[m] = a ? "o" : "●";
	}
	size_t o = 0;
	for (int i = 0; i < width; i++) {
		size_t l = strlen(cell[i]);
		if (o + l + 1 >= n)
			break;
		memcpy(out + o, cell[i], l);
		o += l;
	}
	out[o] = '\0';
}

void w_interval(WINDOW *w, int y, int x, int width, double lo, double mid, double hi,
		double span)
{
	char buf[1024];
	w_interval_str(buf, sizeof buf, lo, mid, hi, span, width);
	enum w_role r = lo > 0 ? R_GOOD : hi < 0 ? R_BAD : R_NORMAL;
	wattron(w, w_attr(r));
	mvwaddstr(w, y, x, buf);
	wattroff(w, w_attr(r));
}

/* -------------------------------------------------------------- heat map */

const char *w_heat_glyph(double v)
{
	static const char *const u8[5] = {" ", "░", "▒", "▓", "█"};
	static const char *const as[5] = {" ", ".", ":", "o", "#"};
	if (!isfinite(v))
		return " ";
	int lvl = v <= 0 ? 0 : v >= 1 ? 4 : 1 + (int)floor(v * 3.999);
	return w_cur.ascii ? as[lvl] : u8[lvl];
}

void w_heatmap(WINDOW *w, int y, int x, const double *v, int rows, int cols, int cellw)
{
	for (int r = 0; r < rows; r++) {
		wmove(w, y + r, x);
		for (int c = 0; c < cols; c++) {
			double val = v[r * cols + c];
			const char *g = w_heat_glyph(val);
			enum w_role role = !isfinite(val) ? R_DIM : val >= 0.5 ? R_GOOD : R_NORMAL;
			wattron(w, w_attr(role));
			if (cellw >= 5 && isfinite(val)) {
				/* shade, then the percentage: readable without colour */
				char num[16];
				snprintf(num, sizeof num, "%*.0f ", cellw - 2, val * 100);
				waddstr(w, g);
				waddstr(w, num);
			} else {
				for (int i = 0; i < cellw - 1; i++)
					waddstr(w, g);
				waddstr(w, " ");
			}
			wattroff(w, w_attr(role));
		}
	}
}

/* ------------------------------------------------------------ status bar */

void w_statusbar(WINDOW *w, int y, const char *left, const char *right, enum w_role role)
{
	int W = getmaxx(w);
	int rw = right ? w_strwidth(right) : 0;
	if (rw > W)
		rw = W;
	wattron(w, w_attr(role));
	w_put(w, y, 0, W - rw, left ? left : "", 1);
	if (rw)
		w_put(w, y, W - rw, rw, right, 1);
	wattroff(w, w_attr(role));
}

/* ----------------------------------------------------------------- table */

void w_table_init(w_table *t, const w_col *cols, int ncols)
{
	memset(t, 0, sizeof *t);
	t->cols = cols;
	t->ncols = ncols;
	t->sort_col = -1;
}

static void row_free(w_table *t, w_row *r)
{
	for (int i = 0; i < t->ncols; i++)
		free(r->cells[i]);
	free(r->cells);
	free(r->num);
}

void w_table_clear(w_table *t)
{
	w_row *s = w_table_selected(t);
	if (s)
		snprintf(t->sel_key, sizeof t->sel_key, "%s", s->cells[0]);
	for (int i = 0; i < t->nrows; i++)
		row_free(t, &t->rows[i]);
	t->nrows = 0;
	t->nvis = 0;
}

void w_table_done(w_table *t)
{
	w_table_clear(t);
	free(t->rows);
	free(t->vis);
	memset(t, 0, sizeof *t);
}

static double parse_num(const char *s)
{
	char b[64];
	size_t o = 0;
	for (; *s && o + 1 < sizeof b; s++)
		if (isdigit((unsigned char)*s) || *s == '.' || *s == '-' || *s == 'e' || *s == '+')
			b[o++] = *s;
		else if (*s != ',' && *s != '%' && *s != ' ')
			break;
	b[o] = '\0';
	char *end;
	double v = strtod(b, &end);
	return o && end != b ? v : NAN;
}

w_row *w_table_add(w_table *t, const char *const *cells, const double *num)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->rows = realloc(t->rows, (size_t)t->cap * sizeof *t->rows);
		t->vis = realloc(t->vis, (size_t)t->cap * sizeof *t->vis);
		if (!t->rows || !t->vis)
			abort();
	}
	w_row *r = &t->rows[t->nrows++];
	memset(r, 0, sizeof *r);
	r->cells = calloc((size_t)t->ncols, sizeof *r->cells);
	r->num = calloc((size_t)t->ncols, sizeof *r->num);
	if (!r->cells || !r->num)
		abort();
	for (int i = 0; i < t->ncols; i++) {
		r->cells[i] = strdup(cells[i] ? cells[i] : "");
		if (!r->cells[i])
			abort();
		r->num[i] = num ? num[i] : parse_num(r->cells[i]);
	}
	return r;
}

static int row_matches(const w_table *t, const w_row *r)
{
	if (!t->filter[0])
		return 1;
	int hit = 0;
	for (int i = 0; i < t->ncols && !hit; i++)
		hit = strcasestr(r->cells[i], t->filter) != NULL;
	return t->invert ? !hit : hit;
}

static int row_cmp(const void *a, const void *b, void *ud)
{
	const w_table *t = ud;
	int ia = *(const int *)a, ib = *(const int *)b;
	const w_row *ra = &t->rows[ia], *rb = &t->rows[ib];
	int c = 0, k = t->sort_col;
	if (k >= 0 && t->cols[k].numeric) {
		double x = ra->num[k], y = rb->num[k];
		int nx = isnan(x), ny = isnan(y);
		c = nx || ny ? nx - ny : (x > y) - (x < y);
		if (nx || ny)
			return c ? c : (ia > ib) - (ia < ib); /* NaN last either way */
	} else if (k >= 0) {
		c = strcasecmp(ra->cells[k], rb->cells[k]);
	}
	if (t->sort_desc)
		c = -c;
	return c ? c : (ia > ib) - (ia < ib);
}

void w_table_update(w_table *t)
{
	w_row *old = w_table_selected(t);
	if (old && old >= t->rows && old < t->rows + t->nrows)
		snprintf(t->sel_key, sizeof t->sel_key, "%s", old->cells[0]);
	t->nvis = 0;
	for (int i = 0; i < t->nrows; i++)
		if (row_matches(t, &t->rows[i]))
			t->vis[t->nvis++] = i;
	if (t->sort_col >= 0)
		qsort_r(t->vis, (size_t)t->nvis, sizeof *t->vis, row_cmp, t);
	t->sel = 0;
	for (int i = 0; i < t->nvis; i++)
		if (t->sel_key[0] && !strcmp(t->rows[t->vis[i]].cells[0], t->sel_key)) {
			t->sel = i;
			break;
		}
}

void w_table_set_filter(w_table *t, const char *f)
{
	t->invert = f[0] == '!';
	snprintf(t->filter, sizeof t->filter, "%s", t->invert ? f + 1 : f);
	w_table_update(t);
}

void w_table_sort(w_table *t, int col)
{
	if (col >= t->ncols)
		col = t->ncols - 1;
	if (col == t->sort_col && col >= 0)
		t->sort_desc = !t->sort_desc;
	else {
		t->sort_col = col;
		/* numbers read best largest first */
		t->sort_desc = col >= 0 && t->cols[col].numeric;
	}
	w_table_update(t);
}

static void keep_key(w_table *t)
{
	w_row *r = w_table_selected(t);
	if (r)
		snprintf(t->sel_key, sizeof t->sel_key, "%s", r->cells[0]);
}

void w_table_move(w_table *t, int delta)
{
	t->sel += delta;
	if (t->sel >= t->nvis)
		t->sel = t->nvis - 1;
	if (t->sel < 0)
		t->sel = 0;
	keep_key(t);
}

void w_table_home(w_table *t)
{
	t->sel = 0;
	keep_key(t);
}

void w_table_end(w_table *t)
{
	t->sel = t->nvis ? t->nvis - 1 : 0;
	keep_key(t);
}

int w_table_letter_col(const w_table *t, int ch)
{
	if (ch < 'A' || ch > 'Z')
		return -1;
	for (int i = 0; i < t->ncols; i++)
		if (t->cols[i].letter == ch)
			return i;
	return -1;
}

int w_col_letter_at(const w_col *c)
{
	if (!c->letter)
		return -1;
	for (const char *p = c->title; *p; p++)
		if (toupper((unsigned char)*p) == c->letter)
			return (int)(p - c->title);
	return -1;
}

void w_table_scroll(w_table *t, int rows)
{
	if (t->sel < t->top)
		t->top = t->sel;
	if (t->sel >= t->top + rows)
		t->top = t->sel - rows + 1;
	if (t->top > t->nvis - rows)
		t->top = t->nvis - rows > 0 ? t->nvis - rows : 0;
	if (t->top < 0)
		t->top = 0;
}

w_row *w_table_selected(w_table *t)
{
	if (t->sel < 0 || t->sel >= t->nvis)
		return NULL;
	return &t->rows[t->vis[t->sel]];
}

/* Column widths for the available width: minimums, dropping the columns
 * marked hideable (highest first) until the rest fit; the spare width goes
 * to the last visible column. */
void w_table_widths(const w_table *t, int width, int *cw)
{
	int used = 0;
	for (int i = 0; i < t->ncols; i++) {
		cw[i] = t->cols[i].width;
		used += cw[i] + 1;
	}
	used--;
	while (used > width) {
		int worst = -1;
		for (int i = 0; i < t->ncols; i++)
			if (cw[i] && t->cols[i].hide && (worst < 0 || t->cols[i].hide > t->cols[worst].hide))
				worst = i;
		if (worst < 0)
			break;
		used -= cw[worst] + 1;
		cw[worst] = 0;
	}
	int last = t->ncols - 1;
	while (last > 0 && !cw[last])
		last--;
	if (used < width)
		cw[last] += width - used;
}

void w_cat_cell(char *line, size_t n, size_t *o, const char *s, int width, enum w_align al)
{
	char buf[1024];
	w_fit(buf, sizeof buf, s, width);
	int pad = width - w_strwidth(buf);
	size_t bl = strlen(buf);
	if (*o + bl + (size_t)(pad > 0 ? pad : 0) + 2 >= n)
		return;
	if (al == W_RIGHT)
		for (; pad > 0; pad--)
			line[(*o)++] = ' ';
	memcpy(line + *o, buf, bl);
	*o += bl;
	for (; pad > 0; pad--)
		line[(*o)++] = ' ';
	line[*o] = '\0';
}

static void draw_cell(WINDOW *w, int y, int x, int width, const char *s, enum w_align al)
{
	if (width <= 0)
		return;
	int sw = w_strwidth(s);
	if (al == W_RIGHT && sw < width) {
		for (int i = 0; i < width - sw; i++)
			mvwaddch(w, y, x + i, ' ');
		w_put(w, y, x + width - sw, sw, s, 0);
	} else {
		w_put(w, y, x, width, s, 1);
	}
}

/* Underlines the sort letter of a header cell h drawn at (y,cx) in wd
 * columns (reverse video when the title role is underlined already), so the
 * letter shows in every theme, with NO_COLOR and with --ascii. */
static void header_letter(WINDOW *w, int y, int cx, int wd, const char *h, const w_col *c)
{
	int at = w_col_letter_at(c);
	int hw = w_strwidth(h);
	if (at < 0 || hw > wd)
		return; /* cut titles keep no mark */
	char pre[128];
	snprintf(pre, sizeof pre, "%.*s", at, h);
	int lx = cx + w_strwidth(pre) + (c->align == W_RIGHT ? wd - hw : 0);
	attr_t base = w_attr(R_TITLE);
	attr_t mark = base & A_UNDERLINE ? A_REVERSE : A_UNDERLINE;
	mvwchgat(w, y, lx, 1, (base & ~A_COLOR) | mark, (short)PAIR_NUMBER(base), NULL);
}

void w_table_draw(w_table *t, WINDOW *w, int y, int x, int height, int width)
{
	int cw[64];
	if (t->ncols > 64 || height < 1)
		return;
	w_table_widths(t, width, cw);
	/* header */
	wattron(w, w_attr(R_TITLE));
	int cx = x;
	for (int i = 0; i < t->ncols && cx < x + width; i++) {
		if (!cw[i])
			continue;
		char h[128];
		const char *mark = "";
		if (i == t->sort_col)
			mark = t->sort_desc ? (w_cur.ascii ? "v" : "▼") : (w_cur.ascii ? "^" : "▲");
		snprintf(h, sizeof h, "%s%s", t->cols[i].title, mark);
		int wd = cw[i] < x + width - cx ? cw[i] : x + width - cx;
		draw_cell(w, y, cx, wd, h, t->cols[i].align);
		header_letter(w, y, cx, wd, h, &t->cols[i]);
		cx += cw[i] + 1;
	}
	wattroff(w, w_attr(R_TITLE));
	int body = height - 1;
	w_table_scroll(t, body);
	for (int r = 0; r < body; r++) {
		int vi = t->top + r;
		wmove(w, y + 1 + r, x);
		if (vi >= t->nvis) {
			for (int i = 0; i < width; i++)
				waddch(w, ' ');
			continue;
		}
		w_row *row = &t->rows[t->vis[vi]];
		attr_t a = vi == t->sel ? w_attr(R_SELECT) : w_attr(row->role);
		/* one string per row: a single waddstr instead of one per cell */
		char line[4096];
		size_t o = 0;
		line[0] = '\0';
		int first = 1;
		for (int i = 0; i < t->ncols; i++) {
			if (!cw[i])
				continue;
			if (!first)
				w_cat_cell(line, sizeof line, &o, " ", 1, W_LEFT);
			w_cat_cell(line, sizeof line, &o, row->cells[i], cw[i], t->cols[i].align);
			first = 0;
		}
		wattron(w, a);
		w_put(w, y + 1 + r, x, width, line, 1);
		wattroff(w, a);
	}
}

/* ------------------------------------------------------------------ form */

void w_form_validate(w_form *f)
{
	for (int i = 0; i < f->nfields; i++) {
		w_field *fl = &f->fields[i];
		fl->why[0] = '\0';
		fl->ok = fl->valid ? fl->valid(fl->value, fl->why, sizeof fl->why) : 1;
	}
}

int w_form_all_valid(const w_form *f)
{
	for (int i = 0; i < f->nfields; i++)
		if (!f->fields[i].ok)
			return 0;
	return 1;
}

static void field_insert(w_field *fl, int ch)
{
	char mb[8];
	mbstate_t st;
	memset(&st, 0, sizeof st);
	size_t l = wcrtomb(mb, (wchar_t)ch, &st);
	if (l == (size_t)-1)
		return;
	size_t len = strlen(fl->value);
	if (len + l + 1 >= sizeof fl->value)
		return;
	memmove(fl->value + fl->cursor + l, fl->value + fl->cursor, len - (size_t)fl->cursor + 1);
	memcpy(fl->value + fl->cursor, mb, l);
	fl->cursor += (int)l;
}

static void field_backspace(w_field *fl)
{
	if (fl->cursor == 0)
		return;
	int s = fl->cursor - 1;
	while (s > 0 && ((unsigned char)fl->value[s] & 0xC0) == 0x80)
		s--;
	size_t len = strlen(fl->value);
	memmove(fl->value + s, fl->value + fl->cursor, len - (size_t)fl->cursor + 1);
	fl->cursor = s;
}

static void field_move(w_field *fl, int d)
{
	int len = (int)strlen(fl->value);
	int c = fl->cursor;
	do
		c += d;
	while (c > 0 && c < len && ((unsigned char)fl->value[c] & 0xC0) == 0x80);
	fl->cursor = c < 0 ? 0 : c > len ? len : c;
}

int w_form_key(w_form *f, int ch, int is_key_code)
{
	w_field *fl = &f->fields[f->focus];
	if (is_key_code) {
		switch (ch) {
		case KEY_BACKSPACE:
			field_backspace(fl);
			break;
		case KEY_LEFT:
			field_move(fl, -1);
			break;
		case KEY_RIGHT:
			field_move(fl, 1);
			break;
		case KEY_DOWN:
			f->focus = (f->focus + 1) % f->nfields;
			break;
		case KEY_UP:
		case KEY_BTAB:
			f->focus = (f->focus + f->nfields - 1) % f->nfields;
			break;
		default:
			return 0;
		}
	} else if (ch == '\t') {
		f->focus = (f->focus + 1) % f->nfields;
	} else if (ch == 127 || ch == 8) {
		field_backspace(fl);
	} else if (ch == 21) { /* Ctrl-U clears */
		fl->value[0] = '\0';
		fl->cursor = 0;
	} else if (ch >= 32) {
		field_insert(fl, ch);
	} else {
		return 0;
	}
	w_form_validate(f);
	return 1;
}

void w_form_draw(const w_form *f, WINDOW *w, int y, int x, int width)
{
	int lw = 0;
	for (int i = 0; i < f->nfields; i++) {
		int l = w_strwidth(f->fields[i].label);
		if (l > lw)
			lw = l;
	}
	wattron(w, w_attr(R_TITLE));
	w_put(w, y, x, width, f->title, 1);
	wattroff(w, w_attr(R_TITLE));
	int vw = width - lw - 6;
	if (vw < 8)
		vw = 8;
	for (int i = 0; i < f->nfields; i++) {
		const w_field *fl = &f->fields[i];
		int row = y + 2 + i * 2;
		w_put(w, row, x, lw + 1, fl->label, 1);
		attr_t a = i == f->focus ? w_attr(R_SELECT) : w_attr(R_ACCENT);
		wattron(w, a);
		mvwaddch(w, row, x + lw + 1, '[');
		w_put(w, row, x + lw + 2, vw, fl->value, 1);
		waddch(w, ']');
		wattroff(w, a);
		enum w_role r = fl->ok ? R_GOOD : R_BAD;
		wattron(w, w_attr(r));
		waddstr(w, fl->ok ? (w_cur.ascii ? " ok" : " ✓") : (w_cur.ascii ? " X" : " ✗"));
		wattroff(w, w_attr(r));
		if (!fl->ok && fl->why[0]) {
			wattron(w, w_attr(R_BAD));
			w_put(w, row + 1, x + lw + 2, vw, fl->why, 1);
			wattroff(w, w_attr(R_BAD));
		} else {
			w_put(w, row + 1, x + lw + 2, vw, "", 1);
		}
	}
	if (f->focus >= 0 && f->focus < f->nfields) {
		const w_field *fl = &f->fields[f->focus];
		char pre[512];
		snprintf(pre, sizeof pre, "%.*s", fl->cursor, fl->value);
		int cx = w_strwidth(pre);
		wmove(w, y + 2 + f->focus * 2, x + lw + 2 + (cx < vw ? cx : vw - 1));
	}
}

/* --------------------------------------------------------------- confirm */

void w_confirm_draw(WINDOW *w, const char *title, const char *question)
{
	int H = getmaxy(w), W = getmaxx(w);
	int qw = w_strwidth(question);
	int bw = qw + 4;
	if (bw < 36)
		bw = 36;
	if (bw > W - 2)
		bw = W - 2;
	int inner = bw - 4;
	int lines = (qw + inner - 1) / (inner > 0 ? inner : 1);
	if (lines < 1)
		lines = 1;
	int bh = lines + 5;
	int y0 = (H - bh) / 2, x0 = (W - bw) / 2;
	if (y0 < 0)
		y0 = 0;
	if (x0 < 0)
		x0 = 0;
	for (int r = 0; r < bh; r++)
		w_put(w, y0 + r, x0, bw, "", 1);
	/* drawn with characters, not the alternate character set: the same
	 * in every terminal, in tmux captures and in screenshots */
	const int a = w_cur.ascii;
	const char *hz = a ? "-" : "─", *vt = a ? "|" : "│";
	wattron(w, w_attr(R_BORDER));
	mvwaddstr(w, y0, x0, a ? "+" : "┌");
	for (int i = 1; i < bw - 1; i++)
		waddstr(w, hz);
	waddstr(w, a ? "+" : "┐");
	for (int r = 1; r < bh - 1; r++) {
		mvwaddstr(w, y0 + r, x0, vt);
		mvwaddstr(w, y0 + r, x0 + bw - 1, vt);
	}
	mvwaddstr(w, y0 + bh - 1, x0, a ? "+" : "└");
	for (int i = 1; i < bw - 1; i++)
		waddstr(w, hz);
	waddstr(w, a ? "+" : "┘");
	wattroff(w, w_attr(R_BORDER));
	wattron(w, w_attr(R_TITLE));
	w_put(w, y0, x0 + 2, bw - 4, title, 0);
	wattroff(w, w_attr(R_TITLE));
	/* wrap the question on character boundaries (by bytes of whole chars) */
	const char *q = question;
	for (int l = 0; l < lines && *q; l++) {
		char part[1024];
		w_fit(part, sizeof part, q, inner + 1);
		if (w_strwidth(q) > inner) {
			/* take exactly inner columns */
			size_t o = 0;
			int cw = 0;
			while (q[o]) {
				wchar_t wc;
				int len = w_u8_next(q + o, &wc);
				if (cw + w_wc_cols(wc) > inner)
					break;
				cw += w_wc_cols(wc);
				o += (size_t)len;
			}
			snprintf(part, sizeof part, "%.*s", (int)o, q);
			q += o;
		} else {
			q += strlen(q);
		}
		w_put(w, y0 + 2 + l, x0 + 2, inner, part, 0);
	}
	wattron(w, w_attr(R_ACCENT));
	w_put(w, y0 + bh - 2, x0 + 2, inner, "[y] yes    [n] no", 0);
	wattroff(w, w_attr(R_ACCENT));
}
