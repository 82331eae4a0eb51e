import ArbiterCore
import Foundation

/// The counts operators watch — outbox actions by status, the oldest pending action, review
/// queues (waiting, overdue, oldest) — taken by a background task every `interval`, not by each
/// scrape: counting a million outbox rows on every `/metrics` or `/readyz` request made a scrape
/// cost a table scan. Scrapes read the last counts from memory (with the time they were taken).
public final class OperationalGauges: Sendable {
    public struct Counts: Sendable {
        public let outbox: OutboxDepth
        public let queues: [QueueSummary]
        public let countedAt: Date
    }

    let outbox: any OutboxStore
    let reviews: any ReviewStore
    let settings: ReviewSettings
    public let interval: Duration
    private let latest = Locked<Counts?>(nil)

    public init(outbox: any OutboxStore, reviews: any ReviewStore, settings: ReviewSettings, interval: Duration) {
        self.outbox = outbox
        self.reviews = reviews
        self.settings = settings
        self.interval = interval
    }

    /// The last counts; nil until the first are taken (moments after the start).
    public var counts: Counts? { latest.withLock { $0 } }

    /// Takes the counts now.
    public func refresh() async throws {
        let now = Date()
        let counts = Counts(outbox: try await outbox.depth(), queues: try await reviews.queues(now: now, settings: settings), countedAt: now)
        latest.withLock { $0 = counts }
    }
}
