/* dash.c — `neonblue dash`: options, terminal setup and restore, the main
 * loop (poll on the terminal, the workers' wake-up fd, signals and timers),
 * header, footer and the overlays (help, palette, filter, confirm). */
#include "tui.h"
#include "neonblue/front.h"

#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"usage: neonblue dash [--read-only] [--theme NAME] [--no-color] [--ascii]\n"
	"                     [--colors 0|8|16|256|truecolor] [--backfill MIN] [--refresh SEC]\n"
	"                     [--config FILE] [--view NAME] [--exp KEY]\n"
	"       (alias: neonblue top)\n"
	"\n"
	"The live dashboard: experiments with their lifts and p-values, one\n"
	"experiment in detail, the CDC feed as it arrives, funnels, cohorts, revenue,\n"
	"segments, pipeline health, and experiment management. Press ? for the keys.\n"
	"\n"
	"  --read-only     hide and refuse every action that writes\n"
	"  --theme NAME    themes/NAME.theme (default, light, solarized, high-contrast,\n"
	"                  monochrome); :theme NAME switches while running\n"
	"  --no-color      attributes only (also when NO_COLOR is set and non-empty)\n"
	"  --ascii         ASCII glyphs only (default when the locale is not UTF-8)\n"
	"  --colors N      force the colour depth instead of asking terminfo\n"
	"  --backfill MIN  start the live feed MIN minutes back (default 0: at the end)\n"
	"  --refresh SEC   how often queries are re-run (default 5)\n"
	"  --config FILE   key bindings and settings (default\n"
	"                  $XDG_CONFIG_HOME/neonblue/dash.conf)\n"
	"  --view NAME     start in a view: experiments detail feed funnel cohorts\n"
	"                  revenue segments health new\n"
	"  --exp KEY       the experiment the detail views show first\n"
	"  --filter TEXT   start with the experiment list filtered (as with /)\n"
	"  --mouse         mouse: click selects a row, the wheel scrolls\n"
	"  --bench-frames N  (benchmark) once data has loaded, time N full frames of\n"
	"                  the starting view, print the figures after quitting\n"
	"\n"
	"See docs/dashboard.md.\n";

static app *g_app;
static int g_curses_on;
static int g_sig_pipe[2] = {-1, -1};

/* ------------------------------------------------------ terminal restore */

static void restore_terminal(void)
{
	if (g_curses_on) {
		g_curses_on = 0;
		curs_set(1);
		endwin();
	}
}

static void on_quit_signal(int sig)
{
	unsigned char c = (unsigned char)sig;
	if (g_sig_pipe[1] >= 0 && write(g_sig_pipe[1], &c, 1) < 0) {
		/* nothing else to do in a handler */
	}
}

static void on_crash_signal(int sig)
{
	/* not async-signal-safe in theory; the process is dying anyway and a
	 * usable terminal matters more (htop's CRT_handleSIGSEGV does the same) */
	restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_quit_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* ours, installed before initscr so curses leaves SIGWINCH to us: the
	 * pipe wakes poll(), which a flag set by curses' own handler would not */
	sigaction(SIGWINCH, &sa, NULL);
	sa.sa_handler = on_crash_signal;
	sa.sa_flags = SA_RESETHAND;
	int crash[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
	for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++)
		sigaction(crash[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* ----------------------------------------------------------------- app */

double app_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

view *app_view(app *a, int idx)
{
	return &a->views[idx];
}

int app_current(app *a)
{
	return a->stack[a->nstack - 1];
}

void app_dirty(app *a)
{
	a->dirty_all = 1;
}

void app_message(app *a, int bad, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->msg, sizeof a->msg, fmt, ap);
	va_end(ap);
	a->msg_bad = bad;
	a->msg_at = mono();
	a->dirty_all = 1;
}

/* Which server a job waits on (S_NSRV: none the header tracks). */
static int job_server(const job *j)
{
	return j->kind == J_CH_PING ? S_CH : j->kind == J_REPORT || j->kind == J_HEALTH ? S_NSRV : S_PG;
}

void app_submit(app *a, job *j)
{
	int s = job_server(j);
	if (s < S_NSRV && a->srv[s].waiting++ == 0)
		a->srv[s].wait_since = app_now();
	worker_submit(a->wk, j);
}

void app_confirm(app *a, const char *question, job *j)
{
	w_copy(a->confirm_q, sizeof a->confirm_q, question);
	job_free(a->confirm_job);
	a->confirm_job = j;
	a->confirm = 1;
	a->dirty_all = 1;
}

void app_open(app *a, int idx, const char *arg)
{
	if (idx < 0 || idx >= V_COUNT)
		return;
	if (idx == V_MANAGE && a->read_only) {
		app_message(a, 1, "read-only: creating experiments is disabled (--read-only)");
		return;
	}
	int found = -1;
	for (int i = 0; i < a->nstack; i++)
		if (a->stack[i] == idx)
			found = i;
	if (found >= 0)
		a->nstack = found + 1;
	else if (a->nstack < 16)
		a->stack[a->nstack++] = idx;
	view *v = app_view(a, idx);
	if (v->ops->enter)
		v->ops->enter(v, a, arg);
	v->dirty = 1;
	a->dirty_all = 1;
}

void app_back(app *a)
{
	if (a->nstack > 1)
		a->nstack--;
	view *v = app_view(a, app_current(a));
	if (v->ops->enter)
		v->ops->enter(v, a, NULL);
	a->dirty_all = 1;
}

/* ---------------------------------------------------------------- layout */

static void layout(app *a)
{
	getmaxyx(stdscr, a->H, a->W);
	a->too_small = a->W < MIN_W || a->H < MIN_H;
	if (a->hdr)
		delwin(a->hdr);
	if (a->body)
		delwin(a->body);
	if (a->ftr)
		delwin(a->ftr);
	a->hdr = a->body = a->ftr = NULL;
	if (a->too_small)
		return;
	a->hdr = newwin(1, a->W, 0, 0);
	a->body = newwin(a->H - 2, a->W, 1, 0);
	a->ftr = newwin(1, a->W, a->H - 1, 0);
	keypad(a->body, TRUE);
	for (int i = 0; i < V_COUNT; i++)
		if (a->views[i].ops->resize)
			a->views[i].ops->resize(&a->views[i], a, a->H - 2, a->W);
	a->dirty_all = 1;
}

static void apply_colors(app *a)
{
	wbkgdset(stdscr, w_attr(R_NORMAL));
	if (a->body)
		wbkgdset(a->body, ' ' | w_attr(R_NORMAL));
	a->dirty_all = 1;
}

static int set_theme(app *a, const char *name)
{
	nb_err err;
	if (theme_apply(name, a->no_color ? 0 : a->depth, a->ascii, &err)) {
		app_message(a, 1, "%s", err.msg);
		return -1;
	}
	w_copy(a->theme, sizeof a->theme, name);
	apply_colors(a);
	clearok(curscr, TRUE);
	return 0;
}

static void next_theme(app *a)
{
	char names[32][32];
	int n = theme_list(names, 32);
	if (n == 0) {
		app_message(a, 1, "no themes/ directory found");
		return;
	}
	int i = 0;
	while (i < n && strcmp(names[i], a->theme))
		i++;
	const char *nx = names[(i + 1) % n];
	if (set_theme(a, nx) == 0)
		app_message(a, 0, "theme %s", nx);
}

/* ---------------------------------------------------------------- header */

/* The header's right side is built as segments, measured, then drawn, so
 * the breadcrumb gets exactly what is left. */
typedef struct hdr_seg {
	char text[96];
	enum w_role role; /* R_HEADER: plain */
} hdr_seg;

#define HDR_SEGS 16

static void seg_add(hdr_seg *sg, int *n, enum w_role role, const char *text)
{
	if (*n < HDR_SEGS) {
		w_copy(sg[*n].text, sizeof sg[*n].text, text);
		sg[(*n)++].role = role;
	}
}

/* Counts in at most 4 columns: 950, 9.5k, 12k, 3.4M. */
static void fmt_short(char *out, size_t n, double v)
{
	if (v < 1000)
		snprintf(out, n, "%.0f", v);
	else if (v < 9950)
		snprintf(out, n, "%.1fk", v / 1e3);
	else if (v < 999500)
		snprintf(out, n, "%.0fk", v / 1e3);
	else if (v < 9.95e6)
		snprintf(out, n, "%.1fM", v / 1e6);
	else
		snprintf(out, n, "%.0fM", v / 1e6);
}

/* " NAME ●", " NAME ◐ slow", " NAME ✗ down 12s", " NAME ?" */
static void srv_segs(app *a, hdr_seg *sg, int *n, const char *name, const srv_state *s)
{
	char t[64];
	snprintf(t, sizeof t, " %s ", name);
	seg_add(sg, n, R_HEADER, t);
	int slow = s->state == 1 && s->waiting > 0 && app_now() - s->wait_since > 3;
	enum w_role r = slow ? R_WARN : s->state == 1 ? R_GOOD : s->state == 0 ? R_BAD : R_DIM;
	const char *sym = slow		  ? (a->ascii ? "~ slow" : "◐ slow")
			  : s->state == 1 ? (a->ascii ? "+" : "●")
			  : s->state == 0 ? (a->ascii ? "x" : "✗")
					  : "?";
	if (s->state == 0) {
		char age[16];
		w_fmt_age(age, sizeof age, app_now() - s->since);
		snprintf(t, sizeof t, "%s down %s", sym, age);
		sym = t;
	}
	seg_add(sg, n, r, sym);
}

/* " lag ● 0": messages not yet in ClickHouse, with the relay's WAL lag when
 * it is amber or worse and how long the sink/relay has been silent. */
static void lag_segs(app *a, hdr_seg *sg, int *n)
{
	pipe_lag l;
	health_lag(a, &l);
	seg_add(sg, n, R_HEADER, " lag ");
	enum w_role r = l.state == 1 ? R_GOOD : l.state == 2 ? R_WARN : l.state == 0 ? R_BAD : R_DIM;
	const char *sym = l.state == 1	 ? (a->ascii ? "+" : "●")
			  : l.state == 2 ? (a->ascii ? "~" : "◐")
			  : l.state == 0 ? (a->ascii ? "x" : "✗")
					 : "?";
	char t[96], m[16] = "?", wal[24] = "", st[24] = "";
	if (!isnan(l.msgs))
		fmt_short(m, sizeof m, l.msgs);
	if (!isnan(l.wal) && l.wal >= LAG_WAL_AMBER) {
		char b[16];
		fmt_short(b, sizeof b, l.wal / 1048576);
		snprintf(wal, sizeof wal, " WAL %sMB", b);
	}
	if (!isnan(l.stale) && l.stale > LAG_STALE_AMBER) {
		char age[16];
		w_fmt_age(age, sizeof age, l.stale);
		snprintf(st, sizeof st, " %s", age);
	}
	if (l.state < 0)
		snprintf(t, sizeof t, "?");
	else
		snprintf(t, sizeof t, "%s %s%s%s", sym, m, wal, st);
	seg_add(sg, n, r, t);
}

/* "NeonBlue › Experiments › Detail" in width columns: the middle views
 * become "…" first, then the text is cut. */
static void draw_crumb(app *a, WINDOW *w, int width)
{
	const char *sep = a->ascii ? " > " : " › ";
	char crumb[512];
	for (int skip = 0; skip < a->nstack; skip++) { /* views before the last elided */
		snprintf(crumb, sizeof crumb, "NeonBlue%s", a->read_only ? " [read-only]" : "");
		for (int i = 0; i < a->nstack; i++) {
			size_t l = strlen(crumb);
			if (i < skip) {
				if (i == 0)
					snprintf(crumb + l, sizeof crumb - l, "%s%s", sep, a->ascii ? "..." : "…");
				continue;
			}
			snprintf(crumb + l, sizeof crumb - l, "%s%s", sep, a->views[a->stack[i]].ops->title);
		}
		if (w_strwidth(crumb) <= width)
			break;
	}
	w_put(w, 0, 0, width, crumb, 1);
}

static void draw_header(app *a)
{
	WINDOW *w = a->hdr;
	wattrset(w, w_attr(R_HEADER));
	w_put(w, 0, 0, a->W, "", 1);
	int narrow = a->W < 100;
	hdr_seg sg[HDR_SEGS];
	int n = 0;
	srv_segs(a, sg, &n, "PG", &a->srv[S_PG]);
	srv_segs(a, sg, &n, "Kafka", &a->srv[S_KAFKA]);
	lag_segs(a, sg, &n);
	srv_segs(a, sg, &n, "CH", &a->srv[S_CH]);
	/* the live event rate (with a 20-second sparkline from 100 columns) */
	double rate[20];
	feed_rate(a->fd, rate, 20);
	char t[256];
	seg_add(sg, &n, R_HEADER, "  ");
	if (!narrow) {
		w_spark_str(t, sizeof t, rate, 20, 20);
		seg_add(sg, &n, R_HEADER, t);
		seg_add(sg, &n, R_HEADER, " ");
		w_fmt_int(t, sizeof t, (long long)rate[19]);
	} else {
		fmt_short(t, sizeof t, rate[19]);
	}
	size_t l = strlen(t);
	snprintf(t + l, sizeof t - l, "/s  ");
	seg_add(sg, &n, R_HEADER, t);
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(t, sizeof t, a->W < 80 ? "%H:%M" : "%H:%M:%S", &tm);
	seg_add(sg, &n, R_HEADER, t);
	int right = 0;
	for (int i = 0; i < n; i++)
		right += w_strwidth(sg[i].text);
	int lw = a->W - right - 1;
	draw_crumb(a, w, lw > 0 ? lw : 0);
	wmove(w, 0, lw > 0 ? lw + 1 : 0);
	attr_t base = w_attr(R_HEADER);
	for (int i = 0; i < n; i++) {
		if (sg[i].role == R_HEADER) {
			waddstr(w, sg[i].text);
			continue;
		}
		/* colour and a symbol: the state reads without colour too */
		wattroff(w, base);
		wattron(w, w_attr(sg[i].role) | A_BOLD);
		waddstr(w, sg[i].text);
		wattroff(w, w_attr(sg[i].role) | A_BOLD);
		wattron(w, base);
	}
	wnoutrefresh(w);
}

/* ---------------------------------------------------------------- footer */

static void view_hints(app *a, char *out, size_t n)
{
	view *v = app_view(a, app_current(a));
	size_t o = 0;
	out[0] = '\0';
	enum action common[] = {ACT_HELP, ACT_PALETTE, ACT_QUIT, ACT_NONE};
	for (int pass = 0; pass < 2; pass++) {
		const enum action *acts = pass == 0 ? v->ops->actions : common;
		for (int i = 0; acts && acts[i] != ACT_NONE; i++) {
			const action_info *ai = &keymap_actions[acts[i]];
			if (ai->writes && a->read_only)
				continue;
			char keys[64];
			keymap_keys_of(acts[i], keys, sizeof keys);
			char *comma = strchr(keys, ',');
			if (comma)
				*comma = '\0';
			if (!keys[0])
				continue;
			int w = snprintf(out + o, n - o, "%s%s %s", o ? "  " : "", keys, ai->name);
			if (w < 0 || (size_t)w >= n - o)
				return;
			o += (size_t)w;
		}
	}
}

static void draw_footer(app *a)
{
	WINDOW *w = a->ftr;
	if (a->palette || a->filtering) {
		char line[300];
		snprintf(line, sizeof line, "%s%s", a->palette ? ":" : "/", a->input);
		w_statusbar(w, 0, line, a->filtering ? "Enter apply  Esc cancel  ! inverts" : "Enter run  Esc cancel", R_FOOTER);
		wnoutrefresh(w);
		return;
	}
	char hints[512];
	view_hints(a, hints, sizeof hints);
	if (a->msg[0] && mono() - a->msg_at < 6) {
		/* colour-blind safe: a failure also starts with a symbol */
		char m[600];
		snprintf(m, sizeof m, "%s%s", a->msg_bad ? (a->ascii ? "! " : "✗ ") : "", a->msg);
		w_statusbar(w, 0, m, NULL, a->msg_bad ? R_BAD : R_FOOTER);
	} else {
		w_statusbar(w, 0, hints, NULL, R_FOOTER);
	}
	wnoutrefresh(w);
}

/* ------------------------------------------------------------- overlays */

/* The help overlay: the current view's bindings, then the global ones, all
 * from the keymap; in two columns when one does not fit. */
static void draw_help(app *a)
{
	WINDOW *w = a->body;
	view *v = app_view(a, app_current(a));
	enum action global[] = {ACT_QUIT,      ACT_HELP,      ACT_PALETTE, ACT_FILTER,  ACT_UP,
				ACT_DOWN,      ACT_TOP,       ACT_BOTTOM,  ACT_PGUP,    ACT_PGDN,
				ACT_ENTER,     ACT_BACK,      ACT_NEXT_VIEW, ACT_PREV_VIEW, ACT_REFRESH,
				ACT_REPAINT,   ACT_THEME,     ACT_NONE};
	char lines[64][160];
	int n = 0;
	for (int pass = 0; pass < 2; pass++) {
		const enum action *acts = pass == 0 ? v->ops->actions : global;
		for (int i = 0; acts && acts[i] != ACT_NONE && n < 62; i++) {
			const action_info *ai = &keymap_actions[acts[i]];
			int dup = 0;
			for (int k = 0; pass == 1 && v->ops->actions && v->ops->actions[k] != ACT_NONE; k++)
				dup |= v->ops->actions[k] == acts[i];
			if ((ai->writes && a->read_only) || dup)
				continue;
			char keys[64];
			keymap_keys_of(acts[i], keys, sizeof keys);
			snprintf(lines[n++], sizeof lines[0], "%-12s %s", keys, ai->help);
		}
	}
	snprintf(lines[n++], sizeof lines[0], "%-12s %s", "1-9", "jump to a view");
	/* the view's keys outside the keymap (Shift+column letter…) */
	const char *more = v->ops->help_extra ? v->ops->help_extra(v) : NULL;
	while (more && *more && n < 63) {
		const char *nl = strchr(more, '\n'), *tab = strchr(more, '\t');
		int len = nl ? (int)(nl - more) : (int)strlen(more);
		int kl = tab && tab < more + len ? (int)(tab - more) : 0;
		snprintf(lines[n++], sizeof lines[0], "%-12.*s %.*s", kl, more, len - kl - !!kl,
			 more + kl + !!kl);
		more = nl ? nl + 1 : NULL;
	}
	int H = getmaxy(w), W = getmaxx(w);
	int rows = H - 2, cols = n > rows ? 2 : 1;
	int bw = W - 2 < (cols == 2 ? 150 : 76) ? W - 2 : (cols == 2 ? 150 : 76);
	int x0 = (W - bw) / 2, cw = bw / cols;
	for (int r = 0; r < H; r++)
		w_put(w, r, 0, W, "", 1);
	wattron(w, w_attr(R_TITLE));
	char t[160];
	snprintf(t, sizeof t, "Keys %s %s (any key closes; rebind with `bind KEY ACTION` in dash.conf)",
		 a->ascii ? "-" : "—", v->ops->title);
	w_put(w, 0, x0, bw, t, 1);
	wattroff(w, w_attr(R_TITLE));
	for (int i = 0; i < n; i++) {
		int c = i / rows, r = i % rows;
		if (c >= cols)
			break;
		w_put(w, 1 + r, x0 + c * cw + 1, cw - 2, lines[i], 1);
	}
}

/* ---------------------------------------------------------------- render */

static void render(app *a)
{
	if (a->too_small) {
		werase(stdscr);
		char m[96];
		snprintf(m, sizeof m, "terminal too small (need %dx%d, have %dx%d)", MIN_W, MIN_H, a->W,
			 a->H);
		if (!a->ascii)
			snprintf(m, sizeof m, "terminal too small (need %d×%d, have %d×%d)", MIN_W, MIN_H,
				 a->W, a->H);
		mvwaddstr(stdscr, a->H / 2, 0, "");
		w_put(stdscr, a->H / 2, a->W > 48 ? (a->W - 48) / 2 : 0, a->W, m, 0);
		wnoutrefresh(stdscr);
		doupdate();
		return;
	}
	view *v = app_view(a, app_current(a));
	draw_header(a);
	if (a->dirty_all || v->dirty) {
		werase(a->body);
		v->ops->draw(v, a, a->body);
		if (a->help)
			draw_help(a);
		if (a->confirm)
			w_confirm_draw(a->body, "Confirm", a->confirm_q);
		v->dirty = 0;
		wnoutrefresh(a->body);
	}
	draw_footer(a);
	int want_cursor = a->palette || a->filtering || (v->text_input && !a->confirm && !a->help);
	curs_set(want_cursor ? 1 : 0);
	if (a->palette || a->filtering) {
		int cx = 1 + w_strwidth(a->input);
		wmove(a->ftr, 0, cx < a->W ? cx : a->W - 1);
		wnoutrefresh(a->ftr);
	} else if (want_cursor) {
		wnoutrefresh(a->body); /* the form left the cursor on its field */
	}
	doupdate();
	a->dirty_all = 0;
}

/* --------------------------------------------------------------- palette */

static int view_by_name(const char *s)
{
	static const struct {
		const char *n;
		int v;
	} m[] = {{"experiments", V_EXPS}, {"exps", V_EXPS},     {"home", V_EXPS},
		 {"detail", V_DETAIL},    {"exp", V_DETAIL},    {"feed", V_FEED},
		 {"live", V_FEED},        {"funnel", V_FUNNEL}, {"cohort", V_COHORT},
		 {"cohorts", V_COHORT},   {"revenue", V_REVENUE}, {"segments", V_SEGMENTS},
		 {"segment", V_SEGMENTS}, {"health", V_HEALTH}, {"pipeline", V_HEALTH},
		 {"new", V_MANAGE},       {"manage", V_MANAGE}, {"create", V_MANAGE}};
	for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
		if (!strcmp(s, m[i].n))
			return m[i].v;
	return -1;
}

void app_palette_run(app *a, const char *line)
{
	char buf[256];
	w_copy(buf, sizeof buf, line);
	char *save = NULL;
	char *cmd = strtok_r(buf, " \t", &save);
	char *arg = strtok_r(NULL, " \t", &save);
	char *rest = arg ? strtok_r(NULL, "", &save) : NULL;
	if (!cmd)
		return;
	if (!strcmp(cmd, "q") || !strcmp(cmd, "quit") || !strcmp(cmd, "q!")) {
		raise(SIGTERM);
		return;
	}
	if (!strcmp(cmd, "theme")) {
		if (!arg)
			next_theme(a);
		else if (set_theme(a, arg) == 0)
			app_message(a, 0, "theme %s", arg);
		return;
	}
	if (!strcmp(cmd, "bind")) {
		nb_err err;
		if (!arg || !rest || keymap_bind(arg, rest, &err))
			app_message(a, 1, "%s", !arg || !rest ? "usage: :bind KEY ACTION" : err.msg);
		else
			app_message(a, 0, "%s bound to %s", arg, rest);
		return;
	}
	if (!strcmp(cmd, "help")) {
		a->help = 1;
		a->dirty_all = 1;
		return;
	}
	int v = view_by_name(cmd);
	if (v < 0) {
		app_message(a, 1, "unknown command \":%s\" (exp KEY, feed, funnel, cohort, revenue, "
				  "segments, health, new, theme NAME, bind KEY ACTION, q)", cmd);
		return;
	}
	if (arg && v != V_FEED && v != V_HEALTH && v != V_MANAGE && v != V_EXPS)
		w_copy(a->selected_exp, sizeof a->selected_exp, arg);
	app_open(a, v, arg);
}

/* ------------------------------------------------------------------ keys */

static void line_edit(char *buf, size_t n, int ch, int is_code)
{
	size_t l = strlen(buf);
	if ((is_code && ch == KEY_BACKSPACE) || (!is_code && (ch == 127 || ch == 8))) {
		while (l > 0 && ((unsigned char)buf[l - 1] & 0xC0) == 0x80)
			l--;
		if (l > 0)
			l--;
		buf[l] = '\0';
	} else if (!is_code && ch == 21) {
		buf[0] = '\0';
	} else if (!is_code && ch >= 32) {
		char mb[8];
		mbstate_t st;
		memset(&st, 0, sizeof st);
		size_t k = wcrtomb(mb, (wchar_t)ch, &st);
		if (k != (size_t)-1 && l + k + 1 < n) {
			memcpy(buf + l, mb, k);
			buf[l + k] = '\0';
		}
	}
}

static int is_enter(int ch, int is_code)
{
	return (!is_code && (ch == '\n' || ch == '\r')) || (is_code && ch == KEY_ENTER);
}

/* Sends the filter text to the current view as a pseudo action. */
static void apply_filter(app *a)
{
	view *v = app_view(a, app_current(a));
	if (v->ops->key)
		v->ops->key(v, a, ACT_FILTER, -1, 0);
}

static int handle_overlay_key(app *a, int ch, int is_code)
{
	if (a->confirm) {
		if (!is_code && (ch == 'y' || ch == 'Y')) {
			a->confirm = 0;
			if (a->confirm_job) {
				app_submit(a, a->confirm_job);
				a->confirm_job = NULL;
				app_message(a, 0, "working…");
			}
		} else if (!is_code && (ch == 'n' || ch == 'N' || ch == 27 || ch == 'q')) {
			a->confirm = 0;
			job_free(a->confirm_job);
			a->confirm_job = NULL;
			app_message(a, 0, "cancelled");
		}
		a->dirty_all = 1;
		return 1;
	}
	if (a->palette || a->filtering) {
		if (!is_code && ch == 27) {
			a->palette = 0;
			if (a->filtering) {
				a->filtering = 0;
				a->input[0] = '\0';
				apply_filter(a);
			}
		} else if (is_enter(ch, is_code)) {
			if (a->palette) {
				a->palette = 0;
				char line[256];
				w_copy(line, sizeof line, a->input);
				app_palette_run(a, line);
			} else {
				a->filtering = 0;
				apply_filter(a);
			}
		} else {
			line_edit(a->input, sizeof a->input, ch, is_code);
			if (a->filtering)
				apply_filter(a); /* filter as you type */
		}
		a->dirty_all = 1;
		return 1;
	}
	if (a->help) {
		a->help = 0;
		a->dirty_all = 1;
		return 1;
	}
	return 0;
}

/* The wheel scrolls the current view; a click is handed to it as
 * ACT_ENTER-less selection (ch = body row, is_code = -1). */
static int handle_mouse(app *a)
{
	MEVENT ev;
	if (getmouse(&ev) != OK || a->help || a->confirm || a->palette || a->filtering)
		return 0;
	view *v = app_view(a, app_current(a));
	if (!v->ops->key)
		return 0;
	if (ev.bstate & (BUTTON4_PRESSED | BUTTON5_PRESSED)) {
		enum action act = ev.bstate & BUTTON4_PRESSED ? ACT_UP : ACT_DOWN;
		for (int i = 0; i < 3; i++)
			v->ops->key(v, a, act, 0, 0);
	} else if (ev.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED)) {
		v->ops->key(v, a, ACT_NONE, ev.y - 1, -1); /* body coordinates */
	}
	v->dirty = 1;
	return 0;
}

static int handle_key(app *a, int ch, int is_code)
{
	a->last_key_at = mono();
	if (!is_code && ch == 3)
		return VF_QUIT; /* Ctrl-C always quits */
	if (is_code && ch == KEY_RESIZE)
		return 0;
	if (is_code && ch == KEY_MOUSE)
		return handle_mouse(a);
	if (handle_overlay_key(a, ch, is_code))
		return 0;
	view *v = app_view(a, app_current(a));
	if (v->text_input) {
		int f = v->ops->key(v, a, ACT_NONE, ch, is_code);
		if (f & VF_HANDLED)
			return f;
	}
	enum action act = keymap_lookup(is_code ? (TK_FN | ch) : ch);
	if (act != ACT_NONE && keymap_actions[act].writes && a->read_only) {
		app_message(a, 1, "read-only: %s is disabled (--read-only)", keymap_actions[act].name);
		return 0;
	}
	if (v->ops->key) {
		int f = v->ops->key(v, a, act, ch, is_code);
		if (f & VF_HANDLED)
			return f;
	}
	switch (act) {
	case ACT_QUIT:
		if (a->nstack > 1)
			app_back(a);
		else
			return VF_QUIT;
		break;
	case ACT_BACK:
		app_back(a);
		break;
	case ACT_HELP:
		a->help = 1;
		break;
	case ACT_PALETTE:
		a->palette = 1;
		a->input[0] = '\0';
		break;
	case ACT_FILTER:
		a->filtering = 1;
		a->input[0] = '\0';
		break;
	case ACT_REPAINT:
		clearok(curscr, TRUE);
		break;
	case ACT_THEME:
		next_theme(a);
		break;
	case ACT_NEXT_VIEW:
	case ACT_PREV_VIEW: {
		int cur = app_current(a), d = act == ACT_NEXT_VIEW ? 1 : V_COUNT - 1;
		int nx = (cur + d) % V_COUNT;
		if (nx == V_MANAGE && a->read_only)
			nx = (nx + d) % V_COUNT;
		a->nstack = 1;
		if (nx != V_EXPS)
			app_open(a, nx, NULL);
		else
			app_open(a, V_EXPS, NULL);
		break;
	}
	case ACT_REFRESH:
		if (v->ops->tick)
			v->ops->tick(v, a);
		app_message(a, 0, "refreshing…");
		break;
	default:
		if (act >= ACT_VIEW1 && act <= ACT_VIEW9) {
			a->nstack = 1;
			app_open(a, act - ACT_VIEW1, NULL);
		}
		break;
	}
	a->dirty_all = 1;
	return 0;
}

/* ------------------------------------------------------------------ data */

static void srv_set(app *a, int s, int ok, const char *msg)
{
	srv_state *st = &a->srv[s];
	if (st->state != ok) {
		st->state = ok;
		st->since = app_now();
		a->dirty_all = 1;
	}
	w_copy(st->msg, sizeof st->msg, msg ? msg : "");
}

static void dispatch(app *a, job *j)
{
	int sv = job_server(j);
	if (sv < S_NSRV && a->srv[sv].waiting > 0 && --a->srv[sv].waiting > 0)
		a->srv[sv].wait_since = app_now(); /* the next one out */
	if (j->kind == J_CH_PING) {
		srv_set(a, S_CH, j->rc == 0, j->err.msg);
	} else if (j->kind == J_REPORT) {
		/* analyses run on ClickHouse: an answer shows it up, a server error
		 * down (their time is not counted as waiting: a first rollup build
		 * may take long on a healthy server) */
		if (j->rc == 0)
			srv_set(a, S_CH, 1, "");
		else if (j->err.code == NB_ESERVER)
			srv_set(a, S_CH, 0, j->err.msg);
	} else if (j->kind != J_HEALTH) {
		if (j->rc == 0)
			srv_set(a, S_PG, 1, "");
		else if (j->err.code == NB_ESERVER)
			srv_set(a, S_PG, 0, j->err.msg);
	}
	view *v = app_view(a, j->view);
	if (v->ops->data)
		v->ops->data(v, a, j);
	if (j->view == app_current(a))
		v->dirty = 1;
	/* actions refresh the experiment list */
	if (j->kind == J_CREATE || j->kind == J_TRANSITION || j->kind == J_EDIT) {
		view *e = app_view(a, V_EXPS);
		e->ops->tick(e, a);
	}
	job_free(j);
}

/* -------------------------------------------------------------- options */

typedef struct dash_opts {
	const char *theme, *config, *view, *exp, *colors, *filter;
	int read_only, no_color, ascii, backfill, refresh, bench, mouse;
} dash_opts;

static void conf_line(app *a, dash_opts *o, const char *path, int lineno, char *line)
{
	char *s = line;
	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s || *s == '#')
		return;
	nb_err err;
	if (!strncmp(s, "bind ", 5)) {
		char key[64], act[64];
		if (sscanf(s + 5, "%63s %63s", key, act) != 2)
			app_message(a, 1, "%s:%d: expected `bind KEY ACTION`", path, lineno);
		else if (keymap_bind(key, act, &err))
			app_message(a, 1, "%s:%d: %s", path, lineno, err.msg);
		return;
	}
	char k[64], v[256];
	if (sscanf(s, "%63[^= ] = %255[^\n]", k, v) != 2) {
		app_message(a, 1, "%s:%d: expected `key = value` or `bind KEY ACTION`", path, lineno);
		return;
	}
	if (!strcmp(k, "theme") && !o->theme)
		w_copy(a->theme, sizeof a->theme, v);
	else if (!strcmp(k, "refresh"))
		a->refresh_s = atoi(v) > 0 ? atoi(v) : a->refresh_s;
	else if (!strcmp(k, "backfill"))
		a->backfill_min = atoi(v);
	else if (!strcmp(k, "ascii"))
		a->ascii |= !strcmp(v, "true") || !strcmp(v, "1");
	else if (!strcmp(k, "read_only"))
		a->read_only |= !strcmp(v, "true") || !strcmp(v, "1");
	else if (!strcmp(k, "mouse"))
		o->mouse |= !strcmp(v, "true") || !strcmp(v, "1");
	else
		app_message(a, 1, "%s:%d: unknown setting \"%s\"", path, lineno, k);
}

static void load_conf(app *a, dash_opts *o)
{
	char path[NB_PATH_MAX];
	if (o->config) {
		w_copy(path, sizeof path, o->config);
	} else {
		const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
		if (xdg && *xdg)
			snprintf(path, sizeof path, "%s/neonblue/dash.conf", xdg);
		else
			snprintf(path, sizeof path, "%s/.config/neonblue/dash.conf", home ? home : ".");
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		if (o->config)
			app_message(a, 1, "cannot read %s: %s", path, strerror(errno));
		return;
	}
	char line[512];
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		conf_line(a, o, path, ++n, line);
	}
	fclose(f);
}

static int parse_opts(int argc, char **argv, dash_opts *o)
{
	memset(o, 0, sizeof *o);
	o->backfill = -1;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		const char **dst = NULL;
		int *idst = NULL;
		if (!strcmp(s, "--read-only"))
			o->read_only = 1;
		else if (!strcmp(s, "--no-color") || !strcmp(s, "--no-colour"))
			o->no_color = 1;
		else if (!strcmp(s, "--ascii"))
			o->ascii = 1;
		else if (!strcmp(s, "--mouse"))
			o->mouse = 1;
		else if (!strcmp(s, "--theme"))
			dst = &o->theme;
		else if (!strcmp(s, "--config"))
			dst = &o->config;
		else if (!strcmp(s, "--view"))
			dst = &o->view;
		else if (!strcmp(s, "--exp"))
			dst = &o->exp;
		else if (!strcmp(s, "--filter"))
			dst = &o->filter;
		else if (!strcmp(s, "--colors"))
			dst = &o->colors;
		else if (!strcmp(s, "--backfill"))
			idst = &o->backfill;
		else if (!strcmp(s, "--refresh"))
			idst = &o->refresh;
		else if (!strcmp(s, "--bench-frames"))
			idst = &o->bench;
		else
			return nb_front_usage_error(argv[0], "unknown option %s", s);
		if (dst || idst) {
			if (i + 1 >= argc)
				return nb_front_usage_error(argv[0], "%s needs a value", s);
			if (dst) {
				*dst = argv[++i];
			} else {
				char *end;
				long v = strtol(argv[++i], &end, 10);
				if (*end || v < 0 || v > 100000)
					return nb_front_usage_error(argv[0], "%s: \"%s\" is not a whole number ≥ 0",
							       s, argv[i]);
				*idst = (int)v;
			}
		}
	}
	if (o->view && view_by_name(o->view) < 0)
		return nb_front_usage_error(argv[0], "--view: unknown view \"%s\"", o->view);
	if (o->colors && strcmp(o->colors, "0") && strcmp(o->colors, "8") &&
	    strcmp(o->colors, "16") && strcmp(o->colors, "256") && strcmp(o->colors, "truecolor"))
		return nb_front_usage_error(argv[0], "--colors: \"%s\" is not 0, 8, 16, 256 or truecolor",
				       o->colors);
	return 0;
}

/* ------------------------------------------------------------------ loop */

static void tick_all(app *a, int first)
{
	view *cur = app_view(a, app_current(a));
	view *home = app_view(a, V_EXPS);
	home->ops->tick(home, a); /* the home list also feeds the header's PG status */
	if (cur != home && cur->ops->tick)
		cur->ops->tick(cur, a);
	view *health = app_view(a, V_HEALTH); /* the header's pipeline lag */
	if (cur != health)
		health->ops->tick(health, a);
	if (first || a->cfg.clickhouse[0]) {
		if (a->cfg.clickhouse[0])
			app_submit(a, job_new(J_CH_PING, V_EXPS));
		else
			srv_set(a, S_CH, 0, "no ClickHouse configured");
	}
}

static void poll_feed_status(app *a)
{
	char msg[256];
	int s = feed_status(a->fd, msg, sizeof msg);
	if (s >= 0)
		srv_set(a, S_KAFKA, s, msg);
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

static double thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Times full frames (every window redrawn and flushed to the terminal): wall
 * time, and the main thread's CPU time, which a busy machine does not inflate. */
static void bench_frames(app *a)
{
	int n = a->bench_frames;
	double *t = nb_xcalloc((size_t)n, sizeof *t), sum = 0, cpu0 = thread_cpu();
	for (int i = 0; i < n; i++) {
		double t0 = mono();
		a->dirty_all = 1;
		render(a);
		t[i] = (mono() - t0) * 1e6;
		sum += t[i];
	}
	a->bench_us[3] = (thread_cpu() - cpu0) * 1e6 / n;
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	a->bench_us[0] = sum / n;
	a->bench_us[1] = t[n / 2];
	a->bench_us[2] = t[n - 1];
	free(t);
}

static int run_loop(app *a)
{
	double bench_at = mono() + 4; /* data loaded by then */
	struct pollfd pf[3] = {{0, POLLIN, 0}, {a->wake_fd, POLLIN, 0}, {g_sig_pipe[0], POLLIN, 0}};
	double last_frame = 0, next_tick = 0, next_second = 0, resize_at = -1;
	int quit = 0, first = 1, key_pending = 0;
	while (!quit) {
		double now = mono();
		view *v = app_view(a, app_current(a));
		int dirty = a->dirty_all || v->dirty;
		double wait = next_second - now;
		if (next_tick - now < wait)
			wait = next_tick - now;
		if (dirty && last_frame + 0.1 - now < wait)
			wait = last_frame + 0.1 - now;
		if (resize_at >= 0 && resize_at + 0.05 - now < wait)
			wait = resize_at + 0.05 - now;
		int ms = wait <= 0 ? 0 : (int)ceil(wait * 1000);
		if (poll(pf, 3, ms) < 0 && errno != EINTR)
			break;
		if (pf[2].revents & POLLIN) {
			unsigned char c;
			while (read(g_sig_pipe[0], &c, 1) == 1) {
				if (c == SIGWINCH)
					resize_at = mono(); /* debounced below */
				else
					quit = 1;
			}
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			wint_t wc;
			int r, n = 0;
			while (!quit && n++ < 256 && (r = wget_wch(stdscr, &wc)) != ERR) {
				if (r == KEY_CODE_YES && wc == KEY_RESIZE) {
					resize_at = mono(); /* debounced below */
					continue;
				}
				if (handle_key(a, (int)wc, r == KEY_CODE_YES) & VF_QUIT)
					quit = 1;
				key_pending = 1;
			}
			if (pf[0].revents & (POLLHUP | POLLERR))
				quit = 1;
		}
		if (pf[1].revents & POLLIN) {
			uint64_t cnt;
			if (read(a->wake_fd, &cnt, sizeof cnt) < 0) {
				/* EAGAIN: nothing to read */
			}
			job *j;
			while ((j = worker_take(a->wk)))
				dispatch(a, j);
			view *fv = app_view(a, V_FEED);
			if (app_current(a) == V_FEED)
				fv->dirty = 1;
		}
		now = mono();
		if (resize_at >= 0 && now - resize_at >= 0.05) {
			resize_at = -1;
			struct winsize ws;
			if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
				resizeterm(ws.ws_row, ws.ws_col);
			layout(a);
			apply_colors(a);
			clearok(curscr, TRUE);
		}
		if (now >= next_second) {
			next_second = now + 1;
			poll_feed_status(a);
			if (app_current(a) == V_FEED || app_current(a) == V_HEALTH)
				app_view(a, app_current(a))->dirty = 1;
		}
		if (now >= next_tick) {
			next_tick = now + a->refresh_s;
			tick_all(a, first);
			first = 0;
		}
		if (a->bench_frames > 0 && now >= bench_at) {
			bench_frames(a);
			quit = 1;
		}
		v = app_view(a, app_current(a));
		/* the header redraws every second (clock); the body only when dirty */
		/* a keypress is answered at once; data updates wait for the next
		 * 100 ms slot (at most ~10 frames a second however fast the feed) */
		if (key_pending ||
		    ((a->dirty_all || v->dirty || now - last_frame >= 1) && now - last_frame >= 0.1)) {
			render(a);
			last_frame = now;
			key_pending = 0;
		}
	}
	return 0;
}

static void app_init_views(app *a)
{
	const view_ops *ops[V_COUNT] = {&view_exps_ops,	  &view_detail_ops,  &view_feed_ops,
					&view_funnel_ops, &view_cohort_ops,  &view_revenue_ops,
					&view_segments_ops, &view_health_ops, &view_manage_ops};
	for (int i = 0; i < V_COUNT; i++) {
		a->views[i].ops = ops[i];
		if (ops[i]->init)
			ops[i]->init(&a->views[i], a);
	}
}

static void app_free_views(app *a)
{
	for (int i = 0; i < V_COUNT; i++)
		if (a->views[i].ops && a->views[i].ops->free)
			a->views[i].ops->free(&a->views[i]);
}

static int depth_from_opt(const char *c)
{
	if (!strcmp(c, "truecolor"))
		return 0x1000000;
	return atoi(c);
}

int cmd_dash(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		fputs(usage, stdout);
		fputs(NB_FRONT_GLOBAL_HELP, stdout);
		return 0;
	}
	dash_opts o;
	int rc = parse_opts(argc, argv, &o);
	if (rc)
		return rc;
	if (!isatty(0) || !isatty(1)) {
		nb_err err;
		nb_err_set(&err, NB_EINPUT, "neonblue dash needs a terminal on stdin and stdout");
		return nb_front_fail(&err);
	}
	setlocale(LC_ALL, "");
	static app A;
	app *a = &A;
	memset(a, 0, sizeof *a);
	g_app = a;
	a->cfg = ctx->cfg;
	a->refresh_s = 5;
	snprintf(a->theme, sizeof a->theme, "default");
	ssize_t l = readlink("/proc/self/exe", a->exe, sizeof a->exe - 1);
	if (l > 0)
		a->exe[l] = '\0';
	const char *nc = getenv("NO_COLOR");
	a->no_color = o.no_color || (nc && *nc);
	a->ascii = o.ascii || strcmp(nl_langinfo(CODESET), "UTF-8") != 0;
	a->read_only = o.read_only;
	keymap_defaults();
	load_conf(a, &o);
	if (o.theme)
		w_copy(a->theme, sizeof a->theme, o.theme);
	if (o.backfill >= 0)
		a->backfill_min = o.backfill;
	if (o.refresh > 0)
		a->refresh_s = o.refresh;
	a->bench_frames = o.bench;
	for (int i = 0; i < S_NSRV; i++)
		a->srv[i].state = -1, a->srv[i].since = app_now();

	a->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->wake_fd < 0 || pipe2(g_sig_pipe, O_NONBLOCK | O_CLOEXEC)) {
		nb_err err;
		nb_err_set(&err, NB_ESERVER, "eventfd/pipe: %s", strerror(errno));
		return nb_front_fail(&err);
	}
	install_signals();
	atexit(restore_terminal);
	if (!initscr()) {
		nb_err err;
		nb_err_set(&err, NB_EINPUT, "cannot initialise the terminal (TERM=%s)",
			   getenv("TERM") ? getenv("TERM") : "");
		return nb_front_fail(&err);
	}
	g_curses_on = 1;
	raw();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	if (o.mouse)
		mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
	a->depth = 0;
	if (!a->no_color && has_colors()) {
		start_color();
		use_default_colors();
		a->depth = o.colors ? depth_from_opt(o.colors) : theme_depth();
		if (a->depth > theme_depth() && theme_depth() < 0x1000000 && a->depth == 0x1000000)
			a->depth = theme_depth();
	}
	a->wk = worker_start(&a->cfg, a->exe, a->wake_fd);
	a->fd = feed_start(&a->cfg, a->backfill_min, a->wake_fd);
	app_init_views(a);
	layout(a);
	char saved_msg[512];
	w_copy(saved_msg, sizeof saved_msg, a->msg);
	if (set_theme(a, a->theme) && strcmp(a->theme, "default"))
		set_theme(a, "default");
	if (saved_msg[0] && !a->msg[0])
		app_message(a, 1, "%s", saved_msg);
	a->stack[0] = V_EXPS;
	a->nstack = 1;
	if (o.exp)
		w_copy(a->selected_exp, sizeof a->selected_exp, o.exp);
	app_open(a, V_EXPS, NULL);
	if (o.filter) {
		w_copy(a->input, sizeof a->input, o.filter);
		apply_filter(a);
		a->input[0] = '\0';
	}
	if (o.view && view_by_name(o.view) != V_EXPS)
		app_open(a, view_by_name(o.view), o.exp);
	run_loop(a);
	restore_terminal();
	if (a->bench_frames > 0)
		fprintf(stderr,
			"frames %d (%dx%d, view %s): CPU %.0f us/frame; wall mean %.0f us, p50 %.0f us, "
			"max %.0f us\n",
			a->bench_frames, a->W, a->H, a->views[app_current(a)].ops->name, a->bench_us[3],
			a->bench_us[0], a->bench_us[1], a->bench_us[2]);
	worker_stop(a->wk);
	feed_stop(a->fd);
	job_free(a->confirm_job);
	app_free_views(a);
	if (a->hdr)
		delwin(a->hdr);
	if (a->body)
		delwin(a->body);
	if (a->ftr)
		delwin(a->ftr);
	close(a->wake_fd);
	close(g_sig_pipe[0]);
	close(g_sig_pipe[1]);
	g_sig_pipe[0] = g_sig_pipe[1] = -1;
	return 0;
}
