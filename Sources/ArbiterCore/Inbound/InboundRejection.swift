/// Why a webhook was refused before it was stored: its signature, its timestamp, its mode.
/// The vendor gets the status (400 for a request that cannot be checked, 401 for one that
/// checks and fails) and the reason; operators see it in the recent-failures log.
public struct InboundRejection: Error, Sendable, Equatable {
    public enum Status: Int, Sendable { case badRequest = 400, unauthorized = 401 }
    public let status: Status
    public let reason: String

    public init(_ status: Status, _ reason: String) {
        self.status = status
        self.reason = reason
    }
}
