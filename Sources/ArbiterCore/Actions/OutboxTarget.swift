/// Where an outbox action is delivered. Each target has its own dispatcher, connector and
/// settings, and its own lines (an account's actions for one target are sent in order); a dead
/// letter holds only its own target's line, never another target's actions.
public enum OutboxTarget {
    /// The ERP: the actions decisions and reviews approve (credit memos, refunds, suspensions…).
    public static let erp = "erp"
    /// Answers to the requester: the decision and the review's outcome, back where the request
    /// came from (a Zendesk ticket's internal note, a mapped source's callback).
    public static let answers = "answers"

    public static let all = [erp, answers]
}
