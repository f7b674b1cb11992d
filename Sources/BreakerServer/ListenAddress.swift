#if canImport(Glibc)
import Glibc
#endif

/// A `HOST:PORT` to listen on; IPv6 hosts in brackets (`[::1]:7433`).
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// A numeric address or `localhost`.
    public var host: String
    /// 0 picks a free port.
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` or `[IPv6]:PORT`. Nil when malformed.
    public init?(parsing text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return nil
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }  // IPv6 needs brackets
        }
        guard !host.isEmpty, let port = Int(portText), (0...65_535).contains(port) else { return nil }
        self.init(host: String(host), port: port)
    }

    /// True when every address the host resolves to is in 127.0.0.0/8 or is ::1: the decision is made on the
    /// resolved addresses, never on the text (a name that starts with `127.` may resolve anywhere). A host
    /// that does not resolve is not loopback.
    public var isLoopback: Bool {
        let addresses = Self.resolve(host)
        return !addresses.isEmpty && addresses.allSatisfy(\.isLoopback)
    }

    /// One resolved address, as the bytes of an IPv4 or IPv6 address.
    enum ResolvedAddress: Hashable {
        case v4(UInt32)
        case v6([UInt8])

        var isLoopback: Bool {
            switch self {
            case .v4(let a): a >> 24 == 127
            case .v6(let bytes): bytes == [UInt8](repeating: 0, count: 15) + [1]
            }
        }
    }

    /// Every address `host` resolves to (numeric hosts are not looked up).
    static func resolve(_ host: String) -> [ResolvedAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0 else { return [] }
        defer { freeaddrinfo(result) }
        var out: [ResolvedAddress] = []
        var next = result
        while let info = next {
            if info.pointee.ai_family == AF_INET, let raw = info.pointee.ai_addr {
                let a = raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                out.append(.v4(UInt32(bigEndian: a)))
            } else if info.pointee.ai_family == AF_INET6, let raw = info.pointee.ai_addr {
                let bytes = raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                    withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
                }
                out.append(.v6(bytes))
            }
            next = info.pointee.ai_next
        }
        return out
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
