"""jobs over real HTTP (AUTH5, AUTH6, VAL1, REL2, REL3, REL4, SAFE4, DATA4, CONC2).

Two tenants per test (random ids in the tokens' `tenant` claim). The matching
provider is a fake on loopback whose answers a test chooses (correct,
malformed in each way the issue names, failing, refusing, hanging); posting
sites are fake HTTPS servers on 127.0.0.1 with a self-signed certificate the
host trusts through BASTION_OUTBOUND_CA_FILE, and import_hosts names
127.0.0.1, as the bundle's manifest allows https://127.0.0.1:*.
"""
import concurrent.futures
import http.server
import json
import os
import re
import ssl
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

from conftest import (BUILD, TEST_VARS, FakeEmail, FakeProvider, Server, assert_problem, bearer,
                      flip, link_token, migrate, mint_jwt, new_tenant, pointers, serve_bundle,
                      slow_trigger, subscribe, walk)

BASE = "https://hire.example.test"
SECRET = TEST_VARS["BASTION_VAR_job_action_token_secret"]
PURPOSE = "job-action"
LINK = re.compile(r"(\S+)/api/jobs/action\?token=([A-Za-z0-9_-]+)")
PRO_PRICE = "price_pro_test"
HOURS_72 = 72 * 3600


class FakeMatcher(FakeProvider):
    """The AI scoring provider: POST /v1/score. A correct answer scores each candidate
    sent by its skills in common with the job plus its years (a fraction included).
    Other modes answer what the issue calls malformed, or 'refuse' (400), 'fail' (500),
    'hang'."""

    def record(self, path, headers, raw):
        return dict(super().record(path, headers, raw), json=json.loads(raw or "null"))

    @staticmethod
    def score(job, c):
        common = len(set(job["skills"]) & set(c["skills"]))
        return min(100, 20 * common + c["years_experience"] + 0.5)

    def answer(self, path, raw, mode, headers):
        if mode == "refuse":
            return 400, {"error": "bad request"}
        if mode == "fail":
            return 500, {"error": "model down"}
        req = json.loads(raw)
        good = [{"candidate_id": c["id"], "score": self.score(req["job"], c)}
                for c in req["candidates"]]
        bad = {
            "missing": lambda: {"scores": good[:-1]},
            "duplicate": lambda: {"scores": good + [good[0]]},
            # as many entries as candidates sent, one of them twice and one not at all
            "duplicate_for_missing": lambda: {"scores": good[:-1] + [good[0]]},
            "extra": lambda: {"scores": good + [{"candidate_id": str(uuid.uuid4()),
                                                 "score": 50}]},
            "score101": lambda: {"scores": [dict(good[0], score=101)] + good[1:]},
            "negative": lambda: {"scores": [dict(good[0], score=-0.5)] + good[1:]},
            "string_score": lambda: {"scores": [dict(good[0], score="90")] + good[1:]},
            "bool_score": lambda: {"scores": [dict(good[0], score=True)] + good[1:]},
            "numeric_id": lambda: {"scores": [dict(good[0], candidate_id=7)] + good[1:]},
            "entry_not_object": lambda: {"scores": [[good[0]["candidate_id"], 1]] + good[1:]},
            "scores_object": lambda: {"scores": {g["candidate_id"]: g["score"] for g in good}},
            "no_scores": lambda: {"results": good},
            "not_object": lambda: good,
        }
        if mode in bad:
            return 200, bad[mode]()
        # bytes cJSON alone would take, each hiding a wrong answer behind a right one
        text = json.dumps({"scores": good})
        first = json.dumps(good[0]["candidate_id"])
        raw = {
            "trailing_bytes": text + " {}",
            "nul_in_id": text.replace(first, first[:-1] + '\\u0000x"', 1),
            "repeated_score": text.replace('"score": ', '"score": 50, "score": ', 1),
            "repeated_scores": text[:-1] + ', "scores": []}',
        }
        if mode in raw:
            return 200, raw[mode].encode()
        return 200, {"scores": good, "model": "fake-1"}


MALFORMED = ["missing", "duplicate", "duplicate_for_missing", "extra", "score101", "negative", "string_score",
             "bool_score", "numeric_id", "entry_not_object", "scores_object", "no_scores",
             "not_object", "trailing_bytes", "nul_in_id", "repeated_score", "repeated_scores"]


class FakeSite:
    """An HTTPS site on 127.0.0.1 with its own self-signed certificate (`ca` is its
    file). `pages[path] = (status, headers, body bytes, delay_s)`; every GET is
    recorded in `hits`."""

    def __init__(self):
        d = tempfile.mkdtemp(prefix="bastion-site-")
        self.ca, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        key, "-out", self.ca, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        site = self
        self.pages, self.hits, self.lock = {}, [], threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with site.lock:
                    site.hits.append(self.path)
                    page = site.pages.get(self.path)
                if page is None:
                    page = (404, {}, b"not here", 0)
                status, headers, body, delay = page
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.ca, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.base = f"https://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, path, body, status=200, headers=None, delay=0):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        with self.lock:
            self.pages[path] = (status, headers or {"Content-Type": "application/ld+json"},
                                body, delay)
        return self.base + path

    def hits_of(self, path):
        with self.lock:
            return self.hits.count(path)

    def close(self):
        self.server.shutdown()


def serve(email, matcher, site, manifest=None, **env):
    vars_ = {"BASTION_VAR_base_url": BASE + "/",
             "BASTION_VAR_billing_plan_prices": f"{PRO_PRICE}=pro",
             "BASTION_VAR_tenant_writes_per_minute": "1000000",
             "BASTION_VAR_match_api_base": matcher.base,
             "BASTION_VAR_import_hosts": "127.0.0.1",
             "BASTION_OUTBOUND_CA_FILE": site.ca, **env}
    if manifest is None:
        return serve_bundle(email, vars_)
    srv = Server(manifest, env={"BASTION_VAR_email_api_base": email.base, **vars_})
    srv.email = email
    migrate(manifest, srv.state)
    return srv.start()


@pytest.fixture(scope="module")
def matcher():
    m = FakeMatcher()
    yield m
    m.close()


@pytest.fixture(scope="module")
def site():
    s = FakeSite()
    yield s
    s.close()


@pytest.fixture(scope="module")
def srv(email, matcher, site):
    s = serve(email, matcher, site)
    yield s
    assert s.stop() == 0


@pytest.fixture
def fresh(site):
    """A server with its own providers (breaker state and mode stay its own)."""
    email, matcher = FakeEmail(), FakeMatcher()
    s = serve(email, matcher, site)
    s.matcher = matcher
    yield s
    assert s.stop() == 0
    email.close()
    matcher.close()


@pytest.fixture(autouse=True)
def accept(matcher):
    matcher.mode = "accept"


# --- tenants, bodies and calls ---------------------------------------------------

def user(tenant):
    return bearer(mint_jwt(role="user", sub="user-" + tenant, tenant=tenant))


def pro_tenant(srv):
    t = new_tenant()
    subscribe(srv, t)
    return t


JOB = {"title": "Backend engineer", "description": "C, SQL and\nWebAssembly at the edge.",
       "skills": ["c", "sql", "wasm"]}


def post_job(srv, tenant, **over):
    r = srv.post("/api/jobs", {**JOB, **over}, headers=user(tenant))
    assert r.status == 201, r
    return r.json()["id"]


def add(srv, tenant, job, skills=("c",), years=3, email=None, name="Ada Lovelace"):
    return srv.post(f"/api/jobs/{job}/candidates",
                    {"name": name, "email": email or f"c.{uuid.uuid4().hex[:10]}@example.com",
                     "skills": list(skills), "years_experience": years}, headers=user(tenant))


def candidate(srv, tenant, job, **kw):
    r = add(srv, tenant, job, **kw)
    assert r.status == 201, r
    return r.json()["id"]


def match(srv, tenant, job):
    return srv.post(f"/api/jobs/{job}/match", headers=user(tenant))


def scores_in_db(srv, job):
    return dict(srv.sql("hiring", "SELECT id, match_score FROM candidates WHERE job_id = ?",
                        (job,)))


def ai_used(srv, tenant):
    r = srv.post("/api/billing/verify", {"feature": "ai_matching"}, headers=user(tenant))
    assert r.status == 200, r
    return r.json()


def calls_for(matcher, job):
    return [c for c in matcher.calls() if c["json"] and c["json"]["job"]["id"] == job]


# --- jobs: create, list, get -----------------------------------------------------------

def test_AUTH5_jobs_are_the_tokens_tenants_and_no_other(srv):
    a, b = new_tenant(), new_tenant()
    mine = [post_job(srv, a, title=f"Job {i}") for i in range(3)]
    theirs = post_job(srv, b)
    got = srv.get(f"/api/jobs/{mine[0]}", headers=user(a))
    assert got.status == 200, got
    body = got.json()
    assert body == {"id": mine[0], "title": "Job 0", "description": JOB["description"],
                    "skills": JOB["skills"], "source_url": None,
                    "created_at": body["created_at"]}
    assert sorted(walk(srv, "/api/jobs", user(a), 100)) == sorted(mine)
    assert walk(srv, "/api/jobs", user(b), 100) == [theirs]
    cid = candidate(srv, b, theirs)
    # another tenant's job is as unknown as a made-up one, on every route
    for path in (f"/api/jobs/{theirs}", f"/api/jobs/{theirs}/candidates"):
        assert_problem(srv.get(path, headers=user(a)), 404)
    assert_problem(add(srv, a, theirs), 404)
    assert_problem(match(srv, a, theirs), 404)
    assert_problem(srv.post(f"/api/jobs/{theirs}/candidates/{cid}/invite-reviewer",
                            {"reviewer_email": "r@example.com"}, headers=user(a)), 404)
    assert_problem(srv.post(f"/api/jobs/{mine[0]}/candidates/{cid}/invite-reviewer",
                            {"reviewer_email": "r@example.com"}, headers=user(a)), 404)
    assert_problem(srv.get(f"/api/jobs/{uuid.uuid4()}", headers=user(a)), 404)
    assert_problem(srv.get("/api/jobs/not-a-uuid", headers=user(a)), 404)
    # the body's tenant is no member at all
    assert_problem(srv.post("/api/jobs", {**JOB, "tenant": b}, headers=user(a)), 422)
    assert srv.sql("hiring", "SELECT count(*) FROM candidates WHERE job_id = ?",
                   (theirs,)) == [(1,)]


def test_AUTH5_every_job_route_needs_a_token_with_a_tenant(srv):
    job = str(uuid.uuid4())
    routes = [("POST", "/api/jobs"), ("GET", "/api/jobs"), ("GET", f"/api/jobs/{job}"),
              ("POST", f"/api/jobs/{job}/candidates"), ("GET", f"/api/jobs/{job}/candidates"),
              ("POST", f"/api/jobs/{job}/match"), ("POST", "/api/jobs/import"),
              ("POST", f"/api/jobs/{job}/candidates/{job}/invite-reviewer")]
    no_tenant = bearer(mint_jwt(role="admin"))
    for method, path in routes:
        assert_problem(srv.request(method, path, body={}), 401)
        assert_problem(srv.request(method, path, body={}, headers=no_tenant), 403)


def test_VAL1_job_rules_point_at_the_field(srv):
    t = new_tenant()
    # 20,000 code points is the limit, counted as code points, not bytes
    assert srv.post("/api/jobs", {**JOB, "description": "é" * 20000},
                    headers=user(t)).status == 201
    cases = [
        ({"description": "é" * 20001}, ["/description"]),
        ({"title": ""}, ["/title"]),
        ({"title": "x" * 201}, ["/title"]),
        ({"skills": []}, ["/skills"]),
        ({"skills": [f"s{i}" for i in range(31)]}, ["/skills"]),
        ({"skills": ["c", 5]}, ["/skills/1"]),
        ({"skills": "c, sql"}, ["/skills"]),
        ({"title": None, "skills": None}, ["/skills", "/title"]),
        ({"salary": 100}, ["/salary"]),
        ({"description": "bell\u0007"}, ["/description"]),
    ]
    for over, want in cases:
        body = {k: v for k, v in {**JOB, **over}.items() if v is not None}
        p = assert_problem(srv.post("/api/jobs", body, headers=user(t)), 422, "validation")
        assert pointers(p) == want, (over, p)
    assert walk(srv, "/api/jobs", user(t), 100).__len__() == 1


def test_VAL1_candidate_rules_and_one_per_email(srv):
    t = new_tenant()
    job = post_job(srv, t)
    for over, want in [({"years_experience": 61}, ["/years_experience"]),
                       ({"years_experience": -1}, ["/years_experience"]),
                       ({"years_experience": 2.5}, ["/years_experience"]),
                       ({"email": "not-an-email"}, ["/email"]),
                       ({"skills": [f"s{i}" for i in range(31)]}, ["/skills"]),
                       ({"name": ""}, ["/name"])]:
        body = {"name": "Ada", "email": "ada@example.com", "skills": ["c"],
                "years_experience": 3, **over}
        p = assert_problem(srv.post(f"/api/jobs/{job}/candidates", body, headers=user(t)), 422)
        assert pointers(p) == want, (over, p)
    r = add(srv, t, job, email="Grace@Example.com", skills=(), years=0)
    assert r.status == 201, r
    c = r.json()
    assert (c["email"], c["skills"], c["years_experience"], c["match_score"],
            c["decision"]) == ("grace@example.com", [], 0, None, None)
    assert_problem(add(srv, t, job, email="grace@example.com"), 409, "conflict")
    # the same person may apply to another job
    assert add(srv, t, post_job(srv, t), email="grace@example.com").status == 201


def test_DATA4_job_and_candidate_pages_visit_each_once(srv):
    t = new_tenant()
    jobs = [post_job(srv, t, title=f"J{i}") for i in range(5)]
    assert walk(srv, "/api/jobs", user(t), 2) == jobs
    cands = [candidate(srv, t, jobs[0]) for _ in range(5)]
    assert walk(srv, f"/api/jobs/{jobs[0]}/candidates", user(t), 2) == cands
    # a cursor of one job's candidates is worthless on another job's list
    r = srv.get(f"/api/jobs/{jobs[0]}/candidates?limit=2", headers=user(t))
    cursor = r.json()["next_cursor"]
    assert_problem(srv.get(f"/api/jobs/{jobs[1]}/candidates?cursor={cursor}",
                           headers=user(t)), 400)
    assert_problem(srv.get("/api/jobs?limit=0", headers=user(t)), 422)


# --- matching -----------------------------------------------------------------

def test_REL3_match_scores_every_candidate_and_stores_the_scores(srv, matcher):
    t = pro_tenant(srv)
    job = post_job(srv, t)
    ids = [candidate(srv, t, job, skills=("c", "sql"), years=4, name="Secret Name"),
           candidate(srv, t, job, skills=("go",), years=0)]
    r = match(srv, t, job)
    assert r.status == 200, r
    body = r.json()
    assert body["cached"] is False and body["job_id"] == job
    got = {s["candidate_id"]: s["score"] for s in body["scores"]}
    assert got == {ids[0]: 44.5, ids[1]: 0.5}
    assert scores_in_db(srv, job) == got
    [call] = calls_for(matcher, job)
    assert call["path"] == "/v1/score"
    assert call["headers"]["authorization"] == "Bearer " + TEST_VARS["BASTION_VAR_match_api_key"]
    sent = call["json"]
    assert sent["job"] == {"id": job, "title": JOB["title"], "description": JOB["description"],
                           "skills": JOB["skills"]}
    assert sorted(sent["candidates"], key=lambda c: c["id"]) == sorted(
        [{"id": ids[0], "skills": ["c", "sql"], "years_experience": 4},
         {"id": ids[1], "skills": ["go"], "years_experience": 0}], key=lambda c: c["id"])
    assert "Secret Name" not in call["body"] and "@example.com" not in call["body"]
    page = srv.get(f"/api/jobs/{job}/candidates", headers=user(t)).json()
    assert {c["id"]: c["match_score"] for c in page["items"]} == got
    assert all(c["matched_at"] for c in page["items"])
    assert ai_used(srv, t)["used"] == 1


def test_REL3_a_second_match_with_nothing_changed_calls_no_provider(srv, matcher):
    t = pro_tenant(srv)
    job = post_job(srv, t)
    candidate(srv, t, job)
    first = match(srv, t, job)
    assert first.status == 200, first
    second = match(srv, t, job)
    assert second.status == 200, second
    assert second.json()["cached"] is True
    assert second.json()["scores"] == first.json()["scores"]
    assert len(calls_for(matcher, job)) == 1  # the fake provider saw one call
    assert ai_used(srv, t)["used"] == 1       # and the plan counted one
    # a new candidate is a new set: the provider is asked again
    candidate(srv, t, job)
    third = match(srv, t, job)
    assert third.status == 200 and third.json()["cached"] is False
    assert len(third.json()["scores"]) == 2
    assert len(calls_for(matcher, job)) == 2
    assert ai_used(srv, t)["used"] == 2


@pytest.mark.parametrize("mode", MALFORMED)
def test_REL3_a_malformed_provider_answer_is_502_and_nothing_is_stored(srv, matcher, mode):
    t = pro_tenant(srv)
    job = post_job(srv, t)
    for _ in range(3):
        candidate(srv, t, job)
    matcher.mode = mode
    p = assert_problem(match(srv, t, job), 502)
    assert p["retryable"] is True, p
    assert set(scores_in_db(srv, job).values()) == {None}
    assert ai_used(srv, t)["used"] == 0  # the use was given back
    assert len(calls_for(matcher, job)) == 1
    # nothing was cached either: a good answer afterwards is stored
    matcher.mode = "accept"
    r = match(srv, t, job)
    assert r.status == 200 and r.json()["cached"] is False, r
    assert None not in scores_in_db(srv, job).values()


def test_REL3_provider_failures_answer_as_the_billing_contract(fresh):
    t = pro_tenant(fresh)
    job = post_job(fresh, t)
    candidate(fresh, t, job)
    m = fresh.matcher
    m.mode = "refuse"
    p = assert_problem(match(fresh, t, job), 502)
    assert p["retryable"] is False, p
    m.mode = "fail"
    assert assert_problem(match(fresh, t, job), 502)["retryable"] is True
    m.mode = "hang"
    started = time.monotonic()
    assert_problem(match(fresh, t, job), 504)
    assert time.monotonic() - started < 10.5  # within the route's deadline
    assert set(scores_in_db(fresh, job).values()) == {None}
    assert ai_used(fresh, t)["used"] == 0
    # 5 consecutive failures open the breaker (the 4xx never counted): three more
    m.mode = "fail"
    for _ in range(3):
        assert_problem(match(fresh, t, job), 502)
    calls = len(m.calls())
    m.mode = "accept"
    assert_problem(match(fresh, t, job), 503)
    assert len(m.calls()) == calls  # open: no call made
    assert ai_used(fresh, t)["used"] == 0


def test_CONC2_matching_counts_against_the_plans_ai_matching_limit(srv, matcher):
    free = new_tenant()
    job = post_job(srv, free)
    candidate(srv, free, job)
    p = assert_problem(match(srv, free, job), 409, "conflict")
    assert "plan limit" in p["detail"]
    assert calls_for(matcher, job) == []
    assert ai_used(srv, free) == {"feature": "ai_matching", "allowed": False, "used": 0,
                                  "limit": 0}
    # pro allows 50 provider calls a period; each new candidate makes a new set
    t = pro_tenant(srv)
    job = post_job(srv, t)
    for i in range(50):
        candidate(srv, t, job)
        assert match(srv, t, job).status == 200, i
    assert ai_used(srv, t) == {"feature": "ai_matching", "allowed": False, "used": 50,
                               "limit": 50}
    assert match(srv, t, job).json()["cached"] is True  # a cache hit is no use
    candidate(srv, t, job)
    assert_problem(match(srv, t, job), 409, "conflict")
    assert len(calls_for(matcher, job)) == 50
    assert ai_used(srv, t)["used"] == 50


def test_CONC2_concurrent_matches_at_the_limit_admit_exactly_the_remainder(srv, matcher):
    t = pro_tenant(srv)
    jobs = [post_job(srv, t) for _ in range(53)]
    for j in jobs:
        candidate(srv, t, j)
    for j in jobs[:47]:
        assert match(srv, t, j).status == 200
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        got = sorted(r.status for r in pool.map(lambda j: match(srv, t, j), jobs[47:]))
    assert got == [200, 200, 200, 409, 409, 409], got
    assert ai_used(srv, t)["used"] == 50


def test_VAL1_a_job_without_candidates_is_409_without_a_call(srv, matcher):
    t = pro_tenant(srv)
    job = post_job(srv, t)
    assert_problem(match(srv, t, job), 409)
    assert calls_for(matcher, job) == []
    assert ai_used(srv, t)["used"] == 0


# --- reviewer links (AUTH6) ------------------------------------------------------

def invite(srv, tenant, job, cid, email=None):
    return srv.post(f"/api/jobs/{job}/candidates/{cid}/invite-reviewer",
                    {"reviewer_email": email or f"rev.{uuid.uuid4().hex[:8]}@example.com"},
                    headers=user(tenant))


def invited(srv, tenant):
    """(job, candidate, the reviewer's token from the email)."""
    job = post_job(srv, tenant)
    cid = candidate(srv, tenant, job, skills=("c", "wasm"), years=7, name="Linus T")
    email = f"rev.{uuid.uuid4().hex[:8]}@example.com"
    r = invite(srv, tenant, job, cid, email)
    assert r.status == 201, r
    [mail] = srv.email.sent_to(email)
    m = LINK.search(mail["text"])
    assert m.group(1) == BASE
    return job, cid, m.group(2)


def view(srv, token):
    return srv.get("/api/jobs/action?token=" + token)


def decide(srv, token, decision="advance", **extra):
    return srv.post("/api/jobs/action", {"token": token, "decision": decision, **extra})


def decision_of(srv, cid):
    return srv.sql("hiring", "SELECT decision, decision_note FROM candidates WHERE id = ?",
                   (cid,))[0]


def test_AUTH6_invite_emails_a_signed_72_hour_link_and_reports_the_email(srv):
    t = new_tenant()
    job = post_job(srv, t)
    cid = candidate(srv, t, job)
    email = f"rev.{uuid.uuid4().hex[:8]}@example.com"
    before = int(time.time())
    r = invite(srv, t, job, cid, email)
    assert r.status == 201, r
    body = r.json()
    assert (body["candidate_id"], body["email_sent"], body["email_error"]) == (cid, True, None)
    [mail] = srv.email.sent_to(email)
    token = LINK.search(mail["text"]).group(2)
    import base64
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert raw[25:-32].decode() == cid  # the resource is the candidate
    expires = int.from_bytes(raw[1:9], "big")
    assert before + HOURS_72 <= expires <= int(time.time()) + HOURS_72
    assert srv.sql("hiring", "SELECT candidate_id, reviewer_email FROM reviewer_invites "
                             "WHERE id = ?", (body["id"],)) == [(cid, email)]
    assert token not in srv.logs()  # OBS1
    p = assert_problem(srv.post(f"/api/jobs/{job}/candidates/{cid}/invite-reviewer",
                                {"reviewer_email": "nope"}, headers=user(t)), 422)
    assert pointers(p) == ["/reviewer_email"]


def test_REL4_a_failed_reviewer_email_goes_to_the_outbox(fresh):
    t = new_tenant()
    job = post_job(fresh, t)
    cid = candidate(fresh, t, job)
    fresh.email.mode = "fail"
    r = invite(fresh, t, job, cid, "rev.down@example.com")
    assert r.status == 201, r
    assert r.json()["email_sent"] is False and r.json()["email_error"]
    assert fresh.sql("hiring", "SELECT kind, recipient FROM email_failures "
                               "WHERE recipient = 'rev.down@example.com'") == [
        ("job-review", "rev.down@example.com")]


def test_AUTH6_the_link_shows_the_candidate_and_changes_nothing(srv):
    t = new_tenant()
    job, cid, token = invited(srv, t)
    for _ in range(2):
        r = view(srv, token)
        assert r.status == 200, r
        assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["candidate"] == {"id": cid, "name": "Linus T", "skills": ["c", "wasm"],
                                 "years_experience": 7}
    assert body["job"]["id"] == job and body["choices"] == ["advance", "reject"]
    assert body["submit"] == {"method": "POST", "href": "/api/jobs/action",
                              "fields": ["token", "decision", "note"]}
    assert "email" not in json.dumps(body["candidate"])
    assert decision_of(srv, cid) == (None, None)


def test_AUTH6_a_decision_is_recorded_once_under_10_concurrent_posts(fresh):
    t = new_tenant()
    job, cid, token = invited(fresh, t)
    out = []
    barrier = threading.Barrier(10)

    def go(i):
        barrier.wait()
        r = decide(fresh, token, "advance" if i % 2 else "reject", note=f"reviewer {i}")
        out.append((r.status, r.json()))
    with slow_trigger(fresh, "hiring", "candidates"):
        ts = [threading.Thread(target=go, args=(i,)) for i in range(10)]
        for th in ts:
            th.start()
        for th in ts:
            th.join()
    assert sorted(s for s, _ in out) == [200] + [409] * 9, out
    [won] = [b for s, b in out if s == 200]
    assert decision_of(fresh, cid)[0] == won["decision"]
    assert decision_of(fresh, cid)[1].startswith("reviewer ")
    for s, b in out:
        if s == 409:
            assert b["class"] == "conflict"
    assert_problem(view(fresh, token), 409, "conflict")
    assert_problem(decide(fresh, token), 409, "conflict")


def test_AUTH6_a_second_reviewers_link_is_409_once_decided(srv):
    t = new_tenant()
    job, cid, token = invited(srv, t)
    r2 = invite(srv, t, job, cid, "second@example.com")
    assert r2.status == 201
    [mail] = srv.email.sent_to("second@example.com")
    other = LINK.search(mail["text"]).group(2)
    assert decide(srv, token, "reject").status == 200
    assert_problem(decide(srv, other, "advance"), 409)
    assert decision_of(srv, cid) == ("reject", None)


def test_AUTH6_tampered_link_is_401_expired_410_unknown_404(srv):
    t = new_tenant()
    job, cid, token = invited(srv, t)
    now = int(time.time())
    for tok in [flip(token), flip(token, 3), token[:-4], "", "nope",
                link_token(cid, now + 3600, "assessment-invite", SECRET),
                link_token(cid, now + 3600, PURPOSE, "x" * 48),
                link_token(cid, now + 3600, "assessment-invite",
                           TEST_VARS["BASTION_VAR_assessment_token_secret"])]:
        for r in (view(srv, tok), decide(srv, tok)):
            assert_problem(r, 401, "auth")
            assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    expired = link_token(cid, now - 1, PURPOSE, SECRET)
    assert_problem(view(srv, expired), 410)
    assert_problem(decide(srv, expired), 410)
    # the same key unexpired is accepted: the 410 was the expiry alone
    assert view(srv, link_token(cid, now + 600, PURPOSE, SECRET)).status == 200
    unknown = link_token(str(uuid.uuid4()), now + 600, PURPOSE, SECRET)
    assert_problem(view(srv, unknown), 404)
    assert_problem(srv.get("/api/jobs/action"), 401)
    assert decision_of(srv, cid) == (None, None)
    for body, want in [({"token": token, "decision": "maybe"}, ["/decision"]),
                       ({"token": token, "decision": "advance", "note": "n" * 2001},
                        ["/note"]),
                       ({"decision": "advance"}, ["/token"])]:
        assert pointers(assert_problem(srv.post("/api/jobs/action", body), 422)) == want
    assert decision_of(srv, cid) == (None, None)
    r = decide(srv, token, "advance", note="strong C")
    assert r.status == 200 and r.json()["decision"] == "advance"
    assert decision_of(srv, cid) == ("advance", "strong C")


# --- import (SAFE4, REL2) -------------------------------------------------------

POSTING = {"@context": "https://schema.org", "@type": "JobPosting", "title": "SRE",
           "description": "Keep the edge up.", "skills": ["linux", "c"],
           "datePosted": "2026-11-30", "hiringOrganization": {"name": "Acme"}}


def import_url(srv, tenant, url):
    return srv.post("/api/jobs/import", {"url": url}, headers=user(tenant))


def test_SAFE4_import_makes_a_job_from_a_posting(srv, site):
    t = new_tenant()
    url = site.page(f"/p/{uuid.uuid4().hex}", POSTING)
    r = import_url(srv, t, url)
    assert r.status == 201, r
    job = r.json()
    assert (job["title"], job["description"], job["skills"], job["source_url"]) == (
        "SRE", "Keep the edge up.", ["linux", "c"], url)
    assert srv.get(f"/api/jobs/{job['id']}", headers=user(t)).json() == job
    # a plain object of the three members is a posting too
    url = site.page(f"/p/{uuid.uuid4().hex}", dict(POSTING, **{"@type": ["JobPosting"]}))
    assert import_url(srv, t, url).status == 201
    url = site.page(f"/p/{uuid.uuid4().hex}", {"title": "Dev", "description": "d",
                                               "skills": ["go"]}, headers={
        "Content-Type": "application/json"})
    assert import_url(srv, t, url).status == 201


def test_SAFE4_import_urls_off_the_import_hosts_are_422_without_a_call(srv, site):
    t = new_tenant()
    path = f"/p/{uuid.uuid4().hex}"
    site.page(path, POSTING)
    for url in [f"http://127.0.0.1:{site.port}{path}",      # not https
                f"https://localhost:{site.port}{path}",     # not an import host
                f"https://127.0.0.2:{site.port}{path}",
                f"https://evil.example{path}",
                f"https://user@127.0.0.1:{site.port}{path}",  # userinfo
                f"https://127.0.0.1:{site.port}{path}#frag",
                f"https://127.0.0.1:99999{path}",
                f"https://127.0.0.1:{site.port}/p/a b",
                "ftp://127.0.0.1/x", "127.0.0.1", ""]:
        p = assert_problem(import_url(srv, t, url), 422, "validation")
        assert pointers(p) == ["/url"], (url, p)
    assert site.hits_of(path) == 0
    assert walk(srv, "/api/jobs", user(t), 100) == []


def test_SAFE4_import_follows_no_redirect(srv, site):
    t = new_tenant()
    target = site.page(f"/p/{uuid.uuid4().hex}", POSTING)
    path = f"/r/{uuid.uuid4().hex}"
    site.page(path, b"", status=302, headers={"Location": target})
    p = assert_problem(import_url(srv, t, site.base + path), 422)
    assert "redirect" in p["errors"][0]["detail"]
    assert site.hits_of(path) == 1
    assert site.hits_of(target[len(site.base):]) == 0


def test_SAFE4_an_oversized_posting_is_422(srv, site):
    t = new_tenant()
    big = dict(POSTING, description="x" * 600_000)
    p = assert_problem(import_url(srv, t, site.page(f"/p/{uuid.uuid4().hex}", big)), 422)
    assert "512 KiB" in p["errors"][0]["detail"]
    assert walk(srv, "/api/jobs", user(t), 100) == []


def test_REL2_a_slow_site_is_504_within_the_route_deadline(srv, site):
    t = new_tenant()
    url = site.page(f"/p/{uuid.uuid4().hex}", POSTING, delay=20)
    started = time.monotonic()
    assert_problem(import_url(srv, t, url), 504)
    assert time.monotonic() - started < 10.5
    assert walk(srv, "/api/jobs", user(t), 100) == []


@pytest.mark.parametrize("doc,want", [
    (b"<html>a job</html>", ["/posting"]),
    (b"[1, 2]", ["/posting"]),
    (b'{"title": "x", "title": "y", "description": "d", "skills": ["c"]}',
     ["/posting/title"]),
    (json.dumps(dict(POSTING, **{"@type": "Event"})).encode(), ["/posting/@type"]),
    (json.dumps({k: v for k, v in POSTING.items() if k != "title"}).encode(),
     ["/posting/title"]),
    (json.dumps(dict(POSTING, skills=[])).encode(), ["/posting/skills"]),
    (json.dumps(dict(POSTING, skills="linux")).encode(), ["/posting/skills"]),
    (json.dumps(dict(POSTING, description="é" * 20001)).encode(), ["/posting/description"]),
    (b"\xff\xfe{}", ["/posting"]),
])
def test_VAL1_a_malformed_posting_is_422_and_no_job(srv, site, doc, want):
    t = new_tenant()
    p = assert_problem(import_url(srv, t, site.page(f"/p/{uuid.uuid4().hex}", doc)), 422)
    assert sorted({e["pointer"] for e in p["errors"]}) == want, p
    assert walk(srv, "/api/jobs", user(t), 100) == []


def test_REL2_site_errors_answer_422_for_4xx_and_502_for_5xx(srv, site):
    t = new_tenant()
    assert_problem(import_url(srv, t, site.base + f"/missing/{uuid.uuid4().hex}"), 422)
    url = site.page(f"/p/{uuid.uuid4().hex}", {"error": "x"}, status=503)
    assert assert_problem(import_url(srv, t, url), 502)["retryable"] is True


def test_SAFE4_an_import_host_that_resolves_to_loopback_is_refused(email, matcher, site,
                                                                   tmp_path):
    """The last line of defence: localhost is an import host and on the allow-list by
    name, but it resolves to 127.0.0.1, which the manifest does not name as an address:
    the host refuses the connection and the site sees nothing."""
    with open(os.path.join(BUILD, "manifest.json")) as f:
        doc = json.load(f)
    doc["functions"]["jobs"]["outbound"].append("https://localhost:*")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(doc))
    srv = serve(email, matcher, site, manifest=str(manifest),
                BASTION_VAR_import_hosts="localhost, 127.0.0.1")
    try:
        t = new_tenant()
        path = f"/p/{uuid.uuid4().hex}"
        site.page(path, POSTING)
        p = assert_problem(import_url(srv, t, f"https://localhost:{site.port}{path}"), 422)
        assert pointers(p) == ["/url"]
        assert site.hits_of(path) == 0
        # the address itself, named by the manifest, is reached
        assert import_url(srv, t, f"https://127.0.0.1:{site.port}{path}").status == 201
    finally:
        assert srv.stop() == 0
