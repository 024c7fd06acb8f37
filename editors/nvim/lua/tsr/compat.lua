-- One place for what differs between Neovim 0.7 (Debian 12) and newer releases, so the rest
-- of the plugin calls one function instead of testing versions everywhere.
local M = {}

local cache = {}

--- True on Neovim `version` ("0.8", "0.11", ...) or newer.
function M.has(version)
  if cache[version] == nil then
    cache[version] = vim.fn.has("nvim-" .. version) == 1
  end
  return cache[version]
end

--- Clients attached to a buffer, as a list (buf_get_clients is gone in 0.12).
function M.clients(bufnr)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ bufnr = bufnr })
  end
  local out = {}
  for _, client in pairs(vim.lsp.buf_get_clients(bufnr)) do
    table.insert(out, client)
  end
  return out
end

-- Client methods: plain functions up to 0.10, methods (client:request) from 0.11 on.
function M.request(client, method, params, handler, bufnr)
  if M.has("0.11") then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.notify(client, method, params)
  if M.has("0.11") then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

function M.cancel(client, id)
  if M.has("0.11") then
    return client:cancel_request(id)
  end
  return client.cancel_request(id)
end

function M.server_capabilities(client)
  return client.server_capabilities or {}
end

--- Register file extensions as filetypes. 0.7's vim.filetype.add is only consulted with
--- g:do_filetype_lua set (and 0.7 has no filetype at all for .jinja/.jinja2/.j2), so there an
--- autocmd sets it for buffers with none.
function M.add_filetypes(extensions, group)
  if M.has("0.8") then
    vim.filetype.add({ extension = extensions })
    return
  end
  local patterns = {}
  for ext, _ in pairs(extensions) do
    table.insert(patterns, "*." .. ext)
  end
  vim.api.nvim_create_autocmd({ "BufRead", "BufNewFile" }, {
    group = group,
    pattern = patterns,
    callback = function(args)
      if vim.bo[args.buf].filetype == "" then
        local ext = vim.fn.fnamemodify(args.file, ":e")
        vim.bo[args.buf].filetype = extensions[ext]
      end
    end,
  })
end

-- Positions. LSP counts characters in UTF-16 units (or UTF-8 / UTF-32 when negotiated);
-- Neovim counts bytes. Done by hand because vim.str_utfindex changed signature in 0.11.
local function units(byte, encoding)
  if encoding == "utf-8" then
    return 1
  elseif encoding == "utf-32" then
    return 1
  end
  return byte >= 0xF0 and 2 or 1 -- 4-byte sequences are surrogate pairs in UTF-16
end

local function char_len(byte)
  if byte >= 0xF0 then
    return 4
  elseif byte >= 0xE0 then
    return 3
  elseif byte >= 0xC0 then
    return 2
  end
  return 1
end

--- Byte offset (0-based) in `line` of LSP character `character`.
function M.byte_col(line, character, encoding)
  if encoding == "utf-8" then
    return math.min(character, #line)
  end
  local pos, count = 1, 0
  while pos <= #line and count < character do
    local b = line:byte(pos)
    count = count + units(b, encoding)
    pos = pos + char_len(b)
  end
  return math.min(pos - 1, #line)
end

--- LSP character of byte offset `col` (0-based) in `line`.
function M.lsp_col(line, col, encoding)
  if encoding == "utf-8" then
    return col
  end
  local pos, count = 1, 0
  while pos <= col and pos <= #line do
    local b = line:byte(pos)
    count = count + units(b, encoding)
    pos = pos + char_len(b)
  end
  return count
end

--- Length of `text` in LSP units.
function M.lsp_len(text, encoding)
  return M.lsp_col(text, #text, encoding)
end

function M.encoding(client)
  return client.offset_encoding or "utf-16"
end

return M
