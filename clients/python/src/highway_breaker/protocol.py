"""The wire protocol, version 1 (protocol/PROTOCOL.md): typed requests, replies and events, each with one
writer (`to_wire`) and one reader (`from_wire`).

Requests are written with `encode(request, id)` (one line of compact JSON). Lines from the server are read
with `parse_line`, then `decode_reply(op, obj)` for the reply to a request of `op` (an error reply raises
`BreakerError` with the protocol's code), or `decode_event(obj)` for an object carrying ``"event"``. Fields
this client does not know are kept in `extra` and written back as they came: a newer server's additions pass
through, and are otherwise ignored.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Mapping, Optional, Tuple, Type, Union

from ._errors import BreakerError
from ._state import CircuitBreakerState

PROTOCOL_VERSION = 1
MAXIMUM_LEASE_ENTRIES = 1_000
MAXIMUM_COUNT = 2**31 - 1
OUTCOMES = ("success", "failure", "ignored")
FORCE_STATES = ("open", "closed")

#: The protocol's error codes (a server may send others: they are errors too, kept as they came).
ERROR_CODES = frozenset({
    "bad_json", "bad_request", "unknown_op", "invalid_resource", "invalid_policy", "not_found", "line_too_long",
    "too_many_connections", "too_many_breakers", "unauthorized", "forbidden", "internal", "shutting_down",
})


class RequestError(ValueError):
    """A request this codec will not write: a field is missing, of the wrong type or out of range."""


class ReplyDecodingError(BreakerError):
    """A line from the server that does not have the shape protocol 1 gives it (code ``malformed_reply``)."""

    def __init__(self, message: str) -> None:
        super().__init__("malformed_reply", message)


# --------------------------------------------------------------------------------------------------------------
# Reading helpers


def _need(obj: Mapping[str, Any], key: str, kind: Union[type, Tuple[type, ...]], what: str, optional: bool = False,
          nullable: bool = False, error: Type[Exception] = ReplyDecodingError) -> Any:
    if key not in obj:
        if optional:
            return None
        raise error(f"{what}: field '{key}' is missing")
    value = obj[key]
    if value is None and nullable:
        return None
    if isinstance(value, bool) and kind is not bool and not (isinstance(kind, tuple) and bool in kind):
        raise error(f"{what}: field '{key}' must be {_kind_name(kind)}, got {json.dumps(value)}")
    if not isinstance(value, kind):
        raise error(f"{what}: field '{key}' must be {_kind_name(kind)}, got {json.dumps(value)[:80]}")
    return value


def _kind_name(kind: Union[type, Tuple[type, ...]]) -> str:
    names = {int: "an integer", str: "a string", bool: "true or false", dict: "an object", list: "an array"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _extra(obj: Mapping[str, Any], known: Tuple[str, ...]) -> Dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in known}


def _state(obj: Mapping[str, Any], key: str, what: str) -> CircuitBreakerState:
    value = _need(obj, key, str, what)
    try:
        return CircuitBreakerState(value)
    except ValueError:
        raise ReplyDecodingError(f"{what}: field '{key}' is not a state: {value!r}") from None


def _put(out: Dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


# --------------------------------------------------------------------------------------------------------------
# The policy object


@dataclass(frozen=True)
class WindowSpec:
    """A policy's window: ``count`` with `size`, or ``time`` with `ms` and `buckets`."""

    type: str
    size: Optional[int] = None
    ms: Optional[int] = None
    buckets: Optional[int] = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    KNOWN: ClassVar[Tuple[str, ...]] = ("type", "size", "ms", "buckets")

    @classmethod
    def from_wire(cls, obj: Any, error: Type[Exception] = ReplyDecodingError) -> "WindowSpec":
        if not isinstance(obj, dict):
            raise error("policy.window must be an object")
        kind = _need(obj, "type", str, "policy.window", error=error)
        if kind == "count":
            return cls("count", size=_need(obj, "size", int, "policy.window", error=error),
                       extra=_extra(obj, cls.KNOWN))
        if kind == "time":
            return cls("time", ms=_need(obj, "ms", int, "policy.window", error=error),
                       buckets=_need(obj, "buckets", int, "policy.window", error=error), extra=_extra(obj, cls.KNOWN))
        return cls(kind, extra=_extra(obj, cls.KNOWN))

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"type": self.type}
        _put(out, "size", self.size)
        _put(out, "ms", self.ms)
        _put(out, "buckets", self.buckets)
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Policy:
    """The policy object. In a request, fields left as None are left out (the server fills in the protocol's
    defaults); a reply shows every field (`complete`, and a null `success_threshold` is written back)."""

    failure_threshold: str
    success_threshold: Optional[str] = None
    cooldown_ms: Optional[int] = None
    window: Optional[WindowSpec] = None
    minimum_calls: Optional[int] = None
    half_open_permits: Optional[int] = None
    permit_ttl_ms: Optional[int] = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    complete: bool = False
    # The outage fields (protocol 1, revision of 0.3.0): left out when None. A reply always shows `mode`,
    # `min_failing_clients` and `cooldown_jitter`, and the others only when they are set.
    slow_call_ms: Optional[int] = None
    slow_call_threshold: Optional[str] = None
    cooldown_max_ms: Optional[int] = None
    cooldown_multiplier: Optional[float] = None
    cooldown_jitter: Optional[float] = None
    mode: Optional[str] = None
    min_failing_clients: Optional[int] = None

    #: The fields every reply shows (`complete`).
    BASE: ClassVar[Tuple[str, ...]] = ("failure_threshold", "success_threshold", "cooldown_ms", "window",
                                        "minimum_calls", "half_open_permits", "permit_ttl_ms")
    OUTAGE: ClassVar[Tuple[str, ...]] = ("slow_call_ms", "slow_call_threshold", "cooldown_max_ms",
                                          "cooldown_multiplier", "cooldown_jitter", "mode", "min_failing_clients")
    KNOWN: ClassVar[Tuple[str, ...]] = BASE + OUTAGE

    @classmethod
    def from_wire(cls, obj: Any, error: Type[Exception] = ReplyDecodingError) -> "Policy":
        if not isinstance(obj, dict):
            raise error("policy must be an object")
        w = "policy"
        return cls(
            failure_threshold=_need(obj, "failure_threshold", str, w, error=error),
            success_threshold=_need(obj, "success_threshold", str, w, optional=True, nullable=True, error=error),
            cooldown_ms=_need(obj, "cooldown_ms", int, w, optional=True, error=error),
            window=WindowSpec.from_wire(obj["window"], error) if "window" in obj else None,
            minimum_calls=_need(obj, "minimum_calls", int, w, optional=True, error=error),
            half_open_permits=_need(obj, "half_open_permits", int, w, optional=True, error=error),
            permit_ttl_ms=_need(obj, "permit_ttl_ms", int, w, optional=True, error=error),
            extra=_extra(obj, cls.KNOWN),
            complete=all(k in obj for k in cls.BASE),
            slow_call_ms=_need(obj, "slow_call_ms", int, w, optional=True, error=error),
            slow_call_threshold=_need(obj, "slow_call_threshold", str, w, optional=True, error=error),
            cooldown_max_ms=_need(obj, "cooldown_max_ms", int, w, optional=True, error=error),
            cooldown_multiplier=_need(obj, "cooldown_multiplier", (int, float), w, optional=True, error=error),
            cooldown_jitter=_need(obj, "cooldown_jitter", (int, float), w, optional=True, error=error),
            mode=_need(obj, "mode", str, w, optional=True, error=error),
            min_failing_clients=_need(obj, "min_failing_clients", int, w, optional=True, error=error),
        )

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"failure_threshold": self.failure_threshold}
        if self.complete or self.success_threshold is not None:
            out["success_threshold"] = self.success_threshold
        _put(out, "cooldown_ms", self.cooldown_ms)
        if self.window is not None:
            out["window"] = self.window.to_wire()
        _put(out, "minimum_calls", self.minimum_calls)
        _put(out, "half_open_permits", self.half_open_permits)
        _put(out, "permit_ttl_ms", self.permit_ttl_ms)
        for key in self.OUTAGE:
            _put(out, key, getattr(self, key))
        out.update(self.extra)
        return out


# --------------------------------------------------------------------------------------------------------------
# Requests


def _req_str(obj: Mapping[str, Any], key: str, op: str, optional: bool = False) -> Optional[str]:
    return _need(obj, key, str, op, optional=optional, error=RequestError)


def _req_int(obj: Mapping[str, Any], key: str, op: str, low: int, high: int, optional: bool = True) -> Optional[int]:
    value = _need(obj, key, int, op, optional=optional, error=RequestError)
    if value is not None and not low <= value <= high:
        raise RequestError(f"{op}: field '{key}' must be from {low} to {high}, got {value}")
    return value


def _req_policy(obj: Mapping[str, Any], op: str, optional: bool = True) -> Optional[Policy]:
    if "policy" not in obj:
        if optional:
            return None
        raise RequestError(f"{op}: field 'policy' is missing")
    return Policy.from_wire(obj["policy"], RequestError)


class Request:
    """A request: `op` and its fields. `encode(request, id)` writes it."""

    op: ClassVar[str] = ""
    FIELDS: ClassVar[Tuple[str, ...]] = ()

    def to_wire(self) -> Dict[str, Any]:
        """The request's fields (without `id` and `op`)."""
        return {}

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "Request":
        return cls()


REQUESTS: Dict[str, Type[Request]] = {}


def _request(cls: Type[Request]) -> Type[Request]:
    REQUESTS[cls.op] = cls
    return cls


@_request
@dataclass(frozen=True)
class Ping(Request):
    """`ping`: answered even before `hello`."""

    op: ClassVar[str] = "ping"


@_request
@dataclass(frozen=True)
class Hello(Request):
    """`hello`: the token (when the server needs one), a client name for its logs, the protocol version."""

    op: ClassVar[str] = "hello"
    token: Optional[str] = None
    client: Optional[str] = None
    protocol: Optional[int] = None

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        _put(out, "token", self.token)
        _put(out, "client", self.client)
        _put(out, "protocol", self.protocol)
        return out

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "Hello":
        return cls(_req_str(obj, "token", "hello", True), _req_str(obj, "client", "hello", True),
                   _req_int(obj, "protocol", "hello", 1, 1))


@_request
@dataclass(frozen=True)
class Acquire(Request):
    """`acquire`: may a call on `resource` go ahead? `policy` creates the breaker if it does not exist."""

    op: ClassVar[str] = "acquire"
    resource: str
    policy: Optional[Policy] = None

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"resource": self.resource}
        if self.policy is not None:
            out["policy"] = self.policy.to_wire()
        return out

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "Acquire":
        return cls(_req_str(obj, "resource", "acquire"), _req_policy(obj, "acquire"))


@_request
@dataclass(frozen=True)
class Report(Request):
    """`report`: one `outcome` (with the half-open `permit`), or `successes`/`failures` counts. `noreply`: the
    server answers nothing, not even an error."""

    op: ClassVar[str] = "report"
    resource: str
    outcome: Optional[str] = None
    permit: Optional[str] = None
    successes: Optional[int] = None
    failures: Optional[int] = None
    duration_ms: Optional[int] = None
    policy: Optional[Policy] = None
    noreply: bool = False
    slow: Optional[int] = None

    def __post_init__(self) -> None:
        if self.slow is not None and self.outcome is not None:
            raise RequestError("report: field 'slow' goes with the counts 'successes'/'failures'; a single 'outcome' "
                               "is slow by its 'duration_ms'")
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise RequestError(f"report: field 'outcome' must be one of {', '.join(OUTCOMES)}, got {self.outcome!r}")
        counts = self.successes is not None or self.failures is not None
        if self.outcome is not None and counts:
            raise RequestError("report: give either 'outcome' or the counts 'successes'/'failures', not both")
        if self.permit is not None and counts:
            raise RequestError("report: a 'permit' goes with one 'outcome', not with counts")

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"resource": self.resource}
        _put(out, "outcome", self.outcome)
        _put(out, "permit", self.permit)
        _put(out, "successes", self.successes)
        _put(out, "failures", self.failures)
        _put(out, "slow", self.slow)
        _put(out, "duration_ms", self.duration_ms)
        if self.policy is not None:
            out["policy"] = self.policy.to_wire()
        if self.noreply:
            out["noreply"] = True
        return out

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "Report":
        op = "report"
        return cls(_req_str(obj, "resource", op), _req_str(obj, "outcome", op, True),
                   _req_str(obj, "permit", op, True), _req_int(obj, "successes", op, 0, MAXIMUM_COUNT),
                   _req_int(obj, "failures", op, 0, MAXIMUM_COUNT), _req_int(obj, "duration_ms", op, 0, 2**63 - 1),
                   _req_policy(obj, op), bool(_need(obj, "noreply", bool, op, optional=True, error=RequestError)),
                   _req_int(obj, "slow", op, 0, MAXIMUM_COUNT))


@dataclass(frozen=True)
class LeaseEntry:
    """One entry of a `lease` line: the counts since the last line (0 when None), and the policy until the
    server has the breaker."""

    resource: str
    successes: Optional[int] = None
    failures: Optional[int] = None
    policy: Optional[Policy] = None
    slow: Optional[int] = None

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"resource": self.resource}
        _put(out, "successes", self.successes)
        _put(out, "failures", self.failures)
        _put(out, "slow", self.slow)
        if self.policy is not None:
            out["policy"] = self.policy.to_wire()
        return out

    @classmethod
    def from_wire(cls, obj: Any) -> "LeaseEntry":
        if not isinstance(obj, dict):
            raise RequestError("lease: each entry of 'resources' must be an object such as {\"resource\":\"db\"}")
        op = "lease entry"
        return cls(_req_str(obj, "resource", op), _req_int(obj, "successes", op, 0, MAXIMUM_COUNT),
                   _req_int(obj, "failures", op, 0, MAXIMUM_COUNT), _req_policy(obj, op),
                   _req_int(obj, "slow", op, 0, MAXIMUM_COUNT))


@_request
@dataclass(frozen=True)
class Lease(Request):
    """`lease`: counts and lease renewals for at most 1,000 resources in one line."""

    op: ClassVar[str] = "lease"
    resources: Tuple[LeaseEntry, ...] = ()

    def __post_init__(self) -> None:
        if len(self.resources) > MAXIMUM_LEASE_ENTRIES:
            raise RequestError(f"lease: at most {MAXIMUM_LEASE_ENTRIES} entries per line, got {len(self.resources)}")

    def to_wire(self) -> Dict[str, Any]:
        return {"resources": [e.to_wire() for e in self.resources]}

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "Lease":
        entries = _need(obj, "resources", list, "lease", error=RequestError)
        return cls(tuple(LeaseEntry.from_wire(e) for e in entries))


@dataclass(frozen=True)
class _ResourceOnly(Request):
    resource: str

    def to_wire(self) -> Dict[str, Any]:
        return {"resource": self.resource}

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "Request":
        return cls(_req_str(obj, "resource", cls.op))


@_request
@dataclass(frozen=True)
class Status(_ResourceOnly):
    """`status`: the breaker object of `resource`."""

    op: ClassVar[str] = "status"


@_request
@dataclass(frozen=True)
class Release(_ResourceOnly):
    """`release` (admin): end a force."""

    op: ClassVar[str] = "release"


@_request
@dataclass(frozen=True)
class Reset(_ResourceOnly):
    """`reset` (admin): back to closed with an empty window."""

    op: ClassVar[str] = "reset"


@_request
@dataclass(frozen=True)
class Delete(_ResourceOnly):
    """`delete` (admin): remove the breaker."""

    op: ClassVar[str] = "delete"


@_request
@dataclass(frozen=True)
class ListBreakers(Request):
    """`list`: one page of breakers whose names start with `prefix`, after the name `after`."""

    op: ClassVar[str] = "list"
    prefix: Optional[str] = None
    limit: Optional[int] = None
    after: Optional[str] = None

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        _put(out, "prefix", self.prefix)
        _put(out, "limit", self.limit)
        _put(out, "after", self.after)
        return out

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "ListBreakers":
        return cls(_req_str(obj, "prefix", "list", True), _req_int(obj, "limit", "list", 1, 10_000),
                   _req_str(obj, "after", "list", True))


@_request
@dataclass(frozen=True)
class Configure(Request):
    """`configure` (admin): create the breaker or replace its policy."""

    op: ClassVar[str] = "configure"
    resource: str
    policy: Policy

    def to_wire(self) -> Dict[str, Any]:
        return {"resource": self.resource, "policy": self.policy.to_wire()}

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "Configure":
        return cls(_req_str(obj, "resource", "configure"), _req_policy(obj, "configure", optional=False))


@_request
@dataclass(frozen=True)
class Force(Request):
    """`force` (admin): `state` ``open`` or ``closed``, with a `reason` and a TTL in ms (1 ms to 30 days)."""

    op: ClassVar[str] = "force"
    resource: str
    state: str
    reason: Optional[str] = None
    ttl_ms: Optional[int] = None

    def __post_init__(self) -> None:
        if self.state not in FORCE_STATES:
            raise RequestError(f"force: field 'state' must be \"open\" or \"closed\", got {self.state!r}")

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"resource": self.resource, "state": self.state}
        _put(out, "reason", self.reason)
        _put(out, "ttl_ms", self.ttl_ms)
        return out

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "Force":
        return cls(_req_str(obj, "resource", "force"), _req_str(obj, "state", "force"),
                   _req_str(obj, "reason", "force", True), _req_int(obj, "ttl_ms", "force", 1, 2_592_000_000))


@_request
@dataclass(frozen=True)
class Watch(Request):
    """`watch`: events of the resources starting with `prefix` (all when None or empty)."""

    op: ClassVar[str] = "watch"
    prefix: Optional[str] = None

    def to_wire(self) -> Dict[str, Any]:
        return {} if self.prefix is None else {"prefix": self.prefix}

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "Watch":
        return cls(_req_str(obj, "prefix", "watch", True))


@_request
@dataclass(frozen=True)
class Unwatch(Request):
    """`unwatch`: end the connection's subscription."""

    op: ClassVar[str] = "unwatch"


@_request
@dataclass(frozen=True)
class History(Request):
    """`history`: the last `limit` transitions (1 to 1,000), newest first."""

    op: ClassVar[str] = "history"
    resource: str
    limit: Optional[int] = None

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"resource": self.resource}
        _put(out, "limit", self.limit)
        return out

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "History":
        return cls(_req_str(obj, "resource", "history"), _req_int(obj, "limit", "history", 1, 1_000))


@_request
@dataclass(frozen=True)
class Stats(Request):
    """`stats`: the server's counters."""

    op: ClassVar[str] = "stats"


@_request
@dataclass(frozen=True)
class Cluster(Request):
    """`cluster` (breakerd 0.4.0): the replica's view of its cluster, answered whether or not it leads."""

    op: ClassVar[str] = "cluster"


RequestID = Union[int, str]


def encode(request: Request, id: Optional[RequestID] = None) -> bytes:
    """One line of compact JSON (UTF-8, ending in newline): `id` first when given, then `op`, then the fields."""
    obj: Dict[str, Any] = {} if id is None else {"id": id}
    obj["op"] = request.op
    obj.update(request.to_wire())
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def request_from_wire(obj: Any) -> Tuple[Optional[RequestID], Request]:
    """Reads a request object as this codec would have written it: its id and typed request. Raises
    `RequestError` for one it would not write (an unknown op, a missing field, a wrong type)."""
    if not isinstance(obj, dict):
        raise RequestError("a request must be a JSON object")
    rid = obj.get("id")
    if rid is not None and (isinstance(rid, bool) or not isinstance(rid, (int, str))):
        raise RequestError("field 'id' must be an integer or a string")
    if isinstance(rid, str) and len(rid.encode()) > 64:
        raise RequestError("field 'id' is longer than 64 bytes")
    op = _need(obj, "op", str, "request", error=RequestError)
    cls = REQUESTS.get(op)
    if cls is None:
        raise RequestError(f"unknown op {op!r}")
    return rid, cls.from_wire(obj)


# --------------------------------------------------------------------------------------------------------------
# Replies


def parse_line(line: Union[bytes, str]) -> Dict[str, Any]:
    """One line from the server as a JSON object (`ReplyDecodingError` when it is not one)."""
    try:
        obj = json.loads(line)
    except ValueError as e:
        raise ReplyDecodingError(f"a line that is not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ReplyDecodingError("a line that is not a JSON object")
    return obj


def error_of(obj: Mapping[str, Any]) -> BreakerError:
    """The error an ``"ok":false`` reply carries (its code as it came, known or not)."""
    error = obj.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        return ReplyDecodingError(f"an error reply without its error: {json.dumps(obj)[:200]}")
    message = error.get("message")
    leader = error.get("leader")
    return BreakerError(error["code"], message if isinstance(message, str) else "",
                        leader if isinstance(leader, str) else None)


class Reply:
    """A success reply's fields. `encode_reply(reply, id)` writes the whole object back."""

    KNOWN: ClassVar[Tuple[str, ...]] = ()

    def to_wire(self) -> Dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Ack(Reply):
    """A success reply without fields (`ping`, `watch`, `unwatch`, `delete`)."""

    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "Ack":
        return cls(_extra(obj, ("id", "ok")))

    def to_wire(self) -> Dict[str, Any]:
        return dict(self.extra)


@dataclass(frozen=True)
class HelloReply(Reply):
    """The server's name, version, protocol and the role the connection got (``client`` or ``admin``)."""

    server: str
    version: str
    protocol: int
    role: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    KNOWN: ClassVar[Tuple[str, ...]] = ("id", "ok", "server", "version", "protocol", "role")

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "HelloReply":
        w = "hello reply"
        return cls(_need(obj, "server", str, w), _need(obj, "version", str, w), _need(obj, "protocol", int, w),
                   _need(obj, "role", str, w), _extra(obj, cls.KNOWN))

    def to_wire(self) -> Dict[str, Any]:
        return {"server": self.server, "version": self.version, "protocol": self.protocol, "role": self.role,
                **self.extra}


@dataclass(frozen=True)
class AcquireReply(Reply):
    """Whether the call may go ahead, the state and generation; `permit` for a half-open probe;
    `retry_after_ms` when rejected."""

    allowed: bool
    state: CircuitBreakerState
    generation: int
    permit: Optional[str] = None
    retry_after_ms: Optional[int] = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    KNOWN: ClassVar[Tuple[str, ...]] = ("id", "ok", "allowed", "state", "generation", "permit", "retry_after_ms")

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "AcquireReply":
        w = "acquire reply"
        return cls(_need(obj, "allowed", bool, w), _state(obj, "state", w), _need(obj, "generation", int, w),
                   _need(obj, "permit", str, w, optional=True), _need(obj, "retry_after_ms", int, w, optional=True),
                   _extra(obj, cls.KNOWN))

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"allowed": self.allowed, "state": self.state.value, "generation": self.generation}
        _put(out, "permit", self.permit)
        _put(out, "retry_after_ms", self.retry_after_ms)
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class ReportReply(Reply):
    """The state after the report, and whether it `counted` (`reason` when not)."""

    state: CircuitBreakerState
    generation: int
    counted: bool
    reason: Optional[str] = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    KNOWN: ClassVar[Tuple[str, ...]] = ("id", "ok", "state", "generation", "counted", "reason")

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "ReportReply":
        w = "report reply"
        return cls(_state(obj, "state", w), _need(obj, "generation", int, w), _need(obj, "counted", bool, w),
                   _need(obj, "reason", str, w, optional=True), _extra(obj, cls.KNOWN))

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"state": self.state.value, "generation": self.generation, "counted": self.counted}
        _put(out, "reason", self.reason)
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class LeaseSlot:
    """One served entry of a `lease` reply: the state after its counts, and `lease_ms` (how long calls may be
    decided locally; 0 unless closed or forced closed); `retry_after_ms` while open or forced open."""

    resource: str
    state: CircuitBreakerState
    generation: int
    lease_ms: int
    retry_after_ms: Optional[int] = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    KNOWN: ClassVar[Tuple[str, ...]] = ("resource", "state", "generation", "lease_ms", "retry_after_ms")

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"resource": self.resource, "state": self.state.value, "generation": self.generation,
                               "lease_ms": self.lease_ms}
        _put(out, "retry_after_ms", self.retry_after_ms)
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class LeaseSlotError:
    """An entry of a `lease` request that failed alone (`resource` when the entry's was a string)."""

    resource: Optional[str]
    error: BreakerError

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        _put(out, "resource", self.resource)
        out["error"] = {"code": self.error.code, "message": self.error.message}
        return out


@dataclass(frozen=True)
class LeaseReply(Reply):
    """One slot per entry of the request, in order."""

    leases: Tuple[Union[LeaseSlot, LeaseSlotError], ...]
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "LeaseReply":
        slots = []
        for slot in _need(obj, "leases", list, "lease reply"):
            if not isinstance(slot, dict):
                raise ReplyDecodingError("lease reply: each slot must be an object")
            if "error" in slot:
                slots.append(LeaseSlotError(_need(slot, "resource", str, "lease slot", optional=True),
                                            error_of(slot)))
                continue
            w = "lease slot"
            slots.append(LeaseSlot(_need(slot, "resource", str, w), _state(slot, "state", w),
                                   _need(slot, "generation", int, w), _need(slot, "lease_ms", int, w),
                                   _need(slot, "retry_after_ms", int, w, optional=True),
                                   _extra(slot, LeaseSlot.KNOWN)))
        return cls(tuple(slots), _extra(obj, ("id", "ok", "leases")))

    def to_wire(self) -> Dict[str, Any]:
        return {"leases": [s.to_wire() for s in self.leases], **self.extra}


@dataclass(frozen=True)
class WindowCounts:
    """What a closed breaker's window holds now: calls, failures, slow calls, and the distinct clients the
    failures came from (the last two from servers of 0.3.0 on; None from older ones)."""

    calls: int
    failures: int
    extra: Mapping[str, Any] = field(default_factory=dict)
    slow: Optional[int] = None
    failing_clients: Optional[int] = None

    KNOWN: ClassVar[Tuple[str, ...]] = ("calls", "failures", "slow", "failing_clients")

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"calls": self.calls, "failures": self.failures}
        _put(out, "slow", self.slow)
        _put(out, "failing_clients", self.failing_clients)
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Forced:
    """An operator's force: `state` ``open``/``closed``, `reason` and `by` (or None), `remaining_ms` (None:
    until released)."""

    state: str
    reason: Optional[str]
    by: Optional[str]
    remaining_ms: Optional[int]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_wire(self) -> Dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "by": self.by, "remaining_ms": self.remaining_ms,
                **self.extra}


@dataclass(frozen=True)
class HalfOpenCounts:
    """In half-open: permits out, and the probes' outcomes so far."""

    permits_out: int
    successes: int
    failures: int
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_wire(self) -> Dict[str, Any]:
        return {"permits_out": self.permits_out, "successes": self.successes, "failures": self.failures,
                **self.extra}


@dataclass(frozen=True)
class Breaker:
    """The breaker object of `status`, `list` and the admin operations."""

    resource: str
    state: CircuitBreakerState
    generation: int
    policy: Policy
    window: WindowCounts
    changed_at_ms: int
    retry_after_ms: Optional[int] = None
    forced: Optional[Forced] = None
    half_open: Optional[HalfOpenCounts] = None
    leases: Optional[int] = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    KNOWN: ClassVar[Tuple[str, ...]] = ("resource", "state", "generation", "policy", "window", "changed_at_ms",
                                         "retry_after_ms", "forced", "half_open", "leases")

    @classmethod
    def from_wire(cls, obj: Any) -> "Breaker":
        if not isinstance(obj, dict):
            raise ReplyDecodingError("a breaker must be an object")
        w = "breaker"
        window = _need(obj, "window", dict, w)
        forced = _need(obj, "forced", dict, w, optional=True)
        half = _need(obj, "half_open", dict, w, optional=True)
        return cls(
            resource=_need(obj, "resource", str, w),
            state=_state(obj, "state", w),
            generation=_need(obj, "generation", int, w),
            policy=Policy.from_wire(_need(obj, "policy", dict, w)),
            window=WindowCounts(_need(window, "calls", int, "breaker.window"),
                                _need(window, "failures", int, "breaker.window"),
                                _extra(window, WindowCounts.KNOWN),
                                _need(window, "slow", int, "breaker.window", optional=True),
                                _need(window, "failing_clients", int, "breaker.window", optional=True)),
            changed_at_ms=_need(obj, "changed_at_ms", int, w),
            retry_after_ms=_need(obj, "retry_after_ms", int, w, optional=True),
            forced=None if forced is None else Forced(
                _need(forced, "state", str, "breaker.forced"),
                _need(forced, "reason", str, "breaker.forced", nullable=True),
                _need(forced, "by", str, "breaker.forced", nullable=True),
                _need(forced, "remaining_ms", int, "breaker.forced", nullable=True),
                _extra(forced, ("state", "reason", "by", "remaining_ms"))),
            half_open=None if half is None else HalfOpenCounts(
                _need(half, "permits_out", int, "breaker.half_open"),
                _need(half, "successes", int, "breaker.half_open"),
                _need(half, "failures", int, "breaker.half_open"),
                _extra(half, ("permits_out", "successes", "failures"))),
            leases=_need(obj, "leases", int, w, optional=True),
            extra=_extra(obj, cls.KNOWN),
        )

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"resource": self.resource, "state": self.state.value, "generation": self.generation,
                               "policy": self.policy.to_wire(), "window": self.window.to_wire()}
        _put(out, "retry_after_ms", self.retry_after_ms)
        if self.forced is not None:
            out["forced"] = self.forced.to_wire()
        if self.half_open is not None:
            out["half_open"] = self.half_open.to_wire()
        _put(out, "leases", self.leases)
        out["changed_at_ms"] = self.changed_at_ms
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class BreakerReply(Reply):
    """The reply of `status`, `configure`, `force`, `release` and `reset`."""

    breaker: Breaker
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "BreakerReply":
        return cls(Breaker.from_wire(obj.get("breaker")), _extra(obj, ("id", "ok", "breaker")))

    def to_wire(self) -> Dict[str, Any]:
        return {"breaker": self.breaker.to_wire(), **self.extra}


@dataclass(frozen=True)
class ListReply(Reply):
    """One page of breakers, sorted by name; `next` (the last name) when more remain."""

    breakers: Tuple[Breaker, ...]
    next: Optional[str] = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "ListReply":
        return cls(tuple(Breaker.from_wire(b) for b in _need(obj, "breakers", list, "list reply")),
                   _need(obj, "next", str, "list reply", optional=True), _extra(obj, ("id", "ok", "breakers", "next")))

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"breakers": [b.to_wire() for b in self.breakers]}
        _put(out, "next", self.next)
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Transition:
    """One transition: from, to, the cause, the generation it began, when (wall clock, ms since the epoch),
    and for operators' actions `by` (and `reason` for a force)."""

    from_state: CircuitBreakerState
    to_state: CircuitBreakerState
    cause: str
    generation: int
    at_ms: int
    by: Optional[str] = None
    reason: Optional[str] = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    KNOWN: ClassVar[Tuple[str, ...]] = ("from", "to", "cause", "generation", "at_ms", "by", "reason")

    @classmethod
    def from_wire(cls, obj: Any, known: Tuple[str, ...] = KNOWN) -> "Transition":
        if not isinstance(obj, dict):
            raise ReplyDecodingError("a transition must be an object")
        w = "transition"
        return cls(_state(obj, "from", w), _state(obj, "to", w), _need(obj, "cause", str, w),
                   _need(obj, "generation", int, w), _need(obj, "at_ms", int, w),
                   _need(obj, "by", str, w, optional=True), _need(obj, "reason", str, w, optional=True),
                   _extra(obj, known))

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"from": self.from_state.value, "to": self.to_state.value, "cause": self.cause,
                               "generation": self.generation, "at_ms": self.at_ms}
        _put(out, "by", self.by)
        _put(out, "reason", self.reason)
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class HistoryReply(Reply):
    """Transitions, newest first."""

    transitions: Tuple[Transition, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "HistoryReply":
        return cls(tuple(Transition.from_wire(t) for t in _need(obj, "transitions", list, "history reply")),
                   _extra(obj, ("id", "ok", "transitions")))

    def to_wire(self) -> Dict[str, Any]:
        return {"transitions": [t.to_wire() for t in self.transitions], **self.extra}


@dataclass(frozen=True)
class ServerStats:
    """The `stats` object: uptime, connections, breakers by state, requests by op, errors, transitions; the
    database's `snapshot`, `commits` and `commit_failures` when the server has one."""

    uptime_ms: int
    connections: int
    connections_total: int
    watchers: int
    breakers: Mapping[str, int]
    ops: Mapping[str, int]
    errors: int
    transitions: int
    rejected_connections: int
    slow_consumer_disconnects: int
    snapshot: Optional[Mapping[str, Any]] = None
    commits: Optional[int] = None
    commit_failures: Optional[int] = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    KNOWN: ClassVar[Tuple[str, ...]] = ("uptime_ms", "connections", "connections_total", "watchers", "breakers",
                                         "ops", "errors", "transitions", "rejected_connections",
                                         "slow_consumer_disconnects", "snapshot", "commits", "commit_failures")

    @classmethod
    def from_wire(cls, obj: Any) -> "ServerStats":
        if not isinstance(obj, dict):
            raise ReplyDecodingError("stats must be an object")
        w = "stats"
        return cls(*(_need(obj, k, int, w) for k in ("uptime_ms", "connections", "connections_total", "watchers")),
                   _need(obj, "breakers", dict, w), _need(obj, "ops", dict, w),
                   *(_need(obj, k, int, w) for k in ("errors", "transitions", "rejected_connections",
                                                      "slow_consumer_disconnects")),
                   _need(obj, "snapshot", dict, w, optional=True), _need(obj, "commits", int, w, optional=True),
                   _need(obj, "commit_failures", int, w, optional=True), _extra(obj, cls.KNOWN))

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {k: getattr(self, k) for k in self.KNOWN[:10]}
        out["breakers"], out["ops"] = dict(self.breakers), dict(self.ops)
        _put(out, "snapshot", None if self.snapshot is None else dict(self.snapshot))
        _put(out, "commits", self.commits)
        _put(out, "commit_failures", self.commit_failures)
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class StatsReply(Reply):
    """The reply of `stats`."""

    stats: ServerStats
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "StatsReply":
        return cls(ServerStats.from_wire(obj.get("stats")), _extra(obj, ("id", "ok", "stats")))

    def to_wire(self) -> Dict[str, Any]:
        return {"stats": self.stats.to_wire(), **self.extra}


@dataclass(frozen=True)
class ClusterReply(Reply):
    """The reply of `cluster`: `mode` (``"single"``, or ``"cluster"`` with the replica's view: `name`, `replica`,
    `role`, `leader`, `lease_ms`, `replicas`, `etcd`, ... in `details`, as they came)."""

    mode: str
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> "ClusterReply":
        return cls(_need(obj, "mode", str, "cluster"), _extra(obj, ("id", "ok", "mode")))

    @property
    def leader(self) -> Optional[str]:
        value = self.details.get("leader")
        return value if isinstance(value, str) else None

    def to_wire(self) -> Dict[str, Any]:
        return {"mode": self.mode, **self.details}


REPLIES: Dict[str, Any] = {
    "ping": Ack, "watch": Ack, "unwatch": Ack, "delete": Ack, "hello": HelloReply, "acquire": AcquireReply,
    "report": ReportReply, "lease": LeaseReply, "status": BreakerReply, "configure": BreakerReply,
    "force": BreakerReply, "release": BreakerReply, "reset": BreakerReply, "list": ListReply,
    "history": HistoryReply, "stats": StatsReply, "cluster": ClusterReply,
}


def decode_reply(op: str, obj: Mapping[str, Any]) -> Reply:
    """The typed reply to a request of `op`. An ``"ok":false`` reply raises its `BreakerError` (the protocol's
    code, or a code this client does not know, kept as it came); a reply of the wrong shape raises
    `ReplyDecodingError`."""
    ok = obj.get("ok")
    if ok is False:
        raise error_of(obj)
    if ok is not True:
        raise ReplyDecodingError(f"a reply without \"ok\": {json.dumps(obj)[:200]}")
    return REPLIES[op].from_wire(obj)


def encode_reply(reply: Union[Reply, BreakerError], id: Optional[RequestID] = None) -> Dict[str, Any]:
    """The whole reply object, as the server writes it (for tests and tools)."""
    out: Dict[str, Any] = {} if id is None else {"id": id}
    if isinstance(reply, BreakerError):
        out["ok"] = False
        out["error"] = {"code": reply.code, "message": reply.message}
        if getattr(reply, "leader", None) is not None:
            out["error"]["leader"] = reply.leader
        return out
    out["ok"] = True
    out.update(reply.to_wire())
    return out


# --------------------------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True)
class TransitionEvent:
    """A pushed transition of `resource` (from `watch`, or for a resource the connection leases)."""

    resource: str
    transition: Transition

    @property
    def from_state(self) -> CircuitBreakerState:
        return self.transition.from_state

    @property
    def to_state(self) -> CircuitBreakerState:
        return self.transition.to_state

    def to_wire(self) -> Dict[str, Any]:
        return {"event": "transition", "resource": self.resource, **self.transition.to_wire()}


@dataclass(frozen=True)
class DeletedEvent:
    """`resource` was deleted."""

    resource: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_wire(self) -> Dict[str, Any]:
        return {"event": "deleted", "resource": self.resource, **self.extra}


Event = Union[TransitionEvent, DeletedEvent]


def decode_event(obj: Mapping[str, Any]) -> Optional[Event]:
    """The event an object carrying ``"event"`` holds; None for a kind of event this client does not know
    (ignored, as unknown fields are)."""
    kind = obj.get("event")
    resource = _need(obj, "resource", str, "event")
    if kind == "transition":
        return TransitionEvent(resource, Transition.from_wire(obj, Transition.KNOWN + ("event", "resource")))
    if kind == "deleted":
        return DeletedEvent(resource, _extra(obj, ("event", "resource")))
    return None
