// VS Code front end for tsr-lsp: starts the language server (which joins the shared daemon)
// and adds Ask / Route / Status commands. Everything else comes from standard LSP.
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ProgressType, ServerOptions } from "vscode-languageclient/node";
import { AnswerStream, describeStatus, GenerateResult, PartialValue } from "./stream";

let client: LanguageClient | undefined;
let tokens = 0;

function settingsSection(): Record<string, unknown> {
  const cfg = vscode.workspace.getConfiguration("tsr");
  return {
    router: { minConfidence: cfg.get("router.minConfidence") },
    completion: { maxTokens: cfg.get("completion.maxTokens") },
    memory: { enabled: cfg.get("memory.enabled") },
  };
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
  };
  client = new LanguageClient("tsr-lsp", "tsr-lsp", serverOptions, clientOptions);
  context.subscriptions.push(client);
  await client.start();
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
    const edit = value.event === "decision" ? `<!-- ${stream.header} -->\n\n` : piece;
    if (edit) {
      const end = doc.lineAt(doc.lineCount - 1).range.end;
      await view.edit((b) => b.insert(end, edit));
    }
  });
  try {
    await client.sendRequest<GenerateResult>("tsr/generate", {
      text,
      language: editor?.document.languageId ?? "",
      context: editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : "",
      partialResultToken: token,
    });
  } catch (err) {
    vscode.window.showErrorMessage(`tsr-lsp: ${(err as Error).message}`);
  } finally {
    disposable.dispose();
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.commands.registerCommand("tsr.ask", ask),
    vscode.commands.registerCommand("tsr.route", async () => {
      const text = await vscode.window.showInputBox({ prompt: "Text to route" });
      if (text && client) {
        const decision = await client.sendRequest<{ explanation: string }>("tsr/route", { text });
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
  );
  try {
    await start(context);
  } catch (err) {
    vscode.window.showErrorMessage(
      `tsr-lsp could not start (${(err as Error).message}); set "tsr.serverPath" to your tsr-lsp executable`,
    );
  }
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
