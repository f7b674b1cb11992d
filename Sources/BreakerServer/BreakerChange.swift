import BreakerCore
import BreakerProtocol
import BreakerStore

/// What one registry operation changed, returned as a value: the event loop hands it on (to watchers and to the
/// durable writer) after the registry's lock is released.
///
/// A class, so that the registry's result stays one pointer wide on the hot path (an `acquire` that changes
/// nothing returns nil; the row inside a change is large).
///
/// Changes of one shard carry consecutive `sequence` numbers, assigned under the shard's lock, so that
/// `ChangePublisher` can hand them on in the order they happened even when two event loops race to publish.
final class BreakerChange: Sendable {
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

    init(
        resource: String,
        transitions: [TransitionRecord],
        deleted: Bool,
        durable: StoreChange,
        shard: Int,
        sequence: UInt64
    ) {
        self.resource = resource
        self.transitions = transitions
        self.deleted = deleted
        self.durable = durable
        self.shard = shard
        self.sequence = sequence
    }
}
