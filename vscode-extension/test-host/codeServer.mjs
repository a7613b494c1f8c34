// Starts a private code-server (a real VS Code 1.100.3) on 127.0.0.1 and drives it with Debian's
// chromium through playwright-core. Everything lives in one temporary folder; stop() ends the
// whole process tree by PID (code-server keeps extension hosts alive after the page closes).
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const codeServerBin = path.join(here, "node_modules", "code-server", "out", "node", "entry.js");
export const CHROMIUM = process.env.SEMCODER_CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

export function log(...args) {
  process.stderr.write(`[test-host ${new Date().toISOString().slice(11, 19)}] ${args.join(" ")}\n`);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** All descendants of pid, from /proc (children first is not needed: we SIGKILL at the end). */
function descendants(pid) {
  const children = new Map();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch {
      /* process ended meanwhile */
    }
  }
  const out = [];
  const stack = [pid];
  while (stack.length) {
    for (const c of children.get(stack.pop()) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

export class CodeServer {
  /**
   * @param {object} o
   * @param {string} o.vsix           the packaged extension to install
   * @param {object} o.userSettings   written to the user settings.json
   * @param {boolean} o.trusted     false: Workspace Trust on, so the opened folder is untrusted
   * @param {object} [o.env]          extra environment (reaches the extension host and the server)
   */
  constructor(o) {
    this.o = o;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "semcoder-vscode-"));
    this.userDir = path.join(this.dir, "user");
    this.extDir = path.join(this.dir, "ext");
    this.env = {
      ...process.env,
      XDG_CONFIG_HOME: path.join(this.dir, "config"),
      XDG_DATA_HOME: path.join(this.dir, "data"),
      XDG_CACHE_HOME: path.join(this.dir, "cache"),
      HOME: path.join(this.dir, "home"),
      // The server's sandbox and anything else that uses a temporary folder: removed with ours.
      TMPDIR: path.join(this.dir, "tmp"),
      ...(o.env ?? {}),
    };
    for (const d of [this.userDir, this.extDir, this.env.XDG_CONFIG_HOME, this.env.XDG_DATA_HOME, this.env.HOME, this.env.TMPDIR, path.join(this.userDir, "User")]) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(this.userDir, "User", "settings.json"), JSON.stringify(o.userSettings, null, 2));
  }

  codeServer(args, extra = {}) {
    return [process.execPath, [codeServerBin, "--user-data-dir", this.userDir, "--extensions-dir", this.extDir, ...args], { env: this.env, ...extra }];
  }

  /** Installs the .vsix the way a user would, and returns the folder it was unpacked into. */
  installVsix() {
    const [cmd, args, opts] = this.codeServer(["--install-extension", this.o.vsix, "--force"]);
    const r = spawnSync(cmd, args, { ...opts, encoding: "utf8", timeout: 120000 });
    if (r.status !== 0) throw new Error(`installing ${this.o.vsix} failed (${r.status}): ${r.stderr}${r.stdout}`);
    const installed = fs.readdirSync(this.extDir).find((d) => d.startsWith("semcoder.semcoder-lsp-"));
    if (!installed) throw new Error(`the extension is not in ${this.extDir} after install: ${r.stdout}`);
    this.installedPath = path.join(this.extDir, installed);
    log(`installed ${path.basename(this.o.vsix)} into ${this.installedPath}`);
    return this.installedPath;
  }

  async start() {
    this.port = await freePort();
    const [cmd, args, opts] = this.codeServer([
      "--bind-addr", `127.0.0.1:${this.port}`, "--auth", "none", "--disable-telemetry", "--disable-update-check",
      "--ignore-last-opened",
      // A trusted session switches trust off (everything trusted); an untrusted one keeps it on,
      // and a folder opened for the first time is then untrusted (restricted mode).
      ...(this.o.trusted ? ["--disable-workspace-trust"] : []),
    ]);
    this.logFile = path.join(this.dir, "code-server.log");
    const out = fs.openSync(this.logFile, "a");
    this.proc = spawn(cmd, args, { ...opts, stdio: ["ignore", out, out] });
    log(`code-server pid ${this.proc.pid} on 127.0.0.1:${this.port}`);
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`code-server exited (${this.proc.exitCode}); log:\n${fs.readFileSync(this.logFile, "utf8")}`);
      try {
        const res = await fetch(`http://127.0.0.1:${this.port}/healthz`);
        if (res.ok) return;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error("code-server did not answer /healthz within 60 s");
  }

  url(folder, payload) {
    let u = `http://127.0.0.1:${this.port}/?folder=${encodeURIComponent(folder)}`;
    if (payload) u += `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    return u;
  }

  async browser() {
    if (!this._browser) this._browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    return this._browser;
  }

  /**
   * Runs a test module inside the real extension host (extensionTestsPath), with the installed
   * .vsix folder as the development extension, and returns its exit code and log lines.
   */
  async runInHost(folder, testsPath, uiActions = {}, timeoutMs = 180000) {
    const remote = (p) => `vscode-remote://127.0.0.1:${this.port}${p}`;
    const payload = [["extensionDevelopmentPath", remote(this.installedPath)], ["extensionTestsPath", remote(testsPath)]];
    const browser = await this.browser();
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const lines = [];
    let finish;
    const done = new Promise((resolve) => (finish = resolve));
    await page.exposeFunction("codeAutomationLog", (type, args) => {
      const text = Array.isArray(args) ? args.join(" ") : String(args);
      lines.push(text);
      process.stderr.write(`  [host] ${text}\n`);
      // A test inside the host can ask for a user action in the workbench ("UI-ACTION: name").
      const action = /UI-ACTION: (\S+)/.exec(text)?.[1];
      if (action && uiActions[action]) {
        uiActions[action](page).catch((err) => process.stderr.write(`  [ui-action ${action} failed] ${err?.stack ?? err}\n`));
      }
    });
    await page.exposeFunction("codeAutomationExit", (code) => finish(code));
    await page.goto(this.url(folder, payload));
    const timer = setTimeout(() => finish("timeout"), timeoutMs);
    const code = await done;
    clearTimeout(timer);
    await page.close();
    return { code, lines };
  }

  async stop() {
    try {
      await this._browser?.close();
    } catch {
      /* browser already gone */
    }
    if (this.proc && this.proc.exitCode === null) {
      // Collect the tree before signalling: children of a dying parent are re-parented and
      // would no longer be found from code-server's PID.
      const pids = new Set([this.proc.pid, ...descendants(this.proc.pid)]);
      for (const p of pids) signal(p, "SIGTERM");
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && [...pids].some(alive)) await new Promise((r) => setTimeout(r, 100));
      for (const p of pids) signal(p, "SIGKILL");
    }
  }

  cleanup() {
    if (!process.env.SEMCODER_KEEP_TMP) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
