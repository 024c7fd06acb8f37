-- Unit checks of the plugin's pure parts, run inside each Neovim under test (nvim_driver.lua,
-- scenario "units"). An error names the failing check.
local ghost = require("tsr.ghost")
local compat = require("tsr.compat")

local function eq(got, want, what)
  if not vim.deep_equal(got, want) then
    error(what .. ": got " .. vim.inspect(got) .. ", want " .. vim.inspect(want), 2)
  end
end

-- Copilot-style item: range from line start to cursor, text repeats what is typed.
local line = "    total = "
local item = ghost.item("    total = sum(values)", line, 0, #line)
local r = ghost.remaining(item, line, #line)
eq(r.rest, "sum(values)", "rest at the cursor")
eq(r.typed, "    total = ", "typed part")

-- Typing through the suggestion keeps it; typing something else drops it.
eq(ghost.remaining(item, line .. "su", #line + 2).rest, "m(values)", "type-through")
eq(ghost.remaining(item, line .. "x", #line + 1), nil, "diverged")
eq(ghost.remaining(item, "  " .. line, #line + 2), nil, "text before the range changed")
eq(ghost.remaining(item, line:sub(1, -2), #line - 1).rest, " sum(values)", "backspace keeps it")

-- An item that replaces the closing bracket right of the cursor (range end past the cursor).
local l2 = "print()"
local it2 = ghost.item("print('hi')", l2, 0, #l2)
local r2 = ghost.remaining(it2, l2, 6)
eq(r2.rest, "'hi')", "replacing the bracket")
eq(r2.middle_end, 7, "replaced range ends after the bracket")

-- Text after the range must stay.
local l3 = "x = foo  # note"
local it3 = ghost.item("foo(1)", l3, 4, 7)
eq(ghost.remaining(it3, l3, 7).rest, "(1)", "tail kept")
eq(ghost.remaining(it3, "x = foo  # nope", 7), nil, "tail changed")

-- Words and lines.
eq(ghost.next_word("sum(values)"), "sum", "word")
eq(ghost.next_word("(values)"), "(", "punctuation run")
eq(ghost.next_word("  return x"), "  return", "leading blanks go with the word")
eq(ghost.next_word("\n    return x"), "\n    ", "line break with the next indentation")
eq(ghost.next_word("été = 1"), "été", "multibyte word")
eq(ghost.next_line("a = 1\nb = 2"), "a = 1", "rest of the line")
eq(ghost.next_line("\nb = 2\nc = 3"), "\nb = 2", "next line with its break")
eq(ghost.next_line("tail"), "tail", "no break")
eq(ghost.lines("a\n\nb"), { "a", "", "b" }, "lines keep empty ones")

-- Advancing after a partial accept: the remaining text continues from the new cursor.
local it4 = ghost.item("return a + b", "    ", 4, 4)
local r4 = ghost.remaining(it4, "    ", 4)
local piece = ghost.next_word(r4.rest)
local after = "    " .. piece
local it5 = ghost.advance(it4, r4.rest, piece, after, #after)
eq(ghost.remaining(it5, after, #after).rest, " a + b", "advanced item")
eq(ghost.accepted(it5, " a + b"), #"return", "accepted length")

-- LSP positions: UTF-16 counts astral characters twice, bytes are what Neovim uses.
local s = "a€😀b"
eq(compat.lsp_col(s, #"a€", "utf-16"), 2, "utf-16 col after euro")
eq(compat.lsp_col(s, #"a€😀", "utf-16"), 4, "utf-16 col after emoji")
eq(compat.lsp_col(s, #"a€😀", "utf-32"), 3, "utf-32 col")
eq(compat.lsp_col(s, #"a€😀", "utf-8"), #"a€😀", "utf-8 col")
eq(compat.byte_col(s, 4, "utf-16"), #"a€😀", "byte of utf-16 col")
eq(compat.byte_col(s, 3, "utf-32"), #"a€😀", "byte of utf-32 col")
eq(compat.byte_col(s, 99, "utf-16"), #s, "past the end clamps")
eq(compat.lsp_len("é\n", "utf-16"), 2, "length in units")
