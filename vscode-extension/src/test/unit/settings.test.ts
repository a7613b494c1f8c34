import { test } from "node:test";
import * as assert from "node:assert/strict";
import { affectsServer, affectsServerProcess, toServerSettings } from "../../logic/settings";

const reader = (values: Record<string, unknown>) => (key: string) => values[key];

test("flat VS Code keys become the server's nested object", () => {
  const s = toServerSettings(reader({ "model.path": "/m.gguf", "model.temperature": 0.5, "execution.enabled": true, "execution.timeoutSeconds": 2, "execution.python": "/usr/bin/python3" }), true);
  assert.deepEqual(s, { model: { path: "/m.gguf", temperature: 0.5 }, execution: { enabled: true, timeoutSeconds: 2, python: "/usr/bin/python3" } });
});

test("an untrusted workspace never enables execution and drops the interpreter", () => {
  const s = toServerSettings(reader({ "execution.enabled": true, "execution.python": "./evil/python", "model.path": "/m.gguf" }), false);
  assert.equal(s.execution.enabled, false);
  assert.equal("python" in s.execution, false);
  assert.equal(s.model.path, "/m.gguf");
});

test("execution stays off when the user turned it off, even when trusted", () => {
  assert.equal(toServerSettings(reader({ "execution.enabled": false }), true).execution.enabled, false);
  assert.equal(toServerSettings(reader({}), true).execution.enabled, false);
});

test("unset values are left out so the server applies its defaults; unknown keys are not read", () => {
  const asked: string[] = [];
  const s = toServerSettings((k) => {
    asked.push(k);
    return k === "model.maxTokens" ? 100 : undefined;
  }, true);
  assert.deepEqual(s.model, { maxTokens: 100 });
  assert.ok(asked.includes("model.contextSize") && asked.includes("execution.memoryMB"));
  assert.ok(asked.includes("execution.preload"));
  assert.ok(!asked.some((k) => k.startsWith("server.")));
});

test("which configuration changes reach the server, and which restart it", () => {
  const only = (section: string) => (s: string) => s === section;
  assert.equal(affectsServer(only("semcoder.model")), true);
  assert.equal(affectsServer(only("semcoder.execution")), true);
  assert.equal(affectsServer(only("editor")), false);
  assert.equal(affectsServerProcess(only("semcoder.server")), true);
  assert.equal(affectsServerProcess(only("semcoder.model")), false);
});
