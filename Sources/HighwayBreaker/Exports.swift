@_exported public import BreakerClock
@_exported public import BreakerCore
@_exported public import BreakerProtocol

/// The seeds' name for the breaker's states.
public typealias CircuitBreakerState = BreakerState
