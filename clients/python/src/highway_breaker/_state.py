"""The states of a circuit, as the seeds name them and as the wire protocol spells them."""
from __future__ import annotations

import enum


class CircuitBreakerState(enum.Enum):
    """A circuit's state. `.name` is the seeds' spelling (`CLOSED`), `.value` the wire protocol's (`closed`).

    `FORCED_OPEN` and `FORCED_CLOSED` are set by an operator (`BreakerAdmin.force`, `breakerctl open`).
    """

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    FORCED_CLOSED = "forced_closed"

    def __str__(self) -> str:
        return self.value

    @property
    def allows_calls(self) -> bool:
        """True for the states in which every call goes ahead (`closed`, `forced_closed`)."""
        return self is CircuitBreakerState.CLOSED or self is CircuitBreakerState.FORCED_CLOSED

    @property
    def is_forced(self) -> bool:
        """True for the operator's states."""
        return self is CircuitBreakerState.FORCED_OPEN or self is CircuitBreakerState.FORCED_CLOSED


def state_from_wire(value: object) -> CircuitBreakerState:
    """The state named `value` on the wire; `ValueError` for anything else."""
    try:
        return CircuitBreakerState(value)
    except ValueError:
        raise ValueError(f"unknown state {value!r}") from None
