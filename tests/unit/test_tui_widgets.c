/* test_tui_widgets.c — the dashboard's widgets rendered into an off-screen
 * curses window (newterm on /dev/null) and read back cell by cell. */
#include "nbtest.h"

#include "../../tui/text.c"
#include "../../tui/widgets.c"

#include <locale.h>
#include <math.h>

static SCREEN *scr;

/* Row y of w as UTF-8 text (trailing spaces kept). */
static const char *row(WINDOW *w, int y)
{
	static char out[1024];
	wchar_t wb[512];
	int n = mvwinnwstr(w, y, 0, wb, 511);
	if (n < 0)
		n = 0;
	wb[n] = 0;
	size_t l = wcstombs(out, wb, sizeof out - 1);
	if (l == (size_t)-1)
		l = 0;
	out[l] = '\0';
	return out;
}

/* Row text with trailing spaces removed. */
static const char *rowt(WINDOW *w, int y)
{
	static char out[1024];
	snprintf(out, sizeof out, "%s", row(w, y));
	size_t l = strlen(out);
	while (l && out[l - 1] == ' ')
		out[--l] = '\0';
	return out;
}

static void formatting(void)
{
	char b[64];
	w_cur.ascii = 0;
	w_fmt_int(b, sizeof b, 1234567);
	CHECK_STR(b, "1,234,567");
	w_fmt_int(b, sizeof b, -1234);
	CHECK_STR(b, "-1,234");
	w_fmt_int(b, sizeof b, 999);
	CHECK_STR(b, "999");
	w_fmt_num(b, sizeof b, 1234.5, 2);
	CHECK_STR(b, "1,234.50");
	w_fmt_num(b, sizeof b, -0.004, 2);
	CHECK_STR(b, "0.00"); /* no "-0.00" */
	w_fmt_num(b, sizeof b, NAN, 2);
	CHECK_STR(b, "–");
	w_fmt_pct(b, sizeof b, 0.1234, 2);
	CHECK_STR(b, "12.34%");
	w_fmt_pct(b, sizeof b, -0.05, 1);
	CHECK_STR(b, "-5.0%");
	w_fmt_age(b, sizeof b, 59);
	CHECK_STR(b, "59s");
	w_fmt_age(b, sizeof b, 3600 * 5 + 10);
	CHECK_STR(b, "5h");
	w_fmt_age(b, sizeof b, 86400 * 3);
	CHECK_STR(b, "3d");
	w_fmt_p(b, sizeof b, 0.00001);
	CHECK_STR(b, "<0.0001");
	w_fmt_p(b, sizeof b, 0.04321);
	CHECK_STR(b, "0.0432");
	w_cur.ascii = 1;
	w_fmt_num(b, sizeof b, INFINITY, 1);
	CHECK_STR(b, "-");
}

static void fitting(void)
{
	char b[64];
	w_cur.ascii = 0;
	CHECK_INT(w_strwidth("héllo▁"), 6);
	w_fit(b, sizeof b, "abcdefgh", 5);
	CHECK_STR(b, "abcd…");
	CHECK_INT(w_strwidth(b), 5);
	w_fit(b, sizeof b, "abc", 5);
	CHECK_STR(b, "abc");
	w_cur.ascii = 1;
	w_fit(b, sizeof b, "abcdefgh", 5);
	CHECK_STR(b, "abcd~");
	w_copy(b, 5, "ab€cd"); /* € is 3 bytes: cut before it, not inside */
	CHECK_STR(b, "ab");
	/* --ascii spells the dashboard's own symbols in ASCII, anything else as ? */
	w_fit(b, sizeof b, "loading… χ² p ★ — ok ✓ €", 40);
	CHECK_STR(b, "loading... chi2 p * - ok ok ?");
}

static void sparkline(void)
{
	double v[8] = {0, 1, 2, 3, 4, 5, 6, 7};
	char b[128];
	w_cur.ascii = 1;
	CHECK_INT(w_spark_str(b, sizeof b, v, 8, 8), 8);
	CHECK_STR(b, "_.,-=+*#");
	w_cur.ascii = 0;
	w_spark_str(b, sizeof b, v, 8, 8);
	CHECK_STR(b, "▁▂▃▄▅▆▇█");
	/* only the last `width` values, scaled to their own maximum */
	w_spark_str(b, sizeof b, v, 8, 3);
	CHECK_STR(b, "▆▇█");
	double z[4] = {0, 0, 0, 0};
	w_spark_str(b, sizeof b, z, 4, 4);
	CHECK_STR(b, "▁▁▁▁");
	WINDOW *w = newwin(3, 20, 0, 0);
	w_sparkline(w, 1, 2, 8, v, 8);
	CHECK_STR(rowt(w, 1), "  ▁▂▃▄▅▆▇█");
	delwin(w);
}

static void bar(void)
{
	WINDOW *w = newwin(2, 20, 0, 0);
	w_cur.ascii = 1;
	w_bar(w, 0, 0, 10, 0.5, R_GOOD);
	CHECK_STR(rowt(w, 0), "#####.....");
	w_bar(w, 1, 0, 10, 1.7, R_GOOD); /* clamped */
	CHECK_STR(rowt(w, 1), "##########");
	w_cur.ascii = 0;
	w_bar(w, 0, 0, 4, 0.25, R_GOOD);
	CHECK(!strncmp(row(w, 0), "█░░░", strlen("█░░░")));
	delwin(w);
}

static void interval_plot(void)
{
	char b[256];
	w_cur.ascii = 1;
	/* scale [-0.2, 0.2] over 21 columns: zero at 10, lo -0.1 at 5, hi 0.2 at 20,
	 * the point 0.05 at 12.5 → 13 */
	w_interval_str(b, sizeof b, -0.1, 0.05, 0.2, 0.2, 21);
	CHECK_STR(b, "     [----+--o------]");
	/* an interval right of zero leaves the zero line alone */
	w_interval_str(b, sizeof b, 0.05, 0.1, 0.15, 0.2, 21);
	CHECK_STR(b, "          :  [-o-]   ");
	w_cur.ascii = 0;
	w_interval_str(b, sizeof b, -0.1, 0.05, 0.2, 0.2, 21);
	CHECK_STR(b, "     ├────┼──●──────┤");
	/* drawn: significant positive → the "good" attribute; straddling → normal */
	w_style_mono(&w_cur, 1);
	WINDOW *w = newwin(2, 30, 0, 0);
	w_interval(w, 0, 0, 21, 0.05, 0.1, 0.15, 0.2);
	CHECK((mvwinch(w, 0, 15) & A_ATTRIBUTES) & A_BOLD);
	CHECK_INT(mvwinch(w, 0, 15) & A_CHARTEXT, 'o');
	w_interval(w, 1, 0, 21, -0.1, 0.05, 0.2, 0.2);
	CHECK(!((mvwinch(w, 1, 13) & A_ATTRIBUTES) & A_BOLD));
	delwin(w);
}

static void heatmap(void)
{
	w_cur.ascii = 1;
	CHECK_STR(w_heat_glyph(0), " ");
	CHECK_STR(w_heat_glyph(0.1), ".");
	CHECK_STR(w_heat_glyph(0.3), ":");
	CHECK_STR(w_heat_glyph(0.6), "o");
	CHECK_STR(w_heat_glyph(1), "#");
	WINDOW *w = newwin(3, 30, 0, 0);
	double v[4] = {1.0, 0.6, NAN, 0.1};
	w_heatmap(w, 0, 0, v, 2, 2, 3);
	CHECK_STR(rowt(w, 0), "## oo");
	CHECK_STR(rowt(w, 1), "   .."); /* NaN: a blank cell */
	/* wide cells: the shade and the percentage */
	w_heatmap(w, 2, 0, v, 1, 2, 5);
	CHECK_STR(rowt(w, 2), "#100 o 60");
	delwin(w);
}

static const w_col tcols[3] = {{"Name", 8, W_LEFT, 0, 0, 'N'},
			       {"Users", 9, W_RIGHT, 1, 0, 'U'},
			       {"Note", 6, W_LEFT, 0, 1, 'T'}};

static void fill(w_table *t)
{
	const char *r1[3] = {"alpha", "1,500", "x"};
	const char *r2[3] = {"beta", "20", "y"};
	const char *r3[3] = {"gamma", "300,000", "z"};
	w_table_add(t, r1, NULL);
	w_table_add(t, r2, NULL);
	w_table_add(t, r3, NULL);
	w_table_update(t);
}

static void table(void)
{
	w_style_mono(&w_cur, 1);
	w_table t;
	w_table_init(&t, tcols, 3);
	fill(&t);
	CHECK_INT(t.nvis, 3);
	CHECK(fabs(t.rows[2].num[1] - 300000) < 1e-9); /* thousands separators parsed */
	WINDOW *w = newwin(6, 30, 0, 0);
	w_table_draw(&t, w, 0, 0, 5, 30);
	CHECK_STR(rowt(w, 0), "Name         Users Note");
	/* numbers right-aligned in their column */
	CHECK_STR(rowt(w, 1), "alpha        1,500 x");
	CHECK_STR(rowt(w, 3), "gamma      300,000 z");
	/* the selection bar is drawn reversed */
	CHECK(mvwinch(w, 1, 0) & A_REVERSE);
	CHECK(!(mvwinch(w, 2, 0) & A_REVERSE));
	/* numeric sort: largest first, again reverses */
	w_table_sort(&t, 1);
	CHECK_STR(t.rows[t.vis[0]].cells[0], "gamma");
	CHECK_STR(t.rows[t.vis[2]].cells[0], "beta");
	werase(w);
	w_table_draw(&t, w, 0, 0, 5, 30);
	CHECK_STR(rowt(w, 0), "Name        Usersv Note");
	w_table_sort(&t, 1);
	CHECK_STR(t.rows[t.vis[0]].cells[0], "beta");
	/* the selected row survives sorting and refilling */
	CHECK_STR(w_table_selected(&t)->cells[0], "alpha");
	w_table_move(&t, 1);
	CHECK_STR(w_table_selected(&t)->cells[0], "gamma");
	w_table_clear(&t);
	fill(&t);
	CHECK_STR(w_table_selected(&t)->cells[0], "gamma");
	/* filter: substring in any cell, case-insensitive; ! inverts */
	w_table_set_filter(&t, "AL");
	CHECK_INT(t.nvis, 1);
	CHECK_STR(w_table_selected(&t)->cells[0], "alpha");
	w_table_set_filter(&t, "!al");
	CHECK_INT(t.nvis, 2);
	w_table_set_filter(&t, "");
	CHECK_INT(t.nvis, 3);
	/* narrow: the hideable column goes first */
	int cw[3];
	w_table_widths(&t, 18, cw);
	CHECK_INT(cw[2], 0);
	CHECK_INT(cw[1], 9);
	w_table_widths(&t, 40, cw);
	CHECK_INT(cw[2], 40 - 8 - 9 - 2);
	/* scrolling keeps the selection on screen */
	for (int i = 0; i < 20; i++) {
		char n[16];
		snprintf(n, sizeof n, "r%02d", i);
		const char *r[3] = {n, "1", ""};
		w_table_add(&t, r, NULL);
	}
	w_table_sort(&t, -1); /* insertion order */
	w_table_end(&t);
	werase(w);
	w_table_draw(&t, w, 0, 0, 5, 30);
	CHECK(!strncmp(rowt(w, 4), "r19", 3));
	CHECK(mvwinch(w, 4, 0) & A_REVERSE);
	w_table_done(&t);
	delwin(w);
}

/* Only the cell at (y, x) of row y in [x0, x1) carries attribute a. */
static int only_cell_has(WINDOW *w, int y, int x, int x0, int x1, attr_t a)
{
	for (int i = x0; i < x1; i++)
		if (!!(mvwinch(w, y, i) & a) != (i == x))
			return 0;
	return 1;
}

/* Shift+column letter: each sortable column's letter is underlined in the
 * header (the text unchanged), in every glyph set and without colour; the
 * letter finds its column; sorting by it twice reverses. */
static void table_letters(void)
{
	w_table t;
	w_table_init(&t, tcols, 3);
	fill(&t);
	CHECK_INT(w_table_letter_col(&t, 'N'), 0);
	CHECK_INT(w_table_letter_col(&t, 'U'), 1);
	CHECK_INT(w_table_letter_col(&t, 'T'), 2);
	CHECK_INT(w_table_letter_col(&t, 'Z'), -1);
	CHECK_INT(w_table_letter_col(&t, 'u'), -1); /* Shift: uppercase only */
	CHECK_INT(w_col_letter_at(&tcols[2]), 2);   /* "No_t_e" */
	WINDOW *w = newwin(6, 30, 0, 0);
	for (int ascii = 0; ascii < 2; ascii++) {
		w_style_mono(&w_cur, ascii);
		werase(w);
		w_table_draw(&t, w, 0, 0, 5, 30);
		CHECK_STR(rowt(w, 0), "Name         Users Note");
		/* N at 0; U of the right-aligned "    Users" at 9+4; t of "Note" at 19+2 */
		CHECK(only_cell_has(w, 0, 0, 0, 8, A_UNDERLINE));
		CHECK(only_cell_has(w, 0, 13, 9, 18, A_UNDERLINE));
		CHECK(only_cell_has(w, 0, 21, 19, 30, A_UNDERLINE));
		/* rows carry no mark */
		CHECK(!(mvwinch(w, 2, 0) & A_UNDERLINE));
	}
	/* the sort mark does not move the letter of a left-aligned title; a
	 * right-aligned one moves left with its text */
	int c = w_table_letter_col(&t, 'U');
	w_table_sort(&t, c);
	CHECK(t.sort_col == 1 && t.sort_desc);
	CHECK_STR(t.rows[t.vis[0]].cells[0], "gamma");
	werase(w);
	w_table_draw(&t, w, 0, 0, 5, 30);
	CHECK_STR(rowt(w, 0), "Name        Usersv Note");
	CHECK(only_cell_has(w, 0, 12, 9, 18, A_UNDERLINE));
	w_table_sort(&t, w_table_letter_col(&t, 'U')); /* again: reversed */
	CHECK(t.sort_col == 1 && !t.sort_desc);
	CHECK_STR(t.rows[t.vis[0]].cells[0], "beta");
	w_table_sort(&t, w_table_letter_col(&t, 'N')); /* text: ascending first */
	CHECK(t.sort_col == 0 && !t.sort_desc);
	CHECK_STR(t.rows[t.vis[0]].cells[0], "alpha");
	/* a theme whose titles are underlined already marks the letter reversed */
	w_cur.attr[R_TITLE] = A_UNDERLINE;
	werase(w);
	w_table_draw(&t, w, 0, 0, 5, 30);
	CHECK(only_cell_has(w, 0, 13, 9, 18, A_REVERSE));
	CHECK(only_cell_has(w, 0, 0, 0, 8, A_REVERSE)); /* "Name^": still marked */
	w_style_mono(&w_cur, 1);
	/* a title cut to its column keeps no mark */
	werase(w);
	w_table_draw(&t, w, 0, 0, 5, 13);
	for (int i = 0; i < 13; i++)
		CHECK(!(mvwinch(w, 0, i) & A_UNDERLINE) || i == 0);
	w_table_done(&t);
	delwin(w);
}

static int v_digits(const char *s, char *why, size_t n)
{
	for (; *s; s++)
		if (*s < '0' || *s > '9') {
			snprintf(why, n, "digits only");
			return 0;
		}
	return 1;
}

static void form(void)
{
	w_style_mono(&w_cur, 1);
	w_field f[2] = {{.label = "Key"}, {.label = "Count", .valid = v_digits}};
	w_form fm = {"New", f, 2, 0};
	w_form_validate(&fm);
	CHECK(w_form_all_valid(&fm));
	w_form_key(&fm, 'a', 0);
	w_form_key(&fm, 'b', 0);
	w_form_key(&fm, 'c', 0);
	w_form_key(&fm, KEY_BACKSPACE, 1);
	CHECK_STR(f[0].value, "ab");
	w_form_key(&fm, KEY_LEFT, 1);
	w_form_key(&fm, 'X', 0);
	CHECK_STR(f[0].value, "aXb");
	CHECK(w_form_key(&fm, '\t', 0));
	CHECK_INT(fm.focus, 1);
	w_form_key(&fm, '4', 0);
	w_form_key(&fm, 'z', 0); /* validated as you type */
	CHECK(!f[1].ok);
	CHECK_STR(f[1].why, "digits only");
	CHECK(!w_form_all_valid(&fm));
	CHECK(!w_form_key(&fm, '\r', 0)); /* Enter is the view's */
	WINDOW *w = newwin(8, 40, 0, 0);
	w_form_draw(&fm, w, 0, 0, 40);
	CHECK_STR(rowt(w, 0), "New");
	CHECK(strstr(row(w, 2), "Key   [aXb") != NULL);
	CHECK(strstr(row(w, 4), "] X") != NULL);
	CHECK(strstr(row(w, 5), "digits only") != NULL);
	w_form_key(&fm, 127, 0);
	CHECK(f[1].ok);
	delwin(w);
}

static void confirm(void)
{
	w_style_mono(&w_cur, 1);
	WINDOW *w = newwin(15, 60, 0, 0);
	w_confirm_draw(w, "Confirm", "Stop experiment checkout (\"Checkout\"): running -> stopped?");
	int found_q = 0, found_yes = 0, found_border = 0;
	for (int y = 0; y < 15; y++) {
		const char *r = row(w, y);
		found_q |= strstr(r, "Stop experiment checkout") != NULL;
		found_yes |= strstr(r, "[y] yes    [n] no") != NULL;
		found_border |= strstr(r, "+-") != NULL && strstr(r, "Confirm") != NULL;
	}
	CHECK(found_q);
	CHECK(found_yes);
	CHECK(found_border);
	delwin(w);
}

static void statusbar(void)
{
	w_style_mono(&w_cur, 1);
	WINDOW *w = newwin(1, 30, 0, 0);
	w_statusbar(w, 0, "left side", "right", R_FOOTER);
	CHECK_STR(row(w, 0), "left side                right");
	CHECK(mvwinch(w, 0, 0) & A_REVERSE);
	delwin(w);
}

int main(void)
{
	nbt_suite = "tui_widgets";
	setlocale(LC_ALL, "C.UTF-8");
	FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
	scr = newterm("xterm-256color", out, in);
	if (!scr)
		scr = newterm("vt100", out, in);
	if (!scr) {
		printf("FAIL tui_widgets:newterm\n  at %s:%d: newterm failed\n", __FILE__, __LINE__);
		return 1;
	}
	RUN(formatting);
	RUN(fitting);
	RUN(sparkline);
	RUN(bar);
	RUN(interval_plot);
	RUN(heatmap);
	RUN(table);
	RUN(table_letters);
	RUN(form);
	RUN(confirm);
	RUN(statusbar);
	endwin();
	delscreen(scr);
	fclose(out);
	fclose(in);
	return NBT_DONE();
}
