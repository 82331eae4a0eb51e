/// One stored column value as it moves between backends (`arbiter store copy`).
public enum StoredValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
}
