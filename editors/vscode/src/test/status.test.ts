import * as assert from "assert";
import { test } from "node:test";
import { AI_ACTIONS, pickAction, withQuestion } from "../actions";
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

test("menu entries pick the server's action by data.action, skipping disabled ones", () => {
  const actions = [
    { title: "Replace 'uper' with 'upper'", kind: "quickfix" },
    { title: "Explain with AI", kind: "tsr.explain", disabled: { reason: "busy" }, data: { action: "explain" } },
    { title: "Explain with AI", kind: "tsr.explain", data: { action: "explain", uri: "u" } },
    { title: "Write tests with AI", kind: "refactor.tsr.tests", data: { action: "tests" } },
  ];
  const byAction = (name: string) => AI_ACTIONS.find((a) => a.action === name)!;
  assert.deepStrictEqual(pickAction(actions, byAction("explain"))?.data, { action: "explain", uri: "u" });
  assert.strictEqual(pickAction(actions, byAction("tests"))?.title, "Write tests with AI");
  assert.strictEqual(pickAction(actions, byAction("docstring")), undefined);
});

test("an ask action carries the question in its data and its command", () => {
  const data = { action: "ask", uri: "u" };
  const action = { title: "Ask AI about the selection", data, command: { title: "", command: "tsr.action.run", arguments: [data] } };
  const asked = withQuestion(action, "Why a loop?");
  assert.strictEqual(asked.data?.question, "Why a loop?");
  assert.deepStrictEqual(asked.command?.arguments, [{ action: "ask", uri: "u", question: "Why a loop?" }]);
  assert.strictEqual(data.hasOwnProperty("question"), false); // the original is untouched
});
