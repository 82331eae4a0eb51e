import ArbiterApp
import ArbiterCore
import ArbiterSQLite
import ArgumentParser
import Foundation

extension Arbiter {
    struct Keys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage API keys directly in the database.",
            subcommands: [Create.self])
    }
}

extension Role: ExpressibleByArgument {}

extension Arbiter.Keys {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an API key; its secret is printed alone on the last line, once.")

        @Option(help: "The database file (e.g. data/arbiter.sqlite).")
        var db: String

        @Option(help: "One of: \(Role.allCases.map(\.rawValue).joined(separator: ", ")).")
        var role: Role

        @Option(help: "Who or what the key is for.")
        var name: String

        @Option(help: "Reviewers: the most money one approval may move in a currency, CURRENCY:MINOR (e.g. USD:50000; repeatable). Without any, no limit.")
        var approvalLimit: [String] = []

        func validate() throws {
            if name.isEmpty || name.count > 200 { throw ValidationError("--name must be 1-200 characters") }
            _ = try limits()
        }

        func limits() throws -> [String: Int64]? {
            guard !approvalLimit.isEmpty else { return nil }
            var limits: [String: Int64] = [:]
            for flag in approvalLimit {
                do {
                    let (currency, minor) = try Reviewer.limit(flag: flag)
                    limits[currency] = minor
                } catch {
                    throw ValidationError("--\(error)")
                }
            }
            return limits
        }

        func run() async throws {
            let keys = Keys(store: SQLiteKeyStore(database: try AppDatabase.open(path: db)))
            let user = ProcessInfo.processInfo.environment["USER"] ?? "unknown"
            let created = try await keys.create(name: name, role: role, approvalLimits: try limits(), by: "cli:\(user)")
            print("created \(created.key.role.rawValue) key \(created.key.id) for \(name)")
            print(created.secret)
        }
    }
}
