"""Bad model files, bad specs and bad settings give one readable paragraph, never a traceback."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from semcoder_inference.engine import GenerationParams
from semcoder_inference.errors import ModelError, SemcoderError, SettingsError
from semcoder_inference.llama_engine import LlamaCppEngine
from semcoder_inference.model_spec import (
    GGML_TYPE_SIZES,
    parse_hub_spec,
    read_gguf_header,
    resolve_model,
)
from semcoder_inference.validation import check_generation_params


def _cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "semcoder_inference.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


def _assert_clean_failure(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


def _load_error(path) -> str:
    """The error LlamaCppEngine raises for this file (it checks before llama.cpp sees it)."""
    engine = LlamaCppEngine(str(path), n_ctx=128)
    with pytest.raises(ModelError) as info:
        engine.load()
    engine.close()
    message = str(info.value)
    assert "\n" not in message.strip()  # one paragraph
    return message


def _write_gguf(path: Path, arch: str) -> Path:
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_context_length(128)
    writer.add_tensor("token_embd.weight", np.zeros((8, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# ------------------------------------------------------------------ files


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.gguf"
    assert "does not exist" in _load_error(missing)
    _assert_clean_failure(_cli("model", "info", str(missing)), "does not exist", str(missing))


def test_empty_file(tmp_path):
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    assert "is empty" in _load_error(empty)
    _assert_clean_failure(_cli("model", "info", str(empty)), "is empty")


def test_file_truncated_inside_the_header(tiny_model, tmp_path):
    cut = tmp_path / "cut-header.gguf"
    cut.write_bytes(tiny_model.gguf_q8_0.read_bytes()[:2000])
    message = _load_error(cut)
    assert "truncated" in message and "ends inside the GGUF header" in message
    _assert_clean_failure(_cli("model", "info", str(cut)), "truncated")


def test_file_truncated_inside_the_weights(tiny_model, tmp_path):
    data = tiny_model.gguf_q8_0.read_bytes()
    cut = tmp_path / "cut-data.gguf"
    cut.write_bytes(data[: len(data) // 2])
    message = _load_error(cut)
    assert "truncated" in message and "interrupted" in message
    _assert_clean_failure(_cli("model", "info", str(cut)), "truncated", "fetch or export it again")


def test_corrupt_header(tiny_model, tmp_path):
    data = bytearray(tiny_model.gguf_q8_0.read_bytes())
    # The first metadata key's length field (after magic, version, tensor and kv counts).
    data[24:32] = struct.pack("<Q", 2**40)
    bad = tmp_path / "corrupt.gguf"
    bad.write_bytes(bytes(data))
    message = _load_error(bad)
    assert "corrupt GGUF header" in message
    _assert_clean_failure(_cli("model", "info", str(bad)), "corrupt GGUF header")


def test_unknown_gguf_version(tiny_model, tmp_path):
    data = bytearray(tiny_model.gguf_q8_0.read_bytes()[:4096])
    data[4:8] = struct.pack("<I", 99)
    bad = tmp_path / "v99.gguf"
    bad.write_bytes(bytes(data))
    assert "unknown GGUF version 99" in _load_error(bad)


def test_safetensors_file_is_not_gguf(tmp_path):
    from safetensors.numpy import save_file
    import numpy as np

    st = tmp_path / "model.safetensors"
    save_file({"w": np.zeros((2, 2), dtype=np.float32)}, str(st))
    message = _load_error(st)
    assert "not a GGUF model file" in message and "safetensors" in message and "semcoder model export" in message
    _assert_clean_failure(_cli("model", "info", str(st)), "safetensors")


def test_text_file_is_not_gguf(tmp_path):
    text = tmp_path / "model.gguf"
    text.write_text("this is not a model\n")
    assert "looks like a text file" in _load_error(text)
    _assert_clean_failure(_cli("model", "info", str(text)), "not a GGUF model file")


def test_html_error_page_is_not_gguf(tmp_path):
    page = tmp_path / "download.gguf"
    page.write_text("<!DOCTYPE html><html><body>Not found</body></html>")
    assert "HTML page" in _load_error(page)


def test_folder_is_not_a_model(tmp_path):
    assert "is a folder" in _load_error(tmp_path)


def test_unsupported_architecture(tmp_path):
    odd = _write_gguf(tmp_path / "odd.gguf", "quantum-brain")
    message = _load_error(odd)
    assert "'quantum-brain'" in message and "cannot run" in message
    # `model info` still describes the file, then explains why it cannot be used.
    done = _cli("model", "info", str(odd))
    _assert_clean_failure(done, "'quantum-brain'")
    assert "quantum-brain" in done.stdout


def test_model_info_describes_a_real_model(tiny_model):
    done = _cli("model", "info", str(tiny_model.gguf_q4_k_m), "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["architecture"] == "llama"
    assert info["quantization"] == "Q4_K_M"
    assert info["context length"] == 4096
    assert info["tokenizer"].startswith("gpt2 (pre-tokenizer deepseek-coder)")
    assert info["header check"].startswith("passed") and "loadable" not in info  # says what was checked
    header = read_gguf_header(tiny_model.gguf_q8_0)
    assert header.quant_type == "Q8_0" and header.parameters > 100_000


def test_type_size_table_matches_the_gguf_library():
    import gguf

    for qtype, sizes in gguf.GGML_QUANT_SIZES.items():
        if int(qtype) in GGML_TYPE_SIZES:
            assert GGML_TYPE_SIZES[int(qtype)] == tuple(sizes), qtype.name


# ------------------------------------------------------------------ specs


def test_hub_spec_offline_and_not_cached_names_the_pull_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as info:
        resolve_model("someone/semcoder-GGUF:model-Q4_K_M.gguf", download=None, cache_dir=tmp_path)
    message = str(info.value)
    assert "model-Q4_K_M.gguf" in message and "someone/semcoder-GGUF" in message
    assert "`semcoder model pull someone/semcoder-GGUF:model-Q4_K_M.gguf`" in message
    engine = LlamaCppEngine("hf://someone/semcoder-GGUF/model-Q4_K_M.gguf", cache_dir=tmp_path)
    with pytest.raises(ModelError, match="semcoder model pull someone/semcoder-GGUF:model-Q4_K_M.gguf"):
        engine.load()


@pytest.mark.slow
def test_cli_offline_spec_and_pull(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    _assert_clean_failure(_cli("model", "info", "someone/repo:m.gguf", env_extra=env), "semcoder model pull someone/repo:m.gguf")
    _assert_clean_failure(_cli("model", "pull", "someone/repo:m.gguf", env_extra=env), "HF_HUB_OFFLINE is set")
    _assert_clean_failure(_cli("model", "pull", "just-a-file.gguf", env_extra=env), "not a Hugging Face file spec")


def test_spec_parsing():
    assert parse_hub_spec("a/b:c/d.gguf").filename == "c/d.gguf"
    hub = parse_hub_spec("hf://owner/repo/sub/model.gguf")
    assert (hub.repo_id, hub.filename) == ("owner/repo", "sub/model.gguf")
    assert parse_hub_spec("owner/repo@v2:m.gguf").revision == "v2"
    assert parse_hub_spec("/models/local.gguf") is None
    with pytest.raises(ModelError, match="incomplete"):
        parse_hub_spec("hf://owner/repo")
    with pytest.raises(ModelError, match="not understood"):
        parse_hub_spec("no-slash:file.gguf")
    with pytest.raises(SettingsError, match="No model given"):
        resolve_model("  ")


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    "kwargs, setting",
    [
        ({"n_ctx": 0}, "n_ctx"),
        ({"n_ctx": -512}, "n_ctx"),
        ({"n_ctx": 40.5}, "n_ctx"),
        ({"n_threads": 0}, "n_threads"),
        ({"n_gpu_layers": -2}, "n_gpu_layers"),
    ],
)
def test_invalid_engine_settings(tiny_model, kwargs, setting):
    with pytest.raises(SettingsError) as info:
        LlamaCppEngine(str(tiny_model.gguf_q8_0), **kwargs)
    assert f"Invalid setting {setting}=" in str(info.value)


@pytest.mark.parametrize(
    "params, setting",
    [
        (GenerationParams(temperature=-0.1), "temperature"),
        (GenerationParams(top_p=0.0), "top_p"),
        (GenerationParams(top_p=1.5), "top_p"),
        (GenerationParams(max_tokens=0), "max_tokens"),
        (GenerationParams(seed=-1), "seed"),
        (GenerationParams(stop=("",)), "stop"),
        (GenerationParams(temperature=float("nan")), "temperature"),
    ],
)
def test_invalid_generation_params(params, setting):
    with pytest.raises(SettingsError) as info:
        check_generation_params(params)
    assert f"Invalid setting {setting}=" in str(info.value)


def test_invalid_params_rejected_by_the_engine_before_loading(tmp_path):
    engine = LlamaCppEngine(str(tmp_path / "not-loaded.gguf"))
    with pytest.raises(SettingsError, match="top_p"):
        next(engine.stream("x", GenerationParams(top_p=2.0)))
    assert not engine.loaded


def test_every_error_is_a_semcoder_error():
    assert issubclass(ModelError, SemcoderError) and issubclass(SettingsError, SemcoderError)


def test_predict_cli_with_a_bad_model_exits_2(tmp_path):
    """`semcoder predict` (another module) goes through the same checks."""
    source = tmp_path / "f.py"
    source.write_text("def f(x):\n    return x + 1\n")
    bad = tmp_path / "bad.gguf"
    bad.write_text("not a model")
    done = _cli("predict", str(source), "--call", "f(1)", "--model", str(bad))
    _assert_clean_failure(done, "not a GGUF model file")


# ------------------------------------------------------------------ pull


class _FakeHub:
    """Just enough of the Hugging Face Hub's file endpoint for huggingface_hub to download
    one file: HEAD/GET /{repo}/resolve/{revision}/{file}. Everything else is 404."""

    COMMIT = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, repo: str, filename: str, data: bytes):
        import hashlib
        import http.server
        import threading

        path = f"/{repo}/resolve/main/{filename}"
        etag = hashlib.sha256(data).hexdigest()
        self.requests: list[str] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, with_body: bool):
                hub.requests.append(f"{self.command} {self.path}")
                if self.path != path:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("X-Repo-Commit", hub.COMMIT)
                self.send_header("ETag", f'"{etag}"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if with_body:
                    self.wfile.write(data)

            def do_HEAD(self):
                self._answer(False)

            def do_GET(self):
                self._answer(True)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow
def test_pull_downloads_into_the_cache_then_works_offline(tiny_model, tmp_path):
    hub = _FakeHub("someone/tiny-GGUF", "tiny-q8_0.gguf", tiny_model.gguf_q8_0.read_bytes())
    try:
        env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0"}
        done = _cli("model", "pull", "someone/tiny-GGUF:tiny-q8_0.gguf", env_extra=env)
        assert done.returncode == 0, done.stderr
        pulled = Path(done.stdout.strip())
        assert pulled.read_bytes() == tiny_model.gguf_q8_0.read_bytes()
        assert "models--someone--tiny-GGUF" in str(pulled) and "(llama, Q8_0" in done.stderr
        assert any(r.startswith("GET /someone/tiny-GGUF/resolve/main/tiny-q8_0.gguf") for r in hub.requests)
        # A second pull finds it cached; info and the engine resolve it with the hub offline.
        again = _cli("model", "pull", "someone/tiny-GGUF:tiny-q8_0.gguf", env_extra=env)
        assert again.returncode == 0 and "already cached" in again.stderr
        offline = dict(env, HF_HUB_OFFLINE="1")
        info = _cli("model", "info", "hf://someone/tiny-GGUF/tiny-q8_0.gguf", "--json", env_extra=offline)
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["quantization"] == "Q8_0"
        missing = _cli("model", "pull", "someone/tiny-GGUF:other.gguf", env_extra=env)
        _assert_clean_failure(missing, "no such file", "semcoder model pull someone/tiny-GGUF:other.gguf")
    finally:
        hub.close()


@pytest.mark.slow
def test_pull_with_the_hub_unreachable_is_explained(tmp_path):
    hub = _FakeHub("a/b", "x.gguf", b"")
    url = hub.url
    hub.close()  # nothing listens there any more: connection refused
    env = {"HF_ENDPOINT": url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0", "HF_HUB_ETAG_TIMEOUT": "2"}
    done = _cli("model", "pull", "a/b:x.gguf", env_extra=env)
    _assert_clean_failure(done, "cannot be reached", "semcoder model pull a/b:x.gguf")


# ------------------------------------------------------------------ hand-made headers
# Files written byte by byte, so that each carries exactly one defect that a converter
# could produce, in an otherwise complete header (every key llama.cpp requires).

_U32, _STR, _ARR = 4, 8, 9


def _s(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(data)) + data


def _kv(key: str, vtype: int, payload: bytes) -> bytes:
    return _s(key) + struct.pack("<I", vtype) + payload


def _kv_str(key: str, value: str) -> bytes:
    return _kv(key, _STR, _s(value))


def _kv_u32(key: str, value: int) -> bytes:
    return _kv(key, _U32, struct.pack("<I", value))


def _tensor(name: str, dims, ttype: int = 0, offset: int = 0) -> bytes:
    return _s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ttype, offset)


def _good_kvs() -> dict[str, bytes]:
    tokens = struct.pack("<IQ", _STR, 3) + b"".join(_s(t) for t in ("a", "b", "c"))
    return {
        "general.architecture": _kv_str("general.architecture", "llama"),
        "general.file_type": _kv_u32("general.file_type", 0),
        "llama.context_length": _kv_u32("llama.context_length", 128),
        "llama.embedding_length": _kv_u32("llama.embedding_length", 16),
        "llama.block_count": _kv_u32("llama.block_count", 1),
        "tokenizer.ggml.model": _kv_str("tokenizer.ggml.model", "gpt2"),
        "tokenizer.ggml.tokens": _kv("tokenizer.ggml.tokens", _ARR, tokens),
    }


def _hand_made(path: Path, *, replace: dict | None = None, tensors=None, version: int = 3) -> Path:
    """A GGUF file: the complete header above with `replace` (key -> raw kv bytes, or None
    to leave the key out), and `tensors` (raw tensor entries; default one 16x16 F32 tensor
    with its data)."""
    kvs = _good_kvs()
    kvs.update(replace or {})
    entries = [kv for kv in kvs.values() if kv is not None]
    tensors = [_tensor("w", [16, 16])] if tensors is None else tensors
    header = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(entries)) + b"".join(entries) + b"".join(tensors)
    header += b"\0" * (-len(header) % 32)
    path.write_bytes(header + b"\0" * 1024)
    return path


def test_hand_made_complete_header_passes(tmp_path):
    """The base of the files below passes, in GGUF v3 and v2 (llama.cpp reads both)."""
    from semcoder_inference.model_spec import check_gguf

    for version in (3, 2):
        info = check_gguf(_hand_made(tmp_path / f"good-v{version}.gguf", version=version))
        assert info.context_length == 128 and info.quant_type == "F32" and info.version == version


@pytest.mark.parametrize(
    "name, replace, fragments",
    [
        ("ftype_str", {"general.file_type": _kv_str("general.file_type", "Q4")}, ["`general.file_type` is a string ('Q4')", "uint32"]),
        ("ctx_str", {"llama.context_length": _kv_str("llama.context_length", "big")}, ["`llama.context_length` is a string ('big')"]),
        ("ctx_arr", {"llama.context_length": _kv("llama.context_length", _ARR, struct.pack("<IQII", _U32, 2, 1, 2))},
         ["`llama.context_length` is an array of 2 uint32 items"]),
        ("ctx_missing", {"llama.context_length": None}, ["no `llama.context_length` entry"]),
        ("blocks_str", {"llama.block_count": _kv_str("llama.block_count", "two")}, ["`llama.block_count` is a string ('two')"]),
        ("blocks_zero", {"llama.block_count": _kv_u32("llama.block_count", 0)}, ["`llama.block_count` is 0", "1 to 512"]),
        ("tokens_str", {"tokenizer.ggml.tokens": _kv_str("tokenizer.ggml.tokens", "abc")}, ["`tokenizer.ggml.tokens` is a string", "array of strings"]),
        ("nested_array", {"x.nested": _kv("x.nested", _ARR, struct.pack("<IQ", _ARR, 1) + struct.pack("<IQ", _U32, 0))},
         ["`x.nested` is an array of arrays"]),
    ],
)
def test_metadata_llama_cpp_would_refuse(tmp_path, name, replace, fragments):
    """Model info describes such a file and says what is wrong; the engine refuses it before
    llama.cpp does (which throws, or for a block count of 0 aborts the whole process)."""
    bad = _hand_made(tmp_path / f"{name}.gguf", replace=replace)
    header = read_gguf_header(bad)  # the header itself is readable
    summary = header.summary()  # and describable, whatever the odd values (no ValueError)
    assert header.quant_type and summary["architecture"] == "llama"
    assert header.context_length in (None, 128)
    message = _load_error(bad)
    assert "llama.cpp cannot load the model file" in message
    for fragment in fragments:
        assert fragment in message, message


def test_model_info_and_predict_explain_odd_metadata(tmp_path):
    ctx = _hand_made(tmp_path / "ctx.gguf", replace={"llama.context_length": _kv_str("llama.context_length", "big")})
    done = _cli("model", "info", str(ctx))
    _assert_clean_failure(done, "`llama.context_length` is a string ('big')")
    assert "header check" in done.stdout and "failed" in done.stdout and "big" in done.stdout
    ftype = _hand_made(tmp_path / "ftype.gguf", replace={"general.file_type": _kv_str("general.file_type", "Q4")})
    _assert_clean_failure(_cli("model", "info", str(ftype), "--json"), "`general.file_type` is a string ('Q4')")
    source = tmp_path / "f.py"
    source.write_text("def f(x):\n    return x + 1\n")
    _assert_clean_failure(_cli("predict", str(source), "--call", "f(1)", "--model", str(ctx)), "`llama.context_length` is a string")


def test_unknown_tensor_type_is_refused(tmp_path):
    bad = _hand_made(tmp_path / "unknown-type.gguf", tensors=[_tensor("w", [16, 16], ttype=99)])
    assert read_gguf_header(bad).tensor_types == {"type 99": 1}
    message = _load_error(bad)
    assert "tensor 'w' has ggml type 99" in message and "does not know" in message
    done = _cli("model", "info", str(bad))
    _assert_clean_failure(done, "ggml type 99")
    assert "passed" not in done.stdout


@pytest.mark.parametrize(
    "name, replace, tensors, fragment",
    [
        ("align_str", {"general.alignment": _kv_str("general.alignment", "x")}, None, "`general.alignment` is a string ('x')"),
        ("align_odd", {"general.alignment": _kv_u32("general.alignment", 24)}, None, "`general.alignment` is 24, not a power of two"),
        ("nested_deep", {"x.nested": _kv("x.nested", _ARR, struct.pack("<IQ", _ARR, 1) * 3000 + struct.pack("<IQ", _U32, 0))},
         None, "arrays nested more than"),
        ("huge_dims", {}, [_tensor("w", [2**40, 2**40])], "dimensions 1099511627776 x 1099511627776"),
        ("absurd_size", {}, [_tensor("w", [2**26, 2**26])], "far more than any model"),
        ("five_dims", {}, [_tensor("w", [1, 1, 1, 1, 1])], "5 dimensions"),
        ("bad_row", {}, [_tensor("w", [16, 16], ttype=8)], "not a multiple of its block of 32"),
        ("same_name", {}, [_tensor("w", [4]), _tensor("w", [4], offset=32)], "two tensors named 'w'"),
        ("gap", {}, [_tensor("w", [4]), _tensor("v", [4], offset=4096)], "tensor 'v' starts at byte 4096"),
    ],
)
def test_corrupt_headers_are_called_corrupt(tmp_path, name, replace, tensors, fragment):
    """Values that cannot be are a corrupt header, not a truncated download (before: a
    ValueError, a RecursionError, or 'truncated … 4503599627370496.00 GiB')."""
    bad = _hand_made(tmp_path / f"{name}.gguf", replace=replace, tensors=tensors)
    with pytest.raises(ModelError) as info:
        read_gguf_header(bad)
    message = str(info.value)
    assert "corrupt GGUF header" in message and fragment in message, message
    assert "truncated" not in message and "\n" not in message


def test_corrupt_header_from_the_cli(tmp_path):
    bad = _hand_made(tmp_path / "huge.gguf", tensors=[_tensor("w", [2**40, 2**40])])
    _assert_clean_failure(_cli("model", "info", str(bad)), "corrupt GGUF header", "more elements than a tensor can have")
    nested = _hand_made(tmp_path / "nested.gguf", replace={"x": _kv("x", _ARR, struct.pack("<IQ", _ARR, 1) * 3000 + struct.pack("<IQ", _U32, 0))})
    _assert_clean_failure(_cli("model", "info", str(nested)), "corrupt GGUF header")


def test_a_real_truncated_download_is_still_called_truncated(tiny_model, tmp_path):
    data = tiny_model.gguf_q4_k_m.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: len(data) * 3 // 4])
    message = _load_error(cut)
    assert "truncated" in message and "corrupt" not in message and "MiB" in message
