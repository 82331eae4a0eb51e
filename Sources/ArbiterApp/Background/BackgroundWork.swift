import ArbiterCore
import Foundation

/// Everything Arbiter does beside answering requests, under one roof: the jobs requests start
/// (exports, backtests), the shadow evaluations of live events, and the chores that run every
/// so often (the review sweep, audit checkpoints, the operational counts). ``run(chores:)``
/// runs them all in one task tree, so cancelling it — graceful shutdown — cancels every job
/// (each stops at its next row or chunk and records that it was interrupted), drops the shadow
/// evaluations still queued and stops the chores, in a bounded time.
///
/// Shadow evaluations wait in a bounded queue: when live traffic outruns them the oldest is
/// dropped and counted (`arbiter_shadow_dropped_total`) — a shadow report is an observation,
/// and it must never hold memory or a core the live decisions need.
public final class BackgroundWork: Sendable {
    public typealias Work = @Sendable () async -> Void

    private let jobs: (stream: AsyncStream<Work>, continuation: AsyncStream<Work>.Continuation)
    private let shadow: (stream: AsyncStream<Work>, continuation: AsyncStream<Work>.Continuation)
    /// Shadow evaluations run at most this many at a time (one per core: they wait on the
    /// policy workers like live ones).
    let shadowConcurrency: Int
    let metrics: ServiceMetrics

    public init(shadowCapacity: Int = 1024, shadowConcurrency: Int = ProcessInfo.processInfo.activeProcessorCount,
                metrics: ServiceMetrics) {
        self.jobs = AsyncStream.makeStream(of: Work.self)
        self.shadow = AsyncStream.makeStream(of: Work.self, bufferingPolicy: .bufferingNewest(max(1, shadowCapacity)))
        self.shadowConcurrency = max(1, shadowConcurrency)
        self.metrics = metrics
    }

    /// Starts a job (an export, a backtest). Refuses once the service is stopping. The job
    /// sees cancellation when it is: it must stop promptly and record what became of it.
    public func start(_ job: @escaping Work) throws(ShuttingDown) {
        if case .terminated = jobs.continuation.yield(job) { throw ShuttingDown() }
    }

    /// Queues a shadow evaluation; when the queue is full the oldest waiting one is dropped.
    func evaluateInShadow(_ evaluation: @escaping Work) {
        switch shadow.continuation.yield(evaluation) {
        case .dropped, .terminated: metrics.shadowDropped()
        case .enqueued: break
        @unknown default: break
        }
    }

    /// Runs the jobs, the shadow evaluations and `chores` until cancelled, then waits for
    /// what was running to stop. Nothing is accepted afterwards.
    public func run(chores: [Chore]) async {
        await withTaskGroup(of: Void.self) { group in
            for chore in chores {
                group.addTask { await chore.repeatUntilCancelled() }
            }
            group.addTask { [jobs] in await Self.drain(jobs.stream, concurrency: .max) }
            group.addTask { [shadow, shadowConcurrency] in await Self.drain(shadow.stream, concurrency: shadowConcurrency) }
            await group.waitForAll()
        }
        jobs.continuation.finish()
        shadow.continuation.finish()
    }

    /// Runs the works of `stream` as they come, at most `concurrency` at a time. Cancelled,
    /// the stream ends and the works running are cancelled and waited for.
    private static func drain(_ stream: AsyncStream<Work>, concurrency: Int) async {
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await work in stream {
                if running >= concurrency {
                    await group.next()
                    running -= 1
                }
                group.addTask { await work() }
                running += 1
            }
        }
    }
}
