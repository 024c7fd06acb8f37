-- :checkhealth tsr
local compat = require("tsr.compat")

local M = {}

local health = vim.health or require("health")
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local warn = health.warn or health.report_warn
local err = health.error or health.report_error
local info = health.info or health.report_info

local function template_filetype(tsr)
  local probe = "probe." .. next(tsr.config.template_extensions)
  if compat.has("0.8") then
    local ft = vim.filetype.match({ filename = probe })
    return ft
  end
  -- 0.7: the plugin's own BufRead autocmd sets it; check that it is registered
  local cmds = vim.api.nvim_get_autocmds({ group = "tsr_lsp", event = "BufRead" })
  return #cmds > 0 and "jinja" or nil
end

function M.check()
  start("tsr-lsp")
  local tsr = require("tsr")
  local config = tsr.config
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

  start("tsr-lsp: editor")
  local v = vim.version()
  local native = tsr.inline_backend() ~= require("tsr.inline")
  ok(string.format("Neovim %d.%d.%d: inline completion drawn by %s", v.major, v.minor, v.patch,
    native and "Neovim's own client (vim.lsp.inline_completion)" or "the plugin (extmarks)"))
  local ft = template_filetype(tsr)
  if ft then
    ok("template files (." .. table.concat(vim.tbl_keys(config.template_extensions), ", .") .. ") get filetype " .. ft)
  else
    warn("template files get no filetype, so template linting never starts", { "call require('tsr').setup()" })
  end

  -- :checkhealth opens its own buffer: report on the file buffer the user came from.
  local bufnr = tsr.last_buffer()
  local name = bufnr and vim.api.nvim_buf_get_name(bufnr) or ""
  local client = bufnr and tsr.client(bufnr)
  if client then
    ok(string.format("attached to %s (client id %d)", name ~= "" and vim.fn.fnamemodify(name, ":~:.") or "buffer " .. bufnr, client.id))
    local caps = client.server_capabilities or {}
    if caps.inlineCompletionProvider then
      ok("the server offers inline completion; typing asks " .. (require("tsr.inline").config.auto and "automatically" or "only on the trigger key"))
    else
      info("the server does not offer inline completion (an older tsr-lsp?)")
    end
  elseif name == "" then
    info("no file buffer to check the attachment of")
  else
    warn("not attached to " .. vim.fn.fnamemodify(name, ":~:."), { "call require('tsr').setup() in your init.lua; the buffer needs a filetype" })
  end
end

return M
