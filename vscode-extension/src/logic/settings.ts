/**
 * Settings mapping: VS Code's flat `semcoder.*` configuration -> the server's nested settings
 * object (docs/lsp-protocol.md, "Settings"). Pure: no `vscode` import, so node --test can run it.
 */

/** The keys the server understands, grouped as the server nests them. */
export const SERVER_SETTING_KEYS = {
  model: ["path", "remoteUrl", "remoteTimeoutSeconds", "gpuLayers", "threads", "contextSize", "maxTokens", "temperature"],
  execution: ["enabled", "python", "timeoutSeconds", "memoryMB", "preload"],
} as const;

export interface ServerSettings {
  model: Record<string, unknown>;
  execution: Record<string, unknown>;
}

/** What `vscode.workspace.getConfiguration("semcoder").get(key)` returns; a function so tests can pass a map. */
export type ConfigReader = (dottedKey: string) => unknown;

/**
 * Builds the object sent as initializationOptions and as the `semcoder` configuration section.
 *
 * Execution is only ever enabled in a trusted workspace: whatever the user's setting says, an
 * untrusted workspace sends `execution.enabled = false`, and also drops the interpreter path, which
 * a malicious workspace could otherwise point at its own program.
 * Undefined values are left out so the server applies its own defaults.
 */
export function toServerSettings(read: ConfigReader, workspaceTrusted: boolean): ServerSettings {
  const result: ServerSettings = { model: {}, execution: {} };
  for (const group of Object.keys(SERVER_SETTING_KEYS) as (keyof ServerSettings)[]) {
    for (const name of SERVER_SETTING_KEYS[group]) {
      const value = read(`${group}.${name}`);
      if (value !== undefined && value !== null) {
        result[group][name] = value;
      }
    }
  }
  result.execution.enabled = result.execution.enabled === true && workspaceTrusted;
  if (!workspaceTrusted) {
    delete result.execution.python;
  }
  return result;
}

/** Which changed configuration sections matter to the server (so other changes don't reach it). */
export function affectsServer(affects: (section: string) => boolean): boolean {
  return affects("semcoder.model") || affects("semcoder.execution");
}

/** Which changes need a new server process rather than a didChangeConfiguration. */
export function affectsServerProcess(affects: (section: string) => boolean): boolean {
  return affects("semcoder.server");
}
