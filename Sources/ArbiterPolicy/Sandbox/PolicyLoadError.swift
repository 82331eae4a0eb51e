import ArbiterCore
import CLuaSandbox
import Glibc

/// Why a policy could not be loaded.
public struct PolicyLoadError: Error, Sendable, CustomStringConvertible {
    public let file: String
    public let message: String
    public var description: String { message }
}
