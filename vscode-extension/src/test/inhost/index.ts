/**
 * Tests that run inside a real VS Code extension host (code-server), against the installed .vsix
 * and the real `semcoder-lsp` server. Loaded through `extensionTestsPath`; `run()` resolves when
 * all tests passed. Results are also written as JSON to $SEMCODER_INHOST_RESULTS for the runner.
 *
 * $SEMCODER_INHOST_SUITE picks the suite: "trusted" (execution on) or "untrusted" (restricted mode).
 */
import * as fs from "fs";
import * as path from "path";
import * as vscode from "vscode";
import type { SemcoderApi } from "../../extension";

type Test = { name: string; fn: () => Promise<void> };
const EXTENSION_ID = "semcoder.semcoder-lsp";

function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

/** Polls until check() returns a value (not undefined/false), or fails with the last seen state. */
async function eventually<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
      last = v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

function workspaceFile(name: string): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert(folder, "no workspace folder is open");
  return vscode.Uri.joinPath(folder.uri, name);
}

async function openShapes(): Promise<vscode.TextDocument> {
  const doc = await vscode.workspace.openTextDocument(workspaceFile("shapes.py"));
  await vscode.window.showTextDocument(doc);
  return doc;
}

function positionOf(doc: vscode.TextDocument, needle: string, offset = 0): vscode.Position {
  const index = doc.getText().indexOf(needle);
  assert(index >= 0, `"${needle}" is not in ${doc.uri.fsPath}`);
  return doc.positionAt(index + offset);
}

function hoverText(hovers: vscode.Hover[] | undefined): string {
  return (hovers ?? [])
    .flatMap((h) => h.contents)
    .map((c) => (typeof c === "string" ? c : "value" in c ? c.value : ""))
    .join("\n");
}

async function api(): Promise<SemcoderApi> {
  const ext = vscode.extensions.getExtension<SemcoderApi>(EXTENSION_ID);
  assert(ext, `${EXTENSION_ID} is not installed`);
  const exports = await ext.activate();
  assert(ext.extensionPath.includes(`${path.sep}ext${path.sep}`), `the extension under test is not the installed .vsix: ${ext.extensionPath}`);
  return exports;
}

/** PIDs of all descendants of pid (Linux /proc): the sandbox's interpreters are the server's children. */
function descendantsOf(pid: number): string[] {
  const byParent = new Map<number, number[]>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      byParent.set(ppid, [...(byParent.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* ended meanwhile */
    }
  }
  const out: string[] = [];
  const stack = [pid];
  while (stack.length) {
    for (const child of byParent.get(stack.pop()!) ?? []) {
      let cmd = "";
      try {
        cmd = fs.readFileSync(`/proc/${child}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      } catch {
        /* ended */
      }
      out.push(`${child} ${cmd}`);
      stack.push(child);
    }
  }
  return out;
}

function semcoderDiagnostics(uri: vscode.Uri): vscode.Diagnostic[] {
  return vscode.languages.getDiagnostics(uri).filter((d) => d.source === "semcoder");
}

const trusted: Test[] = [
  {
    name: "the installed extension starts the real server and sends trust-gated settings",
    fn: async () => {
      const a = await api();
      await a.client();
      assert(vscode.workspace.isTrusted, "the trusted suite runs in an untrusted workspace");
      const s = a.serverSettings();
      assert(s.execution.enabled === true, `execution.enabled should be true when trusted: ${JSON.stringify(s)}`);
      assert(typeof a.serverPid() === "number", "no server pid");
    },
  },
  {
    name: "hover on a call returns a trace with the real return value",
    fn: async () => {
      const doc = await openShapes();
      const pos = positionOf(doc, "rectangle_area(3, 4)", 2);
      const text = await eventually("a hover with the actual return value 12", async () => {
        const t = hoverText(await vscode.commands.executeCommand<vscode.Hover[]>("vscode.executeHoverProvider", doc.uri, pos));
        return /actual/i.test(t) && /\b12\b/.test(t) ? t : undefined;
      });
      assert(text.includes("rectangle_area"), `hover does not name the function:\n${text}`);
    },
  },
  {
    name: "inlay hints show the traced values, and the status bar says the model is ready",
    fn: async () => {
      const a = await api();
      const doc = await openShapes();
      const fnLine = positionOf(doc, "def rectangle_area").line;
      const hints = await eventually("inlay hints with area = 12", async () => {
        const all = await vscode.commands.executeCommand<vscode.InlayHint[]>("vscode.executeInlayHintProvider", doc.uri, new vscode.Range(0, 0, doc.lineCount, 0));
        const texts = (all ?? []).filter((h) => h.position.line >= fnLine && h.position.line <= fnLine + 3).map((h) => (typeof h.label === "string" ? h.label : h.label.map((p) => p.value).join("")));
        return texts.some((t) => /area = 12/.test(t)) ? texts : undefined;
      });
      assert(hints.length > 0, "no hints");
      await eventually("the status bar to say ready", () => /SemCoder: ready/.test(a.statusText()) || undefined, 20000);
    },
  },
  {
    name: "diagnostics appear for the failing assert",
    fn: async () => {
      const doc = await openShapes();
      const line = positionOf(doc, "assert average([1, 2, 3]) == 2.0").line;
      const diag = await eventually("a semcoder diagnostic on the failing assert", () =>
        semcoderDiagnostics(doc.uri).find((d) => d.range.start.line <= line && d.range.end.line >= line || /average/.test(d.message)),
      );
      assert(diag.severity === vscode.DiagnosticSeverity.Error, `expected an Error, got severity ${diag.severity}: ${diag.message}`);
      assert(/average\(\[1, 2, 3\]\)/.test(diag.message) && /3\.0/.test(diag.message), `message should name the call and the real value 3.0: ${diag.message}`);
    },
  },
  {
    name: "the code-action provider returns the verified quick fix for the failing assert",
    fn: async () => {
      const doc = await openShapes();
      const diag = await eventually("the semcoder diagnostic", () => semcoderDiagnostics(doc.uri).find((d) => /average/.test(d.message)));
      const actions = await eventually("a resolved Repair with SemCoder action", async () => {
        const all = await vscode.commands.executeCommand<vscode.CodeAction[]>("vscode.executeCodeActionProvider", doc.uri, diag.range, vscode.CodeActionKind.QuickFix.value, 5);
        const repair = (all ?? []).filter((a) => a.title.startsWith("Repair with SemCoder"));
        return repair.length && repair.every((a) => a.edit) ? repair : undefined;
      }, 60000);
      // VS Code copies only the edit from codeAction/resolve (not the title), so the verdict is
      // checked through semcoder/repair, which runs the same candidate against the asserts.
      const fix = actions[0];
      assert(fix.kind?.value === "quickfix", `kind ${fix.kind?.value}`);
      const edits = fix.edit!.get(doc.uri);
      assert(edits.length === 1 && edits[0].newText.includes("count = len(values)\n"), `the edit should fix the off-by-one: ${JSON.stringify(edits)}`);
      const client = await (await api()).client();
      const repair: any = await client.sendRequest("semcoder/repair", { textDocument: { uri: doc.uri.toString() }, position: diag.range.start });
      const candidate = repair.candidates?.[0];
      assert(candidate?.verified === true, `the repair was not verified by running it: ${JSON.stringify(candidate?.verification ?? repair)}`);
      assert(candidate.title === "Repair with SemCoder (verified)", `title ${candidate.title}`);
    },
  },
  {
    name: "control for the trust test: in a trusted workspace the code runs, in the server's sandbox processes",
    fn: async () => {
      const a = await api();
      const client = await a.client();
      const doc = await vscode.workspace.openTextDocument(workspaceFile("side_effect.py"));
      await vscode.window.showTextDocument(doc);
      const result: any = await client.sendRequest("semcoder/trace", { textDocument: { uri: doc.uri.toString() }, function: "announce", call: "announce()", predict: false });
      assert(result.actual?.return?.repr === "1" && /this file's code ran/.test(result.actual?.stdout), `announce() did not run: ${JSON.stringify(result.actual)}`);
      const children = descendantsOf(a.serverPid()!);
      assert(children.length > 0, "the server has no sandbox process after running code");
    },
  },
  {
    name: "the trace panel streams partial results and ends with the real value",
    fn: async () => {
      const a = await api();
      const doc = await openShapes();
      const state = await a.runTrace(doc.uri.toString(), "average", "average([1, 2, 3])");
      assert(state.phase === "done", `phase ${state.phase}: ${state.message}`);
      assert(state.actual?.return?.repr === "3.0", `actual return ${JSON.stringify(state.actual?.return)}`);
      assert(state.monologue.length > 0, "no monologue");
      assert(state.partials >= 3, `only ${state.partials} partial results arrived through client.onProgress`);
      assert(state.lastLine !== null, "no line was highlighted");
    },
  },
  {
    name: "Stop cancels a running trace",
    fn: async () => {
      const a = await api();
      const doc = await openShapes();
      const running = a.runTrace(doc.uri.toString(), "perimeter", "perimeter([3, 4, 5])");
      await eventually("the first streamed text", () => a.panelState().monologue.length > 0 || a.panelState().phase !== "running", 30000);
      await eventually("the status bar to show generating with tokens/s", () => /SemCoder: generating ≈?\d+\.\d tok\/s/.test(a.statusText()) || a.panelState().phase !== "running", 10000);
      assert(a.panelState().phase === "running", "the trace finished before it could be stopped");
      a.stopTrace();
      const state = await running;
      assert(state.phase === "cancelled" || state.phase === "done", `phase ${state.phase}`);
      assert(a.panelState().phase === "cancelled", `Stop did not cancel (phase ${a.panelState().phase})`);
    },
  },
  {
    name: "Download model gives a clear error when the host cannot be reached",
    fn: async () => {
      const a = await api();
      const outcome = await a.downloadModel("owner/repo:model.gguf");
      assert(outcome.error && /Cannot download the model: the connection to 127\.0\.0\.1:9 failed \(ECONNREFUSED\)/.test(outcome.error), `got ${JSON.stringify(outcome)}`);
      assert(!vscode.workspace.getConfiguration("semcoder").get<string>("model.path"), "model.path changed after a failed download");
    },
  },
  {
    name: "a crashed server is restarted with backoff",
    fn: async () => {
      const a = await api();
      const before = a.serverPid()!;
      process.kill(before, "SIGKILL");
      await eventually("a new server process", () => {
        const now = a.serverPid();
        return now !== undefined && now !== before ? now : undefined;
      }, 20000);
      await a.client();
      const doc = await openShapes();
      const pos = positionOf(doc, "rectangle_area(3, 4)", 2);
      await eventually("hover after the restart", async () =>
        /\b12\b/.test(hoverText(await vscode.commands.executeCommand<vscode.Hover[]>("vscode.executeHoverProvider", doc.uri, pos))) || undefined,
      );
    },
  },
  {
    name: "Predict input… streams the backward monologue and shows the proposed call",
    fn: async () => {
      const doc = await openShapes();
      const state: any = await vscode.commands.executeCommand("semcoder.predictInput", { uri: doc.uri.toString(), function: "average", output: "2.0" });
      assert(state?.phase === "done", `phase ${state?.phase}: ${state?.message}`);
      assert(/Proposed call: average\(\[1, 2, 3\]\)/.test(state.message ?? ""), `message: ${state.message}`);
      assert(state.partials > 0 && state.monologue.length > 0, "no streamed monologue");
    },
  },
  {
    name: "Explain gives the forward monologue of the function at the cursor without running it",
    fn: async () => {
      const doc = await openShapes();
      const editor = await vscode.window.showTextDocument(doc);
      const at = positionOf(doc, "total = sum(values)");
      editor.selection = new vscode.Selection(at, at);
      const state: any = await vscode.commands.executeCommand("semcoder.explain");
      assert(state?.phase === "done", `phase ${state?.phase}: ${state?.message}`);
      assert(state.functionName === "average", `function ${state.functionName}`);
      assert(state.actual === null, "Explain ran the code");
      assert(/Execution Simulation/.test(state.monologue), "no monologue");
    },
  },
  {
    name: "Repair fixes the function at the cursor with the verified candidate",
    fn: async () => {
      const doc = await openShapes();
      const editor = await vscode.window.showTextDocument(doc);
      const at = positionOf(doc, "assert average(");
      editor.selection = new vscode.Selection(at, at);
      await vscode.commands.executeCommand("semcoder.repair");
      const text = doc.getText();
      assert(text.includes("    count = len(values)\n") && !text.includes("len(values) - 1"), "the repair was not applied");
    },
  },
  {
    name: "a server that cannot start is explained in plain words, and fixing the setting recovers",
    fn: async () => {
      const a = await api();
      const config = vscode.workspace.getConfiguration("semcoder");
      const good = config.get<string>("server.command");
      await config.update("server.command", "/nonexistent/bin/semcoder-lsp", vscode.ConfigurationTarget.Global);
      try {
        const reason = await eventually("a start failure", () => a.lastStartFailure(), 20000);
        assert(/\/nonexistent\/bin\/semcoder-lsp \(from the setting "semcoder.server.command"\) does not exist or is not an executable file/.test(reason), reason);
        assert(/server stopped/.test(a.statusText()), `status bar: ${a.statusText()}`);
        // Commands waiting for the server fail at once with the same reason instead of hanging.
        const rejected = await Promise.race([
          a.client().then(() => "resolved", (e: Error) => e.message),
          new Promise<string>((r) => setTimeout(() => r("still waiting after 3 s"), 3000)),
        ]);
        assert(rejected === reason, `client() while the server is down: ${rejected}`);
        // An interpreter without the package: the server exits at once; the reason says so.
        await config.update("server.command", "", vscode.ConfigurationTarget.Global);
        await config.update("server.pythonPath", "/usr/bin/python3", vscode.ConfigurationTarget.Global);
        const missing = await eventually("a start failure naming the missing package", () => {
          const r = a.lastStartFailure();
          if (r && /does not have the semcoder-lsp package/.test(r)) return r;
          throw new Error(`last start failure: ${r}; status: ${a.statusText()}`);
        }, 30000);
        assert(missing.startsWith("SemCoder cannot start its language server"), missing);
      } finally {
        await config.update("server.pythonPath", undefined, vscode.ConfigurationTarget.Global);
        await config.update("server.command", good, vscode.ConfigurationTarget.Global);
      }
      await eventually("the server to run again", () => (a.lastStartFailure() === undefined && /SemCoder: (ready|no model)/.test(a.statusText())) || undefined, 30000);
    },
  },
];

const untrusted: Test[] = [
  {
    name: "restricted mode: the extension runs but execution is off whatever the settings say",
    fn: async () => {
      assert(!vscode.workspace.isTrusted, "the untrusted suite runs in a trusted workspace");
      const a = await api();
      await a.client();
      assert(vscode.workspace.getConfiguration("semcoder").get("execution.enabled") === true, "the user setting should ask for execution");
      assert(a.serverSettings().execution.enabled === false, "execution.enabled was sent as true in an untrusted workspace");
    },
  },
  {
    name: "with trust off nothing executes: no actual trace, no real-run diagnostics",
    fn: async () => {
      const a = await api();
      const client = await a.client();
      const doc = await openShapes();
      const result: any = await client.sendRequest("semcoder/trace", { textDocument: { uri: doc.uri.toString() }, function: "rectangle_area", call: "rectangle_area(3, 4)" });
      assert(result.actual === null, `the server ran the code: ${JSON.stringify(result.actual)}`);
      assert(typeof result.executionNote === "string" && result.executionNote.length > 0, "no note says execution is disabled");
      const pos = positionOf(doc, "rectangle_area(3, 4)", 2);
      const hover = hoverText(await vscode.commands.executeCommand<vscode.Hover[]>("vscode.executeHoverProvider", doc.uri, pos));
      assert(!/return value[^\n]*\b12\b|actual[^\n]*\b12\b/i.test(hover), `the hover shows a real result:\n${hover}`);
      await new Promise((r) => setTimeout(r, 3000));
      const actual = semcoderDiagnostics(doc.uri).filter((d) => (d as any).data?.kind === "actual" || d.severity === vscode.DiagnosticSeverity.Error);
      assert(actual.length === 0, `real-run diagnostics in an untrusted workspace: ${actual.map((d) => d.message).join("; ")}`);
      const effect = await vscode.workspace.openTextDocument(workspaceFile("side_effect.py"));
      await vscode.window.showTextDocument(effect);
      const ran: any = await client.sendRequest("semcoder/trace", { textDocument: { uri: effect.uri.toString() }, function: "announce", call: "announce()" });
      assert(ran.actual === null, `announce() ran: ${JSON.stringify(ran.actual)}`);
      // The sandbox runs code in child processes of the server: there must be none.
      const children = descendantsOf(a.serverPid()!);
      assert(children.length === 0, `the server started processes in an untrusted workspace: ${children.join(", ")}`);
    },
  },
  {
    name: "granting trust reaches the running server: execution starts without a restart",
    fn: async () => {
      const a = await api();
      const pidBefore = a.serverPid();
      const doc = await openShapes();
      const granted = new Promise<void>((resolve) => vscode.workspace.onDidGrantWorkspaceTrust(() => resolve()));
      console.log("UI-ACTION: grant-trust");
      await Promise.race([granted, new Promise((_, reject) => setTimeout(() => reject(new Error("trust was not granted through the UI within 60 s")), 60000))]);
      assert(vscode.workspace.isTrusted, "still untrusted");
      assert(a.serverSettings().execution.enabled === true, "execution.enabled is not true after trust was granted");
      const client = await a.client();
      const result: any = await eventually("an actual trace after trust was granted", async () => {
        const r: any = await client.sendRequest("semcoder/trace", { textDocument: { uri: doc.uri.toString() }, function: "rectangle_area", call: "rectangle_area(3, 4)", predict: false });
        return r.actual ? r : undefined;
      });
      assert(result.actual.return?.repr === "12", `actual ${JSON.stringify(result.actual)}`);
      assert(a.serverPid() === pidBefore, "the server was restarted instead of receiving the change live");
    },
  },
];

export async function run(): Promise<void> {
  const suiteName = process.env.SEMCODER_INHOST_SUITE ?? "trusted";
  const tests = suiteName === "untrusted" ? untrusted : trusted;
  const only = process.env.SEMCODER_INHOST_ONLY;
  const results: { name: string; ok: boolean; error?: string; ms: number }[] = [];
  for (const t of tests) {
    if (only && !t.name.includes(only)) continue;
    const started = Date.now();
    try {
      await t.fn();
      results.push({ name: t.name, ok: true, ms: Date.now() - started });
      console.log(`ok - ${t.name}`);
    } catch (err) {
      const error = err instanceof Error ? err.stack ?? err.message : String(err);
      results.push({ name: t.name, ok: false, error, ms: Date.now() - started });
      console.log(`not ok - ${t.name}\n${error}`);
    }
  }
  const out = process.env.SEMCODER_INHOST_RESULTS;
  if (out) fs.writeFileSync(out, JSON.stringify({ suite: suiteName, results }, null, 2));
  const failed = results.filter((r) => !r.ok);
  if (failed.length) throw new Error(`${failed.length} of ${results.length} in-host tests failed: ${failed.map((f) => f.name).join("; ")}`);
}
