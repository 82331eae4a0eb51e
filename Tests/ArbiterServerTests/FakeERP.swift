import ArbiterCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// A real HTTP server on loopback standing in for the ERP, scripted by the test: each request
/// is answered by `script(receipt, n)` where `n` counts the requests for that idempotency key.
final class FakeERP: Sendable {
    struct Receipt: Sendable {
        let key: String
        let signature: String
        let body: String
        let at: Date
        var json: JSONValue { (try? JSONValue.parse(Data(body.utf8))) ?? .null }
    }

    enum Reply: Sendable {
        case status(Int, body: String = "", headers: [String: String] = [:])
        /// Answer after a pause (longer than the client's time-out: a time-out).
        case delayed(Duration, Int, body: String = "")
        /// Send the status, headers and the first bytes of a body, then nothing more (until the
        /// fake is stopped).
        case stalledBody(Int)
    }

    let port: Int
    private let received: Locked<[Receipt]>
    private let script: Locked<@Sendable (Receipt, Int) -> Reply>
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    var url: String { "http://127.0.0.1:\(port)/erp/actions" }
    var receipts: [Receipt] { received.withLock { $0 } }

    /// Starts on `port` (0: any free port) and returns once it listens.
    static func start(port: Int = 0, _ script: @escaping @Sendable (Receipt, Int) -> Reply = { _, _ in .status(201, body: #"{"reference":"DOC-1"}"#) }) async throws -> FakeERP {
        let bound = AsyncStream<Int>.makeStream()
        let holder = Locked<(@Sendable (Receipt, Int) -> Reply)?>(nil)
        let received = Locked<[Receipt]>([])
        let router = Router()
        router.post("/erp/actions") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let receipt = Receipt(key: request.headers[HTTPField.Name("Idempotency-Key")!] ?? "",
                                  signature: request.headers[HTTPField.Name("Arbiter-Signature")!] ?? "",
                                  body: String(buffer: body), at: Date())
            let n = received.withLock { all -> Int in
                all.append(receipt)
                return all.filter { $0.key == receipt.key }.count
            }
            let reply = holder.withLock { $0 }?(receipt, n) ?? .status(201)
            switch reply {
            case .status(let code, let text, let headers):
                var fields: HTTPFields = [.contentType: "application/json"]
                for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
                return Response(status: .init(code: code), headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
            case .delayed(let pause, let code, let text):
                try await Task.sleep(for: pause)
                return Response(status: .init(code: code), body: .init(byteBuffer: ByteBuffer(string: text)))
            case .stalledBody(let code):
                return Response(status: .init(code: code), headers: [.contentType: "application/json"], body: .init { writer in
                    try await writer.write(ByteBuffer(string: #"{"reference": "DOC-"#))
                    try? await Task.sleep(for: .seconds(120))   // ended by the client going away, or the fake stopping
                    try await writer.finish(nil)
                })
            }
        }
        var logger = Logger(label: "fake-erp")
        logger.logLevel = .warning
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                              onServerRunning: { channel in bound.continuation.yield(channel.localAddress?.port ?? 0) },
                              logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task { try await group.run() }
        var iterator = bound.stream.makeAsyncIterator()
        guard let actual = await iterator.next() else { throw TestFailure("the fake ERP did not start") }
        let erp = FakeERP(port: actual, received: received, script: script, group: group, task: task)
        holder.withLock { $0 = { receipt, n in erp.script.withLock { $0 }(receipt, n) } }
        return erp
    }

    private init(port: Int, received: Locked<[Receipt]>, script: @escaping @Sendable (Receipt, Int) -> Reply, group: ServiceGroup,
                 task: Task<Void, any Error>) {
        self.port = port
        self.received = received
        self.script = Locked(script)
        self.group = group
        self.task = task
    }

    func answer(_ script: @escaping @Sendable (Receipt, Int) -> Reply) { self.script.withLock { $0 = script } }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// Whether something accepts connections on the loopback port.
    static func listening(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// A loopback port nothing listens on (bound, then closed).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
