/** Entry point: wires the server manager, status bar, trace panel and commands together. */
import * as vscode from "vscode";
import { LanguageClient } from "vscode-languageclient/node";
import { registerCommands } from "./commands";
import { downloadModelCommand, DownloadOutcome } from "./downloadModel";
import { ServerManager } from "./serverManager";
import { StatusBar } from "./statusBar";
import { TracePanel } from "./tracePanel";
import { PanelState } from "./logic/panelState";

/** What activate() returns: used by the in-host tests and by other extensions. */
export interface SemcoderApi {
  client(): Promise<LanguageClient>;
  serverSettings(): { model: Record<string, unknown>; execution: Record<string, unknown> };
  runTrace(uri: string, functionName: string, call?: string): Promise<PanelState>;
  stopTrace(): void;
  panelState(): PanelState;
  statusText(): string;
  restartServer(): Promise<void>;
  downloadModel(spec: string): Promise<DownloadOutcome>;
  serverPid(): number | undefined;
  lastStartFailure(): string | undefined;
}

let manager: ServerManager | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<SemcoderApi> {
  const log = vscode.window.createOutputChannel("SemCoder", { log: true });
  const status = new StatusBar();
  manager = new ServerManager(log, log);
  const server = manager;
  const getClient = () => server.whenReady();
  const panel = new TracePanel(getClient, (g) => status.setGenerating(g), log);
  context.subscriptions.push(log, status, panel, server, server.onModelState((s) => status.setModelState(s)));

  const register = (id: string, fn: (...args: any[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  register("semcoder.showLogs", () => server.showLogs());
  register("semcoder.restartServer", () => server.restart());
  register("semcoder.openSettings", () => vscode.commands.executeCommand("workbench.action.openSettings", "@ext:semcoder.semcoder-lsp"));
  register("semcoder.openTracePanel", () => panel.show());
  register("semcoder.stopTrace", () => panel.stop());
  register("semcoder.rerunTrace", () => panel.rerun());
  register("semcoder.downloadModel", (spec?: string) => downloadModelCommand(context, log, typeof spec === "string" ? spec : undefined));
  registerCommands(context, panel, getClient, log);

  // Start in the background: activation must not wait for Python to import the server.
  void server.start();

  return {
    client: getClient,
    serverSettings: () => server.serverSettings(),
    runTrace: (uri, functionName, call) => panel.run({ method: "semcoder/trace", uri, functionName, call, params: {}, title: call ?? functionName }),
    stopTrace: () => panel.stop(),
    panelState: () => panel.currentState,
    statusText: () => status.text,
    restartServer: () => server.restart(),
    downloadModel: (spec) => downloadModelCommand(context, log, spec),
    serverPid: () => server.serverPid,
    lastStartFailure: () => server.lastFailure,
  };
}

export async function deactivate(): Promise<void> {
  await manager?.dispose();
  manager = undefined;
}
