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
  ProgressType,
  StreamMessageReader,
  StreamMessageWriter,
} from "vscode-languageserver-protocol/node";
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
    capabilities: {},
    workspaceFolders: [{ uri: root, name: "root" }],
  });
  assert.strictEqual(init.serverInfo?.name, "tsr-lsp");
  connection.sendNotification("initialized", {});

  const status = await connection.sendRequest<any>("tsr/status", {});
  assert.match(describeStatus(status), /models: .*general/);

  const decision = await connection.sendRequest<any>("tsr/route", {
    text: "Write a Python function that parses a CSV file into a list of dicts",
  });
  assert.strictEqual(decision.model, "coder");

  const stream = new AnswerStream();
  const token = "vscode-test-1";
  connection.onProgress(new ProgressType<PartialValue>(), token, (v) => {
    stream.push(v);
  });
  const result = await connection.sendRequest<GenerateResult>("tsr/generate", {
    text: "Say hello to my friend Anna in one sentence",
    maxTokens: 12,
    partialResultToken: token,
  });
  assert.strictEqual(result.decision.model, "general");
  assert.ok(stream.header.startsWith("route: ") && stream.header.includes("-> general"), stream.header);
  assert.ok(result.text.trim().length > 0);
  assert.ok(stream.text.includes(result.text.trim()), `streamed ${JSON.stringify(stream.text)}`);

  await connection.sendRequest("shutdown");
  connection.sendNotification("exit");
  console.log(JSON.stringify({ ok: true, decision: decision.explanation, answer: result.text }));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
