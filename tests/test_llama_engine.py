"""LlamaCppEngine on real tiny GGUF models through llama.cpp."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from semcoder_inference.engine import CancelToken, Engine, GenerationParams
from semcoder_inference.errors import PromptTooLongError
from semcoder_inference.llama_engine import LlamaCppEngine, TokenTextDecoder

SOURCE = textwrap.dedent(
    '''\
    def running_total(values):
        total = 0
        out = []
        for v in values:
            total += v
            out.append(total)
        return out
    '''
)
GREEDY = GenerationParams(max_tokens=24, temperature=0.0)


@pytest.fixture(scope="module")
def engine(tiny_model):
    eng = LlamaCppEngine(str(tiny_model.gguf_q8_0), n_ctx=1024, n_threads=2)
    eng.load()
    yield eng
    eng.close()


def test_implements_the_engine_protocol_and_loads_once(engine, tiny_model):
    assert isinstance(engine, Engine)
    first = engine._llama
    engine.load()  # idempotent: the same llama.cpp object, not a reload
    assert engine._llama is first
    assert str(tiny_model.gguf_q8_0.resolve()) in engine.model_id
    assert engine.n_ctx == 1024


def test_streams_deltas_and_reports_stats(engine):
    deltas = list(engine.stream(SOURCE + "assert running_total([1, 2]) == ", GenerationParams(max_tokens=16, seed=3)))
    stats = engine.last_stats
    assert deltas and all(isinstance(d, str) and d for d in deltas)
    assert stats.generated_tokens == 16 and stats.finish_reason == "length"
    assert stats.prompt_tokens == engine.count_tokens(SOURCE + "assert running_total([1, 2]) == ")
    assert stats.time_to_first_token_s is not None and stats.time_to_first_token_s > 0
    assert stats.tokens_per_s > 0
    assert stats.reused_tokens + stats.evaluated_tokens == stats.prompt_tokens


def test_seed_and_greedy_are_reproducible_and_temperature_varies(engine):
    prompt = SOURCE + "# call it\n"
    a = "".join(engine.stream(prompt, GenerationParams(max_tokens=20, temperature=1.0, seed=11)))
    b = "".join(engine.stream(prompt, GenerationParams(max_tokens=20, temperature=1.0, seed=11)))
    assert a == b
    others = {"".join(engine.stream(prompt, GenerationParams(max_tokens=20, temperature=1.0, seed=s))) for s in (1, 2, 3)}
    assert len(others | {a}) > 1  # different seeds sample different text from a random model
    g1 = "".join(engine.stream(prompt, GREEDY))
    g2 = "".join(engine.stream(prompt, GenerationParams(max_tokens=24, temperature=0.0, seed=99)))
    assert g1 == g2  # greedy ignores the seed


def test_max_tokens_is_respected(engine):
    list(engine.stream(SOURCE, GenerationParams(max_tokens=5, temperature=0.0)))
    assert engine.last_stats.generated_tokens == 5
    assert engine.last_stats.finish_reason == "length"


def test_stop_string_split_across_tokens_is_cut_and_not_returned(engine):
    prompt = SOURCE + "print(running_total(range(4)))\n"
    params = GenerationParams(max_tokens=40, temperature=0.0)
    deltas = list(engine.stream(prompt, params))
    full = "".join(deltas)
    # Choose a stop string that straddles two deltas, i.e. two tokens.
    k = next(i for i in range(3, len(deltas) - 1) if len(deltas[i]) >= 1 and len(deltas[i + 1]) >= 1)
    stop = deltas[k][-2:] + deltas[k + 1][:2]
    assert stop in full
    cut = "".join(engine.stream(prompt, GenerationParams(max_tokens=40, temperature=0.0, stop=(stop, "never-there"))))
    assert cut == full[: full.find(stop)]
    assert stop not in cut
    assert engine.last_stats.finish_reason == "stop"
    assert engine.last_stats.extra["stop"] == stop


def test_cancel_between_tokens_with_measured_latency(engine):
    cancel = CancelToken()
    received = []
    for delta in engine.stream(SOURCE, GenerationParams(max_tokens=400, temperature=1.0, seed=5), cancel=cancel):
        received.append(delta)
        if len(received) == 3:
            cancel.cancel()
    stats = engine.last_stats
    assert stats.cancelled and stats.finish_reason == "cancelled"
    # The worker may run ahead of a slow reader, but after cancel() it finishes at most the
    # token it was evaluating.
    assert stats.generated_tokens < 400
    assert stats.extra.get("tokens_after_cancel", 0) <= 1
    assert stats.cancel_latency_s is not None and 0 <= stats.cancel_latency_s < 1.0


def test_cancel_from_another_thread(engine):
    cancel = CancelToken()
    timer = threading.Timer(0.05, cancel.cancel)
    timer.start()
    list(engine.stream(SOURCE, GenerationParams(max_tokens=900, temperature=1.0, seed=2), cancel=cancel))
    timer.join()
    assert engine.last_stats.finish_reason == "cancelled"
    assert engine.last_stats.generated_tokens < 900


def test_abandoned_stream_stops_the_worker(engine):
    stream = engine.stream(SOURCE, GenerationParams(max_tokens=900, temperature=1.0, seed=4))
    next(stream)
    stream.close()  # the consumer walks away without a CancelToken
    # The next job runs only after the abandoned one ends; it must not wait for 900 tokens.
    started = time.perf_counter()
    assert engine.count_tokens("x = 1") > 1
    assert time.perf_counter() - started < 2.0


def test_kv_cache_reuse_for_shared_function_source(engine):
    list(engine.stream("# unrelated warm-up\n" * 3, GenerationParams(max_tokens=2, temperature=0.0)))
    first = SOURCE + "assert running_total([1, 2, 3]) == ??\n"
    second = SOURCE + "assert running_total([5]) == ??\n"
    list(engine.stream(first, GenerationParams(max_tokens=4, temperature=0.0)))
    assert engine.last_stats.reused_tokens <= 2  # nothing shared with the warm-up (BOS at most)
    list(engine.stream(second, GenerationParams(max_tokens=4, temperature=0.0)))
    stats = engine.last_stats
    shared = 0
    for a, b in zip(engine.tokenize(first), engine.tokenize(second)):
        if a != b:
            break
        shared += 1
    # Measured by counting what llama.cpp evaluated, it must match the shared token prefix.
    assert stats.reused_tokens == shared
    assert stats.evaluated_tokens == stats.prompt_tokens - shared
    assert stats.evaluated_tokens < 0.3 * stats.prompt_tokens


def test_prompt_longer_than_context_fails_before_generating(tiny_model):
    small = LlamaCppEngine(str(tiny_model.gguf_q8_0), n_ctx=64)
    try:
        stream = small.stream(SOURCE * 10, GenerationParams(max_tokens=4))
        with pytest.raises(PromptTooLongError) as info:
            next(stream)
        message = str(info.value)
        assert "context holds 64" in message and "n_ctx" in message
        assert small.last_stats.generated_tokens == 0
    finally:
        small.close()


def test_count_tokens_includes_bos(engine):
    assert engine.count_tokens("") == 1
    assert engine.count_tokens(SOURCE) == len(engine.tokenize(SOURCE))
    assert engine.count_tokens(SOURCE + SOURCE) > engine.count_tokens(SOURCE)


def test_streaming_never_splits_multibyte_characters(engine):
    text = "naïve → 世界 🎉 données"
    ids = engine.tokenize(text)[1:]  # without BOS
    decoder = TokenTextDecoder(engine._vocab)
    pieces = [decoder.feed(t) for t in ids] + [decoder.flush()]
    assert len(ids) > len(text.split())  # the tokenizer really splits these into byte tokens
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)


def test_streamed_text_equals_detokenized_tokens(engine):
    deltas = list(engine.stream("s = '", GenerationParams(max_tokens=60, temperature=1.5, seed=8)))
    ids = engine.last_stats.extra["token_ids"]
    assert "".join(deltas) == engine.detokenize(ids)


def test_calls_from_many_threads_run_on_the_model_thread(engine):
    seen_threads = set()
    original = engine._llama.eval

    def recording_eval(tokens):
        seen_threads.add(threading.current_thread().name)
        return original(tokens)

    engine._llama.eval = recording_eval
    results = {}

    def work(i):
        results[i] = "".join(engine.stream(SOURCE + f"# {i}\n", GenerationParams(max_tokens=6, temperature=0.0)))

    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        engine._llama.eval = original
    assert len(results) == 3 and all(results.values())
    assert seen_threads == {engine._thread._thread.name}


def test_gpu_layers_all_uses_the_same_code_path(tiny_model):
    eng = LlamaCppEngine(str(tiny_model.gguf_q4_k_m), n_ctx=256, n_gpu_layers=-1)
    try:
        assert "".join(eng.stream("def f(", GenerationParams(max_tokens=4, temperature=0.0)))
        assert eng.last_stats.generated_tokens == 4
    finally:
        eng.close()


def test_sentencepiece_model_streams(tiny_model_spm):
    eng = LlamaCppEngine(str(tiny_model_spm.gguf_q8_0), n_ctx=256)
    try:
        deltas = list(eng.stream(SOURCE, GenerationParams(max_tokens=12, temperature=0.0)))
        assert "".join(deltas) == eng.detokenize(eng.last_stats.extra["token_ids"])
    finally:
        eng.close()


def test_hub_spec_loads_from_the_huggingface_cache(tiny_model, tmp_path):
    # Lay out a real huggingface_hub cache entry (what `semcoder model pull` leaves behind).
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--someone--tiny-GGUF"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    shutil.copy(tiny_model.gguf_q8_0, snapshot / "tiny-q8_0.gguf")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for spec in ("someone/tiny-GGUF:tiny-q8_0.gguf", "hf://someone/tiny-GGUF/tiny-q8_0.gguf"):
        eng = LlamaCppEngine(spec, n_ctx=256, cache_dir=tmp_path, download=False)
        try:
            assert "".join(eng.stream("x = ", GenerationParams(max_tokens=3, temperature=0.0)))
            assert eng.path == snapshot / "tiny-q8_0.gguf"
        finally:
            eng.close()


def test_quiet_by_default_stdout_untouched(tiny_model):
    """A language server speaks on stdout: loading and generating must write nothing there,
    and llama.cpp's C logs must not reach stderr unless verbose."""
    script = textwrap.dedent(
        f"""
        import threading, sys
        from semcoder_inference.llama_engine import LlamaCppEngine
        from semcoder_inference.engine import GenerationParams
        loading = threading.Event(); loaded = threading.Event()
        written = 0
        def writer():  # another thread speaking on stdout while the model loads
            global written
            loading.wait()
            while not loaded.is_set():
                sys.stdout.write("t\\n"); sys.stdout.flush(); written += 1
        t = threading.Thread(target=writer); t.start()
        eng = LlamaCppEngine({str(tiny_model.gguf_q8_0)!r}, n_ctx=256)
        loading.set()
        eng.load()
        text = "".join(eng.stream("def f(", GenerationParams(max_tokens=3, temperature=0.0)))
        loaded.set(); t.join()
        eng.close()
        sys.stdout.write(f"OK {{written}}")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    written = int(lines[-1].split()[1])
    assert written > 0 and lines[:-1] == ["t"] * written  # nothing swallowed, nothing added
    assert done.stderr == ""


@pytest.mark.slow
def test_verbose_shows_llama_cpp_logs(tiny_model):
    script = (
        "from semcoder_inference.llama_engine import LlamaCppEngine\n"
        f"e = LlamaCppEngine({str(tiny_model.gguf_q8_0)!r}, n_ctx=256, verbose=True); e.load(); e.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert "llama_model_loader" in done.stderr or "llama_" in done.stderr
    assert done.stdout == ""


def test_close_ends_a_stream_in_progress_and_load_works_again(tiny_model):
    eng = LlamaCppEngine(str(tiny_model.gguf_q8_0), n_ctx=1024)
    stream = eng.stream(SOURCE, GenerationParams(max_tokens=900, temperature=1.0, seed=6))
    next(stream)
    eng.close()
    rest = list(stream)  # ends at the next token instead of running to 900
    assert len(rest) < 900 and eng.last_stats.finish_reason == "cancelled"
    assert not eng.loaded
    assert "".join(eng.stream("x = ", GenerationParams(max_tokens=2, temperature=0.0)))  # reloads
    eng.close()


def test_detokenize_keeps_pieces_longer_than_32_bytes(tiny_model):
    # The tiny vocabularies hold tokens longer than llama-cpp-python's 32-byte detokenize buffer
    # (long runs of spaces); detokenize must still give back the text exactly.
    engine = LlamaCppEngine(str(tiny_model.gguf_f16), n_ctx=512)
    try:
        text = "def f():\n" + " " * 40 + "return 1\n" + "#" * 70 + "\n"
        ids = engine.tokenize(text)
        assert engine.detokenize(ids) == text
    finally:
        engine.close()


def test_gguf_version_2_files_load(tiny_model, tmp_path):
    # llama.cpp reads GGUF v2 as it reads v3 (v2 files are little-endian v3 files), so the
    # header checks accept v2 too: a v2 file refused by llama.cpp is refused for another reason.
    import struct

    data = bytearray(tiny_model.gguf_q8_0.read_bytes())
    data[4:8] = struct.pack("<I", 2)
    v2 = tmp_path / "v2.gguf"
    v2.write_bytes(bytes(data))
    engine = LlamaCppEngine(str(v2), n_ctx=256)
    try:
        engine.load()
        assert engine.gguf_info.version == 2
        assert "".join(engine.stream("x = ", GenerationParams(max_tokens=2, temperature=0.0)))
    finally:
        engine.close()


def test_a_block_count_of_zero_is_refused_before_llama_cpp_aborts(tiny_model, tmp_path):
    # llama.cpp checks the block count with GGML_ASSERT, which aborts the whole process
    # (the language server with it); the engine must refuse such a file itself.
    import struct

    from semcoder_inference.errors import ModelError

    data = bytearray(tiny_model.gguf_q8_0.read_bytes())
    key = b"llama.block_count"
    at = data.index(struct.pack("<Q", len(key)) + key) + 8 + len(key)
    assert struct.unpack_from("<I", data, at)[0] == 4  # a uint32 value follows
    struct.pack_into("<I", data, at + 4, 0)
    bad = tmp_path / "zero-layers.gguf"
    bad.write_bytes(bytes(data))
    engine = LlamaCppEngine(str(bad), n_ctx=256)
    with pytest.raises(ModelError, match="`llama.block_count` is 0"):
        engine.load()
    engine.close()
