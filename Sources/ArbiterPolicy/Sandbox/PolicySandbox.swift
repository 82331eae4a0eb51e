import ArbiterCore
import CLuaSandbox
import Glibc

/// One sandboxed Lua state with a set of policies loaded. Not thread-safe: the engine's pool
/// hands each sandbox to one evaluation at a time.
final class PolicySandbox: @unchecked Sendable {
    private let handle: OpaquePointer

    /// A sandbox with nothing loaded; nil when the state cannot be created (out of memory).
    init?(limits: PolicyLimits, config: [UInt8]) {
        let raw = arb_limits(instruction_budget: limits.instructionBudget, memory_limit: UInt64(limits.memoryBytes),
                             time_limit_ns: limits.timeLimitMillis * 1_000_000)
        guard let handle = Currency.exponentTable.withCString({ arb_sandbox_new(raw, $0) }) else { return nil }
        self.handle = handle
        let status = config.withUnsafeBufferPointer { arb_sandbox_set_config(handle, $0.baseAddress, $0.count) }
        if status != Int32(ARB_OK) {
            arb_sandbox_free(handle)
            return nil
        }
    }

    deinit { arb_sandbox_free(handle) }

    /// Compiles a policy into this state and reads its header. `file` names it in errors.
    func load(file: String, source: String) -> Result<(slot: Int32, header: PolicyHeader), PolicyLoadError> {
        let (status, slot) = compile(file: file, source: source, with: arb_sandbox_load)
        var reader = outputReader()
        guard status == Int32(ARB_OK) else {
            let message = reader.string() ?? "\(file): could not be loaded"
            return .failure(PolicyLoadError(file: file, message: message))
        }
        guard case .object(let fields)? = reader.value(), let name = fields["name"]?.stringValue,
              let on = fields["on"]?.arrayValue?.compactMap(\.stringValue), let priority = fields["priority"]?.intValue
        else { return .failure(PolicyLoadError(file: file, message: "\(file): internal error reading the policy header")) }
        return .success((slot, PolicyHeader(name: name, on: on, priority: priority)))
    }

    /// Evaluates the policy in `slot` against pre-encoded `event` and `context`.
    func evaluate(slot: Int32, event: UnsafeRawBufferPointer, context: UnsafeRawBufferPointer, file: String) -> SandboxOutcome {
        let status = arb_sandbox_evaluate(handle, slot, event.baseAddress?.assumingMemoryBound(to: UInt8.self), event.count,
                                          context.baseAddress?.assumingMemoryBound(to: UInt8.self), context.count)
        var reader = outputReader()
        if status == Int32(ARB_OK) {
            guard let code = reader.u8(), let queue = reader.string(), let sla = reader.i64(), let approvals = reader.i64(),
                  let reasons = reader.strings(), let count = reader.u32()
            else { return .failed(message: "\(file): internal error reading the decision", poisoned: true, log: []) }
            var actions: [[String: JSONValue]] = []
            actions.reserveCapacity(count)
            for _ in 0..<count {
                guard case .object(let fields)? = reader.value() else {
                    return .failed(message: "\(file): internal error reading an action", poisoned: true, log: [])
                }
                actions.append(fields)
            }
            let log = reader.strings() ?? []
            let outcome: PolicyOutcome = switch Int(code) {
            case Int(ARB_OUTCOME_APPROVE): .approve
            case Int(ARB_OUTCOME_REJECT): .reject
            default: .review
            }
            return .decided(outcome: outcome, queue: queue.isEmpty ? nil : queue, slaSeconds: sla < 0 ? nil : sla,
                            approvalsRequired: approvals == 0 ? nil : Int(approvals), reasons: reasons,
                            actions: actions, log: log)
        }
        var message = reader.string() ?? "policy failed"
        let log = reader.strings() ?? []
        let poisoned = [ARB_ERR_BUDGET, ARB_ERR_MEMORY, ARB_ERR_TIME, ARB_ERR_INTERNAL].map(Int32.init).contains(status)
        if status == Int32(ARB_ERR_MALFORMED), !message.hasPrefix(file) {
            message = "\(file): malformed decision: \(message)"
        } else if !message.hasPrefix(file) {
            message = "\(file): \(message)"
        }
        return .failed(message: message, poisoned: poisoned, log: log)
    }

    /// Runs one of the sandbox's load calls on `source` (the chunk named `@file`).
    private func compile(file: String, source: String,
                         with load: (OpaquePointer, UnsafePointer<CChar>, UnsafePointer<CChar>?, Int, UnsafeMutablePointer<Int32>) -> Int32)
        -> (status: Int32, slot: Int32) {
        var slot: Int32 = -1
        var source = source
        let status = source.withUTF8 { utf8 in
            ("@" + file).withCString { name in
                utf8.withMemoryRebound(to: CChar.self) { load(handle, name, $0.baseAddress, $0.count, &slot) }
            }
        }
        return (status, slot)
    }

    /// Compiles a source's mapping script into this state; its name.
    func loadMapping(file: String, source: String) -> Result<(slot: Int32, name: String), PolicyLoadError> {
        let (status, slot) = compile(file: file, source: source, with: arb_sandbox_load_mapping)
        var reader = outputReader()
        guard status == Int32(ARB_OK) else {
            return .failure(PolicyLoadError(file: file, message: reader.string() ?? "\(file): could not be loaded"))
        }
        guard case .object(let fields)? = reader.value(), let name = fields["name"]?.stringValue else {
            return .failure(PolicyLoadError(file: file, message: "\(file): internal error reading the mapping's name"))
        }
        return .success((slot, name))
    }

    /// Calls the mapping in `slot` with a pre-encoded request; what it returned.
    func map(slot: Int32, request: UnsafeRawBufferPointer, file: String) -> MappingRun {
        let status = arb_sandbox_map(handle, slot, request.baseAddress?.assumingMemoryBound(to: UInt8.self), request.count)
        var reader = outputReader()
        if status == Int32(ARB_OK) {
            guard let value = reader.value() else { return MappingRun(result: .failure(.init(message: "\(file): internal error reading the result", poisoned: true)), log: []) }
            return MappingRun(result: .success(value), log: reader.strings() ?? [])
        }
        var message = reader.string() ?? "mapping failed"
        let log = reader.strings() ?? []
        if !message.hasPrefix(file) { message = "\(file): \(message)" }
        let poisoned = [ARB_ERR_BUDGET, ARB_ERR_MEMORY, ARB_ERR_TIME, ARB_ERR_INTERNAL].map(Int32.init).contains(status)
        return MappingRun(result: .failure(.init(message: message, poisoned: poisoned)), log: log)
    }

    /// The sandbox's output buffer: owned by the sandbox, valid until its next call.
    private func outputReader() -> ValueReader {
        var length = 0
        let pointer = arb_sandbox_output(handle, &length)
        return ValueReader(UnsafeRawBufferPointer(start: pointer, count: pointer == nil ? 0 : length))
    }
}
