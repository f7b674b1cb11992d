/// Thrown instead of running the protected call when the circuit rejects it: open, half-open with every probe
/// permit taken, or forced open. The seeds call this `ProtectedCallError`.
public struct CircuitOpenError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The resource's name, for shared breakers; nil for an unnamed in-process breaker.
    public let resource: String?
    /// The state that rejected the call.
    public let state: BreakerState
    /// How long until asking again is worthwhile.
    public let retryAfter: Duration

    /// Creates the error.
    public init(resource: String?, state: BreakerState, retryAfter: Duration) {
        self.resource = resource
        self.state = state
        self.retryAfter = retryAfter
    }

    public var description: String {
        let name = resource.map { "circuit '\($0)'" } ?? "circuit"
        return "\(name) is \(state): call rejected; retry after \(retryAfter.millisecondsRoundedUp) ms"
    }
}

/// The seeds' name for the rejection error.
public typealias ProtectedCallError = CircuitOpenError
