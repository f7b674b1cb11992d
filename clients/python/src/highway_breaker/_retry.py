"""`RetryPolicy` and `Backoff`, with the seeds' parameters."""
from __future__ import annotations

import math
import random
from datetime import timedelta
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple, TypeVar

from ._base import ResiliencePolicy
from ._clock import Seconds, default_clock, seconds_of
from ._errors import ConfigurationError, ProtectedCallError, RetriesExhaustedError

R = TypeVar("R")


class Backoff:
    """Exponential backoff between retries: retry `a` (1 for the first) waits ``min_delay · factor^(a−1)``,
    moved up or down by up to `jitter` of itself (uniformly), then capped at `max_delay`.

    Args:
        min_delay: the first retry's delay (a `timedelta` or seconds; 0 or more).
        max_delay: no delay is longer (at least `min_delay`).
        factor: each delay is this many times the one before (at least 1; default 2).
        jitter: the fraction of each delay to spread it by, 0 to 1 (None or 0: none).
    """

    def __init__(self, min_delay: Seconds, max_delay: Seconds, factor: float = 2,
                 jitter: Optional[float] = None) -> None:
        self.min_delay = _as_timedelta(min_delay, "min_delay")
        self.max_delay = _as_timedelta(max_delay, "max_delay")
        if self.min_delay < timedelta(0):
            raise ConfigurationError("min_delay", f"must be 0 or more, got {min_delay!r}")
        if self.max_delay < self.min_delay:
            raise ConfigurationError("max_delay", f"must be at least min_delay ({self.min_delay}), got {max_delay!r}")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor < 1:
            raise ConfigurationError("factor", f"must be a finite number of at least 1, got {factor!r}")
        jitter = 0.0 if jitter is None else jitter
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or not 0 <= jitter <= 1:
            raise ConfigurationError("jitter", f"must be between 0 and 1 (a fraction of each delay), got {jitter!r}")
        self.factor = factor
        self.jitter = float(jitter)

    def delay(self, attempt: int, unit_random: Optional[float] = None) -> timedelta:
        """The delay before retry number `attempt` (1-based). `unit_random` in [0, 1) places it within the
        jitter band (0.5 is the middle: no jitter); drawn from `random.random()` when None."""
        if unit_random is None:
            unit_random = random.random() if self.jitter else 0.5
        base = self.min_delay.total_seconds() * self.factor ** (max(attempt, 1) - 1)
        spread = base * self.jitter * (2 * min(max(unit_random, 0.0), 1.0) - 1)
        seconds = min(max(base + spread, 0.0), self.max_delay.total_seconds())
        return timedelta(seconds=seconds) if math.isfinite(seconds) else self.max_delay

    def for_attempt(self, attempt: int) -> float:
        """The seeds' form of `delay`: seconds before retry `attempt`."""
        return self.delay(attempt).total_seconds()

    def __repr__(self) -> str:
        return (f"Backoff(min_delay={self.min_delay!r}, max_delay={self.max_delay!r}, factor={self.factor!r}, "
                f"jitter={self.jitter!r})")


def retries_by_default(error: Exception) -> bool:
    """The default `handle` of `RetryPolicy`: every exception but `ProtectedCallError` is worth another attempt
    (retrying into an open circuit only waits)."""
    return not isinstance(error, ProtectedCallError)


class RetryPolicy(ResiliencePolicy):
    """Runs a call again when it raises an exception that `handle` accepts, up to `max_retries` more times,
    waiting as `backoff` says (no wait without one).

    An exception `handle` rejects passes through at once; when the retries run out, `RetriesExhaustedError`
    is raised from the last error. What is not an `Exception` (cancellation, `KeyboardInterrupt`) is never
    retried. The default `handle` retries every exception but `ProtectedCallError` (the seeds retried it too);
    a `handle` of your own decides alone.

    Args:
        max_retries: retries after the first attempt (0 or more; default 3).
        backoff: the waits between attempts (default: none).
        handle: which exceptions are worth another attempt.
        clock: waits through its `sleep`/`async_sleep` (tests pass a `ManualClock`).
        unit_random: the jitter source, a number in [0, 1) per delay.
    """

    def __init__(
        self,
        max_retries: int = 3,
        backoff: Optional[Backoff] = None,
        handle: Callable[[Exception], bool] = retries_by_default,
        *,
        clock: Any = None,
        unit_random: Callable[[], float] = random.random,
    ) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError("max_retries", f"must be a whole number, 0 or more, got {max_retries!r}")
        if backoff is not None and not isinstance(backoff, Backoff):
            raise ConfigurationError("backoff", f"must be a Backoff, got {type(backoff).__name__}")
        if not callable(handle):
            raise TypeError("handle must be a callable taking the exception and returning a bool")
        self.max_retries = max_retries
        self.backoff = backoff
        self._handle = handle
        self._clock = clock if clock is not None else default_clock()
        self._unit_random = unit_random

    def delay(self, retry: int) -> timedelta:
        """The wait before retry number `retry` (1-based)."""
        if self.backoff is None:
            return timedelta(0)
        return self.backoff.delay(retry, self._unit_random() if self.backoff.jitter else 0.5)

    def _run(self, fn: Callable[..., R], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> R:
        retries = 0
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as error:
                wait = self._decide(error, retries)
            retries += 1
            if wait > 0:
                self._clock.sleep(wait)

    async def _run_async(self, fn: Callable[..., Awaitable[R]], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> R:
        retries = 0
        while True:
            try:
                return await fn(*args, **kwargs)
            except Exception as error:
                wait = self._decide(error, retries)
            retries += 1
            if wait > 0:
                await self._clock.async_sleep(wait)

    def _decide(self, error: Exception, retries: int) -> float:
        """Re-raises what must not be retried; else returns the wait (seconds) before the next attempt."""
        if not self._handle(error):
            raise error
        if retries >= self.max_retries:
            raise RetriesExhaustedError(retries + 1, error) from error
        return self.delay(retries + 1).total_seconds()

    def __repr__(self) -> str:
        return f"RetryPolicy(max_retries={self.max_retries}, backoff={self.backoff!r})"


def _as_timedelta(value: Seconds, field: str) -> timedelta:
    try:
        return value if isinstance(value, timedelta) else timedelta(seconds=seconds_of(value))
    except TypeError as e:
        raise ConfigurationError(field, str(e)) from None
