import BreakerCore
import BreakerProtocol
import Synchronization
import Testing

@testable import BreakerServer

/// Changes reach watchers and the writer in each shard's order, whatever order the loops publish them in.
@Suite struct ChangePublisherTests {
    func change(shard: Int, _ sequence: UInt64) -> BreakerChange {
        BreakerChange(
            resource: "r\(shard)",
            transitions: [],
            deleted: true,
            durable: .delete(resource: "r\(shard)"),
            shard: shard,
            sequence: sequence
        )
    }

    @Test func changesPublishedOutOfOrderAreDeliveredInOrder() {
        let delivered = Mutex<[UInt64]>([])
        let publisher = ChangePublisher(shards: 1) { change, _ in delivered.withLock { $0.append(change.sequence) } }
        publisher.publish(change(shard: 0, 2), waiter: nil)
        publisher.publish(change(shard: 0, 1), waiter: nil)
        #expect(delivered.withLock { $0 }.isEmpty, "nothing before change 0 is in")
        publisher.publish(change(shard: 0, 0), waiter: nil)
        #expect(delivered.withLock { $0 } == [0, 1, 2])
        publisher.publish(change(shard: 0, 3), waiter: nil)
        #expect(delivered.withLock { $0 } == [0, 1, 2, 3])
    }

    @Test func shardsDoNotWaitForEachOther() {
        let delivered = Mutex<[String]>([])
        let publisher = ChangePublisher(shards: 2) { change, _ in delivered.withLock { $0.append(change.resource) } }
        publisher.publish(change(shard: 1, 1), waiter: nil)
        publisher.publish(change(shard: 0, 0), waiter: nil)
        #expect(delivered.withLock { $0 } == ["r0"])
    }

    @Test func manyThreadsPublishingOneShardDeliverEachChangeOnceInOrder() async {
        let delivered = Mutex<[UInt64]>([])
        let publisher = ChangePublisher(shards: 1) { change, _ in delivered.withLock { $0.append(change.sequence) } }
        let total: UInt64 = 4_000
        await withTaskGroup(of: Void.self) { group in
            for lane in 0..<4 {
                group.addTask {
                    for s in stride(from: UInt64(lane), to: total, by: 4) {
                        publisher.publish(change(shard: 0, s), waiter: nil)
                    }
                }
            }
        }
        #expect(delivered.withLock { $0 } == Array(0..<total))
    }
}
