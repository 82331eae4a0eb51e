import Foundation

/// How an ERP's export is read (a saved column mapping): which columns hold the key, the document
/// number, amount, currency, date, status and type, and how amounts and statuses are written.
///
/// ```json
/// {"name": "netsuite-credits",
///  "columns": {"key": "External ID", "document": "Document Number", "amount": "Amount", "currency": "Currency",
///              "date": "Date", "status": "Status", "type": "Type"},
///  "decimal_separator": ".",
///  "posted": ["Open", "Paid In Full", "Fully Applied"], "void": ["Voided"],
///  "types": {"Credit Memo": "credit_memo", "Customer Refund": "refund"},
///  "key_format": "uuid"}
/// ```
///
/// `key`, `amount` and `currency` are required. Amounts are read as the ERP writes them —
/// `1,234.50`, `-12.00`, `(12.00)`, `$1,234.50`, or `1.234,50` with `"decimal_separator": ","` —
/// in the currency's minor unit; the sign is ignored (ERPs write refunds and credits either way).
/// Without `status`, every row counts as posted; without `type`, every row as any money action.
/// `key_format` `uuid_compact` reads keys written without hyphens (Business Central's external
/// document numbers).
public struct ERPColumnMapping: Sendable, Hashable {
    public enum Column: String, Sendable, CaseIterable {
        case key, document, amount, currency, date, status, type
        static let required: [Column] = [.key, .amount, .currency]
    }

    public var name: String
    public var columns: [Column: String]
    public var decimalSeparator: UInt8
    public var posted: Set<String>
    public var void: Set<String>
    public var types: [String: ActionType]
    public var compactKeys: Bool

    public init(name: String, columns: [Column: String], decimalSeparator: Character = ".", posted: Set<String> = [], void: Set<String> = [],
                types: [String: ActionType] = [:], compactKeys: Bool = false) {
        self.name = name
        self.columns = columns
        self.decimalSeparator = decimalSeparator.asciiValue ?? UInt8(ascii: ".")
        self.posted = posted
        self.void = void
        self.types = types
        self.compactKeys = compactKeys
    }

    /// Reads a saved mapping; errors name the field.
    public static func parse(_ value: JSONValue, name fallback: String) throws -> ERPColumnMapping {
        guard let fields = value.objectValue else { throw Refusal.invalid("", "a mapping must be a JSON object") }
        var errors = RequestFields.unknown(fields, allowed: ["name", "columns", "decimal_separator", "posted", "void", "types", "key_format"])
        var columns: [Column: String] = [:]
        if let given = value["columns"], given.objectValue == nil { errors.append(FieldError("columns", "must be an object: column → header")) }
        if let name = value["name"], name.stringValue == nil { errors.append(FieldError("name", "must be a string")) }
        if let types = value["types"], types.objectValue == nil { errors.append(FieldError("types", "must be an object: the ERP's type name → credit_memo or refund")) }
        for key in ["posted", "void"] where value[key] != nil {
            guard let list = value[key]?.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                errors.append(FieldError(key, "must be a list of the ERP's status values"))
                continue
            }
        }
        let given = value["columns"]?.objectValue ?? [:]
        for (key, header) in given {
            guard let column = Column(rawValue: key) else {
                errors.append(FieldError("columns.\(key)", "is not a column a mapping names (\(Column.allCases.map(\.rawValue).joined(separator: ", ")))"))
                continue
            }
            guard let text = header.stringValue, !text.isEmpty else {
                errors.append(FieldError("columns.\(key)", "must be the header of the column in the ERP's file"))
                continue
            }
            columns[column] = text
        }
        for column in Column.required where columns[column] == nil {
            errors.append(FieldError("columns.\(column.rawValue)", "is required: the header of the column holding the \(column.rawValue)"))
        }
        let separator = value["decimal_separator"].map { $0.stringValue ?? "?" } ?? "."
        if separator != "." && separator != "," { errors.append(FieldError("decimal_separator", "must be \".\" or \",\"")) }
        var types: [String: ActionType] = [:]
        for (written, type) in value["types"]?.objectValue ?? [:] {
            guard let parsed = type.stringValue.flatMap(ActionType.init(rawValue:)), parsed.movesMoney else {
                errors.append(FieldError("types.\(written)", "must be credit_memo or refund"))
                continue
            }
            types[written.lowercased()] = parsed
        }
        let keyFormat = value["key_format"].map { $0.stringValue ?? "?" } ?? "uuid"
        if keyFormat != "uuid" && keyFormat != "uuid_compact" { errors.append(FieldError("key_format", "must be uuid or uuid_compact")) }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        func statuses(_ key: String) -> Set<String> { Set((value[key]?.arrayValue ?? []).compactMap { $0.stringValue?.lowercased() }) }
        return ERPColumnMapping(name: value["name"]?.stringValue ?? fallback, columns: columns, decimalSeparator: Character(separator),
                                posted: statuses("posted"), void: statuses("void"), types: types, compactKeys: keyFormat == "uuid_compact")
    }

    /// The position of each mapped column in a header record; an error naming the missing column
    /// and the columns the file has.
    public func positions(in header: [String]) throws -> [Column: Int] {
        var positions: [Column: Int] = [:], missing: [FieldError] = []
        let trimmed = header.map { $0.trimmingCharacters(in: .whitespaces) }
        for column in Column.allCases {
            guard let name = columns[column] else { continue }
            guard let index = trimmed.firstIndex(where: { $0.caseInsensitiveCompare(name) == .orderedSame }) else {
                missing.append(FieldError("columns.\(column.rawValue)", "the file has no column \"\(name)\" (mapping \(self.name))"))
                continue
            }
            positions[column] = index
        }
        if !missing.isEmpty {
            throw Refusal.invalid(missing, message: missing.map(\.message).joined(separator: "; ")
                                  + "; its header is: \(trimmed.joined(separator: ", "))")
        }
        return positions
    }

    /// An amount as the ERP writes it, in minor units of a currency with `exponent` decimals; nil
    /// when it is not an amount (or has more decimals than the currency).
    public func minorUnits(_ bytes: ArraySlice<UInt8>, exponent: Int) -> Int64? {
        var whole: Int64 = 0, fraction: Int64 = 0, decimals = 0, digits = 0
        var inFraction = false
        let thousands: UInt8 = decimalSeparator == UInt8(ascii: ".") ? UInt8(ascii: ",") : UInt8(ascii: ".")
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let digit = Int64(byte - UInt8(ascii: "0"))
                digits += 1
                if inFraction {
                    decimals += 1
                    guard decimals <= exponent else {
                        if digit == 0 { decimals -= 1; continue }   // 12.500 in USD is 12.50
                        return nil
                    }
                    fraction = fraction * 10 + digit
                } else {
                    guard whole < 100_000_000_000_000 else { return nil }
                    whole = whole * 10 + digit
                }
            case decimalSeparator:
                guard !inFraction else { return nil }
                inFraction = true
            case thousands where !inFraction:
                continue
            case UInt8(ascii: "-"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: " "), UInt8(ascii: "+"), UInt8(ascii: "$"),
                 0xC2, 0xA0, 0xE2, 0x82, 0xAC, 0xA3, 0xA5:   // signs, spaces (also no-break), $, €, £, ¥
                continue
            default:
                return nil
            }
        }
        guard digits > 0 else { return nil }
        var scale: Int64 = 1
        for _ in 0..<exponent { scale *= 10 }
        var fractionScale: Int64 = 1
        for _ in decimals..<exponent { fractionScale *= 10 }
        return whole * scale + fraction * fractionScale
    }
}
