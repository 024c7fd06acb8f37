// Speaks to the real tsr-lsp server through the same JSON-RPC stack vscode-languageclient
// uses (vscode-languageserver-protocol over stdio), streaming tsr/generate through the
// extension's own AnswerStream. Usage: node out/e2e/protocol.js <server cmd...>
import * as assert from "assert";
import { spawn } from "child_process";
import * as path from "path";
import { pathToFileURL } from "url";
import {
  createProtocolConnection,
  InitializeRequest,
  ProtocolConnection,
  ProgressType,
  StreamMessageReader,
  StreamMessageWriter,
} from "vscode-languageserver-protocol/node";
import { AI_ACTIONS, runAction } from "../actions";
import { InlineTracker, itemRef } from "../inline";
import { InlineStats, statusView } from "../status";
import { AnswerStream, describeStatus, GenerateResult, PartialValue } from "../stream";

async function main(): Promise<void> {
  const [cmd, ...args] = process.argv.slice(2);
  const server = spawn(cmd, args, { stdio: ["pipe", "pipe", "inherit"] });
  const connection = createProtocolConnection(
    new StreamMessageReader(server.stdout!),
    new StreamMessageWriter(server.stdin!),
  );
  connection.listen();
  const root = pathToFileURL(path.resolve(".")).href;
  const init = await connection.sendRequest(InitializeRequest.type, {
    processId: process.pid,
    rootUri: root,
    capabilities: {
      textDocument: { codeAction: { dataSupport: true, resolveSupport: { properties: ["edit"] } } },
      window: { workDoneProgress: true, showDocument: { support: true } },
    },
    workspaceFolders: [{ uri: root, name: "root" }],
    // short answers keep the test quick on 2 cores (a docstring fits)
    initializationOptions: { actions: { maxTokens: 128 }, completion: { maxTokens: 24 } },
  });
  assert.strictEqual(init.serverInfo?.name, "tsr-lsp");
  connection.sendNotification("initialized", {});

  const status = await connection.sendRequest<any>("tsr/status", {});
  assert.match(describeStatus(status), /models: .*general/);

  const decision = await connection.sendRequest<any>("tsr/route", {
    text: "Write a Python function that parses a CSV file into a list of dicts",
  });
  // a code model: the 0.5B, or the 1.5B where graded outcomes favour it
  assert.ok(["coder", "fim"].includes(decision.model), decision.explanation);

  const stream = new AnswerStream();
  const token = "vscode-test-1";
  connection.onProgress(new ProgressType<PartialValue>(), token, (v) => {
    stream.push(v);
  });
  const result = await connection.sendRequest<GenerateResult>("tsr/generate", {
    text: "Say hello to Anna",
    maxTokens: 12,
    partialResultToken: token,
  });
  // small talk: one of the cheaper two, as the graded evidence decides
  const model = result.decision.model;
  assert.ok(["general", "coder"].includes(model), result.decision.explanation);
  assert.ok(stream.header.startsWith("route: ") && stream.header.includes(`-> ${model}`), stream.header);
  assert.ok(result.text.trim().length > 0);
  assert.ok(stream.text.includes(result.text.trim()), `streamed ${JSON.stringify(stream.text)}`);

  if (process.env.TSR_E2E_MODEL_FEATURES !== "1") {
    await finish(connection, decision.explanation, result.text, "");
    return;
  }

  // A context-menu AI action: the list, the pick by data.action, the resolve that runs the
  // model and returns the edit (what extension.ts then applies) and its follow-up command.
  connection.onRequest("window/workDoneProgress/create", () => null);
  const source = "def mean(values):\n    return sum(values) / len(values)\n";
  const statsUri = pathToFileURL(path.resolve("stats.py")).href;
  connection.sendNotification("textDocument/didOpen", {
    textDocument: { uri: statsUri, languageId: "python", version: 1, text: source },
  });
  const docstring = AI_ACTIONS.find((a) => a.action === "docstring")!;
  const request = <R>(method: string, params: unknown) => connection.sendRequest<R>(method, params);
  const cursor = { start: { line: 1, character: 4 }, end: { line: 1, character: 4 } };
  const action = await runAction(request, statsUri, cursor, [], docstring);
  assert.ok(action, "the server offers Add docstring with AI");
  const edit = action.edit as { changes?: Record<string, { newText: string }[]>; documentChanges?: any[] };
  const texts = Object.values(edit.changes ?? {}).flat().map((e) => e.newText);
  for (const dc of edit.documentChanges ?? []) {
    texts.push(...(dc.edits ?? []).map((e: { newText: string }) => e.newText));
  }
  assert.ok(texts.some((t) => t.includes('"""')), `a docstring in ${JSON.stringify(texts)}`);
  assert.strictEqual(action.command?.command, "tsr.action.applied");
  await connection.sendRequest("workspace/executeCommand", {
    command: action.command!.command,
    arguments: action.command!.arguments,
  });

  // Inline completion as the extension sees it: the provider's items go through the tracker
  // (didShow), then VS Code inserts the item and runs its command (the acceptance).
  assert.ok(init.capabilities.inlineCompletionProvider, "the server offers inline completion");
  const uri = pathToFileURL(path.resolve("calc.py")).href;
  const text = "def add(a, b):\n    return \n";
  connection.sendNotification("textDocument/didOpen", {
    textDocument: { uri, languageId: "python", version: 1, text },
  });
  const events: string[] = [];
  const tracker = new InlineTracker((method, params) => {
    events.push(method);
    void connection.sendNotification(method, params);
  });
  const position = { line: 1, character: "    return ".length };
  const list = await connection.sendRequest<{ items: any[] }>("textDocument/inlineCompletion", {
    textDocument: { uri },
    position,
    context: { triggerKind: 1 },
  });
  assert.ok(list.items.length >= 1, "a suggestion for `return ` in add()");
  const item = list.items[0];
  tracker.onItems(uri, position.line, position.character, "    return ", 3, list.items);
  const command = item.command;
  assert.strictEqual(command.command, "tsr.inline.accepted");
  const accepted = await connection.sendRequest<{ outcome: string }>("workspace/executeCommand", {
    command: command.command,
    arguments: command.arguments,
  });
  tracker.onAccepted(itemRef(item));
  assert.strictEqual(accepted.outcome, "accepted");
  assert.deepStrictEqual(events, ["tsr/inline/didShow"]);
  const stats = await connection.sendRequest<InlineStats>("tsr/inline/stats", {});
  assert.ok(stats.shown >= 1 && stats.accepted >= 1, JSON.stringify(stats));
  const view = statusView(result.decision, stats);
  assert.match(view.text, new RegExp(`→ ${model} · \\d+% accepted`));

  await finish(connection, decision.explanation, result.text, item.insertText);
}

async function finish(connection: ProtocolConnection, decision: string, answer: string, inline: string) {
  await connection.sendRequest("shutdown");
  connection.sendNotification("exit");
  console.log(JSON.stringify({ ok: true, decision, answer, inline }));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
