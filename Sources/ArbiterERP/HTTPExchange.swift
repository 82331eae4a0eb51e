import ArbiterCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One request and its whole answer, for the connectors that speak a vendor's API (answers,
/// NetSuite, Business Central): within `timeout` from the first byte sent to the last byte read.
struct HTTPExchange {
    struct Answer: Sendable {
        let status: Int
        let body: String
        let headers: HTTPHeaders

        var json: JSONValue? { try? JSONValue.parse(Data(body.utf8)) }
        var retryAfter: Duration? { headers.first(name: "Retry-After").flatMap(HTTPConnector.retryAfter) }
        var isSuccess: Bool { (200..<300).contains(status) }
    }

    static func send(_ client: HTTPClient, _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: String? = nil,
                     timeout: Duration) async throws -> Answer {
        let deadline = ContinuousClock.now + timeout
        return try await withDeadline(deadline) {
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers.add(name: "Accept", value: "application/json")
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body {
                if !request.headers.contains(name: "Content-Type") { request.headers.add(name: "Content-Type", value: "application/json") }
                request.body = .bytes(ByteBuffer(string: body))
            }
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.microseconds) * 1000))
            let collected = try await response.body.collect(upTo: 4 << 20)
            return Answer(status: Int(response.status.code), body: String(buffer: collected), headers: response.headers)
        }
    }

    /// How a vendor API's status reads: 2xx done; 408, 409 (a conflicting concurrent update),
    /// 429 and 5xx worth trying again; any other 4xx refused for good.
    static func result(_ answer: Answer, reference: String?) -> AttemptResult {
        switch answer.status {
        case 200..<300: .delivered(reference: reference)
        case 408, 409, 429, 500..<600: .retry(after: answer.retryAfter)
        default: .rejected
        }
    }
}
