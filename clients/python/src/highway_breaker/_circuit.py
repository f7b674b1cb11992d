"""`CircuitBreakerPolicy`: the seeds' in-process circuit breaker, on the state machine breakerd runs."""
from __future__ import annotations

import threading
from collections import deque
from datetime import timedelta
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Tuple, TypeVar

from ._base import ResiliencePolicy, handles_everything, outcome_of
from ._clock import Seconds, default_clock
from ._errors import ProtectedCallError
from ._machine import IGNORED, SUCCESS, Permit, StateMachine, Transition
from ._policy import DEFAULT_COOLDOWN, DEFAULT_PERMIT_TTL, BreakerPolicy, RatioLike, Window, duration_ns
from ._state import CircuitBreakerState

R = TypeVar("R")
StateChangeHandler = Callable[[Any, CircuitBreakerState, CircuitBreakerState], None]


class CircuitBreakerPolicy(ResiliencePolicy):
    """An in-process circuit breaker with the seeds' parameters.

    >>> breaker = CircuitBreakerPolicy(cooldown=timedelta(seconds=30), failure_threshold=Fraction(2, 5))
    >>> @breaker
    ... def call(): ...

    A rejected call raises `ProtectedCallError` (with `retry_after`) without running. An exception for which
    `handle` returns False is re-raised and counts as a success, as in the seeds; what is not an `Exception`
    (cancellation, `KeyboardInterrupt`) counts as nothing. One instance may be shared by any number of
    threads and tasks.

    Args:
        cooldown: how long to stay open before probing (a `timedelta` or seconds; default 30 s).
        failure_threshold: trip when at least k of the last n calls failed: ``"k/n"``, ``(k, n)`` or a
            `Fraction` (which reduces itself: `Fraction(2, 4)` is a window of 2; write ``"2/4"`` for 4).
            Default ``"10/20"``.
        success_threshold: in half-open, close when at least k of n probes succeeded (default None: close
            unless the probes' failures reach `failure_threshold`).
        handle: which exceptions count as failures (default: all).
        on_state_change: called as ``on_state_change(policy, old_state, new_state)`` after each change, on the
            thread that caused it, outside the breaker's lock.
        window: `CountWindow(size)` or `TimeWindow(duration, buckets)` (default: the last n calls).
        minimum_calls: fewest outcomes in the window before it may trip (default: the window's size).
        half_open_permits: probes in one half-open period (default: the success threshold's n, else the failure
            threshold's).
        permit_ttl: how long a probe may take before its permit frees (default 10 s).
        name: a name for errors (`ProtectedCallError.resource`).
        clock: the time source (tests pass a `ManualClock`).
    """

    def __init__(
        self,
        cooldown: Seconds = DEFAULT_COOLDOWN,
        failure_threshold: RatioLike = "10/20",
        success_threshold: Optional[RatioLike] = None,
        handle: Callable[[Exception], bool] = handles_everything,
        on_state_change: Optional[StateChangeHandler] = None,
        *,
        window: Optional[Window] = None,
        minimum_calls: Optional[int] = None,
        half_open_permits: Optional[int] = None,
        permit_ttl: Seconds = DEFAULT_PERMIT_TTL,
        name: Optional[str] = None,
        clock: Any = None,
    ) -> None:
        policy = BreakerPolicy.make(
            failure_threshold=failure_threshold,
            success_threshold=success_threshold,
            cooldown=cooldown,
            window=window,
            minimum_calls=minimum_calls,
            half_open_permits=half_open_permits,
            permit_ttl=permit_ttl,
        )
        self._setup(policy, handle, on_state_change, name, clock)

    @classmethod
    def with_policy(
        cls,
        policy: BreakerPolicy,
        handle: Callable[[Exception], bool] = handles_everything,
        on_state_change: Optional[StateChangeHandler] = None,
        name: Optional[str] = None,
        clock: Any = None,
    ) -> "CircuitBreakerPolicy":
        """A breaker running a complete `BreakerPolicy`."""
        breaker = cls.__new__(cls)
        breaker._setup(policy, handle, on_state_change, name, clock)
        return breaker

    def _setup(self, policy: BreakerPolicy, handle: Callable[[Exception], bool],
               on_state_change: Optional[StateChangeHandler], name: Optional[str], clock: Any) -> None:
        if not callable(handle):
            raise TypeError("handle must be a callable taking the exception and returning a bool")
        self.name = name
        self._handle = handle
        self._on_state_change = on_state_change
        self._clock = clock if clock is not None else default_clock()
        self._now = self._clock.now_ns
        self._lock = threading.Lock()
        self._machine = StateMachine(policy, self._now())
        self._history: Deque[bool] = deque(maxlen=policy.failure_threshold.denominator)

    # Reading

    @property
    def policy(self) -> BreakerPolicy:
        """The policy in force (every default filled in)."""
        return self._machine.policy

    @property
    def state(self) -> CircuitBreakerState:
        """The current state. An open breaker whose cooldown has passed reads `OPEN` until the next call."""
        return self._machine.state

    @property
    def history(self) -> List[bool]:
        """The most recent counted outcomes, oldest first, as the seeds give them: True for a success, False
        for a failure; at most the failure threshold's n of them."""
        with self._lock:
            return list(self._history)

    @property
    def generation(self) -> int:
        """How many times the breaker has changed state."""
        return self._machine.generation

    @property
    def cooldown(self) -> timedelta:
        """The policy's cooldown."""
        return self._machine.policy.cooldown

    # Calls

    def acquire(self) -> Optional[Permit]:
        """Asks to make one call, for callers that cannot wrap it; report its outcome with `complete`.
        Returns the probe permit in half-open (None otherwise). Raises `ProtectedCallError` when rejected."""
        with self._lock:
            decision = self._machine.acquire(self._now())
            state = self._machine.state
        if decision.transitions:
            self._notify(decision.transitions)
        if not decision.allowed:
            raise ProtectedCallError(self.name, state, timedelta(microseconds=(decision.retry_after_ns or 0) // 1000),
                                     "local")
        return decision.permit

    def complete(self, outcome: str, permit: Optional[Permit] = None) -> bool:
        """Reports the outcome (``"success"``, ``"failure"``, ``"ignored"``) of a call made after `acquire`,
        with the permit it returned. Returns whether it counted."""
        with self._lock:
            result = self._machine.report(outcome, permit, self._now())
            if result.counted:
                self._history.append(outcome == SUCCESS)
        if result.transitions:
            self._notify(result.transitions)
        return result.counted

    def _run(self, fn: Callable[..., R], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> R:
        permit = self.acquire()
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            self._finish_error(error, permit)
            raise
        self.complete(SUCCESS, permit)
        return result

    async def _run_async(self, fn: Callable[..., Awaitable[R]], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> R:
        permit = self.acquire()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as error:
            self._finish_error(error, permit)
            raise
        self.complete(SUCCESS, permit)
        return result

    def _finish_error(self, error: BaseException, permit: Optional[Permit]) -> None:
        try:
            outcome = outcome_of(self._handle, error)
        except BaseException:
            self.complete(IGNORED, permit)
            raise
        self.complete(outcome, permit)

    # Operators

    def force(self, state: Any, ttl: Optional[Seconds] = None) -> None:
        """Forces the breaker `"open"` or `"closed"` (or `CircuitBreakerState.FORCED_OPEN`/`OPEN`, ...), for
        `ttl` (None: until `release`)."""
        open_ = _force_target(state)
        ttl_ns = None if ttl is None else duration_ns(ttl, "ttl", allow_zero=False)
        with self._lock:
            transition = self._machine.force(open_, ttl_ns, self._now())
        self._notify([transition])

    def release(self) -> None:
        """Ends a force: back to closed with an empty window."""
        with self._lock:
            transition = self._machine.release(self._now())
        if transition:
            self._notify([transition])

    def reset(self) -> None:
        """Back to closed with an empty window."""
        with self._lock:
            transition = self._machine.reset(self._now())
        self._notify([transition])

    def _notify(self, transitions: List[Transition]) -> None:
        handler = self._on_state_change
        if handler is not None:
            for t in transitions:
                handler(self, t.from_state, t.to_state)

    def __repr__(self) -> str:
        p = self._machine.policy
        return (f"<CircuitBreakerPolicy{' ' + self.name if self.name else ''} {self.state.value} "
                f"failure_threshold={p.failure_threshold} cooldown={p.cooldown}>")


def _force_target(state: Any) -> bool:
    value = state.value if isinstance(state, CircuitBreakerState) else state
    if value in ("open", "forced_open"):
        return True
    if value in ("closed", "forced_closed"):
        return False
    raise ValueError(f"state must be \"open\" or \"closed\", got {state!r}")
