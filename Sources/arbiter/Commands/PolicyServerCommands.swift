import ArbiterCore
import ArgumentParser
import Foundation
import NIOHTTP1

// `arbiter policy publish|activate|approve|rollback|reset-breaker|shadow|unshadow|shadow-report|backtest`:
// finance changing policies on a running server (--server URL or ARBITER_SERVER, key in
// ARBITER_KEY). Versions may be given by a unique prefix of their SHA-256 (8 characters or more).

extension ServerOptions {
    /// The full version of `name` that `prefix` names (a unique prefix of 8+ hex characters).
    func version(of name: String, _ prefix: String) async throws -> String {
        guard prefix.count >= 8 else { throw CommandFailure("give at least 8 characters of the version") }
        let listed = try await call(.GET, "/v1/policies/\(escaped(name))/versions")
        let matches = (listed["versions"]?.arrayValue ?? []).compactMap { $0["version"]?.stringValue }.filter { $0.hasPrefix(prefix.lowercased()) }
        switch matches.count {
        case 1: return matches[0]
        case 0: throw CommandFailure("policy \(name) has no version starting with \(prefix)")
        default: throw CommandFailure("\(prefix) matches \(matches.count) versions of \(name); give more characters")
        }
    }
}

func escaped(_ segment: String) -> String {
    segment.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_."))) ?? segment
}

/// The first 12 characters of a version, as listings show it.
func short(_ version: JSONValue?) -> String {
    guard let text = version?.stringValue else { return "-" }
    return String(text.prefix(12))
}

extension Arbiter.Policy {
    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish a policy file as a draft version: compiled and tested by the server before it is stored.")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The .lua file.") var file: String
        @Option(help: "Its test cases (default: tests/<file name>.json beside it, when present).") var tests: String?

        func run() async throws {
            guard let source = try? String(contentsOfFile: file, encoding: .utf8) else { throw CommandFailure("cannot read \(file)") }
            let url = URL(fileURLWithPath: file)
            let testsPath = tests ?? url.deletingLastPathComponent().appendingPathComponent("tests")
                .appendingPathComponent(url.deletingPathExtension().lastPathComponent + ".json").path
            var body: [String: JSONValue] = ["source": .string(source)]
            if let data = FileManager.default.contents(atPath: testsPath) {
                do { body["tests"] = try JSONValue.parse(data) } catch { throw CommandFailure("\(testsPath): not valid JSON") }
            } else if tests != nil {
                throw CommandFailure("cannot read \(testsPath)")
            }
            let version = try await server.call(.POST, "/v1/policies", body: .object(body))
            print("published \(cell(version["name"])) version \(cell(version["version"])) (\(cell(version["status"])))")
        }
    }

    struct Activate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Activate a version (with maker-checker on, propose it for a second policy admin).")
        @OptionGroup var server: ServerOptions
        @Argument var name: String
        @Argument(help: "The version (a unique prefix is enough).") var version: String

        func run() async throws {
            let full = try await server.version(of: name, version)
            let answer = try await server.call(.POST, "/v1/policies/\(escaped(name))/versions/\(full)/activate")
            if answer["proposed_version"] != nil {
                print("proposed \(name) \(short(answer["proposed_version"])): a different policy admin must approve it (arbiter policy approve)")
            } else {
                print("\(name): active \(short(answer["active_version"])) (was \(short(answer["previous_version"])))")
            }
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve another policy admin's proposed activation (maker-checker).")
        @OptionGroup var server: ServerOptions
        @Argument var name: String
        @Argument(help: "The proposed version (a unique prefix is enough).") var version: String

        func run() async throws {
            let full = try await server.version(of: name, version)
            let answer = try await server.call(.POST, "/v1/policies/\(escaped(name))/versions/\(full)/approve")
            print("\(name): active \(short(answer["active_version"])) (was \(short(answer["previous_version"])))")
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-activate the version that was active before the current one.")
        @OptionGroup var server: ServerOptions
        @Argument var name: String

        func run() async throws {
            let answer = try await server.call(.POST, "/v1/policies/\(escaped(name))/rollback")
            print("\(name): active \(short(answer["active_version"])) (was \(short(answer["previous_version"])))")
        }
    }

    struct ResetBreaker: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-breaker",
            abstract: "Close a policy's circuit breaker (opened after repeated limit errors): its events are evaluated again.")
        @OptionGroup var server: ServerOptions
        @Argument var name: String

        func run() async throws {
            let answer = try await server.call(.POST, "/v1/policies/\(escaped(name))/breaker/reset")
            let versions = (answer["reset_versions"]?.arrayValue ?? []).map { short($0) }
            print("\(name): breaker closed (\(versions.joined(separator: ", ")))")
        }
    }

    struct Shadow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a version in shadow: evaluated beside the active one on every live event, never deciding.")
        @OptionGroup var server: ServerOptions
        @Argument var name: String
        @Argument(help: "The version (a unique prefix is enough).") var version: String

        func run() async throws {
            let full = try await server.version(of: name, version)
            let answer = try await server.call(.POST, "/v1/policies/\(escaped(name))/versions/\(full)/shadow")
            let types = (answer["event_types"]?.arrayValue ?? []).map(cell).joined(separator: ", ")
            print("\(name) \(short(answer["shadow_version"])) runs in shadow on \(types); see: arbiter policy shadow-report \(name)")
        }
    }

    struct Unshadow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a policy's shadow run (its report stays).")
        @OptionGroup var server: ServerOptions
        @Argument var name: String

        func run() async throws {
            let answer = try await server.call(.DELETE, "/v1/policies/\(escaped(name))/shadow")
            print("\(name): shadow run of \(short(answer["stopped_version"])) stopped")
        }
    }

    struct ShadowReport: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "shadow-report",
                                                        abstract: "What the latest shadow run would have decided differently.")
        @OptionGroup var server: ServerOptions
        @Argument var name: String
        @Option(help: "At most this many differences (1-500).") var limit = 20

        func run() async throws {
            let report = try await server.call(.GET, "/v1/policies/\(escaped(name))/shadow-report?limit=\(limit)")
            print("\(name): shadow \(short(report["version"])) beside active \(short(report["active_version"])), "
                  + (report["running"] == true ? "running since \(cell(report["started_at"]))" : "ran \(cell(report["started_at"])) to \(cell(report["stopped_at"]))"))
            print("live events evaluated: \(cell(report["evaluated"])); outcome would change: \(cell(report["outcome_changes"])); "
                  + "other differences (queue or actions): \(cell(report["other_changes"]))")
            printCounts(report["transitions"])
            let rows = (report["differences"]?.arrayValue ?? []).map { d in
                [cell(d["at"]), cell(d["account_id"]), amount(d), cell(d["transition"]),
                 firstReason(d["shadow"]?["reasons"])]
            }
            if !rows.isEmpty {
                print("")
                print(table(["AT", "ACCOUNT", "AMOUNT", "CHANGE", "SHADOW REASON"], rows))
            }
        }
    }

    struct Backtest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay stored events through a version, with the context each was decided with; report what would change.")
        @OptionGroup var server: ServerOptions
        @Argument var name: String
        @Argument(help: "The candidate version (a unique prefix is enough).") var version: String
        @Option(help: "Start of the range (RFC 3339, e.g. 2026-11-01T00:00:00Z).") var from: String
        @Option(help: "End of the range, excluded.") var to: String
        @Option(help: "Only the first N events of the range.") var limit: Int?
        @Option(help: "Show this many changed decisions.") var sample = 10

        func run() async throws {
            let full = try await server.version(of: name, version)
            var body: [String: JSONValue] = ["from": .string(from), "to": .string(to)]
            if let limit { body["limit"] = .int(Int64(limit)) }
            var job = try await server.call(.POST, "/v1/policies/\(escaped(name))/versions/\(full)/backtest", body: .object(body))
            let id = cell(job["id"])
            let bar = ProgressBar()
            while job["status"] == "running" {
                bar.show(done: job["progress"]?["evaluated"]?.intValue ?? 0, total: job["progress"]?["total"]?.intValue ?? 0)
                try await Task.sleep(for: .milliseconds(250))
                job = try await server.call(.GET, "/v1/policies/\(escaped(name))/backtests/\(id)")
            }
            bar.finish()
            guard job["status"] == "done", let report = job["report"] else {
                throw CommandFailure("backtest \(id) \(cell(job["status"])): \(cell(job["error"]))")
            }
            print("backtest \(id): \(name) \(short(job["version"])) over \(cell(job["from"])) .. \(cell(job["to"]))")
            print("events evaluated: \(cell(report["evaluated"])) in \(cell(report["duration_ms"])) ms; "
                  + "outcome would change: \(cell(report["outcome_changes"])); other differences (queue or actions): \(cell(report["other_changes"])); "
                  + "unchanged: \(cell(report["unchanged"]))" + (report["skipped"] == .int(0) ? "" : "; skipped: \(cell(report["skipped"])) (\(cell(report["first_skip"])))"))
            printCounts(report["transitions"])
            let money = (report["money_moved"]?.arrayValue ?? []).map { [cell($0["transition"]), cell($0["amount"])] }
            if !money.isEmpty {
                print("")
                print(table(["MONEY MOVED", "AMOUNT"], money))
            }
            let rows = (report["sample"]?.arrayValue ?? []).prefix(sample).map { s in
                [cell(s["received_at"]), cell(s["account_id"]), amount(s), cell(s["transition"]),
                 firstReason(s["actual"]?["reasons"]), firstReason(s["candidate"]?["reasons"])]
            }
            if !rows.isEmpty {
                print("")
                print(table(["RECEIVED", "ACCOUNT", "AMOUNT", "CHANGE", "REASON AS DECIDED", "REASON WITH CANDIDATE"], rows))
            }
        }
    }
}

/// Counts by transition, largest first.
private func printCounts(_ transitions: JSONValue?) {
    let rows = (transitions?.objectValue ?? [:]).sorted { ($0.value.intValue ?? 0, $1.key) > ($1.value.intValue ?? 0, $0.key) }
        .map { [$0.key, cell($0.value)] }
    guard !rows.isEmpty else { return }
    print("")
    print(table(["TRANSITION", "DECISIONS"], rows))
}

private func amount(_ row: JSONValue) -> String {
    guard let minor = row["amount_minor"]?.intValue, let code = row["currency"]?.stringValue else { return "-" }
    return Money.format(minor, exponent: Currency(code)?.exponent ?? 2) + " " + code
}

private func firstReason(_ reasons: JSONValue?) -> String {
    let text = reasons?.arrayValue?.first?.stringValue ?? "-"
    return text.count > 70 ? String(text.prefix(69)) + "…" : text
}

/// A progress bar on standard error while a job runs (nothing when it is not a terminal).
final class ProgressBar {
    private let enabled = isatty(STDERR_FILENO) == 1
    private var drawn = false

    func show(done: Int64, total: Int64) {
        guard enabled, total > 0 else { return }
        let width = 40
        let filled = Int(min(done, total) * Int64(width) / total)
        let line = "\r[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            + "\(min(done, total) * 100 / total)%  \(done)/\(total) events"
        FileHandle.standardError.write(Data(line.utf8))
        drawn = true
    }

    /// A job whose total is unknown: a running count.
    func show(rows: Int64) {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\(rows) rows written".utf8))
        drawn = true
    }

    func finish() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
