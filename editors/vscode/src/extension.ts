// VS Code front end for tsr-lsp: starts the language server (which joins the shared daemon).
// Inline completion comes from vscode-languageclient 11 (accept word / line are VS Code's);
// this file adds what the server learns from (shown / partial / dismissed, inferred by
// inline.ts), the AI actions in the editor context menu (actions.ts), a status bar item with
// the last route decision and the acceptance rate (status.ts), and Ask / Route / Status.
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ProgressType,
  ServerOptions,
} from "vscode-languageclient/node";
import { AI_ACTIONS, AiAction, runAction } from "./actions";
import { FocusHints, InlineTracker, itemRef, TrackedItem } from "./inline";
import { InlineStats, statusView } from "./status";
import { AnswerStream, Decision, describeStatus, GenerateResult, PartialValue } from "./stream";

let client: LanguageClient | undefined;
let tokens = 0;
let lastDecision: Decision | undefined;
let lastStats: InlineStats | undefined;
let statusItem: vscode.StatusBarItem | undefined;
let statsTimer: ReturnType<typeof setTimeout> | undefined;

const tracker = new InlineTracker((method, params) => {
  client?.sendNotification(method, params).catch(() => undefined);
  refreshStatsSoon();
});

const focus = new FocusHints((method, params) => {
  client?.sendNotification(method, params).catch(() => undefined);
});

function settingsSection(): Record<string, unknown> {
  const cfg = vscode.workspace.getConfiguration("tsr");
  return {
    router: { minConfidence: cfg.get("router.minConfidence") },
    completion: { enabled: cfg.get("completion.enabled"), maxTokens: cfg.get("completion.maxTokens") },
    memory: { enabled: cfg.get("memory.enabled") },
  };
}

function showStatus(): void {
  if (!statusItem) {
    return;
  }
  const view = statusView(lastDecision, lastStats);
  statusItem.text = view.text;
  statusItem.tooltip = view.tooltip;
  statusItem.show();
}

function noteDecision(decision: Decision | undefined): void {
  if (decision) {
    lastDecision = decision;
    showStatus();
  }
}

async function refreshStats(): Promise<void> {
  if (!client?.isRunning()) {
    return;
  }
  try {
    lastStats = await client.sendRequest<InlineStats>("tsr/inline/stats", {});
    showStatus();
  } catch {
    // an older server without tsr/inline/stats: the item shows the route only
  }
}

function refreshStatsSoon(): void {
  if (statsTimer) {
    clearTimeout(statsTimer);
  }
  statsTimer = setTimeout(() => void refreshStats(), 1500);
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const cfg = vscode.workspace.getConfiguration("tsr");
  const serverOptions: ServerOptions = {
    command: cfg.get<string>("serverPath", "tsr-lsp"),
    args: cfg.get<string[]>("serverArgs", []),
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    initializationOptions: settingsSection(),
    synchronize: { configurationSection: "tsr" },
    outputChannelName: "tsr-lsp",
    middleware: {
      provideInlineCompletionItems: async (document, position, ctx, token, next) => {
        const result = await next(document, position, ctx, token);
        const items = (Array.isArray(result) ? result : result?.items ?? []) as TrackedItem[];
        if (!token.isCancellationRequested) {
          const line = document.lineAt(position.line).text;
          const uri = document.uri.toString();
          tracker.onItems(uri, position.line, position.character, line, document.lineCount, items);
        }
        return result;
      },
      executeCommand: async (command, args, next) => {
        if (command === "tsr.inline.accepted") {
          tracker.onAccepted(itemRef({ insertText: "", command: { command, arguments: args } }));
          refreshStatsSoon();
        }
        return next(command, args);
      },
    },
  };
  client = new LanguageClient("tsr-lsp", "tsr-lsp", serverOptions, clientOptions);
  context.subscriptions.push(client);
  await client.start();
  void refreshStats();
}

function selectionRange(editor: vscode.TextEditor): vscode.Range {
  const sel = editor.selection;
  return sel.isEmpty ? editor.document.lineAt(sel.active.line).range : new vscode.Range(sel.start, sel.end);
}

async function aiAction(which: AiAction): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || !client) {
    return;
  }
  const c = client;
  let question: string | undefined;
  if (which.action === "ask") {
    question = await vscode.window.showInputBox({ prompt: "Ask about the selection" });
    if (question === undefined) {
      return;
    }
  }
  const range = selectionRange(editor);
  const diagnostics = vscode.languages
    .getDiagnostics(editor.document.uri)
    .filter((d) => d.range.intersection(range) !== undefined)
    .map((d) => c.code2ProtocolConverter.asDiagnostic(d));
  const request = <R>(method: string, params: unknown) => c.sendRequest<R>(method, params);
  // The server shows its own progress (with the route in its title) while the model runs.
  const action = await runAction(
    request,
    c.code2ProtocolConverter.asUri(editor.document.uri),
    c.code2ProtocolConverter.asRange(range),
    diagnostics,
    which,
    question || undefined,
  ).catch((err: Error) => {
    vscode.window.showErrorMessage(`tsr-lsp: ${err.message}`);
    return null;
  });
  if (action === undefined) {
    const why = which.action === "fix" ? " (no diagnostic here)" : "";
    vscode.window.showInformationMessage(`tsr-lsp: no "${which.title}" for this selection${why}`);
  }
  if (!action) {
    return;
  }
  if (action.edit) {
    type LspEdit = Parameters<typeof c.protocol2CodeConverter.asWorkspaceEdit>[0];
    const edit = await c.protocol2CodeConverter.asWorkspaceEdit(action.edit as LspEdit);
    if (edit) {
      await vscode.workspace.applyEdit(edit);
    }
  }
  if (action.command) {
    // tsr.action.applied after an edit; tsr.action.run for explain / ask, whose answer the
    // server opens with window/showDocument and whose result names the route decision
    const result = await vscode.commands.executeCommand<{ decision?: Decision } | undefined>(
      action.command.command,
      ...(action.command.arguments ?? []),
    );
    noteDecision(result?.decision);
  }
}

async function ask(): Promise<void> {
  const text = await vscode.window.showInputBox({ prompt: "Ask tsr-lsp" });
  if (!text || !client) {
    return;
  }
  const editor = vscode.window.activeTextEditor;
  const token = `tsr-vscode-${++tokens}`;
  const stream = new AnswerStream();
  const doc = await vscode.workspace.openTextDocument({ language: "markdown", content: "" });
  const view = await vscode.window.showTextDocument(doc, vscode.ViewColumn.Beside, true);
  const disposable = client.onProgress(new ProgressType<PartialValue>(), token, async (value) => {
    const piece = stream.push(value);
    if (value.event === "decision") {
      noteDecision(value);
    }
    const edit = value.event === "decision" ? `<!-- ${stream.header} -->\n\n` : piece;
    if (edit) {
      const end = doc.lineAt(doc.lineCount - 1).range.end;
      await view.edit((b) => b.insert(end, edit));
    }
  });
  try {
    const result = await client.sendRequest<GenerateResult>("tsr/generate", {
      text,
      language: editor?.document.languageId ?? "",
      context: editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : "",
      file: editor?.document.uri.scheme === "file" ? editor.document.uri.fsPath : undefined,
      partialResultToken: token,
    });
    noteDecision(result.decision);
  } catch (err) {
    vscode.window.showErrorMessage(`tsr-lsp: ${(err as Error).message}`);
  } finally {
    disposable.dispose();
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  statusItem.command = "tsr.status";
  context.subscriptions.push(statusItem);
  showStatus();
  context.subscriptions.push(
    vscode.commands.registerCommand("tsr.ask", ask),
    vscode.commands.registerCommand("tsr.route", async () => {
      const text = await vscode.window.showInputBox({ prompt: "Text to route" });
      if (text && client) {
        const decision = await client.sendRequest<Decision>("tsr/route", { text });
        noteDecision(decision);
        vscode.window.showInformationMessage(decision.explanation);
      }
    }),
    vscode.commands.registerCommand("tsr.status", async () => {
      if (client) {
        vscode.window.showInformationMessage(describeStatus(await client.sendRequest("tsr/status", {})));
      }
    }),
    vscode.commands.registerCommand("tsr.restart", async () => {
      await client?.restart();
    }),
    ...AI_ACTIONS.map((a) => vscode.commands.registerCommand(a.command, () => aiAction(a))),
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (e.contentChanges.length === 0) {
        return;
      }
      const doc = e.document;
      focus.onEdit(doc.uri.toString());
      tracker.onEdit(
        doc.uri.toString(),
        e.contentChanges.map((c) => c.text),
        (n) => (n < doc.lineCount ? doc.lineAt(n).text : undefined),
        doc.lineCount,
      );
    }),
    vscode.window.onDidChangeTextEditorSelection((e) => {
      const at = e.selections[0].active;
      tracker.onMoved(e.textEditor.document.uri.toString(), at.line);
      focus.onCursor(e.textEditor.document.uri.toString(), at.line, at.character);
    }),
    vscode.window.onDidChangeActiveTextEditor((editor) => {
      tracker.dismiss();
      if (editor) {
        const at = editor.selection.active;
        focus.onCursor(editor.document.uri.toString(), at.line, at.character, true);
      }
    }),
    vscode.workspace.onDidCloseTextDocument((doc) => focus.onClose(doc.uri.toString())),
  );
  const timer = setInterval(() => void refreshStats(), 60_000);
  context.subscriptions.push({ dispose: () => clearInterval(timer) });
  try {
    await start(context);
  } catch (err) {
    vscode.window.showErrorMessage(
      `tsr-lsp could not start (${(err as Error).message}); set "tsr.serverPath" to your tsr-lsp executable`,
    );
  }
}

export async function deactivate(): Promise<void> {
  tracker.dismiss();
  await client?.stop();
}
