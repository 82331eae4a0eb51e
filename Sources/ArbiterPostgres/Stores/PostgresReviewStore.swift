import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// Review items in PostgreSQL: each command one transaction (``PGReviews``).
struct PostgresReviewStore: ReviewStore {
    let backend: PostgresBackend

    func perform(_ command: ReviewCommand, on id: String, by reviewer: Reviewer, now: Date,
                 settings: ReviewSettings, routing: ActionRouting) async throws -> ReviewDone? {
        try await backend.transaction { unit in
            try await PGReviews.perform(unit, id: id, command: command, by: reviewer, now: now, settings: settings, routing: routing)
        }
    }

    func sweep(now: Date, settings: ReviewSettings, limit: Int) async throws -> SweepResult {
        try await backend.transaction { unit in try await PGReviews.sweep(unit, now: now, settings: settings, limit: limit) }
    }

    func queues(now: Date, settings: ReviewSettings) async throws -> [QueueSummary] {
        try await backend.read { unit in try await PGReviews.queues(unit, now: now, settings: settings) }
    }

    func items(queue: String, states: [ReviewState], after: String?, limit: Int, now: Date) async throws -> Page<ReviewItemSummary> {
        try await backend.read { unit in
            try await PGReviews.items(unit, queue: queue, states: states, after: after, limit: limit, now: now)
        }
    }

    func item(id: String, now: Date) async throws -> ReviewItemDetail? {
        try await backend.read { unit in try await PGReviews.detail(unit, id: id, now: now) }
    }
}
