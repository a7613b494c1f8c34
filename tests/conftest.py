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
CACHE_ROOT = Path(os.environ.get("SEMCODER_TEST_CACHE", REPO_ROOT / ".cache"))


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
