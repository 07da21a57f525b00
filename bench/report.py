#!/usr/bin/env python3
"""Turn build/bench/logs/ (written by bench/run.sh) into bench/RESULTS.md on stdout.

Every number printed here comes from those logs; the prose around them is
chosen by comparing the numbers, never written in advance.
"""
import os
import re
import statistics
from collections import defaultdict

E = os.environ
LOG = E["LOG"]
RUNS = int(E["RUNS"])
PROPOSED = E.get("PROPOSED") == "1"

# --- parse ------------------------------------------------------------------
# RESULT <label> <case> n=… median_us=… p99_us=… mean_us=… min_us=… minflt=…
res = defaultdict(list)  # (label, case) -> [dict per run]
with open(os.path.join(LOG, "results.txt")) as f:
    for line in f:
        if not line.startswith("RESULT "):
            continue
        _, label, case, *kv = line.split()
        d = {k: float(v) for k, v in (x.split("=") for x in kv)}
        res[(label, case)].append(d)


def agg(label, case):
    rows = res.get((label, case))
    if not rows:
        return None
    med = [r["median_us"] for r in rows]
    return {
        "runs": len(rows),
        "n": int(rows[0]["n"]),
        "median": statistics.median(med),
        "p99": statistics.median(r["p99_us"] for r in rows),
        "mean": statistics.median(r["mean_us"] for r in rows),
        "min": min(r["min_us"] for r in rows),
        "lo": min(med),
        "hi": max(med),
        "minflt": statistics.median(r["minflt"] for r in rows),
    }


def us(x):
    if x is None:
        return "–"
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


CUR, PRO = "instantiate", "instantiate-proposed"
MODES = [("signal", "guard pages (`WASM_RT_MEMCHECK_SIGNAL_HANDLER=1`, build.sh default)"),
         ("bounds", "explicit bounds checks (`=0`)")]


def table(rows_spec):
    """rows_spec: [(row title, label, case)] -> markdown lines."""
    out = ["| | runs × iterations | median µs | p99 µs | mean µs | run medians (min–max) µs | min µs | minor faults / iter |",
           "|---|---|---|---|---|---|---|---|"]
    for title, label, case in rows_spec:
        a = agg(label, case)
        if not a:
            continue
        out.append(f"| {title} | {a['runs']} × {a['n']:,} | **{us(a['median'])}** | {us(a['p99'])} | "
                   f"{us(a['mean'])} | {us(a['lo'])}–{us(a['hi'])} | {us(a['min'])} | {a['minflt']:.2f} |")
    return out


def overlap(a, b):
    return not (a["hi"] < b["lo"] or b["hi"] < a["lo"])


# --- callgrind ------------------------------------------------------------------
cg = {}  # (mode, case) -> {group: Ir per call}
cg_line = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*) \[(.*)\]\s*$")
if E.get("CG") == "1":
    with open(os.path.join(LOG, "callgrind.txt")) as f:
        for line in f:
            m = re.match(r"CG (\S+) (\S+) calls=(\d+) file=(\S+)", line)
            if not m:
                continue
            mode, case, calls, path = m.group(1), m.group(2), int(m.group(3)), m.group(4)
            groups = defaultdict(int)
            total = 0
            for l in open(path):
                t = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+PROGRAM TOTALS", l)
                if t:
                    total = int(t.group(1).replace(",", ""))
                    continue
                mm = cg_line.match(l)
                if not mm:
                    continue
                ir, obj = int(mm.group(1).replace(",", "")), mm.group(3)
                base = os.path.basename(obj)
                if base.startswith("waitlist-"):
                    g = "guest code (waitlist.so)"
                elif base == "instantiate":
                    g = "host (host/*.c, rt.c, bench loop)"
                elif "sqlite" in base:
                    g = "SQLite"
                elif base.startswith("libc"):
                    g = "libc"
                elif base.startswith("ld-linux"):
                    g = "dynamic loader"
                else:
                    g = "other"
                groups[g] += ir
            groups["total"] = total
            cg[(mode, case)] = {k: v / calls for k, v in groups.items()}

# --- strace -c -------------------------------------------------------------------
strace = {}  # (bin, module) -> {syscall: calls per request}
if E.get("ST") == "1":
    for line in open(os.path.join(LOG, "strace.txt")):
        m = re.match(r"STRACE (\S+) (\S+) calls=(\d+) file=(\S+)", line)
        if not m:
            continue
        per = {}
        for l in open(m.group(4)):
            f = l.split()
            # % time  seconds  usecs/call  calls  [errors]  syscall
            if len(f) >= 5 and re.fullmatch(r"[\d.]+", f[0]) and f[-1] != "total":
                per[f[-1]] = int(f[3]) / int(m.group(3))
        strace[(m.group(1), m.group(2))] = per

# --- wrk --------------------------------------------------------------------------


def wrk(name):
    path = os.path.join(LOG, f"wrk-{name}.txt")
    if not os.path.exists(path):
        return None
    runs, med = [], None
    for line in open(path):
        if line.startswith("WRK run="):
            runs.append(dict(re.findall(r"(\w+)=(\S+)", line)))
        elif line.startswith("WRK median"):
            med = dict(re.findall(r"(\w+)=(\S+)", line))
    return runs, med


# --- write --------------------------------------------------------------------------
ITERS, INV, POST = int(E["ITERS"]), int(E["INVOKE_ITERS"]), int(E["POST_ITERS"])
WARM_I, WARM_INV, WARM_POST = min(ITERS // 10, 10000), min(INV // 10, 1000), min(POST // 10, 1000)
MODNAME = {"signal": "guard pages", "bounds": "bounds checks",
           "signal-im16": "guard pages, 16 initial pages", "bounds-im16": "bounds checks, 16 initial pages"}
o = []
w = o.append
w("# Bastion benchmarks")
w("")
w("Generated by `bench/run.sh` (`./build.sh bench`); rerun it rather than editing this file.")
w("Raw output of the last run: `build/bench/logs/`.")
w("")
w("## Machine and conditions")
w("")
w(f"- CPU: {E['CPU']} — {E['CORES']} cores online (`nproc`)")
w(f"- Kernel: {E['KERNEL']}; virtual machine: {E['HYPER']}; Meltdown mitigation: {E['MELTDOWN'] or 'n/a'}")
w(f"- Date: {E['START']} → {E['END']}")
w(f"- Source: commit {E['COMMIT']}{E['DIRTY']}")
w(f"- Load average (1/5/15 min) at start: {E['LOAD0']}; at end: {E['LOAD1']}. Other work shares this "
  "machine while the benchmark runs; the *run medians (min–max)* column shows how far results moved "
  "between processes, and *min* is the least disturbed single iteration.")
w("")
w("## How")
w("")
w("`bench/run.sh` builds everything it measures into `build/bench/`:")
w("")
w("- `waitlist-{signal,bounds}.so`: one snapshot of `build/functions/waitlist.wasm`, made exactly as "
  "`build.sh` `build_module` does (`wasm2c` → `host/tools/glue.py` → `cc -std=c11 -D_GNU_SOURCE -O2 "
  "-fPIC -shared -w -fvisibility=hidden -DWASM_RT_MEMCHECK_SIGNAL_HANDLER={1|0} -Ihost/rt`). "
  "`signal` = guard pages (build.sh's default), `bounds` = explicit bounds checks.")
w("- `waitlist-{signal,bounds}-im16.so`, `health-signal-im16.so`: the same with the memory's initial "
  "size 16 pages (1 MiB) instead of 5 — byte-for-byte what linking with `-Wl,--initial-memory=1048576` "
  "gives (wasm2c's output differs in that one argument of `wasm_rt_allocate_memory`).")
w("- `instantiate`: `bench/instantiate.c` + every `host/*.c` except `main.c`/`server.c` + `host/rt/rt.c`, "
  f"compiled `cc {E.get('HOST_CFLAGS_TXT', '-std=c11 -D_GNU_SOURCE -O2 -g -Ihost -Ihost/rt')}`, linked "
  f"`-rdynamic` with `{E.get('HOST_LIBS_TXT', '-lsqlite3 -lmicrohttpd -lcurl -lcjson -ldl -lpthread -lm')}` "
  "(build.sh's include directories and HOST_LIBS).")
if PROPOSED:
    w("- `instantiate-proposed`, `bastion-proposed`: the same objects with `host/rt/rt.c` + "
      "`bench/rt-proposal.patch` in place of `rt.c` (section 5).")
w("")
w("Each configuration is one process: `build/bench/BINARY --so build/bench/waitlist-MODULE.so --state "
  f"FRESH_TMP_DIR --iters {ITERS} --invoke-iters {INV} --post-iters {POST} --only CASES`. Every "
  "iteration is timed with `clock_gettime(CLOCK_MONOTONIC)`; the samples are sorted for median and p99. "
  f"Warm-up first: {WARM_I:,} iterations (instantiate), {WARM_INV:,} (GET), {WARM_POST:,} (POST).")
w("")
w("- **instantiate**: `memset` of the instance struct, then inside `host_rt_run` with the deadline "
  "`host_invoke` would use (now + 5000 ms) and max pages 32 MiB / 64 KiB: `desc->instantiate` + "
  "`desc->initialize` + `desc->free`. **instantiate_nodl**: the same with deadline 0 (no timer). "
  "**phases**: the instantiate loop with each phase stamped.")
w("- **GET count**: `host_invoke` of `GET /api/waitlist/bench-product/count`, manifest "
  "`build/manifest.json`, state dir migrated in-process by `host_migrate` (what `bastion migrate` runs).")
w("- **POST join**: `host_invoke` of `POST /api/waitlist`, `content-type: application/json`, body "
  "`{\"email\":\"benchN.PID@example.com\",\"product_id\":\"bench-product\"}` — a new email each time, so "
  "every request is a real join (rate-limit key SHA-256 + KV increment, JSON parse + validation, SQL "
  "insert → 201). `BASTION_VAR_waitlist_joins_per_minute=1000000` so the per-IP limit never answers 429.")
w(f"- {RUNS} rounds; each round runs every configuration once, in turn. **median** = median of the "
  f"{RUNS} per-process medians; p99 and mean are likewise the median over processes.")
w("")
w("Command: `bash bench/run.sh` (what `./build.sh bench` runs after `./build.sh build`), with "
  f"BENCH_RUNS={RUNS}, BENCH_ITERS={ITERS}, BENCH_INVOKE_ITERS={INV}, BENCH_POST_ITERS={POST}, "
  f"BENCH_SYSCALL_RUNS={E['SYSCALL_RUNS']}, BENCH_SYSCALL_ITERS={E['SYSCALL_ITERS']}. HTTP: "
  f"`WRK_RUNS={E['WRK_RUNS']} bash bench/wrk.sh`, which starts `build/bastion serve --listen "
  "127.0.0.1:PORT --state TMPDIR --manifest build/manifest.json --dev`, waits for /health, runs "
  f"`wrk -t2 -c64 -d{E['WRK_DURATION']} --latency http://127.0.0.1:PORT/health` {E['WRK_RUNS']} times and "
  "stops the server with SIGTERM.")
w("")

# 1. instantiate
a_sig = agg(CUR + "/signal", "instantiate")
a_bnd = agg(CUR + "/bounds", "instantiate")
w("## 1. Instantiate + teardown (host as it is)")
w("")
o += table([("guard pages", f"{CUR}/signal", "instantiate"),
            ("bounds checks", f"{CUR}/bounds", "instantiate"),
            ("guard pages, no deadline timer", f"{CUR}/signal", "instantiate_nodl")])
w("")
verdict = ""
if a_sig:
    best = min(a_sig["median"], a_bnd["median"]) if a_bnd else a_sig["median"]
    verdict = ("meets the goal (≤ 5 µs)" if best <= 5 else
               "meets the target (≤ 10 µs), not the goal (≤ 5 µs)" if best <= 10 else
               "misses the target (≤ 10 µs)")
    w(f"Issue target: median ≤ 10 µs, goal ≤ 5 µs. Host as it is: **{us(a_sig['median'])} µs** "
      f"(guard pages) — **{verdict}**. Section 4 shows where the time goes"
      + ("; section 5 measures a proposed change." if PROPOSED else "."))
    w("")
    m = a_sig["median"]
    least = f"; the least disturbed process's median was {us(a_sig['lo'])} µs"
    w(f"Issue #14's target, median ≤ 2.5 µs (2.37 µs on 2026-11-22, on the machine of that "
      f"day): **{'met' if m <= 2.5 else f'missed by {us(m - 2.5)} µs'}** this run{least}. "
      "The spread between processes is the machine's other load (load average above), not "
      "the host: callgrind's instruction count per instantiate (section 3) moves only with "
      "the code.")
    w("")

# 2. invoke
w("## 2. Full request through `host_invoke` (host as it is)")
w("")
o += table([(f"GET count — {MODNAME[m]}", f"{CUR}/{m}", "get_count") for m in MODNAME]
           + [(f"POST join — {MODNAME[m]}", f"{CUR}/{m}", "post_join") for m in MODNAME])
w("")

# 3. memcheck
w("## 3. Guard pages vs explicit bounds checks")
w("")
w("| case | host | initial pages | guard pages median µs | bounds checks median µs | bounds / guard | run medians overlap? |")
w("|---|---|---|---|---|---|---|")
verdicts = []
for lbl, host in [(CUR, "as it is"), (PRO, "proposed rt")]:
    for case, title in [("instantiate", "instantiate + teardown"), ("get_count", "GET count"),
                        ("post_join", "POST join")]:
        for suffix, pages in [("", "5"), ("-im16", "16")]:
            s_, b_ = agg(f"{lbl}/signal{suffix}", case), agg(f"{lbl}/bounds{suffix}", case)
            if not s_ or not b_:
                continue
            ov = overlap(s_, b_)
            w(f"| {title} | {host} | {pages} | {us(s_['median'])} | {us(b_['median'])} | "
              f"{b_['median'] / s_['median']:.3f} | {'yes — within noise' if ov else 'no'} |")
            verdicts.append((f"{title}, {host}, {pages} pages", s_, b_, ov))
w("")
if cg:
    w("User-space instructions per call (callgrind `Ir`; deterministic, but kernel work — page faults, "
      "syscalls — is invisible to it). Host as it is, 5 initial pages; per call including the warm-up "
      "calls' share:")
    w("")
    groups = ["guest code (waitlist.so)", "host (host/*.c, rt.c, bench loop)", "SQLite", "libc",
              "dynamic loader", "other", "total"]
    w("| case | mode | " + " | ".join(groups) + " |")
    w("|---|---|" + "---|" * len(groups))
    for case in ["instantiate", "get_count", "post_join"]:
        for m in ["signal", "bounds"]:
            g = cg.get((m, case))
            if g:
                w(f"| {case} | {MODNAME[m]} | " + " | ".join(f"{g.get(k, 0):,.0f}" for k in groups) + " |")
    w("")
    for case in ["get_count", "post_join"]:
        s_, b_ = cg.get(("signal", case)), cg.get(("bounds", case))
        if s_ and b_:
            gs, gb = s_["guest code (waitlist.so)"], b_["guest code (waitlist.so)"]
            w(f"- {case}: bounds checks run {gb - gs:,.0f} more guest instructions per request "
              f"({(gb / gs - 1) * 100:+.1f} % of guest code, {(b_['total'] / s_['total'] - 1) * 100:+.2f} % "
              "of all user-space instructions).")
    w("")
g_wins = [v for v in verdicts if not v[3] and v[1]["median"] < v[2]["median"]]
b_wins = [v for v in verdicts if not v[3] and v[2]["median"] < v[1]["median"]]
ties = [v for v in verdicts if v[3]]
g_lower = [v for v in verdicts if v[1]["median"] < v[2]["median"]]
w(f"**Which is faster:** of {len(verdicts)} comparisons, guard pages were faster with non-overlapping "
  f"run medians in {len(g_wins)}, bounds checks in {len(b_wins)}, and {len(ties)} were within run-to-run noise "
  f"(guard pages had the lower median in {len(g_lower)} of {len(verdicts)}).")
clean = [v for v in verdicts if "proposed rt, 16 pages" in v[0] and "instantiate" not in v[0]]
for name, s_, b_, ov in clean:
    w(f"Least noisy setting ({name}): guard pages {us(s_['median'])} µs, "
      f"bounds checks {us(b_['median'])} µs ({(b_['median'] / s_['median'] - 1) * 100:+.1f} %"
      + (", within noise" if ov else "") + ").")
if cg and cg.get(("signal", "post_join")) and cg.get(("bounds", "post_join")):
    s_, b_ = cg[("signal", "post_join")], cg[("bounds", "post_join")]
    w(f"By instruction count guard pages always do less work (bounds checks add "
      f"{(b_['guest code (waitlist.so)'] / s_['guest code (waitlist.so)'] - 1) * 100:.0f} % to guest code), "
      f"but guest code is only {s_['guest code (waitlist.so)'] / s_['total'] * 100:.0f} % of a POST join's "
      "user-space instructions, and with the host as it is the kernel work of section 4 dwarfs both.")
w("")

# 4. where the time goes
w("## 4. Where instantiate + teardown time goes")
w("")
w("The instantiate loop with every phase stamped (guard pages):")
w("")
ph = [("phase_memset", "`memset` of the instance struct"),
      ("phase_run_enter", "`host_rt_run` entry: `sigsetjmp`, deadline check, `timer_settime` (arm)"),
      ("phase_instantiate", "`desc->instantiate`: memory from the pool, data segments copied "
                            "(first touch of their pages), funcref table `calloc`"),
      ("phase_initialize", "`desc->initialize` (`_initialize`)"),
      ("phase_free", "`desc->free`: table `free`; memory reset (as it is: `madvise(MADV_DONTNEED)`; "
                     "proposed: `mincore` + `memset`)"),
      ("phase_run_leave", "`host_rt_run` exit (as it is: `timer_settime` disarm)")]
w("| phase | as it is: median µs | p99 µs | proposed rt: median µs | p99 µs |")
w("|---|---|---|---|---|")
tc = tp = 0
for key, title in ph:
    c, p_ = agg(f"{CUR}/signal", key), agg(f"{PRO}/signal", key)
    tc += c["median"] if c else 0
    tp += p_["median"] if p_ else 0
    w(f"| {title} | {us(c['median']) if c else '–'} | {us(c['p99']) if c else '–'} | "
      f"{us(p_['median']) if p_ else '–'} | {us(p_['p99']) if p_ else '–'} |")
w(f"| sum of phase medians | {us(tc)} | | {us(tp) if tp else '–'} | |")
w("")
w(f"The kernel calls alone, on a private mapping of the same shape (`--only syscalls`, "
  f"{E['SYSCALL_RUNS']} runs × {int(E['SYSCALL_ITERS']):,}):")
w("")
w("| operation | median µs | p99 µs | minor faults / iter |")
w("|---|---|---|---|")
for key, title in [("sys_timer_arm_disarm", "`timer_settime` arm + disarm"),
                   ("sys_touch0_madvise_dontneed", "`madvise(MADV_DONTNEED)` of 5 wasm pages, nothing resident"),
                   ("sys_touch2_madvise_dontneed", "touch 2 × 4 KiB pages, then `madvise(MADV_DONTNEED)`"),
                   ("sys_touch4_madvise_dontneed", "touch 4 pages, then `madvise`"),
                   ("sys_touch8_madvise_dontneed", "touch 8 pages, then `madvise`"),
                   ("sys_mprotect_pair", "`mprotect` RW + NONE of one 64 KiB wasm page, not resident"),
                   ("sys_mprotect_pair_resident", "the same, pages resident"),
                   ("sys_mincore_1mib", "`mincore` over 1 MiB"),
                   ("clock_gettime_pair", "two `clock_gettime` (the timing overhead)")]:
    a = agg("syscalls", key)
    if a:
        w(f"| {title} | {us(a['median'])} | {us(a['p99'])} | {a['minflt']:.2f} |")
w("")
t2, t0 = agg("syscalls", "sys_touch2_madvise_dontneed"), agg("syscalls", "sys_touch0_madvise_dontneed")
tm = agg("syscalls", "sys_timer_arm_disarm")
mr = agg("syscalls", "sys_mprotect_pair_resident")
ci = cg.get(("signal", "instantiate")) if cg else None
if a_sig and t2 and t0 and tm:
    per_page = (t2["median"] - t0["median"]) / 2
    vm = ("a PVM guest (`" + E["PVM"] + "` on the kernel command line): paravirtualised page tables, "
          "so every page-table change traps to the hypervisor; PTI is on too") if E.get("PVM") else \
         "a virtual machine with PTI on, where page-table changes are expensive"
    w(f"**Reading.** Each instance writes {a_sig['minflt']:.0f} fresh 4 KiB pages (the data segments; "
      "`minor faults / iter` in section 1), and `wasm_rt_free_memory` hands every touched page back with "
      "`MADV_DONTNEED`. So every request pays, per page, a zero-fill fault on first write plus a PTE zap "
      f"and TLB flush at free: ≈ {us(per_page)} µs per page here ((touch2 − touch0) / 2) — this is {vm}. "
      f"That is nearly all of it: the deadline timer adds {us(tm['median'])} µs (two `timer_settime` per run), "
      + (f"and the user-space work is ~{ci['total']:,.0f} instructions per call (callgrind), well under 1 µs."
         if ci else "and the user-space work is tiny."))
    w("")
    if strace:
        calls = ["mprotect", "madvise", "mincore", "timer_settime", "mmap", "munmap", "fcntl", "mkdir",
                 "pwrite64", "fdatasync"]
        w("Kernel calls per GET count request (`strace -f -c`, 2,000 requests + 200 warm-up; process "
          "start-up and migration are included, so small fractions are set-up, not per request):")
        w("")
        w("| host, module | " + " | ".join(f"`{c}`" for c in calls) + " |")
        w("|---|" + "---|" * len(calls))
        for (b_, m_), per in strace.items():
            nm = ("as it is" if b_ == CUR else "proposed rt") + ", " + MODNAME[m_]
            w(f"| {nm} | " + " | ".join(f"{per.get(c, 0):.2f}" for c in calls) + " |")
        w("")
    g = agg(f"{CUR}/signal", "get_count")
    sc = strace.get((CUR, "signal"), {})
    if g:
        w(f"A full GET takes {g['minflt']:.0f} such faults per request (stack, data, heap pages)"
          + (f" and {sc.get('mprotect', 0):.1f} `mprotect` calls: the guest's allocator grows the memory past its "
             "initial pages and the next `wasm_rt_allocate_memory` shrinks it back" if sc.get("mprotect", 0) >= 1 else "")
          + (f"; once pages stay resident (proposal (a)) such a pair costs {us(mr['median'])} µs here." if mr else "."))
        w("")
    ms = [v for v in ("mkdir",) if sc.get(v, 0) >= 0.9]
    if ms:
        w(f"Also visible: {sc['mkdir']:.1f} `mkdir` per request — `sql_conn()` in `host/stores/sqlite*.c` calls "
          "`mkdir(STATE/sql)` on every SQL call, even with the connection already open.")
        w("")

# 5. proposal
if PROPOSED:
    w("## 5. Proposed fix (measured here, not applied)")
    w("")
    w("**(a) `host/rt/rt.c`: `bench/rt-proposal.patch`.**")
    w("")
    w("1. *Keep the pages, zero them in place.* `wasm_rt_free_memory` calls a new `reset_memory()`: one "
      "`mincore()` over the reservation up to the largest memory since the last release finds the resident "
      "pages; those inside the current memory are `memset` to 0 and stay mapped (pages beyond it are "
      "PROT_NONE and already zero). The next instance takes no page faults and no TLB flush. Past 1 MiB "
      "resident per thread (`RECYCLE_MAX`) the rest is released with `MADV_DONTNEED`, so RSS stays bounded.")
    w("2. *Leave the deadline timer armed between runs.* `host_rt_run` calls `timer_settime` only when "
      "no timer is armed or the armed one is later than this run's deadline; no disarm at the end. "
      "`on_deadline` does nothing when no run is active and, when it fires for an earlier request's "
      "deadline, moves the timer to the current run's. A busy thread then pays about one `timer_settime` "
      "per timeout period instead of two per request. Cost: an idle thread gets one stray `SIGUSR2` "
      "after its last request (ignored; `SA_RESTART`), as a late signal already can today.")
    w("")
    w("**(b) `build.sh`: link modules with `-Wl,--initial-memory=1048576`** (add it to `WASM_LDFLAGS`; "
      "`host/tools/manifest.py` already requires `memory_mb ≥ 1`). Waitlist's 5-page memory grows to 6 "
      "on every request, so each request pays an `mprotect` shrink (in the next `wasm_rt_allocate_memory`) "
      "and grow; with (a), those pages are resident, so the shrink needs a TLB flush. 16 initial pages "
      "means no grow, hence no `mprotect`, for any request under 1 MiB. Untouched pages cost nothing.")
    w("")
    vf = open(os.path.join(LOG, "verify.txt")).read().split("\n")
    w("Isolation check (`--only verify`, every configuration): after 200 requests that dirty memory, each fresh "
      "instance's memory must be byte-identical to the very first instance's, and 8 newly grown pages "
      "must read zero. Result: " + "; ".join(l.replace("VERIFY ", "") for l in vf if l.startswith("VERIFY")) + ".")
    w("")
    o += table([(f"instantiate — {MODNAME[m]}", f"{PRO}/{m}", "instantiate") for m in MODNAME]
               + [("instantiate, no deadline timer — guard pages", f"{PRO}/signal", "instantiate_nodl")]
               + [(f"GET count — {MODNAME[m]}", f"{PRO}/{m}", "get_count") for m in MODNAME]
               + [(f"POST join — {MODNAME[m]}", f"{PRO}/{m}", "post_join") for m in MODNAME])
    w("")
    w("| case | module | as it is, median µs | (a) rt.c patch | (a) + (b) 16 initial pages |")
    w("|---|---|---|---|---|")
    for case in ["instantiate", "get_count", "post_join"]:
        for m in ["signal", "bounds"]:
            c = agg(f"{CUR}/{m}", case)
            pa = agg(f"{PRO}/{m}", case)
            pb = agg(f"{PRO}/{m}-im16", case)
            if not c:
                continue
            f_ = lambda x: f"{us(x['median'])} ({c['median'] / x['median']:.1f}× faster)" if x else "–"
            w(f"| {case} | {MODNAME[m]} | {us(c['median'])} | {f_(pa)} | {f_(pb)} |")
    w("")
    p_sig = agg(f"{PRO}/signal", "instantiate")
    if p_sig:
        w(f"With (a), instantiate + teardown is **{us(p_sig['median'])} µs** median (guard pages): "
          + ("within the ≤ 5 µs goal." if p_sig["median"] <= 5 else
             "within the ≤ 10 µs target." if p_sig["median"] <= 10 else "still above the target.")
          + " What remains is mostly the one `mincore` syscall (see the syscall table).")
        w("")

# 6. wrk
w("## 6. HTTP: `wrk` against `bastion serve`, GET /health")
w("")
for name, title in [("current", "`build/bastion` with `build/manifest.json` (as it is)"),
                    ("proposed", "`build/bench/bastion-proposed` with `build/bench/manifest-im16.json` "
                                 "(proposed rt.c, 16-page health and waitlist modules)")]:
    r = wrk(name)
    if not r:
        continue
    runs, med = r
    w(f"{title}:")
    w("")
    w("| run | req/s | p50 ms | p99 ms | non-2xx |")
    w("|---|---|---|---|---|")
    for x in runs:
        w(f"| {x['run']} | {float(x['rps']):,.0f} | {x['p50_ms']} | {x['p99_ms']} | {x['non2xx']} |")
    if med:
        w(f"| **median of {med['runs']}** | **{float(med['rps']):,.0f}** | **{med['p50_ms']}** | "
          f"**{med['p99_ms']}** | |")
    w("")
wc, wp = wrk("current"), wrk("proposed")
if wc and wp and wc[1] and wp[1]:
    w(f"Median req/s {float(wp[1]['rps']) / float(wc[1]['rps']):.1f}× higher with the proposal. In the server "
      "`madvise`/`mprotect` on the shared address space may also have to flush the TLB on the other CPUs "
      "running worker threads — a likely reason the gain is larger than the single-thread numbers suggest "
      "(not measured separately).")
    w("")
w("`/health` does a KV set + get and a `SELECT 1` per request, so it measures SQLite, libmicrohttpd and the "
  "logging as much as the instance lifecycle; wrk and the server share the same 2 cores.")
w("")

# conclusion
w("## Conclusion")
w("")
if a_sig:
    w(f"- Instantiate + teardown with the host as it is: **{us(a_sig['median'])} µs** median (guard pages), "
      f"{us(a_bnd['median']) if a_bnd else '–'} µs (bounds checks) — {verdict}. Section 4 splits it "
      "by phase; an earlier host that gave pages back with `MADV_DONTNEED` and armed the timer twice "
      "per run measured 67.9 µs here (bench/history/2026-11-22-before-rt-fix.md).")
if PROPOSED:
    p_sig = agg(f"{PRO}/signal", "instantiate")
    g0, g1 = agg(f"{CUR}/signal", "get_count"), agg(f"{PRO}/signal-im16", "get_count")
    if p_sig:
        w(f"- With `bench/rt-proposal.patch`: **{us(p_sig['median'])} µs**"
          + (f"; with it and 16 initial pages a full GET count goes from {us(g0['median'])} to "
             f"{us(g1['median'])} µs." if g0 and g1 else "."))
w(f"- Guard pages vs bounds checks: guard pages faster in {len(g_wins)} of {len(verdicts)} comparisons, "
  f"bounds checks in {len(b_wins)}, {len(ties)} within noise"
  + ("; callgrind: bounds checks add "
     f"{(cg[('bounds', 'post_join')]['guest code (waitlist.so)'] / cg[('signal', 'post_join')]['guest code (waitlist.so)'] - 1) * 100:.0f} % guest instructions"
     if cg and cg.get(("signal", "post_join")) and cg.get(("bounds", "post_join")) else "")
  + ". "
  + ("Keep `BASTION_MEMCHECK_SIGNAL=1` (guard pages) as the default." if len(g_wins) > len(b_wins) else
     "Bounds checks won more comparisons; reconsider the default." if len(b_wins) > len(g_wins) else
     ("No measurable winner in time; guard pages run fewer instructions and were never measurably slower, "
      "so keep `BASTION_MEMCHECK_SIGNAL=1` (guard pages) as the default."
      if cg and cg.get(("signal", "post_join")) and cg.get(("bounds", "post_join"))
      and cg[("signal", "post_join")]["total"] < cg[("bounds", "post_join")]["total"]
      else "No consistent winner in time.")))

# Section 7 is bench/stores.sh's (bench/stores_report.py), the size table
# bench/sizes.sh's: blocks between marker comments, kept as they are so that
# each script rewrites only its part.
results = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
if os.path.exists(results):
    text = open(results).read()
    for script in ("stores.sh", "sizes.sh", "peers.sh", "growth.py"):
        a = text.find(f"<!-- bench/{script}: begin")
        b = text.find(f"<!-- bench/{script}: end -->")
        if a >= 0 and b > a:
            w("")
            w(text[a:b + len(f"<!-- bench/{script}: end -->")])
print("\n".join(o))
