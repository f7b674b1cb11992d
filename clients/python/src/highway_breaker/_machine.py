"""One circuit's state machine, the rules breakerd runs (protocol/PROTOCOL.md, "The state machine").

A plain object without I/O or clock reads: every operation takes the current instant (monotonic
nanoseconds) and returns what happened (the transitions); the caller holds it behind a lock, notifies
after releasing the lock, and raises or reports.
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Tuple

from ._policy import BreakerPolicy, CountWindow
from ._state import CircuitBreakerState

CLOSED = CircuitBreakerState.CLOSED
OPEN = CircuitBreakerState.OPEN
HALF_OPEN = CircuitBreakerState.HALF_OPEN
FORCED_OPEN = CircuitBreakerState.FORCED_OPEN
FORCED_CLOSED = CircuitBreakerState.FORCED_CLOSED

SUCCESS = "success"
FAILURE = "failure"
IGNORED = "ignored"


class Transition(NamedTuple):
    """A change of state: from, to, why (the protocol's cause), and the generation it began."""

    from_state: CircuitBreakerState
    to_state: CircuitBreakerState
    cause: str
    generation: int


class Permit(NamedTuple):
    """A half-open probe permit: the generation it belongs to and its sequence number."""

    generation: int
    sequence: int

    def __str__(self) -> str:
        return f"{self.generation}.{self.sequence}"


class Decision(NamedTuple):
    """The answer to one `acquire`."""

    allowed: bool
    permit: Optional[Permit]
    retry_after_ns: Optional[int]
    transitions: List[Transition]


class ReportResult(NamedTuple):
    """Whether one outcome counted (and `reason` when not), and what it changed."""

    counted: bool
    reason: Optional[str]
    transitions: List[Transition]


class OutcomeWindow:
    """The outcomes a closed breaker remembers: the last N (a ring of flags) or those of the last T (buckets)."""

    __slots__ = ("capacity", "ring", "head", "count", "failures", "bucket_ns", "buckets")

    def __init__(self, policy: BreakerPolicy) -> None:
        window = policy.window
        if isinstance(window, CountWindow):
            self.capacity = window.size
            self.ring = [False] * window.size
            self.bucket_ns = 0
            self.buckets: List[List[int]] = []
        else:
            self.capacity = 0
            self.ring = []
            self.bucket_ns = max(1, round(window.duration.total_seconds() * 1e9) // window.buckets)
            self.buckets = [[-(1 << 62), 0, 0] for _ in range(window.buckets)]
        self.head = 0
        self.count = 0
        self.failures = 0

    def record(self, failure: bool, now: int) -> None:
        """Adds one outcome at `now`."""
        if self.bucket_ns:
            epoch = now // self.bucket_ns
            bucket = self.buckets[epoch % len(self.buckets)]
            if bucket[0] != epoch:
                bucket[0], bucket[1], bucket[2] = epoch, 0, 0
            bucket[1] += 1
            if failure:
                bucket[2] += 1
            return
        head = self.head
        if self.count == self.capacity:
            if self.ring[head]:
                self.failures -= 1
        else:
            self.count += 1
        self.ring[head] = failure
        if failure:
            self.failures += 1
        head += 1
        self.head = 0 if head == self.capacity else head

    def totals(self, now: int) -> Tuple[int, int]:
        """The outcomes in the window at `now`, and how many of them are failures."""
        if not self.bucket_ns:
            return self.count, self.failures
        current = now // self.bucket_ns
        oldest = current - len(self.buckets)
        calls = failures = 0
        for epoch, c, f in self.buckets:
            if oldest < epoch <= current:
                calls += c
                failures += f
        return calls, failures

    def clear(self) -> None:
        """Empties the window."""
        if self.bucket_ns:
            for bucket in self.buckets:
                bucket[0], bucket[1], bucket[2] = -(1 << 62), 0, 0
        else:
            self.ring = [False] * self.capacity
            self.head = self.count = self.failures = 0


class StateMachine:
    """One breaker: `closed`, `open`, `half_open`, and the operator's `forced_open` / `forced_closed`.

    - closed: every call is allowed; after a failure, trip when the window holds at least `minimum_calls`
      outcomes and failures/calls ≥ `failure_threshold`.
    - open: calls are rejected with the cooldown left; the first acquire at or after the cooldown moves to
      half_open and gets the first permit.
    - half_open: at most `half_open_permits` permits in all; only outcomes with a permit of this generation
      count; when all are in, close if successes/probes ≥ `success_threshold` (or, without one, if
      failures/probes < `failure_threshold`), else open. A permit not reported within `permit_ttl` frees its
      slot.
    - Every transition increments `generation`; a report with a permit of an older generation is fenced.
    """

    def __init__(self, policy: BreakerPolicy, now: int) -> None:
        self.policy = policy
        self.state = CLOSED
        self.generation = 0
        self.changed_at = now
        self.window = OutcomeWindow(policy)
        self.open_until = now
        self.force_until: Optional[int] = None
        self.next_sequence = 1
        self.outstanding: Dict[int, int] = {}
        self.probe_successes = 0
        self.probe_failures = 0

    # Calls

    def acquire(self, now: int) -> Decision:
        """May a call go ahead at `now`?"""
        transitions: List[Transition] = []
        if self.force_until is not None and now >= self.force_until:
            transitions.append(self._move(CLOSED, "force_expired", now))
        state = self.state
        if state is CLOSED or state is FORCED_CLOSED:
            return Decision(True, None, None, transitions)
        if state is FORCED_OPEN:
            wait = self.force_until - now if self.force_until is not None else self.policy.cooldown_ns
            return Decision(False, None, wait, transitions)
        if state is OPEN:
            if now < self.open_until:
                return Decision(False, None, self.open_until - now, transitions)
            transitions.append(self._move(HALF_OPEN, "cooldown_elapsed", now))
        return self._grant_probe(now, transitions)

    def report(self, outcome: str, permit: Optional[Permit], now: int) -> ReportResult:
        """Counts the outcome (``"success"``, ``"failure"``, ``"ignored"``) of a call, with its permit if any."""
        transitions: List[Transition] = []
        if self.force_until is not None and now >= self.force_until:
            transitions.append(self._move(CLOSED, "force_expired", now))
        if permit is not None and permit.generation != self.generation:
            return ReportResult(False, "stale_permit", transitions)
        state = self.state
        if state is OPEN:
            return ReportResult(False, "open", transitions)
        if state is FORCED_OPEN:
            return ReportResult(False, "forced_open", transitions)
        if state is HALF_OPEN:
            if permit is None:
                return ReportResult(False, "missing_permit", transitions)
            self._expire_probes(now)
            if self.outstanding.pop(permit.sequence, None) is None:
                return ReportResult(False, "unknown_permit", transitions)
            if outcome == IGNORED:
                return ReportResult(False, "ignored_outcome", transitions)
            if outcome == FAILURE:
                self.probe_failures += 1
            else:
                self.probe_successes += 1
            self._decide_if_probes_complete(now, transitions)
            return ReportResult(True, None, transitions)
        # closed, forced_closed
        if permit is not None:
            return ReportResult(False, "unknown_permit", transitions)
        if outcome == IGNORED:
            return ReportResult(False, "ignored_outcome", transitions)
        failure = outcome == FAILURE
        self.window.record(failure, now)
        if failure and state is CLOSED:
            calls, failures = self.window.totals(now)
            policy = self.policy
            if calls >= policy.minimum_calls and policy.failure_threshold.is_reached(failures, calls):
                transitions.append(self._move(OPEN, "failure_threshold", now))
        return ReportResult(True, None, transitions)

    # Operators

    def force(self, open_: bool, ttl_ns: Optional[int], now: int) -> Transition:
        """Forces the breaker open or closed, for `ttl_ns` (None: until released)."""
        transition = self._move(FORCED_OPEN if open_ else FORCED_CLOSED, "forced", now)
        self.force_until = None if ttl_ns is None else now + ttl_ns
        return transition

    def release(self, now: int) -> Optional[Transition]:
        """Ends a force: back to closed with an empty window (None when not forced)."""
        if not self.state.is_forced:
            return None
        return self._move(CLOSED, "released", now)

    def reset(self, now: int) -> Transition:
        """Back to closed with an empty window, from any state."""
        return self._move(CLOSED, "reset", now)

    def retry_after_ns(self, now: int) -> Optional[int]:
        """The cooldown or force TTL left, if any."""
        if self.state is OPEN:
            return max(self.open_until - now, 0)
        if self.state.is_forced and self.force_until is not None:
            return max(self.force_until - now, 0)
        return None

    # Internals

    def _move(self, to: CircuitBreakerState, cause: str, now: int) -> Transition:
        self.generation += 1
        transition = Transition(self.state, to, cause, self.generation)
        self.state = to
        self.changed_at = now
        self.force_until = None
        self.outstanding.clear()
        self.probe_successes = 0
        self.probe_failures = 0
        if to is OPEN:
            self.open_until = now + self.policy.cooldown_ns
        elif to is not HALF_OPEN:
            self.window.clear()
        return transition

    def _expire_probes(self, now: int) -> None:
        if self.outstanding:
            for sequence in [s for s, expires in self.outstanding.items() if expires <= now]:
                del self.outstanding[sequence]

    def _grant_probe(self, now: int, transitions: List[Transition]) -> Decision:
        self._expire_probes(now)
        policy = self.policy
        if len(self.outstanding) + self.probe_successes + self.probe_failures >= policy.half_open_permits:
            wait = min(self.outstanding.values()) - now if self.outstanding else policy.permit_ttl_ns
            return Decision(False, None, wait, transitions)
        permit = Permit(self.generation, self.next_sequence)
        self.next_sequence += 1
        self.outstanding[permit.sequence] = now + policy.permit_ttl_ns
        return Decision(True, permit, None, transitions)

    def _decide_if_probes_complete(self, now: int, transitions: List[Transition]) -> None:
        probes = self.probe_successes + self.probe_failures
        policy = self.policy
        if probes < policy.half_open_permits:
            return
        if policy.success_threshold is not None:
            close = policy.success_threshold.is_reached(self.probe_successes, probes)
        else:
            close = not policy.failure_threshold.is_reached(self.probe_failures, probes)
        transitions.append(self._move(CLOSED, "probes_succeeded", now) if close
                           else self._move(OPEN, "probes_failed", now))
