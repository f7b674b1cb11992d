/// The reply to `list`: `{"id":…,"ok":true,"breakers":[{…},…]}`, sorted by name.
public struct ListReply: Sendable, Hashable {
    /// The breakers whose names start with the prefix asked for.
    public var breakers: [BreakerInfo]

    /// Creates the reply.
    public init(breakers: [BreakerInfo]) {
        self.breakers = breakers
    }

    /// Writes the whole reply line, newline included.
    public func write(id: RequestID?, into w: inout JSONWriter) {
        Reply.beginSuccess(id: id, into: &w)
        w.key("breakers")
        w.beginArray()
        for info in breakers { info.write(to: &w) }
        w.endArray()
        Reply.end(&w)
    }

    /// Decodes a reply object; unknown members are ignored.
    public init(json: JSONValue) throws(ReplyDecodingError) {
        var breakers: [BreakerInfo] = []
        for item in try json.array("breakers") { breakers.append(try BreakerInfo(json: item)) }
        self.init(breakers: breakers)
    }
}
