-- tsr-lsp for Neovim (0.7+, including Debian's 0.7.2).
-- Starts one tsr-lsp client per project root, shows inline completions as ghost text
-- (tsr/inline.lua, or Neovim's own client on 0.12+: tsr/native.lua), and offers :TsrAsk,
-- :TsrRoute, :TsrStatus, :TsrInlineToggle, :TsrInlineTrigger. Code actions come through the
-- normal vim.lsp.buf.code_action().
local compat = require("tsr.compat")
local inline = require("tsr.inline")

local M = {}

M.config = {
  cmd = { "tsr-lsp" },
  filetypes = nil, -- nil: every file with a filetype
  root_markers = { ".tsr", ".git" },
  settings = {}, -- sent as initializationOptions and as the `tsr` configuration section
  -- Template files get the filetype "jinja" (0.7 knows none of these extensions).
  template_extensions = { jinja = "jinja", jinja2 = "jinja", j2 = "jinja" },
  inline = {
    auto = true, -- ask while typing (:TsrInlineToggle); false: only the trigger key asks
    debounce_ms = 150,
    native = "auto", -- "auto": Neovim's own client on 0.12+; false: the plugin's everywhere
    hide_during_popup = true,
    -- Insert-mode keys; each falls back to its normal meaning when no ghost text shows.
    -- Set one to false to leave it unmapped.
    keys = {
      accept = "<M-l>",
      accept_word = "<M-Right>",
      accept_line = "<M-Down>",
      dismiss = "<C-]>",
      trigger = "<M-\\>",
      next = "<M-]>",
    },
  },
}

local clients = {} -- root dir -> client id
local streams = {} -- partial result token -> callback(value)
local next_token = 0
local group = nil
local last_buffer = nil -- the last file buffer entered (what :checkhealth reports on)

local function find_root(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local start = name ~= "" and vim.fn.fnamemodify(name, ":p:h") or vim.fn.getcwd()
  for _, marker in ipairs(M.config.root_markers) do
    local dir = vim.fn.finddir(marker, start .. ";")
    if dir ~= "" then
      return vim.fn.fnamemodify(dir, ":p:h:h")
    end
    local file = vim.fn.findfile(marker, start .. ";")
    if file ~= "" then
      return vim.fn.fnamemodify(file, ":p:h")
    end
  end
  return start
end

local function progress_handler(err, result, ctx, config)
  local value = result and result.value
  if type(value) == "table" and value.event ~= nil then
    local cb = streams[result.token]
    if cb then
      cb(value)
    end
    return
  end
  local default = vim.lsp.handlers["$/progress"]
  if default then
    return default(err, result, ctx, config)
  end
end

local function message_handler(_, result)
  if result and result.message then
    local level = ({ vim.log.levels.ERROR, vim.log.levels.WARN, vim.log.levels.INFO, vim.log.levels.DEBUG })[result.type]
    vim.notify(result.message, level or vim.log.levels.INFO)
  end
end

-- window/showDocument for 0.7, which has no handler (explain / ask actions open a document).
local function show_document_handler(_, result)
  if not (result and result.uri) then
    return { success = false }
  end
  if result.external then
    local opener = vim.fn.has("mac") == 1 and "open" or "xdg-open"
    return { success = vim.fn.jobstart({ opener, result.uri }, { detach = true }) > 0 }
  end
  local bufnr = vim.uri_to_bufnr(result.uri)
  vim.fn.bufload(bufnr)
  vim.bo[bufnr].buflisted = true
  if result.takeFocus ~= false then
    vim.cmd("botright split")
    vim.api.nvim_win_set_buf(0, bufnr)
    if result.selection then
      local line = result.selection.start.line
      pcall(vim.api.nvim_win_set_cursor, 0, { line + 1, 0 })
    end
  end
  return { success = true }
end

local function capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument = caps.textDocument or {}
  caps.textDocument.inlineCompletion = caps.textDocument.inlineCompletion or { dynamicRegistration = false }
  caps.window = caps.window or {}
  caps.window.showDocument = { support = true }
  return caps
end

local function use_native()
  local mode = M.config.inline.native
  return mode ~= false and require("tsr.native").available()
end

--- The inline completion backend of this Neovim: the native client (0.12+) or tsr/inline.lua.
function M.inline_backend()
  return use_native() and require("tsr.native") or inline
end

local function on_attach(client, bufnr)
  if not compat.server_capabilities(client).inlineCompletionProvider then
    return
  end
  if use_native() then
    require("tsr.native").attach(client, bufnr)
  else
    inline.attach(bufnr, group)
  end
  inline.attach_focus(bufnr, group)
end

local function client_config(root)
  local handlers = { ["$/progress"] = progress_handler, ["window/showMessage"] = message_handler }
  if not vim.lsp.handlers["window/showDocument"] then
    handlers["window/showDocument"] = show_document_handler
  end
  return {
    name = "tsr-lsp",
    cmd = M.config.cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = M.config.settings,
    settings = { tsr = M.config.settings },
    capabilities = capabilities(),
    handlers = handlers,
    on_attach = on_attach,
  }
end

local function start(root)
  -- vim.lsp.start_client is deprecated from 0.11 on, where vim.lsp.start can start a client
  -- without attaching the current buffer (attach = false).
  if compat.has("0.11") then
    local never = function()
      return false
    end
    local ok, id = pcall(vim.lsp.start, client_config(root), { attach = false, reuse_client = never, silent = true })
    return ok and id or nil
  end
  local ok, id = pcall(vim.lsp.start_client, client_config(root))
  return ok and id or nil
end

--- Start (or reuse) the client for this buffer's project and attach the buffer.
function M.attach(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local root = find_root(bufnr)
  local id = clients[root]
  if id == nil or vim.lsp.get_client_by_id(id) == nil then
    id = start(root)
    if id == nil then
      vim.notify("tsr-lsp: could not start " .. table.concat(M.config.cmd, " "), vim.log.levels.ERROR)
      return nil
    end
    clients[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

--- The tsr-lsp client of a buffer (default: the current one), if attached.
function M.client(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  for _, client in ipairs(compat.clients(bufnr)) do
    if client.name == "tsr-lsp" then
      return client
    end
  end
  return nil
end

local function is_file_buffer(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  return vim.bo[bufnr].buftype == "" and vim.bo[bufnr].filetype ~= "checkhealth" and not name:match("^%a+://")
end

--- The last file buffer the user was in (the current one unless a special buffer such as
--- :checkhealth's is in front).
function M.last_buffer()
  local cur = vim.api.nvim_get_current_buf()
  if is_file_buffer(cur) and vim.api.nvim_buf_get_name(cur) ~= "" then
    return cur
  end
  if last_buffer and vim.api.nvim_buf_is_valid(last_buffer) then
    return last_buffer
  end
  return nil
end

local function with_client(fn)
  local client = M.client() or vim.lsp.get_client_by_id(M.attach() or -1)
  if not client then
    vim.notify("tsr-lsp: no client for this buffer", vim.log.levels.ERROR)
    return
  end
  fn(client)
end

local function error_text(err)
  return type(err) == "table" and (err.message or vim.inspect(err)) or tostring(err)
end

--- Route a text without generating: calls on_done(decision) or notifies.
function M.route(text, on_done)
  with_client(function(client)
    compat.request(client, "tsr/route", { text = text, language = vim.bo.filetype }, function(err, result)
      if err then
        vim.notify("tsr-lsp: " .. error_text(err), vim.log.levels.ERROR)
      elseif on_done then
        on_done(result)
      else
        vim.notify(result.explanation)
      end
    end)
  end)
end

--- Ask: the answer streams into a scratch buffer; on_done(result) gets the final result.
function M.ask(text, opts, on_done)
  opts = opts or {}
  with_client(function(client)
    next_token = next_token + 1
    local token = "tsr-nvim-" .. next_token
    local buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_option(buf, "filetype", "markdown")
    if not opts.hidden then
      vim.cmd("botright split")
      vim.api.nvim_win_set_buf(0, buf)
    end
    local function append(piece)
      local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
      local last = lines[#lines] or ""
      local parts = vim.split(last .. piece, "\n", { plain = true })
      vim.api.nvim_buf_set_lines(buf, #lines - 1, #lines, false, parts)
    end
    streams[token] = function(value)
      if value.event == "decision" then
        vim.api.nvim_buf_set_lines(buf, 0, 1, false, { "<!-- " .. value.explanation .. " -->", "" })
      elseif value.event == "delta" then
        append(value.delta)
      end
    end
    local params = {
      text = text,
      kind = opts.kind or "chat",
      language = vim.bo.filetype,
      maxTokens = opts.max_tokens,
      partialResultToken = token,
    }
    compat.request(client, "tsr/generate", params, function(err, result)
      streams[token] = nil
      if err then
        vim.notify("tsr-lsp: " .. error_text(err), vim.log.levels.ERROR)
      end
      if on_done then
        on_done(result, err, buf)
      end
    end)
  end)
end

function M.status(on_done)
  with_client(function(client)
    compat.request(client, "tsr/status", {}, function(err, result)
      if err then
        vim.notify("tsr-lsp: " .. error_text(err), vim.log.levels.ERROR)
      elseif on_done then
        on_done(result)
      else
        local loaded = {}
        for name, m in pairs(result.models or {}) do
          table.insert(loaded, name .. (m.loaded and " (loaded)" or ""))
        end
        vim.notify(string.format("tsr-lsp %s pid %d, models: %s", result.version, result.pid, table.concat(loaded, ", ")))
      end
    end)
  end)
end

-- Insert-mode keys as expression mappings: act when ghost text shows (scheduled, as buffer
-- changes are not allowed while an expression is evaluated), else type the key itself.
local function map_keys()
  local keys = M.config.inline.keys
  local actions = { -- key name -> backend function and its argument
    accept = { "accept" },
    accept_word = { "accept_part", "word" },
    accept_line = { "accept_part", "line" },
    dismiss = { "dismiss" },
    next = { "next" },
  }
  for name, action in pairs(actions) do
    local lhs = keys[name]
    if lhs then
      vim.keymap.set("i", lhs, function()
        local bufnr = vim.api.nvim_get_current_buf()
        local backend = M.inline_backend()
        if backend.visible(bufnr) then
          vim.schedule(function()
            backend[action[1]](bufnr, action[2])
          end)
          return ""
        end
        return lhs
      end, { expr = true, silent = true, desc = "tsr-lsp inline: " .. name })
    end
  end
  if keys.trigger then
    vim.keymap.set("i", keys.trigger, function()
      M.trigger()
    end, { silent = true, desc = "tsr-lsp inline: ask now" })
  end
end

--- Ask for an inline completion at the cursor now (invoked: up to 3 items).
function M.trigger(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  M.inline_backend().request(bufnr, 1)
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", M.config, opts or {})
  for k, v in pairs(M.config.inline) do
    if inline.config[k] ~= nil then
      inline.config[k] = v
    end
  end
  group = vim.api.nvim_create_augroup("tsr_lsp", { clear = true })
  compat.add_filetypes(M.config.template_extensions, group)
  vim.api.nvim_set_hl(0, "TsrGhostText", { link = "Comment", default = true })
  vim.api.nvim_create_autocmd("BufEnter", {
    group = group,
    callback = function(args)
      if is_file_buffer(args.buf) then
        last_buffer = args.buf
      end
    end,
  })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.config.filetypes or "*",
    callback = function(args)
      if vim.bo[args.buf].buftype == "" then
        M.attach(args.buf)
      end
    end,
  })
  vim.api.nvim_create_user_command("TsrAsk", function(c) M.ask(c.args) end, { nargs = "+" })
  vim.api.nvim_create_user_command("TsrRoute", function(c) M.route(c.args) end, { nargs = "+" })
  vim.api.nvim_create_user_command("TsrStatus", function() M.status() end, {})
  vim.api.nvim_create_user_command("TsrInlineToggle", function()
    local on = M.inline_backend().toggle()
    vim.notify("tsr-lsp: inline completion while typing " .. (on and "on" or "off"))
  end, {})
  vim.api.nvim_create_user_command("TsrInlineTrigger", function() M.trigger() end, {})
  map_keys()
end

return M
