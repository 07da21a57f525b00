"""http-out: allow-list, budget as timeout, errors kept apart (REL1, REL2)."""
import http.server
import threading
import time

import pytest


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
