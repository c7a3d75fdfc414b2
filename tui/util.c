/* util.c — the dashboard's pure helpers shared by several files: the wall and
 * monotonic clocks, ISO-8601 times, SRM from assignment counts, the view
 * names. Calls nothing above it in tui/ (see tui.h). */
#include "tui.h"

#include "neonblue/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double app_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double app_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

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

/* ISO-8601 UTC → epoch seconds (NaN when empty). */
double iso_epoch(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (!s || !*s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return NAN;
	return (double)timegm(&tm);
}

void complete_label(char *out, size_t n, const cJSON *doc, double now,
		    void (*fmt_age)(char *out, size_t n, double seconds))
{
	const char *t = str(doc, "complete_up_to");
	double at = iso_epoch(t);
	if (isnan(at)) {
		snprintf(out, n, "Complete up to: unknown (no heartbeat of the pipeline in ClickHouse yet)");
		return;
	}
	char age[16];
	const char *frac = strchr(t, '.');
	fmt_age(age, sizeof age, now - at - (frac ? atof(frac) : 0));
	snprintf(out, n, "Complete up to %.10s %.8sZ (%s ago): every change committed by then is in "
			 "ClickHouse",
		 t, t + 11, age);
}

/* SRM from assignment counts and weights; -1 unknown, 0 fine, 1 mismatch. */
int exps_srm(const cJSON *exp, const cJSON *users, double *p_out)
{
	const cJSON *vs = cJSON_GetObjectItemCaseSensitive(exp, "variants"), *v;
	double obs[NB_STATS_BAYES_MAX_ARMS], w[NB_STATS_BAYES_MAX_ARMS], exp_c[NB_STATS_BAYES_MAX_ARMS];
	size_t k = 0;
	double total = 0;
	cJSON_ArrayForEach(v, vs)
	{
		if (k >= NB_STATS_BAYES_MAX_ARMS)
			return -1;
		obs[k] = num(users, str(v, "key"));
		if (isnan(obs[k]))
			obs[k] = 0;
		total += obs[k];
		w[k++] = num(v, "weight");
	}
	if (k < 2 || total < 20)
		return -1;
	nb_stats_srm_out o;
	nb_err err;
	if (nb_stats_srm(obs, w, k, exp_c, &o, &err))
		return -1;
	if (p_out)
		*p_out = o.p_value;
	return o.mismatch;
}

/* The view a palette command or --view names, -1 if none. */
int view_by_name(const char *s)
{
	static const struct {
		const char *n;
		int v;
	} m[] = {{"experiments", V_EXPS}, {"exps", V_EXPS},     {"home", V_EXPS},
		 {"detail", V_DETAIL},    {"exp", V_DETAIL},    {"feed", V_FEED},
		 {"live", V_FEED},        {"funnel", V_FUNNEL}, {"cohort", V_COHORT},
		 {"cohorts", V_COHORT},   {"revenue", V_REVENUE}, {"segments", V_SEGMENTS},
		 {"segment", V_SEGMENTS}, {"health", V_HEALTH}, {"pipeline", V_HEALTH},
		 {"new", V_MANAGE},       {"manage", V_MANAGE}, {"create", V_MANAGE},
		 {"flags", V_FLAGS},      {"flag", V_FLAGS}};
	for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
		if (!strcmp(s, m[i].n))
			return m[i].v;
	return -1;
}

double layer_bar(char *out, size_t n, const cJSON *layer, const char *self, int width, int ascii)
{
	const char *own = ascii ? "#" : "█", *other = ascii ? "=" : "▒", *gap = ascii ? "." : "·";
	const char *cell[512];
	if (width > 512)
		width = 512;
	for (int i = 0; i < width; i++)
		cell[i] = gap;
	double used = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(layer, "experiments"))
	{
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "key");
		double st = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "start"));
		double en = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "end"));
		if (isnan(st) || isnan(en) || en <= st)
			continue;
		used += en - st;
		int mine = cJSON_IsString(k) && self && !strcmp(k->valuestring, self);
		/* a cell belongs to the range that covers its middle */
		for (int i = 0; i < width; i++) {
			double mid = (i + 0.5) / width;
			if (mid >= st && mid < en)
				cell[i] = mine ? own : other;
		}
	}
	size_t o = 0;
	out[0] = 0;
	for (int i = 0; i < width; i++) {
		size_t l = strlen(cell[i]);
		if (o + l + 1 > n)
			break;
		memcpy(out + o, cell[i], l);
		o += l;
		out[o] = 0;
	}
	return used >= 1 ? 0 : 1 - used;
}
