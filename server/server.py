"""The SemCoder language server: state, lifecycle and settings; features live in modules.

One SemcoderServer holds the settings, the model worker and engine, the sandbox executor,
the results cache and the per-document state. Each feature module (hover, streaming,
diagnostics, inlay, code_actions, code_lens) registers its handlers with `register(server)`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from . import __version__
from .cache import ResultCache
from .convert import plain
from .documents import DocumentStore
from .execution import Executor
from .model import ModelManager
from .predictions import Predictor
from .settings import Settings, parse_settings
from .tracing import TraceJob, Tracing
from .worker import ModelWorker

log = logging.getLogger(__name__)

SERVER_NOT_INITIALIZED = -32002
INLAY_REFRESH_INTERVAL_S = 0.5


class SemcoderProtocol(LanguageServerProtocol):
    """Answers requests that arrive before `initialize` with ServerNotInitialized, as the
    LSP requires (pygls would otherwise run them against a missing workspace)."""

    initialized_request_seen = False

    def _handle_request(self, msg_id, method_name, params):
        if method_name == types.INITIALIZE:
            self.initialized_request_seen = True
        elif not self.initialized_request_seen and method_name != types.SHUTDOWN:
            from pygls.exceptions import JsonRpcException

            error = JsonRpcException(
                code=SERVER_NOT_INITIALIZED,
                message=f"SemCoder: the server is not initialized yet; send `initialize` before `{method_name}`.",
            )
            self._send_response(msg_id, None, error.to_response_error())
            return
        super()._handle_request(msg_id, method_name, params)

    def _handle_notification(self, method_name, params):
        if not self.initialized_request_seen and method_name not in (types.EXIT, "$/cancelRequest"):
            log.warning("ignoring %s before initialize", method_name)
            return
        super()._handle_notification(method_name, params)


class SemcoderServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("semcoder-lsp", __version__, protocol_cls=SemcoderProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.settings = Settings()
        self._init_options: dict = {}
        self.worker = ModelWorker()
        self.cache = ResultCache()
        self.models = ModelManager(self.worker, self._on_model_state)
        self.models.progress_callback = self._on_load_progress
        self.predictor = Predictor(self.worker, self.models, self.cache)
        self.executor = Executor(workspace_root=self._first_workspace_root)
        self.documents = DocumentStore(self)
        self.tracing = Tracing(self)
        self.latest: dict[tuple[str, str], TraceJob] = {}  # (uri, function) -> latest job
        self._progress_ids = itertools.count(1)
        self._load_token: str | None = None
        self._last_refresh = 0.0
        self._refresh_pending = False

    # -- client capabilities ---------------------------------------------------------------------

    def _cap(self, *path: str) -> Any:
        obj: Any = self.client_capabilities
        for name in path:
            obj = getattr(obj, name, None)
            if obj is None:
                return None
        return obj

    @property
    def supports_work_done(self) -> bool:
        return bool(self._cap("window", "work_done_progress"))

    @property
    def supports_inlay_refresh(self) -> bool:
        return bool(self._cap("workspace", "inlay_hint", "refresh_support"))

    @property
    def supports_configuration(self) -> bool:
        return bool(self._cap("workspace", "configuration"))

    @property
    def supports_file_watching(self) -> bool:
        return bool(self._cap("workspace", "did_change_watched_files", "dynamic_registration"))

    def _first_workspace_root(self) -> str | None:
        roots = self.workspace_roots()
        return str(roots[0]) if roots else None

    def workspace_roots(self) -> list[Path]:
        roots = []
        try:
            for folder in self.workspace.folders.values():
                parsed = urlparse(folder.uri)
                if parsed.scheme == "file":
                    roots.append(Path(unquote(parsed.path)))
            if self.workspace.root_path:
                roots.append(Path(self.workspace.root_path))
        except RuntimeError:
            pass
        return roots

    # -- messages ----------------------------------------------------------------------------------

    def show(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        log.info("showMessage: %s", message)
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def notify_status(self, state: str, message: str, model_id: str | None, percentage: int | None = None) -> None:
        params = {"state": state, "message": message, "modelId": model_id}
        if percentage is not None:  # while loading: for a client's status bar
            params["percentage"] = percentage
        try:
            self.protocol.notify("semcoder/status", params)
        except Exception:  # no transport yet (before initialize)
            log.debug("status not sent: %s", state)

    # -- settings ------------------------------------------------------------------------------------

    def apply_settings(self, raw: Any, *, source: str) -> None:
        settings, problems = parse_settings(raw)
        for problem in problems:
            self.show(problem)
        old = self.settings
        self.settings = settings
        self.predictor.settings = settings
        self.models.configure(settings)
        log.info("settings from %s: %s", source, settings)
        if old.execution != settings.execution:
            self.tracing.recorded.clear()
            self.tracing.main_recorded.clear()
            from . import diagnostics

            for uri in list(self.workspace.text_documents):
                diagnostics.schedule(self, uri, delay=0.0)

    async def pull_configuration(self) -> None:
        if not self.supports_configuration:
            return
        try:
            result = await self.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="semcoder")])
            )
        except Exception as exc:
            log.info("workspace/configuration failed: %s", exc)
            return
        section = plain(result[0]) if result else None
        if isinstance(section, dict) and section:
            self.apply_settings(_deep_merge(self._init_options, section), source="workspace/configuration")

    # -- model state and load progress -------------------------------------------------------

    def _on_model_state(self, state: str, message: str, model_id: str | None) -> None:
        self.notify_status(state, message, model_id)
        if state == "error":
            self.show(message, types.MessageType.Error)
        if state == "loading":
            asyncio.get_running_loop().create_task(self._begin_load_progress())
        if state in ("ready", "error") and self._load_token is not None:
            token, self._load_token = self._load_token, None
            self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))

    async def _begin_load_progress(self) -> None:
        if not self.supports_work_done:
            return
        token = f"semcoder-load-{next(self._progress_ids)}"
        try:
            await self.work_done_progress.create_async(token)
        except Exception as exc:
            log.info("progress token refused: %s", exc)
            return
        if self.models.state != "loading":
            return
        self._load_token = token
        self.work_done_progress.begin(token, types.WorkDoneProgressBegin(
            title="SemCoder: loading model", message=self.models.model_id or "", percentage=0, cancellable=False))

    def _on_load_progress(self, fraction: float, message: str) -> None:
        percentage = int(max(0.0, min(1.0, fraction)) * 100)
        if self._load_token is not None:
            self.work_done_progress.report(self._load_token, types.WorkDoneProgressReport(
                message=message, percentage=percentage))
        # Work-done tokens are chosen by the server, so a client cannot tie them to its status
        # bar; the status notification carries the same percentage.
        if self.models.state == "loading":
            self.notify_status("loading", message, self.models.model_id, percentage)

    # -- results for inlay hints -----------------------------------------------------------------

    def remember_result(self, job: TraceJob) -> None:
        key = (job.target.uri, job.target.function.name)
        self.latest[key] = job
        if not job.run.finished and not job.run.has_inlay_listener:
            job.run.has_inlay_listener = True

            def on_partial(partial: dict) -> None:
                if partial.get("steps") or partial.get("status") == "done":
                    self.request_inlay_refresh()
            job.run.listeners.append(on_partial)
        self.request_inlay_refresh()

    def request_inlay_refresh(self) -> None:
        """workspace/inlayHint/refresh, at most every INLAY_REFRESH_INTERVAL_S."""
        if not self.supports_inlay_refresh or self._refresh_pending:
            return
        wait = self._last_refresh + INLAY_REFRESH_INTERVAL_S - time.monotonic()

        def send() -> None:
            self._refresh_pending = False
            self._last_refresh = time.monotonic()
            try:
                self.protocol.send_request(types.WORKSPACE_INLAY_HINT_REFRESH, None)
            except Exception as exc:
                log.debug("inlay refresh failed: %s", exc)

        self._refresh_pending = True
        asyncio.get_running_loop().call_later(max(0.0, wait), send)

    def shutdown_work(self) -> None:
        from . import diagnostics

        diagnostics.cancel_all()
        self.predictor.cancel_where(lambda run: True)
        self.executor.close()
        engine = self.models.engine
        self.worker.close()
        if engine is not None:
            try:
                engine.close()
            except Exception:
                pass


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base.get("semcoder", base)) if isinstance(base, dict) else {}
    over = over.get("semcoder", over)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            merged = dict(out[key])
            merged.update({k: v for k, v in value.items() if v is not None})
            out[key] = merged
        elif value is not None:
            out[key] = value
    return out


def create_server() -> SemcoderServer:
    server = SemcoderServer()
    from . import code_actions, code_lens, diagnostics, hover, inlay, lifecycle, streaming

    for module in (lifecycle, hover, streaming, diagnostics, inlay, code_actions, code_lens):
        module.register(server)
    return server
