import ArbiterCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Where and how an ERP connector gets its access tokens: OAuth 2.0 client credentials
/// (RFC 6749 §4.4). The secret is sent as HTTP Basic (`client_secret_basic`, which every
/// server must accept, RFC 6749 §2.3.1) or in the form (`client_secret_post`, what Microsoft
/// Entra ID expects for Business Central).
public struct OAuthSettings: Sendable, Hashable {
    public enum ClientAuthentication: String, Sendable, Hashable { case basic, post }

    public var tokenURL: String
    public var clientId: String
    public var clientSecret: String
    public var scope: String?
    public var authentication: ClientAuthentication

    public init(tokenURL: String, clientId: String, clientSecret: String, scope: String? = nil, authentication: ClientAuthentication = .basic) {
        self.tokenURL = tokenURL
        self.clientId = clientId
        self.clientSecret = clientSecret
        self.scope = scope
        self.authentication = authentication
    }
}

/// Access tokens for one ERP, cached and refreshed a minute before they expire; one request at
/// a time fetches a token however many deliveries need it. A 401 from the ERP drops the token it
/// was sent with (``invalidate(_:)``) so the next ``token()`` fetches a fresh one.
public final class OAuthClientCredentials: Sendable {
    let settings: OAuthSettings
    let client: HTTPClient
    let timeout: Duration
    /// Refreshed this long before the server says it expires.
    static let margin: TimeInterval = 60

    private struct State {
        var token: String?
        var expires: Date = .distantPast
        var fetching: Task<(String, Date), any Error>?
    }
    private let state = Locked(State())

    public init(settings: OAuthSettings, client: HTTPClient, timeout: Duration) {
        self.settings = settings
        self.client = client
        self.timeout = timeout
    }

    /// Why a token could not be had (the token endpoint refused, or answered nonsense).
    public struct Failure: Error, CustomStringConvertible {
        public let status: Int?
        public let description: String
        /// A 4xx: the credentials are wrong, retrying will not help.
        public var isPermanent: Bool { status.map { (400..<500).contains($0) && $0 != 408 && $0 != 429 } ?? false }
    }

    public func token(now: Date = Date()) async throws -> String {
        enum Next { case cached(String), wait(Task<(String, Date), any Error>) }
        let next = state.withLock { state -> Next in
            if let token = state.token, state.expires > now { return .cached(token) }
            if let fetching = state.fetching { return .wait(fetching) }
            let fetching = Task { try await self.fetch() }
            state.fetching = fetching
            return .wait(fetching)
        }
        switch next {
        case .cached(let token):
            return token
        case .wait(let task):
            do {
                let (token, expires) = try await task.value
                state.withLock { state in
                    if state.fetching == task {
                        state.token = token
                        state.expires = expires
                        state.fetching = nil
                    }
                }
                return token
            } catch {
                state.withLock { state in if state.fetching == task { state.fetching = nil } }
                throw error
            }
        }
    }

    /// The ERP refused `token`: forget it (unless a newer one replaced it already).
    public func invalidate(_ token: String) {
        state.withLock { state in
            if state.token == token {
                state.token = nil
                state.expires = .distantPast
            }
        }
    }

    private func fetch() async throws -> (String, Date) {
        var request = HTTPClientRequest(url: settings.tokenURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        var form = [("grant_type", "client_credentials")]
        if let scope = settings.scope { form.append(("scope", scope)) }
        switch settings.authentication {
        case .basic:
            let credentials = "\(PercentEncoding.unreserved(settings.clientId)):\(PercentEncoding.unreserved(settings.clientSecret))"
            request.headers.add(name: "Authorization", value: "Basic " + Data(credentials.utf8).base64EncodedString())
        case .post:
            form += [("client_id", settings.clientId), ("client_secret", settings.clientSecret)]
        }
        request.body = .bytes(ByteBuffer(string: form.map { "\($0)=\(PercentEncoding.unreserved($1))" }.joined(separator: "&")))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.microseconds) * 1000))
        } catch {
            throw Failure(status: nil, description: "the token endpoint cannot be reached: \(HTTPConnector.describe(error, timeout: timeout))")
        }
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            throw Failure(status: status, description: "the token endpoint answered \(status): \(body.prefix(300))")
        }
        guard let json = try? JSONValue.parse(Data(body.utf8)), let token = json["access_token"]?.stringValue, !token.isEmpty else {
            throw Failure(status: status, description: "the token endpoint's answer holds no access_token")
        }
        let lifetime = TimeInterval(json["expires_in"]?.intValue ?? 3600)
        return (token, Date().addingTimeInterval(max(lifetime - Self.margin, lifetime / 2)))
    }

}

/// Requests to an API that takes the client's bearer tokens: a 401 drops the token, fetches a
/// fresh one and sends once more (a token revoked or expired early).
struct BearerClient: Sendable {
    let client: HTTPClient
    let tokens: OAuthClientCredentials
    let timeout: Duration

    init(client: HTTPClient, settings: OAuthSettings, timeout: Duration) {
        self.client = client
        self.tokens = OAuthClientCredentials(settings: settings, client: client, timeout: timeout)
        self.timeout = timeout
    }

    func send(_ method: HTTPMethod, _ url: String, body: String? = nil) async throws -> HTTPExchange.Answer {
        var token = try await tokens.token()
        var answer = try await HTTPExchange.send(client, method, url, headers: [("Authorization", "Bearer \(token)")], body: body, timeout: timeout)
        if answer.status == 401 {
            tokens.invalidate(token)
            token = try await tokens.token()
            answer = try await HTTPExchange.send(client, method, url, headers: [("Authorization", "Bearer \(token)")], body: body, timeout: timeout)
        }
        return answer
    }
}
