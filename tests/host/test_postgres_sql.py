"""sql on PostgreSQL (host/stores/postgres*.c) through the real ABI: what the
backend adds to the binding conformance suite (test_bindings.py runs that on
every backend). The probe fixture is served with sql on the test run's
PostgreSQL (tests/servers.sh), each server in a fresh PostgreSQL database;
the kill test starts a private PostgreSQL of its own, never the shared one.

Each Bastion database is a schema of that name; `psql` reads the server
directly."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import (BASTION, BUILD, ROOT, TEST_VARS, Server, free_port, manifest_json,
                      pg_database)


def sql_only_config(directory, url):
    """A runtime config with only sql on PostgreSQL (kv stays on SQLite)."""
    path = os.path.join(directory, "runtime.toml")
    with open(path, "w") as f:
        f.write(f'[sql.default]\nbackend = "postgres"\nurl = "{url}"\n')
    return path


def psql(url, query):
    out = subprocess.run(["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", url, "-c", query],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def serve(manifest, url, **kw):
    state = tempfile.mkdtemp(prefix="bastion-test-")
    srv = Server(manifest, state=state, runtime_config=sql_only_config(state, url), **kw)
    srv.url = url
    srv.migrate()
    return srv.start()


@pytest.fixture(scope="module")
def pg():
    """The probe fixture bundle with sql on a fresh PostgreSQL database."""
    srv = serve(os.path.join(BUILD, "test", "manifest.json"), pg_database())
    yield srv
    assert srv.stop() == 0


def call(srv, **body):
    r = srv.post("/sql", body)
    assert r.status == 200, r
    return r.json()


def query(srv, text, *params, exact=False):
    return call(srv, op="query", sql=text, params=list(params), exact=exact)


def transaction(srv, *statements):
    return call(srv, op="transaction",
                statements=[{"sql": s, "params": []} if isinstance(s, str) else s
                            for s in statements])


def ok(r):
    assert "ok" in r, r
    return r["ok"]


def new_table(srv, columns):
    t = "t_" + uuid.uuid4().hex[:8]
    ok(query(srv, f"CREATE TABLE {t} ({columns})"))
    return t


# --- values ------------------------------------------------------------------

INT_MAX, INT_MIN = 2**63 - 1, -2**63
TEXT = "häj ✓ 😀 '; DROP TABLE x; --"
BLOB = "00ff0000017f80"  # NUL bytes inside and at the edges


def test_sql_typed_values_round_trip_on_postgres(pg):
    t = new_table(pg, "i BIGINT, r DOUBLE PRECISION, s TEXT, b BYTEA, n TEXT")
    values = [{"int": str(INT_MAX)}, 1.5e300, TEXT, {"hex": BLOB}, None]
    r = ok(query(pg, f"INSERT INTO {t} VALUES ($1, $2, $3, $4, $5)", *values))
    assert r["changes"] == 1
    ok(query(pg, f"INSERT INTO {t} VALUES ($1, $2, $3, $4, $5)",
             {"int": str(INT_MIN)}, -2.5e-300, "", {"hex": ""}, None))
    r = ok(query(pg, f"SELECT i, r, s, b, n FROM {t} ORDER BY i DESC", exact=True))
    assert r["columns"] == ["i", "r", "s", "b", "n"]
    assert r["rows"] == [[{"int": str(INT_MAX)}, 1.5e300, TEXT, {"hex": BLOB}, None],
                         [{"int": str(INT_MIN)}, -2.5e-300, "", {"hex": ""}, None]]
    assert r["changes"] == 0
    # parameters echo with the types they were sent as
    r = ok(query(pg, "SELECT $1 AS i, $2 AS r, $3 AS s, $4 AS b, $5 AS n",
                 {"int": str(INT_MIN)}, 0.25, TEXT, {"hex": BLOB}, None, exact=True))
    assert r["rows"] == [[{"int": str(INT_MIN)}, 0.25, TEXT, {"hex": BLOB}, None]]
    # the rows are real PostgreSQL types, in the database's own schema
    assert psql(pg.url, f"SELECT pg_typeof(i), pg_typeof(b), octet_length(b) FROM probe.{t} "
                        "WHERE i > 0") == "bigint|bytea|7"


def test_sql_numeric_and_bool_results_map_to_integer_or_real(pg):
    t = new_table(pg, "v BIGINT")
    for v in (1, 2, 2**40):
        ok(query(pg, f"INSERT INTO {t} VALUES ($1)", v))
    r = ok(query(pg, f"SELECT SUM(v), AVG(v), COUNT(*), MAX(v) > 1, MIN(v) = 2 FROM {t}"))
    assert r["rows"] == [[2**40 + 3, (2**40 + 3) / 3, 3, 1, 0]]
    r = ok(query(pg, "SELECT 3.000::numeric, 2.5::numeric, (2::numeric ^ 70), 7 / 2, "
                     "7.0 / 2, CAST(5 AS SMALLINT), CAST(1.5 AS REAL), TRUE, NULL::boolean, "
                     "DATE '2026-01-02', '00000000-0000-0000-0000-000000000001'::uuid"))
    assert r["rows"] == [[3, 2.5, float(2**70), 3, 3.5, 5, 1.5, 1, None, "2026-01-02",
                          "00000000-0000-0000-0000-000000000001"]]


def test_sql_null_params_take_their_type_from_where_they_stand(pg):
    t = new_table(pg, "id BIGINT PRIMARY KEY, at BIGINT, note TEXT")
    ok(query(pg, f"INSERT INTO {t} VALUES ($1, $2, $3)", 1, None, None))
    # a text parameter is text wherever it stands: no cast needed to test it
    r = ok(query(pg, f"SELECT COUNT(*) FROM {t} WHERE ($1 IS NULL OR note = $1) AND at IS NULL",
                 "x"))
    assert r["rows"] == [[0]]
    r = ok(query(pg, f"SELECT COUNT(*) FROM {t} WHERE CAST($1 AS TEXT) IS NULL", None))
    assert r["rows"] == [[1]]


def test_sql_more_parameters_than_the_protocol_carries_is_invalid_not_unavailable(tmp_path):
    # libpq refuses past 65535 parameters before sending: the guest's mistake, and
    # the connection is fine
    manifest = SLOW_PROBE.replace("timeout_ms = 10000\n", "timeout_ms = 10000\n"
                                                          "body_limit = 4000000\n")
    srv = serve(manifest_json(tmp_path, manifest), pg_database())
    try:
        r = query(srv, "SELECT $65536 IS NULL", *([None] * 65536))
        assert r.get("error") == "invalid" and "65535" in r["detail"], r
        r = ok(query(srv, "SELECT $65535", *([1] * 65534 + [7])))
        assert r["rows"] == [[7]]
    finally:
        assert srv.stop() == 0


def test_sql_errors_never_carry_parameter_values(pg):
    t = new_table(pg, "v BIGINT UNIQUE CHECK (v > 0)")
    secret = "s3cr3t-value-0123"
    r = query(pg, "SELECT CAST($1 AS BIGINT)", secret)
    assert r["error"] == "invalid" and secret not in r["detail"], r
    ok(query(pg, f"INSERT INTO {t} VALUES ($1)", 424242))
    r = query(pg, f"INSERT INTO {t} VALUES ($1)", 424242)
    assert r["error"] == "conflict" and "424242" not in r["detail"], r
    r = query(pg, f"INSERT INTO {t} VALUES ($1)", -777777)
    assert r["error"] == "conflict" and "777777" not in r["detail"], r
    log = pg.logs()
    assert secret not in log and "777777" not in log


# --- transactions (CONC1, CONC5) ---------------------------------------------------

def test_CONC5_guarded_transaction_rolls_back_and_constraint_is_not_a_guard(pg):
    t = new_table(pg, "id BIGINT PRIMARY KEY, v TEXT UNIQUE")
    r = transaction(pg, {"sql": f"INSERT INTO {t} VALUES (1, $1)", "params": ["a"], "expect": 1},
                    {"sql": f"UPDATE {t} SET v = 'b' WHERE v = 'missing'", "params": [],
                     "expect": 1})
    assert r["error"] == "guard" and r["statement"] == 2, r
    assert ok(query(pg, f"SELECT COUNT(*) FROM {t}"))["rows"] == [[0]]
    r = transaction(pg, f"INSERT INTO {t} VALUES (1, 'x')", f"INSERT INTO {t} VALUES (2, 'x')")
    assert r["error"] == "conflict" and "statement" not in r, r
    assert ok(query(pg, f"SELECT COUNT(*) FROM {t}"))["rows"] == [[0]]
    r = ok(transaction(pg, {"sql": f"INSERT INTO {t} VALUES (1, 'a') RETURNING id", "params": [],
                            "expect": 1},
                       {"sql": f"UPDATE {t} SET v = 'b' WHERE id = $1", "params": [1],
                        "expect": 1},
                       f"SELECT v FROM {t}"))
    assert [x["changes"] for x in r] == [1, 1, 0] and r[0]["rows"] == [[1]]
    assert r[2]["rows"] == [["b"]]


def concurrent_buys(srv, t, n):
    """n guarded transactions at once on one stock row: take one unit
    (guarded on there being one) and record the buyer."""
    barrier = threading.Barrier(n)

    def buy(i):
        barrier.wait()
        return srv.post("/sql", {"op": "transaction", "statements": [
            {"sql": f"UPDATE {t}_stock SET qty = qty - 1 WHERE id = 1 AND qty > 0",
             "params": [], "expect": 1},
            {"sql": f"INSERT INTO {t}_buys (who) VALUES ($1)", "params": [i], "expect": 1},
        ]})
    with ThreadPoolExecutor(max_workers=n) as ex:
        return list(ex.map(buy, range(n)))


@pytest.mark.parametrize("stock", [8, 3])
def test_CONC1_serialization_failures_are_retried_8_concurrent_guarded_transactions(pg, stock):
    t = "t_" + uuid.uuid4().hex[:8]
    ok(query(pg, f"CREATE TABLE {t}_stock (id BIGINT PRIMARY KEY, qty BIGINT NOT NULL)"))
    ok(query(pg, f"CREATE TABLE {t}_buys (who BIGINT PRIMARY KEY)"))
    for _ in range(3):
        ok(query(pg, f"DELETE FROM {t}_buys"))
        ok(query(pg, f"DELETE FROM {t}_stock"))
        ok(query(pg, f"INSERT INTO {t}_stock VALUES (1, $1)", stock))
        rs = concurrent_buys(pg, t, 8)
        assert all(r.status == 200 for r in rs), rs  # never a 500
        outcomes = [r.json() for r in rs]
        won = [o for o in outcomes if "ok" in o]
        lost = [o for o in outcomes if "ok" not in o]
        # every buyer either got a unit or lost the guard; a serialization
        # failure is retried inside the host, never surfaced
        assert len(won) == min(stock, 8), outcomes
        assert all(o["error"] == "guard" and o["statement"] == 1 for o in lost), outcomes
        left = ok(query(pg, f"SELECT qty, (SELECT COUNT(*) FROM {t}_buys) FROM {t}_stock"))
        assert left["rows"] == [[stock - len(won), len(won)]]


# --- budgets (REL2) ------------------------------------------------------------

BUDGET_MS = 700
SLOW_PROBE = (f'[vars.budget_db_ms]\ndefault = "{BUDGET_MS}"\n'
              '[functions.probe]\nsource = "tests/host/fixtures/probe"\ntimeout_ms = 10000\n'
              'sql = ["probe"]\nvars = ["budget_db_ms"]\n'
              '[[routes]]\npath = "/sql"\nfunction = "probe"\n')


def test_REL2_budget_ends_a_slow_statement_as_timeout_and_cancels_it(tmp_path):
    url = pg_database()
    srv = serve(manifest_json(tmp_path, SLOW_PROBE), url)
    try:
        for statements in (None, ["SELECT 1", "SELECT pg_sleep(5)"]):
            t0 = time.time()
            r = (query(srv, "SELECT pg_sleep(5)") if statements is None
                 else transaction(srv, *statements))
            took = time.time() - t0
            assert r.get("error") == "timeout", r
            assert took < BUDGET_MS / 1000 + 0.5, took
        # the next call works, and the server is not still sleeping for us
        assert ok(query(srv, "SELECT 2"))["rows"] == [[2]]
        deadline = time.time() + 3
        while time.time() < deadline:
            busy = psql(url, "SELECT COUNT(*) FROM pg_stat_activity WHERE query LIKE "
                             "'SELECT pg_sleep(5)%' AND state = 'active'")
            if busy == "0":
                break
            time.sleep(0.1)
        assert busy == "0"
    finally:
        assert srv.stop() == 0


# --- the backend down (REL1) -------------------------------------------------------

class PrivatePostgres:
    """A PostgreSQL of this test's own, on a free loopback port: stopping it
    harms no other test."""

    def __init__(self, root):
        env_bin = os.environ.get("BASTION_TEST_PG_BIN")
        self.bin = env_bin or sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
        if not env_bin:
            self.bin = f"/usr/lib/postgresql/{self.bin}/bin"
        self.root = root
        self.data = os.path.join(root, "pg")
        self.port = free_port()
        self.url = f"postgresql://bastion@127.0.0.1:{self.port}/postgres"
        os.chmod(root, 0o755)
        os.mkdir(self.data, 0o700)
        self.as_owner = [] if os.getuid() != 0 else ["runuser", "-u", "postgres", "--"]
        if os.getuid() == 0:
            subprocess.run(["chown", "postgres", self.data], check=True)
        self.run("initdb", "-D", self.data, "-A", "trust", "-U", "bastion", "--no-sync")

    def run(self, tool, *args):
        subprocess.run([*self.as_owner, os.path.join(self.bin, tool), *args], check=True,
                       capture_output=True, cwd="/", timeout=60)

    def start(self):
        self.run("pg_ctl", "-D", self.data, "-w", "-l", os.path.join(self.data, "log"), "-o",
                 f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off",
                 "start")

    def stop(self):
        self.run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")


def test_REL1_postgres_stopped_is_unavailable_within_the_budget_and_recovers(tmp_path):
    # a directory the cluster's owner can reach (pytest's tmp_path is root's alone)
    own = PrivatePostgres(tempfile.mkdtemp(prefix="bastion-pg-"))
    own.start()
    srv = None
    try:
        srv = serve(manifest_json(tmp_path, SLOW_PROBE), own.url)
        t = new_table(srv, "v BIGINT")
        ok(query(srv, f"INSERT INTO {t} VALUES (1)"))
        own.stop()
        for _ in range(6):  # every worker's pooled connection finds out
            t0 = time.time()
            r = query(srv, f"SELECT COUNT(*) FROM {t}")
            assert r.get("error") == "unavailable", r
            assert time.time() - t0 < BUDGET_MS / 1000 + 0.5
        r = transaction(srv, f"INSERT INTO {t} VALUES (2)")
        assert r.get("error") == "unavailable", r
        own.start()
        # back: the next calls reconnect, on every worker
        for _ in range(8):
            assert ok(query(srv, f"SELECT COUNT(*) FROM {t}"))["rows"] == [[1]]
    finally:
        if srv:
            assert srv.stop() == 0
        try:
            own.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(own.root, ignore_errors=True)


# --- the wall (SAFE4) -------------------------------------------------------------

@pytest.mark.parametrize("statement, what", [
    ("BEGIN", "BEGIN"),
    ("  /* hidden */ -- too\n commit", "COMMIT"),
    ("SAVEPOINT s", "SAVEPOINT"),
    ("SET search_path TO public", "SET"),
    ("RESET ALL", "RESET"),
    ("SELECT set_config('search_path', 'public', false)", "function set_config"),
    ('SELECT "set_config"(\'role\', \'none\', false)', "function set_config"),
    ("CREATE TEMP TABLE x (a INT)", "TEMP objects"),
    ("CREATE TABLE pg_temp.x (a INT)", "TEMP objects"),
    ("SELECT 1 INTO TEMPORARY x", "TEMP objects"),
    ("PREPARE p AS SELECT 1", "PREPARE"),
    ("DECLARE c CURSOR WITH HOLD FOR SELECT 1", "DECLARE"),
    ("LISTEN x", "LISTEN"),
    ("COPY (SELECT 1) TO STDOUT", "COPY"),
    ("DO $$ BEGIN PERFORM 1; END $$", "DO"),
    ("CREATE SCHEMA other", "CREATE SCHEMA"),
    ("CREATE OR REPLACE FUNCTION f() RETURNS INT AS 'SELECT 1' LANGUAGE sql", "CREATE FUNCTION"),
    ("ALTER TABLE x SET SCHEMA public", "SCHEMA"),
    ("SELECT pg_advisory_lock(1)", "function pg_advisory_lock"),
    ("SELECT pg_terminate_backend(1)", "function pg_terminate_backend"),
    # the session's login role may SET ROLE to any database's role: nothing
    # may take the call out of its own
    ("SET ROLE bastion", "SET"),
    ("RESET ROLE", "RESET"),
    ("SET SESSION AUTHORIZATION bastion", "SET"),
    ("set local role none", "SET"),
    ("SELECT SET_CONFIG('role', 'bastion', false)", "function set_config"),
    ("SELECT pg_catalog.set_config('role', 'bastion', true)", "function set_config"),
    ('SELECT "pg_catalog"."set_config"(\'session_authorization\', \'bastion\', false)',
     "function set_config"),
    ("SELECT/**/set_config('role','bastion',false)", "function set_config"),
    ("SELECT * FROM set_config('role', 'bastion', false) AS r", "function set_config"),
    # SQL in a string: the wall never reads it, the server would run it
    ("SELECT query_to_xml('SELECT set_config(''role'', ''bastion'', false)', false, false, '')",
     "function query_to_xml"),
    ("SELECT ts_stat('SELECT to_tsvector(set_config(''role'', ''bastion'', false))')",
     "function ts_stat"),
    ("SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, ''b''::tsquery')",
     "function ts_rewrite"),
    ("SELECT crosstab('SELECT 1, 2, 3')", "function crosstab"),
    # pg_settings' UPDATE rule is a set_config
    ("UPDATE pg_settings SET setting = 'public' WHERE name = 'search_path'", "pg_settings"),
    ("UPDATE pg_catalog.pg_settings SET setting = 'off' WHERE name = 'transaction_read_only'",
     "pg_settings"),
    ("DO LANGUAGE plpgsql 'BEGIN RESET ROLE; END'", "DO"),
    # the server ends a -- comment at a carriage return as at a line feed
    ("SELECT 1 --\r, set_config('role', 'bastion', false)", "function set_config"),
    ("SELECT 1 --\rFROM pg_settings", "pg_settings"),
    # a definition list takes a function's name as a string, which the wall never reads
    ("CREATE AGGREGATE a(text, bool) (SFUNC = 'set_config', STYPE = text, INITCOND = 'role')",
     "CREATE AGGREGATE"),
    ("CREATE OR REPLACE AGGREGATE a(text, bool) (SFUNC = 'set_config', STYPE = text)",
     "CREATE AGGREGATE"),
    ("CREATE OPERATOR @@@ (RIGHTARG = bigint, FUNCTION = 'pg_advisory_lock')",
     "CREATE OPERATOR"),
    # the session's random() sequence, which the next call (another database's) draws from
    ("SELECT setseed(0.5)", "function setseed"),
])
def test_SAFE4_session_escapes_are_refused_on_postgres(pg, statement, what):
    for r in (query(pg, statement), transaction(pg, "SELECT 1", statement)):
        assert r.get("error") == "invalid", r
        assert f"not allowed: {what}" in r["detail"], r


def test_SAFE4_the_wall_reads_strings_as_the_session_does_whatever_the_server_default(tmp_path):
    # standard_conforming_strings off (a legacy database's setting) makes \' end
    # no string: the wall would read set_config inside one, the server would run it
    url = pg_database()
    name = url.rsplit("/", 1)[1]
    psql(url, f"ALTER DATABASE {name} SET standard_conforming_strings = off")
    manifest = SLOW_PROBE.replace("[functions.probe]", "[server]\nexec_workers = 1\n"
                                                        "[functions.probe]")
    srv = serve(manifest_json(tmp_path, manifest), url)
    try:
        r = query(srv, "SELECT '\\'', set_config('search_path', 'public', false) --'")
        assert "ok" not in r, r
        for _ in range(3):
            r = ok(query(srv, "SELECT current_user, current_setting('search_path')"))
            assert r["rows"] == [[role("probe"), "probe"]], r
    finally:
        assert srv.stop() == 0


def test_SAFE4_what_a_module_does_in_its_own_schema_still_works(pg):
    t = new_table(pg, "v TEXT, temperature BIGINT")
    r = ok(query(pg, f"INSERT INTO {t} (v, temperature) VALUES ('temp', 1) RETURNING v"))
    assert r["rows"] == [["temp"]]  # 'temp' in a string, temperature a name: not TEMP
    r = ok(query(pg, "SELECT $$it's $1 in a dollar quote$$, $1, E'\\'$2'", 7))
    assert r["rows"] == [["it's $1 in a dollar quote", 7, "'$2"]]
    ok(transaction(pg, f"LOCK TABLE {t} IN SHARE MODE",
                   "SELECT pg_advisory_xact_lock(42)", f"CREATE INDEX ON {t} (v)"))
    assert psql(pg.url, f"SELECT to_regclass('probe.{t}') IS NOT NULL") == "t"


def test_SAFE4_every_call_ends_with_the_session_idle_on_the_hosts_search_path(pg):
    ok(query(pg, "CREATE TABLE IF NOT EXISTS marker (v TEXT)"))
    for r in (query(pg, "SELECT 1; COMMIT"), transaction(pg, "SELECT 1", "SELECT 1/0")):
        assert r.get("error") == "invalid", r

    def probe(_):
        return ok(query(pg, "SELECT current_schema(), current_setting('transaction_isolation'),"
                            " pg_current_xact_id_if_assigned() IS NULL"))["rows"]
    with ThreadPoolExecutor(max_workers=5) as ex:
        for rows in ex.map(probe, range(20)):
            assert rows == [["probe", "serializable", 1]]


# --- a role per database (SAFE4) ---------------------------------------------------

def role(db):
    return f"bastion_db_{db}"


def probe_granted(*dbs):
    """SLOW_PROBE's manifest with the probe granted these databases instead."""
    return SLOW_PROBE.replace('["probe"]', json.dumps(list(dbs)))


INTRUDER = ('[server]\nexec_workers = 1\n'
            '[functions.probe]\nsource = "tests/host/fixtures/probe"\ntimeout_ms = 10000\n'
            'sql = ["intruder", "spare"]\n'
            '[[routes]]\npath = "/sql"\nfunction = "probe"\n')


@pytest.fixture(scope="module")
def intruder(pg, tmp_path_factory):
    """A second host on pg's PostgreSQL database whose probe is granted two
    other databases, never probe; one execution thread, so both share one
    pooled connection and every call switches its role."""
    srv = serve(manifest_json(tmp_path_factory.mktemp("intruder"), INTRUDER), pg.url)
    yield srv
    assert srv.stop() == 0


def on(srv, db, text, *params):
    return call(srv, op="query", sql=text, params=list(params), db=db)


def on_tx(srv, db, *statements):
    return call(srv, op="transaction", db=db,
                statements=[{"sql": s, "params": []} for s in statements])


@pytest.fixture(scope="module")
def secrets(pg, intruder):
    """A table with a row and a sequence in each database: {db: (server, table)}."""
    out = {}
    for srv, db in ((pg, "probe"), (intruder, "intruder"), (intruder, "spare")):
        t = "secret_" + uuid.uuid4().hex[:8]
        ok(on(srv, db, f"CREATE TABLE {t} (id BIGSERIAL PRIMARY KEY, v TEXT)"))
        ok(on(srv, db, f"INSERT INTO {t} (v) VALUES ('only {db}')"))
        out[db] = (srv, t)
    return out


def test_SAFE4_each_call_runs_as_its_databases_role_which_owns_its_schema(pg, intruder, secrets):
    for srv, db in ((pg, "probe"), (intruder, "intruder"), (intruder, "spare"),
                    (intruder, "intruder")):
        r = ok(on(srv, db, "SELECT current_user, current_schema()"))
        assert r["rows"] == [[role(db), db]], (db, r)
    for db in secrets:
        owners = psql(pg.url, f"SELECT DISTINCT relowner::regrole FROM pg_class WHERE relnamespace"
                              f" = '{db}'::regnamespace UNION SELECT nspowner::regrole FROM "
                              f"pg_namespace WHERE nspname = '{db}'")
        assert owners == role(db), (db, owners)  # the table, its index and sequence too
        # a role of no privileges of its own, a member of nothing
        attrs = psql(pg.url, "SELECT rolcanlogin, rolinherit, rolsuper, rolcreaterole, "
                             "rolcreatedb, rolbypassrls, (SELECT COUNT(*) FROM pg_auth_members "
                             f"WHERE member = r.oid) FROM pg_roles r WHERE rolname = '{role(db)}'")
        assert attrs == "f|f|f|f|f|f|0", attrs


@pytest.mark.parametrize("template", [
    "SELECT * FROM {s}.{t}",
    'SELECT v FROM "{s}"."{t}"',
    "INSERT INTO {s}.{t} (v) VALUES ('planted')",
    "UPDATE {s}.{t} SET v = 'changed'",
    "DELETE FROM {s}.{t}",
    "TRUNCATE {s}.{t}",
    "DROP TABLE {s}.{t}",
    "ALTER TABLE {s}.{t} ADD COLUMN x BIGINT",
    "CREATE TABLE {s}.planted (v TEXT)",
    "CREATE INDEX ON {s}.{t} (v)",
    "CREATE VIEW peek AS SELECT * FROM {s}.{t}",
    "COMMENT ON TABLE {s}.{t} IS 'mine now'",
    "SELECT nextval('{s}.{t}_id_seq')",
])
def test_SAFE4_a_database_cannot_reach_another_ones_schema(pg, intruder, secrets, template):
    # across hosts both ways, and between two databases of one function on one connection
    pairs = [("intruder", "probe"), ("probe", "intruder"), ("spare", "intruder"),
             ("intruder", "spare")]
    for mine, theirs in pairs:
        me = secrets[mine][0]
        stmt = template.format(s=theirs, t=secrets[theirs][1])
        for r in (on(me, mine, stmt), on_tx(me, mine, "SELECT 1", stmt)):
            assert r.get("error") == "denied", (mine, theirs, r)
            assert "permission denied" in r["detail"], r
    for db, (srv, t) in secrets.items():  # nothing changed, and the owner reads on
        assert ok(on(srv, db, f"SELECT id, v FROM {t}"))["rows"] == [[1, f"only {db}"]]


@pytest.mark.parametrize("stmt", [
    "CREATE TABLE public.planted (v TEXT)",
    "CREATE VIEW public.planted AS SELECT 1",
    "CREATE SEQUENCE public.planted",
    "CREATE TYPE public.planted AS ENUM ('a')",
])
def test_SAFE4_no_database_can_create_in_schema_public(pg, stmt):
    r = query(pg, stmt)
    assert r.get("error") == "denied", r
    assert psql(pg.url, "SELECT COUNT(*) FROM pg_class WHERE relnamespace = "
                        "'public'::regnamespace") == "0"


def test_SAFE4_a_schema_made_before_roles_is_given_to_its_role(tmp_path):
    url, db = pg_database(), "legacy_" + uuid.uuid4().hex[:8]
    psql(url, f"CREATE SCHEMA {db}; CREATE TABLE {db}.t (id BIGSERIAL PRIMARY KEY, v TEXT);"
              f" INSERT INTO {db}.t (v) VALUES ('kept'); CREATE VIEW {db}.w AS SELECT v FROM "
              f"{db}.t; CREATE TYPE {db}.mood AS ENUM ('ok')")
    srv = serve(manifest_json(tmp_path, probe_granted(db)), url)
    try:  # its first call finds no role: made, and given the schema and all in it
        ok(on(srv, db, "INSERT INTO t (v) VALUES ('new')"))
        r = ok(on(srv, db, "SELECT v, CAST('ok' AS mood), current_user FROM w ORDER BY v"))
        assert r["rows"] == [["kept", "ok", role(db)], ["new", "ok", role(db)]]
        owners = psql(url, f"SELECT DISTINCT relowner::regrole FROM pg_class WHERE relnamespace ="
                           f" '{db}'::regnamespace UNION SELECT typowner::regrole FROM pg_type "
                           f"WHERE typnamespace = '{db}'::regnamespace")
        assert owners == role(db), owners
    finally:
        assert srv.stop() == 0


def test_SAFE4_schemas_every_postgres_database_has_are_no_bastion_database(tmp_path):
    names = ["public", "information_schema", "pg_catalog", "pg_x"]
    srv = serve(manifest_json(tmp_path, probe_granted(*names)), pg_database())
    try:
        for db in names:
            r = on(srv, db, "CREATE TABLE planted (v TEXT)")
            assert r.get("error") == "invalid" and "bad database name" in r["detail"], r
    finally:
        assert srv.stop() == 0


def login_url(user, database):
    return f"postgresql://{user}@127.0.0.1:{os.environ['BASTION_TEST_PG_PORT']}/{database}"


def test_SAFE4_the_login_role_needs_createrole_and_one_that_has_it_joins_each_role(tmp_path):
    base = os.environ["BASTION_TEST_PG_URL"]
    tag = uuid.uuid4().hex[:8]
    urls = {}
    for login, attrs in (("creator_" + tag, "CREATEROLE"), ("plain_" + tag, "")):
        psql(base, f"CREATE ROLE {login} LOGIN {attrs}")
        psql(base, f"CREATE DATABASE {login} OWNER {login}")
        urls[login] = login_url(login, login)
    plain, creator = urls["plain_" + tag], urls["creator_" + tag]
    # no CREATEROLE: migrate fails and says why, nothing half made
    out = subprocess.run([BASTION, "migrate", "--state", str(tmp_path), "--manifest", BUNDLE,
                          "--runtime-config", sql_only_config(str(tmp_path), plain)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env=dict(os.environ, **TEST_VARS))
    assert out.returncode != 0, out
    assert "needs the CREATEROLE privilege" in out.stderr, out.stderr
    assert psql(plain, "SELECT COUNT(*) FROM pg_namespace WHERE nspowner::regrole::text "
                       "LIKE 'bastion_db_%'") == "0"
    # ... and a database made on first use answers internal, and the host logs it
    db = "lazy_" + tag
    manifest = manifest_json(tmp_path, probe_granted(db))
    srv = serve(manifest, plain)
    try:
        r = on(srv, db, "CREATE TABLE t (v TEXT)")
        assert r.get("error") == "internal" and "CREATEROLE" in r["detail"], r
    finally:
        assert srv.stop() == 0
    assert "needs the CREATEROLE privilege" in srv.logs()
    # CREATEROLE: it creates the roles it lacks, joins those that exist (made by a
    # superuser: the lazy database's here, the bundle's by earlier tests if any) and
    # runs migrations as them
    psql(base, f"CREATE ROLE {role(db)} NOLOGIN NOINHERIT")
    text = migrate(BUNDLE, tempfile.mkdtemp(prefix="bastion-test-"),
                   sql_only_config(str(tmp_path), creator))
    for fn, bdb in bundle_schemas():
        assert re.search(rf"^migrate {re.escape(fn)}: applied ", text, re.M), (fn, text)
        owners = psql(creator, f"SELECT DISTINCT relowner::regrole FROM pg_class WHERE "
                               f"relnamespace = '{bdb}'::regnamespace")
        assert owners == role(bdb), (bdb, owners)
    srv = serve(manifest, creator)
    try:
        ok(on(srv, db, "CREATE TABLE t (v TEXT)"))
        ok(on(srv, db, "INSERT INTO t VALUES ('x')"))
        assert ok(on(srv, db, "SELECT v, current_user FROM t"))["rows"] == [["x", role(db)]]
    finally:
        assert srv.stop() == 0


# --- migrations (DATA1) ------------------------------------------------------------

def migrate(manifest, state, config):
    """`bastion migrate`; what it said (it reports on stderr)."""
    args = ["--runtime-config", config] if config else []
    out = subprocess.run([BASTION, "migrate", "--state", state, "--manifest", manifest, *args],
                         capture_output=True, text=True, cwd=ROOT, timeout=120, check=True,
                         env=dict(os.environ, **TEST_VARS))
    return out.stdout + out.stderr


BUNDLE = os.path.join(BUILD, "manifest.json")


def bundle_schemas():
    """(function, database) of every function in the real bundle with a
    schema.sql, from build/manifest.json."""
    with open(BUNDLE) as f:
        doc = json.load(f)
    fns = doc["functions"]
    items = fns.items() if isinstance(fns, dict) else ((f["name"], f) for f in fns)
    return sorted((name, f["sql"][0]) for name, f in items if f.get("schema") and f.get("sql"))


def test_migrate_twice_at_once_on_one_postgres_applies_each_schema_exactly_once(tmp_path):
    url = pg_database()
    config = sql_only_config(str(tmp_path), url)
    states = [tempfile.mkdtemp(prefix="bastion-test-") for _ in range(2)]
    with ThreadPoolExecutor(max_workers=2) as ex:
        text = "".join(ex.map(lambda s: migrate(BUNDLE, s, config), states))
    expected = bundle_schemas()
    assert expected, "the bundle has schemas"
    for fn, db in expected:
        applied = len(re.findall(rf"^migrate {re.escape(fn)}: applied ", text, re.M))
        current = len(re.findall(rf"^migrate {re.escape(fn)}: up to date", text, re.M))
        assert (applied, current) == (1, 1), (fn, text)
        rows = psql(url, f'SELECT COUNT(*) FROM "{db}"._bastion_migrations WHERE function = '
                         f"'{fn}'")
        assert rows == "1", (fn, rows)
        # what the script made is the database's role's, the record too
        owners = psql(url, "SELECT string_agg(DISTINCT relowner::regrole::text, ',') "
                           f"FROM pg_class WHERE relnamespace = '{db}'::regnamespace")
        assert owners == role(db), (db, owners)


def test_migrations_racing_on_two_postgres_databases_make_one_role_and_apply_once(tmp_path):
    """Roles belong to the whole server, so two deployments' hosts migrating
    a database of the same name create its role at the same moment; the
    advisory lock covers only one PostgreSQL database."""
    db = "race_" + uuid.uuid4().hex[:8]
    source = tmp_path / "fn"
    source.mkdir()
    (source / "schema.sql").write_text(
        "CREATE TABLE IF NOT EXISTS items (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " v TEXT NOT NULL);\nCREATE INDEX IF NOT EXISTS items_v ON items (v);\n")
    manifest = manifest_json(tmp_path, f'[functions.probe]\nsource = "{source}"\n'
                                       f'sql = ["{db}"]\n[[routes]]\npath = "/sql"\n'
                                       'function = "probe"\n')
    urls = [pg_database(), pg_database()]
    runs = [(urls[i % 2], tempfile.mkdtemp(prefix="bastion-test-")) for i in range(4)]
    configs = [sql_only_config(state, url) for url, state in runs]
    with ThreadPoolExecutor(max_workers=4) as ex:
        texts = list(ex.map(lambda i: migrate(manifest, runs[i][1], configs[i]), range(4)))
    for url in urls:
        said = [t for (u, _), t in zip(runs, texts) if u == url]
        assert sum("migrate probe: applied " in t for t in said) == 1, said
        assert sum("migrate probe: up to date" in t for t in said) == 1, said
        owners = psql(url, f"SELECT string_agg(DISTINCT relowner::regrole::text, ',') FROM "
                           f"pg_class WHERE relnamespace = '{db}'::regnamespace")
        assert owners == role(db), owners
    assert psql(urls[0], f"SELECT COUNT(*) FROM pg_roles WHERE rolname = '{role(db)}'") == "1"


def test_DATA1_every_function_schema_applies_on_postgres_and_on_sqlite(tmp_path):
    url = pg_database()
    expected = bundle_schemas()
    for config in (sql_only_config(str(tmp_path), url), None):
        state = tempfile.mkdtemp(prefix="bastion-test-")
        first = migrate(BUNDLE, state, config)
        for fn, _ in expected:
            assert re.search(rf"^migrate {re.escape(fn)}: applied ", first, re.M), (fn, first)
        again = migrate(BUNDLE, state, config)
        for fn, _ in expected:
            assert f"migrate {fn}: up to date" in again, (fn, again)
    # epoch ms and money fit (DATA2): no 32-bit integer column anywhere
    narrow = psql(url, "SELECT table_schema || '.' || table_name || '.' || column_name FROM "
                       "information_schema.columns WHERE data_type IN ('integer', 'smallint') "
                       "AND table_schema NOT IN ('pg_catalog', 'information_schema')")
    assert narrow == "", narrow
