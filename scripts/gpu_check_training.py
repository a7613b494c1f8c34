"""GPU checks of the training paths, for a machine with a CUDA GPU (docs/training.md,
"Checked on a GPU"): bf16 autocast against fp32 and fp16, full fine-tuning with and without
gradient checkpointing, QLoRA against LoRA, DDP and FSDP through torchrun over NCCL, and tokens/s for a random
Llama of 342M parameters. Prints one JSON line per check, and writes them all to
$OUT/gpu_results.json (the current folder without $OUT).

    python scripts/gpu_check_training.py      # from the repository's root, torch with CUDA
    python scripts/gpu_check_training.py lora_auto qlora_auto   # only the checks named

QLoRA needs bitsandbytes; without it, that check records the readable error train gives.

It needs the tiny test model (built by the tests into .cache/tiny-models) and the CRUXEval
file beside the repository (for the data's decontamination), as the tests do."""
import json, os, subprocess, sys, time
from pathlib import Path

import torch

REPO = Path.cwd()
OUT = Path(os.environ.get("OUT", "."))
os.environ["SEMCODER_TEST_CACHE"] = str(REPO / ".cache")
from semcoder_training.data.build import BuildConfig, build
from semcoder_training.train import choose_dtype, load_config, resolve_model_path, train

WANTED = set(sys.argv[1:])  # check names; none = all


def wanted(name):
    return not WANTED or name in WANTED


if not torch.cuda.is_available():
    sys.exit("gpu_check_training: this torch sees no CUDA GPU; the checks are for one.")
results = {}


def say(key, value):
    results[key] = value
    print(json.dumps({key: value}), flush=True)
    (OUT / "gpu_results.json").write_text(json.dumps(results, indent=1))


say("env", {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0), "bf16": torch.cuda.is_bf16_supported(),
            "auto_dtype_on_cuda": str(choose_dtype("auto", torch.device("cuda", 0)))})
tmp = Path("/tmp/gpucheck")
t = time.time()
build(BuildConfig(out_dir=tmp / "data", generated_seeds=10, workers=4, progress=False, holdout=0.0))
data = tmp / "data" / "pyx.jsonl"
say("data", {"examples": sum(1 for _ in open(data)), "build_s": round(time.time() - t, 1)})
RECIPE = REPO / "training" / "recipes" / "tiny_cpu.yaml"
common = [f"data={data}", "max_seq_len=768", "max_steps=12", "threads=4", "save_every=100"]


def run(name, *extra):
    if not wanted(name):
        return
    t = time.time()
    try:
        s = train(load_config(RECIPE, common + [f"output_dir={tmp / name}", *extra]))
        h = s["history"]
        say(name, {"losses": [x["loss"] for x in h], "tokens_per_s_last": h[-1]["tokens_per_s"],
                   "finite": all(x["loss"] == x["loss"] for x in h), "wall_s": round(time.time() - t, 1)})
    except Exception as exc:
        say(name, {"error": repr(exc)[:1500]})


run("lora_fp32", "precision=fp32")
run("lora_auto", "precision=auto")
run("lora_fp16", "precision=fp16")
# QLoRA: the frozen base in 4-bit NF4 (bitsandbytes), LoRA adapters on top; its curve should
# stay near lora_auto's, the base's rounding aside
run("qlora_auto", "method=qlora", "precision=auto")
run("qlora_checkpointing", "method=qlora", "precision=auto", "gradient_checkpointing=true")
run("full_bf16_checkpointing", "method=full", "precision=bf16", "gradient_checkpointing=true", "lr=0.0005")
run("full_bf16", "method=full", "precision=bf16", "lr=0.0005")
for mode in ("ddp", "fsdp"):
    name = f"torchrun_{mode}"
    if not wanted(name):
        continue
    extra = [f"output_dir={tmp / name}", f"distributed={mode}", "precision=bf16"] + (["method=full", "lr=0.0005"] if mode == "fsdp" else [])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "-m",
           "semcoder_training.train", str(RECIPE)] + [f"--set={x}" for x in common + extra]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    summary = tmp / name / "summary.json"
    say(name, {"rc": p.returncode, "losses": [x["loss"] for x in json.loads(summary.read_text())["history"]] if summary.exists() else None,
               "stderr_tail": p.stderr[-1200:] if p.returncode else ""})

# Throughput: a random Llama of about 300M parameters, full fine-tuning in bf16.
if not (wanted("mid_full_bf16") or wanted("mid_lora_bf16")):
    sys.exit(0)
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

tiny = resolve_model_path("tiny")
tok = AutoTokenizer.from_pretrained(tiny)
base = json.loads((tiny / "config.json").read_text())
cfg = LlamaConfig(vocab_size=base["vocab_size"], hidden_size=1024, intermediate_size=4096, num_hidden_layers=20,
                  num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=4096, rms_norm_eps=1e-6,
                  bos_token_id=base["bos_token_id"], eos_token_id=base["eos_token_id"], tie_word_embeddings=False)
torch.manual_seed(0)
mid = LlamaForCausalLM(cfg)
params = sum(p.numel() for p in mid.parameters())
mid.save_pretrained(tmp / "mid")
tok.save_pretrained(tmp / "mid")
del mid
for name, extra in (("mid_full_bf16", ["method=full", "precision=bf16", "lr=0.0001"]),
                    ("mid_lora_bf16", ["method=lora", "precision=bf16", "lr=0.001"])):
    if not wanted(name):
        continue
    t = time.time()
    try:
        s = train(load_config(RECIPE, [f"data={data}", f"model={tmp / 'mid'}", f"output_dir={tmp / name}", "max_seq_len=2048",
                                       "micro_batch_size=8", "grad_accum=1", "max_steps=12", "save_every=100",
                                       "threads=4", *extra]))
        h = s["history"]
        say(name, {"params": params, "losses": [x["loss"] for x in h], "tokens_per_s": [x["tokens_per_s"] for x in h[-4:]],
                   "step_s": [x["step_s"] for x in h[-4:]], "max_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
                   "wall_s": round(time.time() - t, 1)})
    except Exception as exc:
        say(name, {"error": repr(exc)[:1500]})
    torch.cuda.reset_peak_memory_stats()
