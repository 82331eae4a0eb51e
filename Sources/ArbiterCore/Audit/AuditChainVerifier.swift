import Crypto
import Foundation

/// Recomputes a chain entry by entry; stops at the first broken one.
public struct AuditChainVerifier: Sendable {
    private var expectedSeq: Int64
    private var previousHash: String
    private var count: Int64 = 0
    public private(set) var failure: AuditVerification?

    /// - Parameters: the sequence number and prev-hash the first entry must carry
    ///   (1 and the genesis hash for a whole chain).
    public init(firstSeq: Int64 = 1, previousHash: String = AuditEntry.genesisHash) {
        self.expectedSeq = firstSeq
        self.previousHash = previousHash
    }

    /// Checks the next entry. Returns false once the chain is broken.
    @discardableResult
    public mutating func check(_ entry: AuditEntry) -> Bool {
        guard failure == nil else { return false }
        if entry.seq != expectedSeq {
            failure = .broken(seq: expectedSeq, reason: "entry \(expectedSeq) is missing (found \(entry.seq) next)")
        } else if entry.prevHash != previousHash {
            failure = .broken(seq: entry.seq, reason: "prev_hash does not match the hash of entry \(entry.seq - 1)")
        } else if entry.computedHash() != entry.hash {
            failure = .broken(seq: entry.seq, reason: "hash does not match the entry's contents (altered)")
        }
        if failure != nil { return false }
        expectedSeq += 1
        previousHash = entry.hash
        count += 1
        return true
    }

    public var result: AuditVerification { failure ?? .intact(count: count, lastHash: previousHash) }
}
