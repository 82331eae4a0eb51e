import Foundation

/// The controls on review items, enforced here and only here: no self-review, one claimer at
/// a time, approval limits, distinct approvers, one final outcome.
public enum ReviewRules {
    public static func apply(_ command: ReviewCommand, to item: ReviewItem, by reviewer: Reviewer, now: Date,
                             settings: ReviewSettings) throws(Refusal) -> ReviewTransition {
        if item.state.isDecided {
            throw Refusal.conflict("this item is already \(item.state.rawValue); nothing more can be done with it")
        }
        let claimant = item.claimant(at: now)
        let claimUntil = now.addingTimeInterval(TimeInterval(settings.claimSeconds))
        switch command {
        case .claim:
            try mayReview(item, reviewer)
            if let claimant, claimant != reviewer.id {
                throw Refusal.conflict("this item is claimed by \(claimant) until \(Timestamp.format(item.claimExpiresAt!)); wait for them to release it or for the claim to expire")
            }
            return ReviewTransition(state: .claimed, claimedBy: reviewer.id, claimExpiresAt: claimUntil)

        case .release:
            guard let claimant else { throw Refusal.conflict("this item is not claimed") }
            guard claimant == reviewer.id || reviewer.isAdmin else {
                throw Refusal.forbidden("only \(claimant), who claimed this item, or an admin can release it")
            }
            return ReviewTransition(state: item.unclaimedState)

        case .assign(let target, _):
            guard reviewer.isAdmin else { throw Refusal.forbidden("only an admin can reassign an item") }
            try mayReview(item, target)
            return ReviewTransition(state: .claimed, claimedBy: target.id, claimExpiresAt: claimUntil)

        case .reject(let comment):
            try mayReview(item, reviewer)
            try mayDecide(claimant, reviewer)
            if comment.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw Refusal.invalid("comment", "a rejection needs a comment saying why")
            }
            return ReviewTransition(state: .rejected)

        case .approve(_, let amountMinor):
            try mayReview(item, reviewer)
            try mayDecide(claimant, reviewer)
            let proposed = item.proposedMoney
            var agreed = proposed
            // Several currencies: approved whole (there is no one amount to lower).
            let single = proposed.count == 1 ? proposed.first : nil
            if let amountMinor {
                guard !proposed.isEmpty else {
                    throw Refusal.invalid("amount_minor", "this item proposes no money, so there is no amount to lower")
                }
                guard let single else {
                    throw Refusal.invalid("amount_minor", "this item moves money in \(proposed.keys.sorted().joined(separator: " and ")); approve it whole or reject it")
                }
                guard amountMinor > 0 else {
                    throw Refusal.invalid("amount_minor", "must be a positive number of minor units; to pay nothing, reject")
                }
                guard amountMinor <= single.value else {
                    throw Refusal.invalid("amount_minor", "\(ReviewItem.describe(amountMinor, single.key)) is more than the \(ReviewItem.describe(single.value, single.key)) proposed; a reviewer may approve less, never more")
                }
                agreed[single.key] = amountMinor
            }
            // With several approvers each agrees to at most their amount: the lowest stands.
            if let single, let earlier = item.approvals.compactMap(\.amountMinor).min() {
                agreed[single.key] = min(earlier, agreed[single.key] ?? earlier)
            }
            if let limits = reviewer.approvalLimits {
                for (currency, minor) in agreed.sorted(by: { $0.key < $1.key }) {
                    guard let limit = limits[currency] else {
                        throw Refusal.forbidden("you have no approval limit in \(currency), so you cannot approve \(ReviewItem.describe(minor, currency)); leave the item to a reviewer with one")
                    }
                    if minor > limit {
                        throw Refusal.forbidden("approving \(ReviewItem.describe(minor, currency)) is over your approval limit of \(ReviewItem.describe(limit, currency)); approve a lower amount or leave the item to a reviewer with a higher limit")
                    }
                }
            }
            let agreedSingle = single.flatMap { agreed[$0.key] }
            let approval = ReviewApproval(reviewer: reviewer.id, amountMinor: agreedSingle)
            guard item.approvals.count + 1 >= item.approvalsRequired else {
                // Not the last approval: the claim is released for the next, different reviewer.
                return ReviewTransition(state: item.unclaimedState, approval: approval)
            }
            let actions = try scale(item.proposedActions, to: agreed, from: proposed)
            return ReviewTransition(state: .approved, approval: approval, approvedActions: actions, approvedAmountMinor: agreedSingle)
        }
    }

    /// Nobody reviews what they submitted, and every approval on one item is by someone else.
    static func mayReview(_ item: ReviewItem, _ reviewer: Reviewer) throws(Refusal) {
        if item.submittedBy == reviewer.id {
            throw Refusal.forbidden("\(reviewer.id) submitted this request and so cannot review it; another reviewer must")
        }
        if item.approvals.contains(where: { $0.reviewer == reviewer.id }) {
            throw Refusal.forbidden("\(reviewer.id) has already approved this item; it needs \(item.approvalsRequired) approvals from different reviewers")
        }
    }

    /// A claimed item is decided only by its claimer; an unclaimed one by any reviewer.
    static func mayDecide(_ claimant: String?, _ reviewer: Reviewer) throws(Refusal) {
        if let claimant, claimant != reviewer.id {
            throw Refusal.conflict("this item is claimed by \(claimant); only they can decide it while the claim holds")
        }
    }

    /// The proposed actions with the money actions of each currency scaled from `proposed`
    /// down to `agreed` in proportion. Each share is rounded down, and the minor units left
    /// over go one each to the actions with the largest remainders (a share with a remainder
    /// is below its proposed amount, so one more unit never lifts it above): the total is
    /// exact and no action ever exceeds what was proposed for it.
    static func scale(_ actions: [JSONValue], to agreed: [String: Int64], from proposed: [String: Int64]) throws(Refusal) -> [JSONValue] {
        var scaled = actions
        for (currency, total) in proposed.sorted(by: { $0.key < $1.key }) {
            guard let target = agreed[currency], target != total, total > 0 else { continue }
            let indices = actions.indices.filter { ReviewItem.movesMoney(actions[$0]) && actions[$0]["currency"]?.stringValue == currency }
            var shares: [(index: Int, original: Int64, amount: Int64, remainder: Int64)] = []
            for i in indices {
                let original = actions[i]["amount_minor"]?.intValue ?? 0
                // original × target / total, exactly: both are below 10^15, the product fits 128 bits.
                let product = original.multipliedFullWidth(by: target)
                let (quotient, remainder) = total.dividingFullWidth(product)
                shares.append((i, original, quotient, remainder))
            }
            var left = target - shares.reduce(0) { $0 + $1.amount }
            for n in shares.indices.sorted(by: { shares[$0].remainder > shares[$1].remainder || (shares[$0].remainder == shares[$1].remainder && $0 < $1) }) where left > 0 {
                shares[n].amount += 1
                left -= 1
            }
            for share in shares {
                guard share.amount > 0 else {
                    throw Refusal.invalid("amount_minor", "\(ReviewItem.describe(target, currency)) is too small to split across the \(shares.count) money actions proposed")
                }
                guard var fields = actions[share.index].objectValue else { continue }
                fields["amount_minor"] = .int(share.amount)
                fields["proposed_amount_minor"] = .int(share.original)
                scaled[share.index] = .object(fields)
            }
        }
        return scaled
    }
}
