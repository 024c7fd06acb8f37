-- Drives the tsr Neovim plugin headless and writes what happened to $TSR_NVIM_OUT (JSON).
local out_path = os.getenv("TSR_NVIM_OUT")
local results = { errors = {} }

local function finish()
  local fh = assert(io.open(out_path, "w"))
  fh:write(vim.fn.json_encode(results))
  fh:close()
  vim.cmd("qall!")
end

results.notifications = {}
vim.notify = function(msg, level)
  table.insert(results.notifications, { msg = msg, level = level })
end

local ok, err = pcall(function()
  vim.opt.runtimepath:append(os.getenv("TSR_PLUGIN_DIR"))
  local tsr = require("tsr")
  tsr.setup({ cmd = vim.fn.json_decode(os.getenv("TSR_CMD")), settings = { completion = { maxTokens = 16 } } })
  vim.cmd("filetype on")
  vim.cmd("edit " .. os.getenv("TSR_FILE"))
  vim.wait(30000, function()
    local c = tsr.client()
    return (c ~= nil and c.initialized == true) or #results.notifications > 0
  end, 50)
  local c = tsr.client()
  results.attached = c ~= nil and c.initialized == true
  if not results.attached then
    return
  end
  local done = {}
  tsr.status(function(status) results.status = status; done.status = true end)
  tsr.route("Write a Python function that parses a CSV file into a list of dicts", function(d)
    results.route = d; done.route = true
  end)
  tsr.ask("Say hello to my friend Anna in one sentence", { hidden = true, max_tokens = 12 }, function(res, e, buf)
    results.ask = res
    results.ask_error = e and (e.message or vim.inspect(e)) or nil
    results.ask_buffer = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
    done.ask = true
  end)
  vim.wait(120000, function() return done.status and done.route and done.ask end, 50)
  -- :checkhealth output, captured from its buffer
  vim.cmd("checkhealth tsr")
  results.health = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
end)
if not ok then
  table.insert(results.errors, tostring(err))
end
finish()
