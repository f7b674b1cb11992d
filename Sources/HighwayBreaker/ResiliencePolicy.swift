/// A policy that runs a protected operation: a circuit breaker, a retry, or a composition of them.
///
/// Policies are reference types (so `Failsafe` can tell the same instance apart from an equal one), `Sendable`,
/// and safe to share between any number of tasks and threads.
public protocol ResiliencePolicy: AnyObject, Sendable {
    /// Runs `body` under the policy, on the caller's isolation. Prefer `run(_:)`.
    func execute<T>(isolation: isolated (any Actor)?, _ body: () async throws -> T) async throws -> T
    /// Runs a synchronous `body` under the policy, blocking the calling thread for any waits. Prefer `run(_:)`.
    func executeBlocking<T>(_ body: () throws -> T) throws -> T
}

extension ResiliencePolicy {
    /// Runs `body` (async or not) under the policy: `let user = try await breaker.run { try await db.user(id) }`.
    ///
    /// Errors from `body` are rethrown (or wrapped, when a retry policy runs out); a breaker that rejects the
    /// call throws `CircuitOpenError` without running `body`.
    @inlinable
    public func run<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async throws -> T {
        try await execute(isolation: isolation, body)
    }

    /// Runs `body` under the policy from synchronous code; waits between retries block the calling thread.
    /// In async code use `run(_:)`, which takes synchronous closures too.
    @inlinable
    public func runBlocking<T>(_ body: () throws -> T) throws -> T {
        try executeBlocking(body)
    }
}
