import BreakerCore
import BreakerProtocol

/// The reply to a request whose change must be committed first, kept as a value and written only once the
/// durable writer has committed (or failed to commit) the change.
///
/// A class: the request handler's answer stays small on the hot path, where nothing is held.
final class HeldReply: Sendable {
    enum Body: Sendable {
        case acquire(AcquireReply)
        case report(ReportReply)
        case lease(LeaseReply)
        case breaker(BreakerInfo)
        case success
        /// `report` with `noreply`: nothing is written, not even an error.
        case none
    }

    /// The request's id, echoed in the reply.
    let id: RequestID?
    let body: Body
    /// How many commits the reply waits for: one per change the request made (a `lease` may change breakers of
    /// several shards, each published on its own).
    let commits: Int

    init(id: RequestID?, body: Body, commits: Int = 1) {
        self.id = id
        self.body = body
        self.commits = max(1, commits)
    }

    /// Writes the reply (after a commit), or the error that says the change was not saved.
    func write(committed failure: ProtocolError?, into out: inout JSONWriter) {
        if case .none = body { return }
        if let failure {
            Reply.error(id: id, failure, into: &out)
            return
        }
        switch body {
        case .acquire(let reply): reply.write(id: id, into: &out)
        case .report(let reply): reply.write(id: id, into: &out)
        case .lease(let reply): reply.write(id: id, into: &out)
        case .breaker(let info): BreakerReply(breaker: info).write(id: id, into: &out)
        case .success: Reply.success(id: id, into: &out)
        case .none: break
        }
    }
}
