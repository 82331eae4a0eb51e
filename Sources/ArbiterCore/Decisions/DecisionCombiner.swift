/// Combines the policies' verdicts: reject > review > approve; errors never approve.
public enum DecisionCombiner {
    /// - Parameters:
    ///   - results: the verdicts, in evaluation (priority) order.
    ///   - eventType: the event's type, for the no-policy rule.
    ///   - accountCurrency: actions moving money must use it when the account has one.
    public static func combine(_ results: [PolicyResult], eventType: EventType, accountCurrency: String?,
                               guardrails: Guardrails) -> Decision {
        guard !results.isEmpty else {
            if eventType.kind == .signal {
                return Decision(outcome: .recorded, queue: nil, reasons: [], actions: [], slaSeconds: nil, approvalsRequired: 0, policies: [])
            }
            return Decision(outcome: .review, queue: Queue.defaultReview,
                            reasons: ["no active policy decides \(eventType.rawValue) events"], actions: [],
                            slaSeconds: nil, approvalsRequired: 1, policies: [])
        }
        var results = results
        // Money must be in the account's currency: a mismatch is the policy's error.
        if let accountCurrency {
            for i in results.indices where results[i].error == nil {
                for action in results[i].actions {
                    guard let money = action.money, money.currency.code != accountCurrency else { continue }
                    results[i] = .failure(name: results[i].name, version: results[i].version,
                                          error: "action currency \(money.currency) does not match the account currency \(accountCurrency)",
                                          durationMicros: results[i].durationMicros, log: results[i].log)
                    break
                }
            }
        }
        var rejects = false, reviews = false, errors = false
        for result in results {
            switch result.outcome {
            case .reject: rejects = true
            case .review: reviews = true
            case .approve: break
            }
            if result.error != nil { errors = true }
        }
        if rejects {
            var reasons: [String] = []
            for result in results where result.outcome == .reject { reasons += result.reasons }
            return Decision(outcome: .reject, queue: nil, reasons: reasons, actions: [], slaSeconds: nil,
                            approvalsRequired: 0, policies: results)
        }
        var actions: [ProposedAction] = []
        for result in results { actions += result.actions }
        if reviews {
            var reasons: [String] = []
            var queue: String?
            var sla: Int64?
            var approvals = 1
            for result in results where result.outcome == .review {
                reasons += result.reasons
                if queue == nil { queue = result.queue }
                if let s = result.slaSeconds { sla = min(sla ?? s, s) }
                if let a = result.approvalsRequired { approvals = max(approvals, a) }
            }
            return Decision(outcome: .review, queue: errors ? Queue.policyErrors : (queue ?? Queue.defaultReview),
                            reasons: reasons, actions: actions, slaSeconds: sla, approvalsRequired: approvals, policies: results)
        }
        var reasons: [String] = []
        for result in results { reasons += result.reasons }
        let violations = guardrails.violations(actions)
        if !violations.isEmpty {
            return Decision(outcome: .review, queue: Queue.guardrail, reasons: violations + reasons, actions: actions,
                            slaSeconds: nil, approvalsRequired: 1, policies: results)
        }
        return Decision(outcome: .approve, queue: nil, reasons: reasons, actions: actions, slaSeconds: nil,
                        approvalsRequired: 0, policies: results)
    }
}
