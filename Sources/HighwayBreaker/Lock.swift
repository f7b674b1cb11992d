#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A value guarded by a `pthread_mutex_t`, for locks that application threads contend on (the call path of the
/// in-process and shared breakers).
///
/// Why not `Synchronization.Mutex`: on Linux, Swift 6.3.1's `Mutex` is a priority-inheritance futex, which hands
/// the lock from one sleeping thread to the next when threads outnumber cores; 8 threads sharing one
/// `CircuitBreakerPolicy` on 2 cores fell to about 21,000 calls/s in total (swiftlang/swift #88440, fixed by
/// #88523 after 6.3.1; issue #14 has the figures). A plain `pthread_mutex_t` lets a running thread take a free
/// lock at once and holds up (benchmarks/RESULTS-inprocess.md). Everything goes through this one type, so it
/// can become a `Mutex` again once the toolchain is fixed.
///
/// As swift-nio's `NIOLock` does, the mutex lives in its own heap allocation (a `pthread_mutex_t` must not
/// move), initialised in `init` and destroyed in `deinit`. The value lives in a heap cell too, so `withLock`
/// involves no dynamic exclusivity check.
final class Lock<Value> {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let value: UnsafeMutablePointer<Value>

    /// A lock guarding `initialValue`.
    init(_ initialValue: Value) {
        mutex = UnsafeMutablePointer.allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        #if DEBUG
        // Catches a thread that takes the lock twice (a deadlock) or unlocks a lock it does not hold.
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        #endif
        let initialised = pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
        precondition(initialised == 0, "pthread_mutex_init failed: \(initialised)")
        value = UnsafeMutablePointer.allocate(capacity: 1)
        value.initialize(to: initialValue)
    }

    deinit {
        let destroyed = pthread_mutex_destroy(mutex)
        assert(destroyed == 0, "pthread_mutex_destroy failed: \(destroyed)")
        mutex.deinitialize(count: 1)
        mutex.deallocate()
        value.deinitialize(count: 1)
        value.deallocate()
    }

    /// Runs `body` with the value while holding the lock, and returns what it returns. Do not call out (to
    /// handlers, the network) from `body`, and do not take the same lock again inside it.
    @inline(__always)
    func withLock<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let locked = pthread_mutex_lock(mutex)
        precondition(locked == 0, "pthread_mutex_lock failed: \(locked)")
        defer {
            let unlocked = pthread_mutex_unlock(mutex)
            precondition(unlocked == 0, "pthread_mutex_unlock failed: \(unlocked)")
        }
        return try body(&value.pointee)
    }
}

// Safe because every access to `value` happens inside `withLock`, that is while holding `mutex`, and the
// pointers themselves never change after `init`. Only a `Sendable` value may be shared this way.
extension Lock: @unchecked Sendable where Value: Sendable {}
