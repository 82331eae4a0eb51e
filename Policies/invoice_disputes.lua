-- Invoice disputes: small disputes from customers in good standing are settled with a credit
-- memo for the disputed amount; every other dispute is looked at by a person.
--
--   * a dispute in another currency than the account's         -> review (disputes queue)
--   * accounts that are not active, or unknown                  -> review
--   * an account with 3 or more disputes already open           -> review by two reviewers
--   * a dispute of at most 25.00 with no other dispute open     -> approve: credit the invoice
--   * anything else                                             -> review

local SETTLE_UP_TO = 2500          -- 25.00: largest dispute settled without review
local MANY_OPEN_DISPUTES = 3

local function settlement(p)
  return credit_memo{ amount_minor = p.amount_minor, currency = p.currency, invoice_id = p.invoice_id, memo = "dispute: " .. p.reason }
end

-- A review proposes settling with a credit memo (a reviewer may approve a lower amount, or
-- reject); none when the currency differs from the account's.
local function review_dispute(p, reason, approvals, propose)
  return review{ queue = "disputes", reasons = { reason }, sla_hours = 48, approvals_required = approvals or 1,
                 actions = propose ~= false and { settlement(p) } or nil }
end

return {
  name = "invoice_disputes",
  on = { "invoice.disputed" },
  priority = 100,

  decide = function(event, ctx)
    local p = event.payload
    local account, history = ctx.account, ctx.history
    local amount, currency = p.amount_minor, p.currency

    if account.currency ~= nil and account.currency ~= null and account.currency ~= currency then
      return review_dispute(p, "dispute currency " .. currency .. " differs from account currency " .. account.currency, 1, false)
    end
    if account.status ~= "active" then
      return review_dispute(p, "account is " .. account.status .. ": disputes need a person")
    end
    if history.open_disputes >= MANY_OPEN_DISPUTES then
      return review_dispute(p, history.open_disputes .. " disputes already open on this account", 2)
    end
    if amount <= SETTLE_UP_TO and history.open_disputes == 0 then
      return approve{
        reasons = { "dispute of " .. money(amount, currency) .. " on " .. p.invoice_id .. " settled: small and the only one open" },
        actions = { settlement(p) },
      }
    end
    return review_dispute(p, "dispute of " .. money(amount, currency) .. " on " .. p.invoice_id .. " needs a person")
  end,
}
