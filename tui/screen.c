/* screen.c — the dashboard's frame around the current view: the header
 * (breadcrumb, server states, pipeline lag, event rate, clock), the footer
 * (key hints, messages, the palette and filter prompt) and the frame drawn
 * once per render, overlays on top. */
#include "screen.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
	if (a->msg[0] && app_mono() - a->msg_at < 6) {
		/* colour-blind safe: a failure also starts with a symbol */
		char m[600];
		snprintf(m, sizeof m, "%s%s", a->msg_bad ? (a->ascii ? "! " : "✗ ") : "", a->msg);
		w_statusbar(w, 0, m, NULL, a->msg_bad ? R_BAD : R_FOOTER);
	} else {
		w_statusbar(w, 0, hints, NULL, R_FOOTER);
	}
	wnoutrefresh(w);
}

/* ----------------------------------------------------------------- frame */

/* One frame: the header (every second: the clock), the current view's body
 * when dirty with the help overlay and the confirmation over it, the footer
 * and the cursor; or the too-small notice. */
void screen_render(app *a)
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
			overlay_help_draw(a);
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
