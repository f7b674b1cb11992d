/// Writing reply lines: `{"id":…,"ok":true,…}` and `{"id":…,"ok":false,"error":{"code":…,"message":…}}`.
///
/// Each operation's reply has its own type with one writer and one reader (`AcquireReply`, `ReportReply`,
/// `LeaseReply`, `HelloReply`, `BreakerReply`, `ListReply`, `HistoryReply`, `StatsReply`); the replies without
/// fields of their own (`ping`, `delete`, `watch`, `unwatch`) are `success(id:into:)`, and an error reply is
/// `error(id:_:into:)`, read back with `ProtocolError(json:)`.
public enum Reply {
    /// Starts a success reply, leaving the object open for the operation's fields. End it with `end(_:)`.
    public static func beginSuccess(id: RequestID?, into w: inout JSONWriter) {
        w.beginObject()
        writeID(id, into: &w)
        w.member("ok", true)
    }

    /// Closes a reply object and ends its line.
    public static func end(_ w: inout JSONWriter) {
        w.endObject()
        w.newline()
    }

    /// Writes a whole success reply with no fields of its own: `{"id":…,"ok":true}`.
    public static func success(id: RequestID?, into w: inout JSONWriter) {
        beginSuccess(id: id, into: &w)
        end(&w)
    }

    /// Writes a whole error reply line.
    public static func error(id: RequestID?, _ error: ProtocolError, into w: inout JSONWriter) {
        w.beginObject()
        writeID(id, into: &w)
        w.member("ok", false)
        w.key("error")
        w.beginObject()
        w.member("code", error.code.rawValue)
        w.member("message", error.message)
        if let leader = error.leader { w.member("leader", leader) }
        w.endObject()
        end(&w)
    }

    private static func writeID(_ id: RequestID?, into w: inout JSONWriter) {
        id?.writeMember(into: &w)
    }
}
