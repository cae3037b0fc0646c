-- Argo CD health check for metricsapp.dev/MetricsApp.
--
-- Installed as argocd-cm's resource.customizations.health.metricsapp.dev_MetricsApp
-- (argocd-cm.yaml holds this file verbatim). Argo CD runs it on gopher-lua (Lua 5.1)
-- with only the base and table libraries: no string or math functions here.
-- Tested by operator/tests/argocd_health.rs against the operator's own status values.

local hs = {}

local function condition(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c)
  local reason = c.reason or ""
  local message = c.message or ""
  if reason == "" then
    return message
  end
  if message == "" then
    return reason
  end
  return reason .. ": " .. message
end

local status = obj.status
local conditions = nil
if status ~= nil then
  conditions = status.conditions
end
local ready = condition(conditions, "Ready")

-- The operator leaves a suspended MetricsApp alone, whatever its other conditions say.
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  if ready ~= nil and ready.reason == "Suspended" then
    hs.message = describe(ready)
  else
    hs.message = "spec.suspend is true; waiting for the operator to observe it"
  end
  return hs
end

if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report the MetricsApp's status"
  return hs
end

-- A status about an older spec says nothing about the current one.
local generation = obj.metadata.generation
local observed = status.observedGeneration
if observed == nil then
  observed = ready.observedGeneration
end
if generation ~= nil and observed ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
    .. " (status describes " .. tostring(observed) .. ")"
  return hs
end

-- Retrying cannot fix a terminal problem: the spec or the AWS resource must change.
local terminal = condition(conditions, "Terminal")
if terminal ~= nil and terminal.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(terminal)
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  -- Transient AWS trouble (throttling, an unavailable endpoint) leaves the app
  -- serving: said in the message, but still Healthy.
  local synced = condition(conditions, "Synced")
  if synced ~= nil and synced.status == "False" then
    hs.message = hs.message .. " (not synced: " .. describe(synced) .. ")"
  end
  return hs
end

-- A failed rollout, rolled back or not, needs a new image: the old one keeps serving.
if ready.reason == "RolledBack" or ready.reason == "RolloutFailed" then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

-- Converging (table, functions, rollout) or retrying a recoverable failure.
hs.status = "Progressing"
hs.message = describe(ready)
return hs
