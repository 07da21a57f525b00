"""The fixture modules' failures end the same way in both engines: the same
status, the same problem body, and the same outcome class: the deadline (an
endless loop: 504, Wasmtime's epoch interruption / the native timer), a trap
by name (unreachable, out-of-bounds, divide by zero, stack exhaustion), and
the memory cap (the hogs allocate until malloc fails, then trap: both
engines refuse to grow memory past the function's memory_mb, Wasmtime by
its store limiter)."""
import os
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from conftest import BUILD, Server  # noqa: E402
import host as wasmtime_host  # noqa: E402

MANIFEST = os.path.join(BUILD, "test", "manifest.json")
CASES = [
    # route, status, outcome class
    ("/spin", 504, "deadline exceeded"),
    ("/hostile/spin", 504, "deadline exceeded"),
    ("/trap/unreachable", 500, "unreachable executed"),
    ("/trap/oob", 500, "out-of-bounds memory access"),
    ("/trap/divide", 500, "integer divide by zero"),
    ("/trap/recurse", 500, "call stack exhausted"),
    ("/hostile/recurse", 500, "call stack exhausted"),
    ("/hog", 500, "memory limit"),
    ("/hostile/hog", 500, "memory limit"),
]


@pytest.fixture(scope="module")
def engines():
    srv = Server(MANIFEST).start()
    ref = wasmtime_host.ReferenceHost(MANIFEST, tempfile.mkdtemp(prefix="bastion-wasmtime-"))
    yield srv, ref
    assert srv.stop() == 0


def native_outcome(srv, route):
    r = srv.get(route)
    lines = [l for l in srv.log_lines() if l.get("msg") in ("guest trapped", "deadline exceeded")]
    access = [l for l in srv.log_lines() if l.get("type") == "access" and l.get("route") == route]
    trap = lines[-1].get("trap") if lines else None
    return r, trap, access[-1] if access else {}


@pytest.mark.parametrize("route,status,outcome", CASES, ids=[c[0] for c in CASES])
def test_traps_agree(engines, route, status, outcome):
    srv, ref = engines
    r, trap, access = native_outcome(srv, route)
    fn = ref.manifest.functions[ref.manifest.route(route)[0]["function"]]
    w_status, w_headers, w_body, w_logs, w_outcome = ref.handle("GET", route, [], b"")
    assert (r.status, w_status) == (status, status), (r, w_status, w_body)
    assert r.body == w_body, f"problem bodies differ: {r.body!r} / {w_body!r}"
    assert r.headers["content-type"] == dict(w_headers)["content-type"]
    if outcome == "memory limit":
        # both trap on the failed allocation, and the native host was within
        # 2 MiB (the hogs take 1 MiB or 256 KiB at a time) of its cap of
        # memory_mb × 16 pages
        assert trap == "unreachable executed", trap
        assert w_outcome == "trap: unreachable executed", w_outcome
        assert int(access["memory_pages"]) > fn["memory_mb"] * 16 - 32, access
    elif outcome == "deadline exceeded":
        assert trap == "deadline exceeded" and w_outcome == "deadline", (trap, w_outcome)
    else:
        assert trap == outcome and w_outcome == "trap: " + outcome, (trap, w_outcome)
