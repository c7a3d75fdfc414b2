// tests/sdk/flags_diff.js — differential test of NeonBlue's flags against the
// official GrowthBook SDK (pinned in package.json): flags of every rule kind
// (force with a condition, rollouts of 0/25/100 % with hash attribute and seed,
// a rollout behind a holdout, experiment rules with namespace, holdout and
// weights, a json null value, a rule of an experiment not running, a saved
// group, an off flag) for USERS seeded users. NB_FLAGS (tests/sdk/nb_flags.c) gives
// NeonBlue's feature payload entry (serve_flag_feature) and its nb_flag_eval
// value per user; the SDK evaluates that payload: getFeatureValue must equal
// the value and isOn its truthiness. Prints the counts, exits 1 naming the
// first disagreement.
// Usage: node tests/sdk/flags_diff.js NB_FLAGS [USERS] [SEED]
"use strict";
const path = require("path");
const { spawnSync } = require("child_process");
const { GrowthBook } = require("@growthbook/growthbook");

const nbFlags = process.argv[2];
const nusers = parseInt(process.argv[3] || "1000", 10);
const { rnd, int, pick } = require(path.join(__dirname, "rnd.js"))(
	parseInt(process.argv[4] || "7", 10));

const users = [];
for (let i = 0; i < nusers; i++) {
	const id = "user-" + i + "-" + int(1e6);
	const a = { id, country: pick(["US", "CA", "FR", "DE"]), plan: pick(["free", "pro", "team"]),
		age: int(80) };
	const r = rnd();
	// the hash attribute of some rollouts: a string, a number, empty or missing
	if (r < 0.45) a.company = "co" + int(40);
	else if (r < 0.85) a.company = int(40);
	else if (r < 0.9) a.company = "";
	users.push([id, a]);
}

const groups = { vip: ["US", "DE"] };
// experiments as `exp show --json` prints them (the running ones)
const exp3 = { key: "fx-exp3", seed: "fx-seed3", hash_version: 2, coverage: 0.8,
	namespace: ["fx-ns", 0.1, 0.9], condition: { age: { $gte: 18 } },
	variants: [{ key: "control", weight: 0.5 }, { key: "wide", weight: 0.25 },
		{ key: "narrow", weight: 0.25 }] };
const exp2 = { key: "fx-exp2", hash_version: 1, coverage: 1, holdout: "fx-holdout",
	variants: [{ key: "a", weight: 0.5 }, { key: "b", weight: 0.5 }] };
const holdouts = { "fx-holdout": ["fx-holdout-seed", 0.1] };
const experiments = [exp3, exp2];
const force = (condition, value) => ({ type: "force", condition, value });
const rollout = (value, coverage, o = {}) => Object.assign({ type: "rollout", value, coverage }, o);
const flags = [
	{ key: "f-force", type: "boolean", enabled: true, default_value: false,
		rules: [force({ country: "US" }, true)] },
	{ key: "f-force-str", type: "string", enabled: true, default_value: "basic",
		rules: [force({ plan: { $in: ["pro", "team"] }, age: { $lt: 30 } }, "young-pro"),
			force({ country: { $inGroup: "vip" } }, "vip")] },
	{ key: "f-roll0", type: "boolean", enabled: true, default_value: false,
		rules: [rollout(true, 0, { hash_attribute: "id", seed: "r0" })] },
	{ key: "f-roll25", type: "number", enabled: true, default_value: 0,
		rules: [rollout(42.5, 0.25, { hash_attribute: "company", seed: "r25", hash_version: 2 })] },
	{ key: "f-roll25-v1", type: "string", enabled: true, default_value: "off",
		rules: [rollout("on", 0.25, { hash_version: 1 })] },
	{ key: "f-roll100", type: "boolean", enabled: true, default_value: false,
		rules: [rollout(true, 1, { condition: { country: { $ne: "FR" } }, seed: "r100" })] },
	{ key: "f-roll-holdout", type: "boolean", enabled: true, default_value: false,
		rules: [rollout(true, 0.5, { holdout: "fx-holdout", seed: "rh" })] },
	{ key: "f-exp", type: "json", enabled: true, default_value: { layout: "old" },
		rules: [force({ plan: "team" }, { layout: "team" }),
			{ type: "experiment", condition: { country: { $in: ["US", "CA", "DE"] } },
				experiment: "fx-exp3",
				variations: { control: { layout: "old" }, wide: { layout: "new", cols: [1, 2] }, narrow: null } },
			{ type: "experiment", experiment: "fx-stopped", variations: { a: { layout: "never" } } },
			rollout({ layout: "fallback" }, 0.5, { seed: "fx-fallback" })] },
	{ key: "f-exp-holdout", type: "boolean", enabled: true, default_value: false,
		rules: [{ type: "experiment", experiment: "fx-exp2", variations: { a: false, b: true } }] },
	{ key: "f-off", type: "string", enabled: false, default_value: "default-of-off",
		rules: [force(null, "forced"), rollout("rolled", 1)] },
];

const input = flags.map((flag) => JSON.stringify({ flag, experiments, holdouts,
	savedGroups: groups, users })).join("\n") + "\n";
const run = spawnSync(nbFlags, [], { input, maxBuffer: 1 << 28 });
if (run.status !== 0) {
	process.stderr.write(run.stderr);
	console.error(`flags_diff: ${nbFlags} exited ${run.status}`);
	process.exit(1);
}
const answers = run.stdout.toString().trim().split("\n").map((l) => JSON.parse(l));
if (answers.length !== flags.length) {
	console.error(`flags_diff: ${answers.length} answers for ${flags.length} flags`);
	process.exit(1);
}

const truthy = (v) => !!v;
let compared = 0, disagreements = 0, first = null;
const bySource = {};
flags.forEach((f, i) => {
	const { feature, values, error } = answers[i];
	if (error) {
		console.error(`flags_diff: ${f.key}: refused: ${error}`);
		process.exit(1);
	}
	const distinct = new Set();
	users.forEach(([id, attributes], u) => {
		const gb = new GrowthBook({ features: { [f.key]: feature }, attributes,
			savedGroups: groups });
		const sdkValue = gb.getFeatureValue(f.key, null);
		const sdkOn = gb.isOn(f.key);
		const src = gb.evalFeature(f.key).source;
		bySource[src] = (bySource[src] || 0) + 1;
		const nb = values[u];
		distinct.add(JSON.stringify(nb));
		compared++;
		if (JSON.stringify(sdkValue) !== JSON.stringify(nb) || sdkOn !== truthy(nb)) {
			disagreements++;
			if (!first)
				first = `flag ${f.key} user ${id} ${JSON.stringify(attributes)}: SDK ` +
					`${JSON.stringify(sdkValue)} (isOn ${sdkOn}, ${src}), NeonBlue ` +
					`${JSON.stringify(nb)}; feature ${JSON.stringify(feature)}`;
		}
		gb.destroy();
	});
	console.log(`flags_diff: ${f.key}: ${distinct.size} distinct values`);
});
const sources = Object.keys(bySource).sort().map((k) => `${k} ${bySource[k]}`).join(", ");
console.log(`flags_diff: ${flags.length} flags x ${nusers} users, ${compared} evaluations ` +
	`(${sources}), ${disagreements} disagreements`);
if (first) {
	console.log(`flags_diff: first disagreement: ${first}`);
	process.exit(1);
}
