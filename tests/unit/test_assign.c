/* test_assign.c — nb_assign against GrowthBook's conformance cases (read at
 * run time), plus split quality, determinism, coverage and namespaces. */
#include "nbtest.h"
#include "neonblue/assign.h"

#include <gsl/gsl_cdf.h>

static cJSON *cases;

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	size_t got = fread(s, 1, (size_t)n, f);
	s[got] = '\0';
	fclose(f);
	return s;
}

static const char *cases_path(void)
{
	const char *env = getenv("NB_CONFORMANCE");
	return env && *env ? env : "../shared/conformance/growthbook/cases.json";
}

/* The section, or a failure naming what is missing. */
static const cJSON *section(const char *name)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(cases, name);
	CHECKF(cJSON_IsArray(s) && cJSON_GetArraySize(s) > 0,
	       "section \"%s\" missing or empty in %s", name, cases_path());
	return cJSON_IsArray(s) ? s : NULL;
}

static const char *case_name(const cJSON *c)
{
	const cJSON *n = cJSON_GetArrayItem(c, 0);
	return cJSON_IsString(n) ? n->valuestring : "?";
}

static void conformance_file_present(void)
{
	CHECKF(cases != NULL, "cannot read or parse %s (set NB_CONFORMANCE)", cases_path());
}

static void conformance_hash(void)
{
	const cJSON *s = section("hash"), *c;
	int n = 0;
	cJSON_ArrayForEach(c, s)
	{
		const char *seed = cJSON_GetArrayItem(c, 0)->valuestring;
		const char *value = cJSON_GetArrayItem(c, 1)->valuestring;
		int version = cJSON_GetArrayItem(c, 2)->valueint;
		const cJSON *want = cJSON_GetArrayItem(c, 3);
		double got = nb_hash(seed, value, version);
		if (cJSON_IsNull(want))
			CHECKF(got == -1, "hash(\"%s\", \"%s\", %d) = %.17g, expected null", seed,
			       value, version, got);
		else
			CHECKF(fabs(got - want->valuedouble) < 1e-9,
			       "hash(\"%s\", \"%s\", %d) = %.17g, expected %.17g", seed, value,
			       version, got, want->valuedouble);
		n++;
	}
	CHECK(n == cJSON_GetArraySize(s));
}

static void conformance_getBucketRange(void)
{
	const cJSON *s = section("getBucketRange"), *c;
	cJSON_ArrayForEach(c, s)
	{
		const cJSON *args = cJSON_GetArrayItem(c, 1), *want = cJSON_GetArrayItem(c, 2);
		int n = cJSON_GetArrayItem(args, 0)->valueint;
		double coverage = cJSON_GetArrayItem(args, 1)->valuedouble;
		const cJSON *w = cJSON_GetArrayItem(args, 2);
		double weights[NB_ASSIGN_MAX_VARIANTS], ranges[NB_ASSIGN_MAX_VARIANTS][2];
		int nw = cJSON_IsArray(w) ? cJSON_GetArraySize(w) : 0;
		for (int i = 0; i < nw; i++)
			weights[i] = cJSON_GetArrayItem(w, i)->valuedouble;
		nb_bucket_ranges(n, coverage, nw ? weights : NULL, nw, ranges);
		CHECKF(cJSON_GetArraySize(want) == n, "%s: expected %d ranges", case_name(c),
		       cJSON_GetArraySize(want));
		for (int i = 0; i < n && i < cJSON_GetArraySize(want); i++) {
			const cJSON *r = cJSON_GetArrayItem(want, i);
			double a = cJSON_GetArrayItem(r, 0)->valuedouble;
			double b = cJSON_GetArrayItem(r, 1)->valuedouble;
			CHECKF(fabs(ranges[i][0] - a) < 1e-9 && fabs(ranges[i][1] - b) < 1e-9,
			       "%s: range %d = [%.17g, %.17g], expected [%g, %g]", case_name(c), i,
			       ranges[i][0], ranges[i][1], a, b);
		}
	}
}

static void conformance_chooseVariation(void)
{
	const cJSON *s = section("chooseVariation"), *c;
	cJSON_ArrayForEach(c, s)
	{
		double x = cJSON_GetArrayItem(c, 1)->valuedouble;
		const cJSON *rs = cJSON_GetArrayItem(c, 2);
		int n = cJSON_GetArraySize(rs);
		double ranges[NB_ASSIGN_MAX_VARIANTS][2];
		for (int i = 0; i < n; i++) {
			ranges[i][0] = cJSON_GetArrayItem(cJSON_GetArrayItem(rs, i), 0)->valuedouble;
			ranges[i][1] = cJSON_GetArrayItem(cJSON_GetArrayItem(rs, i), 1)->valuedouble;
		}
		int want = cJSON_GetArrayItem(c, 3)->valueint;
		int got = nb_choose_variation(x, (const double(*)[2])ranges, n);
		CHECKF(got == want, "%s: got %d, expected %d", case_name(c), got, want);
	}
}

static void conformance_inNamespace(void)
{
	const cJSON *s = section("inNamespace"), *c;
	cJSON_ArrayForEach(c, s)
	{
		const char *user = cJSON_GetArrayItem(c, 1)->valuestring;
		const cJSON *ns = cJSON_GetArrayItem(c, 2);
		int want = cJSON_IsTrue(cJSON_GetArrayItem(c, 3));
		int got = nb_in_namespace(user, cJSON_GetArrayItem(ns, 0)->valuestring,
					  cJSON_GetArrayItem(ns, 1)->valuedouble,
					  cJSON_GetArrayItem(ns, 2)->valuedouble);
		CHECKF(got == want, "%s: got %d, expected %d", case_name(c), got, want);
	}
}

static void conformance_getEqualWeights(void)
{
	const cJSON *s = section("getEqualWeights"), *c;
	cJSON_ArrayForEach(c, s)
	{
		int n = cJSON_GetArrayItem(c, 0)->valueint;
		const cJSON *want = cJSON_GetArrayItem(c, 1);
		double w[NB_ASSIGN_MAX_VARIANTS];
		nb_equal_weights(n, w);
		int count = n < 0 ? 0 : n;
		CHECKF(cJSON_GetArraySize(want) == count, "getEqualWeights(%d): %d weights, expected %d",
		       n, count, cJSON_GetArraySize(want));
		for (int i = 0; i < count && i < cJSON_GetArraySize(want); i++) {
			double e = cJSON_GetArrayItem(want, i)->valuedouble;
			CHECKF(fabs(w[i] - e) < 1e-8, "getEqualWeights(%d)[%d] = %.17g, expected %g", n,
			       i, w[i], e);
		}
	}
}

static void conformance_evalCondition(void)
{
	const cJSON *s = section("evalCondition"), *c;
	int n = 0;
	cJSON_ArrayForEach(c, s)
	{
		const cJSON *cond = cJSON_GetArrayItem(c, 1), *attrs = cJSON_GetArrayItem(c, 2);
		int want = cJSON_IsTrue(cJSON_GetArrayItem(c, 3));
		const cJSON *groups = cJSON_GetArrayItem(c, 4);
		int got = nb_eval_condition(cond, attrs, groups);
		CHECKF(got == want, "case %d \"%s\": got %s, expected %s", n, case_name(c),
		       got ? "true" : "false", want ? "true" : "false");
		n++;
	}
}

/* A 100,000-user split against weights 0.2/0.3/0.5: χ² p-value > 0.001. */
static void split_matches_weights_chi2(void)
{
	double weights[3] = {0.2, 0.3, 0.5};
	nb_assign_exp e = {.key = "split-test", .hash_version = 2, .coverage = 1,
			   .nvariants = 3, .weights = weights};
	long count[3] = {0};
	const int N = 100000;
	char user[32];
	for (int i = 0; i < N; i++) {
		snprintf(user, sizeof user, "user-%d", i);
		nb_assign_result r;
		CHECK_INT(nb_assign_decide(&e, user, NULL, &r), 0);
		CHECK(r.in_experiment);
		if (r.variant >= 0 && r.variant < 3)
			count[r.variant]++;
	}
	double chi2 = 0;
	for (int k = 0; k < 3; k++) {
		double expect = N * weights[k];
		chi2 += (count[k] - expect) * (count[k] - expect) / expect;
	}
	double p = gsl_cdf_chisq_Q(chi2, 2);
	CHECKF(p > 0.001, "counts %ld/%ld/%ld: chi2 = %g, p = %g", count[0], count[1], count[2],
	       chi2, p);
	CHECK_INT(count[0] + count[1] + count[2], N);
}

/* Same inputs → same variant; the seed, not only the key, drives the hash. */
static void decisions_are_deterministic(void)
{
	double w[2] = {0.5, 0.5};
	nb_assign_exp a = {.key = "exp-a", .hash_version = 1, .coverage = 1, .nvariants = 2,
			   .weights = w};
	nb_assign_exp b = a;
	b.seed = "another-seed";
	int differ = 0;
	for (int i = 0; i < 1000; i++) {
		char user[32];
		snprintf(user, sizeof user, "u%d", i);
		nb_assign_result r1, r2, r3;
		nb_assign_decide(&a, user, NULL, &r1);
		nb_assign_decide(&a, user, NULL, &r2);
		nb_assign_decide(&b, user, NULL, &r3);
		CHECK_INT(r1.variant, r2.variant);
		CHECK(r1.bucket == r2.bucket);
		CHECK(r1.bucket == nb_hash("exp-a", user, 1));
		differ += r1.variant != r3.variant;
	}
	/* two independent 50/50 splits disagree for about half the users */
	CHECKF(differ > 400 && differ < 600, "seed changed %d of 1000 decisions", differ);
	a.hash_version = 3;
	nb_assign_result r;
	CHECK_INT(nb_assign_decide(&a, "u1", NULL, &r), -1);
	a.hash_version = 1;
	a.nvariants = 1;
	CHECK_INT(nb_assign_decide(&a, "u1", NULL, &r), -1);
}

/* Coverage 0.3 keeps about 30% of users, each on the variant the full split
 * would give them (ranges shrink from their start). */
static void coverage_excludes_and_keeps_variants(void)
{
	double w[2] = {0.5, 0.5};
	nb_assign_exp full = {.key = "cov", .hash_version = 2, .coverage = 1, .nvariants = 2,
			      .weights = w};
	nb_assign_exp part = full;
	part.coverage = 0.3;
	int in = 0;
	for (int i = 0; i < 20000; i++) {
		char user[32];
		snprintf(user, sizeof user, "c%d", i);
		nb_assign_result rf, rp;
		nb_assign_decide(&full, user, NULL, &rf);
		nb_assign_decide(&part, user, NULL, &rp);
		if (rp.in_experiment) {
			in++;
			CHECK_INT(rp.variant, rf.variant);
		} else {
			CHECK_INT(rp.reason, NB_ASSIGN_NOT_COVERED);
			CHECK_INT(rp.variant, -1);
		}
	}
	CHECKF(in > 5700 && in < 6300, "coverage 0.3 admitted %d of 20000", in);
	part.coverage = 0;
	nb_assign_result r;
	nb_assign_decide(&part, "c1", NULL, &r);
	CHECK(!r.in_experiment);
}

/* Two experiments on disjoint halves of a namespace never share a user. */
static void namespace_ranges_are_exclusive(void)
{
	double w[2] = {0.5, 0.5};
	nb_assign_exp a = {.key = "ns-a", .hash_version = 2, .coverage = 1, .ns_id = "checkout",
			   .ns_start = 0, .ns_end = 0.5, .nvariants = 2, .weights = w};
	nb_assign_exp b = a;
	b.key = "ns-b";
	b.ns_start = 0.5;
	b.ns_end = 1;
	int in_a = 0, in_b = 0;
	for (int i = 0; i < 10000; i++) {
		char user[32];
		snprintf(user, sizeof user, "n%d", i);
		nb_assign_result ra, rb;
		nb_assign_decide(&a, user, NULL, &ra);
		nb_assign_decide(&b, user, NULL, &rb);
		CHECK(ra.in_experiment != rb.in_experiment);
		in_a += ra.in_experiment;
		in_b += rb.in_experiment;
		if (!ra.in_experiment)
			CHECK_INT(ra.reason, NB_ASSIGN_NOT_IN_NAMESPACE);
	}
	CHECKF(in_a > 4700 && in_a < 5300, "namespace half admitted %d of 10000", in_a);
	CHECK_INT(in_a + in_b, 10000);
}

static void targeting_and_reasons(void)
{
	double w[2] = {0.5, 0.5};
	cJSON *cond = cJSON_Parse("{\"country\":{\"$in\":[\"US\",\"CA\"]},\"age\":{\"$gte\":18},"
				  "\"plan\":{\"$ne\":\"free\"}}");
	nb_assign_exp e = {.key = "tgt", .hash_version = 2, .coverage = 1, .condition = cond,
			   .nvariants = 2, .weights = w};
	cJSON *yes = cJSON_Parse("{\"country\":\"US\",\"age\":30,\"plan\":\"pro\"}");
	cJSON *no = cJSON_Parse("{\"country\":\"US\",\"age\":17,\"plan\":\"pro\"}");
	nb_assign_result r;
	CHECK_INT(nb_assign_decide(&e, "t1", yes, &r), 0);
	CHECK(r.in_experiment);
	CHECK_INT(nb_assign_decide(&e, "t1", no, &r), 0);
	CHECK(!r.in_experiment);
	CHECK_INT(r.reason, NB_ASSIGN_NOT_TARGETED);
	CHECK_STR(nb_assign_reason_str(r.reason), "targeting condition not met");
	CHECK_INT(nb_assign_decide(&e, "t1", NULL, &r), 0);
	CHECK_INT(r.reason, NB_ASSIGN_NOT_TARGETED);
	CHECK_INT(nb_assign_decide(&e, "", yes, &r), 0);
	CHECK_INT(r.reason, NB_ASSIGN_NO_USER);
	cJSON_Delete(cond);
	cJSON_Delete(yes);
	cJSON_Delete(no);
}

/* A holdout excludes exactly the users whose hash(seed, user, 2) < share,
 * before targeting; the share of users held out is close to the share. */
static void holdout_excludes_by_its_seed(void)
{
	double w[2] = {0.5, 0.5};
	nb_assign_exp e = {.key = "ho", .hash_version = 2, .coverage = 1, .nvariants = 2,
			   .weights = w, .holdout_seed = "hseed", .holdout_share = 0.2};
	int held = 0;
	char u[32];
	for (int i = 0; i < 10000; i++) {
		snprintf(u, sizeof u, "user-%d", i);
		nb_assign_result r;
		CHECK_INT(nb_assign_decide(&e, u, NULL, &r), 0);
		int in = nb_in_holdout(u, "hseed", 0.2);
		CHECK_INT(in, nb_hash("hseed", u, 2) < 0.2);
		CHECK_INT(r.reason == NB_ASSIGN_IN_HOLDOUT, in);
		CHECK_INT(r.in_experiment, !in);
		held += in;
	}
	CHECK(held > 1800 && held < 2200);
	CHECK(!nb_in_holdout("user-1", "hseed", 0));
	CHECK_STR(nb_assign_reason_str(NB_ASSIGN_IN_HOLDOUT), "in the experiment's holdout");
}

/* Hashing sees UTF-16 code units like the JavaScript SDK: "é" is one unit
 * (0xE9), not two UTF-8 bytes; "😀" is a surrogate pair. */
static void hash_uses_utf16_units(void)
{
	/* FNV-1a of the single unit 0xE9, computed step by step here */
	unsigned h = 0x811c9dc5u;
	h = (h ^ 0xE9u) * 16777619u;
	CHECK(nb_hash("", "\xc3\xa9", 1) == (double)(h % 1000) / 1000.0);
	unsigned g = 0x811c9dc5u;
	g = (g ^ 0xD83Du) * 16777619u;
	g = (g ^ 0xDE00u) * 16777619u;
	CHECK(nb_hash("", "\xf0\x9f\x98\x80", 1) == (double)(g % 1000) / 1000.0);
}

static int eval(const char *cond, const char *attrs)
{
	cJSON *c = cJSON_Parse(cond), *a = cJSON_Parse(attrs);
	CHECKF(c && a, "bad JSON in test: %s / %s", cond, attrs);
	int r = nb_eval_condition(c, a, NULL);
	cJSON_Delete(c);
	cJSON_Delete(a);
	return r;
}

/* JavaScript semantics beyond the conformance file. */
static void condition_js_semantics(void)
{
	CHECK(eval("{\"n\":\"10\"}", "{\"n\":10}"));      /* value + "" */
	CHECK(eval("{\"n\":\"0.1\"}", "{\"n\":0.1}"));
	CHECK(eval("{\"n\":\"1e+21\"}", "{\"n\":1e21}"));
	CHECK(eval("{\"n\":\"1.5e-7\"}", "{\"n\":1.5e-7}"));
	CHECK(eval("{\"n\":\"0.000001\"}", "{\"n\":1e-6}"));
	CHECK(eval("{\"n\":12}", "{\"n\":\" 12 \"}"));   /* value * 1 */
	CHECK(eval("{\"n\":16}", "{\"n\":\"0x10\"}"));
	CHECK(!eval("{\"n\":12}", "{\"n\":\"12abc\"}"));
	CHECK(eval("{\"n\":\"a,b\"}", "{\"n\":[\"a\",\"b\"]}"));
	CHECK(eval("{\"tags.length\":2}", "{\"tags\":[1,2]}"));
	CHECK(eval("{\"tags.1\":\"y\"}", "{\"tags\":[\"x\",\"y\"]}"));
	CHECK(eval("{\"id\":{\"$regex\":\"^u\\\\d+$\"}}", "{\"id\":\"u123\"}"));
	CHECK(!eval("{\"id\":{\"$regex\":\"^u\\\\d+$\"}}", "{\"id\":\"uabc\"}"));
	CHECK(eval("{\"id\":{\"$regex\":\"^[\\\\w-]+$\"}}", "{\"id\":\"a-b_c\"}"));
	CHECK(eval("{\"id\":{\"$regex\":\"(?:ab)+c\"}}", "{\"id\":\"ababc\"}"));
	CHECK(eval("{\"id\":{\"$regex\":\"a(?=b)\"}}", "{\"id\":\"ab\"}")); /* PCRE2 lookahead */
	CHECK(eval("{\"v\":{\"$elemMatch\":{\"$eq\":0}}}", "{\"v\":[0]}")); /* only null skipped */
	CHECK(!eval("{\"v\":{\"$elemMatch\":{\"$eq\":null}}}", "{\"v\":[null]}"));
	CHECK(eval("{\"v\":{\"$gt\":1}}", "{\"v\":[5]}")); /* [5] → "5" → 5 */
	CHECK(!eval("{\"v\":{\"$gt\":1}}", "{\"v\":{\"a\":5}}"));
	CHECK(eval("{\"v\":{\"$vgt\":\"1.9\"}}", "{\"v\":\"1.10\"}"));
	CHECK(eval("{\"$nor\":[]}", "{}") == 0);
	CHECK(nb_eval_condition(NULL, NULL, NULL) == 1);
}

static int eval_groups(const char *cond, const char *attrs, const char *groups)
{
	cJSON *c = cJSON_Parse(cond), *a = cJSON_Parse(attrs), *g = cJSON_Parse(groups);
	CHECKF(c && a && g, "bad JSON in test: %s / %s / %s", cond, attrs, groups);
	int r = nb_eval_condition(c, a, g);
	cJSON_Delete(c);
	cJSON_Delete(a);
	cJSON_Delete(g);
	return r;
}

/* Issue 13 §2: what the GrowthBook SDK 1.8.0 answers (checked with its
 * evalCondition), where NeonBlue used to differ. */
static void condition_matches_sdk(void)
{
	/* $regex is JavaScript's RegExp (PCRE2 in UTF mode) */
	CHECK(!eval("{\"s\":{\"$regex\":\"a**\"}}", "{\"s\":\"aaa\"}")); /* JS rejects it */
	CHECK(eval("{\"s\":{\"$regex\":\"^\\\\x41$\"}}", "{\"s\":\"A\"}"));
	CHECK(eval("{\"s\":{\"$regex\":\"^\\\\u00e9$\"}}", "{\"s\":\"\u00e9\"}"));
	CHECK(eval("{\"s\":{\"$regex\":\"^(a)\\\\1$\"}}", "{\"s\":\"aa\"}"));
	CHECK(eval("{\"s\":{\"$regex\":\"^[^]$\"}}", "{\"s\":\"\\n\"}"));
	CHECK(eval("{\"s\":{\"$regex\":\"^.$\"}}", "{\"s\":\"\u00e9\"}"));
	CHECK(eval("{\"s\":{\"$regex\":\"^\\\\s$\"}}", "{\"s\":\"\\u00a0\"}"));
	CHECK(eval("{\"s\":{\"$regexi\":\"^\u00c9COLE$\"}}", "{\"s\":\"\u00e9cole\"}"));
	/* ToNumber trims every Unicode white space */
	CHECK(eval("{\"n\":12}", "{\"n\":\"\\u00a012\\u2028\"}"));
	CHECK(eval("{\"n\":{\"$gt\":11}}", "{\"n\":\"\\u3000 12\\ufeff\"}"));
	CHECK(eval("{\"n\":0}", "{\"n\":\"\\u2029\"}"));
	/* strings compare in UTF-16 order: a surrogate pair sorts before U+FFFD */
	CHECK(eval("{\"n\":{\"$lt\":\"\\ufffd\"}}", "{\"n\":\"\\ud83d\\ude00\"}"));
	/* deep equality in JavaScript's key order: index keys first */
	CHECK(eval("{\"o\":{\"b\":1,\"2\":2,\"1\":1}}", "{\"o\":{\"1\":1,\"2\":2,\"b\":1}}"));
	CHECK(!eval("{\"o\":{\"b\":1,\"a\":2}}", "{\"o\":{\"a\":2,\"b\":1}}"));
	/* $alli compares String(value) lower-cased; $ini folds strings only */
	CHECK(eval("{\"t\":{\"$alli\":[\"TRUE\",\"1\"]}}", "{\"t\":[true,1]}"));
	CHECK(eval("{\"t\":{\"$ini\":[\"\u00c9\"]}}", "{\"t\":\"\u00e9\"}"));
	CHECK(!eval("{\"t\":{\"$ini\":[\"1\"]}}", "{\"t\":1}"));
	/* versions: "+build" is dropped only with no line break after it (/\+.*$/) */
	CHECK(!eval("{\"a\":{\"$vlte\":10}}", "{\"a\":\"+5\\r\"}"));
	CHECK(eval("{\"a\":{\"$veq\":\"1.2.3\"}}", "{\"a\":\"1.2.3+b\"}"));
	/* saved groups: unknown id is an empty list, a malformed one matches nobody */
	CHECK(eval("{\"u\":{\"$notInGroup\":\"nope\"}}", "{\"u\":1}"));
	CHECK(!eval_groups("{\"u\":{\"$notInGroup\":\"bad\"}}", "{\"u\":1}",
			   "{\"bad\":{\"type\":\"list\"}}"));
	CHECK(eval_groups("{\"u\":{\"$inGroup\":\"g\"}}", "{\"u\":2}",
			  "{\"g\":{\"type\":\"list\",\"values\":[2]}}"));
	CHECK(eval_groups("{\"$savedGroup\":{\"id\":\"g\",\"attributeKey\":\"u\"}}", "{\"u\":2}",
			  "{\"g\":{\"type\":\"list\",\"values\":[2]}}"));
	CHECK(eval_groups("{\"$savedGroup\":{\"id\":\"c\"}}", "{\"u\":2}",
			  "{\"c\":{\"type\":\"condition\",\"condition\":{\"u\":{\"$gt\":1}}}}"));
	CHECK(!eval_groups("{\"$savedGroup\":{\"id\":\"c\"}}", "{\"u\":2}",
			   "{\"c\":{\"type\":\"condition\",\"condition\":{\"$savedGroup\":{\"id\":\"c\"}}}}"));
}

static void version_padding(void)
{
	char out[64];
	nb_version_pad("v1.2.3+build", out, sizeof out);
	CHECK_STR(out, "    1-    2-    3-~");
	nb_version_pad("1.0.0-rc.1", out, sizeof out);
	CHECK_STR(out, "    1-    0-    0-rc-    1");
	CHECK_INT(nb_version_pad("", out, sizeof out), 5);
	CHECK_STR(out, "    0");
}

int main(void)
{
	nbt_suite = "assign";
	char *text = read_file(cases_path());
	cases = text ? cJSON_Parse(text) : NULL;
	free(text);
	RUN(conformance_file_present);
	if (cases) {
		RUN(conformance_hash);
		RUN(conformance_getBucketRange);
		RUN(conformance_chooseVariation);
		RUN(conformance_inNamespace);
		RUN(conformance_getEqualWeights);
		RUN(conformance_evalCondition);
	}
	RUN(split_matches_weights_chi2);
	RUN(decisions_are_deterministic);
	RUN(coverage_excludes_and_keeps_variants);
	RUN(namespace_ranges_are_exclusive);
	RUN(targeting_and_reasons);
	RUN(hash_uses_utf16_units);
	RUN(holdout_excludes_by_its_seed);
	RUN(version_padding);
	RUN(condition_js_semantics);
	RUN(condition_matches_sdk);
	cJSON_Delete(cases);
	return NBT_DONE();
}
