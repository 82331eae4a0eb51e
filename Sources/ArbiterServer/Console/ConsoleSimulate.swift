import ArbiterApp
import ArbiterCore
import Foundation
import Hummingbird

/// The workbench's simulation (`/console/policies/simulate`): a stored event (by id, or one of an
/// account's recent ones) or an edited one, decided by the active policies — and, with a draft
/// swapped in, by that set too, side by side — with every policy's verdict, reasons and `log`
/// lines. The same use case as `POST /v1/simulate` (``Simulation``); nothing is stored.
extension Console {
    func addSimulateRoutes(to console: RouterGroup<AppRequestContext>) {
        console.get("policies/simulate", use: simulatePage)
        console.post("policies/simulate", use: simulateEvent)
    }

    func simulatePage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "Simulation", Self.policyReaders) { return refused }
        let query = request.queryFields
        var event = ""
        var error: String?
        if let id = query["event_id"]?.trimmingCharacters(in: .whitespaces), !id.isEmpty {
            if let stored = try await decisions.event(id: id) { event = Self.pretty(stored.envelope) }
            else { error = "There is no stored event \(id)." }
        }
        return try await simulateView(user: user, event: event, swap: query["swap"] ?? "", account: query["account_id"] ?? "",
                                      results: nil, error: error, status: .ok)
    }

    struct SimulateForm: Decodable {
        let csrf: String?
        let event: String?
        let swap: String?
    }

    func simulateEvent(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        if let refused = forbidden(user, "Simulation", Self.policyReaders) { return refused }
        let form = try await Self.form(SimulateForm.self, request, limit: 256 * 1024)
        let text = form.event ?? "", swap = form.swap ?? ""
        if let refused = formRefusal(user, csrf: form.csrf) {
            return try await simulateView(user: user, event: text, swap: swap, account: "", results: nil, error: refused, status: .forbidden)
        }
        guard let envelope = try? JSONValue.parse(Data(text.utf8)) else {
            return try await simulateView(user: user, event: text, swap: swap, account: "", results: nil,
                                          error: "Event: not JSON. Paste an event as POST /v1/events takes it.", status: .unprocessableContent)
        }
        let simulation = Simulation(lifecycle: policies.lifecycle, accounts: accounts)
        do {
            var runs: [(String, Simulation.Result)] = [("Active policies", try await simulation.run(try Simulation.Request.parse(["event": envelope])))]
            let parts = swap.split(separator: "@", maxSplits: 1).map(String.init)
            if parts.count == 2 {
                let request = try Simulation.Request.parse(["event": envelope, "versions": .object([parts[0]: .string(parts[1])])])
                runs.append(("With \(parts[0]) \(Self.short(parts[1]) ?? "")", try await simulation.run(request)))
            }
            return try await simulateView(user: user, event: text, swap: swap, account: "", results: runs, error: nil, status: .ok)
        } catch let refusal as Refusal {
            return try await simulateView(user: user, event: text, swap: swap, account: "", results: nil, error: ConsoleFormat.plainWords(refusal),
                                          status: Problem(refusal).status)
        }
    }

    func simulateView(user: ConsoleUser, event: String, swap: String, account: String, results: [(String, Simulation.Result)]?,
                      error: String?, status: HTTPResponse.Status) async throws -> Response {
        // Drafts and shadow versions to swap in.
        var choices: [[String: Any]] = []
        for policy in try await policies.lifecycle.policies() {
            for version in ([policy.shadowVersion].compactMap { $0 } + policy.drafts) {
                let value = "\(policy.name)@\(version)"
                choices.append(["value": value, "label": "\(policy.name) \(Self.short(version) ?? "")\(version == policy.shadowVersion ? " (shadow)" : " (draft)")",
                                "selected": value == swap])
            }
        }
        // An account's recent events to pick from.
        var recent: [[String: Any]] = []
        if !account.isEmpty {
            let page = try await decisions.decisions(DecisionFilter(accountId: account, from: Date().addingTimeInterval(-90 * 86400), limit: 200))
            recent = page.items.suffix(10).reversed().map { decision in
                ["eventId": decision.eventId, "type": ConsoleFormat.eventTitle(decision.eventType), "outcome": decision.outcome.rawValue,
                 "at": ConsoleFormat.time(decision.decidedAt) ?? decision.decidedAt]
            }
        }
        let columns = (results ?? []).map { title, result -> [String: Any] in
            let decision = result.decision
            return ConsoleFormat.present([
                "title": title, "outcome": decision.outcome.rawValue, "queue": decision.queue,
                "reasons": decision.reasons.map { ["text": $0] },
                "actions": decision.actions.map { action in
                    ["text": ConsoleFormat.actionTitle(action.type.rawValue) + (action.money.map { " " + (ConsoleFormat.money($0.amountMinor, $0.currency.code) ?? "") } ?? "")]
                },
                "verdicts": decision.policies.map { verdict in
                    ConsoleFormat.present([
                        "name": verdict.name, "version": Self.short(verdict.version), "outcome": verdict.outcome.rawValue,
                        "reasons": verdict.reasons.isEmpty ? "none" : verdict.reasons.joined(separator: "; "),
                        "log": verdict.log.map { ["line": $0] }, "hasLog": !verdict.log.isEmpty, "policyError": verdict.error,
                    ])
                },
            ])
        }
        let view = ConsoleFormat.present([
            "csrf": user.csrf, "event": event, "error": error, "choices": choices, "account": account, "recent": recent,
            "hasRecent": !recent.isEmpty, "columns": columns, "hasResults": !columns.isEmpty,
        ])
        return html(title: "Simulate", template: "simulate", view, user: user, status: status, path: "/console/policies")
    }
}
