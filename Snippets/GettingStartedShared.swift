// One circuit shared by every process: the same call through a breakerd on this machine (`swift run breakerd`).
import HighwayBreaker

struct ConnectionError: Error {}

func fetchData() async throws -> String { "data" }

// One client per process; it connects (and reconnects) by itself.
let client = BreakerClient(configuration: .init(host: "127.0.0.1", port: 7433, clientName: "getting-started"))
try await client.connect(timeout: .seconds(5))

// The policy is used if this creates the breaker on the server, and by the local fallback.
let payments = try SharedCircuitBreaker(
    resource: "payments-db",
    policy: try BreakerPolicy(failureThreshold: Fraction(2, 5), cooldown: .seconds(30)),
    client: client,
    handle: { $0 is ConnectionError },
    fallback: .local
)

do {
    let data = try await payments.run { try await fetchData() }
    print("got \(data); the circuit is \(payments.lastKnownState.map { "\($0)" } ?? "unknown")")
} catch let open as CircuitOpenError {
    print("payments-db is \(open.state) fleet-wide; retry after \(open.retryAfter)")
}
let status = try await client.status("payments-db")
print("breakerd holds \(status.resource): \(status.state), \(status.windowCalls) calls in its window")
client.shutdown()
