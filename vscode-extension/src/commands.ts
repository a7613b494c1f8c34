/** The palette commands other than server lifecycle: Trace function…, Predict input…, Explain, Repair. */
import * as vscode from "vscode";
import { LanguageClient } from "vscode-languageclient/node";
import { defAt, PythonDef, pythonDefs } from "./logic/pythonDefs";
import { TracePanel } from "./tracePanel";

const REPAIR_PROGRESS_TITLE = "SemCoder: repairing";

function activePythonEditor(): vscode.TextEditor | undefined {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== "python") {
    void vscode.window.showWarningMessage("Open a Python file first: SemCoder works on the active Python editor.");
    return undefined;
  }
  return editor;
}

/** The traceable functions of the document: top-level `def`s and methods (`Class.method`). */
export function functionsIn(document: vscode.TextDocument): PythonDef[] {
  const lines: string[] = [];
  for (let i = 0; i < document.lineCount; i++) lines.push(document.lineAt(i).text);
  return pythonDefs(lines);
}

/** The function or method the cursor is in, else undefined. */
function functionAtCursor(editor: vscode.TextEditor): string | undefined {
  return defAt(functionsIn(editor.document), editor.selection.active.line);
}

async function pickFunction(editor: vscode.TextEditor, title: string, functionsOnly = false): Promise<string | undefined> {
  // Input prediction is for top-level functions only (the server says why); tracing takes methods too.
  const functions = functionsIn(editor.document).filter((f) => !functionsOnly || !f.name.includes("."));
  if (functions.length === 0) {
    void vscode.window.showWarningMessage(`This file has no Python functions to ${functionsOnly ? "predict an input for" : "trace"}.`);
    return undefined;
  }
  const current = functionAtCursor(editor);
  const items = functions.map((f) => ({ label: f.name, description: `line ${f.line + 1}`, picked: f.name === current }));
  items.sort((a, b) => Number(b.picked) - Number(a.picked));
  const choice = await vscode.window.showQuickPick(items, { title, placeHolder: "Function" });
  return choice?.label;
}

export function registerCommands(
  context: vscode.ExtensionContext,
  panel: TracePanel,
  getClient: () => Promise<LanguageClient>,
  log: vscode.LogOutputChannel,
): void {
  // A command that fails (server down, bad input) says why in a notification instead of VS Code's
  // generic "command failed".
  const register = (id: string, fn: (...args: any[]) => unknown) =>
    context.subscriptions.push(
      vscode.commands.registerCommand(id, async (...args: any[]) => {
        try {
          return await fn(...args);
        } catch (err: any) {
          log.error(`${id}: ${err?.message ?? String(err)}`);
          void vscode.window.showErrorMessage(err?.message ?? String(err), "Show Logs").then((c) => c && log.show(true));
          return undefined;
        }
      }),
    );

  register("semcoder.traceFunction", async (arg?: { uri?: string; function?: string; call?: string }) => {
    const editor = activePythonEditor();
    if (!editor && !arg?.uri) return;
    const uri = arg?.uri ?? editor!.document.uri.toString();
    const fn = arg?.function ?? (await pickFunction(editor!, "SemCoder: Trace function…"));
    if (!fn) return;
    const call =
      arg?.call ??
      (await vscode.window.showInputBox({
        title: `SemCoder: trace ${fn}`,
        prompt: "The call to trace; leave empty to use one found in the file (an assert, a doctest, a # semcoder: comment)",
        value: "",
        placeHolder: `${fn}(…)`,
      }));
    if (call === undefined) return;
    return panel.run({ method: "semcoder/trace", uri, functionName: fn, call: call.trim() || undefined, params: {}, title: call.trim() || fn });
  });

  // Code-lens commands the server emits (docs/lsp-protocol.md, textDocument/codeLens).
  register("semcoder.showTrace", (arg: { uri: string; function: string; call?: string }) =>
    panel.run({ method: "semcoder/trace", uri: arg.uri, functionName: arg.function, call: arg.call, params: {}, title: arg.call ?? arg.function }),
  );
  register("semcoder.supplyCall", async (arg: { uri: string; function: string; example?: string }) => {
    // The server's example has the call's shape (a method needs an instance): `Basket(...).total(...)`.
    const shape = arg.example ?? `${arg.function}(...)`;
    const call = await vscode.window.showInputBox({ title: `SemCoder: a call of ${arg.function}`, placeHolder: shape.replace(/\.\.\./g, "…"), value: shape.replace(/\.\.\./g, "") });
    if (!call) return;
    const client = await getClient();
    await client.sendRequest("workspace/executeCommand", { command: "semcoder.setCall", arguments: [{ uri: arg.uri, function: arg.function, call }] });
    return panel.run({ method: "semcoder/trace", uri: arg.uri, functionName: arg.function, call, params: {}, title: call });
  });

  register("semcoder.predictInput", async (arg?: { uri?: string; function?: string; output?: string }) => {
    const editor = activePythonEditor();
    if (!editor && !arg?.uri) return;
    const uri = arg?.uri ?? editor!.document.uri.toString();
    const fn = arg?.function ?? (await pickFunction(editor!, "SemCoder: Predict input…", true));
    if (!fn) return;
    const output = arg?.output ?? (await vscode.window.showInputBox({ title: `SemCoder: find an input of ${fn}`, prompt: "The return value you want (a Python literal)", placeHolder: "42" }));
    if (!output) return;
    return panel.run({ method: "semcoder/predictInput", uri, functionName: fn, params: { output }, title: `${fn}(?) == ${output}` });
  });

  register("semcoder.explain", async () => {
    const editor = activePythonEditor();
    if (!editor) return;
    const fn = functionAtCursor(editor);
    // Explain is the model's forward monologue only: no sandbox run.
    return panel.run({
      method: "semcoder/trace",
      uri: editor.document.uri.toString(),
      functionName: fn,
      params: { position: { line: editor.selection.active.line, character: editor.selection.active.character }, predict: true, execute: false },
      title: `Explain ${fn ?? "the code at the cursor"}`,
    });
  });

  register("semcoder.repair", async () => {
    const editor = activePythonEditor();
    if (!editor) return;
    const client = await getClient();
    const document = editor.document;
    const result: any = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: REPAIR_PROGRESS_TITLE, cancellable: true },
      async (_progress, token) => {
        try {
          return await client.sendRequest("semcoder/repair", { textDocument: { uri: document.uri.toString() }, position: { line: editor.selection.active.line, character: editor.selection.active.character } }, token);
        } catch (err: any) {
          if (token.isCancellationRequested) return undefined;
          log.error(`semcoder/repair failed: ${err?.message ?? err}`);
          void vscode.window.showErrorMessage(`SemCoder could not repair this function: ${err?.message ?? err}`);
          return undefined;
        }
      },
    );
    if (!result) return;
    const candidates: any[] = (result.candidates ?? []).filter((c: any) => c.edit);
    if (candidates.length === 0) {
      void vscode.window.showWarningMessage(result.message ?? "SemCoder proposed no repair.");
      return;
    }
    const pick = candidates.length === 1 ? { candidate: candidates[0] } : await vscode.window.showQuickPick(
      candidates.map((c) => ({ label: c.title, detail: c.verification?.message ?? undefined, candidate: c })),
      { title: "SemCoder: choose a repair" },
    );
    if (!pick) return;
    const edit = (await client.protocol2CodeConverter.asWorkspaceEdit(pick.candidate.edit as any))!;
    const applied = await vscode.workspace.applyEdit(edit);
    void vscode.window.showInformationMessage(applied ? `Applied: ${pick.candidate.title}` : "The repair could not be applied (the file changed?).");
  });
}
