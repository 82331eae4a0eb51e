import ArbiterApp
import ArbiterCore
import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// Sends answers to requesters (``RequesterAnswer``) where their requests came from, with the
/// credentials the source has when the answer is sent (a rotated token is used at once):
///
/// - **Zendesk** (https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-ticket):
///   `PUT {url}/api/v2/tickets/{id}.json` with `{"ticket": {"comment": {"body", "public": false},
///   "additional_tags": [...]}}` — an internal note and tags, added to the ticket's own. The
///   Tickets API takes no idempotency key for updates, so each attempt first lists the ticket's
///   newest comments (`GET …/tickets/{id}/comments.json?sort_order=desc`,
///   https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/#list-comments)
///   and a note that already ends with this answer's marker counts as delivered: a crash
///   between sending and recording leaves one note, not two. 429 and 5xx are retried after
///   `Retry-After` (https://developer.zendesk.com/api-reference/introduction/rate-limits/), as is a
///   409 update conflict; 401/403 (credentials), 404 (no such ticket) and 422 (a closed ticket)
///   are refused for good and wait as dead letters.
/// - **Callback** (a mapped source): the payload POSTed as JSON with `Idempotency-Key` (the
///   answer's id) and `Arbiter-Signature: t=…,v1=…` — what the ERP connector sends.
public struct AnswerConnector: ERPConnector {
    /// The answers channel of a source as it is configured now.
    let channel: @Sendable (String) -> AnswerChannel?
    let client: HTTPClient
    let timeout: Duration
    public var name: String { "answers" }

    public init(client: HTTPClient, timeout: Duration, channel: @escaping @Sendable (String) -> AnswerChannel?) {
        self.client = client
        self.timeout = timeout
        self.channel = channel
    }

    public func deliver(_ action: PendingAction) async -> DeliveryAttempt {
        let started = ContinuousClock.now
        @Sendable func refused(_ why: String) -> DeliveryAttempt {
            DeliveryAttempt(result: .rejected, error: why, duration: ContinuousClock.now - started)
        }
        guard let payload = (try? JSONValue.parse(Data(action.payload.utf8)))?.objectValue,
              let source = payload["source"]?.stringValue else { return refused("the answer's payload is not readable") }
        guard let channel = channel(source) else {
            return refused("source \(source) is not configured to take answers (no `answers` in its definition)")
        }
        let deadline = ContinuousClock.now + timeout
        do {
            return try await withDeadline(deadline) {
                switch channel {
                case .zendesk(let url, let email, let token, let origin):
                    guard let token else { return refused("the Zendesk API token (\(origin)) cannot be read") }
                    guard let ticket = payload["ticket_id"]?.stringValue, !ticket.isEmpty, ticket.allSatisfy(\.isNumber) else {
                        return refused("the answer names no Zendesk ticket")
                    }
                    return try await zendesk(action, payload: payload, base: url, ticket: ticket, email: email, token: token, started: started)
                case .callback(let url, let secret, let origin):
                    guard let secret else { return refused("the callback's signing secret (\(origin)) cannot be read") }
                    return try await callback(action, url: url, secret: secret, started: started)
                }
            }
        } catch {
            return DeliveryAttempt(result: .retry(after: nil), error: HTTPConnector.describe(error, timeout: timeout),
                                   duration: ContinuousClock.now - started)
        }
    }

    // MARK: Zendesk

    private func zendesk(_ action: PendingAction, payload: [String: JSONValue], base: String, ticket: String, email: String,
                         token: String, started: ContinuousClock.Instant) async throws -> DeliveryAttempt {
        let authorization = "Basic " + Data("\(email)/token:\(token)".utf8).base64EncodedString()
        // Left already? (a crash after the note was made, before it was recorded)
        let marker = RequesterAnswer.marker(action.id)
        let listed = try await send(.GET, "\(base)/api/v2/tickets/\(ticket)/comments.json?sort_order=desc", authorization: authorization)
        guard (200..<300).contains(listed.status) else { return zendeskFailure(listed, ticket: ticket, started: started) }
        for comment in (try? JSONValue.parse(Data(listed.body.utf8)))?["comments"]?.arrayValue ?? [] {
            let text = comment["body"]?.stringValue ?? comment["plain_body"]?.stringValue ?? ""
            if text.contains(marker) {
                let reference = comment["id"].map { "zendesk ticket \(ticket) comment \(CanonicalJSON.string($0))" }
                return DeliveryAttempt(result: .delivered(reference: reference), statusCode: listed.status,
                                       duration: ContinuousClock.now - started)
            }
        }
        let update: JSONValue = ["ticket": ["comment": ["body": payload["comment"] ?? .string(marker), "public": false],
                                            "additional_tags": payload["tags"] ?? .array([])]]
        let updated = try await send(.PUT, "\(base)/api/v2/tickets/\(ticket).json", authorization: authorization,
                                     body: CanonicalJSON.string(update))
        guard (200..<300).contains(updated.status) else { return zendeskFailure(updated, ticket: ticket, started: started) }
        let audit = (try? JSONValue.parse(Data(updated.body.utf8)))?["audit"]?["id"]
        return DeliveryAttempt(result: .delivered(reference: "zendesk ticket \(ticket)" + (audit.map { " audit \(CanonicalJSON.string($0))" } ?? "")),
                               statusCode: updated.status, duration: ContinuousClock.now - started)
    }

    private func zendeskFailure(_ response: Answer, ticket: String, started: ContinuousClock.Instant) -> DeliveryAttempt {
        let result = HTTPExchange.result(response, reference: nil)
        let why: String? = switch response.status {
        case 401, 403: "Zendesk refused the credentials (\(response.status))"
        case 404: "Zendesk has no ticket \(ticket)"
        case 422: "Zendesk refused the update (\(response.status)): the ticket may be closed"
        default: nil
        }
        return DeliveryAttempt(result: result, statusCode: response.status, error: why, responseBody: response.body.isEmpty ? nil : response.body,
                               duration: ContinuousClock.now - started)
    }

    // MARK: Callback

    private func callback(_ action: PendingAction, url: String, secret: String, started: ContinuousClock.Instant) async throws -> DeliveryAttempt {
        let time = Int(Date().timeIntervalSince1970)
        let answer = try await send(.POST, url, headers: [("Idempotency-Key", action.id),
                                                          ("Arbiter-Signature", HTTPConnector.signature(body: action.payload, time: time, secret: secret))],
                                    body: action.payload)
        let reference = (try? JSONValue.parse(Data(answer.body.utf8)))?["reference"]?.stringValue
        return DeliveryAttempt(result: .http(status: answer.status, reference: reference, retryAfter: answer.retryAfter), statusCode: answer.status,
                               responseBody: answer.body.isEmpty ? nil : answer.body, duration: ContinuousClock.now - started)
    }

    // MARK: HTTP

    private typealias Answer = HTTPExchange.Answer

    private func send(_ method: HTTPMethod, _ url: String, authorization: String? = nil, headers: [(String, String)] = [],
                      body: String? = nil) async throws -> Answer {
        try await HTTPExchange.send(client, method, url, headers: (authorization.map { [("Authorization", $0)] } ?? []) + headers,
                                    body: body, timeout: timeout)
    }
}

/// Runs `body`, throwing ``DeadlinePassed`` (and cancelling it) when the deadline passes first:
/// an answer that stalls is retried like one that never came, never in flight forever.
func withDeadline<T: Sendable>(_ deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(until: deadline)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw DeadlinePassed() }
        return value
    }
}

struct DeadlinePassed: Error, CustomStringConvertible {
    var description: String { "timed out (the whole attempt, answer included)" }
}
