import { test } from "node:test";
import * as assert from "node:assert/strict";
import { fromServerStatus, statusView } from "../../logic/statusState";

test("server states map onto the status bar", () => {
  assert.deepEqual(fromServerStatus({ state: "noModel", message: "none" }), { kind: "notConfigured", message: "none" });
  assert.deepEqual(fromServerStatus({ state: "loading", percentage: 42.4 }), { kind: "loading", percentage: 42.4 });
  assert.deepEqual(fromServerStatus({ state: "ready", modelId: "tiny" }), { kind: "ready", modelId: "tiny" });
  assert.equal(fromServerStatus({ state: "weird" }).kind, "error");
});

test("texts and click targets", () => {
  assert.equal(statusView({ kind: "loading", percentage: 42.4 }).text, "$(loading~spin) SemCoder: loading 42%");
  assert.equal(statusView({ kind: "loading" }).text, "$(loading~spin) SemCoder: loading");
  assert.equal(statusView({ kind: "generating", tokensPerSecond: 12.34 }).text, "$(pulse) SemCoder: generating 12.3 tok/s");
  assert.equal(statusView({ kind: "generating", tokensPerSecond: 3, approximate: true }).text, "$(pulse) SemCoder: generating ≈3.0 tok/s");
  assert.equal(statusView({ kind: "notConfigured" }).command, "semcoder.openSettings");
  assert.equal(statusView({ kind: "ready" }).command, "semcoder.openTracePanel");
  const err = statusView({ kind: "error", message: "GGUF is corrupt" });
  assert.equal(err.isError, true);
  assert.equal(err.tooltip, "GGUF is corrupt");
});
