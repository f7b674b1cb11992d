import ArgumentParser
import BreakerControl
import HighwayBreaker
import Logging

#if canImport(Glibc)
import Glibc
#endif

@main
enum BreakerctlMain {
    static func main() async {
        // The client library's notices (connected, reconnecting) are not for an operator's terminal.
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        do {
            var command = try Breakerctl.parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            exit(0)
        } catch let failure as ControlFailure {
            fail(failure.message, code: failure.exitCode)
        } catch {
            let code = Breakerctl.exitCode(for: error)
            if code == .success {
                print(Breakerctl.fullMessage(for: error))
                exit(0)
            }
            // Every parsing or validation problem is a usage error: exit code 2.
            fail(Breakerctl.fullMessage(for: error), code: ControlFailure.usage)
        }
    }

    static func fail(_ message: String, code: Int32) -> Never {
        let bytes = Array(("breakerctl: " + message + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        exit(code)
    }
}
