/// The service is stopping and did not take the work: nothing of it was written. The edge
/// answers 503, so a client sends the same request again (to another instance, or after the
/// restart) with the same idempotency key.
public struct ShuttingDown: Error, Sendable, CustomStringConvertible {
    public init() {}

    public var description: String { "the service is shutting down" }
}
