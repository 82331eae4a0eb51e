import ArbiterCore

/// Memory for encoding, owned by a pooled sandbox and reused by every evaluation on it.
final class EncodeStorage: @unchecked Sendable {
    fileprivate(set) var base: UnsafeMutableRawPointer
    fileprivate(set) var capacity: Int

    init(capacity: Int = 1024) {
        self.base = .allocate(byteCount: capacity, alignment: 8)
        self.capacity = capacity
    }

    deinit { base.deallocate() }

    /// Keeps the (possibly grown) buffer of a finished writer.
    func adopt(_ writer: ValueWriter) {
        base = writer.base
        capacity = writer.capacity
    }
}
