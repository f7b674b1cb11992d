import BreakerClock
import BreakerCore
import BreakerProtocol
import Logging

/// Answers decoded request lines: authentication, roles, and every operation of protocol v1. It writes replies
/// into the connection's output; it does no I/O itself, so one event-loop pass answers a whole batch.
final class RequestHandler: Sendable {
    /// What the connection should do after a line.
    enum Disposition {
        case keepOpen
        /// Close once the reply has been sent.
        case closeAfterReply
        /// The reply (and everything after it on this connection) waits until the durable writer commits the
        /// change the request made.
        case holdUntilCommit(id: RequestID?)
    }

    let registry: BreakerRegistry
    let hub: WatcherHub
    let stats: ServerStats
    let authenticator: Authenticator
    let expiries: ExpiryQueue
    let clock: any MonotonicClock
    let wallClock: WallClock
    let serverVersion: String
    let logger: Logger
    /// The durable writer's figures, for `stats`.
    let persistenceStats: @Sendable () -> DurableWriter.SnapshotStats

    init(
        registry: BreakerRegistry, hub: WatcherHub, stats: ServerStats, authenticator: Authenticator,
        expiries: ExpiryQueue, clock: any MonotonicClock, wallClock: @escaping WallClock,
        serverVersion: String, logger: Logger, persistenceStats: @escaping @Sendable () -> DurableWriter.SnapshotStats
    ) {
        self.persistenceStats = persistenceStats
        self.registry = registry
        self.hub = hub
        self.stats = stats
        self.authenticator = authenticator
        self.expiries = expiries
        self.clock = clock
        self.wallClock = wallClock
        self.serverVersion = serverVersion
        self.logger = logger
    }

    /// Answers one request line (without its line ending) into `out`.
    func handle(line: UnsafeRawBufferPointer, session: inout Session, out: inout JSONWriter) -> Disposition {
        let request: Request
        do {
            request = try Request.decode(line: line)
        } catch {
            stats.count(error.operation, error: true, loop: session.key.loop)
            if !error.noreply { Reply.error(id: error.id, error.error, into: &out) }
            return .keepOpen
        }
        let op = request.operation.name
        var effects = BreakerRegistry.Effects()
        do {
            try authorize(op, session: session)
            try perform(request, session: &session, effects: &effects, out: &out)
            stats.count(op, error: false, loop: session.key.loop)
        } catch {
            stats.count(op, error: true, loop: session.key.loop)
            if case .report(_, _, _, _, noreply: true) = request.operation { return .keepOpen }
            Reply.error(id: request.id, error, into: &out)
        }
        return effects.awaitsCommit ? .holdUntilCommit(id: request.id) : .keepOpen
    }

    private func authorize(_ op: OperationName, session: Session) throws(ProtocolError) {
        guard let role = session.role else {
            if op == .ping || op == .hello { return }
            throw ProtocolError(.unauthorized, "send {\"op\":\"hello\",\"token\":\"…\"} with a valid token first")
        }
        if op.requiresAdmin && role != .admin {
            throw ProtocolError(.forbidden, "\(op.rawValue) needs the admin role; this connection has the client role")
        }
    }

    /// Performs the operation and writes its success reply.
    private func perform(
        _ request: Request, session: inout Session, effects: inout BreakerRegistry.Effects, out: inout JSONWriter
    ) throws(ProtocolError) {
        let id = request.id
        let waiter = session.key
        switch request.operation {
        case .ping:
            Reply.success(id: id, into: &out)

        case .hello(let token, let client, let version):
            if let version, version != 1 {
                throw ProtocolError(.badRequest, "field 'protocol': this server speaks protocol 1, not \(version)")
            }
            guard let role = authenticator.role(for: token) else {
                logger.notice("hello with an invalid token", metadata: ["client": "\(client ?? "-")"])
                throw ProtocolError(
                    .unauthorized, token == nil ? "this server needs a token: send hello with \"token\"" : "the token is not valid")
            }
            session.role = role
            session.clientName = client ?? session.clientName
            Reply.beginSuccess(id: id, into: &out)
            out.member("server", "breakerd")
            out.member("version", serverVersion)
            out.member("protocol", 1)
            out.member("role", role.rawValue)
            Reply.end(&out)

        case .acquire(let resource, let policy):
            let r = try registry.acquire(resource, policy: policy, waiter: waiter, effects: &effects)
            Reply.beginSuccess(id: id, into: &out)
            out.member("allowed", r.decision.allowed)
            out.member("state", r.state.rawValue)
            out.member("generation", r.generation)
            if let permit = r.decision.permit {
                out.member("permit", permit.description)
            }
            if let wait = r.decision.retryAfter {
                out.member("retry_after_ms", max(wait.millisecondsRoundedUp, 0))
            }
            Reply.end(&out)

        case .report(let resource, let kind, let policy, _, let noreply):
            let r = try registry.report(resource, kind: kind, policy: policy, waiter: waiter, effects: &effects)
            if noreply { return }
            Reply.beginSuccess(id: id, into: &out)
            out.member("state", r.state.rawValue)
            out.member("generation", r.generation)
            out.member("counted", r.result.counted)
            if let reason = r.result.ignoredBecause {
                out.member("reason", reason.rawValue)
            }
            Reply.end(&out)

        case .status(let resource):
            guard let info = registry.status(resource) else { throw notFound(resource) }
            writeBreaker(info, id: id, into: &out)

        case .list(let prefix):
            let all = registry.list(prefix: prefix)
            Reply.beginSuccess(id: id, into: &out)
            out.key("breakers")
            out.beginArray()
            for info in all { info.write(to: &out) }
            out.endArray()
            Reply.end(&out)

        case .configure(let resource, let policy):
            let info = try registry.configure(resource, policy: policy, by: session.actor, waiter: waiter, effects: &effects)
            logger.info("configure", metadata: ["resource": "\(resource)", "by": "\(session.actor)"])
            writeBreaker(info, id: id, into: &out)

        case .force(let resource, let target, let reason, let ttl):
            let info = try registry.force(
                resource, target: target, reason: reason, ttl: ttl, by: session.actor, waiter: waiter, effects: &effects)
            if let ttl { expiries.schedule(resource, at: clock.now + ttl) }
            logger.info(
                "force", metadata: ["resource": "\(resource)", "state": "\(target)", "by": "\(session.actor)",
                    "reason": "\(reason ?? "-")"])
            writeBreaker(info, id: id, into: &out)

        case .release(let resource):
            writeBreaker(try registry.release(resource, by: session.actor, waiter: waiter, effects: &effects), id: id, into: &out)

        case .reset(let resource):
            writeBreaker(try registry.reset(resource, by: session.actor, waiter: waiter, effects: &effects), id: id, into: &out)

        case .delete(let resource):
            guard registry.delete(resource, waiter: waiter, effects: &effects) else { throw notFound(resource) }
            hub.broadcast(resource: resource, line: Event.deleted(resource: resource))
            logger.info("delete", metadata: ["resource": "\(resource)", "by": "\(session.actor)"])
            Reply.success(id: id, into: &out)

        case .watch(let prefix):
            hub.watch(session.key, prefix: prefix)
            session.watching = true
            Reply.success(id: id, into: &out)

        case .unwatch:
            hub.unwatch(session.key)
            session.watching = false
            Reply.success(id: id, into: &out)

        case .history(let resource, let limit):
            guard let records = registry.history(resource, limit: limit) else { throw notFound(resource) }
            Reply.beginSuccess(id: id, into: &out)
            out.key("transitions")
            out.beginArray()
            for r in records {
                out.beginObject()
                r.writeMembers(to: &out)
                out.endObject()
            }
            out.endArray()
            Reply.end(&out)

        case .stats:
            writeStats(id: id, into: &out)
        }
    }

    private func notFound(_ resource: String) -> ProtocolError {
        ProtocolError(.notFound, "no breaker named \"\(resource)\"")
    }

    private func writeBreaker(_ info: BreakerInfo, id: RequestID?, into out: inout JSONWriter) {
        Reply.beginSuccess(id: id, into: &out)
        out.key("breaker")
        info.write(to: &out)
        Reply.end(&out)
    }

    private func writeStats(id: RequestID?, into out: inout JSONWriter) {
        let totals = stats.totals()
        let byState = registry.countsByState()
        Reply.beginSuccess(id: id, into: &out)
        out.key("stats")
        out.beginObject()
        out.member("uptime_ms", max(0, wallClock() - stats.startedAt))
        out.member("connections", stats.currentConnections.load(ordering: .relaxed))
        out.member("connections_total", stats.totalConnections.load(ordering: .relaxed))
        out.member("watchers", hub.count)
        out.key("breakers")
        out.beginObject()
        out.member("total", registry.breakerCount)
        for state in BreakerState.allCases {
            out.dynamicKey(state.rawValue)
            out.integer(byState[state] ?? 0)
        }
        out.endObject()
        out.key("ops")
        out.beginObject()
        for (i, op) in OperationName.allCases.enumerated() {
            out.dynamicKey(op.rawValue)
            out.integer(totals.operations[i])
        }
        out.endObject()
        out.member("errors", totals.errors)
        out.member("transitions", registry.transitionsSinceStart)
        out.member("rejected_connections", stats.rejectedConnections.load(ordering: .relaxed))
        out.member("slow_consumer_disconnects", stats.slowConsumerDisconnects.load(ordering: .relaxed))
        do {
            let p = persistenceStats()
            out.key("snapshot")
            out.beginObject()
            out.member("at_ms", orNull: p.atMs)
            out.member("duration_ms", p.durationMs)
            out.member("rows", p.rows)
            out.member("count", p.count)
            out.member("failures", p.failures)
            out.endObject()
            out.member("commits", p.commits)
            out.member("commit_failures", p.commitFailures)
        }
        out.endObject()
        Reply.end(&out)
    }
}
