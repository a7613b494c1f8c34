/**
 * "SemCoder: Download model": fetches a GGUF file from Hugging Face into the extension's global
 * storage with a cancellable progress notification, then points `semcoder.model.path` at it.
 * Offline machines get a sentence saying so, not a stack trace.
 */
import * as fs from "fs";
import * as https from "https";
import * as http from "http";
import * as path from "path";
import * as vscode from "vscode";
import { DEFAULT_MODEL_SPEC, describeDownloadError, downloadUrl, parseModelSpec } from "./logic/modelDownload";

const MAX_REDIRECTS = 5;

export interface DownloadOutcome {
  path?: string;
  error?: string;
}

export async function downloadModelCommand(context: vscode.ExtensionContext, log: vscode.LogOutputChannel, specArg?: string): Promise<DownloadOutcome> {
  const spec =
    specArg ??
    (await vscode.window.showInputBox({
      title: "SemCoder: Download model",
      prompt: "Hugging Face model file to download (owner/repo:file.gguf)",
      value: DEFAULT_MODEL_SPEC,
      ignoreFocusOut: true,
    }));
  if (!spec) return { error: "cancelled" };
  let url: string;
  let file: string;
  try {
    const parsed = parseModelSpec(spec);
    url = downloadUrl(parsed, process.env.HF_ENDPOINT || undefined);
    file = path.basename(parsed.file);
  } catch (err) {
    const error = String((err as Error).message);
    void vscode.window.showErrorMessage(error);
    return { error };
  }
  const dir = path.join(context.globalStorageUri.fsPath, "models");
  const target = path.join(dir, file);
  fs.mkdirSync(dir, { recursive: true });
  log.info(`Downloading ${url} to ${target}`);
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `SemCoder: downloading ${file}`, cancellable: true },
      (progress, token) => fetchToFile(url, target, token, (done, total) => {
        if (total) progress.report({ increment: (done / total) * 100 - ((progress as any)._last ?? 0), message: `${(done / 1e6).toFixed(0)} of ${(total / 1e6).toFixed(0)} MB` });
        (progress as any)._last = total ? (done / total) * 100 : 0;
      }),
    );
  } catch (err: any) {
    const message = err?.cancelled ? "Model download cancelled." : describeDownloadError(url, err ?? {});
    log.error(message);
    void vscode.window.showErrorMessage(message, "Show Logs").then((c) => c && log.show(true));
    return { error: message };
  }
  await vscode.workspace.getConfiguration("semcoder").update("model.path", target, vscode.ConfigurationTarget.Global);
  void vscode.window.showInformationMessage(`SemCoder model downloaded to ${target}; "semcoder.model.path" now points to it.`);
  return { path: target };
}

/** Streams url to target (through a .part file, renamed when complete). */
function fetchToFile(url: string, target: string, token: vscode.CancellationToken, onProgress: (done: number, total: number | null) => void, redirects = 0): Promise<void> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith("https:") ? https.get : http.get;
    const req = get(url, { headers: { "user-agent": "semcoder-vscode" }, timeout: 30000 }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location && redirects < MAX_REDIRECTS) {
        res.resume();
        fetchToFile(new URL(res.headers.location, url).toString(), target, token, onProgress, redirects + 1).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        reject({ status });
        return;
      }
      const total = Number(res.headers["content-length"]) || null;
      const part = target + ".part";
      const out = fs.createWriteStream(part);
      let done = 0;
      res.on("data", (chunk: Buffer) => {
        done += chunk.length;
        onProgress(done, total);
      });
      res.pipe(out);
      out.on("finish", () => {
        fs.renameSync(part, target);
        resolve();
      });
      out.on("error", reject);
      res.on("error", reject);
      token.onCancellationRequested(() => {
        req.destroy();
        out.destroy();
        fs.rmSync(part, { force: true });
        reject({ cancelled: true });
      });
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
    req.on("error", reject);
  });
}
