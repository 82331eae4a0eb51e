import Foundation

/// A value behind a lock. NSLock rather than Synchronization.Mutex: Thread Sanitizer
/// understands NSLock (it reports false races on Mutex).
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
