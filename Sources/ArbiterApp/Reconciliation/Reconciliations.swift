import ArbiterCore
import Foundation

/// Reconciliation as a use case: the API (`/v1/reconciliations`), `arbiter reconcile --db` and the
/// scheduled run all come here.
///
/// A run reads Arbiter's side from the store (money actions approved in the period, with their
/// status and ERP reference), the ERP's from an uploaded CSV or a pull through a target's
/// profile, classifies every row (``Reconciler``), writes `reconciliations/<id>/` —
/// `reconciliation.csv`, `reconciliation.json`, the ERP's file as read (`erp.csv`) and a signed
/// `manifest.json` (verifiable with `arbiter audit verify-export`) — renamed into place once all
/// are synced, then records the run, its exceptions as work and one audit entry
/// (`reconciliation.completed`, with the counts and the digests) in one transaction.
///
/// Exceptions are kept per mapping (one ERP's books) and subject (the action, or the ERP row of
/// no action): a re-run updates an open exception instead of adding one, and closes as `matched`
/// the open exceptions whose action it now finds matched or pending.
public final class Reconciliations: Sendable {
    let store: any ReconciliationStore
    let signingKey: ExportSigningKey
    /// One directory per run.
    public let directory: URL
    /// Saved mappings as files (`<name>.json`), beside the ones saved through the API.
    let mappingsDirectory: URL?
    let pullers: [String: any ERPPuller]
    /// A resolution that changes an action (resend, cancel) does it while the dispatchers keep
    /// away from it, and wakes them (nil: no dispatcher runs, as in `arbiter reconcile --db`).
    let deliveries: Deliveries?
    /// One run at a time per instance: a run holds a ledger and a core.
    private let running = Locked<String?>(nil)

    public init(store: any ReconciliationStore, signingKey: ExportSigningKey, directory: String, mappingsDirectory: String?,
                pullers: [String: any ERPPuller] = [:], deliveries: Deliveries? = nil) throws {
        self.store = store
        self.deliveries = deliveries
        self.signingKey = signingKey
        self.directory = URL(fileURLWithPath: directory)
        self.mappingsDirectory = mappingsDirectory.map { URL(fileURLWithPath: $0) }
        self.pullers = pullers
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        // What a run or an upload cut short left behind is not a run. Instances may share the
        // directory: only what nobody has written to for an hour is removed (a run writes its
        // files within seconds, an upload streams without pause).
        let stale = Date().addingTimeInterval(-3600)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasSuffix(".partial") || name.hasPrefix(".upload-") {
            let path = self.directory.appendingPathComponent(name)
            let modified = (try? FileManager.default.attributesOfItem(atPath: path.path))?[.modificationDate] as? Date
            if modified.map({ $0 < stale }) ?? true { try? FileManager.default.removeItem(at: path) }
        }
    }

    public var pullTargets: [String] { pullers.keys.sorted() }

    // MARK: Mappings

    /// A mapping by name: saved through the API, else `<name>.json` in the mappings directory.
    public func mapping(named name: String) async throws -> ERPColumnMapping {
        guard ReconciliationRequest.isName(name) else { throw Refusal.invalid("mapping", "must be a mapping's name (letters, digits, '-', '_', '.')") }
        if let stored = try await store.mapping(name: name) { return try ERPColumnMapping.parse(stored.definition, name: name) }
        if let file = mappingsDirectory?.appendingPathComponent("\(name).json"), let data = FileManager.default.contents(atPath: file.path) {
            return try ERPColumnMapping.parse(try JSONValue.parse(data), name: name)
        }
        let known = try await mappingNames()
        throw Refusal.invalid("mapping", "no saved mapping named '\(name)' (saved: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
    }

    /// Every saved mapping's name and where it comes from (`api` or `file`), the API's first.
    public func mappings() async throws -> [(name: String, origin: String, definition: JSONValue)] {
        var all: [(name: String, origin: String, definition: JSONValue)] = try await store.mappings().map { ($0.name, "api", $0.definition) }
        let saved = Set(all.map(\.name))
        if let mappingsDirectory, let names = try? FileManager.default.contentsOfDirectory(atPath: mappingsDirectory.path) {
            for file in names.sorted() where file.hasSuffix(".json") {
                let name = String(file.dropLast(5))
                guard ReconciliationRequest.isName(name), !saved.contains(name),
                      let data = FileManager.default.contents(atPath: mappingsDirectory.appendingPathComponent(file).path),
                      let definition = try? JSONValue.parse(data) else { continue }
                all.append((name, "file", definition))
            }
        }
        return all.sorted { $0.name < $1.name }
    }

    private func mappingNames() async throws -> [String] { try await mappings().map(\.name) }

    /// Saves a mapping through the API (checked first: it must read); true when new.
    public func saveMapping(name: String, definition: JSONValue, by actor: String, now: Date = Date()) async throws -> Bool {
        guard ReconciliationRequest.isName(name) else { throw Refusal.invalid("name", "must be letters, digits, '-', '_' or '.' (at most 100)") }
        _ = try ERPColumnMapping.parse(definition, name: name)
        return try await store.saveMapping(StoredMapping(name: name, definition: definition, updatedBy: actor, updatedAt: Timestamp.format(now)))
    }

    public func removeMapping(name: String, by actor: String, now: Date = Date()) async throws -> Bool {
        try await store.removeMapping(name: name, by: actor, now: now)
    }

    // MARK: Runs

    /// Runs a reconciliation of `request` against the ERP's CSV at `erpFile` (an upload: moved
    /// into the run's directory) or, when the request names a target to pull from, against what
    /// that target's ERP holds. Refuses a second run while one runs here.
    public func run(_ request: ReconciliationRequest, erpFile: URL?, by actor: String, now: Date = Date()) async throws -> ReconciliationRun {
        let id = Identifier.make(now: now)
        let admitted = running.withLock { current -> String? in
            if let current { return current }
            current = id
            return nil
        }
        if let other = admitted { throw Refusal.conflict("reconciliation \(other) is running; try again when it is done", title: "Reconciliation busy") }
        defer { running.withLock { $0 = nil } }

        let partial = directory.appendingPathComponent(id + ".partial"), final = directory.appendingPathComponent(id)
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            let from = Timestamp.format(request.from), to = Timestamp.format(request.to)
            let staleBefore = Timestamp.format((request.asOf ?? now).addingTimeInterval(-TimeInterval(request.staleAfter)))
            let ledger = try await self.ledger(from: from, to: to)
            let input = partial.appendingPathComponent("erp.csv")
            var mapping: ERPColumnMapping
            if let target = request.pull {
                guard let puller = pullers[target] else {
                    throw Refusal.invalid("pull", "'\(target)' is not a target Arbiter can pull from (pullable targets: \(pullTargets.isEmpty ? "none" : pullTargets.joined(separator: ", ")))")
                }
                let actions = (0..<ledger.count).map { (ledger.id($0), ledger.type($0)) }
                do {
                    mapping = try await puller.pull(actions: actions, from: request.from, to: request.to, into: input)
                } catch let error as ERPPullFailure {
                    throw error
                } catch {
                    throw ERPPullFailure("pulling from target \(target) failed: \(error)")
                }
                mapping.name = request.mapping
            } else {
                guard let erpFile else { throw Refusal.invalid("erp_file", "is required: the ERP's export as CSV") }
                mapping = try await self.mapping(named: request.mapping)
                try FileManager.default.moveItem(at: erpFile, to: input)
            }

            let report = try ReconciliationReport(ledger: ledger, directory: partial)
            var found: [ReconciliationException] = []
            var subjects = Set<String>()
            let createdAt = Timestamp.format(now)
            let summary = try Reconciler.run(ledger: ledger, erpFile: input, mapping: mapping,
                                             options: Reconciler.Options(staleBefore: staleBefore)) { row in
                try report.add(row)
                guard row.class.isException else { return }
                let exception = Self.exception(row, ledger: ledger, mapping: request.mapping, run: id, at: createdAt)
                if subjects.insert(exception.subject).inserted { found.append(exception) }
            }
            _ = try report.finish(summary, mapping: mapping, from: from, to: to, staleBefore: staleBefore, directory: partial)

            // Open exceptions this run finds resolved: their action is in the period and is not an exception now.
            let open = try await store.openExceptions(mapping: request.mapping)
            let closing = open.filter { exception in
                guard !subjects.contains(exception.subject) else { return false }
                let key = exception.actionId ?? exception.erpKey ?? ""
                return !key.isEmpty && ledger.find(key) != nil
            }.map(\.id)
            let openSubjects = Set(open.map(\.subject))
            let opened = found.filter { !openSubjects.contains($0.subject) }.count

            let digests = try ["reconciliation.csv", "reconciliation.json", "erp.csv"].map { try Self.sha256(partial.appendingPathComponent($0)) }
            var counts: [String: Int] = [:]
            for (kind, count) in summary.counts { counts[kind.rawValue] = count }
            let exceptionCount = summary.counts.filter { $0.key.isException }.values.reduce(0, +)
            var fields: [String: JSONValue] = [
                "format_version": 1, "id": .string(id), "kind": "reconciliation", "format": "csv",
                "file": .string(ReconciliationReport.csvName), "file_sha256": .string(digests[0]), "rows": .int(Int64(report.rows)),
                "report": .string(ReconciliationReport.jsonName), "report_sha256": .string(digests[1]),
                "erp_file": "erp.csv", "erp_file_sha256": .string(digests[2]),
                "mapping": .string(request.mapping), "from": .string(from), "to": .string(to), "stale_before": .string(staleBefore),
                "source": .string(request.pull == nil ? "upload" : "pull"), "target": request.pull.map(JSONValue.string) ?? .null,
                "counts": .object(counts.mapValues { .int(Int64($0)) }), "exceptions": .int(Int64(exceptionCount)),
                "exported_at": .string(createdAt), "exported_by": .string(actor), "key_id": .string(signingKey.keyId),
            ]
            fields["totals"] = .array(summary.totals.map { total in
                .object(["currency": .string(total.currency), "type": .string(total.type), "arbiter_minor": .int(total.arbiterMinor),
                         "erp_minor": .int(total.erpMinor), "difference_minor": .int(total.erpMinor - total.arbiterMinor)])
            })
            let manifest = try ExportManifest.signed(fields, key: signingKey)
            let manifestPath = partial.appendingPathComponent("manifest.json").path
            guard FileManager.default.createFile(atPath: manifestPath, contents: Data(CanonicalJSON.encode(manifest) + [0x0A]),
                                                 attributes: [.posixPermissions: 0o600]) else {
                throw Refusal.invalid("out", "cannot write \(manifestPath)")
            }
            try FileManager.default.moveItem(at: partial, to: final)

            let run = ReconciliationRun(id: id, mapping: request.mapping, from: from, to: to, staleBefore: staleBefore,
                                        source: request.pull == nil ? "upload" : "pull", target: request.pull, requestedBy: actor,
                                        createdAt: createdAt, counts: counts, exceptions: exceptionCount, exceptionsOpened: opened,
                                        exceptionsClosed: closing.count, reportSHA256: digests[1], manifest: manifest)
            let audit = AuditDraft(actor: actor, kind: "reconciliation.completed", subject: id, correlationId: nil, at: createdAt,
                                   dataJSON: CanonicalJSON.encode(.object([
                                       "mapping": .string(request.mapping), "from": .string(from), "to": .string(to),
                                       "source": .string(run.source), "counts": .object(counts.mapValues { .int(Int64($0)) }),
                                       "exceptions_opened": .int(Int64(opened)), "exceptions_closed": .int(Int64(closing.count)),
                                       "report_sha256": .string(digests[1]), "file_sha256": .string(digests[0]),
                                       "erp_file_sha256": .string(digests[2]), "manifest_signature": manifest["signature"] ?? .null,
                                   ])))
            try await store.record(run, exceptions: found, closing: closing, audit: audit)
            return run
        } catch {
            try? FileManager.default.removeItem(at: partial)
            if let erpFile { try? FileManager.default.removeItem(at: erpFile) }
            throw error
        }
    }

    /// Arbiter's side of the period, in the store's (created_at, id) order.
    func ledger(from: String, to: String) async throws -> ReconciliationLedger {
        let ledger = Locked(ReconciliationLedger(capacity: 1024))
        try await store.moneyActions(from: from, to: to) { row in
            guard let type = ActionType(rawValue: row.type), let currency = Currency(row.currency),
                  let status = ReconciliationLedger.Status(row.status) else { return }
            ledger.withLock { $0.append(id: row.id, type: type, amountMinor: row.amountMinor, currency: currency, status: status,
                                        approvedAt: row.createdAt, reference: row.erpReference) }
        }
        return ledger.withLock { $0 }
    }

    static func exception(_ row: Reconciler.Row, ledger: ReconciliationLedger, mapping: String, run: String, at: String) -> ReconciliationException {
        let actionId = row.action.map(ledger.id)
        let subject: String
        if let actionId {
            subject = actionId
        } else if let erp = row.erp, !erp.key.isEmpty {
            subject = "erp:\(erp.key)"
        } else if let erp = row.erp, !erp.document.isEmpty {
            subject = "erp:document:\(erp.document)"
        } else {
            subject = "erp:line:\(row.erp?.line ?? 0)"
        }
        let amount = row.action.map(ledger.amount) ?? row.erp?.amountMinor
        let currency = row.action.map { ledger.currency($0).code } ?? row.erp?.currency
        return ReconciliationException(id: Identifier.make(), mapping: mapping, subject: subject, firstRun: run, lastRun: run,
                                       class: row.class.rawValue, reason: row.reason, actionId: actionId,
                                       erpKey: row.erp.map(\.key).flatMap { $0.isEmpty ? nil : $0 },
                                       erpDocument: row.erp.map(\.document).flatMap { $0.isEmpty ? nil : $0 },
                                       amountMinor: amount, currency: currency, owner: nil, createdAt: at, updatedAt: at)
    }

    static func sha256(_ file: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        var hasher = SHA256Stream()
        while let block = try handle.read(upToCount: 1 << 20), !block.isEmpty { hasher.update(block) }
        return hasher.hex
    }

    public func run(id: String) async throws -> ReconciliationRun? { try await store.run(id: id) }

    public func runs(after: String?, limit: Int) async throws -> Page<ReconciliationRun> { try await store.runs(after: after, limit: limit) }

    /// The directory of run `id`'s files, when it is here.
    public func folder(_ id: String) -> URL? {
        guard !id.isEmpty, id.allSatisfy({ $0.isHexDigit || $0 == "-" }) else { return nil }
        let folder = directory.appendingPathComponent(id)
        return FileManager.default.fileExists(atPath: folder.appendingPathComponent("manifest.json").path) ? folder : nil
    }

    // MARK: Exceptions

    public func exceptions(state: String?, mapping: String?, run: String?, after: String?, limit: Int) async throws -> Page<ReconciliationException> {
        try await store.exceptions(state: state, mapping: mapping, run: run, after: after, limit: limit)
    }

    public func exception(id: String) async throws -> ReconciliationException? { try await store.exception(id: id) }

    public func resolve(id: String, _ resolution: ReconciliationException.Resolution, by actor: String, comment: String?,
                        now: Date = Date()) async throws -> ReconciliationException {
        guard let deliveries, resolution == .resend || resolution == .cancel,
              let action = try await store.exception(id: id)?.actionId else {
            return try await store.resolve(id: id, resolution, by: actor, comment: comment, now: now)
        }
        let resolved = Locked<ReconciliationException?>(nil)
        try await deliveries.change(action) {
            let done = try await store.resolve(id: id, resolution, by: actor, comment: comment, now: now)
            resolved.withLock { $0 = done }
        }
        guard let done = resolved.withLock({ $0 }) else { throw Refusal.conflict("exception \(id) was not resolved") }
        return done
    }

    public func assign(id: String, owner: String?, by actor: String, now: Date = Date()) async throws -> ReconciliationException {
        try await store.assign(id: id, owner: owner, by: actor, now: now)
    }
}
