extension ProtocolError {
    /// Decodes an error reply, `{"id":…,"ok":false,"error":{"code":…,"message":…}}` (the line that
    /// `Reply.error(id:_:into:)` writes). A code this version does not know is kept as it is.
    public init(json: JSONValue) throws(ReplyDecodingError) {
        let error = try json.object("error")
        let leader: String?
        if case .string(let text)? = error["leader"] { leader = text } else { leader = nil }
        self.init(ErrorCode(rawValue: try error.string("code")), try error.string("message"), leader: leader)
    }
}
