/* widgets.h — the dashboard's shared widgets: the style, number formatting
 * and UTF-8 text (text.c); table, sparkline, bar, interval plot, heat map,
 * form, confirm dialog, status bar (widgets.c). Pure drawing into a WINDOW;
 * no I/O, no threads. */
#ifndef TUI_WIDGETS_H
#define TUI_WIDGETS_H

/* Screen text is cut to the window by design: truncated snprintf output is
 * expected everywhere in the dashboard, so GCC's warning about it is off. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <curses.h>
#include <stddef.h>
#include <wchar.h>

/* ---- colour roles (a theme maps each to a pair; monochrome to attributes) ---- */
enum w_role {
	R_NORMAL,
	R_HEADER,
	R_FOOTER,
	R_TITLE,
	R_SELECT,
	R_GOOD,
	R_BAD,
	R_WARN,
	R_DIM,
	R_ACCENT,
	R_BORDER,
	R_NROLES
};

/* The look shared by every widget: attribute per role and the glyph set. */
typedef struct w_style {
	attr_t attr[R_NROLES];
	int ascii; /* 1: ASCII glyphs only */
} w_style;

/* The process-wide style (set by the theme code, read by widgets). */
extern w_style w_cur;
void w_style_mono(w_style *s, int ascii);
static inline attr_t w_attr(enum w_role r)
{
	return w_cur.attr[r];
}

/* ---- formatting: the one place numbers and durations are formatted ---- */
/* 1234567 → "1,234,567"; negative numbers keep their sign. */
void w_fmt_int(char *out, size_t n, long long v);
/* Fixed decimals with thousands separators; NaN → "–" (ASCII "-"). */
void w_fmt_num(char *out, size_t n, double v, int decimals);
/* A fraction as a percentage with fixed decimals: 0.1234 → "12.34%". */
void w_fmt_pct(char *out, size_t n, double v, int decimals);
/* Seconds → "42s", "5m", "3h", "2d". */
void w_fmt_age(char *out, size_t n, double seconds);
/* p-value → "0.0123", "<0.0001". */
void w_fmt_p(char *out, size_t n, double p);

/* Copies src into dst (size n), cut on a UTF-8 character boundary. */
void w_copy(char *dst, size_t n, const char *src);
/* Display width (columns) of a UTF-8 string; truncates into out so it fits
 * width columns (adds "…" or "~" when cut). */
int w_strwidth(const char *s);
void w_fit(char *out, size_t n, const char *s, int width);
/* Draws s at (y,x) clipped to width columns, padded with spaces when pad. */
void w_put(WINDOW *w, int y, int x, int width, const char *s, int pad);
/* Decodes one UTF-8 character of s into *wc; returns its byte length (1 for
 * bad bytes). */
int w_u8_next(const char *s, wchar_t *wc);
/* Display columns of one character (1 for unprintable ones). */
int w_wc_cols(wchar_t wc);

/* ---- sparkline: the last `width` values scaled to 8 levels ---- */
/* Renders into out (UTF-8 blocks or ASCII "_.-~^" levels); returns columns used. */
int w_spark_str(char *out, size_t n, const double *v, int nv, int width);
void w_sparkline(WINDOW *w, int y, int x, int width, const double *v, int nv);

/* ---- horizontal bar: fraction in [0,1] of width columns ---- */
void w_bar(WINDOW *w, int y, int x, int width, double frac, enum w_role role);

/* ---- interval plot: [lo,hi] with a point, on a scale [-span,span] with a
 * zero line; ├──●──┤ (ASCII |--o--|). Colour and a symbol say whether the
 * interval excludes zero. ---- */
void w_interval_str(char *out, size_t n, double lo, double mid, double hi, double span,
		    int width);
void w_interval(WINDOW *w, int y, int x, int width, double lo, double mid, double hi,
		double span);

/* ---- heat map: rows × cols of values in [0,1] (NaN blank) as shaded cells ---- */
void w_heatmap(WINDOW *w, int y, int x, const double *v, int rows, int cols, int cellw);
/* The glyph used for value v (exposed for tests). */
const char *w_heat_glyph(double v);

/* ---- status bar: left text and right text on one row ---- */
void w_statusbar(WINDOW *w, int y, const char *left, const char *right, enum w_role role);

/* ---- table ---- */
enum w_align { W_LEFT, W_RIGHT };

typedef struct w_col {
	const char *title;
	int width;   /* minimum width; the last column may grow */
	enum w_align align;
	int numeric; /* sort numerically by the row's num[] value */
	int hide;    /* 0: always shown; else hidden first (highest first) when narrow */
	char letter; /* 0 or the uppercase letter that sorts by it (Shift+letter);
			underlined in the header where the title has it */
} w_col;

typedef struct w_row {
	char **cells;   /* ncols strings, owned by the table */
	double *num;    /* ncols numeric sort keys (NaN when not numeric) */
	enum w_role role; /* colour of the row (R_NORMAL usually) */
	void *ud;       /* caller's pointer (not owned) */
} w_row;

typedef struct w_table {
	const w_col *cols;
	int ncols;
	w_row *rows;
	int nrows, cap;
	int *vis;     /* indices of visible rows (filtered, sorted) */
	int nvis;
	int sel;      /* index into vis */
	int top;      /* first visible row drawn */
	int sort_col; /* -1: insertion order */
	int sort_desc;
	char filter[128];
	int invert;   /* filter starts with '!' */
	char sel_key[256]; /* first cell of the selected row, kept across refills */
} w_table;

void w_table_init(w_table *t, const w_col *cols, int ncols);
void w_table_done(w_table *t);
/* Removes every row (selection is remembered by its first cell). */
void w_table_clear(w_table *t);
/* Adds a row; cells[i] copied; num may be NULL (then parsed from cells). */
w_row *w_table_add(w_table *t, const char *const *cells, const double *num);
/* Re-applies filter and sort; call after adding rows. */
void w_table_update(w_table *t);
void w_table_set_filter(w_table *t, const char *f);
/* col == sort_col reverses; -1 restores insertion order. */
void w_table_sort(w_table *t, int col);
void w_table_move(w_table *t, int delta);
void w_table_home(w_table *t);
void w_table_end(w_table *t);
/* The selected row or NULL. */
w_row *w_table_selected(w_table *t);
/* The column whose sort letter is ch (an uppercase letter), or -1. */
int w_table_letter_col(const w_table *t, int ch);
/* Byte offset of the sort letter in column col's title (first occurrence,
 * either case), or -1 when it has none. */
int w_col_letter_at(const w_col *c);
/* Keeps the selection on screen for a body of `rows` rows (adjusts top, as
 * drawing does). */
void w_table_scroll(w_table *t, int rows);
/* Appends s fitted into width display columns, aligned, at byte *o of line
 * (UTF-8 aware, unlike printf's %*s). */
void w_cat_cell(char *line, size_t n, size_t *o, const char *s, int width, enum w_align al);
/* Which columns fit in width (hidden ones get 0) — exposed for tests. */
void w_table_widths(const w_table *t, int width, int *cw);
/* Draws header + rows in the window rectangle; height includes the header. */
void w_table_draw(w_table *t, WINDOW *w, int y, int x, int height, int width);

/* ---- form: labelled text fields with a validator per field ---- */
typedef struct w_field {
	const char *label;
	char value[512];
	int cursor;
	/* Returns 1 when valid; writes a reason into why otherwise. May be NULL. */
	int (*valid)(const char *value, char *why, size_t n);
	int ok;
	char why[160];
} w_field;

typedef struct w_form {
	const char *title;
	w_field *fields;
	int nfields;
	int focus;
} w_form;

void w_form_validate(w_form *f);
/* Edits the focused field with key ch (printable, Backspace, arrows, Tab);
 * returns 1 when the key was consumed. */
int w_form_key(w_form *f, int ch, int is_key_code);
int w_form_all_valid(const w_form *f);
void w_form_draw(const w_form *f, WINDOW *w, int y, int x, int width);

/* ---- confirm dialog: a centred box with a question and [y]es/[n]o ---- */
void w_confirm_draw(WINDOW *w, const char *title, const char *question);

#endif
