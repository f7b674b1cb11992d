/// Runs an operation under several policies, the first one outermost.
///
/// `Failsafe(policies: [retry, breaker])` retries around the breaker: every attempt passes the breaker, so a
/// breaker that opens makes the remaining attempts fail fast with `CircuitOpenError`, which the retry policy
/// passes through at once (unless a `handle` of its own accepts it). The same policy instance may appear only once.
public final class Failsafe: ResiliencePolicy {
    /// The policies, outermost first.
    public let policies: [any ResiliencePolicy]

    /// Composes `policies`, the first outermost.
    ///
    /// - Throws: `ConfigurationError` when one instance appears twice (also inside nested `Failsafe`s).
    public init(policies: [any ResiliencePolicy]) throws {
        var seen: [ObjectIdentifier: Int] = [:]
        var index = 0
        func visit(_ list: [any ResiliencePolicy]) throws {
            for policy in list {
                if let first = seen[ObjectIdentifier(policy)] {
                    throw ConfigurationError.duplicatePolicy(at: index, firstAt: first)
                }
                seen[ObjectIdentifier(policy)] = index
                index += 1
                if let nested = policy as? Failsafe { try visit(nested.policies) }
            }
        }
        try visit(policies)
        self.policies = policies
    }

    /// Composes `policies`, the first outermost.
    public convenience init(_ policies: any ResiliencePolicy...) throws {
        try self.init(policies: policies)
    }

    public func execute<T>(isolation: isolated (any Actor)?, _ body: () async throws -> T) async throws -> T {
        try await layer(0, isolation: isolation, body)
    }

    public func executeBlocking<T>(_ body: () throws -> T) throws -> T {
        try layerBlocking(0, body)
    }

    private func layer<T>(
        _ index: Int,
        isolation: isolated (any Actor)?,
        _ body: () async throws -> T
    ) async throws -> T {
        guard index < policies.count else { return try await body() }
        return try await policies[index].execute(isolation: isolation) {
            try await layer(index + 1, isolation: isolation, body)
        }
    }

    private func layerBlocking<T>(_ index: Int, _ body: () throws -> T) throws -> T {
        guard index < policies.count else { return try body() }
        return try policies[index].executeBlocking { try layerBlocking(index + 1, body) }
    }
}
