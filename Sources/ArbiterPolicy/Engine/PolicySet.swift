import ArbiterCore

/// An immutable set of active policies. The engine swaps whole sets atomically, so each
/// evaluation sees exactly one version of each policy.
public struct PolicySet: Sendable {
    public let policies: [CompiledPolicy]
    /// Distinguishes sets, so pooled Lua states built for an older set are not reused.
    public let generation: UInt64
    /// Each policy's health and circuit breaker (shared by every set holding that version).
    public let health: [PolicyHealth]
    private let byType: [String: [Int]]
    /// The same for the event types the service knows, by ``EventType/ordinal``: the live path
    /// looks its policies up without hashing a string.
    private let byKnownType: [[Int]]

    /// Sorted by priority (higher first), then name.
    init(policies: [CompiledPolicy], generation: UInt64, health: (CompiledPolicy) -> PolicyHealth) {
        let sorted = policies.sorted { ($0.header.priority, $1.name) > ($1.header.priority, $0.name) }
        self.policies = sorted
        self.generation = generation
        self.health = sorted.map(health)
        var byType: [String: [Int]] = [:]
        for (i, p) in sorted.enumerated() {
            for type in Set(p.header.on) { byType[type, default: []].append(i) }
        }
        self.byType = byType
        self.byKnownType = EventType.allCases.map { byType[$0.rawValue] ?? [] }
    }

    /// Indexes (into `policies`) of the policies bound to an event type, in evaluation order.
    public func indexes(for type: String) -> [Int] { byType[type] ?? [] }

    public func indexes(for type: EventType) -> [Int] { byKnownType[type.ordinal] }

    /// Whether an event of this type goes to the quarantine lane: one of its policies hit a
    /// limit, or ran slow, the last time it ran (see ``PolicyHealth``).
    public func isQuarantined(_ type: EventType) -> Bool {
        byKnownType[type.ordinal].contains { health[$0].isQuarantined }
    }

    public var isEmpty: Bool { policies.isEmpty }
}
