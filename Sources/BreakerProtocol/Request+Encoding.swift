import BreakerCore

extension Request {
    /// Writes the request line, newline included: `id` first when set, then `op`, then the operation's fields
    /// (optional ones only when set; a policy through `WirePolicy.write`). `Request.decode(line:)` reads it back
    /// as the same value.
    ///
    /// ```json
    /// {"id":7,"op":"acquire","resource":"payments-db"}
    /// {"op":"report","resource":"payments-db","outcome":"failure","permit":"2.1","duration_ms":12,"noreply":true}
    /// {"op":"lease","resources":[{"resource":"db","successes":120,"failures":3},{"resource":"cache"}]}
    /// ```
    public func write(into w: inout JSONWriter) {
        w.beginObject()
        id?.writeMember(into: &w)
        w.member("op", operation.name.rawValue)
        switch operation {
        case .ping, .unwatch, .stats, .cluster:
            break
        case .hello(let token, let client, let protocolVersion):
            if let token { w.member("token", token) }
            if let client { w.member("client", client) }
            if let protocolVersion { w.member("protocol", protocolVersion) }
        case .acquire(let resource, let policy):
            w.member("resource", resource)
            Self.write(policy: policy, into: &w)
        case .report(let resource, let kind, let policy, let durationMs, let noreply):
            w.member("resource", resource)
            switch kind {
            case .outcome(let outcome, let permit):
                w.member("outcome", outcome.rawValue)
                if let permit { w.member("permit", permit.description) }
            case .batch(let successes, let failures, let slow):
                w.member("successes", successes)
                w.member("failures", failures)
                if slow != 0 { w.member("slow", slow) }
            }
            if let durationMs { w.member("duration_ms", durationMs) }
            Self.write(policy: policy, into: &w)
            if noreply { w.member("noreply", true) }
        case .lease(let entries):
            w.key("resources")
            w.beginArray()
            for entry in entries { entry.write(into: &w) }
            w.endArray()
        case .status(let resource), .release(let resource), .reset(let resource), .delete(let resource):
            w.member("resource", resource)
        case .list(let prefix, let after, let limit):
            if !prefix.isEmpty { w.member("prefix", prefix) }
            if let after { w.member("after", after) }
            if limit != Request.defaultListLimit { w.member("limit", limit) }
        case .watch(let prefix):
            if !prefix.isEmpty { w.member("prefix", prefix) }
        case .configure(let resource, let policy):
            w.member("resource", resource)
            Self.write(policy: policy, into: &w)
        case .force(let resource, let target, let reason, let ttl):
            w.member("resource", resource)
            w.member("state", target.rawValue)
            if let reason { w.member("reason", reason) }
            if let ttl { w.member("ttl_ms", max(1, ttl.millisecondsRoundedUp)) }
        case .history(let resource, let limit):
            w.member("resource", resource)
            w.member("limit", limit)
        }
        w.endObject()
        w.newline()
    }

    private static func write(policy: BreakerPolicy?, into w: inout JSONWriter) {
        guard let policy else { return }
        w.key("policy")
        WirePolicy.write(policy, to: &w)
    }
}
