import ArbiterCore
import ArgumentParser
import Foundation
import NIOHTTP1

extension Arbiter {
    struct Actions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Watch delivery (the ERP, other targets, answers) and act on dead letters (talks to a running server; key in ARBITER_KEY).",
            subcommands: [List.self, Show.self, Retry.self, Cancel.self])
    }
}

extension Arbiter.Actions {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Outbox actions in queue order.")
        @OptionGroup var server: ServerOptions
        @Option(help: "pending, delivered, dead or cancelled.") var status: String?
        @Option(help: "Only this account's actions.") var account: String?
        @Option(help: "Only this delivery target's actions (erp, a target of --targets, or answers).") var target: String?
        @Option(help: "At most this many (1-500).") var limit = 50

        func run() async throws {
            var query = ["limit=\(limit)"]
            if let status { query.append("status=\(status)") }
            if let target { query.append("target=\(target.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? target)") }
            if let account { query.append("account_id=\(account.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? account)") }
            let page = try await server.call(.GET, "/v1/actions?" + query.joined(separator: "&"))
            let rows = (page["items"]?.arrayValue ?? []).map { action -> [String] in
                let amount = action["amount_minor"]?.intValue.map { minor in
                    Money.format(minor, exponent: action["currency"]?.stringValue.flatMap(Currency.init)?.exponent ?? 2)
                        + " " + cell(action["currency"])
                } ?? "-"
                let note = action["status"] == "delivered" ? cell(action["erp_reference"]) : cell(action["last_error"])
                return [cell(action["id"]), cell(action["account_id"]), cell(action["target"]), cell(action["type"]), amount,
                        cell(action["status"]), cell(action["attempts"]), note]
            }
            print(table(["ID", "ACCOUNT", "TARGET", "TYPE", "AMOUNT", "STATUS", "ATTEMPTS", "REFERENCE / LAST ERROR"], rows))
            if page["next_cursor"] != .null { print("(more: raise --limit or filter)") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One action with every delivery attempt.")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The action id.") var id: String

        func run() async throws {
            let action = try await server.call(.GET, "/v1/actions/\(id)")
            for field in ["id", "type", "account_id", "correlation_id", "amount_minor", "currency", "status", "attempts",
                          "next_attempt_at", "erp_reference", "last_error", "created_at", "delivered_at", "held_by"] {
                print("\(field.padding(toLength: 16, withPad: " ", startingAt: 0)) \(cell(action[field]))")
            }
            if let note = action["note"]?.stringValue { print("note             \(note)") }
            if let body = action["response_body"]?.stringValue { print("ERP answered     \(body)") }
            let attempts = (action["attempt_log"]?.arrayValue ?? []).map {
                [cell($0["at"]), cell($0["result"]), cell($0["status_code"]), cell($0["duration_ms"]), cell($0["error"])]
            }
            if !attempts.isEmpty {
                print("")
                print(table(["AT", "RESULT", "STATUS", "MS", "ERROR"], attempts))
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put a dead letter back in line (role operator).")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The action id.") var id: String
        @Option(help: "Why (kept in the audit trail).") var comment: String?

        func run() async throws {
            let action = try await server.call(.POST, "/v1/actions/\(id)/retry",
                                               body: .object(comment.map { ["comment": .string($0)] } ?? [:]))
            print("retried \(id): \(cell(action["status"]))")
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Never send a pending or dead action (role operator).")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The action id.") var id: String
        @Option(help: "Why it must not reach the ERP (required; kept in the audit trail).") var comment: String

        func run() async throws {
            let action = try await server.call(.POST, "/v1/actions/\(id)/cancel", body: ["comment": .string(comment)])
            print("cancelled \(id): \(cell(action["status"]))")
        }
    }
}
