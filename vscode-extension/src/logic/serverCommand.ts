/**
 * Choosing how to start `semcoder-lsp`. Pure: file-system checks come in as functions.
 *
 * Order of preference (first that applies wins):
 *   1. `semcoder.server.command` (a command line, e.g. "/opt/venv/bin/semcoder-lsp --log-level DEBUG")
 *   2. `semcoder.server.pythonPath` -> `<python> -m semcoder_lsp`
 *   3. the interpreter selected in the Python extension (ms-python), if installed -> `<python> -m semcoder_lsp`
 *   4. `semcoder-lsp` found on PATH
 */

export interface ServerLaunch {
  command: string;
  args: string[];
  /** Where the choice came from, for logs and error messages. */
  origin: "setting:server.command" | "setting:server.pythonPath" | "python-extension" | "path";
}

export interface LaunchInputs {
  configuredCommand?: string | string[];
  configuredPythonPath?: string;
  selectedInterpreter?: string;
}

/** Splits a command line on whitespace, honouring "double" and 'single' quotes (no shell is used). */
export function splitCommandLine(line: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quote: string | null = null;
  let started = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = null;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      started = true;
    } else if (/\s/.test(ch)) {
      if (started || current) parts.push(current);
      current = "";
      started = false;
    } else {
      current += ch;
    }
  }
  if (quote) {
    throw new Error(`The server command has an unclosed ${quote} quote: ${line}`);
  }
  if (started || current) parts.push(current);
  return parts;
}

export function chooseServerLaunch(inputs: LaunchInputs): ServerLaunch {
  const configured = inputs.configuredCommand;
  const parts = Array.isArray(configured)
    ? configured.filter((p) => p.length > 0)
    : configured && configured.trim()
      ? splitCommandLine(configured.trim())
      : [];
  if (parts.length > 0) {
    return { command: parts[0], args: parts.slice(1), origin: "setting:server.command" };
  }
  if (inputs.configuredPythonPath && inputs.configuredPythonPath.trim()) {
    return { command: inputs.configuredPythonPath.trim(), args: ["-m", "semcoder_lsp"], origin: "setting:server.pythonPath" };
  }
  if (inputs.selectedInterpreter && inputs.selectedInterpreter.trim()) {
    return { command: inputs.selectedInterpreter.trim(), args: ["-m", "semcoder_lsp"], origin: "python-extension" };
  }
  return { command: "semcoder-lsp", args: [], origin: "path" };
}

export interface FileChecks {
  isExecutableFile(path: string): boolean;
  pathDirs: string[];
  join(dir: string, name: string): string;
  isAbsolute(path: string): boolean;
}

/** Resolves the command to a file, or returns a plain-words reason why it cannot be started. */
export function checkLaunch(launch: ServerLaunch, fs: FileChecks): { ok: true; resolved: string } | { ok: false; reason: string } {
  const where = describeOrigin(launch.origin);
  if (fs.isAbsolute(launch.command) || launch.command.includes("/") || launch.command.includes("\\")) {
    if (fs.isExecutableFile(launch.command)) return { ok: true, resolved: launch.command };
    return {
      ok: false,
      reason: `SemCoder cannot start its language server: ${launch.command} (${where}) does not exist or is not an executable file.`,
    };
  }
  for (const dir of fs.pathDirs) {
    if (!dir) continue;
    const candidate = fs.join(dir, launch.command);
    if (fs.isExecutableFile(candidate)) return { ok: true, resolved: candidate };
  }
  const hint =
    launch.origin === "path"
      ? " Install it into a Python environment (pip install semcoder-lsp) and set \"semcoder.server.pythonPath\" to that environment's python, or set \"semcoder.server.command\"."
      : "";
  return {
    ok: false,
    reason: `SemCoder cannot start its language server: the command "${launch.command}" (${where}) was not found on PATH.${hint}`,
  };
}

export function describeOrigin(origin: ServerLaunch["origin"]): string {
  switch (origin) {
    case "setting:server.command":
      return 'from the setting "semcoder.server.command"';
    case "setting:server.pythonPath":
      return 'from the setting "semcoder.server.pythonPath"';
    case "python-extension":
      return "the interpreter selected in the Python extension";
    case "path":
      return "the default";
  }
}

/** A plain-words reason for a server that started but exited before it answered `initialize`. */
export function describeEarlyExit(code: number | null, signal: string | null, stderrTail: string): string {
  const how = signal ? `was stopped by signal ${signal}` : `exited with code ${code}`;
  const last = stderrTail.trim().split(/\r?\n/).slice(-3).join(" ").trim();
  const missingModule = /No module named ['"]?semcoder_lsp/.test(stderrTail);
  if (missingModule) {
    return "SemCoder cannot start its language server: the selected Python environment does not have the semcoder-lsp package. Install it there (pip install semcoder-lsp) or choose another interpreter.";
  }
  return `SemCoder's language server ${how} while starting.${last ? ` It said: ${last}` : ""}`;
}
