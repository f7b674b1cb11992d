import BreakerTLS
import CBreakerSystem

#if canImport(Glibc)
import Glibc
#endif

extension TLSSession {
    /// One try at sending what the session holds to `fd` (an alert or a close_notify, just before closing or
    /// shutting the write side): what the socket does not take is dropped.
    func sendOnce(to fd: Int32) {
        sendOutput { records in
            _ = send(fd, records.baseAddress, records.count, Int32(MSG_NOSIGNAL))
            return records.count
        }
    }
}
