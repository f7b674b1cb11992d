"""The errors the library raises."""
from __future__ import annotations

from datetime import timedelta
from typing import Optional

from ._state import CircuitBreakerState


class ProtectedCallError(Exception):
    """Raised instead of running the protected call when the circuit rejects it: open, half-open with every
    probe permit taken, or forced open. The seeds' name; `CircuitOpenError` is the same class.

    Attributes:
        resource: the shared resource's name, or the in-process breaker's `name` (None when unnamed).
        state: the state that rejected the call.
        retry_after: how long until asking again is worthwhile (the cooldown or force left; from the fallback,
            the client's reconnect delay).
        source: who decided: ``"server"`` (the shared circuit on breakerd), ``"local"`` (an in-process
            breaker, also as a shared breaker's ``"local"`` fallback) or ``"fallback"`` (a shared breaker's
            ``"reject"`` fallback, or a resource last seen forced open, while breakerd cannot be asked).
    """

    def __init__(
        self,
        resource: Optional[str] = None,
        state: CircuitBreakerState = CircuitBreakerState.OPEN,
        retry_after: timedelta = timedelta(0),
        source: str = "local",
    ) -> None:
        self.resource = resource
        self.state = state
        self.retry_after = retry_after
        self.source = source
        super().__init__(self._message())

    def _message(self) -> str:
        name = f"circuit '{self.resource}'" if self.resource else "circuit"
        ms = -(-self.retry_after // timedelta(milliseconds=1)) if self.retry_after > timedelta(0) else 0
        if self.source == "server":
            return f"{name} is {self.state.value} on breakerd: call rejected; retry after {ms} ms"
        if self.source == "fallback":
            why = ("it was last seen forced_open" if self.state is CircuitBreakerState.FORCED_OPEN
                   else "the fallback is \"reject\"")
            return (f"{name}: call rejected by the fallback, because breakerd cannot be asked and {why}; "
                    f"the client tries to reconnect within {ms} ms")
        return f"{name} is {self.state.value}: call rejected; retry after {ms} ms"

    def __reduce__(self):
        return (type(self), (self.resource, self.state, self.retry_after, self.source))


#: The Swift library's name for `ProtectedCallError`.
CircuitOpenError = ProtectedCallError


class RetriesExhaustedError(Exception):
    """Raised by `RetryPolicy` when every retry was used and the last attempt still failed with a handled
    error. The last error is `last_error`, and also `__cause__`.

    Attributes:
        attempts: attempts made in all (the first call plus every retry).
        last_error: the error of the last attempt.
    """

    def __init__(self, attempts: int, last_error: BaseException) -> None:
        self.attempts = attempts
        self.last_error = last_error
        retries = attempts - 1
        super().__init__(
            f"gave up after {attempts} attempt{'s' if attempts != 1 else ''} "
            f"({retries} retr{'y' if retries == 1 else 'ies'}); last error: {last_error!r}"
        )

    def __reduce__(self):
        return (type(self), (self.attempts, self.last_error))


#: The seeds' later name for `RetriesExhaustedError`.
RetryLimitReached = RetriesExhaustedError


class ConfigurationError(ValueError):
    """A value given to a policy, a client or the admin cannot work. `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.problem = message
        super().__init__(f"{field}: {message}")


class BreakerError(Exception):
    """An error from breakerd (its protocol error code) or from the client itself.

    Attributes:
        code: the protocol's code (``"not_found"``, ``"forbidden"``, ``"invalid_policy"``, ...; a code this
            client does not know is kept as it came), or the client's own: ``"timeout"`` (no reply within the
            timeout), ``"unavailable"`` (not connected; the client reconnects by itself), ``"disconnected"``
            (the connection was lost before the reply), ``"closed"`` (the client was closed),
            ``"malformed_reply"`` (the server's reply could not be read).
        message: what was wrong, and where it can say so, what to do.
        leader: with ``"not_leader"`` (a cluster replica that does not lead): the leader's ``HOST:PORT``, when
            the replica knows it.
    """

    #: The codes for "breakerd cannot be asked right now": the client's own, and a cluster replica that does not
    #: lead (the client is on its way to the leader).
    UNREACHABLE_CODES = frozenset({"timeout", "unavailable", "disconnected", "not_leader"})

    def __init__(self, code: str, message: str, leader: Optional[str] = None) -> None:
        self.code = code
        self.message = message
        self.leader = leader
        super().__init__(f"{code}: {message}")

    @property
    def server_unreachable(self) -> bool:
        """True when the error says breakerd could not be asked (a shared breaker's fallback decides)."""
        return self.code in self.UNREACHABLE_CODES

    def __reduce__(self):
        return (type(self), (self.code, self.message))
