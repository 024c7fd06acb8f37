-- Drives the tsr Neovim plugin headless, as a user would, and writes what happened to
-- $TSR_NVIM_OUT (JSON). $TSR_SCENARIO picks the steps. Steps run in a coroutine that yields
-- back to Neovim's main loop between keys, so typed keys go through insert mode for real
-- (TextChangedI, mappings, timers, LSP replies) rather than being faked.
local out_path = os.getenv("TSR_NVIM_OUT")
local scenario = os.getenv("TSR_SCENARIO") or "basic"
local results = { errors = {}, notifications = {}, scenario = scenario }

vim.notify = function(msg, level)
  table.insert(results.notifications, { msg = msg, level = level })
end

local function finish()
  local fh = assert(io.open(out_path, "w"))
  fh:write(vim.fn.json_encode(results))
  fh:close()
  vim.cmd("qall!")
end

local co
local function resume()
  local ok, err = coroutine.resume(co)
  if not ok then
    table.insert(results.errors, debug.traceback(co, tostring(err)))
  end
  if coroutine.status(co) == "dead" then
    finish()
  end
end

local function sleep(ms)
  vim.defer_fn(resume, ms)
  coroutine.yield()
end

--- Wait (yielding to the main loop) until pred() is true; false on timeout.
local function wait_until(pred, timeout_ms)
  local deadline = vim.loop.now() + timeout_ms
  while vim.loop.now() < deadline do
    local ok, value = pcall(pred)
    if ok and value then
      return true
    end
    sleep(50)
  end
  return false
end

--- Type keys as a user would (through mappings), then let the main loop run.
local function type_keys(keys, pause_ms)
  vim.api.nvim_input(keys)
  sleep(pause_ms or 30)
end

--- A request from the driver itself; waits for the reply.
local function request(client, method, params)
  local done, res, e = false, nil, nil
  local compat = require("tsr.compat")
  compat.request(client, method, params, function(err, result)
    res, e, done = result, err, true
  end, 0)
  wait_until(function()
    return done
  end, 60000)
  return res, e
end

local tsr

local function open_and_attach(path)
  vim.cmd("edit " .. path)
  local bufnr = vim.api.nvim_get_current_buf()
  local attached = wait_until(function()
    local c = tsr.client(bufnr)
    return (c ~= nil and c.initialized == true) or #results.notifications > 0
  end, 30000)
  local c = tsr.client(bufnr)
  results.attached = attached and c ~= nil and c.initialized == true
  return results.attached, bufnr, c
end

local function extmarks(bufnr)
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, require("tsr.inline").namespace, 0, -1, { details = true })
  local out = {}
  for _, m in ipairs(marks) do
    local d = m[4]
    local text = {}
    for _, chunk in ipairs(d.virt_text or {}) do
      table.insert(text, chunk[1])
    end
    local lines = {}
    for _, vl in ipairs(d.virt_lines or {}) do
      local parts = {}
      for _, chunk in ipairs(vl) do
        table.insert(parts, chunk[1])
      end
      table.insert(lines, table.concat(parts))
    end
    table.insert(out, { row = m[2], col = m[3], text = table.concat(text), lines = lines, pos = d.virt_text_pos })
  end
  return out
end

local function buffer_text(bufnr)
  return table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n")
end

local scenarios = {}

-- Attach, status, route, a streamed ask, :checkhealth.
function scenarios.basic()
  local attached, bufnr, c = open_and_attach(os.getenv("TSR_FILE"))
  if not attached then
    return
  end
  local done = {}
  tsr.status(function(status) results.status = status; done.status = true end)
  tsr.route("Write a Python function that parses a CSV file into a list of dicts", function(d)
    results.route = d; done.route = true
  end)
  tsr.ask("Say hello to Anna", { hidden = true, max_tokens = 12 }, function(res, e, buf)
    results.ask = res
    results.ask_error = e and (e.message or vim.inspect(e)) or nil
    results.ask_buffer = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
    done.ask = true
  end)
  wait_until(function() return done.status and done.route and done.ask end, 120000)
  vim.cmd("checkhealth tsr")
  results.health = buffer_text(0)
  results.capabilities = {
    inline = c.server_capabilities.inlineCompletionProvider ~= nil,
    code_action = c.server_capabilities.codeActionProvider ~= nil,
  }
  results.bufnr = bufnr
end

-- A template file gets a filetype, attaches, gets diagnostics, and a quick fix applies
-- through the ordinary vim.lsp.buf.code_action().
function scenarios.template()
  local attached, bufnr = open_and_attach(os.getenv("TSR_FILE"))
  results.filetype = vim.bo[bufnr].filetype
  if not attached then
    return
  end
  wait_until(function() return #vim.diagnostic.get(bufnr) > 0 end, 30000)
  results.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    table.insert(results.diagnostics, { lnum = d.lnum, col = d.col, message = d.message, code = d.code })
  end
  local want = os.getenv("TSR_FIX_TITLE")
  if want and #results.diagnostics > 0 then
    local d = vim.diagnostic.get(bufnr)[1]
    vim.api.nvim_win_set_cursor(0, { d.lnum + 1, d.col })
    local titles = {}
    vim.ui.select = function(items, opts, on_choice)
      for _, it in ipairs(items) do
        local action = it[2] or it.action
        table.insert(titles, action.title)
      end
      for _, it in ipairs(items) do
        local action = it[2] or it.action
        if action.title:find(want, 1, true) then
          return on_choice(it)
        end
      end
      on_choice(nil)
    end
    vim.lsp.buf.code_action()
    local before = buffer_text(bufnr)
    wait_until(function() return buffer_text(bufnr) ~= before end, 30000)
    results.action_titles = titles
    results.fixed = buffer_text(bufnr)
  end
  vim.cmd("checkhealth tsr")
  results.health = buffer_text(0)
end

-- Type in insert mode; ghost text appears as an extmark; the accept key inserts it and its
-- command reaches the server; a partial accept and a dismiss are reported too.
function scenarios.inline()
  local attached, bufnr, client = open_and_attach(os.getenv("TSR_FILE"))
  if not attached then
    return
  end
  results.capability = client.server_capabilities.inlineCompletionProvider ~= nil
  if not results.capability then
    return
  end
  -- record the notifications and commands the plugin sends
  results.sent = {}
  local compat = require("tsr.compat")
  local orig_notify, orig_request = compat.notify, compat.request
  compat.notify = function(cl, method, params)
    if method:match("^tsr/inline") then
      table.insert(results.sent, { method = method, params = params })
    end
    return orig_notify(cl, method, params)
  end
  compat.request = function(cl, method, params, handler, b)
    if method == "workspace/executeCommand" then
      table.insert(results.sent, { method = method, params = params })
    end
    return orig_request(cl, method, params, handler, b)
  end
  local row = tonumber(os.getenv("TSR_ROW"))
  local typed = os.getenv("TSR_TYPE")
  vim.api.nvim_win_set_cursor(0, { row, 0 })
  type_keys("A")
  type_keys(typed, 50)
  local t0 = vim.loop.now()
  results.ghost_seen = wait_until(function() return #extmarks(bufnr) > 0 end, tonumber(os.getenv("TSR_GHOST_WAIT") or "120000"))
  results.ghost_ms = vim.loop.now() - t0
  results.ghost = extmarks(bufnr)
  results.state = require("tsr.inline").debug_state(bufnr)
  results.before_accept = buffer_text(bufnr)
  if results.ghost_seen then
    local keys = os.getenv("TSR_KEYS") or "<M-l>"
    for key in keys:gmatch("[^,]+") do
      type_keys(key, 200)
      results["after_" .. key] = buffer_text(bufnr)
    end
  end
  results.after_accept = buffer_text(bufnr)
  results.mode = vim.api.nvim_get_mode().mode
  type_keys("<Esc>", 100)
  -- what the server remembered
  sleep(500)
  results.inline_stats = request(client, "tsr/inline/stats", {})
  results.memory_stats = request(client, "tsr/memory/stats", {})
end

-- An AI code action through the ordinary vim.lsp.buf.code_action(): the list, the pick,
-- codeAction/resolve (the model runs), the edit applied or the answer document shown.
function scenarios.action()
  local attached, bufnr = open_and_attach(os.getenv("TSR_FILE"))
  if not attached then
    return
  end
  local row = tonumber(os.getenv("TSR_ROW") or "1")
  vim.api.nvim_win_set_cursor(0, { row, 0 })
  local kind = os.getenv("TSR_ACTION_KIND")
  results.offered = {}
  local chosen = false
  vim.ui.select = function(items, _, on_choice)
    for _, it in ipairs(items) do
      local action = it[2] or it.action
      table.insert(results.offered, { title = action.title, kind = action.kind })
    end
    for _, it in ipairs(items) do
      local action = it[2] or it.action
      if action.kind == kind then
        chosen = true
        return on_choice(it)
      end
    end
    on_choice(nil)
  end
  local before = buffer_text(bufnr)
  local buffers = #vim.api.nvim_list_bufs()
  local context = { only = { kind } }
  if require("tsr.compat").has("0.8") then
    vim.lsp.buf.code_action({ context = context })
  else
    vim.lsp.buf.code_action(context)
  end
  results.done = wait_until(function()
    return buffer_text(bufnr) ~= before or #vim.api.nvim_list_bufs() > buffers
      or #results.notifications > 0
  end, 420000)
  results.chosen = chosen
  results.after = buffer_text(bufnr)
  results.opened = {}
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if b ~= bufnr and vim.api.nvim_buf_get_name(b) ~= "" then
      table.insert(results.opened, { name = vim.api.nvim_buf_get_name(b), text = buffer_text(b) })
    end
  end
end

-- Pure Lua units (ghost text logic, position conversion) under this Neovim.
function scenarios.units()
  local ok, err = pcall(dofile, os.getenv("TSR_UNITS"))
  results.units_ok = ok
  results.units_error = not ok and tostring(err) or nil
end

co = coroutine.create(function()
  vim.opt.runtimepath:append(os.getenv("TSR_PLUGIN_DIR"))
  tsr = require("tsr")
  local settings = vim.fn.json_decode(os.getenv("TSR_SETTINGS") or "{}")
  if vim.tbl_isempty(settings) then
    settings = { completion = { maxTokens = 16 } }
  end
  tsr.setup({
    cmd = vim.fn.json_decode(os.getenv("TSR_CMD")),
    settings = settings,
    inline = { debounce_ms = 100 },
  })
  vim.cmd("filetype on")
  scenarios[scenario]()
end)
vim.schedule(resume)
