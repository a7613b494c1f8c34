/**
 * Owns the language-server process: chooses the command, starts the LanguageClient, restarts a
 * crashed server with backoff, and tells the user in plain words when it cannot start.
 */
import * as cp from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as vscode from "vscode";
import {
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  LanguageClient,
  LanguageClientOptions,
  State,
  StreamInfo,
} from "vscode-languageclient/node";
import { chooseServerLaunch, checkLaunch, describeEarlyExit, ServerLaunch } from "./logic/serverCommand";
import { RestartPolicy } from "./logic/restartPolicy";
import { REPAIR_TITLE, repairOutcome } from "./logic/repairOutcome";
import { affectsServer, affectsServerProcess, toServerSettings } from "./logic/settings";
import { fromServerStatus, ModelState } from "./logic/statusState";

const STDERR_TAIL_CHARS = 4000;

export class ServerManager implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly policy = new RestartPolicy();
  private restartTimer: NodeJS.Timeout | undefined;
  /** PID of the running server process (for logs and for the crash-restart test). */
  serverPid: number | undefined;
  private stopping = false;
  private disposed = false;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly clientDisposables: vscode.Disposable[] = [];
  private readonly onModelStateEmitter = new vscode.EventEmitter<ModelState>();
  private readonly onClientReadyEmitter = new vscode.EventEmitter<LanguageClient>();
  /** Fires on every model/server state change (status bar). */
  readonly onModelState = this.onModelStateEmitter.event;
  /** Fires each time a (re)started client is running. */
  readonly onClientReady = this.onClientReadyEmitter.event;
  private readyPromise: Promise<LanguageClient>;
  private resolveReady!: (c: LanguageClient) => void;

  constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly serverOutput: vscode.OutputChannel,
  ) {
    this.readyPromise = this.newReadyPromise();
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (affectsServerProcess((s) => e.affectsConfiguration(s))) {
          this.output.info("Server settings changed: restarting the server.");
          void this.restart();
        } else if (affectsServer((s) => e.affectsConfiguration(s))) {
          this.pushSettings("configuration changed");
        }
      }),
      // Trust can only be granted (never revoked) while a window is open; VS Code reloads otherwise.
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.pushSettings("workspace trust granted")),
    );
  }

  private newReadyPromise(): Promise<LanguageClient> {
    return new Promise((resolve) => (this.resolveReady = resolve));
  }

  private starting = false;

  /** The running client; waits for a start in progress; fails at once with the reason when the
   * server is down and nothing is starting it (so commands don't hang). */
  whenReady(): Promise<LanguageClient> {
    if (this.current) return Promise.resolve(this.current);
    if (!this.starting && !this.restartTimer && this.lastFailure) return Promise.reject(new Error(this.lastFailure));
    return this.readyPromise;
  }

  get current(): LanguageClient | undefined {
    return this.client && this.client.state === State.Running ? this.client : undefined;
  }

  serverSettings() {
    const config = vscode.workspace.getConfiguration("semcoder");
    return toServerSettings((key) => config.get(key), vscode.workspace.isTrusted);
  }

  private pushSettings(why: string): void {
    const client = this.current;
    if (!client) return;
    const settings = this.serverSettings();
    this.output.info(`Sending settings to the server (${why}); execution.enabled=${settings.execution.enabled}`);
    // The server re-reads the section through workspace/configuration (answered by the middleware
    // below); the settings are also in the notification for servers that read them from there.
    void client.sendNotification(DidChangeConfigurationNotification.type, { settings: { semcoder: settings } });
  }

  private chooseLaunch(): ServerLaunch {
    const config = vscode.workspace.getConfiguration("semcoder");
    // In an untrusted workspace, ignore workspace-level values of the command settings: a cloned
    // repository must not choose which program the editor runs.
    const userValue = <T>(key: string): T | undefined => {
      if (vscode.workspace.isTrusted) return config.get<T>(key);
      const inspected = config.inspect<T>(key);
      return inspected?.globalValue ?? inspected?.defaultValue;
    };
    return chooseServerLaunch({
      configuredCommand: userValue<string | string[]>("server.command"),
      configuredPythonPath: userValue<string>("server.pythonPath"),
      // The selected interpreter can come from workspace settings too: not in restricted mode.
      selectedInterpreter: vscode.workspace.isTrusted ? this.pythonExtensionInterpreter() : undefined,
    });
  }

  private pythonEnvListener: vscode.Disposable | undefined;
  private pythonInterpreterUsed = false;

  /** Activates the ms-python extension if it is installed, and restarts the server when the user
   * selects another interpreter while the server runs from the selected one. */
  private async preparePythonExtension(): Promise<void> {
    const ext = vscode.extensions.getExtension<any>("ms-python.python");
    if (!ext) return;
    try {
      if (!ext.isActive) await ext.activate();
      const event = ext.exports?.environments?.onDidChangeActiveEnvironmentPath;
      if (!this.pythonEnvListener && typeof event === "function") {
        this.pythonEnvListener = event(() => {
          if (this.pythonInterpreterUsed) {
            this.output.info("The selected Python interpreter changed: restarting the server.");
            void this.restart();
          }
        });
        this.disposables.push(this.pythonEnvListener!);
      }
    } catch (err) {
      this.output.warn(`The Python extension could not be activated: ${String(err)}`);
    }
  }

  /** The interpreter chosen in the ms-python extension, if it is installed and active. */
  private pythonExtensionInterpreter(): string | undefined {
    const ext = vscode.extensions.getExtension<any>("ms-python.python");
    if (!ext || !ext.isActive) return undefined;
    try {
      const api = ext.exports;
      const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
      const env = api?.environments?.getActiveEnvironmentPath?.(resource);
      if (env?.path) return env.path as string;
      const details = api?.settings?.getExecutionDetails?.(resource);
      return details?.execCommand?.[0];
    } catch (err) {
      this.output.warn(`Could not ask the Python extension for its interpreter: ${String(err)}`);
      return undefined;
    }
  }

  /** Starts, stops and restarts run one after another: a second settings change while a start is
   * in progress must not stop a half-started client. */
  private lifecycle: Promise<void> = Promise.resolve();

  private serialize(op: () => Promise<void>): Promise<void> {
    const next = this.lifecycle.then(op, op);
    this.lifecycle = next.catch((err) => this.output.error(`server lifecycle: ${String(err)}`));
    return next;
  }

  start(): Promise<void> {
    return this.serialize(() => this.doStart());
  }

  private async doStart(): Promise<void> {
    if (this.disposed) return;
    this.starting = true;
    try {
      await this.startOnce();
    } finally {
      this.starting = false;
    }
  }

  private async startOnce(): Promise<void> {
    this.stopping = false;
    this.onModelStateEmitter.fire({ kind: "starting" });
    let launch: ServerLaunch;
    await this.preparePythonExtension();
    try {
      launch = this.chooseLaunch();
      this.pythonInterpreterUsed = launch.origin === "python-extension";
    } catch (err) {
      return this.startFailed(err instanceof Error ? err.message : String(err));
    }
    const check = checkLaunch(launch, {
      isExecutableFile: (p) => {
        try {
          fs.accessSync(p, fs.constants.X_OK);
          return fs.statSync(p).isFile();
        } catch {
          return false;
        }
      },
      pathDirs: (process.env.PATH ?? "").split(path.delimiter),
      join: path.join,
      isAbsolute: path.isAbsolute,
    });
    if (!check.ok) return this.startFailed(check.reason);

    this.output.info(`Starting ${check.resolved} ${launch.args.join(" ")} (${launch.origin})`);
    let stderrTail = "";
    let exitedEarly: string | undefined;
    let initialized = false;
    let markExited: () => void = () => undefined;
    const exited = new Promise<void>((resolve) => (markExited = resolve));
    const serverOptions = (): Promise<StreamInfo> =>
      new Promise((resolve, reject) => {
        const child = cp.spawn(check.resolved, launch.args, {
          cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
          env: { ...process.env, PYTHONUNBUFFERED: "1" },
          stdio: ["pipe", "pipe", "pipe"],
        });
        child.stderr.setEncoding("utf8");
        child.stderr.on("data", (chunk: string) => {
          this.serverOutput.append(chunk);
          stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
        });
        child.on("error", (err) => reject(err));
        // stderr may still hold the server's last words when "exit" fires: read it to its end
        // (or give up after a second) before describing the exit.
        const stderrDone = new Promise<void>((resolve) => {
          child.stderr.on("end", () => resolve());
          child.stderr.on("error", () => resolve());
        });
        child.on("exit", (code, signal) => {
          this.output.info(`Server process ${child.pid} exited (code ${code}, signal ${signal})`);
          void Promise.race([stderrDone, new Promise((r) => setTimeout(r, 1000))]).then(() => {
            if (!initialized) exitedEarly = describeEarlyExit(code, signal, stderrTail);
            markExited();
          });
        });
        child.on("spawn", () => {
          this.serverPid = child.pid;
          resolve({ reader: child.stdout, writer: child.stdin, detached: false });
        });
      });

    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: "file", language: "python" },
        { scheme: "untitled", language: "python" },
      ],
      outputChannel: this.serverOutput,
      revealOutputChannelOn: 4 /* never: we show our own notifications */,
      initializationOptions: this.serverSettings(),
      initializationFailedHandler: (error) => {
        this.output.error(`initialize failed: ${String(error)}`);
        return false;
      },
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue, handled: true }),
        closed: () => {
          if (!this.stopping && initialized) this.scheduleRestart();
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
      middleware: {
        // Writing and running a repair takes seconds, and VS Code neither shows progress nor the
        // resolved title ("(verified)", or why there is no edit): say both here.
        resolveCodeAction: async (item, token, next) => {
          if (!item.title.startsWith(REPAIR_TITLE)) return next(item, token);
          const resolved = await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Notification, title: "SemCoder: writing a repair and running it…" },
            () => Promise.resolve(next(item, token)),
          );
          const outcome = resolved ? repairOutcome(resolved.title, resolved.edit !== undefined) : undefined;
          if (outcome) {
            this.output.info(outcome.message);
            const show = outcome.level === "info" ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
            void show(outcome.message);
          }
          return resolved;
        },
        workspace: {
          // The server reads section "semcoder"; answer with the trust-gated mapping, not the raw config.
          configuration: (params, token, next) => {
            const gated = params.items.map((item) => (item.section === "semcoder" ? this.serverSettings() : undefined));
            if (gated.every((g) => g !== undefined)) return gated;
            return Promise.resolve(next(params, token)).then((answers) =>
              Array.isArray(answers) ? answers.map((a, i) => gated[i] ?? a) : answers,
            );
          },
        },
      },
    };

    const client = new LanguageClient("semcoder", "SemCoder", serverOptions, clientOptions);
    this.client = client;
    this.clientDisposables.push(
      client.onNotification("semcoder/status", (params) => this.onModelStateEmitter.fire(fromServerStatus(params))),
    );
    try {
      // A process that dies before answering `initialize` does not always reject start():
      // treat its exit as the failure.
      const outcome = await Promise.race([client.start().then(() => "started" as const), exited.then(() => "exited" as const)]);
      // start() also resolves when `initialize` failed (the failure handler said not to retry).
      if (outcome === "exited" || client.state !== State.Running) {
        void client.dispose().catch(() => undefined);
        throw new Error("the server process exited before it answered initialize");
      }
    } catch (err) {
      this.client = undefined;
      // The closed pipe usually fails `initialize` a moment before the exit event arrives; wait
      // for it so the message can quote what the server said.
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      const reason =
        exitedEarly ??
        (err instanceof Error && (err as NodeJS.ErrnoException).code === "ENOENT"
          ? `SemCoder cannot start its language server: ${check.resolved} was not found.`
          : `SemCoder's language server did not start: ${err instanceof Error ? err.message : String(err)}`);
      return this.startFailed(reason);
    }
    initialized = true;
    this.lastFailure = undefined;
    this.policy.started(Date.now());
    this.output.info("Server is running.");
    this.resolveReady(client);
    this.onClientReadyEmitter.fire(client);
  }

  /** The plain-words reason of the last failed start (cleared by a successful one). */
  lastFailure: string | undefined;

  private startFailed(reason: string): void {
    this.lastFailure = reason;
    this.output.error(reason);
    this.onModelStateEmitter.fire({ kind: "serverDown", reason });
    void vscode.window.showErrorMessage(reason, "Open Settings", "Show Logs").then((choice) => {
      if (choice === "Open Settings") void vscode.commands.executeCommand("workbench.action.openSettings", "semcoder.server");
      if (choice === "Show Logs") this.showLogs();
    });
  }

  private scheduleRestart(): void {
    const decision = this.policy.crashed(Date.now());
    this.readyPromise = this.newReadyPromise();
    if (!decision.restart) {
      this.startFailed(decision.reason);
      return;
    }
    const reason = `The SemCoder server stopped unexpectedly; restarting in ${Math.round(decision.delayMs / 1000)} s (attempt ${decision.attempt}).`;
    this.output.warn(reason);
    this.onModelStateEmitter.fire({ kind: "serverDown", reason });
    const old = this.client;
    this.client = undefined;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void old?.dispose().catch(() => undefined);
      void this.start();
    }, decision.delayMs);
  }

  /** "SemCoder: Restart server": stop the current process, forget past crashes, start again. */
  restart(): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.policy.reset();
    return this.serialize(async () => {
      await this.doStop();
      this.readyPromise = this.newReadyPromise();
      await this.doStart();
    });
  }

  stop(): Promise<void> {
    return this.serialize(() => this.doStop());
  }

  private async doStop(): Promise<void> {
    this.stopping = true;
    const client = this.client;
    this.client = undefined;
    this.clientDisposables.splice(0).forEach((d) => d.dispose());
    if (client) {
      try {
        if (client.state === State.Running) await client.stop(3000);
        await client.dispose();
      } catch (err) {
        this.output.warn(`Stopping the server: ${String(err)}`);
      }
    }
  }

  showLogs(): void {
    this.output.show(true);
  }

  showServerLogs(): void {
    this.serverOutput.show(true);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.disposables.forEach((d) => d.dispose());
    await this.stop();
  }
}
