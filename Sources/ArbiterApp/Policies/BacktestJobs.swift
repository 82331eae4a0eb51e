import ArbiterCore
import ArbiterPolicy
import Foundation

/// Backtests requested through the API: small ones answer in the request; larger ones run as a
/// job in the ``BackgroundWork``, one at a time, whose progress is kept here and whose report is
/// stored when done. Graceful shutdown interrupts a running job (stored as failed, saying so);
/// one a crash cut short is marked `interrupted` at the next start.
public final class BacktestJobs: Sendable {
    let store: any PolicyStore
    let engine: PolicyEngine
    let guardrails: Guardrails
    /// Up to this many events, a backtest answers in the request (20,000 by default: well
    /// under a second).
    let inlineEvents: Int
    let background: BackgroundWork
    /// The large backtest running now, with the events evaluated so far.
    private let running = JobBoard(limit: 1)

    init(store: any PolicyStore, engine: PolicyEngine, guardrails: Guardrails, inlineEvents: Int, background: BackgroundWork) {
        self.inlineEvents = inlineEvents
        self.background = background
        self.store = store
        self.engine = engine
        self.guardrails = guardrails
    }

    /// Starts a backtest of `candidate` over `range`: answered in the request (`inline`) up to
    /// `inlineEvents` events, else run as a job (one at a time) whose state is returned at once.
    public func start(candidate: CompiledPolicy, range: BacktestRange, by actor: String) async throws -> (job: BacktestJob, inline: Bool) {
        // The candidate's event types, and those of the version it would replace: a type the
        // candidate no longer decides changes those decisions too.
        let active = engine.activeSet.policies.first { $0.name == candidate.name }
        let types = Array(Set(candidate.header.on + (active?.header.on ?? []))).sorted()
        let id = Identifier.make(now: Date())
        let total = try await store.replayCount(types: types, range: range)
        // One large backtest at a time: each uses every core while it runs.
        if total > inlineEvents, let busy = running.admit(id)?.first {
            throw Refusal.conflict("backtest \(busy) is still running and uses every core; wait for it (GET its status) and ask again", title: "A backtest is running")
        }
        do {
            try await store.startBacktest(id: id, name: candidate.name, version: candidate.version, range: range, total: total,
                                          by: actor, now: Date())
        } catch {
            running.end(id)
            throw error
        }
        let backtester = Backtester(store: store, engine: engine, guardrails: guardrails)
        if total <= inlineEvents {
            do {
                try await finish(id: id, candidate: candidate, types: types) {
                    try await backtester.run(candidate: candidate, types: types, range: range)
                }
            } catch is Backtester.Stopped {
                // Stored as failed with the reason: the answer is the job.
            }
            return (try await stored(name: candidate.name, id: id), true)
        }
        let running = running
        do {
            try background.start {
                try? await self.finish(id: id, candidate: candidate, types: types) {
                    try await backtester.run(candidate: candidate, types: types, range: range) { done in
                        running.report(id, progress: done)
                    }
                }
                running.end(id)
            }
        } catch {
            running.end(id)
            try await store.failBacktest(id: id, error: "\(error)", now: Date())
            throw error
        }
        return (try await stored(name: candidate.name, id: id), false)
    }

    /// Runs the backtest and stores its report, or the error that stopped it.
    private func finish(id: String, candidate: CompiledPolicy, types: [String],
                        _ run: () async throws -> BacktestReport) async throws {
        do {
            let report = try await run()
            guard case .object(var fields) = report.json else { return }
            fields["event_types"] = .array(types.map(JSONValue.string))
            let stored = fields
            try await store.finishBacktest(id: id, report: .object(stored), now: Date())
        } catch {
            // Recorded even when the job was cancelled (graceful shutdown): a detached task does
            // not inherit the cancellation that would refuse the write.
            let store = store
            try await Task.detached { try await store.failBacktest(id: id, error: "\(error)", now: Date()) }.value
            throw error
        }
    }

    /// The job as stored, with its progress while it runs.
    public func job(name: String, id: String) async throws -> BacktestJob? {
        guard var job = try await store.backtest(name: name, id: id) else { return nil }
        let evaluated = running.progress(of: id).map(Int64.init) ?? job.report?["evaluated"]?.intValue ?? 0
        job.progress = BacktestJob.Progress(evaluated: evaluated, total: job.total)
        return job
    }

    private func stored(name: String, id: String) async throws -> BacktestJob {
        guard let job = try await job(name: name, id: id) else { throw Refusal.notFound("policy \(name) has no backtest \(id)") }
        return job
    }
}
