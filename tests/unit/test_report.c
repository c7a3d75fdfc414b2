/* test_report.c — nb_report on fixed inputs: the JSON shape of docs/report.md,
 * the CSV and Markdown renderers, and the numbers that follow directly from
 * the aggregates (rates, lifts, control nulls, SRM, recommendation). */
#include "nbtest.h"
#include "neonblue/base.h"
#include "neonblue/report.h"

#include <math.h>
#include <stdlib.h>

static char *types_purchase[] = {"purchase"};
static char *types_ratio[] = {"click", "view"};

/* control, treatment; metrics: conv (binomial, primary), rev (sum,
 * guardrail), ctr (ratio, secondary). */
static void fixture(nb_an_experiment *e, nb_an_variant *v, nb_an_metric *m)
{
	memset(e, 0, sizeof *e);
	memset(v, 0, 2 * sizeof *v);
	memset(m, 0, 3 * sizeof *m);
	strcpy(e->key, "exp");
	strcpy(e->status, "stopped");
	strcpy(v[0].key, "control");
	v[0].weight = 0.5;
	v[0].is_control = 1;
	strcpy(v[1].key, "treatment");
	v[1].weight = 0.5;
	e->nvariants = 2;
	e->variants = v;
	e->control = 0;
	const char *keys[] = {"conv", "rev", "ctr"}, *kinds[] = {"binomial", "sum", "ratio"};
	const char *roles[] = {"primary", "guardrail", "secondary"};
	for (int i = 0; i < 3; i++) {
		strcpy(m[i].key, keys[i]);
		strcpy(m[i].kind, kinds[i]);
		strcpy(m[i].role, roles[i]);
		m[i].nevents = i == 2 ? 2 : 1;
		m[i].event_types = i == 2 ? types_ratio : types_purchase;
	}
	e->nmetrics = 3;
	e->metrics = m;
}

/* aggs[m * 2 + v]; per-user values chosen so that sums are simple. */
static void fixture_aggs(nb_an_agg *a, double users_c, double users_t, double conv_c,
			 double conv_t)
{
	memset(a, 0, 6 * sizeof *a);
	for (int i = 0; i < 6; i++) {
		a[i].users = i % 2 ? users_t : users_c;
		a[i].cap = NAN;
	}
	a[0].converted = a[0].events = a[0].sum = a[0].sum_sq = conv_c;
	a[1].converted = a[1].events = a[1].sum = a[1].sum_sq = conv_t;
	/* revenue: converted users spent 10 each */
	a[2].converted = a[2].events = conv_c;
	a[2].sum = conv_c * 10;
	a[2].sum_sq = conv_c * 100;
	a[3].converted = a[3].events = conv_t;
	a[3].sum = conv_t * 10;
	a[3].sum_sq = conv_t * 100;
	/* ctr: every user 2 views; converted users 1 click */
	for (int v = 0; v < 2; v++) {
		nb_an_agg *x = &a[4 + v];
		double n = x->users, c = v ? conv_t : conv_c;
		x->converted = x->events = c;
		x->sum = c;
		x->sum_sq = c;
		x->den_sum = 2 * n;
		x->den_sum_sq = 4 * n;
		x->cross = 2 * c;
	}
}

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int is_num_or_null(const cJSON *x)
{
	return cJSON_IsNumber(x) || cJSON_IsNull(x);
}

/* The documented shape (docs/report.md); returns the number of violations. */
static int validate_shape(const cJSON *j)
{
	int bad = 0;
	bad += !cJSON_IsString(get(j, "experiment"));
	bad += !cJSON_IsString(get(j, "status"));
	const cJSON *srm = get(j, "srm");
	bad += !cJSON_IsObject(srm);
	bad += !is_num_or_null(get(srm, "chi2")) + !is_num_or_null(get(srm, "p_value"));
	bad += !cJSON_IsBool(get(srm, "mismatch"));
	const cJSON *vs = get(j, "variants"), *x;
	bad += !cJSON_IsArray(vs) || cJSON_GetArraySize(vs) < 1;
	cJSON_ArrayForEach(x, vs)
	{
		bad += !cJSON_IsString(get(x, "key")) + !cJSON_IsNumber(get(x, "users"));
		bad += !cJSON_IsBool(get(x, "is_control"));
	}
	const cJSON *ms = get(j, "metrics"), *m;
	bad += !cJSON_IsArray(ms);
	cJSON_ArrayForEach(m, ms)
	{
		bad += !cJSON_IsString(get(m, "key")) + !cJSON_IsString(get(m, "kind"));
		bad += !cJSON_IsString(get(m, "role"));
		bad += !is_num_or_null(get(m, "power_reached")) + !is_num_or_null(get(m, "users_needed"));
		const cJSON *rs = get(m, "results"), *r;
		bad += !cJSON_IsArray(rs) || cJSON_GetArraySize(rs) != cJSON_GetArraySize(vs);
		cJSON_ArrayForEach(r, rs)
		{
			bad += !cJSON_IsString(get(r, "variant"));
			const char *nums[] = {"users", "count", "sum", "mean", "lift", "p_value",
					      "p_value_sequential", "p_value_adjusted",
					      "chance_to_win", "expected_loss", "diff"};
			for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
				bad += !is_num_or_null(get(r, nums[i]));
			const cJSON *ci = get(r, "lift_ci");
			bad += !(cJSON_IsNull(ci) || (cJSON_IsArray(ci) && cJSON_GetArraySize(ci) == 2));
			int control = cJSON_IsTrue(get(r, "is_control"));
			if (control)
				bad += !cJSON_IsNull(get(r, "lift")) + !cJSON_IsNull(get(r, "p_value")) +
				       !cJSON_IsNull(get(r, "p_value_sequential")) +
				       !cJSON_IsNull(get(r, "chance_to_win")) + !cJSON_IsNull(ci);
		}
	}
	bad += !cJSON_IsString(get(j, "recommendation"));
	return bad;
}

static void json_has_documented_shape(void)
{
	nb_an_experiment e;
	nb_an_variant v[2];
	nb_an_metric m[3];
	nb_an_agg a[6];
	fixture(&e, v, m);
	fixture_aggs(a, 10000, 10000, 1000, 1100);
	double users[2] = {10000, 10000};
	nb_report_opts o = {.experiment = "exp"};
	nb_report r;
	nb_err err;
	CHECK(nb_report_compute(&e, users, a, &o, &r, &err) == 0);
	cJSON *j = nb_report_json(&r);
	CHECK_INT(validate_shape(j), 0);
	/* a round trip through the one JSON writer parses back to the same shape */
	char *s = nb_json_print(j);
	cJSON *back = cJSON_Parse(s);
	CHECK(back != NULL);
	CHECK_INT(validate_shape(back), 0);
	CHECK_STR(get(back, "experiment")->valuestring, "exp");
	const cJSON *conv = cJSON_GetArrayItem(get(back, "metrics"), 0);
	CHECK_STR(get(conv, "kind")->valuestring, "binomial");
	const cJSON *t = cJSON_GetArrayItem(get(conv, "results"), 1);
	CHECK_NEAR(get(t, "mean")->valuedouble, 0.11, 1e-15, 0);
	CHECK_NEAR(get(t, "lift")->valuedouble, 0.11 / 0.10 - 1, 1e-12, 0);
	CHECK_NEAR(get(t, "diff")->valuedouble, 0.01, 1e-12, 0);
	CHECK_NEAR(get(t, "count")->valuedouble, 1100, 0, 0);
	/* the mean's interval contains the mean; the lift's interval its lift */
	const cJSON *ci = get(t, "lift_ci");
	CHECK(cJSON_GetArrayItem(ci, 0)->valuedouble < 0.1 &&
	      cJSON_GetArrayItem(ci, 1)->valuedouble > 0.1);
	double p = get(t, "p_value")->valuedouble;
	CHECK(p > 0 && p < 0.05);
	/* Holm across the metrics never lowers a p-value */
	CHECK(get(t, "p_value_adjusted")->valuedouble >= p);
	CHECK(get(t, "chance_to_win")->valuedouble > 0.95);
	free(s);
	cJSON_Delete(back);
	cJSON_Delete(j);
	nb_report_done(&r);
}

static void srm_and_recommendation_follow_the_numbers(void)
{
	nb_an_experiment e;
	nb_an_variant v[2];
	nb_an_metric m[3];
	nb_an_agg a[6];
	fixture(&e, v, m);
	double users[2] = {10000, 9000}; /* 50/50 planned: a mismatch */
	fixture_aggs(a, users[0], users[1], 1000, 900);
	nb_report_opts o = {.experiment = "exp"};
	nb_report r;
	nb_err err;
	CHECK(nb_report_compute(&e, users, a, &o, &r, &err) == 0);
	CHECK(r.srm_mismatch);
	CHECK_STR(r.recommendation, "investigate SRM");
	nb_report_done(&r);

	/* balanced, clearly better primary: ship */
	users[1] = 10000;
	fixture_aggs(a, 10000, 10000, 1000, 1300);
	CHECK(nb_report_compute(&e, users, a, &o, &r, &err) == 0);
	CHECK(!r.srm_mismatch);
	CHECK_STR(r.recommendation, "ship");
	nb_report_done(&r);

	/* flat: keep running, with users still needed for a 5 % effect */
	fixture_aggs(a, 10000, 10000, 1000, 1000);
	CHECK(nb_report_compute(&e, users, a, &o, &r, &err) == 0);
	CHECK_STR(r.recommendation, "keep running");
	CHECK(r.users_needed > 0);
	CHECK(r.metrics[0].power_reached > 0 && r.metrics[0].power_reached < 0.8);
	nb_report_done(&r);

	/* the guardrail revenue significantly worse: stop for harm */
	fixture_aggs(a, 10000, 10000, 1000, 1000);
	a[3].sum = 1000 * 5; /* treatment spends half */
	a[3].sum_sq = 1000 * 25;
	CHECK(nb_report_compute(&e, users, a, &o, &r, &err) == 0);
	CHECK_STR(r.recommendation, "stop for harm");
	nb_report_done(&r);
}

static void ratio_metric_uses_the_totals(void)
{
	nb_an_experiment e;
	nb_an_variant v[2];
	nb_an_metric m[3];
	nb_an_agg a[6];
	fixture(&e, v, m);
	fixture_aggs(a, 1000, 1000, 100, 150);
	double users[2] = {1000, 1000};
	nb_report_opts o = {.experiment = "exp"};
	nb_report r;
	nb_err err;
	CHECK(nb_report_compute(&e, users, a, &o, &r, &err) == 0);
	const nb_report_result *c = &r.metrics[2].results[0], *t = &r.metrics[2].results[1];
	CHECK_NEAR(c->mean, 100.0 / 2000, 1e-15, 0);
	CHECK_NEAR(t->mean, 150.0 / 2000, 1e-15, 0);
	CHECK_NEAR(t->lift, 0.5, 1e-12, 0);
	CHECK(c->mean_lo < c->mean && c->mean < c->mean_hi);
	CHECK(t->p_value < 0.01);
	nb_report_done(&r);
}

/* A hand-made report for the renderers. */
static void small_report(nb_report *r, nb_report_metric *m, nb_report_result *x,
			 nb_report_variant *v)
{
	memset(r, 0, sizeof *r);
	strcpy(r->experiment, "exp");
	strcpy(r->status, "running");
	r->srm_chi2 = 0.5;
	r->srm_df = 1;
	r->srm_p_value = 0.25;
	r->nvariants = 2;
	r->variants = v;
	memset(v, 0, 2 * sizeof *v);
	strcpy(v[0].key, "a");
	v[0].weight = 0.5;
	v[0].users = 100;
	v[0].is_control = 1;
	strcpy(v[1].key, "b,\"x\"");
	v[1].weight = 0.5;
	v[1].users = 110;
	memset(m, 0, sizeof *m);
	strcpy(m->key, "conv");
	strcpy(m->kind, "binomial");
	strcpy(m->role, "primary");
	m->nresults = 2;
	m->results = x;
	m->power_reached = 0.5;
	m->users_needed = 1200;
	for (int i = 0; i < 2; i++) {
		nb_report_result *y = &x[i];
		memset(y, 0, sizeof *y);
		strcpy(y->variant, v[i].key);
		y->is_control = i == 0;
		y->users = v[i].users;
		y->count = i ? 22 : 10;
		y->sum = y->count;
		y->mean = y->count / y->users;
		y->mean_lo = i ? 0.125 : 0.0625;
		y->mean_hi = i ? 0.25 : 0.1875;
		y->diff = y->diff_lo = y->diff_hi = NAN;
		y->lift = y->lift_lo = y->lift_hi = NAN;
		y->p_value = y->p_value_sequential = y->p_value_adjusted = NAN;
		y->chance_to_win = y->expected_loss = NAN;
	}
	x[1].diff = 0.1;
	x[1].diff_lo = 0.01;
	x[1].diff_hi = 0.19;
	x[1].lift = 1;
	x[1].lift_lo = 0.5;
	x[1].lift_hi = 1.5;
	x[1].p_value = 0.03125;
	x[1].p_value_sequential = 0.5;
	x[1].p_value_adjusted = 0.0625;
	x[1].chance_to_win = 0.96875;
	x[1].expected_loss = 0.0009765625;
	strcpy(r->recommendation, "keep running");
	strcpy(r->reason, "no metric is significant yet");
	r->users_needed = 1200;
}

static void csv_on_fixed_input(void)
{
	nb_report r;
	nb_report_metric m;
	nb_report_result x[2];
	nb_report_variant v[2];
	small_report(&r, &m, x, v);
	r.nmetrics = 1;
	r.metrics = &m;
	nb_buf b;
	nb_buf_init(&b);
	nb_report_csv(&r, &b);
	CHECK_STR(b.data,
		  "experiment,metric,kind,role,variant,users,count,sum,mean,mean_lo,mean_hi,diff,"
		  "diff_lo,diff_hi,lift,lift_lo,lift_hi,p_value,p_value_sequential,"
		  "p_value_adjusted,chance_to_win,expected_loss\r\n"
		  "exp,conv,binomial,primary,a,100,10,10,0.1,0.0625,0.1875,,,,,,,,,,,\r\n"
		  "exp,conv,binomial,primary,\"b,\"\"x\"\"\",110,22,22,0.2,0.125,"
		  "0.25,0.1,0.01,0.19,1,0.5,1.5,0.03125,0.5,0.0625,0.96875,"
		  "0.0009765625\r\n");
	nb_buf_done(&b);
}

static void markdown_on_fixed_input(void)
{
	nb_report r;
	nb_report_metric m;
	nb_report_result x[2];
	nb_report_variant v[2];
	small_report(&r, &m, x, v);
	r.nmetrics = 1;
	r.metrics = &m;
	nb_buf b;
	nb_buf_init(&b);
	nb_report_md(&r, &b);
	CHECK_STR(b.data,
		  "# Experiment exp (running)\n\n"
		  "**Recommendation: keep running** — no metric is significant yet (about 1200 more "
		  "users for the planned power)\n\n"
		  "Sample ratio: χ² = 0.5, p = 0.25 — ok\n\n"
		  "| variant | weight | users |\n|---|---:|---:|\n"
		  "| a (control) | 0.5 | 100 |\n"
		  "| b,\"x\" | 0.5 | 110 |\n"
		  "\n## conv (binomial, primary, higher is better)\n\n"
		  "| variant | users | count | mean [95% CI] | lift [95% CI] | p | p (sequential) | "
		  "p (adjusted) | chance to win |\n"
		  "|---|---:|---:|---|---|---:|---:|---:|---:|\n"
		  "| a (control) | 100 | 10 | 0.1 [0.0625, 0.1875] | — | — | — | — | — |\n"
		  "| b,\"x\" | 110 | 22 | 0.2 [0.125, 0.25] | +100.00% [+50.00%, +150.00%] | 0.03125 | "
		  "0.5 | 0.0625 | 0.9688 |\n"
		  "\nPower reached for the planned effect: +50.00%; users still needed: 1200\n");
	nb_buf_done(&b);
}

static void tables_render_arrays(void)
{
	cJSON *a = cJSON_Parse("[{\"variant\":\"a|b\",\"users\":3,\"rate\":0.5,\"r\":[1,null]},"
			       "{\"variant\":\"c\",\"users\":4,\"rate\":null,\"r\":[]}]");
	nb_buf b;
	nb_buf_init(&b);
	nb_report_md_table(&b, a);
	CHECK_STR(b.data, "| variant | users | rate | r |\n|---|---|---|---|\n"
			  "| a\\|b | 3 | 0.5 | [1,null] |\n| c | 4 |  | [] |\n");
	nb_buf_reset(&b);
	nb_report_csv_table(&b, a);
	CHECK_STR(b.data, "variant,users,rate,r\r\na|b,3,0.5,\"[1,null]\"\r\nc,4,,[]\r\n");
	nb_buf_done(&b);
	cJSON_Delete(a);
}

static void funnel_json_step_conversions(void)
{
	nb_an_experiment e;
	nb_an_variant v[2];
	nb_an_metric m[3];
	fixture(&e, v, m);
	const char *steps[] = {"view", "cart", "buy"};
	double users[2] = {100, 100};
	double reached[6] = {80, 40, 10, 80, 60, 30};
	cJSON *j = nb_report_funnel_json(&e, users, steps, 3, 3600, reached);
	const cJSON *t = cJSON_GetArrayItem(get(j, "variants"), 1);
	const cJSON *s2 = cJSON_GetArrayItem(get(t, "steps"), 2);
	CHECK_NEAR(get(s2, "step_conversion")->valuedouble, 0.5, 0, 0);
	CHECK_NEAR(get(s2, "overall_conversion")->valuedouble, 0.3, 1e-15, 0);
	CHECK(get(s2, "p_value")->valuedouble < 0.05);
	const cJSON *c0 = cJSON_GetArrayItem(get(cJSON_GetArrayItem(get(j, "variants"), 0), "steps"), 0);
	CHECK(cJSON_IsNull(get(c0, "p_value")));
	cJSON_Delete(j);
}

static void segments_json_holm(void)
{
	nb_an_experiment e;
	nb_an_variant v[2];
	nb_an_metric m[3];
	fixture(&e, v, m);
	nb_an_agg a[4];
	memset(a, 0, sizeof a);
	double conv[4] = {100, 140, 100, 101};
	for (int i = 0; i < 4; i++) {
		a[i].users = 1000;
		a[i].converted = a[i].sum = a[i].sum_sq = conv[i];
	}
	char *values[] = {"de", "fr"};
	cJSON *j = nb_report_segments_json(&e, 0, "country", values, a, 2, 0.05);
	const cJSON *s0 = cJSON_GetArrayItem(get(j, "segments"), 0);
	const cJSON *s1 = cJSON_GetArrayItem(get(j, "segments"), 1);
	const cJSON *t0 = cJSON_GetArrayItem(get(s0, "results"), 1);
	const cJSON *t1 = cJSON_GetArrayItem(get(s1, "results"), 1);
	double p0 = get(t0, "p_value")->valuedouble, p1 = get(t1, "p_value")->valuedouble;
	CHECK(p0 < p1);
	/* Holm with two tests: the smaller p doubled, the larger max(2·p0, p1) */
	CHECK_NEAR(get(t0, "p_value_holm")->valuedouble, fmin(1, 2 * p0), 1e-12, 0);
	CHECK_NEAR(get(t1, "p_value_holm")->valuedouble, fmin(1, fmax(2 * p0, p1)), 1e-12, 0);
	CHECK(cJSON_IsNull(get(cJSON_GetArrayItem(get(s0, "results"), 0), "p_value_holm")));
	cJSON_Delete(j);
}

/* The SQL of nb_an: values escaped, only 18.16-compatible constructs. */
static void sql_escapes_and_stays_1816(void)
{
	nb_an_experiment e;
	nb_an_variant v[2];
	nb_an_metric m[3];
	fixture(&e, v, m);
	strcpy(e.key, "x'y\\");
	char *evil[] = {"pur'chase"};
	m[0].event_types = evil;
	m[1].value_property = "amount";
	m[1].winsorize = 99;
	nb_an_scope s = {.db = "my db", .from = 1700000000, .to = 1700003600,
			 .segment_prop = "country", .segment_value = "d'e"};
	nb_buf b;
	nb_buf_init(&b);
	nb_err err;
	CHECK(nb_an_sql_metrics(&b, &s, &e, NULL, &err) == 0);
	CHECK(strstr(b.data, "experiment = 'x\\'y\\\\'") != NULL);
	CHECK(strstr(b.data, "'pur\\'chase'") != NULL);
	CHECK(strstr(b.data, "`my db`.`events` FINAL") != NULL);
	CHECK(strstr(b.data, "= 'd\\'e'") != NULL);
	CHECK(strstr(b.data, "ts >= toDateTime(1700000000) AND ts < toDateTime(1700003600)") != NULL);
	CHECK(strstr(b.data, "ts_us >= a_us") != NULL);
	CHECK(strstr(b.data, "ALL INNER JOIN") != NULL);
	CHECK(strstr(b.data, "JSONExtract") == NULL && strstr(b.data, "DateTime64") == NULL);
	CHECKF(strstr(b.data, "extract(ifNull(properties, ''), '\"amount\": *") != NULL, "%s", b.data);
	/* no metrics: an error naming the experiment, no SQL */
	e.nmetrics = 0;
	nb_buf_reset(&b);
	CHECK(nb_an_sql_metrics(&b, &s, &e, NULL, &err) == -1);
	CHECK(strstr(err.msg, "has no metrics") != NULL);
	nb_buf_done(&b);
	CHECK(nb_an_prop_ok("plan_type-2"));
	CHECK(!nb_an_prop_ok("a'b") && !nb_an_prop_ok("") && !nb_an_prop_ok("a.b"));
}

/* The report commands' flags and the API's query parameters: one parser. */
static void query_parameters(void)
{
	nb_report_query q;
	nb_err err;
	nb_report_query_init(&q);
	CHECK_INT(q.window, 3600);
	CHECK_INT(q.nper, 8);
	CHECK_INT(q.top, 10);
	CHECK_INT(nb_report_query_set(&q, "--metric", "conv", &err), 0);
	CHECK_INT(nb_report_query_set(&q, "metric", "rev", &err), 0); /* the last one wins */
	CHECK_STR(q.metric, "rev");
	CHECK_INT(nb_report_query_set(&q, "from", "2026-11-01", &err), 0);
	CHECK(q.from == 1793491200LL);
	CHECK_INT(nb_report_query_set(&q, "--to", "1793494800", &err), 0);
	CHECK(q.to == 1793494800LL);
	CHECK_INT(nb_report_query_set(&q, "segment", "country=de=x", &err), 0);
	CHECK_STR(q.seg_prop, "country");
	CHECK_STR(q.seg_value, "de=x");
	CHECK_INT(nb_report_query_set(&q, "window", "90s", &err), 0);
	CHECK_INT(q.window, 90);
	CHECK_INT(nb_report_query_set(&q, "period", "week", &err), 0);
	CHECK_INT(q.period, 604800);
	CHECK_INT(nb_report_query_set(&q, "scan", "", &err), 0);
	CHECK_INT(q.scan, 1);
	CHECK_INT(nb_report_query_set(&q, "scan", "false", &err), 0);
	CHECK_INT(q.scan, 0);
	CHECK(nb_report_query_is_switch("--scan") && !nb_report_query_is_switch("metric"));
	CHECK_INT(nb_report_query_set(&q, "by", "event:plan", &err), 0);
	CHECK_INT(nb_report_query_set(&q, "event-type", "buy", &err), 0);
	CHECK_STR(q.event_type, "buy");

	/* refusals name the parameter as spelled and the value */
	CHECK_INT(nb_report_query_set(&q, "metrics", "x", &err), 1);
	CHECK_INT(nb_report_query_set(&q, "--from", "yesterday", &err), -1);
	CHECK_INT(err.code, NB_EINPUT);
	CHECK_STR(err.msg, "--from \"yesterday\" is not a time (ISO-8601 UTC or unix seconds)");
	CHECK_INT(nb_report_query_set(&q, "window", "5x", &err), -1);
	CHECK(!strncmp(err.msg, "window \"5x\"", 11));
	CHECK_INT(nb_report_query_set(&q, "top", "0", &err), -1);
	CHECK_INT(nb_report_query_set(&q, "periods", "33", &err), -1);
	CHECK_INT(nb_report_query_set(&q, "alpha", "1", &err), -1);
	CHECK_INT(nb_report_query_set(&q, "mde", "-1", &err), -1);
	CHECK_INT(nb_report_query_set(&q, "series", "week", &err), -1);
	CHECK_INT(nb_report_query_set(&q, "segment", "a'b=1", &err), -1);
	CHECK_INT(nb_report_query_set(&q, "by", "x y", &err), -1);
	CHECK_INT(nb_report_query_set(&q, "scan", "maybe", &err), -1);
	CHECK_INT(q.window, 90); /* a refused value leaves the parameter as it was */
	CHECK_INT(q.top, 10);

	/* across parameters, for the kind */
	const char *param = NULL;
	CHECK_INT(nb_report_query_check(&q, NB_REPORT_KIND_FUNNEL, &param, &err), -1);
	CHECK_STR(param, "steps");
	CHECK_INT(nb_report_query_set(&q, "steps", "a,b", &err), 0);
	CHECK_INT(nb_report_query_check(&q, NB_REPORT_KIND_FUNNEL, &param, &err), 0);
	CHECK_INT(nb_report_query_check(&q, NB_REPORT_KIND_SEGMENTS, &param, &err), 0);
	CHECK_INT(nb_report_query_set(&q, "to", "2026-10-01", &err), 0);
	CHECK_INT(nb_report_query_check(&q, NB_REPORT_KIND_COHORT, &param, &err), -1);
	CHECK_STR(param, "to");
	CHECK_STR(err.msg, "to must be after from");
	nb_report_opts o = nb_report_query_opts(&q, "exp");
	CHECK_STR(o.metric, "rev");
	CHECK_STR(o.segment_prop, "country");
	nb_report_query_done(&q);

	nb_report_query_init(&q);
	q.prefix = "--";
	CHECK_INT(nb_report_query_check(&q, NB_REPORT_KIND_SEGMENTS, &param, &err), -1);
	CHECK_STR(err.msg, "--by PROP is required");
	nb_report_query_done(&q);
	CHECK_INT(nb_report_kind_from_name("cohort"), NB_REPORT_KIND_COHORT);
	CHECK_INT(nb_report_kind_from_name("bogus"), -1);
	CHECK_STR(nb_report_kind_name(NB_REPORT_KIND_SEGMENTS), "segments");
}

int main(void)
{
	RUN(sql_escapes_and_stays_1816);
	RUN(json_has_documented_shape);
	RUN(srm_and_recommendation_follow_the_numbers);
	RUN(ratio_metric_uses_the_totals);
	RUN(csv_on_fixed_input);
	RUN(markdown_on_fixed_input);
	RUN(tables_render_arrays);
	RUN(funnel_json_step_conversions);
	RUN(segments_json_holm);
	RUN(query_parameters);
	return NBT_DONE();
}
