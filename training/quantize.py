"""Quantize a GGUF with llama.cpp's own quantizer (through llama-cpp-python), atomically.

llama.cpp reports progress only through its log ("[  3/ 21] blk.0.attn_q.weight ..."), so
we install a log callback for the duration of the call: it turns those lines into a
progress bar and keeps error lines for the message if quantization fails. The callback
object must stay referenced while installed (a collected ctypes callback crashes the
process), and llama-cpp-python's own callback is put back afterwards.
"""

from __future__ import annotations

import ctypes
import re
import sys
import threading
from pathlib import Path

from semcoder_inference.errors import ModelError, SemcoderError

from .atomic import atomic_output

# llama_ftype values (llama.h)
QUANT_TYPES = {"q8_0": 7, "q4_k_m": 15}
_PROGRESS_LINE = re.compile(rb"\[\s*(\d+)/\s*(\d+)\]")
_log_lock = threading.Lock()  # the log callback is process-global


def _check_gguf(path: Path) -> None:
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        raise ModelError(f"{path} does not exist.", hint="Give the path of an f16/f32/bf16 GGUF file to quantize.") from None
    except OSError as exc:
        raise ModelError(f"Cannot read {path}: {exc}.") from exc
    if magic != b"GGUF":
        raise ModelError(f"{path} is not a GGUF file (it does not start with the GGUF magic bytes).",
                         hint="Export a Hugging Face checkpoint first: semcoder model export HF_DIR --out model.gguf.")


def quantize(src: str | Path, dst: str | Path, qtype: str = "q4_k_m", *, threads: int | None = None,
             progress: bool = False) -> Path:
    """Quantize `src` (a 16/32-bit GGUF) to `dst` as `qtype` ("q8_0" or "q4_k_m")."""
    import llama_cpp
    from llama_cpp import _logger as llama_logger
    from tqdm import tqdm

    if qtype not in QUANT_TYPES:
        raise SemcoderError(f"Unknown quantization type {qtype!r}: choose one of {', '.join(QUANT_TYPES)}.")
    src, dst = Path(src), Path(dst)
    _check_gguf(src)
    errors: list[str] = []
    bar = tqdm(total=None, unit="tensor", desc=f"quantize {dst.name} ({qtype})", file=sys.stderr, disable=not progress)

    def on_log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        # Runs on llama.cpp's thread: only cheap bookkeeping, never raise.
        try:
            match = _PROGRESS_LINE.search(text or b"")
            if match:
                done, total = int(match.group(1)), int(match.group(2))
                if bar.total != total:
                    bar.total = total
                bar.n = done
                bar.refresh()
            if level == 3 and text:  # GGML_LOG_LEVEL_ERROR
                errors.append(text.decode("utf-8", "replace").strip())
        except Exception:
            pass

    callback = llama_cpp.llama_log_callback(on_log)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[qtype]
    params.nthread = threads or 0  # 0: all cores
    try:
        with atomic_output(dst) as tmp, _log_lock:
            llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
            try:
                rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
            finally:
                llama_cpp.llama_log_set(llama_logger.llama_log_callback, ctypes.c_void_p(0))
            if rc != 0:
                detail = " ".join(errors) or f"llama.cpp returned {rc}"
                raise ModelError(f"Quantizing {src} to {qtype} failed: {detail}",
                                 hint="The input must be a complete f32/f16/bf16 GGUF of an architecture llama.cpp supports.")
    finally:
        bar.close()
    return dst
