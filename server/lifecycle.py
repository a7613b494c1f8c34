"""Initialize, settings, document sync and commands."""

from __future__ import annotations

import logging

from lsprotocol import types

from .convert import plain

log = logging.getLogger(__name__)

COMMAND_SET_CALL = "semcoder.setCall"
COMMAND_CLEAR_CACHE = "semcoder.clearCache"


def register(server) -> None:
    from . import diagnostics, inlay

    @server.feature(types.INITIALIZE)
    def on_initialize(ls, params: types.InitializeParams) -> None:
        raw = plain(params.initialization_options) or {}
        ls._init_options = raw if isinstance(raw, dict) else {}
        # Problems found here are shown once the client can receive messages (initialized).
        ls._pending_init_settings = raw

    @server.feature(types.INITIALIZED)
    async def on_initialized(ls, params: types.InitializedParams) -> None:
        ls.apply_settings(getattr(ls, "_pending_init_settings", {}), source="initializationOptions")
        await ls.pull_configuration()
        ls.executor.warm(ls.settings.execution)  # once the settings are settled
        if ls.models.engine is not None:
            ls.models.start_loading()  # load once, in the background, with progress
        await _watch_python_files(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def on_did_change_configuration(ls, params: types.DidChangeConfigurationParams) -> None:
        execution = ls.settings.execution
        raw = plain(params.settings)
        if isinstance(raw, dict) and isinstance(raw.get("semcoder"), dict):
            from .server import _deep_merge

            ls.apply_settings(_deep_merge(ls._init_options, raw["semcoder"]), source="didChangeConfiguration")
        else:
            await ls.pull_configuration()
        if ls.settings.execution != execution:
            # Real values came from runs under the old settings (or execution is off now,
            # and its diagnostics are cleared): the inlay hints drop them too.
            inlay.forget_actual(ls)
        ls.executor.warm(ls.settings.execution)
        if ls.models.engine is not None:
            ls.models.start_loading()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def on_did_open(ls, params: types.DidOpenTextDocumentParams) -> None:
        diagnostics.schedule(ls, params.text_document.uri, delay=0.0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def on_did_change(ls, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.documents.forget(uri)
        diagnostics.on_document_changed(ls, uri)
        diagnostics.schedule(ls, uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def on_did_save(ls, params: types.DidSaveTextDocumentParams) -> None:
        # A save is when the files on disk are as the user means them: what a run reads
        # from disk other than Python files (a config.json, a CSV: the server is not told
        # when they change) may have changed with it, so every real trace of every file runs
        # again when next asked for, and the open documents' checks run again.
        uri = params.text_document.uri
        ls.tracing.refresh()
        diagnostics.schedule(ls, uri, delay=0.0)
        if ls.settings.execution.enabled:
            for other in list(ls.workspace.text_documents):
                if other != uri:
                    diagnostics.schedule(ls, other)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def on_did_close(ls, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.documents.forget(uri)
        diagnostics.on_document_closed(ls, uri)

    @server.feature(types.SHUTDOWN)
    def on_shutdown(ls, *args) -> None:
        ls.shutdown_work()

    @server.command(COMMAND_SET_CALL)
    def set_call(ls, *args) -> dict:
        spec = plain(args[0] if len(args) == 1 else args)
        if isinstance(spec, list) and spec:
            spec = spec[0]
        if not isinstance(spec, dict) or not all(isinstance(spec.get(k), str) for k in ("uri", "function", "call")):
            return {"ok": False, "message": "semcoder.setCall takes one argument {uri, function, call}."}
        import ast

        try:
            ast.parse(spec["call"], mode="eval")
        except SyntaxError as exc:
            return {"ok": False, "message": f"`{spec['call']}` is not a Python expression: {exc.msg}."}
        ls.tracing.explicit_calls[(spec["uri"], spec["function"])] = spec["call"].strip()
        ls.request_inlay_refresh()
        if ls._cap("workspace", "code_lens", "refresh_support"):
            ls.workspace_code_lens_refresh(None)
        return {"ok": True}

    @server.feature("semcoder/stats")
    def stats(ls, *args) -> dict:
        """Counters for benchmarks and debugging (documented in docs/lsp-protocol.md)."""
        import resource

        current = {}
        for uri in list(ls.workspace.text_documents):
            try:
                info = ls.documents.analysis(uri)
                current[uri] = {fn.source_hash for fn in info.functions.values()}
            except Exception:
                current[uri] = set()
        in_flight = [r for r in ls.predictor.runs.values() if not r.finished]
        stale = [r for r in in_flight if r.uri is not None and r.source_hash not in current.get(r.uri, set())]
        return {
            "jobsStarted": ls.worker.jobs_started,
            "jobsSkipped": ls.worker.jobs_skipped,
            "runsInFlight": len(in_flight),
            "staleRunsInFlight": len(stale),
            "runsCancelled": ls.predictor.cancelled_count,
            "cacheHits": ls.cache.hits,
            "maxRssKb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            **ls.tracing.memo_stats(),
        }

    @server.command(COMMAND_CLEAR_CACHE)
    def clear_cache(ls, *args) -> dict:
        """Forget every cached result: the predictions (memory and disk), the real traces,
        the calls recorded by running the files, the real values of the inlay hints; the
        open documents' checks then run again. Says what it cleared."""
        ls.cache.clear()
        ls.predictor.runs.clear()
        cleared = ls.tracing.clear()
        inlay.forget_actual(ls)
        if ls.settings.execution.enabled:
            for uri in list(ls.workspace.text_documents):
                diagnostics.schedule(ls, uri, delay=0.0)
        traces = cleared["realTraces"]
        functions = cleared["recordedFunctions"]
        message = (f"SemCoder: cleared the cached predictions (in memory and on disk), "
                   f"{traces} real trace{'' if traces == 1 else 's'} and the calls recorded for "
                   f"{functions} function{'' if functions == 1 else 's'}; they run again when next needed.")
        ls.show(message, types.MessageType.Info)
        return {"ok": True, "cleared": cleared, "message": message}


async def _watch_python_files(ls) -> None:
    """Ask the client to tell of every change to the workspace's Python files on disk
    (workspace/didChangeWatchedFiles, see diagnostics.register): runs import them from
    disk, so a change made outside the editor (a `git checkout`, a formatter) makes the
    traces of the files that import them stale. Where the client cannot watch for us, saves
    in the editor are still noticed."""
    if not ls.supports_file_watching:
        return
    watcher = types.FileSystemWatcher(glob_pattern="**/*.py")
    try:
        await ls.client_register_capability_async(types.RegistrationParams(registrations=[types.Registration(
            id="semcoder-python-files", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=types.DidChangeWatchedFilesRegistrationOptions(watchers=[watcher]))]))
    except Exception as exc:  # the client refused: saves in the editor are still noticed
        log.info("the client would not watch the workspace's Python files: %s", exc)
