import BreakerCore

/// The reply to `history`: `{"id":…,"ok":true,"transitions":[{"from":…,"to":…,…},…]}`, newest first.
public struct HistoryReply: Sendable, Hashable {
    /// The transitions, newest first.
    public var transitions: [TransitionRecord]

    /// Creates the reply.
    public init(transitions: [TransitionRecord]) {
        self.transitions = transitions
    }

    /// Writes the whole reply line, newline included.
    public func write(id: RequestID?, into w: inout JSONWriter) {
        Reply.beginSuccess(id: id, into: &w)
        w.key("transitions")
        w.beginArray()
        for record in transitions {
            w.beginObject()
            record.writeMembers(to: &w)
            w.endObject()
        }
        w.endArray()
        Reply.end(&w)
    }

    /// Decodes a reply object; unknown members are ignored.
    public init(json: JSONValue) throws(ReplyDecodingError) {
        var transitions: [TransitionRecord] = []
        for item in try json.array("transitions") { transitions.append(try TransitionRecord(json: item)) }
        self.init(transitions: transitions)
    }
}
