/**
 * Parsing a model spec for "SemCoder: Download model" and describing download failures. Pure.
 * Spec forms (same as the server's model.path): `owner/repo:file.gguf` or `hf://owner/repo/file.gguf`.
 */

export const DEFAULT_MODEL_SPEC = "tensorblock/semcoder_s_1030-GGUF:semcoder_s_1030-Q4_K_M.gguf";

export interface HfFile {
  repo: string;
  file: string;
}

export function parseModelSpec(spec: string): HfFile {
  const s = spec.trim();
  let m = /^hf:\/\/([^/\s]+\/[^/\s]+)\/(.+\.gguf)$/i.exec(s);
  if (!m) m = /^([^/:\s]+\/[^/:\s]+):(.+\.gguf)$/i.exec(s);
  if (!m) {
    throw new Error(
      `"${spec}" is not a model spec SemCoder understands. Write it as owner/repo:file.gguf (for example ${DEFAULT_MODEL_SPEC}) or hf://owner/repo/file.gguf.`,
    );
  }
  return { repo: m[1], file: m[2] };
}

export function downloadUrl(f: HfFile, endpoint = "https://huggingface.co"): string {
  const file = f.file.split("/").map(encodeURIComponent).join("/");
  return `${endpoint.replace(/\/+$/, "")}/${f.repo}/resolve/main/${file}`;
}

/** A clear sentence for a network error code from Node (offline machines land here). */
export function describeDownloadError(url: string, err: { code?: string; message?: string; status?: number }): string {
  const host = (() => {
    try {
      return new URL(url).host;
    } catch {
      return url;
    }
  })();
  if (err.status === 401 || err.status === 403) return `${host} refused the download (HTTP ${err.status}): the file may need a login or may not exist.`;
  if (err.status === 404) return `${host} has no such file (HTTP 404): check the repository and file name.`;
  if (err.status) return `${host} answered HTTP ${err.status}; the model was not downloaded.`;
  switch (err.code) {
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `Cannot download the model: ${host} cannot be reached (no network or DNS). Download the GGUF file elsewhere and set "semcoder.model.path" to it.`;
    case "ECONNREFUSED":
    case "ECONNRESET":
    case "ETIMEDOUT":
    case "ENETUNREACH":
    case "EHOSTUNREACH":
      return `Cannot download the model: the connection to ${host} failed (${err.code}). Check the network or a proxy, or set "semcoder.model.path" to a GGUF file you already have.`;
    default:
      return `Cannot download the model from ${host}: ${err.message ?? err.code ?? "unknown error"}.`;
  }
}
