extension OutcomeWindow {
    /// The window's contents as text that survives a restart (the monotonic clock does not):
    /// - a count window as `c:` and its outcomes oldest first: `S`/`F`, or `s`/`f` for slow ones; when it tracks
    ///   failing clients, then `|` and each failure's client in hex, oldest first, separated by `,` (`0`: unknown);
    /// - a time window as `t:` and each non-empty bucket as `age,calls,failures[,slow[,client+client…]]` (age in
    ///   buckets before the current one; clients in hex), separated by `;`.
    public func encoded(now: MonotonicInstant) -> String {
        if isTimeBased {
            let current = Self.floorDivide(now.nanoseconds, bucketNanoseconds)
            let parts = buckets.indices.compactMap { i -> String? in
                let b = buckets[i]
                let age = current.subtractingSaturated(b.epoch)
                guard b.calls > 0, age >= 0, age < Int64(buckets.count) else { return nil }
                var part = "\(age),\(b.calls),\(b.failures)"
                let clients = tracksClients ? bucketClients[i] : []
                if b.slow > 0 || !clients.isEmpty { part += ",\(b.slow)" }
                if !clients.isEmpty { part += "," + clients.map { String($0, radix: 16) }.joined(separator: "+") }
                return part
            }
            return "t:" + parts.joined(separator: ";")
        }
        let start = count == capacity ? head : 0
        var text = "c:"
        var clients: [String] = []
        for i in 0..<count {
            let slot = (start + i) % capacity
            let failure = bit(slot)
            let slow = tracksSlow && slowBit(slot)
            text.append(failure ? (slow ? "f" : "F") : (slow ? "s" : "S"))
            if tracksClients && failure { clients.append(String(slotClients[slot], radix: 16)) }
        }
        if tracksClients && !clients.isEmpty { text += "|" + clients.joined(separator: ",") }
        return text
    }

    /// Restores a window from `encoded(now:)` text written `elapsed` ago (time windows age by it), with the
    /// bookkeeping `policy` needs (slow marks and clients the window does not track are dropped; ones it tracks
    /// and the text lacks start empty). Nil when the text does not fit the shape (see `fits(_:shape:)`).
    public init?(for policy: BreakerPolicy, decoding text: String, now: MonotonicInstant, elapsed: Duration) {
        self.init(
            policy.window,
            tracksSlow: policy.slowCall != nil,
            tracksClients: policy.minFailingClients > 1,
            decoding: text,
            now: now,
            elapsed: elapsed
        )
    }

    /// Restores a window of `shape` from `encoded(now:)` text written `elapsed` ago (time windows age by it).
    /// Nil when the text does not fit the shape (see `fits(_:shape:)`).
    public init?(
        _ shape: BreakerPolicy.Window,
        tracksSlow: Bool = false,
        tracksClients: Bool = false,
        decoding text: String,
        now: MonotonicInstant,
        elapsed: Duration
    ) {
        self.init(shape, tracksSlow: tracksSlow, tracksClients: tracksClients)
        if text.hasPrefix("c:") {
            guard !isTimeBased, let (outcomes, clientList) = Self.countOutcomes(text.dropFirst(2)) else { return nil }
            var clients = clientList[...]
            for ch in outcomes {
                let failure = ch == "F" || ch == "f"
                let slow = ch == "s" || ch == "f"
                let client = failure ? (clients.popFirst() ?? 0) : 0
                if tracksSlow || tracksClients {
                    pushTracked(1, failure: failure, slow: slow, client: client)
                } else {
                    push(failure: failure)
                }
            }
        } else if text.hasPrefix("t:") {
            guard isTimeBased, let parts = Self.timeBuckets(text.dropFirst(2)) else { return nil }
            let current = Self.floorDivide(now.nanoseconds, bucketNanoseconds)
            let aged = max(0, elapsed.nanosecondsClamped) / bucketNanoseconds
            for part in parts {
                let age = part.age.addingSaturated(aged)
                guard age < Int64(buckets.count) else { continue }
                let epoch = current.subtractingSaturated(age)
                let slot = Int(Self.floorModulo(epoch, Int64(buckets.count)))
                buckets[slot] = Bucket(
                    epoch: epoch,
                    calls: Int(part.calls),
                    failures: Int(part.failures),
                    slow: tracksSlow ? Int(part.slow) : 0
                )
                if tracksClients { bucketClients[slot] = Array(part.clients.prefix(Self.clientsPerBucket)) }
            }
        } else {
            return nil
        }
    }

    /// True when `text` is `encoded(now:)` text of a window of `shape`: `c:` and only `S`/`F`/`s`/`f` (then,
    /// optionally, `|` and hex clients, at most one per failure) for a count window, `t:` and buckets with
    /// `0 ≤ failures ≤ calls`, `0 ≤ slow ≤ calls` and `age ≥ 0` for a time window. Exactly the texts
    /// `init?(_:decoding:now:elapsed:)` accepts; checks without building the window.
    public static func fits(_ text: String, shape: BreakerPolicy.Window) -> Bool {
        let timeBased = if case .time = shape { true } else { false }
        if text.hasPrefix("c:") {
            return !timeBased && countOutcomes(text.dropFirst(2)) != nil
        }
        if text.hasPrefix("t:") {
            return timeBased && timeBuckets(text.dropFirst(2)) != nil
        }
        return false
    }

    /// A count window's outcome letters and failing clients (after `c:`), or nil when malformed.
    private static func countOutcomes(_ body: Substring) -> (Substring, [UInt64])? {
        let bar = body.firstIndex(of: "|")
        let outcomes = body[..<(bar ?? body.endIndex)]
        let letters: Set<UInt8> = [UInt8(ascii: "S"), UInt8(ascii: "F"), UInt8(ascii: "s"), UInt8(ascii: "f")]
        guard outcomes.utf8.allSatisfy({ letters.contains($0) }) else { return nil }
        guard let bar else { return (outcomes, []) }
        var clients: [UInt64] = []
        for item in body[body.index(after: bar)...].split(separator: ",", omittingEmptySubsequences: false) {
            guard let client = UInt64(item, radix: 16) else { return nil }
            clients.append(client)
        }
        let failures = outcomes.utf8.count { $0 == UInt8(ascii: "F") || $0 == UInt8(ascii: "f") }
        guard clients.count <= failures else { return nil }
        return (outcomes, clients)
    }

    /// The buckets of a time window's text (after `t:`), or nil when one is malformed.
    private static func timeBuckets(
        _ body: Substring
    ) -> [(age: Int64, calls: Int64, failures: Int64, slow: Int64, clients: [UInt64])]? {
        var out: [(age: Int64, calls: Int64, failures: Int64, slow: Int64, clients: [UInt64])] = []
        for part in body.split(separator: ";") {
            let fields = part.split(separator: ",", omittingEmptySubsequences: false)
            guard (3...5).contains(fields.count) else { return nil }
            let numbers = fields.prefix(4).map { Int64($0) }
            guard let age = numbers[0], let calls = numbers[1], let failures = numbers[2],
                age >= 0, calls >= failures, failures >= 0
            else { return nil }
            var slow: Int64 = 0
            if numbers.count > 3 {
                guard let s = numbers[3], s >= 0, s <= calls else { return nil }
                slow = s
            }
            var clients: [UInt64] = []
            if fields.count == 5 {
                for item in fields[4].split(separator: "+", omittingEmptySubsequences: false) {
                    guard let client = UInt64(item, radix: 16) else { return nil }
                    clients.append(client)
                }
            }
            out.append((age, calls, failures, slow, clients))
        }
        return out
    }
}
