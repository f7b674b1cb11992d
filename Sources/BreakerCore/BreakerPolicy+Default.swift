extension BreakerPolicy {
    /// The built-in default policy: `{"failure_threshold":"10/20","success_threshold":"3/3","cooldown_ms":30000}`.
    ///
    /// `breakerd` creates breakers with it when a request carries no policy (unless `--default-policy` says
    /// otherwise), and `SharedCircuitBreaker` uses it for its local fallback when given no policy.
    public static let `default` = try! BreakerPolicy(
        failureThreshold: Fraction(10, 20),
        successThreshold: Fraction(3, 3),
        cooldown: .seconds(30)
    )
}
