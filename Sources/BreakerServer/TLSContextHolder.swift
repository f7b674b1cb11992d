import BreakerTLS
import Synchronization

/// The server's TLS context: read by every new connection, replaced when the files are re-read (SIGHUP).
/// Connections keep the context they started with.
final class TLSContextHolder: Sendable {
    private let context: Mutex<TLSContext>
    let files: ServerConfiguration.TLSFiles

    init(_ files: ServerConfiguration.TLSFiles) throws(ServerError) {
        self.files = files
        self.context = Mutex(try Self.load(files))
    }

    /// The context for a new connection.
    var current: TLSContext { context.withLock { $0 } }

    /// Reads the files again; on failure the old context stays and the error says why.
    func reload() throws(ServerError) {
        let fresh = try Self.load(files)
        context.withLock { $0 = fresh }
    }

    static func load(_ files: ServerConfiguration.TLSFiles) throws(ServerError) -> TLSContext {
        do {
            return try TLSContext.server(
                certificateFile: files.certificateFile,
                keyFile: files.keyFile,
                clientCAFile: files.clientCAFile
            )
        } catch {
            throw ServerError.configuration("TLS: \(error.message)")
        }
    }
}
