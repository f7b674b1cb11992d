"""Time sources: the monotonic clock every policy reads, and `ManualClock` for tests.

Policies read time through a clock object with `now_ns()` (monotonic nanoseconds) and wait through its
`sleep(seconds)` / `async_sleep(seconds)`. `default_clock()` is what a policy created without `clock=` uses.
"""
from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import List, Union

Seconds = Union[timedelta, int, float]


def seconds_of(value: Seconds) -> float:
    """`value` in seconds: a `timedelta`, or a number of seconds."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a timedelta or a number of seconds, got {type(value).__name__}")
    return float(value)


class SystemClock:
    """The process's monotonic clock (`time.monotonic_ns`); waits really sleep."""

    def now_ns(self) -> int:
        """Monotonic nanoseconds."""
        return time.monotonic_ns()

    def sleep(self, seconds: float) -> None:
        """Blocks the calling thread for `seconds`."""
        if seconds > 0:
            time.sleep(seconds)

    async def async_sleep(self, seconds: float) -> None:
        """Suspends the calling task for `seconds`."""
        await asyncio.sleep(max(seconds, 0))


class ManualClock:
    """A clock that moves only when told to, for tests of time rules (cooldowns, permit TTLs, backoff).

    `sleep` and `async_sleep` do not wait: they advance the clock by the time asked and record it in `sleeps`
    (seconds), so a retry policy's waits can be checked without sleeping.
    """

    def __init__(self, start_ns: int = 1_000_000_000) -> None:
        self._now = start_ns
        self._lock = threading.Lock()
        #: Every wait asked of `sleep`/`async_sleep`, in seconds, in order.
        self.sleeps: List[float] = []

    def now_ns(self) -> int:
        """The clock's current reading, in nanoseconds."""
        with self._lock:
            return self._now

    def advance(self, by: Seconds) -> None:
        """Moves the clock forward by `by` (a `timedelta` or seconds; not negative)."""
        ns = round(seconds_of(by) * 1e9)
        if ns < 0:
            raise ValueError("a ManualClock only moves forward")
        with self._lock:
            self._now += ns

    def sleep(self, seconds: float) -> None:
        """Records the wait and advances the clock by it, without waiting."""
        self.sleeps.append(seconds)
        if seconds > 0:
            self.advance(seconds)

    async def async_sleep(self, seconds: float) -> None:
        """As `sleep`, for coroutines (yields to the event loop once)."""
        self.sleep(seconds)
        await asyncio.sleep(0)


_default = SystemClock()


def default_clock():
    """The clock a policy created without `clock=` reads (the system's monotonic clock)."""
    return _default
