public import BreakerCore
public import BreakerProtocol
public import Logging

/// A reply type of BreakerProtocol, read with its one reader.
protocol DecodableReply {
    init(json: JSONValue) throws(ReplyDecodingError)
}
