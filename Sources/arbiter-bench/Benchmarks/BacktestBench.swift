import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import ArbiterServer
import ArbiterSQLite
import Foundation
import GRDB

/// `arbiter-bench backtest [--events N]`: stores N decided credit requests (the engine bench's
/// mix of inputs, every outcome of credit_thresholds, each with its own id, account and
/// recorded context) through the real store path, then replays them all through a candidate
/// version of credit_thresholds (auto-approval limit 10.00 instead of 50.00 for standard
/// accounts) with the service's backtester: rows read from one snapshot, decoded, evaluated
/// on every core, compared. The last line is `backtest events_per_s=<int>`.
struct BacktestBench {
    let events: Int
    /// Keep the stored events in this file and reuse them on the next run (profiling).
    var keep: String?

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("arbiter-backtest-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let reuse = keep.map { FileManager.default.fileExists(atPath: $0) } ?? false
        let database = try AppDatabase.open(path: keep ?? directory.appendingPathComponent("arbiter.sqlite").path)
        let engine = PolicyEngine()
        let shipped = try String(contentsOfFile: "Policies/credit_thresholds.lua", encoding: .utf8)
        engine.activate(try engine.compile([PolicySource(file: "credit_thresholds.lua", source: shipped)]))
        let guardrails = Guardrails()

        // Store the events with their decisions, as the service would have.
        let inputs = try EngineBench.mix()
        let decisions = inputs.map { engine.decide($0.0, context: $0.1, guardrails: guardrails) }
        let seeding = Date()
        let from = reuse ? Date.distantPast : Date().addingTimeInterval(-1)
        let batch = 5_000
        var stored = reuse ? events : 0
        while stored < events {
            let count = min(batch, events - stored)
            let records = try (stored..<(stored + count)).map { n in
                try Self.record(n, input: inputs[n % inputs.count], decision: decisions[n % inputs.count])
            }
            try await database.writer.write { db in
                var chain = try AuditChain(db)
                for record in records { _ = try Decisions.insert(db, record, chain: &chain) }
            }
            stored += count
        }
        let to = Date().addingTimeInterval(1)
        print(String(format: "stored %d decided credit requests in %.1f s", events, Date().timeIntervalSince(seeding)))

        let candidateSource = shipped.replacingOccurrences(of: "standard = 5000,     --   50.00", with: "standard = 1000,     --   10.00")
        precondition(candidateSource != shipped, "the candidate must differ from the shipped policy")
        let candidate = try engine.compile([PolicySource(file: "credit_thresholds.lua", source: candidateSource)]).policies[0]
        let backtester = Backtester(store: SQLitePolicyStore(database: database), engine: engine, guardrails: guardrails)
        let report = try await backtester.run(candidate: candidate, types: ["credit.requested"],
                                              range: BacktestRange(from: from, to: to, limit: nil))
        precondition(report.evaluated == events, "evaluated \(report.evaluated) of \(events) events")
        let seconds = Double(report.elapsed.components.seconds) + Double(report.elapsed.components.attoseconds) / 1e18
        print(String(format: "replayed %d events in %.2f s on %d workers: %d outcome changes (%@)", report.evaluated, seconds,
                     backtester.workers, report.outcomeChanges,
                     report.transitions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))
        print("backtest events_per_s=\(report.eventsPerSecond)")
    }

    /// Input `n` of the mix with its own ids and account, decided as recorded.
    static func record(_ n: Int, input: (Event, PolicyContext), decision: Decision) throws -> DecisionRecord {
        var envelope = input.0.envelope.objectValue ?? [:]
        let account = "bench_\(n % 10_000)"
        envelope["id"] = .string("backtest-\(n)")
        envelope["account_id"] = .string(account)
        let event = try Event(envelope: .object(envelope))
        var context = input.1
        context.account.id = account
        let body = CanonicalJSON.encode(event.envelope)
        let now = Date()
        var record = DecisionRecord(
            eventId: Identifier.make(now: now), event: event, body: String(decoding: body, as: UTF8.self), bodySHA256: sha256Hex(body),
            submittedBy: "bench", receivedAt: now, decisionId: Identifier.make(now: now), decision: decision,
            actionIds: decision.actions.map { _ in Identifier.make(now: now) },
            reviewId: decision.outcome == .review ? Identifier.make(now: now) : nil, context: context, decidedAt: now,
            durationMicros: 20, accountUpdate: nil, response: "")
        record.response = DecisionResponse.encode(record)
        return record
    }
}
