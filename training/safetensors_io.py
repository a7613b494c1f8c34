"""Read and write safetensors files with numpy only, tensor by tensor.

The `safetensors` package's numpy backend cannot represent bfloat16, and real checkpoints
(SemCoder ships 16-bit weights) often use it. The format is simple — an 8-byte header
length, a JSON header, then raw little-endian tensor bytes — so we read it through a memory
map (one tensor in RAM at a time) and widen bf16 to float32 ourselves. The writer streams
too, which lets a LoRA merge of a multi-GB checkpoint run without holding it in memory.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from semcoder_inference.errors import ModelError

# safetensors dtype name -> numpy dtype used to hold the raw bytes
_RAW_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "BF16": np.uint16,  # raw bits; widened by `bf16_to_f32`
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    """Widen raw bfloat16 bits (uint16) to float32 exactly."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16_bits(values: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 (nearest, ties to even) and return the raw uint16 bits."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounded = bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    out = (rounded >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(values)
    if nan.any():  # rounding could turn a NaN payload into infinity
        out[nan] = 0x7FC0
    return out


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a safetensors file, loaded on demand."""

    name: str
    dtype: str  # safetensors dtype name, e.g. "BF16"
    shape: tuple[int, ...]
    path: Path
    start: int  # absolute byte offset in the file
    nbytes: int

    def raw(self) -> np.ndarray:
        """The tensor in its stored dtype (bf16 as uint16 bits), memory-mapped (read-only)."""
        count = int(np.prod(self.shape)) if self.shape else 1
        arr = np.memmap(self.path, dtype=_RAW_DTYPES[self.dtype], mode="r", offset=self.start, shape=(count,))
        return arr.reshape(self.shape)

    def to_float32(self) -> np.ndarray:
        raw = self.raw()
        if self.dtype == "BF16":
            return bf16_to_f32(np.asarray(raw))
        return np.asarray(raw, dtype=np.float32)


def read_header(path: Path) -> list[TensorEntry]:
    """List the tensors of one .safetensors file without reading their data."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                raise ValueError("file shorter than the 8-byte header length")
            (header_len,) = struct.unpack("<Q", head)
            if header_len > 100_000_000:
                raise ValueError(f"header length {header_len} is implausible")
            header = json.loads(fh.read(header_len))
        size = path.stat().st_size
    except (OSError, ValueError) as exc:
        raise ModelError(f"Cannot read the safetensors file {path}: {exc}.",
                         hint="Check that the checkpoint finished downloading and is not corrupt.") from exc
    data_start = 8 + header_len
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        if info["dtype"] not in _RAW_DTYPES:
            raise ModelError(f"Tensor {name!r} in {path} has dtype {info['dtype']}, which this exporter does not read.")
        if data_start + end > size:
            raise ModelError(f"The safetensors file {path} is truncated: tensor {name!r} runs past the end of the file.",
                             hint="Download the checkpoint again.")
        entries.append(TensorEntry(name, info["dtype"], tuple(info["shape"]), path, data_start + begin, end - begin))
    return entries


def checkpoint_tensors(hf_dir: Path) -> dict[str, TensorEntry]:
    """All tensors of a Hugging Face checkpoint folder (single file or sharded), by name."""
    hf_dir = Path(hf_dir)
    files = sorted(hf_dir.glob("*.safetensors"))
    if not files:
        raise ModelError(f"No .safetensors weights in {hf_dir}.",
                         hint="Export needs a Hugging Face checkpoint saved with safetensors (save_pretrained does this by default).")
    tensors: dict[str, TensorEntry] = {}
    for file in files:
        for entry in read_header(file):
            tensors[entry.name] = entry
    return tensors


def write_safetensors(path: Path, tensors: Iterable[tuple[str, str, tuple[int, ...], Callable[[], np.ndarray]]],
                      metadata: dict[str, str] | None = None) -> None:
    """Stream tensors into a safetensors file.

    `tensors` yields (name, st_dtype, shape, produce) where `produce()` returns a numpy array
    holding exactly the raw bytes (bf16 as uint16 bits). Shapes and dtypes are needed up front
    because the header comes first; data is produced one tensor at a time.
    """
    items = list(tensors)
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, st_dtype, shape, _ in items:
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(_RAW_DTYPES[st_dtype]).itemsize
        header[name] = {"dtype": st_dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # data starts 8-byte aligned, as the reference writer does
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(blob)))
        fh.write(blob)
        for name, st_dtype, shape, produce in items:
            arr = np.ascontiguousarray(produce())
            expected = np.dtype(_RAW_DTYPES[st_dtype])
            if arr.dtype != expected or tuple(arr.shape) != tuple(shape):
                raise ValueError(f"tensor {name}: produced {arr.dtype}{arr.shape}, declared {st_dtype}{tuple(shape)}")
            fh.write(arr.tobytes())
        fh.flush()
        os.fsync(fh.fileno())

