#if canImport(Glibc)
import Glibc
#endif

/// Reads token files: one token per line; blank lines and lines starting with `#` are skipped. Several tokens
/// may be valid at once, which is how tokens are rotated (add the new one, move clients, remove the old one).
public enum TokenFile {
    /// The tokens in the file at `path`.
    public static func load(_ path: String) throws(ServerError) -> [String] {
        guard let file = fopen(path, "r") else {
            throw ServerError.tokenFile(path, "cannot be read: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > 1_048_576 { throw ServerError.tokenFile(path, "is larger than 1 MiB") }
        }
        let tokens = String(decoding: bytes, as: UTF8.self)
            .split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { $0.trimmingCharacters(in: " \t") }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !tokens.isEmpty else { throw ServerError.tokenFile(path, "holds no token (one token per line)") }
        if let short = tokens.first(where: { $0.utf8.count < 16 }) {
            throw ServerError.tokenFile(
                path, "a token of \(short.utf8.count) bytes is too short to be secret; use at least 16 (e.g. openssl rand -hex 32)")
        }
        return tokens
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
