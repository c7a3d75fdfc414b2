/* dash.c — `neonblue dash`: options, terminal setup and restore, the main
 * loop (poll on the terminal, the workers' wake-up fd, signals and timers),
 * the app's side of the view interface (app_ops), keys to actions, the
 * workers' results to the views. The frame is drawn by screen.c, the
 * overlays by overlay.c. */
#include "screen.h"
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
#include <termios.h>
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
	"                  revenue segments health new flags\n"
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

/* How long a shutdown may take once it began (a quit signal, or the main
 * loop's end) before the process leaves without it: a thread stuck in a
 * library call, or a write to a terminal nobody reads, must not keep a
 * dashboard alive that was told to go (SIGALRM, then _exit). */
#define DASH_EXIT_WATCHDOG_S 10
static volatile sig_atomic_t g_quit_sig;

static void on_watchdog(int sig)
{
	(void)sig;
	_exit(g_quit_sig ? 128 + g_quit_sig : 1);
}

static void arm_watchdog(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_watchdog;
	sigaction(SIGALRM, &sa, NULL);
	alarm(DASH_EXIT_WATCHDOG_S);
}

/* The terminal went away (its pty's other side closed: tcgetattr says EIO)
 * or stdin is no terminal any more. */
static int term_gone(void)
{
	struct termios t;
	return tcgetattr(0, &t) < 0;
}

static void on_quit_signal(int sig)
{
	unsigned char c = (unsigned char)sig;
	if (sig != SIGWINCH && !g_quit_sig) {
		g_quit_sig = sig;
		alarm(DASH_EXIT_WATCHDOG_S); /* SIGALRM's handler is set before any quit signal */
	}
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
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_watchdog;
	sigaction(SIGALRM, &sa, NULL);
}

/* ----------------------------------------------------------------- app */

/* The app's side of the view interface (app_ops in tui.h): what the views
 * ask through app_message, app_submit, app_confirm, app_open, app_back. */

static void dash_message(app *a, int bad, const char *fmt, va_list ap)
{
	vsnprintf(a->msg, sizeof a->msg, fmt, ap);
	a->msg_bad = bad;
	a->msg_at = app_mono();
	a->dirty_all = 1;
}

/* Which server a job waits on (S_NSRV: none the header tracks). */
static int job_server(const job *j)
{
	return j->kind == J_CH_PING ? S_CH : j->kind == J_REPORT || j->kind == J_HEALTH ? S_NSRV : S_PG;
}

static void dash_submit(app *a, job *j)
{
	int s = job_server(j);
	if (s < S_NSRV && a->srv[s].waiting++ == 0)
		a->srv[s].wait_since = app_now();
	worker_submit(a->wk, j);
}

static void dash_confirm(app *a, const char *question, job *j)
{
	w_copy(a->confirm_q, sizeof a->confirm_q, question);
	job_free(a->confirm_job);
	a->confirm_job = j;
	a->confirm = 1;
	a->dirty_all = 1;
}

static void dash_open(app *a, int idx, const char *arg)
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

static void dash_back(app *a)
{
	if (a->nstack > 1)
		a->nstack--;
	view *v = app_view(a, app_current(a));
	if (v->ops->enter)
		v->ops->enter(v, a, NULL);
	a->dirty_all = 1;
}

static const app_ops dash_ops = {
	.open = dash_open,
	.back = dash_back,
	.message = dash_message,
	.confirm = dash_confirm,
	.submit = dash_submit,
};

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

/* ------------------------------------------------------------------ keys */

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
	a->last_key_at = app_mono();
	if (!is_code && ch == 3)
		return VF_QUIT; /* Ctrl-C always quits */
	if (is_code && ch == KEY_RESIZE)
		return 0;
	if (is_code && ch == KEY_MOUSE)
		return handle_mouse(a);
	if (overlay_key(a, ch, is_code))
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
		theme_next(a);
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
		if ((act >= ACT_VIEW1 && act <= ACT_VIEW9) || act == ACT_VIEW0) {
			a->nstack = 1;
			app_open(a, act == ACT_VIEW0 ? V_FLAGS : (int)(act - ACT_VIEW1), NULL);
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
		double t0 = app_mono();
		a->dirty_all = 1;
		screen_render(a);
		t[i] = (app_mono() - t0) * 1e6;
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
	double bench_at = app_mono() + 4; /* data loaded by then */
	struct pollfd pf[3] = {{0, POLLIN, 0}, {a->wake_fd, POLLIN, 0}, {g_sig_pipe[0], POLLIN, 0}};
	double last_frame = 0, next_tick = 0, next_second = 0, resize_at = -1;
	int quit = 0, first = 1, key_pending = 0;
	while (!quit) {
		double now = app_mono();
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
					resize_at = app_mono(); /* debounced below */
				else
					quit = 1;
			}
		}
		if (pf[0].revents & POLLNVAL) {
			quit = 1; /* no terminal on fd 0 any more */
			a->term_dead = 1;
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			wint_t wc;
			int r, n = 0;
			while (!quit && n < 256 && (r = wget_wch(stdscr, &wc)) != ERR) {
				n++;
				if (r == KEY_CODE_YES && wc == KEY_RESIZE) {
					resize_at = app_mono(); /* debounced below */
					continue;
				}
				if (handle_key(a, (int)wc, r == KEY_CODE_YES) & VF_QUIT)
					quit = 1;
				key_pending = 1;
			}
			/* hung up, or readable with nothing to read (EOF, EIO): the
			 * terminal is gone; polling on would spin */
			if ((pf[0].revents & (POLLHUP | POLLERR)) || (!n && term_gone())) {
				quit = 1;
				a->term_dead = 1;
			}
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
		now = app_mono();
		if (resize_at >= 0 && now - resize_at >= 0.05) {
			resize_at = -1;
			struct winsize ws;
			if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
				resizeterm(ws.ws_row, ws.ws_col);
			layout(a);
			theme_bkgd(a);
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
			screen_render(a);
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
					&view_segments_ops, &view_health_ops, &view_manage_ops,
					&view_flags_ops};
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
	a->ops = &dash_ops;
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
	if (theme_set(a, a->theme) && strcmp(a->theme, "default"))
		theme_set(a, "default");
	if (saved_msg[0] && !a->msg[0])
		app_message(a, 1, "%s", saved_msg);
	a->stack[0] = V_EXPS;
	a->nstack = 1;
	if (o.exp)
		w_copy(a->selected_exp, sizeof a->selected_exp, o.exp);
	app_open(a, V_EXPS, NULL);
	if (o.filter) {
		w_copy(a->input, sizeof a->input, o.filter);
		overlay_filter(a);
		a->input[0] = '\0';
	}
	if (o.view && view_by_name(o.view) != V_EXPS)
		app_open(a, view_by_name(o.view), o.exp);
	run_loop(a);
	arm_watchdog(); /* (again, if a signal armed it) the rest is bounded too */
	if (a->term_dead || term_gone())
		g_curses_on = 0; /* restore nothing on a dead terminal: no writes, no tcsetattr */
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
