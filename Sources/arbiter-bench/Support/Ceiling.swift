import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import ArbiterServer
import ArbiterSQLite
import AsyncHTTPClient
import Foundation
import GRDB
import NIOCore
import NIOHTTP1

enum Ceiling {
    static let batch = 64

    static func measure(seconds: Double) throws -> (events: Int, perSecond: Double) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("arbiter-ceiling-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try AppDatabase.open(path: directory.appendingPathComponent("arbiter.sqlite").path)
        let credits = try ApprovedCredits()
        var written = 0
        let started = Date()
        while Date().timeIntervalSince(started) < seconds {
            let records = try (written..<(written + batch)).map { try credits.record($0, prefix: "ceiling", accounts: 10_000) }
            try database.writer.write { db in
                var chain = try AuditChain(db)
                for record in records { _ = try Decisions.insert(db, record, chain: &chain) }
            }
            written += batch
        }
        return (written, Double(written) / Date().timeIntervalSince(started))
    }
}
