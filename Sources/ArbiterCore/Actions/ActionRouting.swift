/// Which delivery target each action type goes to (`--targets`): financial documents to the
/// ERP, account status and entitlements to the billing or provisioning system. An action's
/// target is set when it is queued (and, at start, for actions still waiting when the routing
/// changed), so each target's lines, dispatcher and dead letters are its own.
public struct ActionRouting: Sendable, Hashable {
    /// Target name by action type; a type not named goes to ``OutboxTarget/erp``.
    public private(set) var targets: [ActionType: String]

    public init(_ targets: [ActionType: String] = [:]) {
        self.targets = targets
    }

    /// Every type to the one ERP target: how a service with a single connector delivers.
    public static let single = ActionRouting()

    public func target(for type: ActionType) -> String { targets[type] ?? OutboxTarget.erp }

    /// The target of a stored action's type (answers keep theirs).
    public func target(forType type: String) -> String {
        ActionType(rawValue: type).map(target(for:)) ?? OutboxTarget.erp
    }
}
