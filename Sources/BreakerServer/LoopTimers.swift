import BreakerCore

/// One event loop's timers, earliest first: force TTLs that end by themselves, and connection deadlines
/// (pre-authentication idle limit, linger after `line_too_long`). Used only on the loop's own thread.
struct LoopTimers {
    /// What a timer is for.
    enum Kind: Equatable {
        /// A force TTL on this breaker may have ended.
        case expiry(resource: String)
        /// A connection's deadline (the serial tells a reused descriptor apart).
        case connection(fd: Int32, serial: UInt64)
        /// The HTTP loop's `/healthz` probe of this sequence number: the event loops that have not answered it by
        /// now are stuck.
        case probe(UInt64)
    }

    struct Timer {
        var at: MonotonicInstant
        var kind: Kind
    }

    private var heap: [Timer] = []

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    /// The earliest instant, if any.
    var earliest: MonotonicInstant? { heap.first?.at }

    mutating func schedule(_ kind: Kind, at instant: MonotonicInstant) {
        heap.append(Timer(at: instant, kind: kind))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].at < heap[parent].at else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    /// Removes and returns the timers due at `now`, earliest first.
    mutating func due(now: MonotonicInstant) -> [Timer] {
        var out: [Timer] = []
        while let top = heap.first, top.at <= now {
            out.append(top)
            heap.swapAt(0, heap.count - 1)
            heap.removeLast()
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var smallest = i
                if l < heap.count && heap[l].at < heap[smallest].at { smallest = l }
                if r < heap.count && heap[r].at < heap[smallest].at { smallest = r }
                if smallest == i { break }
                heap.swapAt(i, smallest)
                i = smallest
            }
        }
        return out
    }
}
