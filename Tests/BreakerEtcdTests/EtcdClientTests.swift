import BreakerEtcd
import BreakerTLS
import BreakerTestSupport
import Foundation
import Testing

/// The JSON-gateway client against a real etcd (Debian `etcd-server`), one member per test.
@Suite struct EtcdClientTests {
    @Test func putRangeAndPrefix() throws {
        let etcd = try EtcdProcess()
        let client = EtcdClient(endpoints: [("127.0.0.1", etcd.clientPort)])
        try client.put("/hb/t/a", Array("one".utf8))
        try client.put("/hb/t/b", Array("two".utf8))
        try client.put("/hb/u", Array("other".utf8))
        let one = try client.range("/hb/t/a")
        #expect(one.kvs.map(\.value) == [Array("one".utf8)] && one.revision >= 3)
        let prefix = try client.range("/hb/t/", prefix: true)
        #expect(prefix.kvs.map(\.key) == ["/hb/t/a", "/hb/t/b"])
        #expect(try client.range("/hb/none").kvs.isEmpty)
    }

    @Test func aLargeRangeArrivesWhole() throws {
        // Thousands of keys make the gateway answer with a chunked body.
        let etcd = try EtcdProcess()
        let client = EtcdClient(endpoints: [("127.0.0.1", etcd.clientPort)], timeout: .seconds(20))
        let value = [UInt8](repeating: 0x61, count: 1_000)
        for batch in 0..<20 {
            let puts = (0..<100).map { i in
                EtcdClient.Operation.put(key: "/hb/big/\(batch * 100 + i)", value: value, lease: nil)
            }
            #expect(try client.txn([], success: puts).succeeded)
        }
        let all = try client.range("/hb/big/", prefix: true)
        #expect(all.kvs.count == 2_000 && all.kvs.allSatisfy { $0.value == value })
    }

    @Test func aTransactionIsConditionedOnACreateRevision() throws {
        let etcd = try EtcdProcess()
        let client = EtcdClient(endpoints: [("127.0.0.1", etcd.clientPort)])
        // Only the first of two campaigns creates the key.
        let first = try client.txn(
            [.createRevision(key: "/hb/leader", equals: 0)],
            success: [.put(key: "/hb/leader", value: Array("a:1".utf8), lease: nil)],
            failure: [.range(key: "/hb/leader")]
        )
        #expect(first.succeeded)
        let second = try client.txn(
            [.createRevision(key: "/hb/leader", equals: 0)],
            success: [.put(key: "/hb/leader", value: Array("b:2".utf8), lease: nil)],
            failure: [.range(key: "/hb/leader")]
        )
        #expect(!second.succeeded && second.ranges.first?.first?.value == Array("a:1".utf8))
        let created = try #require(second.ranges.first?.first?.createRevision)
        // A write conditioned on the holder's revision goes through; one on another revision does not.
        #expect(
            try client.txn(
                [.createRevision(key: "/hb/leader", equals: created)],
                success: [
                    .put(key: "/hb/state/x", value: [1], lease: nil)
                ]
            ).succeeded
        )
        #expect(
            !(try client.txn(
                [.createRevision(key: "/hb/leader", equals: created + 1)],
                success: [
                    .put(key: "/hb/state/y", value: [1], lease: nil)
                ]
            ).succeeded)
        )
        #expect(try client.range("/hb/state/y").kvs.isEmpty)
    }

    @Test func aLeaseKeepsItsKeyUntilRevokedOrLapsed() async throws {
        let etcd = try EtcdProcess()
        let client = EtcdClient(endpoints: [("127.0.0.1", etcd.clientPort)])
        let lease = try client.grantLease(ttlSeconds: 5)
        try client.put("/hb/leased", [1], lease: lease)
        #expect(try client.keepAlive(lease: lease) > 0)
        #expect(try client.range("/hb/leased").kvs.first?.lease == lease)
        try client.revoke(lease: lease)
        #expect(try client.range("/hb/leased").kvs.isEmpty)
        #expect(try client.keepAlive(lease: lease) <= 0)
        // A 1 s lease nobody renews lapses (etcd's own clock: a generous bound).
        let short = try client.grantLease(ttlSeconds: 1)
        try client.put("/hb/short", [1], lease: short)
        var gone = false
        for _ in 0..<100 where !gone {
            try await Task.sleep(for: .milliseconds(100))
            gone = try client.range("/hb/short").kvs.isEmpty
        }
        #expect(gone)
    }

    @Test func anUnreachableMemberIsSkipped() throws {
        let etcd = try EtcdProcess()
        let dead = EtcdProcess.freePort()
        let client = EtcdClient(endpoints: [("127.0.0.1", dead), ("127.0.0.1", etcd.clientPort)])
        try client.put("/hb/k", [7])
        #expect(try client.range("/hb/k").kvs.first?.value == [7])
        let statuses = client.statuses()
        #expect(statuses[0] == nil && statuses[1]?.version.hasPrefix("3.") == true)
        // None reachable: unavailable, within the timeout.
        etcd.stop()
        let alone = EtcdClient(endpoints: [("127.0.0.1", dead)], timeout: .seconds(1))
        #expect {
            try alone.put("/hb/k", [8])
        } throws: { error in
            (error as? EtcdError)?.isUnavailable == true
        }
    }
}

/// etcd over TLS with client certificates (`breakerd --etcd-ca/--etcd-cert/--etcd-key`), certificates made at test
/// time.
@Suite struct EtcdTLSTests {
    @Test func aClientWithTheRightFilesTalksToATLSEtcdAndOthersAreToldWhy() async throws {
        let certs = try TestCertificates()
        let etcd = try EtcdProcess(tls: (certs.server.certificate, certs.server.key, certs.caFile))
        let trusted = try TLSContext.client(
            caFile: certs.caFile,
            certificateFile: certs.client.certificate,
            keyFile: certs.client.key
        )
        let client = EtcdClient(endpoints: [("127.0.0.1", etcd.clientPort)], tls: trusted)
        try client.put("/hb/tls", [1, 2])
        #expect(try client.range("/hb/tls").kvs.first?.value == [1, 2])

        let port = etcd.clientPort
        func failure(_ context: TLSContext?) async throws -> String {
            try await offPool {
                do {
                    try EtcdClient(endpoints: [("127.0.0.1", port)], timeout: .seconds(3), tls: context).put(
                        "/hb/x",
                        [1]
                    )
                    return "no failure"
                } catch let error as EtcdError {
                    return error.message
                } catch {
                    return "\(error)"
                }
            }
        }
        let foreign = try TLSContext.client(
            caFile: certs.otherCAFile,
            certificateFile: certs.client.certificate,
            keyFile: certs.client.key
        )
        let unknown = try await failure(foreign)
        #expect(unknown.contains("unknown CA"), "\(unknown)")
        let anonymous = try TLSContext.client(caFile: certs.caFile)
        let refused = try await failure(anonymous)
        #expect(refused.contains("TLS") || refused.contains("closed"), "\(refused)")
        #expect(try await failure(nil) != "no failure", "plain HTTP to a TLS member")
    }
}
