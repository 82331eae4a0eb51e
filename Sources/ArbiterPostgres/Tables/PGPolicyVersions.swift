import ArbiterApp
import ArbiterCore
import Foundation
import PostgresNIO

/// Policy versions, their history, maker-checker proposals and shadow runs (the embedded
/// store's `PolicyVersions`). Every change to what decides live holds one lock (policy changes
/// take turns across instances) and moves `policy_generation` on, which every instance watches
/// to load the change.
enum PGPolicyVersions {
    typealias ProposedChange = MakerChecker.Change

    /// The lock every change of policy versions holds (transaction-scoped).
    static let lockKey: Int64 = 0x4152_4249_5445_5204

    static func lock(_ unit: WorkUnit) async throws {
        try await unit.run("SELECT pg_advisory_xact_lock(\(lockKey))")
    }

    /// Tells every instance that what decides live changed; the new generation.
    @discardableResult
    static func bumpGeneration(_ unit: WorkUnit) async throws -> Int64 {
        try await unit.value("UPDATE policy_generation SET generation = generation + 1 WHERE id = 1 RETURNING generation",
                             as: Int64.self) ?? 0
    }

    static func generation(_ unit: WorkUnit) async throws -> Int64 {
        try await unit.value("SELECT generation FROM policy_generation WHERE id = 1", as: Int64.self) ?? 0
    }

    // MARK: Maker-checker

    static func propose(_ unit: WorkUnit, name: String, version: String, by actor: String, at now: Date) async throws {
        guard try await exists(unit, name: name, version: version) else {
            throw Refusal.notFound("policy \(name) has no version \(version)")
        }
        if try await activeVersion(unit, name: name) == version {
            throw Refusal.conflict("version \(version) of \(name) is already active")
        }
        try await propose(unit, name: name, version: version, change: .activate, by: actor, at: now)
    }

    static func proposeRollback(_ unit: WorkUnit, name: String, by actor: String, at now: Date) async throws -> String {
        let target = try await rollbackTarget(unit, name: name)
        try await propose(unit, name: name, version: target, change: .rollback, by: actor, at: now)
        return target
    }

    static func proposeDeactivation(_ unit: WorkUnit, name: String, by actor: String, at now: Date) async throws -> String {
        guard let current = try await activeVersion(unit, name: name) else {
            throw Refusal.conflict("policy \(name) has no active version")
        }
        try await propose(unit, name: name, version: current, change: .deactivate, by: actor, at: now)
        return current
    }

    private static func propose(_ unit: WorkUnit, name: String, version: String, change: ProposedChange, by actor: String,
                                at now: Date) async throws {
        let at = Timestamp.format(now)
        try await unit.run("""
            UPDATE policy_proposals SET state = 'superseded', decided_by = \(actor), decided_at = \(at) WHERE name = \(name) AND state = 'pending'
            """)
        try await unit.run("""
            INSERT INTO policy_proposals (name, version, change, proposed_by, proposed_at, state)
            VALUES (\(name), \(version), \(change.rawValue), \(actor), \(at), 'pending')
            """)
        try await record(unit, name: name, version: version, change: "proposed", actor: actor, at: now,
                         data: ["change": .string(change.rawValue)])
    }

    static func approve(_ unit: WorkUnit, name: String, version: String, by actor: String,
                        at now: Date) async throws -> (change: ProposedChange, previous: String?) {
        guard let row = try await unit.row("""
            SELECT proposed_by, change FROM policy_proposals WHERE name = \(name) AND version = \(version) AND state = 'pending'
            """) else {
            throw Refusal.conflict("there is no pending proposal about version \(version) of \(name)")
        }
        let proposer: String = try row["proposed_by"]
        let change = ProposedChange(rawValue: try row["change"]) ?? .activate
        try MakerChecker.mayApprove(change, proposedBy: proposer, approver: actor)
        try await unit.run("""
            UPDATE policy_proposals SET state = 'approved', decided_by = \(actor), decided_at = \(Timestamp.format(now))
            WHERE name = \(name) AND version = \(version) AND state = 'pending'
            """)
        try await record(unit, name: name, version: version, change: "approved", actor: actor, at: now,
                         data: ["proposed_by": .string(proposer), "change": .string(change.rawValue)])
        let previous = try await activeVersion(unit, name: name)
        switch change {
        case .activate:
            try await activate(unit, name: name, version: version, by: actor, at: now)
        case .rollback:
            try await activate(unit, name: name, version: version, by: actor, change: "rolled_back", at: now)
        case .deactivate:
            guard previous == version else {
                throw Refusal.conflict("version \(version) of \(name) is no longer active; nothing to deactivate")
            }
            _ = try await deactivate(unit, name: name, by: actor, at: now)
        }
        return (change, previous)
    }

    static func pendingProposal(_ unit: WorkUnit, name: String) async throws -> PolicyProposal? {
        try await unit.row("""
            SELECT version, change, proposed_by, proposed_at FROM policy_proposals WHERE name = \(name) AND state = 'pending'
            """).map {
            PolicyProposal(version: try $0["version"], change: MakerChecker.Change(rawValue: try $0["change"]) ?? .activate,
                           proposedBy: try $0["proposed_by"], proposedAt: try $0["proposed_at"])
        }
    }

    // MARK: Versions

    @discardableResult
    static func publish(_ unit: WorkUnit, name: String, version: String, file: String, source: String, tests: JSONValue?,
                        by actor: String, at now: Date) async throws -> Bool {
        if try await exists(unit, name: name, version: version) { return false }
        try await unit.run("""
            INSERT INTO policy_versions (name, version, file, source, tests, status, published_by, published_at)
            VALUES (\(name), \(version), \(file), \(source), \(tests.map(CanonicalJSON.string)), 'draft', \(actor), \(Timestamp.format(now)))
            """)
        try await record(unit, name: name, version: version, change: "published", actor: actor, at: now, data: ["file": .string(file)])
        return true
    }

    static func exists(_ unit: WorkUnit, name: String, version: String) async throws -> Bool {
        try await unit.value("SELECT 1::bigint FROM policy_versions WHERE name = \(name) AND version = \(version)", as: Int64.self) != nil
    }

    @discardableResult
    static func activate(_ unit: WorkUnit, name: String, version: String, by actor: String, change: String = "activated",
                         at now: Date) async throws -> String? {
        guard try await exists(unit, name: name, version: version) else {
            throw Refusal.notFound("policy \(name) has no version \(version)")
        }
        let previous = try await activeVersion(unit, name: name)
        if previous == version { return previous }
        let at = Timestamp.format(now)
        if try await shadowVersion(unit, name: name) == version {
            // Activating the shadow version ends its shadow run: it now decides for real.
            try await unit.run("UPDATE policy_shadows SET stopped_by = \(actor), stopped_at = \(at) WHERE name = \(name) AND stopped_at IS NULL")
        }
        try await unit.run("UPDATE policy_versions SET status = 'retired' WHERE name = \(name) AND status = 'active'")
        try await unit.run("""
            UPDATE policy_versions SET status = 'active', activated_at = \(at) WHERE name = \(name) AND version = \(version)
            """)
        try await record(unit, name: name, version: version, change: change, actor: actor, at: now,
                         data: ["previous": previous.map(JSONValue.string) ?? .null])
        return previous
    }

    static func rollback(_ unit: WorkUnit, name: String, by actor: String, at now: Date) async throws -> String {
        let target = try await rollbackTarget(unit, name: name)
        try await activate(unit, name: name, version: target, by: actor, change: "rolled_back", at: now)
        return target
    }

    static func rollbackTarget(_ unit: WorkUnit, name: String) async throws -> String {
        let activations = try await unit.rows("""
            SELECT version FROM policy_version_history WHERE name = \(name) AND change IN ('activated', 'rolled_back') ORDER BY id DESC
            """).map { try $0["version"] as String }
        let current = try await activeVersion(unit, name: name)
        guard let target = activations.first(where: { $0 != current }) else {
            throw Refusal.conflict("policy \(name) has no earlier active version to roll back to")
        }
        return target
    }

    static func deactivate(_ unit: WorkUnit, name: String, by actor: String, at now: Date) async throws -> String {
        guard let current = try await activeVersion(unit, name: name) else {
            throw Refusal.conflict("policy \(name) has no active version")
        }
        try await unit.run("UPDATE policy_versions SET status = 'retired' WHERE name = \(name) AND version = \(current)")
        try await record(unit, name: name, version: current, change: "deactivated", actor: actor, at: now, data: [:])
        return current
    }

    // MARK: Shadow

    static func shadow(_ unit: WorkUnit, name: String, version: String, eventTypes: [String], by actor: String,
                       at now: Date) async throws -> Int64 {
        guard try await exists(unit, name: name, version: version) else {
            throw Refusal.notFound("policy \(name) has no version \(version)")
        }
        if try await activeVersion(unit, name: name) == version {
            throw Refusal.conflict("version \(version) of \(name) is the active version; shadow a candidate instead")
        }
        if let running = try await unit.value("""
            SELECT id FROM policy_shadows WHERE name = \(name) AND version = \(version) AND stopped_at IS NULL
            """, as: Int64.self) {
            return running
        }
        if try await shadowVersion(unit, name: name) != nil { _ = try await stopShadow(unit, name: name, by: actor, at: now) }
        let types = CanonicalJSON.string(.array(eventTypes.map(JSONValue.string)))
        try await unit.run("UPDATE policy_versions SET status = 'shadow' WHERE name = \(name) AND version = \(version)")
        guard let id = try await unit.value("""
            INSERT INTO policy_shadows (name, version, event_types, started_by, started_at)
            VALUES (\(name), \(version), \(types), \(actor), \(Timestamp.format(now)))
            RETURNING id
            """, as: Int64.self) else { throw Refusal.conflict("the shadow run of \(name) could not be started") }
        try await record(unit, name: name, version: version, change: "shadowed", actor: actor, at: now,
                         data: ["event_types": .array(eventTypes.map(JSONValue.string))])
        return id
    }

    static func stopShadow(_ unit: WorkUnit, name: String, by actor: String, at now: Date) async throws -> String {
        guard let version = try await shadowVersion(unit, name: name) else {
            throw Refusal.conflict("policy \(name) has no version in shadow")
        }
        try await unit.run("""
            UPDATE policy_versions SET status = CASE WHEN activated_at IS NULL THEN 'draft' ELSE 'retired' END
            WHERE name = \(name) AND version = \(version)
            """)
        try await unit.run("""
            UPDATE policy_shadows SET stopped_by = \(actor), stopped_at = \(Timestamp.format(now)) WHERE name = \(name) AND stopped_at IS NULL
            """)
        try await record(unit, name: name, version: version, change: "shadow_stopped", actor: actor, at: now, data: [:])
        return version
    }

    static func shadowVersion(_ unit: WorkUnit, name: String) async throws -> String? {
        try await unit.value("SELECT version FROM policy_versions WHERE name = \(name) AND status = 'shadow'", as: String.self)
    }

    static func record(_ unit: WorkUnit, name: String, version: String, change: String, actor: String, at now: Date,
                       data: [String: JSONValue]) async throws {
        try await unit.run("""
            INSERT INTO policy_version_history (name, version, change, actor, at)
            VALUES (\(name), \(version), \(change), \(actor), \(Timestamp.format(now)))
            """)
        var fields = data
        fields["version"] = .string(version)
        unit.audit(actor: actor, kind: "policy.\(change)", subject: name, data: .object(fields), at: now)
    }

    static func activeVersion(_ unit: WorkUnit, name: String) async throws -> String? {
        try await unit.value("SELECT version FROM policy_versions WHERE name = \(name) AND status = 'active'", as: String.self)
    }

    // MARK: Reading

    static func source(_ row: Row) throws -> StoredPolicySource {
        StoredPolicySource(name: try row["name"], version: try row["version"], file: try row["file"], source: try row["source"])
    }

    static func liveSources(_ unit: WorkUnit) async throws -> LiveSources {
        let active = try await unit.rows("""
            SELECT name, version, file, source FROM policy_versions WHERE status = 'active' ORDER BY name
            """).map(source)
        let shadows = try await unit.rows("""
            SELECT s.id, v.name, v.version, v.file, v.source FROM policy_shadows s
            JOIN policy_versions v ON v.name = s.name AND v.version = s.version
            WHERE s.stopped_at IS NULL ORDER BY v.name
            """).map { (run: try $0["id"] as Int64, source: try source($0)) }
        return LiveSources(active: active, shadows: shadows)
    }

    static func source(_ unit: WorkUnit, name: String, version: String) async throws -> StoredPolicySource? {
        try await unit.row("SELECT name, version, file, source FROM policy_versions WHERE name = \(name) AND version = \(version)")
            .map(source)
    }

    static func list(_ unit: WorkUnit) async throws -> [PolicySummary] {
        let rows = try await unit.rows("SELECT name, version, status, published_at FROM policy_versions ORDER BY name, published_at")
        var order: [String] = []
        var byName: [String: PolicySummary] = [:]
        for row in rows {
            let name: String = try row["name"]
            if byName[name] == nil {
                order.append(name)
                byName[name] = PolicySummary(name: name, activeVersion: nil, shadowVersion: nil, drafts: [], versionCount: 0,
                                             pendingProposal: nil)
            }
            let version: String = try row["version"]
            switch try row["status"] as String {
            case "active": byName[name]?.activeVersion = version
            case "shadow": byName[name]?.shadowVersion = version
            case "draft": byName[name]?.drafts.append(version)
            default: break
            }
            byName[name]?.versionCount += 1
        }
        var summaries: [PolicySummary] = []
        for name in order {
            var summary = byName[name]!
            summary.pendingProposal = try await pendingProposal(unit, name: name)
            summaries.append(summary)
        }
        return summaries
    }

    static func versions(_ unit: WorkUnit, name: String) async throws -> [PolicyVersionSummary]? {
        let rows = try await unit.rows("""
            SELECT name, version, file, status, published_by, published_at, activated_at FROM policy_versions
            WHERE name = \(name) ORDER BY published_at DESC, version
            """)
        return rows.isEmpty ? nil : try rows.map(summary)
    }

    static func summary(_ row: Row) throws -> PolicyVersionSummary {
        PolicyVersionSummary(name: try row["name"], version: try row["version"], file: try row["file"], status: try row["status"],
                             publishedBy: try row["published_by"], publishedAt: try row["published_at"],
                             activatedAt: try row["activated_at"])
    }

    static func version(_ unit: WorkUnit, name: String, version: String) async throws -> PolicyVersionDetail? {
        guard let row = try await unit.row("SELECT * FROM policy_versions WHERE name = \(name) AND version = \(version)") else {
            return nil
        }
        let history = try await unit.rows("""
            SELECT change, actor, at FROM policy_version_history WHERE name = \(name) AND version = \(version) ORDER BY id
            """).map { PolicyVersionDetail.Step(change: try $0["change"], actor: try $0["actor"], at: try $0["at"]) }
        let tests = StoredJSON.value(try row["tests"])
        return PolicyVersionDetail(summary: try summary(row), source: try row["source"], tests: tests == .null ? nil : tests,
                                   history: history)
    }
}
