/**
 * The "SemCoder Trace" webview panel. It streams one `semcoder/trace` (or `semcoder/predictInput`)
 * request through `client.onProgress` with a token the extension chose, offers Stop (cancels the
 * request) and Re-run, and highlights in the editor the line whose state arrived last.
 */
import * as vscode from "vscode";
import { CancellationTokenSource, LanguageClient, ProgressType } from "vscode-languageclient/node";
import {
  generationRate,
  initialPanelState,
  PanelAction,
  PanelState,
  reducePanel,
  renderPanelBody,
  TracePartial,
  TraceResultLike,
} from "./logic/panelState";
import { ModelState } from "./logic/statusState";

const TRACE_PROGRESS = new ProgressType<TracePartial>();
const REQUEST_CANCELLED = -32800;

export interface TraceRequest {
  method: "semcoder/trace" | "semcoder/predictInput";
  uri: string;
  functionName?: string;
  call?: string;
  /** Extra params (position, predict, execute, output…) passed through to the server. */
  params: Record<string, unknown>;
  title: string;
}

export class TracePanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private state: PanelState = initialPanelState();
  private lastRequest: TraceRequest | undefined;
  private running: { cts: CancellationTokenSource; progress: vscode.Disposable } | undefined;
  private tokenCounter = 0;
  private rateTimer: NodeJS.Timeout | undefined;
  private readonly highlight = vscode.window.createTextEditorDecorationType({
    isWholeLine: true,
    backgroundColor: new vscode.ThemeColor("editor.rangeHighlightBackground"),
    border: "1px solid",
    borderColor: new vscode.ThemeColor("focusBorder"),
  });
  private readonly onDidChangeEmitter = new vscode.EventEmitter<PanelState>();
  readonly onDidChange = this.onDidChangeEmitter.event;

  constructor(
    private readonly getClient: () => Promise<LanguageClient>,
    private readonly reportGenerating: (state: ModelState | undefined) => void,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  get currentState(): PanelState {
    return this.state;
  }

  /** Opens (or reveals) the panel without starting anything. */
  show(): void {
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel("semcoderTrace", "SemCoder Trace", { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
        enableScripts: true,
        retainContextWhenHidden: true,
      });
      this.panel.webview.html = this.html();
      this.panel.webview.onDidReceiveMessage((msg: { type: string }) => {
        if (msg.type === "stop") this.stop();
        if (msg.type === "rerun") void this.rerun();
        if (msg.type === "ready") this.render();
      });
      this.panel.onDidDispose(() => {
        this.stop();
        this.panel = undefined;
      });
    } else {
      this.panel.reveal(undefined, true);
    }
    this.render();
  }

  async run(request: TraceRequest): Promise<PanelState> {
    this.stop();
    this.lastRequest = request;
    this.show();
    this.dispatch({ type: "start", uri: request.uri, functionName: request.functionName ?? null, call: request.call ?? request.title, nowMs: Date.now() });
    let client: LanguageClient;
    try {
      client = await this.getClient();
    } catch (err) {
      this.dispatch({ type: "error", message: String(err) });
      return this.state;
    }
    const token = `semcoder-panel-${process.pid}-${++this.tokenCounter}`;
    const cts = new CancellationTokenSource();
    const progress = client.onProgress(TRACE_PROGRESS, token, (value) => this.dispatch({ type: "partial", value }));
    this.running = { cts, progress };
    this.rateTimer = setInterval(() => this.publishRate(), 500);
    const params: Record<string, unknown> = {
      textDocument: { uri: request.uri },
      ...(request.functionName ? { function: request.functionName } : {}),
      ...(request.call ? { call: request.call } : {}),
      ...request.params,
      partialResultToken: token,
    };
    try {
      const result = await client.sendRequest<any>(request.method, params, cts.token);
      if (this.running?.cts !== cts) return this.state; // superseded by Stop or another run
      this.dispatch({ type: "result", result: request.method === "semcoder/predictInput" ? predictInputAsTrace(result) : (result as TraceResultLike) });
    } catch (err: any) {
      if (cts.token.isCancellationRequested || err?.code === REQUEST_CANCELLED) {
        this.dispatch({ type: "cancelled" });
      } else {
        this.log.error(`${request.method} failed: ${err?.message ?? String(err)}`);
        this.dispatch({ type: "error", message: err?.message ?? String(err) });
      }
    } finally {
      if (this.running?.cts === cts) this.finishRun();
    }
    return this.state;
  }

  /** Stop: cancels the request ($/cancelRequest reaches the server, which stops generating). */
  stop(): void {
    if (!this.running) return;
    this.running.cts.cancel();
    this.dispatch({ type: "cancelled" });
    this.finishRun();
  }

  rerun(): Promise<PanelState> | undefined {
    return this.lastRequest ? this.run(this.lastRequest) : undefined;
  }

  private finishRun(): void {
    this.running?.progress.dispose();
    this.running = undefined;
    if (this.rateTimer) clearInterval(this.rateTimer);
    this.rateTimer = undefined;
    this.reportGenerating(undefined);
    this.render();
  }

  private publishRate(): void {
    const rate = generationRate(this.state, Date.now());
    if (rate) this.reportGenerating({ kind: "generating", tokensPerSecond: rate.perSecond, approximate: rate.approximate });
    else if (this.state.modelStatus === "generating") this.reportGenerating({ kind: "generating" });
  }

  private dispatch(action: PanelAction): void {
    const before = this.state.lastLine;
    this.state = reducePanel(this.state, action);
    if (this.state.lastLine !== before) this.highlightLine();
    this.render();
    this.onDidChangeEmitter.fire(this.state);
  }

  private highlightLine(): void {
    const line = this.state.lastLine;
    for (const editor of vscode.window.visibleTextEditors) {
      if (editor.document.uri.toString() !== this.state.uri || line === null || line >= editor.document.lineCount) {
        editor.setDecorations(this.highlight, []);
        continue;
      }
      const range = editor.document.lineAt(line).range;
      editor.setDecorations(this.highlight, [range]);
      editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    }
  }

  private render(): void {
    if (!this.panel) return;
    void this.panel.webview.postMessage({ type: "render", body: renderPanelBody(this.state), running: this.state.phase === "running", canRerun: !!this.lastRequest });
  }

  private html(): string {
    const nonce = Math.random().toString(36).slice(2);
    return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${nonce}';">
<style>
 body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 12px; }
 button { background: var(--vscode-button-background); color: var(--vscode-button-foreground); border: none; padding: 4px 12px; margin-right: 6px; cursor: pointer; }
 button:disabled { opacity: 0.5; cursor: default; }
 table { border-collapse: collapse; margin: 8px 0; }
 td, th { border: 1px solid var(--vscode-panel-border); padding: 2px 8px; font-family: var(--vscode-editor-font-family); text-align: left; }
 tr.latest { background: var(--vscode-editor-rangeHighlightBackground); outline: 1px solid var(--vscode-focusBorder); }
 pre { white-space: pre-wrap; font-family: var(--vscode-editor-font-family); background: var(--vscode-textCodeBlock-background); padding: 6px; }
</style></head>
<body>
<div id="toolbar"><button id="stop" disabled>Stop</button><button id="rerun" disabled>Re-run</button></div>
<div id="content"></div>
<script nonce="${nonce}">
 const vscode = acquireVsCodeApi();
 document.getElementById('stop').addEventListener('click', () => vscode.postMessage({ type: 'stop' }));
 document.getElementById('rerun').addEventListener('click', () => vscode.postMessage({ type: 'rerun' }));
 window.addEventListener('message', (event) => {
   const msg = event.data;
   if (msg.type !== 'render') return;
   document.getElementById('content').innerHTML = msg.body;
   document.getElementById('stop').disabled = !msg.running;
   document.getElementById('rerun').disabled = msg.running || !msg.canRerun;
 });
 vscode.postMessage({ type: 'ready' });
</script></body></html>`;
  }

  dispose(): void {
    this.stop();
    this.panel?.dispose();
    this.highlight.dispose();
  }
}

/** Shows a predictInput result in the panel's terms: the proposed call and the backward monologue. */
function predictInputAsTrace(r: any): TraceResultLike {
  const verdict = r?.verified === true ? " (verified by running it)" : r?.verified === false ? " (did not reproduce the output when run)" : "";
  return {
    call: r?.call ?? undefined,
    predicted: {
      status: r?.call ? "complete" : "error",
      monologue: r?.monologue ?? "",
      output: null,
      message: r?.call ? `Proposed call: ${r.call}${verdict}.` : (r?.message ?? "No input was proposed."),
    },
  };
}
