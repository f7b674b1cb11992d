"""The codec's own rules: unknown reply fields and event kinds are ignored (kept in `extra`), an unknown error
code is still an error, malformed replies say so, and every request is written the one way."""
from __future__ import annotations

import json

import pytest

from highway_breaker import BreakerError, CircuitBreakerState
from highway_breaker import protocol as p


def test_unknown_reply_fields_are_kept_aside_and_ignored():
    obj = {"id": 1, "ok": True, "allowed": False, "state": "open", "generation": 3, "retry_after_ms": 12,
           "would_allow": True, "shadow": False}
    reply = p.decode_reply("acquire", obj)
    assert (reply.allowed, reply.state, reply.generation, reply.retry_after_ms) == (False, CircuitBreakerState.OPEN,
                                                                                     3, 12)
    assert reply.extra == {"would_allow": True, "shadow": False}
    assert p.encode_reply(reply, 1) == obj


def test_outage_policy_and_window_fields_are_typed_and_unknown_ones_pass_through():
    breaker = {"resource": "db", "state": "closed", "generation": 0, "changed_at_ms": 5,
               "policy": {"failure_threshold": "2/5", "success_threshold": None, "cooldown_ms": 1000,
                          "window": {"type": "count", "size": 5}, "minimum_calls": 5, "half_open_permits": 5,
                          "permit_ttl_ms": 10000, "slow_call_ms": 200, "mode": "shadow", "quorum_v2": True},
               "window": {"calls": 3, "failures": 1, "slow": 2, "hosts": 1}, "cooldown_ms_current": 1000}
    reply = p.decode_reply("status", {"ok": True, "breaker": breaker})
    policy = reply.breaker.policy
    assert (policy.slow_call_ms, policy.mode, policy.extra) == (200, "shadow", {"quorum_v2": True})
    assert reply.breaker.window.slow == 2 and reply.breaker.window.failing_clients is None
    assert reply.breaker.window.extra == {"hosts": 1} and reply.breaker.extra == {"cooldown_ms_current": 1000}
    assert p.encode_reply(reply) == {"ok": True, "breaker": breaker}


def test_unknown_error_code_is_still_an_error():
    with pytest.raises(BreakerError) as error:
        p.decode_reply("acquire", {"id": 2, "ok": False, "error": {"code": "quota_exceeded", "message": "later"}})
    assert error.value.code == "quota_exceeded" and error.value.message == "later"
    assert not error.value.server_unreachable
    with pytest.raises(BreakerError) as known:
        p.decode_reply("status", {"ok": False, "error": {"code": "not_found", "message": "no breaker named \"x\""}})
    assert known.value.code == "not_found"


@pytest.mark.parametrize("op, obj", [
    ("acquire", {"ok": True, "allowed": "yes", "state": "closed", "generation": 0}),
    ("acquire", {"ok": True, "allowed": True, "state": "sideways", "generation": 0}),
    ("report", {"ok": True, "state": "closed", "generation": True, "counted": True}),
    ("status", {"ok": True}),
    ("acquire", {"allowed": True, "state": "closed", "generation": 0}),
    ("acquire", {"ok": False}),
])
def test_malformed_replies_say_so(op, obj):
    with pytest.raises(p.ReplyDecodingError) as error:
        p.decode_reply(op, obj)
    assert error.value.code == "malformed_reply"


def test_events():
    t = p.decode_event({"event": "transition", "resource": "pay", "from": "closed", "to": "forced_open",
                        "cause": "forced", "generation": 1, "at_ms": 9, "by": "oncall", "reason": "outage"})
    assert (t.resource, t.from_state, t.to_state, t.transition.by) == ("pay", CircuitBreakerState.CLOSED,
                                                                        CircuitBreakerState.FORCED_OPEN, "oncall")
    assert isinstance(p.decode_event({"event": "deleted", "resource": "db"}), p.DeletedEvent)
    assert p.decode_event({"event": "resized", "resource": "db"}) is None


def test_requests_are_written_one_way():
    assert p.encode(p.Report("db", outcome="success", permit="2.1", duration_ms=3, noreply=True)) == (
        b'{"op":"report","resource":"db","outcome":"success","permit":"2.1","duration_ms":3,"noreply":true}\n')
    assert p.encode(p.Lease((p.LeaseEntry("a", successes=3), p.LeaseEntry("b"))), 7) == (
        b'{"id":7,"op":"lease","resources":[{"resource":"a","successes":3},{"resource":"b"}]}\n')
    assert p.encode(p.Hello(token="t" * 16, client="py", protocol=1), "h") == (
        b'{"id":"h","op":"hello","token":"tttttttttttttttt","client":"py","protocol":1}\n')
    assert json.loads(p.encode(p.Configure("x", p.Policy("1/2", window=p.WindowSpec("time", ms=1000, buckets=10))))) \
        == {"op": "configure", "resource": "x",
            "policy": {"failure_threshold": "1/2", "window": {"type": "time", "ms": 1000, "buckets": 10}}}
    with pytest.raises(p.RequestError):
        p.Report("db", outcome="success", successes=1)
    with pytest.raises(p.RequestError):
        p.Force("db", "sideways")
    with pytest.raises(p.RequestError):
        p.Lease(tuple(p.LeaseEntry(f"r{i}") for i in range(1001)))


def test_every_op_has_a_reader_and_a_writer():
    assert set(p.REQUESTS) == set(p.REPLIES) == {
        "ping", "hello", "acquire", "report", "lease", "status", "list", "configure", "force", "release", "reset",
        "delete", "watch", "unwatch", "history", "stats", "cluster"}
