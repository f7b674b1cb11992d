import Foundation
import HighwayBreaker
import Synchronization

struct ServiceDown: Error {}
struct NotOurProblem: Error {}

final class Counter: Sendable {
    private let value = Mutex(0)
    func bump() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}

final class Log: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ s: String) { lines.withLock { $0.append(s) } }
    var all: [String] { lines.withLock { $0 } }
}

/// Suspends callers until opened.
actor Gate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
    func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }
}

/// Polls `condition` every 5 ms until it holds or `timeout` passes (for state pushed asynchronously, or another
/// process's effects).
func eventually(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return try await condition()
}

func connectedClient(
    port: Int,
    name: String = "test",
    timeout: Duration = .milliseconds(100)
) async throws -> BreakerClient {
    var config = BreakerClient.Configuration(host: "127.0.0.1", port: port, clientName: name)
    config.requestTimeout = timeout
    let client = BreakerClient(configuration: config)
    try await client.connect()
    return client
}

/// True once the process `pid` is stopped (SIGSTOP takes effect when the process is next scheduled, not when
/// `kill` returns): its state in /proc/PID/stat is `T`.
func isStopped(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    return stat[close...].dropFirst(2).first == "T"
}
