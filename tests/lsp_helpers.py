"""Shared helpers for the semcoder-lsp end-to-end tests.

Every test talks to a real `semcoder-lsp` subprocess over stdio through pytest-lsp's
client. The client here records what pytest-lsp's default one cannot: partial results on
`$/progress` (its default handler only understands work-done values), `semcoder/status`
notifications and `workspace/inlayHint/refresh` requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, AsyncIterator

from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features
from semcoder_lsp.convert import plain  # the server's own helper: results as plain JSON data

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo_project"
SERVER_COMMAND = [sys.executable, "-m", "semcoder_lsp", "--log-level", "info"]
# Initialization options of a trusted workspace: real runs on.
EXEC_ON = {"execution": {"enabled": True}}


def _converter():
    """pygls turns results of unknown methods into namedtuples, renaming keys such as
    `return`; keep them as the JSON objects the server sent."""
    from pygls.protocol import JsonRPCResponseMessage

    converter = default_converter()
    converter.register_structure_hook(JsonRPCResponseMessage, lambda obj, cls: cls(**obj))
    return converter


def make_client() -> LanguageClient:
    client = LanguageClient(converter_factory=_converter)
    features = {k: v for k, v in DEFAULT_CLIENT_FEATURES.items() if k != types.PROGRESS}
    register_lsp_features(client, features)
    client.partials: dict[Any, list[Any]] = {}
    client.work_done: dict[Any, list[dict]] = {}
    client.statuses: list[dict] = []
    client.inlay_refreshes = 0
    client.registrations: list[dict] = []

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def on_register(ls, params: types.RegistrationParams):
        ls.registrations.extend(plain(params)["registrations"])
        return None

    @client.feature(types.PROGRESS)
    def on_progress(ls, params: types.ProgressParams):
        value = plain(params.value)
        if isinstance(value, dict) and value.get("kind") in ("begin", "report", "end"):
            ls.work_done.setdefault(params.token, []).append(value)
        else:
            ls.partials.setdefault(params.token, []).append(value)

    @client.feature("semcoder/status")
    def on_status(ls, params):
        ls.statuses.append(plain(params))

    @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def on_refresh(ls, params):
        ls.inlay_refreshes += 1
        return None

    return client


def capabilities() -> types.ClientCapabilities:
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=True),
        workspace=types.WorkspaceClientCapabilities(
            configuration=True,
            inlay_hint=types.InlayHintWorkspaceClientCapabilities(refresh_support=True),
            did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(dynamic_registration=True),
        ),
        text_document=types.TextDocumentClientCapabilities(
            hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown]),
            code_action=types.CodeActionClientCapabilities(
                resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"]),
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(value_set=[types.CodeActionKind.QuickFix])
                ),
            ),
            inlay_hint=types.InlayHintClientCapabilities(),
        ),
    )


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMCODER_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    env.update(extra)
    return env


def replay_env(tmp_path: Path, script: str, **extra: str) -> dict[str, str]:
    """server_env with the server's ReplayEngine test hook replaying `script` for every prompt."""
    path = tmp_path / "replay.txt"
    path.write_text(script)
    return server_env(tmp_path, SEMCODER_REPLAY_SCRIPT=str(path), **extra)


@contextlib.asynccontextmanager
async def running_server(
    tmp_path: Path,
    *,
    init_options: dict | None = None,
    configuration: dict | None = None,
    env: dict[str, str] | None = None,
    root: Path | None = None,
    initialize: bool = True,
) -> AsyncIterator[LanguageClient]:
    """A started semcoder-lsp subprocess with an initialized session; stopped afterwards."""
    config = ClientServerConfig(server_command=SERVER_COMMAND, client_factory=make_client,
                                server_env=env or server_env(tmp_path))
    client = await config.start()
    if configuration is not None:
        client.set_configuration(configuration, section="semcoder")
    try:
        if initialize:
            root = root or tmp_path
            await client.initialize_session(types.InitializeParams(
                capabilities=capabilities(),
                root_uri=root.as_uri(),
                initialization_options=init_options,
            ))
        yield client
    finally:
        try:
            if initialize:
                await asyncio.wait_for(client.shutdown_session(), 20)
        finally:
            await client.stop()


def open_document(client: LanguageClient, path: Path, text: str | None = None, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version,
                                             text=path.read_text() if text is None else text)))
    return uri


def replace_document(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


async def hover(client: LanguageClient, uri: str, line: int, character: int) -> str | None:
    result = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=character)))
    return None if result is None else result.contents.value


async def request(client: LanguageClient, method: str, params: dict) -> Any:
    return plain(await client.protocol.send_request_async(method, params))


async def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


def diagnostics_for(client: LanguageClient, uri: str) -> list[types.Diagnostic]:
    """The diagnostics last published for `uri` (none yet: an empty list)."""
    return list(client.diagnostics.get(uri, []))


def line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines()):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in text")


def copy_demo(tmp_path: Path) -> Path:
    """A fresh copy of the demo project (tests may edit it)."""
    import shutil

    dest = tmp_path / "demo_project"
    shutil.copytree(DEMO, dest)
    return dest


# Runs a module's top-level statements one by one, as Python runs the module, but goes on
# past a failing assert (one that raises, too); prints the 0-based lines of the asserts
# that failed.
EACH_ASSERT = '''import ast, json, sys
text = open(sys.argv[1]).read()
namespace = {"__name__": "__main__"}
failed = []
for node in ast.parse(text).body:
    code = compile(ast.Module([node], []), sys.argv[1], "exec")
    try:
        exec(code, namespace)
    except Exception:
        if not isinstance(node, ast.Assert):
            raise
        failed.append(node.lineno - 1)
print(json.dumps(failed))
'''


def python_failing_asserts(tmp_path: Path, name: str) -> list[int]:
    """The 0-based lines of the asserts of the file `name` (in `tmp_path`) that fail when Python
    runs it as a script, each failing one passed over."""
    driver = tmp_path / "each_assert.py"
    driver.write_text(EACH_ASSERT)
    ran = subprocess.run([sys.executable, str(driver), name], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def pytest_outcomes(tmp_path: Path, name: str) -> dict[str, str]:
    """What real pytest says of each test of `name`: {"test_x": "PASSED" | "FAILED" | ...}."""
    ran = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", name],
                         capture_output=True, text=True, cwd=tmp_path)
    outcomes = {}
    for line in ran.stdout.splitlines():
        test, _, rest = line.partition(" ")
        if test.startswith(name + "::") and rest:
            outcomes[test.split("::")[-1]] = rest.split()[0]
    return outcomes


def judged_asserts(path: Path, roots: list[Path] | None = None) -> list[tuple[str, str | None]]:
    """(call, expected) of each assert of the file at `path` that is a check, its imports
    from the workspace (`roots`, by default the file's folder) read as the server reads them."""
    import ast

    from semcoder_lsp.calls import analyse
    from semcoder_lsp.imported import ImportReader, imports_of, modules_imported, search_folders

    text = path.read_text()
    roots = [path.parent] if roots is None else roots
    tree = ast.parse(text)
    reader = ImportReader()
    resolved = reader.resolve(imports_of(tree), str(path), roots)
    imported = reader.functions(resolved, search_folders(str(path), roots), modules_imported(tree))
    return [(c.call, c.expected) for c in analyse(text, None, imported).calls if c.origin == "assert"]
