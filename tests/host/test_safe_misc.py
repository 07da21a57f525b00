"""Host and core safety odds and ends: the dev secrets file (REL8, SAFE5) and
where a \u0000 in a body is blamed (VAL3, ERR1)."""
import datetime
import glob
import os
import resource
import signal
import stat
import subprocess

from conftest import BASTION, BUILD, PROBE_WITH_SECRET, ROOT, assert_problem, manifest_json


def probe_manifest(tmp_path):
    """A one-function manifest whose probe needs a required secret."""
    return manifest_json(tmp_path, PROBE_WITH_SECRET)


def invoke_dev(manifest, state, preexec_fn=None):
    return subprocess.run([BASTION, "invoke", "probe", "--path", "/config", "--query",
                           "name=signing_key", "--manifest", manifest, "--state", str(state),
                           "--dev"], capture_output=True, text=True, cwd=ROOT,
                          preexec_fn=preexec_fn)


def secrets_path(state):
    return os.path.join(str(state), "dev-secrets.env")


def no_file_writes():
    """In the child: any write to a regular file kills it with SIGXFSZ, so
    whatever file it created is left exactly as it was before the write."""
    os.umask(0o022)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)


def test_SAFE_dev_secrets_file_is_0600_from_creation(tmp_path):
    manifest = probe_manifest(tmp_path)
    # killed at the first byte written: the file must already be 0600 then
    cut = tmp_path / "cut"
    cut.mkdir()
    r = invoke_dev(manifest, cut, preexec_fn=no_file_writes)
    assert r.returncode == -signal.SIGXFSZ, (r.returncode, r.stderr)
    created = glob.glob(secrets_path(cut) + "*")
    assert created, os.listdir(cut)
    for path in created:
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600, (path, oct(os.lstat(path).st_mode))
    # and a normal run leaves a 0600 regular file holding the value it served
    state = tmp_path / "state"
    state.mkdir()
    r = invoke_dev(manifest, state)
    assert r.returncode == 0, r.stderr
    st = os.lstat(secrets_path(state))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    value = r.stdout.splitlines()[-1]
    with open(secrets_path(state)) as f:
        line = f.read().strip()
    assert line.startswith("signing_key=") and line[len("signing_key="):] in value
    assert not [n for n in os.listdir(state) if n.startswith("dev-secrets.env.")]  # no temp left


def test_REL8_dev_secrets_symlink_is_refused_not_followed(tmp_path):
    manifest = probe_manifest(tmp_path)
    for name, existing in (("to-file", True), ("dangling", False)):
        state = tmp_path / name
        state.mkdir()
        target = tmp_path / (name + ".target")
        if existing:
            target.write_text("untouched\n")
        os.symlink(target, secrets_path(state))
        r = invoke_dev(manifest, state)
        assert "generated" not in r.stderr, r.stderr
        assert secrets_path(state) in r.stderr and "symbolic link" in r.stderr, r.stderr
        assert os.path.islink(secrets_path(state))
        assert os.readlink(secrets_path(state)) == str(target)
        if existing:
            assert target.read_text() == "untouched\n"
        else:
            assert not target.exists()
        assert '"value":null' in r.stdout.replace(" ", ""), r.stdout


def test_REL8_dev_secrets_file_others_can_read_or_we_do_not_own_is_refused(tmp_path):
    manifest = probe_manifest(tmp_path)
    planted = "signing_key=" + "ab" * 32 + "\n"
    cases = [("readable", 0o644, None, "group or others"),
             ("writable", 0o602, None, "group or others")]
    if os.geteuid() == 0:
        cases.append(("foreign", 0o600, 65534, "owned by another user"))
    for name, mode, owner, why in cases:
        state = tmp_path / name
        state.mkdir()
        path = secrets_path(state)
        with open(path, "w") as f:
            f.write(planted)
        os.chmod(path, mode)
        if owner is not None:
            os.chown(path, owner, owner)
        r = invoke_dev(manifest, state)
        assert path in r.stderr and why in r.stderr, (name, r.stderr)
        assert "ab" * 32 not in r.stdout and "ab" * 32 not in r.stderr  # never read, never shown
        assert "generated" not in r.stderr, r.stderr
        with open(path) as f:
            assert f.read() == planted  # never rewritten
        assert stat.S_IMODE(os.stat(path).st_mode) == mode


def nul_errors(r):
    p = assert_problem(r, 422, "validation")
    return [(e["pointer"], e["detail"]) for e in p["errors"]]


def test_VAL3_nul_in_a_field_is_blamed_on_that_field(bundle):
    # the raw body spells the escape: json.dumps would too, but make it explicit
    body = '{"email":"a\\u0000b@x.io","product_id":"p-nul"}'
    r = bundle.post("/api/waitlist", body, headers={"Content-Type": "application/json"})
    assert nul_errors(r) == [("/email", "must not contain the NUL character (\\u0000)")], r
    r = bundle.post("/api/waitlist", {"email": "a@x.io", "product_id": "p\u0000x"})
    assert [e[0] for e in nul_errors(r)] == ["/product_id"], r
    # an escaped member name is decoded, and '/' and '~' escaped (RFC 6901 §3)
    r = bundle.post("/api/waitlist", '{"\\u0065m/a~il":"\\u0000"}',
                    headers={"Content-Type": "application/json"})
    assert [e[0] for e in nul_errors(r)] == ["/em~1a~0il"], r
    assert bundle.get("/api/waitlist/p-nul/count").json()["count"] == 0


def test_VAL3_nul_in_a_nested_field_is_blamed_on_its_path(bundle):
    day = (datetime.datetime.now(datetime.timezone.utc).date()
           + datetime.timedelta(days=400)).isoformat()
    r = bundle.post("/api/bookings", {"tier": "standard", "package": "basic",
                                      "start": f"{day}T10:00:00Z",
                                      "customer": {"name": "Ann", "email": "a\u0000@x.io"}})
    assert [e[0] for e in nul_errors(r)] == ["/customer/email"], r


def test_VAL3_nul_in_a_query_parameter_is_refused_naming_it(bundle):
    # %00 once cut the value short: "standard%00zz" was served as "standard"
    day = "2030-01-01"
    ok = bundle.get(f"/api/availability?date={day}&tier=standard&package=basic")
    assert ok.status == 200, ok
    for query, pointer in ((f"date={day}&tier=standard%00zz&package=basic", "/tier"),
                           (f"date={day}%00x&tier=standard&package=basic", "/date")):
        r = bundle.get("/api/availability?" + query)
        assert nul_errors(r) == [(pointer, "must not contain the NUL character")], r
