/// The version of this package (breakerd, breakerctl and the libraries ship together), following semantic
/// versioning. The wire protocol has its own number (`hello` reports it; see protocol/PROTOCOL.md).
public enum PackageVersion {
    /// `MAJOR.MINOR.PATCH`.
    public static let current = "0.4.0"
}
