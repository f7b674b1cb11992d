import ArgumentParser
import BreakerControl
import HighwayBreaker
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Where a command's results go: lines for people, or JSON lines.
struct Output: Sendable {
    let json: Bool
    let formatter: ControlFormatter

    func line(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
    }

    func breaker(_ b: BreakerInfo, human: String? = nil) {
        line(json ? ControlJSON.breaker(b) : (human ?? formatter.status(b)))
    }
}
