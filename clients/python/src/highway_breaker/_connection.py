"""One pipelined connection to breakerd, kept by an I/O thread that reconnects with backoff.

Every `SharedCircuitBreakerPolicy` of a process that names the same server, token and client name shares one
`Connection` (`shared_connection`). Requests from any thread or event loop are written into one outbound
buffer with an id each; replies complete them by id, in whatever order the callers wait; events go to the
subscribers. A synchronous caller writes with a non-blocking `send` and waits on a lock with its timeout; a
coroutine hands its bytes to the I/O thread and awaits a future, so the event loop never makes a socket call.

While there is no connection, requests fail at once with ``unavailable`` (the first connection attempt is
waited for, within the request's timeout); the I/O thread retries with the reconnect backoff.
"""
from __future__ import annotations

import asyncio
import atexit
import errno
import json
import logging
import os
import queue
import select
import socket
import ssl
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import protocol as p
from ._address import parse_server
from ._errors import BreakerError, ConfigurationError
from ._retry import Backoff
from ._tls import TLSChannel, TLSOptions

logger = logging.getLogger("highway_breaker")

MAXIMUM_OUTBOUND_BYTES = 8 * 1_048_576
RECONNECT_BACKOFF = Backoff(0.05, 1.0, factor=2, jitter=0.2)


class _SyncWaiter:
    """A thread waiting for one reply: the lock is held until the reply (or an error) is in `result`."""

    __slots__ = ("lock", "result")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.result: Any = None

    def complete(self, result: Any) -> None:
        self.result = result
        self.lock.release()


class _AsyncWaiter:
    """A coroutine waiting for one reply: its future is completed on its own event loop."""

    __slots__ = ("loop", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: "asyncio.Future[Any]") -> None:
        self.loop = loop
        self.future = future

    def complete(self, result: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(_settle, self.future, result)
        except RuntimeError:
            pass  # the loop is closed: nobody waits any more


def _settle(future: "asyncio.Future[Any]", result: Any) -> None:
    if not future.done():
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


class _CallbackWaiter:
    """A reply handled on the I/O thread (hello, watch, lease lines); `deadline_ns` fails it with ``timeout``."""

    __slots__ = ("callback", "deadline_ns")

    def __init__(self, callback: Callable[[Any], None], timeout: Optional[float]) -> None:
        self.callback = callback
        self.deadline_ns = None if timeout is None else time.monotonic_ns() + int(timeout * 1e9)

    def complete(self, result: Any) -> None:
        try:
            self.callback(result)
        except Exception:  # noqa: BLE001 - a handler's bug must not stop the I/O thread
            logger.exception("highway_breaker: a reply handler failed")


class _Subscriber:
    __slots__ = ("prefix", "handler")

    def __init__(self, prefix: str, handler: Callable[[p.Event], None]) -> None:
        self.prefix = prefix
        self.handler = handler


class Connection:
    """A connection to one breakerd, shared by the policies of a process (see the module's documentation).

    Args:
        host, port: the server.
        token: for `hello` when the server has token files; client_name: for its logs and audit log.
        connect_timeout: how long one connection attempt may take (seconds).
        reconnect_backoff: waits between attempts; its `max_delay` is the reconnect delay fallback rejections
            name.
        lease_flush_interval: in leased mode, the time between two `lease` lines (seconds).
        ssl_context: TLS for the connection (``client_context`` makes one from CA, certificate and key files);
            None: plain TCP. server_hostname: the name the server's certificate must be for (default: host).
        others: the other replicas of a cluster (``breakerd --cluster``): on ``not_leader`` naming the leader the
            connection moves there; when a connection breaks or cannot be made it tries the next server.
    """

    def __init__(self, host: str, port: int, token: Optional[str] = None, client_name: Optional[str] = None,
                 connect_timeout: float = 0.5, reconnect_backoff: Backoff = RECONNECT_BACKOFF,
                 lease_flush_interval: float = 0.05, hello_timeout: float = 5.0,
                 ssl_context: Optional[ssl.SSLContext] = None, server_hostname: Optional[str] = None,
                 others: Sequence[Tuple[str, int]] = ()) -> None:
        self.host = host
        self.servers: List[Tuple[str, int]] = [(host, port), *others]
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.port = port
        self.token = token
        self.client_name = client_name
        self.connect_timeout = connect_timeout
        self.reconnect_backoff = reconnect_backoff
        self.hello_timeout = hello_timeout
        self.lease_flush_interval = lease_flush_interval
        self._keeper: Any = None
        self._init_state()
        _CONNECTIONS.add(self)

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._sock: Optional[socket.socket] = None
        self._tls: Optional[TLSChannel] = None
        self._server_index = 0
        self._redirect: Optional[Tuple[str, int]] = None
        self._connected_to: Optional[Tuple[str, int]] = None
        self._fd = -1
        self._thread: Optional[threading.Thread] = None
        self._closed = False
        self._connecting = False
        self._ready = False
        self._refusal: Optional[BreakerError] = None
        self._connections = 0
        self._next_id = 1
        self._pending: Dict[int, Any] = {}
        self._deadlines: Dict[int, int] = {}
        self._outbound = bytearray()
        self._subscribers: Dict[int, _Subscriber] = {}
        self._next_subscriber = 1
        self._watch_requested: Optional[str] = None
        self._watch_acknowledged: Optional[str] = None
        self._async_ready: List[_AsyncWaiter] = []
        self._last_problem = "no connection attempt has finished yet"
        self._events: "Optional[queue.SimpleQueue[Optional[Callable[[], None]]]]" = None
        self._dispatcher: Optional[threading.Thread] = None
        if self._keeper is not None:
            self._keeper.connection_lost()

    # ----------------------------------------------------------------------------------------------------------
    # Public surface

    @property
    def server(self) -> str:
        """``host:port``, for messages."""
        return ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.servers)

    @property
    def connection_number(self) -> int:
        """How many connections were made so far (identifies the current one)."""
        return self._connections

    @property
    def is_connected(self) -> bool:
        """Connected, and `hello` answered when one is sent."""
        return self._ready

    @property
    def reconnect_delay(self) -> float:
        """The longest wait between connection attempts, in seconds."""
        return self.reconnect_backoff.max_delay.total_seconds()

    def start(self) -> None:
        """Starts the I/O thread (and so the first connection attempt) if it is not running."""
        if self._thread is None:
            with self._lock:
                self._start_locked()

    def _start_locked(self) -> None:
        if self._thread is None and not self._closed:
            self._connecting = True
            self._thread = threading.Thread(target=self._io_loop, name=f"highway-breaker {self.server}", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Closes the connection and stops reconnecting: waiting requests fail with ``closed``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            waiters = list(self._pending.values())
            self._pending.clear()
            self._deadlines.clear()
            async_ready, self._async_ready = self._async_ready, []
            self._changed.notify_all()
        self._wake()
        error = BreakerError("closed", "the client was closed")
        for w in waiters + async_ready:
            w.complete(error)
        if self._events is not None:
            self._events.put(None)

    def wait_connected(self, timeout: float) -> None:
        """Blocks until connected (and `hello` answered), or raises `BreakerError` ``timeout`` naming the last
        problem (``unauthorized`` when the token was refused)."""
        self.start()
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self._ready:
                self._raise_if_unusable()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BreakerError("timeout", f"could not connect to breakerd at {self.server} within "
                                                  f"{timeout:g} s ({self._last_problem}); check that breakerd runs "
                                                  f"there and that host and port are right")
                self._changed.wait(left)

    def wait_watching(self, prefix: str, timeout: float) -> None:
        """Blocks until the server acknowledged, on the current connection, a watch that covers `prefix`."""
        self.start()
        deadline = time.monotonic() + timeout
        with self._lock:
            while not (self._ready and self._watch_acknowledged is not None
                       and prefix.startswith(self._watch_acknowledged)):
                self._raise_if_unusable()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BreakerError("timeout", f"breakerd did not acknowledge the watch of \"{prefix}\" within "
                                                  f"{timeout:g} s ({self._last_problem})")
                self._changed.wait(left)

    def _raise_if_unusable(self) -> None:
        if self._closed:
            raise BreakerError("closed", "the client was closed")
        if self._refusal is not None:
            raise self._refusal

    # Requests ---------------------------------------------------------------------------------------------------

    def request(self, body: bytes, timeout: float) -> Dict[str, Any]:
        """Sends `body` (a request line written without an id) and blocks for its reply object, at most `timeout`
        seconds. Raises `BreakerError`: ``timeout``, ``unavailable`` (not connected), ``disconnected``."""
        waiter = _SyncWaiter()
        deadline = time.monotonic() + timeout
        rid = self._enqueue(body, waiter, True, deadline)
        if not waiter.lock.acquire(timeout=max(deadline - time.monotonic(), 0)):
            with self._lock:
                mine = self._pending.pop(rid, None)
            if mine is not None:
                raise BreakerError("timeout", f"breakerd did not answer within {timeout * 1000:.0f} ms")
            waiter.lock.acquire()
        if isinstance(waiter.result, BaseException):
            raise waiter.result
        return waiter.result

    async def request_async(self, body: bytes, timeout: float) -> Dict[str, Any]:
        """As `request`, for coroutines: the bytes are handed to the I/O thread, the reply awaited."""
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        if not self._ready and self._connecting and self._sock is None:
            await self._wait_first_connection_async(loop, deadline)
        future = loop.create_future()
        rid = self._enqueue(body, _AsyncWaiter(loop, future), False, None)
        timer = loop.call_later(max(deadline - time.monotonic(), 0), self._time_out, future, rid, timeout)
        try:
            return await future
        except asyncio.CancelledError:
            with self._lock:
                self._pending.pop(rid, None)
            raise
        finally:
            timer.cancel()

    def _time_out(self, future: "asyncio.Future[Any]", rid: int, timeout: float) -> None:
        with self._lock:
            mine = self._pending.pop(rid, None)
        if mine is not None and not future.done():
            future.set_exception(BreakerError("timeout", f"breakerd did not answer within {timeout * 1000:.0f} ms"))

    async def _wait_first_connection_async(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        future = loop.create_future()
        with self._lock:
            if self._ready or not self._connecting or self._closed:
                return
            self._async_ready.append(_AsyncWaiter(loop, future))
        try:
            await asyncio.wait_for(future, max(deadline - time.monotonic(), 0))
        except (asyncio.TimeoutError, BreakerError):
            pass

    def send(self, body: bytes, direct: bool = True) -> None:
        """Sends `body` without waiting for anything (a ``noreply`` report). `direct`: write from this thread
        (non-blocking); else hand it to the I/O thread (from an event loop). Raises like `request`."""
        self._enqueue(body, None, direct, None)

    def send_with_callback(self, body: bytes, callback: Callable[[Any], None], timeout: Optional[float],
                           direct: bool = False) -> None:
        """Sends `body`; `callback` gets the reply object or a `BreakerError`, on the I/O thread."""
        try:
            self._enqueue(body, _CallbackWaiter(callback, timeout), direct, None)
        except BreakerError as error:
            callback(error)

    def _enqueue(self, body: bytes, waiter: Any, direct: bool, deadline: Optional[float]) -> int:
        with self._lock:
            if self._thread is None:
                self._start_locked()
            if self._sock is None and self._connecting and deadline is not None and not self._closed:
                # The first connection attempt is under way: wait for it within the request's timeout.
                while self._sock is None and self._connecting and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
            if self._closed:
                raise BreakerError("closed", "the client was closed")
            if self._refusal is not None:
                raise self._refusal
            if self._sock is None:
                raise BreakerError("unavailable", f"not connected to breakerd at {self.server} "
                                                  f"({self._last_problem}); reconnecting")
            if self._unsent_locked() > MAXIMUM_OUTBOUND_BYTES:
                raise BreakerError("unavailable", f"breakerd at {self.server} is not reading this client's requests "
                                                  f"({MAXIMUM_OUTBOUND_BYTES // 1_048_576} MiB wait to be sent); "
                                                  f"the request was not sent")
            rid = self._next_id
            self._next_id = rid + 1
            if waiter is None:
                self._outbound += body
            else:
                self._pending[rid] = waiter
                if type(waiter) is _CallbackWaiter and waiter.deadline_ns is not None:
                    self._deadlines[rid] = waiter.deadline_ns
                self._outbound += b'{"id":%d,' % rid
                self._outbound += memoryview(body)[1:]
            if direct:
                self._flush_locked()
            wake = self._unsent_locked() > 0 or type(waiter) is _CallbackWaiter
        if wake:
            self._wake()
        return rid

    def _unsent_locked(self) -> int:
        """Request bytes not yet taken by the socket (encrypted or not)."""
        return len(self._outbound) + (self._tls.unsent if self._tls is not None else 0)

    def _flush_locked(self) -> None:
        """Sends what the socket takes now, without blocking. With TLS, what waits is encrypted first."""
        if self._sock is None:
            return
        tls = self._tls
        if tls is not None:
            if self._outbound:
                try:
                    tls.encrypt(bytes(self._outbound))
                except ssl.SSLError as e:
                    self._last_problem = f"TLS failed: {e}"
                    try:
                        self._sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                finally:
                    self._outbound.clear()
            tls.send(self._sock)
            return
        if not self._outbound:
            return
        try:
            sent = self._sock.send(self._outbound)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # the I/O thread sees the connection end
        del self._outbound[:sent]

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass

    # Subscriptions ----------------------------------------------------------------------------------------------

    def subscribe(self, prefix: str, handler: Callable[[p.Event], None]) -> int:
        """`handler` gets every event of a resource starting with `prefix`, on the I/O thread (keep it short;
        `dispatch` runs longer work on the event thread). The connection watches the longest common prefix of
        its subscribers'."""
        with self._lock:
            sid = self._next_subscriber
            self._next_subscriber += 1
            self._subscribers[sid] = _Subscriber(prefix, handler)
            self._update_watch_locked()
            self._start_locked()
        self._wake()
        return sid

    def unsubscribe(self, sid: int) -> None:
        with self._lock:
            if self._subscribers.pop(sid, None) is not None:
                self._update_watch_locked()
        self._wake()

    def _update_watch_locked(self) -> None:
        prefixes = [s.prefix for s in self._subscribers.values()]
        wanted = os.path.commonprefix(prefixes) if prefixes else None
        if wanted == self._watch_requested or self._sock is None or self._closed:
            return
        self._watch_requested = wanted
        connection = self._connections
        request = p.Watch(wanted) if wanted is not None else p.Unwatch()
        rid = self._next_id
        self._next_id = rid + 1
        self._pending[rid] = _CallbackWaiter(lambda reply: self._watch_answered(wanted, connection, reply), None)
        self._outbound += p.encode(request, rid)

    def _watch_answered(self, prefix: Optional[str], connection: int, reply: Any) -> None:
        if isinstance(reply, BaseException):
            return  # the connection ended: the next one asks again
        if reply.get("ok") is False:
            logger.warning("highway_breaker: breakerd refused to watch %r: %s", prefix, p.error_of(reply))
            return
        with self._lock:
            if self._connections == connection:
                self._watch_acknowledged = prefix
                self._changed.notify_all()

    def dispatch(self, work: Callable[[], None]) -> None:
        """Runs `work` on this connection's event thread (in order), away from the I/O thread: state-change
        handlers may take their time, or make calls through breakerd."""
        if self._events is None:
            with self._lock:
                if self._events is None:
                    self._events = queue.SimpleQueue()
                    self._dispatcher = threading.Thread(target=self._dispatch_loop, args=(self._events,),
                                                        name=f"highway-breaker events {self.server}", daemon=True)
                    self._dispatcher.start()
        self._events.put(work)

    @staticmethod
    def _dispatch_loop(events: "queue.SimpleQueue[Optional[Callable[[], None]]]") -> None:
        while True:
            work = events.get()
            if work is None:
                return
            try:
                work()
            except Exception:  # noqa: BLE001 - a handler's bug must not stop the others
                logger.exception("highway_breaker: an on_state_change handler failed")

    # Leases -------------------------------------------------------------------------------------------------------

    def leases(self) -> Any:
        """The connection's `LeaseKeeper` (created on first use)."""
        if self._keeper is None:
            from ._lease import LeaseKeeper
            with self._lock:
                if self._keeper is None:
                    self._keeper = LeaseKeeper(self.lease_flush_interval, wake=self._wake)
        return self._keeper

    # ----------------------------------------------------------------------------------------------------------
    # The I/O thread

    def _io_loop(self) -> None:
        attempt = 0
        reconnect_at = time.monotonic()
        buffer = b""
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        registered = -1
        while True:
            with self._lock:
                closed, sock, wants_write, tls = self._closed, self._sock, self._unsent_locked() > 0, self._tls
            if closed:
                break
            if sock is None:
                if registered >= 0:
                    poller.unregister(registered)
                    registered = -1
                if time.monotonic() >= reconnect_at:
                    if self._connect():
                        attempt = 0
                        buffer = b""
                        continue
                    attempt += 1
                    # With several servers the next is tried at once; the backoff counts whole rounds.
                    n = len(self.servers)
                    if attempt % n != 0 or self._redirect is not None:
                        reconnect_at = time.monotonic()
                    else:
                        reconnect_at = time.monotonic() + self.reconnect_backoff.delay(attempt // n).total_seconds()
                    continue
                self._poll(poller, self._plan(reconnect_at))
                continue
            fd = sock.fileno()
            if registered != fd:
                if registered >= 0:
                    poller.unregister(registered)
                poller.register(fd, select.POLLIN)
                registered = fd
            lease_due = self._keeper.drive(self) if self._keeper is not None else None
            poller.modify(fd, select.POLLIN | (select.POLLOUT if wants_write else 0))
            events = self._poll(poller, self._plan(lease_due))
            revents = events.get(fd, 0)
            if revents & select.POLLOUT:
                with self._lock:
                    self._flush_locked()
            if not revents & (select.POLLIN | select.POLLHUP | select.POLLERR):
                continue
            lost = None
            while True:
                try:
                    chunk = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as e:
                    lost = f"reading failed ({e.strerror or e})"
                    break
                if not chunk:
                    lost = "the server closed the connection"
                    break
                if tls is not None:
                    with self._lock:
                        plain, lost = tls.receive(chunk)
                        self._flush_locked()
                        if lost is not None:
                            self._last_problem = lost
                    buffer += plain
                    if lost is not None:
                        break
                else:
                    buffer += chunk
                if len(chunk) < 65536:
                    break
            if b"\n" in buffer:
                lines = buffer.split(b"\n")
                buffer = lines.pop()
                self._deliver(lines)
            if lost is not None:
                self._disconnect(sock, lost)
                buffer = b""
                # To a cluster's leader, or on to the next replica: at once. The same server: after one step.
                if self._redirect is not None or len(self.servers) > 1:
                    attempt, reconnect_at = 0, time.monotonic()
                else:
                    attempt = 1
                    reconnect_at = time.monotonic() + self.reconnect_backoff.delay(attempt).total_seconds()
        with self._lock:
            sock, self._sock, self._tls = self._sock, None, None
        if sock is not None:
            sock.close()

    def _poll(self, poller: "select.poll", timeout_ms: int) -> Dict[int, int]:
        events = dict(poller.poll(timeout_ms))
        if events.get(self._wake_r, 0):
            try:
                while os.read(self._wake_r, 4096):
                    pass
            except (BlockingIOError, OSError):
                pass
        return events

    def _plan(self, wake_at: Optional[float]) -> int:
        """Fails callback waiters whose deadline passed; returns the poll timeout in ms (-1: none)."""
        now_ns = time.monotonic_ns()
        expired: List[Any] = []
        earliest = None if wake_at is None else wake_at
        with self._lock:
            for rid, deadline in list(self._deadlines.items()):
                if deadline <= now_ns:
                    del self._deadlines[rid]
                    w = self._pending.pop(rid, None)
                    if w is not None:
                        expired.append(w)
                else:
                    d = deadline / 1e9
                    earliest = d if earliest is None else min(earliest, d)
        for w in expired:
            w.complete(BreakerError("timeout", "breakerd did not answer in time"))
        if earliest is None:
            return -1
        return max(0, int((earliest - time.monotonic()) * 1000 + 0.999))

    def _connect(self) -> bool:
        tls: Optional[TLSChannel] = None
        with self._lock:
            target, self._redirect = self._redirect or self.servers[self._server_index % len(self.servers)], None
        try:
            sock = self._open_socket(target)
            if self.ssl_context is not None:
                tls = TLSChannel(self.ssl_context, self.server_hostname or target[0])
                try:
                    tls.handshake(sock, self.connect_timeout)
                except OSError:
                    sock.close()
                    raise
        except OSError as e:
            with self._lock:
                where = f"{target[0]}:{target[1]}: " if len(self.servers) > 1 else ""
                self._last_problem = f"last attempt: {where}{e.strerror or e}"
                self._server_index = (self._server_index + 1) % len(self.servers)
                self._connecting = False
                async_ready, self._async_ready = self._async_ready, []
                self._changed.notify_all()
            for w in async_ready:
                w.complete(None)
            return False
        sends_hello = self.token is not None or self.client_name is not None
        with self._lock:
            self._sock = sock
            self._tls = tls
            self._connected_to = target
            self._refusal = None
            self._outbound.clear()
            self._watch_requested = None
            self._watch_acknowledged = None
            self._connections += 1
            self._connecting = False
            self._ready = not sends_hello
            connection = self._connections
            if sends_hello:
                rid = self._next_id
                self._next_id = rid + 1
                waiter = _CallbackWaiter(lambda reply: self._hello_answered(reply, connection), self.hello_timeout)
                self._pending[rid] = waiter
                self._deadlines[rid] = waiter.deadline_ns
                self._outbound += p.encode(p.Hello(self.token, self.client_name, p.PROTOCOL_VERSION), rid)
            self._update_watch_locked()
            self._flush_locked()
            async_ready, self._async_ready = self._async_ready, []
            self._changed.notify_all()
        for w in async_ready:
            w.complete(None)
        logger.info("highway_breaker: connected to breakerd at %s (connection %d)", self.server, connection)
        return True

    def _open_socket(self, target: Tuple[str, int]) -> socket.socket:
        last: Optional[OSError] = None
        for family, kind, proto, _, address in socket.getaddrinfo(target[0], target[1], type=socket.SOCK_STREAM):
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                err = sock.connect_ex(address)
                if err in (errno.EINPROGRESS, errno.EWOULDBLOCK):
                    _, writable, _ = select.select([], [sock], [], self.connect_timeout)
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if writable else errno.ETIMEDOUT
                if err:
                    raise OSError(err, os.strerror(err))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
            except OSError as e:
                sock.close()
                last = e
        raise last or OSError(errno.EHOSTUNREACH, f"cannot resolve {target[0]!r}")

    def _hello_answered(self, reply: Any, connection: int) -> None:
        if isinstance(reply, BaseException):
            if isinstance(reply, BreakerError) and reply.code == "timeout":
                with self._lock:
                    sock = self._sock if self._connections == connection else None
                if sock is not None:
                    logger.warning("highway_breaker: breakerd did not answer hello in time; reconnecting")
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            return
        refusal = None
        if reply.get("ok") is False and self.token is not None:
            refusal = p.error_of(reply)
            logger.error("highway_breaker: breakerd refused hello: %s", refusal)
        with self._lock:
            if self._connections != connection or self._sock is None:
                return
            if refusal is None:
                self._ready = True
            else:
                self._refusal = refusal
                self._last_problem = f"hello refused: {refusal.message}"
            self._changed.notify_all()

    def _disconnect(self, sock: socket.socket, reason: str) -> None:
        with self._lock:
            if self._sock is not sock:
                return
            self._sock = None
            self._tls = None
            self._connected_to = None
            if self._redirect is None:
                self._server_index = (self._server_index + 1) % len(self.servers)
            self._ready = False
            self._outbound.clear()
            self._watch_requested = None
            self._watch_acknowledged = None
            self._last_problem = f"the last connection ended: {reason}"
            waiters = list(self._pending.values())
            self._pending.clear()
            self._deadlines.clear()
            self._changed.notify_all()
        sock.close()
        if self._keeper is not None:
            self._keeper.connection_lost()
        logger.warning("highway_breaker: lost the connection to breakerd at %s (%s); reconnecting", self.server,
                       reason)
        error = BreakerError("disconnected", "the connection to breakerd was lost before the reply")
        for w in waiters:
            w.complete(error)

    def _follow_leader(self, reply: Dict[str, Any]) -> None:
        """A cluster replica that does not lead names the leader: close this connection and go there at once
        (the requests waiting on it fail with ``disconnected``; the fallback decides meanwhile)."""
        error = reply.get("error")
        if not isinstance(error, dict) or error.get("code") != "not_leader" or not isinstance(error.get("leader"), str):
            return
        try:
            leader = parse_server(error["leader"])
        except ConfigurationError:
            return
        with self._lock:
            if self._sock is None or self._connected_to == leader or self._redirect is not None:
                return
            self._redirect = leader
            self._ready = False
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        logger.info("highway_breaker: breakerd is not the leader; going to the leader at %s", error["leader"])

    def _deliver(self, lines: List[bytes]) -> None:
        replies: List[Tuple[int, Dict[str, Any]]] = []
        events: List[p.Event] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                logger.warning("highway_breaker: breakerd sent a line that is not JSON; ignored")
                continue
            if not isinstance(obj, dict):
                continue
            if "event" in obj:
                try:
                    event = p.decode_event(obj)
                except BreakerError as e:
                    logger.warning("highway_breaker: breakerd sent a malformed event; ignored (%s)", e.message)
                    continue
                if event is not None:
                    events.append(event)
                continue
            rid = obj.get("id")
            if obj.get("ok") is False:
                self._follow_leader(obj)
            if type(rid) is int:
                replies.append((rid, obj))
            elif obj.get("ok") is False:
                logger.warning("highway_breaker: breakerd: %s", p.error_of(obj))
        if replies:
            with self._lock:
                done = [(w, obj) for w, obj in ((self._pending.pop(rid, None), obj) for rid, obj in replies) if w]
                for rid, _ in replies:
                    self._deadlines.pop(rid, None)
            for waiter, obj in done:
                waiter.complete(obj)
        if events:
            with self._lock:
                subscribers = list(self._subscribers.values())
            for event in events:
                for s in subscribers:
                    if event.resource.startswith(s.prefix):
                        try:
                            s.handler(event)
                        except Exception:  # noqa: BLE001
                            logger.exception("highway_breaker: an event handler failed")

    # ----------------------------------------------------------------------------------------------------------
    # Processes

    def _after_fork_in_child(self) -> None:
        """A forked child shares nothing with its parent's connection: start afresh (lazily)."""
        sock = self._sock
        if sock is not None:
            try:
                os.close(sock.detach())
            except OSError:
                pass
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        subscribers = self._subscribers
        next_subscriber = self._next_subscriber
        if self._keeper is not None:
            self._keeper.after_fork()
        self._init_state()
        self._subscribers = subscribers
        self._next_subscriber = next_subscriber

    def flush_outbound(self, timeout: float) -> None:
        """Best effort: waits up to `timeout` seconds until the bytes written so far have left the process."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if not self._unsent_locked() or self._sock is None:
                    return
            self._wake()
            time.sleep(0.005)


_CONNECTIONS: "weakref.WeakSet[Connection]" = weakref.WeakSet()
_SHARED: Dict[Tuple[Any, ...], Connection] = {}
_SHARED_LOCK = threading.Lock()


def shared_connection(servers: Sequence[Tuple[str, int]], token: Optional[str], client_name: Optional[str],
                      tls: Optional["TLSOptions"] = None) -> Connection:
    """The process's one connection to these servers (one, or a cluster's replicas) with this token, client name
    and TLS options."""
    key = (tuple(servers), token, client_name, tls)
    with _SHARED_LOCK:
        connection = _SHARED.get(key)
        if connection is None or connection._closed:
            (host, port), *others = servers
            connection = Connection(host, port, token, client_name,
                                    ssl_context=tls.context() if tls is not None else None,
                                    server_hostname=tls.server_hostname if tls is not None else None,
                                    others=others)
            _SHARED[key] = connection
        return connection


def close_shared_connections() -> None:
    """Closes every shared connection of the process (after sending what is buffered, for at most 0.2 s each);
    breakers created afterwards open new ones. For a clean shutdown, and for tests."""
    with _SHARED_LOCK:
        connections = list(_SHARED.values())
        _SHARED.clear()
    for connection in connections:
        connection.flush_outbound(0.2)
        connection.close()


def _after_fork_in_child() -> None:
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()
    for connection in list(_CONNECTIONS):
        connection._after_fork_in_child()


def _flush_at_exit() -> None:
    for connection in list(_CONNECTIONS):
        connection.flush_outbound(0.2)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_flush_at_exit)
