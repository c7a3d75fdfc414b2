/* test_tui_parts.c — the dashboard's pure parts: theme parsing and colour
 * fallback, every shipped theme, the keymap (names, rebinding, errors), the
 * live feed's Debezium row parsing and its bounded ring. */
#include "nbtest.h"

#include "../../tui/feed.c"
#include "../../tui/keymap.c"
#include "../../tui/text.c"
#include "../../tui/theme.c"

#include "neonblue/cdc.h"

#include <locale.h>

static void colors_parse(void)
{
	int rgb, idx;
	CHECK_INT(theme_parse_color("#ff8800", &rgb, &idx), 0);
	CHECK_INT(rgb, 0xff8800);
	CHECK_INT(idx, -1);
	CHECK_INT(theme_parse_color("color42", &rgb, &idx), 0);
	CHECK_INT(idx, 42);
	CHECK_INT(theme_parse_color("brightred", &rgb, &idx), 0);
	CHECK_INT(idx, 9);
	CHECK_INT(theme_parse_color("Blue", &rgb, &idx), 0);
	CHECK_INT(idx, 4);
	CHECK_INT(theme_parse_color("default", &rgb, &idx), 0);
	CHECK(rgb == -1 && idx == -1);
	CHECK_INT(theme_parse_color("#12345", &rgb, &idx), -1);
	CHECK_INT(theme_parse_color("color300", &rgb, &idx), -1);
	CHECK_INT(theme_parse_color("mauve", &rgb, &idx), -1);
}

static void colors_fallback(void)
{
	/* 256: the cube and grey ramp, never the redefinable 0–15 */
	CHECK_INT(theme_nearest(255, 0, 0, 256), 196);
	CHECK_INT(theme_nearest(0, 95, 135, 256), 24);
	CHECK_INT(theme_nearest(128, 128, 128, 256), 244);
	/* 16 and 8: the ANSI colours */
	CHECK_INT(theme_nearest(255, 255, 255, 16), 15);
	CHECK_INT(theme_nearest(250, 10, 10, 16), 9);
	CHECK_INT(theme_nearest(250, 10, 10, 8), 1);
	CHECK_INT(theme_nearest(0, 0, 0, 8), 0);
	/* map_color: truecolor keeps the RGB, indices fold down on 8 colours */
	CHECK_INT(map_color(0x123456, -1, 0x1000000), 0x123456);
	CHECK_INT(map_color(-1, 9, 8), 1);
	CHECK_INT(map_color(-1, 9, 16), 9);
	CHECK_INT(map_color(-1, 196, 16), 9);
	CHECK_INT(map_color(-1, -1, 256), -1);
}

static void themes_shipped(void)
{
	const char *names[] = {"default", "light", "solarized", "high-contrast", "monochrome"};
	for (size_t i = 0; i < 5; i++) {
		nb_err err;
		int rc = theme_apply(names[i], 256, 0, &err);
		CHECKF(rc == 0, "theme %s: %s", names[i], rc ? err.msg : "");
	}
	char list[32][32];
	int n = theme_list(list, 32);
	CHECKF(n >= 5, "theme_list found %d themes", n);
	/* colours: solarized's good.fg #859900 at 256 colours */
	nb_err err;
	CHECK_INT(theme_apply("solarized", 256, 0, &err), 0);
	if (has_colors()) {
		short fg, bg;
		pair_content(R_GOOD + 1, &fg, &bg);
		CHECK_INT(fg, theme_nearest(0x85, 0x99, 0x00, 256));
		CHECK_INT(bg, theme_nearest(0x00, 0x2b, 0x36, 256));
		CHECK(w_cur.attr[R_GOOD] & A_BOLD);
		CHECK((w_cur.attr[R_GOOD] & A_COLOR) == COLOR_PAIR(R_GOOD + 1));
	}
	/* depth 0 (NO_COLOR): attributes only, no colour pairs */
	CHECK_INT(theme_apply("solarized", 0, 1, &err), 0);
	CHECK((w_cur.attr[R_GOOD] & A_COLOR) == 0);
	CHECK(w_cur.attr[R_SELECT] & A_REVERSE);
	CHECK_INT(w_cur.ascii, 1);
	/* errors name the theme */
	CHECK_INT(theme_apply("no-such-theme", 256, 0, &err), -1);
	CHECK(strstr(err.msg, "no-such-theme") != NULL);
}

static void theme_errors(void)
{
	theme_spec t;
	nb_err err;
	char bad1[] = "good.fg = #zzzzzz\n";
	CHECK_INT(parse_theme("x", bad1, &t, &err), -1);
	CHECK(strstr(err.msg, "line 1") && strstr(err.msg, "good.fg"));
	char bad2[] = "# comment\nsparkle.fg = red\n";
	CHECK_INT(parse_theme("x", bad2, &t, &err), -1);
	CHECK(strstr(err.msg, "line 2") && strstr(err.msg, "sparkle.fg"));
	char ok[] = "bad.fg = #ff0000  # inline comment\nbad.attr = bold underline\n";
	CHECK_INT(parse_theme("x", ok, &t, &err), 0);
	CHECK_INT(t.fg[R_BAD][0], 0xff0000);
	CHECK(t.attr[R_BAD] == (A_BOLD | A_UNDERLINE));
}

static void keymap(void)
{
	keymap_defaults();
	CHECK_INT(keymap_lookup('q'), ACT_QUIT);
	CHECK_INT(keymap_lookup('?'), ACT_HELP);
	CHECK_INT(keymap_lookup('/'), ACT_FILTER);
	CHECK_INT(keymap_lookup(TK_FN | KEY_DOWN), ACT_DOWN);
	CHECK_INT(keymap_lookup('j'), ACT_DOWN);
	CHECK_INT(keymap_lookup(12), ACT_REPAINT); /* C-l */
	CHECK_INT(keymap_parse_key("C-l"), 12);
	CHECK_INT(keymap_parse_key("PgDn"), TK_FN | KEY_NPAGE);
	CHECK_INT(keymap_parse_key("F5"), TK_FN | KEY_F(5));
	CHECK_INT(keymap_parse_key("Nope"), -1);
	char b[64];
	keymap_key_name(TK_FN | KEY_F(5), b, sizeof b);
	CHECK_STR(b, "F5");
	keymap_keys_of(ACT_DOWN, b, sizeof b);
	CHECK_STR(b, "j,Down");
	/* rebinding: the new key works, the help lists it */
	nb_err err;
	CHECK_INT(keymap_bind("F2", "quit", &err), 0);
	CHECK_INT(keymap_lookup(TK_FN | KEY_F(2)), ACT_QUIT);
	keymap_keys_of(ACT_QUIT, b, sizeof b);
	CHECK_STR(b, "q,C-c,F2");
	CHECK_INT(keymap_bind("j", "up", &err), 0);
	CHECK_INT(keymap_lookup('j'), ACT_UP);
	CHECK_INT(keymap_bind("Hyper-x", "quit", &err), -1);
	CHECK(strstr(err.msg, "Hyper-x") != NULL);
	CHECK_INT(keymap_bind("x", "explode", &err), -1);
	CHECK(strstr(err.msg, "explode") != NULL);
	/* every action has a unique config name */
	for (int i = 0; i < ACT_NACTIONS; i++) {
		CHECK_INT(keymap_actions[i].id, i);
		for (int k = i + 1; k < ACT_NACTIONS; k++)
			CHECKF(strcmp(keymap_actions[i].name, keymap_actions[k].name),
			       "duplicate action name %s", keymap_actions[i].name);
	}
	keymap_defaults();
}

static char *envelope(const char *table, char op, const char *const *cols, int n)
{
	nb_change c;
	nb_change_init(&c);
	nb_change_set(&c.schema, "public");
	nb_change_set(&c.table, table);
	c.op = op;
	c.has_after = 1;
	for (int i = 0; i < n; i++)
		nb_tuple_add(&c.after, cols[2 * i], NB_OID_TEXT, cols[2 * i + 1]);
	c.source.ts_ms = 1700000000123;
	c.ts_ms = 1700000000200;
	nb_err err;
	char *v = nb_debezium_value(&c, 0, &err);
	nb_change_done(&c);
	return v;
}

static void feed_rows_parse(void)
{
	const char *ev[] = {"user_id", "u42", "type", "purchase", "value", "12.5",
			    "experiment", "checkout"};
	char *v = envelope("events", 'c', ev, 4);
	feed_row r;
	CHECK_INT(feed_parse("neonblue.public.events", v, strlen(v), &r), 0);
	CHECK_STR(r.table, "events");
	CHECK_INT(r.op, 'c');
	CHECK_STR(r.user, "u42");
	CHECK_STR(r.type, "purchase");
	CHECK_STR(r.value, "12.5");
	CHECK_STR(r.exp, "checkout");
	CHECK_INT(r.ts_us, 1700000000123000LL);
	free(v);
	const char *as[] = {"experiment", "pricing", "user_id", "u7", "variant", "treatment"};
	v = envelope("assignments", 'c', as, 3);
	CHECK_INT(feed_parse("neonblue.public.assignments", v, strlen(v), &r), 0);
	CHECK_STR(r.type, "treatment");
	CHECK_STR(r.exp, "pricing");
	free(v);
	const char *ex[] = {"key", "pricing", "status", "running"};
	v = envelope("experiments", 'u', ex, 2);
	CHECK_INT(feed_parse("neonblue.public.experiments", v, strlen(v), &r), 0);
	CHECK_STR(r.type, "running");
	CHECK_STR(r.exp, "pricing");
	CHECK_INT(r.op, 'u');
	free(v);
	/* tombstones and garbage are skipped */
	CHECK_INT(feed_parse("t", "", 0, &r), -1);
	CHECK_INT(feed_parse("t", "{not json", 9, &r), -1);
}

/* The ring holds the newest FEED_CAP rows, in order, across wrap-arounds of
 * batches; scroll-back and the filter read it back. */
static void feed_ring(void)
{
	feed *f = nb_xcalloc(1, sizeof *f);
	f->ring = nb_xcalloc(FEED_CAP, sizeof *f->ring);
	pthread_mutex_init(&f->mu, NULL);
	static feed_row b[1000];
	long long n = 0;
	for (int k = 0; k < 25; k++) { /* 25,000 rows in batches of 1,000 */
		for (int i = 0; i < 1000; i++, n++) {
			memset(&b[i], 0, sizeof b[i]);
			snprintf(b[i].user, sizeof b[i].user, "u%lld", n);
			snprintf(b[i].exp, sizeof b[i].exp, "%s", n % 2 ? "odd" : "even");
		}
		push_rows(f, b, 1000);
	}
	feed_row out[64];
	int total = 0;
	CHECK_INT(feed_rows(f, out, 50, 0, "", &total), 50);
	CHECK_INT(total, 25000);
	CHECK_STR(out[0].user, "u24950"); /* newest last */
	CHECK_STR(out[49].user, "u24999");
	/* scrolled back to the oldest row still held: 25,000 - FEED_CAP */
	CHECK_INT(feed_rows(f, out, 50, FEED_CAP - 10, "", &total), 10);
	CHECK_STR(out[0].user, "u5000");
	CHECK_STR(out[9].user, "u5009");
	CHECK_INT(feed_rows(f, out, 50, FEED_CAP, "", &total), 0);
	/* the filter, and its inversion */
	CHECK_INT(feed_rows(f, out, 3, 0, "odd", &total), 3);
	CHECK_STR(out[2].user, "u24999");
	CHECK_STR(out[1].user, "u24997");
	CHECK_INT(feed_rows(f, out, 3, 0, "!odd", &total), 3);
	CHECK_STR(out[2].user, "u24998");
	pthread_mutex_destroy(&f->mu);
	free(f->ring);
	free(f);
}

int main(void)
{
	nbt_suite = "tui_parts";
	setlocale(LC_ALL, "C.UTF-8");
	const char *root = getenv("NB_ROOT");
	char dir[4200];
	snprintf(dir, sizeof dir, "%s/themes", root ? root : ".");
	setenv("NEONBLUE_THEMES", dir, 1);
	FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
	SCREEN *scr = newterm("xterm-256color", out, in);
	if (!scr) {
		printf("FAIL tui_parts:newterm\n  at %s:%d: newterm failed\n", __FILE__, __LINE__);
		return 1;
	}
	start_color();
	use_default_colors();
	RUN(colors_parse);
	RUN(colors_fallback);
	RUN(themes_shipped);
	RUN(theme_errors);
	RUN(keymap);
	RUN(feed_rows_parse);
	RUN(feed_ring);
	endwin();
	delscreen(scr);
	fclose(out);
	fclose(in);
	return NBT_DONE();
}
