import ArbiterCore
import Hummingbird

/// The request context of every route: Hummingbird's core plus the caller's API key.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``Authentication`` for routes under /v1.
    public var identity: ApiKey?

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }

    /// The caller, when its key's role is one of `roles` (`admin` passes every check).
    /// Throws 401 without a valid key and 403 for the wrong role.
    public func require(_ roles: Role...) throws -> ApiKey {
        try require(roles)
    }

    public func require(_ roles: [Role]) throws -> ApiKey {
        guard let identity else { throw Problem.unauthorized() }
        guard identity.may(roles) else {
            throw Problem(status: .forbidden, title: "Forbidden",
                          detail: "this route needs the role \(roles.map(\.rawValue).joined(separator: " or ")); the key \(identity.id) has \(identity.role.rawValue)")
        }
        return identity
    }
}
