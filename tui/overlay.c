/* overlay.c — what opens over the current view: the help overlay (every
 * binding from the keymap), the `:` palette and its commands, the `/`
 * filter prompt, the yes/no confirmation, and the line editing they share. */
#include "screen.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

/* ------------------------------------------------------------------ help */

/* The help overlay: the current view's bindings, then the global ones, all
 * from the keymap; in two columns when one does not fit. */
void overlay_help_draw(app *a)
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

/* --------------------------------------------------------------- palette */

/* Parses a shell-like palette line and runs it. */
static void palette_run(app *a, const char *line)
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
			theme_next(a);
		else if (theme_set(a, arg) == 0)
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

/* ------------------------------------------------------------ the prompt */

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
void overlay_filter(app *a)
{
	view *v = app_view(a, app_current(a));
	if (v->ops->key)
		v->ops->key(v, a, ACT_FILTER, -1, 0);
}

/* A key while an overlay is open (confirm, palette or filter prompt, help):
 * 1 when it took the key. */
int overlay_key(app *a, int ch, int is_code)
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
				overlay_filter(a);
			}
		} else if (is_enter(ch, is_code)) {
			if (a->palette) {
				a->palette = 0;
				char line[256];
				w_copy(line, sizeof line, a->input);
				palette_run(a, line);
			} else {
				a->filtering = 0;
				overlay_filter(a);
			}
		} else {
			line_edit(a->input, sizeof a->input, ch, is_code);
			if (a->filtering)
				overlay_filter(a); /* filter as you type */
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
