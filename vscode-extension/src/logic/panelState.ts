/**
 * State of the "SemCoder Trace" panel, driven by `semcoder/trace` partial results
 * (docs/lsp-protocol.md). Pure: a reducer plus an HTML renderer, both unit-tested.
 */

export interface Step {
  index: number;
  text: string;
  lines: number[];
  mentions?: [string, string][];
}

export interface LineState {
  line: number;
  values: Record<string, string>;
  source: "actual" | "predicted";
}

export interface TraceEvent {
  line: number;
  changes?: Record<string, string>;
  kind?: string;
  function?: string;
}

export interface ActualTrace {
  status: string;
  message?: string;
  events?: TraceEvent[];
  return?: { repr: string } | null;
  exception?: { type: string; message: string; line?: number } | null;
}

export interface TracePartial {
  actual?: ActualTrace;
  monologueDelta?: string;
  steps?: Step[];
  lineStates?: LineState[];
  output?: string;
  status?: "loading" | "generating" | "done";
  tokens?: number;
}

export type PanelPhase = "idle" | "running" | "done" | "cancelled" | "error";

export interface PanelState {
  phase: PanelPhase;
  uri: string | null;
  functionName: string | null;
  call: string | null;
  modelStatus: string | null;
  monologue: string;
  steps: Step[];
  predictedLines: Record<number, Record<string, string>>;
  actual: ActualTrace | null;
  predictedOutput: string | null;
  expected: string | null;
  message: string | null;
  /** The document line whose state arrived last (highlighted in the editor). */
  lastLine: number | null;
  startedAtMs: number | null;
  /** Characters of model text received, and tokens if the server counts them: for tokens/s. */
  generatedChars: number;
  generatedTokens: number | null;
  /** How many partial results arrived (streaming, as opposed to one final answer). */
  partials: number;
}

export function initialPanelState(): PanelState {
  return {
    phase: "idle",
    uri: null,
    functionName: null,
    call: null,
    modelStatus: null,
    monologue: "",
    steps: [],
    predictedLines: {},
    actual: null,
    predictedOutput: null,
    expected: null,
    message: null,
    lastLine: null,
    startedAtMs: null,
    generatedChars: 0,
    generatedTokens: null,
    partials: 0,
  };
}

export type PanelAction =
  | { type: "start"; uri: string; functionName: string | null; call: string | null; nowMs: number }
  | { type: "partial"; value: TracePartial }
  | { type: "result"; result: TraceResultLike }
  | { type: "cancelled" }
  | { type: "error"; message: string };

export interface TraceResultLike {
  function?: string;
  call?: string;
  expected?: string | null;
  actual?: ActualTrace | null;
  executionNote?: string | null;
  predicted?: { status: string; message?: string | null; monologue?: string; steps?: Step[]; output?: string | null };
  lineStates?: LineState[];
}

export function reducePanel(state: PanelState, action: PanelAction): PanelState {
  switch (action.type) {
    case "start":
      return {
        ...initialPanelState(),
        phase: "running",
        uri: action.uri,
        functionName: action.functionName,
        call: action.call,
        startedAtMs: action.nowMs,
      };
    case "partial": {
      if (state.phase !== "running") return state; // late partials after Stop are ignored
      const v = action.value;
      const next: PanelState = { ...state, partials: state.partials + 1 };
      if (v.status) next.modelStatus = v.status;
      if (v.monologueDelta) {
        next.monologue = state.monologue + v.monologueDelta;
        next.generatedChars = state.generatedChars + v.monologueDelta.length;
      }
      if (typeof v.tokens === "number") next.generatedTokens = v.tokens;
      if (v.steps && v.steps.length) {
        next.steps = [...state.steps, ...v.steps];
        const lines = v.steps[v.steps.length - 1].lines;
        if (lines && lines.length) next.lastLine = lines[lines.length - 1];
      }
      if (v.lineStates && v.lineStates.length) {
        const merged = { ...state.predictedLines };
        for (const ls of v.lineStates) merged[ls.line] = { ...(merged[ls.line] ?? {}), ...ls.values };
        next.predictedLines = merged;
        next.lastLine = v.lineStates[v.lineStates.length - 1].line;
      }
      if (v.actual) next.actual = v.actual;
      if (v.output !== undefined) next.predictedOutput = v.output;
      return next;
    }
    case "result": {
      if (state.phase !== "running") return state;
      const r = action.result;
      const p = r.predicted;
      const predictedLines = { ...state.predictedLines };
      for (const ls of r.lineStates ?? []) {
        if (ls.source === "predicted") predictedLines[ls.line] = { ...(predictedLines[ls.line] ?? {}), ...ls.values };
      }
      return {
        ...state,
        phase: "done",
        functionName: r.function ?? state.functionName,
        call: r.call ?? state.call,
        expected: r.expected ?? null,
        actual: r.actual ?? state.actual,
        monologue: p?.monologue ?? state.monologue,
        steps: p?.steps ?? state.steps,
        predictedOutput: p?.output ?? state.predictedOutput,
        predictedLines,
        modelStatus: p?.status ?? state.modelStatus,
        message: [r.executionNote, p?.message].filter((m): m is string => !!m).join(" ") || null,
      };
    }
    case "cancelled":
      return state.phase === "running" ? { ...state, phase: "cancelled", message: "Stopped." } : state;
    case "error":
      return { ...state, phase: "error", message: action.message };
  }
}

/** Tokens per second so far: server-counted tokens if given, else characters / 4 (marked approximate). */
export function generationRate(state: PanelState, nowMs: number): { perSecond: number; approximate: boolean } | null {
  if (state.startedAtMs === null || state.phase !== "running") return null;
  const seconds = (nowMs - state.startedAtMs) / 1000;
  if (seconds <= 0.2) return null;
  if (state.generatedTokens !== null) return { perSecond: state.generatedTokens / seconds, approximate: false };
  if (state.generatedChars === 0) return null;
  return { perSecond: state.generatedChars / 4 / seconds, approximate: true };
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

function valuesText(values: Record<string, string> | undefined): string {
  if (!values) return "";
  return Object.entries(values)
    .map(([k, v]) => `${k} = ${v}`)
    .join(", ");
}

/** The body of the webview: title, buttons' state, actual vs predicted table, monologue. */
export function renderPanelBody(state: PanelState): string {
  const title = state.call ?? state.functionName ?? "No function traced yet";
  const phaseText: Record<PanelPhase, string> = {
    idle: "Hover a function and run “SemCoder: Trace function…”, or click a SemCoder code lens.",
    running: state.modelStatus === "loading" ? "Loading the model…" : "Tracing…",
    done: "Done.",
    cancelled: "Stopped.",
    error: "Failed.",
  };
  const parts: string[] = [];
  parts.push(`<h2 id="title">${escapeHtml(title)}</h2>`);
  parts.push(`<p id="phase" data-phase="${state.phase}">${escapeHtml(phaseText[state.phase])}</p>`);
  if (state.message) parts.push(`<p id="message">${escapeHtml(state.message)}</p>`);

  const actualByLine: Record<number, Record<string, string>> = {};
  for (const ev of state.actual?.events ?? []) {
    if (ev.changes && Object.keys(ev.changes).length) {
      actualByLine[ev.line] = { ...(actualByLine[ev.line] ?? {}), ...ev.changes };
    }
  }
  const lines = new Set<number>([...Object.keys(actualByLine), ...Object.keys(state.predictedLines)].map(Number));
  const sorted = [...lines].sort((a, b) => a - b);
  if (sorted.length) {
    parts.push('<table id="lines"><thead><tr><th>line</th><th>actual</th><th>predicted</th></tr></thead><tbody>');
    for (const line of sorted) {
      const cls = line === state.lastLine ? ' class="latest"' : "";
      parts.push(
        `<tr data-line="${line}"${cls}><td>${line + 1}</td><td>${escapeHtml(valuesText(actualByLine[line]))}</td><td>${escapeHtml(valuesText(state.predictedLines[line]))}</td></tr>`,
      );
    }
    parts.push("</tbody></table>");
  }

  const result: string[] = [];
  if (state.actual) {
    if (state.actual.return) result.push(`actual return: <code id="actual-return">${escapeHtml(state.actual.return.repr)}</code>`);
    else if (state.actual.exception)
      result.push(`actual: raised <code id="actual-exception">${escapeHtml(`${state.actual.exception.type}: ${state.actual.exception.message}`)}</code>`);
    else if (state.actual.message) result.push(`actual: ${escapeHtml(state.actual.message)}`);
  }
  if (state.predictedOutput !== null) result.push(`predicted return: <code id="predicted-return">${escapeHtml(state.predictedOutput)}</code>`);
  if (state.expected) result.push(`expected: <code>${escapeHtml(state.expected)}</code>`);
  if (result.length) parts.push(`<p id="results">${result.join(" · ")}</p>`);

  if (state.monologue) {
    parts.push(`<h3>Monologue</h3><pre id="monologue">${escapeHtml(state.monologue)}</pre>`);
  }
  return parts.join("\n");
}
