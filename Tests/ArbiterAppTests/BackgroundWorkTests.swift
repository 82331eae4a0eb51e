import ArbiterCore
import Prometheus
import Testing

@testable import ArbiterApp

@Suite(.timeLimit(.minutes(1))) struct BackgroundWorkTests {
    /// When live traffic outruns shadow evaluations, the queue keeps the newest and counts
    /// what it dropped.
    @Test func aFullShadowQueueDropsTheOldestAndCountsIt() async throws {
        let metrics = ServiceMetrics()
        let work = BackgroundWork(shadowCapacity: 2, shadowConcurrency: 1, metrics: metrics)
        let ran = Locked<[Int]>([])
        let done = AsyncStream<Void>.makeStream()
        for index in 0..<5 {
            work.evaluateInShadow {
                let count = ran.withLock { $0.append(index); return $0.count }
                if count == 2 { done.continuation.yield() }
            }
        }
        let running = Task { await work.run(chores: []) }
        for await _ in done.stream { break }
        running.cancel()
        await running.value
        #expect(ran.withLock { $0 } == [3, 4])
        #expect(String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self).contains("arbiter_shadow_dropped_total 3"))
    }

    /// Cancelling the background work (graceful shutdown) cancels the jobs running, waits for
    /// them to stop, and refuses new ones.
    @Test func cancellingStopsTheJobsAndRefusesNewOnes() async throws {
        let work = BackgroundWork(metrics: ServiceMetrics())
        let started = AsyncStream<Void>.makeStream()
        let sawCancellation = Locked(false)
        try work.start {
            started.continuation.yield()
            // Waits for ever unless cancelled.
            let never = AsyncStream<Void>.makeStream()
            for await _ in never.stream {}
            sawCancellation.withLock { $0 = Task.isCancelled }
        }
        let running = Task { await work.run(chores: []) }
        for await _ in started.stream { break }
        running.cancel()
        await running.value
        #expect(sawCancellation.withLock { $0 })
        #expect(throws: ShuttingDown.self) { try work.start {} }
    }

    /// A chore runs at once and then every interval, until cancelled.
    @Test func choresRepeatUntilCancelled() async throws {
        let work = BackgroundWork(metrics: ServiceMetrics())
        let rounds = AsyncStream<Void>.makeStream()
        let running = Task { await work.run(chores: [Chore("tick", every: .milliseconds(1)) { rounds.continuation.yield() }]) }
        var seen = 0
        for await _ in rounds.stream {
            seen += 1
            if seen == 3 { break }
        }
        running.cancel()
        await running.value
        #expect(seen == 3)
    }

    /// Waiting for a job ends when it ends (no polling), or at the time-out.
    @Test func waitingForAJobEndsWhenItEnds() async throws {
        let board = JobBoard(limit: 1)
        #expect(board.admit("a") == nil)
        #expect(board.admit("b") == ["a"], "one at a time")
        board.report("a", progress: 7)
        #expect(board.progress(of: "a") == 7)
        let waiting = Task { await board.wait(for: "a", upTo: .seconds(60)) }
        board.end("a")
        await waiting.value
        #expect(board.progress(of: "a") == nil)
        let clock = ContinuousClock()
        #expect(board.admit("c") == nil)
        let waited = await clock.measure { await board.wait(for: "c", upTo: .milliseconds(20)) }
        #expect(waited >= .milliseconds(20))
    }
}
