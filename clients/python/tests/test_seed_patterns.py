"""Every example of the seeds' usage-patterns.md (and documentation.md), run against the in-process policies
with nothing changed but the import line.

The examples of one document run in one namespace, in order, as the module a reader would write (the
"Database with Retry" example uses the `sqlite3` the one before imported). That module is taken to
`import requests` at its top, as the examples' handlers assume; `requests` is a stand-in (the library is not
installed and the examples' hosts do not exist): see `seedtools.fake_requests`. Names the examples leave to the
reader (`handle_business_logic`, `access_token`, ...) are supplied. Time is a `ManualClock`: cooldowns and
backoff waits pass without sleeping.
"""
from __future__ import annotations

import logging
import random
import sqlite3
import sys
from datetime import timedelta

import pytest

import highway_breaker
from highway_breaker import (
    CircuitBreakerState,
    ManualClock,
    ProtectedCallError,
    RetriesExhaustedError,
)
from highway_breaker import _clock
from seedtools import examples, fake_requests, port

USES_WITHOUT_IMPORT = {"External API with Both Circuit Breaker and Retry": ("Backoff",)}


@pytest.fixture
def seed(monkeypatch, tmp_path):
    """The usage-patterns module, executed: (namespace, clock, requests)."""
    clock = ManualClock()
    monkeypatch.setattr(_clock, "_default", clock)
    requests = fake_requests()
    monkeypatch.setitem(sys.modules, "requests", requests)
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "seed_patterns", "requests": requests}
    for heading, code in examples("usage-patterns.md"):
        exec(compile(port(code, USES_WITHOUT_IMPORT.get(heading, ())), f"usage-patterns.md: {heading}", "exec"),
             namespace)
    return namespace, clock, requests


def test_every_example_is_found_and_only_import_lines_change():
    found = examples("usage-patterns.md")
    assert [h for h, _ in found] == [
        "Simple Circuit Breaker", "Service with Retry", "Database Operation with Circuit Breaker",
        "Database with Retry", "External API with Both Circuit Breaker and Retry",
        "OAuth API with Specific Error Handling", "Consumer with Circuit Breaker",
        "Batch Operation with Individual Item Retry", "Circuit Breaker with State Monitoring",
        "Comprehensive Logging Configuration"]
    for heading, code in found:
        ported = port(code, USES_WITHOUT_IMPORT.get(heading, ()))
        assert "highway_circutbreaker" not in ported


def test_simple_circuit_breaker(seed):
    ns, clock, requests = seed
    outcomes = iter([200, 200, 200, "down", "down"])

    def script(method, url, kwargs):
        o = next(outcomes)
        if o == "down":
            raise requests.ConnectionError("connection refused")
        return o, {"echo": kwargs["json"]}

    requests.script = script
    call = ns["call_external_service"]
    for _ in range(3):
        assert call({"a": 1}) == {"echo": {"a": 1}}
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            call({"a": 1})
    breaker = ns["service_breaker"]
    assert breaker.state is CircuitBreakerState.OPEN          # 2 failures in the last 5 calls
    assert breaker.history == [True, True, True, False, False]
    sent = len(requests.calls)
    with pytest.raises(ProtectedCallError) as rejected:
        call({"a": 1})
    assert len(requests.calls) == sent                         # not called while open
    assert rejected.value.retry_after == timedelta(seconds=30)
    clock.advance(timedelta(seconds=30))
    requests.script = lambda m, u, k: (200, {})
    for _ in range(5):                                         # 5 probes (the threshold's n), all succeed
        call({})
    assert breaker.state is CircuitBreakerState.CLOSED


def test_service_with_retry(seed):
    ns, clock, requests = seed
    failures = iter([True, True, False])
    requests.script = lambda m, u, k: (503 if next(failures) else 200, {"ok": True})
    assert ns["call_retryable_service"]({}) == {"ok": True}
    assert clock.sleeps == [1.0, 2.0]                          # 1 s, then 2 s (factor 2, no jitter)
    requests.script = lambda m, u, k: (503, {})
    with pytest.raises(RetriesExhaustedError) as exhausted:
        ns["call_retryable_service"]({})
    assert exhausted.value.attempts == 4
    assert isinstance(exhausted.value.last_error, requests.HTTPError)
    assert clock.sleeps[2:] == [1.0, 2.0, 4.0]


def test_database_with_circuit_breaker(seed):
    ns, clock, _ = seed
    db = sqlite3.connect("mydb.db")
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, data TEXT)")
    db.execute("INSERT INTO users VALUES (1, 'ada')")
    db.commit()
    get = ns["get_user_data"]
    for _ in range(4):
        assert get(1) == (1, "ada")
    db.execute("DROP TABLE users")
    db.commit()
    db.close()
    with pytest.raises(sqlite3.OperationalError):
        get(1)                                                 # 1 failure in 5: failure_threshold 1/5
    assert ns["db_breaker"].state is CircuitBreakerState.OPEN
    with pytest.raises(ProtectedCallError) as rejected:
        get(1)
    assert rejected.value.retry_after == timedelta(seconds=60)


def test_database_handle_ignores_other_errors(seed):
    ns, _, _ = seed
    db = sqlite3.connect("mydb.db")
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, data TEXT)")
    db.close()
    for _ in range(10):                                        # a list cannot be bound: not an OperationalError
        with pytest.raises(sqlite3.Error) as error:
            ns["get_user_data"]([1, 2])
        assert not isinstance(error.value, sqlite3.OperationalError)
    assert ns["db_breaker"].state is CircuitBreakerState.CLOSED
    assert ns["db_breaker"].history == [True] * 5


def test_database_with_retry(seed):
    ns, clock, _ = seed
    sqlite3.connect("mydb.db").close()                         # no users table: OperationalError
    with pytest.raises(RetriesExhaustedError) as exhausted:
        ns["update_user_data"](1, "x")
    assert exhausted.value.attempts == 3 and isinstance(exhausted.value.last_error, sqlite3.OperationalError)
    assert clock.sleeps == []                                  # no backoff: retried at once
    db = sqlite3.connect("mydb.db")
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, data TEXT)")
    db.execute("INSERT INTO users VALUES (1, 'ada')")
    db.commit()
    ns["update_user_data"](1, "grace")
    assert db.execute("SELECT data FROM users").fetchone() == ("grace",)
    db.close()


def test_external_api_with_retry_around_breaker(seed):
    ns, clock, requests = seed

    def down(method, url, kwargs):
        assert kwargs["params"] == {"q": "x"} and kwargs["timeout"] == 10
        raise requests.ConnectionError("no route to host")

    requests.script = down
    fetch = ns["fetch_external_data"]
    for _ in range(3):                                         # 3 attempts each: 9 failures, window not full
        with pytest.raises(RetriesExhaustedError):
            fetch("x")
    assert clock.sleeps == [1.0, 2.0] * 3
    with pytest.raises(ProtectedCallError):                   # the 10th call trips (3/10); the retry policy
        fetch("x")                                             # does not handle ProtectedCallError: at once
    assert len(requests.calls) == 10
    assert clock.sleeps == [1.0, 2.0] * 3 + [1.0]
    breaker = ns["api_failsafe"].policies[1]
    assert breaker.state is CircuitBreakerState.OPEN


def test_oauth_api(seed):
    ns, clock, requests = seed
    ns["access_token"] = "t0"
    refreshed = []
    ns["refresh_access_token"] = lambda: refreshed.append(True)
    statuses = iter([401, 200])
    requests.script = lambda m, u, k: (next(statuses), {"data": 1})
    assert ns["call_oauth_protected_api"]() == {"data": 1}
    assert refreshed == [True]
    breaker = ns["oauth_breaker"]
    requests.script = lambda m, u, k: (404, {})
    for _ in range(5):                                         # a 404 is not relevant: counts as a success
        with pytest.raises(requests.HTTPError):
            ns["call_oauth_protected_api"]()
    assert breaker.state is CircuitBreakerState.CLOSED
    requests.script = lambda m, u, k: (503, {})
    for _ in range(2):
        with pytest.raises(requests.HTTPError):
            ns["call_oauth_protected_api"]()
    assert breaker.state is CircuitBreakerState.OPEN          # 2 of the last 5
    with pytest.raises(ProtectedCallError) as rejected:
        ns["call_oauth_protected_api"]()
    assert rejected.value.retry_after == timedelta(minutes=5)


class Message:
    def __init__(self, payload):
        self.payload = payload

    def json(self):
        if isinstance(self.payload, Exception):
            raise self.payload
        return self.payload


def test_queue_consumer(seed, capsys):
    ns, _, requests = seed
    ns["handle_business_logic"] = lambda data: {"done": data}
    consume = ns["process_queue_message"]
    breaker = ns["queue_consumer_breaker"]
    assert consume(Message({"n": 1})) == {"done": {"n": 1}}
    for _ in range(3):                                         # permanent errors count as successes
        with pytest.raises(ValueError):
            consume(Message(ValueError("malformed payload")))
    assert breaker.state is CircuitBreakerState.CLOSED
    assert "Error processing message: malformed payload" in capsys.readouterr().out
    with pytest.raises(RuntimeError):
        consume(Message(RuntimeError("Transient broker error")))
    assert breaker.state is CircuitBreakerState.OPEN          # 1 of the last 3
    with pytest.raises(ProtectedCallError):
        consume(Message({"n": 2}))


def test_batch_with_item_retry(seed):
    ns, _, _ = seed
    results, errors = ns["process_batch"]([{"id": 1}, {"id": 2, "unprocessible": True}, {"id": 3}])
    assert results == [{"id": 1, "status": "processed"}, {"id": 3, "status": "processed"}]
    assert len(errors) == 1 and errors[0][0]["id"] == 2
    assert "gave up after 2 attempts" in errors[0][1] and "Item cannot be processed" in errors[0][1]


def test_monitoring(seed, capsys):
    ns, clock, _ = seed
    random.seed(7)
    call = ns["monitored_service_call"]
    outcomes = []
    for _ in range(15):
        try:
            outcomes.append(call())
        except ConnectionError:
            outcomes.append("failed")
        except ProtectedCallError:
            outcomes.append("rejected")
    monitor = ns["monitor"]
    assert outcomes[10:] == ["rejected"] * 5                   # tripped on the 10th call at the latest
    assert [(t["old_state"], t["new_state"]) for t in monitor.state_transitions] == [
        (CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN)]
    out = capsys.readouterr().out
    assert "Circuit breaker changed state: CLOSED -> OPEN" in out
    assert "ALERT: Circuit breaker opened for service" in out
    clock.advance(timedelta(seconds=60))
    random.seed(3)
    try:
        call()
    except ConnectionError:
        pass
    assert monitor.state_transitions[-1]["new_state"] is CircuitBreakerState.HALF_OPEN


def test_logging(seed, caplog):
    ns, _, _ = seed
    caplog.set_level(logging.INFO, logger="seed_patterns")
    random.seed(11)
    outcomes = []
    for i in range(40):
        try:
            outcomes.append(ns["process_payment"](10 + i, {"card": "4242"})["status"])
        except ConnectionError:
            outcomes.append("failed")
        except ProtectedCallError:
            outcomes.append("rejected")
    assert "success" in outcomes and "failed" in outcomes
    breaker = ns["logged_breaker"]
    messages = [r.getMessage() for r in caplog.records]
    if breaker.state is CircuitBreakerState.OPEN:
        assert "[ExternalPaymentAPI] Circuit breaker state changed: CLOSED -> OPEN" in messages
        assert any(m.startswith("[ExternalPaymentAPI] Recent execution history: [") for m in messages)
    assert "Payment of $10 processed successfully" in messages or "failed" == outcomes[0]


def test_documentation_examples(monkeypatch):
    clock = ManualClock()
    monkeypatch.setattr(_clock, "_default", clock)
    namespace = {"__name__": "seed_documentation"}
    for heading, code in examples("documentation.md"):
        if "pip install" in code:
            continue
        exec(compile(port(code), f"documentation.md: {heading}", "exec"), namespace)
    for name in ("external_service_call", "flaky_operation", "operation_with_backoff", "resilient_operation",
                 "service_call"):
        assert namespace[name]() is None
    assert namespace["breaker"].state is CircuitBreakerState.CLOSED
    assert namespace["breaker"].history == [True]
    assert namespace["is_retryable_exception"](TimeoutError()) is True
    assert isinstance(namespace["retry_policy"], highway_breaker.RetryPolicy)
