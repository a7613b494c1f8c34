"""LlamaCppEngine: SemCoder (or any llama.cpp model) in this process, through llama-cpp-python.

Design choices, and why:
- One dedicated worker thread owns the `llama_cpp.Llama` object: it is created, used and
  freed there, because a Llama object must never be used from two threads at once.
  `stream()` may be called from any thread; it hands the job to the worker and reads text
  deltas from a queue.
- We drive `Llama.generate()` token by token ourselves instead of `create_completion`, so
  that cancellation is checked between tokens, stop strings are cut even when split over
  tokens, multi-byte UTF-8 characters are never split, and the KV-cache reuse is measured
  (we count the tokens llama.cpp actually evaluates) rather than assumed.
- llama-cpp-python's `verbose=False` silences C logs by dup2-ing file descriptors 1 and 2
  to /dev/null while a model loads. That is process-wide: a language server talking over
  stdout would lose messages. So we always construct with verbose=True (no fd games) and
  route llama.cpp's log callback ourselves instead.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import ctypes
import io
import logging
import os
import queue
import random
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Callable, Iterator

from .engine import CancelToken, GenerationParams, GenerationStats, ProgressCallback
from .errors import GenerationError, ModelError, PromptTooLongError, SemcoderError, SettingsError
from .model_spec import check_gguf, parse_hub_spec, resolve_model
from .stop_filter import StopFilter
from .validation import check_engine_settings, check_generation_params

log = logging.getLogger("semcoder.llama")

# Sampling beyond the contract's temperature/top_p: llama.cpp's defaults add min_p=0.05,
# which SemCoder's evaluation (vLLM-style top-p sampling) does not use.
TOP_K = 40
MIN_P = 0.0

# ------------------------------------------------------------------ llama.cpp logging

_verbose_engines = 0  # how many live engines asked for llama.cpp's logs
_log_callback = None  # must stay referenced: llama.cpp keeps only the C function pointer


# llama.cpp's last log lines, so that a failed load can say why (its exception only says
# "Failed to load model from file").
_recent_log: collections.deque = collections.deque(maxlen=200)


def _load_failure_hint(lines: list[str]) -> tuple[str, str]:
    """(llama.cpp's own reason, what to do about it) for a load that failed, from its log
    lines: a memory hint only where memory is what failed."""
    errors = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
    text = "\n".join(errors).lower()
    reason = next((line.split("error loading model:", 1)[1].strip() for line in errors
                   if "error loading model:" in line), errors[0] if errors else "")
    if "pre-tokenizer" in text:
        return reason, ("The file names a tokenizer that this llama.cpp does not know: export it again with a "
                        "pre-tokenizer llama.cpp knows (`semcoder model export --pre-tokenizer NAME`), or use a newer llama.cpp.")
    if "missing tensor" in text or "wrong number of tensors" in text or "tensor" in text and "shape" in text:
        return reason, ("The file lacks a tensor its architecture needs, or has one of the wrong shape: it is "
                        "damaged or was written by a faulty converter; fetch or export it again.")
    if any(word in text for word in ("alloc", "out of memory", "oom", "mmap")):
        return reason, ("llama.cpp ran out of memory: a smaller context (--n-ctx, the semcoder.model.contextSize "
                        "setting) or fewer GPU layers needs less.")
    return reason, "Run with verbose logging (--log-level DEBUG) for llama.cpp's own messages."


def _install_log_callback() -> None:
    """Route llama.cpp's C logs to stderr (verbose) or to our debug log (otherwise)."""
    global _log_callback
    import llama_cpp

    if _log_callback is None:

        @llama_cpp.llama_log_callback
        def route(level: int, text: bytes, user_data) -> None:
            message = text.decode("utf-8", errors="replace")
            if message.strip():
                _recent_log.append(message.strip())
            if _verbose_engines > 0:
                sys.stderr.write(message)
            elif log.isEnabledFor(logging.DEBUG) and message.strip():
                log.debug("llama.cpp: %s", message.rstrip())

        _log_callback = route
    # Re-installed on every load: other code (the quantizer) may have set its own since.
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))


# ------------------------------------------------------------------ the worker thread


class _ModelThread:
    """A single daemon thread that runs submitted functions in order.

    Daemon, so that a generation still running at interpreter exit does not hold the
    process open (a ThreadPoolExecutor's thread would be joined)."""

    def __init__(self, name: str):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable) -> Future:
        future: Future = Future()
        self._jobs.put((fn, future))
        return future

    def call(self, fn: Callable):
        if threading.current_thread() is self._thread:
            return fn()  # already on the model thread (a job calling a job)
        return self.submit(fn).result()

    def stop(self) -> None:
        self._jobs.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller's thread
                future.set_exception(exc)


# ------------------------------------------------------------------ text decoding


class TokenTextDecoder:
    """Token ids -> text deltas that never split a multi-byte UTF-8 character.

    Byte-level BPE tokens can end in the middle of a character ("世" may be three tokens);
    an incremental decoder holds those bytes until the character is complete."""

    def __init__(self, vocab, *, special: bool = False):
        import llama_cpp

        self._llama_cpp = llama_cpp
        self._vocab = vocab
        self._special = special
        self._buffer = ctypes.create_string_buffer(64)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def piece(self, token: int) -> bytes:
        n = self._llama_cpp.llama_token_to_piece(self._vocab, token, self._buffer, len(self._buffer), 0, self._special)
        if n < 0:  # the piece is longer than the buffer: grow it and ask again
            self._buffer = ctypes.create_string_buffer(-n)
            n = self._llama_cpp.llama_token_to_piece(self._vocab, token, self._buffer, len(self._buffer), 0, self._special)
        return self._buffer.raw[:n]

    def feed(self, token: int) -> str:
        return self._decoder.decode(self.piece(token))

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


# ------------------------------------------------------------------ the engine


class LlamaCppEngine:
    """A GGUF model run by llama.cpp in this process. See the module docstring."""

    def __init__(
        self,
        model: str,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        verbose: bool = False,
        download: bool | None = None,
        cache_dir: str | os.PathLike | None = None,
        n_batch: int = 512,
    ) -> None:
        """model: a .gguf path, `owner/repo:file.gguf` or `hf://owner/repo/file.gguf`.
        n_gpu_layers: 0 = CPU, N = that many layers on the GPU (CUDA/Metal builds), -1 = all.
        download: hub files missing from the cache are downloaded when True; None means
        "unless HF_HUB_OFFLINE is set"; False never downloads."""
        check_engine_settings(n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers)
        if not isinstance(model, (str, os.PathLike)) or not str(model).strip():
            raise SettingsError("No model given: pass a .gguf path or OWNER/REPO:FILE.gguf (or set SEMCODER_MODEL).")
        self.model = str(model)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_gpu_layers = n_gpu_layers
        self.verbose = verbose
        self.n_batch = n_batch
        self._download = download
        self._cache_dir = cache_dir
        self._path: Path | None = None
        self._llama = None
        self._vocab = None
        self._evaluated = 0  # tokens passed to llama.cpp's decode, counted by our eval hook
        self._load_lock = threading.Lock()
        self._thread: _ModelThread | None = None
        self._stats = GenerationStats()
        self._active: set[threading.Event] = set()  # stop flags of streams in progress
        self.gguf_info = None

    # ------------------------------------------------------------- identity

    @property
    def model_id(self) -> str:
        """Path + size + mtime of the file, so a re-exported model gets a new id."""
        path = self._path
        if path is None and parse_hub_spec(self.model) is None:
            path = Path(self.model).expanduser()
        if path is not None and path.exists():
            st = path.stat()
            return f"{path.resolve()}:{st.st_size}:{int(st.st_mtime)}"
        return self.model

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    @property
    def last_stats(self) -> GenerationStats:
        return self._stats

    # ------------------------------------------------------------- loading

    def load(self, progress: ProgressCallback | None = None) -> None:
        """Resolve, check and load the model once. Raises ModelError with a readable message."""
        with self._load_lock:
            if self._llama is not None:
                return
            report = progress or (lambda fraction, message: None)
            report(0.0, f"resolving {self.model}")
            path = resolve_model(self.model, download=self._download, cache_dir=self._cache_dir)
            report(0.1, f"checking {path.name}")
            self.gguf_info = check_gguf(path)
            trained = self.gguf_info.context_length
            if trained and self.n_ctx > trained:
                log.warning("n_ctx=%d is larger than the %d tokens %s was trained on; output past that may degrade", self.n_ctx, trained, path.name)
            if self._thread is None:
                self._thread = _ModelThread(name=f"llama-{path.name}")
            report(0.2, f"loading {path.name}")
            self._thread.call(lambda: self._load_on_thread(path))
            self._path = path
            report(1.0, f"loaded {path.name}")

    def _load_on_thread(self, path: Path) -> None:
        global _verbose_engines
        import llama_cpp

        _install_log_callback()
        if self.n_gpu_layers != 0 and not llama_cpp.llama_supports_gpu_offload():
            log.warning("n_gpu_layers=%s ignored: this llama-cpp-python build has no GPU support (see README for CUDA/Metal builds)", self.n_gpu_layers)
        if self.verbose:
            _verbose_engines += 1
        captured = io.StringIO()
        _recent_log.clear()  # what this load logs, to explain a failure
        try:
            # verbose=True keeps llama-cpp-python from redirecting fds 1/2 (see module
            # docstring); its Python-level prints during construction are captured here.
            with contextlib.redirect_stderr(captured if not self.verbose else sys.stderr):
                llama = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=self.n_ctx,
                    n_batch=min(self.n_batch, self.n_ctx),
                    n_threads=self.n_threads,
                    n_gpu_layers=self.n_gpu_layers,
                    verbose=True,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            if self.verbose:
                _verbose_engines -= 1
            reason, hint = _load_failure_hint(list(_recent_log))
            said = f"{exc}".rstrip(".") + (f" ({reason})" if reason else "")
            raise ModelError(
                f"llama.cpp could not load {path.name} with n_ctx={self.n_ctx}, n_gpu_layers={self.n_gpu_layers}: {said}.",
                hint=hint,
            ) from None
        log.debug("llama-cpp-python load output: %s", captured.getvalue()[-2000:])
        llama.verbose = self.verbose
        # Count every token llama.cpp evaluates: an instance attribute shadows the method
        # that Llama.generate calls, so prompt reuse is measured, not inferred.
        original_eval = llama.eval

        def counting_eval(tokens):
            self._evaluated += len(tokens)
            return original_eval(tokens)

        llama.eval = counting_eval
        self._llama = llama
        self._vocab = llama._model.vocab

    # ------------------------------------------------------------- tokens

    def _tokenize(self, text: str) -> list[int]:
        return self._llama.tokenize(text.encode("utf-8"), add_bos=True, special=False)

    def count_tokens(self, text: str) -> int:
        """Tokens the prompt takes, BOS included. Runs on the model thread (after any
        generation in progress)."""
        self.load()
        return self._thread.call(lambda: len(self._tokenize(text)))

    def tokenize(self, text: str) -> list[int]:
        self.load()
        return self._thread.call(lambda: self._tokenize(text))

    def detokenize(self, tokens: list[int]) -> str:
        self.load()
        # Not Llama.detokenize: it gives each token a 32-byte buffer and silently drops longer
        # pieces (runs of spaces, long comment rulers), which code vocabularies do have.
        decoder = TokenTextDecoder(self._vocab)
        return "".join(decoder.feed(t) for t in tokens) + decoder.flush()

    def decoder(self) -> TokenTextDecoder:
        """A fresh streaming decoder for this model's vocabulary (use on any thread: it only
        reads the vocabulary, which llama.cpp never changes after loading)."""
        self.load()
        return TokenTextDecoder(self._vocab)

    # ------------------------------------------------------------- generation

    def stream(
        self,
        prompt: str,
        params: GenerationParams = GenerationParams(),
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        check_generation_params(params)
        if not isinstance(prompt, str):
            raise SettingsError(f"The prompt must be text, not {type(prompt).__name__}.")
        self.load()
        out: queue.SimpleQueue = queue.SimpleQueue()
        abandoned = threading.Event()  # the consumer stopped reading (closed the generator)
        self._active.add(abandoned)
        stats = GenerationStats()
        self._stats = stats
        # A cancel wakes this consumer at once (even while the worker is still evaluating
        # the token in flight) through the queue, so waiting needs no polling timer.
        unregister = cancel.on_cancel(lambda: out.put(("cancelled", None))) if cancel is not None else None
        self._thread.submit(lambda: self._generate(prompt, params, cancel, abandoned, out, stats))
        try:
            while True:
                kind, value = out.get()
                if cancel is not None and cancel.cancelled:
                    break  # text sampled before the cancel reached the worker is dropped
                if kind == "text":
                    yield value
                elif kind == "error":
                    raise value
                else:  # "done" or "cancelled"
                    break
        finally:
            if unregister is not None:
                unregister()
            abandoned.set()
            self._active.discard(abandoned)
            if cancel is not None and cancel.cancelled and cancel.cancelled_at is not None:
                stats.cancelled = True
                stats.finish_reason = "cancelled"
                stats.cancel_latency_s = time.perf_counter() - cancel.cancelled_at

    def _generate(self, prompt, params, cancel, abandoned, out, stats) -> None:
        """Runs on the model thread; every result goes through `out`."""
        try:
            self._generate_tokens(prompt, params, cancel, abandoned, out, stats)
        except SemcoderError as exc:
            stats.finish_reason = "error"
            out.put(("error", exc))
        except Exception as exc:  # a llama.cpp failure: explain, do not leak a traceback
            log.exception("generation failed")
            stats.finish_reason = "error"
            out.put(("error", GenerationError(f"llama.cpp failed while generating: {type(exc).__name__}: {exc}.")))
        else:
            out.put(("done", None))

    def _generate_tokens(self, prompt, params, cancel, abandoned, out, stats) -> None:
        llama = self._llama
        started = time.perf_counter()
        tokens = self._tokenize(prompt)
        stats.prompt_tokens = len(tokens)
        if len(tokens) >= self.n_ctx:
            raise PromptTooLongError(
                f"The prompt needs {len(tokens)} tokens but the model's context holds {self.n_ctx} "
                "(and the answer needs room too).",
                hint="Raise the context size n_ctx (--n-ctx, or the semcoder.model.contextSize setting), or shorten the code sent with the prompt.",
            )
        budget = min(params.max_tokens, self.n_ctx - len(tokens))

        def stopped() -> bool:
            return abandoned.is_set() or (cancel is not None and cancel.cancelled)

        if stopped():
            stats.finish_reason = "cancelled"
            stats.cancelled = True
            return
        llama.set_seed(params.seed if params.seed is not None else random.getrandbits(32))
        decoder = TokenTextDecoder(self._vocab)
        stop_filter = StopFilter(params.stop)
        token_ids: list[int] = []
        stats.extra["token_ids"] = token_ids
        evaluated_before = self._evaluated
        finish = "length"
        first_at = None
        generator = llama.generate(
            tokens, top_k=TOP_K, top_p=params.top_p, min_p=MIN_P, temp=params.temperature, repeat_penalty=1.0
        )
        try:
            for token in generator:
                now = time.perf_counter()
                if cancel is not None and cancel.cancelled_at is not None and now > cancel.cancelled_at:
                    # Sampled after cancel() was called: the cost of cancelling, in tokens.
                    stats.extra["tokens_after_cancel"] = stats.extra.get("tokens_after_cancel", 0) + 1
                if first_at is None:
                    first_at = now
                    stats.time_to_first_token_s = now - started
                    # Everything evaluated before the first sample is prompt; the rest was
                    # served from the KV cache of the previous generation.
                    stats.evaluated_tokens = self._evaluated - evaluated_before
                    stats.reused_tokens = stats.prompt_tokens - stats.evaluated_tokens
                if self._is_end_of_generation(token):
                    finish = "stop"
                    break
                token_ids.append(token)
                stats.generated_tokens += 1
                stats.generation_s = time.perf_counter() - started
                text = stop_filter.feed(decoder.feed(token))
                if text:
                    out.put(("text", text))
                if stop_filter.stopped:
                    finish = "stop"
                    break
                if stats.generated_tokens >= budget:
                    finish = "length"
                    break
                # Checked before asking for the next token: evaluating it is what takes time.
                if stopped():
                    finish = "cancelled"
                    break
        finally:
            generator.close()
        if finish != "cancelled" and not stop_filter.stopped:
            tail = stop_filter.feed(decoder.flush()) + stop_filter.flush()
            if tail:
                out.put(("text", tail))
        end = time.perf_counter()
        stats.generation_s = end - started
        if first_at is not None and stats.generated_tokens > 1:
            stats.extra["decode_tokens_per_s"] = (stats.generated_tokens - 1) / max(end - first_at, 1e-9)
        stats.extra["stop"] = stop_filter.matched
        if cancel is not None and cancel.cancelled_at is not None:
            # When the model thread is free again: the real cost of a cancel (the stream
            # itself ends sooner, see stream()).
            stats.extra["worker_stop_latency_s"] = end - cancel.cancelled_at
        if stats.finish_reason != "cancelled":  # stream() may have ended it already
            stats.finish_reason = finish
        stats.cancelled = stats.cancelled or finish == "cancelled"

    def _is_end_of_generation(self, token: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    # ------------------------------------------------------------- teardown

    def close(self) -> None:
        """Free the model and stop the worker thread. A later load() starts again."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        for flag in list(self._active):  # streams in progress end at their next token
            flag.set()

        def free() -> None:
            global _verbose_engines
            if self._llama is not None:
                self._llama.close()
                self._llama = None
                if self.verbose:
                    _verbose_engines -= 1

        with contextlib.suppress(Exception):
            thread.call(free)
        thread.stop()

    def __enter__(self) -> "LlamaCppEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

