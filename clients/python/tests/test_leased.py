"""Leased mode against live breakerd processes: calls decided locally under a lease, trips and forces pushed to
every leased process, exact half-open permits, and the fallback once the lease lapses."""
from __future__ import annotations

import time

from highway_breaker import BreakerAdmin, CircuitBreakerState, ProtectedCallError, SharedCircuitBreakerPolicy
from live import DriverProcess, ask

S = CircuitBreakerState


class Down(Exception):
    pass


def outcome(breaker, fn=lambda: "ok"):
    try:
        return breaker.execute(fn)
    except Down:
        return "failed"
    except ProtectedCallError as e:
        return f"rejected:{e.state.value}:{e.source}"


def down():
    raise Down()


def wait_until(predicate, timeout=5.0, step=0.005):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def leased(breakerd, resource, **kwargs):
    b = SharedCircuitBreakerPolicy(resource, breakerd.address, consistency="leased", **kwargs)
    b.wait_connected()
    assert wait_until(lambda: b.state is not None), "no lease reply"
    return b


def test_closed_circuit_calls_take_no_round_trip(breakerd):
    b = leased(breakerd, "quiet", failure_threshold="50/100")
    before = ask(breakerd.address, {"op": "stats"})["stats"]["ops"]
    start = time.monotonic()
    for _ in range(20_000):
        assert b.execute(lambda: 1) == 1
    elapsed = time.monotonic() - start
    time.sleep(0.15)
    after = ask(breakerd.address, {"op": "stats"})["stats"]["ops"]
    assert after["acquire"] == before["acquire"] and after["report"] == before["report"]
    leases = after["lease"] - before["lease"]
    assert 1 <= leases <= 20 * (elapsed + 0.15) + 3, leases          # about 20 lines a second, whatever the calls
    window = ask(breakerd.address, {"op": "status", "resource": "quiet"})["breaker"]["window"]
    assert window == {"calls": 100, "failures": 0, "slow": 0, "failing_clients": 0}   # the counts arrived (100 held)


def test_a_trip_in_one_process_is_pushed_to_leased_processes(breakerd):
    args = ["--server", breakerd.address, "--resource", "lt", "--consistency", "leased", "--failure-threshold",
            "2/2", "--cooldown-ms", "60000", "--timeout-ms", "2000"]
    b = DriverProcess("calls", *args, "--interval-ms", "2")
    assert b.wait_for(lambda l: l.get("result") == "ok"), "process B made no call"
    time.sleep(0.2)
    a = DriverProcess("fail", *args, "--count", "4")
    lines_a = a.finish()
    failed = [l for l in lines_a if l["result"] == "failed"]
    # A decides its own calls locally too: the ones after the tripping failure (the second) may go through
    # until the trip is pushed back, which is leased mode's bounded delay.
    assert len(failed) >= 2 and not any(l["fallback"] for l in lines_a), lines_a
    rejected = b.wait_for(lambda l: l.get("result", "").startswith("rejected"), timeout=5)
    event = b.wait_for(lambda l: l.get("event") == "closed->open", timeout=5)
    b.kill()
    assert rejected and event, b.snapshot()[-5:]
    assert rejected["t"] - failed[1]["t"] <= 300, (rejected, failed[1])
    assert ask(breakerd.address, {"op": "status", "resource": "lt"})["breaker"]["state"] == "open"


def test_a_force_reaches_a_leased_client_within_a_push(breakerd):
    b = leased(breakerd, "lf", failure_threshold="5/10")
    assert outcome(b) == "ok"
    with BreakerAdmin(breakerd.address) as admin:
        admin.force("lf", "open", reason="maintenance")
        forced_at = time.monotonic()
        assert wait_until(lambda: outcome(b) == "rejected:forced_open:server", timeout=2)
        assert time.monotonic() - forced_at < 0.2
        admin.release("lf")
        assert wait_until(lambda: outcome(b) == "ok", timeout=2)


def test_half_open_is_exact_across_leased_processes(breakerd):
    ask(breakerd.address, {"op": "configure", "resource": "lh", "policy": {
        "failure_threshold": "1/1", "success_threshold": "3/3", "cooldown_ms": 300, "permit_ttl_ms": 30000}})
    ask(breakerd.address, {"op": "report", "resource": "lh", "outcome": "failure"})
    time.sleep(0.35)
    bursts = [DriverProcess("burst", "--server", breakerd.address, "--resource", "lh", "--consistency", "leased",
                            "--threads", "10", "--hold-ms", "600", "--timeout-ms", "2000",
                            *(["--async"] if i % 2 else [])) for i in range(3)]
    ran = [d.finish()[-1]["ran"] for d in bursts]
    assert sum(ran) == 3, ran
    assert ask(breakerd.address, {"op": "status", "resource": "lh"})["breaker"]["state"] == "closed"


def test_lease_lapses_into_the_fallback_when_breakerd_is_stopped(breakerd):
    b = leased(breakerd, "ls", fallback="reject", timeout=0.1)
    assert outcome(b) == "ok"
    breakerd.pause()
    try:
        stopped = time.monotonic()
        local_calls = 0
        while outcome(b) == "ok":
            local_calls += 1
            assert time.monotonic() - stopped < 1.0 + 0.1 + 0.3, "still deciding locally after the lease"
            time.sleep(0.005)
        lapsed = time.monotonic() - stopped
        assert local_calls > 0 and b.is_in_fallback
        assert outcome(b) == "rejected:open:fallback"
        start = time.monotonic()
        outcome(b)
        assert time.monotonic() - start < 0.15                   # within the timeout, never longer
    finally:
        breakerd.resume()
    assert wait_until(lambda: outcome(b) == "ok" and not b.is_in_fallback, timeout=3)
    assert 0.5 < lapsed, lapsed                                     # it was the lease that ended (1 s), not at once


def test_killed_breakerd_ends_the_lease_at_once(breakerd):
    b = leased(breakerd, "lk", fallback="local", failure_threshold="2/2")
    assert outcome(b) == "ok"
    breakerd.kill()
    assert wait_until(lambda: (outcome(b), b.is_in_fallback)[1], timeout=1)
    assert outcome(b, down) == "failed" and outcome(b, down) == "failed"
    assert outcome(b) == "rejected:open:local"
    breakerd.start()
    assert wait_until(lambda: outcome(b) == "ok" and not b.is_in_fallback, timeout=5)


def test_leased_async_calls(breakerd):
    import asyncio
    b = leased(breakerd, "la")

    @b
    async def call(x):
        await asyncio.sleep(0)
        return x

    async def main():
        return await asyncio.gather(*(call(i) for i in range(200)))

    assert asyncio.run(main()) == list(range(200))
    time.sleep(0.15)
    assert ask(breakerd.address, {"op": "status", "resource": "la"})["breaker"]["window"]["calls"] == 20
