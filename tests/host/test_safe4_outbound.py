"""SAFE4 — a grant is a wall, for outbound HTTP (probe fixture, host/outbound_wall.c).

The allow-list matches a URL's text; under it the host judges every address it is about to
connect to, after resolution (libcurl's open-socket callback), and refuses the internal ones
(loopback, private, link-local and the cloud metadata address, CGNAT, unspecified, multicast,
reserved, and the IPv6 forms that carry one of them) as `denied`, naming the address, without
connecting, unless the URL's host is that very address as an IPv4 literal. A name on the
allow-list (`localhost`) names no address. Proxy variables are ignored, so what is judged is the
real destination.

The ranges are proven on the classifier itself (every range, its edges, the IPv6 forms),
through tests/host/outbound_wall_cli.c; the wiring through a real server with a fake site on
loopback that counts the connections it accepts."""
import http.server
import os
import subprocess
import threading

import pytest

from conftest import ROOT, Server, manifest_json

PROBE = ('[functions.probe]\nsource = "tests/host/fixtures/probe"\ntimeout_ms = 10000\n'
         'outbound = {outbound}\n[[routes]]\npath = "/http"\nfunction = "probe"\n')


class Site(http.server.ThreadingHTTPServer):
    """A fake site on 127.0.0.1 that counts the TCP connections it accepts and the requests it
    answers (200 "site")."""
    daemon_threads = True

    def __init__(self):
        self.accepted, self.requests = 0, []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                site.requests.append((self.path, self.headers.get("Host")))
                self.send_response(200)
                self.send_header("Content-Length", "4")
                self.end_headers()
                self.wfile.write(b"site")

            def log_message(self, *a):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def get_request(self):
        conn = super().get_request()
        self.accepted += 1
        return conn


@pytest.fixture(scope="module")
def site():
    s = Site()
    yield s
    s.shutdown()


def probe_server(tmp, outbound, env=None):
    toml = PROBE.format(outbound=str(list(outbound)).replace("'", '"'))
    return Server(manifest_json(tmp, toml, "safe4"), env=env, workers=2).start()


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = probe_server(tmp_path_factory.mktemp("safe4"), ["http://localhost:*", "http://127.0.0.1:*"])
    yield s
    assert s.stop() == 0


def send(srv, url):
    r = srv.post("/http", {"method": "POST", "url": url, "body": "x"})
    assert r.status == 200, r
    return r.json()


def test_SAFE4_outbound_to_localhost_is_denied_after_resolving(srv, site):
    before = site.accepted
    r = send(srv, f"http://localhost:{site.port}/internal")
    assert r["error"] == "denied", r
    # curl resolves localhost to ::1 and 127.0.0.1 and tries both: the first refused is named
    assert any(r["detail"].startswith(f"outbound to {a} refused: a loopback address ({net})")
               for a, net in (("127.0.0.1", "127.0.0.0/8"), ("::1", "::1"))), r
    assert "the allow-list of 'probe' does not name" in r["detail"], r
    assert site.accepted == before, "the host connected to the refused address"


def test_SAFE4_outbound_to_an_address_the_allow_list_names_is_allowed(srv, site):
    before = site.accepted
    r = send(srv, f"http://127.0.0.1:{site.port}/named")
    assert r["ok"]["status"] == 200 and r["ok"]["body"] == "site", r
    assert site.accepted == before + 1 and site.requests[-1][0] == "/named"


def test_SAFE4_outbound_ignores_proxy_variables(tmp_path, site):
    """With every proxy variable pointing at a second fake, the request still goes to its real
    destination (which is what the wall judged), and the proxy sees nothing."""
    proxy = Site()
    url = f"http://127.0.0.1:{proxy.port}"
    env = {k: url for k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                            "all_proxy", "ALL_PROXY")}
    env.update(no_proxy="", NO_PROXY="")
    s = probe_server(tmp_path, ["http://127.0.0.1:*"], env=env)
    try:
        before = len(site.requests)
        r = send(s, f"http://127.0.0.1:{site.port}/direct")
        assert r["ok"]["status"] == 200 and r["ok"]["body"] == "site", r
        assert site.requests[before:] == [("/direct", f"127.0.0.1:{site.port}")]
        assert proxy.accepted == 0, "the request went through the proxy"
    finally:
        assert s.stop() == 0
        proxy.shutdown()


# --- the classifier, range by range (RFC 6890 and the registries it names) ---------------

LOOP4, LOOP6 = "a loopback address (127.0.0.0/8)", "a loopback address (::1)"
P10, P172, P192 = ("a private address (10.0.0.0/8)", "a private address (172.16.0.0/12)",
                   "a private address (192.168.0.0/16)")
LINK4, META = "a link-local address (169.254.0.0/16)", "the cloud metadata address"
UNSPEC4, CGNAT = "an unspecified address (0.0.0.0/8)", "a shared CGNAT address (100.64.0.0/10)"
ULA, LINK6 = "a unique local address (fc00::/7)", "a link-local address (fe80::/10)"
MCAST4, MCAST6 = "a multicast address (224.0.0.0/4)", "a multicast address (ff00::/8)"
RES240 = "a reserved address (240.0.0.0/4)"

# (address, the URL's host or None, why refused or None for allowed)
VECTORS = [
    # IPv4, each range at its edges and just outside them
    ("0.0.0.0", None, UNSPEC4), ("0.255.255.255", None, UNSPEC4),
    ("10.0.0.0", None, P10), ("10.255.255.255", None, P10), ("9.255.255.255", None, None),
    ("11.0.0.0", None, None),
    ("100.64.0.0", None, CGNAT), ("100.127.255.255", None, CGNAT),
    ("100.63.255.255", None, None), ("100.128.0.0", None, None),
    ("127.0.0.1", None, LOOP4), ("127.255.255.255", None, LOOP4), ("128.0.0.1", None, None),
    ("169.254.169.254", None, META), ("169.254.0.1", None, LINK4),
    ("169.254.255.255", None, LINK4), ("169.253.255.255", None, None),
    ("169.255.0.0", None, None),
    ("172.16.0.0", None, P172), ("172.31.255.255", None, P172), ("172.15.255.255", None, None),
    ("172.32.0.0", None, None),
    ("192.0.0.8", None, "a reserved address (192.0.0.0/24)"),
    ("192.0.2.1", None, "a documentation address (192.0.2.0/24)"),
    ("192.88.99.1", None, "a reserved address (192.88.99.0/24)"),
    ("192.168.0.0", None, P192), ("192.168.255.255", None, P192),
    ("192.167.255.255", None, None), ("192.169.0.0", None, None),
    ("198.18.0.0", None, "a benchmarking address (198.18.0.0/15)"),
    ("198.19.255.255", None, "a benchmarking address (198.18.0.0/15)"),
    ("198.17.255.255", None, None), ("198.20.0.0", None, None),
    ("198.51.100.7", None, "a documentation address (198.51.100.0/24)"),
    ("203.0.113.9", None, "a documentation address (203.0.113.0/24)"),
    ("224.0.0.1", None, MCAST4), ("239.255.255.255", None, MCAST4),
    ("240.0.0.1", None, RES240), ("255.255.255.255", None, RES240),
    ("8.8.8.8", None, None), ("93.184.216.34", None, None), ("223.255.255.255", None, None),
    # IPv6
    ("::", None, "an unspecified address (::)"), ("::1", None, LOOP6),
    ("fc00::1", None, ULA), ("fdff:ffff:ffff::1", None, ULA), ("fd00:ec2::254", None, META),
    ("fd00:ec2::253", None, ULA), ("fbff:ffff::1", None, None),
    ("fe80::1", None, LINK6), ("febf:ffff::1", None, LINK6),
    ("fec0::1", None, "a site-local address (fec0::/10)"),
    ("ff02::1", None, MCAST6), ("ff0e::1", None, MCAST6),
    ("64:ff9b:1::1", None, "a local-use NAT64 address (64:ff9b:1::/48)"),
    ("100::1", None, "a discard-only address (100::/64)"),
    ("2001:db8::1", None, "a documentation address (2001:db8::/32)"),
    ("2606:4700:4700::1111", None, None), ("2001:4860:4860::8888", None, None),
    # IPv6 forms of IPv4 addresses: judged as the IPv4 address they carry
    ("::ffff:127.0.0.1", None, LOOP4), ("::ffff:169.254.169.254", None, META),
    ("::ffff:10.1.2.3", None, P10), ("::ffff:192.168.1.1", None, P192),
    ("::ffff:0.0.0.0", None, UNSPEC4), ("::ffff:8.8.8.8", None, None),
    ("::127.0.0.1", None, LOOP4), ("::169.254.169.254", None, META), ("::10.0.0.1", None, P10),
    ("64:ff9b::7f00:1", None, LOOP4), ("64:ff9b::a9fe:a9fe", None, META),
    ("64:ff9b::808:808", None, None),
    ("2002:7f00:1::1", None, LOOP4), ("2002:a9fe:a9fe::", None, META),
    ("2002:ac10:1::", None, P172), ("2002:808:808::1", None, None),
    # named: the URL's host is that address as a dotted-quad literal
    ("127.0.0.1", "127.0.0.1", None), ("169.254.169.254", "169.254.169.254", None),
    ("10.0.0.7", "10.0.0.7", None), ("::ffff:127.0.0.1", "127.0.0.1", None),
    ("127.0.0.1", "localhost", LOOP4), ("127.0.0.2", "127.0.0.1", LOOP4),
    ("127.0.0.1", "127.1", LOOP4), ("127.0.0.1", "0177.0.0.1", LOOP4),
    ("127.0.0.1", "2130706433", LOOP4), ("127.0.0.1", "127.0.0.1.", LOOP4),
    ("64:ff9b::7f00:1", "127.0.0.1", LOOP4), ("2002:7f00:1::1", "127.0.0.1", LOOP4),
    ("::1", "::1", LOOP6), ("::1", "[::1]", LOOP6), ("fd00:ec2::254", "fd00:ec2::254", META),
    # not an IP address at all
    ("unix", None, "not an IP address"),
]


@pytest.fixture(scope="module")
def classify(tmp_path_factory):
    """host_outbound_refusal's answers to VECTORS: outbound_wall.c with its command-line
    driver, built under AddressSanitizer and UBSan as the host test build is."""
    exe = str(tmp_path_factory.mktemp("wall") / "outbound_wall_cli")
    subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-g",
                    "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                    "-Ihost", "-Ihost/rt", "host/outbound_wall.c",
                    "tests/host/outbound_wall_cli.c", "-o", exe], check=True, cwd=ROOT)
    lines = "".join(f"{a} {h or ''}\n" for a, h, _ in VECTORS)
    out = subprocess.run([exe], input=lines, capture_output=True, text=True, check=True)
    answers = out.stdout.splitlines()
    assert len(answers) == len(VECTORS), out
    return {(a, h): answer for (a, h, _), answer in zip(VECTORS, answers)}


@pytest.mark.parametrize("address,url_host,why", VECTORS,
                         ids=[f"{a}{'@' + h if h else ''}" for a, h, _ in VECTORS])
def test_SAFE4_outbound_address_wall(classify, address, url_host, why):
    assert classify[(address, url_host)] == ("allowed" if why is None else f"refused: {why}")


def test_SAFE4_the_reference_host_has_the_same_wall():
    """tests/wasmtime/host.py refuses the same addresses for the same reasons."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "wasmtime_reference_host", os.path.join(ROOT, "tests", "wasmtime", "host.py"))
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    for address, url_host, why in VECTORS:
        if address != "unix":
            assert ref.outbound_refusal(address, url_host or "") == why, (address, url_host)
