import ArbiterCore
import ArbiterSQLite
import Foundation
import GRDB
import Testing

@Suite(.timeLimit(.minutes(5))) struct GroupCommitterTests {
    struct Boom: Error {}

    /// Queues `count` pieces of work before the committer starts, so they share one batch;
    /// the one at `failing` throws after writing.
    func runBatch(count: Int, failing: Int?) async throws -> (AppDatabase, [Result<Int64, any Error>]) {
        let database = try AppDatabase.inMemory()
        let batches = Locked<[Int]>([])
        let committer = GroupCommitter(database: database, onCommit: { size, _ in batches.withLock { $0.append(size) } })
        let results = try await withThrowingTaskGroup(of: (Int, Result<Int64, any Error>).self) { group in
            for i in 0..<count {
                group.addTask {
                    do {
                        let seq = try await committer.submit { db, chain -> Int64 in
                            try chain.append(db, actor: "test", kind: "test.written", subject: "s\(i)", data: ["i": .int(Int64(i))], at: Date())
                            if i == failing { throw Boom() }
                            return chain.lastSeq
                        }
                        return (i, .success(seq))
                    } catch {
                        return (i, .failure(error))
                    }
                }
            }
            // Let every submission queue up, then write.
            while committer.queuedCount < count { await Task.yield() }
            let runner = Task { await committer.run() }
            var collected: [(Int, Result<Int64, any Error>)] = []
            for try await result in group { collected.append(result) }
            committer.stop()
            await runner.value
            return collected.sorted { $0.0 < $1.0 }.map(\.1)
        }
        if failing == nil { #expect(batches.withLock { $0 } == [count]) }
        return (database, results)
    }

    @Test func workQueuedTogetherSharesOneCommitAndSeesEarlierWork() async throws {
        let (database, results) = try await runBatch(count: 5, failing: nil)
        // Each piece of work saw the chain as the previous one left it (in the order they were
        // queued, which the task group does not fix): the seqs are 1 to 5, each once.
        #expect(results.compactMap { try? $0.get() }.sorted() == [1, 2, 3, 4, 5])
        #expect(try await database.verifyAudit() == .intact(count: 5, lastHash: try await database.writer.read { db in
            try String.fetchOne(db, sql: "SELECT hash FROM audit_log WHERE seq = 5")! }))
    }

    @Test func aFailingPieceFailsAloneAndWritesNothing() async throws {
        let (database, results) = try await runBatch(count: 5, failing: 2)
        #expect(results.enumerated().allSatisfy { i, result in
            switch result {
            case .success: i != 2
            case .failure(let error): i == 2 && error is Boom
            }
        })
        // The four others are stored once each, the failing one not at all, the chain intact.
        let subjects = try await database.writer.read { db in try String.fetchAll(db, sql: "SELECT subject FROM audit_log ORDER BY seq") }
        #expect(subjects.sorted() == ["s0", "s1", "s3", "s4"])
        if case .intact(let count, _) = try await database.verifyAudit() { #expect(count == 4) } else { Issue.record("chain broken") }
    }

    @Test func afterStopNewWorkIsRefused() async throws {
        let committer = GroupCommitter(database: try AppDatabase.inMemory())
        committer.stop()
        await committer.run()
        await #expect(throws: ShuttingDown.self) {
            _ = try await committer.submit { _, _ in 1 }
        }
    }
}
