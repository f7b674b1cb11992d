"""The leased-mode bookkeeping, rule by rule, on an injected clock (no sockets, no sleeping)."""
from __future__ import annotations

from highway_breaker import CircuitBreakerState
from highway_breaker import protocol as p
from highway_breaker._lease import ALLOW, ASK, REJECT, LeaseBook, LeaseKeeper

S = CircuitBreakerState
MS = 1_000_000


def book_with(resource="db"):
    book = LeaseBook(50 * MS)
    return book, book.track(resource)


def test_unknown_asks_and_a_live_lease_allows_until_it_ends():
    book, slot = book_with()
    assert book.decide(slot, 0)[0] == ASK
    book.apply_lease("db", S.CLOSED, 0, 1000 * MS, None, requested_at=100 * MS)
    assert book.decide(slot, 1099 * MS)[0] == ALLOW
    assert book.decide(slot, 1100 * MS)[0] == ASK                 # the lease runs from when it was asked for
    book.apply_lease("db", S.FORCED_CLOSED, 1, 1000 * MS, None, requested_at=2000 * MS)
    assert book.decide(slot, 2500 * MS)[0] == ALLOW


def test_open_rejects_until_retry_after_then_asks_and_half_open_always_asks():
    book, slot = book_with()
    book.apply_lease("db", S.OPEN, 1, 0, 300 * MS, requested_at=0)
    assert book.decide(slot, 299 * MS) == (REJECT, S.OPEN, 1 * MS)
    assert book.decide(slot, 300 * MS)[0] == ASK                   # acquire decides whether to probe
    book.apply_lease("db", S.HALF_OPEN, 2, 0, None, requested_at=400 * MS)
    assert book.decide(slot, 401 * MS)[0] == ASK
    book.apply_lease("db", S.CLOSED, 3, 0, None, requested_at=500 * MS)
    assert book.decide(slot, 501 * MS)[0] == ASK                   # lease_ms 0 grants nothing


def test_pushed_trip_rejects_at_once_and_a_close_waits_for_a_lease():
    book, slot = book_with()
    book.apply_lease("db", S.CLOSED, 4, 1000 * MS, None, requested_at=0)
    book.apply_event("db", S.OPEN, 5, now=10 * MS)
    assert book.decide(slot, 10 * MS) == (REJECT, S.OPEN, 50 * MS)  # for one flush interval
    book.apply_event("db", S.OPEN, 5, now=20 * MS)                 # not newer: ignored
    book.apply_event("db", S.CLOSED, 6, now=30 * MS)
    assert book.decide(slot, 31 * MS)[0] == ASK                    # the old lease ended with the trip
    book.apply_event("db", S.OPEN, 3, now=40 * MS)                 # older than what the book knows
    assert book.entry("db").state is S.CLOSED


def test_flushes_every_interval_and_early_after_a_failure():
    book, slot = book_with()
    assert book.next_flush(7) == 7                                 # the first line is due at once
    assert book.take_counts(0) == [("db", 0, 0)]
    assert book.next_flush(1 * MS) == 50 * MS
    book.count("success", slot)
    assert book.next_flush(1 * MS) == 50 * MS
    book.count("failure", slot)
    book.count("ignored", slot)
    assert book.next_flush(1 * MS) == 5 * MS and book.next_flush(9 * MS) == 9 * MS
    assert book.take_counts(9 * MS) == [("db", 1, 1)] and book.take_counts(10 * MS) == [("db", 0, 0)]


def test_forgetting():
    book, slot = book_with()
    book.apply_lease("db", S.CLOSED, 0, 1000 * MS, None, requested_at=0)
    book.count("failure", slot)
    book.forget_state("db")                                        # an entry's error or a deletion: counts kept
    assert book.decide(slot, 1)[0] == ASK and book.take_counts(1) == [("db", 0, 1)]
    book.count("success", slot)
    book.forget_all()                                              # the connection ended: counts dropped
    assert book.next_flush(3) == 3 and book.take_counts(3) == [("db", 0, 0)]


def test_slots_are_reused_and_resources_sorted():
    book = LeaseBook()
    a, b = book.track("b"), book.track("a")
    assert book.track("b") == a
    book.untrack("b")
    assert book.track("c") == a and [r for r, _, _ in book.take_counts(0)] == ["a", "c"]
    assert b != a


class Recorder:
    def __init__(self):
        self.sent = []

    def send_with_callback(self, body, callback, timeout, direct):
        self.sent.append((p.parse_line(body), callback))


def test_keeper_sends_one_line_at_a_time_with_the_policy_until_answered():
    now = [0]
    keeper = LeaseKeeper(0.05, clock=lambda: now[0])
    policy = p.Policy("1/2")
    slot = keeper.register("db", policy)
    wire = Recorder()
    assert keeper.drive(wire) is None and len(wire.sent) == 1
    request, answer = wire.sent[0]
    assert request == {"op": "lease", "resources": [{"resource": "db", "policy": {"failure_threshold": "1/2"}}]}
    keeper.drive(wire)
    assert len(wire.sent) == 1                                     # one line in flight at most
    answer({"id": 1, "ok": True, "leases": [{"resource": "db", "state": "closed", "generation": 0,
                                                "lease_ms": 1000}]})
    assert keeper.decide(slot)[0] == ALLOW
    keeper.count("failure", slot)
    now[0] = 5 * MS
    keeper.drive(wire)
    assert wire.sent[1][0] == {"op": "lease", "resources": [{"resource": "db", "failures": 1}]}
    wire.sent[1][1](p.BreakerError("timeout", "late"))             # a failed line applies nothing
    assert keeper.decide(slot)[0] == ALLOW
    keeper.connection_lost()
    assert keeper.decide(slot)[0] == ASK
    now[0] = 6 * MS
    keeper.drive(wire)
    assert "policy" in wire.sent[2][0]["resources"][0]             # a new connection: the policy again
