import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// Every store on one PostgreSQL database that several instances share. Decisions, delivery
/// attempts, shadow differences and loose audit entries are written in group commits
/// (``PostgresCommitter``), whose size and time feed `metrics`.
public struct PostgresStorage: Storage {
    public let backend: PostgresBackend
    let committer: PostgresCommitter
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
    public let sessions: any SessionStore
    /// Where every instance sees what decides live change (``PolicyGenerationWatch``).
    public let policyGeneration: @Sendable () async throws -> Int64

    /// - Parameters:
    ///   - instance: this instance's name, stable across its restarts: leases and backtest jobs
    ///     name it.
    ///   - deliveryLease: how long this instance may hold an action it sends before another may
    ///     take it over; longer than one attempt can last.
    public init(backend: PostgresBackend, metrics: ServiceMetrics, instance: String, deliveryLease: TimeInterval = 60) {
        let committer = PostgresCommitter(backend: backend, onCommit: { metrics.committed(batch: $0, duration: $1) })
        let policies = PostgresPolicyStore(backend: backend, instance: instance)
        self.backend = backend
        self.committer = committer
        self.decisions = PostgresDecisionStore(backend: backend, committer: committer)
        self.shadow = PostgresShadowStore(committer: committer)
        self.reviews = PostgresReviewStore(backend: backend)
        self.outbox = PostgresOutboxStore(backend: backend, committer: committer, instance: instance, lease: deliveryLease)
        self.audit = PostgresAuditStore(backend: backend, committer: committer)
        self.policies = policies
        self.keys = PostgresKeyStore(backend: backend)
        self.accounts = PostgresAccountStore(backend: backend)
        self.inbox = PostgresInboxStore(backend: backend, committer: committer)
        self.reconciliations = PostgresReconciliationStore(backend: backend)
        self.sessions = PostgresSessionStore(backend: backend)
        self.policyGeneration = { try await policies.generation() }
    }

    /// The audit trail of `backend`, read only: what `arbiter audit verify --database` checks.
    public static func auditReader(_ backend: PostgresBackend) -> any AuditStore {
        PostgresAuditStore(backend: backend, committer: nil)
    }

    public func isReachable() async -> Bool {
        await backend.isReachable()
    }

    public func run() async {
        await committer.run()
    }

    public func stop() {
        committer.stop()
    }
}
