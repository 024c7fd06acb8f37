-- Pure logic of inline completion items (no editor state, so it is tested on its own):
-- what part of an item is still to be shown while the user types through it, and how much
-- of it "accept word" / "accept line" take.
--
-- An item replaces the middle of one line: `head` (the text before the item's range) and
-- `tail` (the text after it) stay, `text` replaces what is between. While the user types,
-- the line must keep `head` and `tail`, and what was typed after `head` must be a prefix of
-- `text`; otherwise the item no longer applies.
local M = {}

--- An item from an LSP range on `line` (byte columns, 0-based, end exclusive).
function M.item(text, line, start_col, end_col)
  end_col = math.max(end_col, start_col)
  return {
    text = text,
    head = line:sub(1, start_col),
    tail = line:sub(end_col + 1),
    full = text, -- the item's whole text, for the accepted length of partial accepts
  }
end

--- What is left to show of `item` on `line` with the cursor at byte `col`, or nil when the
--- item no longer matches. Returns `rest` (text after the cursor that accepting would
--- insert), `typed` (the part of `text` already in the buffer) and `middle_end` (the byte
--- column where the replaced range ends on `line`).
function M.remaining(item, line, col)
  local head, tail = item.head, item.tail
  if #head + #tail > #line or line:sub(1, #head) ~= head then
    return nil
  end
  if #tail > 0 and line:sub(#line - #tail + 1) ~= tail then
    return nil
  end
  local middle_end = #line - #tail
  if col < #head or col > middle_end then
    return nil
  end
  local typed = line:sub(#head + 1, col)
  if item.text:sub(1, #typed) ~= typed then
    return nil
  end
  return { rest = item.text:sub(#typed + 1), typed = typed, middle_end = middle_end }
end

--- Lines of `text` (split on "\n", keeping empty ones).
function M.lines(text)
  local out = {}
  local start = 1
  while true do
    local i = text:find("\n", start, true)
    if not i then
      table.insert(out, text:sub(start))
      return out
    end
    table.insert(out, text:sub(start, i - 1))
    start = i + 1
  end
end

--- The next word of `rest`: leading blanks, then a run of word characters or a run of other
--- non-blank characters. A leading line break is taken with the next line's indentation.
function M.next_word(rest)
  if rest == "" then
    return ""
  end
  local nl = rest:match("^\r?\n[ \t]*")
  if nl then
    return nl
  end
  local blank = rest:match("^[ \t]*")
  local after = rest:sub(#blank + 1)
  local word = after:match("^[%w_\128-\255]+") or after:match("^[^%w_%s\128-\255]+") or ""
  return blank .. word
end

--- The rest of the current line of `rest`, or the next line when `rest` starts with a
--- line break (the break is taken with it).
function M.next_line(rest)
  local start = 1
  if rest:sub(1, 1) == "\n" then
    start = 2
  elseif rest:sub(1, 2) == "\r\n" then
    start = 3
  end
  local i = rest:find("\n", start, true)
  if not i then
    return rest
  end
  return rest:sub(1, i - 1)
end

--- What "accept word" and "accept line" take of the rest.
M.take = { word = M.next_word, line = M.next_line }

--- The item left after `piece` (the start of `rest`, as `remaining` returned it) was
--- inserted at the cursor; `line` and `col` are the cursor's line and column afterwards (a
--- later line when `piece` holds a line break).
function M.advance(item, rest, piece, line, col)
  return { text = rest:sub(#piece + 1), head = line:sub(1, col), tail = item.tail, full = item.full }
end

--- Bytes of the item's original text that are in the buffer when `rest` is left.
function M.accepted(item, rest)
  return #item.full - #rest
end

--- Spaces that overlay ghost text needs after it to hide the text it covers (0.7-0.9 draw
--- it over the line instead of inserting it).
function M.padding(ghost_width, existing_width)
  return math.max(existing_width - ghost_width, 0)
end

return M
