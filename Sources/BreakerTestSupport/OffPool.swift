import Foundation

/// Runs blocking work (a subprocess, a wait on a socket) on a thread of its own and awaits its result, so that it
/// does not hold one of the threads of Swift's cooperative pool (two on a 2-core machine) that async tests need
/// to make progress. The closure records no test issues: return what it found and check it in the test.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}
