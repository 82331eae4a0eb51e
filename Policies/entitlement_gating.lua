-- Entitlements: a feature is granted when the account's tier includes it and the account is in
-- good standing.
--
--   * suspended or closed accounts             -> reject
--   * accounts Arbiter does not know           -> review (entitlements)
--   * past-due accounts                        -> review
--   * a feature the account already has        -> nothing to do
--   * a feature the tier includes              -> approve: grant it
--   * a feature the tier does not include      -> review (an upgrade conversation for sales)

local FEATURES_BY_TIER = {
  free = { "api" },
  standard = { "api", "sso", "exports" },
  premium = { "api", "sso", "exports", "audit_log", "priority_support" },
  enterprise = { "api", "sso", "exports", "audit_log", "priority_support", "sandbox", "custom_roles" },
}

-- FEATURES_BY_TIER as sets, built once: INCLUDED.premium.sso == true
local INCLUDED = {}
for tier, features in pairs(FEATURES_BY_TIER) do
  INCLUDED[tier] = {}
  for _, feature in ipairs(features) do INCLUDED[tier][feature] = true end
end

return {
  name = "entitlement_gating",
  on = { "entitlement.requested" },
  priority = 100,

  decide = function(event, ctx)
    local feature = event.payload.feature
    local account = ctx.account

    if account.status == "suspended" or account.status == "closed" then
      return reject{ reasons = { "account is " .. account.status .. ": no new features" } }
    end
    if account.status == "unknown" then
      return review{ queue = "entitlements", reasons = { "account " .. account.id .. " is unknown to Arbiter" }, actions = { entitlement_grant{ feature = feature } } }
    end
    if account.status == "past_due" then
      return review{ queue = "entitlements", reasons = { "account is past due: " .. feature .. " needs a person" }, actions = { entitlement_grant{ feature = feature } } }
    end
    for _, has in ipairs(account.entitlements) do
      if has == feature then
        return approve{ reasons = { "account already has " .. feature } }
      end
    end
    local included = INCLUDED[account.tier]
    if included ~= nil and included[feature] then
      return approve{
        reasons = { feature .. " is included in the " .. account.tier .. " tier" },
        actions = { entitlement_grant{ feature = feature } },
      }
    end
    return review{ queue = "entitlements", reasons = { feature .. " is not included in the " .. tostring(account.tier) .. " tier" },
                   actions = { entitlement_grant{ feature = feature } } }
  end,
}
