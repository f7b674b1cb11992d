"""The in-process policies' rules, each on both sides of its edge, on a ManualClock (no sleeping)."""
from __future__ import annotations

import asyncio
import inspect
import threading
from datetime import timedelta
from fractions import Fraction

import pytest

from highway_breaker import (
    Backoff,
    CircuitBreakerPolicy,
    CircuitBreakerState,
    CircuitOpenError,
    ConfigurationError,
    CountWindow,
    Failsafe,
    ManualClock,
    ProtectedCallError,
    RetriesExhaustedError,
    RetryPolicy,
    TimeWindow,
)

CLOSED, OPEN, HALF_OPEN = CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN, CircuitBreakerState.HALF_OPEN


class Boom(Exception):
    pass


def fail():
    raise Boom("down")


def ok():
    return "ok"


def run(breaker, fn):
    try:
        return breaker.execute(fn)
    except Boom:
        return "failed"
    except ProtectedCallError:
        return "rejected"


def test_thresholds_are_taken_as_written():
    clock = ManualClock()
    as_written = CircuitBreakerPolicy(failure_threshold="2/4", clock=clock)
    as_tuple = CircuitBreakerPolicy(failure_threshold=(2, 4), clock=clock)
    reduced = CircuitBreakerPolicy(failure_threshold=Fraction(2, 4), clock=clock)
    assert str(as_written.policy.failure_threshold) == "2/4" and as_written.policy.window == CountWindow(4)
    assert str(as_tuple.policy.failure_threshold) == "2/4"
    assert str(reduced.policy.failure_threshold) == "1/2" and reduced.policy.window == CountWindow(2)
    for _ in range(3):
        run(as_written, fail if _ else ok)
    assert as_written.state is CLOSED                    # 2 failures in 3 calls: the window of 4 is not full
    run(as_written, ok)
    assert as_written.state is CLOSED                    # a success never trips
    run(as_written, fail)
    assert as_written.state is OPEN                      # fail, fail, ok, fail: 3 of the last 4 ≥ 2/4


def test_trip_needs_minimum_calls_and_the_ratio():
    clock = ManualClock()
    breaker = CircuitBreakerPolicy(failure_threshold="3/5", clock=clock)
    for fn in (fail, fail, ok, ok):
        run(breaker, fn)
    assert breaker.state is CLOSED                        # 4 calls < minimum 5
    run(breaker, ok)
    assert breaker.state is CLOSED                        # 2/5 < 3/5
    run(breaker, fail)
    assert breaker.state is CLOSED                        # fail ok ok ok fail: 2/5
    run(breaker, fail)
    assert breaker.state is CLOSED                        # ok ok ok fail fail: 2/5
    run(breaker, fail)
    assert breaker.state is OPEN                          # ok ok fail fail fail: 3/5


def test_cooldown_edge_and_exact_half_open_permits():
    clock = ManualClock()
    breaker = CircuitBreakerPolicy(cooldown=timedelta(seconds=10), failure_threshold="1/1",
                                   success_threshold="2/3", clock=clock)
    run(breaker, fail)
    assert breaker.state is OPEN
    clock.advance(timedelta(seconds=10) - timedelta(microseconds=1))
    with pytest.raises(ProtectedCallError) as rejected:
        breaker.acquire()
    assert rejected.value.retry_after == timedelta(microseconds=1) and rejected.value.source == "local"
    clock.advance(timedelta(microseconds=1))
    permits = [breaker.acquire() for _ in range(3)]       # exactly half_open_permits (the success n: 3)
    assert breaker.state is HALF_OPEN and all(permits)
    with pytest.raises(ProtectedCallError) as full:
        breaker.acquire()
    assert full.value.state is HALF_OPEN and full.value.retry_after == timedelta(seconds=10)  # permit TTL
    assert breaker.complete("success", permits[0]) and breaker.complete("failure", permits[1])
    assert breaker.state is HALF_OPEN
    assert breaker.complete("success", permits[2])
    assert breaker.state is CLOSED                        # 2 of 3 succeeded
    assert not breaker.complete("success", permits[2])   # fenced: an older generation


def test_half_open_fails_back_open_and_permit_ttl_frees_a_slot():
    clock = ManualClock()
    breaker = CircuitBreakerPolicy(cooldown=0, failure_threshold="1/2", permit_ttl=timedelta(seconds=2),
                                   clock=clock)
    run(breaker, ok)
    run(breaker, fail)
    assert breaker.state is OPEN
    first, second = breaker.acquire(), breaker.acquire()
    with pytest.raises(ProtectedCallError):
        breaker.acquire()
    clock.advance(timedelta(seconds=2))                    # both permits expire
    third = breaker.acquire()
    assert not breaker.complete("success", first)         # expired: unknown
    assert breaker.complete("failure", third)
    fourth = breaker.acquire()
    breaker.complete("success", fourth)
    assert breaker.state is OPEN                          # 1 of 2 probes failed: reaches 1/2
    assert second is not None


def test_without_success_threshold_probes_decide_by_failure_threshold():
    clock = ManualClock()
    breaker = CircuitBreakerPolicy(cooldown=0, failure_threshold="2/3", clock=clock, minimum_calls=1)
    run(breaker, fail)
    assert breaker.state is OPEN                          # 1 call, 1 failure: minimum 1, 1/1 ≥ 2/3
    for fn in (fail, ok, ok):
        run(breaker, fn)
    assert breaker.state is CLOSED                        # 1/3 < 2/3


def test_handle_and_non_exceptions():
    clock = ManualClock()
    breaker = CircuitBreakerPolicy(failure_threshold="1/1", handle=lambda e: isinstance(e, ConnectionError),
                                   clock=clock)
    with pytest.raises(ValueError):
        breaker.execute(lambda: (_ for _ in ()).throw(ValueError("not handled")))
    assert breaker.state is CLOSED and breaker.history == [True]

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        breaker.execute(interrupted)
    assert breaker.history == [True]                      # not an Exception: counted as nothing


def test_on_state_change_sees_every_transition_outside_the_lock():
    clock = ManualClock()
    seen = []

    def changed(policy, old, new):
        seen.append((old, new, policy.history))           # reading the policy here must not deadlock

    breaker = CircuitBreakerPolicy(cooldown=1, failure_threshold="1/1", on_state_change=changed, clock=clock)
    run(breaker, fail)
    clock.advance(1)
    run(breaker, ok)
    breaker.force("open")
    breaker.release()
    assert [(o, n) for o, n, _ in seen] == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED),
                                            (CLOSED, CircuitBreakerState.FORCED_OPEN),
                                            (CircuitBreakerState.FORCED_OPEN, CLOSED)]


def test_force_with_ttl_expires():
    clock = ManualClock()
    breaker = CircuitBreakerPolicy(clock=clock)
    breaker.force("open", ttl=timedelta(seconds=5))
    with pytest.raises(CircuitOpenError) as rejected:
        breaker.execute(ok)
    assert rejected.value.state is CircuitBreakerState.FORCED_OPEN
    assert rejected.value.retry_after == timedelta(seconds=5)
    clock.advance(5)
    assert breaker.execute(ok) == "ok" and breaker.state is CLOSED


def test_time_window():
    clock = ManualClock()
    breaker = CircuitBreakerPolicy(failure_threshold="2/4", window=TimeWindow(timedelta(seconds=10), 10),
                                   clock=clock)
    for fn in (fail, ok, ok):
        run(breaker, fn)
    clock.advance(10)                                      # those three leave the window
    for fn in (ok, ok, fail):
        run(breaker, fn)
    assert breaker.state is CLOSED                        # 3 calls < minimum 4
    run(breaker, fail)
    assert breaker.state is OPEN


@pytest.mark.parametrize("kwargs, field", [
    ({"failure_threshold": "6/5"}, "failure_threshold"),
    ({"failure_threshold": "0/5"}, "failure_threshold"),
    ({"failure_threshold": "two/5"}, "failure_threshold"),
    ({"failure_threshold": 0.5}, "failure_threshold"),
    ({"success_threshold": (1, 0)}, "success_threshold"),
    ({"cooldown": -1}, "cooldown"),
    ({"cooldown": timedelta(days=31)}, "cooldown"),
    ({"permit_ttl": 0}, "permit_ttl"),
    ({"minimum_calls": 21}, "minimum_calls"),
    ({"half_open_permits": 0}, "half_open_permits"),
    ({"window": CountWindow(0)}, "window.size"),
    ({"window": TimeWindow(timedelta(milliseconds=5), 10)}, "window.duration"),
])
def test_invalid_policies_name_the_field(kwargs, field):
    with pytest.raises(ConfigurationError) as error:
        CircuitBreakerPolicy(**kwargs)
    assert error.value.field == field


def test_retry_does_not_retry_an_open_circuit_by_default():
    clock = ManualClock()
    breaker = CircuitBreakerPolicy(failure_threshold="1/1", clock=clock)
    calls = []
    retry = RetryPolicy(max_retries=3, backoff=Backoff(timedelta(seconds=1), timedelta(seconds=10)), clock=clock)

    @Failsafe(policies=(retry, breaker))
    def call():
        calls.append(1)
        raise Boom()

    with pytest.raises(ProtectedCallError):
        call()
    assert len(calls) == 1 and clock.sleeps == [1.0]
    own = RetryPolicy(max_retries=2, handle=lambda e: True, clock=clock)
    with pytest.raises(RetriesExhaustedError) as exhausted:
        own.execute(breaker.execute, ok)
    assert isinstance(exhausted.value.last_error, ProtectedCallError) and exhausted.value.attempts == 3


def test_retry_passes_unhandled_errors_at_once_and_never_retries_cancellation():
    retry = RetryPolicy(max_retries=5, handle=lambda e: isinstance(e, Boom), clock=ManualClock())
    calls = []

    def wrong():
        calls.append(1)
        raise ValueError("x")

    with pytest.raises(ValueError):
        retry.execute(wrong)
    assert calls == [1]


def test_backoff():
    b = Backoff(timedelta(seconds=1), timedelta(seconds=10), factor=3, jitter=0.5)
    assert [b.delay(a, 0.5).total_seconds() for a in (1, 2, 3, 4)] == [1, 3, 9, 10]
    assert b.delay(2, 0.0).total_seconds() == 1.5 and b.delay(2, 1.0).total_seconds() == 4.5
    assert Backoff(timedelta(seconds=1), timedelta(seconds=5)).for_attempt(10) == 5
    for kwargs, field in [({"min_delay": -1, "max_delay": 1}, "min_delay"), ({"min_delay": 2, "max_delay": 1},
                          "max_delay"), ({"min_delay": 1, "max_delay": 2, "factor": 0.5}, "factor"),
                          ({"min_delay": 1, "max_delay": 2, "jitter": 1.5}, "jitter")]:
        with pytest.raises(ConfigurationError) as error:
            Backoff(**kwargs)
        assert error.value.field == field
    with pytest.raises(ConfigurationError):
        RetryPolicy(max_retries=-1)


def test_failsafe_order_and_duplicates():
    order = []

    class Tracer(RetryPolicy):
        def __init__(self, name):
            super().__init__(max_retries=0)
            self.name = name

        def _run(self, fn, args, kwargs):
            order.append(self.name)
            return super()._run(fn, args, kwargs)

    outer, inner = Tracer("outer"), Tracer("inner")
    assert Failsafe(policies=(outer, inner)).execute(lambda x: x * 2, 21) == 42
    assert order == ["outer", "inner"]
    with pytest.raises(ConfigurationError):
        Failsafe(policies=(outer, Failsafe(policies=(inner, outer))))


def test_async_functions_get_async_wrappers():
    clock = ManualClock()
    breaker = CircuitBreakerPolicy(failure_threshold="1/2", clock=clock)
    retry = RetryPolicy(max_retries=2, backoff=Backoff(1, 1), clock=clock)
    attempts = []

    @Failsafe(policies=(retry, breaker))
    async def call(x):
        attempts.append(x)
        await asyncio.sleep(0)
        if len(attempts) < 2:
            raise Boom()
        return x

    assert inspect.iscoroutinefunction(call)
    assert asyncio.run(call(7)) == 7 and attempts == [7, 7] and clock.sleeps == [1.0]


def test_cancelled_task_counts_as_nothing_and_returns_its_permit():
    clock = ManualClock()
    breaker = CircuitBreakerPolicy(cooldown=0, failure_threshold="1/1", clock=clock)
    run(breaker, fail)

    @breaker
    async def slow():
        await asyncio.sleep(10)

    async def main():
        task = asyncio.ensure_future(slow())
        await asyncio.sleep(0.01)
        assert breaker.state is HALF_OPEN
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert breaker.state is HALF_OPEN
        assert await breaker.execute(_async_ok) == "ok"  # the permit's slot was given back

    asyncio.run(main())
    assert breaker.state is CLOSED


async def _async_ok():
    return "ok"


def test_threads_share_one_breaker():
    breaker = CircuitBreakerPolicy(failure_threshold="50/100")
    counted = []

    def worker():
        for i in range(2000):
            run(breaker, ok)
        counted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert breaker.state is CLOSED and len(breaker.history) == 100 and all(breaker.history)
