import Foundation

/// The review rules the service is configured with.
public struct ReviewSettings: Sendable, Hashable {
    /// How long a claim holds before another reviewer may take the item.
    public var claimSeconds: Int64
    public var defaultQueue: QueueSettings
    public var queues: [String: QueueSettings]

    public init(claimSeconds: Int64 = 30 * 60, defaultQueue: QueueSettings = QueueSettings(slaSeconds: 24 * 3600),
                queues: [String: QueueSettings] = [:]) {
        self.claimSeconds = claimSeconds
        self.defaultQueue = defaultQueue
        self.queues = queues
    }

    public func queue(_ name: String) -> QueueSettings {
        guard var settings = queues[name] else { return defaultQueue }
        if settings.slaSeconds == nil { settings.slaSeconds = defaultQueue.slaSeconds }
        return settings
    }

    /// A review decision with the queue's rules applied: the queue's SLA when the policy set
    /// none, and two approvals when the money is over the queue's threshold. Other outcomes
    /// are returned as they are.
    public func applying(to decision: Decision) -> Decision {
        guard decision.outcome == .review else { return decision }
        var decision = decision
        let settings = queue(decision.queue ?? Queue.defaultReview)
        if decision.slaSeconds == nil { decision.slaSeconds = settings.slaSeconds }
        decision.approvalsRequired = max(1, decision.approvalsRequired)
        if let threshold = settings.twoApprovalsOverMinor, decision.actions.moneyByCurrency.values.contains(where: { $0 > threshold }) {
            decision.approvalsRequired = max(2, decision.approvalsRequired)
        }
        return decision
    }

    /// Reads the queue configuration:
    /// `{"claim_minutes": 30, "default": {"sla_hours": 24}, "queues": {"credits": {"sla_hours": 8,
    /// "escalate_to": "credits-leads", "two_approvals_over_minor": 100000}}}`. Every field is
    /// optional; unknown fields are errors (a typo must not silently drop a control).
    public static func parse(_ json: JSONValue) throws -> ReviewSettings {
        var errors: [FieldError] = []
        var settings = ReviewSettings()
        guard let root = json.objectValue else { throw Refusal.invalid([FieldError("", "must be a JSON object")]) }
        for key in root.keys where !["claim_minutes", "default", "queues"].contains(key) {
            errors.append(FieldError(key, "unknown field (expected claim_minutes, default, queues)"))
        }
        if let minutes = root["claim_minutes"] {
            if let value = minutes.doubleValue, value > 0, value <= 7 * 24 * 60 { settings.claimSeconds = max(1, Int64(value * 60)) }
            else { errors.append(FieldError("claim_minutes", "must be a number of minutes above 0 and at most 10080")) }
        }
        func queueSettings(_ value: JSONValue, path: String) -> QueueSettings {
            var queue = QueueSettings()
            guard let fields = value.objectValue else {
                errors.append(FieldError(path, "must be an object"))
                return queue
            }
            for key in fields.keys where !["sla_hours", "escalate_to", "two_approvals_over_minor"].contains(key) {
                errors.append(FieldError("\(path).\(key)", "unknown field (expected sla_hours, escalate_to, two_approvals_over_minor)"))
            }
            if let sla = fields["sla_hours"] {
                if let hours = sla.doubleValue, hours > 0, hours <= 8784 { queue.slaSeconds = max(1, Int64(hours * 3600)) }
                else { errors.append(FieldError("\(path).sla_hours", "must be a number of hours above 0 and at most 8784")) }
            }
            if let target = fields["escalate_to"] {
                if let name = target.stringValue, !name.isEmpty { queue.escalateTo = name }
                else { errors.append(FieldError("\(path).escalate_to", "must be a queue name")) }
            }
            if let threshold = fields["two_approvals_over_minor"] {
                if case .int(let minor) = threshold, minor >= 0 { queue.twoApprovalsOverMinor = minor }
                else { errors.append(FieldError("\(path).two_approvals_over_minor", "must be a non-negative integer amount in minor units")) }
            }
            return queue
        }
        if let value = root["default"] { settings.defaultQueue = queueSettings(value, path: "default") }
        if let value = root["queues"] {
            if let queues = value.objectValue {
                for (name, queue) in queues { settings.queues[name] = queueSettings(queue, path: "queues.\(name)") }
            } else {
                errors.append(FieldError("queues", "must be an object of queue name to settings"))
            }
        }
        if !errors.isEmpty { throw Refusal.invalid(errors) }
        return settings
    }
}
