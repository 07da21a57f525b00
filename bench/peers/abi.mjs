// bench/peers/abi.mjs — a Bastion core module (build/functions/<name>.wasm) run
// in a JavaScript engine, for the side-by-side benchmark (bench/peers.sh): a
// fresh WebAssembly.Instance per request, the host's imports in JavaScript
// over the canonical ABI's wire layouts (../../shared/ABI-NOTES.md,
// host/instance/abi_layout.h). Used by node.mjs (V8 in Node, no HTTP) and
// worker.mjs (workerd). It is a benchmark peer, not a second host:
//   - kv is a JavaScript Map in the process (favours the peer: no store, no
//     system call, no lock; Bastion's kv is SQLite on disk);
//   - sql and http-out answer "unavailable" (the peers' routes need neither);
//   - config is the object given; log lines are counted, not written;
//   - WASI: the real clock, crypto.getRandomValues, fd writes counted.

const enc = new TextEncoder();
const dec = new TextDecoder();
const E_UNAVAILABLE = 1;

export class Host {
    constructor(module, vars) {
        this.module = module;
        this.vars = vars;
        this.kv = new Map();
        this.logLines = 0;
    }

    // One request through a fresh instance: {status, headers: [[n, v]], body: Uint8Array}.
    invoke(req) {
        let inst = null;
        const mem = () => new DataView(inst.exports.memory.buffer);
        const bytes = (p, n) => new Uint8Array(inst.exports.memory.buffer, p, n);
        const str = (p, n) => dec.decode(bytes(p, n));
        const alloc = (align, size) => inst.exports.cabi_realloc(0, 0, align, size);
        const put = (b) => { // Uint8Array → [ptr, len] in the guest
            const p = alloc(1, b.length);
            bytes(p, b.length).set(b);
            return [p, b.length];
        };
        const putList = (view, at, b) => {
            const [p, n] = put(typeof b === "string" ? enc.encode(b) : b);
            view.setUint32(at, p, true);
            view.setUint32(at + 4, n, true);
        };
        const error = (ret, at, disc, text) => { // result's err case at `at`
            const v = mem();
            v.setUint8(ret, 1);
            v.setUint8(ret + at, disc);
            putList(mem(), ret + at + 4, text);
        };
        const now = () => BigInt(Date.now()) * 1000000n;
        const kvKey = (sp, sl, kp, kl) => str(sp, sl) + "\u0000" + str(kp, kl);
        const live = (k) => {
            const e = this.kv.get(k);
            if (e && e.exp && e.exp <= Date.now()) {
                this.kv.delete(k);
                return undefined;
            }
            return e;
        };
        const ttl = (ms) => (ms > 0n ? Date.now() + Number(ms) : 0);
        const boolResult = (ret, flag) => {
            const v = mem();
            v.setUint8(ret, 0);
            v.setUint8(ret + 4, flag ? 1 : 0);
        };
        const kvImports = {
            get: (sp, sl, kp, kl, _t, ret) => {
                const e = live(kvKey(sp, sl, kp, kl));
                const v = mem();
                v.setUint8(ret, 0);
                v.setUint8(ret + 4, e ? 1 : 0);
                if (e) putList(mem(), ret + 8, e.value);
            },
            set: (sp, sl, kp, kl, vp, vl, ms, _t, ret) => {
                this.kv.set(kvKey(sp, sl, kp, kl), {value: bytes(vp, vl).slice(), exp: ttl(ms)});
                mem().setUint8(ret, 0);
            },
            add: (sp, sl, kp, kl, vp, vl, ms, _t, ret) => {
                const k = kvKey(sp, sl, kp, kl);
                const fresh = !live(k);
                if (fresh) this.kv.set(k, {value: bytes(vp, vl).slice(), exp: ttl(ms)});
                boolResult(ret, fresh);
            },
            increment: (sp, sl, kp, kl, delta, ms, _t, ret) => {
                const k = kvKey(sp, sl, kp, kl);
                const e = live(k);
                const n = (e ? BigInt(dec.decode(e.value)) : 0n) + delta;
                this.kv.set(k, {value: enc.encode(n.toString()), exp: e ? e.exp : ttl(ms)});
                const v = mem();
                v.setUint8(ret, 0);
                v.setBigInt64(ret + 8, n, true);
            },
            swap: (sp, sl, kp, kl, has, ep, el, vp, vl, ms, _t, ret) => {
                const k = kvKey(sp, sl, kp, kl);
                const e = live(k);
                const want = has ? str(ep, el) : null;
                const ok = has ? !!e && dec.decode(e.value) === want : !e;
                if (ok) this.kv.set(k, {value: bytes(vp, vl).slice(), exp: ttl(ms)});
                boolResult(ret, ok);
            },
            delete: (sp, sl, kp, kl, _t, ret) => boolResult(ret, this.kv.delete(kvKey(sp, sl, kp, kl))),
        };
        const imports = {
            "bastion:edge/kv@0.1.0": kvImports,
            "bastion:edge/sql@0.1.0": {
                query: (_dp, _dl, _qp, _ql, _pp, _pl, _t, ret) => error(ret, 8, E_UNAVAILABLE, "no sql here"),
                transaction: (_dp, _dl, _sp, _sl, _t, ret) => error(ret, 4, E_UNAVAILABLE, "no sql here"),
            },
            "bastion:edge/http-out@0.1.0": {
                send: (...a) => error(a[10], 4, E_UNAVAILABLE, "no outbound here"),
            },
            "bastion:edge/config@0.1.0": {
                get: (np, nl, ret) => {
                    const v = this.vars[str(np, nl)];
                    mem().setUint8(ret, v === undefined ? 0 : 1);
                    if (v !== undefined) putList(mem(), ret + 4, v);
                },
            },
            "bastion:edge/log@0.1.0": {write: () => { this.logLines++; }},
            wasi_snapshot_preview1: {
                clock_time_get: (_id, _precision, out) => { mem().setBigUint64(out, now(), true); return 0; },
                random_get: (p, n) => {
                    for (let i = 0; i < n; i += 65536) crypto.getRandomValues(bytes(p + i, Math.min(65536, n - i)));
                    return 0;
                },
                fd_write: (_fd, iovs, n, nwritten) => {
                    const v = mem();
                    let total = 0;
                    for (let i = 0; i < n; i++) total += v.getUint32(iovs + 8 * i + 4, true);
                    v.setUint32(nwritten, total, true);
                    return 0;
                },
                fd_close: () => 8, // EBADF
                fd_seek: () => 70, // ESPIPE
                proc_exit: (code) => { throw new Error(`proc_exit(${code})`); },
            },
        };
        inst = new WebAssembly.Instance(this.module, imports);
        inst.exports._initialize?.();

        // the request record (88 bytes, align 8; abi_layout.h abi_request)
        const rp = alloc(8, 88);
        let v = mem();
        v.setUint8(rp, 0); // trigger: http
        putList(v, rp + 4, req.method);
        putList(mem(), rp + 12, req.path);
        putList(mem(), rp + 20, req.query || "");
        putList(mem(), rp + 28, req.route);
        const pairs = (list, at) => {
            const p = alloc(4, 16 * list.length);
            for (let i = 0; i < list.length; i++) {
                putList(mem(), p + 16 * i, list[i][0]);
                putList(mem(), p + 16 * i + 8, list[i][1]);
            }
            v = mem();
            v.setUint32(at, p, true);
            v.setUint32(at + 4, list.length, true);
        };
        pairs(req.params || [], rp + 36);
        pairs(req.headers, rp + 44);
        putList(mem(), rp + 52, req.body || new Uint8Array(0));
        putList(mem(), rp + 60, req.clientIp);
        putList(mem(), rp + 68, req.requestId);
        mem().setBigUint64(rp + 80, BigInt(Date.now() + 5000), true);

        const handle = inst.exports["bastion:edge/handler@0.1.0#handle"];
        const out = handle(rp);
        v = mem();
        const status = v.getUint16(out, true);
        const hp = v.getUint32(out + 4, true), hn = v.getUint32(out + 8, true);
        const headers = [];
        for (let i = 0; i < hn; i++) {
            const e = hp + 16 * i;
            headers.push([str(v.getUint32(e, true), v.getUint32(e + 4, true)),
                          str(v.getUint32(e + 8, true), v.getUint32(e + 12, true))]);
        }
        const body = bytes(v.getUint32(out + 12, true), v.getUint32(out + 16, true)).slice();
        inst.exports["cabi_post_bastion:edge/handler@0.1.0#handle"]?.(out);
        return {status, headers, body};
    }
}
