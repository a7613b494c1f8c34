"""Model specs: where a GGUF file comes from, and whether it is one we can load.

A spec is either a path to a `.gguf` file, or a file in a Hugging Face repository written
`owner/repo:file.gguf` or `hf://owner/repo/file.gguf`. Hub files are resolved through
huggingface_hub's own cache, so `semcoder model pull` and the engine share downloads.

Before llama.cpp sees a file we read its GGUF header ourselves (no `gguf` dependency: the
base install must stay small) so that a missing, truncated, corrupt or foreign file, or
an architecture llama.cpp cannot run, is reported in words instead of a C-level failure.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .errors import ModelError, SettingsError

GGUF_MAGIC = b"GGUF"
HF_PREFIX = "hf://"

# Architectures the bundled llama.cpp (llama-cpp-python 0.3.x) can run as text models.
# SemCoder itself is "llama"; the others are accepted because users point the tool at
# other code models too. A name outside this set fails in llama.cpp with an opaque error.
SUPPORTED_ARCHITECTURES = frozenset(
    """llama llama4 deci falcon grok gpt2 gptj gptneox mpt baichuan starcoder refact bert
    nomic-bert jina-bert-v2 bloom stablelm qwen qwen2 qwen2moe qwen2vl qwen3 qwen3moe phi2
    phi3 phimoe plamo codeshell orion internlm2 minicpm minicpm3 gemma gemma2 gemma3
    starcoder2 mamba xverse command-r cohere2 dbrx olmo olmo2 olmoe openelm arctic
    deepseek deepseek2 chatglm glm4 bitnet t5 t5encoder jais nemotron exaone exaone4 rwkv6
    rwkv6qwen2 rwkv7 arwkv7 granite granitemoe chameleon wavtokenizer-dec plm bailingmoe
    mistral3 smollm3 gpt-oss ernie4_5 hunyuan-moe dots1 arcee falcon-h1 lfm2
    """.split()
)

# ggml tensor types: (elements per block, bytes per block). Used to check that every
# tensor's data lies inside the file, which is how a truncated download shows itself.
GGML_TYPE_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 18),  # Q4_0
    3: (32, 20),  # Q4_1
    6: (32, 22),  # Q5_0
    7: (32, 24),  # Q5_1
    8: (32, 34),  # Q8_0
    9: (32, 40),  # Q8_1
    10: (256, 84),  # Q2_K
    11: (256, 110),  # Q3_K
    12: (256, 144),  # Q4_K
    13: (256, 176),  # Q5_K
    14: (256, 210),  # Q6_K
    15: (256, 292),  # Q8_K
    16: (256, 66),  # IQ2_XXS
    17: (256, 74),  # IQ2_XS
    18: (256, 98),  # IQ3_XXS
    19: (256, 50),  # IQ1_S
    20: (32, 18),  # IQ4_NL
    21: (256, 110),  # IQ3_S
    22: (256, 82),  # IQ2_S
    23: (256, 136),  # IQ4_XS
    24: (1, 1),  # I8
    25: (1, 2),  # I16
    26: (1, 4),  # I32
    27: (1, 8),  # I64
    28: (1, 8),  # F64
    29: (256, 56),  # IQ1_M
    30: (1, 2),  # BF16
    34: (256, 54),  # TQ1_0
    35: (256, 66),  # TQ2_0
    39: (32, 17),  # MXFP4
    40: (64, 36),  # NVFP4
    41: (128, 18),  # Q1_0
    42: (64, 18),  # Q2_0 (in llama-cpp-python 0.3.36's ggml; the gguf package does not list it yet)
}

# llama.cpp's `general.file_type` values (enum llama_ftype), for `semcoder model info`.
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE",
}
TENSOR_TYPE_NAMES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
    10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 30: "BF16",
}

# GGUF metadata value types -> struct format for the fixed-size ones.
_SCALAR_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_UINT32 = 4
_VALUE_TYPE_NAMES = {
    0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32", 6: "float32", 7: "bool",
    8: "string", 9: "array", 10: "uint64", 11: "int64", 12: "float64",
}
_MAX_STRING = 1 << 24  # a metadata string longer than 16 MiB means a corrupt header
_MAX_ITEMS = 1 << 28
_MAX_NESTING = 8  # arrays of arrays (llama.cpp reads none); deeper means a corrupt header
# ggml's limits (GGML_MAX_DIMS, GGML_MAX_NAME, int64 element counts, size_t byte counts):
# llama.cpp refuses a tensor beyond them.
_MAX_DIMS = 4
_MAX_TENSOR_NAME = 63
_MAX_ELEMENTS = (1 << 63) - 1
_MAX_BYTES = (1 << 64) - 1
_ABSURD_DATA = 1 << 50  # 1 PiB: no model file holds this much, so a header that says so is corrupt
LLAMA_MAX_LAYERS = 512  # llama.cpp aborts the process (GGML_ASSERT) on a block count outside 1..512


@dataclass
class GGUFInfo:
    """What a GGUF header says about a model."""

    path: Path
    version: int
    file_size: int
    metadata: dict = field(repr=False)  # key -> value; long arrays are kept as ArrayInfo
    tensor_count: int = 0
    parameters: int = 0
    tensor_types: dict[str, int] = field(default_factory=dict)  # type name -> tensor count
    tensor_bytes: dict[str, int] = field(default_factory=dict, repr=False)  # name -> bytes of data (known types)
    metadata_types: dict[str, int] = field(default_factory=dict, repr=False)  # key -> GGUF value type
    unknown_tensor_types: dict[str, int] = field(default_factory=dict, repr=False)  # tensor name -> ggml type

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def arch_value(self, key: str, default=None):
        return self.metadata.get(f"{self.architecture}.{key}", default)

    @property
    def context_length(self) -> int | None:
        """The context the model was trained with; None when absent or not a whole number."""
        value = self.arch_value("context_length")
        return value if _is_whole(value) and value > 0 else None

    @property
    def quant_type(self) -> str:
        ftype = self.metadata.get("general.file_type")
        if _is_whole(ftype):
            return FILE_TYPES.get(ftype, f"file type {ftype}")
        # Older writers leave file_type out (and a broken one may write something else):
        # name the type most weights use.
        if self.tensor_types:
            return max(self.tensor_types.items(), key=lambda kv: kv[1])[0]
        return "unknown"

    @property
    def tokenizer(self) -> str:
        model = self.metadata.get("tokenizer.ggml.model", "none")
        pre = self.metadata.get("tokenizer.ggml.pre")
        tokens = self.metadata.get("tokenizer.ggml.tokens")
        size = f", {len(tokens)} tokens" if isinstance(tokens, ArrayInfo) else ""
        return f"{model}" + (f" (pre-tokenizer {pre})" if pre else "") + size

    def summary(self) -> dict:
        """The fields `semcoder model info` prints."""
        return {
            "file": str(self.path),
            "file size": _human_size(self.file_size),
            "name": self.metadata.get("general.name", ""),
            "architecture": self.architecture,
            "parameters": _human_count(self.parameters),
            "quantization": self.quant_type,
            "context length": self.context_length if self.context_length is not None else self.arch_value("context_length"),
            "layers": self.arch_value("block_count"),
            "embedding size": self.arch_value("embedding_length"),
            "tokenizer": self.tokenizer,
            "gguf version": self.version,
            "tensors": self.tensor_count,
        }


class ArrayInfo(list):
    """A metadata array. Long string arrays (a 32k vocabulary) are not materialised:
    only their length is kept, which is all the checks and `model info` need."""

    def __init__(self, items: list, length: int, item_type: int = -1):
        super().__init__(items)
        self.length = length
        self.item_type = item_type

    def __len__(self) -> int:  # the real length even when items were not kept
        return self.length


class _Truncated(Exception):
    pass


class _Corrupt(Exception):
    pass


class _Reader:
    """Little-endian reads from a buffered file, failing with _Truncated at EOF."""

    def __init__(self, fh: BinaryIO, size: int):
        self.fh = fh
        self.size = size

    def take(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) < n:
            raise _Truncated()
        return data

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > _MAX_STRING or n > self.size:
            raise _Corrupt(f"a string of {n} bytes")
        return self.take(n).decode("utf-8", errors="replace")

    def skip(self, n: int) -> None:
        if self.fh.tell() + n > self.size:
            raise _Truncated()
        self.fh.seek(n, os.SEEK_CUR)

    def value(self, vtype: int, depth: int = 0):
        if vtype in _SCALAR_FORMATS:
            return self.unpack(_SCALAR_FORMATS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            if depth >= _MAX_NESTING:
                raise _Corrupt(f"arrays nested more than {_MAX_NESTING} deep")
            item_type = self.unpack("<I")
            count = self.unpack("<Q")
            if count > _MAX_ITEMS:
                raise _Corrupt(f"an array of {count} items")
            # Keep short arrays; for long ones keep only the length (and skip fast when
            # the items have a fixed size).
            if count <= 64:
                return ArrayInfo([self.value(item_type, depth + 1) for _ in range(count)], count, item_type)
            if item_type in _SCALAR_FORMATS:
                self.skip(count * struct.calcsize(_SCALAR_FORMATS[item_type]))
            else:
                for _ in range(count):
                    self.value(item_type, depth + 1)
            return ArrayInfo([], count, item_type)
        raise _Corrupt(f"an unknown metadata type {vtype}")


def _sniff_format(head: bytes) -> str | None:
    """Name the format of a file that is not GGUF, to make the error actionable."""
    if head[:4] in (b"lmgg", b"fmgg", b"tjgg", b"ggml", b"ggmf", b"ggjt"):
        return "an old GGML/GGJT model, a format llama.cpp no longer loads"
    if len(head) >= 9 and head[8:9] == b"{":
        return "a safetensors checkpoint"
    if head[:4] == b"PK\x03\x04":
        return "a zip archive (a PyTorch .bin or .pt checkpoint?)"
    if head[:1] == b"\x80":
        return "a Python pickle (a PyTorch checkpoint?)"
    if head.lstrip()[:1] == b"{":
        return "a JSON file"
    if head.lstrip().lower().startswith((b"<!doctype", b"<html")):
        return "an HTML page (a failed download?)"
    try:
        head.decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return None


_CONVERT_HINT = (
    "Point SEMCODER_MODEL or --model at a .gguf file, or convert a Hugging Face checkpoint "
    "with `semcoder model export`."
)


def read_gguf_header(path: str | os.PathLike) -> GGUFInfo:
    """Read and check a GGUF file's header. Raises ModelError that says what is wrong."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelError(f"The model file {path} does not exist.", hint="Check the path, or download the model with `semcoder model pull OWNER/REPO:FILE.gguf`.")
    if path.is_dir():
        raise ModelError(
            f"{path} is a folder, not a GGUF model file.",
            hint="If it holds a Hugging Face checkpoint, convert it with `semcoder model export`.",
        )
    try:
        size = path.stat().st_size
        fh = open(path, "rb")
    except OSError as exc:
        raise ModelError(f"Cannot read the model file {path}: {exc.strerror or exc}.") from None
    with fh:
        head = fh.read(16)
        if size == 0:
            raise ModelError(f"The model file {path} is empty (0 bytes): the download or export did not finish.", hint="Delete it and fetch or export it again.")
        if head[:4] != GGUF_MAGIC:
            if len(head) < 4 and GGUF_MAGIC.startswith(head):
                raise ModelError(f"The model file {path} is truncated ({size} bytes): it ends inside the GGUF header.", hint="Delete it and fetch or export it again.")
            kind = _sniff_format(head)
            what = f"it looks like {kind}" if kind else "its first bytes are not the GGUF signature"
            raise ModelError(f"{path} is not a GGUF model file: {what}.", hint=_CONVERT_HINT)
        fh.seek(4)
        reader = _Reader(fh, size)
        try:
            info = _parse(reader, path, size)
        except _Truncated:
            raise ModelError(
                f"The model file {path} is truncated ({_human_size(size)}): it ends inside the GGUF header.",
                hint="The download or export was probably interrupted; delete it and fetch or export it again.",
            ) from None
        except _Corrupt as exc:
            raise ModelError(
                f"The model file {path} has a corrupt GGUF header ({exc}).",
                hint="Delete it and fetch or export it again.",
            ) from None
    return info


def _parse(reader: _Reader, path: Path, size: int) -> GGUFInfo:
    version = reader.unpack("<I")
    if version not in (2, 3):
        if version == 1:
            raise ModelError(f"{path} is a GGUF version 1 file, which llama.cpp no longer loads.", hint="Convert the model again with a current tool.")
        raise _Corrupt(f"unknown GGUF version {version}")
    tensor_count = reader.unpack("<Q")
    kv_count = reader.unpack("<Q")
    if tensor_count > 1_000_000 or kv_count > 1_000_000:
        raise _Corrupt(f"{tensor_count} tensors and {kv_count} metadata entries")
    metadata: dict = {}
    types: dict[str, int] = {}
    for _ in range(kv_count):
        key = reader.string()
        vtype = reader.unpack("<I")
        try:
            metadata[key] = reader.value(vtype)
        except _Corrupt as exc:
            raise _Corrupt(f"metadata entry `{key}` holds {exc}") from None
        types[key] = vtype
    info = GGUFInfo(path=path, version=version, file_size=size, metadata=metadata, tensor_count=tensor_count, metadata_types=types)
    alignment = metadata.get("general.alignment", 32)
    if "general.alignment" in metadata:
        if types["general.alignment"] != _UINT32:
            raise _Corrupt(f"`general.alignment` is {_describe_value(alignment, types['general.alignment'])}, where GGUF needs a whole number (uint32)")
        if alignment <= 0 or alignment & (alignment - 1):
            raise _Corrupt(f"`general.alignment` is {alignment}, not a power of two")
    data_end = 0  # bytes of tensor data the header promises, relative to the data start
    expected_offset: int | None = 0  # where the next tensor must start (llama.cpp's rule); None once unknown
    seen: set[str] = set()
    for _ in range(tensor_count):
        name = reader.string()
        n_dims = reader.unpack("<I")
        if n_dims > _MAX_DIMS:
            raise _Corrupt(f"tensor {name!r} with {n_dims} dimensions (at most {_MAX_DIMS})")
        dims = [reader.unpack("<Q") for _ in range(n_dims)]
        ttype = reader.unpack("<I")
        offset = reader.unpack("<Q")
        if len(name.encode("utf-8")) > _MAX_TENSOR_NAME:
            raise _Corrupt(f"a tensor name of {len(name.encode('utf-8'))} bytes (at most {_MAX_TENSOR_NAME})")
        if name in seen:
            raise _Corrupt(f"two tensors named {name!r}")
        seen.add(name)
        elements = 1
        for d in dims:
            elements *= d
        if any(d > _MAX_ELEMENTS for d in dims) or elements > _MAX_ELEMENTS:
            shape = " x ".join(str(d) for d in dims)
            raise _Corrupt(f"tensor {name!r} has dimensions {shape}, more elements than a tensor can have")
        info.parameters += elements
        type_name = TENSOR_TYPE_NAMES.get(ttype, f"type {ttype}")
        info.tensor_types[type_name] = info.tensor_types.get(type_name, 0) + 1
        if ttype in GGML_TYPE_SIZES:
            block, block_bytes = GGML_TYPE_SIZES[ttype]
            row = dims[0] if dims else 1
            if row % block:
                raise _Corrupt(f"tensor {name!r} of type {type_name} has rows of {row} values, not a multiple of its block of {block}")
            nbytes = (elements // block) * block_bytes
            if nbytes > _MAX_BYTES:
                raise _Corrupt(f"tensor {name!r} would take {_human_size(nbytes)}, more than memory can address")
            info.tensor_bytes[name] = nbytes
            if expected_offset is not None:
                if offset != expected_offset:
                    raise _Corrupt(f"tensor {name!r} starts at byte {offset} of the data, where the tensors before it end at byte {expected_offset}")
                expected_offset += (nbytes + alignment - 1) // alignment * alignment
            data_end = max(data_end, offset + nbytes)
        else:
            info.unknown_tensor_types[name] = ttype
            expected_offset = None  # its size is unknown, so where the next one starts is too
            data_end = max(data_end, offset)
    header_end = reader.fh.tell()
    data_start = (header_end + alignment - 1) // alignment * alignment
    needed = data_start + data_end
    if needed > size and needed > _ABSURD_DATA:
        raise _Corrupt(f"its tensors would need {_human_size(needed)} of data, far more than any model, in a file of {_human_size(size)}")
    if needed > size:
        raise ModelError(
            f"The model file {path} is truncated: its header describes {_human_size(needed)} of data "
            f"but the file has {_human_size(size)}.",
            hint="The download or export was probably interrupted; delete it and fetch or export it again.",
        )
    if "general.architecture" not in metadata:
        raise ModelError(f"The model file {path} has no `general.architecture` entry, so llama.cpp cannot tell what model it is.", hint="Convert the model again with `semcoder model export`.")
    return info


def check_gguf(path: str | os.PathLike) -> GGUFInfo:
    """read_gguf_header plus the checks that decide whether llama.cpp can run the file."""
    info = read_gguf_header(path)
    arch = info.architecture
    if arch not in SUPPORTED_ARCHITECTURES:
        raise ModelError(
            f"The model {info.path.name} has architecture '{arch}', which the llama.cpp in this "
            "install cannot run.",
            hint="SemCoder models are 'llama' (DeepSeek-Coder based); use a GGUF conversion of one of them.",
        )
    if info.tensor_count == 0:
        raise ModelError(f"The model file {info.path} contains no tensors (it holds only metadata or a vocabulary).")
    problem = _metadata_problem(info)
    if problem:
        raise ModelError(
            f"llama.cpp cannot load the model file {info.path}: {problem}.",
            hint="The file is damaged, was written by a faulty converter, or was made for a newer llama.cpp; fetch it again, or convert the model again with `semcoder model export`.",
        )
    return info


def _metadata_problem(info: GGUFInfo) -> str | None:
    """What in the tensor list or metadata llama.cpp would refuse (its loader checks the
    same things, then fails with a C++ exception, or for a block count out of range aborts
    the process)."""
    for name, ttype in info.unknown_tensor_types.items():
        return (
            f"tensor {name!r} has ggml type {ttype}, which the llama.cpp in this install does not know "
            "(a corrupt tensor entry, or a type newer than this llama.cpp)"
        )
    for key, value in info.metadata.items():
        if isinstance(value, ArrayInfo) and value.item_type == _ARRAY:
            return f"metadata entry `{key}` is an array of arrays, which llama.cpp does not read"
    arch = info.architecture
    for key, required in (
        (f"{arch}.context_length", True),
        (f"{arch}.embedding_length", True),
        (f"{arch}.block_count", True),
        ("general.file_type", False),
    ):
        if key not in info.metadata:
            if required:
                return f"it has no `{key}` entry, which llama.cpp needs"
            continue
        vtype = info.metadata_types.get(key)
        if vtype != _UINT32:
            return f"`{key}` is {_describe_value(info.metadata[key], vtype)}, where llama.cpp needs a whole number (uint32)"
    layers = info.metadata[f"{arch}.block_count"]
    if not 1 <= layers <= LLAMA_MAX_LAYERS:
        return f"`{arch}.block_count` is {layers}, where llama.cpp needs 1 to {LLAMA_MAX_LAYERS} layers"
    tokenizer = info.metadata.get("tokenizer.ggml.model")
    if tokenizer is None:
        return "it has no `tokenizer.ggml.model` entry, so llama.cpp does not know its tokenizer"
    if info.metadata_types.get("tokenizer.ggml.model") != _STRING:
        return f"`tokenizer.ggml.model` is {_describe_value(tokenizer, info.metadata_types.get('tokenizer.ggml.model'))}, where llama.cpp needs a string"
    if tokenizer not in ("none", "no_vocab"):
        tokens = info.metadata.get("tokenizer.ggml.tokens")
        if tokens is None:
            return "it has no vocabulary (`tokenizer.ggml.tokens`)"
        if not (isinstance(tokens, ArrayInfo) and tokens.item_type == _STRING):
            return f"`tokenizer.ggml.tokens` is {_describe_value(tokens, info.metadata_types.get('tokenizer.ggml.tokens'))}, where llama.cpp needs an array of strings"
    return None


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe_value(value, vtype: int | None) -> str:
    """`a string ('big')`, `an array of 2 uint32 items`, `a float32 (4096.0)`."""
    if isinstance(value, ArrayInfo):
        item = _VALUE_TYPE_NAMES.get(value.item_type, "unknown")
        return f"an array of {len(value)} {item} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    name = _VALUE_TYPE_NAMES.get(vtype, type(value).__name__)
    article = "an" if name[0] in "aeiou" else "a"
    return f"{article} {name} ({value})"


# ---------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class HubFile:
    repo_id: str
    filename: str
    revision: str | None = None

    @property
    def spec(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        return f"{self.repo_id}{rev}:{self.filename}"

    @property
    def pull_command(self) -> str:
        return f"semcoder model pull {self.spec}"


def parse_hub_spec(spec: str) -> HubFile | None:
    """`hf://owner/repo/file.gguf` or `owner/repo[@rev]:file.gguf` -> HubFile; else None."""
    if spec.startswith(HF_PREFIX):
        rest = spec[len(HF_PREFIX):].strip("/")
        parts = rest.split("/")
        if len(parts) < 3 or not all(parts):
            raise ModelError(f"The model spec {spec!r} is incomplete: write hf://OWNER/REPO/FILE.gguf.")
        repo, filename = "/".join(parts[:2]), "/".join(parts[2:])
        revision = None
        if "@" in repo:
            repo, revision = repo.split("@", 1)
        return HubFile(repo, filename, revision)
    if ":" in spec and not Path(spec).expanduser().exists() and not _looks_like_windows_path(spec):
        repo, filename = spec.split(":", 1)
        revision = None
        if "@" in repo:
            repo, revision = repo.split("@", 1)
        if repo.count("/") != 1 or not all(repo.split("/")) or not filename:
            raise ModelError(f"The model spec {spec!r} is not understood: write OWNER/REPO:FILE.gguf, hf://OWNER/REPO/FILE.gguf, or a path to a .gguf file.")
        return HubFile(repo, filename, revision)
    return None


def _looks_like_windows_path(spec: str) -> bool:
    return len(spec) > 2 and spec[1] == ":" and spec[0].isalpha() and spec[2] in "\\/"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def resolve_model(spec: str, *, download: bool | None = False, cache_dir: str | os.PathLike | None = None) -> Path:
    """Turn a spec into a local file path (no header checks).

    download=False only looks in the Hugging Face cache; True downloads when missing;
    None downloads unless HF_HUB_OFFLINE is set. A missing hub file raises ModelError that
    names the file and the `semcoder model pull` command that fetches it.
    """
    if not spec or not spec.strip():
        raise SettingsError("No model given: set SEMCODER_MODEL or pass --model with a .gguf path or OWNER/REPO:FILE.gguf.")
    spec = spec.strip()
    hub = parse_hub_spec(spec)
    if hub is None:
        return Path(spec).expanduser()
    if download is None:
        download = not _offline()
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:  # pragma: no cover - a base dependency
        raise ModelError("huggingface_hub is not installed, so hub model specs cannot be used.") from None
    kwargs = dict(repo_id=hub.repo_id, filename=hub.filename, revision=hub.revision, cache_dir=cache_dir)
    try:
        return Path(hf_hub_download(**kwargs, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError and friends)
        pass
    if not download:
        raise ModelError(
            f"The model file {hub.filename} from {hub.repo_id} is not in the local Hugging Face cache.",
            hint=f"Download it once with `{hub.pull_command}` (needs network access).",
        )
    return download_hub_file(hub, cache_dir=cache_dir)


def ensure_online(hub: HubFile) -> None:
    """Fail early, in words, when downloads are switched off."""
    if _offline():
        raise ModelError(
            f"Cannot download {hub.filename} from {hub.repo_id}: HF_HUB_OFFLINE is set.",
            hint=f"Unset it and run `{hub.pull_command}` on a machine with network access.",
        )


def download_hub_file(hub: HubFile, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """Download into the Hugging Face cache (huggingface_hub shows a progress bar)."""
    from huggingface_hub import hf_hub_download

    ensure_online(hub)
    _probe_endpoint(hub)
    try:
        return Path(hf_hub_download(repo_id=hub.repo_id, filename=hub.filename, revision=hub.revision, cache_dir=cache_dir))
    except Exception as exc:
        raise ModelError(
            f"Could not download {hub.filename} from the Hugging Face repository {hub.repo_id}: {_describe_hub_error(exc)}",
            hint=f"Check the repository and file names and your network, then run `{hub.pull_command}` again.",
        ) from None


def _probe_endpoint(hub: HubFile) -> None:
    """One quick TCP connect before downloading: huggingface_hub retries an unreachable
    host with back-off for about half a minute before giving up."""
    import socket
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    endpoint = constants.ENDPOINT
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=10).close()
    except OSError as exc:
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else (exc.strerror or str(exc) or type(exc).__name__)
        raise ModelError(
            f"Could not download {hub.filename} from {hub.repo_id}: the Hugging Face Hub at {endpoint} cannot be reached ({reason}).",
            hint=f"Check your network (or HF_ENDPOINT), then run `{hub.pull_command}` again.",
        ) from None


def _describe_hub_error(exc: Exception) -> str:
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "Connect" in name or "Timeout" in name or "LocalEntryNotFound" in name or "Offline" in name:
        return "the Hugging Face Hub cannot be reached (no network?)."
    if "EntryNotFound" in name:
        return "the repository has no such file."
    if "RepositoryNotFound" in name:
        return "the repository does not exist or is private (set HF_TOKEN for private repositories)."
    if "GatedRepo" in name:
        return "the repository is gated: accept its terms on huggingface.co and set HF_TOKEN."
    if "RevisionNotFound" in name:
        return "the repository has no such revision."
    return f"{name}: {text}" if text else name


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if size < 1024 or unit == "EiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    return f"{n} B"


def _human_count(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f} B ({n:,})"
    if n >= 1e6:
        return f"{n / 1e6:.2f} M ({n:,})"
    return f"{n:,}"
