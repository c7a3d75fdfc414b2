/* view_health.c — pipeline health: the stack's components, PostgreSQL /
 * Kafka / ClickHouse status, relay WAL lag, sink consumer lag and DLQ count,
 * end-to-end freshness. */
#include "tui.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct health_st {
	cJSON *data;
	double data_at;
	int inflight;
} health_st;

static const enum action acts[] = {ACT_REFRESH, ACT_NONE};

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* Seconds since a status file was written (its updated_at), or NAN. */
static double status_age(const cJSON *st)
{
	double u = num(st, "updated_at");
	return isnan(u) ? NAN : app_now() - u;
}

/* The component called name in the stack list, or NULL. */
static const cJSON *component(const cJSON *data, const char *name)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(data, "stack"))
	{
		if (!strcmp(str(c, "name"), name))
			return c;
	}
	return NULL;
}

static double fmax_known(double a, double b)
{
	return isnan(a) ? b : isnan(b) ? a : a > b ? a : b;
}

/* A sink of the stack's group (sink, sink2, …) with a pid: its component. */
static int is_group_sink(const cJSON *c)
{
	return !strncmp(str(c, "name"), "sink", 4) && !isnan(num(c, "pid"));
}

/* The sum of key over the group's sinks (NAN when none has it), and the
 * number of sinks in *n. */
static double group_sum(const cJSON *data, const char *key, int *n)
{
	double sum = NAN;
	const cJSON *c;
	*n = 0;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(data, "stack"))
	{
		if (!is_group_sink(c))
			continue;
		(*n)++;
		double v = num(c, key);
		if (!isnan(v))
			sum = isnan(sum) ? v : sum + v;
	}
	return sum;
}

/* The partitions a sink holds (its status's "partitions": topic, partition,
 * lag): "2,3 (8 topics)" when every topic has the same ones, else per topic
 * "events 2,3; assignments 1". */
static void parts_text(const cJSON *parts, char *out, size_t n)
{
	char first[256] = "", per[1024] = "", cur[256];
	int ntopics = 0, same = 1;
	const cJSON *p, *q;
	out[0] = '\0';
	cJSON_ArrayForEach(p, parts)
	{
		const char *t = str(p, "topic");
		int seen = 0; /* a topic is listed once, at its first partition */
		for (const cJSON *r = parts->child; r != p && !seen; r = r->next)
			seen = !strcmp(str(r, "topic"), t);
		if (seen)
			continue;
		size_t len = 0;
		cur[0] = '\0';
		cJSON_ArrayForEach(q, parts)
		{
			if (strcmp(str(q, "topic"), t) || len >= sizeof cur - 1)
				continue;
			len += (size_t)snprintf(cur + len, sizeof cur - len, "%s%.0f", len ? "," : "",
						num(q, "partition"));
		}
		if (!ntopics++)
			w_copy(first, sizeof first, cur);
		else if (strcmp(first, cur))
			same = 0;
		const char *dot = strrchr(t, '.');
		size_t pl = strlen(per);
		snprintf(per + pl, sizeof per - pl, "%s%s %s", pl ? "; " : "", dot ? dot + 1 : t, cur);
	}
	if (!ntopics)
		snprintf(out, n, "no partitions");
	else if (same)
		snprintf(out, n, "partitions %s (%d topic%s)", first, ntopics, ntopics == 1 ? "" : "s");
	else
		snprintf(out, n, "partitions %s", per);
}

static void lag_worse(pipe_lag *l, int state, const char *why)
{
	static const int rank[] = {[0] = 3, [1] = 1, [2] = 2}; /* red > amber > ok */
	if (l->state < 0 || rank[state] > rank[l->state]) {
		l->state = state;
		w_copy(l->why, sizeof l->why, why);
	}
}

void health_lag(app *a, pipe_lag *l)
{
	health_st *s = app_view(a, V_HEALTH)->st;
	*l = (pipe_lag){.state = -1, .msgs = NAN, .wal = NAN, .stale = NAN};
	if (!s->data || app_now() - s->data_at > 60)
		return; /* never asked, or no answer for a minute: unknown */
	const cJSON *sink = cJSON_GetObjectItemCaseSensitive(s->data, "sink");
	const cJSON *cdc = cJSON_GetObjectItemCaseSensitive(s->data, "cdc");
	const cJSON *csink = component(s->data, "sink"), *ccdc = component(s->data, "cdc");
	/* a running stack without the pipeline (`up --no-pipeline`): the status
	 * files of an earlier run say nothing */
	const cJSON *sup = component(s->data, "supervisor");
	if (sup && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sup, "healthy"))) {
		sink = csink ? sink : NULL;
		cdc = ccdc ? cdc : NULL;
	}
	/* messages not yet in ClickHouse: the sink's Kafka consumer lag, and what
	 * the relay (embedded mode) knows ClickHouse does not hold yet */
	int nsinks;
	double sl = group_sum(s->data, "kafka_lag", &nsinks); /* every sink of the group */
	if (isnan(sl))
		sl = num(sink, "lag_total");
	l->msgs = fmax_known(sl, num(cdc, "not_in_clickhouse"));
	/* WAL the relay's slot is behind */
	l->wal = num(ccdc, "wal_bytes_behind");
	const cJSON *w;
	if (isnan(l->wal)) { /* no supervised relay: every slot, the largest */
		cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(s->data, "wal_lag"))
		{
			if (cJSON_IsNumber(w))
				l->wal = fmax_known(l->wal, w->valuedouble);
		}
	}
	/* a stopped or hung sink/relay stops writing its status */
	double sink_age = status_age(sink);
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(s->data, "stack"))
	{
		if (is_group_sink(c))
			sink_age = fmax_known(sink_age, num(c, "status_age_s"));
	}
	l->stale = fmax_known(sink_age, status_age(cdc));
	if (isnan(l->msgs) && isnan(l->wal) && isnan(l->stale))
		return;
	char why[96];
	lag_worse(l, 1, "");
	if (!isnan(l->msgs) && l->msgs >= LAG_MSGS_AMBER) {
		snprintf(why, sizeof why, "%.0f messages not yet in ClickHouse", l->msgs);
		lag_worse(l, l->msgs >= LAG_MSGS_RED ? 0 : 2, why);
	}
	if (!isnan(l->wal) && l->wal >= LAG_WAL_AMBER) {
		snprintf(why, sizeof why, "relay %.0f MB of WAL behind", l->wal / 1048576);
		lag_worse(l, l->wal >= LAG_WAL_RED ? 0 : 2, why);
	}
	if (!isnan(l->stale) && l->stale > LAG_STALE_AMBER) {
		snprintf(why, sizeof why, "%s silent for %.0f s",
			 sink_age >= fmax_known(status_age(cdc), -1) ? "sink" : "relay",
			 l->stale);
		lag_worse(l, l->stale > LAG_STALE_RED ? 0 : 2, why);
	}
}

static void health_init(view *v, app *a)
{
	(void)a;
	v->st = nb_xcalloc(1, sizeof(health_st));
}

static void health_free(view *v)
{
	health_st *s = v->st;
	cJSON_Delete(s->data);
	free(s);
}

static void health_tick(view *v, app *a)
{
	health_st *s = v->st;
	if (s->inflight)
		return;
	s->inflight = 1;
	app_submit(a, job_new(J_HEALTH, V_HEALTH));
}

static void health_enter(view *v, app *a, const char *arg)
{
	(void)arg;
	health_tick(v, a);
}

static void health_data(view *v, app *a, job *j)
{
	(void)a;
	health_st *s = v->st;
	s->inflight = 0;
	if (j->rc)
		return;
	cJSON_Delete(s->data);
	s->data = j->out;
	j->out = NULL;
	s->data_at = app_now();
}

/* ok: 1 good, 2 warning, 0 bad, -1 unknown — colour and symbol */
static void status_line(WINDOW *w, int y, int W, int ok, const char *text, int ascii)
{
	enum w_role r = ok == 1 ? R_GOOD : ok == 2 ? R_WARN : ok == 0 ? R_BAD : R_DIM;
	const char *sym = ok == 1   ? (ascii ? "+" : "●")
			  : ok == 2 ? (ascii ? "~" : "◐")
			  : ok == 0 ? (ascii ? "x" : "✗")
				    : "?";
	wattron(w, w_attr(r));
	mvwaddstr(w, y, 0, sym);
	wattroff(w, w_attr(r));
	w_put(w, y, 2, W - 2, text, 1);
}

static void health_draw(view *v, app *a, WINDOW *w)
{
	health_st *s = v->st;
	int H = getmaxy(w), W = getmaxx(w);
	char line[1200], age[16];
	int y = 0;
	static const char *names[S_NSRV] = {"PostgreSQL", "Kafka", "ClickHouse"};
	wattron(w, w_attr(R_TITLE));
	w_put(w, y++, 0, W, "Servers", 1);
	wattroff(w, w_attr(R_TITLE));
	for (int i = 0; i < S_NSRV; i++) {
		const srv_state *st = &a->srv[i];
		w_fmt_age(age, sizeof age, app_now() - st->since);
		snprintf(line, sizeof line, "%-11s %s for %s%s%s", names[i],
			 st->state == 1 ? "up" : st->state == 0 ? "DOWN" : "unknown", age,
			 st->msg[0] ? "  " : "", st->msg);
		status_line(w, y++, W, st->state, line, a->ascii);
	}
	y++;
	if (!s->data) {
		w_put(w, y, 0, W, "loading pipeline status…", 1);
		return;
	}
	wattron(w, w_attr(R_TITLE));
	w_fmt_age(age, sizeof age, app_now() - s->data_at);
	snprintf(line, sizeof line, "Embedded stack components (%s old)", age);
	w_put(w, y++, 0, W, line, 1);
	wattroff(w, w_attr(R_TITLE));
	const cJSON *c, *stack = cJSON_GetObjectItemCaseSensitive(s->data, "stack");
	if (!cJSON_GetArraySize(stack))
		w_put(w, y++, 2, W - 2, "no embedded stack in this home (external servers)", 1);
	cJSON_ArrayForEach(c, stack)
	{
		if (y >= H - 6)
			break;
		int ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "healthy"));
		double pid = num(c, "pid");
		char p[16] = "-", what[1100];
		if (!isnan(pid))
			snprintf(p, sizeof p, "%.0f", pid);
		snprintf(what, sizeof what, "%s %s", str(c, "endpoint"), str(c, "detail"));
		if (is_group_sink(c)) { /* a sink of the group: what it holds, its lag */
			char parts[1024], l[32], r[32];
			parts_text(cJSON_GetObjectItemCaseSensitive(c, "partitions"), parts, sizeof parts);
			double lag = num(c, "kafka_lag"), age = num(c, "status_age_s");
			w_fmt_int(l, sizeof l, (long long)lag);
			w_fmt_int(r, sizeof r, (long long)num(c, "rows"));
			snprintf(what, sizeof what, "%s, lag %s, %s rows", parts, isnan(lag) ? "?" : l,
				 isnan(num(c, "rows")) ? "?" : r);
			if (!isnan(age) && age > 15) {
				char ag[16];
				w_fmt_age(ag, sizeof ag, age);
				snprintf(what + strlen(what), sizeof what - strlen(what),
					 " (status %s old)", ag);
			}
		}
		snprintf(line, sizeof line, "%-11s %-8s pid %-8s restarts %-3.0f %s", str(c, "name"),
			 ok ? "healthy" : "DOWN", p, num(c, "restarts"), what);
		status_line(w, y++, W, ok, line, a->ascii);
	}
	y++;
	wattron(w, w_attr(R_TITLE));
	w_put(w, y++, 0, W, "Pipeline", 1);
	wattroff(w, w_attr(R_TITLE));
	pipe_lag pl;
	health_lag(a, &pl);
	if (pl.state >= 0) {
		char m[32], wal[32];
		w_fmt_int(m, sizeof m, isnan(pl.msgs) ? -1 : (long long)pl.msgs);
		w_fmt_int(wal, sizeof wal, isnan(pl.wal) ? -1 : (long long)pl.wal);
		snprintf(line, sizeof line, "Lag          %s messages not yet in ClickHouse, relay %s WAL bytes behind%s%s%s",
			 isnan(pl.msgs) ? "?" : m, isnan(pl.wal) ? "?" : wal,
			 pl.state == 1 ? "" : " — ", pl.state == 0 ? "RED: " : pl.state == 2 ? "amber: " : "",
			 pl.why);
		status_line(w, y++, W, pl.state, line, a->ascii);
	}
	/* relay: WAL lag of the slot(s) */
	const cJSON *lag = cJSON_GetObjectItemCaseSensitive(s->data, "wal_lag");
	if (!cJSON_GetArraySize(lag))
		status_line(w, y++, W, -1, "CDC relay    no replication slot (is `neonblue cdc` running?)", a->ascii);
	cJSON_ArrayForEach(c, lag)
	{
		char b[32];
		w_fmt_int(b, sizeof b, (long long)c->valuedouble);
		snprintf(line, sizeof line, "CDC relay    slot %s: WAL lag %s bytes", c->string, b);
		status_line(w, y++, W, c->valuedouble < 16 * 1024 * 1024, line, a->ascii);
	}
	const cJSON *cdc = cJSON_GetObjectItemCaseSensitive(s->data, "cdc");
	if (cdc) {
		char m[32];
		w_fmt_int(m, sizeof m, (long long)num(cdc, "messages"));
		snprintf(line, sizeof line, "             state %s, %s messages, %0.f unacknowledged, %0.f not yet in ClickHouse",
			 str(cdc, "state"), m, num(cdc, "unacknowledged"), num(cdc, "not_in_clickhouse"));
		w_put(w, y++, 0, W, line, 1);
	}
	const cJSON *sink = cJSON_GetObjectItemCaseSensitive(s->data, "sink");
	int nsinks;
	double grows = group_sum(s->data, "rows", &nsinks);
	if (nsinks > 1) { /* a group: its totals; each sink's line is above */
		char r[32], l[32];
		double glag = group_sum(s->data, "kafka_lag", &nsinks);
		double dlq = group_sum(s->data, "dlq", &nsinks);
		w_fmt_int(r, sizeof r, (long long)grows);
		w_fmt_int(l, sizeof l, (long long)glag);
		snprintf(line, sizeof line,
			 "Sink group   %d sinks: %s rows into ClickHouse, consumer lag %s, DLQ %.0f", nsinks,
			 isnan(grows) ? "?" : r, isnan(glag) ? "?" : l, isnan(dlq) ? 0 : dlq);
		status_line(w, y++, W, dlq > 0 ? 0 : 1, line, a->ascii);
	}
	if (sink) {
		char r[32], l[32];
		w_fmt_int(r, sizeof r, (long long)num(sink, "rows"));
		double tl = num(sink, "lag_total");
		if (isnan(tl)) {
			tl = 0;
			const cJSON *p;
			cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(sink, "partitions"))
				tl += isnan(num(p, "lag")) ? 0 : num(p, "lag");
		}
		w_fmt_int(l, sizeof l, (long long)tl);
		double dlq = num(sink, "dlq");
		if (nsinks <= 1) {
			snprintf(line, sizeof line, "Sink         %s rows into ClickHouse, consumer lag %s, DLQ %.0f",
				 r, l, isnan(dlq) ? 0 : dlq);
			status_line(w, y++, W, dlq > 0 ? 0 : 1, line, a->ascii);
		}
		double fresh = num(sink, "seconds_since_last_row");
		if (!isnan(fresh)) {
			w_fmt_age(age, sizeof age, fresh);
			snprintf(line, sizeof line, "Freshness    last row reached ClickHouse %s ago", age);
			status_line(w, y++, W, fresh < 60, line, a->ascii);
		}
	} else {
		status_line(w, y++, W, -1, "Sink         no status file (is `neonblue sink` running?)", a->ascii);
	}
	double ev = num(s->data, "last_event_age_s");
	if (!isnan(ev)) {
		w_fmt_age(age, sizeof age, ev);
		snprintf(line, sizeof line, "Events       newest event in ClickHouse is %s old", age);
		status_line(w, y++, W, ev < 300, line, a->ascii);
	} else if (str(s->data, "clickhouse_error")[0]) {
		snprintf(line, sizeof line, "ClickHouse   %s", str(s->data, "clickhouse_error"));
		status_line(w, y++, W, 0, line, a->ascii);
	}
}

const view_ops view_health_ops = {
	.name = "health",
	.title = "Pipeline health",
	.actions = acts,
	.init = health_init,
	.draw = health_draw,
	.data = health_data,
	.tick = health_tick,
	.enter = health_enter,
	.free = health_free,
};
