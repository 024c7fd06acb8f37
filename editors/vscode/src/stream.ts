// Pure helpers shared by the extension and its protocol test: how tsr/generate partial
// results ({"event": ...} values of $/progress) become text for the user.

export interface Decision {
  category: string;
  model: string;
  cot_steps: number;
  temperature: number;
  max_tokens: number;
  template: string;
  confidence: number;
  explanation: string;
}

export type PartialValue =
  | ({ event: "decision" } & Decision)
  | { event: "loading"; message: string }
  | { event: "delta"; delta: string };

export interface GenerateResult {
  decision: Decision;
  text: string;
  reasoning: string;
  finishReason: string;
  cancelled: boolean;
}

/** Accumulates a streamed answer; `header` is the route line shown above it. */
export class AnswerStream {
  header = "";
  text = "";
  loading: string[] = [];

  push(value: PartialValue): string {
    switch (value.event) {
      case "decision":
        this.header = `route: ${value.explanation}`;
        return "";
      case "loading":
        this.loading.push(value.message);
        return "";
      case "delta":
        this.text += value.delta;
        return value.delta;
    }
  }
}

export function describeStatus(status: { version: string; pid: number; models: Record<string, { loaded: boolean; error?: string | null }> }): string {
  const models = Object.entries(status.models)
    .map(([name, m]) => `${name}${m.loaded ? " (loaded)" : ""}${m.error ? " (unavailable)" : ""}`)
    .join(", ");
  return `tsr-lsp ${status.version} (pid ${status.pid}); models: ${models}`;
}
