"""Token ids must be identical in Hugging Face (what training sees) and llama.cpp (what the
editor runs), for both tokenizer kinds, on real code with the awkward cases: unicode, tabs,
leading spaces, long lines, CJK, emoji, CRLF, odd whitespace, digits."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

EDGE_CASES = [
    "def f(x):\n    return x + 1\n",
    "    leading spaces\n\tand a tab\n",
    " single leading space",
    "\ttab first\t\ttabs inside\t",
    "if a <= b and c != d:\n\t\tpass  # mixed\n",
    "line one\r\nline two\r\n\r\n  indented after CRLF\r\n",
    "name = 'héllo wörld'  # Latin-1 letters: ÀÖØöøÿ ß",
    "print('你好，世界')  # 中文注释：计算结果",
    "s = '한국어 텍스트'; t = 'カタカナ ひらがな'",
    "emoji = '😀🚀✨👩‍💻'  # ZWJ sequence",
    "x = 1234567890 + 3.14159e-10 - 0x1F + 1_000_000",
    "values = [١٢٣, ½, Ⅻ]  # non-ASCII digits",
    "a\u00a0b\u3000c\u2028d\x0be\x0cf  # NBSP, ideographic space, line separator, VT, FF",
    "trailing spaces   \n   \n",
    "\n\n\n",
    "   ",
    "",
    "x" * 3000,
    "    " + " + ".join(f"value_{i}" for i in range(400)),
    "λx: x ** 2  # Greek λ and operators: → ≤ ≥ ≠ ∑",
    "r'''raw\\nstring''' + f\"{x!r:>10}\" + b'\\x00\\xff'",
    "@decorator\nclass Ünïcödé(Base, metaclass=Meta):\n    __slots__ = ()\n",
    "[MONOLOGUE]\nLet's execute the code step by step: `x = 1` [L5]\n[/MONOLOGUE]\n[ANSWER]\nassert f(1) == 2\n[/ANSWER]",
]


def real_sources(limit: int = 60, chars: int = 4000) -> list[str]:
    """Slices of real Python files spread over the standard library (fixed for an interpreter,
    unlike site-packages), taken from the middle of each file, away from licence headers."""
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))
    texts = []
    for path in files[:: max(1, len(files) // limit)][:limit]:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        mid = len(text) // 2
        texts.append(text[mid : mid + chars])
    return texts


def llama_detokenize(llm, ids: list[int]) -> bytes:
    """Detokenize through llama.cpp without llama-cpp-python's 32-byte piece buffer, which
    silently drops longer pieces (runs of 33+ spaces are single tokens with this pre-tokenizer)."""
    import ctypes

    import llama_cpp

    out = b""
    for token in ids:
        size = 32
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(llm._model.vocab, token, buf, size, 0, False)
            if n >= 0:
                out += buf.raw[:n]
                break
            size = -n  # a negative result is the size the piece needs
    return out


CORPUS = EDGE_CASES + real_sources()


def _compare(hf_dir: Path, gguf: Path) -> list[str]:
    import llama_cpp
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(hf_dir))
    llm = llama_cpp.Llama(str(gguf), vocab_only=True, verbose=False)
    mismatches = []
    for text in CORPUS:
        ours = hf(text, split_special_tokens=True)["input_ids"]  # "<s>" in code is text, as in llama.cpp with special=False
        theirs = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        if ours != theirs:
            mismatches.append(f"{text[:60]!r}: HF {ours[:20]} vs llama.cpp {theirs[:20]}")
        # decoding must give the text back on both sides (no lossy normalisation)
        assert hf.decode(ours, skip_special_tokens=True) == text, f"HF round trip changed {text[:60]!r}"
        assert llama_detokenize(llm, theirs[1:]).decode("utf-8") == text, f"llama.cpp round trip changed {text[:60]!r}"
    return mismatches


@pytest.mark.parametrize("kind", ["bpe", "spm"])
def test_token_ids_identical_hf_vs_llama_cpp(kind, tiny_model, tiny_model_spm):
    model = tiny_model if kind == "bpe" else tiny_model_spm
    assert len(CORPUS) > 50
    mismatches = _compare(model.hf_dir, model.gguf_f16)
    assert not mismatches, f"{len(mismatches)} of {len(CORPUS)} texts differ:\n" + "\n".join(mismatches[:10])


def test_bpe_uses_deepseek_coder_conventions(tiny_model):
    import gguf
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(tiny_model.hf_dir))
    assert hf.bos_token == "<｜begin▁of▁sentence｜>" and hf.eos_token == "<｜end▁of▁sentence｜>"
    ids = hf("x = 1")["input_ids"]
    assert ids[0] == hf.bos_token_id and ids[-1] != hf.eos_token_id  # BOS, no EOS
    # digits are split one by one, as DeepSeek-Coder does
    pieces = hf.convert_ids_to_tokens(hf("12345", add_special_tokens=False)["input_ids"])
    assert pieces == ["1", "2", "3", "4", "5"]
    reader = gguf.GGUFReader(str(tiny_model.gguf_f16))
    assert reader.fields["tokenizer.ggml.model"].contents() == "gpt2"
    assert reader.fields["tokenizer.ggml.pre"].contents() == "deepseek-coder"
    assert reader.fields["tokenizer.ggml.add_bos_token"].contents() is True


def test_special_tokens_are_control_tokens_in_llama_cpp(tiny_model):
    import llama_cpp

    llm = llama_cpp.Llama(str(tiny_model.gguf_f16), vocab_only=True, verbose=False)
    text = "<｜end▁of▁sentence｜>".encode()
    assert llm.tokenize(text, add_bos=False, special=True) == [llm.token_eos()]
    assert len(llm.tokenize(text, add_bos=False, special=False)) > 1  # plain text when not parsing specials


def test_vocab_has_pieces_longer_than_32_bytes(tiny_model):
    """Like DeepSeek-Coder's, the tiny vocabulary has pieces longer than 32 bytes (a 64-character
    comment rule, long runs of spaces); code that turns tokens into text must not assume short pieces."""
    import llama_cpp

    llm = llama_cpp.Llama(str(tiny_model.gguf_f16), vocab_only=True, verbose=False)
    text = "#" * 64 + "\nx = 1\n"
    ids = llm.tokenize(text.encode(), add_bos=False, special=False)
    assert llama_detokenize(llm, ids).decode() == text
    assert max(len(llama_detokenize(llm, [i])) for i in ids) > 32
