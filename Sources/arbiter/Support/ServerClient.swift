import ArbiterCore
import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Where a running Arbiter is, for the commands that talk to it. The key comes from the
/// environment (ARBITER_KEY), never from the command line, so it stays out of shell history.
struct ServerOptions: ParsableArguments {
    @Option(help: "The running Arbiter (default: $ARBITER_SERVER or http://127.0.0.1:8080).")
    var server: String?

    var baseURL: String {
        (server ?? ProcessInfo.processInfo.environment["ARBITER_SERVER"] ?? "http://127.0.0.1:8080")
            .trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    }

    func key() throws -> String {
        guard let key = ProcessInfo.processInfo.environment["ARBITER_KEY"], !key.isEmpty else {
            throw CommandFailure("set ARBITER_KEY to your API key")
        }
        return key
    }

    /// Calls the API; a problem answer becomes a failure that names what the server said.
    /// `upload`: a file sent as the body with its content type instead of JSON (and up to ten
    /// minutes for the answer: the server works through it before answering).
    func call(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil, upload: (file: URL, contentType: String)? = nil,
              timeout: TimeAmount = .seconds(30)) async throws -> JSONValue {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(try key())")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: CanonicalJSON.encode(body)))
        }
        if let upload {
            guard let data = try? Data(contentsOf: upload.file, options: .alwaysMapped) else { throw CommandFailure("cannot read \(upload.file.path)") }
            request.headers.add(name: "Content-Type", value: upload.contentType)
            request.body = .bytes(ByteBuffer(bytes: data))
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: upload == nil ? timeout : .seconds(600))
        } catch {
            throw CommandFailure("cannot reach Arbiter at \(baseURL): \(error)")
        }
        let bytes = try await response.body.collect(upTo: 64 << 20)
        let value = (try? JSONValue.parse(Data(bytes.readableBytesView))) ?? .null
        guard (200..<300).contains(Int(response.status.code)) else {
            var message = "\(response.status.code) \(value["title"]?.stringValue ?? ""): \(value["detail"]?.stringValue ?? String(buffer: bytes))"
            for error in value["errors"]?.arrayValue ?? [] {
                message += "\n  \(error["field"]?.stringValue ?? ""): \(error["message"]?.stringValue ?? "")"
            }
            throw CommandFailure(message)
        }
        return value
    }
}

extension ServerOptions {
    /// Streams a GET's body into a new file (0600), never holding it all in memory.
    func download(_ path: String, to file: URL) async throws {
        var request = HTTPClientRequest(url: baseURL + path)
        request.headers.add(name: "Authorization", value: "Bearer \(try key())")
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(3600))
        } catch {
            throw CommandFailure("cannot reach Arbiter at \(baseURL): \(error)")
        }
        guard response.status == .ok else { throw CommandFailure("\(response.status.code) fetching \(path)") }
        guard FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = try? FileHandle(forWritingTo: file) else { throw CommandFailure("cannot write \(file.path)") }
        defer { try? handle.close() }
        for try await buffer in response.body {
            try handle.write(contentsOf: buffer.readableBytesView)
        }
        try handle.synchronize()
    }
}

/// Left-aligned columns for terminal tables.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    return ([header] + rows).map { row in
        row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
            .trimmingCharacters(in: .whitespaces)
    }.joined(separator: "\n")
}

/// A JSON field as table text: "-" for null or missing.
func cell(_ value: JSONValue?) -> String {
    switch value {
    case .string(let text)?: text
    case .int(let n)?: String(n)
    case .double(let d)?: String(d)
    case .bool(let b)?: String(b)
    default: "-"
    }
}
