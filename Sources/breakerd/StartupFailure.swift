import ArgumentParser
import BreakerServer
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A failure (at start, or a shutdown that could not save everything) printed as `breakerd: <message>`, exit 1.
struct StartupFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
