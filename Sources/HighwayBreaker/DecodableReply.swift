import BreakerProtocol

/// A reply type of BreakerProtocol, read with its one reader.
protocol DecodableReply {
    init(json: JSONValue) throws(ReplyDecodingError)
}
