"""Shared measurements for the weights-chain tests: HF reference logits vs llama.cpp."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Real code, long enough for a few hundred positions once repeated.
CODE_PROMPT = '''def running_mean(values, window=3):
    """Average of each sliding window; shorter at the start."""
    out = []
    total = 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out

assert running_mean([1, 2, 3, 4]) == [1.0, 1.5, 2.0, 3.0]
'''


def hf_model(hf_dir: Path):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32).eval()


def hf_tokens(hf_dir: Path, text: str) -> list[int]:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(hf_dir))(text)["input_ids"]


def hf_logits(model, ids: list[int]) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def llama_logits(gguf: Path, ids: list[int]) -> np.ndarray:
    import llama_cpp

    llm = llama_cpp.Llama(str(gguf), n_ctx=1024, logits_all=True, verbose=False, n_threads=2)
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def hf_greedy(model, ids: list[int], n: int) -> tuple[list[int], float]:
    """Greedy continuation, and the smallest top-1/top-2 logit margin met on the way."""
    out = list(ids)
    margin = float("inf")
    for _ in range(n):
        last = hf_logits(model, out)[-1]
        top2 = np.sort(last)[-2:]
        margin = min(margin, float(top2[1] - top2[0]))
        out.append(int(last.argmax()))
    return out[len(ids):], margin


def llama_greedy(gguf: Path, ids: list[int], n: int) -> list[int]:
    import llama_cpp

    llm = llama_cpp.Llama(str(gguf), n_ctx=1024, logits_all=True, verbose=False, n_threads=2)
    llm.eval(ids)
    out = []
    for _ in range(n):
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(token)
        llm.eval([token])
    return out
