// The AI actions of the editor context menu. The server offers them as ordinary code actions
// (docs/PROTOCOL.md, "AI code actions": a cheap list, the model runs on codeAction/resolve or
// on the action's command), so each menu entry asks for the selection's code actions of its
// kind, picks its own by `data.action`, and resolves it when it carries neither an edit nor a
// command yet. No vscode import: the node tests run it against the real server.

export interface LspCodeAction {
  title: string;
  kind?: string;
  edit?: unknown;
  command?: { title: string; command: string; arguments?: unknown[] };
  data?: { action?: string; question?: string; [key: string]: unknown };
  disabled?: { reason: string };
}

export type ActionName = "fix" | "refactor" | "docstring" | "tests" | "explain" | "ask";

export interface AiAction {
  command: string; // the VS Code command of the menu entry
  title: string;
  action: ActionName; // the server's `data.action`
  kind: string; // its code action kind (asked for with `context.only`)
}

export const AI_ACTIONS: AiAction[] = [
  { command: "tsr.menu.fix", title: "Fix with AI", action: "fix", kind: "quickfix.tsr.fix" },
  { command: "tsr.menu.refactor", title: "Refactor with AI", action: "refactor", kind: "refactor.rewrite.tsr.refactor" },
  { command: "tsr.menu.docstring", title: "Add Docstring with AI", action: "docstring", kind: "refactor.rewrite.tsr.docstring" },
  { command: "tsr.menu.tests", title: "Write Tests with AI", action: "tests", kind: "refactor.tsr.tests" },
  { command: "tsr.menu.explain", title: "Explain with AI", action: "explain", kind: "tsr.explain" },
  { command: "tsr.menu.ask", title: "Ask AI about the Selection", action: "ask", kind: "tsr.ask" },
];

/** The server's action for a menu entry: the first enabled one with its `data.action`. */
export function pickAction(actions: LspCodeAction[], which: AiAction): LspCodeAction | undefined {
  return actions.find((a) => !a.disabled && a.data?.action === which.action);
}

/** Put the user's question into an ask action (its data and its command's argument). */
export function withQuestion(action: LspCodeAction, question: string): LspCodeAction {
  const data = { ...action.data, question };
  const command = action.command && {
    ...action.command,
    arguments: (action.command.arguments ?? [data]).map((a, i) => (i === 0 ? { ...(a as object), question } : a)),
  };
  return { ...action, data, command };
}

export type Request = <R>(method: string, params: unknown) => Promise<R>;

type LspRange = { start: { line: number; character: number }; end: { line: number; character: number } };

/** Ask the server for the selection's code actions of `which` kind, pick it, add the
 * question, resolve it when it has neither an edit nor a command. Undefined when the server
 * offers no such action here. */
export async function runAction(
  request: Request,
  uri: string,
  range: LspRange,
  diagnostics: unknown[],
  which: AiAction,
  question?: string,
): Promise<LspCodeAction | undefined> {
  const actions =
    (await request<LspCodeAction[] | null>("textDocument/codeAction", {
      textDocument: { uri },
      range,
      context: { diagnostics, only: [which.kind], triggerKind: 1 },
    })) ?? [];
  let action = pickAction(actions, which);
  if (action && question) {
    action = withQuestion(action, question);
  }
  if (!action || action.edit || action.command) {
    return action;
  }
  return request<LspCodeAction>("codeAction/resolve", action);
}
