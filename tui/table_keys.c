/* table_keys.c — the keys every table view shares (the home view and the
 * Flags view): moving the selection and paging, sorting by a column's
 * Shift+letter, by the next or previous column or reversed, and the help
 * overlay's lines that list the sort letters. */
#include "tui.h"

#include <stdio.h>

static void sorted(app *a, const w_table *t, int col)
{
	w_table_sort((w_table *)t, col);
	app_message(a, 0, "sorted by %s%s", t->cols[col].title, t->sort_desc ? " (descending)" : "");
}

int table_key(app *a, w_table *t, enum action act, int ch, int is_code, int page)
{
	int letter = act == ACT_NONE && !is_code ? w_table_letter_col(t, ch) : -1;
	if (letter >= 0) {
		sorted(a, t, letter);
		return TK_SORTED;
	}
	switch (act) {
	case ACT_UP:
		w_table_move(t, -1);
		return TK_MOVED;
	case ACT_DOWN:
		w_table_move(t, 1);
		return TK_MOVED;
	case ACT_PGUP:
		w_table_move(t, -page);
		return TK_MOVED;
	case ACT_PGDN:
		w_table_move(t, page);
		return TK_MOVED;
	case ACT_TOP:
		w_table_home(t);
		return TK_MOVED;
	case ACT_BOTTOM:
		w_table_end(t);
		return TK_MOVED;
	case ACT_SORT_NEXT:
	case ACT_SORT_PREV: {
		int d = act == ACT_SORT_NEXT ? 1 : -1, n = t->ncols;
		sorted(a, t, t->sort_col < 0 ? (d > 0 ? 0 : n - 1) : (t->sort_col + d + n) % n);
		return TK_MOVED;
	}
	case ACT_SORT_INVERT:
		if (t->sort_col >= 0)
			w_table_sort(t, t->sort_col);
		return TK_MOVED;
	default:
		return 0;
	}
}

const char *table_help_extra(const w_table *t, char *out, size_t n)
{
	size_t o = (size_t)snprintf(out, n, "Shift+letter\tsort by column, again: reverse");
	int lw = 99;
	for (int i = 0; i < t->ncols && o < n; i++) {
		if (!t->cols[i].letter)
			continue;
		char item[40];
		int w = snprintf(item, sizeof item, "%c %s", t->cols[i].letter, t->cols[i].title);
		if (lw + 2 + w > 22) {
			o += (size_t)snprintf(out + o, n - o, "\n\t%s", item);
			lw = w;
		} else {
			o += (size_t)snprintf(out + o, n - o, "  %s", item);
			lw += 2 + w;
		}
	}
	return out;
}
