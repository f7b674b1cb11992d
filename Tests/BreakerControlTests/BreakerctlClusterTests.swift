import BreakerProtocol
import BreakerTestSupport
import Foundation
import Testing

/// breakerctl against a cluster (issue #19): given every replica, commands reach the leader; `cluster` shows the
/// replicas, the leader, its lease and etcd's health.
@Suite(.serialized) struct BreakerctlClusterTests {
    /// breakerctl, on a thread of its own (it may retry for seconds while an election settles).
    func ctl(_ args: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await offPool { try runToCompletion(ServerProcess.binary(named: "breakerctl"), args, timeout: 60) }
    }

    @Test func commandsReachTheLeaderAndClusterShowsTheReplicas() async throws {
        let etcd = try EtcdProcess()
        let a = try ServerProcess(
            arguments: ["--cluster", "etcd://\(etcd.endpoint)", "--cluster-name", "ctl"],
            listen: "127.0.0.1:\(EtcdProcess.freePort())"
        )
        let probe = try a.connect()
        let end = ContinuousClock.now + .seconds(15)
        while try probe.request(#"{"op":"list","limit":1}"#).errorCode == "not_leader", ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(50))
        }
        let b = try ServerProcess(
            arguments: ["--cluster", "etcd://\(etcd.endpoint)", "--cluster-name", "ctl"],
            listen: "127.0.0.1:\(EtcdProcess.freePort())"
        )
        // The follower first: breakerctl is sent on to the leader.
        let both = ["--server", "127.0.0.1:\(b.port),127.0.0.1:\(a.port)"]
        var r = try await ctl(["configure", "pay", "--failure-threshold", "1/2"] + both)
        #expect(r.status == 0 && r.stdout.contains("pay"), "\(r.stdout) \(r.stderr)")
        r = try await ctl(["open", "pay", "--reason", "drill"] + ["--server", "127.0.0.1:\(b.port)"])
        #expect(r.status == 0, "the follower alone names the leader: \(r.stderr)")

        // The replicas register within the health interval (2 s).
        var shown = ""
        let until = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < until {
            r = try await ctl(["cluster", "--server", "127.0.0.1:\(b.port)"])
            shown = r.stdout
            if shown.contains("127.0.0.1:\(a.port)  leader") && shown.contains("127.0.0.1:\(b.port)  follower")
                && shown.contains("healthy")
            {
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(shown.contains("cluster:     ctl (leader lease 2s)"), "\(shown)")
        #expect(shown.contains("leader:      127.0.0.1:\(a.port)"), "\(shown)")
        #expect(shown.contains("answered by: 127.0.0.1:\(b.port) (follower)"), "\(shown)")
        #expect(shown.contains("127.0.0.1:\(a.port)  leader") && shown.contains("127.0.0.1:\(b.port)  follower"))
        #expect(shown.contains("\(etcd.endpoint)  healthy 3."), "\(shown)")
        r = try await ctl(["cluster", "--json", "--server", "127.0.0.1:\(a.port)"])
        let json = try JSONParser.parse(Array(r.stdout.utf8))
        #expect(json["mode"] == .string("cluster") && json["role"] == .string("leader"), "\(r.stdout)")
        #expect(json["lease_ms"] == .integer(2_000) && json["ok"] == nil)

        // A single server says so.
        let single = try ServerProcess(arguments: [])
        r = try await ctl(["cluster", "--server", "127.0.0.1:\(single.port)"])
        #expect(r.status == 0 && r.stdout.contains("is a single server"), "\(r.stdout) \(r.stderr)")
    }
}
