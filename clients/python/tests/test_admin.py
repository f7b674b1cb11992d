"""BreakerAdmin against a live breakerd: typed replies, pagination, forces, history, errors with the protocol's
codes, and watch as an iterator."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from highway_breaker import (
    Breaker,
    BreakerAdmin,
    BreakerError,
    CircuitBreakerState,
    ConfigurationError,
    DeletedEvent,
    ProtectedCallError,
    ServerStats,
    SharedCircuitBreakerPolicy,
    Transition,
    TransitionEvent,
)
from highway_breaker import protocol as p
from live import ADMIN_TOKEN, CLIENT_TOKEN, DriverProcess

S = CircuitBreakerState


@pytest.fixture
def admin(breakerd):
    with BreakerAdmin(breakerd.address, client_name="oncall") as a:
        yield a


def test_configure_status_and_typed_breakers(admin):
    created = admin.configure("pay", failure_threshold="2/4", success_threshold=(1, 1), cooldown=timedelta(seconds=5),
                              permit_ttl=2)
    assert isinstance(created, Breaker)
    assert (created.resource, created.state, created.generation) == ("pay", S.CLOSED, 0)
    assert created.policy == p.Policy("2/4", "1/1", 5000, p.WindowSpec("count", size=4), 4, 1, 2000, complete=True,
                                      cooldown_jitter=0.0, mode="enforce", min_failing_clients=1)
    assert created.window == p.WindowCounts(0, 0, slow=0, failing_clients=0) and created.changed_at_ms > 1_600_000_000_000
    assert created.forced is None and created.half_open is None and created.retry_after_ms is None
    assert admin.status("pay") == created


def test_force_release_reset_history_delete(admin):
    admin.configure("f", failure_threshold="1/2")
    forced = admin.force("f", "open", reason="provider outage", ttl=timedelta(minutes=10))
    assert forced.state is S.FORCED_OPEN and forced.forced.reason == "provider outage"
    assert forced.forced.by == "oncall" and 590_000 < forced.forced.remaining_ms <= 600_000
    assert admin.release("f").state is S.CLOSED
    assert admin.force("f", S.FORCED_CLOSED).forced.remaining_ms is None
    assert admin.reset("f").generation == 4
    history = admin.history("f")
    assert all(isinstance(t, Transition) for t in history)
    assert [(t.from_state, t.to_state, t.cause) for t in history] == [
        (S.FORCED_CLOSED, S.CLOSED, "reset"), (S.CLOSED, S.FORCED_CLOSED, "forced"),
        (S.FORCED_OPEN, S.CLOSED, "released"), (S.CLOSED, S.FORCED_OPEN, "forced")]
    assert history[-1].reason == "provider outage" and history[0].by == "oncall"
    assert len(admin.history("f", limit=2)) == 2
    admin.delete("f")
    with pytest.raises(BreakerError) as missing:
        admin.status("f")
    assert missing.value.code == "not_found" and "f" in missing.value.message


def test_list_follows_every_page(admin):
    for i in range(25):
        admin.configure(f"page-{i:02d}", failure_threshold="1/2")
    admin.configure("other", failure_threshold="1/2")
    page = admin.list_page("page-", limit=10)
    assert [b.resource for b in page.breakers] == [f"page-{i:02d}" for i in range(10)] and page.next == "page-09"
    assert [b.resource for b in admin.list("page-")] == [f"page-{i:02d}" for i in range(25)]
    assert len(admin.list()) == 26


def test_stats(admin):
    admin.configure("s", failure_threshold="1/2")
    stats = admin.stats()
    assert isinstance(stats, ServerStats) and stats.breakers["total"] == 1 and stats.ops["configure"] == 1
    assert stats.uptime_ms >= 0 and stats.connections >= 1


def test_errors_carry_the_protocols_codes(secured_breakerd):
    with BreakerAdmin(secured_breakerd.address, CLIENT_TOKEN) as reader:
        with pytest.raises(BreakerError) as forbidden:
            reader.configure("x", failure_threshold="1/2")
        assert forbidden.value.code == "forbidden"
        assert reader.list() == []
    with BreakerAdmin(secured_breakerd.address, token_file=secured_breakerd.token_file("admin")) as admin:
        with pytest.raises(ConfigurationError) as invalid:            # checked here as breakerd checks it
            admin.configure("x", failure_threshold="1/2", minimum_calls=3)
        assert invalid.value.field == "minimum_calls"
        assert admin.configure("x", failure_threshold="1/2").state is S.CLOSED
    with BreakerAdmin(secured_breakerd.address, "wrong-token-0123456789abc") as wrong:
        with pytest.raises(BreakerError) as refused:
            wrong.stats()
        assert refused.value.code == "unauthorized"


def test_unreachable_server_times_out_with_the_reason(breakerd):
    port = breakerd.port
    breakerd.kill()
    with BreakerAdmin(f"127.0.0.1:{port}", timeout=0.3) as admin:
        start = time.monotonic()
        with pytest.raises(BreakerError) as error:
            admin.stats()
        assert error.value.code == "timeout" and "refused" in error.value.message.lower()
        assert time.monotonic() - start < 1


def test_watch_is_an_iterator_of_typed_events(breakerd, admin):
    admin.configure("w/one", failure_threshold="1/1", cooldown=60)
    with admin.watch("w/", timeout=5) as events:
        trip = DriverProcess("fail", "--server", breakerd.address, "--resource", "w/one", "--count", "2",
                             "--timeout-ms", "2000")
        trip.finish()
        admin.configure("x/elsewhere", failure_threshold="1/2")
        admin.delete("w/one")
        first, second = next(events), next(events)
        assert isinstance(first, TransitionEvent) and first.resource == "w/one"
        assert (first.from_state, first.to_state, first.transition.cause) == (S.CLOSED, S.OPEN, "failure_threshold")
        assert isinstance(second, DeletedEvent) and second.resource == "w/one"
        assert events.next(timeout=0.2) is None
    assert list(events) == []


def test_watch_and_a_shared_breaker_see_the_same_force(breakerd, admin):
    shared = SharedCircuitBreakerPolicy("both", breakerd.address, fallback="allow")
    shared.execute(lambda: None)
    got = []
    with admin.watch("both") as events:
        reader = threading.Thread(target=lambda: got.append(next(events)))
        reader.start()
        admin.force("both", "open")
        reader.join(5)
    assert got and got[0].to_state is S.FORCED_OPEN
    with pytest.raises(ProtectedCallError) as rejected:
        shared.execute(lambda: None)
    assert rejected.value.source == "server" and rejected.value.state is S.FORCED_OPEN
    assert ADMIN_TOKEN
