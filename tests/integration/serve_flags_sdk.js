// serve_flags_sdk.js — for serve_flags.sh: the official GrowthBook SDK
// evaluates flag KEY from the payload the server serves (/api/features) for
// every user of USERS (`flag eval --users` lines: {"user_id", "attributes"})
// and compares with NB (the `neonblue flag eval --users` answers, one JSON a
// line, same order): getFeatureValue == value, isOn == its truthiness.
// Prints "N users, M disagreements[; first: ...]"; exits 1 on any.
// Usage: node serve_flags_sdk.js URL CLIENT_KEY KEY USERS NB
"use strict";
const fs = require("fs");
const path = require("path");
const { GrowthBook } = require(path.join(__dirname, "../sdk/node_modules/@growthbook/growthbook"));

const [url, ck, key, usersFile, nbFile] = process.argv.slice(2);
const lines = (f) => fs.readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l));

(async () => {
	const payload = await (await fetch(`${url}/api/features/${ck}`)).json();
	const users = lines(usersFile), nb = lines(nbFile);
	let bad = 0, first = "";
	const sources = {};
	users.forEach((u, i) => {
		const gb = new GrowthBook({ features: payload.features, savedGroups: payload.savedGroups,
			attributes: Object.assign({ id: u.user_id }, u.attributes) });
		const v = gb.getFeatureValue(key, null), on = gb.isOn(key);
		sources[nb[i].source] = (sources[nb[i].source] || 0) + 1;
		if (nb[i].user !== u.user_id || JSON.stringify(v) !== JSON.stringify(nb[i].value) || on !== !!nb[i].value) {
			bad++;
			if (!first) first = `; first: ${u.user_id}: SDK ${JSON.stringify(v)}, NeonBlue ${JSON.stringify(nb[i])}`;
		}
		gb.destroy();
	});
	const src = Object.keys(sources).sort().map((k) => `${k} ${sources[k]}`).join(", ");
	console.log(`${users.length} users (${src}), ${bad} disagreements${first}`);
	process.exit(bad ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(2); });
