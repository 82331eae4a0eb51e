import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

/// Writes decisions to the database in group commits: every decision that arrives while a
/// commit is in flight goes into the next transaction, and each caller is answered after the
/// commit that holds its rows. With `synchronous=FULL` a commit costs an fsync; sharing it
/// between the requests that arrived meanwhile is what makes thousands of durable decisions
/// per second possible, without adding latency when the service is idle (a lone decision is
/// written at once, in a batch of one).
///
/// When a batch fails (a constraint, a bug), its decisions are written again one transaction
/// each, so only the one at fault is answered with its error.
public final class GroupCommitter: Sendable {
    /// One submitted piece of work. `work` runs in the write transaction and returns how to
    /// answer its submitter once the commit is durable; `fail` answers with an error instead.
    /// Each submitter's result keeps its own type inside these closures: nothing is cast back.
    private struct Pending {
        let work: @Sendable (Database, inout AuditChain) throws -> @Sendable () -> Void
        let fail: @Sendable (any Error) -> Void
    }

    private let database: AppDatabase
    private let queue: CommitQueue<Pending>
    /// Called after each commit with the batch size and the time the transaction took (for metrics).
    private let onCommit: @Sendable (Int, Duration) -> Void

    public init(database: AppDatabase, maxBatch: Int = 256, onCommit: @escaping @Sendable (Int, Duration) -> Void = { _, _ in }) {
        self.database = database
        self.queue = CommitQueue(maxBatch: maxBatch)
        self.onCommit = onCommit
    }

    /// Runs `work` inside the next write transaction and returns its result once that
    /// transaction is durable. Work runs in submission order, one after another, and sees
    /// everything earlier work wrote: reading and writing in one piece of work is atomic with
    /// respect to every other.
    public func submit<T: Sendable>(_ work: @escaping @Sendable (Database, inout AuditChain) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            append(Pending(
                work: { db, chain in
                    let result = try work(db, &chain)
                    return { continuation.resume(returning: result) }
                },
                fail: { continuation.resume(throwing: $0) }))
        }
    }

    /// How many pieces of work wait for the next commit (for tests: to start the writer once a
    /// batch is queued, without sleeping).
    public var queuedCount: Int { queue.count }

    /// Adds to the queue and wakes the writer; a stopping committer fails the work at once.
    private func append(_ pending: Pending) {
        if !queue.append(pending) { pending.fail(ShuttingDown()) }
    }

    /// Queues `work` for the next write transaction without waiting for it: it is in the
    /// queue when this returns, so it commits no later than anything submitted after it.
    /// `failed` hears of an error (or of the committer stopping).
    public func enqueue(_ work: @escaping @Sendable (Database, inout AuditChain) throws -> Void,
                        failed: @escaping @Sendable (any Error) -> Void) {
        append(Pending(work: { db, chain in
            try work(db, &chain)
            return {}
        }, fail: failed))
    }

    /// Writes batches until ``stop()`` is called and everything queued before it is written.
    public func run() async {
        while let batch = await queue.nextBatch() {
            await write(batch)
        }
    }

    /// Refuses new decisions; `run()` returns once the queued ones are written.
    public func stop() {
        queue.stop()
    }

    private func write(_ batch: [Pending]) async {
        let works = batch.map(\.work)
        let started = ContinuousClock.now
        do {
            let results = try await database.writer.write { db in
                var chain = try AuditChain(db)
                return try works.map { try $0(db, &chain) }
            }
            onCommit(batch.count, ContinuousClock.now - started)
            for answer in results { answer() }
        } catch {
            guard batch.count > 1 else {
                batch[0].fail(error)
                return
            }
            // One decision failed and took the transaction with it: write each on its own, so
            // only the one at fault is answered with an error.
            for pending in batch {
                let work = pending.work
                do {
                    let answer = try await database.writer.write { db in
                        var chain = try AuditChain(db)
                        return try work(db, &chain)
                    }
                    answer()
                } catch {
                    pending.fail(error)
                }
            }
        }
    }
}
