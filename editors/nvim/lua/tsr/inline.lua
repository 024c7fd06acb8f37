-- Inline completion (ghost text) for Neovim 0.7-0.11, which have no client for LSP 3.18's
-- textDocument/inlineCompletion: requests debounced on TextChangedI/CursorMovedI (a newer
-- request cancels the older), the first item drawn with extmarks, accept all / word / line
-- and dismiss, and the events the server learns from (the item's command on accept,
-- shown / partially accepted / dismissed notifications). Neovim 0.12+ uses its native client
-- instead (tsr/native.lua). The text logic lives in tsr/ghost.lua.
local compat = require("tsr.compat")
local ghost = require("tsr.ghost")

local M = {}

local api = vim.api
local ns = api.nvim_create_namespace("tsr_inline")
local METHOD = "textDocument/inlineCompletion"

-- Notifications the plugin sends (docs/PROTOCOL.md, "Acceptance events").
M.events = {
  shown = "tsr/inline/didShow",
  partial = "tsr/inline/didPartiallyAccept",
  dismissed = "tsr/inline/didDismiss",
}

-- The cursor rests here: the server evaluates the prompt there before the first request
-- (docs/PROTOCOL.md, "tsr/inline/didFocus"), so the first suggestion comes sooner.
M.FOCUS = "tsr/inline/didFocus"

M.config = {
  auto = true, -- request while typing; false: only the trigger key asks
  debounce_ms = 150,
  hide_during_popup = true, -- no ghost text while the completion popup is open
  highlight = "TsrGhostText",
}

local states = {} -- bufnr -> state
local seq = 0

local function state(bufnr)
  local s = states[bufnr]
  if not s then
    s = { bufnr = bufnr }
    states[bufnr] = s
  end
  return s
end

local function tsr_client(bufnr)
  for _, client in ipairs(compat.clients(bufnr)) do
    if client.name == "tsr-lsp" and compat.server_capabilities(client).inlineCompletionProvider then
      return client
    end
  end
  return nil
end

local function cursor()
  local pos = api.nvim_win_get_cursor(0)
  return pos[1] - 1, pos[2]
end

local function current_line(bufnr, row)
  return api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
end

local function in_insert_mode()
  return api.nvim_get_mode().mode:sub(1, 1) == "i"
end

-- ------------------------------------------------------------------ events to the server
--- Tell the server what happened to a raw LSP item: the events carry the `{id, index}` of
--- the item's command arguments (an item without them is not the server's to learn from).
function M.event(client, event, raw, extra)
  local args = raw and raw.command and raw.command.arguments and raw.command.arguments[1]
  if not (client and type(args) == "table" and args.id) then
    return
  end
  local params = { id = args.id, index = args.index or 0 }
  for k, v in pairs(extra or {}) do
    params[k] = v
  end
  compat.notify(client, M.events[event], params)
end

local function send(s, event, extra)
  local item = s.item
  M.event(item and vim.lsp.get_client_by_id(item.client_id), event, item and item.raw, extra)
end

local function run_command(client, command, bufnr)
  if not command then
    return
  end
  local fn = client.commands and client.commands[command.command] or vim.lsp.commands[command.command]
  if fn then
    fn(command, { bufnr = bufnr, client_id = client.id })
  else
    compat.request(client, "workspace/executeCommand", {
      command = command.command,
      arguments = command.arguments,
    }, function() end, bufnr)
  end
end

-- ------------------------------------------------------------------ drawing
local function expand_tabs(text, bufnr)
  if not text:find("\t", 1, true) then
    return text
  end
  return (text:gsub("\t", string.rep(" ", vim.bo[bufnr].tabstop)))
end

local function hide(s)
  if api.nvim_buf_is_valid(s.bufnr) then
    api.nvim_buf_clear_namespace(s.bufnr, ns, 0, -1)
  end
  s.drawn = false
end

-- Ghost text at the cursor: the first line inline (0.10+) or as an overlay that covers the
-- rest of the line (0.7-0.9, which have no inline virtual text), the other lines as virtual
-- lines below.
local function draw(s, rest, row, col, line, middle_end)
  hide(s)
  local lines = ghost.lines(rest)
  local hl = M.config.highlight
  local first = expand_tabs(lines[1], s.bufnr)
  local tail = line:sub(middle_end + 1)
  local virt_lines = {}
  for i = 2, #lines do
    local chunks = { { expand_tabs(lines[i], s.bufnr), hl } }
    if i == #lines and tail ~= "" then
      table.insert(chunks, { expand_tabs(tail, s.bufnr), "Normal" })
    end
    table.insert(virt_lines, chunks)
  end
  local opts = { virt_lines = #virt_lines > 0 and virt_lines or nil, hl_mode = "combine" }
  local covered = line:sub(col + 1)
  if compat.has("0.10") and col == middle_end then
    opts.virt_text = { { first, hl } }
    opts.virt_text_pos = "inline"
  else
    local chunks = { { first, hl } }
    if #lines == 1 and tail ~= "" then
      table.insert(chunks, { expand_tabs(tail, s.bufnr), "Normal" })
    end
    local width = 0
    for _, chunk in ipairs(chunks) do
      width = width + vim.fn.strdisplaywidth(chunk[1])
    end
    local pad = ghost.padding(width, vim.fn.strdisplaywidth(expand_tabs(covered, s.bufnr)))
    if pad > 0 then
      table.insert(chunks, { string.rep(" ", pad), "Normal" })
    end
    opts.virt_text = chunks
    opts.virt_text_pos = "overlay"
  end
  api.nvim_buf_set_extmark(s.bufnr, ns, row, col, opts)
  s.drawn = true
end

-- ------------------------------------------------------------------ item lifecycle
local function clear(s, reason)
  hide(s)
  if s.item and s.item.shown and reason then -- reason only for the log: the event has none
    send(s, "dismissed")
  end
  s.item = nil
  s.items = nil
end

local function cancel_request(s)
  if s.request then
    local client = vim.lsp.get_client_by_id(s.request.client_id)
    if client and s.request.id then
      compat.cancel(client, s.request.id)
    end
    s.request = nil
  end
  if s.timer then
    s.timer:stop()
    s.timer:close()
    s.timer = nil
  end
end

--- Redraw the current item for the cursor, or drop it when the user typed past it.
--- Returns true when an item is showing.
local function refresh(s)
  local item = s.item
  if not item then
    return false
  end
  local row, col = cursor()
  if row ~= item.row or not in_insert_mode() then
    clear(s, "moved")
    return false
  end
  local line = current_line(s.bufnr, row)
  local r = ghost.remaining(item, line, col)
  if not r then
    clear(s, "typed")
    return false
  elseif r.rest == "" then -- typed all of it by hand
    clear(s, nil)
    return false
  end
  if M.config.hide_during_popup and vim.fn.pumvisible() == 1 then
    hide(s)
    return true
  end
  draw(s, r.rest, row, col, line, r.middle_end)
  if not item.shown then
    item.shown = true
    send(s, "shown")
  end
  return true
end

local function show(s, client, raw_items, req)
  if not raw_items or #raw_items == 0 then
    return
  end
  local enc = compat.encoding(client)
  local items = {}
  for _, raw in ipairs(raw_items) do
    local text = type(raw.insertText) == "table" and raw.insertText.value or raw.insertText
    if type(text) == "string" and text ~= "" then
      local start_col, end_col = req.col, req.col
      if raw.range and raw.range.start.line == req.row and raw.range["end"].line == req.row then
        start_col = compat.byte_col(req.line, raw.range.start.character, enc)
        end_col = compat.byte_col(req.line, raw.range["end"].character, enc)
      end
      local item = ghost.item(text, req.line, start_col, end_col)
      item.prefix = math.max(req.col - start_col, 0) -- bytes of the line prefix in `text`
      item.row = req.row
      item.raw = raw
      item.client_id = client.id
      item.command = raw.command
      table.insert(items, item)
    end
  end
  if #items == 0 then
    return
  end
  s.items = items
  s.index = 1
  s.item = items[1]
  refresh(s)
end

--- Ask the server for items at the cursor. `kind` 1 = invoked (the trigger key), 2 = typing.
function M.request(bufnr, kind)
  bufnr = bufnr or api.nvim_get_current_buf()
  local s = state(bufnr)
  cancel_request(s)
  local client = tsr_client(bufnr)
  if not client or not in_insert_mode() or api.nvim_get_current_buf() ~= bufnr then
    return
  end
  local row, col = cursor()
  local line = current_line(bufnr, row)
  local req = { row = row, col = col, line = line, tick = api.nvim_buf_get_changedtick(bufnr) }
  seq = seq + 1
  local my = seq
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = row, character = compat.lsp_col(line, col, compat.encoding(client)) },
    context = { triggerKind = kind or 2 },
  }
  local ok, id = compat.request(client, METHOD, params, function(err, result)
    if s.request and s.request.seq == my then
      s.request = nil
    end
    if err or my ~= seq or api.nvim_get_current_buf() ~= bufnr or not in_insert_mode() then
      return
    end
    local raw_items = result and (result.items or result) or {}
    if s.item then
      clear(s, "replaced")
    end
    -- errors in LSP handlers only reach the LSP log: say it where the user looks
    local shown, e = pcall(show, s, client, raw_items, req)
    if not shown then
      vim.notify("tsr-lsp inline completion: " .. tostring(e), vim.log.levels.ERROR)
    end
  end, bufnr)
  if ok then
    s.request = { client_id = client.id, id = id, seq = my }
  end
end

local function schedule_request(s)
  cancel_request(s)
  if not M.config.auto then
    return
  end
  local timer = vim.loop.new_timer()
  s.timer = timer
  timer:start(M.config.debounce_ms, 0, vim.schedule_wrap(function()
    if s.timer == timer then
      s.timer = nil
      timer:close()
      M.request(s.bufnr, 2)
    end
  end))
end

--- Called on TextChangedI / CursorMovedI: type through the shown item, or ask anew.
function M.on_change(bufnr)
  local s = state(bufnr)
  local row, col = cursor()
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local key = tick .. ":" .. row .. ":" .. col
  if s.last_key == key then
    return
  end
  local moved_only = s.last_tick == tick
  s.last_key, s.last_tick = key, tick
  if moved_only and s.item then -- the cursor moved without typing: the item is off
    clear(s, "moved")
  end
  if refresh(s) then
    return
  end
  schedule_request(s)
end

function M.on_leave(bufnr)
  local s = states[bufnr]
  if s then
    cancel_request(s)
    clear(s, "left")
    s.last_key = nil
  end
end

-- ------------------------------------------------------------------ accepting
-- After the plugin's own edit, the TextChangedI/CursorMovedI it causes is not the user's.
local function remember_position(s, row, col)
  local tick = api.nvim_buf_get_changedtick(s.bufnr)
  s.last_key, s.last_tick = tick .. ":" .. row .. ":" .. col, tick
end

--- Replace bytes start_col..end_col of `row` with `text` and put the cursor after it.
function M.put(bufnr, row, start_col, end_col, text)
  local lines = ghost.lines(text)
  api.nvim_buf_set_text(bufnr, row, start_col, row, end_col, lines)
  local new_row = row + #lines - 1
  local new_col = (#lines == 1 and start_col or 0) + #lines[#lines]
  api.nvim_win_set_cursor(0, { new_row + 1, new_col })
  return new_row, new_col
end

-- The buffer's state when it has an item to act on.
local function active(bufnr)
  local s = states[bufnr or api.nvim_get_current_buf()]
  if s and s.item then
    return s
  end
  return nil
end

--- Whether ghost text is showing in the current buffer (what the keys check first).
function M.visible(bufnr)
  local s = states[bufnr or api.nvim_get_current_buf()]
  return s ~= nil and s.item ~= nil and s.drawn == true
end

-- The item to act on, with what remains of it at the cursor (nil when there is none).
local function at_cursor(bufnr)
  local s = active(bufnr)
  if not s then
    return nil
  end
  local row, col = cursor()
  local r = ghost.remaining(s.item, current_line(s.bufnr, row), col)
  if not r then
    clear(s, "typed")
    return nil
  end
  return s, r, row, col
end

--- Accept the whole item: replace its range with its text, run its command.
function M.accept(bufnr)
  local s, r, row = at_cursor(bufnr)
  if not s then
    return false
  end
  local item = s.item
  hide(s)
  s.item, s.items = nil, nil
  remember_position(s, M.put(s.bufnr, row, #item.head, r.middle_end, r.typed .. r.rest))
  local client = vim.lsp.get_client_by_id(item.client_id)
  if client then
    run_command(client, item.command, s.bufnr)
  end
  return true
end

--- Accept the next "word" or "line" of the item (ghost.take).
function M.accept_part(bufnr, unit)
  local s, r, row, col = at_cursor(bufnr)
  if not s then
    return false
  end
  local item = s.item
  local piece = ghost.take[unit](r.rest)
  if piece == "" or piece == r.rest then
    return M.accept(bufnr)
  end
  local new_row, new_col = M.put(s.bufnr, row, col, col, piece)
  local left = r.rest:sub(#piece + 1)
  s.item = ghost.advance(item, r.rest, piece, current_line(s.bufnr, new_row), new_col)
  s.item.row, s.item.raw, s.item.client_id = new_row, item.raw, item.client_id
  s.item.command, s.item.shown, s.item.prefix = item.command, true, item.prefix
  -- characters of the suggestion (after the line prefix) in the buffer so far
  local accepted = item.full:sub(item.prefix + 1, ghost.accepted(item, left))
  send(s, "partial", { acceptedLength = compat.lsp_len(accepted, "utf-32") })
  remember_position(s, new_row, new_col)
  refresh(s)
  return true
end

function M.dismiss(bufnr)
  local s = active(bufnr)
  if not s then
    return false
  end
  cancel_request(s)
  clear(s, "dismissed")
  return true
end

--- Show the next item of an invoked request (up to 3 come back).
function M.next(bufnr)
  local s = active(bufnr)
  if not (s and s.items and #s.items > 1) then
    return false
  end
  s.index = s.index % #s.items + 1
  s.item = s.items[s.index]
  refresh(s)
  return true
end

function M.toggle()
  M.config.auto = not M.config.auto
  if not M.config.auto then
    for _, s in pairs(states) do
      cancel_request(s)
    end
  end
  return M.config.auto
end

--- Send the focus hint for the cursor of `bufnr` (when it is the current buffer).
function M.focus(bufnr)
  local client = tsr_client(bufnr)
  if not client or api.nvim_get_current_buf() ~= bufnr then
    return
  end
  local row, col = cursor()
  local line = current_line(bufnr, row)
  compat.notify(client, M.FOCUS, {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = row, character = compat.lsp_col(line, col, compat.encoding(client)) },
  })
end

--- Focus hints for both inline backends: where the user starts typing (InsertEnter), where
--- the cursor rests in normal mode (CursorHold), and on entering the buffer. Not while a
--- suggestion is read in insert mode: the server is then computing the line after it.
function M.attach_focus(bufnr, group)
  if state(bufnr).focus then
    return
  end
  state(bufnr).focus = true
  api.nvim_create_autocmd({ "InsertEnter", "CursorHold", "BufEnter" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.focus(bufnr)
    end,
  })
  vim.schedule(function()
    M.focus(bufnr)
  end)
end

--- Per-buffer autocmds (called when the plugin attaches a buffer).
function M.attach(bufnr, group)
  if state(bufnr).attached then
    return
  end
  state(bufnr).attached = true
  api.nvim_create_autocmd({ "TextChangedI", "CursorMovedI" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.on_change(bufnr)
    end,
  })
  api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.on_leave(bufnr)
    end,
  })
  api.nvim_create_autocmd("BufWipeout", {
    group = group,
    buffer = bufnr,
    callback = function()
      M.on_leave(bufnr)
      states[bufnr] = nil
    end,
  })
end

--- Test and :checkhealth view of a buffer's state.
function M.debug_state(bufnr)
  local s = states[bufnr or api.nvim_get_current_buf()]
  if not s then
    return {}
  end
  return {
    item = s.item and { text = s.item.text, full = s.item.full, row = s.item.row } or nil,
    pending = s.request ~= nil,
    drawn = s.drawn == true,
  }
end

M.namespace = ns

return M
