"""`bastion backup` and `bastion restore` (host/backup/): a consistent copy of every SQLite
database of a state directory while `serve` writes to it, in one ustar file with a
checksummed BACKUP.json, and a restore that puts it into an empty directory only after
every checksum and `PRAGMA integrity_check` holds.

What each test proves, and what would make it fail:
- under load: every write acknowledged before the backup began is in the restored
  state. A copy of the database files (cp) misses the rows still in the WAL, and the test
  shows it with such a copy taken at the same moment; a backup that blocked serve shows as
  writers failing or none acknowledged while it ran.
- restore: a flipped byte, a crafted member with a right checksum but a broken database,
  unsafe names, a non-empty target: each refused, with nothing written. A restore that
  skipped a check would accept one of them.
"""
import hashlib
import io
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid

import pytest

from conftest import (BASTION, BUILD, ROOT, FakeEmail, Server, admin_headers, bearer,
                      mint_jwt, migrate)

MANIFEST = os.path.join(BUILD, "manifest.json")
pytestmark = pytest.mark.sqlite_only


def bastion(*args, timeout=120):
    return subprocess.run([BASTION, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def backup(state, out, *extra):
    return bastion("backup", "--state", state, "--out", out, *extra)


def restore(archive, state):
    return bastion("restore", "--in", archive, "--state", state)


def listing(directory):
    """Every path under `directory`, to show that a refused command wrote nothing."""
    out = set()
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            out.add(os.path.relpath(os.path.join(root, name), directory))
    return out


def integrity(path):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


def rows(path, query, params=()):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


# --- 1. a backup under load ---------------------------------------------------------

WRITES_PER_WRITER = 250  # waitlist: fewer WAL frames than SQLite's autocheckpoint (1000)
RUN_LIMIT_S = 40
BALLAST_ROWS, BALLAST_BYTES = 300, 100_000  # 30 MB in content.sqlite: the copy takes a while


class Writer(threading.Thread):
    """Acknowledged writes through one route, one after another: acks holds (the
    monotonic time the answer arrived, what was written) for every 2xx; any other answer
    is kept in errors (the test then fails: serve must go on answering)."""

    def __init__(self, srv, stop):
        super().__init__(daemon=True)
        self.srv, self.stop = srv, stop
        self.acks, self.errors = [], []

    def run(self):
        deadline = time.monotonic() + RUN_LIMIT_S
        while (not self.stop.is_set() and len(self.acks) < WRITES_PER_WRITER
               and time.monotonic() < deadline):
            key = uuid.uuid4().hex[:16]
            try:
                ok, detail = self.write(key)
            except Exception as e:  # noqa: BLE001 - any failure is the test's to report
                ok, detail = False, repr(e)
            if ok:
                self.acks.append((time.monotonic(), key))
            else:
                self.errors.append(detail)
            time.sleep(0.004)

    def acked_before(self, t):
        return {k for at, k in self.acks if at < t}


class WaitlistJoins(Writer):
    """sql waitlist (and kv ratelimit): POST /api/waitlist, one new email each."""
    product = "backup-load"

    def write(self, key):
        r = self.srv.post("/api/waitlist", {"email": f"{key}@example.com",
                                            "product_id": self.product})
        return r.status == 201, r


class PageCreates(Writer):
    """sql content: PUT /api/admin/pages/{slug}, If-None-Match: *, a 20 kB body."""
    body = "backup " * 3000

    def write(self, key):
        r = self.srv.request("PUT", f"/api/admin/pages/p-{key}",
                             body={"title": key, "body": self.body},
                             headers=dict(admin_headers(), **{"If-None-Match": "*"}))
        return r.status == 201, r


class Logouts(Writer):
    """kv sessions: a CSRF token (kv set), then logout (kv delete, kv set deny:<jti>)."""

    def write(self, key):
        h = bearer(mint_jwt(jti=key, sub="user-" + key))
        r = self.srv.get("/api/auth/csrf", headers=h)
        if r.status != 200:
            return False, r
        r = self.srv.post("/api/auth/logout",
                          headers=dict(h, **{"X-CSRF-Token": r.json()["csrf_token"]}))
        return r.status == 204, r


def add_ballast(state):
    conn = sqlite3.connect(os.path.join(state, "sql", "content.sqlite"), isolation_level=None)
    conn.execute("CREATE TABLE backup_ballast (id INTEGER PRIMARY KEY, data BLOB)")
    conn.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                 "INSERT INTO backup_ballast SELECT i, randomblob(?) FROM n",
                 (BALLAST_ROWS, BALLAST_BYTES))
    conn.close()


def test_backup_under_load_holds_every_write_acknowledged_before_it_began(tmp_path):
    email = FakeEmail()
    # under tmp_path, which pytest prunes: the ballast is not left in /tmp run after run
    srv = Server(MANIFEST, state=str(tmp_path / "live"),
                 env={"BASTION_VAR_waitlist_joins_per_minute": "1000000",
                      "BASTION_VAR_email_api_base": email.base})
    migrate(MANIFEST, srv.state)
    add_ballast(srv.state)
    srv.start()
    stop = threading.Event()
    writers = [WaitlistJoins(srv, stop), PageCreates(srv, stop), Logouts(srv, stop)]
    out = str(tmp_path / "load.tar")
    try:
        for w in writers:
            w.start()
        deadline = time.monotonic() + 20
        while min(len(w.acks) for w in writers) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(w.is_alive() for w in writers), [w.errors[:3] for w in writers]
        # what a plain copy of the file would hold, taken as the backup starts
        naive = str(tmp_path / "naive-waitlist.sqlite")
        shutil.copyfile(os.path.join(srv.state, "sql", "waitlist.sqlite"), naive)
        t_copy = time.monotonic()
        started = time.monotonic()
        r = backup(srv.state, out)
        ended = time.monotonic()
        time.sleep(0.3)  # the writers go on after it, too
    finally:
        stop.set()
        for w in writers:
            w.join(30)
        assert srv.stop() == 0
        email.close()
    assert r.returncode == 0, r.stderr
    for w in writers:
        assert not w.errors, (type(w).__name__, w.errors[:3])
    during = sum(1 for w in writers for at, _ in w.acks if started <= at <= ended)
    assert during > 0, f"no write was acknowledged during the {ended - started:.2f}s backup"

    state = str(tmp_path / "restored")
    rr = restore(out, state)
    assert rr.returncode == 0, rr.stderr
    waitlist = os.path.join(state, "sql", "waitlist.sqlite")
    content = os.path.join(state, "sql", "content.sqlite")
    kv = os.path.join(state, "kv.sqlite")
    for db in (waitlist, content, kv):
        assert integrity(db) == [("ok",)], db

    joins, pages, logouts = writers
    emails = {e for (e,) in rows(waitlist, "SELECT email FROM waitlist")}
    want = {f"{k}@example.com" for k in joins.acked_before(started)}
    assert want and want <= emails, sorted(want - emails)[:5]
    slugs = dict(rows(content, "SELECT slug, length(body) FROM pages"))
    want = {f"p-{k}" for k in pages.acked_before(started)}
    assert want and want <= set(slugs), sorted(want - set(slugs))[:5]
    assert {slugs[s] for s in want} == {len(PageCreates.body.strip())}
    assert rows(content, "SELECT count(*) FROM backup_ballast") == [(BALLAST_ROWS,)]
    denied = {bytes(k) for (k,) in rows(kv, "SELECT key FROM kv WHERE store = 'sessions'")}
    want = {b"deny:" + k.encode() for k in logouts.acked_before(started)}
    assert want and want <= denied, sorted(want - denied)[:5]

    # the control: the database file alone, copied at the same moment, lacks them (they
    # are in its WAL), so this test tells a file copy from a snapshot
    copied = {e for (e,) in rows(naive, "SELECT email FROM waitlist")}
    want = {f"{k}@example.com" for k in joins.acked_before(t_copy)}
    assert not want <= copied

    # the migration bookkeeping came along: nothing to apply again
    m = bastion("migrate", "--state", state, "--manifest", MANIFEST)
    assert m.returncode == 0, m.stderr
    assert "applied" not in m.stderr and "up to date" in m.stderr, m.stderr

    # and serve answers from it
    again = Server(MANIFEST, state=state).start()
    try:
        n = again.get(f"/api/waitlist/{WaitlistJoins.product}/count").json()["count"]
        assert n >= len(joins.acked_before(started))
        sample = sorted(pages.acked_before(started))[0]
        assert again.get(f"/api/pages/p-{sample}").status == 200
        revoked = sorted(logouts.acked_before(started))[0]
        h = bearer(mint_jwt(jti=revoked, sub="user-" + revoked))
        assert again.get("/api/auth/csrf", headers=h).status == 401
    finally:
        assert again.stop() == 0


# --- 2. refusals ------------------------------------------------------------------

@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A state with every database of the bundle, a kv row, a waitlist row and dev
    secrets, and its backup: (state, archive)."""
    d = tmp_path_factory.mktemp("small")
    state = str(d / "state")
    migrate(MANIFEST, state)
    r = bastion("invoke", "waitlist", "--method", "POST", "--path", "/api/waitlist",
                "--header", "content-type: application/json",
                "--body", '{"email": "small@example.com", "product_id": "p1"}',
                "--state", state, "--manifest", MANIFEST)
    assert r.stdout.startswith("201"), (r.stdout, r.stderr)
    secrets = os.path.join(state, "dev-secrets.env")
    with open(secrets, "w") as f:
        f.write("auth_jwt_secret=" + "ab" * 32 + "\n")
    os.chmod(secrets, 0o600)
    archive = str(d / "small.tar")
    r = backup(state, archive)
    assert r.returncode == 0, r.stderr
    return state, archive


def members(archive):
    with tarfile.open(archive) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers()}


def craft(path, files, index=None):
    """A ustar archive of `files` (name → bytes) and a BACKUP.json listing each with its
    true size and SHA-256 (or `index` as given): a backup as a tool other than ours, or an
    attacker, could write it."""
    if index is None:
        index = {"format": "bastion-backup", "version": 1, "created_at": "2024-01-01T00:00:00Z",
                 "members": [{"name": n, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                             for n, b in files.items()], "skipped": []}
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in list(files.items()) + [("BACKUP.json", json.dumps(index).encode())]:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            t.addfile(info, io.BytesIO(data))
    return path


def refused(tmp_path, archive, target=None):
    """Restores `archive` into an absent directory and checks that it fails and that
    nothing appears in the target's parent; the message."""
    target = target or str(tmp_path / "target")
    before = listing(tmp_path)
    r = restore(archive, target)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert listing(tmp_path) == before, listing(tmp_path) - before
    line = r.stderr.strip()
    assert "\n" not in line and line.startswith("restore: "), r.stderr
    return line


def test_backup_is_a_ustar_file_whose_index_has_every_members_sha256(small):
    state, archive = small
    with tarfile.open(archive) as t:
        infos = t.getmembers()
        assert all(i.isreg() and i.mode == 0o600 for i in infos)
        assert infos[-1].name == "BACKUP.json"
    got = members(archive)
    index = json.loads(got.pop("BACKUP.json"))
    assert index["format"] == "bastion-backup" and index["version"] == 1
    assert time.strptime(index["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    listed = {m["name"]: m for m in index["members"]}
    assert set(listed) == set(got)
    for name, data in got.items():
        assert listed[name]["size"] == len(data)
        assert listed[name]["sha256"] == hashlib.sha256(data).hexdigest()
    dbs = {f"sql/{n}" for n in os.listdir(os.path.join(state, "sql")) if n.endswith(".sqlite")}
    assert set(got) == dbs | {"kv.sqlite", "dev-secrets.env"}
    assert os.stat(archive).st_mode & 0o777 == 0o600


def test_restore_into_an_absent_or_empty_directory(small, tmp_path):
    _, archive = small
    empty = tmp_path / "empty"
    empty.mkdir()
    for target in (str(tmp_path / "absent"), str(empty)):
        r = restore(archive, target)
        assert r.returncode == 0, r.stderr
        assert rows(os.path.join(target, "sql", "waitlist.sqlite"),
                    "SELECT email FROM waitlist") == [("small@example.com",)]
        secrets = os.path.join(target, "dev-secrets.env")
        assert stat.S_IMODE(os.stat(secrets).st_mode) == 0o600
        assert not [n for n in os.listdir(tmp_path) if ".restore-" in n]


def test_restore_refuses_a_non_empty_state_directory_and_writes_nothing(small, tmp_path):
    _, archive = small
    target = tmp_path / "busy"
    target.mkdir()
    (target / "kv.sqlite").write_bytes(b"live data")
    line = refused(tmp_path, archive, str(target))
    assert str(target) in line and "not empty" in line
    assert (target / "kv.sqlite").read_bytes() == b"live data"


def test_restore_refuses_a_flipped_byte_with_a_checksum_error(small, tmp_path):
    _, archive = small
    bad = str(tmp_path / "flipped.tar")
    shutil.copyfile(archive, bad)
    with tarfile.open(bad) as t:
        m = t.getmember("sql/waitlist.sqlite")
    with open(bad, "r+b") as f:
        f.seek(m.offset_data + 5000)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0x01]))
    line = refused(tmp_path, bad)
    assert bad in line and "sql/waitlist.sqlite" in line and "SHA-256" in line, line


def test_restore_refuses_a_damaged_header(small, tmp_path):
    _, archive = small
    bad = str(tmp_path / "header.tar")
    shutil.copyfile(archive, bad)
    with open(bad, "r+b") as f:
        f.seek(3)  # inside the first member's name
        f.write(b"X")
    assert "checksum" in refused(tmp_path, bad)


@pytest.mark.parametrize("name", ["../x", "/tmp/bastion-backup-test-x", "sql/../../x",
                                  "sql/./waitlist.sqlite", "sql//waitlist.sqlite"])
def test_restore_refuses_unsafe_member_names(tmp_path, name):
    bad = craft(str(tmp_path / "unsafe.tar"), {name: b"payload"})
    line = refused(tmp_path, bad)
    assert "unsafe name" in line, line
    assert not os.path.exists("/tmp/bastion-backup-test-x")
    assert not os.path.exists(os.path.join(tmp_path, "x"))


@pytest.mark.parametrize("name", ["sql/notes.txt", "kv.sqlite-wal", "sql/Orders.sqlite",
                                  "p" * 155 + "/" + "n" * 100])  # the longest ustar name
def test_restore_refuses_members_a_state_directory_does_not_hold(tmp_path, name):
    bad = craft(str(tmp_path / "unknown.tar"), {name: b"hello"})
    assert "not a file a state directory holds" in refused(tmp_path, bad)


def test_restore_refuses_a_database_that_fails_integrity_check(tmp_path):
    """A member whose checksums are right but whose database is not: only the
    integrity check can tell."""
    db = str(tmp_path / "broken.sqlite")
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.execute("CREATE INDEX t_x ON t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(f"value-{i:04d}",) for i in range(200)])
    conn.commit()
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 't_x'").fetchone()
    conn.close()
    data = bytearray(open(db, "rb").read())
    end = root * page_size  # the index page's cells sit at its end: change a key in one
    i = data.rindex(b"value-", end - page_size, end)
    data[i + 6:i + 10] = b"zzzz"
    bad = craft(str(tmp_path / "broken.tar"), {"sql/waitlist.sqlite": bytes(data)})
    line = refused(tmp_path, bad)
    assert "sql/waitlist.sqlite" in line and "integrity_check" in line, line


def test_restore_refuses_a_truncated_backup_and_one_without_its_index(small, tmp_path):
    _, archive = small
    cut = str(tmp_path / "cut.tar")
    with open(archive, "rb") as f, open(cut, "wb") as g:
        g.write(f.read(os.path.getsize(archive) // 2))
    assert "truncated" in refused(tmp_path, cut)
    bare = str(tmp_path / "bare.tar")
    with tarfile.open(bare, "w", format=tarfile.USTAR_FORMAT) as t:
        info = tarfile.TarInfo("kv.sqlite")
        t.addfile(info, io.BytesIO(b""))
    assert "no BACKUP.json" in refused(tmp_path, bare)


def test_restore_refuses_a_member_its_index_does_not_list(tmp_path):
    bad = craft(str(tmp_path / "unlisted.tar"), {"kv.sqlite": b""},
                index={"format": "bastion-backup", "version": 1, "members": []})
    assert "not listed" in refused(tmp_path, bad)


def test_backup_refuses_to_overwrite_a_file_unless_forced(small, tmp_path):
    state, _ = small
    out = tmp_path / "exists.tar"
    out.write_bytes(b"an older backup")
    r = backup(state, str(out))
    assert r.returncode == 1
    assert r.stderr.strip() == f"backup: {out}: exists; refusing to overwrite it (use --force)"
    assert out.read_bytes() == b"an older backup"
    assert listing(tmp_path) == {"exists.tar"}
    r = backup(state, str(out), "--force")
    assert r.returncode == 0, r.stderr
    assert "BACKUP.json" in members(str(out))


def test_a_failed_backup_leaves_no_file(tmp_path):
    state = tmp_path / "state"
    (state / "sql").mkdir(parents=True)
    (state / "sql" / "broken.sqlite").write_bytes(b"not a database, " * 100)
    out = tmp_path / "out" / "b.tar"
    out.parent.mkdir()
    r = backup(str(state), str(out))
    assert r.returncode == 1
    assert r.stderr.strip().startswith(f"backup: {state}/sql/broken.sqlite: "), r.stderr
    assert os.listdir(out.parent) == []


def test_backup_lists_stores_on_other_backends_as_skipped(small, tmp_path):
    state, _ = small
    config = tmp_path / "runtime.toml"
    config.write_text('[kv.default]\nbackend = "redis"\nurl = "redis://127.0.0.1:1/0"\n\n'
                      '[sql.orders]\nbackend = "postgres"\nurl = "postgresql://x@127.0.0.1:1/x"\n')
    out = str(tmp_path / "b.tar")
    r = backup(state, out, "--manifest", MANIFEST, "--runtime-config", str(config))
    assert r.returncode == 0, r.stderr
    assert ("backup: skipped sql.orders: on postgres" in r.stdout
            and "pg_dump" in r.stdout), r.stdout
    assert "backup: skipped kv.sessions: on redis" in r.stdout and "Redis" in r.stdout
    index = json.loads(members(out)["BACKUP.json"])
    skipped = {s["store"]: s["backend"] for s in index["skipped"]}
    assert skipped["sql.orders"] == "postgres" and skipped["kv.ratelimit"] == "redis"
    assert "sql.waitlist" not in skipped
    r = restore(out, str(tmp_path / "r"))
    assert r.returncode == 0, r.stderr
    assert "does not hold sql.orders (on postgres)" in r.stdout


def test_usage_lists_backup_and_restore():
    for args in ([], ["--help"]):
        r = bastion(*args)
        assert r.returncode == 2
        assert "bastion backup  --out FILE" in r.stderr
        assert "bastion restore --in FILE --state DIR" in r.stderr
    r = bastion("restore", "--in", "x.tar")
    assert r.returncode == 2 and "restore needs --in FILE and --state DIR" in r.stderr
