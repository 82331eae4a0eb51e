import ArbiterApp
import ArbiterCore
import Foundation
import Hummingbird

/// The workbench's backtests and shadow reports: a range replayed through a version (followed
/// while it runs, then its transition table, money moved per currency, a chart of outcomes before
/// and after, and a sample of changed decisions with both sets of reasons), and a shadow run's
/// transitions with a chart of its differences over time — the use cases of
/// `POST …/backtest`, `GET …/backtests/{id}` and `GET …/shadow-report`.
extension Console {
    func addBacktestRoutes(to console: RouterGroup<AppRequestContext>) {
        console.post("policies/:name/versions/:version/backtest", use: startBacktest)
        console.get("policies/:name/backtests/:id", use: backtestPage)
        console.get("policies/:name/shadow", use: shadowPage)
    }

    struct BacktestForm: Decodable {
        let csrf: String?
        let from: String?
        let to: String?
    }

    func startBacktest(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        let name = try context.parameters.require("name"), version = try context.parameters.require("version")
        let form = try await Self.form(BacktestForm.self, request)
        func page(_ error: String, _ status: HTTPResponse.Status) async throws -> Response {
            try await versionView(name: name, version: version, against: nil, user: user, notice: nil, error: error, status: status)
        }
        if let refused = formRefusal(user, csrf: form.csrf, roles: [.policyAdmin], doing: "run backtests") { return try await page(refused, .forbidden) }
        do {
            let range = try BacktestRange.parse(["from": form.from.map(JSONValue.string) ?? .null, "to": form.to.map(JSONValue.string) ?? .null])
            let started = try await policies.backtest(version, of: name, range: range, by: user.key.id)
            return Self.redirect("/console/policies/\(Self.pathComponent(name))/backtests/\(Self.pathComponent(started.job.id))")
        } catch let refusal as Refusal {
            return try await page(ConsoleFormat.plainWords(refusal), Problem(refusal).status)
        }
    }

    /// Counts before (the recorded outcome) and after (the candidate's) from transitions `a→b`.
    static func beforeAfter(_ transitions: [String: Int], unchanged: [String: Int] = [:]) -> [(label: String, values: [String: Int])] {
        var before: [String: Int] = unchanged, after: [String: Int] = unchanged
        for (transition, count) in transitions {
            let parts = transition.components(separatedBy: "→")
            guard parts.count == 2 else { continue }
            before[parts[0], default: 0] += count
            after[parts[1], default: 0] += count
        }
        return ["approve", "review", "reject", "recorded"].flatMap { outcome in
            [(label: "\(outcome) now", values: ["now": before[outcome] ?? 0]), (label: "\(outcome) new", values: ["with the version": after[outcome] ?? 0])]
        }
    }

    static let comparisonSeries = [ConsoleChart.Series(name: "now", color: "#7a8793"), ConsoleChart.Series(name: "with the version", color: "#1f3a5f")]

    func backtestPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "Backtests", Self.policyReaders) { return refused }
        let name = try context.parameters.require("name"), id = try context.parameters.require("id")
        guard let job = try await policies.lifecycle.backtests.job(name: name, id: id) else {
            return html(title: "Not found", template: "message", ["message": "Policy \(name) has no backtest \(id)."], user: user, status: .notFound)
        }
        var view: [String: Any] = [
            "name": name, "namePath": Self.pathComponent(name), "version": job.version, "short": Self.short(job.version) ?? job.version,
            "range": "\(ConsoleFormat.time(job.from) ?? job.from) to \(ConsoleFormat.time(job.to) ?? job.to)", "status": job.status.rawValue,
        ]
        switch job.status {
        case .running:
            view["running"] = true
            view["percent"] = job.progress.percent
            view["evaluated"] = job.progress.evaluated
            view["total"] = job.progress.total
        case .failed, .interrupted:
            view["failed"] = job.error ?? job.status.rawValue
        case .done:
            let report = job.report ?? .null
            let transitions = (report["transitions"]?.objectValue ?? [:]).compactMapValues { $0.intValue.map(Int.init) }
            view["done"] = true
            view["evaluated"] = ConsoleFormat.text(report["evaluated"])
            view["outcomeChanges"] = ConsoleFormat.text(report["outcome_changes"])
            view["otherChanges"] = ConsoleFormat.text(report["other_changes"])
            view["unchanged"] = ConsoleFormat.text(report["unchanged"])
            view["transitions"] = transitions.sorted { $0.key < $1.key }.map { ["transition": $0.key, "count": $0.value] }
            view["noTransitions"] = transitions.isEmpty
            view["money"] = (report["money_moved"]?.arrayValue ?? []).map { row -> [String: Any] in
                ["transition": ConsoleFormat.text(row["transition"]),
                 "amount": ConsoleFormat.money(row["amount_minor"]?.intValue, row["currency"]?.stringValue) ?? "—"]
            }
            view["noMoney"] = (report["money_moved"]?.arrayValue ?? []).isEmpty
            view["chart"] = ConsoleChart.stackedBars(id: "backtest-chart", title: "Outcomes of the changed decisions, now and with the version",
                                                     columns: Self.beforeAfter(transitions), series: Self.comparisonSeries, height: 200)
            view["sample"] = (report["sample"]?.arrayValue ?? []).map { item -> [String: Any] in
                ConsoleFormat.present([
                    "transition": ConsoleFormat.text(item["transition"]),
                    "type": ConsoleFormat.eventTitle(ConsoleFormat.text(item["type"])), "account": item["account_id"]?.stringValue,
                    "amount": ConsoleFormat.money(item["amount_minor"]?.intValue, item["currency"]?.stringValue),
                    "eventId": item["event_id"]?.stringValue,
                    "nowReasons": (item["actual"]?["reasons"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: "; "),
                    "newReasons": (item["candidate"]?["reasons"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: "; "),
                ])
            }
            view["speed"] = ConsoleFormat.text(report["events_per_s"])
        }
        var response = html(title: "Backtest of \(name)", template: "backtest", view, user: user, path: "/console/policies")
        if job.status == .running { response.headers[.init("Refresh")!] = "2" }
        return response
    }

    func shadowPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "Shadow reports", Self.policyReaders) { return refused }
        let name = try context.parameters.require("name")
        let report: ShadowReport
        do {
            report = try await policies.lifecycle.shadowReport(name: name, version: nil, limit: 500, before: nil)
        } catch let refusal as Refusal where refusal.kind == .notFound {
            return html(title: "No shadow run", template: "message", ["message": ConsoleFormat.plainWords(refusal)], user: user, status: .notFound)
        }
        // Differences per hour (UTC), outcome changes apart from other changes.
        var hours: [String: [String: Int]] = [:]
        for difference in report.differences {
            hours[String(difference.at.prefix(13)), default: [:]][difference.outcomeChanged ? "outcome changed" : "other change", default: 0] += 1
        }
        // "12-05 14:00" from "2026-12-05T14".
        let columns = hours.keys.sorted().map { (label: String($0.prefix(10).suffix(5)) + " " + String($0.suffix(2)) + ":00", values: hours[$0] ?? [:]) }
        let view = ConsoleFormat.present([
            "name": name, "namePath": Self.pathComponent(name), "version": Self.short(report.version), "active": Self.short(report.activeVersion),
            "running": report.running, "types": report.eventTypes.joined(separator: ", "),
            "started": "\(ConsoleFormat.time(report.startedAt) ?? report.startedAt)", "evaluated": report.evaluated,
            "outcomeChanges": report.outcomeChanges, "otherChanges": report.otherChanges,
            "transitions": report.transitions.sorted { $0.key < $1.key }.map { ["transition": $0.key, "count": $0.value] },
            "chart": columns.isEmpty ? nil : ConsoleChart.stackedBars(id: "shadow-chart", title: "Shadow differences per hour (UTC)", columns: columns,
                                                                       series: [ConsoleChart.Series(name: "outcome changed", color: "#b3261e"),
                                                                                ConsoleChart.Series(name: "other change", color: "#d19a1a")], height: 200),
            "differences": report.differences.prefix(50).map { difference in
                ConsoleFormat.present([
                    "transition": difference.transition, "type": ConsoleFormat.eventTitle(difference.eventType),
                    "account": difference.accountId, "amount": ConsoleFormat.money(difference.amountMinor, difference.currency),
                    "at": ConsoleFormat.time(difference.at), "correlation": difference.correlationId,
                    "nowReasons": (difference.actual["reasons"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: "; "),
                    "shadowReasons": (difference.shadow["reasons"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: "; "),
                ])
            },
            "noDifferences": report.differences.isEmpty, "noTransitions": report.transitions.isEmpty,
        ])
        return html(title: "Shadow run of \(name)", template: "shadow", view, user: user, path: "/console/policies")
    }
}
