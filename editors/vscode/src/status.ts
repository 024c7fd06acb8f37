// The status bar item's text: the last route decision and the inline completion acceptance
// rate (tsr/inline/stats). Pure, so the node tests check it.
import type { Decision } from "./stream";

export interface InlineStats {
  shown: number;
  accepted: number;
  partial: number;
  rejected: number;
  acceptanceRate: number;
}

export interface StatusView {
  text: string;
  tooltip: string;
}

export function statusView(decision: Decision | undefined, stats: InlineStats | undefined): StatusView {
  const parts: string[] = [];
  const tips: string[] = [];
  if (decision) {
    parts.push(`${decision.category} → ${decision.model}`);
    tips.push(`Last route: ${decision.explanation}`);
  }
  if (stats && stats.shown > 0) {
    const rate = Math.round(stats.acceptanceRate * 100);
    parts.push(`${rate}% accepted`);
    tips.push(
      `Inline completions in this project: ${stats.shown} shown, ${stats.accepted} accepted, ` +
        `${stats.partial} partly, ${stats.rejected} rejected (partly counts half)`,
    );
  }
  return {
    text: `$(sparkle) tsr${parts.length ? ": " + parts.join(" · ") : ""}`,
    tooltip: tips.length ? tips.join("\n") : "tsr-lsp: no routed request yet",
  };
}
