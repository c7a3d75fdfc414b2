// tests/sdk/flags_diff.js — differential test of NeonBlue's flags against the
// official GrowthBook SDK (pinned in package.json): flags of every rule kind
// (force with a condition, rollouts of 0/25/100 % with hash attribute and seed,
// experiment rules with namespace, holdout and weights, a saved group, an off
// flag) for USERS seeded users. NB_FLAGS (build/asan/tests/sdk/nb_flags) gives
// NeonBlue's feature payload entry (nb_pg_flag_feature) and its nb_flag_eval
// value per user; the SDK evaluates that payload: getFeatureValue must equal
// the value and isOn its truthiness. Prints the counts, exits 1 naming the
// first disagreement.
// Usage: node tests/sdk/flags_diff.js NB_FLAGS [USERS] [SEED]
"use strict";
const { spawnSync } = require("child_process");
const { GrowthBook } = require("@growthbook/growthbook");

const nbFlags = process.argv[2];
const nusers = parseInt(process.argv[3] || "1000", 10);
let seed = parseInt(process.argv[4] || "7", 10) >>> 0;

// mulberry32, as in diff.js
function rnd() {
	seed = (seed + 0x6d2b79f5) >>> 0;
	let t = seed;
	t = Math.imul(t ^ (t >>> 15), t | 1);
	t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
	return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n) => Math.floor(rnd() * n);
const pick = (a) => a[int(a.length)];

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
const exp3 = { key: "fx-exp3", seed: "fx-seed3", hashVersion: 2, coverage: 0.8,
	namespace: ["fx-ns", 0.1, 0.9], condition: { age: { $gte: 18 } },
	weights: [0.5, 0.25, 0.25] };
const exp2 = { key: "fx-exp2", seed: "fx-exp2", hashVersion: 1, coverage: 1,
	weights: [0.5, 0.5], holdout: ["fx-holdout-seed", 0.1] };
const flags = [
	{ key: "f-force", enabled: true, defaultValue: false,
		rules: [{ type: "force", condition: { country: "US" }, value: true }] },
	{ key: "f-force-str", enabled: true, defaultValue: "basic",
		rules: [{ type: "force", condition: { plan: { $in: ["pro", "team"] }, age: { $lt: 30 } }, value: "young-pro" },
			{ type: "force", condition: { country: { $inGroup: "vip" } }, value: "vip" }],
		savedGroups: groups },
	{ key: "f-roll0", enabled: true, defaultValue: false,
		rules: [{ type: "rollout", value: true, coverage: 0, hashAttribute: "id", seed: "r0", hashVersion: 2 }] },
	{ key: "f-roll25", enabled: true, defaultValue: 0,
		rules: [{ type: "rollout", value: 42.5, coverage: 0.25, hashAttribute: "company", seed: "r25", hashVersion: 2 }] },
	{ key: "f-roll25-v1", enabled: true, defaultValue: "off",
		rules: [{ type: "rollout", value: "on", coverage: 0.25, hashAttribute: "id", seed: "", hashVersion: 1 }] },
	{ key: "f-roll100", enabled: true, defaultValue: false,
		rules: [{ type: "rollout", condition: { country: { $ne: "FR" } }, value: true, coverage: 1,
			hashAttribute: "id", seed: "r100", hashVersion: 2 }] },
	{ key: "f-exp", enabled: true, defaultValue: { layout: "old" },
		rules: [{ type: "force", condition: { plan: "team" }, value: { layout: "team" } },
			{ type: "experiment", condition: { country: { $in: ["US", "CA", "DE"] } },
				experiment: exp3, values: [{ layout: "old" }, { layout: "new", cols: [1, 2] }, null] },
			{ type: "rollout", value: { layout: "fallback" }, coverage: 0.5, hashAttribute: "id",
				seed: "fx-fallback", hashVersion: 2 }] },
	{ key: "f-exp-holdout", enabled: true, defaultValue: false,
		rules: [{ type: "experiment", experiment: exp2, values: [false, true] }] },
	{ key: "f-off", enabled: false, defaultValue: "default-of-off",
		rules: [{ type: "force", value: "forced" },
			{ type: "rollout", value: "rolled", coverage: 1, hashAttribute: "id", seed: "x", hashVersion: 2 }] },
];

const input = flags.map((f) => JSON.stringify({ flag: f, users })).join("\n") + "\n";
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
	const { feature, values } = answers[i];
	const distinct = new Set();
	users.forEach(([id, attributes], u) => {
		const gb = new GrowthBook({ features: { [f.key]: feature }, attributes,
			savedGroups: f.savedGroups || {} });
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
