"""bench/peers_report.py LOG_DIR RESULTS_MD CHART_PNG — bench/peers.sh's report.

Reads LOG_DIR/{env,results.tsv,inprocess.txt}, replaces the block between BEGIN
and END in RESULTS_MD (or appends it) and draws CHART_PNG (req/s and p99 per
setup and route) with gnuplot; without gnuplot the block says so.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys

BEGIN = "<!-- bench/peers.sh: begin; generated, rerun `bash bench/peers.sh` rather than editing -->"
END = "<!-- bench/peers.sh: end -->"
SETUPS = ["bastion", "native", "workerd"]
NAMES = {"bastion": "Bastion (wasm2c, fresh instance)", "native": "native-handler build",
         "workerd": "workerd (same .wasm, fresh instance)"}
ROUTES = [("stripe-401", "(a) pure compute: Stripe signature fails → 401"),
          ("ratelimit-429", "(b) kv only: over the rate limit → 429"),
          ("count", "(c) GET /api/waitlist/{id}/count → 200"),
          ("join", "(c) POST /api/waitlist (a new email each) → 201")]

log, results_md, chart = sys.argv[1:4]
env = dict(l.split("=", 1) for l in open(os.path.join(log, "env")).read().splitlines() if "=" in l)
rows = [l.split("\t") for l in open(os.path.join(log, "results.tsv")).read().splitlines() if l]
data = {}  # (setup, route) -> lists
for setup, route, _run, reqs, rps, p50, p99, cpu, errs in rows:
    d = data.setdefault((setup, route), {"rps": [], "p50": [], "p99": [], "cpu": [], "errs": []})
    d["rps"].append(float(rps))
    d["p50"].append(float(p50))
    d["p99"].append(float(p99))
    d["cpu"].append(float(cpu))
    if errs:
        d["errs"].append(errs)
med = statistics.median


def spread(v, fmt):
    return f"{fmt(med(v))} ({fmt(min(v))}–{fmt(max(v))})"


inproc = {}
for line in open(os.path.join(log, "inprocess.txt")).read().splitlines():
    kv = dict(re.findall(r"(\w+)=(\S+)", line))
    engine = line.split()[1]
    inproc.setdefault((engine, kv["case"]), []).append(kv)

out = []
w = out.append
w(BEGIN)
w("")
w("## 8. Side by side: native, Bastion, workerd, V8, Wasmtime")
w("")
w(f"- Machine: {env['CPU']}, {env['CORES']} cores online; {env['KERNEL']}; virtual machine: {env['HYPER']}")
w(f"- Date: {env['START']} → {env.get('END', '?')}; load average at start {env['LOAD0']}, "
  f"at end {env.get('LOAD1', '?')}. Other work may share this machine; the spread columns show "
  "how far the rounds moved.")
w(f"- Source: commit {env['COMMIT']}; workerd {env['WORKERD']} (npm `workerd`, pinned in "
  f"`bench/peers/package.json`); Node {env['NODE']}; wasmtime-py {env['WASMTIME']}.")
w(f"- Command: `bash bench/peers.sh{' --quick' if env.get('QUICK') == '1' else ''}` "
  f"(`./build.sh bench` runs it): {env['RUNS']} rounds; each round starts a fresh server per "
  f"setup and route, checks one request's status, then `wrk -t2 -c{env['CONNS']} -d{env['DUR']} "
  "--latency` from the same machine (loopback). Medians over rounds, (min–max) across rounds. "
  "Raw output: `build/bench/peers/`.")
w("- **CPU µs/request** is the server process's own user + system time (`/proc/PID/stat`, "
  "all its threads) over the wrk run divided by the requests wrk completed: what one request "
  "costs the server, which moves less with the machine's other load than req/s. wrk itself "
  "runs on the same 2 cores, so req/s is shared with the load generator.")
w("- The setups: **Bastion** `build/bastion serve` (each request a fresh wasm2c instance); "
  "**native** `build/bastion serve --native` — the same function and core sources compiled "
  "natively (`./build.sh native`, `host/native/native.c`) behind the same front end, "
  "execution pool and stores, fresh globals per request, no sandbox; **workerd** serving the "
  "same `build/functions/*.wasm` with a fresh `WebAssembly.Instance` per request and the imports "
  "in JavaScript (`bench/peers/abi.mjs`). workerd's kv is a JavaScript `Map` in the isolate, "
  "which favours it: Bastion's is SQLite on disk. The peers have no SQL, so (c) is Bastion and "
  "native only.")
w("")
w("| route | setup | req/s median (min–max) | p50 ms | p99 ms median (min–max) | CPU µs/request median (min–max) | req/s vs native |")
w("|---|---|---|---|---|---|---|")
for route, label in ROUTES:
    nat = data.get(("native", route))
    for setup in SETUPS:
        d = data.get((setup, route))
        if not d:
            continue
        ratio = f"{med(d['rps']) / med(nat['rps']):.2f}×" if nat else "—"
        errs = f" (socket errors: {'; '.join(d['errs'])})" if d["errs"] else ""
        w(f"| {label} | {NAMES[setup]} | {spread(d['rps'], lambda x: f'{x:,.0f}')}{errs} | "
          f"{med(d['p50']):.2f} | {spread(d['p99'], lambda x: f'{x:.2f}')} | "
          f"{spread(d['cpu'], lambda x: f'{x:.1f}')} | {ratio} |")
w("")
w("**Targets** (issue #14):")
w("")


def verdict(ok):
    return "**met**" if ok else "**missed**"


for route in ("count", "join"):
    b, n = data.get(("bastion", route)), data.get(("native", route))
    if b and n:
        r = med(b["rps"]) / med(n["rps"])
        p = med(b["p99"]) / med(n["p99"])
        c = med(b["cpu"]) / med(n["cpu"])
        w(f"- {route}: Bastion/native req/s = {r:.2f} (target ≥ 0.85: {verdict(r >= 0.85)}); "
          f"p99 ratio {p:.2f} (target ≤ 1.5: {verdict(p <= 1.5)}); CPU per request "
          f"{c:.2f}× native's ({med(b['cpu']):.1f} vs {med(n['cpu']):.1f} µs).")
for route in ("stripe-401", "ratelimit-429"):
    b, k = data.get(("bastion", route)), data.get(("workerd", route))
    if b and k:
        r = med(b["rps"]) / med(k["rps"])
        c = med(k["cpu"]) / med(b["cpu"])
        w(f"- {route}: Bastion/workerd req/s = {r:.1f} (target ≥ 20: {verdict(r >= 20)}); "
          f"workerd spends {c:.1f}× Bastion's CPU per request "
          f"({med(k['cpu']):.1f} vs {med(b['cpu']):.1f} µs).")
missed = [r for r in ("stripe-401", "ratelimit-429")
          if data.get(("bastion", r)) and data.get(("workerd", r))
          and med(data[("bastion", r)]["rps"]) / med(data[("workerd", r)]["rps"]) < 20]
if missed:
    r = missed[0]
    k, n = data[("workerd", r)], data[("native", r)]
    w("")
    w(f"What is left of the workerd target: a 20× req/s ratio on {r} would need Bastion's whole "
      f"cost per request under a twentieth of workerd's, {med(k['cpu']) / 20:.0f} CPU-µs; the "
      f"native-handler build itself, with no instance at all, spends {med(n['cpu']):.0f} µs "
      "there (the HTTP front end, the hand-off to the execution pool and back, the access "
      "line), and Bastion's instantiate + teardown is a few µs of it (section 1). So the ratio "
      "is bounded by the per-request work every host shares, not by instantiation, where V8's "
      "fresh instance alone (below) costs an order of magnitude more than Bastion's.")
w("")
w("In process, no HTTP (one thread; each case after a tenth of its iterations as warm-up):")
w("")
w("| engine | case | iterations × rounds | median µs (min–max over rounds) | p99 µs median | note |")
w("|---|---|---|---|---|---|")
notes = {
    ("NODE", "instantiate"): "`new WebAssembly.Instance(waitlist.wasm)` + `_initialize`, stub imports",
    ("NODE", "stripe-401"): "fresh instance + request record + handle + response read (abi.mjs)",
    ("NODE", "ratelimit-429"): "the same, kv in a Map",
    ("WASMTIME", "instantiate"): "fresh Store + `Linker.instantiate` + `_initialize`; Python's loop "
                                 "overhead (measured: {o} µs) subtracted",
}
for (engine, case), runs in inproc.items():
    m = [float(r["median_us"]) for r in runs]
    p = [float(r["p99_us"]) for r in runs]
    note = notes.get((engine, case), "")
    if "python_overhead_us" in runs[0]:
        note = note.format(o=f"{med(float(r['python_overhead_us']) for r in runs):.2f}")
    w(f"| {'V8 (Node)' if engine == 'NODE' else 'Wasmtime (wasmtime-py)'} | {case} | "
      f"{runs[0]['iters']} × {len(runs)} | {spread(m, lambda x: f'{x:.2f}')} | {med(p):.1f} | {note} |")
w("")
w("Bastion's own instantiate + teardown is section 1 (`bench/instantiate.c`, the same module). "
  "Wasmtime is measured for instantiation only: a whole request under wasmtime-py would run "
  "every import as a Python function, which measures Python, not the engine. Its default "
  "configuration is used (no pooling allocator).")
w("")

# the chart
png_note = ""
if shutil.which("gnuplot"):
    dat = os.path.join(log, "chart.dat")
    with open(dat, "w") as f:
        f.write("route " + " ".join(f"{s}_rps {s}_p99" for s in SETUPS) + "\n")
        for route, _ in ROUTES:
            vals = []
            for s in SETUPS:
                d = data.get((s, route))
                vals += [f"{med(d['rps']):.1f}", f"{med(d['p99']):.3f}"] if d else ["NaN", "NaN"]
            f.write(f"{route} " + " ".join(vals) + "\n")
    script = f"""
set terminal pngcairo size 1100,480 font ",10"
set output "{chart}"
set multiplot layout 1,2 title "bench/peers.sh — commit {env['COMMIT']}, {env['START']}, {env['CORES']} cores, wrk -c{env['CONNS']}"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top right
set grid ytics
set title "req/s (median of {env['RUNS']} rounds)"
set yrange [0:*]
plot "{dat}" using 2:xtic(1) title "Bastion", '' using 4 title "native", '' using 6 title "workerd"
set title "p99 latency, ms (median of {env['RUNS']} rounds)"
plot "{dat}" using 3:xtic(1) title "Bastion", '' using 5 title "native", '' using 7 title "workerd"
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    png_note = f"![req/s and p99 per setup and route](peers.png)"
else:
    png_note = ("(No chart this run: gnuplot is not installed; `./build.sh bench` installs "
                "`gnuplot-nox`.)")
w(png_note)
w("")
w(END)
block = "\n".join(out)

text = open(results_md).read() if os.path.exists(results_md) else ""
a, b = text.find(BEGIN.split(";")[0]), text.find(END)
if a >= 0 and b >= 0:
    text = text[:a] + block + text[b + len(END):]
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
open(results_md, "w").write(text)
