"""Which engine the server uses, and its loading state.

The engine is chosen from the settings: a remote server URL, else a GGUF file or
Hugging Face spec (`model.path`, or $SEMCODER_MODEL), else none (the server still shows
real traces and says that predictions need a model). It loads once, on the model worker
thread, in the background; callers await `ensure_loaded()`.

Test hook (not a user setting): SEMCODER_REPLAY_SCRIPT=/path/file makes the server use a
ReplayEngine replaying that file's text; SEMCODER_REPLAY_DELAY_S and
SEMCODER_REPLAY_FAIL_AFTER tune it. See docs/lsp-protocol.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any, Callable

from semcoder_inference.errors import ModelError, SemcoderError

from .settings import Settings
from .worker import INTERACTIVE, ModelWorker

log = logging.getLogger(__name__)

PULL_COMMAND = "semcoder model pull tensorblock/semcoder_s_1030-GGUF:semcoder_s_1030-Q4_K_M.gguf"
NO_MODEL_MESSAGE = (
    "Predictions need a SemCoder model, and none is configured. Fetch SemCoder-S with "
    f"`{PULL_COMMAND}`, then set the environment variable SEMCODER_MODEL (or the setting "
    "`semcoder.model.path`) to the downloaded GGUF file."
)


def build_engine(settings: Settings) -> Any | None:
    """A new, unloaded engine for these settings, or None when no model is configured."""
    replay = os.environ.get("SEMCODER_REPLAY_SCRIPT")
    if replay:
        from semcoder_inference.replay_engine import ReplayEngine

        try:
            script = Path(replay).read_text(encoding="utf-8")
        except OSError as exc:
            raise ModelError(f"The replay script {replay} cannot be read: {exc.strerror}.") from None
        fail_after = os.environ.get("SEMCODER_REPLAY_FAIL_AFTER")
        return ReplayEngine(
            script,
            token_delay_s=float(os.environ.get("SEMCODER_REPLAY_DELAY_S", "0") or 0),
            fail_after_tokens=int(fail_after) if fail_after else None,
            load_delay_s=float(os.environ.get("SEMCODER_REPLAY_LOAD_S", "0") or 0),
            model_id="replay:" + Path(replay).name,
        )
    m = settings.model
    if m.remoteUrl:
        from semcoder_inference.remote_engine import RemoteEngine

        # (the engine waits no less between tokens than before the first: 60 s at most there)
        return RemoteEngine(m.remoteUrl, timeout_s=min(60.0, m.remoteTimeoutSeconds),
                            first_token_timeout_s=m.remoteTimeoutSeconds)
    spec = settings.model_spec()
    if not spec:
        return None
    from semcoder_inference.llama_engine import LlamaCppEngine

    # The engine resolves paths and hub specs when it loads (in the background); the server
    # never starts a multi-GB download by itself: a missing hub file names the pull command.
    return LlamaCppEngine(
        spec, n_ctx=m.contextSize, n_threads=m.threads or None, n_gpu_layers=m.gpuLayers, download=False
    )


class ModelManager:
    """Holds the engine for the current settings and loads it once, in the background."""

    def __init__(self, worker: ModelWorker, on_state: Callable[[str, str, str | None], None]):
        self.worker = worker
        self._on_state = on_state  # (state, message, model_id) -> None, called on the loop
        self._key: tuple | None = None
        self.engine: Any | None = None
        self.state = "noModel"
        self.message = NO_MODEL_MESSAGE
        self._load_task: asyncio.Future | None = None
        self.progress_callback: Callable[[float, str], None] | None = None

    @property
    def model_id(self) -> str | None:
        return getattr(self.engine, "model_id", None) if self.engine is not None else None

    def configure(self, settings: Settings) -> None:
        """Switch engines when the model settings change (the old one is closed)."""
        key = settings.engine_key() + (os.environ.get("SEMCODER_REPLAY_SCRIPT"),)
        if key == self._key:
            return
        self._key = key
        old, self.engine, self._load_task = self.engine, None, None
        if old is not None:
            self.worker.submit(old.close) if _has_loop() else old.close()
        try:
            self.engine = build_engine(settings)
        except SemcoderError as exc:
            self._set_state("error", str(exc))
            return
        if self.engine is None:
            self._set_state("noModel", NO_MODEL_MESSAGE)
        else:
            self._set_state("configured", f"Model {self.model_id} will load on first use.")

    def start_loading(self) -> "asyncio.Future | None":
        """Begin loading in the background (idempotent); None when there is no engine."""
        if self.engine is None:
            return None
        if self._load_task is None:
            engine = self.engine
            loop = asyncio.get_running_loop()
            self._set_state("loading", f"Loading {self.model_id}")

            def progress(fraction: float, message: str) -> None:
                if self.progress_callback is not None:
                    loop.call_soon_threadsafe(self.progress_callback, fraction, message)

            self._load_task = self.worker.submit(lambda: engine.load(progress=progress), priority=INTERACTIVE - 1)
            self._load_task.add_done_callback(lambda fut: self._loaded(engine, fut))
        return self._load_task

    def _loaded(self, engine: Any, fut: asyncio.Future) -> None:
        if engine is not self.engine:
            return
        exc = fut.exception()
        if exc is not None:
            self._set_state("error", str(exc))
        else:
            self._set_state("ready", f"SemCoder model ready: {self.model_id}")

    async def ensure_loaded(self) -> Any:
        """The loaded engine. Raises SemcoderError (no model, or it failed to load)."""
        if self.engine is None:
            raise ModelError(self.message if self.state == "error" else NO_MODEL_MESSAGE)
        task = self.start_loading()
        await asyncio.shield(task)
        return self.engine

    def _set_state(self, state: str, message: str) -> None:
        self.state, self.message = state, message
        try:
            self._on_state(state, message, self.model_id)
        except Exception:
            log.exception("state callback failed")


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False
