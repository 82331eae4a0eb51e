import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// The outbox in PostgreSQL, shared by the dispatchers of every instance through leases
/// (``PGOutbox``); attempts are recorded through the group committer.
struct PostgresOutboxStore: OutboxStore {
    let backend: PostgresBackend
    let committer: PostgresCommitter
    /// This instance, as leases name it.
    let instance: String
    /// How long an instance may hold an action before another may take it: longer than one
    /// attempt (the ERP's time limit) can last.
    let lease: TimeInterval

    func due(target: String, now: Date, skipping busy: Set<String>, limit: Int) async throws -> [PendingAction] {
        let (instance, lease) = (instance, lease)
        return try await backend.transaction { unit in
            try await PGOutbox.take(unit, target: target, now: now, skipping: busy, limit: limit, owner: instance,
                                    leaseUntil: now.addingTimeInterval(lease))
        }
    }

    func nextRetry(target: String) async throws -> Date? {
        try await backend.read { unit in try await PGOutbox.nextRetry(unit, target: target) }
    }

    func reroute(_ routing: ActionRouting, audit: @escaping @Sendable (_ moved: [String: Int]) -> AuditDraft) async throws -> Int {
        let moved = try await backend.transaction { unit -> [String: Int] in
            var moved: [String: Int] = [:]
            for type in ActionType.allCases {
                let target = routing.target(for: type)
                let count = try await unit.rows("""
                    UPDATE outbox_actions SET target = \(target)
                    WHERE type = \(type.rawValue) AND status IN ('pending', 'dead') AND target <> \(target) AND target <> \(OutboxTarget.answers)
                    RETURNING id
                    """).count
                if count > 0 { moved["\(type.rawValue) → \(target)"] = count }
            }
            if !moved.isEmpty { unit.audit(audit(moved)) }
            return moved
        }
        return moved.values.reduce(0, +)
    }

    func record(_ attempt: PreparedAttempt) async throws -> RecordedAttempt {
        try await committer.submit(accounts: [attempt.accountId]) { unit in try await PGOutbox.record(unit, attempt) }
    }

    func retry(id: String, by actor: String, comment: String?, now: Date) async throws {
        try await backend.transaction { unit in try await PGOutbox.retry(unit, id: id, by: actor, comment: comment, now: now) }
    }

    func cancel(id: String, by actor: String, comment: String, now: Date) async throws {
        try await backend.transaction { unit in try await PGOutbox.cancel(unit, id: id, by: actor, comment: comment, now: now) }
    }

    func actions(status: String?, accountId: String?, target: String?, after: String?, limit: Int) async throws -> Page<OutboxAction> {
        try await backend.read { unit in
            try await PGOutbox.list(unit, status: status, accountId: accountId, target: target, after: after, limit: limit)
        }
    }

    func action(id: String) async throws -> OutboxActionDetail? {
        try await backend.read { unit in try await PGOutbox.detail(unit, id: id) }
    }

    func depth() async throws -> OutboxDepth {
        try await backend.read { unit in try await PGOutbox.depth(unit) }
    }
}
