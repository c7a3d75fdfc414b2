// serve_sse_sdk.js — the official GrowthBook SDK streaming from `neonblue
// serve`: init({streaming: true}) fetches /api/features, sees x-sse-support,
// opens GET /sub/{clientKey} with the `eventsource` package (Node.js has no
// EventSource of its own). Once the stream is open (the server's /metrics
// counts one more subscriber), the experiment is stopped over HTTP and the
// time until the SDK no longer assigns the user is measured.
// Usage: node serve_sse_sdk.js API_HOST CLIENT_KEY ADMIN_TOKEN EXPERIMENT
// Prints one JSON line: {"before", "after", "ms", "streamed"}.
const path = require("path");
const sdk = path.join(__dirname, "../sdk/node_modules");
const { GrowthBook, setPolyfills } = require(path.join(sdk, "@growthbook/growthbook"));
const { EventSource } = require(path.join(sdk, "eventsource"));

const [apiHost, clientKey, adminToken, exp] = process.argv.slice(2);
setPolyfills({ EventSource });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function subscribers() {
  const m = await (await fetch(apiHost + "/metrics")).text();
  const l = m.split("\n").find((x) => x.startsWith("nb_sse_subscribers "));
  return l ? Number(l.split(" ")[1]) : -1;
}

(async () => {
  const base = await subscribers();
  const gb = new GrowthBook({ apiHost, clientKey, attributes: { id: "sse-sdk-user" } });
  const res = await gb.init({ streaming: true, timeout: 5000 });
  if (!res.success) throw new Error("init failed: " + JSON.stringify(res));
  const before = gb.evalFeature(exp).value;
  // the SDK opens the stream after the first fetch: wait until the server has it
  for (let i = 0; i < 200 && (await subscribers()) <= base; i++) await sleep(25);
  const streamed = (await subscribers()) > base;
  const t0 = Date.now();
  const r = await fetch(`${apiHost}/v1/experiments/${exp}/stop`, {
    method: "POST",
    headers: { Authorization: "Bearer " + adminToken },
  });
  if (r.status !== 200) throw new Error("stop: HTTP " + r.status);
  let after = gb.evalFeature(exp).value;
  while (after !== null && after !== undefined && Date.now() - t0 < 5000) {
    await sleep(2);
    after = gb.evalFeature(exp).value;
  }
  const ms = Date.now() - t0;
  console.log(JSON.stringify({ before, after: after === undefined ? null : after, ms, streamed }));
  gb.destroy();
  process.exit(0);
})().catch((e) => {
  console.log(JSON.stringify({ error: String(e) }));
  process.exit(1);
});
