import * as assert from "assert";
import { test } from "node:test";
import { pickAction, AI_ACTIONS } from "../actions";
import { statusView } from "../status";

const decision = {
  category: "code",
  model: "coder",
  cot_steps: 0,
  temperature: 0.2,
  max_tokens: 512,
  template: "ask",
  confidence: 0.9,
  explanation: "code (0.90) -> coder, CoT 0, temperature 0.2",
};

test("status bar: route and acceptance rate", () => {
  const stats = { shown: 8, accepted: 4, partial: 2, rejected: 2, acceptanceRate: 0.625 };
  const view = statusView(decision, stats);
  assert.strictEqual(view.text, "$(sparkle) tsr: code → coder · 63% accepted");
  assert.match(view.tooltip, /Last route: code \(0.90\) -> coder/);
  assert.match(view.tooltip, /8 shown, 4 accepted, 2 partly, 2 rejected/);
});

test("status bar before anything happened", () => {
  assert.strictEqual(statusView(undefined, { shown: 0, accepted: 0, partial: 0, rejected: 0, acceptanceRate: 0 }).text, "$(sparkle) tsr");
});

test("menu entries pick the server's action by title, skipping disabled ones", () => {
  const actions = [
    { title: "Replace 'uper' with 'upper'", kind: "quickfix" },
    { title: "Explain with AI", kind: "refactor", disabled: { reason: "busy" } },
    { title: "Explain this code (AI)", kind: "refactor" },
    { title: "Write tests (AI)", kind: "refactor" },
  ];
  const byCommand = (c: string) => AI_ACTIONS.find((a) => a.command === c)!;
  assert.strictEqual(pickAction(actions, byCommand("tsr.action.explain"))?.title, "Explain this code (AI)");
  assert.strictEqual(pickAction(actions, byCommand("tsr.action.tests"))?.title, "Write tests (AI)");
  assert.strictEqual(pickAction(actions, byCommand("tsr.action.docstring")), undefined);
});
