/// The reply to `status`, `configure`, `force`, `release` and `reset`: `{"id":…,"ok":true,"breaker":{…}}`.
public struct BreakerReply: Sendable, Hashable {
    /// The breaker after the operation.
    public var breaker: BreakerInfo

    /// Creates the reply.
    public init(breaker: BreakerInfo) {
        self.breaker = breaker
    }

    /// Writes the whole reply line, newline included.
    public func write(id: RequestID?, into w: inout JSONWriter) {
        Reply.beginSuccess(id: id, into: &w)
        w.key("breaker")
        breaker.write(to: &w)
        Reply.end(&w)
    }

    /// Decodes a reply object; unknown members are ignored.
    public init(json: JSONValue) throws(ReplyDecodingError) {
        self.init(breaker: try BreakerInfo(json: try json.object("breaker")))
    }
}
