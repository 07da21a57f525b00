// bench/peers/node.mjs — V8 in Node, no HTTP: the instantiation baseline.
//   node bench/peers/node.mjs BUILD_FUNCTIONS_DIR ITERATIONS
// For each case, ITERATIONS timed iterations after ITERATIONS/10 of warm-up, one
// thread; prints one line per case:
//   NODE case=… iters=… median_us=… p99_us=… ops_per_s=… status=…
//   instantiate     new WebAssembly.Instance(waitlist.wasm) + _initialize
//   stripe-401, ratelimit-429   a fresh instance per request (abi.mjs), handle, response read
import fs from "node:fs";
import path from "node:path";
import {Host} from "./abi.mjs";
import {ROUTES, VARS, request} from "./routes.mjs";

const [dir, itersArg] = process.argv.slice(2);
const iters = Number(itersArg || 20000);
const modules = {};
const load = (name) =>
    (modules[name] ??= new WebAssembly.Module(fs.readFileSync(path.join(dir, `${name}.wasm`))));

function measure(name, fn) {
    for (let i = 0; i < Math.max(1, iters / 10); i++) fn();
    const t = new Float64Array(iters);
    let last;
    for (let i = 0; i < iters; i++) {
        const t0 = process.hrtime.bigint();
        last = fn();
        t[i] = Number(process.hrtime.bigint() - t0) / 1000;
    }
    t.sort();
    const med = t[Math.floor(iters / 2)], p99 = t[Math.floor(iters * 0.99)];
    const total = t.reduce((a, b) => a + b, 0);
    console.log(`NODE case=${name} iters=${iters} median_us=${med.toFixed(2)} p99_us=${p99.toFixed(2)}` +
                ` ops_per_s=${(iters / total * 1e6).toFixed(0)} status=${last ?? "-"}`);
}

const stubs = new Proxy({}, {get: () => new Proxy({}, {get: () => () => 0})});
const w = load("waitlist");
const importObject = {};
for (const imp of WebAssembly.Module.imports(w)) (importObject[imp.module] ??= {})[imp.name] = stubs.x.y;
measure("instantiate", () => {
    const inst = new WebAssembly.Instance(w, importObject);
    inst.exports._initialize?.();
});
for (const name of Object.keys(ROUTES)) {
    const host = new Host(load(ROUTES[name].module), VARS);
    const req = request(name);
    for (let i = 0; i < 12; i++) host.invoke(req); // past the rate limit (routes.mjs)
    const got = host.invoke(req).status;
    if (got !== ROUTES[name].status) {
        console.error(`node.mjs: ${name} answered ${got}, not ${ROUTES[name].status}:`,
                      new TextDecoder().decode(host.invoke(req).body));
        process.exit(1);
    }
    measure(name, () => host.invoke(req).status);
}
