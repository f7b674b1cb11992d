#if canImport(Glibc)
import Glibc
#endif

/// Starts the server's own threads (event loops, the durable writer) with pthreads: the server does not use
/// Foundation.
enum ServerThread {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Runs `body` on a new thread. Returns its handle when `joinable`, else detaches it and returns nil.
    @discardableResult
    static func start(joinable: Bool, _ body: @escaping @Sendable () -> Void) throws(ServerError) -> pthread_t? {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(
            &tid,
            nil,
            { arg in
                Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
                return nil
            },
            box
        )
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            throw ServerError.system("pthread_create", errno: rc)
        }
        if joinable { return tid }
        pthread_detach(tid)
        return nil
    }
}
