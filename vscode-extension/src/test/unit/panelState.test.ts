import { test } from "node:test";
import * as assert from "node:assert/strict";
import { generationRate, initialPanelState, PanelState, reducePanel, renderPanelBody } from "../../logic/panelState";

const started = (): PanelState => reducePanel(initialPanelState(), { type: "start", uri: "file:///a.py", functionName: "f", call: "f(2)", nowMs: 1000 });

test("partials accumulate monologue, steps and line states, and track the latest line", () => {
  let s = started();
  s = reducePanel(s, { type: "partial", value: { status: "generating", monologueDelta: "x is " } });
  s = reducePanel(s, { type: "partial", value: { monologueDelta: "2", steps: [{ index: 1, text: "x is 2", lines: [3] }] } });
  assert.equal(s.monologue, "x is 2");
  assert.equal(s.lastLine, 3);
  s = reducePanel(s, { type: "partial", value: { lineStates: [{ line: 4, values: { y: "4" }, source: "predicted" }, { line: 5, values: { z: "1" }, source: "predicted" }] } });
  s = reducePanel(s, { type: "partial", value: { lineStates: [{ line: 4, values: { w: "0" }, source: "predicted" }] } });
  assert.deepEqual(s.predictedLines[4], { y: "4", w: "0" });
  assert.equal(s.lastLine, 4);
  assert.equal(s.steps.length, 1);
  assert.equal(s.modelStatus, "generating");
  assert.equal(s.partials, 4);
});

test("the final result completes the state; notes and model messages become the message", () => {
  let s = reducePanel(started(), { type: "partial", value: { output: "5" } });
  s = reducePanel(s, {
    type: "result",
    result: { call: "f(2)", expected: "4", actual: { status: "ok", return: { repr: "5" }, events: [] }, executionNote: null, predicted: { status: "error", message: "model failed", monologue: "m", output: "5" } },
  });
  assert.equal(s.phase, "done");
  assert.equal(s.actual?.return?.repr, "5");
  assert.equal(s.expected, "4");
  assert.equal(s.message, "model failed");
  assert.equal(s.monologue, "m");
});

test("stop cancels a running trace, and later partials are ignored", () => {
  let s = reducePanel(started(), { type: "cancelled" });
  assert.equal(s.phase, "cancelled");
  const after = reducePanel(s, { type: "partial", value: { monologueDelta: "late" } });
  assert.equal(after, s);
  assert.equal(reducePanel(initialPanelState(), { type: "cancelled" }).phase, "idle");
});

test("a re-run starts from a clean state", () => {
  let s = reducePanel(started(), { type: "partial", value: { monologueDelta: "old" } });
  s = reducePanel(s, { type: "start", uri: "file:///a.py", functionName: "f", call: "f(3)", nowMs: 5 });
  assert.equal(s.monologue, "");
  assert.equal(s.call, "f(3)");
  assert.equal(s.phase, "running");
});

test("tokens per second: server count when given, else characters/4 marked approximate", () => {
  let s = reducePanel(started(), { type: "partial", value: { monologueDelta: "x".repeat(80) } });
  assert.deepEqual(generationRate(s, 3000), { perSecond: 10, approximate: true });
  s = reducePanel(s, { type: "partial", value: { tokens: 30 } });
  assert.deepEqual(generationRate(s, 3000), { perSecond: 15, approximate: false });
  assert.equal(generationRate(reducePanel(s, { type: "cancelled" }), 3000), null);
});

test("the rendered body escapes code and marks the latest line", () => {
  let s = reducePanel(started(), { type: "partial", value: { actual: { status: "ok", return: { repr: "'<b>'" }, events: [{ line: 2, changes: { s: "'<b>'" } }] } } });
  s = reducePanel(s, { type: "partial", value: { lineStates: [{ line: 2, values: { s: "'<i>'" }, source: "predicted" }] } });
  const html = renderPanelBody(s);
  assert.ok(html.includes('<tr data-line="2" class="latest"><td>3</td><td>s = &#39;&lt;b&gt;&#39;</td><td>s = &#39;&lt;i&gt;&#39;</td></tr>'));
  assert.ok(html.includes('id="actual-return">&#39;&lt;b&gt;&#39;</code>'));
  assert.ok(!html.includes("<b>"));
});
