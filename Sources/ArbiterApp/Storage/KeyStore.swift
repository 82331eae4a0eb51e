import ArbiterCore

/// API keys as the use cases need them stored: only a secret's SHA-256 is kept. Each method is
/// one unit of work; a change and its audit entry commit together.
public protocol KeyStore: Sendable {
    /// Adds `key` (with the hash of its secret) and audits it as done by `actor`. With
    /// `onlyIfNone`, adds it only when no key exists at all and answers whether it did (the
    /// first admin key, made once however many instances start).
    func add(_ key: ApiKey, secretHash: String, by actor: String, onlyIfNone: Bool) async throws -> Bool

    /// The live (not revoked) key whose secret hashes to `secretHash`.
    func liveKey(secretHash: String) async throws -> ApiKey?

    /// The live key with this id.
    func liveKey(id: String) async throws -> ApiKey?

    /// Every key, revoked ones included, oldest first.
    func all() async throws -> [ApiKey]

    /// Every key's name by id (revoked keys included), to show people by name.
    func names() async throws -> [String: String]

    /// Revokes the key and audits it; nil when there is no such key. Revoking twice keeps the
    /// first revocation. Throws ``Refusal/conflict(_:title:)`` for the last live admin key:
    /// nobody could manage keys any more.
    func revoke(id: String, by actor: String) async throws -> ApiKey?
}
