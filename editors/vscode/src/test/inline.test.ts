// The inline completion tracker: which events the server gets for what the user does.
import * as assert from "assert";
import { test } from "node:test";
import { EVENTS, FOCUS, FocusHints, InlineTracker, itemRef, TrackedItem, TYPING_MS } from "../inline";

const URI = "file:///p/main.py";

function item(text: string, id = "c1", index = 0): TrackedItem {
  return { insertText: text, command: { command: "tsr.inline.accepted", arguments: [{ id, index }] } };
}

function setup(lines: string[]) {
  const sent: [string, Record<string, unknown>][] = [];
  const tracker = new InlineTracker((m, p) => sent.push([m, p]));
  const doc = { lines };
  const read = (n: number) => doc.lines[n];
  return { sent, tracker, doc, read };
}

test("itemRef reads {id, index} from the command", () => {
  assert.deepStrictEqual(itemRef(item("x", "a", 2)), { id: "a", index: 2 });
  assert.strictEqual(itemRef({ insertText: "x" }), undefined);
  assert.strictEqual(itemRef({ insertText: "x", command: { command: "c", arguments: ["s"] } }), undefined);
});

test("a returned item is shown once; typing through it sends nothing more", () => {
  const { sent, tracker, doc, read } = setup(["    total = "]);
  tracker.onItems(URI, 0, 12, doc.lines[0], doc.lines.length, [item("    total = sum(values)")]);
  tracker.onItems(URI, 0, 12, doc.lines[0], doc.lines.length, [item("    total = sum(values)")]); // same id again
  doc.lines[0] = "    total = s";
  tracker.onEdit(URI, ["s"], read, doc.lines.length);
  doc.lines[0] = "    total = su";
  tracker.onEdit(URI, ["u"], read, doc.lines.length);
  assert.deepStrictEqual(sent, [[EVENTS.shown, { id: "c1", index: 0 }]]);
  assert.deepStrictEqual(tracker.current, { id: "c1", index: 0 });
});

test("typing something else dismisses", () => {
  const { sent, tracker, doc, read } = setup(["x = "]);
  tracker.onItems(URI, 0, 4, doc.lines[0], doc.lines.length, [item("x = 42")]);
  doc.lines[0] = "x = 7";
  tracker.onEdit(URI, ["7"], read, doc.lines.length);
  assert.deepStrictEqual(sent.map((s) => s[0]), [EVENTS.shown, EVENTS.dismissed]);
  assert.strictEqual(tracker.current, undefined);
});

test("accept word and accept line are partial accepts with the length so far", () => {
  const { sent, tracker, doc, read } = setup(["def f(values):", "    total = ", ""]);
  tracker.onItems(URI, 1, 12, doc.lines[1], doc.lines.length, [item("    total = sum(values)\n    return total")]);
  doc.lines[1] = "    total = sum";
  tracker.onEdit(URI, ["sum"], read, doc.lines.length); // VS Code's accept word inserts it at once
  doc.lines[1] = "    total = sum(values)";
  tracker.onEdit(URI, ["(values)"], read, doc.lines.length);
  assert.deepStrictEqual(sent.slice(1), [
    [EVENTS.partial, { id: "c1", index: 0, acceptedLength: 3 }],
    [EVENTS.partial, { id: "c1", index: 0, acceptedLength: 11 }],
  ]);
  doc.lines.splice(2, 0, "    ");
  tracker.onEdit(URI, ["\n    "], read, doc.lines.length); // VS Code's accept word at a line end
  assert.deepStrictEqual(sent[3], [EVENTS.partial, { id: "c1", index: 0, acceptedLength: 16 }]);
  tracker.onMoved(URI, 2); // the second line of a two-line suggestion: still on it
  assert.ok(tracker.current);
});

test("full acceptance: the command reports it, no dismiss follows", () => {
  const { sent, tracker, doc, read } = setup(["print()"]);
  // the item replaces the closing bracket right of the cursor
  tracker.onItems(URI, 0, 6, doc.lines[0], doc.lines.length, [item("print('hi')")]);
  doc.lines[0] = "print('hi')";
  tracker.onEdit(URI, ["print('hi')"], read, doc.lines.length);
  tracker.onAccepted({ id: "c1", index: 0 });
  tracker.onItems(URI, 0, 11, doc.lines[0], doc.lines.length, [item("print('hi')\n", "c2")]);
  assert.deepStrictEqual(sent.map((s) => s[0]), [EVENTS.shown, EVENTS.shown]);
});

test("a newer item, a move to another line, or another file dismisses the shown one", () => {
  const { sent, tracker, doc } = setup(["a = ", "b = "]);
  tracker.onItems(URI, 0, 4, doc.lines[0], doc.lines.length, [item("a = 1")]);
  tracker.onItems(URI, 0, 4, doc.lines[0], doc.lines.length, [item("a = 2", "c2")]);
  tracker.onMoved(URI, 1);
  tracker.onItems(URI, 1, 4, doc.lines[1], doc.lines.length, [item("b = 3", "c3")]);
  tracker.onMoved("file:///p/other.py", 1);
  assert.deepStrictEqual(
    sent.map((s) => [s[0], s[1].id]),
    [
      [EVENTS.shown, "c1"],
      [EVENTS.dismissed, "c1"],
      [EVENTS.shown, "c2"],
      [EVENTS.dismissed, "c2"],
      [EVENTS.shown, "c3"],
      [EVENTS.dismissed, "c3"],
    ],
  );
});

test("an empty answer or an item without an id is not tracked", () => {
  const { sent, tracker, doc } = setup(["x"]);
  tracker.onItems(URI, 0, 1, doc.lines[0], doc.lines.length, []);
  tracker.onItems(URI, 0, 1, doc.lines[0], doc.lines.length, [{ insertText: "x = 1" }]);
  assert.deepStrictEqual(sent, []);
});

test("acceptedLength counts characters, not UTF-16 units", () => {
  const { sent, tracker, doc, read } = setup(["s = "]);
  tracker.onItems(URI, 0, 4, doc.lines[0], doc.lines.length, [item("s = '😀😀' + t")]);
  doc.lines[0] = "s = '😀😀'";
  tracker.onEdit(URI, ["'😀😀'"], read, doc.lines.length);
  assert.deepStrictEqual(sent[1], [EVENTS.partial, { id: "c1", index: 0, acceptedLength: 4 }]);
});

test("focus hints: a cursor that comes to rest, not the moves typing makes", () => {
  const sent: [string, Record<string, unknown>][] = [];
  let now = 1000;
  const hints = new FocusHints((m, p) => sent.push([m, p]), () => now);
  hints.onCursor(URI, 3, 4); // clicked
  hints.onEdit(URI);
  now += 10;
  hints.onCursor(URI, 3, 5); // the typed character moved it
  hints.onCursor("file:///p/other.py", 0, 0); // another document
  now += TYPING_MS;
  hints.onCursor(URI, 7, 0); // moved by keys after typing stopped
  hints.onEdit(URI);
  hints.onCursor(URI, 7, 1, true); // another editor became active: always
  assert.deepStrictEqual(
    sent.map(([m, p]) => [m, (p.textDocument as { uri: string }).uri, p.position]),
    [
      [FOCUS, URI, { line: 3, character: 4 }],
      [FOCUS, "file:///p/other.py", { line: 0, character: 0 }],
      [FOCUS, URI, { line: 7, character: 0 }],
      [FOCUS, URI, { line: 7, character: 1 }],
    ],
  );
});
