-- Service credits: which credit requests are approved without a person looking at them.
--
--   * suspended or closed accounts                        -> reject
--   * accounts Arbiter does not know, or that are past due -> review (credits queue)
--   * a credit in another currency than the account's      -> review
--   * a credit within the tier's auto-approval limit (doubled for a sev1 case) that keeps
--     the account within its 90-day cumulative cap          -> approve, with a credit memo
--   * anything else                                         -> review; 1,000.00 or more needs
--     two reviewers
--
-- A review proposes the credit memo a reviewer's approval sends to the ERP (none when the
-- currency differs from the account's: that credit has to be re-requested correctly).
--
-- Amounts are integer minor units in the account's currency.

local AUTO_APPROVE_LIMIT = {   -- largest credit approved without review, per tier
  free = 0,
  standard = 5000,     --   50.00
  premium = 20000,     --  200.00
  enterprise = 50000,  --  500.00
}

local CAP_90D = {              -- most credit an account may receive in 90 days unreviewed
  free = 0,
  standard = 10000,    --  100.00
  premium = 50000,     --  500.00
  enterprise = 150000, -- 1500.00
}

local TWO_REVIEWERS_FROM = 100000   -- 1,000.00

local function credit_memo_for(p)
  return credit_memo{ amount_minor = p.amount_minor, currency = p.currency, memo = p.reason, invoice_id = p.invoice_id }
end

local function review_credit(p, reasons, propose)
  local amount = p.amount_minor
  return review{
    queue = "credits",
    reasons = reasons,
    sla_hours = amount >= TWO_REVIEWERS_FROM and 24 or 8,
    approvals_required = amount >= TWO_REVIEWERS_FROM and 2 or 1,
    actions = propose ~= false and { credit_memo_for(p) } or nil,
  }
end

return {
  name = "credit_thresholds",
  on = { "credit.requested" },
  priority = 100,

  decide = function(event, ctx)
    local p = event.payload
    local account = ctx.account
    local amount, currency = p.amount_minor, p.currency

    if account.status == "suspended" or account.status == "closed" then
      return reject{ reasons = { "account is " .. account.status .. ": no service credits" } }
    end
    if account.status == "unknown" then
      return review_credit(p, { "account " .. account.id .. " is unknown to Arbiter" })
    end
    if account.status == "past_due" then
      return review_credit(p, { "account is past due (" .. account.days_past_due .. " days)" })
    end
    if account.currency ~= nil and account.currency ~= null and account.currency ~= currency then
      return review_credit(p, { "credit currency " .. currency .. " differs from account currency " .. account.currency }, false)
    end

    local tier = account.tier
    local limit = AUTO_APPROVE_LIMIT[tier]
    if limit == nil then
      return review_credit(p, { "tier " .. tostring(tier) .. " has no auto-approval limit" })
    end
    if p.severity == "sev1" then limit = limit * 2 end

    if amount > limit then
      return review_credit(p, {
        "credit of " .. money(amount, currency) .. " is over the " .. tier .. " auto-approval limit of " .. money(limit, currency),
      })
    end

    local after = ctx.history.credits_90d_minor + amount
    if after > CAP_90D[tier] then
      return review_credit(p, {
        "credits in 90 days would reach " .. money(after, currency) .. ", over the " .. tier .. " cap of " .. money(CAP_90D[tier], currency),
      })
    end

    return approve{
      reasons = { "credit of " .. money(amount, currency) .. " is within the " .. tier .. " limit and the 90-day cap" },
      actions = { credit_memo_for(p) },
    }
  end,
}
