"""The Python client against a cluster (issue #19): two breakerd replicas on one real etcd (Debian
`etcd-server`). Given every replica, the shared breaker and BreakerAdmin find the leader through `not_leader`;
when the leader dies they go on to the new one, the fallback deciding meanwhile."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from highway_breaker import BreakerAdmin, BreakerError, SharedCircuitBreakerPolicy
from live import Breakerd

pytestmark = pytest.mark.skipif(shutil.which("etcd") is None, reason="needs etcd (apt-get install etcd-server)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def etcd():
    directory = tempfile.mkdtemp(prefix="hb-py-etcd-")
    client, peer = free_port(), free_port()
    proc = subprocess.Popen(
        ["etcd", "--name", "py", "--data-dir", os.path.join(directory, "data"),
         "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"py=http://127.0.0.1:{peer}", "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", client), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    time.sleep(0.3)
    yield f"127.0.0.1:{client}"
    proc.kill()
    proc.wait()
    shutil.rmtree(directory, ignore_errors=True)


def replica(binary: str, etcd: str, tmp: str, name: str) -> Breakerd:
    server = Breakerd(binary, os.path.join(tmp, name), extra=["--cluster", f"etcd://{etcd}", "--cluster-name", "py",
                                                               "--leader-lease", "1s"])
    os.makedirs(server.directory, exist_ok=True)
    server.port = free_port()
    return server.start()


def leads(server: Breakerd, timeout: float = 15) -> bool:
    admin = BreakerAdmin(server.address, timeout=1)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            try:
                if admin.cluster().details.get("role") == "leader":
                    return True
            except BreakerError:
                pass
            time.sleep(0.05)
        return False
    finally:
        admin.close()


def test_the_client_finds_the_leader_and_follows_a_failover(breakerd_binary, etcd, tmp_path):
    a = replica(breakerd_binary, etcd, str(tmp_path), "a")
    assert leads(a)
    b = replica(breakerd_binary, etcd, str(tmp_path), "b")
    servers = f"{b.address},{a.address}"         # the follower first

    admin = BreakerAdmin(servers, timeout=10)
    created = admin.configure("py-db", failure_threshold="2/2")
    assert created.resource == "py-db"
    view = admin.cluster()
    assert view.mode == "cluster" and view.leader == a.address

    breaker = SharedCircuitBreakerPolicy("py-db", servers, fallback="allow", timeout=2)
    end = time.monotonic() + 10
    # The first call may meet the follower's not_leader (the fallback decides it) before the client is on the
    # leader.
    while breaker.execute(lambda: "ok") != "ok" or breaker.is_in_fallback:
        assert time.monotonic() < end, "the shared breaker never reached the leader"
        time.sleep(0.05)

    a.kill()
    saw_fallback = False
    end = time.monotonic() + 20
    while True:
        assert time.monotonic() < end, "the shared breaker never reached the new leader"
        breaker.execute(lambda: "ok")
        saw_fallback = saw_fallback or breaker.is_in_fallback
        if not breaker.is_in_fallback and leads(b, timeout=0.1):
            break
        time.sleep(0.05)
    assert saw_fallback and breaker.outage_count >= 1
    # The new leader has the breaker a created (from etcd), with its policy.
    assert admin.status("py-db").policy.failure_threshold == "2/2"
    admin.close()
    b.stop()
