/**
 * What the status-bar item shows. Pure: model/server state in, text + tooltip + click action out.
 * States come from the server's `semcoder/status` notification and from the client itself
 * (server starting/stopped, a generation in progress).
 */

export type ModelState =
  | { kind: "starting" }
  | { kind: "serverDown"; reason: string }
  | { kind: "notConfigured"; message?: string }
  | { kind: "loading"; percentage?: number }
  | { kind: "ready"; modelId?: string | null }
  | { kind: "generating"; tokensPerSecond?: number; approximate?: boolean }
  | { kind: "error"; message: string };

export interface StatusView {
  text: string;
  tooltip: string;
  /** Clicking opens the trace panel when there is a model, the settings when there is something to fix. */
  command: "semcoder.openTracePanel" | "semcoder.openSettings" | "semcoder.showLogs";
  isError: boolean;
}

/** Maps the server's `semcoder/status` params onto a ModelState. Unknown states read as an error. */
export function fromServerStatus(params: { state?: string; message?: string; modelId?: string | null; percentage?: number }): ModelState {
  switch (params.state) {
    case "noModel":
      return { kind: "notConfigured", message: params.message };
    case "loading":
      return { kind: "loading", percentage: typeof params.percentage === "number" ? params.percentage : undefined };
    case "ready":
      return { kind: "ready", modelId: params.modelId ?? null };
    case "error":
      return { kind: "error", message: params.message ?? "The model failed." };
    default:
      return { kind: "error", message: `Unknown model state from the server: ${String(params.state)}` };
  }
}

export function statusView(state: ModelState): StatusView {
  switch (state.kind) {
    case "starting":
      return { text: "$(sync~spin) SemCoder: starting", tooltip: "Starting the SemCoder language server…", command: "semcoder.showLogs", isError: false };
    case "serverDown":
      return { text: "$(error) SemCoder: server stopped", tooltip: state.reason, command: "semcoder.showLogs", isError: true };
    case "notConfigured":
      return {
        text: "$(circle-slash) SemCoder: no model",
        tooltip: (state.message ? state.message + "\n\n" : "") + "Real traces still work. Click to set semcoder.model.path, or run “SemCoder: Download model”.",
        command: "semcoder.openSettings",
        isError: false,
      };
    case "loading": {
      const pct = state.percentage !== undefined ? ` ${Math.max(0, Math.min(100, Math.round(state.percentage)))}%` : "";
      return { text: `$(loading~spin) SemCoder: loading${pct}`, tooltip: "Loading the SemCoder model…", command: "semcoder.openTracePanel", isError: false };
    }
    case "ready":
      return {
        text: "$(check) SemCoder: ready",
        tooltip: `Model ready${state.modelId ? `: ${state.modelId}` : ""}. Click to open the trace panel.`,
        command: "semcoder.openTracePanel",
        isError: false,
      };
    case "generating": {
      const rate =
        state.tokensPerSecond !== undefined ? ` ${state.approximate ? "≈" : ""}${state.tokensPerSecond.toFixed(1)} tok/s` : "";
      return { text: `$(pulse) SemCoder: generating${rate}`, tooltip: "SemCoder is predicting a trace. Click to open the trace panel.", command: "semcoder.openTracePanel", isError: false };
    }
    case "error":
      return { text: "$(error) SemCoder: error", tooltip: state.message, command: "semcoder.openSettings", isError: true };
  }
}
