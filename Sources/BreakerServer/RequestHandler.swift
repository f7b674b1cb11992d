import BreakerClock
import BreakerCore
import BreakerProtocol
import BreakerStore
import Logging

/// Answers decoded request lines: authentication, roles, and every operation of protocol v1. It writes replies
/// into the connection's output and publishes what the registry changed; it does no I/O itself, so one
/// event-loop pass answers a whole batch.
final class RequestHandler: Sendable {
    /// What the connection must do after a line.
    struct Answer {
        enum Disposition {
            /// The reply (if any) was written; go on.
            case done
            /// The reply was written; close once it has been sent.
            case closeAfterReply
            /// The request changed something durable: its reply, and everything after it on this connection,
            /// waits until the durable writer commits (the connection is the change's waiter).
            case hold(HeldReply)
        }

        var disposition: Disposition
        /// A force TTL to watch: at that instant the breaker's force ends by itself.
        var expiry: (resource: String, at: MonotonicInstant)?

        static let done = Answer(disposition: .done)
    }

    let registry: BreakerRegistry
    let publisher: ChangePublisher
    let hub: WatcherHub
    /// Reads transitions older than those kept in memory.
    /// Older transitions than memory holds, from the SQLite file (nil in cluster mode: memory only).
    let historyReader: HistoryReader?
    /// Cluster mode's gate (nil: a single server, which always serves).
    let gate: ClusterGate?
    let stats: ServerStats
    let authenticator: Authenticator
    let wallClock: WallClock
    let serverVersion: String
    let logger: Logger
    /// The durable writer's figures, for `stats`.
    let persistenceStats: @Sendable () -> DurableWriter.SnapshotStats

    init(
        registry: BreakerRegistry,
        publisher: ChangePublisher,
        hub: WatcherHub,
        historyReader: HistoryReader?,
        stats: ServerStats,
        authenticator: Authenticator,
        wallClock: @escaping WallClock,
        serverVersion: String,
        logger: Logger,
        persistenceStats: @escaping @Sendable () -> DurableWriter.SnapshotStats,
        gate: ClusterGate? = nil
    ) {
        self.registry = registry
        self.publisher = publisher
        self.hub = hub
        self.historyReader = historyReader
        self.stats = stats
        self.authenticator = authenticator
        self.wallClock = wallClock
        self.serverVersion = serverVersion
        self.logger = logger
        self.persistenceStats = persistenceStats
        self.gate = gate
    }

    /// Answers one request line (without its line ending) into `out`.
    func handle(line: UnsafeRawBufferPointer, session: inout Session, out: inout JSONWriter) -> Answer {
        let request: Request
        do {
            request = try Request.decode(line: line)
        } catch {
            stats.count(error.operation, error: error.error.code, loop: session.key.loop)
            if !error.noreply { Reply.error(id: error.id, error.error, into: &out) }
            return .done
        }
        let op = request.operation.name
        do {
            try authorize(op, session: session)
            let answer = try perform(request, session: &session, out: &out)
            stats.count(op, error: nil, loop: session.key.loop)
            return answer
        } catch {
            stats.count(op, error: error.code, loop: session.key.loop)
            if case .report(_, _, _, _, noreply: true) = request.operation { return .done }
            Reply.error(id: request.id, error, into: &out)
            return .done
        }
    }

    private func authorize(_ op: OperationName, session: Session) throws(ProtocolError) {
        guard let role = session.role else {
            if op == .ping || op == .hello { return }
            throw ProtocolError(.unauthorized, "send {\"op\":\"hello\",\"token\":\"…\"} with a valid token first")
        }
        if op.requiresAdmin && role != .admin {
            throw ProtocolError(.forbidden, "\(op.rawValue) needs the admin role; this connection has the client role")
        }
        // A cluster replica serves breaker operations only while it leads.
        if let gate, !op.answeredByEveryReplica, !gate.mayServe() { throw gate.notLeader() }
    }

    /// Publishes the change a request made, with the connection as the waiter of its commit.
    private func hold<Value>(
        _ result: RegistryResult<Value>,
        _ session: Session,
        id: RequestID?,
        _ body: (Value) -> HeldReply.Body
    ) -> Answer? {
        guard let change = result.change else { return nil }
        publisher.publish(change, waiter: session.key)
        return Answer(disposition: .hold(HeldReply(id: id, body: body(result.value))))
    }

    /// Performs the operation: writes its reply, or returns the reply to hold.
    private func perform(
        _ request: Request,
        session: inout Session,
        out: inout JSONWriter
    ) throws(ProtocolError)
        -> Answer
    {
        let id = request.id
        switch request.operation {
        case .ping:
            Reply.success(id: id, into: &out)

        case .hello(let token, let client, let version):
            try hello(token: token, client: client, version: version, id: id, session: &session, out: &out)

        case .acquire(let resource, let policy):
            let r = try registry.acquire(resource, policy: policy)
            if let held = hold(r, session, id: id, { .acquire($0) }) { return held }
            r.value.write(id: id, into: &out)

        case .report(let resource, let kind, let policy, let durationMs, let noreply):
            let r = try registry.report(
                resource,
                kind: kind,
                policy: policy,
                durationMs: durationMs,
                client: session.client
            )
            if let held = hold(r, session, id: id, { noreply ? .none : .report($0) }) { return held }
            if !noreply { r.value.write(id: id, into: &out) }

        case .lease(let entries):
            return lease(entries, id: id, session: &session, out: &out)

        case .status(let resource):
            guard var info = registry.status(resource) else { throw notFound(resource) }
            let leases = hub.leaseCount(resource)
            if leases > 0 { info.leases = leases }
            BreakerReply(breaker: info).write(id: id, into: &out)

        case .list(let prefix, let after, let limit):
            let page = registry.list(prefix: prefix, after: after, limit: limit)
            ListReply(breakers: page.breakers, next: page.next).write(id: id, into: &out)

        case .configure(let resource, let policy):
            let r = try registry.configure(resource, policy: policy, by: session.actor)
            logger.info("configure", metadata: ["resource": "\(resource)", "by": LogText.value(session.actor)])
            if let held = hold(r, session, id: id, { .breaker($0) }) { return held }
            BreakerReply(breaker: r.value).write(id: id, into: &out)

        case .force(let resource, let target, let reason, let ttl):
            let r = try registry.force(resource, target: target, reason: reason, ttl: ttl, by: session.actor)
            logger.info(
                "force",
                metadata: [
                    "resource": "\(resource)", "state": "\(target)", "by": LogText.value(session.actor),
                    "reason": LogText.value(reason),
                ]
            )
            var answer = hold(r, session, id: id, { .breaker($0.info) }) ?? .done
            if case .done = answer.disposition { BreakerReply(breaker: r.value.info).write(id: id, into: &out) }
            answer.expiry = r.value.expiry.map { (resource, $0) }
            return answer

        case .release(let resource):
            let r = try registry.release(resource, by: session.actor)
            if let held = hold(r, session, id: id, { .breaker($0) }) { return held }
            BreakerReply(breaker: r.value).write(id: id, into: &out)

        case .reset(let resource):
            let r = try registry.reset(resource, by: session.actor)
            if let held = hold(r, session, id: id, { .breaker($0) }) { return held }
            BreakerReply(breaker: r.value).write(id: id, into: &out)

        case .delete(let resource):
            let r = registry.delete(resource)
            guard r.value else { throw notFound(resource) }
            logger.info("delete", metadata: ["resource": "\(resource)", "by": LogText.value(session.actor)])
            if let held = hold(r, session, id: id, { _ in .success }) { return held }
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
            HistoryReply(transitions: try history(resource, limit: limit)).write(id: id, into: &out)

        case .stats:
            statsReply().write(id: id, into: &out)

        case .cluster:
            (gate?.reply() ?? .single).write(id: id, into: &out)
        }
        return .done
    }

    /// Answers `lease`: each entry in order, an entry that fails failing alone. The connection's leases are
    /// renewed in the hub before any breaker is read, so that a transition the reply does not show reaches it
    /// as an event. When any entry changed something durable, the reply waits for every such commit.
    private func lease(
        _ entries: [LeaseEntry],
        id: RequestID?,
        session: inout Session,
        out: inout JSONWriter
    ) -> Answer {
        let names = entries.compactMap { entry -> String? in
            if case .lease(let resource, _, _, _, _) = entry { return resource }
            return nil
        }
        if !names.isEmpty {
            hub.lease(session.key, names)
            session.leasing = true
        }
        var slots: [LeaseReply.Slot] = []
        slots.reserveCapacity(entries.count)
        var changes: [BreakerChange] = []
        for entry in entries {
            switch entry {
            case .invalid(let resource, let error):
                slots.append(.failed(resource: resource, error))
            case .lease(let resource, let successes, let failures, let slow, let policy):
                do {
                    let r = try registry.lease(
                        resource,
                        successes: successes,
                        failures: failures,
                        slow: slow,
                        client: session.client,
                        policy: policy,
                        leaseDuration: hub.leaseDuration
                    )
                    slots.append(.lease(r.value))
                    if let change = r.change { changes.append(change) }
                } catch {
                    slots.append(.failed(resource: resource, error))
                }
            }
        }
        let reply = LeaseReply(leases: slots)
        guard !changes.isEmpty else {
            reply.write(id: id, into: &out)
            return .done
        }
        for change in changes { publisher.publish(change, waiter: session.key) }
        return Answer(disposition: .hold(HeldReply(id: id, body: .lease(reply), commits: changes.count)))
    }

    private func hello(
        token: String?,
        client: String?,
        version: Int?,
        id: RequestID?,
        session: inout Session,
        out: inout JSONWriter
    ) throws(ProtocolError) {
        if let version, version != 1 {
            throw ProtocolError(.badRequest, "field 'protocol': this server speaks protocol 1, not \(version)")
        }
        guard let role = authenticator.role(for: token) else {
            logger.notice("hello with an invalid token", metadata: ["client": LogText.value(client)])
            throw ProtocolError(
                .unauthorized,
                token == nil ? "this server needs a token: send hello with \"token\"" : "the token is not valid"
            )
        }
        session.role = role
        if let client {
            session.clientName = client
            session.client = ClientIdentity.hash(client)
        }
        HelloReply(server: "breakerd", version: serverVersion, protocolVersion: 1, role: role).write(id: id, into: &out)
    }

    /// The newest `limit` transitions: the newest from memory, older ones read from the database (an operator
    /// request; the read takes the reader's lock and a short SQLite query on this loop).
    private func history(_ resource: String, limit: Int) throws(ProtocolError) -> [TransitionRecord] {
        guard let (recent, more) = registry.recentHistory(resource, limit: limit) else { throw notFound(resource) }
        guard more, recent.count < limit, let historyReader else { return recent }
        do {
            let older = try historyReader.transitions(
                resource: resource,
                beforeGeneration: recent.last?.generation,
                limit: limit - recent.count
            )
            return recent + older
        } catch {
            throw ProtocolError(.internalError, "older transitions could not be read from the database: \(error)")
        }
    }

    private func notFound(_ resource: String) -> ProtocolError {
        ProtocolError(.notFound, "no breaker named \"\(resource)\"")
    }
}
