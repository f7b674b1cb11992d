import BreakerProtocol
import Synchronization

/// Checks `hello` tokens against the configured ones, in constant time. The token sets can be replaced while
/// the server runs (SIGHUP re-reads the token files): new `hello`s use the new sets; connections that already
/// succeeded keep their role.
final class Authenticator: Sendable {
    private struct Tokens: Sendable {
        var client: [[UInt8]]
        var admin: [[UInt8]]
    }

    private let tokens: Mutex<Tokens>
    /// True when token files were given: connections must `hello` with a token first.
    let required: Bool

    init(configuration: ServerConfiguration) {
        tokens = Mutex(
            Tokens(
                client: configuration.clientTokens.map { Array($0.utf8) },
                admin: configuration.adminTokens.map { Array($0.utf8) }
            )
        )
        required = configuration.requiresAuthentication
    }

    /// The role of a connection before any `hello`: admin when no token files were given, else none.
    var initialRole: Role? { required ? nil : .admin }

    /// Replaces the valid tokens.
    func replace(client: [String], admin: [String]) {
        tokens.withLock {
            $0.client = client.map { Array($0.utf8) }
            $0.admin = admin.map { Array($0.utf8) }
        }
    }

    /// The role `token` grants, or nil. Every configured token is compared, whatever matches, so the time taken
    /// does not depend on which token (or how much of one) matched.
    func role(for token: String?) -> Role? {
        guard required else { return .admin }
        guard let token else { return nil }
        let candidate = Array(token.utf8)
        let (admin, client) = tokens.withLock { ($0.admin, $0.client) }
        var isAdmin = false
        var isClient = false
        for t in admin { isAdmin = Self.constantTimeEqual(t, candidate) || isAdmin }
        for t in client { isClient = Self.constantTimeEqual(t, candidate) || isClient }
        return isAdmin ? .admin : (isClient ? .client : nil)
    }

    /// Compares two byte strings in time that depends only on their lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= x ^ y
        }
        return difference == 0
    }
}
