import BreakerCore
import BreakerProtocol
import CBreakerSystem
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How other threads reach an event loop: messages behind a mutex, and an eventfd that wakes the loop's
/// `epoll_wait`. Made before the loops, so that the watcher hub and the durable writer can be built first.
final class Mailbox: Sendable {
    enum Message: Sendable {
        /// Take over an accepted connection.
        case adopt(fd: Int32)
        /// An event line for a connection that watches, or holds a lease on the event's resource.
        case event(ConnectionKey, [UInt8])
        /// The durable writer committed (failure nil) or failed the change a held reply waits for.
        case committed(ConnectionKey, failure: ProtocolError?)
        /// Stop accepting, answer what is in flight, close.
        case shutdown
        /// End `resource`'s force at `at` (a new cluster leader's restored forces).
        case scheduleExpiry(resource: String, at: MonotonicInstant)
        /// `/healthz` asks an event loop to show it still turns: it answers with `probeAnswered` to the HTTP loop.
        case probe(UInt64)
        /// Event loop `loop` answered probe `sequence` (to the HTTP loop).
        case probeAnswered(loop: Int, sequence: UInt64)
    }

    /// Readable while messages wait (registered in the loop's epoll set).
    let wakeFD: Int32
    private let messages = Mutex<[Message]>([])

    init() throws(ServerError) {
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else { throw ServerError.system("eventfd", errno: errno) }
    }

    deinit { close(wakeFD) }

    /// Hands a message to the loop and wakes it.
    func post(_ message: Message) {
        let wasEmpty = messages.withLock { box in
            let empty = box.isEmpty
            box.append(message)
            return empty
        }
        if wasEmpty {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    /// Takes every waiting message (on the loop's thread, after the eventfd woke it).
    func take() -> [Message] {
        var value: UInt64 = 0
        _ = read(wakeFD, &value, 8)
        return messages.withLock { box in
            let taken = box
            box.removeAll(keepingCapacity: true)
            return taken
        }
    }
}
