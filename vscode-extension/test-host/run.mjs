#!/usr/bin/env node
// Runs the extension's tests inside a real VS Code (code-server 4.100.3) with the packaged .vsix
// installed, against the real semcoder-lsp server. One suite per call:
//   node test-host/run.mjs --suite trusted|untrusted|ui --server PATH [--artifacts DIR]
// Prints one line per test; exit code 0 when every test passed.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { CodeServer, log } from "./codeServer.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const extRoot = path.dirname(here);
const repoRoot = path.dirname(extRoot);

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const suite = arg("suite", "trusted");
const server = arg("server", path.join(repoRoot, ".venv", "bin", "semcoder-lsp"));
const vsix = arg("vsix", path.join(extRoot, "dist", "semcoder-lsp.vsix"));
const artifacts = path.resolve(arg("artifacts", path.join(repoRoot, "test-artifacts")));
const example = arg("workspace", path.join(repoRoot, "examples", "demo_project"));

for (const [what, p] of [["server", server], [".vsix", vsix], ["example workspace", example]]) {
  if (!fs.existsSync(p)) {
    console.error(`run.mjs: the ${what} ${p} does not exist (run scripts/build-extension.sh / make venv first)`);
    process.exit(2);
  }
}

/** A private copy of the example, so edits and markers never touch the repository. */
function copyWorkspace() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "semcoder-ws-"));
  fs.cpSync(example, dir, { recursive: true, filter: (src) => !/__pycache__|\.marker$/.test(src) });
  fs.copyFileSync(path.join(extRoot, "test-fixtures", "side_effect.py"), path.join(dir, "side_effect.py"));
  return dir;
}

const trusted = suite !== "untrusted";
const userSettings = {
  "semcoder.server.command": server,
  "semcoder.execution.enabled": true,
  "semcoder.execution.timeoutSeconds": 10,
  "security.workspace.trust.enabled": !trusted,
  "security.workspace.trust.startupPrompt": "never",
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "telemetry.telemetryLevel": "off",
  "extensions.ignoreRecommendations": true,
  "update.mode": "none",
  "editor.hover.delay": 200,
  "window.commandCenter": false,
};
const resultsFile = path.join(os.tmpdir(), `semcoder-inhost-${process.pid}.json`);
const cs = new CodeServer({
  vsix,
  trusted,
  userSettings,
  env: {
    SEMCODER_REPLAY_SCRIPT: path.join(extRoot, "test-fixtures", "replay.txt"),
    SEMCODER_REPLAY_DELAY_S: "0.02",
    SEMCODER_INHOST_SUITE: suite,
    SEMCODER_INHOST_RESULTS: resultsFile,
    HF_ENDPOINT: "http://127.0.0.1:9",
  },
});

/** What a user does to trust the folder: Manage Workspace Trust, then the Trust button. */
async function grantTrust(page) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: 30000 });
  await input.fill(">Manage Workspace Trust");
  await page.locator(".quick-input-list .monaco-list-row", { hasText: "Manage Workspace Trust" }).first().waitFor({ timeout: 30000 });
  await page.keyboard.press("Enter");
  const button = page.locator(".workspace-trust-editor .monaco-button", { hasText: /^Trust/ }).first();
  await button.waitFor({ timeout: 30000 });
  await button.click();
  log("clicked Trust in the Workspace Trust editor");
}

let exitCode = 1;
const workspace = copyWorkspace();
try {
  cs.installVsix();
  await cs.start();
  if (suite === "ui") {
    const { runUiSmoke } = await import("./ui.mjs");
    fs.mkdirSync(artifacts, { recursive: true });
    exitCode = (await runUiSmoke(cs, workspace, artifacts)) ? 0 : 1;
  } else {
    const started = Date.now();
    const { code } = await cs.runInHost(workspace, path.join(extRoot, "out", "inhost", "index.js"), { "grant-trust": grantTrust });
    log(`extension host finished with ${code} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (fs.existsSync(resultsFile)) {
      const { results } = JSON.parse(fs.readFileSync(resultsFile, "utf8"));
      for (const r of results) console.log(`${r.ok ? "ok" : "not ok"} - [${suite}] ${r.name} (${r.ms} ms)${r.ok ? "" : "\n" + r.error}`);
      exitCode = code === 0 && results.length > 0 && results.every((r) => r.ok) ? 0 : 1;
    } else {
      console.log(`not ok - [${suite}] the extension host wrote no results (exit ${code}); code-server log: ${cs.logFile}`);
    }
  }
} catch (err) {
  console.log(`not ok - [${suite}] ${err?.stack ?? err}`);
} finally {
  await cs.stop();
  if (exitCode !== 0) {
    try {
      const logText = fs.readFileSync(cs.logFile, "utf8");
      console.error(`--- code-server log (last 3000 chars) ---\n${logText.slice(-3000)}`);
    } catch {
      /* no log */
    }
  }
  cs.cleanup();
  fs.rmSync(workspace, { recursive: true, force: true });
  fs.rmSync(resultsFile, { force: true });
}
process.exit(exitCode);
