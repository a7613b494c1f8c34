import { test } from "node:test";
import * as assert from "node:assert/strict";
import { describeDownloadError, downloadUrl, parseModelSpec } from "../../logic/modelDownload";

test("both spec forms parse to the same file", () => {
  assert.deepEqual(parseModelSpec("tensorblock/semcoder_s_1030-GGUF:semcoder_s_1030-Q4_K_M.gguf"), { repo: "tensorblock/semcoder_s_1030-GGUF", file: "semcoder_s_1030-Q4_K_M.gguf" });
  assert.deepEqual(parseModelSpec("hf://o/r/sub/m.gguf"), { repo: "o/r", file: "sub/m.gguf" });
  assert.throws(() => parseModelSpec("just-a-name"), /not a model spec SemCoder understands/);
});

test("download URL", () => {
  assert.equal(downloadUrl({ repo: "o/r", file: "sub/a b.gguf" }), "https://huggingface.co/o/r/resolve/main/sub/a%20b.gguf");
  assert.equal(downloadUrl({ repo: "o/r", file: "m.gguf" }, "http://127.0.0.1:9/"), "http://127.0.0.1:9/o/r/resolve/main/m.gguf");
});

test("offline and HTTP failures read as sentences", () => {
  const url = "https://huggingface.co/o/r/resolve/main/m.gguf";
  assert.match(describeDownloadError(url, { code: "ENOTFOUND" }), /huggingface\.co cannot be reached \(no network or DNS\)/);
  assert.match(describeDownloadError(url, { code: "ECONNREFUSED" }), /connection to huggingface\.co failed \(ECONNREFUSED\)/);
  assert.match(describeDownloadError(url, { status: 404 }), /no such file \(HTTP 404\)/);
});
