"""Shared fixtures.

The tiny models are real: random Llama weights, a tokenizer trained on local Python
sources, real GGUF files. They are built once and cached under `.cache/tiny-models/`
(the builder's version is part of the folder name, so a change to it rebuilds).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
CRUXEVAL = SHARED / "benchmarks" / "cruxeval" / "cruxeval.jsonl"

# A class whose instances no literal can rebuild, and a function that takes one: what
# calls traced where they happen (watch mode) are about.
BASKET = """class Basket:
    def __init__(self, prices):
        self.prices = prices

    def total(self):
        t = 0
        for p in self.prices:
            t += p
        return t
"""
SHARE = """def share(basket, people):
    each = basket.total() / people
    return each
"""
CACHE_ROOT = Path(os.environ.get("SEMCODER_TEST_CACHE", REPO_ROOT / ".cache"))


class PlainReprBudget:
    """What a SafeRepr asks for the repr of anything but builtin values (in a run, a
    safe_repr.ReprBudget, with its time and size limits): here, plain repr."""

    def call(self, obj):
        return repr(obj)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tiny_model():
    """The default tiny model: byte-level BPE tokenizer with DeepSeek-Coder's pre-tokenizer.

    Attributes: hf_dir, gguf_f16, gguf_q8_0, gguf_q4_k_m (Paths)."""
    from semcoder_training.tiny import ensure_tiny_model

    return ensure_tiny_model(CACHE_ROOT / "tiny-models", tokenizer="bpe")


@pytest.fixture(scope="session")
def tiny_model_spm():
    """The same, with a SentencePiece tokenizer."""
    from semcoder_training.tiny import ensure_tiny_model

    return ensure_tiny_model(CACHE_ROOT / "tiny-models", tokenizer="spm")
