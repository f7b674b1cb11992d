/// The reply to `list`: `{"id":…,"ok":true,"breakers":[{…},…]}`, sorted by name, with `"next":"<name>"` when
/// more breakers remain (ask again with `"after":` that name).
public struct ListReply: Sendable, Hashable {
    /// One page of the breakers whose names start with the prefix asked for.
    public var breakers: [BreakerInfo]
    /// Set when more remain: the name to pass as `after` for the next page.
    public var next: String?

    /// Creates the reply.
    public init(breakers: [BreakerInfo], next: String? = nil) {
        self.breakers = breakers
        self.next = next
    }

    /// Writes the whole reply line, newline included.
    public func write(id: RequestID?, into w: inout JSONWriter) {
        Reply.beginSuccess(id: id, into: &w)
        w.key("breakers")
        w.beginArray()
        for info in breakers { info.write(to: &w) }
        w.endArray()
        if let next { w.member("next", next) }
        Reply.end(&w)
    }

    /// Decodes a reply object; unknown members are ignored.
    public init(json: JSONValue) throws(ReplyDecodingError) {
        var breakers: [BreakerInfo] = []
        for item in try json.array("breakers") { breakers.append(try BreakerInfo(json: item)) }
        self.init(breakers: breakers, next: json.optionalString("next"))
    }
}
