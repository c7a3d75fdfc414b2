/* keymap.c — key bindings as data: the action table, key names, rebinding
 * from the config file (`bind KEY ACTION`). */
#include "tui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const action_info keymap_actions[ACT_NACTIONS] = {
	{ACT_NONE, "none", "", "", 0},
	{ACT_QUIT, "quit", "quit (back from inner views)", "q C-c", 0},
	{ACT_HELP, "help", "this help", "?", 0},
	{ACT_FILTER, "filter", "filter the table (substring, ! inverts)", "/", 0},
	{ACT_PALETTE, "palette", "command palette (:exp K, :feed, :flags, :theme T, :q)", ":", 0},
	{ACT_UP, "up", "move up", "k Up", 0},
	{ACT_DOWN, "down", "move down", "j Down", 0},
	{ACT_TOP, "top", "first row", "g Home", 0},
	{ACT_BOTTOM, "bottom", "last row", "G End", 0},
	{ACT_PGUP, "page-up", "page up", "PgUp C-b", 0},
	{ACT_PGDN, "page-down", "page down", "PgDn C-f", 0},
	{ACT_ENTER, "enter", "drill in", "Enter", 0},
	{ACT_BACK, "back", "back", "Esc Backspace", 0},
	{ACT_NEXT_VIEW, "next-view", "next view", "Tab", 0},
	{ACT_PREV_VIEW, "prev-view", "previous view", "BTab", 0},
	{ACT_VIEW1, "view-1", "experiments", "1", 0},
	{ACT_VIEW2, "view-2", "experiment detail", "2", 0},
	{ACT_VIEW3, "view-3", "live feed", "3", 0},
	{ACT_VIEW4, "view-4", "funnel", "4", 0},
	{ACT_VIEW5, "view-5", "cohorts", "5", 0},
	{ACT_VIEW6, "view-6", "revenue", "6", 0},
	{ACT_VIEW7, "view-7", "segments", "7", 0},
	{ACT_VIEW8, "view-8", "pipeline health", "8", 0},
	{ACT_VIEW9, "view-9", "new experiment", "9", 1},
	{ACT_VIEW0, "view-0", "feature flags", "0", 0},
	{ACT_SORT_NEXT, "sort-next", "sort by next column (again: reverse)", ">", 0},
	{ACT_SORT_PREV, "sort-prev", "sort by previous column", "<", 0},
	{ACT_SORT_INVERT, "sort-invert", "reverse the sort", "I", 0},
	{ACT_PAUSE, "pause", "pause / resume live updates", "p", 0},
	{ACT_REFRESH, "refresh", "refresh now", "r", 0},
	{ACT_REPAINT, "repaint", "repaint the screen", "C-l", 0},
	{ACT_NEW, "new", "new experiment", "n", 1},
	{ACT_EDIT, "edit", "edit the experiment", "e", 1},
	{ACT_START, "start", "start / pause the experiment", "s", 1},
	{ACT_STOP, "stop", "stop the experiment", "x", 1},
	{ACT_ARCHIVE, "archive", "archive the experiment", "A", 1},
	{ACT_METRIC, "metric", "next metric", "m", 0},
	{ACT_THEME, "theme", "next theme", "T", 0},
	{ACT_TOGGLE, "toggle", "turn the flag on / off (kill switch)", "o", 1},
};

#define KM_MAX 96
static struct {
	int key;
	enum action act;
} km[KM_MAX];
static int nkm;

static const struct {
	const char *name;
	int key;
} names[] = {
	{"Enter", '\n'},         {"Esc", 27},
	{"Tab", '\t'},           {"Space", ' '},
	{"BTab", TK_FN | KEY_BTAB}, {"Up", TK_FN | KEY_UP},
	{"Down", TK_FN | KEY_DOWN}, {"Left", TK_FN | KEY_LEFT},
	{"Right", TK_FN | KEY_RIGHT}, {"PgUp", TK_FN | KEY_PPAGE},
	{"PgDn", TK_FN | KEY_NPAGE}, {"Home", TK_FN | KEY_HOME},
	{"End", TK_FN | KEY_END},   {"Backspace", TK_FN | KEY_BACKSPACE},
	{"Del", TK_FN | KEY_DC},
};

int keymap_parse_key(const char *s)
{
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcasecmp(s, names[i].name))
			return names[i].key;
	if ((s[0] == 'C' || s[0] == 'c') && s[1] == '-' && s[2] && !s[3]) {
		char c = s[2];
		if (c >= 'a' && c <= 'z')
			return c - 'a' + 1;
		if (c >= 'A' && c <= 'Z')
			return c - 'A' + 1;
		return -1;
	}
	if ((s[0] == 'F' || s[0] == 'f') && s[1]) {
		int n = atoi(s + 1);
		if (n >= 1 && n <= 12)
			return TK_FN | KEY_F(n);
	}
	if (s[0] && !s[1])
		return (unsigned char)s[0];
	return -1;
}

void keymap_key_name(int k, char *out, size_t n)
{
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].key == k) {
			snprintf(out, n, "%s", names[i].name);
			return;
		}
	if (k & TK_FN) {
		int c = k & ~TK_FN;
		if (c >= KEY_F(1) && c <= KEY_F(12))
			snprintf(out, n, "F%d", c - KEY_F0);
		else
			snprintf(out, n, "key%d", c);
	} else if (k > 0 && k < 27) {
		snprintf(out, n, "C-%c", 'a' + k - 1);
	} else {
		snprintf(out, n, "%c", k);
	}
}

static void km_bind(int key, enum action a)
{
	for (int i = 0; i < nkm; i++)
		if (km[i].key == key) {
			km[i].act = a;
			return;
		}
	if (nkm < KM_MAX) {
		km[nkm].key = key;
		km[nkm++].act = a;
	}
}

void keymap_defaults(void)
{
	nkm = 0;
	for (int a = 1; a < ACT_NACTIONS; a++) {
		char buf[64];
		w_copy(buf, sizeof buf, keymap_actions[a].keys);
		char *save = NULL;
		for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
			int k = keymap_parse_key(t);
			if (k >= 0)
				km_bind(k, (enum action)a);
		}
	}
	/* terminals that send ^? or ^H for Backspace */
	km_bind(127, ACT_BACK);
	km_bind(8, ACT_BACK);
	km_bind('\r', ACT_ENTER);
	km_bind(TK_FN | KEY_ENTER, ACT_ENTER);
}

enum action keymap_lookup(int k)
{
	for (int i = 0; i < nkm; i++)
		if (km[i].key == k)
			return km[i].act;
	return ACT_NONE;
}

int keymap_bind(const char *key, const char *action, nb_err *err)
{
	int k = keymap_parse_key(key);
	if (k < 0)
		return nb_err_set(err, NB_EINPUT,
				  "unknown key \"%s\" (use a character, C-x, F1–F12, Enter, Esc, "
				  "Tab, BTab, Up, Down, PgUp, PgDn, Home, End)",
				  key);
	for (int a = 0; a < ACT_NACTIONS; a++)
		if (!strcmp(keymap_actions[a].name, action)) {
			km_bind(k, (enum action)a);
			return 0;
		}
	return nb_err_set(err, NB_EINPUT, "unknown action \"%s\" for key %s (see docs/dashboard.md)",
			  action, key);
}

void keymap_keys_of(enum action a, char *out, size_t n)
{
	size_t o = 0;
	out[0] = '\0';
	for (int i = 0; i < nkm; i++) {
		if (km[i].act != a || km[i].key == 127 || km[i].key == 8 || km[i].key == '\r' ||
		    km[i].key == (TK_FN | KEY_ENTER))
			continue;
		char name[32];
		keymap_key_name(km[i].key, name, sizeof name);
		int w = snprintf(out + o, n - o, "%s%s", o ? "," : "", name);
		if (w < 0 || (size_t)w >= n - o)
			break;
		o += (size_t)w;
	}
}
