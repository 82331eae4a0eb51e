/// What a candidate policy version would have decided instead: shadow mode and backtests.
///
/// Both answer one question — "had this version been in place of its policy, everything else
/// as it was, what would the decision be?" — so both take the verdicts the decision was made
/// from, put the candidate's verdict in place of its policy's, and combine again with the same
/// rules as a live decision. Only the candidate runs in Lua; the other policies' verdicts are
/// the ones recorded.
public enum CandidateDecision {
    /// - Parameters:
    ///   - policy: the candidate's policy name.
    ///   - candidate: the candidate's verdicts on the event (none when it does not decide this
    ///     event type: the policy then drops out of the decision).
    ///   - actual: every policy's verdict as the decision was made.
    public static func decide(policy: String, candidate: [PolicyResult], actual: [PolicyResult], eventType: EventType,
                              accountCurrency: String?, guardrails: Guardrails) -> Decision {
        var results: [PolicyResult] = []
        results.reserveCapacity(actual.count + 1)
        var placed = false
        for result in actual {
            if result.name == policy {
                if !placed { results += candidate; placed = true }
            } else {
                results.append(result)
            }
        }
        if !placed { results += candidate }
        return DecisionCombiner.combine(results, eventType: eventType, accountCurrency: accountCurrency, guardrails: guardrails)
    }
}
