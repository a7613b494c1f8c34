import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { checkLaunch, chooseServerLaunch, describeEarlyExit, splitCommandLine } from "../../logic/serverCommand";

test("a configured command wins and is split without a shell", () => {
  const l = chooseServerLaunch({ configuredCommand: '"/opt/my env/bin/semcoder-lsp" --log-level DEBUG', configuredPythonPath: "/usr/bin/python3" });
  assert.deepEqual(l, { command: "/opt/my env/bin/semcoder-lsp", args: ["--log-level", "DEBUG"], origin: "setting:server.command" });
});

test("an array command is taken as is", () => {
  assert.deepEqual(chooseServerLaunch({ configuredCommand: ["/bin/x", "a b"] }).args, ["a b"]);
});

test("python path, then the Python extension's interpreter, then PATH", () => {
  assert.deepEqual(chooseServerLaunch({ configuredPythonPath: "/venv/bin/python" }), { command: "/venv/bin/python", args: ["-m", "semcoder_lsp"], origin: "setting:server.pythonPath" });
  assert.equal(chooseServerLaunch({ configuredCommand: "  ", selectedInterpreter: "/sel/python" }).origin, "python-extension");
  assert.deepEqual(chooseServerLaunch({}), { command: "semcoder-lsp", args: [], origin: "path" });
});

test("unclosed quotes are a clear error", () => {
  assert.throws(() => splitCommandLine('"/bin/x --a'), /unclosed " quote/);
  assert.deepEqual(splitCommandLine("a  ''  b"), ["a", "", "b"]);
});

const fsWith = (files: string[], pathDirs: string[]) => ({
  isExecutableFile: (p: string) => files.includes(p),
  pathDirs,
  join: path.posix.join,
  isAbsolute: path.posix.isAbsolute,
});

test("a command is looked up on PATH, and a missing one is explained in plain words", () => {
  const ok = checkLaunch(chooseServerLaunch({}), fsWith(["/b/semcoder-lsp"], ["/a", "/b"]));
  assert.deepEqual(ok, { ok: true, resolved: "/b/semcoder-lsp" });
  const missing = checkLaunch(chooseServerLaunch({}), fsWith([], ["/a"]));
  assert.equal(missing.ok, false);
  assert.match((missing as { reason: string }).reason, /"semcoder-lsp" \(the default\) was not found on PATH\. Install it/);
  const badPath = checkLaunch(chooseServerLaunch({ configuredPythonPath: "/nope/python" }), fsWith([], []));
  assert.match((badPath as { reason: string }).reason, /\/nope\/python \(from the setting "semcoder.server.pythonPath"\) does not exist/);
});

test("an early exit names the missing package or quotes the server's last words", () => {
  assert.match(describeEarlyExit(1, null, "Traceback...\nModuleNotFoundError: No module named 'semcoder_lsp'\n"), /does not have the semcoder-lsp package/);
  assert.equal(describeEarlyExit(2, null, "x\ny\nerror: bad flag --foo\n"), "SemCoder's language server exited with code 2 while starting. It said: x y error: bad flag --foo");
  assert.match(describeEarlyExit(null, "SIGKILL", ""), /was stopped by signal SIGKILL while starting\.$/);
});
