/* screen.h — the dashboard's own parts the main loop (dash.c) drives; not
 * for the views: the frame (screen.c), the overlays (overlay.c), the running
 * theme (theme.c). */
#ifndef TUI_SCREEN_H
#define TUI_SCREEN_H

#include "tui.h"

/* screen.c */
void screen_render(app *a);

/* overlay.c */
void overlay_help_draw(app *a);
int overlay_key(app *a, int ch, int is_code);
/* Sends the filter text (a->input) to the current view as a pseudo action. */
void overlay_filter(app *a);

/* theme.c */
int theme_set(app *a, const char *name);
void theme_next(app *a);
void theme_bkgd(app *a);

#endif
