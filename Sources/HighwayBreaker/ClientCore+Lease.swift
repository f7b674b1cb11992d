import BreakerCore
import BreakerProtocol
import Synchronization

/// `lease` lines over the client's connection: one line per at most `Request.maximumLeaseEntries` entries,
/// answered together, in order.
extension ClientCore: LeaseTransport {
    func sendLease(
        _ entries: [LeaseKeeper.Outgoing],
        completion: @escaping @Sendable (Result<[LeaseKeeper.Answer], BreakerClientError>) -> Void
    ) {
        guard !entries.isEmpty else {
            completion(.success([]))
            return
        }
        let chunkSize = Request.maximumLeaseEntries
        let chunks = stride(from: 0, to: entries.count, by: chunkSize).map {
            Array(entries[$0..<min($0 + chunkSize, entries.count)])
        }
        let gathering = LeaseAnswers(chunks: chunks.count, completion: completion)
        for (index, chunk) in chunks.enumerated() {
            let operation = Request.Operation.lease(
                entries: chunk.map {
                    .lease(
                        resource: $0.resource,
                        successes: $0.successes,
                        failures: $0.failures,
                        slow: $0.slow,
                        policy: $0.policy
                    )
                }
            )
            let waiter = Waiter(timeout: configuration.requestTimeout) { result in
                gathering.deliver(index, Self.answers(result, expected: chunk.count))
            }
            do throws(BreakerClientError) {
                try enqueue(operation, waiter: waiter)
            } catch {
                waiter.complete(.failure(error))
            }
        }
    }

    /// One entry's answer per slot of the reply, or the error of the whole request.
    static func answers(
        _ result: Result<JSONValue, BreakerClientError>,
        expected: Int
    )
        -> Result<[LeaseKeeper.Answer], BreakerClientError>
    {
        let reply: LeaseReply
        do throws(BreakerClientError) {
            reply = try BreakerClient.decode(LeaseReply.self, try unwrap(result))
        } catch {
            return .failure(error)
        }
        guard reply.leases.count == expected else {
            return .failure(
                BreakerClientError(
                    code: .malformedReply,
                    message: "the lease reply has \(reply.leases.count) entries for \(expected) sent"
                )
            )
        }
        return .success(
            reply.leases.map { slot in
                switch slot {
                case .lease(let l):
                    .lease(
                        state: l.state,
                        generation: l.generation,
                        lease: l.lease,
                        retryAfter: l.retryAfter,
                        wouldAllow: l.wouldAllow
                    )
                case .failed(_, let error):
                    .failed(BreakerClientError(code: error.code, message: error.message))
                }
            }
        )
    }
}

/// The answers of a `lease` request sent in several lines, put back together in order; the first error wins.
final class LeaseAnswers: Sendable {
    private struct State: Sendable {
        var parts: [[LeaseKeeper.Answer]?]
        var done = false
    }

    private let state: Mutex<State>
    private let completion: @Sendable (Result<[LeaseKeeper.Answer], BreakerClientError>) -> Void

    init(chunks: Int, completion: @escaping @Sendable (Result<[LeaseKeeper.Answer], BreakerClientError>) -> Void) {
        self.state = Mutex(State(parts: Array(repeating: nil, count: chunks)))
        self.completion = completion
    }

    func deliver(_ index: Int, _ result: Result<[LeaseKeeper.Answer], BreakerClientError>) {
        let finished = state.withLock { s -> Result<[LeaseKeeper.Answer], BreakerClientError>? in
            guard !s.done else { return nil }
            switch result {
            case .failure(let error):
                s.done = true
                return .failure(error)
            case .success(let answers):
                s.parts[index] = answers
                guard s.parts.allSatisfy({ $0 != nil }) else { return nil }
                s.done = true
                return .success(s.parts.flatMap { $0! })
            }
        }
        if let finished { completion(finished) }
    }
}
