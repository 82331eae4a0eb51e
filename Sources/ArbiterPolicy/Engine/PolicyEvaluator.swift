import ArbiterCore
import Foundation
import Glibc

/// Evaluates events against one set on a state it owns. Not thread-safe: one per thread.
public final class PolicyEvaluator {
    fileprivate let engine: PolicyEngine
    public let set: PolicySet
    /// Replaced when a limit poisons it; nil when no state could be built.
    fileprivate var state: PolicyEngine.PooledSandbox?
    /// Evaluations in a row in which a policy hit a limit (a backtest gives up on a candidate
    /// that does so on every event, rather than spend its time limit on each).
    public private(set) var limitErrorsInARow = 0
    /// The error of the last evaluation that hit a limit.
    public private(set) var lastLimitError: String?

    fileprivate func keep(_ survivor: PolicyEngine.PooledSandbox?, after used: PolicyEngine.PooledSandbox, results: [PolicyResult]) {
        if survivor === used {
            limitErrorsInARow = 0
        } else {
            limitErrorsInARow += 1
            lastLimitError = results.last { $0.error != nil }?.error
        }
        state = survivor
    }

    init(engine: PolicyEngine, set: PolicySet, pooled: PolicyEngine.PooledSandbox) {
        self.engine = engine
        self.set = set
        self.state = pooled
    }

    /// Every bound policy's verdict on the event, as ``PolicyEngine/evaluate(_:context:set:)``.
    public func evaluate(_ event: Event, context: PolicyContext) -> [PolicyResult] {
        let indexes = set.indexes(for: event.type)
        guard !indexes.isEmpty else { return [] }
        guard let state = state ?? engine.build(set) else {
            return indexes.map { .failure(name: set.policies[$0].name, version: set.policies[$0].version,
                                          error: "\(set.policies[$0].source.file): no Lua state available (out of memory)") }
        }
        let (results, survivor) = engine.run(set: set, indexes: indexes, pooled: state, event: event, context: context)
        keep(survivor, after: state, results: results)
        return results
    }
}

extension PolicyEvaluator {
    /// Evaluates a stored event and the context recorded with its decision, given as the JSON
    /// text they were stored as: written straight into the sandbox's input format, the same
    /// input the live evaluation had (see ``JSONTranscoder``). Also returns the account's
    /// currency from the context. Throws when the stored text is malformed.
    public func evaluate(storedEvent: String, type: String, recordedContext: String) throws -> (results: [PolicyResult], accountCurrency: String?) {
        var event = storedEvent, context = recordedContext
        return try event.withUTF8 { event in
            try context.withUTF8 { context in try evaluate(storedEvent: event, type: type, recordedContext: context) }
        }
    }

    public func evaluate(storedEvent: UnsafeBufferPointer<UInt8>, type: String,
                         recordedContext: UnsafeBufferPointer<UInt8>) throws -> (results: [PolicyResult], accountCurrency: String?) {
        guard let state = state ?? engine.build(set) else {
            return (set.indexes(for: type).map { .failure(name: set.policies[$0].name, version: set.policies[$0].version,
                                                          error: "\(set.policies[$0].source.file): no Lua state available (out of memory)") }, nil)
        }
        var eventWriter = ValueWriter(state.eventStorage)
        var contextWriter = ValueWriter(state.contextStorage)
        defer {
            state.eventStorage.adopt(eventWriter)
            state.contextStorage.adopt(contextWriter)
        }
        var contextTranscoder = JSONTranscoder(recordedContext, dropNullMembers: true, capture: (parent: "account", key: "currency"))
        try contextTranscoder.document(into: &contextWriter)
        let currency = contextTranscoder.captured
        let indexes = set.indexes(for: type)
        guard !indexes.isEmpty else { return ([], currency) }
        var eventTranscoder = JSONTranscoder(storedEvent, dropNullMembers: false)
        try eventTranscoder.document(into: &eventWriter)
        let (results, survivor) = engine.run(set: set, indexes: indexes, pooled: state, event: eventWriter.bytes,
                                             context: contextWriter.bytes)
        keep(survivor, after: state, results: results)
        return (results, currency)
    }
}

func monotonicNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}
