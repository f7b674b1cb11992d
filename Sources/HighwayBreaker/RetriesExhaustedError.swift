/// Thrown when a `RetryPolicy` has used every retry and the last attempt still failed with a handled error.
public struct RetriesExhaustedError: Error, CustomStringConvertible {
    /// Attempts made in all: the first call plus every retry.
    public let attempts: Int
    /// The error of the last attempt.
    public let lastError: any Error

    /// Creates the error.
    public init(attempts: Int, lastError: any Error) {
        self.attempts = attempts
        self.lastError = lastError
    }

    /// How many attempts were made, and the last error.
    public var description: String {
        "gave up after \(attempts) attempt\(attempts == 1 ? "" : "s") (\(attempts - 1) retr\(attempts == 2 ? "y" : "ies")); "
            + "last error: \(lastError)"
    }
}
