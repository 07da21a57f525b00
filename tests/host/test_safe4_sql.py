"""SAFE4 — a grant is a wall, for the SQLite sql backend (probe fixture).

The probe is granted sql = ["probe"] and nothing else. Through sql.query and
sql.transaction it must not reach another database file (ATTACH, VACUUM INTO),
change how its connection behaves (writable PRAGMAs), hold the database's write
lock past its call (BEGIN, SAVEPOINT), load code (load_extension), or leave
anything on the worker's pooled connection for later requests (TEMP objects,
an attached database, an open transaction).

Every escape is tried, must be refused as `invalid` with a detail naming what
was not allowed, and must leave no trace on any of the server's workers."""
import os
import sqlite3
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from conftest import BASTION, BUILD, ROOT

WORKERS = 4      # conftest's fixtures server
FOLLOW_UPS = 20  # sent five at a time, so every worker takes some


def sql(srv, **body):
    r = srv.post("/sql", body)
    assert r.status == 200, r
    return r.json()


def query(srv, text, *params):
    return sql(srv, op="query", sql=text, params=list(params))


def transaction(srv, *statements):
    return sql(srv, op="transaction",
               statements=[{"sql": s, "params": []} if isinstance(s, str) else s
                           for s in statements])


def assert_refused(r, what):
    """Refused by the wall itself, not by some later failure: `invalid`, and the
    detail says what was not allowed."""
    assert r.get("error") == "invalid", r
    assert f"not allowed: {what}" in r["detail"], r


def new_table(srv, rows=()):
    t = "safe4_" + uuid.uuid4().hex[:8]
    assert "ok" in query(srv, f"CREATE TABLE {t} (v TEXT)")
    for v in rows:
        assert "ok" in query(srv, f"INSERT INTO {t} (v) VALUES ($1)", v)
    return t


def on_every_worker(fn):
    """fn(i) for FOLLOW_UPS requests, WORKERS + 1 at a time."""
    with ThreadPoolExecutor(max_workers=WORKERS + 1) as ex:
        return list(ex.map(fn, range(FOLLOW_UPS)))


def probe_db(srv):
    return os.path.join(srv.state, "sql", "probe.sqlite")


def assert_no_trace(srv, t):
    """What the next requests of any function see: the write lock is free (an
    outside writer does not wait for it), every worker's connection has only
    main attached, and is in autocommit (its writes are committed, so an
    outside reader sees them at once)."""
    outside = sqlite3.connect(probe_db(srv), timeout=2, isolation_level=None)
    try:
        t0 = time.monotonic()
        outside.execute("BEGIN IMMEDIATE")
        outside.execute(f"INSERT INTO {t} (v) VALUES ('outside')")
        outside.execute("COMMIT")
        assert time.monotonic() - t0 < 1.5
    finally:
        outside.close()

    def follow_up(i):
        return (query(srv, "PRAGMA database_list"),
                query(srv, f"INSERT INTO {t} (v) VALUES ($1)", f"after-{i}"))
    for dbs, write in on_every_worker(follow_up):
        assert "ok" in dbs, dbs
        attached = {row[1]: row[2] for row in dbs["ok"]["rows"]}
        assert "main" in attached and set(attached) <= {"main", "temp"}, dbs
        assert attached.get("temp", "") == "", dbs  # never a file
        assert write.get("ok", {}).get("changes") == 1, write
    committed = srv.sql("probe", f"SELECT COUNT(*) FROM {t} WHERE v LIKE 'after-%'")
    assert committed == [(FOLLOW_UPS,)]


def test_SAFE4_attach_of_the_kv_store_file_is_refused(fixtures):
    k = "safe4-" + uuid.uuid4().hex
    assert fixtures.post("/kv", {"op": "set", "key": k, "value": "kept"}).json() == {"ok": None}
    path = os.path.join(fixtures.state, "kv.sqlite")
    t = new_table(fixtures)
    assert_refused(query(fixtures, f"ATTACH '{path}' AS kv"), "ATTACH")
    assert_refused(query(fixtures, "ATTACH DATABASE $1 AS kv", path), "ATTACH")
    assert_refused(query(fixtures, f"ATTACH 'file:{path}?mode=ro' AS kv"), "ATTACH")
    assert_refused(transaction(fixtures, f"ATTACH '{path}' AS kv",
                               f"DELETE FROM kv.kv WHERE key = '{k}'"), "ATTACH")
    assert query(fixtures, "SELECT COUNT(*) FROM kv.kv")["error"] == "invalid"
    assert fixtures.post("/kv", {"op": "get", "key": k}).json() == {"ok": "kept"}
    assert_no_trace(fixtures, t)


def test_SAFE4_attach_of_a_neighbours_database_is_refused(fixtures):
    # another function's database, where the host would keep it
    os.makedirs(os.path.join(fixtures.state, "sql"), exist_ok=True)
    path = os.path.join(fixtures.state, "sql", "neighbour.sqlite")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE IF NOT EXISTS secrets (v TEXT)")
    other.execute("INSERT INTO secrets VALUES ('neighbour-only')")
    other.close()
    t = new_table(fixtures)
    for text in (f"ATTACH '{path}' AS n", f"ATTACH DATABASE '{path}' AS main2",
                 "ATTACH ':memory:' AS m", "ATTACH '' AS scratch"):
        assert_refused(query(fixtures, text), "ATTACH")
    assert_refused(query(fixtures, "ATTACH $1 AS n", path), "ATTACH")
    assert_refused(transaction(fixtures, {"sql": "ATTACH $1 AS n", "params": [path]},
                               "DELETE FROM n.secrets"), "ATTACH")
    assert_refused(query(fixtures, "DETACH DATABASE n"), "DETACH")
    other = sqlite3.connect(path)
    assert other.execute("SELECT v FROM secrets").fetchall() == [("neighbour-only",)]
    other.close()
    assert_no_trace(fixtures, t)


def test_SAFE4_vacuum_is_refused(fixtures):
    t = new_table(fixtures, ["x"])
    for text in ("VACUUM", "vacuum main", "  /* first */ VACUUM;", "-- first\n\tVacuum"):
        assert_refused(query(fixtures, text), "VACUUM")
    assert_refused(transaction(fixtures, "VACUUM"), "VACUUM")
    # the word elsewhere is not a VACUUM
    assert query(fixtures, f"SELECT 'VACUUM' AS vacuum FROM {t}")["ok"]["rows"] == [["VACUUM"]]
    assert_no_trace(fixtures, t)


def test_SAFE4_vacuum_into_a_file_outside_the_state_is_refused(fixtures, tmp_path):
    t = new_table(fixtures, ["copied?"])
    literal, bound, in_txn = (tmp_path / "literal.db", tmp_path / "bound.db",
                              tmp_path / "in_txn.db")
    assert_refused(query(fixtures, f"VACUUM INTO '{literal}'"), "VACUUM")
    assert_refused(query(fixtures, "VACUUM main INTO $1", str(bound)), "VACUUM")
    assert_refused(transaction(fixtures, f"VACUUM INTO '{in_txn}'"), "VACUUM")
    for f in (literal, bound, in_txn):
        assert not f.exists(), f
    assert list(tmp_path.iterdir()) == []
    assert_no_trace(fixtures, t)


def test_SAFE4_writable_pragmas_are_refused_read_only_ones_work(fixtures):
    t = new_table(fixtures)
    for text in ("PRAGMA journal_mode=DELETE", "PRAGMA main.journal_mode = OFF",
                 "PRAGMA foreign_keys=OFF", "PRAGMA writable_schema=ON",
                 "PRAGMA user_version=7", "PRAGMA schema_version=1", "PRAGMA query_only=1",
                 "PRAGMA locking_mode=EXCLUSIVE", "PRAGMA synchronous=OFF",
                 "PRAGMA defer_foreign_keys=ON", "PRAGMA journal_mode",
                 "PRAGMA compile_options"):
        name = text.split()[1].split("=")[0].split(".")[-1].strip()
        assert_refused(query(fixtures, text), f"PRAGMA {name}")
    assert_refused(transaction(fixtures, f"INSERT INTO {t} (v) VALUES ('in')",
                               "PRAGMA foreign_keys=OFF"), "PRAGMA foreign_keys")
    # the read-only allow-list still answers
    cols = query(fixtures, f"PRAGMA table_info({t})")
    assert [row[1] for row in cols["ok"]["rows"]] == ["v"], cols
    assert query(fixtures, f"PRAGMA main.table_info('{t}')")["ok"]["rows"] == cols["ok"]["rows"]
    assert query(fixtures, "SELECT name FROM pragma_table_info($1)", t)["ok"]["rows"] == [["v"]]
    assert query(fixtures, "PRAGMA user_version")["ok"]["rows"] == [[0]]
    assert query(fixtures, "PRAGMA foreign_keys")["ok"]["rows"] == [[1]]
    # and nothing changed, on any worker or in the file
    assert fixtures.sql("probe", "PRAGMA journal_mode") == [("wal",)]
    assert fixtures.sql("probe", "PRAGMA user_version") == [(0,)]
    parent, child = "p_" + t, "c_" + t
    query(fixtures, f"CREATE TABLE {parent} (id INTEGER PRIMARY KEY)")
    query(fixtures, f"CREATE TABLE {child} (pid INTEGER NOT NULL REFERENCES {parent}(id))")
    orphans = on_every_worker(
        lambda i: query(fixtures, f"INSERT INTO {child} (pid) VALUES ($1)", 1000 + i))
    assert all(r.get("error") == "conflict" for r in orphans), orphans
    assert_no_trace(fixtures, t)


def test_SAFE4_transaction_control_in_query_is_refused(fixtures):
    t = new_table(fixtures)
    for text, what in (("BEGIN", "BEGIN"), ("BEGIN IMMEDIATE", "BEGIN"),
                       ("BEGIN EXCLUSIVE TRANSACTION", "BEGIN"), ("begin deferred", "BEGIN"),
                       ("COMMIT", "COMMIT"), ("END", "COMMIT"), ("ROLLBACK", "ROLLBACK"),
                       ("SAVEPOINT s1", "SAVEPOINT"), ("RELEASE s1", "SAVEPOINT"),
                       ("ROLLBACK TO s1", "SAVEPOINT")):
        assert_refused(query(fixtures, text), what)
    assert_no_trace(fixtures, t)


def test_SAFE4_transaction_control_inside_a_transaction_is_refused(fixtures):
    t = new_table(fixtures)
    ins = f"INSERT INTO {t} (v) VALUES ('inside')"
    for statements, what, at in (([ins, "COMMIT", ins], "COMMIT", 2), ([ins, "END"], "COMMIT", 2),
                                 ([ins, "ROLLBACK", ins], "ROLLBACK", 2), (["BEGIN", ins], "BEGIN", 1),
                                 ([ins, "SAVEPOINT s1", ins, "RELEASE s1"], "SAVEPOINT", 2),
                                 ([ins, ins, "ROLLBACK TO s1"], "SAVEPOINT", 3)):
        r = transaction(fixtures, *statements)
        assert_refused(r, what)
        assert f"statement {at}:" in r["detail"], r
    # all or nothing: no statement of a refused transaction was kept
    assert fixtures.sql("probe", f"SELECT COUNT(*) FROM {t}") == [(0,)]
    assert_no_trace(fixtures, t)


def test_SAFE4_extension_loading_and_pointer_functions_are_refused(fixtures):
    t = new_table(fixtures)
    assert_refused(query(fixtures, "SELECT load_extension('x')"), "function load_extension")
    assert_refused(query(fixtures, "SELECT load_extension($1, $2)", "/tmp/x.so", "init"),
                   "function load_extension")
    assert_refused(transaction(fixtures, "SELECT LOAD_EXTENSION('x')"), "function load_extension")
    # fts3_tokenizer hands out (and with two arguments takes) a raw C pointer
    assert_refused(query(fixtures, "SELECT fts3_tokenizer('simple')"), "function fts3_tokenizer")
    assert_refused(query(fixtures, "SELECT fts3_tokenizer('simple', x'0000000000000000')"),
                   "function fts3_tokenizer")
    assert_no_trace(fixtures, t)


def test_SAFE4_temp_objects_are_refused(fixtures):
    # a TEMP object would stay on the worker's pooled connection, and a TEMP
    # table or view named like a main one would shadow it for later requests
    t = new_table(fixtures, ["main"])
    for text in (f"CREATE TEMP TABLE {t} AS SELECT 'temp' AS v",
                 f"CREATE TEMPORARY TABLE x_{t} (a)", f"CREATE TABLE temp.x_{t} (a)",
                 f"CREATE TEMP VIEW {t} AS SELECT 'temp' AS v",
                 f"CREATE TEMP TRIGGER tr_{t} AFTER INSERT ON {t} BEGIN DELETE FROM {t}; END",
                 f"CREATE VIRTUAL TABLE temp.f_{t} USING fts5(a)"):
        assert_refused(query(fixtures, text), "TEMP")
    assert_refused(transaction(fixtures, f"CREATE TEMP TABLE {t} (v)"), "TEMP")
    assert all(r["ok"]["rows"] == [["main"]]
               for r in on_every_worker(lambda i: query(fixtures, f"SELECT v FROM {t}"))), t
    assert_no_trace(fixtures, t)


def test_SAFE4_what_a_module_may_do_in_its_own_database_still_works(fixtures):
    # the wall is around the database, not inside it
    t = new_table(fixtures)
    for text in (f"CREATE INDEX i_{t} ON {t} (v)", f"CREATE VIEW w_{t} AS SELECT v FROM {t}",
                 f"CREATE TABLE log_{t} (v TEXT)",
                 f"CREATE TRIGGER tr_{t} AFTER INSERT ON {t} BEGIN "
                 f"INSERT INTO log_{t} VALUES (new.v); END",
                 f"ALTER TABLE {t} ADD COLUMN n INTEGER",
                 f"CREATE VIRTUAL TABLE fts_{t} USING fts5(body)",
                 f"CREATE VIRTUAL TABLE r_{t} USING rtree(id, x0, x1)", "ANALYZE"):
        assert "ok" in query(fixtures, text), text
    r = transaction(fixtures,
                    {"sql": f"INSERT INTO {t} (v, n) VALUES ($1, 1)", "params": ["a"], "expect": 1},
                    {"sql": f"INSERT INTO fts_{t} (body) VALUES ($1)", "params": ["a grant is a wall"]},
                    f"SELECT v FROM w_{t}")
    assert r["ok"][2]["rows"] == [["a"]], r
    assert query(fixtures, f"SELECT v FROM log_{t}")["ok"]["rows"] == [["a"]]
    assert query(fixtures, f"SELECT rowid FROM fts_{t} WHERE fts_{t} MATCH 'wall'")["ok"]["rows"] == [[1]]
    assert query(fixtures, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                           "WHERE i < 3) SELECT SUM(i) FROM n")["ok"]["rows"] == [[6]]
    assert query(fixtures, "SELECT value FROM json_each('[1,2]')")["ok"]["rows"] == [[1], [2]]
    # the host's own transactions on the kv connection are not the guest's
    k = "safe4-" + uuid.uuid4().hex
    assert fixtures.post("/kv", {"op": "add", "key": k, "value": "1"}).json() == {"ok": True}
    assert fixtures.post("/kv", {"op": "increment", "key": k, "delta": 2}).json() == {"ok": 3}
    assert_no_trace(fixtures, t)


def test_SAFE4_migrations_still_run_on_the_hardened_connections(tmp_path):
    # migrate runs the host's own script (BEGIN IMMEDIATE … COMMIT) and then
    # reads its checksum back through the same sql.query path guests use
    manifest = os.path.join(BUILD, "manifest.json")
    state = str(tmp_path / "state")
    for expect in ("applied", "up to date"):
        run = subprocess.run([BASTION, "migrate", "--state", state, "--manifest", manifest],
                             capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert run.returncode == 0, run
        lines = [ln for ln in (run.stdout + run.stderr).splitlines() if ln.startswith("migrate ")]
        assert lines and all(expect in ln for ln in lines), run
