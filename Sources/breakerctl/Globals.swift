import ArgumentParser
import BreakerControl
import HighwayBreaker
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `--server`, `--token-file`, `--json`: accepted before and after the subcommand.
struct Globals: ParsableArguments {
    @Option(help: "breakerd's HOST:PORT (env BREAKER_SERVER; default 127.0.0.1:7433).")
    var server: String?

    @Option(help: "File with the token to send in hello (env BREAKER_TOKEN_FILE).")
    var tokenFile: String?

    @Flag(help: "Print the server's objects as JSON, one per line.")
    var json = false
}
