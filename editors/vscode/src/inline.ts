// What happened to an inline completion after VS Code got it. VS Code's stable API reports
// only acceptance (the item's command runs); shown, partially accepted and dismissed are
// inferred here from the items the provider returned, document edits and cursor moves
// (docs/PROTOCOL.md, "Acceptance events"). Pure: no vscode import, so node tests drive it.

export const EVENTS = {
  shown: "tsr/inline/didShow",
  partial: "tsr/inline/didPartiallyAccept",
  dismissed: "tsr/inline/didDismiss",
} as const;

export interface ItemRef {
  id: string;
  index: number;
}

/** The parts of an LSP or VS Code inline completion item the tracker needs. */
export interface TrackedItem {
  insertText: string | { value: string };
  command?: { command: string; arguments?: unknown[] };
}

export type Send = (method: string, params: Record<string, unknown>) => void;

/** `{id, index}` from the item's `tsr.inline.accepted` command, if it has one. */
export function itemRef(item: TrackedItem): ItemRef | undefined {
  const arg = item.command?.arguments?.[0] as { id?: unknown; index?: unknown } | undefined;
  if (!arg || typeof arg.id !== "string") {
    return undefined;
  }
  return { id: arg.id, index: typeof arg.index === "number" ? arg.index : 0 };
}

interface Shown {
  ref: ItemRef;
  uri: string;
  line: number;
  prefix: string; // the line up to the cursor when the item came
  suggestion: string; // what the item adds after that prefix
  after: string; // the line right of the cursor when the item came
  lineCount: number; // the document's lines when the item came
  accepted: number; // characters of the suggestion in the document so far
}

/** Code points, as the server counts `acceptedLength`. */
function chars(text: string): number {
  return Array.from(text).length;
}

export class InlineTracker {
  private shown: Shown | undefined;

  constructor(private readonly send: Send) {}

  /** The provider returned `items` for the cursor at `character` on `line` (whose text was
   * `lineText`) of a document of `lineCount` lines; VS Code shows the first one. A previous
   * item is replaced (dismissed). */
  onItems(
    uri: string,
    line: number,
    character: number,
    lineText: string,
    lineCount: number,
    items: TrackedItem[],
  ): void {
    const first = items[0];
    const ref = first && itemRef(first);
    if (this.shown && (!ref || ref.id !== this.shown.ref.id)) {
      this.dismiss();
    }
    if (!first || !ref || (this.shown && ref.id === this.shown.ref.id)) {
      return;
    }
    const text = typeof first.insertText === "string" ? first.insertText : first.insertText.value;
    const prefix = lineText.slice(0, character);
    // Copilot-style items repeat the line prefix; others insert at the cursor.
    const suggestion = text.startsWith(prefix) ? text.slice(prefix.length) : text;
    if (!suggestion) {
      return;
    }
    const after = lineText.slice(character);
    this.shown = { ref, uri, line, prefix, suggestion, after, lineCount, accepted: 0 };
    this.send(EVENTS.shown, { ...ref });
  }

  /** The item's command ran: the server records the acceptance itself. */
  onAccepted(ref: ItemRef | undefined): void {
    if (this.shown && ref && ref.id === this.shown.ref.id) {
      this.shown = undefined;
    }
  }

  /** The document changed: `inserted` is each change's text, `lineText(n)` reads line n now,
   * `lineCount` is its length now. Typing through the suggestion keeps it; an insertion of
   * several characters that continues it is a partial accept (accept word / line); anything
   * else dismisses it. */
  onEdit(
    uri: string,
    inserted: string[],
    lineText: (line: number) => string | undefined,
    lineCount: number,
  ): void {
    const s = this.shown;
    if (!s || s.uri !== uri) {
      return;
    }
    const first = lineText(s.line);
    if (first === undefined || !first.startsWith(s.prefix)) {
      this.dismiss();
      return;
    }
    // the document from the cursor's old position, with the lines added since (at most as
    // many as the suggestion has)
    const parts = [first.slice(s.prefix.length)];
    const count = Math.min(s.suggestion.split("\n").length, lineCount - s.lineCount + 1);
    for (let i = 1; i < count; i++) {
      const l = lineText(s.line + i);
      if (l === undefined) {
        break;
      }
      parts.push(l);
    }
    const doc = parts.join("\n");
    let n = 0;
    while (n < doc.length && n < s.suggestion.length && doc[n] === s.suggestion[n]) {
      n++;
    }
    if (n >= s.suggestion.length) {
      this.shown = undefined; // all of it is in: the command reports an acceptance
      return;
    }
    // right of what matches, the line must hold what was right of the cursor (or the part
    // of it the item replaces, such as a closing bracket)
    if (!s.after.endsWith(doc.slice(n).split("\n")[0])) {
      this.dismiss();
      return;
    }
    if (n > s.accepted && inserted.some((t) => t.length > 1 || t.includes("\n"))) {
      s.accepted = n;
      this.send(EVENTS.partial, { ...s.ref, acceptedLength: chars(s.suggestion.slice(0, n)) });
    }
  }

  /** The cursor moved: off the suggestion's lines (or to another document) dismisses it. */
  onMoved(uri: string, line: number): void {
    const s = this.shown;
    const last = s ? s.line + s.suggestion.split("\n").length - 1 : 0;
    if (s && (s.uri !== uri || line < s.line || line > last)) {
      this.dismiss();
    }
  }

  dismiss(): void {
    if (this.shown) {
      const ref = this.shown.ref;
      this.shown = undefined;
      this.send(EVENTS.dismissed, { ...ref });
    }
  }

  get current(): ItemRef | undefined {
    return this.shown?.ref;
  }
}

export const FOCUS = "tsr/inline/didFocus";
// A cursor move this soon after an edit of the same document is the edit's own (typing):
// the completion request covers that position.
export const TYPING_MS = 100;

/** Focus hints (docs/PROTOCOL.md, "tsr/inline/didFocus"): where the cursor comes to rest
 * (clicked, moved by keys, another editor opened), so the server evaluates the prompt there
 * before the first request. Cursor moves caused by typing send nothing: the server is then
 * busy with the suggestion, and with the line after it. The server waits 250 ms for the
 * cursor to settle. */
export class FocusHints {
  private lastEdit = new Map<string, number>();

  constructor(
    private readonly send: Send,
    private readonly now: () => number = Date.now,
  ) {}

  onEdit(uri: string): void {
    this.lastEdit.set(uri, this.now());
  }

  /** The cursor of the editor of `uri` moved to `line`, `character` (UTF-16 units). */
  onCursor(uri: string, line: number, character: number, force = false): void {
    const edited = this.lastEdit.get(uri);
    if (!force && edited !== undefined && this.now() - edited < TYPING_MS) {
      return;
    }
    this.send(FOCUS, { textDocument: { uri }, position: { line, character } });
  }

  onClose(uri: string): void {
    this.lastEdit.delete(uri);
  }
}
