#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Splits a byte stream into request lines: `\n` ends a line, a `\r` before it is dropped, empty lines are
/// skipped, and a line longer than `maximumLineBytes` (without its ending) is refused, whether it has ended yet
/// or not. Lines are handed out as views of the input where possible (no copy); only a line split across reads
/// is assembled in `partial`.
public struct LineFramer: Sendable {
    /// How a `feed` ended.
    public enum Outcome: Sendable, Hashable {
        /// Every byte was consumed (complete lines answered, the rest kept as a partial line).
        case consumed
        /// `onLine` asked to stop; the bytes from `resumeAt` on were not looked at.
        case stopped(resumeAt: Int)
        /// A line is longer than the limit; the framer dropped it and its partial bytes.
        case lineTooLong
    }

    /// The longest line accepted, in bytes, not counting `\n` or `\r\n`.
    public let maximumLineBytes: Int
    /// Bytes of a line that has not ended yet.
    public private(set) var partial: [UInt8] = []

    public init(maximumLineBytes: Int) {
        self.maximumLineBytes = maximumLineBytes
    }

    /// Feeds `bytes`; calls `onLine` with each complete non-empty line. `onLine` returns false to stop (for
    /// example when a reply must wait): the caller keeps the unread rest.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ onLine: (UnsafeRawBufferPointer) -> Bool) -> Outcome {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return .consumed }
        var start = 0
        while start < bytes.count, let found = memchr(base + start, 0x0A, bytes.count - start) {
            let end = base.distance(to: UnsafeRawPointer(found))
            let verdict: Verdict
            if partial.isEmpty {
                verdict = emit(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), onLine)
            } else {
                partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                let line = partial
                partial.removeAll(keepingCapacity: true)
                verdict = line.withUnsafeBytes { emit($0, onLine) }
            }
            start = end + 1
            switch verdict {
            case .next: continue
            case .stop: return .stopped(resumeAt: start)
            case .tooLong: return .lineTooLong
            }
        }
        if start < bytes.count {
            partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start...]))
            if partial.count > maximumLineBytes + 1 || (partial.count > maximumLineBytes && partial.last != 0x0D) {
                partial = []
                return .lineTooLong
            }
        }
        return .consumed
    }

    /// At the end of the stream: the last line, if it did not end with `\n`, is a line too.
    public mutating func finish(_ onLine: (UnsafeRawBufferPointer) -> Bool) -> Outcome {
        guard !partial.isEmpty else { return .consumed }
        let line = partial
        partial = []
        switch line.withUnsafeBytes({ emit($0, onLine) }) {
        case .next: return .consumed
        case .stop: return .stopped(resumeAt: 0)
        case .tooLong: return .lineTooLong
        }
    }

    private enum Verdict { case next, stop, tooLong }

    private func emit(_ raw: UnsafeRawBufferPointer, _ onLine: (UnsafeRawBufferPointer) -> Bool) -> Verdict {
        var line = raw
        if line.last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
        if line.count > maximumLineBytes { return .tooLong }
        if line.isEmpty { return .next }
        return onLine(line) ? .next : .stop
    }
}
