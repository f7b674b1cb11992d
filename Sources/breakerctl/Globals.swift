import ArgumentParser
import BreakerControl
import HighwayBreaker
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `--server`, `--token-file`, the TLS options, `--json`: accepted before and after the subcommand.
struct Globals: ParsableArguments {
    @Option(help: "breakerd's HOST:PORT (env BREAKER_SERVER; default 127.0.0.1:7433).")
    var server: String?

    @Option(help: "File with the token to send in hello (env BREAKER_TOKEN_FILE).")
    var tokenFile: String?

    @Option(help: "CA certificate (PEM) that signed breakerd's certificate; turns TLS on (env BREAKER_TLS_CA).")
    var tlsCa: String?

    @Option(help: "Client certificate (PEM) for a breakerd that requires one (env BREAKER_TLS_CERT).")
    var tlsCert: String?

    @Option(help: "Key (PEM) of --tls-cert (env BREAKER_TLS_KEY).")
    var tlsKey: String?

    @Option(help: "Name breakerd's certificate must be for; default: the --server host (env BREAKER_TLS_SERVER_NAME).")
    var tlsServerName: String?

    @Flag(help: "Print the server's objects as JSON, one per line.")
    var json = false
}
