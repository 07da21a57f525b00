// Signs Stripe webhook payloads with Stripe's own library (HOOK1 tests), so
// the tests never depend on this project's reading of the signature scheme.
//
//   node tests/tools/stripe_sign.mjs NPM_TOOLS_DIR < requests.json
//
// stdin: a JSON array of {"payload": "<exact body>", "secret": "whsec_…",
// "timestamp": <Unix seconds>}; stdout: a JSON array of the Stripe-Signature
// header values, in order, from stripe.webhooks.generateTestHeaderString.
// NPM_TOOLS_DIR is where build.sh installed tests/tools/package.json
// (.deps/npm-tools).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: stripe_sign.mjs NPM_TOOLS_DIR < requests.json");
  process.exit(2);
}
const Stripe = createRequire(join(dir, "package.json"))("stripe");
// The key is never used: signing is local, no request leaves the process.
const stripe = new Stripe("sk_test_unused");
const requests = JSON.parse(readFileSync(0, "utf8"));
const headers = requests.map(({ payload, secret, timestamp }) =>
  stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp }));
process.stdout.write(JSON.stringify(headers) + "\n");
