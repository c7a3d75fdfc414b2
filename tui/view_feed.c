/* view_feed.c — the live CDC feed: rows as they arrive (time, table, op,
 * user, type/variant/status, value, experiment), events-per-second
 * sparkline, pause, scroll back, filter. */
#include "tui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct feed_st {
	int paused;
	int pause_total; /* rows received when paused: the view stays put */
	int scroll;      /* rows back from the newest shown */
	char filter[128];
	feed_row *rows;
	int cap;
} feed_st;

static const enum action acts[] = {ACT_PAUSE, ACT_FILTER, ACT_UP, ACT_DOWN, ACT_PGUP, ACT_PGDN, ACT_BOTTOM,
				   ACT_NONE};

static void feedv_init(view *v, app *a)
{
	(void)a;
	feed_st *s = nb_xcalloc(1, sizeof *s);
	s->cap = 512;
	s->rows = nb_xcalloc((size_t)s->cap, sizeof *s->rows);
	v->st = s;
}

static void feedv_free(view *v)
{
	feed_st *s = v->st;
	free(s->rows);
	free(s);
}

static const char *op_name(char op)
{
	switch (op) {
	case 'c':
		return "insert";
	case 'u':
		return "update";
	case 'd':
		return "delete";
	case 'r':
		return "snapshot";
	case 't':
		return "truncate";
	}
	return "?";
}

static void feedv_draw(view *v, app *a, WINDOW *w)
{
	feed_st *s = v->st;
	int H = getmaxy(w), W = getmaxx(w);
	double rate[120];
	feed_rate(a->fd, rate, 120);
	char line[600], cur[32];
	w_fmt_int(cur, sizeof cur, (long long)rate[119]);
	int total = 0;
	int body = H - 3;
	if (body > s->cap)
		body = s->cap;
	/* when paused, skip what arrived since so the rows stay where they were */
	feed_rows(a->fd, s->rows, 0, 0, "", &total);
	int skip = s->scroll + (s->paused ? total - s->pause_total : 0);
	int n = feed_rows(a->fd, s->rows, body, skip, s->filter, &total);
	char tot[32];
	w_fmt_int(tot, sizeof tot, total);
	snprintf(line, sizeof line, "%s events/s  %s rows received%s%s%s%s", cur, tot,
		 s->paused ? "  [PAUSED — p resumes]" : "", s->scroll ? "  [scrolled back]" : "",
		 s->filter[0] ? "  filter: " : "", s->filter);
	/* the counts first; the events/s sparkline (up to 120 s) gets the rest */
	int nr = W - w_strwidth(line) - 2;
	if (nr > 120)
		nr = 120;
	wattron(w, s->paused ? w_attr(R_WARN) : w_attr(R_TITLE));
	w_put(w, 0, 0, nr >= 10 ? W - nr - 1 : W, line, 1);
	wattroff(w, s->paused ? w_attr(R_WARN) : w_attr(R_TITLE));
	if (nr >= 10)
		w_sparkline(w, 0, W - nr, nr, rate, 120);
	int narrow = W < 110;
	int uw = narrow ? 14 : 18, tw = narrow ? 12 : 16, vw = narrow ? 9 : 10;
	wattron(w, w_attr(R_TITLE));
	snprintf(line, sizeof line, "%-12s %-12s %-*s %-*s %-*s %*s  %s", "Time", "Table",
		 narrow ? 2 : 8, narrow ? "Op" : "Op", uw, "User", tw, "Type", vw, "Value",
		 "Experiment");
	w_put(w, 1, 0, W, line, 1);
	wattroff(w, w_attr(R_TITLE));
	if (n == 0) {
		char ks[256];
		int st = feed_status(a->fd, ks, sizeof ks);
		wattron(w, w_attr(R_DIM));
		w_put(w, 2, 0, W,
		      st == 0 ? ks : "waiting for changes on the CDC topics (the feed starts at the end)…",
		      1);
		wattroff(w, w_attr(R_DIM));
	}
	for (int i = 0; i < n; i++) {
		const feed_row *r = &s->rows[i];
		time_t t = (time_t)(r->ts_us / 1000000);
		struct tm tm;
		localtime_r(&t, &tm);
		char ts[32];
		strftime(ts, sizeof ts, "%H:%M:%S", &tm);
		char op[2] = {r->op, 0};
		snprintf(line, sizeof line, "%s.%03d %-12.12s %-*s %-*.*s %-*.*s %*.*s  %s", ts,
			 (int)(r->ts_us / 1000 % 1000), r->table, narrow ? 2 : 8,
			 narrow ? op : op_name(r->op), uw, uw, r->user, tw, tw, r->type, vw, vw,
			 r->value, r->exp);
		enum w_role role = !strcmp(r->table, "experiments") || !strcmp(r->table, "audit_log")
					   ? R_ACCENT
				   : !strcmp(r->table, "assignments") ? R_DIM
								      : R_NORMAL;
		wattron(w, w_attr(role));
		w_put(w, 2 + i, 0, W, line, 1);
		wattroff(w, w_attr(role));
	}
}

static int feedv_key(view *v, app *a, enum action act, int ch, int is_code)
{
	(void)is_code;
	feed_st *s = v->st;
	int page = getmaxy(a->body ? a->body : stdscr) - 3;
	int total = 0;
	feed_rows(a->fd, s->rows, 0, 0, "", &total);
	switch (act) {
	case ACT_PAUSE:
		s->paused = !s->paused;
		s->pause_total = total;
		if (!s->paused)
			s->scroll = 0;
		app_message(a, 0, s->paused ? "feed paused" : "feed resumed");
		break;
	case ACT_UP: /* back in time */
	case ACT_PGUP:
		if (!s->paused) {
			s->paused = 1;
			s->pause_total = total;
		}
		s->scroll += act == ACT_UP ? 1 : page;
		if (s->scroll > FEED_CAP - page)
			s->scroll = FEED_CAP - page;
		break;
	case ACT_DOWN:
	case ACT_PGDN:
		s->scroll -= act == ACT_DOWN ? 1 : page;
		if (s->scroll < 0)
			s->scroll = 0;
		break;
	case ACT_BOTTOM:
		s->scroll = 0;
		s->paused = 0;
		break;
	case ACT_FILTER:
		if (ch != -1)
			return 0;
		w_copy(s->filter, sizeof s->filter, a->input);
		break;
	default:
		return 0;
	}
	v->dirty = 1;
	return VF_HANDLED | VF_REDRAW;
}

const view_ops view_feed_ops = {
	.name = "feed",
	.title = "Live feed",
	.actions = acts,
	.init = feedv_init,
	.draw = feedv_draw,
	.key = feedv_key,
	.free = feedv_free,
};
