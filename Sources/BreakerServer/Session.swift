import BreakerProtocol

/// The protocol state of one connection.
struct Session {
    /// Nil until a `hello` with a valid token, when token files are configured.
    var role: Role?
    /// The name from `hello`, for logs and the audit log.
    var clientName: String?
    /// Who this connection's outcomes come from, for `min_failing_clients` (`ClientIdentity`): the hash of the
    /// `hello` client name, else of the peer's IP address (set when the connection is accepted); 0: unknown.
    var client: UInt64 = 0
    /// Names this connection to the watcher hub.
    let key: ConnectionKey
    /// True while the connection watches a prefix.
    var watching = false
    /// True once the connection has sent a `lease` entry (it may hold leases, and so receive events).
    var leasing = false

    /// True when events may be delivered to the connection: it watches, or has leased.
    var receivesEvents: Bool { watching || leasing }

    /// Who an operator action is attributed to: the client name, else the role.
    var actor: String { clientName ?? role?.rawValue ?? "anonymous" }
}
