/// Limits on one policy evaluation.
public struct PolicyLimits: Sendable, Hashable, Codable {
    /// Lua VM instructions per evaluation; pattern-matching steps and bulk C work count too.
    public var instructionBudget: Int64
    /// Bytes one Lua state may hold.
    public var memoryBytes: Int64
    /// Wall-clock bound per evaluation, in milliseconds, including time inside C functions.
    public var timeLimitMillis: Int64

    public init(instructionBudget: Int64 = 1_000_000, memoryBytes: Int64 = 16 << 20, timeLimitMillis: Int64 = 50) {
        self.instructionBudget = instructionBudget
        self.memoryBytes = memoryBytes
        self.timeLimitMillis = timeLimitMillis
    }
}
