import BreakerProtocol
import BreakerTestSupport
import Foundation
import Testing

/// 100,000 breakers through a real database file: all come back after a restart, and acquire keeps being
/// answered while snapshots of all of them run. Timings are measured and printed, never asserted tightly.
@Suite struct LargeStoreTests {
    static let count = 100_000

    @Test func hundredThousandBreakersSurviveARestartAndSnapshotsDoNotStallAcquire() throws {
        let dir = NSTemporaryDirectory() + "breakerd-large-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/large.sqlite"

        // Snapshots only when asked (SIGUSR1), so that one of all 100,000 runs while acquires are measured.
        let server = try ServerProcess(arguments: ["--db", db, "--snapshot-interval", "1h", "--max-breakers", "200000"])
        // Create the breakers with pipelined acquires (a new breaker is kept by the next snapshot).
        let writers = try (0..<4).map { _ in try server.connect() }
        for (w, c) in writers.enumerated() {
            let sender = Thread {
                var chunk = ""
                for i in stride(from: w, to: Self.count, by: 4) {
                    chunk += #"{"op":"acquire","resource":"svc/\#(i)","policy":{"failure_threshold":"5/20"}}"# + "\n"
                    if chunk.utf8.count > 60_000 {
                        try? c.send(raw: chunk)
                        chunk = ""
                    }
                }
                try? c.send(raw: chunk)
            }
            sender.start()
        }
        for (w, c) in writers.enumerated() {
            for _ in stride(from: w, to: Self.count, by: 4) {
                #expect(try c.readJSON(timeout: .seconds(60)).isOK)
            }
        }

        // Acquire round trips on another connection while a snapshot of all of them runs.
        let probe = try server.connect()
        let admin = try server.connect()
        try probe.request(#"{"op":"acquire","resource":"hot"}"#)
        var worst = Duration.zero
        var roundTrips = 0
        server.signal(SIGUSR1)
        var snapshot: JSONValue?
        let deadline = ContinuousClock.now + .seconds(120)
        while snapshot == nil && ContinuousClock.now < deadline {
            for _ in 0..<50 {
                let start = ContinuousClock.now
                let reply = try probe.request(#"{"op":"acquire","resource":"hot"}"#, timeout: .seconds(10))
                worst = max(worst, ContinuousClock.now - start)
                #expect(reply.isOK)
                roundTrips += 1
            }
            let snap = try admin.request(#"{"op":"stats"}"#)["stats"]?["snapshot"]
            if snap?["count"] == .integer(1) { snapshot = snap }
        }
        let taken = try #require(snapshot, "no snapshot within 2 minutes")
        #expect(taken["rows"] == .integer(Int64(Self.count + 1)))
        let snapshotMs = taken["duration_ms"]?.intValue ?? -1

        server.signal(SIGTERM)
        #expect(server.waitForExit(timeout: 60) == 0)

        let restartStart = ContinuousClock.now
        let again = try ServerProcess(arguments: ["--db", db, "--max-breakers", "200000"], startTimeout: 120)
        let restart = ContinuousClock.now - restartStart
        let c = try again.connect()
        let total = try c.request(#"{"op":"stats"}"#)["stats"]?["breakers"]?["total"]?.intValue
        #expect(total == Self.count + 1)
        for i in [0, 1, 4_242, 77_777, Self.count - 1] {
            let b = try c.request(#"{"op":"status","resource":"svc/\#(i)"}"#)["breaker"]
            #expect(b?["policy"]?["failure_threshold"] == .string("5/20"), "svc/\(i)")
        }
        let restoreLog = again.stderr.split(separator: "\n").first { $0.contains("restored") } ?? ""
        print(
            "persistence-100k: snapshot_ms=\(snapshotMs) worst_acquire_during_snapshots_ms=\(worst.millisecondsDouble) "
                + "acquires=\(roundTrips) restart_to_listening_ms=\(restart.millisecondsDouble) restore_log=\"\(restoreLog)\""
        )
    }
}

extension Duration {
    var millisecondsDouble: Double {
        let (s, a) = components
        return (Double(s) * 1_000 + Double(a) / 1e15).rounded() / 1
    }
}
