"""`SharedCircuitBreakerPolicy`: one circuit per resource, kept by breakerd and shared by every process, in any
language, that names the resource."""
from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
import weakref
from datetime import timedelta
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple, TypeVar

from . import protocol as p
from ._address import check_resource, parse_servers, resolve_token
from ._base import ResiliencePolicy, handles_everything, outcome_of
from ._circuit import CircuitBreakerPolicy, StateChangeHandler
from ._clock import Seconds, seconds_of
from ._connection import Connection, shared_connection
from ._errors import BreakerError, ConfigurationError, ProtectedCallError
from ._lease import ALLOW, ASK
from ._machine import IGNORED, SUCCESS
from ._policy import DEFAULT_POLICY, BreakerPolicy, RatioLike, Window, policy_from_wire, wire_policy
from ._state import CircuitBreakerState
from ._tls import TLSOptions

R = TypeVar("R")
logger = logging.getLogger("highway_breaker")

FALLBACKS = ("local", "allow", "reject")
CONSISTENCIES = ("strict", "leased")
#: Policy fields of newer servers (issue #16), passed through to breakerd as given; not run by the local fallback.
NEWER_POLICY_FIELDS = frozenset({"slow_call_ms", "slow_call_threshold", "cooldown_max_ms", "cooldown_multiplier",
                                 "cooldown_jitter", "mode", "min_failing_clients"})


class SharedCircuitBreakerPolicy(ResiliencePolicy):
    """A circuit breaker whose state lives in breakerd, shared by every process (Python, Swift, ...) that names
    the same resource. Use it wherever `CircuitBreakerPolicy` goes: ``@breaker``, ``breaker.execute(fn)``,
    `Failsafe`, on functions and on ``async def`` functions.

    In strict mode (the default) each call asks breakerd (one round trip, `acquire`), runs, and reports its
    outcome without waiting (`noreply`, with the probe permit and the duration): failures from any process count
    toward one window, the circuit opens for every process at once, and in half-open exactly
    `half_open_permits` probes run fleet-wide. In leased mode, calls on a closed circuit are decided locally
    while breakerd's lease lasts, and outcomes travel in one `lease` line every 50 ms (at once after a failure).

    While breakerd cannot be asked (down, unreachable, or silent past `timeout`), no call waits longer than
    `timeout`: `fallback` decides. ``"local"`` lets an in-process breaker with the same policy decide (it has
    seen this process's outcomes), ``"allow"`` lets calls through, ``"reject"`` rejects them. A resource last
    seen forced open stays rejected, whatever the fallback. The outage is logged once and counted
    (`outage_count`, `fallback_call_count`, `is_in_fallback`).

    Args:
        resource: the circuit's name (1–200 bytes of ``A–Z a–z 0–9 . _ : / @ -``).
        server: breakerd's ``HOST:PORT``. Every policy of the process with the same server, token and client name
            shares one pipelined connection.
        token, token_file: the token breakerd's token files hold (or a file holding it), when it has any.
        client_name: a name for breakerd's logs and audit log.
        cooldown, failure_threshold, success_threshold, window, minimum_calls, half_open_permits, permit_ttl: the
            policy the breaker is created with on breakerd if it does not exist yet (as for
            `CircuitBreakerPolicy`; fields left out take the protocol's defaults; none at all: breakerd's default
            policy). An existing breaker keeps its policy (operators change it with `BreakerAdmin.configure`).
            The local fallback runs this policy too.
        handle: which exceptions count as failures (default all); others count as successes.
        on_state_change: ``on_state_change(policy, old_state, new_state)`` for every transition breakerd pushes
            for the resource, caused by any process, on the connection's event thread.
        fallback: ``"local"`` (default), ``"allow"`` or ``"reject"``.
        consistency: ``"strict"`` (default) or ``"leased"``.
        timeout: how long a call waits for breakerd (default 100 ms).
        policy_extra: more policy fields for newer servers, sent as given.
        tls: True for TLS with the system's CAs; tls_ca: the CA file (PEM) that signed breakerd's certificate
            (turns TLS on); tls_cert, tls_key: a client certificate and its key (mutual TLS); tls_server_name:
            the name breakerd's certificate must be for (default: the server's host); ssl_context: a ready
            ``ssl.SSLContext`` instead of the files. Policies with the same options share one connection.
        **newer_fields: ``slow_call_ms``, ``cooldown_max_ms``, ``mode``, ``min_failing_clients`` and the other
            policy fields of issue #16: sent to breakerd as given (the local fallback does not run them).
    """

    def __init__(
        self,
        resource: str,
        server: str = "127.0.0.1:7433",
        *,
        token: Optional[str] = None,
        token_file: Optional[str] = None,
        client_name: Optional[str] = None,
        cooldown: Optional[Seconds] = None,
        failure_threshold: Optional[RatioLike] = None,
        success_threshold: Optional[RatioLike] = None,
        window: Optional[Window] = None,
        minimum_calls: Optional[int] = None,
        half_open_permits: Optional[int] = None,
        permit_ttl: Optional[Seconds] = None,
        handle: Callable[[Exception], bool] = handles_everything,
        on_state_change: Optional[StateChangeHandler] = None,
        fallback: str = "local",
        consistency: str = "strict",
        timeout: Seconds = timedelta(milliseconds=100),
        policy_extra: Optional[Dict[str, Any]] = None,
        tls: bool = False,
        tls_ca: Optional[str] = None,
        tls_cert: Optional[str] = None,
        tls_key: Optional[str] = None,
        tls_server_name: Optional[str] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
        clock: Any = None,
        **newer_fields: Any,
    ) -> None:
        check_resource(resource)
        unknown = sorted(set(newer_fields) - NEWER_POLICY_FIELDS)
        if unknown:
            raise TypeError(f"SharedCircuitBreakerPolicy() got unexpected keyword arguments {unknown}; newer policy "
                            f"fields go in policy_extra={{...}}")
        if fallback not in FALLBACKS:
            raise ConfigurationError("fallback", f"must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
        if consistency not in CONSISTENCIES:
            raise ConfigurationError("consistency", f"must be \"strict\" or \"leased\", got {consistency!r}")
        if not callable(handle):
            raise TypeError("handle must be a callable taking the exception and returning a bool")
        timeout_s = seconds_of(timeout)
        if not 0 < timeout_s <= 3600:
            raise ConfigurationError("timeout", f"must be more than 0 and at most an hour, got {timeout!r}")
        servers = parse_servers(server)
        self.resource = resource
        self.fallback = fallback
        self.consistency = consistency
        self.timeout = timedelta(seconds=timeout_s)
        self._timeout = timeout_s
        self._handle = handle
        self._on_state_change = on_state_change
        extra = dict(policy_extra or {})
        extra.update(newer_fields)
        wire = wire_policy(failure_threshold, success_threshold, cooldown, window, minimum_calls, half_open_permits,
                           permit_ttl, extra)
        self._wire_policy = wire
        self._policy = None if wire is None else p.Policy.from_wire(wire)
        local: BreakerPolicy = DEFAULT_POLICY if wire is None else policy_from_wire(wire)
        self._local = CircuitBreakerPolicy.with_policy(local, handle, None, resource, clock)
        self._acquire_line = p.encode(p.Acquire(resource))
        self._acquire_line_with_policy = p.encode(p.Acquire(resource, self._policy))
        self._report_prefix = p.encode(p.Report(resource))[:-2]   # b'{"op":"report","resource":"..."'
        self._last_state: Optional[CircuitBreakerState] = None
        self._policy_answered_on = -1
        self._in_outage = False
        self._outages = 0
        self._fallback_calls = 0
        tls_options = TLSOptions.of(tls, tls_ca, tls_cert, tls_key, tls_server_name, ssl_context)
        self._conn: Connection = shared_connection(servers, resolve_token(token, token_file), client_name,
                                                   tls_options)
        self._keeper = None
        self._slot = None
        ref = weakref.ref(self)

        def receive(event: p.Event) -> None:
            breaker = ref()
            if breaker is not None:
                breaker._receive(event)

        self._subscription = self._conn.subscribe(resource, receive)
        weakref.finalize(self, self._conn.unsubscribe, self._subscription)
        if consistency == "leased":
            self._keeper = self._conn.leases()
            self._slot = self._keeper.register(resource, self._policy, timeout_s)
            weakref.finalize(self, self._keeper.unregister, resource)

    # Reading ----------------------------------------------------------------------------------------------------

    @property
    def state(self) -> Optional[CircuitBreakerState]:
        """The state breakerd last reported or pushed for the resource (None before its first answer)."""
        if self._keeper is not None:
            leased = self._keeper.state_of(self.resource)
            if leased is not None:
                return leased
        return self._last_state

    last_known_state = state

    @property
    def history(self) -> list:
        """This process's recent outcomes, oldest first (True: success, False: failure), as the seeds give them."""
        return self._local.history

    @property
    def is_in_fallback(self) -> bool:
        """True while calls are decided by the fallback because breakerd cannot be asked."""
        return self._in_outage

    @property
    def outage_count(self) -> int:
        """How many outages (periods without breakerd) this breaker went through."""
        return self._outages

    @property
    def fallback_call_count(self) -> int:
        """How many calls the fallback decided."""
        return self._fallback_calls

    @property
    def connection(self) -> Connection:
        """The connection this breaker shares with the process's other breakers for the same server."""
        return self._conn

    def wait_connected(self, timeout: Seconds = 5) -> None:
        """Blocks until the connection (and its `hello`) is up; raises `BreakerError` ``timeout`` naming the
        server and the last attempt's problem. Without it, calls made before the first connection attempt ends
        wait for it within their timeout, then go to the fallback."""
        self._conn.wait_connected(seconds_of(timeout))

    def subscribed(self, timeout: Seconds = 5) -> None:
        """Blocks until breakerd acknowledged the watch that brings this resource's transitions to
        `on_state_change`: every transition made after it returns, by any process, reaches the handler."""
        self._conn.wait_watching(self.resource, seconds_of(timeout))

    def flush(self, timeout: Seconds = 5) -> None:
        """Blocks until breakerd has read every outcome this process reported so far: in leased mode, a `lease`
        line carrying the counts is sent and answered; then a `ping` is answered after every report sent before
        it. Raises `BreakerError` when breakerd cannot be asked within `timeout`."""
        seconds = seconds_of(timeout)
        deadline = time.monotonic() + seconds
        if self._keeper is not None and not self._keeper.flush(seconds):
            raise BreakerError("timeout", f"the leased outcomes did not reach breakerd within {seconds:g} s")
        self._conn.request(p.encode(p.Ping()), max(deadline - time.monotonic(), 0.001))

    async def wait_connected_async(self, timeout: Seconds = 5) -> None:
        """`wait_connected` for coroutines (the wait happens on a worker thread, not in the event loop)."""
        await asyncio.get_running_loop().run_in_executor(None, self.wait_connected, timeout)

    async def subscribed_async(self, timeout: Seconds = 5) -> None:
        """`subscribed` for coroutines (the wait happens on a worker thread, not in the event loop)."""
        await asyncio.get_running_loop().run_in_executor(None, self.subscribed, timeout)

    async def flush_async(self, timeout: Seconds = 5) -> None:
        """`flush` for coroutines: the leased counts' line is waited for on a worker thread; the `ping` is
        awaited."""
        seconds = seconds_of(timeout)
        deadline = time.monotonic() + seconds
        if self._keeper is not None:
            done = await asyncio.get_running_loop().run_in_executor(None, self._keeper.flush, seconds)
            if not done:
                raise BreakerError("timeout", f"the leased outcomes did not reach breakerd within {seconds:g} s")
        await self._conn.request_async(p.encode(p.Ping()), max(deadline - time.monotonic(), 0.001))

    # Calls ------------------------------------------------------------------------------------------------------

    def _run(self, fn: Callable[..., R], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> R:
        if self._keeper is not None and self._admits_locally():
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                self._count_locally(self._outcome(error))
                raise
            self._count_locally(SUCCESS)
            return result
        number = self._conn.connection_number
        sends_policy = self._wire_policy is not None and self._policy_answered_on != number
        try:
            obj = self._conn.request(self._acquire_line_with_policy if sends_policy else self._acquire_line,
                                     self._timeout)
            if obj.get("ok") is False:
                raise p.error_of(obj)      # not_leader (a cluster's failover) falls back like a lost connection
        except BreakerError as error:
            if not error.server_unreachable:
                raise
            self._note_fallback(error)
            if self.fallback == "local":
                return self._local._run(fn, args, kwargs)
            if self.fallback == "allow":
                return fn(*args, **kwargs)
            raise self._rejected_by_fallback(CircuitBreakerState.OPEN) from None
        permit = self._admit(obj, sends_policy, number)
        start = time.monotonic_ns()
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            self._complete(self._outcome(error), permit, start, True)
            raise
        self._complete(SUCCESS, permit, start, True)
        return result

    async def _run_async(self, fn: Callable[..., Awaitable[R]], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> R:
        if self._keeper is not None and self._admits_locally():
            try:
                result = await fn(*args, **kwargs)
            except BaseException as error:
                self._count_locally(self._outcome(error))
                raise
            self._count_locally(SUCCESS)
            return result
        number = self._conn.connection_number
        sends_policy = self._wire_policy is not None and self._policy_answered_on != number
        try:
            obj = await self._conn.request_async(
                self._acquire_line_with_policy if sends_policy else self._acquire_line, self._timeout)
            if obj.get("ok") is False:
                raise p.error_of(obj)      # not_leader (a cluster's failover) falls back like a lost connection
        except BreakerError as error:
            if not error.server_unreachable:
                raise
            self._note_fallback(error)
            if self.fallback == "local":
                return await self._local._run_async(fn, args, kwargs)
            if self.fallback == "allow":
                return await fn(*args, **kwargs)
            raise self._rejected_by_fallback(CircuitBreakerState.OPEN) from None
        permit = self._admit(obj, sends_policy, number)
        start = time.monotonic_ns()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as error:
            self._complete(self._outcome(error), permit, start, False)
            raise
        self._complete(SUCCESS, permit, start, False)
        return result

    # Internals --------------------------------------------------------------------------------------------------

    def _outcome(self, error: BaseException) -> str:
        try:
            return outcome_of(self._handle, error)
        except Exception:  # noqa: BLE001 - a broken handle: count nothing; the call's own error is raised
            logger.exception("highway_breaker: handle raised for %r; the outcome is not counted", error)
            return IGNORED

    def _admit(self, obj: Dict[str, Any], sent_policy: bool, number: int) -> Optional[str]:
        """Reads breakerd's answer: returns the probe permit, or raises the rejection (or breakerd's error)."""
        reply = p.decode_reply("acquire", obj)
        if sent_policy:
            self._policy_answered_on = number
        self._last_state = reply.state
        if self._in_outage:
            self._end_outage()
        if not reply.allowed:
            raise ProtectedCallError(self.resource, reply.state, timedelta(milliseconds=reply.retry_after_ms or 0),
                                     "server")
        return reply.permit

    def _complete(self, outcome: str, permit: Optional[str], start_ns: int, direct: bool) -> None:
        """Reports without waiting (noreply), with the permit and the duration; the local breaker sees the
        outcome too, so that it is warm if breakerd goes away."""
        duration_ms = (time.monotonic_ns() - start_ns) // 1_000_000
        line = self._report_prefix + (b',"outcome":"%s"' % outcome.encode())
        if permit is not None:
            line += b',"permit":' + json.dumps(permit).encode()
        line += b',"duration_ms":%d,"noreply":true}\n' % duration_ms
        try:
            self._conn.send(line, direct)
        except BreakerError:
            pass  # breakerd went away: the outcome is lost, as noreply reports on a failing connection are
        self._local.complete(outcome, None)

    def _note_fallback(self, error: BreakerError) -> None:
        """Counts the fallback call, logs the first of an outage, and rejects when last seen forced open."""
        self._fallback_calls += 1
        if not self._in_outage:
            self._in_outage = True
            self._outages += 1
            logger.warning("highway_breaker: breakerd cannot be asked about %r; the %r fallback decides (%s)",
                           self.resource, self.fallback, error)
        if self.state is CircuitBreakerState.FORCED_OPEN:
            raise self._rejected_by_fallback(CircuitBreakerState.FORCED_OPEN) from None

    def _end_outage(self) -> None:
        if self._in_outage:
            self._in_outage = False
            logger.info("highway_breaker: breakerd answers again; the shared circuit decides %r", self.resource)

    def _rejected_by_fallback(self, state: CircuitBreakerState) -> ProtectedCallError:
        return ProtectedCallError(self.resource, state, timedelta(seconds=self._conn.reconnect_delay), "fallback")

    def _receive(self, event: p.Event) -> None:
        """An event of a resource starting with this one's name, on the I/O thread."""
        if event.resource != self.resource:
            return
        if self._keeper is not None:
            self._keeper.apply(event)
        if isinstance(event, p.TransitionEvent):
            self._last_state = event.to_state
            handler = self._on_state_change
            if handler is not None:
                old, new = event.from_state, event.to_state
                self._conn.dispatch(lambda: handler(self, old, new))

    # Leased mode ------------------------------------------------------------------------------------------------

    def _admits_locally(self) -> bool:
        """True when the call may run without a round trip (a closed circuit under a live lease); False when it
        must ask breakerd, as strict mode does. Raises the rejection of an open circuit."""
        kind, state, retry_ns = self._keeper.decide(self._slot)  # type: ignore[union-attr]
        if kind == ALLOW:
            if self._in_outage:
                self._end_outage()
            return True
        if kind == ASK:
            return False
        if self._in_outage:
            self._end_outage()
        self._last_state = state
        raise ProtectedCallError(self.resource, state, timedelta(microseconds=retry_ns // 1000), "server")

    def _count_locally(self, outcome: str) -> None:
        """Counts the outcome for the next `lease` line; the local breaker sees it too, so it is warm if breakerd
        goes away."""
        self._keeper.count(outcome, self._slot)  # type: ignore[union-attr]
        self._local.complete(outcome, None)

    def __repr__(self) -> str:
        state = self.state.value if self.state else "unknown"
        return (f"<SharedCircuitBreakerPolicy {self.resource!r} at {self._conn.server} {state} "
                f"{self.consistency} fallback={self.fallback}>")
