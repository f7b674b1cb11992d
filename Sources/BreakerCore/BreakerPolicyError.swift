/// A policy value that cannot work, naming the field (by its wire name, e.g. `failure_threshold`) and saying
/// what a valid value looks like.
public struct BreakerPolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The wire name of the offending field, for example `failure_threshold` or `window.size`.
    public let field: String
    /// What is wrong and what to do instead.
    public let message: String

    /// Creates an error for `field`.
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "invalid \(field): \(message)" }
}
