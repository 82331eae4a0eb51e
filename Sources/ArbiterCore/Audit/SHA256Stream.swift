import Crypto
import Foundation

/// SHA-256 over data given in pieces, as hex at the end.
public struct SHA256Stream {
    private var hasher = SHA256()
    public init() {}
    public mutating func update(_ data: some DataProtocol) { hasher.update(data: data) }
    public var hex: String { Hex.encode(hasher.finalize()) }
}
