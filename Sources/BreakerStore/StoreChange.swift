public import BreakerCore

/// A durable change, written in the writer's next transaction.
public enum StoreChange: Sendable {
    /// Insert or replace the breaker's row and append its transitions to the audit log.
    case save(PersistedBreaker, transitions: [TransitionRecord])
    /// Remove the breaker and its audit log.
    case delete(resource: String)
}
