import BreakerCore
import BreakerProtocol
import BreakerStore

/// One breaker as cluster mode keeps it in etcd (issue #19), under `/highway-breaker/NAME/breakers/RESOURCE`:
/// the stored row (the fields of `PersistedBreaker`, deadlines in wall-clock ms) and its newest transitions
/// (at most `BreakerEntry.recentTransitionsInMemory`), as one JSON object, so that one put saves a change.
///
/// ```json
/// {"v":1,"policy":"{…}","state":"open","generation":3,"next_permit":7,"open_until_ms":…,"changed_at_ms":…,
///  "window":"…","saved_at_ms":…,"cooldown_current_ms":…,"forced":{…},"recent":[{transition},…]}
/// ```
struct ClusterRecord: Sendable, Hashable {
    var row: PersistedBreaker
    var recent: [TransitionRecord]

    /// The record format's version (`v`): a replica refuses to load a record of a newer one.
    static let version: Int64 = 1

    func encoded() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.member("v", Self.version)
        w.member("policy", row.policy.encoded)
        w.member("state", row.state.rawValue)
        w.member("generation", row.generation)
        w.member("next_permit", row.nextPermitSequence)
        if let openUntil = row.openUntilMs { w.member("open_until_ms", openUntil) }
        w.member("changed_at_ms", row.changedAtMs)
        w.member("window", row.window)
        w.member("saved_at_ms", row.savedAtMs)
        if let cooldown = row.cooldownCurrentMs { w.member("cooldown_current_ms", cooldown) }
        if let forced = row.forced {
            w.key("forced")
            w.beginObject()
            w.member("target", forced.target.rawValue)
            if let reason = forced.reason { w.member("reason", reason) }
            if let by = forced.by { w.member("by", by) }
            if let until = forced.untilMs { w.member("until_ms", until) }
            if let ttl = forced.ttlMs { w.member("ttl_ms", ttl) }
            w.endObject()
        }
        w.key("recent")
        w.beginArray()
        for record in recent {
            w.beginObject()
            record.writeMembers(to: &w)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    /// Reads a record; the error says which field is wrong.
    init(resource: String, bytes: [UInt8]) throws(ClusterRecordError) {
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            throw ClusterRecordError(resource, "not JSON")
        }
        func int(_ key: String) throws(ClusterRecordError) -> Int64 {
            guard case .integer(let value)? = json[key] else { throw ClusterRecordError(resource, "no '\(key)'") }
            return value
        }
        func optionalInt(_ key: String, in object: JSONValue = json) -> Int64? {
            if case .integer(let value)? = object[key] { return value }
            return nil
        }
        func string(_ key: String, in object: JSONValue = json) -> String? {
            if case .string(let value)? = object[key] { return value }
            return nil
        }
        let version = try int("v")
        guard version <= Self.version else {
            throw ClusterRecordError(resource, "format \(version) is newer than this breakerd's (\(Self.version))")
        }
        guard let policyText = string("policy"), let policy = BreakerPolicy(encoded: policyText) else {
            throw ClusterRecordError(resource, "no readable 'policy'")
        }
        guard let stateText = string("state"), let state = BreakerState(rawValue: stateText) else {
            throw ClusterRecordError(resource, "no readable 'state'")
        }
        guard let window = string("window") else { throw ClusterRecordError(resource, "no 'window'") }
        var forced: PersistedBreaker.Forced?
        if let f = json["forced"] {
            guard let targetText = string("target", in: f), let target = BreakerForce.Target(rawValue: targetText)
            else { throw ClusterRecordError(resource, "no readable 'forced.target'") }
            forced = PersistedBreaker.Forced(
                target: target,
                reason: string("reason", in: f),
                by: string("by", in: f),
                untilMs: optionalInt("until_ms", in: f),
                ttlMs: optionalInt("ttl_ms", in: f)
            )
        }
        row = PersistedBreaker(
            resource: resource,
            policy: policy,
            state: state,
            generation: UInt64(clamping: try int("generation")),
            nextPermitSequence: UInt64(clamping: try int("next_permit")),
            openUntilMs: optionalInt("open_until_ms"),
            forced: forced,
            changedAtMs: try int("changed_at_ms"),
            window: window,
            savedAtMs: try int("saved_at_ms"),
            cooldownCurrentMs: optionalInt("cooldown_current_ms")
        )
        var recent: [TransitionRecord] = []
        if case .array(let items)? = json["recent"] {
            for item in items {
                do {
                    recent.append(try TransitionRecord(json: item))
                } catch {
                    throw ClusterRecordError(resource, "a transition in 'recent': \(error.message)")
                }
            }
        }
        self.recent = recent
    }

    init(row: PersistedBreaker, recent: [TransitionRecord]) {
        self.row = row
        self.recent = recent
    }
}

/// A record in etcd that this replica cannot read: the resource and what is wrong.
struct ClusterRecordError: Error, Sendable, CustomStringConvertible {
    let resource: String
    let problem: String

    init(_ resource: String, _ problem: String) {
        self.resource = resource
        self.problem = problem
    }

    var description: String { "the stored breaker \"\(resource)\" cannot be read: \(problem)" }
}
