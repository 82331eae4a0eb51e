import ArbiterCore
import ArbiterPolicy

/// One stored version. Times are RFC 3339 text as stored.
public struct PolicyVersionSummary: Sendable, Hashable {
    public var name: String
    public var version: String
    public var file: String
    /// draft, active, shadow or retired.
    public var status: String
    public var publishedBy: String
    public var publishedAt: String
    public var activatedAt: String?

    public init(name: String, version: String, file: String, status: String, publishedBy: String, publishedAt: String,
                activatedAt: String?) {
        self.name = name
        self.version = version
        self.file = file
        self.status = status
        self.publishedBy = publishedBy
        self.publishedAt = publishedAt
        self.activatedAt = activatedAt
    }
}
