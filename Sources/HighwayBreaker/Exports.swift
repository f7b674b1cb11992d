@_exported public import BreakerClock
@_exported public import BreakerCore
@_exported public import BreakerProtocol
// The clients' and policies' initialisers take a `Logger`: users need not import Logging themselves.
@_exported public import Logging

/// The seeds' name for the breaker's states.
public typealias CircuitBreakerState = BreakerState
