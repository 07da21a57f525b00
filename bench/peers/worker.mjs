// bench/peers/worker.mjs — the same core modules served by workerd (Cloudflare's
// runtime): each request gets a fresh WebAssembly.Instance (abi.mjs), as a
// Bastion request gets a fresh instance. bench/peers.sh writes the config that
// embeds this file, abi.mjs, routes.mjs and the two .wasm files.
import {Host} from "./abi.mjs";
import {VARS} from "./routes.mjs";
import stripe from "./stripe-webhook.wasm";
import waitlist from "./waitlist.wasm";

// one Host per module: its kv Map lives as long as the isolate
const hosts = {
    "/api/webhooks/stripe": new Host(stripe, VARS),
    "/api/waitlist": new Host(waitlist, VARS),
};
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

export default {
    async fetch(request) {
        const url = new URL(request.url);
        const host = hosts[url.pathname];
        if (!host) return new Response("no such route", {status: 404});
        const r = host.invoke({
            method: request.method, path: url.pathname, query: url.search.slice(1),
            route: url.pathname, params: [], headers: [...request.headers],
            body: new Uint8Array(await request.arrayBuffer()), clientIp: "127.0.0.1",
            requestId: hex(crypto.getRandomValues(new Uint8Array(16))),
        });
        return new Response(r.body, {status: r.status, headers: r.headers});
    },
};
