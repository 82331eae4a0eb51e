import ArbiterApp
import ArbiterCore
import ArbiterSQLite
import Foundation
import Logging
import ServiceLifecycle

/// The counts operators watch — outbox actions by status, the oldest pending action, review
/// queues (waiting, overdue, oldest) — taken by a background task every `interval`, not by each
/// scrape: counting a million outbox rows on every `/metrics` or `/readyz` request made a scrape
/// cost a table scan. Scrapes read the last counts from memory (with the time they were taken).
final class OperationalGauges: Sendable {
    struct Counts: Sendable {
        let outboxByStatus: [String: Int]
        let oldestPending: Date?
        let queues: [QueueSummary]
        let countedAt: Date
    }

    let database: AppDatabase
    let reviews: ReviewSettings
    let interval: Duration
    private let latest = Locked<Counts?>(nil)

    init(database: AppDatabase, reviews: ReviewSettings, interval: Duration) {
        self.database = database
        self.reviews = reviews
        self.interval = interval
    }

    /// The last counts; nil until the first are taken (moments after the start).
    var counts: Counts? { latest.withLock { $0 } }

    /// Takes the counts now (on a reader connection).
    func refresh() async throws {
        let reviews = reviews
        let counts = try await database.writer.read { db in
            let now = Date()
            let depth = try Outbox.depth(db)
            return Counts(outboxByStatus: depth.byStatus, oldestPending: depth.oldestPending,
                          queues: try Reviews.queues(db, now: now, settings: reviews), countedAt: now)
        }
        latest.withLock { $0 = counts }
    }
}

/// Takes the operational counts every interval until graceful shutdown.
struct GaugesService: Service {
    let gauges: OperationalGauges

    func run() async throws {
        let logger = Logger(label: "arbiter.gauges")
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await gauges.refresh() } catch { logger.error("counting for the gauges failed", metadata: ["error": "\(error)"]) }
                try? await Task.sleep(for: gauges.interval)
            }
        }
    }
}
