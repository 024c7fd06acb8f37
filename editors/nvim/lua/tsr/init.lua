-- tsr-lsp for Neovim (0.7+, including Debian's 0.7.2).
-- Starts one tsr-lsp client per project root and offers :TsrAsk, :TsrRoute, :TsrStatus.
local M = {}

M.config = {
  cmd = { "tsr-lsp" },
  filetypes = nil, -- nil: every file with a filetype
  root_markers = { ".tsr", ".git" },
  settings = {}, -- sent as initializationOptions and as the `tsr` configuration section
}

local clients = {} -- root dir -> client id
local streams = {} -- partial result token -> callback(value)
local next_token = 0

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

--- Start (or reuse) the client for this buffer's project and attach the buffer.
function M.attach(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local root = find_root(bufnr)
  local id = clients[root]
  if id == nil or vim.lsp.get_client_by_id(id) == nil then
    id = vim.lsp.start_client({
      name = "tsr-lsp",
      cmd = M.config.cmd,
      root_dir = root,
      workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
      init_options = M.config.settings,
      settings = { tsr = M.config.settings },
      handlers = { ["$/progress"] = progress_handler, ["window/showMessage"] = message_handler },
    })
    if id == nil then
      vim.notify("tsr-lsp: could not start " .. table.concat(M.config.cmd, " "), vim.log.levels.ERROR)
      return nil
    end
    clients[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

--- The tsr-lsp client of the current buffer, if attached.
function M.client(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  for _, client in pairs(vim.lsp.buf_get_clients(bufnr)) do
    if client.name == "tsr-lsp" then
      return client
    end
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
    client.request("tsr/route", { text = text, language = vim.bo.filetype }, function(err, result)
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
    client.request("tsr/generate", params, function(err, result)
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
    client.request("tsr/status", {}, function(err, result)
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

function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", M.config, opts or {})
  local group = vim.api.nvim_create_augroup("tsr_lsp", { clear = true })
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
end

return M
