"""bench/growth.py — cost as work grows: the same requests against small and large tables.

    .deps/python/bin/python bench/growth.py [--quick]      (bench/run.sh runs it)

Drives `build/bastion serve` (embedded SQLite, fresh state each) with the tests' harness
(tests/conftest.py: Server, JWTs) and reads each request's server-side `duration_us` and
`memory_pages` from its access line, so client overhead is not in the figures:

- bookings: availability (GET /api/availability) and creation (POST /api/bookings) with 0
  and with 100,000 existing bookings (written straight into the table, spread over the years
  after the measured days); must stay flat (the plans are checked by
  test_DATA1_booking_paths_search_the_status_start_index_never_scan);
- lists: GET /api/contacts?limit=100 at page 1 and at page 1,000 (after walking the cursor
  through 100,000 contacts); keyset, so flat (test_DATA4_list_pages_…);
- campaign enqueue (POST /api/campaigns/{id}/enqueue) for 1,000 / 10,000 / 50,000 opted-in
  contacts: time should grow linearly, the instance's memory not at all.

Rewrites its block of bench/RESULTS.md.
"""
import datetime
import os
import re
import statistics
import subprocess
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from conftest import BUILD, Server, bearer, migrate, mint_jwt  # noqa: E402

QUICK = "--quick" in sys.argv
MANIFEST = os.path.join(BUILD, "manifest.json")
N_BOOKINGS = 20000 if QUICK else 100000
REPS = 40 if QUICK else 200
PAGES = 200 if QUICK else 1000
ENQUEUE = (1000, 5000) if QUICK else (1000, 10000, 50000)
ENQUEUE_REPS = 1 if QUICK else 3
BEGIN = "<!-- bench/growth.py: begin; generated, rerun `bench/growth.py` rather than editing -->"
END = "<!-- bench/growth.py: end -->"
HALF_HOUR = 1800000


class Run:
    """A fresh server; access lines read back by request id."""

    def __init__(self, env=None):
        self.srv = Server(MANIFEST, env=dict({"BASTION_VAR_tenant_writes_per_minute": "1000000"},
                                             **(env or {})), workers=4)
        migrate(MANIFEST, self.srv.state)
        self.srv.start()

    def access(self, r):
        """The access line of response r: (duration_us, memory_pages)."""
        rid = r.headers.get("x-request-id")
        for _ in range(50):
            with open(self.srv.log_path) as f:
                for line in f:
                    if rid in line and '"type":"access"' in line:
                        d = int(re.search(r'"duration_us":"(\d+)"', line).group(1))
                        m = int(re.search(r'"memory_pages":"(\d+)"', line).group(1))
                        return d, m
            time.sleep(0.02)
        raise RuntimeError(f"no access line for {rid}")

    def durations(self, requests):
        """Sends each (method, path, body, headers) in turn; server durations in µs."""
        out, ids = [], []
        for method, path, body, headers, want in requests:
            r = self.srv.request(method, path, body=body, headers=headers)
            assert r.status == want, (path, r.status, r.body[:300])
            ids.append(r.headers.get("x-request-id"))
        time.sleep(0.1)
        lines = {}
        with open(self.srv.log_path) as f:
            for line in f:
                m = re.search(r'"request_id":"(\w+)".*"type":"access".*"duration_us":"(\d+)"', line)
                if m:
                    lines[m.group(1)] = int(m.group(2))
        out = [lines[i] for i in ids]
        return out

    def stop(self):
        assert self.srv.stop() == 0


def summary(v):
    v = sorted(v)
    return {"n": len(v), "median": statistics.median(v), "p90": v[int(len(v) * 0.9)]}


def days(n):
    today = datetime.datetime.now(datetime.timezone.utc).date()
    return [(today + datetime.timedelta(days=40 + i)).isoformat() for i in range(n)]


def bookings(existing):
    run = Run()
    if existing:
        # every two hours from ~400 days ahead: none on the measured days
        base = (int(time.time() * 1000) // 86400000 + 400) * 86400000
        run.srv.sql("bookings",
                    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1) "
                    "INSERT INTO bookings (id, tier, package, start_ms, end_ms, price_cents, status, "
                    "customer_name, customer_email, email_sent, created_at, updated_at) "
                    "SELECT printf('%08d-0000-4000-8000-000000000000', i), 'standard', 'basic', "
                    "? + i * 7200000, ? + i * 7200000 + 3600000, 9900, "
                    "CASE i % 3 WHEN 0 THEN 'pending' WHEN 1 THEN 'confirmed' ELSE 'completed' END, "
                    "'Seed', 'seed@example.com', 1, 0, 0 FROM n", (existing, base, base))
        assert run.srv.sql("bookings", "SELECT COUNT(*) FROM bookings")[0][0] == existing
    ds = days(max(2, REPS // 4))
    avail = [("GET", f"/api/availability?date={ds[i % len(ds)]}&tier=standard&package=basic",
              None, None, 200) for i in range(REPS)]
    # four creations a day: 09:00, 11:00, 13:00, 15:00 (an hour plus the cleaning gap apart)
    create = [("POST", "/api/bookings",
               {"tier": "standard", "package": "basic",
                "start": f"{ds[i // 4]}T{9 + 2 * (i % 4):02d}:00:00Z",
                "customer": {"name": "Ann Example", "email": f"g{i}@example.com"}}, None, 201)
              for i in range(4 * len(ds))]
    out = {"availability": summary(run.durations(avail)),
           "create": summary(run.durations(create))}
    run.stop()
    return out


def shop(run):
    d = f"g{uuid.uuid4().hex[:12]}.myshopify.com"
    r = run.srv.post("/api/admin/tenants", {"shop_domain": d}, headers=bearer(mint_jwt(role="admin")))
    assert r.status == 201, r
    return d, bearer(mint_jwt(sub="u-" + uuid.uuid4().hex[:8], tenant=d))


def seed_contacts(run, tenant, n):
    tag = uuid.uuid4().hex[:12]
    run.srv.sql("shop", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO contacts (id, tenant, phone, opted_in, tags, created_at, updated_at) "
                "SELECT printf('%08d-0000-4000-8000-', i) || ?, ?, printf('+1415%07d', i), 1, "
                "'[]', 1000 + i, 1000 + i FROM n", (n, tag, tenant))


def lists():
    run = Run()
    tenant, h = shop(run)
    seed_contacts(run, tenant, PAGES * 100)
    cursor = None
    for page in range(1, PAGES):
        r = run.srv.get("/api/contacts?limit=100" + (f"&cursor={cursor}" if cursor else ""), headers=h)
        assert r.status == 200, r
        cursor = r.json()["next_cursor"]
    assert cursor
    first = [("GET", "/api/contacts?limit=100", None, h, 200)] * REPS
    last = [("GET", f"/api/contacts?limit=100&cursor={cursor}", None, h, 200)] * REPS
    out = {"page 1": summary(run.durations(first)),
           f"page {PAGES:,}": summary(run.durations(last))}
    run.stop()
    return out


def enqueue():
    run = Run()
    out = {}
    for n in ENQUEUE:
        d, m = [], []
        for _ in range(ENQUEUE_REPS):
            tenant, h = shop(run)
            seed_contacts(run, tenant, n)
            run.srv.sql("shop", "INSERT INTO credit_accounts (tenant, balance, updated_at) "
                        "VALUES (?, ?, 0)", (tenant, n))
            r = run.srv.post("/api/campaigns", {"name": "Growth", "message": "hello",
                                                "audience": {"all": True}}, headers=h)
            assert r.status == 201, r
            cid = r.json()["id"]
            r = run.srv.post(f"/api/campaigns/{cid}/enqueue",
                             headers=dict(h, **{"Idempotency-Key": str(uuid.uuid4())}))
            assert r.status == 202 and r.json()["recipients"] == n, r
            us, pages = run.access(r)
            d.append(us)
            m.append(pages)
        out[n] = {"us": statistics.median(d), "min": min(d), "max": max(d), "pages": max(m)}
    run.stop()
    return out


def main():
    t0 = datetime.datetime.now(datetime.timezone.utc)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT).stdout.strip()
    b = {n: bookings(n) for n in (0, N_BOOKINGS)}
    li = lists()
    en = enqueue()
    t1 = datetime.datetime.now(datetime.timezone.utc)
    cpu = open("/proc/cpuinfo").read()
    model = re.search(r"model name\s*:\s*(.*)", cpu).group(1)
    o = [BEGIN, "", "## 9. Cost as work grows", ""]
    o.append(f"- Machine: {model}, {os.cpu_count()} cores; date {t0:%Y-%m-%d %H:%M} → {t1:%H:%M} UTC; "
             f"commit {commit}. Command: `.deps/python/bin/python bench/growth.py"
             f"{' --quick' if QUICK else ''}` (`./build.sh bench` runs it).")
    o.append("- Each figure is the server's own `duration_us` from the access line (request "
             "received → answer ready), so the Python client's time is not in it; requests are "
             "sent one at a time to a fresh `build/bastion serve` on embedded SQLite.")
    o.append("")
    o.append(f"| bookings | existing bookings | requests | median µs | p90 µs |")
    o.append("|---|---|---|---|---|")
    for what, label in (("availability", "GET /api/availability (a day's slots)"),
                        ("create", "POST /api/bookings (overlap check + insert, one statement)")):
        for n in (0, N_BOOKINGS):
            s = b[n][what]
            o.append(f"| {label} | {n:,} | {s['n']} | {s['median']:,.0f} | {s['p90']:,.0f} |")
    o.append("")
    ratio_a = b[N_BOOKINGS]["availability"]["median"] / b[0]["availability"]["median"]
    ratio_c = b[N_BOOKINGS]["create"]["median"] / b[0]["create"]["median"]
    o.append(f"With {N_BOOKINGS:,} bookings, availability takes {ratio_a:.2f}× and creation "
             f"{ratio_c:.2f}× the time they take on an empty table: both read the active rows of one "
             "range through `bookings_status_start`.")
    o.append("")
    o.append(f"| list (limit 100, {PAGES * 100:,} contacts) | requests | median µs | p90 µs |")
    o.append("|---|---|---|---|")
    for k, s in li.items():
        o.append(f"| GET /api/contacts, {k} | {s['n']} | {s['median']:,.0f} | {s['p90']:,.0f} |")
    ks = list(li)
    o.append("")
    o.append(f"Page {PAGES:,} takes {li[ks[1]]['median'] / li[ks[0]]['median']:.2f}× page 1: the cursor "
             "is a keyset position, not an offset.")
    o.append("")
    o.append(f"| campaign enqueue | recipients | runs | median ms (min–max) | ms per 1,000 | instance memory pages (64 KiB) |")
    o.append("|---|---|---|---|---|---|")
    for n, s in en.items():
        o.append(f"| POST /api/campaigns/{{id}}/enqueue | {n:,} | {ENQUEUE_REPS} | "
                 f"{s['us'] / 1000:,.1f} ({s['min'] / 1000:,.1f}–{s['max'] / 1000:,.1f}) | "
                 f"{s['us'] / n:,.2f} | {s['pages']} |")
    o.append("")
    o.append("Enqueue writes every recipient with one `INSERT … SELECT` inside the transaction "
             "that reserves the credits, so its time grows with the recipients while the "
             "instance's memory stays where it starts.")
    o.append("")
    o.append(END)
    block = "\n".join(o)
    path = os.path.join(ROOT, "bench", "RESULTS.md")
    text = open(path).read()
    a, z = text.find(BEGIN.split(";")[0]), text.find(END)
    text = text[:a] + block + text[z + len(END):] if a >= 0 and z >= 0 else \
        text.rstrip("\n") + "\n\n" + block + "\n"
    open(path, "w").write(text)
    print(block)


if __name__ == "__main__":
    main()
