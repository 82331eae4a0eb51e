import ArbiterCore
import ArbiterPolicy
import Foundation

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
