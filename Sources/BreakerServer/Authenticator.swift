import BreakerProtocol

/// Checks `hello` tokens against the configured ones, in constant time.
struct Authenticator: Sendable {
    let clientTokens: [[UInt8]]
    let adminTokens: [[UInt8]]
    let required: Bool

    init(configuration: ServerConfiguration) {
        clientTokens = configuration.clientTokens.map { Array($0.utf8) }
        adminTokens = configuration.adminTokens.map { Array($0.utf8) }
        required = configuration.requiresAuthentication
    }

    /// The role of a connection before any `hello`: admin when no token files were given, else none.
    var initialRole: Role? { required ? nil : .admin }

    /// The role `token` grants, or nil. Every configured token is compared, whatever matches, so the time taken
    /// does not depend on which token (or how much of one) matched.
    func role(for token: String?) -> Role? {
        guard required else { return .admin }
        guard let token else { return nil }
        let candidate = Array(token.utf8)
        var isAdmin = false
        var isClient = false
        for t in adminTokens { isAdmin = Self.constantTimeEqual(t, candidate) || isAdmin }
        for t in clientTokens { isClient = Self.constantTimeEqual(t, candidate) || isClient }
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
