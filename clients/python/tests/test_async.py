"""Coroutines against a live breakerd: 200 concurrent tasks, the fallback when breakerd is stopped, and proof
that the event loop never makes a socket call (every socket call is recorded with its thread)."""
from __future__ import annotations

import asyncio
import inspect
import socket as real_socket
import threading
import time
import types

import pytest

from highway_breaker import (
    CircuitBreakerState,
    Failsafe,
    ProtectedCallError,
    RetryPolicy,
    SharedCircuitBreakerPolicy,
)
from highway_breaker import _connection
from live import ask

TASKS = 200
TIMEOUT = 0.1


class Down(Exception):
    pass


@pytest.fixture
def socket_calls(monkeypatch):
    """Every call on the client's sockets, with the thread that made it: [(method, thread ident)]. The sockets are
    real (a subclass that records, then calls the real method)."""
    calls = []

    class RecordingSocket(real_socket.socket):
        pass

    for name in ("connect", "connect_ex", "send", "sendall", "recv", "recv_into", "getsockopt", "setsockopt",
                 "shutdown", "close", "setblocking", "fileno"):
        original = getattr(real_socket.socket, name)

        def recorder(self, *args, _name=name, _original=original, **kwargs):
            calls.append((_name, threading.get_ident()))
            return _original(self, *args, **kwargs)

        setattr(RecordingSocket, name, recorder)
    module = types.SimpleNamespace(**{k: getattr(real_socket, k) for k in dir(real_socket) if not k.startswith("__")})
    module.socket = RecordingSocket
    monkeypatch.setattr(_connection, "socket", module)
    return calls


class LoopLag:
    """A task that sleeps 5 ms at a time and records how late it wakes: a blocked loop shows as lag."""

    def __init__(self):
        self.worst = 0.0
        self.running = True

    async def run(self):
        while self.running:
            start = time.monotonic()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, time.monotonic() - start - 0.005)


def test_200_concurrent_tasks_share_one_circuit(breakerd, socket_calls):
    breaker = SharedCircuitBreakerPolicy("async200", breakerd.address, failure_threshold="100/200", timeout=2)

    @breaker
    async def call(i):
        await asyncio.sleep(0.001)
        if i % 10 == 0:
            raise Down()
        return i

    assert inspect.iscoroutinefunction(call)

    async def task(i):
        results = []
        for round_ in range(5):
            try:
                results.append(await call(i))
            except Down:
                results.append("down")
        return results

    async def main():
        lag = LoopLag()
        ticker = asyncio.ensure_future(lag.run())
        loop_thread = threading.get_ident()
        results = await asyncio.gather(*(task(i) for i in range(TASKS)))
        lag.running = False
        await ticker
        await breaker.flush_async()
        return results, lag.worst, loop_thread

    results, worst, loop_thread = asyncio.run(main())
    assert [r for r in results if r[0] == "down"] == [["down"] * 5] * 20
    assert all(r == [i] * 5 for i, r in enumerate(results) if i % 10)
    window = ask(breakerd.address, {"op": "status", "resource": "async200"})["breaker"]["window"]
    assert (window["calls"], window["failures"], window["slow"]) == (200, 20, 0)   # 1,000 reports; the window holds 200
    assert socket_calls and not [c for c in socket_calls if c[1] == loop_thread], "a socket call in the event loop"
    assert worst < 0.1, f"the event loop was held up {worst * 1000:.0f} ms"


def test_200_tasks_fall_back_within_the_timeout_when_breakerd_is_stopped(breakerd, socket_calls):
    breaker = SharedCircuitBreakerPolicy("async-stop", breakerd.address, fallback="allow", timeout=TIMEOUT)
    reject = SharedCircuitBreakerPolicy("async-stop-r", breakerd.address, fallback="reject", timeout=TIMEOUT)

    async def work():
        return "ran"

    async def timed(b):
        start = time.monotonic()
        try:
            result = await b.execute(work)
        except ProtectedCallError as e:
            result = f"rejected:{e.source}"
        return result, time.monotonic() - start

    async def main():
        assert await breaker.execute(work) == "ran" and await reject.execute(work) == "ran"
        breakerd.pause()
        try:
            lag = LoopLag()
            ticker = asyncio.ensure_future(lag.run())
            loop_thread = threading.get_ident()
            results = await asyncio.gather(*(timed(breaker if i % 2 else reject) for i in range(TASKS)))
            lag.running = False
            await ticker
        finally:
            breakerd.resume()
        return results, lag.worst, loop_thread

    results, worst, loop_thread = asyncio.run(main())
    assert sorted({r for r, _ in results}) == ["ran", "rejected:fallback"]
    durations = [d for _, d in results]
    assert max(durations) < TIMEOUT + 0.1, f"worst call {max(durations) * 1000:.0f} ms"
    assert min(durations) >= TIMEOUT * 0.9
    assert worst < 0.08, f"the event loop was held up {worst * 1000:.0f} ms"
    assert not [c for c in socket_calls if c[1] == loop_thread], "a socket call in the event loop"
    assert breaker.is_in_fallback and breaker.fallback_call_count == TASKS // 2


def test_async_first_call_waits_for_the_connection_without_blocking(breakerd, socket_calls):
    breaker = SharedCircuitBreakerPolicy("async-first", breakerd.address, timeout=1)

    async def main():
        loop_thread = threading.get_ident()

        async def ok():
            return "ok"

        result = await breaker.execute(ok)
        return result, loop_thread

    result, loop_thread = asyncio.run(main())
    assert result == "ok" and not breaker.is_in_fallback
    assert not [c for c in socket_calls if c[1] == loop_thread]


def test_async_failsafe_with_a_shared_breaker(breakerd):
    shared = SharedCircuitBreakerPolicy("async-fs", breakerd.address, failure_threshold="2/2", cooldown=60)
    attempts = []

    @Failsafe(policies=(RetryPolicy(max_retries=5), shared))
    async def call():
        attempts.append(1)
        raise Down()

    async def main():
        with pytest.raises(ProtectedCallError) as rejected:
            await call()
        return rejected.value

    rejected = asyncio.run(main())
    assert len(attempts) == 2 and rejected.state is CircuitBreakerState.OPEN and rejected.source == "server"


def test_a_cancelled_task_gives_its_probe_back(breakerd):
    ask(breakerd.address, {"op": "configure", "resource": "async-cancel", "policy": {
        "failure_threshold": "1/1", "success_threshold": "1/1", "cooldown_ms": 0}})
    ask(breakerd.address, {"op": "report", "resource": "async-cancel", "outcome": "failure"})
    breaker = SharedCircuitBreakerPolicy("async-cancel", breakerd.address, timeout=2)

    async def main():
        async def slow():
            await asyncio.sleep(10)

        task = asyncio.ensure_future(breaker.execute(slow))
        await asyncio.sleep(0.2)
        held = ask(breakerd.address, {"op": "status", "resource": "async-cancel"})["breaker"]["half_open"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await breaker.flush_async()
        freed = ask(breakerd.address, {"op": "status", "resource": "async-cancel"})["breaker"]["half_open"]

        async def ok():
            return "ok"

        result = await breaker.execute(ok)
        await breaker.flush_async()                                  # the noreply report has been read
        return held, freed, result

    held, freed, result = asyncio.run(main())
    assert held["permits_out"] == 1 and freed["permits_out"] == 0      # reported "ignored": the slot is free
    assert result == "ok"
    assert ask(breakerd.address, {"op": "status", "resource": "async-cancel"})["breaker"]["state"] == "closed"
