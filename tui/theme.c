/* theme.c — themes/NAME.theme files (flat `role.fg = #rrggbb | colorN | name | default`)
 * mapped to the terminal's colours: truecolor → 256 → 16 → 8, or none; the
 * running dashboard's theme (set at startup, `T`, `:theme NAME`). */
#include "screen.h"

#include <ctype.h>
#include <dirent.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const role_names[R_NROLES] = {
	"normal", "header", "footer", "title", "select", "good",
	"bad",    "warn",   "dim",    "accent", "border",
};

/* Used when no themes/ directory can be found (same as themes/default.theme). */
static const char builtin_default[] = "normal.fg = default\nnormal.bg = default\n"
				      "header.fg = #ffffff\nheader.bg = #005f87\nheader.attr = bold\n"
				      "footer.fg = #d0d0d0\nfooter.bg = #303030\n"
				      "title.fg = #87d7ff\ntitle.attr = bold\n"
				      "select.fg = #000000\nselect.bg = #87afd7\n"
				      "good.fg = #5fd75f\ngood.attr = bold\n"
				      "bad.fg = #ff5f5f\nbad.attr = bold\n"
				      "warn.fg = #ffaf00\n"
				      "dim.fg = #808080\n"
				      "accent.fg = #5fafff\n"
				      "border.fg = #5f87af\n";

static const int xterm16[16][3] = {
	{0, 0, 0},       {205, 0, 0},     {0, 205, 0},     {205, 205, 0},
	{0, 0, 238},     {205, 0, 205},   {0, 205, 205},   {229, 229, 229},
	{127, 127, 127}, {255, 0, 0},     {0, 255, 0},     {255, 255, 0},
	{92, 92, 255},   {255, 0, 255},   {0, 255, 255},   {255, 255, 255},
};

static void xterm_rgb(int i, int *r, int *g, int *b)
{
	static const int lv[6] = {0, 95, 135, 175, 215, 255};
	if (i < 16) {
		*r = xterm16[i][0], *g = xterm16[i][1], *b = xterm16[i][2];
	} else if (i < 232) {
		i -= 16;
		*r = lv[i / 36], *g = lv[(i / 6) % 6], *b = lv[i % 6];
	} else {
		*r = *g = *b = 8 + 10 * (i - 232);
	}
}

int theme_nearest(int r, int g, int b, int n)
{
	int best = 0;
	long bd = -1;
	/* for 256 colours skip 0–15: terminals redefine them */
	for (int i = n == 256 ? 16 : 0; i < n; i++) {
		int pr, pg, pb;
		xterm_rgb(i, &pr, &pg, &pb);
		long d = (long)(pr - r) * (pr - r) * 3 + (long)(pg - g) * (pg - g) * 4 +
			 (long)(pb - b) * (pb - b) * 2;
		if (bd < 0 || d < bd)
			bd = d, best = i;
	}
	return best;
}

static const char *const cnames[8] = {"black", "red",     "green", "yellow",
				      "blue",  "magenta", "cyan",  "white"};

int theme_parse_color(const char *s, int *rgb, int *index)
{
	*rgb = -1;
	*index = -1;
	if (!strcasecmp(s, "default"))
		return 0;
	if (s[0] == '#' && strlen(s) == 7) {
		char *end;
		long v = strtol(s + 1, &end, 16);
		if (*end)
			return -1;
		*rgb = (int)v;
		return 0;
	}
	if (!strncasecmp(s, "color", 5) && isdigit((unsigned char)s[5])) {
		int v = atoi(s + 5);
		if (v < 0 || v > 255)
			return -1;
		*index = v;
		return 0;
	}
	int bright = 0;
	if (!strncasecmp(s, "bright", 6)) {
		bright = 8;
		s += 6;
		if (*s == '-' || *s == '_')
			s++;
	}
	for (int i = 0; i < 8; i++)
		if (!strcasecmp(s, cnames[i])) {
			*index = i + bright;
			return 0;
		}
	return -1;
}

int theme_depth(void)
{
	if (!has_colors())
		return 0;
	if (COLORS >= 0x1000000)
		return 0x1000000;
	if (COLORS >= 256)
		return 256;
	if (COLORS >= 16)
		return 16;
	return COLORS >= 8 ? 8 : 0;
}

/* The colour number to give curses for a parsed theme value at depth. */
static int map_color(int rgb, int index, int depth)
{
	if (rgb < 0 && index < 0)
		return -1;
	int r, g, b;
	if (rgb >= 0) {
		if (depth >= 0x1000000)
			return rgb;
		r = (rgb >> 16) & 255, g = (rgb >> 8) & 255, b = rgb & 255;
	} else {
		if (index < depth && depth <= 256)
			return index;
		if (index < 16 && depth == 8)
			return index & 7;
		xterm_rgb(index, &r, &g, &b);
		if (depth >= 0x1000000)
			return (r << 16) | (g << 8) | b;
	}
	return theme_nearest(r, g, b, depth > 256 ? 256 : depth);
}

static void exe_dir(char *out, size_t n)
{
	char p[4096];
	ssize_t l = readlink("/proc/self/exe", p, sizeof p - 1);
	if (l <= 0) {
		snprintf(out, n, ".");
		return;
	}
	p[l] = '\0';
	snprintf(out, n, "%s", dirname(p));
}

/* Candidate theme directories, most specific first. */
static int theme_dirs(char dirs[][4200], int max)
{
	int n = 0;
	const char *e = getenv("NEONBLUE_THEMES");
	if (e && *e && n < max)
		w_copy(dirs[n++], 4200, e);
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	if (xdg && *xdg && n < max)
		snprintf(dirs[n++], 4200, "%s/neonblue/themes", xdg);
	else if (home && n < max)
		snprintf(dirs[n++], 4200, "%s/.config/neonblue/themes", home);
	char ed[4096];
	exe_dir(ed, sizeof ed);
	if (n + 4 <= max) {
		snprintf(dirs[n++], 4200, "%s/../themes", ed);
		snprintf(dirs[n++], 4200, "%s/../../themes", ed);
		snprintf(dirs[n++], 4200, "%s/../share/neonblue/themes", ed);
		snprintf(dirs[n++], 4200, "themes");
	}
	return n;
}

static char *read_theme(const char *name)
{
	char dirs[8][4200];
	int nd = theme_dirs(dirs, 8);
	for (int i = 0; i < nd; i++) {
		char path[8400];
		if ((size_t)snprintf(path, sizeof path, "%.4200s/%.64s.theme", dirs[i], name) >= sizeof path)
			continue;
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		char *text = nb_xcalloc(1, 65536);
		size_t len = fread(text, 1, 65535, f);
		text[len] = '\0';
		fclose(f);
		return text;
	}
	return NULL;
}

int theme_list(char names[][32], int max)
{
	char dirs[8][4200];
	int nd = theme_dirs(dirs, 8), n = 0;
	for (int i = 0; i < nd; i++) {
		DIR *d = opendir(dirs[i]);
		if (!d)
			continue;
		struct dirent *de;
		while ((de = readdir(d)) && n < max) {
			size_t l = strlen(de->d_name);
			if (l < 7 || l - 6 >= 32 || strcmp(de->d_name + l - 6, ".theme"))
				continue;
			char nm[32];
			snprintf(nm, sizeof nm, "%.*s", (int)(l - 6), de->d_name);
			int dup = 0;
			for (int k = 0; k < n; k++)
				dup |= !strcmp(names[k], nm);
			if (!dup)
				w_copy(names[n++], 32, nm);
		}
		closedir(d);
	}
	/* stable order: alphabetical */
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
			char t[32];
			memcpy(t, names[k], 32);
			memcpy(names[k], names[k - 1], 32);
			memcpy(names[k - 1], t, 32);
		}
	return n;
}

static attr_t parse_attrs(const char *v)
{
	attr_t a = 0;
	if (strstr(v, "bold"))
		a |= A_BOLD;
	if (strstr(v, "underline"))
		a |= A_UNDERLINE;
	if (strstr(v, "reverse"))
		a |= A_REVERSE;
	if (strstr(v, "dim"))
		a |= A_DIM;
	return a;
}

typedef struct theme_spec {
	int fg[R_NROLES][2], bg[R_NROLES][2]; /* rgb, index */
	attr_t attr[R_NROLES];
	int has_attr[R_NROLES];
} theme_spec;

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Cuts a '#' comment (at the start or after a blank) that is not a colour. */
static void strip_comment(char *line)
{
	for (char *h = strchr(line, '#'); h; h = strchr(h + 1, '#')) {
		if (h != line && h[-1] != ' ' && h[-1] != '\t')
			continue;
		int hex = 0;
		while (hex < 6 && isxdigit((unsigned char)h[1 + hex]))
			hex++;
		int colour = hex == 6 && (!h[7] || isspace((unsigned char)h[7])) && strchr(line, '=') &&
			     strchr(line, '=') < h;
		if (!colour) {
			*h = '\0';
			return;
		}
	}
}

static int parse_theme(const char *name, char *text, theme_spec *t, nb_err *err)
{
	for (int r = 0; r < R_NROLES; r++)
		t->fg[r][0] = t->fg[r][1] = t->bg[r][0] = t->bg[r][1] = -1;
	int lineno = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		strip_comment(line);
		char *s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq)
			return nb_err_set(err, NB_EINPUT, "theme %s line %d: expected key = value",
					  name, lineno);
		*eq = '\0';
		char *k = trim(s), *v = trim(eq + 1);
		char *dot = strchr(k, '.');
		int role = -1;
		for (int r = 0; dot && r < R_NROLES; r++)
			if (!strncmp(k, role_names[r], (size_t)(dot - k)) &&
			    strlen(role_names[r]) == (size_t)(dot - k))
				role = r;
		if (role < 0)
			return nb_err_set(err, NB_EINPUT, "theme %s line %d: unknown key \"%s\"", name,
					  lineno, k);
		if (!strcmp(dot, ".attr")) {
			t->attr[role] = parse_attrs(v);
			t->has_attr[role] = 1;
			continue;
		}
		int *dst = !strcmp(dot, ".fg") ? t->fg[role] : !strcmp(dot, ".bg") ? t->bg[role] : NULL;
		if (!dst || theme_parse_color(v, &dst[0], &dst[1]))
			return nb_err_set(err, NB_EINPUT,
					  "theme %s line %d: bad %s \"%s\" (#rrggbb, colorN, a "
					  "colour name or default)",
					  name, lineno, k, v);
	}
	return 0;
}

int theme_apply(const char *name, int depth, int ascii, nb_err *err)
{
	char *text = read_theme(name);
	if (!text) {
		if (strcmp(name, "default"))
			return nb_err_set(err, NB_EINPUT,
					  "no theme \"%s\" (looked in $NEONBLUE_THEMES, "
					  "~/.config/neonblue/themes and the themes/ next to the program)",
					  name);
		text = nb_xstrdup(builtin_default);
	}
	theme_spec t;
	memset(&t, 0, sizeof t);
	int rc = parse_theme(name, text, &t, err);
	free(text);
	if (rc)
		return -1;
	w_style_mono(&w_cur, ascii);
	if (depth <= 0)
		return 0; /* monochrome: attributes only, symbols carry meaning */
	for (int r = 0; r < R_NROLES; r++) {
		int fg = map_color(t.fg[r][0], t.fg[r][1], depth);
		int bg = map_color(t.bg[r][0], t.bg[r][1], depth);
		if (depth >= 0x1000000)
			init_extended_pair(r + 1, fg, bg);
		else
			init_pair((short)(r + 1), (short)fg, (short)bg);
		attr_t extra = t.has_attr[r] ? t.attr[r] : 0;
		/* the selection must stay visible even when a theme gives it no colour */
		if (r == R_SELECT && t.bg[r][0] < 0 && t.bg[r][1] < 0 && !t.has_attr[r])
			extra |= A_REVERSE;
		w_cur.attr[r] = COLOR_PAIR(r + 1) | extra;
	}
	return 0;
}

/* --------------------------------------------- the running dashboard */

/* The windows' background in the current theme (also after a resize). */
void theme_bkgd(app *a)
{
	wbkgdset(stdscr, w_attr(R_NORMAL));
	if (a->body)
		wbkgdset(a->body, ' ' | w_attr(R_NORMAL));
	a->dirty_all = 1;
}

/* Switches the running dashboard to theme name; on failure says why in the
 * footer and returns -1. */
int theme_set(app *a, const char *name)
{
	nb_err err;
	if (theme_apply(name, a->no_color ? 0 : a->depth, a->ascii, &err)) {
		app_message(a, 1, "%s", err.msg);
		return -1;
	}
	w_copy(a->theme, sizeof a->theme, name);
	theme_bkgd(a);
	clearok(curscr, TRUE);
	return 0;
}

/* Switches to the next theme found (`T`, `:theme`). */
void theme_next(app *a)
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
	if (theme_set(a, nx) == 0)
		app_message(a, 0, "theme %s", nx);
}
