import ArbiterCore
import ArbiterStore
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

        @Option(help: "Reviewers: the most money (minor units) one approval may move.")
        var approvalLimit: Int64?

        func validate() throws {
            if name.isEmpty || name.count > 200 { throw ValidationError("--name must be 1-200 characters") }
            if let approvalLimit, approvalLimit < 0 { throw ValidationError("--approval-limit must not be negative") }
        }

        func run() async throws {
            let database = try AppDatabase.open(path: db)
            let user = ProcessInfo.processInfo.environment["USER"] ?? "unknown"
            let created = try await database.writer.write { [name, role, approvalLimit] db in
                try ApiKeys.create(db, name: name, role: role, approvalLimitMinor: approvalLimit, createdBy: "cli:\(user)")
            }
            print("created \(created.role.rawValue) key \(created.id) for \(name)")
            print(created.secret)
        }
    }
}
