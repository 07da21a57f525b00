"""Binding tests: kv and sql through the real ABI (probe fixture), one
conformance suite run unchanged on every backend: SQLite, and kv on Redis
with sql on PostgreSQL (issue #9)."""
import os
import tempfile
import threading
import time
import uuid

import pytest

from conftest import (BACKENDS, BUILD, SQLITE, Server, assert_problem, redis_command,
                      runtime_config)


@pytest.fixture(scope="module", params=BACKENDS)
def fixtures(request):
    """The host-test fixture bundle on one backend."""
    manifest = os.path.join(BUILD, "test", "manifest.json")
    state = tempfile.mkdtemp(prefix="bastion-test-")
    srv = Server(manifest, workers=4, state=state,
                 runtime_config=runtime_config(request.param, state))
    srv.backend = request.param
    srv.migrate()
    srv.start()
    yield srv
    assert srv.stop() == 0


def kv(srv, **body):
    r = srv.post("/kv", body)
    assert r.status == 200, r
    return r.json()


def sql(srv, **body):
    r = srv.post("/sql", body)
    assert r.status == 200, r
    return r.json()


def key():
    return "k-" + uuid.uuid4().hex


def test_kv_get_missing_is_not_an_error(fixtures):
    assert kv(fixtures, op="get", key=key()) == {"ok": None}


def test_kv_set_get_delete(fixtures):
    k = key()
    assert kv(fixtures, op="set", key=k, value="v1") == {"ok": None}
    assert kv(fixtures, op="get", key=k) == {"ok": "v1"}
    assert kv(fixtures, op="delete", key=k) == {"ok": True}
    assert kv(fixtures, op="delete", key=k) == {"ok": False}
    assert kv(fixtures, op="get", key=k) == {"ok": None}


def test_kv_stores_are_separate_namespaces(fixtures):
    k = key()
    kv(fixtures, op="set", key=k, value="a")
    assert kv(fixtures, op="get", key=k, store="other") == {"ok": None}


def test_kv_ttl_expiry(fixtures):
    k = key()
    kv(fixtures, op="set", key=k, value="v", ttl_ms=300)
    assert kv(fixtures, op="get", key=k) == {"ok": "v"}
    time.sleep(0.45)
    assert kv(fixtures, op="get", key=k) == {"ok": None}
    # an expired key counts as absent for add, increment and swap
    assert kv(fixtures, op="add", key=k, value="again") == {"ok": True}


@pytest.mark.parametrize("ttl_ms", [2 ** 63 - 1024, -1])  # -1: the probe passes 2^64 - 1
def test_kv_huge_ttl_is_a_long_life_not_an_instant_expiry(fixtures, ttl_ms):
    """A TTL beyond any clock (up to the WIT's u64 maximum) keeps the key, on
    every backend alike: SQLite's now + ttl must not wrap into the past."""
    k = key()
    assert kv(fixtures, op="set", key=k, value="v", ttl_ms=ttl_ms) == {"ok": None}
    assert kv(fixtures, op="get", key=k) == {"ok": "v"}
    k = key()
    assert kv(fixtures, op="add", key=k, value="v", ttl_ms=ttl_ms) == {"ok": True}
    assert kv(fixtures, op="add", key=k, value="w", ttl_ms=ttl_ms) == {"ok": False}
    k = key()
    assert kv(fixtures, op="increment", key=k, delta=1, ttl_ms=ttl_ms) == {"ok": 1}
    assert kv(fixtures, op="increment", key=k, delta=1) == {"ok": 2}


def test_kv_add_is_set_if_absent(fixtures):
    k = key()
    assert kv(fixtures, op="add", key=k, value="first") == {"ok": True}
    assert kv(fixtures, op="add", key=k, value="second") == {"ok": False}
    assert kv(fixtures, op="get", key=k) == {"ok": "first"}


def test_CONC3_add_exactly_one_winner_under_8_concurrent(fixtures):
    for _ in range(5):
        k = key()
        wins = []
        barrier = threading.Barrier(8)

        def go(i):
            barrier.wait()
            wins.append(kv(fixtures, op="add", key=k, value=str(i))["ok"])
        ts = [threading.Thread(target=go, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert sorted(wins) == [False] * 7 + [True]


def test_CONC2_increment_exact_under_8_concurrent_writers(fixtures):
    k = key()
    errors = []

    def writer():
        for _ in range(1000):
            r = kv(fixtures, op="increment", key=k, delta=1)
            if "ok" not in r:
                errors.append(r)
    ts = [threading.Thread(target=writer) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    assert kv(fixtures, op="get", key=k) == {"ok": "8000"}


def test_CONC2_increment_ttl_set_on_create_only(fixtures):
    k = key()
    assert kv(fixtures, op="increment", key=k, delta=5, ttl_ms=400) == {"ok": 5}
    time.sleep(0.2)
    # a later increment with a long TTL must not extend the window
    assert kv(fixtures, op="increment", key=k, delta=1, ttl_ms=60000) == {"ok": 6}
    time.sleep(0.35)
    assert kv(fixtures, op="increment", key=k, delta=1, ttl_ms=60000) == {"ok": 1}


def test_kv_increment_of_non_integer_is_invalid(fixtures):
    k = key()
    kv(fixtures, op="set", key=k, value="abc")
    assert kv(fixtures, op="increment", key=k, delta=1)["error"] == "invalid"


def test_kv_swap(fixtures):
    k = key()
    # absent expected: only when the key does not exist
    assert kv(fixtures, op="swap", key=k, value="a") == {"ok": True}
    assert kv(fixtures, op="swap", key=k, value="b") == {"ok": False}
    assert kv(fixtures, op="swap", key=k, expected="zzz", value="b") == {"ok": False}
    assert kv(fixtures, op="swap", key=k, expected="a", value="b") == {"ok": True}
    assert kv(fixtures, op="get", key=k) == {"ok": "b"}


def test_kv_swap_exactly_one_winner_under_concurrency(fixtures):
    k = key()
    kv(fixtures, op="set", key=k, value="v0")
    wins = []
    barrier = threading.Barrier(8)

    def go(i):
        barrier.wait()
        wins.append(kv(fixtures, op="swap", key=k, expected="v0", value=f"v{i + 1}")["ok"])
    ts = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert wins.count(True) == 1


def test_kv_store_not_granted_is_denied(fixtures):
    r = kv(fixtures, op="get", key="x", store="secrets")
    assert r["error"] == "denied"


def test_sql_query_with_params(fixtures):
    t = "t_" + uuid.uuid4().hex[:8]
    sql(fixtures, op="query", sql=f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT, score REAL)", params=[])
    r = sql(fixtures, op="query", sql=f"INSERT INTO {t} (id, name, score) VALUES (1, $1, $2) RETURNING id",
            params=["ann", 1.5])
    assert r["ok"]["changes"] == 1 and r["ok"]["rows"] == [[1]]
    # parameters bind by number, whatever their order of appearance
    r = sql(fixtures, op="query", sql=f"SELECT name, score, $2 AS two FROM {t} WHERE name = $1",
            params=["ann", 2])
    assert r["ok"] == {"columns": ["name", "score", "two"], "rows": [["ann", 1.5, 2]], "changes": 0}
    # no interpolation: a hostile value is just a value (VAL3)
    r = sql(fixtures, op="query", sql=f"SELECT COUNT(*) FROM {t} WHERE name = $1",
            params=["x' OR '1'='1"])
    assert r["ok"]["rows"] == [[0]]


def test_sql_errors_are_classified(fixtures):
    assert sql(fixtures, op="query", sql="SELEC nonsense", params=[])["error"] == "invalid"
    assert sql(fixtures, op="query", sql="SELECT 1; SELECT 2", params=[])["error"] == "invalid"
    assert sql(fixtures, op="query", sql="SELECT $1", params=[])["error"] == "invalid"
    assert sql(fixtures, op="query", sql="SELECT 1", params=[], db="nope")["error"] == "denied"


def test_sql_statements_kept_between_calls_answer_as_new_ones(fixtures):
    """The SQLite backend keeps prepared statements per connection (sqlite.h
    STMT_CACHE): none may answer with an old schema's columns or an earlier
    call's values, and more statements than it keeps still answer right."""
    t = "t_" + uuid.uuid4().hex[:8]
    sql(fixtures, op="query", sql=f"CREATE TABLE {t} (a INTEGER)", params=[])
    sql(fixtures, op="query", sql=f"INSERT INTO {t} (a) VALUES (1)", params=[])
    for _ in range(12):  # every worker's connection prepares it
        assert sql(fixtures, op="query", sql=f"SELECT * FROM {t}", params=[])["ok"]["columns"] == ["a"]
    sql(fixtures, op="query", sql=f"ALTER TABLE {t} ADD COLUMN b TEXT DEFAULT 'x'", params=[])
    for _ in range(12):
        r = sql(fixtures, op="query", sql=f"SELECT * FROM {t}", params=[])["ok"]
        assert (r["columns"], r["rows"]) == (["a", "b"], [[1, "x"]]), r
    assert sql(fixtures, op="query", sql="SELECT $1 AS v", params=[5])["ok"]["rows"] == [[5]]
    for _ in range(8):  # a kept statement's earlier value is not a value
        assert sql(fixtures, op="query", sql="SELECT $1 AS v", params=[])["error"] == "invalid"
    for round_ in range(2):  # 48 distinct statements: more than a connection keeps
        for k in range(48):
            r = sql(fixtures, op="query", sql=f"SELECT $1 + {k} AS v", params=[round_ * 1000])
            assert r["ok"]["rows"] == [[round_ * 1000 + k]], (round_, k, r)


def test_sql_transaction_rolls_back_on_expect_changes_mismatch(fixtures):
    t = "t_" + uuid.uuid4().hex[:8]
    sql(fixtures, op="query", sql=f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v TEXT)", params=[])
    r = sql(fixtures, op="transaction", statements=[
        {"sql": f"INSERT INTO {t} (id, v) VALUES (1, $1)", "params": ["a"], "expect": 1},
        {"sql": f"UPDATE {t} SET v = 'b' WHERE v = 'missing'", "params": [], "expect": 1},
    ])
    assert r["error"] == "guard" and r["statement"] == 2, r  # its own WIT case, by index
    assert sql(fixtures, op="query", sql=f"SELECT COUNT(*) FROM {t}", params=[])["ok"]["rows"] == [[0]]
    r = sql(fixtures, op="transaction", statements=[
        {"sql": f"INSERT INTO {t} (id, v) VALUES (1, $1)", "params": ["a"], "expect": 1},
        {"sql": f"UPDATE {t} SET v = 'b' WHERE v = 'a'", "params": [], "expect": 1},
        {"sql": f"SELECT v FROM {t}", "params": []},
    ])
    assert r["ok"][2]["rows"] == [["b"]]


def test_sql_transaction_rolls_back_on_constraint(fixtures):
    t = "t_" + uuid.uuid4().hex[:8]
    sql(fixtures, op="query", sql=f"CREATE TABLE {t} (v TEXT UNIQUE)", params=[])
    r = sql(fixtures, op="transaction", statements=[
        {"sql": f"INSERT INTO {t} (v) VALUES ('x')", "params": []},
        {"sql": f"INSERT INTO {t} (v) VALUES ('x')", "params": []},
    ])
    assert r["error"] == "conflict" and "statement" not in r, r  # a constraint, not a guard
    assert sql(fixtures, op="query", sql=f"SELECT COUNT(*) FROM {t}", params=[])["ok"]["rows"] == [[0]]


def test_REL8_config_only_granted_variables(fixtures):
    assert fixtures.get("/config?name=probe_visible").json() == {"value": "granted"}
    assert fixtures.get("/config?name=probe_hidden").json() == {"value": None}


def test_body_over_limit_is_413(fixtures):
    assert_problem(fixtures.post("/kv", "x" * 70000,
                                 headers={"Content-Type": "application/json"}), 413)


def test_result_too_big_for_the_guest_traps_500_without_host_leak(fixtures):
    # the host must allocate 40 MB inside a 32 MB instance: cabi_realloc fails,
    # the instance traps, and the host frees its copy of the rows (the ASan
    # layer's leak check at shutdown proves the last part)
    big = "zeroblob(40000000)" if fixtures.backend == SQLITE else "repeat('x', 40000000)"
    r = fixtures.post("/sql", {"op": "query", "sql": f"SELECT {big}", "params": []})
    assert r.status == 500, r
    assert fixtures.get("/counter").status == 200


def test_kv_expired_rows_are_swept(fixtures):
    if fixtures.backend != SQLITE:
        # Redis reclaims expired keys itself: the TTL must be on the key
        k = key()
        kv(fixtures, op="set", key=k, value="x", ttl_ms=60000)
        prefix = open(fixtures.runtime_config).read().split('key_prefix = "')[1].split('"')[0]
        ttl = redis_command("PTTL", f"{prefix}probe:{k}")
        assert 0 < ttl <= 60000, ttl
        return
    import sqlite3
    for i in range(100):
        kv(fixtures, op="set", key=f"sweep-{i}", value="x", ttl_ms=1)
    time.sleep(0.05)
    for i in range(200):  # writes trigger the lazy sweep
        kv(fixtures, op="set", key=f"live-{i}", value="x")
    db = sqlite3.connect(os.path.join(fixtures.state, "kv.sqlite"))
    left = db.execute("SELECT COUNT(*) FROM kv WHERE key LIKE 'sweep-%'").fetchone()[0]
    db.close()
    assert left == 0, left
