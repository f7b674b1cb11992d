public import BreakerCore

/// The reply to `lease`: `{"id":…,"ok":true,"leases":[…]}`, one slot per request entry, in request order.
///
/// ```json
/// {"id":3,"ok":true,"leases":[{"resource":"db","state":"closed","generation":4,"lease_ms":1000},
///  {"resource":"trial","state":"open","generation":3,"lease_ms":1000,"would_allow":false},
///  {"resource":"pay","state":"open","generation":1,"lease_ms":0,"retry_after_ms":29000},
///  {"resource":"no spaces","error":{"code":"invalid_resource","message":"…"}}]}
/// ```
public struct LeaseReply: Sendable, Hashable {
    /// The answer to one entry.
    public enum Slot: Sendable, Hashable {
        /// The entry was served.
        case lease(Lease)
        /// The entry failed alone: `resource` is the name it gave, when that was a string.
        case failed(resource: String?, ProtocolError)
    }

    /// A served entry: the breaker's state after the entry's counts, and the lease granted.
    public struct Lease: Sendable, Hashable {
        /// The breaker's name.
        public var resource: String
        /// The breaker's state after the entry's counts were applied.
        public var state: BreakerState
        /// The breaker's generation after the entry's counts were applied.
        public var generation: UInt64
        /// How long the client may allow calls on its own without hearing from the server again (written in
        /// whole milliseconds, rounded up): the server's `--lease-ms` while `closed` or `forced_closed`, zero
        /// otherwise.
        public var lease: Duration
        /// While `open` or `forced_open`: how long until asking again is worthwhile (written in whole
        /// milliseconds, rounded up); nil otherwise.
        public var retryAfter: Duration?
        /// False when the breaker is in shadow mode and enforce mode would have rejected calls (`open` or
        /// `forced_open`): the lease is granted as for `closed`, without `retryAfter`. True otherwise (and left
        /// out of the line).
        public var wouldAllow: Bool

        /// Creates a served entry.
        public init(
            resource: String,
            state: BreakerState,
            generation: UInt64,
            lease: Duration,
            retryAfter: Duration?,
            wouldAllow: Bool = true
        ) {
            self.resource = resource
            self.state = state
            self.generation = generation
            self.lease = lease
            self.retryAfter = retryAfter
            self.wouldAllow = wouldAllow
        }
    }

    /// One slot per entry of the request, in its order.
    public var leases: [Slot]

    /// Creates the reply.
    public init(leases: [Slot]) {
        self.leases = leases
    }

    /// Writes the whole reply line, newline included. Durations are never negative.
    public func write(id: RequestID?, into w: inout JSONWriter) {
        Reply.beginSuccess(id: id, into: &w)
        w.key("leases")
        w.beginArray()
        for slot in leases {
            w.beginObject()
            switch slot {
            case .lease(let lease):
                w.member("resource", lease.resource)
                w.member("state", lease.state.rawValue)
                w.member("generation", lease.generation)
                w.member("lease_ms", max(lease.lease.millisecondsRoundedUp, 0))
                if let retryAfter = lease.retryAfter {
                    w.member("retry_after_ms", max(retryAfter.millisecondsRoundedUp, 0))
                }
                if !lease.wouldAllow {
                    w.member("would_allow", false)
                }
            case .failed(let resource, let error):
                if let resource { w.member("resource", resource) }
                w.key("error")
                w.beginObject()
                w.member("code", error.code.rawValue)
                w.member("message", error.message)
                w.endObject()
            }
            w.endObject()
        }
        w.endArray()
        Reply.end(&w)
    }

    /// Decodes a reply object; unknown members are ignored. A slot with an `error` object is `.failed`.
    public init(json: JSONValue) throws(ReplyDecodingError) {
        var slots: [Slot] = []
        for item in try json.array("leases") {
            guard case .object = item else { throw ReplyDecodingError("an entry of 'leases' is not an object") }
            if item["error"] != nil {
                let error = try item.object("error")
                slots.append(
                    .failed(
                        resource: item.optionalString("resource"),
                        ProtocolError(ErrorCode(rawValue: try error.string("code")), try error.string("message"))
                    )
                )
                continue
            }
            slots.append(
                .lease(
                    Lease(
                        resource: try item.string("resource"),
                        state: try item.state("state"),
                        generation: try item.generation(),
                        lease: .milliseconds(max(0, try item.int("lease_ms"))),
                        retryAfter: item.optionalInt("retry_after_ms").map { .milliseconds($0) },
                        wouldAllow: item["would_allow"] != .bool(false)
                    )
                )
            )
        }
        self.init(leases: slots)
    }
}
