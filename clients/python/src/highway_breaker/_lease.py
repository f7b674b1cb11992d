"""Leased mode (protocol/PROTOCOL.md, `lease`): calls on a closed circuit are decided locally while breakerd's
lease lasts, and their outcomes travel in one `lease` line for all the connection's leased resources.

`LeaseBook` is the bookkeeping, a plain object that takes the current instant and does no I/O (the rules of
the Swift client's LeaseBook); `LeaseKeeper` holds it behind a lock for one connection, whose I/O thread
sends the lines (`drive`) and whose breakers decide and count calls.

The rules:
- A call is allowed locally only while the state is closed or forced closed and a lease granted for it is
  live. A lease runs from the instant its request was sent, so it never outlives the server's push window.
- Half-open, a resource breakerd has not answered for yet, and a closed circuit without a live lease ask
  breakerd per call (`acquire`), as strict mode does.
- Open and forced open reject until breakerd's retry-after. A pushed trip rejects at once, for one flush
  interval (the push carries no retry-after), by when the next `lease` reply brings breakerd's.
- A `lease` line is due every flush interval (50 ms), and sooner after a failure: at once, but at most once per
  5 ms, with at most one line in flight.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import protocol as p
from ._errors import BreakerError
from ._machine import FAILURE, SUCCESS
from ._state import CircuitBreakerState

CLOSED = CircuitBreakerState.CLOSED
FORCED_CLOSED = CircuitBreakerState.FORCED_CLOSED
OPEN = CircuitBreakerState.OPEN
FORCED_OPEN = CircuitBreakerState.FORCED_OPEN
HALF_OPEN = CircuitBreakerState.HALF_OPEN

ALLOW = "allow"
ASK = "ask"
REJECT = "reject"
FAILURE_FLUSH_SPACING_NS = 5_000_000
MAXIMUM_COUNT = p.MAXIMUM_COUNT

Decision = Tuple[str, Optional[CircuitBreakerState], int]


class _Entry:
    __slots__ = ("resource", "state", "generation", "lease_end", "reject_until", "successes", "failures")

    def __init__(self, resource: str) -> None:
        self.resource = resource
        self.state: Optional[CircuitBreakerState] = None
        self.generation = 0
        self.lease_end: Optional[int] = None
        self.reject_until: Optional[int] = None
        self.successes = 0
        self.failures = 0

    def forget(self, keep_counts: bool) -> None:
        self.state = None
        self.generation = 0
        self.lease_end = self.reject_until = None
        if not keep_counts:
            self.successes = self.failures = 0


class LeaseBook:
    """The leased resources of one connection: what breakerd last said, the leases, and the outcomes counted
    since the last `lease` line. Every operation takes `now` (monotonic ns)."""

    def __init__(self, flush_interval_ns: int = 50_000_000) -> None:
        self.flush_interval_ns = max(flush_interval_ns, 1_000_000)
        self.entries: List[Optional[_Entry]] = []
        self.slots: Dict[str, int] = {}
        self.free: List[int] = []
        self.last_flush: Optional[int] = None
        self.failure_since_flush = False
        self.urgent = False

    def track(self, resource: str) -> int:
        """Starts keeping `resource`; returns its slot (the same one when kept already)."""
        slot = self.slots.get(resource)
        if slot is not None:
            return slot
        if self.free:
            slot = self.free.pop()
            self.entries[slot] = _Entry(resource)
        else:
            slot = len(self.entries)
            self.entries.append(_Entry(resource))
        self.slots[resource] = slot
        return slot

    def untrack(self, resource: str) -> None:
        slot = self.slots.pop(resource, None)
        if slot is not None:
            self.entries[slot] = None
            self.free.append(slot)

    def entry(self, resource: str) -> Optional[_Entry]:
        slot = self.slots.get(resource)
        return None if slot is None else self.entries[slot]

    def decide(self, slot: int, now: int) -> Decision:
        """(ALLOW | ASK | REJECT, the rejecting state, the ns until asking again is worthwhile)."""
        entry = self.entries[slot] if 0 <= slot < len(self.entries) else None
        if entry is None or entry.state is None:
            return ASK, None, 0
        state = entry.state
        if state is CLOSED or state is FORCED_CLOSED:
            end = entry.lease_end
            return (ALLOW, state, 0) if end is not None and now < end else (ASK, state, 0)
        if state is OPEN or state is FORCED_OPEN:
            until = entry.reject_until
            return (REJECT, state, until - now) if until is not None and now < until else (ASK, state, 0)
        return ASK, state, 0

    def count(self, outcome: str, slot: int) -> None:
        """Counts the outcome of a call allowed locally; a failure makes the next line due early."""
        entry = self.entries[slot] if 0 <= slot < len(self.entries) else None
        if entry is None:
            return
        if outcome == SUCCESS:
            entry.successes += 1
        elif outcome == FAILURE:
            entry.failures += 1
            self.failure_since_flush = True

    def next_flush(self, now: int) -> Optional[int]:
        """When the next `lease` line is due (never before `now`); None when nothing is kept."""
        if not self.slots:
            return None
        if self.last_flush is None or self.urgent:
            return now
        due = self.last_flush + (FAILURE_FLUSH_SPACING_NS if self.failure_since_flush else self.flush_interval_ns)
        return max(due, now)

    def take_counts(self, now: int) -> List[Tuple[str, int, int]]:
        """The counts of every kept resource (zeros too: each entry renews its lease), sorted by name; counting
        starts afresh."""
        self.last_flush = now
        self.failure_since_flush = False
        self.urgent = False
        taken = []
        for entry in self.entries:
            if entry is not None:
                taken.append((entry.resource, min(entry.successes, MAXIMUM_COUNT), min(entry.failures, MAXIMUM_COUNT)))
                entry.successes = entry.failures = 0
        taken.sort()
        return taken

    def apply_lease(self, resource: str, state: CircuitBreakerState, generation: int, lease_ns: int,
                    retry_after_ns: Optional[int], requested_at: int) -> None:
        """One served entry of a `lease` reply to a request sent at `requested_at`."""
        entry = self.entry(resource)
        if entry is None:
            return
        entry.state = state
        entry.generation = generation
        entry.lease_end = entry.reject_until = None
        if state is CLOSED or state is FORCED_CLOSED:
            if lease_ns > 0:
                entry.lease_end = requested_at + lease_ns
        elif state is OPEN or state is FORCED_OPEN:
            entry.reject_until = requested_at + max(retry_after_ns or 0, 0)

    def forget_state(self, resource: str) -> None:
        """Breakerd's word on `resource` no longer holds (an entry's error, a deletion): its calls ask again."""
        entry = self.entry(resource)
        if entry is not None:
            entry.forget(keep_counts=True)

    def forget_all(self) -> None:
        """The connection ended, and its push window with it: every lease ends, counts are dropped."""
        for entry in self.entries:
            if entry is not None:
                entry.forget(keep_counts=False)
        self.last_flush = None
        self.failure_since_flush = False

    def apply_event(self, resource: str, to: CircuitBreakerState, generation: int, now: int) -> None:
        """A pushed transition, at once: a trip rejects; a close allows locally only under a live lease. A
        transition no newer than what the book knows is ignored."""
        entry = self.entry(resource)
        if entry is None or (entry.state is not None and generation <= entry.generation):
            return
        entry.state = to
        entry.generation = generation
        if to is CLOSED or to is FORCED_CLOSED:
            entry.reject_until = None
        elif to is OPEN or to is FORCED_OPEN:
            entry.lease_end = None
            entry.reject_until = now + self.flush_interval_ns
        else:
            entry.lease_end = entry.reject_until = None


class _Holder:
    __slots__ = ("breakers", "policy", "policy_answered")

    def __init__(self, policy: Optional[p.Policy]) -> None:
        self.breakers = 1
        self.policy = policy
        self.policy_answered = False


class LeaseKeeper:
    """A connection's `LeaseBook` behind a lock, the policies to send, and the one `lease` request in flight."""

    def __init__(self, flush_interval: float = 0.05, wake: Callable[[], None] = lambda: None,
                 clock: Optional[Callable[[], int]] = None) -> None:
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self._rounds_sent = 0
        self._rounds_done = 0
        self._book = LeaseBook(int(flush_interval * 1e9))
        self._holders: Dict[str, _Holder] = {}
        self._in_flight = False
        self._epoch = 0
        self._wake = wake
        self._now = clock or time.monotonic_ns
        self.request_timeout = 0.1

    # Breakers ---------------------------------------------------------------------------------------------------

    def register(self, resource: str, policy: Optional[p.Policy], timeout: float = 0.1) -> int:
        """One more breaker leases `resource` (the first one's policy is sent until breakerd has the breaker)."""
        with self._lock:
            holder = self._holders.get(resource)
            if holder is None:
                self._holders[resource] = _Holder(policy)
            else:
                holder.breakers += 1
            self.request_timeout = max(self.request_timeout, timeout)
            slot = self._book.track(resource)
        self._wake()
        return slot

    def unregister(self, resource: str) -> None:
        """One breaker of `resource` is gone; the last one stops the leasing."""
        with self._lock:
            holder = self._holders.get(resource)
            if holder is None:
                return
            holder.breakers -= 1
            if holder.breakers <= 0:
                del self._holders[resource]
                self._book.untrack(resource)

    def decide(self, slot: int) -> Decision:
        now = self._now()
        with self._lock:
            return self._book.decide(slot, now)

    def count(self, outcome: str, slot: int) -> None:
        if outcome != FAILURE:
            with self._lock:
                self._book.count(outcome, slot)
            return
        now = self._now()
        with self._lock:
            before = self._book.next_flush(now)
            self._book.count(outcome, slot)
            after = None if self._in_flight else self._book.next_flush(now)
            sooner = after is not None and (before is None or after < before)
        if sooner:
            self._wake()

    def state_of(self, resource: str) -> Optional[CircuitBreakerState]:
        with self._lock:
            entry = self._book.entry(resource)
            return None if entry is None else entry.state

    def apply(self, event: p.Event) -> None:
        """An event the connection received for a leased resource."""
        now = self._now()
        with self._lock:
            if isinstance(event, p.TransitionEvent):
                self._book.apply_event(event.resource, event.to_state, event.transition.generation, now)
            else:
                self._book.forget_state(event.resource)
                holder = self._holders.get(event.resource)
                if holder is not None:
                    holder.policy_answered = False

    # The driver (the connection's I/O thread) -------------------------------------------------------------------

    def drive(self, connection: Any) -> Optional[float]:
        """Sends the `lease` line when it is due and none is in flight; returns when the next one is due
        (`time.monotonic()` seconds; None while one is in flight or nothing is leased)."""
        now = self._now()
        with self._lock:
            if self._in_flight:
                return None
            due = self._book.next_flush(now)
            if due is None:
                return None
            if due > now:
                return time.monotonic() + (due - now) / 1e9
            self._in_flight = True
            self._rounds_sent += 1
            epoch = self._epoch
            entries = []
            for resource, successes, failures in self._book.take_counts(now):
                holder = self._holders.get(resource)
                policy = holder.policy if holder is not None and not holder.policy_answered else None
                entries.append(p.LeaseEntry(resource, successes or None, failures or None, policy))
            timeout = self.request_timeout
        chunks = [entries[i:i + p.MAXIMUM_LEASE_ENTRIES] for i in range(0, len(entries), p.MAXIMUM_LEASE_ENTRIES)]
        gathered: List[Optional[List[Any]]] = [None] * len(chunks)
        state = {"done": False}

        def deliver(index: int, chunk: List[p.LeaseEntry], reply: Any) -> None:
            if state["done"]:
                return
            if isinstance(reply, BaseException):
                state["done"] = True
                self._received(None, entries, now, epoch)
                return
            try:
                slots = p.decode_reply("lease", reply).leases  # type: ignore[attr-defined]
            except BreakerError:
                slots = None
            if slots is None or len(slots) != len(chunk):
                state["done"] = True
                self._received(None, entries, now, epoch)
                return
            gathered[index] = list(slots)
            if all(g is not None for g in gathered):
                state["done"] = True
                self._received([s for g in gathered for s in g], entries, now, epoch)  # type: ignore[union-attr]

        for index, chunk in enumerate(chunks):
            body = p.encode(p.Lease(tuple(chunk)))
            connection.send_with_callback(body, lambda reply, i=index, c=chunk: deliver(i, c, reply), timeout,
                                          direct=True)
        return None

    def _received(self, answers: Optional[List[Any]], entries: List[p.LeaseEntry], requested_at: int,
                  epoch: int) -> None:
        with self._lock:
            if self._epoch != epoch:
                return
            self._in_flight = False
            self._rounds_done += 1
            self._answered.notify_all()
            if answers is None:
                return      # the counts are lost (as noreply reports on a failing connection); the leases lapse
            for entry, answer in zip(entries, answers):
                if isinstance(answer, p.LeaseSlot):
                    self._book.apply_lease(entry.resource, answer.state, answer.generation,
                                           answer.lease_ms * 1_000_000,
                                           None if answer.retry_after_ms is None else answer.retry_after_ms * 1_000_000,
                                           requested_at)
                    if entry.policy is not None:
                        holder = self._holders.get(entry.resource)
                        if holder is not None:
                            holder.policy_answered = True
                else:
                    self._book.forget_state(entry.resource)
        self._wake()

    def flush(self, timeout: float) -> bool:
        """Sends a `lease` line now (once the one in flight, if any, is answered) and waits until it is
        answered: every outcome counted before the call has then reached breakerd. False after `timeout`, or when
        the connection ended meanwhile (its counts are lost)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            target = self._rounds_sent + 1
            epoch = self._epoch
            self._book.urgent = True
        self._wake()
        with self._lock:
            while self._rounds_done < target and self._epoch == epoch:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._answered.wait(left)
            return self._epoch == epoch

    def connection_lost(self) -> None:
        """The connection ended: every lease ends, counts are dropped, policies are sent again."""
        with self._lock:
            self._book.forget_all()
            self._in_flight = False
            self._rounds_done = self._rounds_sent
            self._answered.notify_all()
            self._epoch += 1
            for holder in self._holders.values():
                holder.policy_answered = False

    def after_fork(self) -> None:
        """In a forked child: a fresh lock, nothing leased from the parent's connection."""
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self.connection_lost()
