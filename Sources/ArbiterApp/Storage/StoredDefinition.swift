import ArbiterCore

/// A named definition saved through the API as JSON (a webhook source, a reconciliation column
/// mapping): who saved it, and when.
public struct StoredDefinition: Sendable, Equatable {
    public var name: String
    public var definition: JSONValue
    public var updatedBy: String
    public var updatedAt: String

    public init(name: String, definition: JSONValue, updatedBy: String, updatedAt: String) {
        self.name = name
        self.definition = definition
        self.updatedBy = updatedBy
        self.updatedAt = updatedAt
    }
}
