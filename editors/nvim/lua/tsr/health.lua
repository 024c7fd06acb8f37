-- :checkhealth tsr
local M = {}

local health = vim.health or require("health")
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local warn = health.warn or health.report_warn
local err = health.error or health.report_error

function M.check()
  start("tsr-lsp")
  local config = require("tsr").config
  local exe = config.cmd[1]
  if vim.fn.executable(exe) ~= 1 then
    err(exe .. " not found on PATH", { "install tsr-lsp (make setup) and put .venv/bin on PATH, or set cmd in setup()" })
    return
  end
  ok("executable: " .. vim.fn.exepath(exe))
  local version = vim.fn.system({ exe, "--version" })
  if vim.v.shell_error == 0 then
    ok(vim.trim(version))
  else
    err("`" .. exe .. " --version` failed: " .. vim.trim(version))
  end
  local doctor = vim.fn.systemlist({ exe, "doctor" })
  for _, line in ipairs(doctor) do
    if line:match("^ok") then
      ok(line:sub(6))
    elseif line:match("^warn") then
      warn(line:sub(6))
    elseif line:match("^FAIL") then
      err(line:sub(6))
    end
  end
  local client = require("tsr").client()
  if client then
    ok("attached to this buffer (client id " .. client.id .. ")")
  else
    warn("not attached to the current buffer", { "call require('tsr').setup() in your init.lua" })
  end
end

return M
