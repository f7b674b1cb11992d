import BreakerCore

/// What leased mode needs from a connection to breakerd: sending `lease` lines (issue #14).
///
/// The seam between the client's lease bookkeeping (`LeaseKeeper`, `LeaseBook`) and the wire: `ClientCore`
/// implements it once BreakerProtocol has the `lease` op (`{"op":"lease","resources":[…]}` answered by
/// `{"ok":true,"leases":[…]}`, one slot per entry, in order). Until then no client can lease, and
/// `SharedCircuitBreaker(…, consistency: .leased)` says so.
protocol LeaseTransport: Sendable {
    /// Sends `entries` in one `lease` line (or, past the protocol's limit of entries per line, in as many lines
    /// as it takes, answered together), and calls `completion` exactly once, on any thread, with one answer
    /// per entry in the same order, or with the error that stopped the whole request (no connection, a timeout,
    /// an error reply). Each count is at most the protocol's limit per entry (`LeaseKeeper` clamps).
    func sendLease(
        _ entries: [LeaseKeeper.Outgoing],
        completion: @escaping @Sendable (Result<[LeaseKeeper.Answer], BreakerClientError>) -> Void
    )
}
