/* sim/gen.c — nb_sim generation: the PRNG, users (arrival, properties,
 * variant by nb_assign, SRM loss) and their events (funnel, revenue,
 * return visits, extra events). Pure and deterministic in the seed. */
#include "neonblue/sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- xoshiro256** seeded by splitmix64 ---- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

void nb_sim_rng_seed(nb_sim_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed;
	uint64_t a = splitmix64(&x);
	x = a ^ (stream * 0xD1B54A32D192ED03ULL + 0x8CB92BA72F3D8DD7ULL);
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t nb_sim_rng_next(nb_sim_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double nb_sim_rng_unif(nb_sim_rng *r)
{
	return (double)(nb_sim_rng_next(r) >> 11) * 0x1.0p-53;
}

static double rng_range(nb_sim_rng *r, double lo, double hi)
{
	return lo + (hi - lo) * nb_sim_rng_unif(r);
}

static double rng_normal(nb_sim_rng *r)
{
	double u1 = 1.0 - nb_sim_rng_unif(r), u2 = nb_sim_rng_unif(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static int rng_poisson(nb_sim_rng *r, double lambda)
{
	if (lambda <= 0)
		return 0;
	if (lambda > 30) /* normal approximation for large means */
		return (int)fmax(0, floor(lambda + sqrt(lambda) * rng_normal(r) + 0.5));
	double l = exp(-lambda), p = 1;
	int k = 0;
	do {
		k++;
		p *= nb_sim_rng_unif(r);
	} while (p > l);
	return k - 1;
}

static int rng_categorical(nb_sim_rng *r, const double *w, int n)
{
	double u = nb_sim_rng_unif(r), acc = 0;
	for (int i = 0; i < n - 1; i++) {
		acc += w[i];
		if (u < acc)
			return i;
	}
	return n - 1;
}

/* ---- the generator ---- */

struct nb_sim_gen {
	const nb_sim_scenario *sc;
	nb_sim_opts o;
	nb_sim_rng arrivals;
	uint64_t salt; /* the seed mixed with the user prefix */
	long next;
	double t;
	nb_assign_exp *views;
};

/* FNV-1a 64 of the user prefix: the streams (and so event ids) of two
 * scenarios with other prefixes never coincide. */
static uint64_t prefix_salt(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

nb_sim_gen *nb_sim_gen_new(const nb_sim_scenario *sc, const nb_sim_opts *o)
{
	nb_sim_gen *g = nb_xcalloc(1, sizeof *g);
	g->sc = sc;
	g->o = *o;
	g->salt = o->seed ^ prefix_salt(sc->user_prefix);
	if (o->tag) { /* a live run: its own users and event ids */
		uint64_t t = o->tag;
		g->salt ^= splitmix64(&t);
	}
	if (g->o.days > 0 && g->o.users <= 0)
		g->o.users = sc->users;
	if (g->o.cutoff <= 0)
		g->o.cutoff = g->o.days > 0 ? g->o.start + g->o.days * 86400.0 : INFINITY;
	g->t = 0; /* arrivals are kept relative to the start */
	nb_sim_rng_seed(&g->arrivals, g->salt, 0);
	g->views = nb_xcalloc((size_t)sc->nexps + 1, sizeof *g->views);
	for (int i = 0; i < sc->nexps; i++)
		nb_pg_experiment_assign_view(&sc->exps[i].def, &g->views[i]);
	return g;
}

void nb_sim_gen_free(nb_sim_gen *g)
{
	if (!g)
		return;
	free(g->views);
	free(g);
}

static double micros(double t)
{
	return floor(t * 1e6 + 0.5) / 1e6;
}

static double gen_arrival(nb_sim_gen *g, long i)
{
	if (g->o.days > 0) { /* stratified over the window: monotone, no gaps */
		double span = g->o.days * 86400.0;
		nb_sim_rng r;
		nb_sim_rng_seed(&r, g->salt, 3 * (uint64_t)i + 1);
		return micros(((double)i + nb_sim_rng_unif(&r)) * span / (double)g->o.users);
	}
	double rate = g->o.rate > 0 ? g->o.rate : 1000;
	g->t += -log(1.0 - nb_sim_rng_unif(&g->arrivals)) / rate;
	return micros(g->t);
}

static void user_attrs(const nb_sim_scenario *sc, nb_sim_rng *r, nb_sim_user *u)
{
	u->attrs = cJSON_CreateObject();
	for (int p = 0; p < sc->nprops; p++) {
		const nb_sim_prop *pr = &sc->props[p];
		u->value[p] = rng_categorical(r, pr->weights, pr->nvalues);
		cJSON_AddStringToObject(u->attrs, pr->name, pr->values[u->value[p]]);
	}
	u->props = cJSON_PrintUnformatted(u->attrs);
}

/* The first experiment whose targeting/namespace/coverage admits u. */
static void user_experiment(const nb_sim_gen *g, nb_sim_rng *r, nb_sim_user *u)
{
	const nb_sim_scenario *sc = g->sc;
	u->exp = u->variant = -1;
	for (int e = 0; e < sc->nexps; e++) {
		nb_assign_result res;
		if (nb_assign_decide(&g->views[e], u->id, u->attrs, &res) < 0 ||
		    !res.in_experiment)
			continue;
		u->exp = e;
		u->variant = res.variant;
		break;
	}
	double drop = u->exp >= 0 ? sc->exps[u->exp].arms[u->variant].srm_drop : 0;
	u->dropped = nb_sim_rng_unif(r) < drop;
}

int nb_sim_gen_next(nb_sim_gen *g, nb_sim_user *u)
{
	memset(u, 0, sizeof *u);
	if (g->o.users > 0 && g->next >= g->o.users)
		return 0;
	long i = g->next;
	double rel = gen_arrival(g, i);
	if (g->o.days <= 0 && g->o.duration > 0 && rel >= g->o.duration)
		return 0;
	g->next++;
	u->index = i;
	u->arrival = g->o.start + rel;
	if (g->o.tag)
		snprintf(u->id, sizeof u->id, "%s-%llu-%llu-%07ld", g->sc->user_prefix,
			 (unsigned long long)g->o.seed, (unsigned long long)g->o.tag, i);
	else
		snprintf(u->id, sizeof u->id, "%s-%llu-%07ld", g->sc->user_prefix,
			 (unsigned long long)g->o.seed, i);
	nb_sim_rng r;
	nb_sim_rng_seed(&r, g->salt, 3 * (uint64_t)i + 2);
	user_attrs(g->sc, &r, u);
	user_experiment(g, &r, u);
	return 1;
}

void nb_sim_user_done(nb_sim_user *u)
{
	cJSON_Delete(u->attrs);
	free(u->props);
	u->attrs = NULL;
	u->props = NULL;
}

/* ---- events ---- */

/* Times are relative to the start, rounded to whole microseconds there,
 * so a later start shifts every row by exactly the same amount. */
struct ev_ctx {
	nb_sim_rng r;
	double start, cutoff;
	nb_sim_events *out;
};

static void ev_uuid(nb_sim_rng *r, char out[37])
{
	uint64_t hi = nb_sim_rng_next(r), lo = nb_sim_rng_next(r);
	hi = (hi & ~0xF000ULL) | 0x4000ULL;                       /* version 4 */
	lo = (lo & ~(0xC000ULL << 48)) | (0x8000ULL << 48);       /* variant 10 */
	snprintf(out, 37, "%08llx-%04llx-%04llx-%04llx-%012llx",
		 (unsigned long long)(hi >> 32), (unsigned long long)((hi >> 16) & 0xFFFF),
		 (unsigned long long)(hi & 0xFFFF), (unsigned long long)(lo >> 48),
		 (unsigned long long)(lo & 0xFFFFFFFFFFFFULL));
}

/* Appends one event; the uuid is drawn even past the cutoff so the stream
 * does not depend on it. */
static void ev_emit(struct ev_ctx *c, const char *type, double ts, int has_value, double value)
{
	char id[37];
	ev_uuid(&c->r, id);
	ts = c->start + micros(ts);
	if (ts >= c->cutoff)
		return;
	nb_sim_events *o = c->out;
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 64;
		o->v = nb_xrealloc(o->v, o->cap * sizeof *o->v);
	}
	nb_sim_event *e = &o->v[o->n++];
	memcpy(e->event_id, id, sizeof id);
	e->type = type;
	e->ts = ts;
	e->has_value = has_value;
	e->value = value;
}

static double ev_revenue(nb_sim_rng *r, const nb_sim_revenue *rv)
{
	double u = nb_sim_rng_unif(r), t = nb_sim_rng_unif(r), x;
	if (u < rv->zero_share)
		return 0;
	if (t < rv->tail_share)
		x = rv->xm * pow(1.0 - nb_sim_rng_unif(r), -1.0 / rv->alpha);
	else
		x = exp(rv->mu + rv->sigma * rng_normal(r));
	return floor(x * 100 + 0.5) / 100;
}

static void ev_extras(struct ev_ctx *c, const nb_sim_arm *a, double t0)
{
	for (int i = 0; i < a->nextra; i++) {
		const nb_sim_extra *x = &a->extra[i];
		int n = rng_poisson(&c->r, x->per_session);
		for (int k = 0; k < n; k++) {
			double ts = t0 + rng_range(&c->r, 0.2, 300);
			double v = x->has_value ? fmax(0, x->mean + x->sd * rng_normal(&c->r)) : 0;
			ev_emit(c, x->type, ts, x->has_value, floor(v * 1000 + 0.5) / 1000);
		}
	}
}

/* Day 0: view → add_to_cart → checkout → purchase. Returns 1 if purchased. */
static int ev_first_session(struct ev_ctx *c, const nb_sim_arm *a, double p_last, double t)
{
	t += rng_range(&c->r, 0.5, 5);
	ev_emit(c, "view", t, 0, 0);
	ev_extras(c, a, t);
	static const char *const steps[] = {"add_to_cart", "checkout", "purchase"};
	for (int s = 0; s < 3; s++) {
		double p = s == 2 ? p_last : a->funnel[s];
		if (nb_sim_rng_unif(&c->r) >= p)
			return 0;
		t += rng_range(&c->r, 5, 120);
		int buy = s == 2;
		ev_emit(c, steps[s], t, buy, buy ? ev_revenue(&c->r, &a->revenue) : 0);
	}
	return 1;
}

static int ev_cmp(const void *a, const void *b)
{
	const nb_sim_event *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return strcmp(x->event_id, y->event_id);
}

void nb_sim_user_events(const nb_sim_gen *g, const nb_sim_user *u, int variant,
			nb_sim_events *out)
{
	const nb_sim_scenario *sc = g->sc;
	int exp = variant >= 0 ? u->exp : -1;
	const nb_sim_arm *a = exp >= 0 ? &sc->exps[exp].arms[variant] : &sc->baseline;
	struct ev_ctx c = {.start = g->o.start, .cutoff = g->o.cutoff, .out = out};
	double at = u->arrival - g->o.start;
	nb_sim_rng_seed(&c.r, g->salt, 3 * (uint64_t)u->index + 3);
	size_t first = out->n;
	double pconv = nb_sim_user_conversion(sc, exp, variant, u->value);
	double p_last = a->funnel[0] * a->funnel[1] > 0 ? pconv / (a->funnel[0] * a->funnel[1]) : 0;
	int bought = ev_first_session(&c, a, p_last, at);
	for (int k = 1; k <= NB_SIM_MAX_DAYS && u->arrival + k * 86400.0 < c.cutoff; k++) {
		if (nb_sim_rng_unif(&c.r) >= nb_sim_retention(a, k))
			continue;
		double t = at + k * 86400.0 + rng_range(&c.r, 60, 6 * 3600);
		ev_emit(&c, "view", t, 0, 0);
		ev_extras(&c, a, t);
		if (bought && nb_sim_rng_unif(&c.r) < a->repeat_purchase)
			ev_emit(&c, "purchase", t + rng_range(&c.r, 10, 600), 1,
				ev_revenue(&c.r, &a->revenue));
	}
	qsort(out->v + first, out->n - first, sizeof *out->v, ev_cmp);
}

void nb_sim_events_done(nb_sim_events *ev)
{
	free(ev->v);
	*ev = (nb_sim_events){0};
}
