public import BreakerCore

/// One entry of a `lease` request: `{"resource":"db","successes":120,"failures":3,"slow":2,"policy":{…}}`.
///
/// The entry reports the outcomes the client counted locally since its last `lease` for the resource, and asks
/// for a lease on it. An entry whose fields are wrong decodes to `.invalid`: it fails alone (its slot in the
/// reply is the error) while the request's other entries are served.
public enum LeaseEntry: Sendable, Hashable {
    /// A valid entry: `successes` and `failures` (each 0 to 2³¹−1; 0 when left out) enter the window as a
    /// count `report` does, `slow` of them (the last ones; at most `successes + failures`) slow; `policy` is
    /// used only when the entry creates the breaker.
    case lease(resource: String, successes: Int, failures: Int, slow: Int = 0, policy: BreakerPolicy?)
    /// An entry that could not be decoded: `resource` is the name it gave, when that was a string; `error` says
    /// what was wrong. Only the decoder makes these.
    case invalid(resource: String?, error: ProtocolError)

    /// The most outcomes of one kind an entry may carry (2³¹−1).
    public static let maximumCount = Int(Int32.max)

    /// A valid entry with no outcomes to report and no policy.
    public static func lease(_ resource: String) -> LeaseEntry {
        .lease(resource: resource, successes: 0, failures: 0, policy: nil)
    }

    /// The resource the entry names (nil for an invalid entry whose `resource` was not a string).
    public var resource: String? {
        switch self {
        case .lease(let resource, _, _, _, _): resource
        case .invalid(let resource, _): resource
        }
    }

    /// Reads one element of a `lease` request's `resources` array. Never throws: a wrong field makes the
    /// entry `.invalid`, with the error its reply slot carries.
    static func decode(_ value: JSONValue) -> LeaseEntry {
        guard case .object = value else {
            return .invalid(
                resource: nil,
                error: ProtocolError(
                    .badRequest,
                    "each entry of 'resources' must be an object such as {\"resource\":\"db\"}, got \(value.typeName)"
                )
            )
        }
        let fields = Fields(value: value)
        let named: String? = if case .string(let s)? = value["resource"] { s } else { nil }
        do {
            let resource = try fields.resource()
            let range = 0...Int64(maximumCount)
            let successes = try fields.integer("successes", range: range) ?? 0
            let failures = try fields.integer("failures", range: range) ?? 0
            let slow = try fields.slow(of: successes + failures) ?? 0
            let policy = try fields.policy(required: false)
            return .lease(
                resource: resource,
                successes: Int(successes),
                failures: Int(failures),
                slow: Int(slow),
                policy: policy
            )
        } catch {
            return .invalid(resource: named, error: error)
        }
    }

    /// Writes the entry object: `resource`, then the counts (and `slow`) that are not 0, then `policy` when set. (An
    /// `.invalid` entry is written as its resource alone.)
    func write(into w: inout JSONWriter) {
        w.beginObject()
        switch self {
        case .lease(let resource, let successes, let failures, let slow, let policy):
            w.member("resource", resource)
            if successes != 0 { w.member("successes", successes) }
            if failures != 0 { w.member("failures", failures) }
            if slow != 0 { w.member("slow", slow) }
            if let policy {
                w.key("policy")
                WirePolicy.write(policy, to: &w)
            }
        case .invalid(let resource, _):
            if let resource { w.member("resource", resource) }
        }
        w.endObject()
    }
}
