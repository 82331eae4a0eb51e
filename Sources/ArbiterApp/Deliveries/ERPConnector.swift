import ArbiterCore

/// Hands one action to the ERP and says how it went. Connectors never throw: every failure is
/// an attempt result the dispatcher records.
public protocol ERPConnector: Sendable {
    /// "http" or "file", as recorded with each attempt.
    var name: String { get }
    func deliver(_ action: PendingAction) async -> DeliveryAttempt
}
