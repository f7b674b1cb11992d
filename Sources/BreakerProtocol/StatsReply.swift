public import BreakerCore

/// The reply to `stats`: `{"id":…,"ok":true,"stats":{"uptime_ms":…,"connections":…,…}}`, the server's counters.
///
/// Every property has a default (zero, empty), and so has every parameter of `init`, so that a counter added
/// later (metrics) breaks no caller: a new property comes with a default, is written after the existing members,
/// and is optional in `init(json:)` (a server that predates it leaves it out), as `snapshot`, `commits` and
/// `commit_failures` already are.
public struct StatsReply: Sendable, Hashable {
    /// The breakers held, in total and per state.
    public struct Breakers: Sendable, Hashable {
        /// How many breakers the server holds.
        public var total: Int
        /// How many are in each state; states with none are left out (`count(in:)` reads 0 for them).
        public var byState: [BreakerState: Int]

        /// Creates the figures (zero counts are left out of `byState`).
        public init(total: Int = 0, byState: [BreakerState: Int] = [:]) {
            self.total = total
            self.byState = byState.filter { $0.value != 0 }
        }

        /// How many breakers are in `state`.
        public func count(in state: BreakerState) -> Int { byState[state] ?? 0 }
    }

    /// The last snapshot of every breaker's window to the database.
    public struct Snapshot: Sendable, Hashable {
        /// When it was written, in milliseconds since the Unix epoch; nil before the first.
        public var atMs: Int64?
        /// How long it took, in milliseconds.
        public var durationMs: Int64
        /// How many rows it wrote.
        public var rows: Int
        /// How many snapshots were written since the start.
        public var count: Int
        /// How many snapshots failed since the start.
        public var failures: Int

        /// Creates the figures.
        public init(atMs: Int64? = nil, durationMs: Int64 = 0, rows: Int = 0, count: Int = 0, failures: Int = 0) {
            self.atMs = atMs
            self.durationMs = durationMs
            self.rows = rows
            self.count = count
            self.failures = failures
        }
    }

    /// Time since the server started, in milliseconds.
    public var uptimeMs: Int64
    /// Connections open now.
    public var connections: Int
    /// Connections accepted since the start.
    public var connectionsTotal: Int
    /// Connections watching now.
    public var watchers: Int
    /// The breakers held.
    public var breakers: Breakers
    /// Requests since the start, per operation; operations with none are left out (`count(of:)` reads 0).
    public var operations: [OperationName: Int]
    /// Requests answered with an error since the start.
    public var errors: Int
    /// Breaker transitions since the start.
    public var transitions: Int
    /// Connections refused since the start (too many connections).
    public var rejectedConnections: Int
    /// Watchers disconnected since the start because they did not read their events.
    public var slowConsumerDisconnects: Int
    /// The last snapshot to the database.
    public var snapshot: Snapshot
    /// Durable changes committed to the database since the start.
    public var commits: Int
    /// Commits that failed since the start.
    public var commitFailures: Int

    /// Creates the reply.
    public init(
        uptimeMs: Int64 = 0,
        connections: Int = 0,
        connectionsTotal: Int = 0,
        watchers: Int = 0,
        breakers: Breakers = Breakers(),
        operations: [OperationName: Int] = [:],
        errors: Int = 0,
        transitions: Int = 0,
        rejectedConnections: Int = 0,
        slowConsumerDisconnects: Int = 0,
        snapshot: Snapshot = Snapshot(),
        commits: Int = 0,
        commitFailures: Int = 0
    ) {
        self.uptimeMs = uptimeMs
        self.connections = connections
        self.connectionsTotal = connectionsTotal
        self.watchers = watchers
        self.breakers = breakers
        self.operations = operations.filter { $0.value != 0 }
        self.errors = errors
        self.transitions = transitions
        self.rejectedConnections = rejectedConnections
        self.slowConsumerDisconnects = slowConsumerDisconnects
        self.snapshot = snapshot
        self.commits = commits
        self.commitFailures = commitFailures
    }

    /// How many `operation` requests the server answered since the start.
    public func count(of operation: OperationName) -> Int { operations[operation] ?? 0 }

    /// Writes the whole reply line, newline included.
    public func write(id: RequestID?, into w: inout JSONWriter) {
        Reply.beginSuccess(id: id, into: &w)
        w.key("stats")
        writeObject(to: &w)
        Reply.end(&w)
    }

    /// Writes the `stats` object alone (what `breakerctl stats --json` prints). Every state and every operation
    /// is written, in declaration order, zero or not.
    public func writeObject(to w: inout JSONWriter) {
        w.beginObject()
        w.member("uptime_ms", uptimeMs)
        w.member("connections", connections)
        w.member("connections_total", connectionsTotal)
        w.member("watchers", watchers)
        w.key("breakers")
        w.beginObject()
        w.member("total", breakers.total)
        for state in BreakerState.allCases {
            w.dynamicKey(state.rawValue)
            w.integer(breakers.count(in: state))
        }
        w.endObject()
        w.key("ops")
        w.beginObject()
        for operation in OperationName.allCases {
            w.dynamicKey(operation.rawValue)
            w.integer(count(of: operation))
        }
        w.endObject()
        w.member("errors", errors)
        w.member("transitions", transitions)
        w.member("rejected_connections", rejectedConnections)
        w.member("slow_consumer_disconnects", slowConsumerDisconnects)
        w.key("snapshot")
        w.beginObject()
        w.member("at_ms", orNull: snapshot.atMs)
        w.member("duration_ms", snapshot.durationMs)
        w.member("rows", snapshot.rows)
        w.member("count", snapshot.count)
        w.member("failures", snapshot.failures)
        w.endObject()
        w.member("commits", commits)
        w.member("commit_failures", commitFailures)
        w.endObject()
    }

    /// Decodes a reply object. Unknown members, states and operations are ignored; zero counts are left out of
    /// the dictionaries.
    public init(json: JSONValue) throws(ReplyDecodingError) {
        let s = try json.object("stats")
        let b = try s.object("breakers")
        var byState: [BreakerState: Int] = [:]
        for state in BreakerState.allCases {
            if let n = b.optionalInt(state.rawValue), n != 0 { byState[state] = Int(clamping: n) }
        }
        var operations: [OperationName: Int] = [:]
        let ops = try s.object("ops")
        for operation in OperationName.allCases {
            if let n = ops.optionalInt(operation.rawValue), n != 0 { operations[operation] = Int(clamping: n) }
        }
        // `snapshot`, `commits` and `commit_failures` are additive fields of protocol 1 (a server without a
        // database leaves them out).
        var snapshot = Snapshot()
        if let snap = s["snapshot"], case .object = snap {
            snapshot = Snapshot(
                atMs: snap.optionalInt("at_ms"),
                durationMs: try snap.int("duration_ms"),
                rows: try snap.count("rows"),
                count: try snap.count("count"),
                failures: try snap.count("failures")
            )
        }
        self.init(
            uptimeMs: try s.int("uptime_ms"),
            connections: try s.count("connections"),
            connectionsTotal: try s.count("connections_total"),
            watchers: try s.count("watchers"),
            breakers: Breakers(total: try b.count("total"), byState: byState),
            operations: operations,
            errors: try s.count("errors"),
            transitions: try s.count("transitions"),
            rejectedConnections: try s.count("rejected_connections"),
            slowConsumerDisconnects: try s.count("slow_consumer_disconnects"),
            snapshot: snapshot,
            commits: Int(clamping: s.optionalInt("commits") ?? 0),
            commitFailures: Int(clamping: s.optionalInt("commit_failures") ?? 0)
        )
    }
}
