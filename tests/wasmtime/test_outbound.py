"""http-out answers alike in both engines (tests/wasmtime/host.py mirrors outbound_curl.c):
the address wall under the allow-list (SAFE4: `localhost` by name is denied, 127.0.0.1 named
as a literal is reached) and the function's outbound_body_limit (at it: the body; past it:
`invalid`), through the probe fixture's /http, the error's detail included."""
import http.server
import json
import os
import re
import sys
import tempfile
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from conftest import Server, manifest_json  # noqa: E402
import host as wasmtime_host  # noqa: E402

LIMIT = 1000
TOML = ('[functions.probe]\nsource = "tests/host/fixtures/probe"\ntimeout_ms = 10000\n'
        'outbound = ["http://localhost:*", "http://127.0.0.1:*"]\n'
        f'outbound_body_limit = {LIMIT}\n[[routes]]\npath = "/http"\nfunction = "probe"\n')


class Site(http.server.BaseHTTPRequestHandler):
    """POST /N: N bytes; /chunked/N: N bytes chunked. `seen` counts the requests."""
    protocol_version = "HTTP/1.1"
    seen = []

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Site.seen.append(self.path)
        n = int(self.path.rsplit("/", 1)[1])
        self.send_response(200)
        self.send_header("Connection", "close")  # one request each: nothing reads a reset
        self.send_header("Content-Type", "text/plain")
        if self.path.startswith("/chunked/"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (n, b"b" * n))
        else:
            self.send_header("Content-Length", str(n))
            self.end_headers()
            self.wfile.write(b"b" * n)

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    site.daemon_threads = True
    threading.Thread(target=site.serve_forever, daemon=True).start()
    manifest = manifest_json(tmp_path_factory.mktemp("outbound"), TOML, "outbound")
    srv = Server(manifest, workers=2).start()
    ref = wasmtime_host.ReferenceHost(manifest, tempfile.mkdtemp(prefix="bastion-wasmtime-"))
    yield srv, ref, site.server_address[1]
    assert srv.stop() == 0
    site.shutdown()


CASES = [
    # name, URL path on the site's port, the host, what both answer
    ("localhost by name", "localhost", "/1", "denied"),
    ("127.0.0.1 named", "127.0.0.1", "/1", "ok"),
    ("at the limit", "127.0.0.1", f"/{LIMIT}", "ok"),
    ("at the limit, chunked", "127.0.0.1", f"/chunked/{LIMIT}", "ok"),
    ("over the limit", "127.0.0.1", f"/{LIMIT + 1}", "invalid"),
    ("over the limit, chunked", "127.0.0.1", f"/chunked/{LIMIT + 1}", "invalid"),
]


@pytest.mark.parametrize("name,host,path,outcome", CASES, ids=[c[0] for c in CASES])
def test_http_out_agrees(engines, name, host, path, outcome):
    srv, ref, port = engines
    body = json.dumps({"method": "POST", "url": f"http://{host}:{port}{path}", "body": "x"})
    seen = len(Site.seen)
    r = srv.post("/http", body, headers={"Content-Type": "application/json"})
    native_seen = Site.seen[seen:]
    status, _, w_body, _, w_outcome = ref.handle(
        "POST", "/http", [("content-type", "application/json")], body.encode())
    assert (r.status, status, w_outcome) == (200, 200, None), (r, w_body)
    native, wasmtime = r.json(), json.loads(w_body)
    if outcome == "denied":
        # which of localhost's addresses is tried first (and named) is the resolver's order,
        # curl's own or getaddrinfo's, which may differ on a machine with ::1 for localhost
        for d in (native, wasmtime):
            d["detail"] = re.sub(r"^outbound to (127\.0\.0\.1|::1) refused: a loopback address "
                                 r"\((127\.0\.0\.0/8|::1)\)", "outbound to <localhost> refused: "
                                 "a loopback address", d.get("detail", ""))
    assert native == wasmtime, (native, wasmtime)
    assert (native.get("error") or "ok") == outcome, native
    if outcome == "denied":  # neither engine connected
        assert native["detail"].startswith("outbound to <localhost> refused"), native
        assert native_seen == [] and Site.seen[seen:] == [], Site.seen
