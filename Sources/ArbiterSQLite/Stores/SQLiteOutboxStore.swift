import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// The outbox in SQLite; attempts are recorded through the group committer.
public struct SQLiteOutboxStore: OutboxStore {
    let database: AppDatabase
    let committer: GroupCommitter

    public init(database: AppDatabase, committer: GroupCommitter) {
        self.database = database
        self.committer = committer
    }

    public func due(target: String, now: Date, skipping busy: Set<String>, limit: Int) async throws -> [PendingAction] {
        try await database.writer.read { db in try Outbox.due(db, target: target, now: now, skipping: busy, limit: limit) }
    }

    public func nextRetry(target: String) async throws -> Date? {
        try await database.writer.read { db in try Outbox.nextRetry(db, target: target) }
    }

    public func reroute(_ routing: ActionRouting, audit: @escaping @Sendable (_ moved: [String: Int]) -> AuditDraft) async throws -> Int {
        try await database.writer.write { db in
            var moved: [String: Int] = [:]
            for type in ActionType.allCases {
                let target = routing.target(for: type)
                try db.execute(sql: """
                    UPDATE outbox_actions SET target = ? WHERE type = ? AND status IN ('pending', 'dead') AND target <> ? AND target <> ?
                    """, arguments: [target, type.rawValue, target, OutboxTarget.answers])
                if db.changesCount > 0 { moved["\(type.rawValue) → \(target)"] = db.changesCount }
            }
            if !moved.isEmpty {
                var chain = try AuditChain(db)
                try chain.append(db, audit(moved))
            }
            return moved.values.reduce(0, +)
        }
    }

    public func record(_ attempt: PreparedAttempt) async throws -> RecordedAttempt {
        try await committer.submit { db, chain in try Outbox.record(db, attempt, chain: &chain) }
    }

    public func retry(id: String, by actor: String, comment: String?, now: Date) async throws {
        try await database.writer.write { db in try Outbox.retry(db, id: id, by: actor, comment: comment, now: now) }
    }

    public func cancel(id: String, by actor: String, comment: String, now: Date) async throws {
        try await database.writer.write { db in try Outbox.cancel(db, id: id, by: actor, comment: comment, now: now) }
    }

    public func actions(status: String?, accountId: String?, target: String?, after: String?, limit: Int) async throws -> Page<OutboxAction> {
        try await database.writer.read { db in
            try Outbox.list(db, status: status, accountId: accountId, target: target, after: after, limit: limit)
        }
    }

    public func action(id: String) async throws -> OutboxActionDetail? {
        try await database.writer.read { db in try Outbox.detail(db, id: id) }
    }

    public func depth() async throws -> OutboxDepth {
        try await database.writer.read { db in try Outbox.depth(db) }
    }
}
