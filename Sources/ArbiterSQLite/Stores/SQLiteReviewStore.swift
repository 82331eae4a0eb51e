import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// Review items in SQLite.
public struct SQLiteReviewStore: ReviewStore {
    let database: AppDatabase

    public init(database: AppDatabase) {
        self.database = database
    }

    public func perform(_ command: ReviewCommand, on id: String, by reviewer: Reviewer, now: Date,
                        settings: ReviewSettings, routing: ActionRouting) async throws -> ReviewDone? {
        try await database.writer.write { db in
            try Reviews.perform(db, id: id, command: command, by: reviewer, now: now, settings: settings, routing: routing)
        }
    }

    public func sweep(now: Date, settings: ReviewSettings, limit: Int) async throws -> SweepResult {
        try await database.writer.write { db in try Reviews.sweep(db, now: now, settings: settings, limit: limit) }
    }

    public func queues(now: Date, settings: ReviewSettings) async throws -> [QueueSummary] {
        try await database.writer.read { db in try Reviews.queues(db, now: now, settings: settings) }
    }

    public func items(queue: String, states: [ReviewState], after: String?, limit: Int, now: Date) async throws -> Page<ReviewItemSummary> {
        try await database.writer.read { db in try Reviews.items(db, queue: queue, states: states, after: after, limit: limit, now: now) }
    }

    public func item(id: String, now: Date) async throws -> ReviewItemDetail? {
        try await database.writer.read { db in try Reviews.detail(db, id: id, now: now) }
    }
}
