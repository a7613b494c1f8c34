"""Fine-tune a causal LM on PyX / PyX-R records: LoRA, QLoRA or full fine-tuning.

Read it top to bottom: config -> distributed setup -> tokenizer and examples -> batches
(packed or padded) -> model (+ LoRA) -> optimizer and cosine schedule -> resume -> loop ->
checkpoints. The config is YAML data (training/recipes/*.yaml); every key can be overridden
with `semcoder train RECIPE.yaml --set key=value`.

Run it:
    semcoder train training/recipes/tiny_cpu.yaml --set output_dir=runs/tiny
    torchrun --nproc_per_node=2 -m semcoder_training.train training/recipes/tiny_cpu.yaml
    accelerate launch --config_file training/recipes/accelerate_fsdp_8gpu.yaml \
        -m semcoder_training.train training/recipes/semcoder_s_full_8gpu.yaml

The loss is SemCoder's: cross-entropy on the response tokens only (the prompt gets BOS, the
response gets EOS), summed over the whole global batch and divided by its number of response
tokens, so packing, padding, gradient accumulation and the number of processes do not change
what is optimised.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from semcoder_inference.errors import SemcoderError
from semcoder_inference.formats import TEMPLATES, training_prompt

IGNORE = -100
MANY_EPOCHS = 3  # more passes over the data than this: a warning (SemCoder trained 2-3 epochs)

# ----------------------------------------------------------------------------- config

DEFAULTS: dict = {
    "model": "tiny",  # an HF checkpoint folder, or "tiny" for the cached tiny test model
    "data": [],  # JSONL files of PyX / PyX-R records
    "output_dir": "runs/default",
    "method": "lora",  # lora | qlora | full
    "lora": {"rank": 8, "alpha": 16, "dropout": 0.0, "targets": ["q_proj", "k_proj", "v_proj", "o_proj"]},
    "max_seq_len": 512,
    "packing": True,
    "pack_width": None,  # packed row width (default max_seq_len); longer examples get a row of their own
    "micro_batch_size": 2,  # rows per micro-batch per process
    "grad_accum": 1,
    "max_steps": 10,
    "lr": 1e-3,
    "min_lr_ratio": 0.1,
    "warmup_steps": 2,
    "weight_decay": 0.0,
    "grad_clip": 1.0,
    "precision": "auto",  # auto (bf16 on GPU when supported, else fp16; fp32 on CPU) | fp32 | bf16 | fp16
    "gradient_checkpointing": False,
    "distributed": "ddp",  # ddp | fsdp (full sharding; for full fine-tuning on many GPUs)
    "save_every": 5,
    "log_every": 1,
    "keep_checkpoints": 3,
    "seed": 0,
    "max_examples": None,  # use only the first N examples (quick runs)
    "tensorboard": True,  # when the tensorboard package is installed
    "threads": None,  # torch CPU threads per process
    "stop_after": None,  # end the run after this step without finishing the schedule (tests of resume)
}


# Keys a recipe may carry that training does not read (the recipe's own notes, provenance).
EXTRA_KEYS = ("recipe_path", "notes", "provenance")
SECTIONS = tuple(k for k, v in DEFAULTS.items() if isinstance(v, dict))  # `lora`: nested keys


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> dict:
    """The recipe's YAML merged over DEFAULTS, then `key=value` overrides (dotted keys reach
    into nested sections: `lora.rank=4`; values are parsed as YAML: `max_steps=3`).

    Every key is checked, nested ones too: an unknown key, a value of the wrong type or out of
    range is a SemcoderError that names the key, the value and what is expected (all the
    problems at once). Paths (model folder, data, output_dir, recipe) become absolute."""
    import yaml

    config = json.loads(json.dumps(DEFAULTS))
    problems: list[str] = []
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise SemcoderError(f"The recipe {path} does not exist.", hint="See training/recipes/ for examples.")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise SemcoderError(f"The recipe {path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise SemcoderError(f"The recipe {path} must be a YAML mapping of keys to values.")
        _merge(config, loaded, f"in {path}", problems)
        config["recipe_path"] = str(path.resolve())
    for item in overrides or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            problems.append(f"--set {item!r} is not of the form key=value")
            continue
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            problems.append(f"--set {item!r}: the value {text!r} is not valid YAML")
            continue
        parts = key.split(".")
        if parts[0] not in DEFAULTS:
            problems.append(f"--set {item!r}: unknown key {parts[0]!r}")
        elif len(parts) == 1:
            _merge(config, {key: value}, f"in --set {item!r}", problems)
        elif parts[0] not in SECTIONS:
            problems.append(f"--set {item!r}: {parts[0]} is a single value, not a section with keys (--set {parts[0]}=VALUE)")
        elif len(parts) > 2 or parts[1] not in DEFAULTS[parts[0]]:
            problems.append(f"--set {item!r}: unknown key {key!r} (the keys of {parts[0]}: {', '.join(DEFAULTS[parts[0]])})")
        else:
            if not isinstance(config[parts[0]], dict):
                config[parts[0]] = json.loads(json.dumps(DEFAULTS[parts[0]]))
            config[parts[0]][parts[1]] = value
    problems += _check(config)
    _raise_problems(problems)
    return config


def _merge(base: dict, extra: dict, where: str, problems: list[str]) -> None:
    for key, value in extra.items():
        if key not in DEFAULTS and key not in EXTRA_KEYS:
            problems.append(f"unknown key {key!r} {where}")
        elif key in SECTIONS and isinstance(value, dict):
            unknown = [k for k in value if k not in DEFAULTS[key]]
            for k in unknown:
                problems.append(f"unknown key '{key}.{k}' {where} (the keys of {key}: {', '.join(DEFAULTS[key])})")
            if not isinstance(base.get(key), dict):
                base[key] = json.loads(json.dumps(DEFAULTS[key]))
            base[key].update({k: v for k, v in value.items() if k not in unknown})
        else:
            base[key] = value


def _raise_problems(problems: list[str]) -> None:
    if not problems:
        return
    hint = None
    if any(re.search(r"unknown key '[^.']*'", p) for p in problems):  # a top-level one: list them all
        hint = f"Known keys: {', '.join(sorted(DEFAULTS))}."
    if len(problems) == 1:
        first = problems[0].split(" ", 1)[0]
        capital = first in CHECKS or first in DEFAULTS or first.startswith("--")  # keys stay as they are spelt
        raise SemcoderError((problems[0] if capital else problems[0][0].upper() + problems[0][1:]) + ".", hint=hint)
    raise SemcoderError(f"{len(problems)} problems in the config: " + "; ".join(problems) + ".", hint=hint)


class _Bad(Exception):
    pass


def _int(low: int = 1, *, null: bool = False, note: str = ""):
    expected = ("null or " if null else "") + ("a positive integer" if low == 1 else f"an integer >= {low}") + note

    def check(v):
        if v is None and null:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise _Bad
        return v
    return expected, check


def _number(low: float, high: float | None = None, *, low_open: bool = False, high_open: bool = False):
    if high is None:
        expected = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        expected = f"a number from {low:g} to {high:g}" + (f" (below {high:g})" if high_open else "")

    def check(v):
        if isinstance(v, str):  # PyYAML reads 3e-3 (no dot) as text; it is a number all the same
            try:
                v = float(v)
            except ValueError:
                raise _Bad from None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _Bad
        if v < low or (low_open and v == low) or (high is not None and (v > high or (high_open and v == high))):
            raise _Bad
        return float(v)
    return expected, check


def _bool():
    def check(v):
        if not isinstance(v, bool):  # "false" (a quoted string) is not false
            raise _Bad
        return v
    return "true or false", check


def _choice(*options: str):
    def check(v):
        if v not in options:
            raise _Bad
        return v
    return ", ".join(options[:-1]) + " or " + options[-1], check


def _text(what: str):
    def check(v):
        if not isinstance(v, str) or not v.strip():
            raise _Bad
        return v
    return what, check


def _texts(what: str):
    def check(v):
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            raise _Bad
        return list(v)
    return what, check


# Every key, nested ones by their dotted name: (what is expected, check -> normalised value).
CHECKS: dict = {
    "model": _text("a Hugging Face folder, a Hugging Face repo id or `tiny`"),
    "data": _texts("a JSONL file or folder, or a list of them"),
    "output_dir": _text("a folder path"),
    "method": _choice("lora", "qlora", "full"),
    "lora.rank": _int(1),
    "lora.alpha": _number(0, low_open=True),
    "lora.dropout": _number(0, 1, high_open=True),
    "lora.targets": _texts("a list of module names such as [q_proj, v_proj]"),
    "max_seq_len": _int(1),
    "packing": _bool(),
    "pack_width": _int(1, null=True),
    "micro_batch_size": _int(1),
    "grad_accum": _int(1),
    "max_steps": _int(1),
    "lr": _number(0, low_open=True),
    "min_lr_ratio": _number(0, 1),
    "warmup_steps": _int(0),
    "weight_decay": _number(0),
    "grad_clip": _number(0, low_open=True),
    "precision": _choice("auto", "fp32", "bf16", "fp16"),
    "gradient_checkpointing": _bool(),
    "distributed": _choice("ddp", "fsdp"),
    "save_every": _int(1),
    "log_every": _int(1),
    "keep_checkpoints": _int(0, note=" (0 keeps every checkpoint)"),
    "seed": _int(0),
    "max_examples": _int(1, null=True),
    "tensorboard": _bool(),
    "threads": _int(1, null=True),
    "stop_after": _int(1, null=True),
}


def _check(config: dict) -> list[str]:
    """Check and normalise every key in place; the problems, one sentence each."""
    problems = []
    for section in SECTIONS:
        if not isinstance(config.get(section), dict):
            problems.append(f"{section} must be a mapping of {', '.join(DEFAULTS[section])}, not {config.get(section)!r}")
            config[section] = json.loads(json.dumps(DEFAULTS[section]))  # so its keys are not reported again
    for key, (expected, check) in CHECKS.items():
        section, _, sub = key.partition(".")
        holder, name = (config[section], sub) if sub else (config, key)
        value = holder.get(name, DEFAULTS[section][sub] if sub else DEFAULTS[key])
        try:
            holder[name] = check(value)
        except _Bad:
            problems.append(f"{key} must be {expected}, not {value!r}")
    if isinstance(config.get("data"), list) and not config["data"]:
        problems.append("the recipe names no data (set `data:` to JSONL files from `semcoder data build`, "
                        "or --set data=DIR/pyx.jsonl)")
    if isinstance(config["lora"].get("targets"), list) and not config["lora"]["targets"]:
        problems.append("lora.targets must name at least one module, not []")
    width, longest = config.get("pack_width"), config.get("max_seq_len")
    if isinstance(width, int) and isinstance(longest, int) and not isinstance(width, bool) and width > longest:
        # A packed row wider than max_seq_len is a longer sequence than any example may be:
        # its activations grow with the width (pack_width=100000 was killed at 24 GB RSS).
        problems.append(f"pack_width must be at most max_seq_len ({longest}), not {width} (packed rows narrower "
                        f"than max_seq_len are allowed; leave pack_width null for rows of max_seq_len)")
    if not problems:
        _absolute_paths(config)
    return problems


def validate_config(config: dict) -> dict:
    """Check (and normalise) a config dict built by hand; load_config already does this."""
    _raise_problems(_check(config))
    return config


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def _absolute_paths(config: dict) -> None:
    """Paths as absolute paths, so provenance, export and resume do not depend on the
    working directory. `model` stays as written when it is `tiny` or a Hugging Face repo id."""
    config["output_dir"] = _absolute(config["output_dir"])
    config["data"] = [_absolute(p) for p in config["data"]]
    model = str(config["model"])
    if model != "tiny" and (Path(model).expanduser().exists() or model.startswith((".", "/", "~")) or model.count("/") != 1):
        config["model"] = _absolute(model)
    if config.get("recipe_path"):
        config["recipe_path"] = _absolute(config["recipe_path"])


# ----------------------------------------------------------------------------- distributed


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Dist:
    """torchrun / accelerate launch set RANK and WORLD_SIZE; gloo on CPU, nccl on GPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
        return Dist(device=device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Dist(rank=rank, world=world, local_rank=local_rank, device=device)


def all_sum(value: float, d: Dist) -> float:
    if d.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item())


# ----------------------------------------------------------------------------- examples


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]  # IGNORE on BOS + prompt, token ids on response + EOS


def data_files(paths: list[str]) -> list[Path]:
    """The JSONL files that `data` names, in reading order (a folder means its *.jsonl)."""
    files = []
    for p in paths:
        path = Path(p)
        found = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        if not found or not all(f.is_file() for f in found):
            raise SemcoderError(f"The training data {path} does not exist{' (a folder with no *.jsonl)' if path.is_dir() else ''}.",
                                hint="Build it with `semcoder data build --out DIR`.")
        files += found
    return files


def data_fingerprint(paths: list[str]) -> list[dict]:
    """[{path, sha256, bytes}] of every training file, taken when training starts: written to
    meta.json (export copies it into the GGUF) and compared when a run resumes."""
    import hashlib

    out = []
    for f in data_files(paths):
        h = hashlib.sha256()
        with f.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                h.update(block)
        out.append({"path": str(f.resolve()), "sha256": h.hexdigest(), "bytes": f.stat().st_size})
    return out


def read_records(paths: list[str]) -> list[tuple[str, str, str]]:
    """(kind, instruction, response) for every PyX / PyX-R row."""
    rows = []
    for f in data_files(paths):
        for number, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise SemcoderError(f"Line {number} of {f} is not valid JSON.") from None
            kinds = [k for k in TEMPLATES if row.get(k) is not None]
            if len(kinds) != 1 or not isinstance(row.get("response"), str):
                raise SemcoderError(f"Line {number} of {f} is not a PyX/PyX-R record: it needs exactly one of "
                                    f"{', '.join(TEMPLATES)} and a `response`.")
            rows.append((kinds[0], row[kinds[0]], row["response"]))
    return rows


def tokenize_examples(tokenizer, rows, max_len: int) -> tuple[list[Example], int]:
    """BOS + prompt (no loss) then response + EOS (loss); examples longer than max_len are
    dropped, not cut: a cut response would teach the model to stop mid-answer."""
    examples, dropped = [], 0
    for kind, instruction, response in rows:
        prompt = [tokenizer.bos_token_id] + tokenizer.encode(training_prompt(kind, instruction), add_special_tokens=False)
        answer = tokenizer.encode(response, add_special_tokens=False) + [tokenizer.eos_token_id]
        ids = prompt + answer
        if len(ids) > max_len:
            dropped += 1
            continue
        examples.append(Example(ids, [IGNORE] * len(prompt) + answer))
    return examples, dropped


# ----------------------------------------------------------------------------- batches


def pack(examples: list[Example], max_len: int) -> list[list[Example]]:
    """Greedy first-fit packing in order: each row holds whole examples, at most max_len tokens."""
    rows: list[list[Example]] = []
    lengths: list[int] = []
    for ex in examples:
        n = len(ex.input_ids)
        for i, used in enumerate(lengths):
            if used + n <= max_len:
                rows[i].append(ex)
                lengths[i] += n
                break
        else:
            rows.append([ex])
            lengths.append(n)
    return rows


def collate(rows: list[list[Example]], pad_id: int) -> dict[str, torch.Tensor]:
    """Tensors for rows of one or more examples each.

    Packed rows carry no attention mask: position ids restart at 0 for every example, and
    transformers turns that into a block-diagonal causal mask, so no token attends across
    examples. The padding after the last example is one more block of its own with no loss.
    A row of one example is plain padding-to-longest.
    """
    width = max(sum(len(e.input_ids) for e in row) for row in rows)
    ids, labels, positions = [], [], []
    for row in rows:
        r_ids, r_labels, r_pos = [], [], []
        for ex in row:
            r_ids += ex.input_ids
            r_labels += ex.labels
            r_pos += list(range(len(ex.input_ids)))
        pad = width - len(r_ids)
        ids.append(r_ids + [pad_id] * pad)
        labels.append(r_labels + [IGNORE] * pad)
        positions.append(r_pos + list(range(pad)))
    return {
        "input_ids": torch.tensor(ids),
        "labels": torch.tensor(labels),
        "position_ids": torch.tensor(positions),
        "n_tokens": sum(len(e.input_ids) for row in rows for e in row),
    }


class RowStream:
    """The rows of every epoch in a fixed order (examples shuffled by seed + epoch, then
    packed), so step s always sees the same rows: that is what makes resume exact. An epoch
    is one pass over the examples; `epoch_at` says which pass a row belongs to."""

    def __init__(self, examples: list[Example], max_len: int, packing: bool, seed: int):
        self.examples, self.max_len, self.packing, self.seed = examples, max_len, packing, seed
        self._rows: list[list[Example]] = []
        self._starts: list[int] = []  # the index of each epoch's first row
        self._epochs = 0

    def _grow(self) -> None:
        order = list(self.examples)
        random.Random(self.seed + self._epochs).shuffle(order)
        self._starts.append(len(self._rows))
        self._rows += pack(order, self.max_len) if self.packing else [[e] for e in order]
        self._epochs += 1

    def rows(self, start: int, count: int) -> list[list[Example]]:
        while len(self._rows) < start + count:
            self._grow()
        return self._rows[start:start + count]

    def rows_per_epoch(self) -> int:
        """The rows of the first pass (later passes pack other orders: within a row or two)."""
        if not self._starts:
            self._grow()
        return (self._starts[1] if len(self._starts) > 1 else len(self._rows)) - self._starts[0]

    def epoch_at(self, row: int) -> tuple[int, float]:
        """(the 1-based pass that row `row` belongs to, passes done when it is done: 1.25 is a
        quarter into the second pass)."""
        while len(self._rows) <= row:
            self._grow()
        index = max(i for i, first in enumerate(self._starts) if first <= row)
        end = self._starts[index + 1] if index + 1 < len(self._starts) else len(self._rows)
        return index + 1, index + (row + 1 - self._starts[index]) / (end - self._starts[index])


def response_loss_sum(model, batch: dict[str, torch.Tensor], device, autocast) -> tuple[torch.Tensor, int]:
    """(sum of token cross-entropies over response tokens, number of those tokens)."""
    with autocast():
        out = model(input_ids=batch["input_ids"].to(device), position_ids=batch["position_ids"].to(device), use_cache=False)
    logits = out.logits[:, :-1].float()
    targets = batch["labels"][:, 1:].to(device)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE, reduction="sum")
    return loss, int((targets != IGNORE).sum())


# ----------------------------------------------------------------------------- model


def resolve_model_path(spec: str) -> Path:
    if spec == "tiny":
        from .tiny import ensure_tiny_model

        cache = Path(os.environ.get("SEMCODER_TEST_CACHE", Path(__file__).resolve().parent.parent / ".cache"))
        return Path(ensure_tiny_model(cache / "tiny-models", tokenizer="bpe").hf_dir)
    path = Path(spec).expanduser()
    if not path.exists() and spec.count("/") == 1 and not spec.startswith((".", "/")):
        from huggingface_hub import snapshot_download  # an HF repo id such as semcoder/semcoder_s_1030

        try:
            path = Path(snapshot_download(spec, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt"]))
        except Exception as exc:  # offline, unknown repo, no access
            raise SemcoderError(f"Could not fetch the model {spec} from Hugging Face: {exc}",
                                hint="Download it first (huggingface-cli download) and point `model:` at the folder.") from None
    if not (path / "config.json").exists():
        raise SemcoderError(f"The model {spec} is not a Hugging Face checkpoint folder (no config.json).",
                            hint="Point `model:` at a folder with config.json and weights, or use `tiny`.")
    return path.resolve()


def model_context(model_path: Path) -> int | None:
    """The model's context length (`max_position_embeddings` of its config.json), if stated."""
    try:
        value = json.loads((Path(model_path) / "config.json").read_text(encoding="utf-8")).get("max_position_embeddings")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def check_model_context(config: dict, model_path: Path) -> None:
    """max_seq_len and pack_width may not exceed the model's context (checked before the
    weights load)."""
    context = model_context(model_path)
    if context is None:
        return
    too_long = [f"{key}={config[key]}" for key in ("max_seq_len", "pack_width") if config.get(key) and int(config[key]) > context]
    if too_long:
        raise SemcoderError(f"{' and '.join(too_long)} exceed{'s' if len(too_long) == 1 else ''} the context of the model "
                            f"{config['model']} ({context} tokens, max_position_embeddings in its config.json).",
                            hint=f"Set max_seq_len (and pack_width) to at most {context}.")


def choose_dtype(precision: str, device: torch.device) -> torch.dtype:
    if device.type != "cuda":
        if precision in ("bf16", "fp16"):
            raise SemcoderError(f"precision {precision} needs a GPU; on CPU training runs in fp32.", hint="Use --set precision=fp32 or auto.")
        return torch.float32
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def build_model(config: dict, model_path: Path, d: Dist, compute_dtype: torch.dtype):
    """The model to train. LoRA/QLoRA keep the base frozen; full trains everything.

    Full fine-tuning keeps fp32 weights (the optimizer updates fp32 masters) and autocast runs
    the matmuls in bf16/fp16 on GPU. LoRA loads the frozen base in the run's dtype
    (`base_dtype`: bf16 for a bf16 run, 2 bytes a parameter: 12.6 GiB for SemCoder-S's 6.74B
    where fp32 would take 25.1 GiB); peft keeps the adapters' own weights in fp32, and only they
    reach the optimizer. QLoRA loads the base in 4-bit NF4."""
    from transformers import AutoModelForCausalLM

    kwargs: dict = {"dtype": base_dtype(config["method"], compute_dtype)}
    if config["method"] == "qlora":
        import importlib.util

        if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
            raise SemcoderError("QLoRA needs a CUDA GPU and the bitsandbytes package; this machine has "
                                f"{'no CUDA GPU' if not torch.cuda.is_available() else 'no bitsandbytes'}.",
                                hint="Use method: lora (16-bit base) instead, or install bitsandbytes on a GPU machine.")
        from transformers import BitsAndBytesConfig

        kwargs = {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                            bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute_dtype),
                  "device_map": {"": d.local_rank}, "dtype": compute_dtype}
    model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
    model.config.use_cache = False
    if config["method"] == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config["gradient_checkpointing"])
    elif config["gradient_checkpointing"]:
        # transformers 5 renamed it; the old name still works but warns
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if config["method"] in ("lora", "qlora"):
        from peft import LoraConfig, get_peft_model

        lora = config["lora"]
        check_lora_targets(model, list(lora["targets"]), str(config["model"]))
        try:
            model = get_peft_model(model, LoraConfig(r=int(lora["rank"]), lora_alpha=float(lora["alpha"]),
                                                     lora_dropout=float(lora.get("dropout", 0.0)),
                                                     target_modules=list(lora["targets"]), bias="none", task_type="CAUSAL_LM"))
        except ValueError as exc:  # peft's NoMatchingPeftModuleError and kin: its words, without the traceback
            raise SemcoderError(f"LoRA could not be applied to {config['model']} with lora.targets={list(lora['targets'])}: {exc}",
                                hint=f"Layers LoRA can adapt in this model: {', '.join(adaptable_modules(model))}.") from None
        if config["gradient_checkpointing"]:
            model.enable_input_require_grads()  # checkpointed blocks need a grad-requiring input
    if config["method"] != "qlora":
        model.to(d.device)
    return model


def base_dtype(method: str, compute_dtype: torch.dtype) -> torch.dtype:
    """The dtype the base weights load in: the compute dtype for LoRA's frozen base (bf16 or
    fp16; nothing updates those weights, so fp32 copies would only double their memory), fp32
    for full fine-tuning (the optimizer's masters) and for fp32 runs (the CPU tests)."""
    return compute_dtype if method in ("lora", "qlora") else torch.float32


def adaptable_modules(model) -> list[str]:
    """The names (last part) of the layers peft's LoRA can wrap: linear, embedding, conv."""
    kinds = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv1d, torch.nn.Conv2d)
    return sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if name and isinstance(m, kinds)})


def check_lora_targets(model, targets: list[str], spec: str) -> None:
    """Every lora.targets entry must name a layer of the model (peft's rule for a list: the
    module's full name is the target or ends with "." + target); peft itself complains only
    when none matches, and then with a traceback."""
    names = [name for name, _ in model.named_modules() if name]
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        raise SemcoderError(f"lora.targets names {', '.join(repr(t) for t in missing)}, which the model {spec} does not have.",
                            hint=f"Layers LoRA can adapt in this model: {', '.join(adaptable_modules(model))}.")


def wrap_distributed(model, config: dict, d: Dist):
    if d.world == 1:
        return model
    if config["distributed"] == "fsdp":
        # FSDP2: each decoder layer is a shard unit, then the whole model (embeddings, head).
        # Parameters become DTensors sharded over the processes; works with gloo on CPU too.
        from torch.distributed.fsdp import fully_shard

        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        for layer in inner.model.layers:
            fully_shard(layer)
        fully_shard(model)
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    return DDP(model, device_ids=[d.local_rank] if d.device.type == "cuda" else None)


def cosine_with_warmup(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """The learning-rate multiplier at `step` (0-based): linear warm-up, then cosine decay."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


# ----------------------------------------------------------------------------- checkpoints


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


def save_checkpoint(out: Path, step: int, model, optimizer, scheduler, scaler, config: dict, history: list, d: Dist) -> Path | None:
    """checkpoint-STEP/: the weights in HF form (adapter/ for LoRA, model/ for full) for
    export, plus trainer_state.pt (optimizer, schedule, RNG, loss history) for resume."""
    inner = _unwrap(model)
    if _is_fsdp(config, d):
        # Sharded parameters and optimizer state are gathered, whole, on CPU (every process
        # takes part; only rank 0 writes).
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        full_state = get_model_state_dict(model, options=options)
        optim_state = get_optimizer_state_dict(model, optimizer, options=options)
    else:
        full_state, optim_state = None, optimizer.state_dict()
    if not d.main:
        return None
    ckpt = out / f"checkpoint-{step:06d}"
    tmp = out / f".checkpoint-{step:06d}.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    if config["method"] in ("lora", "qlora"):
        inner.save_pretrained(tmp / "adapter", state_dict=full_state)
    else:
        inner.save_pretrained(tmp / "model", state_dict=full_state)
    if full_state is None:
        trainable = {n: p.detach().cpu() for n, p in inner.named_parameters() if p.requires_grad}
    else:
        trainable = {n: full_state[n] for n, p in inner.named_parameters() if p.requires_grad}
    torch.save({
        "step": step,
        "trainable": trainable,
        "optimizer": optim_state,
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": {"python": random.getstate(), "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
        "history": history,
    }, tmp / "trainer_state.pt")
    if config["method"] == "full":  # a complete HF folder: export needs nothing from the base model
        for f in Path(config["_model_path"]).iterdir():
            if f.is_file() and (f.name.startswith("tokenizer") or f.name in ("special_tokens_map.json", "vocab.json", "merges.txt")):
                shutil.copy2(f, tmp / "model" / f.name)
    (tmp / "meta.json").write_text(json.dumps({
        "step": step, "method": config["method"], "base_model": config["_model_path"],
        "data": config["data"], "data_files": config["_data_files"], "recipe": config.get("recipe_path"),
        **config["_run"],
        "config": {k: v for k, v in config.items() if not k.startswith("_")}}, indent=2))
    if ckpt.exists():
        shutil.rmtree(ckpt)
    os.replace(tmp, ckpt)
    _prune(out, config["keep_checkpoints"])
    return ckpt


def _is_fsdp(config: dict, d: Dist) -> bool:
    return config["distributed"] == "fsdp" and d.world > 1


def _prune(out: Path, keep: int) -> None:
    ckpts = sorted(out.glob("checkpoint-*"))
    for old in ckpts[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(out: Path) -> Path | None:
    ckpts = sorted(p for p in Path(out).glob("checkpoint-*") if (p / "trainer_state.pt").exists())
    return ckpts[-1] if ckpts else None


# ----------------------------------------------------------------------------- resume

# Keys that may differ from the checkpoint's when a run resumes: they change where things go,
# how often they are written, or speed and memory, never what the steps compute.
RESUME_FREE = ("output_dir", "save_every", "log_every", "keep_checkpoints", "tensorboard", "threads", "stop_after",
               "gradient_checkpointing")
# Compared in their own way (see check_resume): data by content, precision by the dtype it
# chose, distributed by whether the state is sharded, micro_batch_size and grad_accum by the
# rows a step takes, max_steps only where the schedule depends on it.
_RESUME_SPECIAL = ("data", "precision", "distributed", "micro_batch_size", "grad_accum", "max_steps")


def _flat(config: dict) -> dict:
    flat = {}
    for key, default in DEFAULTS.items():
        value = config.get(key, default)
        if key in SECTIONS:
            value = value if isinstance(value, dict) else {}
            for sub, sub_default in default.items():
                flat[f"{key}.{sub}"] = value.get(sub, sub_default)
        else:
            flat[key] = value
    return flat


def check_resume(config: dict, meta: dict, ckpt: Path) -> None:
    """Refuse to resume from `ckpt` when the config now asks for something else than what the
    checkpoint was trained with: the optimizer and schedule state would silently keep the old
    values (lr), fail to load (method, lora.*) or the rows would change (data, seed, batch)."""
    saved = json.loads(json.dumps(meta.get("config", {})))
    _check(saved)  # the same normalisation (e.g. lr "3e-3" -> 0.003, absolute paths) as the config now
    old, new = _flat(saved), _flat(config)
    run = config["_run"]
    diffs = []
    for key in new:
        if key in RESUME_FREE or key in _RESUME_SPECIAL:
            continue
        a, b = old[key], new[key]
        if key == "model" and a != "tiny" and Path(str(a)).expanduser().exists():
            a = _absolute(str(a))  # a checkpoint from before paths were stored absolute
        if a != b:
            diffs.append(f"{key} {a!r} in the checkpoint, {b!r} now")
    # data: the same bytes in the same order (paths may move)
    if meta.get("data_files") is not None:
        then = [f["sha256"] for f in meta["data_files"]]
        now = [f["sha256"] for f in config["_data_files"]]
        if then != now:
            if len(then) == len(now):
                detail = ", ".join(f"{f['path']} changed since the checkpoint" if f["path"] == g["path"] else
                                   f"{g['path']} is not {f['path']} of the checkpoint (other content)"
                                   for f, g in zip(meta["data_files"], config["_data_files"]) if f["sha256"] != g["sha256"])
            else:
                detail = (f"{len(then)} files in the checkpoint ({', '.join(f['path'] for f in meta['data_files'])}), "
                          f"{len(now)} now ({', '.join(f['path'] for f in config['_data_files'])})")
            diffs.append(f"data: {detail}")
    elif [_absolute(p) for p in old["data"] or []] != new["data"]:
        diffs.append(f"data {old['data']!r} in the checkpoint, {new['data']!r} now")
    # precision: the dtype it chose on this machine
    if meta.get("dtype") is not None:
        if meta["dtype"] != run["dtype"]:
            diffs.append(f"precision {old['precision']!r} trained in {meta['dtype']}, {new['precision']!r} gives {run['dtype']} here")
    elif old["precision"] != new["precision"]:
        diffs.append(f"precision {old['precision']!r} in the checkpoint, {new['precision']!r} now")
    # distributed: sharded (FSDP) and unsharded optimizer state are saved in different forms
    if meta.get("sharded") is not None:
        if meta["sharded"] != run["sharded"]:
            how = {True: "sharded with FSDP", False: "not sharded"}
            diffs.append(f"distributed: the checkpoint's state was {how[meta['sharded']]}, now it would be {how[run['sharded']]}")
    elif old["distributed"] != new["distributed"]:
        diffs.append(f"distributed {old['distributed']!r} in the checkpoint, {new['distributed']!r} now")
    # batch: micro_batch_size and grad_accum (and the number of processes) may change together
    # as long as a step takes the same rows
    if meta.get("rows_per_step") is not None:
        if meta["rows_per_step"] != run["rows_per_step"]:
            diffs.append(f"micro_batch_size x grad_accum x processes {meta['micro_batch_size']} x {meta['grad_accum']} x "
                         f"{meta['world']} = {meta['rows_per_step']} rows a step in the checkpoint, {new['micro_batch_size']} x "
                         f"{new['grad_accum']} x {run['world']} = {run['rows_per_step']} now (each step would see other rows)")
    else:
        for key in ("micro_batch_size", "grad_accum"):
            if old[key] != new[key]:
                diffs.append(f"{key} {old[key]!r} in the checkpoint, {new[key]!r} now")
    # max_steps: the cosine decays over max_steps, so it is part of the schedule unless the
    # schedule is constant after warm-up (min_lr_ratio: 1.0); then a run may be extended.
    step = int(meta.get("step", 0))
    if old["max_steps"] != new["max_steps"]:
        if float(new["min_lr_ratio"]) != 1.0:
            diffs.append(f"max_steps {old['max_steps']!r} in the checkpoint, {new['max_steps']!r} now (the cosine schedule "
                         f"decays over max_steps: only a constant schedule, min_lr_ratio: 1.0, can be extended or shortened)")
        elif new["max_steps"] < step:
            diffs.append(f"max_steps {new['max_steps']!r} is below the checkpoint's step {step}")
    if diffs:
        raise SemcoderError(
            f"Cannot resume {config['output_dir']} from {ckpt.name} (step {step}): the config differs from the one the "
            f"checkpoint was trained with: " + "; ".join(diffs) + ".",
            hint=f"Use the checkpoint's values (see {ckpt / 'meta.json'}) or train into a new output_dir. May change on "
                 f"resume: {', '.join(RESUME_FREE)}; micro_batch_size and grad_accum when a step takes as many rows; "
                 f"max_steps when min_lr_ratio is 1.0.")


def _truncate_metrics(path: Path, step: int) -> None:
    """Keep the metrics of steps 1..step: the steps after the checkpoint are done again."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if int(json.loads(line)["step"]) <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            continue  # a half-written last line
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- the run


def train(config: dict) -> dict:
    validate_config(config)  # load_config did; a config built by hand is checked here
    d = setup_distributed()
    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    random.seed(config["seed"])
    torch.manual_seed(config["seed"])
    out = Path(config["output_dir"])
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file on the path (/etc/passwd/x), no permission, read-only disk
        raise SemcoderError(f"output_dir {out} cannot be created: {exc.strerror or exc}.",
                            hint="Set output_dir to a folder you can write (--set output_dir=runs/NAME).") from None
    if d.main and int(config["warmup_steps"]) > int(config["max_steps"]):
        # Allowed (a quick `--set max_steps=1` run of a real recipe is a fair smoke test), but
        # said: the learning rate never reaches `lr`.
        peak = float(config["lr"]) * cosine_with_warmup(int(config["max_steps"]) - 1, int(config["warmup_steps"]),
                                                        int(config["max_steps"]), float(config["min_lr_ratio"]))
        print(f"semcoder: warning: warmup_steps={config['warmup_steps']} is more than max_steps={config['max_steps']}: "
              f"the learning rate stops at {peak:.3g} in warm-up and never reaches lr={float(config['lr']):g}.",
              file=sys.stderr)

    # What this run is, for meta.json and for the resume check: the data's content (hashed
    # now, at train time), the dtype the precision chose here, the rows a step takes.
    dtype = choose_dtype(config["precision"], d.device)
    micro, accum = config["micro_batch_size"], config["grad_accum"]
    rows_per_step = micro * accum * d.world
    config["_data_files"] = data_fingerprint(config["data"])
    config["_run"] = {"world": d.world, "micro_batch_size": micro, "grad_accum": accum, "rows_per_step": rows_per_step,
                      "dtype": str(dtype).removeprefix("torch."), "sharded": _is_fsdp(config, d)}
    # A run resumes from the latest checkpoint in output_dir, if any, but only with the
    # config it was trained with (check_resume names what differs).
    ckpt = latest_checkpoint(out)
    if ckpt is not None:
        try:
            meta = json.loads((ckpt / "meta.json").read_text())
        except (OSError, ValueError) as exc:
            raise SemcoderError(f"Cannot resume from {ckpt}: its meta.json is unreadable ({exc}).",
                                hint="Delete that checkpoint folder to resume from the one before, or use a new output_dir.") from None
        check_resume(config, meta, ckpt)

    # Data: tokenized once, identically on every process.
    from transformers import AutoTokenizer

    model_path = resolve_model_path(str(config["model"]))
    config["_model_path"] = str(model_path)
    check_model_context(config, model_path)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    rows = read_records(config["data"])
    if config.get("max_examples"):
        rows = rows[: int(config["max_examples"])]
    examples, too_long = tokenize_examples(tokenizer, rows, config["max_seq_len"])
    if not examples:
        raise SemcoderError(f"No training example fits in max_seq_len={config['max_seq_len']} tokens ({too_long} were too long).")
    # Narrower packed rows bound the attention work per token (the mask is block-diagonal,
    # but sdpa on CPU still computes the full row x row product); use micro_batch_size 1 then.
    stream = RowStream(examples, int(config.get("pack_width") or config["max_seq_len"]), config["packing"], config["seed"])
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    # Model, optimizer, schedule.
    model = build_model(config, model_path, d, dtype)
    model = wrap_distributed(model, config, d)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=float(config["lr"]), weight_decay=float(config["weight_decay"]))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_with_warmup(
        s, int(config["warmup_steps"]), int(config["max_steps"]), float(config["min_lr_ratio"])))
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    if d.device.type == "cuda" and dtype != torch.float32:
        autocast = lambda: torch.autocast("cuda", dtype=dtype)  # noqa: E731
    else:
        import contextlib

        autocast = contextlib.nullcontext

    # Resume: weights, optimizer, schedule, scaler, RNG and loss history.
    start, history = 0, []
    if ckpt is not None:
        state = torch.load(ckpt / "trainer_state.pt", weights_only=False)
        inner = _unwrap(model)
        if _is_fsdp(config, d):
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict, set_optimizer_state_dict

            options = StateDictOptions(full_state_dict=True, strict=False)
            set_model_state_dict(model, state["trainable"], options=options)
            set_optimizer_state_dict(model, optimizer, state["optimizer"], options=options)
        else:
            inner.load_state_dict(state["trainable"], strict=False)
            optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state["scaler"]:
            scaler.load_state_dict(state["scaler"])
        random.setstate(state["rng"]["python"])
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        start, history = state["step"], state["history"]
        if d.main:
            print(f"resumed from {ckpt} at step {start}", file=sys.stderr)

    if d.main:  # steps after the checkpoint are done again: their old metrics go
        _truncate_metrics(out / "metrics.jsonl", start)
    metrics_file = (out / "metrics.jsonl").open("a") if d.main else None
    writer = _tensorboard(out) if (d.main and config["tensorboard"]) else None
    per_epoch = stream.rows_per_epoch()
    planned_epochs = int(config["max_steps"]) * rows_per_step / per_epoch
    if d.main:
        print(f"training {config['method']} on {len(examples)} examples ({too_long} too long), "
              f"{rows_per_step} rows/step, {d.world} process(es), {dtype}, device {d.device}; "
              f"{per_epoch} rows a pass over the data, {planned_epochs:.2f} passes in {config['max_steps']} steps",
              file=sys.stderr)
        if planned_epochs > MANY_EPOCHS:
            print(f"semcoder: warning: {config['max_steps']} steps of {rows_per_step} rows make {planned_epochs:.1f} passes "
                  f"over {len(examples)} examples ({per_epoch} rows a pass): the model sees each example about "
                  f"{planned_epochs:.0f} times and may memorise them. Build more data or lower max_steps.", file=sys.stderr)

    model.train()
    for step in range(start, int(config["max_steps"])):
        t0 = time.perf_counter()
        step_rows = stream.rows(step * rows_per_step, rows_per_step)
        before = stream.epoch_at(step * rows_per_step - 1)[0] if step else 0  # the pass of the row before
        epoch_index, epoch = stream.epoch_at((step + 1) * rows_per_step - 1)
        new_pass = epoch_index if epoch_index > before else None
        # This process's micro-batches: micro-batch i of every process comes from slice i.
        micro_batches = []
        for i in range(accum):
            chunk = step_rows[i * micro * d.world:(i + 1) * micro * d.world]
            micro_batches.append(collate(chunk[d.rank * micro:(d.rank + 1) * micro], pad_id))
        local_targets = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in micro_batches)
        global_targets = all_sum(local_targets, d)
        loss_sum = 0.0
        for i, batch in enumerate(micro_batches):
            sync = i == accum - 1 or d.world == 1
            if hasattr(model, "set_requires_gradient_sync"):  # FSDP2: reduce only on the last micro-batch
                model.set_requires_gradient_sync(sync)
            ctx = model.no_sync() if (not sync and hasattr(model, "no_sync")) else _null()
            with ctx:
                total, _ = response_loss_sum(model, batch, d.device, autocast)
                # DDP averages gradients over processes; scaling by world undoes that, so the
                # gradient is that of (sum over the global batch) / (global target tokens).
                scaled = total * d.world / max(global_targets, 1)
                (scaler.scale(scaled) if scaler else scaled).backward()
            loss_sum += float(total.detach())
        if scaler:
            scaler.unscale_(optimizer)
        norm = torch.nn.utils.clip_grad_norm_(params, float(config["grad_clip"]))
        grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # a DTensor under FSDP
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        lr = scheduler.get_last_lr()[0]
        scheduler.step()

        loss = all_sum(loss_sum, d) / max(global_targets, 1)
        elapsed = time.perf_counter() - t0
        # Real tokens only (padding excluded): the throughput that packing is meant to raise.
        tokens = all_sum(sum(b["n_tokens"] for b in micro_batches), d)
        record = {"step": step + 1, "loss": round(loss, 6), "lr": lr, "grad_norm": round(grad_norm, 6),
                  "target_tokens": int(global_targets), "tokens": int(tokens),
                  "tokens_per_s": round(tokens / elapsed, 1), "step_s": round(elapsed, 4),
                  "epoch": round(epoch, 4), "pass": epoch_index}
        if new_pass is not None:
            record["new_pass"] = new_pass  # a pass over the data began in this step
        history.append(record)
        if d.main:
            if (step + 1) % int(config["log_every"]) == 0 or step + 1 == config["max_steps"]:
                print(f"step {step + 1}/{config['max_steps']} loss {loss:.4f} lr {lr:.2e} "
                      f"tokens/s {record['tokens_per_s']:.0f}", flush=True)
            if new_pass is not None:
                print(f"epoch {new_pass} (pass {new_pass} over {len(examples)} examples, {per_epoch} rows a pass) "
                      f"began in step {step + 1}; epoch {epoch:.2f} at its end", flush=True)
            metrics_file.write(json.dumps(record) + "\n")
            metrics_file.flush()
            if writer:
                writer.add_scalar("train/loss", loss, step + 1)
                writer.add_scalar("train/tokens_per_s", record["tokens_per_s"], step + 1)
                writer.add_scalar("train/lr", lr, step + 1)
        if (step + 1) % int(config["save_every"]) == 0 or step + 1 == config["max_steps"]:
            save_checkpoint(out, step + 1, model, optimizer, scheduler, scaler, config, history, d)
            if d.world > 1:
                dist.barrier()
        if config.get("stop_after") and step + 1 >= int(config["stop_after"]):
            break  # like a crash after this step: whatever was not checkpointed is lost

    if metrics_file:
        metrics_file.close()
    if writer:
        writer.close()
    # What ran: `steps` is the step the run reached (below max_steps when stop_after ended it).
    reached = history[-1]["step"] if history else start
    last = latest_checkpoint(out)
    summary = {"steps": reached, "max_steps": int(config["max_steps"]), "finished": reached >= int(config["max_steps"]),
               "resumed_from": start, "history": history, "output_dir": str(out),
               "checkpoint": str(last) if last else None, "examples": len(examples), "too_long": too_long, "world": d.world,
               "rows_per_epoch": per_epoch, "epochs": history[-1].get("epoch", 0.0) if history else 0.0,
               "planned_epochs": round(planned_epochs, 4)}
    if d.main:
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if d.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return summary


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard not installed: JSON and stdout are the logs
        return None
    return SummaryWriter(str(out / "tensorboard"))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="semcoder_training.train", description="Fine-tune on PyX/PyX-R records.")
    parser.add_argument("recipe")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        train(load_config(args.recipe, args.set))
    except SemcoderError as exc:
        print(f"semcoder: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
