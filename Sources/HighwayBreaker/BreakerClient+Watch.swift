public import BreakerProtocol

/// Events: the client asks the server to watch the longest common prefix of its subscribers' prefixes (one
/// `watch` per connection, with an id, its reply awaited), and hands each event to the subscribers it concerns.
extension BreakerClient {
    /// Events of the resources whose names start with `prefix`, from every client of the server, until the
    /// stream is dropped or the client shuts down. The subscription survives reconnects (events while
    /// disconnected are missed). `waitUntilWatching(prefix:timeout:)` waits until the server watches.
    public func watch(prefix: String = "") -> AsyncStream<BreakerEvent> {
        AsyncStream { continuation in
            let id = core.subscribe(
                prefix: prefix,
                handler: { continuation.yield($0) },
                finish: { continuation.finish() }
            )
            continuation.onTermination = { [core] _ in core.unsubscribe(id) }
        }
    }

    /// Calls `handler` (on the client's I/O thread: keep it short) with each event of the resources whose
    /// names start with `prefix`. Returns a token for `unsubscribe(_:)`. The server is asked to watch when the
    /// client is connected (now, or on connecting); events before it acknowledged are missed.
    @discardableResult
    public func subscribe(prefix: String, _ handler: @escaping @Sendable (BreakerEvent) -> Void) -> UInt64 {
        core.subscribe(prefix: prefix, handler: handler)
    }

    /// `subscribe(prefix:_:)`, returning once the server acknowledged the watch: every transition the server
    /// makes after this returns reaches `handler`. On failure the subscription is removed.
    ///
    /// - Throws: `BreakerClientError` `timeout` when the server did not acknowledge within `timeout` (for
    ///   example while it is unreachable), `closed`, `cancelled`, or the error the server refused `watch` with.
    @discardableResult
    public func subscribe(
        prefix: String,
        acknowledgedWithin timeout: Duration,
        _ handler: @escaping @Sendable (BreakerEvent) -> Void
    ) async throws(BreakerClientError) -> UInt64 {
        let id = core.subscribe(prefix: prefix, handler: handler)
        do {
            try await waitUntilWatching(prefix: prefix, timeout: timeout)
        } catch {
            core.unsubscribe(id)
            throw error
        }
        return id
    }

    /// Waits until the server has acknowledged, on the current connection, a watch that covers `prefix` (after
    /// `subscribe` or `watch` with that prefix, or a shorter one). Returns at once when it has.
    ///
    /// - Throws: `BreakerClientError` `timeout`, `closed`, `cancelled`, or `unauthorized` when the token was refused.
    public func waitUntilWatching(prefix: String, timeout: Duration = .seconds(5)) async throws(BreakerClientError) {
        try await core.wait(until: .watching(prefix: prefix), timeout: timeout)
    }

    /// Ends a subscription.
    public func unsubscribe(_ id: UInt64) {
        core.unsubscribe(id)
    }
}
