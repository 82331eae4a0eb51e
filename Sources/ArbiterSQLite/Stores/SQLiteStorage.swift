import ArbiterApp

/// The embedded backend: every store on one SQLite file, decisions and delivery attempts
/// written in group commits (``GroupCommitter``), whose size and time feed `metrics`.
public struct SQLiteStorage: Storage {
    public let database: AppDatabase
    let committer: GroupCommitter
    public let decisions: any DecisionStore
    public let shadow: any ShadowStore
    public let reviews: any ReviewStore
    public let outbox: any OutboxStore
    public let audit: any AuditStore
    public let policies: any PolicyStore
    public let keys: any KeyStore
    public let accounts: any AccountStore
    public let inbox: any InboxStore
    public let reconciliations: any ReconciliationStore
    /// One process owns the file: its console sessions live in its memory.
    public let sessions: any SessionStore = MemorySessionStore()

    public init(database: AppDatabase, metrics: ServiceMetrics) {
        let committer = GroupCommitter(database: database, onCommit: { metrics.committed(batch: $0, duration: $1) })
        self.database = database
        self.committer = committer
        self.decisions = SQLiteDecisionStore(database: database, committer: committer)
        self.shadow = SQLiteShadowStore(committer: committer)
        self.reviews = SQLiteReviewStore(database: database)
        self.outbox = SQLiteOutboxStore(database: database, committer: committer)
        self.audit = SQLiteAuditStore(database: database, committer: committer)
        self.policies = SQLitePolicyStore(database: database)
        self.keys = SQLiteKeyStore(database: database)
        self.accounts = SQLiteAccountStore(database: database)
        self.inbox = SQLiteInboxStore(database: database, committer: committer)
        self.reconciliations = SQLiteReconciliationStore(database: database)
    }

    public func isReachable() async -> Bool {
        await database.isReachable()
    }

    public func run() async {
        await committer.run()
    }

    public func stop() {
        committer.stop()
    }
}
