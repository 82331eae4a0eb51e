-- Successful payments: reinstate a suspended account once its open balance is paid.
--
--   * suspended accounts whose open balance this payment clears -> approve: reinstate
--   * suspended accounts paying in another currency, or with
--     money still open after this payment                        -> review (collections)
--   * any other account                                          -> nothing to do

return {
  name = "payment_reinstatement",
  on = { "payment.succeeded" },
  priority = 100,

  decide = function(event, ctx)
    local p = event.payload
    local account = ctx.account

    if account.status ~= "suspended" then
      return approve{ reasons = { "payment of " .. money(p.amount_minor, p.currency) .. " received; account is " .. account.status } }
    end
    if account.currency ~= nil and account.currency ~= null and account.currency ~= p.currency then
      return review{ queue = "collections", reasons = { "payment in " .. p.currency .. " for a " .. account.currency .. " account: check before reinstating" } }
    end
    local left = account.open_balance_minor - p.amount_minor
    if left > 0 then
      return review{ queue = "collections", reasons = { money(left, p.currency) .. " still open after this payment: reinstate by hand if agreed" } }
    end
    return approve{
      reasons = { "payment of " .. money(p.amount_minor, p.currency) .. " on " .. p.invoice_id .. " clears the open balance: reinstating" },
      actions = { account_reinstatement{ invoice_id = p.invoice_id } },
    }
  end,
}
