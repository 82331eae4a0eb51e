import ArbiterCore
import Foundation

/// What one call of a mapping script came to: the table `map` returned, or why it failed, and
/// the lines it logged.
public struct MappingRun: Sendable {
    public struct Failure: Error, Sendable {
        public let message: String
        /// A limit was hit: the state that ran it is dropped.
        public let poisoned: Bool
    }

    public var result: Result<JSONValue, Failure>
    public var log: [String]
}

/// A source's mapping script (`map(request)`), compiled, run in the policies' sandbox with the
/// policies' limits: fresh globals each call, nothing carried between calls, a script that
/// loops, allocates without end or errors ends in a ``MappingRun/Failure``.
///
/// Calls run on the caller's thread (a policy worker's, see `Inbox`), each on a sandbox of
/// this script's own small pool: a state is not thread-safe and building one costs a compile.
public final class MappingScript: Sendable {
    public let file: String
    /// The name the script gives itself.
    public let name: String
    /// The SHA-256 of the source.
    public let version: String
    public let source: String
    let limits: PolicyLimits
    private let idle: Locked<[(PolicySandbox, Int32)]>

    /// Compiles `source`; throws ``PolicyLoadError`` naming the file and line.
    public init(file: String, source: String, limits: PolicyLimits) throws {
        self.file = file
        self.source = source
        self.version = sha256Hex(Array(source.utf8))
        self.limits = limits
        let (sandbox, slot, name) = try Self.state(file: file, source: source, limits: limits)
        self.name = name
        self.idle = Locked([(sandbox, slot)])
    }

    private static func state(file: String, source: String, limits: PolicyLimits) throws -> (PolicySandbox, Int32, String) {
        guard let sandbox = PolicySandbox(limits: limits, config: [UInt8(ascii: "o"), 0, 0, 0, 0]) else {
            throw PolicyLoadError(file: file, message: "\(file): the sandbox could not be created (out of memory)")
        }
        let (slot, name) = try sandbox.loadMapping(file: file, source: source).get()
        return (sandbox, slot, name)
    }

    /// Runs `map(request)`. `request` is an object; nesting deeper than the sandbox takes is a
    /// failure, not a crash.
    public func map(_ request: JSONValue) -> MappingRun {
        guard request.depth <= 18 else {
            return MappingRun(result: .failure(.init(message: "\(file): the request is nested more than 18 levels deep", poisoned: false)), log: [])
        }
        let taken = idle.withLock { $0.popLast() }
        let state: (PolicySandbox, Int32)
        if let taken {
            state = taken
        } else {
            do {
                let (sandbox, slot, _) = try Self.state(file: file, source: source, limits: limits)
                state = (sandbox, slot)
            } catch {
                return MappingRun(result: .failure(.init(message: "\(error)", poisoned: false)), log: [])
            }
        }
        let storage = EncodeStorage()
        var writer = ValueWriter(storage)
        writer.write(request)
        let run = state.0.map(slot: state.1, request: writer.bytes, file: file)
        storage.adopt(writer)
        if case .failure(let failure) = run.result, failure.poisoned { return run }   // the state is dropped
        idle.withLock { if $0.count < 4 { $0.append(state) } }
        return run
    }
}

extension JSONValue {
    /// How deeply arrays and objects nest in it (a scalar is 0).
    var depth: Int {
        switch self {
        case .array(let items): 1 + (items.map(\.depth).max() ?? 0)
        case .object(let fields): 1 + (fields.values.map(\.depth).max() ?? 0)
        default: 0
        }
    }
}
