"""The test run's own Redis and PostgreSQL (tests/servers.sh, started by
./build.sh test) are real servers, reachable on loopback."""
import os
import socket
import subprocess


def env(name):
    value = os.environ.get(name)
    # a skip counts as a failure under CI: say why instead
    assert value, (f"{name} is not set: run the tests through ./build.sh test, which starts "
                   "Redis and PostgreSQL with tests/servers.sh and exports DIR/servers.env")
    return value


def test_redis_answers_ping():
    port = int(env("BASTION_TEST_REDIS_PORT"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"PING\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = s.recv(64)
            assert chunk, f"Redis on 127.0.0.1:{port} closed the connection after {reply!r}"
            reply += chunk
    assert reply.startswith(b"+PONG"), reply


def test_postgres_answers_select_1():
    url = env("BASTION_TEST_PG_URL")
    r = subprocess.run(["psql", url, "-X", "-Atc", "select 1"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1", (r.stdout, r.stderr)
