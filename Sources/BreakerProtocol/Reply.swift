/// Writing reply lines: `{"id":…,"ok":true,…}` and `{"id":…,"ok":false,"error":{"code":…,"message":…}}`.
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
        w.endObject()
        end(&w)
    }

    private static func writeID(_ id: RequestID?, into w: inout JSONWriter) {
        switch id {
        case nil: break
        case .integer(let i)?:
            w.member("id", i)
        case .string(let s)?:
            w.member("id", s)
        }
    }
}
