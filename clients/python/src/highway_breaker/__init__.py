"""Highway Breaker for Python: the seeds' resilience policies, and circuits shared through breakerd.

In-process (no server): `CircuitBreakerPolicy`, `RetryPolicy` with `Backoff`, `Failsafe`.
Shared by every process and language: `SharedCircuitBreakerPolicy` (strict or leased). Operators:
`BreakerAdmin`. The wire codec: `highway_breaker.protocol`.
"""
from ._admin import BreakerAdmin, EventStream
from ._base import ResiliencePolicy
from ._circuit import CircuitBreakerPolicy
from ._clock import ManualClock, SystemClock
from ._connection import close_shared_connections
from ._errors import (
    BreakerError,
    CircuitOpenError,
    ConfigurationError,
    ProtectedCallError,
    RetriesExhaustedError,
    RetryLimitReached,
)
from ._failsafe import Failsafe
from ._policy import BreakerPolicy, CountWindow, Ratio, TimeWindow
from ._retry import Backoff, RetryPolicy
from ._shared import SharedCircuitBreakerPolicy
from ._state import CircuitBreakerState
from .protocol import Breaker, DeletedEvent, ServerStats, Transition, TransitionEvent

__version__ = "0.4.0"

__all__ = [
    "Backoff",
    "Breaker",
    "BreakerAdmin",
    "BreakerError",
    "BreakerPolicy",
    "CircuitBreakerPolicy",
    "CircuitBreakerState",
    "CircuitOpenError",
    "ConfigurationError",
    "CountWindow",
    "EventStream",
    "DeletedEvent",
    "Failsafe",
    "ManualClock",
    "ProtectedCallError",
    "Ratio",
    "ResiliencePolicy",
    "ServerStats",
    "SharedCircuitBreakerPolicy",
    "RetriesExhaustedError",
    "RetryLimitReached",
    "RetryPolicy",
    "SystemClock",
    "TimeWindow",
    "Transition",
    "TransitionEvent",
    "close_shared_connections",
]
