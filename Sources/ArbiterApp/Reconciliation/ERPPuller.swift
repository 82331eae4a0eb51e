import ArbiterCore
import Foundation

/// Reads the ERP's side of a reconciliation from the ERP itself (a delivery target's profile)
/// instead of an export someone uploads.
public protocol ERPPuller: Sendable {
    /// Writes the ERP's documents for these actions (or for the period, where the ERP is asked by
    /// date) to `file` as CSV, and returns the mapping that reads it.
    func pull(actions: [(id: String, type: ActionType)], from: Date, to: Date, into file: URL) async throws -> ERPColumnMapping
}

/// The ERP could not be read: it answered with an error, or not at all (HTTP 502 at the edge).
public struct ERPPullFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The CSV a puller writes: one row per ERP document, its columns named as the mapping reads them.
public enum ERPPullLayout {
    public static let columns = ["key", "document", "amount", "currency", "date", "status", "type"]

    /// The mapping for a pulled file: statuses and types as the ERP names them.
    public static func mapping(name: String, posted: Set<String>, void: Set<String>, types: [String: ActionType],
                               compactKeys: Bool = false) -> ERPColumnMapping {
        ERPColumnMapping(name: name, columns: [.key: "key", .document: "document", .amount: "amount", .currency: "currency",
                                               .date: "date", .status: "status", .type: "type"],
                         posted: posted, void: void, types: types, compactKeys: compactKeys)
    }

    /// Writes the header and `rows` (each the columns' cells in order) to `file`.
    public static func write(_ rows: [[String]], to file: URL) throws {
        var out: [UInt8] = []
        CSV.writeRecord(columns.map(JSONValue.string), into: &out)
        for row in rows { CSV.writeRecord(row.map(JSONValue.string), into: &out) }
        guard FileManager.default.createFile(atPath: file.path, contents: Data(out), attributes: [.posixPermissions: 0o600]) else {
            throw Refusal.invalid("pull", "cannot write \(file.path)")
        }
    }
}
