/// One entry of a breaker's audit log (`history`), and the body of a `transition` event.
///
/// Wall-clock times only: the record is kept in the database and sent to clients, where the monotonic clock
/// means nothing. Its JSON form is in BreakerProtocol (`writeMembers(to:)`, `init(json:)`).
public struct TransitionRecord: Sendable, Hashable {
    /// The most audit-log entries kept per breaker, in memory and in the database (and the most `history`
    /// returns).
    public static let retentionLimit = 1_000

    /// The state before.
    public var from: BreakerState
    /// The state after.
    public var to: BreakerState
    /// Why it happened.
    public var cause: TransitionCause
    /// The breaker's generation after the transition.
    public var generation: UInt64
    /// When it happened, in milliseconds since the Unix epoch.
    public var atMs: Int64
    /// Who caused it, for operator actions (the connection's client name or role).
    public var by: String?
    /// Why, for operator actions that gave a reason.
    public var reason: String?
    /// True when the breaker was in shadow mode (the transition was not enforced).
    public var shadow: Bool

    /// Creates a record; `atMs` is in milliseconds since the Unix epoch.
    public init(
        from: BreakerState,
        to: BreakerState,
        cause: TransitionCause,
        generation: UInt64,
        atMs: Int64,
        by: String? = nil,
        reason: String? = nil,
        shadow: Bool = false
    ) {
        self.from = from
        self.to = to
        self.cause = cause
        self.generation = generation
        self.atMs = atMs
        self.by = by
        self.reason = reason
        self.shadow = shadow
    }
}
