import ArbiterCore
import ArbiterPolicy
import Foundation

/// Replays stored events through a candidate policy version: each event with the context as it
/// was recorded at decision time, the candidate's verdict put in place of its policy's among the
/// verdicts the decision was made from (``CandidateDecision``), and the result compared with
/// the decision as made.
///
/// The store streams rows from one consistent snapshot and hands them out in chunks; one worker
/// thread per core decodes and evaluates them on a Lua state of its own.
/// Memory stays flat: at most a few chunks are in flight whatever the range.
public struct Backtester: Sendable {
    let store: any PolicyStore
    let engine: PolicyEngine
    let guardrails: Guardrails
    public var workers = ProcessInfo.processInfo.activeProcessorCount
    /// Changed decisions reported with both sets of reasons.
    public var sampleSize = 20
    /// A candidate that hits a limit on this many events in a row stops the backtest: it would
    /// spend its time limit on every stored event (hours of CPU) to report that it fails.
    public var giveUpAfter = 5

    /// Why a backtest stopped before the end of its range.
    public struct Stopped: Error, CustomStringConvertible {
        public let description: String
    }

    public init(store: any PolicyStore, engine: PolicyEngine, guardrails: Guardrails) {
        self.store = store
        self.engine = engine
        self.guardrails = guardrails
    }

    /// Runs the backtest: the workers are threads of their own (evaluations are CPU-bound),
    /// fed by the store's stream. `progress` is told how many events have been evaluated,
    /// after each chunk.
    public func run(candidate: CompiledPolicy, types: [String], range: BacktestRange,
                    progress: @escaping @Sendable (Int) -> Void = { _ in }) async throws -> BacktestReport {
        let started = ContinuousClock.now
        let set = engine.set(of: [candidate])
        let channel = ChunkChannel(capacity: workers * 2)
        let evaluated = Locked(0)
        let group = DispatchGroup()
        let tallies = Locked<[BacktestTally]>([])
        let stopped = Locked<String?>(nil)
        for _ in 0..<max(1, workers) {
            group.enter()
            Thread.detachNewThread { [engine, guardrails, sampleSize, giveUpAfter] in
                defer { group.leave() }
                var tally = BacktestTally(sampleSize: sampleSize)
                let evaluator = engine.evaluator(for: set)
                chunks: while let chunk = channel.pop() {
                    let stop = chunk.bytes.withUnsafeBufferPointer { bytes -> Bool in
                        for (offset, row) in chunk.rows.enumerated() {
                            if stopped.withLock({ $0 }) != nil { return true }
                            tally.add(row, in: bytes, sequence: chunk.first + offset, policy: candidate.name, evaluator: evaluator,
                                      guardrails: guardrails)
                            if let evaluator, evaluator.limitErrorsInARow >= giveUpAfter {
                                let last = evaluator.lastLimitError ?? "a limit"
                                stopped.withLock { $0 = $0 ?? "stopped: the candidate hit a limit on \(giveUpAfter) events in a row (last: \(last))" }
                                channel.close()
                                return true
                            }
                        }
                        return false
                    }
                    if stop { break chunks }
                    let done = evaluated.withLock { $0 += chunk.rows.count; return $0 }
                    progress(done)
                }
                tallies.withLock { $0.append(tally) }
            }
        }
        // Cancelled (graceful shutdown), the workers stop at their next event and the stream at
        // its next chunk: the backtest ends in about one evaluation's time.
        try await withTaskCancellationHandler {
            do {
                try await store.replay(types: types, range: range, chunkSize: 512) { chunk in
                    guard channel.push(chunk) else { throw Stopped(description: "stopped") }
                }
            } catch {
                channel.close()
                await Self.wait(for: group)
                if let reason = stopped.withLock({ $0 }) { throw Stopped(description: reason) }
                throw error
            }
            channel.close()
            await Self.wait(for: group)
        } onCancel: {
            stopped.withLock { $0 = $0 ?? "interrupted: the service stopped before the backtest finished" }
            channel.close()
        }
        if let reason = stopped.withLock({ $0 }) { throw Stopped(description: reason) }
        var total = BacktestTally(sampleSize: sampleSize)
        for tally in tallies.withLock({ $0 }) { total.merge(tally) }
        let rows = total.sample.map { (event: $0.eventRow, decision: $0.decisionRow) }
        let skippedRow = total.firstSkip?.eventRow
        let details = try await store.replayDetails(rows: rows)
        var skippedId: String?
        if let skippedRow { skippedId = try await store.eventId(row: skippedRow) }
        total.fillDetails(details)
        if let skip = total.firstSkip { total.firstSkipText = "event \(skippedId ?? "#\(skip.eventRow)"): \(skip.why)" }
        return BacktestReport(tally: total, elapsed: ContinuousClock.now - started)
    }

    /// Waits for the worker threads without blocking a thread of the concurrency pool.
    private static func wait(for group: DispatchGroup) async {
        await withCheckedContinuation { continuation in group.notify(queue: .global()) { continuation.resume() } }
    }

    /// A bounded queue of chunks between the reading thread and the workers: the reader waits
    /// when it is full, so memory stays flat however many events the range holds.
    final class ChunkChannel: @unchecked Sendable {
        private let condition = NSCondition()
        private var chunks: [ReplayChunk] = []
        private var closed = false
        private let capacity: Int

        init(capacity: Int) { self.capacity = max(1, capacity) }

        /// Queues a chunk; false once the channel is closed (the workers stopped).
        func push(_ chunk: ReplayChunk) -> Bool {
            condition.lock()
            defer { condition.unlock() }
            while chunks.count >= capacity && !closed { condition.wait() }
            guard !closed else { return false }
            chunks.append(chunk)
            condition.broadcast()
            return true
        }

        func pop() -> ReplayChunk? {
            condition.lock()
            defer { condition.unlock() }
            while chunks.isEmpty && !closed { condition.wait() }
            if chunks.isEmpty { return nil }
            let chunk = chunks.removeFirst()
            condition.broadcast()
            return chunk
        }

        func close() {
            condition.lock()
            closed = true
            condition.broadcast()
            condition.unlock()
        }
    }
}
