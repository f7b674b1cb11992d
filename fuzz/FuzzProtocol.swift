// libFuzzer target for the wire protocol's input path: LineFramer splitting arbitrary chunks, Request.decode on
// every line, and the JSON parser's round trip (parse → write → parse gives the same value). Every request that
// decodes is then applied to a BreakerStateMachine (CoreDriver) on a clock the input moves, so that the fuzzer
// reaches the core's windows and counters with whatever numbers the decoder lets through.
// Built by fuzz/run.sh with swiftc directly (-sanitize=fuzzer,address); not part of the package build.
import BreakerCore
import BreakerProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProtocol(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 1 else { return 0 }
    let all = UnsafeRawBufferPointer(start: data, count: size)
    // Byte 0 picks the line limit, byte 1 the chunk size; the rest is the stream.
    let limit = 8 + Int(all[0]) * 8
    let chunk = 1 + Int(all[1]) % 64
    let stream = UnsafeRawBufferPointer(rebasing: all[2...])

    var core = CoreDriver(start: all[0])
    var framer = LineFramer(maximumLineBytes: limit)
    var offset = 0
    var failed = false
    while offset < stream.count && !failed {
        let end = min(stream.count, offset + chunk)
        let piece = UnsafeRawBufferPointer(rebasing: stream[offset..<end])
        var resume = piece.count
        switch framer.feed(
            piece,
            { line in
                precondition(!line.isEmpty && line.count <= limit, "a line the framer should not hand out")
                precondition(!line.contains(0x0A), "a newline inside a line")
                check(line, core: &core)
                return true
            }
        ) {
        case .consumed: break
        case .stopped(let at): resume = at
        case .lineTooLong: failed = true
        }
        precondition(framer.partial.count <= limit + 1, "partial line over the limit kept")
        offset += resume
    }
    _ = framer.finish {
        check($0, core: &core)
        return true
    }
    check(stream, core: &core)
    return 0
}

/// Decoding never crashes, whatever decodes runs through the state machine without breaking its invariants, and
/// whatever parses survives a write and a second parse unchanged.
func check(_ bytes: UnsafeRawBufferPointer, core: inout CoreDriver) {
    if let request = try? Request.decode(line: bytes) { core.apply(request, line: bytes) }
    guard let value = try? JSONParser.parse(bytes) else { return }
    var writer = JSONWriter()
    writer.value(value)
    let again: JSONValue
    do {
        again = try JSONParser.parse(writer.bytes)
    } catch {
        preconditionFailure("written JSON does not parse: \(error)")
    }
    precondition(again == value || isNaNSafeEqual(again, value), "JSON round trip changed the value")
}

func isNaNSafeEqual(_ a: JSONValue, _ b: JSONValue) -> Bool { a == b }

/// One breaker driven by the decoded requests, on a clock that each line moves by an amount its bytes pick
/// (nothing, a nanosecond, a bucket, a cooldown, 30 days, centuries), starting from an instant byte 0 picks
/// (0, an ordinary uptime, or close to either end of Int64). Checks the core's invariants after every request.
struct CoreDriver {
    static let starts: [Int64] = [0, 1_000_000_000_000, Int64.max - 1_000_000_000_000, Int64.min + 1]
    static let jumps: [Int64] = [
        0, 1, 999_999, 1_000_000, 1_000_000_000, 30_000_000_000, 2_592_000_000_000_000, 1 << 62, Int64.max,
    ]

    var machine: BreakerStateMachine
    var now: MonotonicInstant
    var permits: [Permit] = []

    init(start: UInt8) {
        now = MonotonicInstant(nanoseconds: Self.starts[Int(start) % Self.starts.count])
        machine = BreakerStateMachine(policy: .default, now: now)
    }

    mutating func apply(_ request: Request, line: UnsafeRawBufferPointer) {
        // FNV-1a of the line picks the jump: any change to the line may move the clock differently.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in line { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        now = now + .nanoseconds(Self.jumps[Int(hash % UInt64(Self.jumps.count))])
        let generation = machine.generation
        var transitions: [BreakerTransition] = []
        switch request.operation {
        case .acquire(_, let policy):
            if let policy, policy != machine.policy, let t = machine.configure(policy, now: now) {
                transitions.append(t)
            }
            let decision = machine.acquire(now: now)
            transitions += decision.transitions
            if let permit = decision.permit { permits.append(permit) }
            precondition((decision.retryAfter ?? .zero) >= .zero, "negative retry_after")
        case .report(_, let kind, _, _, _):
            switch kind {
            case .outcome(let outcome, let permit):
                // A permit the client sent, or (when it sent none) one this driver was granted.
                let permit = permit ?? (permits.isEmpty || hash & 1 == 0 ? nil : permits.removeFirst())
                transitions += machine.report(outcome, permit: permit, now: now).transitions
            case .batch(let successes, let failures, let slow):
                // The client identity varies with the input, so the failing-client quorum is driven too.
                transitions +=
                    machine.record(
                        successes: successes,
                        failures: failures,
                        slow: slow,
                        client: hash,
                        now: now
                    ).transitions
            }
        case .configure(_, let policy):
            if let t = machine.configure(policy, now: now) { transitions.append(t) }
        case .force(_, let target, let reason, let ttl):
            transitions.append(machine.force(target, ttl: ttl, reason: reason, by: nil, now: now))
        case .release:
            if let t = machine.release(now: now) { transitions.append(t) }
        case .reset:
            transitions.append(machine.reset(now: now))
        case .delete:
            machine = BreakerStateMachine(policy: machine.policy, now: now)
            permits.removeAll()
            return
        default:
            if let t = machine.expire(now: now) { transitions.append(t) }
        }
        checkInvariants(transitions, generationBefore: generation)
    }

    func checkInvariants(_ transitions: [BreakerTransition], generationBefore: UInt64) {
        var generation = generationBefore
        for t in transitions {
            precondition(t.generation == generation + 1, "generation moves by one per transition")
            generation = t.generation
        }
        precondition(machine.generation == generation, "every generation change comes with a transition")
        let (calls, failures) = machine.window.totals(now: now)
        precondition(0 <= failures && failures <= calls, "window totals out of order: \(failures)/\(calls)")
        if let size = machine.policy.countWindowSize { precondition(calls <= size, "count window over its size") }
        let (out, successes, probeFailures) = machine.halfOpenCounts
        precondition(out + successes + probeFailures <= machine.policy.halfOpenPermits, "too many probes")
        if machine.state != .halfOpen { precondition(out == 0 && successes == 0 && probeFailures == 0) }
        precondition((machine.force != nil) == machine.state.isForced, "force and state disagree")
        if let wait = machine.retryAfter(now: now) { precondition(wait >= .zero, "negative retry_after") }
        // The window survives its own text (what the store keeps) with the same totals.
        let text = machine.window.encoded(now: now)
        precondition(OutcomeWindow.fits(text, shape: machine.policy.window), "encoded window does not fit")
        guard let restored = OutcomeWindow(machine.policy.window, decoding: text, now: now, elapsed: .zero) else {
            preconditionFailure("encoded window does not decode: \(text.prefix(80))")
        }
        precondition(restored.totals(now: now) == (calls, failures), "window text round trip changed the totals")
    }
}
