/* stats.h — nb_stats, the statistics engine: pure functions over plain structs.
 *
 * Definitions and key names follow shared/design/STATS.md. Conventions:
 * treatment minus control (lifts: treatment over control); two-sided tests;
 * 95% intervals; variances are per-unit sample variances (ddof = 1).
 * A value that is undefined (0/0, zero standard error, too few units) is NaN;
 * callers print NaN and infinities as JSON null.
 *
 * Every function validates its input and returns 0, or -1 with an nb_err of
 * code NB_EINPUT whose sentence names the offending key as the JSON contract
 * spells it (e.g. "control_conversions", "variants[2].n"). No function
 * allocates: outputs go to caller structs and arrays, scratch space (where
 * needed) is passed in. All are thread-safe. */
#ifndef NEONBLUE_STATS_H
#define NEONBLUE_STATS_H

#include "neonblue/base.h"

#include <stddef.h>

/* ---- distributions (accurate to ~1e-13 relative in the tails) ---- */

/* Upper tail of Student's t, P(T > t), at real (non-integer) df > 0. */
double nb_stats_t_sf(double t, double df);
/* Quantile of Student's t at real df: P(T <= x) = p. */
double nb_stats_t_ppf(double p, double df);
/* Regularised incomplete beta I_x(a,b) and its complement 1 - I_x(a,b),
 * accurate also for a, b in the tens of millions. */
void nb_stats_beta_cdf(double x, double a, double b, double *p, double *q);
/* Beta density at x. */
double nb_stats_beta_pdf(double x, double a, double b);

/* ---- proportions: pooled z test, unpooled Wald CI of the difference ---- */
typedef struct nb_stats_prop_in {
	double control_n, control_conversions;
	double treatment_n, treatment_conversions;
} nb_stats_prop_in;

typedef struct nb_stats_prop_out {
	double p_control, p_treatment, diff;
	double p_pooled, se_pooled, z, p_value; /* pooled z test, p = 2(1-Φ(|z|)) */
	double se_unpooled, ci95_lower, ci95_upper; /* Wald CI of diff */
} nb_stats_prop_out;

int nb_stats_proportions(const nb_stats_prop_in *in, nb_stats_prop_out *out, nb_err *err);

/* ---- welch and lift: two groups summarised by n, mean, variance ---- */
typedef struct nb_stats_means_in {
	double control_n, control_mean, control_var;
	double treatment_n, treatment_mean, treatment_var;
} nb_stats_means_in;

typedef struct nb_stats_welch_out {
	double diff, se, t;
	double df; /* Welch–Satterthwaite, never rounded; NaN when a group has n < 2 */
	double p_value, t_crit_975, ci95_lower, ci95_upper;
} nb_stats_welch_out;

int nb_stats_welch(const nb_stats_means_in *in, nb_stats_welch_out *out, nb_err *err);

/* Relative lift mean_t/mean_c - 1 with a first-order delta-method se. */
typedef struct nb_stats_lift_out {
	double lift, se_lift, ci95_lower, ci95_upper, z, p_value;
} nb_stats_lift_out;

int nb_stats_lift(const nb_stats_means_in *in, nb_stats_lift_out *out, nb_err *err);

/* ---- srm: Pearson χ² goodness of fit of k observed counts ---- */
typedef struct nb_stats_srm_out {
	double chi2, df, p_value;
	int mismatch; /* p_value < 0.001 */
} nb_stats_srm_out;

/* observed[k], weights[k] (any positive scale); expected_counts[k] out. */
int nb_stats_srm(const double *observed, const double *weights, size_t k,
		 double *expected_counts, nb_stats_srm_out *out, nb_err *err);

/* ---- bayes: Beta-binomial posteriors, exact by adaptive quadrature ---- */
typedef struct nb_stats_arm {
	double n, conversions;
} nb_stats_arm;

typedef struct nb_stats_bayes_arm {
	double alpha, beta;   /* posterior Beta(alpha, beta) */
	double mean;          /* alpha / (alpha + beta) */
	double prob_best;     /* P(p_k is the largest) */
	double expected_loss; /* E[max_j p_j - p_k], absolute */
} nb_stats_bayes_arm;

/* Quadrature, never Monte Carlo. With integer posterior parameters (integer
 * counts and prior, the usual case): fixed Gauss–Legendre panels of 24 nodes,
 * each 5.5 sd (5 with 6-8 arms, 4 with more) of the narrowest arm with mass
 * there, over the arms' windows (where a log-density is within 33 of its
 * maximum); the CDFs at the nodes by integrating the density interpolants
 * left to right, exactly 1 past a window; the expected loss as
 * E[max_j p_j] - mean_k. Otherwise adaptive Clenshaw–Curtis panels (33
 * points) over every arm's mean ± 40 sd, accepted when the last Chebyshev
 * coefficients of each density and integrand bound the error by 2e-16
 * absolute (or the densities' own rounding). Both verified to 1e-9 relative /
 * 1e-12 absolute against exact sums up to 10 million users per arm. */
#define NB_STATS_BAYES_MAX_ARMS 16

/* k arms (2..NB_STATS_BAYES_MAX_ARMS, the first is the control), prior
 * Beta(prior_a, prior_b), both >= 1 so every density is finite on [0,1]
 * (1,1 for uniform). out[k]. */
int nb_stats_bayes(const nb_stats_arm *arms, size_t k, double prior_a, double prior_b,
		   nb_stats_bayes_arm *out, nb_err *err);

/* ---- power: per-group sample size for a two-proportion test ---- */
typedef struct nb_stats_power_in {
	double baseline_rate, relative_mde; /* mde may be negative */
	double alpha;                       /* two-sided; 0.05 */
	double power;                       /* 0.8 */
	double ratio;                       /* n_treatment / n_control; 1 */
} nb_stats_power_in;

typedef struct nb_stats_power_out {
	double n_normal_approx, n_normal_approx_ceil; /* pooled under H0, unpooled under H1 */
	double n_cohens_h, n_cohens_h_ceil;           /* arcsine effect, both tails */
} nb_stats_power_out;

/* Fills alpha/power/ratio defaults into a zeroed input. */
void nb_stats_power_defaults(nb_stats_power_in *in);
int nb_stats_power(const nb_stats_power_in *in, nb_stats_power_out *out, nb_err *err);

/* ---- adjust: multiple-comparison corrections, results in input order ---- */
typedef struct nb_stats_adjust_out {
	double *holm_adjusted, *bh_adjusted, *bonferroni_adjusted; /* m each, caller's */
	int *holm_reject, *bh_reject;                              /* m each, caller's */
} nb_stats_adjust_out;

/* scratch: m size_t. */
int nb_stats_adjust(const double *p_values, size_t m, double alpha, size_t *scratch,
		    const nb_stats_adjust_out *out, nb_err *err);

/* ---- chisq: Pearson χ² of independence (with Yates for 2×2) ---- */
typedef struct nb_stats_chisq_out {
	double dof, chi2, p_value;
	double chi2_yates, p_value_yates; /* NaN unless the table is 2×2 */
} nb_stats_chisq_out;

/* table: rows × cols, row-major; expected_counts: rows × cols out. */
int nb_stats_chisq(const double *table, size_t rows, size_t cols, double *expected_counts,
		   nb_stats_chisq_out *out, nb_err *err);

/* ---- mannwhitney: asymptotic U test with tie correction ---- */
typedef struct nb_stats_mw_item {
	double v;
	int treatment;
} nb_stats_mw_item;

typedef struct nb_stats_mw_out {
	double U_treatment, U_control, sigma, z, p_value;
} nb_stats_mw_out;

/* scratch: nt + nc items. */
int nb_stats_mannwhitney(const double *treatment, size_t nt, const double *control, size_t nc,
			 nb_stats_mw_item *scratch, nb_stats_mw_out *out, nb_err *err);

/* ---- msprt: mixture SPRT (Johari et al. 2017), normal mixing variance tau2 ---- */
typedef struct nb_stats_msprt_in {
	double control_n, treatment_n, control_var, treatment_var;
	double diff, tau2, theta0;
} nb_stats_msprt_in;

typedef struct nb_stats_msprt_out {
	double V, log_lambda, lambda, p_value, log10_p_value;
} nb_stats_msprt_out;

int nb_stats_msprt(const nb_stats_msprt_in *in, nb_stats_msprt_out *out, nb_err *err);
/* Over successive looks: out[i] per look and the running minimum p_running[i]. */
int nb_stats_msprt_looks(const nb_stats_msprt_in *looks, size_t n, nb_stats_msprt_out *out,
			 double *p_running, nb_err *err);

/* ---- cuped: one pooled theta, Welch on the adjusted values ---- */
typedef struct nb_stats_cuped_group {
	const double *x, *y; /* pre-period and in-period value per unit */
	size_t n;
} nb_stats_cuped_group;

typedef struct nb_stats_cuped_out {
	double theta, x_mean_pooled, diff_raw, diff_adj;
	double variance_reduction_ratio; /* 1 - se_adj² / se_raw² */
	nb_stats_welch_out welch_adjusted, welch_raw;
} nb_stats_cuped_out;

int nb_stats_cuped(const nb_stats_cuped_group *control, const nb_stats_cuped_group *treatment,
		   nb_stats_cuped_out *out, nb_err *err);

/* ---- engine functions for reports and the dashboard ---- */

/* Wilson score interval for x successes in n at level 1-alpha. */
int nb_stats_wilson(double n, double x, double alpha, double *lower, double *upper,
		    nb_err *err);

/* Bayesian normal model for a mean metric (GrowthBook's effect-prior form):
 * the estimated effect `effect` with standard error `se` under a flat prior
 * (prior_sd = 0) or N(0, prior_sd²). */
typedef struct nb_stats_bnorm_out {
	double post_mean, post_sd;
	double chance_to_win; /* Φ(post_mean / post_sd) */
	double ci95_lower, ci95_upper;
} nb_stats_bnorm_out;

int nb_stats_bayes_normal(double effect, double se, double prior_sd, nb_stats_bnorm_out *out,
			  nb_err *err);

/* Asymptotic confidence sequence (Waudby-Smith et al.) as GrowthBook tunes
 * it: rho from n_star (default 5000), half-width
 * sqrt(s2)·sqrt(2(nρ²+1)/(n²ρ²)·log(sqrt(nρ²+1)/alpha)), s2 = se²·n,
 * n = units in both groups. */
#define NB_STATS_SEQ_N_STAR 5000.0
typedef struct nb_stats_seq_out {
	double rho, halfwidth, ci_lower, ci_upper;
} nb_stats_seq_out;

int nb_stats_sequential_ci(double effect, double se, double n, double alpha, double n_star,
			   nb_stats_seq_out *out, nb_err *err);

/* Caps values above the pct-th percentile (0 < pct <= 100, linear
 * interpolation between order statistics, as numpy's default) in place.
 * scratch: n doubles. Returns the cap in *cap. */
int nb_stats_winsorize(double *values, size_t n, double pct, double *scratch, double *cap,
		       nb_err *err);
/* Mean and sample variance (ddof = 1; NaN when n < 2), two-pass. */
void nb_stats_mean_var(const double *values, size_t n, double *mean, double *var);

/* Ratio metric sum(num)/sum(den) per group by the delta method. */
typedef struct nb_stats_ratio_group {
	double n;                   /* units */
	double mean_num, mean_den;  /* per-unit means */
	double var_num, var_den;    /* per-unit sample variances */
	double cov_num_den;         /* per-unit sample covariance */
} nb_stats_ratio_group;

typedef struct nb_stats_ratio_out {
	double control_ratio, control_se, treatment_ratio, treatment_se;
	double diff, se, z, p_value, ci95_lower, ci95_upper;
} nb_stats_ratio_out;

int nb_stats_ratio(const nb_stats_ratio_group *control, const nb_stats_ratio_group *treatment,
		   nb_stats_ratio_out *out, nb_err *err);

/* The recommendation that follows from the numbers. */
enum nb_stats_rec {
	NB_REC_INVESTIGATE_SRM, /* sample ratio mismatch: no result is trusted */
	NB_REC_STOP_HARM,       /* significantly worse */
	NB_REC_SHIP,            /* significantly better */
	NB_REC_KEEP_RUNNING,    /* not significant yet */
};

typedef struct nb_stats_rec_in {
	double srm_p_value;     /* NaN when unknown */
	double p_value;         /* the decision p-value (sequential while running) */
	double effect;          /* treatment minus control */
	int higher_is_better;   /* 1 usually; 0 for e.g. latency */
	double alpha;           /* 0.05 */
	double users_per_group; /* current, smallest group */
	double planned_per_group; /* from nb_stats_power */
	double groups;          /* number of arms */
} nb_stats_rec_in;

typedef struct nb_stats_rec_out {
	enum nb_stats_rec rec;
	double users_needed; /* more users in total to reach planned power (keep running) */
} nb_stats_rec_out;

int nb_stats_recommend(const nb_stats_rec_in *in, nb_stats_rec_out *out, nb_err *err);
/* "ship", "keep running", "stop for harm", "investigate SRM". */
const char *nb_stats_rec_name(enum nb_stats_rec rec);

#endif
