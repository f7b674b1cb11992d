import ArgumentParser
import BreakerControl
import HighwayBreaker
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// What every subcommand shares: the globals given after it, merged with those given before it.
protocol ControlCommand: AsyncParsableCommand {
    var globals: Globals { get }
    var parent: Breakerctl { get }
    func run(client: BreakerClient, out: Output) async throws(ControlFailure)
}
