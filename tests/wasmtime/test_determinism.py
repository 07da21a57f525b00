"""The modules' clock and randomness, fixed for tests from the host's own
environment (host/rt/rt.h), the same way in both engines: with
BASTION_TEST_CLOCK_MS the clock stands still there; with
BASTION_TEST_RANDOM_SEED instance k reads splitmix64 seeded with
S + k × 0xD1B54A32D192ED03, low byte first; without them, neither holds.
The echo fixture answers its `now_ms` and 16 `random` bytes."""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from conftest import BUILD, Server  # noqa: E402
import host as wasmtime_host  # noqa: E402

MANIFEST = os.path.join(BUILD, "test", "manifest.json")
CLOCK = 1780272000000
SEED = 42
FIXED = {"BASTION_TEST_CLOCK_MS": str(CLOCK), "BASTION_TEST_RANDOM_SEED": str(SEED)}


def expected_random(k):
    return wasmtime_host.SplitMix(SEED + k * 0xD1B54A32D192ED03).take(16).hex()


def native_echoes(env, n=3):
    srv = Server(MANIFEST, env=env).start()
    try:
        out = [srv.get("/echo").json() for _ in range(n)]
        bad = [srv.get("/echo", headers={"X-Bastion-Test-Random-Seed": "1"}).json()]
        return out, bad, srv.logs()
    finally:
        srv.stop()


def wasm_echoes(env, n=3):
    ref = wasmtime_host.ReferenceHost(MANIFEST, tempfile.mkdtemp(prefix="bastion-wasmtime-"),
                                      env=dict(os.environ, **env))
    import json
    return [json.loads(ref.handle("GET", "/echo", [], b"")[2]) for _ in range(n)]


def test_fixed_clock_and_seeded_randomness_in_both_engines():
    native, after_header, logs = native_echoes(FIXED)
    wasm = wasm_echoes(FIXED)
    want = [expected_random(k) for k in (1, 2, 3)]
    assert [e["random"] for e in native] == want
    assert [e["random"] for e in wasm] == want
    assert {e["now_ms"] for e in native + wasm} == {str(CLOCK)}
    # a client cannot reach it: the 4th instance is the 4th stream, whatever it sends
    assert after_header[0]["random"] == expected_random(4)
    assert "BASTION_TEST_RANDOM_SEED is set" in logs and "BASTION_TEST_CLOCK_MS is set" in logs


def test_the_offset_moves_the_fixed_clock():
    native, _, _ = native_echoes(dict(FIXED, BASTION_TEST_CLOCK_OFFSET_MS="-1000"), n=1)
    wasm = wasm_echoes(dict(FIXED, BASTION_TEST_CLOCK_OFFSET_MS="-1000"), n=1)
    assert native[0]["now_ms"] == wasm[0]["now_ms"] == str(CLOCK - 1000)


def test_without_the_variables_the_clock_runs_and_randomness_is_real():
    import time
    before = int(time.time() * 1000)
    native, _, logs = native_echoes({}, n=2)
    wasm = wasm_echoes({}, n=2)
    for e in native + wasm:
        assert before - 1000 <= int(e["now_ms"]) <= int(time.time() * 1000) + 1000
    randoms = [e["random"] for e in native + wasm]
    assert len(set(randoms)) == 4 and expected_random(1) not in randoms
    assert "BASTION_TEST_RANDOM_SEED" not in logs


def test_a_malformed_value_is_ignored_and_said():
    native, _, logs = native_echoes({"BASTION_TEST_CLOCK_MS": "soon",
                                     "BASTION_TEST_RANDOM_SEED": "-3"}, n=2)
    assert native[0]["random"] != native[1]["random"]
    assert native[0]["random"] != expected_random(1)
    assert "BASTION_TEST_CLOCK_MS=soon is not an integer" in logs
    assert "BASTION_TEST_RANDOM_SEED=-3 is not an integer" in logs
