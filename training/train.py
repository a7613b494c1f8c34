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
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from semcoder_inference.errors import SemcoderError
from semcoder_inference.formats import TEMPLATES, training_prompt

IGNORE = -100

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


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> dict:
    """The recipe's YAML merged over DEFAULTS, then `key=value` overrides (dotted keys reach
    into nested sections: `lora.rank=4`; values are parsed as YAML: `max_steps=3`)."""
    import yaml

    config = json.loads(json.dumps(DEFAULTS))
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
        _merge(config, loaded, str(path))
        config["recipe_path"] = str(path)
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SemcoderError(f"--set {item!r} is not of the form key=value.")
        target = config
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        if parts[0] not in DEFAULTS:
            raise SemcoderError(f"--set {item!r}: unknown key {parts[0]!r}.", hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.")
        target[parts[-1]] = yaml.safe_load(value)
    _validate(config)
    return config


def _merge(base: dict, extra: dict, where: str) -> None:
    for key, value in extra.items():
        if key not in DEFAULTS and key not in ("recipe_path", "notes", "provenance"):
            raise SemcoderError(f"Unknown key {key!r} in {where}.", hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.")
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key].update(value)
        else:
            base[key] = value


def _validate(config: dict) -> None:
    if config["method"] not in ("lora", "qlora", "full"):
        raise SemcoderError(f"method must be lora, qlora or full, not {config['method']!r}.")
    if config["precision"] not in ("auto", "fp32", "bf16", "fp16"):
        raise SemcoderError(f"precision must be auto, fp32, bf16 or fp16, not {config['precision']!r}.")
    for key in ("max_steps", "micro_batch_size", "grad_accum", "max_seq_len"):
        if not isinstance(config[key], int) or config[key] < 1:
            raise SemcoderError(f"{key} must be a positive integer, not {config[key]!r}.")
    if isinstance(config["data"], str):
        config["data"] = [config["data"]]
    if not config["data"]:
        raise SemcoderError("The recipe names no data.", hint="Set `data:` to JSONL files from `semcoder data build`, or --set data=DIR/pyx.jsonl.")


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


def read_records(paths: list[str]) -> list[tuple[str, str, str]]:
    """(kind, instruction, response) for every PyX / PyX-R row."""
    rows = []
    for p in paths:
        path = Path(p)
        files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        if not files or not all(f.exists() for f in files):
            raise SemcoderError(f"The training data {path} does not exist.", hint="Build it with `semcoder data build --out DIR`.")
        for f in files:
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
    packed), so step s always sees the same rows: that is what makes resume exact."""

    def __init__(self, examples: list[Example], max_len: int, packing: bool, seed: int):
        self.examples, self.max_len, self.packing, self.seed = examples, max_len, packing, seed
        self._rows: list[list[Example]] = []
        self._epochs = 0

    def _grow(self) -> None:
        order = list(self.examples)
        random.Random(self.seed + self._epochs).shuffle(order)
        self._rows += pack(order, self.max_len) if self.packing else [[e] for e in order]
        self._epochs += 1

    def rows(self, start: int, count: int) -> list[list[Example]]:
        while len(self._rows) < start + count:
            self._grow()
        return self._rows[start:start + count]


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
    path = Path(spec)
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
    return path


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

    Weights stay fp32 for LoRA and full fine-tuning (the optimizer updates fp32 masters)
    and autocast runs the matmuls in bf16/fp16 on GPU. QLoRA loads the base in 4-bit NF4."""
    from transformers import AutoModelForCausalLM

    kwargs: dict = {"dtype": torch.float32}
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
        model = get_peft_model(model, LoraConfig(r=int(lora["rank"]), lora_alpha=float(lora["alpha"]),
                                                 lora_dropout=float(lora.get("dropout", 0.0)),
                                                 target_modules=list(lora["targets"]), bias="none", task_type="CAUSAL_LM"))
        if config["gradient_checkpointing"]:
            model.enable_input_require_grads()  # checkpointed blocks need a grad-requiring input
    if config["method"] != "qlora":
        model.to(d.device)
    return model


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
    (tmp / "meta.json").write_text(json.dumps({"step": step, "method": config["method"], "base_model": config["_model_path"],
                                               "data": config["data"], "recipe": config.get("recipe_path"),
                                               "config": {k: v for k, v in config.items() if not k.startswith("_")}}, indent=2))
    if ckpt.exists():
        import shutil

        shutil.rmtree(ckpt)
    os.replace(tmp, ckpt)
    _prune(out, config["keep_checkpoints"])
    return ckpt


def _is_fsdp(config: dict, d: Dist) -> bool:
    return config["distributed"] == "fsdp" and d.world > 1


def _prune(out: Path, keep: int) -> None:
    import shutil

    ckpts = sorted(out.glob("checkpoint-*"))
    for old in ckpts[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(out: Path) -> Path | None:
    ckpts = sorted(p for p in Path(out).glob("checkpoint-*") if (p / "trainer_state.pt").exists())
    return ckpts[-1] if ckpts else None


# ----------------------------------------------------------------------------- the run


def train(config: dict) -> dict:
    d = setup_distributed()
    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    random.seed(config["seed"])
    torch.manual_seed(config["seed"])
    out = Path(config["output_dir"])
    out.mkdir(parents=True, exist_ok=True)

    # Data: tokenized once, identically on every process.
    from transformers import AutoTokenizer

    model_path = resolve_model_path(str(config["model"]))
    config["_model_path"] = str(model_path)
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

    # Model, precision, optimizer, schedule.
    dtype = choose_dtype(config["precision"], d.device)
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

    # Resume from the latest checkpoint in output_dir, if any.
    start, history = 0, []
    ckpt = latest_checkpoint(out)
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

    metrics_file = (out / "metrics.jsonl").open("a") if d.main else None
    writer = _tensorboard(out) if (d.main and config["tensorboard"]) else None
    micro, accum = config["micro_batch_size"], config["grad_accum"]
    rows_per_step = micro * accum * d.world
    if d.main:
        print(f"training {config['method']} on {len(examples)} examples ({too_long} too long), "
              f"{rows_per_step} rows/step, {d.world} process(es), {dtype}, device {d.device}", file=sys.stderr)

    model.train()
    for step in range(start, int(config["max_steps"])):
        t0 = time.perf_counter()
        step_rows = stream.rows(step * rows_per_step, rows_per_step)
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
                  "tokens_per_s": round(tokens / elapsed, 1), "step_s": round(elapsed, 4)}
        history.append(record)
        if d.main:
            if (step + 1) % int(config["log_every"]) == 0 or step + 1 == config["max_steps"]:
                print(f"step {step + 1}/{config['max_steps']} loss {loss:.4f} lr {lr:.2e} "
                      f"tokens/s {record['tokens_per_s']:.0f}", flush=True)
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
    summary = {"steps": int(config["max_steps"]), "history": history, "output_dir": str(out),
               "checkpoint": str(latest_checkpoint(out)), "examples": len(examples), "too_long": too_long, "world": d.world}
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
