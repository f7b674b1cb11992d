import Foundation

/// Certificates made at test time with the `openssl` command (Debian `openssl`): a CA, a server certificate
/// for 127.0.0.1 and `breakerd.test`, a client certificate (common name `client-a`), an expired one, and a
/// server and a client certificate from another CA. Each is a PEM certificate file and its key file.
public struct TestCertificates: Sendable {
    /// A certificate file and its key file.
    public struct Pair: Sendable {
        public let certificate: String
        public let key: String

        public init(certificate: String, key: String) {
            self.certificate = certificate
            self.key = key
        }
    }

    public let directory: String
    public let caFile: String
    public let server: Pair
    public let client: Pair
    /// Signed by the CA, valid only on 2020-01-01.
    public let expired: Pair
    /// Signed by another CA (`otherCAFile`).
    public let foreignServer: Pair
    public let foreignClient: Pair
    public let otherCAFile: String

    /// Makes every certificate in a new temporary directory (about a second).
    public init() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hb-certs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        directory = dir
        func path(_ name: String) -> String { dir + "/" + name }
        try "".write(toFile: path("index.txt"), atomically: true, encoding: .utf8)
        try "01\n".write(toFile: path("serial"), atomically: true, encoding: .utf8)
        try """
        [ ca ]
        default_ca = test_ca
        [ test_ca ]
        dir = \(dir)
        database = \(dir)/index.txt
        new_certs_dir = \(dir)
        serial = \(dir)/serial
        default_md = sha256
        policy = any
        copy_extensions = copy
        unique_subject = no
        [ any ]
        commonName = supplied
        """.write(toFile: path("ca.cnf"), atomically: true, encoding: .utf8)

        func makeCA(_ name: String, _ subject: String) throws {
            try Self.openssl(
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    path("\(name).key"), "-out", path("\(name).pem"), "-days", "3650", "-subj", "/CN=\(subject)",
                ],
                in: dir
            )
        }
        func issue(
            _ name: String,
            cn: String,
            ca: String,
            san: String? = nil,
            dates: (String, String)? = nil
        ) throws -> Pair {
            var request = [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("\(name).key"),
                "-out", path("\(name).csr"), "-subj", "/CN=\(cn)",
            ]
            if let san { request += ["-addext", "subjectAltName=\(san)"] }
            try Self.openssl(request, in: dir)
            var sign = [
                "ca", "-batch", "-config", path("ca.cnf"), "-cert", path("\(ca).pem"), "-keyfile", path("\(ca).key"),
                "-in", path("\(name).csr"), "-out", path("\(name).pem"), "-notext",
            ]
            if let (start, end) = dates {
                sign += ["-startdate", start, "-enddate", end]
            } else {
                sign += ["-days", "365"]
            }
            try Self.openssl(sign, in: dir)
            return Pair(certificate: path("\(name).pem"), key: path("\(name).key"))
        }
        try makeCA("ca", "highway breaker test CA")
        try makeCA("other-ca", "some other CA")
        caFile = path("ca.pem")
        otherCAFile = path("other-ca.pem")
        server = try issue("server", cn: "breakerd.test", ca: "ca", san: "DNS:breakerd.test,IP:127.0.0.1")
        client = try issue("client", cn: "client-a", ca: "ca")
        expired = try issue(
            "expired",
            cn: "expired",
            ca: "ca",
            san: "DNS:breakerd.test,IP:127.0.0.1",
            dates: ("20200101000000Z", "20200102000000Z")
        )
        foreignServer = try issue("foreign-server", cn: "breakerd.test", ca: "other-ca", san: "IP:127.0.0.1")
        foreignClient = try issue("foreign-client", cn: "intruder", ca: "other-ca")
    }

    /// Removes the directory.
    public func remove() { try? FileManager.default.removeItem(atPath: directory) }

    private static func openssl(_ arguments: [String], in directory: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw LineClient.Failure(description: "openssl \(arguments.prefix(2).joined(separator: " ")): \(text)")
        }
    }
}
