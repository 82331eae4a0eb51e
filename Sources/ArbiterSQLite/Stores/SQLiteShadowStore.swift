import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import Foundation
import GRDB

/// Shadow differences, through the group committer.
public struct SQLiteShadowStore: ShadowStore {
    let committer: GroupCommitter

    public init(committer: GroupCommitter) {
        self.committer = committer
    }

    public func record(_ difference: ShadowDifference) async throws {
        try await committer.submit { db, _ in try ShadowRuns.record(db, difference) }
    }
}
