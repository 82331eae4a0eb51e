import ArbiterApp
import ArbiterCore
import Foundation
import GRDB

extension StoredPolicySource {
    /// From a row with `name`, `version`, `file` and `source` columns.
    init(row: Row) {
        self.init(name: row["name"], version: row["version"], file: row["file"], source: row["source"])
    }
}

/// Policy versions: immutable, identified by the SHA-256 of their source, with a status
/// (`draft`, `active`, `shadow`, `retired`) and a history of every change (who, when). At most
/// one version of a policy is active. Every change is an audit entry naming who and which
/// version.
public enum PolicyVersions {
    public typealias ProposedChange = MakerChecker.Change

    /// Maker-checker: proposes activating `version`; a pending proposal for another version of
    /// the same policy is superseded.
    public static func propose(_ db: Database, name: String, version: String, by actor: String, at now: Date = Date()) throws {
        guard try exists(db, name: name, version: version) else {
            throw Refusal.notFound("policy \(name) has no version \(version)")
        }
        if try activeVersion(db, name: name) == version {
            throw Refusal.conflict("version \(version) of \(name) is already active")
        }
        try propose(db, name: name, version: version, change: .activate, by: actor, at: now)
    }

    /// Maker-checker: proposes rolling back to the version active before the current one.
    /// Returns that version.
    public static func proposeRollback(_ db: Database, name: String, by actor: String, at now: Date = Date()) throws -> String {
        let target = try rollbackTarget(db, name: name)
        try propose(db, name: name, version: target, change: .rollback, by: actor, at: now)
        return target
    }

    /// Maker-checker: proposes retiring the active version. Returns it.
    public static func proposeDeactivation(_ db: Database, name: String, by actor: String, at now: Date = Date()) throws -> String {
        guard let current = try activeVersion(db, name: name) else {
            throw Refusal.conflict("policy \(name) has no active version")
        }
        try propose(db, name: name, version: current, change: .deactivate, by: actor, at: now)
        return current
    }

    private static func propose(_ db: Database, name: String, version: String, change: ProposedChange, by actor: String, at now: Date) throws {
        let at = Timestamp.format(now)
        try db.execute(sql: "UPDATE policy_proposals SET state = 'superseded', decided_by = ?, decided_at = ? WHERE name = ? AND state = 'pending'",
                       arguments: [actor, at, name])
        try db.execute(sql: "INSERT INTO policy_proposals (name, version, change, proposed_by, proposed_at, state) VALUES (?, ?, ?, ?, ?, 'pending')",
                       arguments: [name, version, change.rawValue, actor, at])
        try record(db, name: name, version: version, change: "proposed", actor: actor, at: now, data: ["change": .string(change.rawValue)])
    }

    /// Maker-checker: a second, different policy admin approves the pending proposal about
    /// `version`, which is then carried out. Returns what it did and the version that was active.
    @discardableResult
    public static func approve(_ db: Database, name: String, version: String, by actor: String,
                               at now: Date = Date()) throws -> (change: ProposedChange, previous: String?) {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT proposed_by, change FROM policy_proposals WHERE name = ? AND version = ? AND state = 'pending'
            """, arguments: [name, version]) else {
            throw Refusal.conflict("there is no pending proposal about version \(version) of \(name)")
        }
        let proposer: String = row["proposed_by"]
        let change = ProposedChange(rawValue: row["change"]) ?? .activate
        try MakerChecker.mayApprove(change, proposedBy: proposer, approver: actor)
        try db.execute(sql: """
            UPDATE policy_proposals SET state = 'approved', decided_by = ?, decided_at = ? WHERE name = ? AND version = ? AND state = 'pending'
            """, arguments: [actor, Timestamp.format(now), name, version])
        try record(db, name: name, version: version, change: "approved", actor: actor, at: now,
                   data: ["proposed_by": .string(proposer), "change": .string(change.rawValue)])
        let previous = try activeVersion(db, name: name)
        switch change {
        case .activate:
            try activate(db, name: name, version: version, by: actor, at: now)
        case .rollback:
            try activate(db, name: name, version: version, by: actor, change: "rolled_back", at: now)
        case .deactivate:
            guard previous == version else {
                throw Refusal.conflict("version \(version) of \(name) is no longer active; nothing to deactivate")
            }
            try deactivate(db, name: name, by: actor, at: now)
        }
        return (change, previous)
    }

    /// The pending proposal of a policy, if any.
    public static func pendingProposal(_ db: Database, name: String) throws -> PolicyProposal? {
        try Row.fetchOne(db, sql: "SELECT version, change, proposed_by, proposed_at FROM policy_proposals WHERE name = ? AND state = 'pending'",
                         arguments: [name]).map {
            PolicyProposal(version: $0["version"], change: MakerChecker.Change(rawValue: $0["change"]) ?? .activate,
                           proposedBy: $0["proposed_by"], proposedAt: $0["proposed_at"])
        }
    }

    /// Stores a version as a draft; an existing version (same name and source) is left as it is.
    /// Returns whether it was new.
    @discardableResult
    public static func publish(_ db: Database, name: String, version: String, file: String, source: String, tests: JSONValue?,
                               by actor: String, at now: Date = Date()) throws -> Bool {
        if try exists(db, name: name, version: version) { return false }
        let at = Timestamp.format(now)
        try db.execute(sql: """
            INSERT INTO policy_versions (name, version, file, source, tests, status, published_by, published_at)
            VALUES (?, ?, ?, ?, ?, 'draft', ?, ?)
            """, arguments: [name, version, file, source, tests.map(CanonicalJSON.string), actor, at])
        try record(db, name: name, version: version, change: "published", actor: actor, at: now,
                   data: ["file": .string(file)])
        return true
    }

    static func exists(_ db: Database, name: String, version: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM policy_versions WHERE name = ? AND version = ?", arguments: [name, version]) ?? false
    }

    /// Makes `version` the active one of its policy (the previous active one is retired).
    /// Returns the version it replaced, if any; activating the active version changes nothing.
    @discardableResult
    public static func activate(_ db: Database, name: String, version: String, by actor: String, change: String = "activated",
                                at now: Date = Date()) throws -> String? {
        guard try exists(db, name: name, version: version) else {
            throw Refusal.notFound("policy \(name) has no version \(version)")
        }
        let previous = try activeVersion(db, name: name)
        if previous == version { return previous }
        let at = Timestamp.format(now)
        if try shadowVersion(db, name: name) == version {
            // Activating the shadow version ends its shadow run: it now decides for real.
            try db.execute(sql: "UPDATE policy_shadows SET stopped_by = ?, stopped_at = ? WHERE name = ? AND stopped_at IS NULL",
                           arguments: [actor, at, name])
        }
        try db.execute(sql: "UPDATE policy_versions SET status = 'retired' WHERE name = ? AND status = 'active'", arguments: [name])
        try db.execute(sql: "UPDATE policy_versions SET status = 'active', activated_at = ? WHERE name = ? AND version = ?",
                       arguments: [at, name, version])
        try record(db, name: name, version: version, change: change, actor: actor, at: now,
                   data: ["previous": previous.map(JSONValue.string) ?? .null])
        return previous
    }

    /// Re-activates the version that was active before the current one.
    public static func rollback(_ db: Database, name: String, by actor: String, at now: Date = Date()) throws -> String {
        let target = try rollbackTarget(db, name: name)
        try activate(db, name: name, version: target, by: actor, change: "rolled_back", at: now)
        return target
    }

    /// The version a rollback re-activates: the last one active before the current one.
    static func rollbackTarget(_ db: Database, name: String) throws -> String {
        let activations = try String.fetchAll(db, sql: """
            SELECT version FROM policy_version_history WHERE name = ? AND change IN ('activated', 'rolled_back') ORDER BY id DESC
            """, arguments: [name])
        let current = try activeVersion(db, name: name)
        guard let target = activations.first(where: { $0 != current }) else {
            throw Refusal.conflict("policy \(name) has no earlier active version to roll back to")
        }
        return target
    }

    /// Retires the active version: the policy no longer decides anything.
    public static func deactivate(_ db: Database, name: String, by actor: String, at now: Date = Date()) throws -> String {
        guard let current = try activeVersion(db, name: name) else {
            throw Refusal.conflict("policy \(name) has no active version")
        }
        try db.execute(sql: "UPDATE policy_versions SET status = 'retired' WHERE name = ? AND version = ?", arguments: [name, current])
        try record(db, name: name, version: current, change: "deactivated", actor: actor, at: now, data: [:])
        return current
    }

    /// Runs `version` in shadow: evaluated beside the active version on every live event of
    /// `eventTypes` (the types it decides), never deciding anything. A version already in
    /// shadow for this policy is stopped first. Returns the run's id.
    @discardableResult
    public static func shadow(_ db: Database, name: String, version: String, eventTypes: [String], by actor: String,
                              at now: Date = Date()) throws -> Int64 {
        guard try exists(db, name: name, version: version) else {
            throw Refusal.notFound("policy \(name) has no version \(version)")
        }
        if try activeVersion(db, name: name) == version {
            throw Refusal.conflict("version \(version) of \(name) is the active version; shadow a candidate instead")
        }
        if let running = try Int64.fetchOne(db, sql: "SELECT id FROM policy_shadows WHERE name = ? AND version = ? AND stopped_at IS NULL",
                                            arguments: [name, version]) {
            return running
        }
        if try shadowVersion(db, name: name) != nil { try stopShadow(db, name: name, by: actor, at: now) }
        let at = Timestamp.format(now)
        try db.execute(sql: "UPDATE policy_versions SET status = 'shadow' WHERE name = ? AND version = ?", arguments: [name, version])
        try db.execute(sql: """
            INSERT INTO policy_shadows (name, version, event_types, started_by, started_at) VALUES (?, ?, ?, ?, ?)
            """, arguments: [name, version, CanonicalJSON.string(.array(eventTypes.map(JSONValue.string))), actor, at])
        let id = db.lastInsertedRowID
        try record(db, name: name, version: version, change: "shadowed", actor: actor, at: now,
                   data: ["event_types": .array(eventTypes.map(JSONValue.string))])
        return id
    }

    /// Stops the shadow run of a policy. The version goes back to `draft` (or `retired` if it
    /// was active once). Returns the version.
    @discardableResult
    public static func stopShadow(_ db: Database, name: String, by actor: String, at now: Date = Date()) throws -> String {
        guard let version = try shadowVersion(db, name: name) else {
            throw Refusal.conflict("policy \(name) has no version in shadow")
        }
        let at = Timestamp.format(now)
        try db.execute(sql: """
            UPDATE policy_versions SET status = CASE WHEN activated_at IS NULL THEN 'draft' ELSE 'retired' END
            WHERE name = ? AND version = ?
            """, arguments: [name, version])
        try db.execute(sql: "UPDATE policy_shadows SET stopped_by = ?, stopped_at = ? WHERE name = ? AND stopped_at IS NULL",
                       arguments: [actor, at, name])
        try record(db, name: name, version: version, change: "shadow_stopped", actor: actor, at: now, data: [:])
        return version
    }

    public static func shadowVersion(_ db: Database, name: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT version FROM policy_versions WHERE name = ? AND status = 'shadow'", arguments: [name])
    }

    /// The versions running in shadow, each with its run's id.
    public static func shadowSources(_ db: Database) throws -> [(run: Int64, source: StoredPolicySource)] {
        try Row.fetchAll(db, sql: """
            SELECT s.id, v.name, v.version, v.file, v.source FROM policy_shadows s
            JOIN policy_versions v ON v.name = s.name AND v.version = s.version
            WHERE s.stopped_at IS NULL ORDER BY v.name
            """).map { (run: $0["id"], source: StoredPolicySource(row: $0)) }
    }

    /// A stored version's source (nil when unknown).
    public static func source(_ db: Database, name: String, version: String) throws -> StoredPolicySource? {
        try Row.fetchOne(db, sql: "SELECT name, version, file, source FROM policy_versions WHERE name = ? AND version = ?",
                         arguments: [name, version])
            .map { StoredPolicySource(row: $0) }
    }

    static func record(_ db: Database, name: String, version: String, change: String, actor: String, at now: Date,
                       data: [String: JSONValue]) throws {
        try db.execute(sql: """
            INSERT INTO policy_version_history (name, version, change, actor, at) VALUES (?, ?, ?, ?, ?)
            """, arguments: [name, version, change, actor, Timestamp.format(now)])
        var fields = data
        fields["version"] = .string(version)
        try AuditLog.append(db, actor: actor, kind: "policy.\(change)", subject: name, data: .object(fields), at: now)
    }

    public static func activeVersion(_ db: Database, name: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT version FROM policy_versions WHERE name = ? AND status = 'active'", arguments: [name])
    }

    /// The sources of every active version: what the engine runs.
    public static func activeSources(_ db: Database) throws -> [StoredPolicySource] {
        try Row.fetchAll(db, sql: "SELECT name, version, file, source FROM policy_versions WHERE status = 'active' ORDER BY name")
            .map { StoredPolicySource(row: $0) }
    }

    // MARK: Reading

    /// Each policy with its active version, shadow version and drafts.
    public static func list(_ db: Database) throws -> [PolicySummary] {
        let rows = try Row.fetchAll(db, sql: "SELECT name, version, status, published_at FROM policy_versions ORDER BY name, published_at")
        var order: [String] = []
        var byName: [String: PolicySummary] = [:]
        for row in rows {
            let name: String = row["name"]
            if byName[name] == nil {
                order.append(name)
                byName[name] = PolicySummary(name: name, activeVersion: nil, shadowVersion: nil, drafts: [], versionCount: 0,
                                             pendingProposal: nil)
            }
            let version: String = row["version"]
            switch row["status"] as String {
            case "active": byName[name]?.activeVersion = version
            case "shadow": byName[name]?.shadowVersion = version
            case "draft": byName[name]?.drafts.append(version)
            default: break
            }
            byName[name]?.versionCount += 1
        }
        return try order.map { name in
            var summary = byName[name]!
            summary.pendingProposal = try pendingProposal(db, name: name)
            return summary
        }
    }

    /// A policy's versions, newest first (nil when the policy is unknown).
    public static func versions(_ db: Database, name: String) throws -> [PolicyVersionSummary]? {
        let rows = try Row.fetchAll(db, sql: """
            SELECT name, version, file, status, published_by, published_at, activated_at FROM policy_versions
            WHERE name = ? ORDER BY published_at DESC, version
            """, arguments: [name])
        return rows.isEmpty ? nil : rows.map(summary)
    }

    static func summary(_ row: Row) -> PolicyVersionSummary {
        PolicyVersionSummary(name: row["name"], version: row["version"], file: row["file"], status: row["status"],
                             publishedBy: row["published_by"], publishedAt: row["published_at"], activatedAt: row["activated_at"])
    }

    /// One version with its source, tests and the history of its status.
    public static func version(_ db: Database, name: String, version: String) throws -> PolicyVersionDetail? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM policy_versions WHERE name = ? AND version = ?",
                                         arguments: [name, version]) else { return nil }
        let history = try Row.fetchAll(db, sql: """
            SELECT change, actor, at FROM policy_version_history WHERE name = ? AND version = ? ORDER BY id
            """, arguments: [name, version]).map { PolicyVersionDetail.Step(change: $0["change"], actor: $0["actor"], at: $0["at"]) }
        let tests = Decisions.json(row["tests"])
        return PolicyVersionDetail(summary: summary(row), source: row["source"], tests: tests == .null ? nil : tests, history: history)
    }
}
