import Synchronization

/// Connects a request's id to its task's cancellation handler, which may run before the request is enqueued,
/// after, or at the same time (on another thread).
final class CancellationBox: Sendable {
    private enum Phase {
        case waiting
        case registered(Int64)
        case cancelled
    }

    private let phase = Mutex(Phase.waiting)

    /// Records the id of the enqueued request. False when the task was cancelled first: the caller fails the
    /// request itself.
    func register(_ id: Int64) -> Bool {
        phase.withLock { p in
            if case .cancelled = p { return false }
            p = .registered(id)
            return true
        }
    }

    /// Marks the task cancelled; returns the id to fail when the request was already enqueued.
    func cancel() -> Int64? {
        phase.withLock { p in
            defer { p = .cancelled }
            if case .registered(let id) = p { return id }
            return nil
        }
    }
}
