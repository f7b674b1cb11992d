/// `--cluster`'s value: `etcd://HOST:PORT[,HOST:PORT…]` (the `etcd://` prefix is optional).
enum EtcdEndpoints {
    static func parse(_ text: String) -> [ListenAddress]? {
        var rest = Substring(text)
        if rest.hasPrefix("etcd://") { rest = rest.dropFirst("etcd://".count) }
        var out: [ListenAddress] = []
        for part in rest.split(separator: ",", omittingEmptySubsequences: false) {
            guard let address = ListenAddress(parsing: String(part)), (1...65_535).contains(address.port) else {
                return nil
            }
            out.append(address)
        }
        return out.isEmpty ? nil : out
    }
}
