/// Why TLS could not be set up, or a handshake or record failed. The message says what failed in words an
/// operator acts on (unknown CA, name mismatch, expired, no client certificate), then OpenSSL's own reason.
public struct TLSError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
