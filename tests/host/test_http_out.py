"""http-out: allow-list, budget as timeout, errors kept apart (REL1, REL2); the function's
outbound_body_limit; BASTION_OUTBOUND_CA_FILE for outbound TLS. (The address wall under the
allow-list is SAFE4's: test_safe4_outbound.py.)"""
import http.server
import json
import os
import ssl
import subprocess
import threading
import time

import pytest

from conftest import BUILD, ROOT, Server, manifest_json

BUILD_TEST = os.path.join(BUILD, "test")


class Fake(http.server.BaseHTTPRequestHandler):
    mode = "ok"
    seen = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Fake.seen.append((self.path, dict(self.headers), body))
        if Fake.mode == "hang":
            time.sleep(12)
        out = b'{"id":"e-1"}'
        self.send_response(500 if Fake.mode == "fail" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def fake():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()


def send(fixtures, url, body="hi"):
    r = fixtures.post("/http", {"method": "POST", "url": url, "body": body})
    assert r.status == 200, r
    return r.json()


def test_http_out_allowed_round_trip(fixtures, fake):
    Fake.mode = "ok"
    r = send(fixtures, f"http://127.0.0.1:{fake}/emails", body='{"to":"x"}')
    assert r == {"ok": {"status": 200, "body": '{"id":"e-1"}', "content_type": "application/json"}}
    path, headers, body = Fake.seen[-1]
    assert path == "/emails" and body == b'{"to":"x"}' and headers["x-probe"] == "1"


def test_http_out_5xx_is_a_response_not_an_error(fixtures, fake):
    Fake.mode = "fail"
    assert send(fixtures, f"http://127.0.0.1:{fake}/x")["ok"]["status"] == 500


def test_http_out_not_on_allow_list_is_denied(fixtures, fake):
    for url in (f"http://localhost:{fake}/x", f"https://127.0.0.1:{fake}/x",
                f"http://127.0.0.1@evil.example:{fake}/x", "file:///etc/passwd",
                f"http://127.0.0.1.evil.example:{fake}/"):
        assert send(fixtures, url)["error"] == "denied", url


def test_REL2_http_out_hanging_peer_times_out_within_budget(fixtures, fake):
    Fake.mode = "hang"
    t0 = time.monotonic()
    r = send(fixtures, f"http://127.0.0.1:{fake}/slow")
    elapsed = time.monotonic() - t0
    assert r["error"] == "timeout", r
    assert 7.5 <= elapsed < 9.5, elapsed  # the 8 s external budget, not the peer's 12 s
    Fake.mode = "ok"


def test_http_out_unreachable_is_unavailable(fixtures):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert send(fixtures, f"http://127.0.0.1:{port}/x")["error"] == "unavailable"


# --- outbound_body_limit: the most bytes of a response body a function takes ----------------

LIMIT = 1000


class Sized(http.server.BaseHTTPRequestHandler):
    """POST /length/N: N bytes with a Content-Length; /chunked/N: N bytes chunked, without one;
    /stream/N: N bytes chunked, 64 KiB at a time, the bytes it managed to send kept in `sent`."""
    protocol_version = "HTTP/1.1"
    sent = {}

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        kind, n = self.path.split("/")[1:3]
        n = int(n)
        self.send_response(200)
        self.send_header("Connection", "close")  # one request each: nothing reads a reset
        self.send_header("Content-Type", "text/plain")
        Sized.sent[self.path] = 0
        try:
            if kind == "length":
                self.send_header("Content-Length", str(n))
                self.end_headers()
                self.wfile.write(b"a" * n)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            step = 65536 if kind == "stream" else 300
            for at in range(0, n, step):
                part = b"a" * min(step, n - at)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                Sized.sent[self.path] += len(part)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the host stopped reading and closed the connection

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def sized():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sized)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def probe_manifest(tmp, extra=""):
    toml = ('[functions.probe]\nsource = "tests/host/fixtures/probe"\ntimeout_ms = 10000\n'
            'outbound = ["http://127.0.0.1:*", "https://127.0.0.1:*"]\n' + extra +
            '[[routes]]\npath = "/http"\nfunction = "probe"\n')
    return manifest_json(tmp, toml, "outbound")


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    srv = Server(probe_manifest(tmp_path_factory.mktemp("limit"),
                                f"outbound_body_limit = {LIMIT}\n"), workers=2).start()
    yield srv
    assert srv.stop() == 0


OVER = f"outbound response body over the function's outbound_body_limit of {LIMIT} bytes"


@pytest.mark.parametrize("kind", ["length", "chunked"])
def test_http_out_body_at_the_outbound_body_limit_is_whole(limited, sized, kind):
    r = send(limited, f"{sized}/{kind}/{LIMIT}")
    assert r["ok"]["status"] == 200 and r["ok"]["body"] == "a" * LIMIT, r


@pytest.mark.parametrize("kind", ["length", "chunked"])
def test_http_out_body_over_the_outbound_body_limit_is_invalid(limited, sized, kind):
    r = send(limited, f"{sized}/{kind}/{LIMIT + 1}")
    assert r == {"error": "invalid", "detail": OVER}, r


def test_http_out_stops_reading_a_body_past_the_outbound_body_limit(limited, sized):
    """64 MiB offered: the host fails the call at once and stops reading, so the site can push
    no more than the sockets' buffers take before its writes fail."""
    t0 = time.monotonic()
    r = send(limited, f"{sized}/stream/{64 << 20}")
    assert r == {"error": "invalid", "detail": OVER}, r
    assert time.monotonic() - t0 < 5
    time.sleep(0.5)  # the site's writes fail once the sockets' buffers are full
    assert Sized.sent[f"/stream/{64 << 20}"] < 32 << 20, Sized.sent


def test_http_out_outbound_body_limit_defaults_to_16_MiB(fixtures, sized):
    """The fixture bundle's probe sets no outbound_body_limit."""
    r = send(fixtures, f"{sized}/length/{(16 << 20) + 1}")
    assert r == {"error": "invalid", "detail": "outbound response body over the function's "
                 f"outbound_body_limit of {16 << 20} bytes"}, r


@pytest.mark.parametrize("value", ["0", "-1", "67108865", '"1000"', "true", "1.5"])
def test_http_out_outbound_body_limit_is_validated(tmp_path, value):
    toml = tmp_path / "bad.toml"
    toml.write_text('[functions.probe]\nsource = "tests/host/fixtures/probe"\n'
                    f'outbound_body_limit = {value}\n')
    p = subprocess.run(["python3", "host/tools/manifest.py", str(toml), ROOT, BUILD_TEST,
                        str(tmp_path / "bad.json")], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode != 0
    assert p.stderr.strip() == (f"{toml}: functions.probe.outbound_body_limit: expected an "
                                "integer 1..67108864 (bytes)"), p.stderr


def test_http_out_outbound_body_limit_reaches_the_host_manifest(tmp_path):
    with open(probe_manifest(tmp_path, "outbound_body_limit = 67108864\n")) as f:
        assert json.load(f)["functions"]["probe"]["outbound_body_limit"] == 64 << 20
    with open(probe_manifest(tmp_path)) as f:
        assert json.load(f)["functions"]["probe"]["outbound_body_limit"] == 16 << 20


# --- BASTION_OUTBOUND_CA_FILE: the operator's CA bundle for outbound TLS --------------------

def self_signed(directory, name):
    """A self-signed certificate for 127.0.0.1 (openssl): (cert.pem, key.pem)."""
    cert, key = os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key,
                    "-out", cert], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory):
    """A fake HTTPS site on 127.0.0.1 whose certificate nobody's system bundle holds:
    (its base URL, its certificate, another self-signed certificate)."""
    d = str(tmp_path_factory.mktemp("tls"))
    cert, key = self_signed(d, "site")
    other, _ = self_signed(d, "other")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    srv.daemon_threads = True
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{srv.server_address[1]}", cert, other
    srv.shutdown()


def tls_server(tmp, ca):
    env = {"BASTION_OUTBOUND_CA_FILE": ca} if ca else {}
    return Server(probe_manifest(tmp), env=env, workers=2).start()


def test_http_out_https_verifies_against_BASTION_OUTBOUND_CA_FILE(tmp_path, tls_site):
    base, cert, _ = tls_site
    Fake.mode = "ok"
    srv = tls_server(tmp_path, cert)
    try:
        r = send(srv, f"{base}/emails")
        assert r["ok"]["status"] == 200 and r["ok"]["body"] == '{"id":"e-1"}', r
        used = [l for l in srv.log_lines() if "BASTION_OUTBOUND_CA_FILE" in l.get("msg", "")]
        assert len(used) == 1 and used[0]["level"] == "info" and used[0]["path"] == cert, used
    finally:
        assert srv.stop() == 0


@pytest.mark.parametrize("ca", ["none", "another"])
def test_http_out_https_to_an_untrusted_certificate_fails(tmp_path, tls_site, ca):
    """Without the file the system's bundle is used, which does not hold the site's
    certificate; with a file holding another certificate, that one alone is trusted."""
    base, _, other = tls_site
    srv = tls_server(tmp_path, other if ca == "another" else None)
    try:
        r = send(srv, f"{base}/emails")
        assert r["error"] == "unavailable" and "certificate" in r["detail"], r
    finally:
        assert srv.stop() == 0


@pytest.mark.parametrize("content", [None, "", "not a certificate\n"])
def test_REL8_an_unusable_BASTION_OUTBOUND_CA_FILE_stops_the_start(tmp_path, content):
    path = str(tmp_path / "ca.pem")
    if content is not None:
        with open(path, "w") as f:
            f.write(content)
    srv = Server(probe_manifest(tmp_path), env={"BASTION_OUTBOUND_CA_FILE": path})
    with pytest.raises(RuntimeError) as e:
        srv.start()
    assert "server exited 2" in str(e.value), e.value
    assert f"BASTION_OUTBOUND_CA_FILE={path}: " in str(e.value), e.value
    assert "refusing to start: BASTION_OUTBOUND_CA_FILE is not usable" in str(e.value)
