import ArbiterCore
import ArbiterPolicy
import Foundation

/// JSON columns read back: every backend stores documents as canonical JSON text.
public enum StoredJSON {
    /// Stored JSON text back as a value (a store only ever writes valid JSON there; anything
    /// else reads as its raw text).
    public static func value(_ text: String?) -> JSONValue {
        guard let text else { return .null }
        return (try? JSONValue.parse(Data(text.utf8))) ?? .string(text)
    }

    /// Verdicts as recorded with a decision.
    public static func verdicts(_ text: String?) -> [PolicyResult] {
        (value(text).arrayValue ?? []).compactMap { try? PolicyResult(json: $0) }
    }

    /// A decision's reasons.
    public static func strings(_ text: String?) -> [String] {
        value(text).arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// A decision's actions.
    public static func actions(_ text: String?) -> [RecordedAction] {
        (value(text).arrayValue ?? []).map { RecordedAction(fields: $0.objectValue ?? [:]) }
    }
}
