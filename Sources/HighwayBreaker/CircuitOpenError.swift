/// Thrown instead of running the protected call when the circuit rejects it: open, half-open with every probe
/// permit taken, or forced open. The seeds call this `ProtectedCallError`.
///
/// `source` says who decided: the shared circuit on `breakerd`, an in-process breaker, or a
/// `SharedCircuitBreaker`'s fallback while `breakerd` could not be asked (then `retryAfter` is the client's
/// reconnect delay, not a cooldown).
public struct CircuitOpenError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Who rejected the call.
    public enum Source: String, Sendable, Hashable {
        /// The shared circuit on `breakerd`.
        case server
        /// An in-process breaker (`CircuitBreakerPolicy`, also as a `SharedCircuitBreaker`'s `.local` fallback).
        case local
        /// A `SharedCircuitBreaker`'s fallback while `breakerd` cannot be asked: `.reject`, or a resource last
        /// seen forced open.
        case fallback
    }

    /// The resource's name, for shared breakers; nil for an unnamed in-process breaker.
    public let resource: String?
    /// The state that rejected the call (for the fallback: `open` for `.reject`, or the `forced_open` last seen).
    public let state: BreakerState
    /// How long until asking again is worthwhile: the cooldown or force time left, or (from the fallback) the
    /// client's reconnect delay.
    public let retryAfter: Duration
    /// Who rejected the call.
    public let source: Source

    /// Creates the error.
    public init(resource: String?, state: BreakerState, retryAfter: Duration, source: Source = .local) {
        self.resource = resource
        self.state = state
        self.retryAfter = retryAfter
        self.source = source
    }

    /// What was rejected, in which state, and when to try again.
    public var description: String {
        let name = resource.map { "circuit '\($0)'" } ?? "circuit"
        let ms = retryAfter.millisecondsRoundedUp
        switch source {
        case .server:
            return "\(name) is \(state) on breakerd: call rejected; retry after \(ms) ms"
        case .local:
            return "\(name) is \(state): call rejected; retry after \(ms) ms"
        case .fallback:
            let why = state == .forcedOpen ? "it was last seen forced_open" : "the fallback is .reject"
            return "\(name): call rejected by the fallback, because breakerd cannot be asked and \(why); "
                + "the client tries to reconnect within its reconnect delay of \(ms) ms"
        }
    }
}

/// The seeds' name for the rejection error.
public typealias ProtectedCallError = CircuitOpenError
