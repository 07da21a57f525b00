"""bookings over real HTTP (CONC1, VAL1, VAL2, DATA1-DATA3, DATA5, CONC4, AUTH1, REL4, OBS1, ERR1).

Every test books on its own future UTC day (fresh_day), so tests sharing the
bundle never collide. Concurrency and email-failure tests run on their own
server with a fresh state directory and their own fake email provider.
"""
import contextlib
import datetime
import itertools
import os
import re
import sqlite3
import threading
import time
import uuid

import pytest

from conftest import (BUILD, FakeEmail, Server, admin_headers, assert_problem, bearer,
                      failing_trigger, migrate, mint_jwt, user_headers)

MANIFEST = os.path.join(BUILD, "manifest.json")

# The contract's numbers, restated independently of bookings.c.
PRICES = {("standard", "basic"): 6000, ("standard", "extended"): 11000,
          ("premium", "basic"): 9000, ("premium", "extended"): 16000,
          ("premium", "deluxe"): 22000}
MINUTES = {"basic": 60, "extended": 120, "deluxe": 180}
GAP = datetime.timedelta(minutes=30)

_day = itertools.count()


def fresh_day():
    """A UTC date 40+ days ahead that no other call in this run returns."""
    today = datetime.datetime.now(datetime.timezone.utc).date()
    return (today + datetime.timedelta(days=40 + next(_day))).isoformat()


def at(day, hhmm, offset="Z"):
    return f"{day}T{hhmm}:00{offset}"


def z(day, hhmm):
    """The form responses use: UTC with milliseconds."""
    return f"{day}T{hhmm}:00.000Z"


def dt(day, hhmm):
    return datetime.datetime.fromisoformat(f"{day}T{hhmm}:00+00:00")


def hhmm(t):
    return t.strftime("%H:%M")


def customer(**kw):
    c = {"name": "Ann Example", "email": f"c{uuid.uuid4().hex[:10]}@example.com"}
    c.update(kw)
    return c


def body(start, tier="standard", package="basic", **kw):
    b = {"tier": tier, "package": package, "start": start, "customer": customer()}
    b.update(kw)
    return b


def book(srv, day, time_, tier="standard", package="basic", **kw):
    return srv.post("/api/bookings", body(at(day, time_), tier, package, **kw))


def set_status(srv, booking_id, status, headers=None):
    return srv.post(f"/api/admin/bookings/{booking_id}/status", {"status": status},
                    headers=admin_headers() if headers is None else headers)


def pointers(r, status=422):
    return [e["pointer"] for e in assert_problem(r, status, "validation")["errors"]]


def burst(srv, bodies, headers=None):
    """Sends all bodies at once (a barrier releases every thread together)."""
    barrier = threading.Barrier(len(bodies))
    out = [None] * len(bodies)

    def go(i):
        barrier.wait()
        out[i] = srv.post("/api/bookings", bodies[i], headers=headers)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def active_rows(srv, day):
    lo = int(dt(day, "00:00").timestamp() * 1000)
    return srv.sql("bookings", "SELECT start_ms, end_ms FROM bookings WHERE status IN "
                   "('pending', 'confirmed') AND start_ms >= ? AND start_ms < ?",
                   (lo, lo + 86400000))


@contextlib.contextmanager
def own_server(mode="accept", workers=8):
    """A server with a fresh state directory and its own fake email provider."""
    fake = FakeEmail()
    fake.mode = mode
    srv = Server(MANIFEST, env={"BASTION_VAR_email_api_base": fake.base}, workers=workers)
    srv.email = fake
    migrate(MANIFEST, srv.state)
    srv.start()
    try:
        yield srv
    finally:
        rc = srv.stop()
        fake.close()
        assert rc == 0


@pytest.fixture(scope="module")
def isolated():
    with own_server() as srv:
        yield srv


# --- creation, the catalogue and validation -------------------------------------------------

def test_VAL2_create_prices_every_catalogue_entry_server_side(bundle):
    for (tier, package), price in PRICES.items():
        day = fresh_day()
        r = book(bundle, day, "10:00", tier, package)
        assert r.status == 201, r
        end = hhmm(dt(day, "10:00") + datetime.timedelta(minutes=MINUTES[package]))
        b = r.json()
        assert uuid.UUID(b.pop("id")).version == 4
        assert b == {"tier": tier, "package": package, "start": z(day, "10:00"),
                     "end": z(day, end), "price_cents": price, "status": "pending"}
        # the client may send the price, if it is the catalogue's
        r = book(bundle, day, "15:00", tier, package, price_cents=price)
        assert r.status == 201 and r.json()["price_cents"] == price, r


def test_DATA2_offsets_are_normalised_to_utc_and_stored_as_epoch_ms(bundle):
    day = fresh_day()
    r = bundle.post("/api/bookings", body(at(day, "12:30", "+02:00")))
    assert r.status == 201, r
    b = r.json()
    assert (b["start"], b["end"]) == (z(day, "10:30"), z(day, "11:30"))
    row = bundle.sql("bookings", "SELECT start_ms, end_ms FROM bookings WHERE id = ?", (b["id"],))
    assert row == [(int(dt(day, "10:30").timestamp() * 1000),
                    int(dt(day, "11:30").timestamp() * 1000))]
    r = bundle.post("/api/bookings", body(at(day, "09:00", "-05:00")))  # 14:00Z
    assert r.status == 201 and r.json()["start"] == z(day, "14:00"), r


def test_VAL2_price_that_disagrees_with_the_catalogue_is_422(bundle):
    day = fresh_day()
    for wrong in (5999, 6001, 9000, 1):
        r = book(bundle, day, "10:00", price_cents=wrong)
        assert pointers(r) == ["/price_cents"]
        assert "6000" in r.json()["errors"][0]["detail"]
    for bad in (0, -6000, 60.5, "6000"):
        assert pointers(book(bundle, day, "10:00", price_cents=bad)) == ["/price_cents"]
    assert active_rows(bundle, day) == []


def test_VAL2_package_not_offered_for_the_tier_is_422(bundle):
    day = fresh_day()
    assert pointers(book(bundle, day, "10:00", "standard", "deluxe")) == ["/package"]
    assert pointers(book(bundle, day, "10:00", "standard", "deluxe", price_cents=22000)) == \
        ["/package"]
    assert pointers(book(bundle, day, "10:00", "gold", "basic")) == ["/tier"]
    assert pointers(book(bundle, day, "10:00", "standard", "Basic")) == ["/package"]
    assert active_rows(bundle, day) == []
    assert book(bundle, day, "10:00", "premium", "deluxe").status == 201


def test_VAL1_start_must_be_a_future_half_hour_within_opening_hours(bundle):
    day = fresh_day()
    yesterday = (datetime.datetime.now(datetime.timezone.utc).date()
                 - datetime.timedelta(days=1)).isoformat()
    bad = [
        (at(day, "09:15"), "basic"),                 # not on :00 / :30
        (f"{day}T10:00:30Z", "basic"),               # seconds
        (f"{day}T10:00:00.001Z", "basic"),           # milliseconds
        (at(day, "10:00", "+05:45"), "basic"),       # 04:15Z
        (at(day, "08:30"), "basic"),                 # before opening
        (at(day, "17:30"), "basic"),                 # would end 18:30
        (at(day, "16:30"), "extended"),              # would end 18:30
        (at(day, "15:30"), "deluxe"),                # would end 18:30
        (at(day, "18:00"), "basic"),                 # at closing
        (at(day, "23:30"), "basic"),
        (at(day, "00:00"), "basic"),
        (at(yesterday, "10:00"), "basic"),           # in the past
        (f"{day}T10:00:00", "basic"),                # no offset (DATA2)
        (f"{day} 10:00:00Z", "basic"),
        (f"{day}", "basic"),
        ("tomorrow", "basic"),
    ]
    for start, package in bad:
        r = bundle.post("/api/bookings", body(start, "premium", package))
        assert pointers(r) == ["/start"], (start, r)
    assert active_rows(bundle, day) == []
    # the edges themselves are fine: open at 09:00, end exactly at 18:00
    assert book(bundle, day, "09:00", "premium", "basic").status == 201
    assert book(bundle, day, "15:00", "premium", "deluxe").status == 201


def test_VAL1_customer_is_validated_with_nested_pointers(bundle):
    day = fresh_day()
    start = at(day, "10:00")
    cases = [
        ({"name": "Ann", "email": "not-an-email"}, ["/customer/email"]),
        ({"name": "Ann"}, ["/customer/email"]),
        ({"email": "a@example.com"}, ["/customer/name"]),
        ({"name": "", "email": "a@example.com"}, ["/customer/name"]),
        ({"name": "x" * 101, "email": "a@example.com"}, ["/customer/name"]),
        ({"name": "A\u0007nn", "email": "a@example.com"}, ["/customer/name"]),
        ({"name": "Ann", "email": "a@example.com", "phone": "555-1234"}, ["/customer/phone"]),
        ({"name": "Ann", "email": "a@example.com", "phone": 4155552671}, ["/customer/phone"]),
        ({"name": "Ann", "email": "a@example.com", "vip": True}, ["/customer/vip"]),
        ({"name": "Ann", "email": "a@example.com", "a/b~c": 1}, ["/customer/a~1b~0c"]),
        ({}, ["/customer/name", "/customer/email"]),
        ("Ann <a@example.com>", ["/customer"]),
        ([], ["/customer"]),
        (None, ["/customer"]),
    ]
    for c, expected in cases:
        b = {"tier": "standard", "package": "basic", "start": start, "customer": c}
        assert sorted(pointers(bundle.post("/api/bookings", b))) == sorted(expected), c
    b = {"tier": "standard", "package": "basic", "start": start}
    assert pointers(bundle.post("/api/bookings", b)) == ["/customer"]
    # a duplicate member is ambiguous
    raw = ('{"tier":"standard","package":"basic","start":"%s",'
           '"customer":{"name":"A","email":"a@example.com"},'
           '"customer":{"name":"B","email":"b@example.com"}}' % start)
    r = bundle.post("/api/bookings", raw, headers={"Content-Type": "application/json"})
    assert pointers(r) == ["/customer"]
    assert active_rows(bundle, day) == []
    # trimmed, email lower-cased, phone optional and stored when given (VAL3)
    c = {"name": "  Ann  ", "email": " Ann.X@Example.COM ", "phone": "+14155552671"}
    r = bundle.post("/api/bookings", body(start, customer=c))
    assert r.status == 201, r
    row = bundle.sql("bookings", "SELECT customer_name, customer_email, customer_phone "
                     "FROM bookings WHERE id = ?", (r.json()["id"],))
    assert row == [("Ann", "ann.x@example.com", "+14155552671")]


def test_VAL1_unknown_fields_rejected_at_both_levels_and_all_errors_reported(bundle):
    day = fresh_day()
    b = {"tier": "standard", "package": "deluxe", "start": at(day, "09:15"), "price_cents": 1,
         "extra": 1, "customer": {"name": "Ann", "email": "nope", "extra": 2}}
    r = bundle.post("/api/bookings", b)
    assert sorted(pointers(r)) == ["/customer/email", "/customer/extra", "/extra", "/package"]
    r = bundle.post("/api/bookings", {"tier": 1, "package": None, "start": 5,
                                      "customer": customer(), "status": "confirmed"})
    assert sorted(pointers(r)) == ["/package", "/start", "/status", "/tier"]


def test_ERR1_malformed_bodies_content_type_and_methods(bundle):
    h = {"Content-Type": "application/json"}
    assert_problem(bundle.post("/api/bookings", '{"tier": "standard",', headers=h), 400,
                   "validation")
    assert_problem(bundle.post("/api/bookings", "[]", headers=h), 400)
    assert_problem(bundle.post("/api/bookings", b'{"tier": "\xff"}', headers=h), 400)
    assert_problem(bundle.post("/api/bookings", "[" * 40 + "]" * 40, headers=h), 400)
    assert pointers(bundle.post("/api/bookings", '{"tier": "a\\u0000b"}', headers=h)) == ["/tier"]
    assert_problem(bundle.post("/api/bookings", '{}', headers={"Content-Type": "text/plain"}),
                   415)
    assert_problem(bundle.post("/api/bookings", '{"x": "' + "y" * 9000 + '"}', headers=h), 413)
    r = bundle.get("/api/bookings")
    assert_problem(r, 405)
    assert r.headers["allow"] == "POST"
    assert_problem(bundle.post("/api/availability", {}), 405)
    assert_problem(bundle.get("/api/admin/bookings/x/status", headers=admin_headers()), 405)


# --- CONC1: no overlap under concurrency, gap included --------------------------------------

def test_CONC1_50_concurrent_creates_for_the_same_start_give_one_201(isolated):
    day = fresh_day()
    bodies = [body(at(day, "10:00")) for _ in range(50)]
    rs = burst(isolated, bodies)
    assert sorted(r.status for r in rs) == [201] + [409] * 49, [r.status for r in rs]
    for r in rs:
        if r.status == 409:
            assert_problem(r, 409, "conflict")
    assert len(active_rows(isolated, day)) == 1


def test_CONC1_50_concurrent_creates_for_overlapping_starts_give_one_201(isolated):
    day = fresh_day()
    # extended = 120 min + 30 min gap: any two of these starts clash
    starts = ["10:00", "10:30", "11:00", "11:30", "12:00"]
    bodies = [body(at(day, starts[i % len(starts)]), "premium", "extended") for i in range(50)]
    rs = burst(isolated, bodies)
    assert sorted(r.status for r in rs) == [201] + [409] * 49, [r.status for r in rs]
    assert len(active_rows(isolated, day)) == 1


def test_CONC1_concurrent_creates_at_the_gap_boundary(isolated):
    """Around a booked 12:00-13:00, a start at 13:00 (its end) always clashes
    and one at 13:30 (end + gap) never does, whichever request wins."""
    day = fresh_day()
    assert book(isolated, day, "12:00").status == 201
    # separate bursts: 13:00 and 13:30 also clash with each other
    assert [r.status for r in burst(isolated, [body(at(day, "13:00"))] * 25)] == [409] * 25
    # before it: 11:00-12:00 would need cleaning until 12:30; 10:30-11:30 is clean at 12:00
    assert [r.status for r in burst(isolated, [body(at(day, "11:00"))] * 25)] == [409] * 25
    rs = burst(isolated, [body(at(day, "13:30"))] * 25)
    assert sorted(r.status for r in rs) == [201] + [409] * 24
    rs = burst(isolated, [body(at(day, "10:30"))] * 25)
    assert sorted(r.status for r in rs) == [201] + [409] * 24
    rows = sorted(active_rows(isolated, day))
    assert [hhmm(datetime.datetime.fromtimestamp(s / 1000, datetime.timezone.utc))
            for s, _ in rows] == ["10:30", "12:00", "13:30"]


def test_CONC1_cleaning_gap_after_and_before_a_booking(bundle):
    day = fresh_day()
    assert book(bundle, day, "10:00").status == 201           # 10:00-11:00, clean until 11:30
    assert_problem(book(bundle, day, "11:00"), 409, "conflict")  # starts at its end
    assert_problem(book(bundle, day, "10:30"), 409)
    assert_problem(book(bundle, day, "09:00"), 409)           # ends 10:00, its gap runs to 10:30
    assert book(bundle, day, "11:30").status == 201           # end + 30 min
    # before a booking: 14:00-15:00 exists; a 12:00-13:00 booking's gap ends 13:30
    assert book(bundle, day, "14:00").status == 201
    assert_problem(book(bundle, day, "13:00"), 409)           # would end 14:00, gap to 14:30
    assert_problem(book(bundle, day, "12:30", package="extended"), 409)  # ends 14:30
    assert book(bundle, day, "16:00", package="extended").status == 201  # 15:30 + 30 min
    assert len(active_rows(bundle, day)) == 4


def expected_slots(day, package, booked):
    """Starts a booking of `package` could take on `day`, computed here from the
    contract alone: half hours, 09:00-18:00, 30 minutes clean after each."""
    out = []
    dur = datetime.timedelta(minutes=MINUTES[package])
    t = dt(day, "09:00")
    while t + dur <= dt(day, "18:00"):
        if all(not (t < e + GAP and s < t + dur + GAP) for s, e in booked):
            out.append({"start": z(day, hhmm(t)), "end": z(day, hhmm(t + dur))})
        t += datetime.timedelta(minutes=30)
    return out


def availability(srv, day, tier, package):
    return srv.get(f"/api/availability?date={day}&tier={tier}&package={package}")


def test_CONC1_availability_lists_exactly_the_starts_creation_accepts(bundle):
    day = fresh_day()
    r = availability(bundle, day, "standard", "basic")
    assert r.status == 200 and r.json() == {"date": day, "slots":
                                            expected_slots(day, "basic", [])}, r
    assert len(r.json()["slots"]) == 17   # 09:00 … 17:00
    assert book(bundle, day, "10:00", "standard", "basic").status == 201
    assert book(bundle, day, "13:30", "premium", "extended").status == 201
    booked = [(dt(day, "10:00"), dt(day, "11:00")), (dt(day, "13:30"), dt(day, "15:30"))]
    for tier, package in PRICES:
        r = availability(bundle, day, tier, package)
        assert r.status == 200, r
        assert r.json() == {"date": day, "slots": expected_slots(day, package, booked)}, \
            (tier, package)

    slots = availability(bundle, day, "standard", "basic").json()["slots"]
    listed = {s["start"] for s in slots}
    assert listed == {z(day, t) for t in ("11:30", "12:00", "16:00", "16:30", "17:00")}
    # every listed slot can be booked (then freed again for the next one)
    for s in slots:
        r = bundle.post("/api/bookings", body(s["start"]))
        assert r.status == 201, (s, r)
        assert r.json()["end"] == s["end"]
        assert set_status(bundle, r.json()["id"], "cancelled").status == 200
    # every other half hour of the day is refused: 409 inside hours, 422 outside
    t = dt(day, "00:00")
    while t < dt(day, "23:59"):
        start = z(day, hhmm(t))
        if start not in listed:
            r = bundle.post("/api/bookings", body(start))
            inside = dt(day, "09:00") <= t and t + datetime.timedelta(hours=1) <= dt(day, "18:00")
            assert_problem(r, 409 if inside else 422)
        t += datetime.timedelta(minutes=30)
    assert len(active_rows(bundle, day)) == 2


def test_CONC1_availability_never_lists_the_past(bundle):
    today = datetime.datetime.now(datetime.timezone.utc)
    yesterday = (today.date() - datetime.timedelta(days=1)).isoformat()
    r = availability(bundle, yesterday, "standard", "basic")
    assert r.status == 200 and r.json() == {"date": yesterday, "slots": []}
    r = availability(bundle, today.date().isoformat(), "premium", "basic")
    assert r.status == 200
    for s in r.json()["slots"]:
        assert datetime.datetime.fromisoformat(s["start"].replace("Z", "+00:00")) > today


def test_VAL1_availability_query_is_validated_with_422(bundle):
    day = fresh_day()
    assert pointers(bundle.get("/api/availability")) == ["/date", "/tier", "/package"]
    assert pointers(bundle.get(f"/api/availability?date={day}&tier=standard")) == ["/package"]
    assert pointers(bundle.get("/api/availability?date=2030-02-30&tier=standard&package=basic")) \
        == ["/date"]
    assert pointers(bundle.get(f"/api/availability?date={day}T10:00:00Z&tier=standard"
                               f"&package=basic")) == ["/date"]
    assert pointers(availability(bundle, day, "gold", "basic")) == ["/tier"]
    assert pointers(availability(bundle, day, "standard", "deluxe")) == ["/package"]
    # parameters the endpoint does not know are ignored (cache busters)
    r = bundle.get(f"/api/availability?date={day}&tier=premium&package=deluxe&_=1")
    assert r.status == 200 and len(r.json()["slots"]) == 13   # 09:00 … 15:00


# --- DATA1: every booking path searches an index, however many bookings there are -----------

@pytest.mark.sqlite_only
def test_DATA1_booking_paths_search_the_status_start_index_never_scan(bundle):
    """Creation's overlap check, availability and the unavailable list each read the active
    bookings of a time range: SQLite's plan for each (EXPLAIN QUERY PLAN, recorded by the
    host) must be an index search, so their cost stays flat as bookings accumulate."""
    day = fresh_day()
    assert book(bundle, day, "10:00").status == 201
    assert availability(bundle, day, "standard", "basic").status == 200
    assert bundle.get(f"/api/bookings/unavailable?from={day}&to={day}").status == 200
    plans = bundle.plans("bookings")
    ranged = {sql: plan for sql, plan in plans.items() if "start_ms <" in sql}
    assert any(sql.startswith("INSERT") for sql in ranged), plans  # creation
    assert any(sql.startswith("SELECT") for sql in ranged), plans  # the reads
    for sql, plan in ranged.items():
        assert not any(re.match(r"SCAN bookings\b", d) for d in plan), (sql, plan)
        assert any("SEARCH bookings USING INDEX bookings_status_start" in d for d in plan), \
            (sql, plan)


# --- DATA3: the public list of unavailable intervals ----------------------------------------

def test_DATA3_unavailable_lists_intervals_with_the_gap_and_no_customer_data(bundle):
    day = fresh_day()
    c = customer(name="Zelda Secret", phone="+14155550199")
    r = bundle.post("/api/bookings", body(at(day, "10:00"), customer=c))
    assert r.status == 201
    assert book(bundle, day, "14:00", "premium", "deluxe").status == 201
    cancelled = book(bundle, day, "12:00").json()["id"]
    assert set_status(bundle, cancelled, "cancelled").status == 200
    r = bundle.get(f"/api/bookings/unavailable?from={day}&to={day}")
    assert r.status == 200, r
    assert r.json() == {"intervals": [
        {"start": z(day, "10:00"), "end": z(day, "11:30")},
        {"start": z(day, "14:00"), "end": z(day, "17:30")},
    ]}
    for secret in (c["name"], c["email"], c["phone"], "premium", "deluxe", "pending"):
        assert secret.encode() not in r.body
    # RFC 3339 bounds with offsets; an interval is listed when it touches [from, to)
    r = bundle.get(f"/api/bookings/unavailable?from={day}T13:15:00%2B02:00"
                   f"&to={day}T16:00:00Z")   # 11:15Z .. 16:00Z
    assert r.json()["intervals"] == [{"start": z(day, "10:00"), "end": z(day, "11:30")},
                                     {"start": z(day, "14:00"), "end": z(day, "17:30")}]
    r = bundle.get(f"/api/bookings/unavailable?from={day}T11:30:00Z&to={day}T14:00:00Z")
    assert r.json()["intervals"] == []


def test_DATA3_unavailable_range_is_validated_and_capped_at_31_days(bundle):
    d = datetime.date.fromisoformat(fresh_day())
    ok = bundle.get(f"/api/bookings/unavailable?from={d}&to={d + datetime.timedelta(days=30)}")
    assert ok.status == 200, ok                                      # 31 days inclusive
    r = bundle.get(f"/api/bookings/unavailable?from={d}&to={d + datetime.timedelta(days=31)}")
    assert pointers(r) == ["/to"]
    r = bundle.get(f"/api/bookings/unavailable?from={d}T00:00:00Z"
                   f"&to={d + datetime.timedelta(days=31)}T00:00:00Z")
    assert r.status == 200
    r = bundle.get(f"/api/bookings/unavailable?from={d}T00:00:00Z"
                   f"&to={d + datetime.timedelta(days=31)}T00:00:00.001Z")
    assert pointers(r) == ["/to"]
    assert pointers(bundle.get(f"/api/bookings/unavailable?from={d}T10:00:00Z"
                               f"&to={d}T10:00:00Z")) == ["/to"]
    assert pointers(bundle.get(f"/api/bookings/unavailable?from={d}"
                               f"&to={d - datetime.timedelta(days=1)}")) == ["/to"]
    assert pointers(bundle.get("/api/bookings/unavailable")) == ["/from", "/to"]
    assert pointers(bundle.get(f"/api/bookings/unavailable?from={d}")) == ["/to"]
    assert pointers(bundle.get(f"/api/bookings/unavailable?from={d}T10:00:00&to={d}")) == \
        ["/from"]
    assert pointers(bundle.get(f"/api/bookings/unavailable?from=yesterday&to={d}")) == ["/from"]


# --- DATA5: status transitions (admin) --------------------------------------------------------

def test_DATA5_transitions_follow_the_allowed_graph(bundle):
    day = fresh_day()

    def new(t):
        r = book(bundle, day, t)
        assert r.status == 201
        return r.json()["id"]

    def status_of(i):
        return bundle.sql("bookings", "SELECT status FROM bookings WHERE id = ?", (i,))[0][0]

    a = new("09:00")
    assert_problem(set_status(bundle, a, "completed"), 409, "conflict")   # skips confirmed
    assert_problem(set_status(bundle, a, "pending"), 409)
    r = set_status(bundle, a, "confirmed")
    assert r.status == 200, r
    assert r.json()["status"] == "confirmed" and r.json()["id"] == a
    assert r.json()["start"] == z(day, "09:00") and r.json()["email_sent"] is True
    assert_problem(set_status(bundle, a, "confirmed"), 409)
    assert_problem(set_status(bundle, a, "pending"), 409)
    assert set_status(bundle, a, "completed").json()["status"] == "completed"
    for s in ("pending", "confirmed", "cancelled", "completed"):
        assert_problem(set_status(bundle, a, s), 409)
    assert status_of(a) == "completed"

    b = new("11:00")
    assert set_status(bundle, b, "cancelled").json()["status"] == "cancelled"  # from pending
    for s in ("pending", "confirmed", "completed", "cancelled"):
        assert_problem(set_status(bundle, b, s), 409)
    c = new("13:00")
    assert set_status(bundle, c, "confirmed").status == 200
    assert set_status(bundle, c, "cancelled").status == 200                    # from confirmed
    assert status_of(b) == status_of(c) == "cancelled"
    # a cancelled booking frees its slot
    assert book(bundle, day, "13:00").status == 201


def test_DATA5_unknown_or_malformed_id_is_404_and_bad_status_422(bundle):
    assert_problem(set_status(bundle, str(uuid.uuid4()), "confirmed"), 404)
    assert_problem(set_status(bundle, "not-a-uuid", "confirmed"), 404)
    assert_problem(set_status(bundle, "1", "cancelled"), 404)
    day = fresh_day()
    i = book(bundle, day, "10:00").json()["id"]
    assert set_status(bundle, i.upper(), "confirmed").status == 200   # UUIDs are case-blind
    r = bundle.post(f"/api/admin/bookings/{i}/status", {"status": "done"},
                    headers=admin_headers())
    assert pointers(r) == ["/status"]
    r = bundle.post(f"/api/admin/bookings/{i}/status", {"status": "completed", "why": "x"},
                    headers=admin_headers())
    assert pointers(r) == ["/why"]
    assert pointers(bundle.post(f"/api/admin/bookings/{i}/status", {},
                                headers=admin_headers())) == ["/status"]


@pytest.mark.sqlite_only
def test_DATA1_schema_enforces_enums_prices_and_indexes_the_scan(bundle):
    good = ("00000000-0000-4000-8000-000000000000", "standard", "basic", 1800000000000,
            1800003600000, 6000, "pending", "Ann", "a@example.com", None, 0, 1, 1)
    insert = ("INSERT INTO bookings (id, tier, package, start_ms, end_ms, price_cents, status, "
              "customer_name, customer_email, customer_phone, email_sent, created_at, "
              "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    bundle.sql("bookings", insert, good)   # valid (and never committed)
    for i, bad in [(1, "gold"), (2, "mini"), (5, 0), (5, 100001), (6, "done"), (10, 2),
                   (3, 1800000060000), (4, 1800000000000), (7, None), (8, None)]:
        row = list(good)
        row[i] = bad
        with pytest.raises(sqlite3.IntegrityError):
            bundle.sql("bookings", insert, row)
    with pytest.raises(sqlite3.IntegrityError):   # deluxe is premium only
        bundle.sql("bookings", insert, list(good[:2]) + ["deluxe", good[3], good[3] + 10800000]
                   + list(good[5:]))
    plan = bundle.sql("bookings", "EXPLAIN QUERY PLAN SELECT start_ms, end_ms FROM bookings "
                      "WHERE status IN ('pending', 'confirmed') AND end_ms > 1 AND "
                      "start_ms < 3 AND start_ms > 0")
    assert any("bookings_status_start" in str(p) for p in plan), plan


# --- AUTH1: admin token before the body ---------------------------------------------------------

def test_AUTH1_admin_status_requires_an_admin_token_before_the_body(bundle):
    day = fresh_day()
    i = book(bundle, day, "10:00").json()["id"]
    path = f"/api/admin/bookings/{i}/status"
    ok = {"status": "confirmed"}
    assert_problem(bundle.post(path, ok), 401, "auth")
    assert_problem(bundle.post(path, ok, headers=user_headers()), 403, "auth")
    expired = mint_jwt(role="admin", iat=int(time.time()) - 600, exp=int(time.time()) - 120)
    assert_problem(bundle.post(path, ok, headers=bearer(expired)), 401)
    forged = mint_jwt(role="admin", secret="another-secret-0123456789abcdef0123456789")
    assert_problem(bundle.post(path, ok, headers=bearer(forged)), 401)
    assert_problem(bundle.post(path, ok, headers={"Authorization": "Basic YWRtaW46YWRtaW4="}),
                   401)
    # the body is never looked at first: garbage still gets the auth answer
    garbage = {"Content-Type": "text/plain"}
    assert_problem(bundle.post(path, "{{{", headers=garbage), 401)
    assert_problem(bundle.post(path, "{{{", headers=dict(garbage, **user_headers())), 403)
    assert_problem(bundle.post("/api/admin/bookings/nope/status", "{{{", headers=garbage), 401)
    assert bundle.sql("bookings", "SELECT status FROM bookings WHERE id = ?", (i,)) == \
        [("pending",)]
    assert set_status(bundle, i, "confirmed").status == 200


# --- REL4: the confirmation email ----------------------------------------------------------------

def test_REL4_confirmation_email_is_sent_and_tracked(bundle):
    day = fresh_day()
    c = customer()
    r = bundle.post("/api/bookings", body(at(day, "10:00"), "premium", "extended", customer=c))
    assert r.status == 201, r
    i = r.json()["id"]
    mails = bundle.email.sent_to(c["email"])
    assert len(mails) == 1
    assert i in mails[0]["text"] and z(day, "10:00") in mails[0]["text"]
    assert "160.00" in mails[0]["text"]
    assert bundle.sql("bookings", "SELECT email_sent, email_error FROM bookings WHERE id = ?",
                      (i,)) == [(1, None)]
    assert bundle.sql("bookings", "SELECT COUNT(*) FROM email_failures WHERE recipient = ?",
                      (c["email"],)) == [(0,)]


def test_REL4_provider_down_still_books_and_keeps_the_email_in_the_outbox():
    with own_server("fail") as srv:
        day = fresh_day()
        emails = []
        for t in ("09:00", "10:30", "12:00", "13:30", "15:00", "16:30"):
            c = customer(phone="+14155550123")
            emails.append(c["email"])
            t0 = time.monotonic()
            r = srv.post("/api/bookings", body(at(day, t), customer=c))
            assert r.status == 201, r
            assert time.monotonic() - t0 < 10
        rows = srv.sql("bookings", "SELECT customer_email, email_sent, email_error FROM bookings")
        assert sorted(r[0] for r in rows) == sorted(emails)
        assert all(r[1] == 0 and r[2] for r in rows), rows
        outbox = srv.sql("bookings", "SELECT recipient, kind, status, attempts, error "
                         "FROM email_failures")
        assert sorted(o[0] for o in outbox) == sorted(emails)
        for _, kind, status, attempts, error in outbox:
            assert (kind, status, attempts) == ("booking-confirmation", "pending", 1)
            assert error
        # the first five reached the provider; then the breaker (REL3) failed fast
        assert len(srv.email.received) == 5
        assert any("circuit open" in o[4] for o in outbox)
        # OBS1: no address or phone in any log line
        logs = srv.logs()
        for e in emails:
            assert e not in logs
        assert "4155550123" not in logs


def test_REL4_provider_hanging_answers_within_the_deadline_and_CONC4_in_flight_is_409():
    with own_server("hang") as srv:
        day = fresh_day()
        b = body(at(day, "10:00"))
        key = {"Idempotency-Key": '"' + str(uuid.uuid4()) + '"'}
        first = {}

        def go():
            t0 = time.monotonic()
            first["r"] = srv.post("/api/bookings", b, headers=key)
            first["s"] = time.monotonic() - t0
        t = threading.Thread(target=go)
        t.start()
        time.sleep(1.5)
        # the same key while the first still waits on the provider
        r = srv.post("/api/bookings", b, headers=key)
        assert_problem(r, 409, "transient")
        t.join()
        assert first["r"].status == 201, first["r"]
        assert first["s"] < 10.5, first["s"]          # the route's deadline is 10 s
        i = first["r"].json()["id"]
        assert srv.sql("bookings", "SELECT email_sent FROM bookings WHERE id = ?", (i,)) == [(0,)]
        outbox = srv.sql("bookings", "SELECT recipient, error FROM email_failures")
        assert outbox == [(b["customer"]["email"], "email provider timed out")]
        # once finished, the key replays the 201
        r = srv.post("/api/bookings", b, headers=key)
        assert r.status == 201 and r.json() == first["r"].json()
        assert r.headers.get("idempotent-replayed") == "true"


def test_OBS1_logs_never_contain_the_customer_email_or_phone(bundle):
    day = fresh_day()
    c = customer(phone="+14155550188")
    assert bundle.post("/api/bookings", body(at(day, "10:00"), customer=c)).status == 201
    assert bundle.post("/api/bookings", body(at(day, "10:00"), customer=c)).status == 409
    logs = bundle.logs()
    assert c["email"] not in logs and "4155550188" not in logs


# --- CONC4: Idempotency-Key ------------------------------------------------------------------------

def test_CONC4_idempotency_key_replays_and_rejects_another_payload(bundle):
    day = fresh_day()
    b = body(at(day, "10:00"))
    key = {"Idempotency-Key": str(uuid.uuid4())}
    r1 = bundle.post("/api/bookings", b, headers=key)
    assert r1.status == 201, r1
    r2 = bundle.post("/api/bookings", b, headers=key)
    assert r2.status == 201 and r2.json() == r1.json()
    assert r2.headers.get("idempotent-replayed") == "true"
    assert len(active_rows(bundle, day)) == 1
    assert len(bundle.email.sent_to(b["customer"]["email"])) == 1   # no second email
    other = dict(b, start=at(day, "14:00"))
    assert_problem(bundle.post("/api/bookings", other, headers=key), 422)
    assert len(active_rows(bundle, day)) == 1
    # without a key the same body is simply a second attempt: the slot is taken
    assert_problem(bundle.post("/api/bookings", b), 409)
    # a final error is replayed too, and a malformed key is 400
    key2 = {"Idempotency-Key": str(uuid.uuid4())}
    assert bundle.post("/api/bookings", b, headers=key2).status == 409
    r = bundle.post("/api/bookings", b, headers=key2)
    assert_problem(r, 409)
    assert r.headers.get("idempotent-replayed") == "true"
    assert_problem(bundle.post("/api/bookings", b, headers={"Idempotency-Key": '"a'}), 400)


def test_CONC4_concurrent_requests_with_one_key_book_once(isolated):
    day = fresh_day()
    b = body(at(day, "15:00"))
    key = {"Idempotency-Key": str(uuid.uuid4())}
    rs = burst(isolated, [b] * 20, headers=key)
    statuses = [r.status for r in rs]
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}, statuses
    ids = {r.json()["id"] for r in rs if r.status == 201}
    assert len(ids) == 1
    assert len(active_rows(isolated, day)) == 1


# --- guard ≠ constraint: a lost guard is 409, a constraint failure is 500 ------------------

def test_CONC1_constraint_failure_on_the_guarded_insert_is_500_not_409(bundle):
    day = fresh_day()
    with failing_trigger(bundle, "bookings", "bookings", "INSERT"):
        assert_problem(book(bundle, day, "10:00"), 500, "internal")
    assert active_rows(bundle, day) == []
    assert book(bundle, day, "10:00").status == 201
    assert_problem(book(bundle, day, "10:00"), 409, "conflict")  # the guard, for contrast


def test_DATA5_constraint_failure_on_a_guarded_transition_is_500_not_409(bundle):
    day = fresh_day()
    r = book(bundle, day, "14:00")
    assert r.status == 201
    bid = r.json()["id"]
    with failing_trigger(bundle, "bookings", "bookings", "UPDATE"):
        assert_problem(set_status(bundle, bid, "confirmed"), 500, "internal")
    assert bundle.sql("bookings", "SELECT status FROM bookings WHERE id = ?", (bid,)) == [("pending",)]
    assert_problem(set_status(bundle, bid, "completed"), 409, "conflict")  # the guard
