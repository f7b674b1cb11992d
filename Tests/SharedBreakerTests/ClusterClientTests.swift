import BreakerTestSupport
import Foundation
import HighwayBreaker
import Testing

/// The Swift client against a cluster (issue #19): two real breakerd replicas on one real etcd. Given both
/// replicas, the client finds the leader through `not_leader`; when the leader dies it goes on to the new one,
/// and the shared breaker's fallback decides only meanwhile.
@Suite(.serialized) struct ClusterClientTests {
    func replica(_ etcd: EtcdProcess) throws -> ServerProcess {
        try ServerProcess(
            arguments: ["--cluster", "etcd://\(etcd.endpoint)", "--cluster-name", "client", "--leader-lease", "1s"],
            listen: "127.0.0.1:\(EtcdProcess.freePort())"
        )
    }

    func waitUntilLeading(_ server: ServerProcess) async throws {
        let client = try server.connect()
        let end = ContinuousClock.now + .seconds(15)
        while try client.request(#"{"op":"list","limit":1}"#).errorCode == "not_leader", ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test func theClientFindsTheLeaderAndFollowsAFailover() async throws {
        let etcd = try EtcdProcess()
        let a = try replica(etcd)
        try await waitUntilLeading(a)
        let b = try replica(etcd)
        // The follower first: its not_leader names a, and the client goes there.
        var config = BreakerClient.Configuration(
            servers: [.init(host: "127.0.0.1", port: b.port), .init(host: "127.0.0.1", port: a.port)],
            clientName: "cluster-test"
        )
        config.requestTimeout = .seconds(2)
        let client = BreakerClient(configuration: config)
        defer { client.shutdown() }
        try await client.connect(timeout: .seconds(10))
        let found = await eventually(timeout: .seconds(10)) { (try? await client.acquire("probe"))?.allowed == true }
        #expect(found, "the client reached the leader: \(client.lastProblem)")
        let breaker = try SharedCircuitBreaker(
            resource: "db",
            policy: try BreakerPolicy(failureThreshold: Fraction(2, 2)),
            client: client,
            fallback: .allow
        )
        try await breaker.run {}
        #expect(!breaker.isInFallback)

        // The leader dies: calls go on (the fallback decides), then the new leader serves them.
        a.signal(SIGKILL)
        _ = a.waitForExit()
        var sawFallback = false
        let back = await eventually(timeout: .seconds(20)) {
            try? await breaker.run {}
            if breaker.isInFallback { sawFallback = true }
            if breaker.isInFallback { return false }
            return (try? await client.acquire("probe"))?.allowed == true
        }
        #expect(back, "shared again on the new leader: \(client.lastProblem)")
        #expect(sawFallback && breaker.outageCount >= 1, "the fallback covered the failover")
        // The new leader knows the breaker (loaded from etcd): its policy is the one a created.
        let info = try await client.status("db")
        #expect(info.policy.failureThreshold == Fraction(2, 2))
    }
}
