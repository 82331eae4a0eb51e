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

    /// Starts `script` on a port it binds itself (`--port 0`) and reads back from the line it
    /// prints once listening: a port chosen here could be taken by another test's process first.
    init(_ script: String, _ arguments: [String]) async throws {
        let log = URL(fileURLWithPath: scratchDirectory() + ".log")
        let output = try ChildProcess.logFile(log)
        defer { close(output) }
        process = try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"),
                                   ["python3", repositoryRoot.appendingPathComponent("Scripts/\(script)").path, "--port", "0"] + arguments,
                                   output: output)
        var listening: String?
        _ = try await eventually(timeout: .seconds(20)) {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            listening = text.firstMatch(of: /listening on (http:\/\/127\.0\.0\.1:\d+)/).map { String($0.1) }
            return listening != nil
        }
        guard let listening else {
            let printed = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            process.signal(SIGKILL)
            _ = process.wait()
            throw TestFailure("\(script) did not start: \(printed.suffix(500))")
        }
        url = listening
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
