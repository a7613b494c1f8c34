"""Train small tokenizers on local Python sources (no downloads).

Two kinds, matching what llama.cpp supports and what SemCoder-family models ship:

* byte-level BPE with DeepSeek-Coder's pre-tokenizer (SemCoder's own tokenizer kind). In
  llama.cpp, GGUF `tokenizer.ggml.pre = "deepseek-coder"` selects these regex splits, applied
  in order, each to the pieces left by the previous one (src/llama-vocab.cpp,
  LLAMA_VOCAB_PRE_TYPE_DEEPSEEK_CODER):
      "[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"
  The HF side below applies the same splits with `tokenizers` Split(..., "isolated") steps
  (unmatched text stays a piece of its own on both sides) and single digits, then the GPT-2
  byte-to-unicode mapping. DeepSeek-Coder's own tokenizer.json has the same sequence.
* SentencePiece BPE with byte fallback, configured so HF and llama.cpp agree on leading
  spaces (no dummy prefix, identity normalisation, no whitespace squeezing).
"""

from __future__ import annotations

import json
import shutil
import sysconfig
from pathlib import Path
from typing import Iterator

BOS_TOKEN = "<｜begin▁of▁sentence｜>"  # full-width bars, as in DeepSeek-Coder
EOS_TOKEN = "<｜end▁of▁sentence｜>"

# The deepseek-coder splits, written with escapes so the code points are unambiguous.
DEEPSEEK_CODER_SPLITS = (
    r"[\r\n]",
    r"\s?\p{L}+",
    r"\s?\p{P}+",
    "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+",
)


def python_source_texts(max_bytes: int = 3_000_000) -> list[str]:
    """Python files of the running interpreter's standard library, in a fixed order.

    Sorted paths and a byte budget make the corpus (and so the tokenizer) deterministic for
    a given interpreter. Tests and tool folders are skipped: they hold odd encodings.
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts: list[str] = []
    total = 0
    for path in sorted(stdlib.rglob("*.py")):
        rel = path.relative_to(stdlib).parts
        if rel[0] in {"test", "idlelib", "lib2to3", "site-packages", "turtledemo"} or "tests" in rel:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        texts.append(text)
        total += len(text.encode("utf-8"))
        if total >= max_bytes:
            break
    if not texts:
        from semcoder_inference.errors import SemcoderError

        raise SemcoderError(f"Found no Python sources under {stdlib} to train a tokenizer on.")
    return texts


def deepseek_coder_pre_tokenizer():
    from tokenizers import Regex, pre_tokenizers

    steps = [pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False) for pattern in DEEPSEEK_CODER_SPLITS]
    steps.append(pre_tokenizers.Digits(individual_digits=True))  # = llama.cpp's "\p{N}" split
    steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False))
    return pre_tokenizers.Sequence(steps)


def train_bpe(texts: list[str], vocab_size: int):
    """A byte-level BPE `tokenizers.Tokenizer` with the deepseek-coder pre-tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = deepseek_coder_pre_tokenizer()
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[BOS_TOKEN, EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte is representable
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    bos_id = tokenizer.token_to_id(BOS_TOKEN)
    # A prompt gets BOS and no EOS (SemCoder's convention; llama.cpp: add_bos_token=true).
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A", pair=f"{BOS_TOKEN} $A {BOS_TOKEN} $B", special_tokens=[(BOS_TOKEN, bos_id)]
    )
    return tokenizer


def save_bpe(tokenizer, out_dir: Path, model_max_length: int) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS_TOKEN,
        "eos_token": EOS_TOKEN,
        "add_bos_token": True,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    special = {"bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN}
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _lines(texts: list[str]) -> Iterator[str]:
    for text in texts:
        for line in text.splitlines():
            if line.strip():
                yield line


def train_spm(texts: list[str], vocab_size: int, out_dir: Path, model_max_length: int) -> None:
    """Train a SentencePiece BPE model and save it with an HF tokenizer config in `out_dir`."""
    import sentencepiece as spm

    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = out_dir / "spm-train"
    spm.SentencePieceTrainer.train(
        sentence_iterator=_lines(texts),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type="bpe",
        byte_fallback=True,
        character_coverage=0.9995,
        # These four make llama.cpp and HF agree on text that starts with spaces.
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=False,
        allow_whitespace_only_pieces=True,
        split_digits=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=2,
        minloglevel=2,  # quiet: the trainer logs a lot to stderr
    )
    shutil.move(str(prefix) + ".model", out_dir / "tokenizer.model")
    Path(str(prefix) + ".vocab").unlink(missing_ok=True)
    config = {
        "tokenizer_class": "LlamaTokenizer",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
        "add_prefix_space": False,
        "legacy": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n", encoding="utf-8")


def build_tokenizer(kind: str, out_dir: Path, vocab_size: int, model_max_length: int, max_corpus_bytes: int = 3_000_000) -> int:
    """Train a tokenizer of `kind` ("bpe" or "spm") into `out_dir`; return its vocabulary size."""
    texts = python_source_texts(max_corpus_bytes)
    if kind == "bpe":
        tokenizer = train_bpe(texts, vocab_size)
        save_bpe(tokenizer, out_dir, model_max_length)
        return tokenizer.get_vocab_size(with_added_tokens=True)
    if kind == "spm":
        train_spm(texts, vocab_size, out_dir, model_max_length)
        import sentencepiece as spm

        return spm.SentencePieceProcessor(model_file=str(out_dir / "tokenizer.model")).get_piece_size()
    from semcoder_inference.errors import SemcoderError

    raise SemcoderError(f"Unknown tokenizer kind {kind!r}: use 'bpe' (byte-level, DeepSeek-Coder style) or 'spm' (SentencePiece).")
