import ArbiterApp
import ArbiterCore

/// Shadow differences, through the group committer.
struct PostgresShadowStore: ShadowStore {
    let committer: PostgresCommitter

    func record(_ difference: ShadowDifference) async throws {
        try await committer.submit(accounts: []) { unit in try await PGShadowRuns.record(unit, difference) }
    }
}
