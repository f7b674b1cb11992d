import BreakerProtocol
import BreakerTestSupport
import Foundation
import Testing

/// Cluster mode (issue #19) with real processes: two breakerd replicas and one etcd member (Debian
/// `etcd-server`). One leads and serves; the other answers `not_leader` naming it; the leader's durable state
/// is in etcd, so when it dies the other loads it and serves it. Waits sleep asynchronously: a test that
/// blocks a thread for seconds would starve the async tests of the cooperative pool (2 threads here).
@Suite(.serialized) struct ClusterTests {
    func replica(_ etcd: EtcdProcess, name: String = "t", lease: String = "2s") throws -> ServerProcess {
        let port = EtcdProcess.freePort()
        return try ServerProcess(
            arguments: ["--cluster", "etcd://\(etcd.endpoint)", "--cluster-name", name, "--leader-lease", lease],
            listen: "127.0.0.1:\(port)"
        )
    }

    /// Asks `server` until it answers something other than `not_leader` without a leader (an election is
    /// under way), for at most `seconds`.
    func settled(_ server: ServerProcess, _ line: String, seconds: Double = 15) async throws -> JSONValue {
        let client = try server.connect()
        let end = Date().addingTimeInterval(seconds)
        var reply = try client.request(line)
        // No leader named yet, or this replica itself (a new leader loading the breakers): ask again.
        let itself = JSONValue.string("127.0.0.1:\(server.port)")
        while Date() < end, reply.errorCode == "not_leader",
            reply["error"]?["leader"] == nil || reply["error"]?["leader"] == itself
        {
            try await Task.sleep(for: .milliseconds(50))
            reply = try client.request(line)
        }
        return reply
    }

    /// Waits until `server` leads (answers `list`), for at most 15 s.
    func leads(_ server: ServerProcess) async throws {
        let client = try server.connect()
        let end = Date().addingTimeInterval(15)
        while try client.request(#"{"op":"list","limit":1}"#).errorCode == "not_leader" {
            guard Date() < end else {
                Issue.record("no leadership within 15 s: \(server.stderr)")
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test func oneLeaderServesAndTheOtherSendsClientsToIt() async throws {
        let etcd = try EtcdProcess()
        let a = try replica(etcd)
        let first = try await settled(a, #"{"op":"acquire","resource":"db"}"#)
        #expect(first["allowed"] == .bool(true), "\(first.jsonText) \(a.stderr)")
        let b = try replica(etcd)
        let refused = try await settled(b, #"{"op":"acquire","resource":"db"}"#)
        #expect(refused.errorCode == "not_leader", "\(refused.jsonText)")
        #expect(refused["error"]?["leader"]?.stringValue == "127.0.0.1:\(a.port)")
        // ping and hello work on a follower.
        let follower = try b.connect()
        #expect(try follower.request(#"{"op":"ping"}"#).isOK)
        #expect(try follower.request(#"{"op":"hello","client":"x"}"#).isOK)
        #expect(try follower.request(#"{"op":"list"}"#).errorCode == "not_leader")
    }

    @Test func theNextLeaderServesWhatTheDeadOneAcknowledged() async throws {
        let etcd = try EtcdProcess()
        let a = try replica(etcd, lease: "1s")
        try await leads(a)
        let c = try a.connect()
        var r = try c.request(#"{"op":"configure","resource":"pay","policy":{"failure_threshold":"1/2"}}"#)
        #expect(r.isOK, "\(r.jsonText) \(a.stderr)")
        r = try c.request(#"{"op":"force","resource":"pay","state":"open","reason":"drill","ttl_ms":600000}"#)
        #expect(r.isOK, "\(r.jsonText)")
        r = try c.request(#"{"op":"configure","resource":"gone","policy":{"failure_threshold":"1/2"}}"#)
        #expect(try c.request(#"{"op":"delete","resource":"gone"}"#).isOK)
        let b = try replica(etcd, lease: "1s")
        #expect(try await settled(b, #"{"op":"status","resource":"pay"}"#).errorCode == "not_leader")

        a.signal(SIGKILL)
        _ = a.waitForExit()
        // b takes over once a's lease has lapsed (1 s; etcd rounds it up to its minimum, 2 s), and loads the state.
        let started = Date()
        let client = try b.connect()
        var status = try client.request(#"{"op":"status","resource":"pay"}"#)
        while status.errorCode == "not_leader" && Date().timeIntervalSince(started) < 20 {
            try await Task.sleep(for: .milliseconds(50))
            status = try client.request(#"{"op":"status","resource":"pay"}"#)
        }
        #expect(status["breaker"]?["state"]?.stringValue == "forced_open", "\(status.jsonText) \(b.stderr)")
        #expect(status["breaker"]?["forced"]?["reason"]?.stringValue == "drill")
        let remaining = status["breaker"]?["forced"]?["remaining_ms"]?.intValue ?? 0
        #expect(remaining > 500_000 && remaining <= 600_000, "the force keeps its TTL: \(remaining)")
        #expect(try client.request(#"{"op":"status","resource":"gone"}"#).errorCode == "not_found")
        let history = try client.request(#"{"op":"history","resource":"pay"}"#)
        #expect(history["transitions"]?.arrayValue?.first?["reason"]?.stringValue == "drill", "\(history.jsonText)")
    }

    @Test func aGracefulStopHandsOverAtOnce() async throws {
        let etcd = try EtcdProcess()
        let a = try replica(etcd, lease: "10s")
        try await leads(a)
        #expect(try a.connect().request(#"{"op":"acquire","resource":"x"}"#)["allowed"] == .bool(true))
        let b = try replica(etcd, lease: "10s")
        #expect(try await settled(b, #"{"op":"acquire","resource":"x"}"#).errorCode == "not_leader")
        a.signal(SIGTERM)
        #expect(a.waitForExit() == 0, "\(a.stderr)")
        // a revoked its lease: b leads within a poll (2.5 s), far sooner than the 10 s lease.
        let started = Date()
        let client = try b.connect()
        var answered = try client.request(#"{"op":"acquire","resource":"x"}"#)
        while answered.errorCode == "not_leader" && Date().timeIntervalSince(started) < 8 {
            try await Task.sleep(for: .milliseconds(50))
            answered = try client.request(#"{"op":"acquire","resource":"x"}"#)
        }
        #expect(answered["allowed"] == .bool(true), "\(answered.jsonText) after \(Date().timeIntervalSince(started)) s")
    }

    @Test func aReplicaWithoutEtcdStartsAndSaysSo() async throws {
        let dead = EtcdProcess.freePort()
        let port = EtcdProcess.freePort()
        let http = EtcdProcess.freePort()
        let r = try ServerProcess(
            arguments: ["--cluster", "etcd://127.0.0.1:\(dead)", "--http-listen", "127.0.0.1:\(http)"],
            listen: "127.0.0.1:\(port)"
        )
        let reply = try r.connect().request(#"{"op":"acquire","resource":"x"}"#)
        #expect(reply.errorCode == "not_leader" && reply["error"]?["leader"] == nil, "\(reply.jsonText)")
        #expect(try r.connect().request(#"{"op":"ping"}"#).isOK)
        // It fails readiness, and says why, until etcd answers.
        var ready = try HTTPTestClient(port: http).request("GET", "/readyz")
        let end = ContinuousClock.now + .seconds(10)
        while ready.status == 200, ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(50))
            ready = try HTTPTestClient(port: http).request("GET", "/readyz")
        }
        #expect(ready.status == 503 && ready.text.contains("cannot reach etcd"), "\(ready.status) \(ready.text)")
    }

    @Test func clusterFlagsAreChecked() throws {
        let bin = ServerProcess.binaryPath
        var r = try runToCompletion(bin, ["--cluster", "nonsense", "--listen", "127.0.0.1:7999"])
        #expect(r.status != 0 && r.stderr.contains("expected etcd://HOST:PORT"), "\(r.stderr)")
        r = try runToCompletion(bin, ["--cluster", "etcd://127.0.0.1:2379", "--listen", "127.0.0.1:0"])
        #expect(r.status != 0 && r.stderr.contains("--advertise HOST:PORT is needed"), "\(r.stderr)")
        r = try runToCompletion(bin, ["--advertise", "127.0.0.1:7433", "--listen", "127.0.0.1:0"])
        #expect(r.status != 0 && r.stderr.contains("go with --cluster"), "\(r.stderr)")
        r = try runToCompletion(
            bin,
            ["--cluster", "etcd://127.0.0.1:2379", "--listen", "127.0.0.1:7999", "--cluster-name", "a b"]
        )
        #expect(r.status != 0 && r.stderr.contains("--cluster-name must be"), "\(r.stderr)")
        r = try runToCompletion(
            bin,
            ["--cluster", "etcd://127.0.0.1:2379", "--listen", "127.0.0.1:7999", "--leader-lease", "100ms"]
        )
        #expect(r.status != 0 && r.stderr.contains("--leader-lease must be from 1s to 60s"), "\(r.stderr)")
    }
}

/// A replica that reaches etcd over TLS with a client certificate.
@Suite struct ClusterTLSTests {
    @Test func aReplicaLeadsThroughATLSEtcd() async throws {
        let certs = try TestCertificates()
        let etcd = try EtcdProcess(tls: (certs.server.certificate, certs.server.key, certs.caFile))
        let replica = try ServerProcess(
            arguments: [
                "--cluster", "etcd://\(etcd.endpoint)", "--etcd-ca", certs.caFile, "--etcd-cert",
                certs.client.certificate, "--etcd-key", certs.client.key,
            ],
            listen: "127.0.0.1:\(EtcdProcess.freePort())"
        )
        let client = try replica.connect()
        let end = ContinuousClock.now + .seconds(15)
        var reply = try client.request(#"{"op":"acquire","resource":"tls-etcd"}"#)
        while reply.errorCode == "not_leader", ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(50))
            reply = try client.request(#"{"op":"acquire","resource":"tls-etcd"}"#)
        }
        #expect(reply["allowed"] == .bool(true), "\(reply.jsonText) \(replica.stderr)")
        let bad = try runToCompletion(
            ServerProcess.binaryPath,
            [
                "--cluster", "etcd://\(etcd.endpoint)", "--listen", "127.0.0.1:7999", "--etcd-cert",
                certs.client.certificate,
            ]
        )
        #expect(bad.status != 0 && bad.stderr.contains("--etcd-ca is needed"), "\(bad.stderr)")
    }
}
