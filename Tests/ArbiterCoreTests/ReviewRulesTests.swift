import ArbiterCore
import Foundation
import Testing

/// The controls on review items and the maker-checker rule, as pure rules.
@Suite(.timeLimit(.minutes(1))) struct ReviewRulesTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let settings = ReviewSettings()

    static func item(approvalsRequired: Int = 1, approvals: [ReviewApproval] = [], claimedBy: String? = nil,
                     actions: [JSONValue] = [["type": "credit_memo", "amount_minor": 150_000, "currency": "USD"]]) -> ReviewItem {
        ReviewItem(id: "rev_1", queue: "credits", state: claimedBy == nil ? .open : .claimed, submittedBy: "agent",
                   approvalsRequired: approvalsRequired, approvals: approvals, claimedBy: claimedBy,
                   claimExpiresAt: claimedBy == nil ? nil : now.addingTimeInterval(600), escalatedAt: nil, proposedActions: actions)
    }

    static func reviewer(_ id: String, limit: Int64? = nil, admin: Bool = false) -> Reviewer {
        Reviewer(id: id, isAdmin: admin, approvalLimits: limit.map { ["USD": $0] })
    }

    static func refusal(_ command: ReviewCommand, _ item: ReviewItem, by reviewer: Reviewer) -> Refusal? {
        do {
            _ = try ReviewRules.apply(command, to: item, by: reviewer, now: now, settings: settings)
            return nil
        } catch {
            return error
        }
    }

    @Test func nobodyReviewsWhatTheySubmitted() {
        let refused = Self.refusal(.approve(comment: nil, amountMinor: nil), Self.item(), by: Self.reviewer("agent"))
        #expect(refused?.kind == .forbidden)
        #expect(refused.map { "\($0)" }?.contains("agent submitted this request and so cannot review it") == true)
    }

    @Test func oneClaimerAtATime() {
        let claimed = Self.item(claimedBy: "alice")
        #expect(Self.refusal(.claim, claimed, by: Self.reviewer("bob"))?.kind == .conflict)
        #expect(Self.refusal(.approve(comment: nil, amountMinor: nil), claimed, by: Self.reviewer("bob"))?.kind == .conflict)
        #expect(Self.refusal(.release, claimed, by: Self.reviewer("bob"))?.kind == .forbidden)
        #expect(Self.refusal(.release, claimed, by: Self.reviewer("root", admin: true)) == nil, "an admin may release it")
        var expired = claimed
        expired.claimExpiresAt = Self.now.addingTimeInterval(-1)
        #expect(Self.refusal(.claim, expired, by: Self.reviewer("bob")) == nil, "an expired claim holds nobody off")
    }

    @Test func approvalLimitsAndLowerAmounts() throws {
        let item = Self.item()
        #expect(Self.refusal(.approve(comment: nil, amountMinor: nil), item, by: Self.reviewer("bob", limit: 100_000))?.kind == .forbidden)
        let lowered = try ReviewRules.apply(.approve(comment: nil, amountMinor: 90_000), to: item, by: Self.reviewer("bob", limit: 100_000),
                                            now: Self.now, settings: Self.settings)
        #expect(lowered.state == .approved && lowered.approvedAmountMinor == 90_000)
        #expect(lowered.approvedActions?.first?["amount_minor"] == 90_000)
        #expect(lowered.approvedActions?.first?["proposed_amount_minor"] == 150_000)
        #expect(Self.refusal(.approve(comment: nil, amountMinor: 150_001), item, by: Self.reviewer("carol"))?.kind == .invalid, "never more")
        #expect(Self.refusal(.approve(comment: nil, amountMinor: 0), item, by: Self.reviewer("carol"))?.kind == .invalid)
        let euro = Reviewer(id: "eve", isAdmin: false, approvalLimits: ["EUR": 1_000_000])
        #expect(Self.refusal(.approve(comment: nil, amountMinor: nil), item, by: euro)?.kind == .forbidden, "no limit in USD")
    }

    @Test func fourEyesNeedDistinctApproversAndTheLowestAmountStands() throws {
        let first = try ReviewRules.apply(.approve(comment: nil, amountMinor: 120_000), to: Self.item(approvalsRequired: 2),
                                          by: Self.reviewer("alice"), now: Self.now, settings: Self.settings)
        #expect(first.state == .open && first.approvedActions == nil, "waits for a second reviewer")
        let afterFirst = Self.item(approvalsRequired: 2, approvals: [try #require(first.approval)])
        #expect(Self.refusal(.approve(comment: nil, amountMinor: nil), afterFirst, by: Self.reviewer("alice"))?.kind == .forbidden)
        let second = try ReviewRules.apply(.approve(comment: nil, amountMinor: nil), to: afterFirst, by: Self.reviewer("bob"),
                                           now: Self.now, settings: Self.settings)
        #expect(second.state == .approved && second.approvedAmountMinor == 120_000)
    }

    @Test func aRejectionNeedsACommentAndADecidedItemIsFinal() {
        #expect(Self.refusal(.reject(comment: "  "), Self.item(), by: Self.reviewer("bob"))?.kind == .invalid)
        var decided = Self.item()
        decided.state = .approved
        #expect(Self.refusal(.claim, decided, by: Self.reviewer("bob"))?.kind == .conflict)
    }

    /// Scaling a lowered approval over several actions is exact and never exceeds what was
    /// proposed for one action.
    @Test func scalingSplitsTheAgreedAmountExactly() throws {
        let actions: [JSONValue] = [
            ["type": "credit_memo", "amount_minor": 333, "currency": "USD"],
            ["type": "credit_memo", "amount_minor": 333, "currency": "USD"],
            ["type": "credit_memo", "amount_minor": 334, "currency": "USD"],
            ["type": "account_suspension"],
        ]
        let done = try ReviewRules.apply(.approve(comment: nil, amountMinor: 500), to: Self.item(actions: actions), by: Self.reviewer("bob"),
                                         now: Self.now, settings: Self.settings)
        let amounts = try #require(done.approvedActions).compactMap { $0["amount_minor"]?.intValue }
        #expect(amounts.reduce(0, +) == 500)
        #expect(zip(amounts, [333, 333, 334]).allSatisfy { $0 <= $1 })
        #expect(done.approvedActions?.last == ["type": "account_suspension"], "other actions untouched")
    }

    @Test func makerCheckerNeverLetsTheProposerApprove() {
        #expect(throws: Refusal.self) { try MakerChecker.mayApprove(.activate, proposedBy: "ann", approver: "ann") }
        #expect(throws: Never.self) { try MakerChecker.mayApprove(.rollback, proposedBy: "ann", approver: "ben") }
    }
}
