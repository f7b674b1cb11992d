import BreakerCore
import BreakerProtocol
import Logging
import Synchronization

extension SharedCircuitBreaker {
    // MARK: Internals

    /// Leased mode: true when the call may run without a round trip (a closed circuit under a live lease);
    /// false when it must ask the server, as strict mode does. Throws the rejection of an open circuit.
    func admitsLocally(_ leases: LeaseKeeper) throws(CircuitOpenError) -> Bool {
        switch leases.decide(LeaseBook.Slot(index: leaseSlot.load(ordering: .relaxed))) {
        case .allowLocally:
            endOutage()
            metrics?.allowed.increment()
            return true
        case .allowInShadow(let wouldReject):
            endOutage()
            metrics?.allowed.increment()
            noteShadowRejection(wouldReject)
            return true
        case .askServer:
            return false
        case .reject(let rejecting, let retryAfter):
            endOutage()
            state.withLock { $0.lastState = rejecting }
            metrics?.rejected.increment()
            throw CircuitOpenError(resource: resource, state: rejecting, retryAfter: retryAfter, source: .server)
        }
    }

    /// Leased mode: counts the outcome of a call decided locally for the next `lease` line, as slow when it took
    /// at least the slow-call duration since `start` (nil: not timed); the local breaker sees it too, so it is
    /// warm if the server goes away.
    func countLocally(_ outcome: Outcome, _ leases: LeaseKeeper, since start: MonotonicInstant?) {
        let duration = start.map { clock.now - $0 }
        if let metrics, let start { metrics.recordDuration(from: start, to: start + duration!) }
        let slow = duration.map { d in slowCallDuration.map { d >= $0 } ?? false } ?? false
        leases.count(outcome, slow: slow, at: LeaseBook.Slot(index: leaseSlot.load(ordering: .relaxed)))
        local.complete(outcome, permit: nil, duration: duration)
    }

    /// Shadow mode: the server allowed a call that enforce mode would have rejected (it was `state`).
    func noteShadowRejection(_ state: BreakerState) {
        shadowRejections.add(1, ordering: .relaxed)
        onShadowRejection?(self, state)
    }

    /// Asks the server. Nil when it cannot be asked (the fallback decides; the outage is noted); rethrows errors
    /// the server replied with.
    func ask() async throws -> AcquireReply? {
        let asked: Result<AcquireReply, BreakerClientError>
        let connection = client.connectionCount
        let policySent = policyToSend(on: connection)
        do throws(BreakerClientError) {
            asked = .success(try await client.acquire(resource, policy: policySent))
        } catch {
            asked = .failure(error)
        }
        if policySent != nil, case .success = asked { policyAnswered(on: connection) }
        return try answer(asked)
    }

    func answer(_ asked: Result<AcquireReply, BreakerClientError>) throws -> AcquireReply? {
        switch asked {
        case .success(let decision): return decision
        case .failure(let error) where error.serverUnreachable:
            try noteFallback(error)
            return nil
        case .failure(let error): throw error
        }
    }

    /// The policy, on every acquire until one that carried it was answered on this connection (the server uses
    /// it only when it creates the breaker). Marking it sent before the answer lost it when two first calls
    /// raced: the one without the policy could reach the server first and create the breaker with the default.
    func policyToSend(on connection: Int) -> BreakerPolicy? {
        guard let policy else { return nil }
        return state.withLock { $0.policyAnsweredOnConnection == connection ? nil : policy }
    }

    func policyAnswered(on connection: Int) {
        state.withLock { $0.policyAnsweredOnConnection = connection }
    }

    /// Records the server's answer; returns the permit, or throws the rejection. A call allowed in shadow mode
    /// that enforce mode would have rejected is noted (`onShadowRejection`) and runs.
    func admit(_ decision: AcquireReply) throws -> Permit? {
        state.withLock { $0.lastState = decision.state }
        endOutage()
        guard decision.allowed else {
            metrics?.rejected.increment()
            throw CircuitOpenError(
                resource: resource,
                state: decision.state,
                retryAfter: decision.retryAfter ?? .zero,
                source: .server
            )
        }
        metrics?.allowed.increment()
        if !decision.wouldAllow { noteShadowRejection(decision.state) }
        return decision.permit
    }

    /// Counts the fallback call, logs the first of an outage, and rejects when the resource was last seen forced
    /// open.
    func noteFallback(_ error: BreakerClientError) throws {
        fallbackCalls.add(1, ordering: .relaxed)
        let first = !inOutage.exchange(true, ordering: .relaxed)
        let last = state.withLock { $0.lastState }
        if first {
            outages.add(1, ordering: .relaxed)
            logger.warning(
                "breakerd cannot be asked; falling back",
                metadata: ["resource": "\(resource)", "fallback": "\(fallback.rawValue)", "error": "\(error)"]
            )
        }
        if last == .forcedOpen { throw rejectedByFallback(state: .forcedOpen) }
    }

    /// The server decided a call (an `acquire` answer, or a lease or pushed state in leased mode): an outage, if
    /// one was under way, is over. Leased mode needs the lease path too: after a reconnect the first `lease`
    /// reply may come before any call asks the server, and calls then never `acquire` again while closed.
    func endOutage() {
        guard inOutage.load(ordering: .relaxed), inOutage.exchange(false, ordering: .relaxed) else { return }
        logger.notice("breakerd answers again; the shared circuit decides", metadata: ["resource": "\(resource)"])
    }

    /// A call the `.allow` fallback lets through: counts it, and returns the instant it starts (for its duration).
    func allowedByFallback() -> MonotonicInstant {
        guard let fallbackMetrics else { return .zero }
        fallbackMetrics.allowed.increment()
        return clock.now
    }

    /// The fallback's rejection, counted: `retryAfter` is the client's reconnect delay (the longest wait between
    /// attempts).
    func rejectedByFallback(state: BreakerState) -> CircuitOpenError {
        fallbackMetrics?.rejected.increment()
        let reconnectDelay = client.configuration.reconnectBackoff.maxDelay
        return CircuitOpenError(resource: resource, state: state, retryAfter: reconnectDelay, source: .fallback)
    }

    func outcome(of error: any Error) -> Outcome {
        if error is CancellationError { return .ignored }
        return handle(error) ? .failure : .success
    }

    /// Reports without waiting, with the call's duration (the server decides whether it was slow); the local
    /// breaker sees the outcome too, so it is warm if the server goes away.
    func complete(_ outcome: Outcome, permit: Permit?, since start: MonotonicInstant) {
        let end = clock.now
        let duration = end - start
        metrics?.recordDuration(from: start, to: end)
        try? client.reportWithoutReply(resource, outcome: outcome, permit: permit, duration: duration)
        local.complete(outcome, permit: nil, duration: duration)
    }

    func receive(_ event: BreakerEvent) {
        guard event.resource == resource else { return }
        leases?.apply(event)
        guard case .transition(_, let record) = event else { return }
        state.withLock { $0.lastState = record.to }
        onStateChange?(self, record.from, record.to)
    }
}
