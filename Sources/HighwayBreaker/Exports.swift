@_exported public import BreakerClock
@_exported public import BreakerCore

/// The seeds' name for the breaker's states.
public typealias CircuitBreakerState = BreakerState
