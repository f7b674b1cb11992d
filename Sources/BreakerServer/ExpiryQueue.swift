import BreakerCore
import Synchronization

/// Force TTLs waiting to run out, earliest first, so that a housekeeping pass touches only due breakers.
final class ExpiryQueue: Sendable {
    private struct Item: Sendable {
        var at: MonotonicInstant
        var resource: String
    }

    private let heap = Mutex<[Item]>([])

    func schedule(_ resource: String, at instant: MonotonicInstant) {
        heap.withLock { h in
            h.append(Item(at: instant, resource: resource))
            var i = h.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard h[i].at < h[parent].at else { break }
                h.swapAt(i, parent)
                i = parent
            }
        }
    }

    /// Removes and returns the resources whose time has come.
    func due(now: MonotonicInstant) -> [String] {
        heap.withLock { h in
            var out: [String] = []
            while let top = h.first, top.at <= now {
                out.append(top.resource)
                h.swapAt(0, h.count - 1)
                h.removeLast()
                var i = 0
                while true {
                    let l = 2 * i + 1
                    let r = l + 1
                    var smallest = i
                    if l < h.count && h[l].at < h[smallest].at { smallest = l }
                    if r < h.count && h[r].at < h[smallest].at { smallest = r }
                    if smallest == i { break }
                    h.swapAt(i, smallest)
                    i = smallest
                }
            }
            return out
        }
    }
}
