"""Real execution through the sandboxed tracer, off the event loop.

The tracer runs code in a separate, resource-limited process; this adapter runs its calls
on one dedicated thread (so the event loop never blocks and the model worker is never
used for it), keeps one Tracer per interpreter and limits, and converts the tracer's
1-based lines to the 0-based document lines LSP uses.

Only definitions are sent: top-level statements that would run when the module is
imported (asserts, prints, loops) are blanked, keeping line numbers, so tracing `f(2)`
does not also run the file's failing asserts.
"""

from __future__ import annotations

import ast
import asyncio
import copy
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from semcoder_inference.errors import SemcoderError

from .settings import ExecutionSettings

log = logging.getLogger(__name__)

_DEFINITIONS = (
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom,
    ast.Assign, ast.AnnAssign,
)


def is_definition(node: ast.stmt) -> bool:
    """Whether a top-level statement is one definitions_only keeps."""
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        # Constants stay; assignments that call things (x = main()) may have effects.
        return not any(isinstance(n, (ast.Call, ast.Await)) for n in ast.walk(node))
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return True  # the module docstring
    return isinstance(node, _DEFINITIONS)


def definitions_only(text: str, tree: ast.Module) -> str:
    """The module with non-definition top-level statements blanked (line numbers kept)."""
    lines = text.split("\n")
    for node in tree.body:
        if is_definition(node):
            continue
        for i in range(node.lineno - 1, (node.end_lineno or node.lineno)):
            lines[i] = ""
    return "\n".join(lines)


def without_top_level_asserts(text: str, tree: ast.Module) -> str:
    """The module with its top-level asserts blanked (line numbers kept): a failing assert
    must not stop the `__main__` block from running when calls are recorded (the asserts
    are checked one by one, as diagnostics)."""
    lines = text.split("\n")
    for node in tree.body:
        if isinstance(node, ast.Assert):
            for i in range(node.lineno - 1, (node.end_lineno or node.lineno)):
                lines[i] = ""
    return "\n".join(lines)


def to_document_lines(trace: dict) -> dict:
    """A copy of a tracer dict with every line number made 0-based."""
    out = copy.deepcopy(trace)
    if isinstance(out.get("caller_line"), int):  # watch_call's
        out["caller_line"] -= 1
    for ev in out.get("events") or []:
        if isinstance(ev.get("line"), int):
            ev["line"] -= 1
    exc = out.get("exception")
    if isinstance(exc, dict):
        if isinstance(exc.get("line"), int):
            exc["line"] -= 1
        for frame in exc.get("traceback") or []:
            if isinstance(frame.get("line"), int):
                frame["line"] -= 1
    out["lineBase"] = 0
    return out


@dataclass
class Recording:
    """What running a file recorded of one function's calls."""

    calls: list[tuple[str, bool, int | None]]  # (call text, every argument a literal, 0-based caller line)
    stopped: str | None = None  # why the run ended early (a limit, an exception), in the tracer's words
    # False when the run ended (another function had its calls) before it could have made more
    complete: bool = True


# Calls of a function kept from running its file (its first ones).
_RECORDED_CALLS = 5


def _describe(tracer: Any) -> None:
    """Say in the log (an editor's output panel) what isolation a new tracer's runs have: a
    warning where Linux namespaces, or the PID namespace alone, are unavailable (a known gap
    of docs/sandbox.md then applies). Asking starts its first zygote, as its first run would."""
    from semcoder_inference.tracer import describe_isolation

    info = tracer.isolation_info
    complete = info.get("namespaces") and info.get("pid_namespace")
    log.log(logging.INFO if complete else logging.WARNING, "sandbox: %s", describe_isolation(info))


class Executor:
    def __init__(self, workspace_root: Callable[[], str | None] = lambda: None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="semcoder-exec")
        # The sandbox for the current settings: (their key, its Tracer). One at a time: the
        # server has one set of settings, and a sandbox for old ones would only hold memory.
        self._sandbox: tuple[tuple, Any] | None = None
        self._workspace_root = workspace_root
        self._warm_for: ExecutionSettings | None = None  # the settings last given to warm()

    def _tracer(self, settings: ExecutionSettings) -> Any:
        from semcoder_inference.tracer import Limits, Tracer, find_python

        # The user's own interpreter, so their imports resolve: the configured one, else the
        # workspace's virtual environment, else the server's Python.
        root = self._workspace_root()
        python = find_python(root, settings.python or None)
        key = (python, root, settings.timeoutSeconds, settings.memoryMB, settings.preload)
        if self._sandbox is not None and self._sandbox[0] == key:
            tracer = self._sandbox[1]
        else:
            self._drop_sandbox()  # made for settings that changed
            limits = Limits(
                timeout_s=settings.timeoutSeconds,
                cpu_s=settings.timeoutSeconds,
                memory_mb=settings.memoryMB,
            )
            tracer = Tracer(python=python, limits=limits, workspace_root=root, preload=settings.preload)
            self._sandbox = (key, tracer)
            _describe(tracer)
        return tracer

    def _drop_sandbox(self) -> None:
        """Close the sandbox, on the execution thread (so no run is using it): one made for
        old settings, or one that failed, would only hold its processes."""
        stale, self._sandbox = self._sandbox, None
        if stale is not None:
            try:
                stale[1].close()
            except Exception:
                log.exception("closing a sandbox failed")

    def warm(self, settings: ExecutionSettings) -> None:
        """Start the sandbox for `settings` in the background, so that the first trace does
        not wait for its interpreter to start (a few hundred milliseconds, seconds with
        modules to preload). Nothing while execution is off: starting the workspace's
        interpreter runs the workspace's code."""
        self._warm_for = settings
        if not settings.enabled:
            return

        def start() -> None:
            if self._warm_for is not settings:  # changed again meanwhile: start only the last
                return
            try:
                self._tracer(settings)
            except Exception as exc:  # the first run will say why, in the editor
                log.info("the sandbox could not start ahead of the first run: %s", exc)

        try:
            self._pool.submit(start)
        except RuntimeError:  # closed: the server is shutting down
            pass

    async def trace_call(self, settings: ExecutionSettings, source: str, call: str, filename: str,
                         expect: str | None = None) -> dict:
        """The real trace of `call` (0-based lines). Never raises for the code's own failures:
        those are in the dict's status; a broken sandbox gives status "crashed". With
        `expect` (an assert's expected value, an expression), `assertion` says whether
        `call == expect` in the sandbox, as the assert would decide (docs/trace-schema.md)."""
        return await self._traced(settings, call, lambda tracer: tracer.trace_call(
            source, call, filename=filename, expect=expect))

    async def watch_call(self, settings: ExecutionSettings, source: str, target: str, filename: str,
                         entry: str | None = None, target_line: int | None = None,
                         from_line: int | None = None) -> dict:
        """The real trace of the first call of `target` made while the module's __main__
        block (or, with `entry`, the module then `entry`) runs, traced where it happens
        (0-based lines, `caller_line` included). Never raises, as trace_call."""
        return await self._traced(settings, target, lambda tracer: tracer.watch_call(
            source, target=target, filename=filename, entry=entry, target_line=target_line, from_line=from_line))

    async def _traced(self, settings: ExecutionSettings, what: str, run_with: Callable[[Any], dict]) -> dict:
        """`run_with(tracer)` on the execution thread, its trace in 0-based lines; a sandbox
        that failed is reported in the dict (and replaced on the next run), never raised."""

        def run() -> dict:
            started = time.perf_counter()
            try:
                raw = run_with(self._tracer(settings))
                log.info("traced %s: %s in %.2f s", what, raw.get("status"), time.perf_counter() - started)
            except SemcoderError as exc:
                from semcoder_inference.tracer import TracerError

                if isinstance(exc, TracerError):  # the sandbox process itself failed
                    self._drop_sandbox()
                    return _failed("crashed", f"The sandbox crashed: {exc}", what)
                return _failed("invalid", str(exc), what)
            except Exception as exc:  # the sandbox itself broke: report it, keep serving
                log.exception("tracer failed")
                self._drop_sandbox()
                return _failed("crashed", f"The sandbox failed: {type(exc).__name__}: {exc}", what)
            return to_document_lines(raw)

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    async def record_calls(self, settings: ExecutionSettings, source: str, target: str, filename: str,
                           entry: str | None = None, target_line: int | None = None,
                           also: list[tuple[str, int | None]] = ()) -> dict[str, Recording] | None:
        """Calls of `target`, and on the way of the functions in `also` ([(name, first
        line)]), seen when the module's __main__ block runs, or, with `entry`, when the
        module is imported and `entry` runs: name -> Recording, `target` always among them.
        The run ends when `target` has its calls: another function's Recording is then
        `complete` only when it has as many. None when the sandbox itself failed, so the
        caller can try again later; a run that stopped at a limit or raised gives the calls
        made before, with the reason."""

        def run() -> dict[str, Recording] | None:
            try:
                tracer = self._tracer(settings)
                calls = tracer.record_calls(source, target=target, max_calls=_RECORDED_CALLS, filename=filename,
                                            entry=entry, target_line=target_line, also=also)
                result = getattr(tracer, "last_record_result", None) or {}
            except Exception as exc:
                log.warning("recording calls of %s failed: %s", target, exc)
                return None
            if result.get("status") == "crashed":
                log.warning("recording calls of %s: %s", target, result.get("message"))
                return None
            # A script that exits with an error code (argparse without its arguments) ends
            # "ok", with `exited` saying how.
            stopped = str(result.get("message") or result.get("status"))
            if result.get("status") == "ok":
                stopped = f"it exited with {result['exited']}" if result.get("exited") else None
            seen: dict[str, list[tuple[str, bool, int | None]]] = {name: [] for name, _ in [(target, None), *also]}
            for c in calls or []:
                if isinstance(c, dict) and isinstance(c.get("call"), str) and c.get("target") in seen:
                    seen[c["target"]].append((c["call"], bool(c.get("literal")),
                                              c["caller_line"] - 1 if isinstance(c.get("caller_line"), int) else None))
            # The run went on to its end (or limit) unless `target` got all its calls first.
            ran_out = len(seen[target]) < _RECORDED_CALLS
            return {name: Recording(found, stopped, complete=ran_out or len(found) >= _RECORDED_CALLS)
                    for name, found in seen.items()}

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    def close(self) -> None:
        """Stop without waiting: a run in progress must not hold up the server's exit."""
        stale, self._sandbox = self._sandbox, None
        self._pool.shutdown(wait=False, cancel_futures=True)
        if stale is None:
            return

        def close_all() -> None:
            try:
                stale[1].close()
            except Exception:
                pass

        import threading

        threading.Thread(target=close_all, name="semcoder-tracer-close", daemon=True).start()


def _failed(status: str, message: str, call: str) -> dict:
    return {
        "status": status, "message": message, "call": call, "events": [], "return": None,
        "exception": None, "stdout": "", "stderr": "", "truncated": {}, "lineBase": 0,
    }
