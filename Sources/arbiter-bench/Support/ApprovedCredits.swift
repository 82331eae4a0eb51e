import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import ArbiterServer
import ArbiterSQLite
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The SQLite ceiling: the rows the service writes for an approved credit request (event,
/// decision, outbox action, two chained audit entries) written straight to a fresh database
/// in transactions of `batch` events, with the decision computed once — no HTTP, no policy time.
/// Approved credit decisions written through the real store path (`Decisions.insert`): what
/// the ceiling measures and what the ERP benchmark queues.
struct ApprovedCredits {
    let sample: Event
    let decision: Decision
    let context: PolicyContext

    init() throws {
        let engine = PolicyEngine()
        engine.activate(try engine.compile([PolicySource(file: "credit_thresholds.lua",
                                                         source: try String(contentsOfFile: "Policies/credit_thresholds.lua", encoding: .utf8))]))
        let (sample, context) = try EngineBench.mix()[0]
        decision = engine.decide(sample, context: context, guardrails: Guardrails())
        precondition(decision.outcome == .approve && decision.actions.count == 1, "an approved credit with one credit memo")
        self.sample = sample
        self.context = context
    }

    /// Credit number `n` on account `n % accounts`.
    func record(_ n: Int, prefix: String, accounts: Int) throws -> DecisionRecord {
        var envelope = sample.envelope.objectValue!
        envelope["id"] = .string("\(prefix)-\(n)")
        envelope["account_id"] = .string("bench_\(n % accounts)")
        let event = try Event(envelope: .object(envelope))
        let body = CanonicalJSON.encode(event.envelope)
        let now = Date()
        var record = DecisionRecord(
            eventId: Identifier.make(now: now), event: event, body: String(decoding: body, as: UTF8.self),
            bodySHA256: sha256Hex(body), submittedBy: "bench", receivedAt: now, decisionId: Identifier.make(now: now),
            decision: decision, actionIds: [Identifier.make(now: now)], reviewId: nil, context: context, decidedAt: now,
            durationMicros: 20, accountUpdate: nil, response: "")
        record.response = DecisionResponse.encode(record)
        return record
    }
}
