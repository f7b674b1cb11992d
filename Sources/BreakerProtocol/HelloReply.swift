/// The reply to `hello`: `{"id":…,"ok":true,"server":"breakerd","version":…,"protocol":1,"role":…}`.
public struct HelloReply: Sendable, Hashable {
    /// The server's name (`breakerd`).
    public var server: String
    /// The server's version, for example `0.1.0`.
    public var version: String
    /// The protocol version the server speaks (1).
    public var protocolVersion: Int
    /// What this connection may do.
    public var role: Role

    /// Creates the reply.
    public init(server: String, version: String, protocolVersion: Int, role: Role) {
        self.server = server
        self.version = version
        self.protocolVersion = protocolVersion
        self.role = role
    }

    /// Writes the whole reply line, newline included.
    public func write(id: RequestID?, into w: inout JSONWriter) {
        Reply.beginSuccess(id: id, into: &w)
        w.member("server", server)
        w.member("version", version)
        w.member("protocol", protocolVersion)
        w.member("role", role.rawValue)
        Reply.end(&w)
    }

    /// Decodes a reply object; unknown members are ignored.
    public init(json: JSONValue) throws(ReplyDecodingError) {
        let roleText = try json.string("role")
        guard let role = Role(rawValue: roleText) else { throw ReplyDecodingError("unknown role \"\(roleText)\"") }
        self.init(
            server: try json.string("server"),
            version: try json.string("version"),
            protocolVersion: try json.count("protocol"),
            role: role
        )
    }
}
