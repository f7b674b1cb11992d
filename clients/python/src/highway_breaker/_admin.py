"""`BreakerAdmin`: the operators' operations from Python, with typed replies."""
from __future__ import annotations

import queue
import ssl
import time
from datetime import timedelta
from typing import Any, Dict, Iterator, List, Optional

from . import protocol as p
from ._address import check_resource, parse_servers, resolve_token
from ._clock import Seconds, seconds_of
from ._connection import Connection
from ._errors import BreakerError, ConfigurationError
from ._policy import RatioLike, Window, duration_ns, ms_rounded_up, wire_policy
from ._shared import NEWER_POLICY_FIELDS
from ._state import CircuitBreakerState
from ._tls import TLSOptions


class BreakerAdmin:
    """breakerd's operations: `status`, `list`, `configure`, `force`, `release`, `reset`, `delete`, `history`,
    `stats`, and `watch` (an iterator of events). Replies are typed (`protocol.Breaker`,
    `protocol.Transition`, `protocol.ServerStats`, events); breakerd's errors raise `BreakerError` with the
    protocol's `code` (``not_found``, ``forbidden``, ``invalid_policy``, ...).

    The admin keeps its own connection (closed by `close()` or by leaving a ``with`` block); each `watch` opens
    another, so that its prefix is its own.

    Args:
        server: breakerd's ``HOST:PORT``.
        token, token_file: an admin token (a client token may read, not act: ``forbidden``).
        client_name: the name breakerd's audit log records as `by` (default ``"highway-breaker-admin"``).
        timeout: how long each operation may take, connecting included (default 5 s).
        tls, tls_ca, tls_cert, tls_key, tls_server_name, ssl_context: TLS, as for `SharedCircuitBreakerPolicy`.
    """

    def __init__(self, server: str = "127.0.0.1:7433", token: Optional[str] = None, *,
                 token_file: Optional[str] = None, client_name: Optional[str] = "highway-breaker-admin",
                 timeout: Seconds = timedelta(seconds=5), tls: bool = False, tls_ca: Optional[str] = None,
                 tls_cert: Optional[str] = None, tls_key: Optional[str] = None,
                 tls_server_name: Optional[str] = None, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        self._servers = parse_servers(server)
        self._token = resolve_token(token, token_file)
        self._client_name = client_name
        self._timeout = seconds_of(timeout)
        if self._timeout <= 0:
            raise ConfigurationError("timeout", f"must be more than 0, got {timeout!r}")
        self._tls = TLSOptions.of(tls, tls_ca, tls_cert, tls_key, tls_server_name, ssl_context)
        self._conn = self._connection()
        self._watches: List["EventStream"] = []

    def _connection(self) -> Connection:
        tls = self._tls
        (host, port), *others = self._servers
        return Connection(host, port, self._token, self._client_name,
                          ssl_context=tls.context() if tls is not None else None,
                          server_hostname=tls.server_hostname if tls is not None else None, others=others)

    def __enter__(self) -> "BreakerAdmin":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Closes the admin's connection and its watches."""
        self._conn.close()
        for w in self._watches:
            w.close()

    def _ask(self, request: p.Request) -> p.Reply:
        """One request, within the timeout. A cluster replica that does not lead sends the connection on to the
        leader: the request is asked again there (it changed nothing where it was refused)."""
        deadline = time.monotonic() + self._timeout
        while True:
            if not self._conn.is_connected:
                self._conn.wait_connected(max(deadline - time.monotonic(), 0.001))
            try:
                obj = self._conn.request(p.encode(request), max(deadline - time.monotonic(), 0.001))
                return p.decode_reply(request.op, obj)
            except BreakerError as error:
                if error.code != "not_leader" or time.monotonic() + 0.1 >= deadline:
                    raise
                time.sleep(0.1)

    # Reading ----------------------------------------------------------------------------------------------------

    def ping(self) -> None:
        """Asks breakerd to answer (raises `BreakerError` when it cannot be reached)."""
        self._ask(p.Ping())

    def cluster(self) -> p.ClusterReply:
        """The replica's view of its cluster (`mode` ``"single"`` for a server without ``--cluster``)."""
        return self._ask(p.Cluster())  # type: ignore[return-value]

    def status(self, resource: str) -> p.Breaker:
        """The breaker of `resource` (``not_found`` when there is none)."""
        return self._ask(p.Status(check_resource(resource))).breaker  # type: ignore[attr-defined]

    def list(self, prefix: str = "") -> List[p.Breaker]:
        """Every breaker whose name starts with `prefix`, sorted by name (all pages)."""
        breakers: List[p.Breaker] = []
        after = None
        while True:
            page = self.list_page(prefix, after=after)
            breakers.extend(page.breakers)
            if page.next is None:
                return breakers
            after = page.next

    def list_page(self, prefix: str = "", *, limit: Optional[int] = None, after: Optional[str] = None) -> p.ListReply:
        """One page: at most `limit` breakers (1 to 10,000; default 1,000) after the name `after`; `next` is set
        when more remain."""
        return self._ask(p.ListBreakers(prefix or None, limit, after))  # type: ignore[return-value]

    def history(self, resource: str, limit: Optional[int] = None) -> List[p.Transition]:
        """The last `limit` transitions (1 to 1,000; default 50), newest first."""
        return list(self._ask(p.History(check_resource(resource), limit)).transitions)  # type: ignore[attr-defined]

    def stats(self) -> p.ServerStats:
        """breakerd's counters."""
        return self._ask(p.Stats()).stats  # type: ignore[attr-defined]

    # Acting -----------------------------------------------------------------------------------------------------

    def configure(self, resource: str, *, failure_threshold: RatioLike, success_threshold: Optional[RatioLike] = None,
                  cooldown: Optional[Seconds] = None, window: Optional[Window] = None,
                  minimum_calls: Optional[int] = None, half_open_permits: Optional[int] = None,
                  permit_ttl: Optional[Seconds] = None, policy_extra: Optional[Dict[str, Any]] = None,
                  **newer_fields: Any) -> p.Breaker:
        """Creates the breaker, or replaces its policy (an automatic state returns to closed with an empty
        window; a forced one stays forced). Fields left out take the protocol's defaults."""
        unknown = sorted(set(newer_fields) - NEWER_POLICY_FIELDS)
        if unknown:
            raise TypeError(f"configure() got unexpected keyword arguments {unknown}")
        extra = dict(policy_extra or {})
        extra.update(newer_fields)
        wire = wire_policy(failure_threshold, success_threshold, cooldown, window, minimum_calls, half_open_permits,
                           permit_ttl, extra)
        policy = p.Policy.from_wire(wire)
        return self._ask(p.Configure(check_resource(resource), policy)).breaker  # type: ignore[attr-defined]

    def force(self, resource: str, state: Any = "open", *, reason: Optional[str] = None,
              ttl: Optional[Seconds] = None) -> p.Breaker:
        """Forces the breaker ``"open"`` or ``"closed"`` (`CircuitBreakerState` values work too) for every
        client, until `ttl` passes (1 ms to 30 days) or `release`."""
        value = state.value if isinstance(state, CircuitBreakerState) else state
        target = {"open": "open", "forced_open": "open", "closed": "closed", "forced_closed": "closed"}.get(value)
        if target is None:
            raise ConfigurationError("state", f"must be \"open\" or \"closed\", got {state!r}")
        ttl_ms = None if ttl is None else ms_rounded_up(duration_ns(ttl, "ttl", allow_zero=False))
        return self._ask(p.Force(check_resource(resource), target, reason, ttl_ms)).breaker  # type: ignore

    def release(self, resource: str) -> p.Breaker:
        """Ends a force: back to closed with an empty window (a breaker that is not forced is left as it is)."""
        return self._ask(p.Release(check_resource(resource))).breaker  # type: ignore[attr-defined]

    def reset(self, resource: str) -> p.Breaker:
        """Back to closed with an empty window, from any state."""
        return self._ask(p.Reset(check_resource(resource))).breaker  # type: ignore[attr-defined]

    def delete(self, resource: str) -> None:
        """Removes the breaker (watchers get a `deleted` event)."""
        self._ask(p.Delete(check_resource(resource)))

    # Watching ---------------------------------------------------------------------------------------------------

    def watch(self, prefix: str = "", timeout: Optional[Seconds] = None) -> "EventStream":
        """An iterator of the events of every resource starting with `prefix` (``""``: all), on a connection of
        its own. It returns once breakerd acknowledged the watch (events from then on are delivered); iterating
        blocks for the next event, at most `timeout` when given (then `TimeoutError`). Reconnects by itself;
        events during a reconnection are missed. Close it (or use ``with``) when done."""
        stream = EventStream(self._connection(), prefix,
                             None if timeout is None else seconds_of(timeout))
        try:
            stream._conn.wait_watching(prefix, self._timeout)
        except BreakerError:
            stream.close()
            raise
        self._watches.append(stream)
        return stream


class EventStream:
    """Events of a `watch`: `protocol.TransitionEvent` and `protocol.DeletedEvent`, in the order breakerd sent
    them."""

    def __init__(self, conn: Connection, prefix: str, timeout: Optional[float]) -> None:
        self._conn = conn
        self._prefix = prefix
        self._timeout = timeout
        self._events: "queue.SimpleQueue[Optional[p.Event]]" = queue.SimpleQueue()
        self._closed = False
        self._subscription = conn.subscribe(prefix, self._events.put)

    def __iter__(self) -> Iterator[p.Event]:
        return self

    def __next__(self) -> p.Event:
        if self._closed:
            raise StopIteration
        try:
            event = self._events.get(timeout=self._timeout)
        except queue.Empty:
            raise TimeoutError(f"no event for \"{self._prefix}\" within {self._timeout:g} s") from None
        if event is None:
            raise StopIteration
        return event

    def next(self, timeout: Optional[Seconds] = None) -> Optional[p.Event]:
        """The next event, or None when none came within `timeout` (None: wait as long as it takes)."""
        try:
            event = self._events.get(timeout=None if timeout is None else seconds_of(timeout))
        except queue.Empty:
            return None
        if event is None:
            self._events.put(None)
        return event

    def close(self) -> None:
        """Ends the watch and its connection; iteration stops."""
        if not self._closed:
            self._closed = True
            self._conn.close()
            self._events.put(None)

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
