import BreakerCore
import BreakerProtocol
import BreakerStore

/// What one registry operation changed, returned as a value: the event loop hands it on (to watchers and to the
/// durable writer) after the registry's lock is released.
///
/// Changes of one shard carry consecutive `sequence` numbers, assigned under the shard's lock, so that
/// `ChangePublisher` can hand them on in the order they happened even when two event loops race to publish.
struct BreakerChange: Sendable {
    /// The breaker's name.
    let resource: String
    /// Transitions, oldest first, as recorded in the audit log.
    let transitions: [TransitionRecord]
    /// True when the breaker was deleted (watchers get a `deleted` event).
    let deleted: Bool
    /// What must be written to the database before the reply to the request that made it.
    let durable: StoreChange
    /// The registry shard the breaker lives in.
    let shard: Int
    /// The change's place among its shard's changes.
    let sequence: UInt64
}
