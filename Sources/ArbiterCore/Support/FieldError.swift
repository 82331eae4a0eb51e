import Foundation

/// One problem with one field of a request: `payload.amount_minor` must be a positive integer.
public struct FieldError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// Dotted path of the field, e.g. `payload.amount_minor`.
    public let field: String
    public let message: String

    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}
