/* stats_bayes.c — Beta-binomial posteriors: chance to be best and expected
 * loss by adaptive Clenshaw–Curtis panels with spectral integration of the
 * densities for the CDFs (never Monte Carlo). */
#include "neonblue/stats.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include <gsl/gsl_errno.h>

#define CH_N 32 /* Chebyshev–Lobatto points per panel: CH_N + 1 */
#define CH_P (CH_N + 1)
#define MAX_DEPTH 40
#define MAX_BREAKS (NB_STATS_BAYES_MAX_ARMS * 3 + 2)
#define MAX_STACK (MAX_DEPTH + MAX_BREAKS + 2)
/* A panel is accepted when the last two Chebyshev coefficients of every
 * density and every integrand bound its quadrature error by this much
 * (absolute; the values integrated are probabilities). */
#define TAIL_TOL 2e-16

static double ch_t[CH_P];         /* nodes cos(pi i / N): +1 ... -1 */
static double ch_S[CH_P][CH_P];   /* (S f)_i = ∫_{-1}^{t_i} of the interpolant */
#define CH_PAD (CH_P + 1)
static double ch_ST[CH_P][CH_PAD]; /* its transpose, rows padded with a zero */
static double ch_tail[2][CH_P];   /* rows of the coefficients c_{N-1}, c_N */
static pthread_once_t ch_once = PTHREAD_ONCE_INIT;

/* Spectral integration on Chebyshev–Lobatto points, built once. */
static void bayes_ch_init(void)
{
	gsl_set_error_handler_off();
	for (int i = 0; i < CH_P; i++)
		ch_t[i] = cos(M_PI * i / CH_N);
	for (int m = 0; m < CH_P; m++) {
		double c[CH_P + 2] = {0}, ci[CH_P + 2] = {0};
		for (int k = 0; k < CH_P; k++) { /* coefficients of the unit vector e_m */
			double w = (m == 0 || m == CH_N) ? 0.5 : 1;
			c[k] = 2.0 / CH_N * w * cos(M_PI * k * m / CH_N);
		}
		ch_tail[0][m] = c[CH_N - 1];
		ch_tail[1][m] = c[CH_N];
		c[0] *= 0.5;
		c[CH_N] *= 0.5;
		/* antiderivative coefficients: ∫T_0 = T_1, ∫T_1 = T_2/4,
		 * ∫T_k = T_{k+1}/(2(k+1)) - T_{k-1}/(2(k-1)) */
		ci[1] += c[0];
		ci[2] += c[1] / 4;
		for (int k = 2; k < CH_P; k++) {
			ci[k + 1] += c[k] / (2.0 * (k + 1));
			ci[k - 1] -= c[k] / (2.0 * (k - 1));
		}
		double at_m1 = 0;
		for (int k = 0; k < CH_P + 1; k++)
			at_m1 += ci[k] * (k % 2 ? -1 : 1);
		for (int i = 0; i < CH_P; i++) {
			double v = 0, th = M_PI * i / CH_N;
			for (int k = 0; k < CH_P + 1; k++)
				v += ci[k] * cos(k * th);
			ch_S[i][m] = ch_ST[m][i] = v - at_m1;
		}
	}
}

/* True when the interpolant of v on a panel of half-width h is not resolved:
 * the last two Chebyshev coefficients bound the quadrature error, compared
 * with TAIL_TOL or, for large values, with the relative rounding floor of
 * the values (`floor`). */
static int ch_unresolved(const double *v, double h, double floor)
{
	double a = 0, b = 0, mx = 0;
	for (int i = 0; i < CH_P; i++) {
		a += ch_tail[0][i] * v[i];
		b += ch_tail[1][i] * v[i];
		double x = fabs(v[i]);
		mx = x > mx ? x : mx;
	}
	double tail = h * (fabs(a) + fabs(b));
	return tail > TAIL_TOL && tail > floor * h * mx;
}

typedef struct bayes_ctx {
	size_t k;
	const nb_stats_bayes_arm *arm;
	double m[NB_STATS_BAYES_MAX_ARMS], lfm[NB_STATS_BAYES_MAX_ARMS]; /* mean, log f(mean) */
	/* relative rounding of the densities: the two log terms of bayes_pdf are
	 * about z·sqrt(a+b) at z sd from the mean and cancel; and x itself is
	 * known to eps·x, which moves log f by eps·x·|d log f/dx| ~ 8 eps x/sd
	 * (1e-8 for a posterior within 1e-7 of 1: the limit of doubles there) */
	double floor[NB_STATS_BAYES_MAX_ARMS], floor_max;
	int reflect; /* integrating over y = 1 - x, arm parameters swapped */
	double F[NB_STATS_BAYES_MAX_ARMS]; /* each CDF at the left end of the next panel */
	double sum[2 * NB_STATS_BAYES_MAX_ARMS];
} bayes_ctx;

/* Beta density from its value at the mean:
 * log f(x) = log f(m) + (a-1) log1p(d/m) + (b-1) log1p(-d/(1-m)), d = x - m,
 * accurate for parameters in the millions (no large cancelling terms). */
static double bayes_pdf(const bayes_ctx *c, size_t j, double x)
{
	double a = c->arm[j].alpha, b = c->arm[j].beta, m = c->m[j];
	if (x <= 0 || x >= 1)
		return nb_stats_beta_pdf(x, a, b);
	double d = x - m;
	return exp(c->lfm[j] + (a - 1) * log1p(d / m) + (b - 1) * log1p(-d / (1 - m)));
}

/* The integrands at node i. Reflected (integrating over y = 1 - x, see
 * nb_stats_bayes), the running CDFs are those of 1 - p_j, so the CDF of p_j
 * is 1 - F and 1 - Π P is taken as -expm1(Σ log1p(-(1 - P))) to keep the
 * digits where the complements are small. */
static void bayes_node(const bayes_ctx *c, double f[][CH_P], double F[][CH_P], int i,
		       double best[][CH_P], double loss[][CH_P])
{
	size_t k = c->k;
	double P[NB_STATS_BAYES_MAX_ARMS], pre[NB_STATS_BAYES_MAX_ARMS + 1],
		suf[NB_STATS_BAYES_MAX_ARMS + 1], lpre[NB_STATS_BAYES_MAX_ARMS + 1],
		lsuf[NB_STATS_BAYES_MAX_ARMS + 1];
	for (size_t j = 0; j < k; j++)
		P[j] = c->reflect ? 1 - F[j][i] : F[j][i];
	pre[0] = suf[k] = 1;
	lpre[0] = lsuf[k] = 0;
	for (size_t j = 0; j < k; j++) {
		pre[j + 1] = pre[j] * P[j];
		if (c->reflect)
			lpre[j + 1] = lpre[j] + log1p(-F[j][i]);
	}
	for (size_t j = k; j-- > 0;) {
		suf[j] = suf[j + 1] * P[j];
		if (c->reflect)
			lsuf[j] = lsuf[j + 1] + log1p(-F[j][i]);
	}
	for (size_t j = 0; j < k; j++) {
		double g = pre[j] * suf[j + 1];
		double not_g = c->reflect ? -expm1(lpre[j] + lsuf[j + 1]) : 1 - g;
		best[j][i] = f[j][i] * g;
		loss[j][i] = P[j] * not_g;
	}
}

/* Beta densities with a, b >= 1 are log-concave, so on a panel that does
 * not hold an arm's mode the density is largest at the end nearer the mode.
 * When that bound times the width is below NEGLIGIBLE for every arm, the
 * panel adds nothing to the chances or the CDFs, and the loss integrands are
 * constant on it: they are integrated exactly. */
#define NEGLIGIBLE 1e-19

static int bayes_arm_negligible(const bayes_ctx *c, size_t j, double a, double b)
{
	double al = c->arm[j].alpha, be = c->arm[j].beta;
	if (al + be <= 2)
		return 0;
	double mode = (al - 1) / (al + be - 2);
	if (mode >= a && mode <= b)
		return 0;
	double e = b < mode ? b : a;
	return bayes_pdf(c, j, e) * (b - a) <= NEGLIGIBLE;
}

static int bayes_negligible(bayes_ctx *c, double a, double b)
{
	size_t k = c->k;
	for (size_t j = 0; j < k; j++)
		if (!bayes_arm_negligible(c, j, a, b))
			return 0;
	double f[NB_STATS_BAYES_MAX_ARMS][CH_P], F[NB_STATS_BAYES_MAX_ARMS][CH_P];
	double best[NB_STATS_BAYES_MAX_ARMS][CH_P], loss[NB_STATS_BAYES_MAX_ARMS][CH_P];
	for (size_t j = 0; j < k; j++) {
		f[j][0] = 0;
		F[j][0] = c->F[j];
	}
	bayes_node(c, f, F, 0, best, loss);
	for (size_t j = 0; j < k; j++)
		c->sum[k + j] += (b - a) * loss[j][0];
	return 1;
}

/* One panel: densities at the nodes, CDFs by spectral integration from the
 * running left-end values, then the 2k integrands
 *   best_j = f_j Π_{i≠j} F_i   and   loss_j = F_j (1 - Π_{i≠j} F_i)
 * (loss_j = E[(max_{i≠j} p_i - p_j)^+] = ∫ F_j (1 - G_j)). Returns 0 and
 * accumulates when resolved, -1 to ask for a split. */
static int bayes_panel(bayes_ctx *c, double a, double b, int force)
{
	size_t k = c->k;
	if (!force && bayes_negligible(c, a, b))
		return 0;
	double h = 0.5 * (b - a), mid = 0.5 * (a + b);
	double f[NB_STATS_BAYES_MAX_ARMS][CH_P], F[NB_STATS_BAYES_MAX_ARMS][CH_P];
	int skip[NB_STATS_BAYES_MAX_ARMS]; /* arms with no mass here: f = 0, F constant */
	for (size_t j = 0; j < k; j++) {
		skip[j] = !force && bayes_arm_negligible(c, j, a, b);
		for (int i = 0; i < CH_P; i++)
			f[j][i] = skip[j] ? 0 : bayes_pdf(c, j, mid + h * ch_t[i]);
		if (!force && !skip[j] && ch_unresolved(f[j], h, c->floor[j]))
			return -1;
	}
	for (size_t j = 0; j < k; j++) {
		if (skip[j]) {
			for (int i = 0; i < CH_P; i++)
				F[j][i] = c->F[j];
			continue;
		}
		double s[CH_PAD] = {0};
		for (int m = 0; m < CH_P; m++) /* column order, even length: vectorises */
			for (int i = 0; i < CH_PAD; i++)
				s[i] += ch_ST[m][i] * f[j][m];
		for (int i = 0; i < CH_P; i++) {
			double v = c->F[j] + h * s[i];
			F[j][i] = v < 0 ? 0 : v > 1 ? 1 : v; /* rounding only */
		}
	}
	double best[NB_STATS_BAYES_MAX_ARMS][CH_P], loss[NB_STATS_BAYES_MAX_ARMS][CH_P];
	for (int i = 0; i < CH_P; i++)
		bayes_node(c, f, F, i, best, loss);
	if (!force)
		for (size_t j = 0; j < k; j++)
			if (ch_unresolved(best[j], h, c->floor_max) ||
			    ch_unresolved(loss[j], h, c->floor_max))
				return -1;
	for (size_t j = 0; j < k; j++) {
		double sb = 0, sl = 0;
		for (int i = 0; i < CH_P; i++) {
			sb += ch_S[0][i] * best[j][i];
			sl += ch_S[0][i] * loss[j][i];
		}
		c->sum[j] += h * sb;
		c->sum[k + j] += h * sl;
		c->F[j] = F[j][0]; /* node 0 is the right end */
	}
	return 0;
}

typedef struct bayes_item {
	double a, b;
	int depth;
} bayes_item;

/* Left to right over [a,b], bisecting unresolved panels (depth first, so
 * the running CDFs stay in order). */
static void bayes_integrate(bayes_ctx *c, const double *br, size_t nb)
{
	bayes_item st[MAX_STACK];
	int top = 0;
	for (size_t i = nb - 1; i > 0; i--)
		st[top++] = (bayes_item){br[i - 1], br[i], 0};
	while (top > 0) {
		bayes_item it = st[--top];
		double m = 0.5 * (it.a + it.b);
		int force = it.depth >= MAX_DEPTH || top + 2 > MAX_STACK || m <= it.a || m >= it.b;
		if (bayes_panel(c, it.a, it.b, force) == 0)
			continue;
		st[top++] = (bayes_item){m, it.b, it.depth + 1};
		st[top++] = (bayes_item){it.a, m, it.depth + 1};
	}
}

static void bayes_sort(double *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		double x = v[i];
		size_t j = i;
		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* Break points: the window [min mean - 40 sd, max mean + 40 sd] clipped to
 * [0,1] (all the posterior mass) and each arm's mean and mean ± 12 sd, so
 * that no density peak can fall between the nodes of a first panel. */
static size_t bayes_breaks(const bayes_ctx *c, double *br)
{
	size_t n = 0;
	double lo = 1, hi = 0;
	for (size_t j = 0; j < c->k; j++) {
		double a = c->arm[j].alpha, b = c->arm[j].beta, m = a / (a + b);
		double sd = sqrt(a * b / ((a + b) * (a + b) * (a + b + 1)));
		lo = fmin(lo, m - 40 * sd);
		hi = fmax(hi, m + 40 * sd);
		br[n++] = m;
		br[n++] = m - 12 * sd;
		br[n++] = m + 12 * sd;
	}
	lo = fmax(lo, 0);
	hi = fmin(hi, 1);
	br[n++] = lo;
	br[n++] = hi;
	bayes_sort(br, n);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (br[i] >= lo && br[i] <= hi && (u == 0 || br[i] > br[u - 1]))
			br[u++] = br[i];
	return u;
}

static int bayes_check(const nb_stats_arm *arms, size_t k, double pa, double pb, nb_err *err)
{
	if (k < 2)
		return nb_err_set(err, NB_EINPUT, "variants: need at least two arms, got %zu", k);
	if (k > NB_STATS_BAYES_MAX_ARMS)
		return nb_err_set(err, NB_EINPUT, "variants: at most %d arms, got %zu",
				  NB_STATS_BAYES_MAX_ARMS, k);
	if (!isfinite(pa) || !isfinite(pb) || pa < 1 || pb < 1)
		return nb_err_set(err, NB_EINPUT,
				  "prior: both parameters must be numbers >= 1 (got [%g, %g])", pa, pb);
	for (size_t j = 0; j < k; j++) {
		if (!isfinite(arms[j].n))
			return nb_err_set(err, NB_EINPUT, "variants[%zu].n: must be a finite number", j);
		if (!isfinite(arms[j].conversions))
			return nb_err_set(err, NB_EINPUT,
					  "variants[%zu].conversions: must be a finite number", j);
		if (arms[j].n < 0)
			return nb_err_set(err, NB_EINPUT, "variants[%zu].n: must not be negative (%g)",
					  j, arms[j].n);
		if (arms[j].conversions < 0)
			return nb_err_set(err, NB_EINPUT,
					  "variants[%zu].conversions: must not be negative (%g)", j,
					  arms[j].conversions);
		if (arms[j].conversions > arms[j].n)
			return nb_err_set(err, NB_EINPUT,
					  "variants[%zu].conversions: %g conversions exceed n = %g", j,
					  arms[j].conversions, arms[j].n);
	}
	return 0;
}

int nb_stats_bayes(const nb_stats_arm *arms, size_t k, double prior_a, double prior_b,
		   nb_stats_bayes_arm *out, nb_err *err)
{
	if (bayes_check(arms, k, prior_a, prior_b, err))
		return -1;
	pthread_once(&ch_once, bayes_ch_init);
	bayes_ctx c;
	nb_stats_bayes_arm rarm[NB_STATS_BAYES_MAX_ARMS];
	memset(&c, 0, sizeof c);
	c.k = k;
	double lo = 1, hi = 0;
	for (size_t j = 0; j < k; j++) {
		out[j].alpha = prior_a + arms[j].conversions;
		out[j].beta = prior_b + arms[j].n - arms[j].conversions;
		out[j].mean = out[j].alpha / (out[j].alpha + out[j].beta);
		lo = fmin(lo, out[j].mean);
		hi = fmax(hi, out[j].mean);
	}
	/* doubles near 1 are coarse (1 - x known to 1e-16 absolute): when the
	 * most extreme arm is near 1, integrate over y = 1 - x, where the arms
	 * are Beta(beta, alpha) and the best arm has the smallest y */
	c.reflect = 1 - hi < lo;
	for (size_t j = 0; j < k; j++) {
		rarm[j] = out[j];
		if (c.reflect) {
			rarm[j].alpha = out[j].beta;
			rarm[j].beta = out[j].alpha;
			rarm[j].mean = rarm[j].alpha / (rarm[j].alpha + rarm[j].beta);
		}
	}
	c.arm = rarm;
	for (size_t j = 0; j < k; j++) {
		c.m[j] = rarm[j].mean;
		c.lfm[j] = log(nb_stats_beta_pdf(c.m[j], rarm[j].alpha, rarm[j].beta));
		double a = rarm[j].alpha, b = rarm[j].beta;
		double sd = sqrt(a * b / ((a + b) * (a + b) * (a + b + 1)));
		c.floor[j] = DBL_EPSILON * (32 + 16 * sqrt(a + b) + 8 * c.m[j] / sd);
		c.floor_max = fmax(c.floor_max, c.floor[j]);
	}
	double br[MAX_BREAKS];
	size_t nb = bayes_breaks(&c, br);
	bayes_integrate(&c, br, nb);
	for (size_t j = 0; j < k; j++) {
		out[j].prob_best = c.sum[j];
		out[j].expected_loss = c.sum[k + j];
	}
	return 0;
}
