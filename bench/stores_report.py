#!/usr/bin/env python3
"""bench/stores.sh's section of bench/RESULTS.md, from build/bench/stores/.

    python3 bench/stores_report.py LOG_DIR RESULTS_MD   (LOG_DIR/env's variables in the environment)

Replaces the text between BEGIN and END (below) in RESULTS_MD, or appends it
when the markers are not there yet. bench/report.py keeps that block when it
rewrites the rest of the file. Every number comes from LOG_DIR; the sentences
around them are chosen by comparing the numbers.
"""
import os
import re
import statistics
import sys

BEGIN = "<!-- bench/stores.sh: begin; generated, rerun `bash bench/stores.sh` rather than editing -->"
END = "<!-- bench/stores.sh: end -->"

LOG, RESULTS = sys.argv[1], sys.argv[2]


E = os.environ  # build/bench/stores/env, exported by bench/stores.sh
CASES = E["CASES"].split()
RUNS = int(E["RUNS"])
CONNS = int(E["CONNS"])


def ms(v):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    n, u = float(m.group(1)), m.group(2)
    return n * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[u]


def parse_wrk(path):
    text = open(path).read()
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    return {
        "rps": float(re.search(r"Requests/sec:\s*([\d.]+)", text).group(1)),
        "p50": ms(re.search(r"^\s*50%\s+(\S+)", text, re.M).group(1)),
        "p99": ms(re.search(r"^\s*99%\s+(\S+)", text, re.M).group(1)),
        "requests": int(re.search(r"(\d+) requests in", text).group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "sockerr": sum(int(x) for x in sock.groups()) if sock else 0,
        "sockerr_text": sock.group(0) if sock else "",
    }


# runs[(case, req)][run] = {host: parsed}
runs = {}
for line in open(os.path.join(LOG, "runs.txt")):
    d = dict(re.findall(r"(\w+)=(\S+)", line))
    r = parse_wrk(os.path.join(LOG, d["file"]))
    # the whole machine's CPU time during the run (/proc/stat: all but idle and iowait)
    r["busy"] = int(d["cpu_busy"]) / int(d["cpu_total"]) if int(d.get("cpu_total", 0)) else None
    runs.setdefault((d["case"], d["req"]), {}).setdefault(int(d["run"]), {})[d["host"]] = r

rows = {}
if os.path.exists(os.path.join(LOG, "rows.txt")):
    for line in open(os.path.join(LOG, "rows.txt")):
        d = dict(re.findall(r"(\w+)=(\S+)", line))
        rows[d["case"]] = (int(d["before"]), int(d["after"]))

counters = {}  # (case, phase) -> {name: int}
if os.path.exists(os.path.join(LOG, "counters.txt")):
    for line in open(os.path.join(LOG, "counters.txt")):
        d = dict(re.findall(r"(\w+)=(\S+)", line))
        key = (d.pop("case"), d.pop("phase"))
        counters[key] = {k: int(v) for k, v in d.items()}

commands = [l.rstrip("\n") for l in open(os.path.join(LOG, "commands.txt"))]

TITLE = {
    "sqlite": "SQLite, one host",
    "redis-pg": "Redis + PostgreSQL, one host",
    "redis-pg-2": "Redis + PostgreSQL, two hosts sharing them",
}
REQ = {"get": "GET count", "post": "POST join"}


def f2(x):
    return f"{x:.2f}"


def summary(case, req):
    """Median over runs; with several hosts req/s is summed per run and
    p50/p99 are per host (medians over runs) plus the worse of the hosts."""
    rs = runs.get((case, req))
    if not rs:
        return None
    hosts = sorted(next(iter(rs.values())).keys())
    per_run = []
    for r in sorted(rs):
        h = rs[r]
        per_run.append({
            "run": r,
            "rps": sum(h[x]["rps"] for x in hosts),
            "p50": {x: h[x]["p50"] for x in hosts},
            "p99": {x: h[x]["p99"] for x in hosts},
            "non2xx": sum(h[x]["non2xx"] for x in hosts),
            "sockerr": sum(h[x]["sockerr"] for x in hosts),
            "requests": sum(h[x]["requests"] for x in hosts),
            "rps_host": {x: h[x]["rps"] for x in hosts},
            "busy": h[hosts[0]]["busy"],
        })
    med = {
        "rps": statistics.median(p["rps"] for p in per_run),
        "p50": {x: statistics.median(p["p50"][x] for p in per_run) for x in hosts},
        "p99": {x: statistics.median(p["p99"][x] for p in per_run) for x in hosts},
        "rps_host": {x: statistics.median(p["rps_host"][x] for p in per_run) for x in hosts},
        "non2xx": sum(p["non2xx"] for p in per_run),
        "sockerr": sum(p["sockerr"] for p in per_run),
        "requests": sum(p["requests"] for p in per_run),
        "runs": len(per_run),
        "lo": min(p["rps"] for p in per_run),
        "hi": max(p["rps"] for p in per_run),
    }
    return hosts, per_run, med


def lat(d, hosts):
    if len(hosts) == 1:
        return f2(d[hosts[0]])
    return " / ".join(f2(d[x]) for x in hosts)


def errors(non2xx, sockerr):
    bits = []
    if non2xx:
        bits.append(f"**{non2xx:,} non-2xx**")
    if sockerr:
        bits.append(f"**{sockerr:,} socket errors**")
    return ", ".join(bits) if bits else "0"


o = []
w = o.append
w(BEGIN)
w("")
w("## 7. Stores: SQLite vs Redis + PostgreSQL, one host and two")
w("")
w("Generated by `bench/stores.sh` (`./build.sh bench` runs it after the benchmarks above; alone: "
  "`bash bench/stores.sh`). It is a separate run, so it has its own machine, date and commit:")
w("")
w(f"- CPU: {E['CPU']} — {E['CORES']} cores online (`nproc`)")
w(f"- Kernel: {E['KERNEL']}; virtual machine: {E['HYPER']}"
  + (f"; kernel command line has `{E['PVM']}`" if E.get("PVM") else ""))
w(f"- Date: {E['START']} → {E['END']}")
w(f"- Source: commit {E['COMMIT']}{E.get('DIRTY', '')}")
w(f"- Load average (1/5/15 min) at start: {E['LOAD0']}; at end: {E['LOAD1']}. wrk, the host(s), Redis and "
  f"PostgreSQL all share these {E['CORES']} cores (other engineers' work may too), so each request's cost "
  "includes the load generator's and the databases' CPU time.")
vers = [f"wrk: `{E['WRK_VERSION']}`"]
if E.get("REDIS_VERSION"):
    vers.append(f"Redis {E['REDIS_VERSION']}")
if E.get("PG_VERSION"):
    vers.append(f"PostgreSQL {E['PG_VERSION']}")
w("- " + "; ".join(vers) + " (Debian packages)")
w("")
w("How:")
w("")
w("- **GET** = `GET /api/waitlist/bench-product/count` (the waitlist function: one SQL `SELECT COUNT(*)`). "
  "It runs first in each case, on the case's fresh database, so every case counts the same 0 rows.")
w("- **POST** = `POST /api/waitlist`, `content-type: application/json`, "
  "`{\"email\":\"<case>.r<run>.<host>.<thread>.<n>@example.com\",\"product_id\":\"bench-product\"}` "
  "(`bench/post.lua`: a new email every request, so each is a real join → 201: rate-limit kv increment, "
  "JSON validation, SQL insert). `BASTION_VAR_waitlist_joins_per_minute=1000000`, so the per-IP limit "
  "never answers 429.")
w(f"- Per host `wrk -t1 -c{CONNS} -d{E['DURATION']} --latency`, {RUNS} runs per case and request, after one "
  f"unrecorded {E['WARMUP']} GET warm-up per host. **Two hosts**: two wrk processes at once, one per "
  "host; req/s is their sum, p50/p99 are given per host as *host a / host b*, and non-2xx are summed.")
w("- Medians are over the runs (two hosts: the median of the summed req/s, each host's median p50/p99).")
w("- SQLite: the state directory in a fresh temporary directory. Redis + PostgreSQL: `tests/servers.sh start` "
  "(loopback, Redis without persistence, PostgreSQL with `fsync = off`; SQLite runs WAL with "
  "`synchronous=NORMAL`, so no case waits for the disk on a commit); every case gets a fresh PostgreSQL "
  "database (`CREATE DATABASE bench_<case>`) and its own Redis `key_prefix`; `bastion migrate` runs before "
  "`serve`; both hosts of the two-host case use the same runtime config. Every server is stopped at exit.")
w("")
w("Commands as run (PORT and TMP vary per run; `<case>.runtime.toml` is kept in `build/bench/stores/`):")
w("")
w("```")
w(f"STORES_RUNS={RUNS} STORES_DURATION={E['DURATION']} STORES_CONNECTIONS={CONNS} "
  f"STORES_CASES='{E['CASES']}' bash bench/stores.sh")
w("BASTION_VAR_waitlist_joins_per_minute=1000000   # exported for every host")
for c in commands:
    w(c)
w("```")
for c in CASES:
    if c != "sqlite" and os.path.exists(os.path.join(LOG, f"{c}.runtime.toml")):
        w("")
        w(f"`{c}.runtime.toml`:")
        w("")
        w("```toml")
        w(open(os.path.join(LOG, f"{c}.runtime.toml")).read().rstrip("\n"))
        w("```")
        break
w("")

# medians table
w("Medians:")
w("")
w("| case | request | req/s | p50 ms | p99 ms | errors (all runs) |")
w("|---|---|---|---|---|---|")
S = {}
for c in CASES:
    for req in ("get", "post"):
        s = summary(c, req)
        if not s:
            continue
        S[(c, req)] = s
        hosts, _, med = s
        worse = ""
        if len(hosts) > 1:
            worse = " (a / b)"
        w(f"| {TITLE[c]} | {REQ[req]} | **{med['rps']:,.0f}** | {lat(med['p50'], hosts)}{worse} | "
          f"{lat(med['p99'], hosts)}{worse} | {errors(med['non2xx'], med['sockerr'])} |")
missing = [c for c in TITLE if c not in CASES]
if missing:
    w("")
    w("Not run: " + "; ".join(TITLE[c] for c in missing) + " (all cases: `bash bench/stores.sh`).")
bad = [(c, r) for (c, r), s in S.items() if s[2]["non2xx"] or s[2]["sockerr"]]
w("")
if bad:
    w("**Errors:** " + "; ".join(f"{TITLE[c]}, {REQ[r]}: {S[(c, r)][2]['non2xx']:,} non-2xx responses, "
                                 f"{S[(c, r)][2]['sockerr']:,} socket errors" for c, r in bad)
      + ". Those cases' req/s include the failed responses; see the raw wrk output in `build/bench/stores/`.")
else:
    w("No case had a non-2xx response or a socket error.")
w("")

# per-run table
w("Every run:")
w("")
w("| case | request | run | req/s | req/s per host (a / b) | p50 ms | p99 ms | requests | non-2xx | socket errors "
  "| CPU busy |")
w("|---|---|---|---|---|---|---|---|---|---|---|")
for (c, req), (hosts, per_run, med) in S.items():
    for p in per_run:
        w(f"| {TITLE[c]} | {REQ[req]} | {p['run']} | {p['rps']:,.0f} | "
          + (" / ".join(f"{p['rps_host'][x]:,.0f}" for x in hosts) if len(hosts) > 1 else "–")
          + f" | {lat(p['p50'], hosts)} | {lat(p['p99'], hosts)} | {p['requests']:,} | {p['non2xx']:,} | "
          f"{p['sockerr']:,} | " + (f"{p['busy'] * 100:.0f} %" if p["busy"] is not None else "–") + " |")
w("")
w("*CPU busy*: the whole machine's CPU time during the run, all cores (`/proc/stat`, everything but idle "
  "and iowait) — wrk, host(s), Redis, PostgreSQL and whatever else ran.")
w("")

# rows check and round trips
check = []
for c in CASES:
    s = S.get((c, "post"))
    if not s or c not in rows:
        continue
    before, after = rows[c]
    ok2xx = s[2]["requests"] - s[2]["non2xx"]
    added = after - before
    inflight = added - ok2xx
    hosts = len(s[0])
    verdict = ("consistent: every 2xx was a new row; the rest were in flight when wrk stopped"
               if 0 <= inflight <= CONNS * hosts * s[2]["runs"] else
               "**inconsistent: fewer rows than 2xx joins, so some were not new**" if inflight < 0 else
               "more rows than 2xx joins plus in-flight requests")
    check.append(f"| {TITLE[c]} | {before:,} | {after:,} | {ok2xx:,} | {inflight:,} | {verdict} |")
if check:
    w("POST check — waitlist rows for bench-product before the GET runs and after the POST runs (via the "
      "GET endpoint), against the 2xx wrk counted:")
    w("")
    w("| case | rows before | rows after | 2xx counted by wrk | rows − 2xx | |")
    w("|---|---|---|---|---|---|")
    o.extend(check)
    w("")


# Redis: MONITOR during the probe; "[db lua]" lines run inside a script (one round trip)
probe = {}  # (case, req) -> {"n", "trips": {cmd: per request}, "lua": {cmd: per request}}
if os.path.exists(os.path.join(LOG, "probe.txt")):
    for line in open(os.path.join(LOG, "probe.txt")):
        d = dict(re.findall(r"(\w+)=(\S+)", line))
        n, phase = int(d["n"]), None
        got = {"get": ({}, {}), "post": ({}, {})}
        for m in open(os.path.join(LOG, d["file"])):
            mm = re.match(r'^[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"(?: "([^"]*)")?', m)
            if not mm:
                continue
            who, cmd, arg = mm.group(1), mm.group(2).upper(), mm.group(3)
            if cmd == "ECHO" and arg in ("probe-get", "probe-post", "probe-end"):
                phase = {"probe-get": "get", "probe-post": "post", "probe-end": None}[arg]
                continue
            if phase:
                t = got[phase][1 if who == "lua" else 0]
                t[cmd] = t.get(cmd, 0) + 1
        for req, (trips, lua) in got.items():
            probe[(d["case"], req)] = {"n": n, "trips": {k: v / n for k, v in trips.items()},
                                       "lua": {k: v / n for k, v in lua.items()}}


def per_request(c, phase, prev):
    a, b = counters.get((c, prev)), counters.get((c, phase))
    s = S.get((c, phase))
    pr = probe.get((c, phase))
    if not a or not b or not s or not pr:
        return None
    n = s[2]["requests"]
    return {
        "pg": (b.get("pg_xact", 0) - a.get("pg_xact", 0)) / n,
        "redis": sum(pr["trips"].values()),
        "trips": ", ".join(f"`{k}` {v:.2f}" for k, v in sorted(pr["trips"].items())) or "none",
        "lua": ", ".join(f"`{k}` {v:.2f}" for k, v in sorted(pr["lua"].items())) or "–",
        "n": pr["n"],
    }


rt_rows = []
RT = {}
for c in CASES:
    for phase, prev in (("get", "start"), ("post", "get")):
        r = per_request(c, phase, prev)
        if r:
            RT[(c, phase)] = r
            rt_rows.append(f"| {TITLE[c]} | {REQ[phase]} | {r['pg']:.2f} | {r['redis']:.2f} ({r['trips']}) | "
                           f"{r['lua']} |")
if rt_rows:
    n = next(iter(RT.values()))["n"]
    w("Round trips per request. PostgreSQL: transactions (`pg_stat_database` xact_commit + xact_rollback of "
      "the case's database) over each request's runs, divided by the responses wrk counted — slightly high, "
      "since requests still in flight when wrk stopped and per-connection set-up count too; each is at least "
      f"one round trip. Redis: `MONITOR` while {n} requests of each kind went one at a time through curl "
      "after the runs (commands a script runs inside Redis are listed apart: they cost no round trip):")
    w("")
    w("| case | request | PostgreSQL transactions / request | Redis round trips / request (by command) | "
      "run inside Redis scripts / request |")
    w("|---|---|---|---|---|")
    o.extend(rt_rows)
    w("")

# reading
cores = int(E["CORES"])


def cost_us(rps):  # machine time per request when every core is busy
    return cores * 1e6 / rps


reading = []
base_g, base_p = S.get(("sqlite", "get")), S.get(("sqlite", "post"))
one_g, one_p = S.get(("redis-pg", "get")), S.get(("redis-pg", "post"))
two_g, two_p = S.get(("redis-pg-2", "get")), S.get(("redis-pg-2", "post"))


def trips(req):
    r = RT.get(("redis-pg", req))
    if not r:
        return ""
    return f"{r['pg']:.1f} PostgreSQL transaction{'s' if round(r['pg'], 1) != 1 else ''} and " \
           f"{r['redis']:.1f} Redis round trip{'s' if round(r['redis'], 1) != 1 else ''} per request"


if base_g and one_g and base_p and one_p:
    busy = [p["busy"] for (c, _), (_, pr, _) in S.items() for p in pr if p["busy"] is not None]
    if busy and min(busy) >= 0.9:
        reading.append(f"The {cores} cores were {min(busy) * 100:.0f}–{max(busy) * 100:.0f} % busy in every "
                       f"run, so req/s converts to machine time per request ({cores} cores / req/s, wrk's and "
                       "the databases' share included).")
    else:
        reading.append("Machine time per request below is cores / req/s, which overstates it where the cores "
                       "were not all busy (" + (f"{min(busy) * 100:.0f}–{max(busy) * 100:.0f} % busy"
                                               if busy else "not measured") + ").")
    for req, b, r in (("get", base_g, one_g), ("post", base_p, one_p)):
        db, dr = cost_us(b[2]["rps"]), cost_us(r[2]["rps"])
        hb, hr = b[0][0], r[0][0]
        t = trips(req)
        head = (f"{REQ[req]}{' (' + t + ')' if t else ''}: SQLite {db:.0f} µs → Redis + PostgreSQL {dr:.0f} µs "
                f"({dr - db:+.0f} µs; {b[2]['rps']:,.0f} → {r[2]['rps']:,.0f} req/s, p50 "
                f"{b[2]['p50'][hb]:.2f} → {r[2]['p50'][hr]:.2f} ms)")
        if dr > db * 1.05:
            tail = (" — what the loopback round trips cost: the client library and TCP on both sides and the "
                    "server's own work, where SQLite answers in-process")
        elif dr < db * 0.95:
            tail = (" — cheaper despite the round trips; on SQLite each join is two write transactions (the "
                    "rate-limit counter, the insert), each taking its database file's single write lock in "
                    "turn among the concurrent requests, which Redis and PostgreSQL's row locks do not "
                    "serialize (a likely reason, not measured here)")
        else:
            tail = " — within 5 %, no clear difference"
        reading.append(head + tail + ".")
if one_g and two_g and one_p and two_p:
    rg, rp = two_g[2]["rps"] / one_g[2]["rps"], two_p[2]["rps"] / one_p[2]["rps"]
    lo = min(rg, rp)
    verdict = ("fewer req/s than one host" if max(rg, rp) < 0.95 else
               "more req/s than one host" if lo > 1.05 else "about what one host gives, or mixed")
    reading.append(f"Two hosts sharing them give {rg:.2f}× the one-host req/s on GET and {rp:.2f}× on POST "
                   f"({verdict}): on {cores} cores already saturated by one host, wrk, Redis and PostgreSQL, "
                   "a second host adds processes competing for the same CPUs, not capacity, so this case shows "
                   "that two hosts share the stores correctly under load (the POST check above), not how they "
                   "scale on separate machines.")
if not reading and base_g and base_p:
    reading.append(f"SQLite on one host: GET {base_g[2]['rps']:,.0f} req/s, POST {base_p[2]['rps']:,.0f} "
                   f"req/s ({cost_us(base_g[2]['rps']):.0f} and {cost_us(base_p[2]['rps']):.0f} µs of the "
                   f"{cores} cores per request, wrk's share included, if every core was busy — "
                   + ", ".join(f"{REQ[r]} runs {min(p['busy'] for p in S[('sqlite', r)][1]) * 100:.0f}–"
                               f"{max(p['busy'] for p in S[('sqlite', r)][1]) * 100:.0f} % busy"
                               for r in ("get", "post")) + ").")
if reading:
    w("**Reading.** " + " ".join(reading))
    w("")
w(END)
section = "\n".join(o) + "\n"

text = open(RESULTS).read() if os.path.exists(RESULTS) else ""
if BEGIN.split(";")[0] in text and END in text:
    start = text.index(BEGIN.split(";")[0])
    end = text.index(END) + len(END)
    rest = text[end:].lstrip("\n")
    text = text[:start] + section + ("\n" + rest if rest else "")
else:
    text = text.rstrip("\n") + "\n\n" + section
tmp = RESULTS + ".tmp"
with open(tmp, "w") as f:
    f.write(text)
os.replace(tmp, RESULTS)
