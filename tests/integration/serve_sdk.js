// serve_sdk.js — the official GrowthBook SDK evaluating /api/features
// locally: reads the payload (argv[2]) and users with attributes (argv[3],
// JSON), prints "user<TAB>feature<TAB>value" for every feature (value "null"
// when the SDK puts the user in no variation).
const path = require("path");
const fs = require("fs");
const { GrowthBook } = require(path.join(__dirname, "../sdk/node_modules/@growthbook/growthbook"));
const payload = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const users = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const keys = Object.keys(payload.features);
const out = [];
for (const u of users) {
  const gb = new GrowthBook({ features: payload.features, savedGroups: payload.savedGroups,
                              attributes: { id: u.user_id, ...u.attributes } });
  for (const k of keys) {
    const r = gb.evalFeature(k);
    out.push(u.user_id + "\t" + k + "\t" + (r.value === null || r.value === undefined ? "null" : r.value));
  }
  gb.destroy();
}
process.stdout.write(out.join("\n") + "\n");
