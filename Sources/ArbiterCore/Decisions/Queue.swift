/// The well-known queues the service itself routes to.
public enum Queue {
    /// A policy errored, ran out of budget or time, or returned something malformed.
    public static let policyErrors = "policy-errors"
    /// A request type no policy decides.
    public static let defaultReview = "default-review"
    /// An approval whose actions break a ceiling or fail validation outside Lua.
    public static let guardrail = "guardrail"
}
