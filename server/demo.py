"""`make demo`: a scripted editor session through the real `semcoder-lsp` subprocess.

    python -m semcoder_lsp.demo examples/demo_project/shapes.py

It opens the file the way an editor does, hovers the first asserted call (printing the
hover), streams the model's trace when a model is configured (SEMCODER_MODEL), prints
the diagnostics the server publishes, and asks for the quick fix on the first failing
call (resolved, i.e. generated and verified by running it). Without a model it shows the
real traces and says how to get SemCoder-S.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import textwrap
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from .model import PULL_COMMAND

RULE = "─" * 78


def _say(text: str = "") -> None:
    print(text, flush=True)


def _plain(obj):
    if hasattr(obj, "_asdict"):
        return {k: _plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


class DemoClient(LanguageClient):
    def __init__(self) -> None:
        super().__init__("semcoder-demo", "1")
        self.diagnostics: dict[str, list[types.Diagnostic]] = {}
        self.diagnostics_seen = asyncio.Event()
        self.status: dict = {}
        self.status_changed = asyncio.Event()
        self.messages: list[str] = []
        self.streamed = 0


def _client() -> DemoClient:
    client = DemoClient()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(ls: DemoClient, params: types.PublishDiagnosticsParams):
        ls.diagnostics[params.uri] = list(params.diagnostics)
        if params.diagnostics:
            ls.diagnostics_seen.set()

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def on_message(ls: DemoClient, params: types.ShowMessageParams):
        ls.messages.append(params.message)
        _say(f"[server] {params.message}")

    @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
    def on_create(ls, params):
        return None

    @client.feature(types.PROGRESS)
    def on_progress(ls: DemoClient, params: types.ProgressParams):
        value = _plain(params.value)
        if not isinstance(value, dict):
            return
        kind = value.get("kind")
        if kind == "begin":
            _say(f"[progress] {value.get('title')} {value.get('message') or ''}")
        elif kind == "report" and value.get("percentage") is not None:
            _say(f"[progress] {value.get('percentage')}% {value.get('message') or ''}")
        elif kind == "end":
            _say(f"[progress] done: {value.get('message') or ''}")
        elif value.get("monologueDelta"):
            ls.streamed += 1
            sys.stdout.write(value["monologueDelta"])
            sys.stdout.flush()

    @client.feature("semcoder/status")
    def on_status(ls: DemoClient, params):
        ls.status = _plain(params)
        ls.status_changed.set()

    @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def on_refresh(ls, params):
        return None

    return client


def _first_assert(text: str) -> tuple[int, int] | None:
    for number, line in enumerate(text.splitlines()):
        stripped = line.lstrip()
        if stripped.startswith("assert ") and "(" in stripped:
            return number, len(line) - len(stripped) + len("assert ") + 1
    return None


async def run_demo(path: Path, *, execution: bool) -> int:
    text = path.read_text(encoding="utf-8")
    uri = path.resolve().as_uri()
    client = _client()
    await client.start_io(sys.executable, "-m", "semcoder_lsp")
    capabilities = types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=True),
        workspace=types.WorkspaceClientCapabilities(
            inlay_hint=types.InlayHintWorkspaceClientCapabilities(refresh_support=True)),
        text_document=types.TextDocumentClientCapabilities(
            hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown]),
            code_action=types.CodeActionClientCapabilities(
                resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"]))),
    )
    await client.initialize_async(types.InitializeParams(
        capabilities=capabilities, root_uri=path.resolve().parent.as_uri(), process_id=os.getpid(),
        initialization_options={"execution": {"enabled": execution}}))
    client.initialized(types.InitializedParams())
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="python", version=1, text=text)))

    _say(RULE)
    _say(f"SemCoder demo: an editor session on {path}")
    _say(f"execution: {'enabled (trusted workspace)' if execution else 'disabled'}")
    await asyncio.sleep(0.3)
    model_configured = client.status.get("state") not in (None, "noModel")
    if not model_configured:
        _say("model: none configured. Predictions need a model: fetch SemCoder-S with")
        _say(f"    {PULL_COMMAND}")
        _say("then set SEMCODER_MODEL to the downloaded .gguf file and run `make demo` again.")
        _say("Below: the real traces (the sandboxed run), diagnostics and the offered actions.")
    else:
        _say(f"model: {client.status.get('message')}")
        while client.status.get("state") in ("configured", "loading"):
            client.status_changed.clear()
            await client.status_changed.wait()
        if client.status.get("state") == "error":
            _say(f"model failed to load: {client.status.get('message')}")
            model_configured = False

    target = _first_assert(text)
    if target is None:
        _say("The file has no `assert f(...)` line to hover.")
    else:
        line, col = target
        _say(RULE)
        _say(f"hover at line {line + 1}: {text.splitlines()[line].strip()}")
        if model_configured:
            _say("streaming the model's trace (semcoder/trace):")
            _say()
            await client.protocol.send_request_async("semcoder/trace", {
                "textDocument": {"uri": uri}, "position": {"line": line, "character": col},
                "partialResultToken": "demo-trace"})
            _say()
        hover = await client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=col)))
        _say(RULE)
        _say(hover.contents.value if hover else "(no hover)")

    _say(RULE)
    _say("diagnostics:")
    try:
        await asyncio.wait_for(client.diagnostics_seen.wait(), 120 if model_configured else 30)
    except asyncio.TimeoutError:
        pass
    diagnostics = client.diagnostics.get(uri, [])
    if not diagnostics:
        _say("  (none)" + ("" if execution else ": with execution disabled only predicted failures are reported"))
    for diag in diagnostics:
        severity = {1: "error", 2: "warning", 3: "info", 4: "hint"}.get(int(diag.severity or 1), "")
        _say(f"  line {diag.range.start.line + 1}: {severity}: {diag.message}")

    if diagnostics:
        diag = diagnostics[0]
        _say(RULE)
        _say(f"quick fix for line {diag.range.start.line + 1}:")
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=diag.range,
            context=types.CodeActionContext(diagnostics=[diag])))
        _say("  offered: " + ", ".join(a.title for a in actions or []))
        for action in actions or []:
            resolved = await client.code_action_resolve_async(action)
            _say(f"  resolved: {resolved.title}")
            if resolved.edit and resolved.edit.changes:
                for edit in resolved.edit.changes.get(uri, []):
                    _say(f"  replaces lines {edit.range.start.line + 1}-{edit.range.end.line + 1} with:")
                    _say(textwrap.indent(edit.new_text, "    | "))
            elif not model_configured:
                _say("  No repair candidate: repairs are written by the model, and none is configured.")
    _say(RULE)
    await client.shutdown_async(None)
    client.exit(None)
    await asyncio.sleep(0.2)
    await client.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m semcoder_lsp.demo", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="a Python file, e.g. examples/demo_project/shapes.py")
    parser.add_argument("--no-execution", action="store_true", help="do not run code (predictions only)")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        print(f"semcoder demo: {args.file} does not exist.", file=sys.stderr)
        return 2
    return asyncio.run(run_demo(args.file, execution=not args.no_execution))


if __name__ == "__main__":
    sys.exit(main())
