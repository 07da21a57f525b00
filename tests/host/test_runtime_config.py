"""The runtime config (issue #9): where a deployment's stores live. Errors
name the file, the line, the key and what was expected; without a file
every store is on SQLite in the state directory."""
import os
import subprocess
import tempfile

import pytest

from conftest import BASTION, BUILD, ROOT, Server

MANIFEST = os.path.join(BUILD, "test", "manifest.json")


def migrate_with(text, env=None):
    d = tempfile.mkdtemp(prefix="bastion-rc-")
    path = os.path.join(d, "runtime.toml")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([BASTION, "migrate", "--state", d, "--manifest", MANIFEST,
                        "--runtime-config", path], capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, **(env or {})), timeout=60)
    return r, path


@pytest.mark.parametrize("text, line, expect", [
    ('[kv.default]\nbackend = "memcached"\n', 1, 'backend "memcached" is not a kv backend; '
                                              'expected "sqlite" or "redis"'),
    ('[sql.default]\nbackend = "redis"\nurl = "redis://x"\n', 1, 'expected "sqlite" or "postgres"'),
    ('[kv.default]\nbackend = "redis"\n', 1, "url is missing"),
    ('[kv.default]\nurl = "redis://127.0.0.1"\n', 1, "backend is missing"),
    ('[kv.default]\nbackend = "sqlite"\nurl = "x"\n', 1, "url is not used by backend"),
    ('[kv.sesions]\nbackend = "sqlite"\n', 1, "no function in the manifest uses kv store 'sesions'"),
    ('[sql.nope]\nbackend = "sqlite"\n', 1, "no function in the manifest uses database 'nope'"),
    ('\n\n[kv.default]\nbackend = "sqlite"\ncolour = "blue"\n', 5, "unknown key 'colour'"),
    ('backend = "sqlite"\n', 1, "keys belong in a [kv.<store>] or [sql.<database>] table"),
    ('[cache.default]\n', 1, "unknown table [cache…]"),
    ('[kv.default]\nbackend = sqlite\n', 2, "backend: expected a string in double quotes"),
    ('[kv.default]\nbackend = "sqlite\n', 2, "unterminated string"),
    ('[kv.default]\nbackend = "sqlite"\nrequired = yes\n', 3, "required: expected true or false"),
    ('[kv.default]\nbackend = "sqlite"\n[kv.default]\nbackend = "sqlite"\n', 3, "given twice"),
    ('[kv.default]\nbackend = "sqlite"\nkey_prefix = "x:"\n', 1, "key_prefix is only for"),
    ('[kv.default]\nbackend = "redis"\nurl = "redis://h/${BASTION_TEST_UNSET_VAR}"\n', 3,
     "url: ${BASTION_TEST_UNSET_VAR} is not set in the environment"),
    ('[kv.default]\nbackend = "redis"\nurl = "http://127.0.0.1:6379"\n', 1, "redis://"),
    ('[sql.default]\nbackend = "postgres"\nurl = "mysql://127.0.0.1/x"\n', 1, "postgres"),
])
def test_runtime_config_errors_name_file_line_key_and_expectation(text, line, expect):
    r, path = migrate_with(text)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert f"{path}:{line}" in r.stderr, r.stderr
    assert expect in r.stderr, r.stderr
    assert "refusing to start" in r.stderr


def test_runtime_config_interpolates_environment_and_comments():
    # every table on SQLite, but through a file with comments and ${VAR}
    r, _ = migrate_with('# where the stores live\n[kv.default]   # all kv\n'
                        'backend = "${BASTION_TEST_BACKEND}"  # from the environment\n\n'
                        '[sql.probe]\nbackend = "sqlite"\nrequired = false\n',
                        env={"BASTION_TEST_BACKEND": "sqlite"})
    assert r.returncode == 0, r.stderr


def test_no_runtime_config_means_sqlite_in_the_state_directory():
    srv = Server(MANIFEST)
    srv.migrate()
    srv.start()
    try:
        assert srv.post("/kv", {"op": "set", "key": "k", "value": "v"}).json() == {"ok": None}
        assert os.path.exists(os.path.join(srv.state, "kv.sqlite"))
    finally:
        assert srv.stop() == 0


def migrate_schema(tmp_path, schema):
    """`bastion migrate` (SQLite) of the probe with `schema` as its schema.sql."""
    import json
    m = json.load(open(MANIFEST))
    (tmp_path / "schema.sql").write_bytes(schema.encode())
    m["functions"]["probe"]["schema"] = str(tmp_path / "schema.sql")
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    r = subprocess.run([BASTION, "migrate", "--state", str(tmp_path),
                        "--manifest", str(tmp_path / "manifest.json")],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    return r


def test_schema_dialect_sections_are_cut_with_crlf_and_indent(tmp_path):
    r = migrate_schema(tmp_path, "CREATE TABLE a (x INTEGER);\r\n"
                                 "  -- bastion:dialect postgres\r\nCREATE TABLE nope (;\r\n"
                                 "-- bastion:end\r\n"
                                 "-- bastion:dialect sqlite\r\nCREATE TABLE b (x INTEGER);\r\n"
                                 "-- bastion:end\r\nCREATE TABLE c (x INTEGER);")
    assert r.returncode == 0, r.stdout + r.stderr
    import sqlite3
    db = sqlite3.connect(str(tmp_path / "sql" / "probe.sqlite"))
    names = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"a", "b", "c"} <= names and "nope" not in names, names


def test_schema_dialect_end_marker_stands_alone(tmp_path):
    # "-- bastion:endless" is a comment inside the section, not its end
    r = migrate_schema(tmp_path, "-- bastion:dialect postgres\n-- bastion:endless\n"
                                 "CREATE TABLE nope (;\n-- bastion:end\nCREATE TABLE c (x INTEGER);")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("schema, line", [
    # no end: everything after the marker would silently be another dialect's
    ("CREATE TABLE a (x INTEGER);\n-- bastion:dialect postgres\nSELECT 1;\n"
     "CREATE TABLE b (x INTEGER);\n", 2),
    # a marker inside a section: the first end would close both
    ("-- bastion:dialect postgres\n-- bastion:dialect sqlite\nSELECT 1;\n-- bastion:end\n"
     "CREATE TABLE b (x INTEGER);\n-- bastion:end\n", 2),
    # an end with no section open
    ("CREATE TABLE a (x INTEGER);\n-- bastion:end\n", 2),
])
def test_schema_dialect_markers_that_do_not_pair_refuse_the_migration(tmp_path, schema, line):
    r = migrate_schema(tmp_path, schema)
    assert r.returncode != 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert f"schema.sql:{line}" in out and "bastion:" in out, out


def test_schema_include_expands_a_shared_file_once(tmp_path):
    (tmp_path / "shared.sql").write_text("-- bastion:dialect sqlite\nCREATE TABLE inc (x INTEGER);"
                                         "\n-- bastion:end")  # no final newline: one is added
    r = migrate_schema(tmp_path, "CREATE TABLE a (x INTEGER);\n-- bastion:include shared.sql\n"
                                 "CREATE TABLE b (x INTEGER);\n")
    assert r.returncode == 0, r.stdout + r.stderr
    import sqlite3
    db = sqlite3.connect(str(tmp_path / "sql" / "probe.sqlite"))
    names = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"a", "inc", "b"} <= names, names
    # the checksum covers the include: editing it is a change migrate refuses
    (tmp_path / "shared.sql").write_text("CREATE TABLE inc2 (x INTEGER);\n")
    again = migrate_schema(tmp_path, "CREATE TABLE a (x INTEGER);\n-- bastion:include shared.sql\n"
                                     "CREATE TABLE b (x INTEGER);\n")
    said = again.stdout + again.stderr
    assert again.returncode != 0 and "changed since it was applied" in said, said


@pytest.mark.parametrize("files, why", [
    ({}, "cannot read"),
    ({"shared.sql": "-- bastion:include other.sql\n", "other.sql": "SELECT 1;\n"}, "do not nest"),
])
def test_schema_include_that_cannot_be_expanded_refuses_the_migration(tmp_path, files, why):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    r = migrate_schema(tmp_path, "CREATE TABLE a (x INTEGER);\n-- bastion:include shared.sql\n")
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "schema.sql:2:" in out and why in out, out
