import ArbiterCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A vendor stand-in from Scripts/ (Zendesk, NetSuite, Business Central) run as a process on a
/// free port, with its `/_control/...` endpoints a call away.
final class StandIn: Sendable {
    let process: ChildProcess
    let url: String

    init(_ script: String, _ arguments: [String]) async throws {
        let port = try FakeERP.freePort()
        process = try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"),
                                   ["python3", repositoryRoot.appendingPathComponent("Scripts/\(script)").path, "--port", String(port)] + arguments)
        url = "http://127.0.0.1:\(port)"
        guard try await eventually(timeout: .seconds(10), { FakeERP.listening(port: port) }) else {
            stop()
            throw TestFailure("\(script) did not start")
        }
    }

    func stop() {
        process.signal(SIGKILL)
        _ = process.wait()
    }

    func call(_ method: HTTPMethod, _ path: String, _ body: JSONValue? = nil) async throws -> JSONValue {
        var request = HTTPClientRequest(url: url + path)
        request.method = method
        if let body { request.body = .bytes(ByteBuffer(bytes: CanonicalJSON.encode(body))) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        return try JSONValue.parse(Data(String(buffer: try await response.body.collect(upTo: 1 << 22)).utf8))
    }
}
