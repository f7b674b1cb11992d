"""Breaker policies: thresholds taken as written, windows, and the rules the server checks.

`BreakerPolicy` is the full, validated policy (every default filled in) that the in-process state machine
runs and that a shared breaker's local fallback uses. `wire_policy(...)` writes the policy object of the wire
protocol with only the fields the user gave (a field left out takes the protocol's default on the server).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from typing import Any, Dict, NamedTuple, Optional, Tuple, Union

from ._clock import Seconds, seconds_of
from ._errors import ConfigurationError

RatioLike = Union[str, Tuple[int, int], Fraction]

MAXIMUM_WINDOW_SIZE = 100_000
MAXIMUM_BUCKETS = 1_000
MAXIMUM_HALF_OPEN_PERMITS = 10_000
MAXIMUM_DURATION_NS = 30 * 24 * 3600 * 10**9
DEFAULT_COOLDOWN = timedelta(seconds=30)
DEFAULT_PERMIT_TTL = timedelta(seconds=10)
NS_PER_MS = 1_000_000


class Ratio(NamedTuple):
    """`k/n`, **not reduced**: `Ratio(2, 4)` means 2 failures in a window of 4 calls."""

    numerator: int
    denominator: int

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"

    def is_reached(self, part: int, whole: int) -> bool:
        """True when `part/whole >= self` (exact; `whole` > 0)."""
        return part * self.denominator >= self.numerator * whole


def ratio(value: RatioLike, field: str) -> Ratio:
    """Reads a threshold as written: a ``"k/n"`` string, a ``(k, n)`` tuple, or a `Fraction`.

    A `Fraction` reduces itself (`Fraction(2, 4)` is 1/2, a window of 2 calls); write ``"2/4"`` or
    ``(2, 4)`` for a window of 4. Raises `ConfigurationError` naming `field` for anything else.
    """
    if isinstance(value, Ratio):
        k, n = value
    elif isinstance(value, Fraction):
        k, n = value.numerator, value.denominator
    elif isinstance(value, str):
        parts = value.split("/")
        try:
            if len(parts) != 2:
                raise ValueError
            k, n = int(parts[0].strip()), int(parts[1].strip())
        except ValueError:
            raise ConfigurationError(
                field, f"{value!r} is not k/n (for example \"2/5\": 2 of the last 5 calls)") from None
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(x, int) and not isinstance(x, bool) for x in value):
        k, n = value[0], value[1]
    else:
        raise ConfigurationError(
            field, f"expected \"k/n\", (k, n) or a Fraction, got {value!r} ({type(value).__name__})")
    if n < 1:
        raise ConfigurationError(field, f"the denominator of {k}/{n} must be at least 1")
    if not 1 <= k <= n:
        raise ConfigurationError(
            field, f"{k}/{n} must be k/n with 1 ≤ k ≤ n (for example 2/5: 2 of the last 5 calls)")
    if n > MAXIMUM_WINDOW_SIZE:
        raise ConfigurationError(field, f"the denominator of {k}/{n} must be at most {MAXIMUM_WINDOW_SIZE}")
    return Ratio(k, n)


def duration_ns(value: Seconds, field: str, allow_zero: bool) -> int:
    """`value` (a `timedelta` or seconds) in nanoseconds, checked: more than 0 (or 0 when allowed), at most 30 days."""
    try:
        seconds = seconds_of(value)
    except TypeError as e:
        raise ConfigurationError(field, str(e)) from None
    if math.isnan(seconds):
        raise ConfigurationError(field, "must be a duration, got NaN")
    ns = round(seconds * 1e9)
    if ns < 0 or (ns == 0 and not allow_zero):
        raise ConfigurationError(field, f"must be {'0 or more' if allow_zero else 'more than 0'}, got {value!r}")
    if ns > MAXIMUM_DURATION_NS:
        raise ConfigurationError(field, f"must be at most 30 days, got {value!r}")
    return ns


def ms_rounded_up(ns: int) -> int:
    """Nanoseconds as whole milliseconds, rounded up (a positive duration never reads 0)."""
    return -(-ns // NS_PER_MS)


class CountWindow(NamedTuple):
    """The last `size` outcomes (1 to 100,000)."""

    size: int


class TimeWindow(NamedTuple):
    """The outcomes of the last `duration`, in `buckets` equal buckets (1 to 1,000, each at least 1 ms)."""

    duration: timedelta
    buckets: int = 10


Window = Union[CountWindow, TimeWindow]


@dataclass(frozen=True)
class BreakerPolicy:
    """A complete, validated policy: what the state machine runs. Build it with `BreakerPolicy.make`."""

    failure_threshold: Ratio
    success_threshold: Optional[Ratio]
    cooldown_ns: int
    window: Window
    minimum_calls: int
    half_open_permits: int
    permit_ttl_ns: int

    @classmethod
    def make(
        cls,
        failure_threshold: RatioLike = "10/20",
        success_threshold: Optional[RatioLike] = None,
        cooldown: Seconds = DEFAULT_COOLDOWN,
        window: Optional[Window] = None,
        minimum_calls: Optional[int] = None,
        half_open_permits: Optional[int] = None,
        permit_ttl: Seconds = DEFAULT_PERMIT_TTL,
    ) -> "BreakerPolicy":
        """Checks every value as breakerd does and fills in the protocol's defaults: the window is the last `n`
        calls of `failure_threshold` k/n, `minimum_calls` the count window's size (or `n` for a time window),
        `half_open_permits` the success threshold's `n` (else the failure threshold's)."""
        failure = ratio(failure_threshold, "failure_threshold")
        success = None if success_threshold is None else ratio(success_threshold, "success_threshold")
        cooldown_ns = duration_ns(cooldown, "cooldown", allow_zero=True)
        permit_ttl_ns = duration_ns(permit_ttl, "permit_ttl", allow_zero=False)
        if window is None:
            window = CountWindow(failure.denominator)
        if isinstance(window, CountWindow):
            if not isinstance(window.size, int) or not 1 <= window.size <= MAXIMUM_WINDOW_SIZE:
                raise ConfigurationError(
                    "window.size", f"the count window must hold 1 to {MAXIMUM_WINDOW_SIZE} calls, got {window.size!r}")
            default_minimum = window.size
        elif isinstance(window, TimeWindow):
            if not isinstance(window.buckets, int) or not 1 <= window.buckets <= MAXIMUM_BUCKETS:
                raise ConfigurationError(
                    "window.buckets", f"a time window needs 1 to {MAXIMUM_BUCKETS} buckets, got {window.buckets!r}")
            span = duration_ns(window.duration, "window.duration", allow_zero=False)
            if span // window.buckets < NS_PER_MS:
                raise ConfigurationError(
                    "window.duration",
                    f"each of the {window.buckets} buckets must span at least 1 ms; "
                    f"use a longer window or fewer buckets")
            default_minimum = failure.denominator
        else:
            raise ConfigurationError(
                "window", f"expected CountWindow(size) or TimeWindow(duration, buckets), got {window!r}")
        if minimum_calls is None:
            minimum_calls = default_minimum
        if not isinstance(minimum_calls, int) or minimum_calls < 1:
            raise ConfigurationError("minimum_calls", f"must be at least 1, got {minimum_calls!r}")
        if isinstance(window, CountWindow) and minimum_calls > window.size:
            raise ConfigurationError(
                "minimum_calls",
                f"{minimum_calls} is more than the count window holds ({window.size}), so the breaker could never trip")
        if half_open_permits is None:
            half_open_permits = (success or failure).denominator
        if not isinstance(half_open_permits, int) or not 1 <= half_open_permits <= MAXIMUM_HALF_OPEN_PERMITS:
            raise ConfigurationError(
                "half_open_permits", f"must be 1 to {MAXIMUM_HALF_OPEN_PERMITS}, got {half_open_permits!r}")
        return cls(failure, success, cooldown_ns, window, minimum_calls, half_open_permits, permit_ttl_ns)

    @property
    def cooldown(self) -> timedelta:
        """How long `open` lasts before a probe."""
        return timedelta(microseconds=self.cooldown_ns // 1000)

    @property
    def permit_ttl(self) -> timedelta:
        """How long a probe permit stays valid without a report."""
        return timedelta(microseconds=self.permit_ttl_ns // 1000)


DEFAULT_POLICY = BreakerPolicy.make(failure_threshold="10/20", success_threshold="3/3", cooldown=DEFAULT_COOLDOWN)


def wire_policy(
    failure_threshold: Optional[RatioLike] = None,
    success_threshold: Optional[RatioLike] = None,
    cooldown: Optional[Seconds] = None,
    window: Optional[Window] = None,
    minimum_calls: Optional[int] = None,
    half_open_permits: Optional[int] = None,
    permit_ttl: Optional[Seconds] = None,
    extra: Optional[Dict[str, Any]] = None,
) -> Optional[Dict[str, Any]]:
    """The wire protocol's policy object holding only the fields given (None when none is), checked as
    `BreakerPolicy.make` checks them. `extra` fields (policy fields of newer servers, such as
    ``slow_call_ms``) are passed through as given. Without `failure_threshold`, the protocol's own default
    policy's ``"10/20"`` is sent (the field is required)."""
    extra = dict(extra or {})
    given = any(v is not None for v in (failure_threshold, success_threshold, cooldown, window, minimum_calls,
                                        half_open_permits, permit_ttl)) or bool(extra)
    if not given:
        return None
    checked = BreakerPolicy.make(
        failure_threshold=failure_threshold if failure_threshold is not None else "10/20",
        success_threshold=success_threshold,
        cooldown=cooldown if cooldown is not None else DEFAULT_COOLDOWN,
        window=window,
        minimum_calls=minimum_calls,
        half_open_permits=half_open_permits,
        permit_ttl=permit_ttl if permit_ttl is not None else DEFAULT_PERMIT_TTL,
    )
    out: Dict[str, Any] = {"failure_threshold": str(checked.failure_threshold)}
    if success_threshold is not None:
        out["success_threshold"] = str(checked.success_threshold)
    if cooldown is not None:
        out["cooldown_ms"] = ms_rounded_up(checked.cooldown_ns)
    if window is not None:
        out["window"] = window_to_wire(window)
    if minimum_calls is not None:
        out["minimum_calls"] = minimum_calls
    if half_open_permits is not None:
        out["half_open_permits"] = half_open_permits
    if permit_ttl is not None:
        out["permit_ttl_ms"] = ms_rounded_up(checked.permit_ttl_ns)
    for key, value in extra.items():
        if key in out:
            raise ConfigurationError(key, "given twice (as a parameter and as an extra policy field)")
        out[key] = ms_rounded_up(round(value.total_seconds() * 1e9)) if isinstance(value, timedelta) else value
    return out


def window_to_wire(window: Window) -> Dict[str, Any]:
    """The wire form of a window."""
    if isinstance(window, CountWindow):
        return {"type": "count", "size": window.size}
    span_ms = ms_rounded_up(round(window.duration.total_seconds() * 1e9))
    return {"type": "time", "ms": span_ms, "buckets": window.buckets}


def policy_from_wire(obj: Dict[str, Any]) -> BreakerPolicy:
    """The complete policy a reply shows (every field present), checked."""
    window_obj = obj.get("window")
    window: Optional[Window] = None
    if isinstance(window_obj, dict):
        if window_obj.get("type") == "time":
            window = TimeWindow(timedelta(milliseconds=window_obj["ms"]), window_obj["buckets"])
        else:
            window = CountWindow(window_obj["size"])
    return BreakerPolicy.make(
        failure_threshold=obj["failure_threshold"],
        success_threshold=obj.get("success_threshold"),
        cooldown=timedelta(milliseconds=obj.get("cooldown_ms", 30_000)),
        window=window,
        minimum_calls=obj.get("minimum_calls"),
        half_open_permits=obj.get("half_open_permits"),
        permit_ttl=timedelta(milliseconds=obj.get("permit_ttl_ms", 10_000)),
    )
