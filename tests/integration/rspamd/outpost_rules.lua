-- Test rules for outpost's integration tests (test_scanning.py).
-- OUTPOST_SUSPECT (7 points: "add header"): the Subject: says outpost-suspect.
-- OUTPOST_TENANT_BLOCKED (20 points: "reject"): the request header
-- X-Outpost-Tenant that outpost sends names the tenant "blocked", so the
-- tenant's name is seen to reach rspamd and change its verdict.
rspamd_config:register_symbol({
  name = 'OUTPOST_SUSPECT', score = 7.0, group = 'outpost',
  callback = function(task)
    local s = task:get_subject()
    return s ~= nil and s:find('outpost%-suspect') ~= nil
  end
})
rspamd_config:register_symbol({
  name = 'OUTPOST_TENANT_BLOCKED', score = 20.0, group = 'outpost',
  callback = function(task)
    local t = task:get_request_header('X-Outpost-Tenant')
    return t ~= nil and tostring(t) == 'blocked'
  end
})
