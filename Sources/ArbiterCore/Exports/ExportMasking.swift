import Crypto
import Foundation

/// Fields that decision exports replace by a keyed hash, so personal data (e-mail addresses,
/// names) leaves Arbiter only as tokens — and the same value always becomes the same token,
/// so rows still join across exports.
///
/// Configured as `{"mask": ["payload.customer_email", "account_id"]}` (`exports.json` in the
/// policies directory, or `arbiter serve --exports FILE`). A path names a field of a decision
/// export row (``DecisionExportRow``), through objects: `payload.<field>[.<field>…]`, or one of
/// the row's own text fields. A masked value becomes `hmac-sha256:<hex>`: HMAC-SHA256 under the
/// masking key of the value's canonical JSON (so `"42"` and `42` differ). The key (32 random
/// bytes, hex, mode 0600) is created on first start in the data directory as
/// `export-masking.key`; keep it to keep tokens stable. Audit exports are not masked: audit
/// entries carry no payload (only its SHA-256), and masking would break their hash chain.
/// The live API shows real values to the roles allowed to read them.
public struct ExportMasking: Sendable {
    public static let keyFileName = "export-masking.key"
    /// The top-level row fields a path may start with.
    static let maskableFields: Set<String> = ["payload", "account_id", "external_id", "correlation_id", "submitted_by", "source"]

    /// The configured paths, each split into its field names.
    public let paths: [[String]]
    private let key: SymmetricKey

    public init(paths: [[String]], key: SymmetricKey) {
        self.paths = paths
        self.key = key
    }

    /// Nothing masked.
    public static func none(key: SymmetricKey = SymmetricKey(size: .bits256)) -> ExportMasking {
        ExportMasking(paths: [], key: key)
    }

    /// The paths as configured, dotted.
    public var fields: [String] { paths.map { $0.joined(separator: ".") } }

    /// A short name for the key (the first 16 hex characters of SHA-256 of an HMAC under it),
    /// recorded in manifests: two exports whose tokens join carry the same one.
    public var keyId: String {
        String(Hex.encode(HMAC<SHA256>.authenticationCode(for: Array("arbiter export masking key id".utf8), using: key)).prefix(16))
    }

    /// Reads `{"mask": [path, …]}`; unknown members and bad paths are named.
    public static func paths(from config: JSONValue) throws -> [[String]] {
        guard let fields = config.objectValue else { throw Refusal.invalid([FieldError("", "must be a JSON object {\"mask\": [...]}")]) }
        var errors: [FieldError] = []
        for name in fields.keys.sorted() where name != "mask" { errors.append(FieldError(name, "is not a setting (mask)")) }
        var paths: [[String]] = []
        switch fields["mask"] {
        case nil: break
        case .array(let items)?:
            for (index, item) in items.enumerated() {
                let parts = item.stringValue?.split(separator: ".", omittingEmptySubsequences: false).map(String.init) ?? []
                guard let head = parts.first, maskableFields.contains(head), !parts.contains(""),
                      head == "payload" ? parts.count >= 2 : parts.count == 1 else {
                    errors.append(FieldError("mask[\(index)]", "must be payload.<field>[.<field>…] or one of account_id, correlation_id, external_id, source, submitted_by"))
                    continue
                }
                paths.append(parts)
            }
        default: errors.append(FieldError("mask", "must be an array of field paths such as \"payload.customer_email\""))
        }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        return paths
    }

    /// Reads the key in `directory`, or creates it (mode 0600) when there is none.
    public static func loadOrCreateKey(in directory: String) throws -> SymmetricKey {
        SymmetricKey(data: try SecretFile.loadOrCreate(in: directory, name: keyFileName, what: "export masking key") {
            SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        })
    }

    /// The token a value masks to.
    public func token(for value: JSONValue) -> String {
        "hmac-sha256:" + Hex.encode(HMAC<SHA256>.authenticationCode(for: CanonicalJSON.encode(value), using: key))
    }

    /// Replaces every configured field present in `row`; nulls and absent fields stay as they are.
    public func apply(to row: inout [String: JSONValue]) {
        for path in paths { mask(&row, path[...]) }
    }

    private func mask(_ object: inout [String: JSONValue], _ path: ArraySlice<String>) {
        guard let name = path.first, let value = object[name], value != .null else { return }
        if path.count == 1 {
            object[name] = .string(token(for: value))
        } else if case .object(var inner) = value {
            mask(&inner, path.dropFirst())
            object[name] = .object(inner)
        }
    }
}
