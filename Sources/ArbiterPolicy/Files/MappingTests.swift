import ArbiterCore
import Foundation

/// A mapping script's test cases (`mappings/tests/<script>.json` beside it):
/// `{"cases": [{"name", "request": {"body"?, "text"?, "headers"?}, "expect": …}]}` where
/// `expect` is one of `{"events": [...]}` (each event's fields given must match, payload fields
/// too; the count must match), `{"accounts": [...]}` (likewise, with `"events"` beside it when
/// the script returns both), `{"ignore": TEXT}` or `{"reject": TEXT}` (the reason contains
/// TEXT), `{"error": TEXT}` (the script fails, its message contains TEXT).
public struct MappingTestCase: Sendable {
    public var name: String
    public var request: JSONValue
    public var expect: JSONValue

    public static func load(_ url: URL) throws -> [MappingTestCase] {
        let file = "tests/\(url.lastPathComponent)"
        let value: JSONValue
        do {
            value = try JSONValue.parse(Data(contentsOf: url))
        } catch {
            throw PolicyLoadError(file: file, message: "\(file): not valid JSON (\(error.localizedDescription))")
        }
        return try parse(value, file: file)
    }

    /// Cases from `{"cases": [...]}`; errors name `file`.
    public static func parse(_ value: JSONValue, file: String) throws -> [MappingTestCase] {
        guard let cases = value["cases"]?.arrayValue else { throw PolicyLoadError(file: file, message: "\(file): expected {\"cases\": [...]}") }
        return try cases.enumerated().map { i, item in
            guard let name = item["name"]?.stringValue, let request = item["request"], request.objectValue != nil,
                  let expect = item["expect"], expect.objectValue != nil else {
                throw PolicyLoadError(file: file, message: "\(file): cases[\(i)] needs a name, a request object and an expect object")
            }
            return MappingTestCase(name: name, request: request, expect: expect)
        }
    }

    /// Where a script's tests live: `DIR/tests/<stem>.json` for `DIR/<stem>.lua`.
    public static func file(for script: URL) -> URL {
        script.deletingLastPathComponent().appendingPathComponent("tests")
            .appendingPathComponent(script.deletingPathExtension().lastPathComponent + ".json")
    }

    /// Runs the case; nil when it passes, else what was expected and what came.
    public func run(_ script: MappingScript, source: String = "test", receivedAt: Date = Date(timeIntervalSince1970: 1_767_225_600)) -> String? {
        var request = request.objectValue ?? [:]
        request["source"] = request["source"] ?? .string(source)
        request["received_at"] = request["received_at"] ?? .string(Timestamp.format(receivedAt))
        request["headers"] = request["headers"] ?? .object([:])
        request["body"] = request["body"] ?? .null
        request["text"] = request["text"] ?? .null
        let run = script.map(.object(request))
        let mapping: InboundMapping
        switch run.result {
        case .failure(let failure):
            if let text = expect["error"]?.stringValue { return failure.message.contains(text) ? nil : "error containing \"\(text)\", got: \(failure.message)" }
            return "a result, got the error: \(failure.message)"
        case .success(let value):
            if let text = expect["error"]?.stringValue { return "an error containing \"\(text)\", got \(CanonicalJSON.string(value))" }
            mapping = ScriptMapping.interpret(value, receivedAt: receivedAt)
        }
        switch mapping {
        case .ignore(let reason):
            guard let text = expect["ignore"]?.stringValue else { return "\(Self.expected(expect)), got ignore(\(reason))" }
            return reason.contains(text) ? nil : "ignore containing \"\(text)\", got ignore(\(reason))"
        case .reject(let reason):
            guard let text = expect["reject"]?.stringValue else { return "\(Self.expected(expect)), got reject(\(reason))" }
            return reason.contains(text) ? nil : "reject containing \"\(text)\", got reject(\(reason))"
        case .events(let events):
            return Self.compare(events: events, accounts: [], expect: expect)
        case .accounts(let accounts, let events):
            return Self.compare(events: events, accounts: accounts, expect: expect)
        }
    }

    /// The cases that fail: their position, name and what was expected against what came.
    public static func failures(_ cases: [MappingTestCase], script: MappingScript, source: String = "test")
        -> [(index: Int, name: String, expected: String)] {
        cases.enumerated().compactMap { i, testCase in testCase.run(script, source: source).map { (i, testCase.name, $0) } }
    }

    static func expected(_ expect: JSONValue) -> String {
        (expect.objectValue?.keys.sorted().first).map { "\($0)" } ?? "something"
    }

    static func compare(events: [MappedEvent], accounts: [MappedAccount], expect: JSONValue) -> String? {
        let wantedEvents = expect["events"]?.arrayValue ?? [], wantedAccounts = expect["accounts"]?.arrayValue ?? []
        if expect["events"] == nil && expect["accounts"] == nil { return "\(expected(expect)), got \(events.count) event(s), \(accounts.count) account update(s)" }
        guard wantedEvents.count == events.count else { return "\(wantedEvents.count) event(s), got \(events.count): \(events.map(json))" }
        guard wantedAccounts.count == accounts.count else { return "\(wantedAccounts.count) account update(s), got \(accounts.count)" }
        for (i, (wanted, event)) in zip(wantedEvents, events).enumerated() {
            if let problem = subset(wanted, of: json(event), path: "events[\(i + 1)]") { return problem }
        }
        for (i, (wanted, account)) in zip(wantedAccounts, accounts).enumerated() {
            var fields = account.fields
            if let id = account.id { fields["id"] = .string(id) }
            if let customer = account.customer { fields["customer"] = ["system": .string(customer.system), "ref": .string(customer.ref)] }
            if let problem = subset(wanted, of: .object(fields), path: "accounts[\(i + 1)]") { return problem }
        }
        return nil
    }

    static func json(_ event: MappedEvent) -> JSONValue {
        var fields: [String: JSONValue] = ["id": .string(event.id), "type": .string(event.type.rawValue), "payload": .object(event.payload),
                                           "occurred_at": .string(Timestamp.format(event.occurredAt))]
        if let customer = event.customer { fields["customer"] = ["system": .string(customer.system), "ref": .string(customer.ref)] }
        if let account = event.accountId { fields["account_id"] = .string(account) }
        if let order = event.ordering { fields["order"] = ["key": .string(order.key), "at": .int(order.at)] }
        return .object(fields)
    }

    /// Whether every field of `wanted` is in `actual` with the same value (objects compared
    /// field by field, recursively; anything else exactly).
    static func subset(_ wanted: JSONValue, of actual: JSONValue, path: String) -> String? {
        if case .object(let fields) = wanted, case .object(let have) = actual {
            for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
                guard let got = have[key] else { return "\(path).\(key) = \(CanonicalJSON.string(value)), got nothing" }
                if let problem = subset(value, of: got, path: "\(path).\(key)") { return problem }
            }
            return nil
        }
        return wanted == actual ? nil : "\(path) = \(CanonicalJSON.string(wanted)), got \(CanonicalJSON.string(actual))"
    }
}
