-- Neovim 0.12+: the native inline completion client (vim.lsp.inline_completion) draws and
-- requests; this module maps the plugin's keys onto it and adds what it lacks: accept word /
-- line (through get()'s on_accept), dismiss, and the shown / partial / dismissed events.
-- Accepting all runs the item's command natively (client:exec_cmd).
local compat = require("tsr.compat")
local ghost = require("tsr.ghost")
local inline = require("tsr.inline")

local M = {}

local api = vim.api
local last = {} -- bufnr -> { client_id, items, shown_key }

function M.available()
  local ic = vim.lsp.inline_completion
  return compat.has("0.12") and ic ~= nil and ic.enable ~= nil and ic.get ~= nil
end

local function notify(client_id, event, raw, extra)
  inline.event(vim.lsp.get_client_by_id(client_id), event, raw, extra)
end

local function native_namespace()
  return api.nvim_get_namespaces()["nvim.lsp.inline_completion"]
end

-- The native client keeps its items private: watch our client's inlineCompletion replies
-- to know which item it shows (it shows the first), for the "shown" event.
local function observe(client, bufnr)
  if client._tsr_observed then
    return
  end
  client._tsr_observed = true
  local request = client.request
  client.request = function(self, method, params, handler, buf)
    if method == "textDocument/inlineCompletion" and handler then
      local inner = handler
      handler = function(err, result, ctx, ...)
        inner(err, result, ctx, ...)
        local items = result and (result.items or result) or {}
        local target = buf or bufnr
        local pos = params.position
        local line = api.nvim_buf_get_lines(target, pos.line, pos.line + 1, false)[1] or ""
        last[target] = {
          client_id = client.id,
          items = items,
          prefix = compat.byte_col(line, pos.character, compat.encoding(client)),
        }
        vim.schedule(function()
          local native = native_namespace()
          if #items > 0 and native and #api.nvim_buf_get_extmarks(target, native, 0, -1, {}) > 0 then
            notify(client.id, "shown", items[1])
          end
        end)
      end
    end
    return request(self, method, params, handler, buf)
  end
end

function M.attach(client, bufnr)
  observe(client, bufnr)
  vim.lsp.inline_completion.enable(inline.config.auto, { client_id = client.id })
end

local function first_item(bufnr)
  local l = last[bufnr]
  return l and l.items and l.items[1]
end

function M.accept(bufnr)
  return vim.lsp.inline_completion.get({ bufnr = bufnr })
end

-- Accept the next "word" / "line" of the current item (of what is not yet typed).
function M.accept_part(bufnr, unit)
  local raw = first_item(bufnr)
  local l = last[bufnr]
  return vim.lsp.inline_completion.get({
    bufnr = bufnr,
    on_accept = function(item)
      local text = type(item.insert_text) == "string" and item.insert_text or item.insert_text.value
      local row, col = unpack(api.nvim_win_get_cursor(0))
      row = row - 1
      local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
      local start = item.range and item.range.start.col or col
      local typed = line:sub(start + 1, col)
      local rest = text:sub(1, #typed) == typed and text:sub(#typed + 1) or text
      local piece = ghost.take[unit](rest)
      inline.put(bufnr, row, col, col, piece)
      local client = vim.lsp.get_client_by_id(item.client_id)
      if piece == rest then
        if client and item.command then
          client:exec_cmd(item.command, { bufnr = bufnr })
        end
        return
      end
      -- characters of the suggestion (after the line prefix the request saw) inserted so far
      local prefix = l and l.prefix or #typed
      local accepted = (typed .. piece):sub(prefix + 1)
      notify(item.client_id, "partial", raw, { acceptedLength = compat.lsp_len(accepted, "utf-32") })
    end,
  })
end

function M.dismiss(bufnr)
  local raw = first_item(bufnr)
  return vim.lsp.inline_completion.get({
    bufnr = bufnr,
    on_accept = function(item)
      notify(item.client_id, "dismissed", raw)
    end,
  })
end

function M.next(_)
  vim.lsp.inline_completion.select({ count = 1 })
  return true
end

--- The trigger key: the native client requests on cursor moves in insert mode.
function M.request(bufnr)
  api.nvim_exec_autocmds("CursorMovedI", { buffer = bufnr, modeline = false })
end

function M.toggle()
  local on = inline.toggle()
  for _, client in ipairs(vim.lsp.get_clients({ name = "tsr-lsp" })) do
    vim.lsp.inline_completion.enable(on, { client_id = client.id })
  end
  return on
end

function M.visible(bufnr)
  local native = native_namespace()
  return native ~= nil and #api.nvim_buf_get_extmarks(bufnr, native, 0, -1, {}) > 0
end

return M
