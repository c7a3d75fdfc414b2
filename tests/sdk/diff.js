// tests/sdk/diff.js — differential test of NeonBlue against the official
// GrowthBook SDK (pinned in package.json): a seeded generator of conditions,
// attributes and saved groups, plus hashing and bucketing cases; NeonBlue's
// answers come from build/asan/tests/sdk/nb_eval, the SDK's from evalCondition,
// hash, getBucketRanges and chooseVariation. Prints the count, exits 1 naming
// the first disagreeing case.
// Usage: node tests/sdk/diff.js NB_EVAL [CASES] [SEED]
"use strict";
const path = require("path");
const { spawnSync } = require("child_process");
const { evalCondition, GrowthBook } = require("@growthbook/growthbook");
const util = require(path.join(__dirname,
	"node_modules/@growthbook/growthbook/dist/cjs/util.js"));

const nbEval = process.argv[2];
const total = parseInt(process.argv[3] || "10000", 10);
const { rnd, int, pick } = require(path.join(__dirname, "rnd.js"))(
	parseInt(process.argv[4] || "13", 10));

// Strings that stress JavaScript's ToNumber, String(), case folding and UTF-16.
const WS = ["\t", "\n", "\u000b", "\f", "\r", " ", "\u00a0", "\u1680", "\u2000", "\u200a",
	"\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff"];
const NUMSTR = ["10", "0", "-0", "1.5", ".5", "5.", "1e3", "1E-2", "0x1F", "0X10", "0b101",
	"0o17", "Infinity", "-Infinity", "+5", "", " ", "12abc", "0x", "1_000", "١٢",
	"NaN", "1e", "00012", "-0x10", "9007199254740993"];
const STR = ["US", "us", "CA", "a", "A", "b", "é", "É", "ÉCOLE", "école", "naïve", "NAÏVE",
	"日本", "straße", "ÀB", "àb", "Ω", "ω", "a-b_c", "u123", "uabc", "ab", "ababc",
	"foo bar", "null", "true", "false", "[object Object]", "1,2", "a,b", "AbC", "x/y",
	"1.2.3", "v1.2.3", "1.2.3-rc.1", "1.2.3+build", "1.10.0", "1.9", "2", "0.0.1",
	"aa", "aaa", "", "A\u0301", "\u00e9\u00e9"];
const ASTRAL = ["😀", "a😀b", "𝒳"];
const NUMS = [0, 1, -1, 2, 3, 5, 10, 12, 16, 31, 0.5, 1.5, -2.5, 100, 1e21, 1e-7, 1.5e-7,
	123456789, 0.1, 0.30000000000000004];

function numStr() {
	let s = pick(NUMSTR);
	if (rnd() < 0.4) s = pick(WS) + s;
	if (rnd() < 0.4) s = s + pick(WS);
	return s;
}
function scalar() {
	const r = rnd();
	if (r < 0.25) return pick(NUMS);
	if (r < 0.45) return numStr();
	if (r < 0.8) return rnd() < 0.1 ? pick(ASTRAL) : pick(STR);
	if (r < 0.9) return rnd() < 0.5;
	return null;
}
const KEYS = ["a", "b", "c", "n", "tags", "o", "1", "2", "10", "x.y"];
const OKEYS = ["a", "b", "z", "1", "2", "10", "01", "-1", "1.5"];
// An object from entries, in a shuffled insertion order.
function object(depth) {
	const n = int(4);
	const keys = [];
	while (keys.length < n) {
		const k = pick(OKEYS);
		if (!keys.includes(k)) keys.push(k);
	}
	const o = {};
	for (const k of keys) o[k] = value(depth + 1);
	return o;
}
function array(depth) {
	const a = [];
	for (let i = int(4); i > 0; i--) a.push(depth < 2 && rnd() < 0.2 ? value(depth + 1) : scalar());
	return a;
}
function value(depth = 0) {
	const r = rnd();
	if (depth < 2 && r < 0.15) return array(depth);
	if (depth < 2 && r < 0.25) return object(depth);
	return scalar();
}
function attributes() {
	const o = {};
	for (const k of KEYS) {
		if (rnd() < 0.55) o[k] = value();
	}
	if (rnd() < 0.3) o.x = { y: value(1) };
	if (rnd() < 0.5) o.tags = array(1);
	return o;
}

const REGEX = ["^.$", "a**", "\\x41", "\\u00e9", "(a)\\1", "[^]", "^[^]$", "^\\d+$", "\\w+",
	"^[a-z]+$", "é", "(?:ab)+c", "a(?=b)", "a(?!b)", "^$", "[", "a{2}", "\\bfoo", "É",
	"^\\s*1", "a|b", "^.{2}$", "[\\d-x]", "x/y", "x\\/y", "^\\S+$", "\\s", "^[\\s\\S]+$",
	"(a|)+b", "^US$", "^u\\d+$", "^[\\w-]+$", "(?<n>a)\\k<n>", "a{2,}", "\\D", "\\W",
	"[A-Z]", "école", "^[à-ÿ]", "(?:", ")", "+a", "\\", "ß", "Ω", "^1\\.", "\\.", "^null$",
	"^(true|false)$", "^\\[object", "\\t", "\\n", "\\cJ", "[\\b]", "\\0", "a$", "^A\\u0301$",
	"\\Qa", "\\p{L}", "^\\v$", "\\k<n>", "\\h", "\\z", "\\Aa", "[\\s]", "\\u{2}", "^\\x4"];
const VERS = ["1.2.3", "v1.2.3", "1.2.3-rc.1", "1.2.3-beta", "1.2.3+b5", "1.10.0", "1.9.0",
	"2", "1.0", "0.0.1", "1.2.3.4", "", "v", 1, 1.5, 10];

// An operator object: 1–2 operators on one attribute.
function operators(depth) {
	const o = {};
	for (let i = 1 + int(2); i > 0; i--) {
		const op = pick(["$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$in", "$nin", "$ini", "$nini",
			"$exists", "$type", "$regex", "$regexi", "$not", "$size", "$elemMatch", "$all",
			"$alli", "$veq", "$vne", "$vgt", "$vgte", "$vlt", "$vlte", "$inGroup",
			"$notInGroup", "$unknown"]);
		let v;
		switch (op) {
		case "$in": case "$nin": case "$ini": case "$nini":
			v = rnd() < 0.95 ? array(1) : scalar(); break;
		case "$all": case "$alli":
			v = rnd() < 0.95 ? array(1).map((x) => rnd() < 0.2 && depth < 2 ? operators(depth + 1) : x) : scalar();
			break;
		case "$exists": v = pick([true, false, 0, 1, "", "x", null]); break;
		case "$type": v = pick(["string", "number", "boolean", "null", "array", "object", "undefined", "x"]); break;
		case "$regex": case "$regexi": v = rnd() < 0.97 ? pick(REGEX) : scalar(); break;
		case "$not": case "$size": v = depth < 2 ? condValue(depth + 1) : scalar(); break;
		case "$elemMatch": v = depth < 2 && rnd() < 0.5 ? condition(depth + 1) : operators(depth + 1); break;
		case "$veq": case "$vne": case "$vgt": case "$vgte": case "$vlt": case "$vlte": v = pick(VERS); break;
		case "$inGroup": case "$notInGroup": v = pick(["g1", "g2", "g3", "missing", "bad"]); break;
		default: v = value(1);
		}
		o[op] = v;
	}
	return o;
}
function condValue(depth) {
	return rnd() < 0.6 ? operators(depth) : value(1);
}
function condition(depth = 0) {
	const c = {};
	for (let i = int(3) + (depth ? 0 : 1); i > 0; i--) {
		const r = rnd();
		if (depth < 2 && r < 0.15) {
			const op = pick(["$and", "$or", "$nor"]);
			const list = [];
			for (let j = int(3); j > 0; j--) list.push(condition(depth + 1));
			c[op] = list;
		} else if (depth < 2 && r < 0.2) {
			c.$not = condition(depth + 1);
		} else if (r < 0.25) {
			c.$savedGroup = pick([{ id: "l1" }, { id: "l1", attributeKey: "b" }, { id: "c1" },
				{ id: "cyc" }, { id: "g1", attributeKey: "a" }, { id: 5 }, "l1",
				{ id: "l1", attributeKey: 3 }, { id: "missing" }]);
		} else {
			const k = pick(KEYS.concat(["tags.length", "tags.0", "o.a", "o.1", "x.y", "missing"]));
			c[k] = condValue(depth + 1);
		}
	}
	return c;
}
function savedGroups() {
	const g = {};
	for (const id of ["g1", "g2", "g3"]) {
		if (rnd() < 0.8) g[id] = array(1);
	}
	g.l1 = { type: "list", attributeKey: pick(["a", "n", "tags", "missing"]), values: array(1) };
	if (rnd() < 0.8) g.c1 = { type: "condition", condition: condition(2) };
	g.cyc = { type: "condition", condition: { $savedGroup: { id: "cyc" } } };
	if (rnd() < 0.5) g.bad = pick([{ type: "list", values: array(1) }, { type: "list" }, 5, "x",
		{ type: "condition", condition: {} }]);
	return g;
}

// Hashing and bucketing cases.
function hashCase() {
	const s = () => pick(STR.concat(ASTRAL, ["user-" + int(100000), "exp-" + int(1000), ""]));
	return { hash: [s(), s(), pick([1, 2, 1, 2, 3, 0])] };
}
function rangesCase() {
	const n = 1 + int(6);
	let w = null;
	if (rnd() < 0.7) {
		w = [];
		for (let i = 0; i < n + (rnd() < 0.1 ? 1 : 0); i++) w.push(Math.round(rnd() * 100) / 100);
		if (rnd() < 0.6) { const t = w.reduce((a, b) => a + b, 0) || 1; w = w.map((x) => x / t); }
	}
	return { ranges: [n, pick([1, 0.5, 0, 0.25, 1.5, -0.1, rnd()]), w] };
}
function chooseCase() {
	const r = util.getBucketRanges(1 + int(5), pick([1, 0.5, rnd()]), undefined);
	return { choose: [pick([rnd(), 0, 0.5, 1, 0.25]), r] };
}

// One experiment and one user, decided end to end (GrowthBook.run).
function decideCase() {
	const n = 2 + int(4);
	let w = [];
	for (let i = 0; i < n; i++) w.push(1 + int(9));
	const t = w.reduce((a, b) => a + b, 0);
	w = w.map((x) => x / t);
	const user = rnd() < 0.03 ? "" : pick(["u", "user-", "é", "😀"]) + int(100000);
	const attrs = attributes();
	attrs.id = user;
	return { decide: {
		key: "exp-" + int(1000), seed: rnd() < 0.5 ? "seed-" + int(100) : null,
		hashVersion: pick([1, 2]), coverage: pick([1, 1, 0.5, rnd()]),
		namespace: rnd() < 0.3 ? ["ns" + int(3), Math.round(rnd() * 50) / 100, 0.5 + Math.round(rnd() * 50) / 100] : null,
		condition: rnd() < 0.4 ? condition(1) : null, weights: w, user, attributes: attrs,
		savedGroups: savedGroups(),
	} };
}
function sdkDecide(d) {
	const gb = new GrowthBook({ attributes: d.attributes, savedGroups: d.savedGroups });
	const exp = { key: d.key, variations: d.weights.map((_, i) => i), weights: d.weights,
		coverage: d.coverage, hashVersion: d.hashVersion };
	if (d.seed) exp.seed = d.seed;
	if (d.namespace) exp.namespace = d.namespace;
	if (d.condition) exp.condition = d.condition;
	const r = gb.run(exp);
	return { in: r.inExperiment, variant: r.inExperiment ? r.variationId : -1 };
}

const cases = [];
for (let i = 0; i < total; i++) {
	const r = rnd();
	if (r < 0.04) cases.push(hashCase());
	else if (r < 0.06) cases.push(rangesCase());
	else if (r < 0.08) cases.push(chooseCase());
	else if (r < 0.2) cases.push(decideCase());
	else if (r < 0.45) {
		// one operator on one attribute, so that each operator's own answer shows
		const op = operators(1);
		const k = Object.keys(op)[0];
		const a = { a: op[k] && /^\$regex/.test(k) && rnd() < 0.7 ? pick(STR.concat(NUMSTR)) : value() };
		const c = { condition: { a: { [k]: op[k] } }, attributes: a };
		if (rnd() < 0.7) c.savedGroups = savedGroups();
		cases.push(c);
	} else {
		const c = { condition: condition(), attributes: attributes() };
		if (rnd() < 0.7) c.savedGroups = savedGroups();
		cases.push(c);
	}
}

const console_error = console.error;
console.error = () => {}; // the SDK logs unknown operators and bad weights
function sdk(c) {
	if (c.hash) return util.hash(...c.hash);
	if (c.ranges) return util.getBucketRanges(c.ranges[0], c.ranges[1], c.ranges[2] || undefined);
	if (c.choose) return util.chooseVariation(...c.choose);
	if (c.decide) return sdkDecide(c.decide);
	return evalCondition(c.attributes, c.condition, c.savedGroups);
}
const input = cases.map((c) => JSON.stringify(c)).join("\n") + "\n";
const run = spawnSync(nbEval, [], { input, maxBuffer: 1 << 28 });
if (run.status !== 0) {
	console.log(`nb_eval failed (status ${run.status}): ${run.stderr}`);
	process.exit(1);
}
const got = run.stdout.toString().split("\n");
let conds = 0, others = 0, bad = 0, first = null, trues = 0;
for (let i = 0; i < cases.length; i++) {
	const want = sdk(cases[i]);
	const nb = JSON.parse(got[i]);
	const same = JSON.stringify(want) === JSON.stringify(nb);
	if (cases[i].condition) conds++; else others++;
	if (want === true) trues++;
	if (!same) {
		bad++;
		if (!first) first = `case ${i}: ${JSON.stringify(cases[i])}\n  SDK: ${JSON.stringify(want)}  NeonBlue: ${got[i]}`;
		if (process.env.SDK_DIFF_ALL) console.log(`case ${i}: ${JSON.stringify(cases[i])}\n  SDK: ${JSON.stringify(want)}  NeonBlue: ${got[i]}`);
	}
}
console.error = console_error;
console.log(`sdk_diff: ${cases.length} cases (${conds} conditions, ${trues} of them true; ${others} hashing/bucketing/decisions), ${bad} disagreements`);
if (first) {
	console.log(`first disagreement: ${first}`);
	process.exit(1);
}
