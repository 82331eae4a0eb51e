/// Everything the use cases store, behind one value: the stores of one backend (today SQLite,
/// ``SQLiteStorage`` in ArbiterSQLite) and the background writing it needs. The server builds
/// its use cases from a `Storage` and never sees a database.
public protocol Storage: Sendable {
    var decisions: any DecisionStore { get }
    var shadow: any ShadowStore { get }
    var reviews: any ReviewStore { get }
    var outbox: any OutboxStore { get }
    var audit: any AuditStore { get }
    var policies: any PolicyStore { get }
    var keys: any KeyStore { get }
    var accounts: any AccountStore { get }
    var inbox: any InboxStore { get }
    /// Reconciliation runs, their exceptions and saved column mappings.
    var reconciliations: any ReconciliationStore { get }
    /// Console sessions (in memory on a backend one process owns).
    var sessions: any SessionStore { get }

    /// Whether the database answers now (readiness).
    func isReachable() async -> Bool

    /// Runs the backend's own background writing (SQLite: the group commits) until ``stop()``,
    /// then writes what is queued and returns.
    func run() async
    func stop()
}
