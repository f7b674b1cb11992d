"""SharedCircuitBreakerPolicy in strict mode against live breakerd processes: one circuit across processes,
half-open permits fleet-wide, the fallbacks when breakerd is killed or stopped, events, errors."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from highway_breaker import (
    BreakerError,
    CircuitBreakerState,
    ConfigurationError,
    Failsafe,
    ProtectedCallError,
    RetryPolicy,
    SharedCircuitBreakerPolicy,
)
from live import ADMIN_TOKEN, CLIENT_TOKEN, DriverProcess, ask

CLOSED, OPEN, HALF_OPEN = CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN, CircuitBreakerState.HALF_OPEN
TIMEOUT = 0.1
SLACK = 0.05        # how much later than the timeout a call may end on a busy 2-core machine


class Down(Exception):
    pass


def down():
    raise Down()


def outcome(breaker, fn=lambda: "ok"):
    try:
        return breaker.execute(fn)
    except Down:
        return "failed"
    except ProtectedCallError as e:
        return f"rejected:{e.state.value}:{e.source}"


def test_one_circuit_across_two_python_processes(breakerd, tmp_path):
    # A generous timeout: this is about the shared circuit, not about a loaded machine's fallbacks.
    args = ["--server", breakerd.address, "--resource", "trip", "--failure-threshold", "3/3", "--cooldown-ms",
            "60000", "--timeout-ms", "2000"]
    pause = tmp_path / "pause"
    b = DriverProcess("calls", *args, "--interval-ms", "10", "--pause-while", str(pause))
    assert b.wait_for(lambda l: l.get("result") == "ok"), "process B made no call"
    # B's successes go into the same window: B holds its calls while A's failures trip it (B still gets events),
    # so that "3 of the last 3" means A's 3.
    pause.touch()
    assert b.wait_for(lambda l: l.get("paused"), timeout=10), "process B did not pause"
    a = DriverProcess("fail", *args, "--count", "5")
    lines_a = a.finish()
    assert [l["result"] for l in lines_a] == ["failed"] * 3 + ["rejected:open"] * 2
    assert not any(l["fallback"] for l in lines_a)
    event = b.wait_for(lambda l: l.get("event") == "closed->open", timeout=5)
    resumed = int(time.time() * 1000)
    pause.unlink()
    rejected = b.wait_for(lambda l: l.get("result") == "rejected:open", timeout=5)
    b.kill()
    assert event and rejected, f"process B: {b.snapshot()[-5:]}"
    tripping = [l for l in lines_a if l["result"] == "failed"][-1]
    assert event["t"] - tripping["t"] < 500 and rejected["t"] - resumed < 500
    status = ask(breakerd.address, {"op": "status", "resource": "trip"})["breaker"]
    assert status["state"] == "open" and status["policy"]["failure_threshold"] == "3/3"


def test_half_open_permits_are_exact_across_processes(breakerd):
    ask(breakerd.address, {"op": "configure", "resource": "probe", "policy": {
        "failure_threshold": "1/1", "success_threshold": "3/3", "cooldown_ms": 300, "permit_ttl_ms": 30000}})
    assert ask(breakerd.address, {"op": "report", "resource": "probe", "outcome": "failure"})["state"] == "open"
    time.sleep(0.35)
    bursts = [DriverProcess("burst", "--server", breakerd.address, "--resource", "probe", "--threads", "12",
                            "--hold-ms", "600", "--timeout-ms", "2000", *(["--async"] if i % 2 else []))
              for i in range(4)]
    ran = [d.finish()[-1]["ran"] for d in bursts]
    assert sum(ran) == 3, f"probes per process {ran}"
    status = ask(breakerd.address, {"op": "status", "resource": "probe"})["breaker"]
    assert status["state"] == "closed", status                 # the 3 probes reported success with their permits


def test_the_policy_creates_the_breaker_and_an_existing_one_keeps_its_own(breakerd):
    b = SharedCircuitBreakerPolicy("made", breakerd.address, failure_threshold="2/4", cooldown=timedelta(seconds=3),
                                   half_open_permits=2)
    assert outcome(b) == "ok" and b.state is CLOSED
    policy = ask(breakerd.address, {"op": "status", "resource": "made"})["breaker"]["policy"]
    assert policy == {"failure_threshold": "2/4", "success_threshold": None, "cooldown_ms": 3000,
                      "window": {"type": "count", "size": 4}, "minimum_calls": 4, "half_open_permits": 2,
                      "permit_ttl_ms": 10000, "cooldown_jitter": 0.0, "mode": "enforce", "min_failing_clients": 1}
    other = SharedCircuitBreakerPolicy("made", breakerd.address, failure_threshold="1/1")
    assert outcome(other, down) == "failed"
    assert ask(breakerd.address, {"op": "status", "resource": "made"})["breaker"]["state"] == "closed"


def test_on_state_change_hears_other_processes_and_operators(breakerd):
    seen = []
    heard = threading.Event()

    def changed(policy, old, new):
        seen.append((policy.resource, old, new))
        if len(seen) == 3:
            heard.set()

    b = SharedCircuitBreakerPolicy("watched", breakerd.address, on_state_change=changed)
    SharedCircuitBreakerPolicy("watched-too", breakerd.address)          # a longer name: not this resource's events
    b.subscribed()
    assert outcome(b) == "ok"                                           # creates the breaker
    ask(breakerd.address, {"op": "configure", "resource": "watched-too", "policy": {"failure_threshold": "1/1"}})
    ask(breakerd.address, {"op": "report", "resource": "watched-too", "outcome": "failure"})
    ask(breakerd.address, {"op": "force", "resource": "watched", "state": "open", "reason": "test"})
    ask(breakerd.address, {"op": "release", "resource": "watched"})
    ask(breakerd.address, {"op": "reset", "resource": "watched"})
    assert heard.wait(5), seen
    assert seen == [("watched", CLOSED, CircuitBreakerState.FORCED_OPEN),
                    ("watched", CircuitBreakerState.FORCED_OPEN, CLOSED), ("watched", CLOSED, CLOSED)]
    assert b.state is CLOSED


def test_one_connection_per_process(breakerd):
    a = SharedCircuitBreakerPolicy("conn-a", breakerd.address)
    b = SharedCircuitBreakerPolicy("conn-b", breakerd.address)
    assert a.connection is b.connection
    for breaker in (a, b):
        assert outcome(breaker) == "ok"
    assert ask(breakerd.address, {"op": "stats"})["stats"]["connections"] == 2   # the shared one and this ask


@pytest.mark.parametrize("fallback", ["local", "allow", "reject"])
def test_fallback_when_breakerd_is_killed(breakerd, fallback):
    b = SharedCircuitBreakerPolicy(f"kill-{fallback}", breakerd.address, fallback=fallback, failure_threshold="2/2",
                                   timeout=TIMEOUT)
    assert outcome(b) == "ok" and not b.is_in_fallback
    breakerd.kill()
    results = []
    for _ in range(6):
        start = time.monotonic()
        results.append(outcome(b, down if len(results) in (1, 2) else (lambda: "ok")))
        assert time.monotonic() - start < TIMEOUT + SLACK
    assert b.is_in_fallback and b.outage_count == 1 and b.fallback_call_count == 6
    expected = {
        "local": ["ok", "failed", "failed", "rejected:open:local", "rejected:open:local", "rejected:open:local"],
        "allow": ["ok", "failed", "failed", "ok", "ok", "ok"],
        "reject": ["rejected:open:fallback"] * 6,
    }[fallback]
    assert results == expected
    breakerd.start()                                   # the same port: the client reconnects by itself
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and b.is_in_fallback:
        outcome(b)
        time.sleep(0.02)
    assert not b.is_in_fallback and outcome(b) == "ok" and b.outage_count == 1


def test_fallback_when_breakerd_is_stopped(breakerd):
    b = SharedCircuitBreakerPolicy("stopped", breakerd.address, timeout=TIMEOUT)
    reject = SharedCircuitBreakerPolicy("stopped-reject", breakerd.address, timeout=TIMEOUT, fallback="reject")
    assert outcome(b) == "ok" and outcome(reject) == "ok"
    breakerd.pause()
    try:
        durations = []
        for breaker, expected in ((b, "ok"), (reject, "rejected:open:fallback")) * 4:
            start = time.monotonic()
            assert outcome(breaker) == expected
            durations.append(time.monotonic() - start)
        assert max(durations) < TIMEOUT + SLACK, durations
        assert min(durations) >= TIMEOUT * 0.9                      # each asked, and waited for the timeout
        assert b.is_in_fallback and reject.is_in_fallback and b.fallback_call_count == 4
    finally:
        breakerd.resume()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and b.is_in_fallback:
        outcome(b)
    assert not b.is_in_fallback and b.outage_count == 1


def test_a_resource_last_seen_forced_open_stays_rejected(breakerd):
    b = SharedCircuitBreakerPolicy("forced", breakerd.address, fallback="allow", timeout=TIMEOUT)
    b.subscribed()
    assert outcome(b) == "ok"
    ask(breakerd.address, {"op": "force", "resource": "forced", "state": "open", "reason": "outage"})
    assert outcome(b) == "rejected:forced_open:server"
    breakerd.kill()
    for _ in range(3):
        assert outcome(b) == "rejected:forced_open:fallback"
    with pytest.raises(ProtectedCallError) as rejected:
        b.execute(lambda: None)
    assert rejected.value.retry_after == timedelta(seconds=1)       # the reconnect delay
    assert "last seen forced_open" in str(rejected.value)


def test_the_first_call_waits_for_the_first_connection_attempt(breakerd):
    b = SharedCircuitBreakerPolicy("first", breakerd.address, timeout=1)
    assert outcome(b) == "ok" and not b.is_in_fallback and b.fallback_call_count == 0


def test_unreachable_from_the_start_falls_back_within_the_timeout(breakerd):
    port = breakerd.port
    breakerd.kill()
    b = SharedCircuitBreakerPolicy("never", f"127.0.0.1:{port}", fallback="reject", timeout=TIMEOUT)
    start = time.monotonic()
    assert outcome(b) == "rejected:open:fallback"
    assert time.monotonic() - start < TIMEOUT + SLACK
    with pytest.raises(BreakerError) as error:
        b.wait_connected(0.3)
    assert error.value.code == "timeout" and f"127.0.0.1:{port}" in error.value.message


def test_tokens(secured_breakerd):
    server = secured_breakerd
    good = SharedCircuitBreakerPolicy("tok", server.address, token_file=server.token_file("client"),
                                      client_name="py-tests")
    assert outcome(good) == "ok"
    wrong = SharedCircuitBreakerPolicy("tok", server.address, token="not-the-token-0123456789")
    with pytest.raises(BreakerError) as refused:
        wrong.execute(lambda: None)
    assert refused.value.code == "unauthorized" and not refused.value.server_unreachable
    history = ask(server.address, {"op": "history", "resource": "tok"}, token=ADMIN_TOKEN)
    assert history["ok"] and CLIENT_TOKEN != ADMIN_TOKEN


def test_failsafe_with_a_shared_breaker(breakerd):
    shared = SharedCircuitBreakerPolicy("fs", breakerd.address, failure_threshold="2/2", cooldown=60)
    attempts = []

    @Failsafe(policies=(RetryPolicy(max_retries=3), shared))
    def call():
        attempts.append(1)
        raise Down()

    with pytest.raises(ProtectedCallError) as rejected:
        call()
    assert len(attempts) == 2 and rejected.value.source == "server"


def test_configuration_errors_name_the_field():
    for kwargs, field in [({"resource": "no spaces"}, "resource"), ({"resource": "x", "server": "h:0"}, "server"),
                          ({"resource": "x", "fallback": "maybe"}, "fallback"),
                          ({"resource": "x", "consistency": "eventual"}, "consistency"),
                          ({"resource": "x", "failure_threshold": "5/4"}, "failure_threshold"),
                          ({"resource": "x", "timeout": 0}, "timeout"),
                          ({"resource": "x", "token": "t", "token_file": "/f"}, "token")]:
        with pytest.raises(ConfigurationError) as error:
            SharedCircuitBreakerPolicy(**kwargs)
        assert error.value.field == field, kwargs
    with pytest.raises(TypeError):
        SharedCircuitBreakerPolicy("x", cooldwn=5)


def test_newer_policy_fields_are_passed_through(breakerd):
    b = SharedCircuitBreakerPolicy("newer", breakerd.address, failure_threshold="1/2", policy_extra={"note": "x"},
                                   min_failing_clients=1)
    assert b._wire_policy == {"failure_threshold": "1/2", "note": "x", "min_failing_clients": 1}
    assert outcome(b) == "ok"                                       # a breakerd that does not know them ignores them
    assert ask(breakerd.address, {"op": "status", "resource": "newer"})["breaker"]["policy"]["failure_threshold"] \
        == "1/2"


def test_a_slow_handler_does_not_hold_up_calls(breakerd, caplog):
    release = threading.Event()
    b = SharedCircuitBreakerPolicy("slowcb", breakerd.address, on_state_change=lambda *a: release.wait(5))
    b.subscribed()
    assert outcome(b) == "ok"
    ask(breakerd.address, {"op": "force", "resource": "slowcb", "state": "closed"})
    start = time.monotonic()
    for _ in range(5):
        assert outcome(b) == "ok"
    assert time.monotonic() - start < 1
    release.set()
