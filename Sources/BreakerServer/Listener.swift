import CBreakerSystem

#if canImport(Glibc)
import Glibc
#endif

/// Opens the listening socket.
enum Listener {
    /// Binds and listens on `address`; returns the descriptor and the address actually bound (the real port).
    static func open(_ address: ListenAddress) throws(ServerError) -> (fd: Int32, bound: ListenAddress) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(address.host, String(address.port), &hints, &result)
        guard rc == 0, let first = result else {
            throw ServerError.configuration(
                "cannot use listen address \(address): \(String(cString: gai_strerror(rc))); give a numeric address such as 127.0.0.1:7433 or [::1]:7433"
            )
        }
        defer { freeaddrinfo(result) }

        let info = first.pointee
        let fd = socket(info.ai_family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServerError.system("socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.ai_addr, info.ai_addrlen) == 0 else {
            let e = errno
            close(fd)
            if e == EADDRINUSE {
                throw ServerError.configuration(
                    "cannot listen on \(address): the address is in use (is another breakerd running?); choose another --listen port"
                )
            }
            throw ServerError.system("bind \(address)", errno: e)
        }
        guard listen(fd, 1_024) == 0 else {
            let e = errno
            close(fd)
            throw ServerError.system("listen", errno: e)
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
        }
        let port: Int
        if Int32(storage.ss_family) == AF_INET6 {
            port = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    Int(UInt16(bigEndian: $0.pointee.sin6_port))
                }
            }
        } else {
            port = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            }
        }
        return (fd, ListenAddress(host: address.host, port: port))
    }
}
