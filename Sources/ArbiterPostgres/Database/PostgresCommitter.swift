import ArbiterApp
import ArbiterCore
import Foundation

/// Group commits on PostgreSQL, as ``GroupCommitter`` does them on SQLite: the decisions and
/// delivery attempts that arrive while a transaction is in flight share the next one, and each
/// caller is answered after the commit that holds its rows. A commit waits for the WAL to be
/// flushed (and, with a synchronous standby, for the standby): shared by a batch, that wait is
/// paid once per batch, not once per event.
///
/// A batch first locks every account its work touches (``WorkUnit/lockAccounts(_:)``, one
/// order for everyone, so batches of two instances never deadlock), then runs the work in
/// submission order, then appends the audit entries. When a batch fails (a constraint, a
/// deadlock with a unit that locks out of order), each piece of work is run again in a
/// transaction of its own, so only the one at fault is answered with its error.
final class PostgresCommitter: Sendable {
    private struct Pending {
        let accounts: [String]
        /// The account whose context the work reads, as of when (read for the whole batch at once).
        let reads: (account: String, now: Date)?
        let work: @Sendable (WorkUnit) async throws -> @Sendable () -> Void
        let fail: @Sendable (any Error) -> Void
    }

    private let backend: PostgresBackend
    private let queue: CommitQueue<Pending>
    private let onCommit: @Sendable (Int, Duration) -> Void

    init(backend: PostgresBackend, maxBatch: Int = 128, onCommit: @escaping @Sendable (Int, Duration) -> Void = { _, _ in }) {
        self.backend = backend
        self.queue = CommitQueue(maxBatch: maxBatch)
        self.onCommit = onCommit
    }

    /// Runs `work` in the next transaction, with `accounts` locked, and returns its result once
    /// that transaction is committed.
    func submit<T: Sendable>(accounts: [String], reading: (account: String, now: Date)? = nil,
                             _ work: @escaping @Sendable (WorkUnit) async throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            append(Pending(accounts: accounts, reads: reading, work: { unit in
                let result = try await work(unit)
                return { continuation.resume(returning: result) }
            }, fail: { continuation.resume(throwing: $0) }))
        }
    }

    /// Queues `work` without waiting: it commits no later than anything submitted after it.
    func enqueue(accounts: [String] = [], _ work: @escaping @Sendable (WorkUnit) async throws -> Void,
                 failed: @escaping @Sendable (any Error) -> Void) {
        append(Pending(accounts: accounts, reads: nil, work: { unit in
            try await work(unit)
            return {}
        }, fail: failed))
    }

    private func append(_ pending: Pending) {
        if !queue.append(pending) { pending.fail(ShuttingDown()) }
    }

    /// Writes batches until ``stop()`` is called and everything queued before it is written.
    func run() async {
        while let batch = await queue.nextBatch() {
            await write(batch)
        }
    }

    func stop() {
        queue.stop()
    }

    private func write(_ batch: [Pending]) async {
        let started = ContinuousClock.now
        do {
            let answers = try await backend.transaction { unit in
                unit.stagesEvents = batch.count > 1
                try await unit.lockAccounts(batch.flatMap(\.accounts))
                try await unit.prefetchContexts(batch.compactMap(\.reads))
                var answers: [@Sendable () -> Void] = []
                for pending in batch { answers.append(try await pending.work(unit)) }
                return answers
            }
            onCommit(batch.count, ContinuousClock.now - started)
            for answer in answers { answer() }
        } catch {
            guard batch.count > 1 else {
                batch[0].fail(error)
                return
            }
            for pending in batch {
                do {
                    let answer = try await backend.transaction { unit in
                        try await unit.lockAccounts(pending.accounts)
                        try await unit.prefetchContexts(pending.reads.map { [$0] } ?? [])
                        return try await pending.work(unit)
                    }
                    answer()
                } catch {
                    pending.fail(error)
                }
            }
        }
    }
}
