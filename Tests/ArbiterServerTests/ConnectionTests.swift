import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The HTTP edge under clients that hold sockets open: idle keep-alives, half-open sockets and
/// clients that never finish a request's head are closed after the idle time-out, and the
/// service keeps answering meanwhile.
@Suite(.timeLimit(.minutes(5))) struct ConnectionTests {
    /// Connects a plain TCP socket to the loopback port; -1 when it cannot.
    static func connectSocket(_ port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        if !connected { close(fd); return -1 }
        return fd
    }

    /// Whether the server has closed the socket (a read sees the end of the stream).
    static func closedByServer(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    /// `GET /healthz` on a connection of its own; the status line and what follows.
    static func healthz(_ port: Int) -> String {
        let fd = connectSocket(port)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        let request = "GET /healthz HTTP/1.1\r\nHost: arbiter\r\nConnection: close\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        return String(decoding: answer, as: UTF8.self)
    }

    @Test func idleAndSlowClientsAreClosedWhileTheServiceAnswers() async throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let idle = min(2_000, Int(limit.rlim_cur / 3) - 200)   // the server's end of each socket is in this process too

        let configuration = ServerConfiguration(port: 0, dataDirectory: scratchDirectory(), policiesDirectory: nil,
                                                adminKey: "admin-secret-for-tests-0123456789", idleTimeout: .seconds(1))
        let app = try await buildApplication(configuration, database: try AppDatabase.inMemory())
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // The test client connects first: on a loaded machine, a connection begun while the
            // sockets below fill the accept queue can time out (its SYNs dropped and resent).
            _ = try await client.execute(uri: "/healthz", method: .get) { $0.status }
            var sockets: [Int32] = []
            defer { for fd in sockets { close(fd) } }
            for _ in 0..<idle {
                let fd = Self.connectSocket(port)
                if fd >= 0 { sockets.append(fd) }
            }
            #expect(sockets.count == idle)
            // A slow client: the start of a request head, and then nothing.
            let slow = Self.connectSocket(port)
            sockets.append(slow)
            let partial = "GET /healthz HTTP/1.1\r\nHost: arbiter\r\nX-Slow: "
            _ = partial.withCString { send(slow, $0, strlen($0), 0) }

            // With all of them open, the service answers (on a new connection: the test client's
            // own keep-alive was idle while the sockets were opened, and is closed too).
            #expect(Self.healthz(port).hasPrefix("HTTP/1.1 200"))

            // And closes them once they have been idle for the time-out.
            #expect(try await eventually(timeout: .seconds(20)) { sockets.allSatisfy(Self.closedByServer) },
                    "still open: \(sockets.filter { !Self.closedByServer($0) }.count) of \(sockets.count)")
        }
    }
}
