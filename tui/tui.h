/* tui.h — private interface of the dashboard: the app, the view interface
 * (view_ops one way, app_ops the other), keymap, themes, the query worker,
 * the live-feed worker and the pure helpers of util.c. */
#ifndef TUI_TUI_H
#define TUI_TUI_H

#include "neonblue/base.h"
#include "widgets.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

/* ---------------------------------------------------------------- keymap */

/* Function keys are stored as TK_FN | KEY_*; characters as their code point. */
#define TK_FN 0x40000000

enum action {
	ACT_NONE,
	ACT_QUIT,
	ACT_HELP,
	ACT_FILTER,
	ACT_PALETTE,
	ACT_UP,
	ACT_DOWN,
	ACT_TOP,
	ACT_BOTTOM,
	ACT_PGUP,
	ACT_PGDN,
	ACT_ENTER,
	ACT_BACK,
	ACT_NEXT_VIEW,
	ACT_PREV_VIEW,
	ACT_VIEW1, ACT_VIEW2, ACT_VIEW3, ACT_VIEW4, ACT_VIEW5, ACT_VIEW6, ACT_VIEW7, ACT_VIEW8, ACT_VIEW9,
	ACT_VIEW0, /* the tenth view: flags */
	ACT_SORT_NEXT,
	ACT_SORT_PREV,
	ACT_SORT_INVERT,
	ACT_PAUSE,
	ACT_REFRESH,
	ACT_REPAINT,
	ACT_NEW,
	ACT_EDIT,
	ACT_START,
	ACT_STOP,
	ACT_ARCHIVE,
	ACT_METRIC,
	ACT_THEME,
	ACT_TOGGLE, /* a flag on / off */
	ACT_NACTIONS
};

typedef struct action_info {
	enum action id;
	const char *name; /* as written in the config file: "quit", "filter"… */
	const char *help;
	const char *keys; /* default bindings, space separated key names */
	int writes;       /* hidden in --read-only */
} action_info;

extern const action_info keymap_actions[ACT_NACTIONS];

void keymap_defaults(void);
/* The action bound to key k (TK_FN for function keys), or ACT_NONE. */
enum action keymap_lookup(int k);
/* Binds a key name ("q", "C-c", "Enter", "F5"…) to an action name. */
int keymap_bind(const char *key, const char *action, nb_err *err);
/* Key names bound to action, comma separated, into out. */
void keymap_keys_of(enum action a, char *out, size_t n);
/* Parses "C-l", "Tab", "PgDn", "x"… into a key code; -1 if unknown. */
int keymap_parse_key(const char *name);
void keymap_key_name(int k, char *out, size_t n);

/* ----------------------------------------------------------------- theme */

/* Colour depth chosen for the terminal: 0 (none), 8, 16, 256 or 16777216. */
int theme_depth(void);
/* Loads themes/NAME.theme (or the built-in default) and applies it to w_cur.
 * depth 0: monochrome. */
int theme_apply(const char *name, int depth, int ascii, nb_err *err);
/* The themes that can be found, for `:theme` cycling. Fills up to max names. */
int theme_list(char names[][32], int max);
/* Nearest palette index of an RGB colour among the first n xterm colours (8, 16, 256). */
int theme_nearest(int r, int g, int b, int n);
/* Parses a theme value: "#rrggbb", "colorN", a name, or "default" (-1). Returns
 * 0 and fills rgb (or *index for colorN / names) — exposed for tests. */
int theme_parse_color(const char *s, int *rgb, int *index);

/* ---------------------------------------------------------------- worker */

enum job_kind {
	J_EXPS,       /* experiment list + users per variant + hourly traffic */
	J_DETAIL,     /* one experiment + hourly traffic per variant */
	J_REPORT,     /* what `neonblue ARG KEY --json ARG2` prints (report, funnel,
		       * cohort, revenue, segments), computed in-process */
	J_HEALTH,     /* stack status, cdc/sink status files, WAL lag, CH freshness */
	J_CREATE,     /* create a draft from a definition */
	J_TRANSITION, /* start|pause|stop|archive */
	J_EDIT,       /* edit fields */
	J_CH_PING,
	J_FLAGS,    /* every flag (nb_flag_list), as nb_flag_to_json */
	J_FLAG_SET, /* flag key on|off (arg): the kill switch */
};

typedef struct job {
	enum job_kind kind;
	int view;       /* index of the view that asked */
	char key[128];  /* experiment key */
	char arg[256];  /* action / subcommand */
	char arg2[256]; /* extra argument */
	cJSON *in;      /* input owned by the job */
	int bg;         /* background: runs after every interactive job, on at most
			 * two threads at once (the home view's refreshes) */
	char tag[64];   /* J_REPORT without flags: the experiment's updated_at; the
			 * worker reuses its definition while the tag holds (30 s at most) */
	/* results */
	int rc;
	int cancelled; /* dropped from the queue by worker_cancel (rc -1) */
	nb_err err;
	cJSON *out; /* owned by the job */
	double started, finished;
	struct job *next;
} job;

typedef struct worker worker;
worker *worker_start(const nb_config *cfg, const char *exe, int wake_fd);
void worker_stop(worker *w);
/* Queues a job (the worker owns it until it comes back from worker_take). */
void worker_submit(worker *w, job *j);
/* Takes the queued (not yet running) jobs of view and kind out of the queue,
 * except those for keep_key (NULL: none kept); they come back through
 * worker_take with cancelled set. Returns how many. */
int worker_cancel(worker *w, int view, enum job_kind kind, const char *keep_key);
/* A finished job or NULL; the caller frees it with job_free. */
job *worker_take(worker *w);
job *job_new(enum job_kind kind, int view);
void job_free(job *j);

/* ------------------------------------------------------------------ feed */

typedef struct feed_row {
	int64_t ts_us;   /* commit time */
	char table[24];
	char op;
	char user[40];
	char type[40];
	char value[24];
	char exp[40];
} feed_row;

#define FEED_CAP 20000
#define FEED_RATE_SECS 120

typedef struct feed feed;
/* Starts the consumer thread: topics PREFIX.public.{events,assignments,
 * experiments,…}, from the end, or from now-backfill_min minutes. */
feed *feed_start(const nb_config *cfg, int backfill_min, int wake_fd);
void feed_stop(feed *f);
/* Copies up to max rows, newest last, skipping the newest `skip`. Returns count.
 * *total gets the number held. filter is a substring on exp/type/table ("" all). */
int feed_rows(feed *f, feed_row *out, int max, int skip, const char *filter, int *total);
/* Events per second over the last n seconds (oldest first). */
void feed_rate(feed *f, double *out, int n);
/* 1 ok, 0 down, -1 unknown; msg gets the last error. */
int feed_status(feed *f, char *msg, size_t n);
/* Parses one Debezium value into a feed row (exposed for tests). */
int feed_parse(const char *topic, const char *payload, size_t len, feed_row *out);

/* ---------------------------------------------------------------- views */

enum { VF_HANDLED = 1, VF_REDRAW = 2, VF_QUIT = 4, VF_BACK = 8 };

typedef struct app app;
typedef struct view view;

typedef struct view_ops {
	const char *name;  /* palette / breadcrumb name */
	const char *title;
	const enum action *actions; /* this view's actions (help, footer), ACT_NONE-terminated */
	void (*init)(view *v, app *a);
	void (*draw)(view *v, app *a, WINDOW *w);
	int (*key)(view *v, app *a, enum action act, int ch, int is_code);
	void (*data)(view *v, app *a, job *j);
	void (*resize)(view *v, app *a, int h, int w);
	void (*tick)(view *v, app *a); /* periodic: ask for fresh data */
	void (*enter)(view *v, app *a, const char *arg);
	void (*free)(view *v);
	int text_input; /* 1 while the view edits text (keys go to it raw) */
	/* Optional: more help-overlay lines, "KEYS\tTEXT" separated by '\n'
	 * (keys the keymap does not hold, e.g. Shift+column letter). */
	const char *(*help_extra)(view *v);
	/* Optional hooks other views reach through the app (app_exp_find,
	 * app_manage, app_manage_result): the list view's experiment JSON by
	 * key; the management view's lifecycle actions and its report of a
	 * management job's result. */
	cJSON *(*find)(view *v, const char *key);
	void (*manage)(view *v, app *a, const char *key, enum action act, int from_view);
	void (*result)(view *v, app *a, job *j);
} view_ops;

struct view {
	const view_ops *ops;
	void *st;
	int dirty;
	int text_input;
};

enum { V_EXPS, V_DETAIL, V_FEED, V_FUNNEL, V_COHORT, V_REVENUE, V_SEGMENTS, V_HEALTH, V_MANAGE,
       V_FLAGS, V_COUNT };

enum srv { S_PG, S_KAFKA, S_CH, S_NSRV };

typedef struct srv_state {
	int state; /* -1 unknown, 0 down, 1 ok */
	double since;
	char msg[256];
	int waiting;       /* requests out to this server */
	double wait_since; /* since when one has been out (slow after 3 s) */
} srv_state;

struct app {
	int term_dead; /* the terminal went away: nothing is restored on it */
	const struct app_ops *ops; /* the app's side of the view interface (dash.c) */
	nb_config cfg;
	char exe[4096];
	int read_only, ascii, no_color, depth;
	char theme[32];
	int backfill_min;
	int refresh_s;
	worker *wk;
	feed *fd;
	int wake_fd;
	view views[V_COUNT];
	int stack[16], nstack; /* breadcrumb of view indices */
	srv_state srv[S_NSRV];
	char msg[512];
	double msg_at;
	int msg_bad;
	/* overlays */
	int help, palette, filtering, confirm;
	char input[256];
	char confirm_q[512];
	job *confirm_job; /* submitted on 'y' */
	int paused;
	int dirty_all;
	WINDOW *hdr, *body, *ftr;
	int H, W, too_small;
	char selected_exp[128];
	double last_key_at;
	int bench_frames; /* --bench-frames N: time N full frames, then quit */
	double bench_us[4]; /* wall mean, p50, max; CPU per frame (µs) */
};

#define MIN_W 60
#define MIN_H 15

/* ----------------------------------------------------------------- util */

/* Pure helpers shared by the dashboard's files (util.c; it calls nothing
 * above it in tui/). */
double app_now(void);  /* wall clock, seconds since the epoch */
double app_mono(void); /* monotonic clock, seconds */
/* ISO-8601 UTC → epoch seconds (NaN when empty). */
double iso_epoch(const char *s);
/* The line under an analysis view's title: its document's "complete_up_to"
 * (docs/report.md) as a UTC time and how long ago, fmt_age formatting the
 * seconds (w_fmt_age); "unknown" when the document has none. */
void complete_label(char *out, size_t n, const cJSON *doc, double now,
		    void (*fmt_age)(char *out, size_t n, double seconds));
/* SRM from assignment counts and the experiment's weights: -1 unknown, 0
 * fine, 1 mismatch; *p_out gets the χ² p-value. */
int exps_srm(const cJSON *exp, const cJSON *users, double *p_out);
/* A layer's occupancy bar (docs/layers.md) of width cells: the range of
 * experiment self as a full block (ascii '#'), the other live experiments'
 * as a shaded one ('='), free space as a dot ('.'); layer is an element of
 * nb_pg_layer_list. Returns the share that is free. */
double layer_bar(char *out, size_t n, const cJSON *layer, const char *self, int width, int ascii);
/* The view a palette command or --view names (V_EXPS…), -1 if none. */
int view_by_name(const char *s);

/* ------------------------------------------------------ the app interface */

/* What a view asks of the app, as tig's views and htop's panels do: dash.c
 * sets a->ops at startup; views call the wrappers below, never dash.c. */
typedef struct app_ops {
	/* Switches to view idx (pushes it on the breadcrumb); arg goes to enter(). */
	void (*open)(app *a, int idx, const char *arg);
	void (*back)(app *a);
	void (*message)(app *a, int bad, const char *fmt, va_list ap);
	/* Asks a yes/no question; j is submitted on yes, freed on no. */
	void (*confirm)(app *a, const char *question, job *j);
	void (*submit)(app *a, job *j);
} app_ops;

static inline view *app_view(app *a, int idx)
{
	return &a->views[idx];
}

static inline int app_current(app *a)
{
	return a->stack[a->nstack - 1];
}

/* Marks the whole screen for redraw. */
static inline void app_dirty(app *a)
{
	a->dirty_all = 1;
}

static inline void app_open(app *a, int idx, const char *arg)
{
	a->ops->open(a, idx, arg);
}

static inline void app_back(app *a)
{
	a->ops->back(a);
}

static inline void app_message(app *a, int bad, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void app_message(app *a, int bad, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	a->ops->message(a, bad, fmt, ap);
	va_end(ap);
}

static inline void app_confirm(app *a, const char *question, job *j)
{
	a->ops->confirm(a, question, j);
}

static inline void app_submit(app *a, job *j)
{
	a->ops->submit(a, j);
}

/* The experiment key's JSON from the home list (NULL: not loaded yet),
 * through the list view's find hook. */
static inline cJSON *app_exp_find(app *a, const char *key)
{
	view *v = app_view(a, V_EXPS);
	return v->ops->find ? v->ops->find(v, key) : NULL;
}

/* Start/pause, stop, archive or edit the experiment key (each behind a
 * confirmation), through the management view's manage hook. */
static inline void app_manage(app *a, const char *key, enum action act, int from_view)
{
	view *v = app_view(a, V_MANAGE);
	if (v->ops->manage)
		v->ops->manage(v, a, key, act, from_view);
}

/* Reports a management job (J_CREATE, J_TRANSITION, J_EDIT) that came back
 * to a view, through the management view's result hook. */
static inline void app_manage_result(app *a, job *j)
{
	view *v = app_view(a, V_MANAGE);
	if (v->ops->result)
		v->ops->result(v, a, j);
}

extern const view_ops view_exps_ops, view_detail_ops, view_feed_ops, view_funnel_ops,
	view_cohort_ops, view_revenue_ops, view_segments_ops, view_health_ops, view_manage_ops, view_flags_ops;

/* The keys every table view shares (table_keys.c): selection and paging
 * (page rows), Shift+letter sort (act ACT_NONE, ch the key), next/previous
 * column and reverse, with a "sorted by" message. Returns TK_SORTED for a
 * letter, TK_MOVED for the others, 0 when act is none of them. */
enum { TK_MOVED = 1, TK_SORTED = 2 };
int table_key(app *a, w_table *t, enum action act, int ch, int is_code, int page);
/* The help overlay's lines listing t's sort letters, written into out. */
const char *table_help_extra(const w_table *t, char *out, size_t n);

/* The primary metric's best treatment result in a report (view_exps.c). */
const cJSON *report_primary(const cJSON *rep, const cJSON **metric);

/* The pipeline's lag (view_health.c), for the header and the health view,
 * from the health view's last data (asked for at every refresh). */
#define LAG_MSGS_AMBER 10000		/* messages not yet in ClickHouse */
#define LAG_MSGS_RED 100000
#define LAG_WAL_AMBER (16.0 * 1048576)	/* WAL bytes the relay's slot is behind */
#define LAG_WAL_RED (256.0 * 1048576)
#define LAG_STALE_AMBER 15	/* s since the sink or relay wrote its status (a busy */
#define LAG_STALE_RED 60	/* sink under 10k events/s can be silent for ~6 s) */
typedef struct pipe_lag {
	int state;   /* -1 unknown (no pipeline data), 0 red, 1 ok, 2 amber */
	double msgs; /* messages not yet in ClickHouse (NAN: unknown) */
	double wal;  /* WAL bytes the relay's slot is behind (NAN: unknown) */
	double stale; /* s since the older of the sink's/relay's status files (NAN) */
	char why[96]; /* what made it amber or red */
} pipe_lag;
void health_lag(app *a, pipe_lag *out);

/* The dashboard's entry point, a front end of the library like the CLI:
 * `neonblue dash` dispatches here (dash.c). */
struct nb_front;
int cmd_dash(struct nb_front *ctx, int argc, char **argv);

#endif
