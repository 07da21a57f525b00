// bench/peers/routes.mjs — the side-by-side benchmark's requests (bench/peers.sh),
// as the JavaScript peers build them; bench/peers.sh sends the same ones to
// Bastion over HTTP.
//   stripe-401: POST /api/webhooks/stripe with a signature that does not verify:
//               pure compute (HMAC-SHA256 over the body, then a 401 problem)
//   ratelimit-429: POST /api/waitlist from a client over its limit: one kv
//               increment, then a 429 problem
export const VARS = {
    stripe_webhook_secrets: "whsec_benchmark_secret_0123456789",
    waitlist_joins_per_minute: "10",
    auth_jwt_secret: "benchmark-jwt-secret-0123456789abcdef",
    auth_issuer: "bastion-bench",
};

export const STRIPE_BODY = JSON.stringify({
    id: "evt_bench", type: "checkout.session.completed",
    data: {object: {id: "cs_bench", customer: "cus_bench", amount_total: 1200}},
});

export const ROUTES = {
    "stripe-401": {
        module: "stripe-webhook",
        method: "POST", path: "/api/webhooks/stripe", route: "/api/webhooks/stripe",
        headers: [["content-type", "application/json"],
                  ["stripe-signature", "t=1700000000,v1=" + "0".repeat(64)]],
        body: STRIPE_BODY,
        status: 401,
    },
    "ratelimit-429": {
        module: "waitlist",
        method: "POST", path: "/api/waitlist", route: "/api/waitlist",
        headers: [["content-type", "application/json"]],
        body: JSON.stringify({email: "bench@example.com", product_id: "bench"}),
        status: 429,
    },
};

export function request(name, enc = new TextEncoder()) {
    const r = ROUTES[name];
    return {method: r.method, path: r.path, query: "", route: r.route, params: [],
            headers: r.headers, body: enc.encode(r.body), clientIp: "127.0.0.1",
            requestId: "0123456789abcdef0123456789abcdef"};
}
