"""assessments over real HTTP (AUTH5, AUTH6, VAL1, DATA4, REL4, CONC2, CONC5, ERR1).

Tenants are fresh per test (a random id in the token's `tenant` claim), so
plan usage and write limits in kv never leak between tests. Invitation
tokens are minted here too, from token.h's format and the test value of
assessment_token_secret, to reach states a live link cannot (expired,
another purpose, another key):

    BASE64URL(0x01 ‖ expiry u64 BE ‖ nonce[16] ‖ resource ‖ HMAC-SHA256(key, all before))
    key = HMAC(HMAC("bastion/token/v1", master), "bastion/token/v1/" ‖ purpose ‖ 0x01)
"""
import base64
import concurrent.futures
import json
import re
import threading
import time
import uuid

import pytest

from conftest import (TEST_VARS, FakeEmail, assert_problem, bearer, failing_trigger,
                      flip, link_token, mint_jwt, new_tenant, pointers, serve_bundle,
                      slow_trigger, subscribe, walk)

BASE = "https://hire.example.test"
SECRET = TEST_VARS["BASTION_VAR_assessment_token_secret"]
PURPOSE = "assessment-invite"
LINK = re.compile(r"(\S+)/assess\?token=([A-Za-z0-9_-]+)")
PRO_PRICE = "price_pro_test"
WEEK_S = 7 * 24 * 3600


def serve(email, **env):
    return serve_bundle(email, {"BASTION_VAR_base_url": BASE + "/",
                                "BASTION_VAR_billing_plan_prices":
                                    f"{PRO_PRICE}=pro, price_team_test=team",
                                "BASTION_VAR_tenant_writes_per_minute": "1000000",
                                **env})


@pytest.fixture(scope="module")
def srv(email):
    s = serve(email)
    yield s
    assert s.stop() == 0


@pytest.fixture
def fresh():
    """A server with its own fake provider (its breaker state stays its own)."""
    fake = FakeEmail()
    s = serve(fake)
    yield s
    assert s.stop() == 0
    fake.close()


# --- tokens and tenants ---------------------------------------------------------

def mint(resource, expires_s, purpose=PURPOSE, master=SECRET):
    return link_token(resource, expires_s, purpose, master)


def decode(token):
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    return {"version": raw[0], "expires_s": int.from_bytes(raw[1:9], "big"),
            "resource": raw[25:-32].decode()}


def admin(tenant):
    return bearer(mint_jwt(role="admin", sub="admin-" + tenant, tenant=tenant))


def user(tenant):
    return bearer(mint_jwt(role="user", sub="user-" + tenant, tenant=tenant))


# --- bodies and calls --------------------------------------------------------------

QUESTIONS = [
    {"id": "q1", "text": "2 + 2?", "choices": ["3", "4", "5"], "answer": 1},
    {"id": "q2", "text": "Capital of France?", "choices": ["Paris", "Rome"], "answer": 0},
    {"id": "q3", "text": "Largest planet?\nPick one.", "choices": ["Mars", "Venus", "Jupiter"],
     "answer": 2},
]


def create(srv, tenant, title="Screening", questions=None):
    r = srv.post("/api/assessments", {"title": title, "questions": questions or QUESTIONS},
                 headers=admin(tenant))
    assert r.status == 201, r
    return r.json()["id"]


def unique_email(tag="cand"):
    return f"{tag}.{uuid.uuid4().hex[:10]}@example.com"


def invite(srv, tenant, assessment_id, email=None, name="Grace Hopper"):
    return srv.post("/api/assessments/invitations",
                    {"assessment_id": assessment_id, "candidate_email": email or unique_email(),
                     "candidate_name": name}, headers=admin(tenant))


def invited(srv, tenant, assessment_id):
    """(invitation id, the candidate's token from the email)."""
    email = unique_email()
    r = invite(srv, tenant, assessment_id, email)
    assert r.status == 201, r
    return r.json()["id"], token_in(srv, email)


def token_in(srv, email):
    [mail] = srv.email.sent_to(email)
    return LINK.search(mail["text"]).group(2)


def view(srv, token):
    return srv.get("/api/assessments/take?token=" + token)


def submit(srv, token, answers=None, **extra):
    if answers is None:
        answers = [{"question_id": q["id"], "choice": q["answer"]} for q in QUESTIONS]
    return srv.post("/api/assessments/take", {"token": token, "answers": answers, **extra})


def status_of(srv, invitation_id):
    return srv.sql("hiring", "SELECT status FROM invitations WHERE id = ?", (invitation_id,))[0][0]


# --- POST/GET /api/assessments ---------------------------------------------------

def test_AUTH5_create_and_list_assessments_of_the_tokens_tenant(srv):
    a, b = new_tenant(), new_tenant()
    r = srv.post("/api/assessments", {"title": "  Backend screening ", "questions": QUESTIONS},
                 headers=admin(a))
    assert r.status == 201, r
    out = r.json()
    assert set(out) == {"id", "title", "questions", "created_at"}
    assert out["title"] == "Backend screening" and out["questions"] == 3
    assert uuid.UUID(out["id"]).version == 4
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", out["created_at"])
    # stored under the token's tenant, with the server's answer key
    [(tenant, qs)] = srv.sql("hiring", "SELECT tenant, questions FROM assessments WHERE id = ?",
                             (out["id"],))
    assert tenant == a
    assert [q["answer"] for q in json.loads(qs)] == [1, 0, 2]
    # a tenant's user lists it; the list never carries questions or answers
    r = srv.get("/api/assessments", headers=user(a))
    assert r.status == 200, r
    assert r.json() == {"items": [{"id": out["id"], "title": "Backend screening", "questions": 3,
                                   "created_at": out["created_at"]}], "next_cursor": None}
    # the other tenant sees nothing of it
    assert srv.get("/api/assessments", headers=user(b)).json() == {"items": [],
                                                                    "next_cursor": None}


def test_AUTH5_tenant_comes_from_the_token_never_the_body(srv):
    a, b = new_tenant(), new_tenant()
    p = assert_problem(srv.post("/api/assessments", {"title": "x", "questions": QUESTIONS,
                                                      "tenant": b}, headers=admin(a)), 422)
    assert pointers(p) == ["/tenant"]
    create(srv, b)
    # a query parameter naming another tenant changes nothing
    r = srv.get(f"/api/assessments?tenant={b}", headers=user(a))
    assert r.status == 200 and r.json()["items"] == [], r


def test_VAL1_assessment_rules_point_at_the_field(srv):
    t = new_tenant()
    q = lambda **over: {**QUESTIONS[0], **over}  # noqa: E731
    cases = [
        ({"title": "", "questions": QUESTIONS}, ["/title"]),
        ({"title": "x" * 201, "questions": QUESTIONS}, ["/title"]),
        ({"questions": QUESTIONS}, ["/title"]),
        ({"title": "t", "questions": []}, ["/questions"]),
        ({"title": "t", "questions": [q(id=f"q{i}") for i in range(51)]}, ["/questions"]),
        ({"title": "t", "questions": "q1"}, ["/questions"]),
        ({"title": "t", "questions": [QUESTIONS[0], QUESTIONS[1], QUESTIONS[2],
                                     q(id="q4", answer=3)]}, ["/questions/3/answer"]),
        ({"title": "t", "questions": [q(answer=6)]}, ["/questions/0/answer"]),
        ({"title": "t", "questions": [q(answer=-1)]}, ["/questions/0/answer"]),
        ({"title": "t", "questions": [q(answer="1")]}, ["/questions/0/answer"]),
        ({"title": "t", "questions": [q(), q()]}, ["/questions/1/id"]),
        ({"title": "t", "questions": [q(id="has space")]}, ["/questions/0/id"]),
        ({"title": "t", "questions": [q(id="x" * 65)]}, ["/questions/0/id"]),
        ({"title": "t", "questions": [q(text="")]}, ["/questions/0/text"]),
        ({"title": "t", "questions": [q(text="x" * 1001)]}, ["/questions/0/text"]),
        ({"title": "t", "questions": [q(choices=["only"], answer=0)]}, ["/questions/0/choices"]),
        ({"title": "t", "questions": [q(choices=[str(i) for i in range(7)])]},
         ["/questions/0/choices"]),
        ({"title": "t", "questions": [q(choices=["a", "", "c"])]}, ["/questions/0/choices/1"]),
        ({"title": "t", "questions": [q(choices=["a", 2, "x" * 201])]},
         ["/questions/0/choices/1", "/questions/0/choices/2"]),
        ({"title": "t", "questions": [q(hint="no")]}, ["/questions/0/hint"]),
        ({"title": "t", "questions": [{"id": "q1"}]},
         ["/questions/0/answer", "/questions/0/choices", "/questions/0/text"]),
        ({"title": "t", "questions": [1]}, ["/questions/0"]),
        ({"title": "t\u0007", "questions": QUESTIONS}, ["/title"]),
    ]
    for body, want in cases:
        p = assert_problem(srv.post("/api/assessments", body, headers=admin(t)), 422,
                           "validation")
        assert pointers(p) == want, (body, p)
    assert_problem(srv.post("/api/assessments", '{"title": "t", "questions": [',
                            headers={**admin(t), "Content-Type": "application/json"}), 400)
    assert_problem(srv.post("/api/assessments", "title=t",
                            headers={**admin(t), "Content-Type": "text/plain"}), 415)
    big = {"title": "t", "questions": [q(id=f"q{i}", text="x" * 1000) for i in range(70)]}
    assert_problem(srv.post("/api/assessments", big, headers=admin(t)), 413)
    assert srv.sql("hiring", "SELECT COUNT(*) FROM assessments WHERE tenant = ?", (t,)) == [(0,)]
    # 50 questions of 6 choices is the most, and fine
    most = [q(id=f"q{i}", choices=[f"c{j}" for j in range(6)], answer=5) for i in range(50)]
    r = srv.post("/api/assessments", {"title": "t", "questions": most}, headers=admin(t))
    assert r.status == 201 and r.json()["questions"] == 50, r


def test_AUTH5_every_route_needs_a_token_with_a_tenant(srv):
    t = new_tenant()
    aid = create(srv, t)
    iid, _ = invited(srv, t, aid)
    body = {"assessment_id": aid, "candidate_email": unique_email(), "candidate_name": "G"}
    routes = [
        ("POST", "/api/assessments", {"title": "t", "questions": QUESTIONS}, True),
        ("GET", "/api/assessments", None, False),
        ("POST", "/api/assessments/invitations", body, True),
        ("GET", "/api/assessments/invitations", None, False),
        ("GET", f"/api/assessments/invitations/{iid}", None, False),
    ]
    no_tenant_admin = bearer(mint_jwt(role="admin", sub="admin-x"))
    no_tenant_user = bearer(mint_jwt(role="user", sub="user-x"))
    empty_tenant = bearer(mint_jwt(role="admin", sub="admin-x", tenant=""))
    for method, path, b, admin_only in routes:
        p = assert_problem(srv.request(method, path, b), 401, "auth")
        assert_problem(srv.request(method, path, b, headers=bearer("not.a.jwt")), 401, "auth")
        for h in (no_tenant_admin, no_tenant_user, empty_tenant):
            p = assert_problem(srv.request(method, path, b, headers=h), 403, "auth")
            assert "tenant" in p["detail"]
        r = srv.request(method, path, b, headers=user(t))
        if admin_only:
            assert_problem(r, 403, "auth")
        else:
            assert r.status == 200, (path, r)
    # nothing was written by the refused requests
    assert srv.sql("hiring", "SELECT COUNT(*) FROM assessments WHERE tenant = ?", (t,)) == [(1,)]
    assert srv.sql("hiring", "SELECT COUNT(*) FROM invitations WHERE tenant = ?", (t,)) == [(1,)]


def test_AUTH5_another_tenants_resources_are_not_found(srv):
    a, b = new_tenant(), new_tenant()
    aid = create(srv, a)
    iid, _ = invited(srv, a, aid)
    # B cannot read A's invitation: 404, exactly as for one that does not exist
    p = assert_problem(srv.get(f"/api/assessments/invitations/{iid}", headers=user(b)), 404)
    q = assert_problem(srv.get(f"/api/assessments/invitations/{uuid.uuid4()}", headers=user(b)),
                       404)
    assert p["detail"] == q["detail"]
    assert_problem(srv.get("/api/assessments/invitations/not-a-uuid", headers=user(b)), 404)
    assert srv.get(f"/api/assessments/invitations/{iid}", headers=user(a)).status == 200
    # B cannot invite to A's assessment: as unknown as a made-up one
    p = assert_problem(invite(srv, b, aid), 422, "validation")
    assert pointers(p) == ["/assessment_id"]
    q = assert_problem(invite(srv, b, str(uuid.uuid4())), 422)
    assert p["errors"] == q["errors"]
    # B's lists hold none of A's rows, and every status filter agrees
    for status in ("", "?status=sent", "?status=submitted", "?status=expired"):
        r = srv.get("/api/assessments/invitations" + status, headers=user(b))
        assert r.status == 200 and r.json()["items"] == [], r
    assert srv.get("/api/assessments", headers=user(b)).json()["items"] == []
    assert srv.sql("hiring", "SELECT COUNT(*) FROM invitations WHERE tenant = ?", (b,)) == [(0,)]


# --- POST/GET /api/assessments/invitations -------------------------------------------

def test_AUTH6_invitation_emails_a_signed_link_and_reports_the_email(srv):
    t = new_tenant()
    aid = create(srv, t, title="Data engineer")
    email = unique_email()
    t0 = time.time()
    r = invite(srv, t, aid, "  " + email.upper() + " ", name=" Grace Hopper ")
    assert r.status == 201, r
    out = r.json()
    assert set(out) == {"id", "status", "expires_at", "email_sent", "email_error"}
    assert out["status"] == "sent" and out["email_sent"] is True and out["email_error"] is None
    iid = out["id"]
    [mail] = srv.email.sent_to(email)  # lower-cased and trimmed
    assert "Data engineer" in mail["subject"] and "Grace Hopper" in mail["text"]
    origin, token = LINK.search(mail["text"]).groups()
    assert origin == BASE
    # AUTH6: a signed token for this invitation, 7 days, and no secret in the mail
    claims = decode(token)
    assert claims["version"] == 1 and claims["resource"] == iid
    assert abs(claims["expires_s"] - (t0 + WEEK_S)) < 60
    for secret in TEST_VARS.values():
        assert secret not in mail["text"]
    # what the tenant sees of it
    r = srv.get(f"/api/assessments/invitations/{iid}", headers=user(t))
    assert r.status == 200, r
    got = r.json()
    assert {k: got[k] for k in ("id", "assessment_id", "candidate_email", "candidate_name",
                                "status", "score", "answers", "submitted_at", "email_sent",
                                "email_error", "expires_at")} == {
        "id": iid, "assessment_id": aid, "candidate_email": email,
        "candidate_name": "Grace Hopper", "status": "sent", "score": None, "answers": None,
        "submitted_at": None, "email_sent": True, "email_error": None,
        "expires_at": out["expires_at"]}
    assert srv.sql("hiring", "SELECT COUNT(*) FROM email_failures") == [(0,)]


def test_VAL1_invitation_rules(srv):
    t = new_tenant()
    aid = create(srv, t)
    ok = {"assessment_id": aid, "candidate_email": unique_email(), "candidate_name": "G"}
    cases = [
        ({**ok, "candidate_email": "not-an-email"}, ["/candidate_email"]),
        ({**ok, "candidate_name": ""}, ["/candidate_name"]),
        ({**ok, "candidate_name": "x" * 101}, ["/candidate_name"]),
        ({**ok, "assessment_id": "abc"}, ["/assessment_id"]),
        ({**ok, "assessment_id": str(uuid.uuid4())}, ["/assessment_id"]),
        ({**ok, "status": "submitted"}, ["/status"]),
        ({**ok, "score": 100}, ["/score"]),
        ({}, ["/assessment_id", "/candidate_email", "/candidate_name"]),
    ]
    for body, want in cases:
        r = srv.post("/api/assessments/invitations", body, headers=admin(t))
        assert pointers(assert_problem(r, 422, "validation")) == want, (body, r)
    # none of the refused requests used the plan: the free plan's 5 are all left
    for _ in range(5):
        assert invite(srv, t, aid).status == 201
    assert srv.sql("hiring", "SELECT COUNT(*) FROM invitations WHERE tenant = ?", (t,)) == [(5,)]


def test_REL4_email_failure_goes_to_the_outbox_and_the_invitation_stands(fresh):
    fresh.email.mode = "fail"
    t = new_tenant()
    aid = create(fresh, t)
    email = unique_email()
    t0 = time.time()
    r = invite(fresh, t, aid, email)
    assert time.time() - t0 < 10
    assert r.status == 201, r
    out = r.json()
    assert out["email_sent"] is False
    assert out["email_error"] == "email provider answered 500"
    [(kind, to, text, error, attempts)] = fresh.sql(
        "hiring", "SELECT kind, recipient, body, error, attempts FROM email_failures")
    assert (kind, to, error, attempts) == ("assessment-invitation", email,
                                           "email provider answered 500", 1)
    # the queued email holds the working link, for the retry job
    token = LINK.search(text).group(2)
    assert decode(token)["resource"] == out["id"]
    assert fresh.sql("hiring", "SELECT status, email_sent, email_error FROM invitations "
                               "WHERE id = ?", (out["id"],)) == [
        ("sent", 0, "email provider answered 500")]
    got = fresh.get(f"/api/assessments/invitations/{out['id']}", headers=user(t)).json()
    assert got["email_sent"] is False and got["email_error"] == "email provider answered 500"
    assert view(fresh, token).status == 200


def test_CONC5_invitation_and_outbox_row_commit_together(fresh):
    """A failing outbox insert rolls the invitation back too (and gives the
    plan's use back): nothing half-made, nothing sent."""
    t = new_tenant()
    aid = create(fresh, t)
    email = unique_email()
    with failing_trigger(fresh, "hiring", "email_failures", "INSERT"):
        assert_problem(invite(fresh, t, aid, email), 500, "internal")
    assert fresh.sql("hiring", "SELECT COUNT(*) FROM invitations WHERE tenant = ?", (t,)) == [(0,)]
    assert fresh.email.sent_to(email) == []
    for _ in range(5):
        assert invite(fresh, t, aid).status == 201
    assert_problem(invite(fresh, t, aid), 409)


# --- the candidate's link (AUTH6, VAL1) ----------------------------------------------

def test_AUTH6_the_link_shows_questions_without_answers_and_changes_nothing(srv):
    t = new_tenant()
    aid = create(srv, t, title="Screening")
    iid, token = invited(srv, t, aid)
    before = srv.sql("hiring", "SELECT * FROM invitations WHERE id = ?", (iid,))
    first, second = view(srv, token), view(srv, token)
    for r in (first, second):
        assert r.status == 200, r
        assert r.headers["cache-control"] == "no-store"
    assert first.json() == second.json()
    out = first.json()
    assert out["invitation_id"] == iid and out["title"] == "Screening"
    assert out["candidate_name"] == "Grace Hopper"
    assert out["questions"] == [{k: q[k] for k in ("id", "text", "choices")} for q in QUESTIONS]
    assert '"answer"' not in first.body.decode()  # the key never leaves the server
    assert out["submit"] == {"method": "POST", "href": "/api/assessments/take",
                             "fields": ["token", "answers"]}
    assert srv.sql("hiring", "SELECT * FROM invitations WHERE id = ?", (iid,)) == before
    # no bearer token is needed, and one is not what authorises the link
    assert_problem(srv.get("/api/assessments/take?token=" + flip(token), headers=admin(t)), 401)


def test_VAL1_the_server_scores_from_its_own_key(srv):
    t = new_tenant()
    aid = create(srv, t)
    iid, token = invited(srv, t, aid)
    # q1 right, q2 wrong, q3 right, in any order: round(200/3) = 67
    answers = [{"question_id": "q3", "choice": 2}, {"question_id": "q1", "choice": 1},
               {"question_id": "q2", "choice": 1}]
    r = submit(srv, token, answers)
    assert r.status == 200, r
    assert r.json() == {"id": iid, "status": "submitted", "score": 67}
    got = srv.get(f"/api/assessments/invitations/{iid}", headers=user(t)).json()
    assert got["status"] == "submitted" and got["score"] == 67
    assert got["answers"] == answers
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", got["submitted_at"])
    listed = srv.get("/api/assessments/invitations?status=submitted", headers=user(t)).json()
    assert [(i["id"], i["score"]) for i in listed["items"]] == [(iid, 67)]
    assert srv.get("/api/assessments/invitations?status=sent",
                   headers=user(t)).json()["items"] == []
    # the other scores: none right 0, all right 100, 1 of 3 → 33 (0.5 rounds up elsewhere)
    for choices, score in (([0, 1, 0], 0), ([1, 0, 2], 100), ([1, 1, 0], 33)):
        _, tok = invited(srv, t, aid)
        r = submit(srv, tok, [{"question_id": q["id"], "choice": c}
                              for q, c in zip(QUESTIONS, choices)])
        assert r.json()["score"] == score, r
    two = create(srv, t, questions=QUESTIONS[:2])
    _, tok = invited(srv, t, two)
    r = submit(srv, tok, [{"question_id": "q1", "choice": 1}, {"question_id": "q2", "choice": 1}])
    assert r.json()["score"] == 50, r


def test_VAL1_every_question_answered_once_with_its_own_choices(srv):
    t = new_tenant()
    aid = create(srv, t)
    iid, token = invited(srv, t, aid)
    a = lambda q, c: {"question_id": q, "choice": c}  # noqa: E731
    cases = [
        ([a("q1", 1), a("q2", 0)], ["/answers"]),                             # q3 unanswered
        ([a("q1", 1), a("q2", 0), a("q3", 2), a("q1", 0)], ["/answers/3/question_id"]),
        ([a("q1", 1), a("q2", 0), a("q3", 2), a("q9", 0)], ["/answers/3/question_id"]),
        ([a("q1", 1), a("q2", 2), a("q3", 2)], ["/answers/1/choice"]),       # q2 has 2 choices
        ([a("q1", 6), a("q2", 0), a("q3", 2)], ["/answers/0/choice"]),
        ([a("q1", -1), a("q2", 0), a("q3", 2)], ["/answers/0/choice"]),
        ([a("q1", "1"), a("q2", 0), a("q3", 2)], ["/answers/0/choice"]),
        ([{"question_id": "q1"}, a("q2", 0), a("q3", 2)], ["/answers/0/choice"]),
        ([{**a("q1", 1), "correct": True}, a("q2", 0), a("q3", 2)], ["/answers/0/correct"]),
        ([], ["/answers"]),
        ("q1", ["/answers"]),
    ]
    for answers, want in cases:
        p = assert_problem(submit(srv, token, answers), 422, "validation")
        assert pointers(p) == want, (answers, p)
    p = assert_problem(srv.post("/api/assessments/take", {"token": token}), 422)
    assert pointers(p) == ["/answers"]
    # a client-sent score is an unknown field, never believed
    p = assert_problem(submit(srv, token, score=100), 422)
    assert pointers(p) == ["/score"]
    assert_problem(srv.post("/api/assessments/take", "token=" + token,
                            headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    assert status_of(srv, iid) == "sent"
    assert submit(srv, token).json()["score"] == 100


def test_AUTH6_concurrent_submits_succeed_once_and_then_the_link_is_409(fresh):
    t = new_tenant()
    aid = create(fresh, t)
    iid, token = invited(fresh, t, aid)
    out = []
    barrier = threading.Barrier(10)

    def go(i):
        barrier.wait()
        # each with different answers: the one that wins is the one stored
        answers = [{"question_id": q["id"], "choice": (q["answer"] + i) % len(q["choices"])}
                   for q in QUESTIONS]
        r = submit(fresh, token, answers)
        out.append((r.status, r.json()))
    with slow_trigger(fresh, "hiring", "invitations"):
        ts = [threading.Thread(target=go, args=(i,)) for i in range(10)]
        for th in ts:
            th.start()
        for th in ts:
            th.join()
    assert sorted(s for s, _ in out) == [200] + [409] * 9, out
    [won] = [body for s, body in out if s == 200]
    for s, body in out:
        if s == 409:
            assert body["class"] == "conflict"
    assert fresh.sql("hiring", "SELECT status, score FROM invitations WHERE id = ?", (iid,)) == [
        ("submitted", won["score"])]
    assert_problem(view(fresh, token), 409, "conflict")
    assert_problem(submit(fresh, token), 409, "conflict")


def test_AUTH6_tampered_link_is_401(srv):
    t = new_tenant()
    aid = create(srv, t)
    iid, token = invited(srv, t, aid)
    now = int(time.time())
    bad = [
        flip(token),
        flip(token, 3),  # inside the expiry: the MAC is checked before it is believed
        flip(token, len(token) - 2),
        token[:-4],
        token + "A",
        "",
        "not-a-token",
        mint(iid, now + 3600, purpose="permit-approve"),  # another purpose's key
        mint(iid, now + 3600, master="x" * 48),  # another master secret
        # a permit link, made with the permits secret: worthless here
        mint(iid, now + 3600, purpose="permit-approve",
             master=TEST_VARS["BASTION_VAR_permit_token_secret"]),
    ]
    for tok in bad:
        for r in (view(srv, tok), submit(srv, tok)):
            assert_problem(r, 401, "auth")
            assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert_problem(srv.get("/api/assessments/take"), 401)
    p = assert_problem(srv.get("/api/assessments/take?token=" + token + "%00"), 422)
    assert pointers(p) == ["/token"]
    assert status_of(srv, iid) == "sent"
    assert submit(srv, token).status == 200


def test_AUTH6_expired_link_is_410(srv):
    t = new_tenant()
    aid = create(srv, t)
    iid, token = invited(srv, t, aid)
    now = int(time.time())
    # a token whose own expiry has passed
    for r in (view(srv, mint(iid, now - 5)), submit(srv, mint(iid, now - 5))):
        assert_problem(r, 410, "conflict")
    # the same derivation, unexpired, is accepted: the 410 was the expiry alone
    assert view(srv, mint(iid, now + 60)).status == 200
    # the invitation's own expiry passed (the link's has not)
    srv.sql("hiring", "UPDATE invitations SET expires_at = ? WHERE id = ?",
            ((now - 60) * 1000, iid))
    for r in (view(srv, token), submit(srv, token)):
        assert_problem(r, 410, "conflict")
    assert status_of(srv, iid) == "sent"
    # readers call it expired, and the status filters agree
    got = srv.get(f"/api/assessments/invitations/{iid}", headers=user(t)).json()
    assert got["status"] == "expired"
    ids = lambda q: [i["id"] for i in srv.get(  # noqa: E731
        "/api/assessments/invitations" + q, headers=user(t)).json()["items"]]
    assert ids("?status=expired") == [iid]
    assert ids("?status=sent") == []
    # and one a clean-up stored as expired is gone for the candidate too
    iid2, token2 = invited(srv, t, aid)
    srv.sql("hiring", "UPDATE invitations SET status = 'expired' WHERE id = ?", (iid2,))
    assert_problem(submit(srv, token2), 410)
    assert sorted(ids("?status=expired")) == sorted([iid, iid2])


def test_AUTH6_authentic_link_for_an_unknown_invitation_is_404(srv):
    tok = mint(str(uuid.uuid4()), int(time.time()) + 60)
    assert_problem(view(srv, tok), 404)
    assert_problem(submit(srv, tok), 404)


# --- lists (DATA4) -------------------------------------------------------------------

def test_DATA4_assessment_pages_visit_each_once_with_inserts_between(srv):
    a, b = new_tenant(), new_tenant()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        made = set(pool.map(lambda i: create(srv, a, title=f"A{i}"), range(250)))
    create(srv, b)
    assert len(made) == 250
    added = []

    def between():
        # later rows land after the cursor; one back-dated row lands before it
        added.append(create(srv, a, title="later"))
        old = str(uuid.uuid4())
        srv.sql("hiring", "INSERT INTO assessments (id, tenant, title, questions, question_count, "
                          "created_at) VALUES (?, ?, 'old', '[]', 1, 0)", (old, a))
    seen = walk(srv, "/api/assessments", user(a), 37, between)
    assert len(seen) == len(set(seen)), "an item was visited twice"
    assert made <= set(seen), "an item that existed all along was skipped"
    assert set(seen) - made <= set(added)
    # the default page is 20, and the order is (created_at, id)
    r = srv.get("/api/assessments", headers=user(a)).json()
    assert len(r["items"]) == 20 and r["next_cursor"]
    keys = [(i["created_at"], i["id"]) for i in r["items"]]
    assert keys == sorted(keys)
    r = srv.get("/api/assessments?limit=100", headers=user(a)).json()
    assert len(r["items"]) == 100


def test_DATA4_invitation_pages_and_status_filters(srv):
    a = new_tenant()
    subscribe(srv, a)  # pro: room for the invitations sent between pages
    aid = create(srv, a)
    now = int(time.time() * 1000)
    rows, want = [], {"sent": set(), "submitted": set(), "expired": set()}
    for i in range(250):
        iid = str(uuid.uuid4())
        kind = ("sent", "submitted", "expired")[i % 3]
        want[kind].add(iid)
        created = now - 10_000 + (i % 7)  # many share a millisecond: id breaks the tie
        if kind == "submitted":
            extra = f"'submitted', {now + 1000}, 80, '[]', {created + 1}"
        elif kind == "sent":
            extra = f"'sent', {now + 3_600_000}, NULL, NULL, NULL"
        else:
            extra = f"'sent', {now - 1000}, NULL, NULL, NULL"
        rows.append(f"('{iid}', '{a}', '{aid}', 'c{i}@example.com', 'C {i}', {extra}, "
                    f"{created}, 1)")
    srv.sql("hiring", "INSERT INTO invitations (id, tenant, assessment_id, candidate_email, "
                      "candidate_name, status, expires_at, score, answers, submitted_at, "
                      "created_at, email_sent) VALUES " + ", ".join(rows))
    everyone = set().union(*want.values())

    def between():
        invited(srv, a, aid)  # a live invitation, after every cursor
    seen = walk(srv, "/api/assessments/invitations", user(a), 33, between)
    assert len(seen) == len(set(seen))
    assert everyone <= set(seen)
    assert len(set(seen) - everyone) <= 10
    for kind in ("submitted", "expired"):
        got = walk(srv, f"/api/assessments/invitations?status={kind}", user(a), 40)
        assert len(got) == len(set(got)) and set(got) == want[kind], kind
    got = walk(srv, "/api/assessments/invitations?status=sent", user(a), 40)
    assert want["sent"] <= set(got) and not (set(got) & (want["expired"] | want["submitted"]))
    items = srv.get("/api/assessments/invitations?status=submitted&limit=5",
                    headers=user(a)).json()["items"]
    assert all(i["status"] == "submitted" and i["score"] == 80 for i in items)
    assert all("answers" not in i for i in items)  # lists carry no answers


def test_DATA4_limit_and_cursor_errors(srv):
    a, b = new_tenant(), new_tenant()
    for t in (a, b):
        for _ in range(3):
            create(srv, t)
    for path in ("/api/assessments", "/api/assessments/invitations"):
        for bad in ("0", "101", "abc", "-1", "1.5", ""):
            p = assert_problem(srv.get(f"{path}?limit={bad}", headers=user(a)), 422, "validation")
            assert pointers(p) == ["/limit"], (path, bad)
    cursor = srv.get("/api/assessments?limit=1", headers=user(a)).json()["next_cursor"]
    assert cursor
    assert srv.get(f"/api/assessments?limit=1&cursor={cursor}", headers=user(a)).status == 200
    for bad in (flip(cursor), flip(cursor, 2), cursor[:-1], cursor + "A", "x", "a.b"):
        assert_problem(srv.get(f"/api/assessments?cursor={bad}", headers=user(a)), 400,
                       "validation")
    # a cursor is bound to its tenant and its list
    assert_problem(srv.get(f"/api/assessments?cursor={cursor}", headers=user(b)), 400)
    assert_problem(srv.get(f"/api/assessments/invitations?cursor={cursor}", headers=user(a)), 400)
    p = assert_problem(srv.get("/api/assessments/invitations?status=open", headers=user(a)), 422)
    assert pointers(p) == ["/status"]


# --- the plan's allowance ------------------------------------------------------------

def test_CONC2_free_plan_allows_5_invitations_then_409(srv):
    t = new_tenant()
    aid = create(srv, t)
    for _ in range(5):
        assert invite(srv, t, aid).status == 201
    email = unique_email()
    p = assert_problem(invite(srv, t, aid, email), 409, "conflict")
    assert p["detail"] == "plan limit reached"
    assert srv.email.sent_to(email) == []
    assert srv.sql("hiring", "SELECT COUNT(*) FROM invitations WHERE tenant = ?", (t,)) == [(5,)]
    # another tenant has its own allowance
    u = new_tenant()
    assert invite(srv, u, create(srv, u)).status == 201


def test_CONC2_concurrent_invitations_at_the_limit_admit_exactly_the_remainder(srv):
    t = new_tenant()
    aid = create(srv, t)
    for _ in range(2):
        assert invite(srv, t, aid).status == 201
    barrier = threading.Barrier(10)

    def go(_):
        barrier.wait()
        return invite(srv, t, aid).status
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        got = sorted(pool.map(go, range(10)))
    assert got == [201] * 3 + [409] * 7, got
    assert srv.sql("hiring", "SELECT COUNT(*) FROM invitations WHERE tenant = ?", (t,)) == [(5,)]


def test_CONC2_a_pro_subscription_allows_100_invitations(srv):
    t = new_tenant()
    subscribe(srv, t)
    aid = create(srv, t)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: invite(srv, t, aid).status, range(100)))
    assert got == [201] * 100
    p = assert_problem(invite(srv, t, aid), 409)
    assert p["detail"] == "plan limit reached"
    # what gives no plan: a canceled subscription, an unmapped price, a period that ended
    for kw in ({"status": "canceled"}, {"price": "price_unknown"},
               {"period_end_ms": int(time.time() - 60) * 1000}):
        u = new_tenant()
        subscribe(srv, u, **kw)
        bid = create(srv, u)
        assert [invite(srv, u, bid).status for _ in range(6)] == [201] * 5 + [409], kw


def test_CONC2_a_failed_insert_gives_the_use_back(srv):
    t = new_tenant()
    aid = create(srv, t)
    for _ in range(4):
        assert invite(srv, t, aid).status == 201
    with failing_trigger(srv, "hiring", "invitations", "INSERT"):
        for _ in range(3):
            assert_problem(invite(srv, t, aid), 500, "internal")
    # the failures counted nothing: the fifth still fits, the sixth does not
    assert invite(srv, t, aid).status == 201
    assert_problem(invite(srv, t, aid), 409)


# --- the tenant's write limit (CONC2) ------------------------------------------------

def test_CONC2_tenant_writes_per_minute(email):
    s = serve(email, BASTION_VAR_tenant_writes_per_minute="3")
    try:
        # the windows are fixed minutes: start well inside one
        if time.time() % 60 > 45:
            time.sleep(61 - time.time() % 60)
        t, u = new_tenant(), new_tenant()
        r = s.post("/api/assessments", {"title": "x", "questions": QUESTIONS}, headers=admin(t))
        assert r.status == 201, r
        assert "ratelimit" in r.headers and "ratelimit-policy" in r.headers
        aid = r.json()["id"]
        assert invite(s, t, aid).status == 201
        # a refused write counts too: it reached the tenant's route
        assert_problem(s.post("/api/assessments", {"title": ""}, headers=admin(t)), 422)
        r = invite(s, t, aid)
        p = assert_problem(r, 429, "transient")
        assert int(r.headers["retry-after"]) <= 60
        assert_problem(s.post("/api/assessments", {"title": "x", "questions": QUESTIONS},
                              headers=admin(t)), 429)
        # reads are not writes, and another tenant has its own budget
        assert s.get("/api/assessments", headers=user(t)).status == 200
        assert s.post("/api/assessments", {"title": "x", "questions": QUESTIONS},
                      headers=admin(u)).status == 201
        assert s.sql("hiring", "SELECT COUNT(*) FROM invitations WHERE tenant = ?", (t,)) == [(1,)]
    finally:
        assert s.stop() == 0
