/// A policy was configured with a value that cannot work. The message names the parameter and says what
/// a valid value looks like.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case invalidValue
        case duplicatePolicy
    }

    private let code: Code
    /// The parameter at fault, for example `jitter`.
    public let parameter: String
    /// What is wrong and what to do instead.
    public let message: String

    private init(_ code: Code, parameter: String, message: String) {
        self.code = code
        self.parameter = parameter
        self.message = message
    }

    /// A parameter's value is out of range.
    public static func invalidValue(_ parameter: String, _ message: String) -> Self {
        Self(.invalidValue, parameter: parameter, message: message)
    }

    /// The same policy instance appears twice in one `Failsafe`.
    public static func duplicatePolicy(at index: Int, firstAt first: Int) -> Self {
        Self(
            .duplicatePolicy,
            parameter: "policies",
            message: "the policy at index \(index) is the same instance as the one at index \(first); "
                + "create a separate instance for each place it is used"
        )
    }

    /// True when this error is about the same kind of problem as `other` (ignoring the details).
    public func isSameKind(as other: Self) -> Bool { code == other.code }

    /// `invalid PARAMETER: message`.
    public var description: String { "invalid \(parameter): \(message)" }
}
