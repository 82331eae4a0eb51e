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

/// What one worker counted; merged into the report.
struct BacktestTally: Sendable {
    let sampleSize: Int
    var evaluated = 0
    var outcomeChanges = 0
    var otherChanges = 0
    var transitions: [String: Int] = [:]
    /// Money moved between approve and the other outcomes: transition → currency → minor units.
    var moneyMoved: [String: [String: Int64]] = [:]
    /// The first changed decisions; ids, times and recorded reasons are filled in afterwards.
    var sample: [(sequence: Int, eventRow: Int64, decisionRow: Int64, json: JSONValue)] = []
    var skipped = 0
    var firstSkip: (sequence: Int, eventRow: Int64, why: String)?
    /// The first skipped row, named by its event id (set once the replay is done).
    var firstSkipText: String?

    init(sampleSize: Int) { self.sampleSize = sampleSize }

    /// Replays one stored decision. The hot path decodes no JSON into Swift values: the event
    /// and context go straight from their stored text to Lua, the other policies' verdicts are
    /// read only when the decision had any, and the recorded actions only when needed to
    /// compare or count money.
    mutating func add(_ row: ReplayChunk.Row, in bytes: UnsafeBufferPointer<UInt8>, sequence: Int, policy: String,
                      evaluator: PolicyEvaluator?, guardrails: Guardrails) {
        guard let type = row.type else { return skip(row, sequence: sequence, "unknown event type") }
        guard let outcome = row.outcome else { return skip(row, sequence: sequence, "unknown outcome") }
        let policies = UnsafeBufferPointer(rebasing: bytes[row.policies])
        let recordedActionsText = UnsafeBufferPointer(rebasing: bytes[row.actions])
        let verdicts: [PolicyResult], currency: String?, actual: [PolicyResult], onlyCandidate: Bool
        do {
            if let evaluator {
                (verdicts, currency) = try evaluator.evaluate(storedEvent: UnsafeBufferPointer(rebasing: bytes[row.body]), type: type.rawValue,
                                                             recordedContext: UnsafeBufferPointer(rebasing: bytes[row.context]))
            } else {
                (verdicts, currency) = ([.failure(name: policy, version: "", error: "no Lua state available (out of memory)")], nil)
            }
            onlyCandidate = Self.onlyVerdictOf(policy, in: policies)
            actual = onlyCandidate ? [] : try (JSONValue.parse(policies).arrayValue ?? []).map(PolicyResult.init(json:))
        } catch {
            return skip(row, sequence: sequence, "\(error)")
        }
        let after = CandidateDecision.decide(policy: policy, candidate: verdicts, actual: actual, eventType: type,
                                             accountCurrency: currency, guardrails: guardrails)
        var before: [ProposedAction]?
        func recordedActions() -> [ProposedAction] {
            if let before { return before }
            let parsed = (try? (JSONValue.parse(recordedActionsText).arrayValue ?? []).enumerated().map { index, action in
                try ProposedAction(fields: action.objectValue ?? [:], index: index + 1)
            }) ?? []
            before = parsed
            return parsed
        }
        evaluated += 1
        let difference: DecisionDifference
        if outcome != after.outcome {
            difference = DecisionDifference(before: outcome, after: after.outcome, detailChanged: false)
        } else {
            // Same outcome: another queue, or other actions (compared by type and money).
            var detail = row.queue != after.queue
            if !detail, !(onlyCandidate && Self.sameActions(after.actions, asVerdictIn: policies)) {
                detail = recordedActions().map(\.summary) != after.actions.map(\.summary)
            }
            difference = DecisionDifference(before: outcome, after: after.outcome, detailChanged: detail)
        }
        guard difference.changed else { return }
        if difference.outcomeChanged {
            outcomeChanges += 1
            transitions[difference.transition, default: 0] += 1
            // The money that would stop (or start) being approved without a reviewer.
            let moved = outcome == .approve ? recordedActions().moneyByCurrency
                : after.outcome == .approve ? after.actions.moneyByCurrency : [:]
            for (currency, minor) in moved { moneyMoved[difference.transition, default: [:]][currency, default: 0] += minor }
        } else {
            otherChanges += 1
        }
        if sample.count < sampleSize {
            sample.append((sequence, row.eventRow, row.decisionRow, .object([
                "type": .string(type.rawValue),
                "transition": .string(difference.transition), "outcome_changed": .bool(difference.outcomeChanged),
                "actual": .object(["outcome": .string(outcome.rawValue), "queue": row.queue.map(JSONValue.string) ?? .null,
                                   "actions": .array(recordedActions().map(\.json))]),
                "candidate": after.compared(verdicts: verdicts),
            ])))
        }
    }

    private mutating func skip(_ row: ReplayChunk.Row, sequence: Int, _ why: String) {
        skipped += 1
        if firstSkip == nil { firstSkip = (sequence, row.eventRow, why) }
    }

    /// Whether the recorded verdicts are exactly one, by `policy` — the usual case, where the
    /// candidate's verdict replaces it and nothing else needs reading. Every verdict object has
    /// a `"name":` member and a JSON string cannot contain that sequence (its quotes would be
    /// escaped), so one occurrence means one verdict and no action with a `name` field.
    /// Whether `actions` are, byte for byte, the actions of the single recorded verdict in
    /// `policies` (canonical JSON: `"actions"` sorts first in a verdict, absent when none) —
    /// the cheap check that spares reading the recorded actions back when nothing changed.
    /// With one verdict, the decision's actions are that verdict's.
    static func sameActions(_ actions: [ProposedAction], asVerdictIn bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let prefix: StaticString = "[{\"actions\":"
        guard let base = bytes.baseAddress else { return false }
        let n = prefix.utf8CodeUnitCount
        guard bytes.count > n, memcmp(base, prefix.utf8Start, n) == 0 else { return actions.isEmpty }
        guard !actions.isEmpty else { return false }
        let encoded = CanonicalJSON.encode(.array(actions.map(\.json)))
        return bytes.count >= n + encoded.count && memcmp(base + n, encoded, encoded.count) == 0
            && (n + encoded.count == bytes.count || bytes[n + encoded.count] == UInt8(ascii: ","))
    }

    static func onlyVerdictOf(_ policy: String, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        let needle: StaticString = "\"name\":"
        let n = needle.utf8CodeUnitCount
        func matches(_ at: Int, _ word: UnsafePointer<UInt8>, _ count: Int) -> Bool {
            at + count <= bytes.count && memcmp(base + at, word, count) == 0
        }
        var found = -1
        var i = 0
        while i < bytes.count, let quote = memchr(base + i, Int32(UInt8(ascii: "\"")), bytes.count - i) {
            i = base.distance(to: quote.assumingMemoryBound(to: UInt8.self))
            if matches(i, needle.utf8Start, n) {
                if found >= 0 { return false }
                found = i + n
                i += n
            } else {
                i += 1
            }
        }
        guard found >= 0 else { return false }
        let expected = CanonicalJSON.encode(.string(policy))
        return matches(found, expected, expected.count)
    }

    /// Puts in what the sample shows of each decision (ids, time, account, amount, recorded
    /// reasons), read after the replay by row.
    mutating func fillDetails(_ details: [Int64: ReplayedDetails]) {
        for i in sample.indices {
            guard case .object(var fields) = sample[i].json, let found = details[sample[i].eventRow],
                  case .object(var actual)? = fields["actual"] else { continue }
            fields["event_id"] = .string(found.eventId)
            fields["decision_id"] = .string(found.decisionId)
            fields["received_at"] = .string(found.receivedAt)
            fields["account_id"] = .string(found.accountId)
            fields["amount_minor"] = found.amountMinor.map(JSONValue.int) ?? .null
            fields["currency"] = found.currency.map(JSONValue.string) ?? .null
            actual["reasons"] = (try? JSONValue.parse(Data(found.reasons.utf8))) ?? .array([])
            fields["actual"] = .object(actual)
            sample[i].json = .object(fields)
        }
    }

    mutating func merge(_ other: BacktestTally) {
        evaluated += other.evaluated
        outcomeChanges += other.outcomeChanges
        otherChanges += other.otherChanges
        transitions.merge(other.transitions, uniquingKeysWith: +)
        for (transition, money) in other.moneyMoved { moneyMoved[transition, default: [:]].merge(money, uniquingKeysWith: +) }
        sample = Array((sample + other.sample).sorted { $0.sequence < $1.sequence }.prefix(sampleSize))
        skipped += other.skipped
        if let theirs = other.firstSkip, theirs.sequence < firstSkip?.sequence ?? Int.max { firstSkip = theirs }
    }

}

/// The result of a backtest.
public struct BacktestReport: Sendable {
    let tally: BacktestTally
    public let elapsed: Duration

    public var evaluated: Int { tally.evaluated }
    public var outcomeChanges: Int { tally.outcomeChanges }
    public var transitions: [String: Int] { tally.transitions }

    public var eventsPerSecond: Int {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return seconds > 0 ? Int(Double(tally.evaluated) / seconds) : 0
    }

    public var json: JSONValue {
        var money: [JSONValue] = []
        for (transition, byCurrency) in tally.moneyMoved.sorted(by: { $0.key < $1.key }) {
            for (code, minor) in byCurrency.sorted(by: { $0.key < $1.key }) {
                money.append(.object([
                    "transition": .string(transition), "currency": .string(code), "amount_minor": .int(minor),
                    "amount": Currency(code).map { .string(Money(amountMinor: minor, currency: $0).description) } ?? .null,
                ]))
            }
        }
        return .object([
            "evaluated": .int(Int64(tally.evaluated)), "outcome_changes": .int(Int64(tally.outcomeChanges)),
            "other_changes": .int(Int64(tally.otherChanges)),
            "unchanged": .int(Int64(tally.evaluated - tally.outcomeChanges - tally.otherChanges)),
            "transitions": .object(tally.transitions.mapValues { .int(Int64($0)) }),
            "money_moved": .array(money), "sample": .array(tally.sample.map(\.json)),
            "skipped": .int(Int64(tally.skipped)), "first_skip": tally.firstSkipText.map(JSONValue.string) ?? .null,
            "duration_ms": .int(elapsed.microseconds / 1000), "events_per_s": .int(Int64(eventsPerSecond)),
        ])
    }
}

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

    public struct Started: Sendable {
        public let json: JSONValue
        public let done: Bool
    }

    public func start(candidate: CompiledPolicy, range: BacktestRange, by actor: String) async throws -> Started {
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
            return Started(json: try await job(name: candidate.name, id: id) ?? .null, done: true)
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
        return Started(json: try await job(name: candidate.name, id: id) ?? .null, done: false)
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
    public func job(name: String, id: String) async throws -> JSONValue? {
        guard case .object(var fields)? = try await store.backtest(name: name, id: id) else {
            return nil
        }
        let total = fields["total"]?.intValue ?? 0
        let evaluated: Int64
        if let running = running.progress(of: id) {
            evaluated = Int64(running)
        } else {
            evaluated = fields["report"]?.objectValue?["evaluated"]?.intValue ?? 0
        }
        fields["progress"] = .object([
            "evaluated": .int(evaluated), "total": .int(total),
            "percent": .int(total > 0 ? min(100, evaluated * 100 / total) : 100),
        ])
        return .object(fields)
    }
}
