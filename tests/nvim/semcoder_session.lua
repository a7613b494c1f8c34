-- A headless Neovim 0.7 session against semcoder-lsp (driven by tests/test_nvim_client.py).
-- Opens a file, hovers a call with execution enabled, waits for the failing-assert
-- diagnostic, lists the code actions, and writes what it saw as JSON to $SEMCODER_NVIM_OUT.
local out_path = vim.env.SEMCODER_NVIM_OUT
local result = { steps = {} }

local function finish(err)
  if err then result.error = err end
  vim.fn.writefile({ vim.fn.json_encode(result) }, out_path)
  vim.cmd("qa!")
end

local ok, err = pcall(function()
  local raw_diagnostics = {}
  local client_id = vim.lsp.start_client({
    name = "semcoder",
    cmd = { vim.env.SEMCODER_PYTHON, "-m", "semcoder_lsp" },
    root_dir = vim.env.SEMCODER_ROOT,
    init_options = { execution = { enabled = true } },
    handlers = {
      ["textDocument/publishDiagnostics"] = function(e, res, ctx, config)
        raw_diagnostics = res.diagnostics
        vim.lsp.diagnostic.on_publish_diagnostics(e, res, ctx, config)
      end,
    },
  })
  assert(client_id, "start_client failed")
  vim.cmd("edit " .. vim.fn.fnameescape(vim.env.SEMCODER_FILE))
  local bufnr = vim.api.nvim_get_current_buf()
  vim.lsp.buf_attach_client(bufnr, client_id)
  assert(vim.wait(30000, function()
    local c = vim.lsp.get_client_by_id(client_id)
    return c ~= nil and c.initialized
  end, 50), "the server did not initialize")
  local client = vim.lsp.get_client_by_id(client_id)
  table.insert(result.steps, "initialized")

  local uri = vim.uri_from_bufnr(bufnr)
  local hover_line = tonumber(vim.env.SEMCODER_HOVER_LINE)
  local hover_col = tonumber(vim.env.SEMCODER_HOVER_COL)
  local hover = client.request_sync("textDocument/hover", {
    textDocument = { uri = uri },
    position = { line = hover_line, character = hover_col },
  }, 30000, bufnr)
  assert(hover and hover.result, "no hover: " .. vim.inspect(hover))
  result.hover = hover.result.contents.value
  table.insert(result.steps, "hover")

  assert(vim.wait(30000, function() return #raw_diagnostics > 0 end, 50), "no diagnostics")
  result.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    table.insert(result.diagnostics, { line = d.lnum, message = d.message, severity = d.severity, source = d.source })
  end
  table.insert(result.steps, "diagnostics")

  local first = raw_diagnostics[1]
  local actions = client.request_sync("textDocument/codeAction", {
    textDocument = { uri = uri },
    range = first.range,
    context = { diagnostics = { first } },
  }, 30000, bufnr)
  assert(actions and actions.result, "no code actions: " .. vim.inspect(actions))
  result.actions = {}
  for _, a in ipairs(actions.result) do
    table.insert(result.actions, { title = a.title, kind = a.kind })
  end
  table.insert(result.steps, "code actions")
  vim.lsp.stop_client(client_id)
  vim.wait(5000, function() return vim.lsp.get_client_by_id(client_id) == nil end, 50)
end)

finish(not ok and tostring(err) or nil)
