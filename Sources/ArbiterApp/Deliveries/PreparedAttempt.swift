import ArbiterCore
import Foundation

/// One attempt with everything its record needs, worked out before the write transaction
/// (only the dispatcher changes a pending action's attempts, so the count it read is current):
/// the writer then only binds values and chains the audit entry.
public struct PreparedAttempt: Sendable {
    public let actionId: String
    public let accountId: String
    public let correlationId: String
    public let type: String
    public let createdAt: Date
    public let now: Date
    public let at: String
    /// Attempts including this one.
    public let attempts: Int
    /// The action's status after it: delivered, pending (a retry is due at `nextAttemptAt`) or dead.
    public let status: String
    /// The attempt row's result: delivered, retry or dead.
    public let result: String
    public let reference: String?
    public let nextAttemptAt: Date?
    public let statusCode: Int?
    public let error: String?
    public let lastError: String?
    public let responseBody: String?
    public let durationMicros: Int64
    public let audit: AuditDraft

    /// `actor` is who the audit entry names: `erp`, or `answers` for answers to requesters.
    public init(action: PendingAction, attempt: DeliveryAttempt, settings: DeliverySettings, connector: String, actor: String = "erp",
                now: Date = Date()) {
        actionId = action.id
        accountId = action.accountId
        correlationId = action.correlationId
        type = action.type
        createdAt = action.createdAt
        self.now = now
        at = Timestamp.format(now)
        attempts = action.attempts + 1
        statusCode = attempt.statusCode
        error = attempt.error
        durationMicros = attempt.duration.microseconds
        var data: [String: JSONValue] = [
            "attempt": .int(Int64(attempts)), "connector": .string(connector),
            "status_code": attempt.statusCode.map { .int(Int64($0)) } ?? .null,
            "duration_ms": .double((Double(durationMicros) / 1000).rounded()),
        ]
        if let error = attempt.error { data["error"] = .string(error) }
        let kind: String
        switch attempt.result {
        case .delivered(let reference):
            (status, result, kind) = ("delivered", "delivered", "action.delivered")
            self.reference = reference
            data["reference"] = reference.map(JSONValue.string) ?? .null
            nextAttemptAt = nil
            lastError = nil
            responseBody = nil
        case .retry(let retryAfter) where attempts < settings.maxAttempts:
            (status, result, kind) = ("pending", "retry", "action.attempt_failed")
            reference = nil
            let wait = min(retryAfter ?? settings.backoff(afterFailures: attempts), settings.maxDelay)
            let next = now.addingTimeInterval(Double(wait.microseconds) / 1_000_000)
            nextAttemptAt = next
            data["next_attempt_at"] = .string(Timestamp.format(next))
            lastError = Self.describe(attempt)
            responseBody = nil
        case .retry, .rejected:
            (status, result, kind) = ("dead", "dead", "action.dead_lettered")
            reference = nil
            nextAttemptAt = nil
            let why = attempt.result == .rejected
                ? "\(actor == "erp" ? "the ERP" : "the receiver") refused it: \(Self.describe(attempt))"
                : "gave up after \(attempts) attempts: \(Self.describe(attempt))"
            data["reason"] = .string(why)
            lastError = why
            responseBody = attempt.responseBody
        }
        audit = AuditDraft(actor: actor, kind: kind, subject: action.id, correlationId: action.correlationId, at: at,
                           dataJSON: CanonicalJSON.encode(.object(data)))
    }

    /// What an attempt's answer was, in one line.
    public static func describe(_ attempt: DeliveryAttempt) -> String {
        var parts: [String] = []
        if let code = attempt.statusCode { parts.append("HTTP \(code)") }
        if let error = attempt.error { parts.append(error) }
        if let body = attempt.responseBody, !body.isEmpty { parts.append(String(body.prefix(200))) }
        return parts.isEmpty ? "no answer" : parts.joined(separator: ": ")
    }
}
