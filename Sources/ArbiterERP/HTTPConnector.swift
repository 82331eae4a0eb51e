import ArbiterApp
import ArbiterCore
import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// POSTs each action as JSON to the ERP's URL with `Idempotency-Key: <action id>` and
/// `Arbiter-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
public struct HTTPConnector: ERPConnector {
    public let url: String
    let key: SymmetricKey
    let client: HTTPClient
    let timeout: Duration
    public var name: String { "http" }

    public init(url: String, secret: String, client: HTTPClient, timeout: Duration) {
        self.url = url
        self.key = SymmetricKey(data: Array(secret.utf8))
        self.client = client
        self.timeout = timeout
    }

    /// The signature header value for `body` sent at `time` (what a receiver recomputes).
    public static func signature(body: String, time: Int, secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(time).\(body)".utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(time),v1=\(Hex.encode(Array(mac)))"
    }

    /// The most of an answer kept (a dead letter shows why); the rest is read and dropped.
    static let keptBodyBytes = 64 * 1024

    /// One attempt, within `timeout` from the first byte sent to the last byte of the answer:
    /// an ERP that sends its headers and then stalls is a time-out like one that never answers
    /// (the attempt is retried), never an attempt in flight forever. The client's own deadline
    /// covers the connection and the head (and names what failed: refused, connect timed
    /// out…); the exchange is raced against the clock 100 ms later, for the body, and cancelled
    /// when the clock wins, without waiting for it to notice.
    public func deliver(_ action: PendingAction) async -> DeliveryAttempt {
        let started = ContinuousClock.now
        let outcome = Locked<CheckedContinuation<DeliveryAttempt, Never>?>(nil)
        @Sendable func finish(_ attempt: DeliveryAttempt) {
            outcome.withLock { continuation in
                continuation?.resume(returning: attempt)
                continuation = nil
            }
        }
        var exchange: Task<Void, Never>?
        var timer: Task<Void, Never>?
        let attempt = await withCheckedContinuation { (continuation: CheckedContinuation<DeliveryAttempt, Never>) in
            outcome.withLock { $0 = continuation }
            exchange = Task { finish(await self.exchange(action, started: started)) }
            timer = Task { [timeout] in
                guard (try? await Task.sleep(for: timeout + .milliseconds(100))) != nil else { return }
                finish(DeliveryAttempt(result: .retry(after: nil), error: Self.timedOut(timeout), duration: ContinuousClock.now - started))
            }
        }
        exchange?.cancel()
        timer?.cancel()
        return attempt
    }

    /// Sends the action and reads the answer.
    private func exchange(_ action: PendingAction, started: ContinuousClock.Instant) async -> DeliveryAttempt {
        let time = Int(Date().timeIntervalSince1970)
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(time).\(action.payload)".utf8), using: key)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: action.id)
        request.headers.add(name: "Arbiter-Signature", value: "t=\(time),v1=\(Hex.encode(Array(mac)))")
        request.body = .bytes(ByteBuffer(string: action.payload))
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.microseconds) * 1000))
            var kept = ByteBuffer()
            for try await var chunk in response.body {
                if kept.readableBytes < Self.keptBodyBytes {
                    var slice = chunk.readSlice(length: min(chunk.readableBytes, Self.keptBodyBytes - kept.readableBytes)) ?? ByteBuffer()
                    kept.writeBuffer(&slice)
                }
            }
            let text = String(buffer: kept)
            let status = Int(response.status.code)
            let reference = (try? JSONValue.parse(Data(text.utf8)))?["reference"]?.stringValue
            let retryAfter = response.headers.first(name: "Retry-After").flatMap(Self.retryAfter)
            return DeliveryAttempt(result: .http(status: status, reference: reference, retryAfter: retryAfter), statusCode: status,
                                   responseBody: text.isEmpty ? nil : text, duration: ContinuousClock.now - started)
        } catch {
            return DeliveryAttempt(result: .retry(after: nil), error: Self.describe(error, timeout: timeout), duration: ContinuousClock.now - started)
        }
    }

    /// `Retry-After` as delay-seconds or an HTTP date.
    static func retryAfter(_ value: String) -> Duration? {
        if let seconds = Int(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSinceNow) * 1000))
    }

    /// The same words whichever clock ran out first, the client's or the attempt's.
    static func timedOut(_ timeout: Duration) -> String {
        "timed out after \(timeout.microseconds / 1000) ms (the whole attempt, answer included)"
    }

    static func describe(_ error: any Error, timeout: Duration) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout: return timedOut(timeout)
            case .connectTimeout: return "connect timed out"
            case .remoteConnectionClosed: return "connection closed by the ERP"
            default: return "HTTP client error: \(error)"
            }
        }
        let text = String(describing: error)
        if text.contains("refused") || text.contains("ECONNREFUSED") { return "connection refused" }
        if text.contains("reset") { return "connection reset" }
        return text
    }
}
