/// A registry operation's answer: the value the reply is made from, and the change to hand on (nil when the
/// operation changed nothing durable).
struct RegistryResult<Value> {
    /// What the reply says.
    var value: Value
    /// What to publish to watchers and the durable writer, after the registry's lock is released.
    var change: BreakerChange?
}

extension RegistryResult: Sendable where Value: Sendable {}
