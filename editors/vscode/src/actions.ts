// The AI actions of the editor context menu. The server offers them as ordinary code actions
// (cheap list; the model runs in codeAction/resolve), so each menu entry asks for the code
// actions of the selection, picks its own, resolves it and hands back the edit / command.
// No vscode import: the node tests run it against the real server.

export interface LspCodeAction {
  title: string;
  kind?: string;
  edit?: unknown;
  command?: { title: string; command: string; arguments?: unknown[] };
  data?: unknown;
  disabled?: { reason: string };
}

export interface AiAction {
  command: string; // the VS Code command of the menu entry
  title: string;
  pattern: RegExp; // matches the server's action title
}

export const AI_ACTIONS: AiAction[] = [
  { command: "tsr.action.fix", title: "Fix with AI", pattern: /\bfix\b/i },
  { command: "tsr.action.refactor", title: "Refactor with AI", pattern: /refactor/i },
  { command: "tsr.action.explain", title: "Explain with AI", pattern: /explain/i },
  { command: "tsr.action.tests", title: "Write Tests with AI", pattern: /\btests?\b/i },
  { command: "tsr.action.docstring", title: "Add Docstring with AI", pattern: /docstring/i },
];

/** The server's action for a menu entry: the first enabled one whose title matches. */
export function pickAction(actions: LspCodeAction[], which: AiAction): LspCodeAction | undefined {
  return actions.find((a) => !a.disabled && "title" in a && which.pattern.test(a.title));
}

export type Request = <R>(method: string, params: unknown) => Promise<R>;

/** Ask the server for the selection's code actions, pick `which`, resolve it when it has
 * neither an edit nor a command yet. Undefined when the server offers no such action. */
export async function runAction(
  request: Request,
  uri: string,
  range: { start: { line: number; character: number }; end: { line: number; character: number } },
  diagnostics: unknown[],
  which: AiAction,
): Promise<LspCodeAction | undefined> {
  const actions =
    (await request<LspCodeAction[] | null>("textDocument/codeAction", {
      textDocument: { uri },
      range,
      context: { diagnostics, triggerKind: 1 },
    })) ?? [];
  const action = pickAction(actions, which);
  if (!action || action.edit || action.command) {
    return action;
  }
  return request<LspCodeAction>("codeAction/resolve", action);
}
