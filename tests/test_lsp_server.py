"""semcoder-lsp end to end: the command, settings, hover with real traces, robustness."""

from __future__ import annotations

import ast
import asyncio
import json
import subprocess

import pytest
from lsprotocol import types

from lsp_helpers import (
    EXEC_ON,
    SERVER_COMMAND,
    copy_demo,
    hover,
    line_of,
    open_document,
    replace_document,
    request,
    running_server,
    server_env,
    wait_for,
)

from conftest import BASKET, SHARE
from semcoder_lsp.tracing import zero_argument_tests


def test_version_and_help_print_on_stdout_only():
    out = subprocess.run(SERVER_COMMAND[:3] + ["--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert out.stdout.startswith("semcoder-lsp ")
    bad = subprocess.run(SERVER_COMMAND[:3] + ["--tcp", "nonsense"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr


async def test_hover_shows_real_trace_with_values(tmp_path):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    async with running_server(tmp_path, init_options=EXEC_ON, root=demo) as client:
        uri = open_document(client, path)
        line = line_of(text, "assert rectangle_area(3, 4)")
        value = await hover(client, uri, line, text.splitlines()[line].index("rectangle_area") + 2)
        assert value is not None
        assert "rectangle_area(3, 4)" in value
        assert "#### Actual run" in value and "returned `12`" in value
        # the table names the line `area = width * height` with its value
        assert "area = 12" in value
        # no model configured: the hover says so and how to get one
        assert "semcoder model pull" in value


async def test_hover_on_function_uses_comment_call_and_workspace_helper(tmp_path):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    async with running_server(tmp_path, init_options=EXEC_ON, root=demo) as client:
        uri = open_document(client, path)
        value = await hover(client, uri, line_of(text, "def label"), 5)
        assert "label(2, 3)" in value and "from a `# semcoder:` comment" in value
        assert "'5.1 x 7.6 cm'" in value  # to_cm from units.py really ran


async def test_execution_disabled_by_default_says_so(tmp_path):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    async with running_server(tmp_path, root=demo) as client:
        uri = open_document(client, path)
        value = await hover(client, uri, line_of(text, "def rectangle_area"), 5)
        assert "Execution is disabled" in value
        assert "#### Actual run" not in value


def _sandboxes(client) -> list:
    """The tracer's processes (launch.py) under the server process."""
    import psutil

    found = []
    for child in psutil.Process(client._server.pid).children(recursive=True):
        try:
            if any(part.endswith("launch.py") for part in child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


async def test_the_sandbox_is_started_before_the_first_hover_only_when_execution_is_on(tmp_path):
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        # no document, no request: the sandbox's interpreter starts once the settings are in
        await wait_for(lambda: _sandboxes(client), timeout=60)
    async with running_server(tmp_path) as client:
        path = tmp_path / "f.py"
        uri = open_document(client, path, "def f(x):\n    return x\n# semcoder: f(1)\n")
        value = await hover(client, uri, 0, 5)
        assert value is not None and "disabled" in value.lower()
        assert _sandboxes(client) == []  # execution is off: the workspace's interpreter never ran


async def test_bad_settings_are_named_and_defaults_used(tmp_path):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    options = {"model": {"temperature": "hot", "maxTokens": -4}, "execution": {"enabled": "yes"}}
    async with running_server(tmp_path, init_options=options, root=demo) as client:
        await wait_for(lambda: len(client.messages) >= 3)
        messages = " ".join(m.message for m in client.messages)
        assert '"model.temperature"' in messages and "using 0.2" in messages
        assert '"model.maxTokens"' in messages
        assert '"execution.enabled"' in messages
        uri = open_document(client, path)
        value = await hover(client, uri, line_of(text, "def rectangle_area"), 5)
        assert "Execution is disabled" in value  # the default (false) was used


async def test_configuration_is_pulled_and_reread_on_change(tmp_path):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    async with running_server(tmp_path, configuration={"execution": {"enabled": False}}, root=demo) as client:
        uri = open_document(client, path)
        line = line_of(text, "def perimeter")
        # without execution, perimeter has no known call (it is only called from __main__)
        assert "No known call for `perimeter`" in (await hover(client, uri, line, 5) or "")
        client.set_configuration({"execution": {"enabled": True}}, section="semcoder")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        # perimeter has no assert: its call comes from running the __main__ block
        for _ in range(50):
            value = await hover(client, uri, line, 5)
            if "#### Actual run" in value:
                break
            await asyncio.sleep(0.1)
        assert "perimeter([3, 4, 5])" in value and "recorded from `__main__`" in value
        assert "returned `12`" in value
        assert "total = 3 → 7 → 12" in value and "side = 3 → 4 → 5" in value


RECORDED = """class Box:
    pass

def size(b):
    n = len(vars(b))
    return n

def twice(xs):
    out = xs * 2
    return out

def test_twice():
    data = [1, 2]
    assert twice(data) == [1, 2, 1, 2]

def test_needs_a_fixture(tmp_path):
    twice(str(tmp_path))

if __name__ == "__main__":
    print(size(Box()))
"""


async def test_calls_are_recorded_from_tests_and_unreplayable_ones_are_traced_in_place(tmp_path):
    # what a test runner would call without fixtures, and only tests that name the function
    assert zero_argument_tests(ast.parse(RECORDED), "twice") == ["test_twice"]
    assert zero_argument_tests(ast.parse(RECORDED), "size") == []
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "recorded.py", RECORDED)
        # twice has no assert at the top level: test_twice calls it with a local list
        value = await hover(client, uri, line_of(RECORDED, "out = xs * 2"), 8)
        assert "`twice([1, 2])` (recorded from the file's tests)" in value
        assert "out = [1, 2, 1, 2]" in value
        # size is called from __main__ with an object no literal can rebuild: not replayed,
        # traced where __main__ calls it
        value = await hover(client, uri, line_of(RECORDED, "n = len(vars(b))"), 8)
        main_call = line_of(RECORDED, "print(size(Box()))") + 1
        assert f"`size(<Box object>)` (traced where the file calls it, from line {main_call})" in value
        assert "returned `0`" in value and "n = 0" in value
        assert "No prediction: this call's arguments are values" in value
        assert "syntax error" not in value
        # the calls follow the test: an edit to it (not to twice) is recorded again
        edited = RECORDED.replace("data = [1, 2]", "data = [5]")
        replace_document(client, uri, edited, 2)
        value = await hover(client, uri, line_of(edited, "out = xs * 2"), 8)
        assert "`twice([5])` (recorded from the file's tests)" in value and "out = [5, 5]" in value


WATCHED = BASKET + """

def size(basket, scale):
    n = len(basket.prices)
    return n * scale


""" + SHARE + """

def test_total():
    basket = Basket([5])
    assert basket.total() == 5


if __name__ == "__main__":
    b = Basket([10, 20, 30])
    print(size(b, 2))
    print(size(b, 3))
    print(b.total())
    share(b, 0)
"""


async def test_calls_with_objects_are_traced_where_the_file_makes_them(tmp_path):
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "watched.py", WATCHED)
        # in the function: its first call, made by __main__ with an instance
        value = await hover(client, uri, line_of(WATCHED, "n = len(basket.prices)"), 8)
        first = line_of(WATCHED, "print(size(b, 2))") + 1
        assert f"`size(<Basket prices=[10, 20, 30]>, 2)` (traced where the file calls it, from line {first})" in value
        assert "returned `6`" in value and "n = 3" in value
        # the file has run: the code lens says where size is traced (no call to send back)
        lenses = await client.text_document_code_lens_async(types.CodeLensParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        lens = next(lens for lens in lenses if lens.range.start.line == line_of(WATCHED, "def size"))
        assert lens.command.title == f"SemCoder: traced where the file calls it, line {first}"
        assert lens.command.command == "semcoder.showTrace" and "call" not in lens.command.arguments[0]
        # on a call: that line's call, not the first one
        line = line_of(WATCHED, "print(size(b, 3))")
        value = await hover(client, uri, line, WATCHED.splitlines()[line].index("size") + 1)
        assert f"`size(<Basket prices=[10, 20, 30]>, 3)` (traced where it runs, from line {line + 1})" in value
        assert "returned `9`" in value
        # a method on a variable: only Basket has `total`, so `b.total()` is Basket.total
        line = line_of(WATCHED, "print(b.total())")
        value = await hover(client, uri, line, WATCHED.splitlines()[line].index("total") + 1)
        assert "`Basket.total(<Basket prices=[10, 20, 30]>)`" in value
        assert "returned `60`" in value and "t = 10 → 30 → 60" in value and "p = 10 → 20 → 30" in value
        # ... and inside the method: its first call, the same one (__main__ runs before the tests)
        value = await hover(client, uri, line_of(WATCHED, "t += p"), 8)
        assert f"`Basket.total(<Basket prices=[10, 20, 30]>)` (traced where the file calls it, from line {line + 1})" \
            in value
        # a call that raises: the exception, where it happened
        value = await hover(client, uri, line_of(WATCHED, "each = basket.total() / people"), 8)
        assert "`share(<Basket prices=[10, 20, 30]>, 0)`" in value
        # in another function's body, the cursor on a call still means that function
        line = line_of(WATCHED, "each = basket.total() / people")
        assert await hover(client, uri, line, WATCHED.splitlines()[line].index("total") + 1) == value
        assert f"raised `ZeroDivisionError: division by zero` at line {line_of(WATCHED, 'each =') + 1}" in value
        # a call the run never reaches says so
        edited = WATCHED.replace('if __name__ == "__main__":', 'if __name__ == "elsewhere":')
        replace_document(client, uri, edited, 2)
        line = line_of(edited, "print(size(b, 3))")
        value = await hover(client, uri, line, edited.splitlines()[line].index("size") + 1)
        assert f"running the module never called size from line {line + 1}" in value
        # the trace request carries the same, for clients; with __main__ not running, the
        # method's first call is the test's
        result = await request(client, "semcoder/trace", {
            "textDocument": {"uri": uri}, "position": {"line": line_of(edited, "basket = Basket([5])"), "character": 0},
            "function": "Basket.total"})
        assert result["watched"] is True and result["callSource"] == "tests"
        assert result["call"] == "Basket.total(<Basket prices=[5]>)"
        assert result["actual"]["caller_line"] == line_of(edited, "assert basket.total() == 5")
        assert result["predicted"]["status"] == "unavailable"
        # with execution off nothing runs: the cursor on such a call names its function
        client.set_configuration({"execution": {"enabled": False}}, section="semcoder")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        line = line_of(edited, "print(size(b, 3))")
        for _ in range(50):
            value = await hover(client, uri, line, edited.splitlines()[line].index("size") + 1)
            if "No known call for `size`." in value:
                break
            await asyncio.sleep(0.1)
        assert "No known call for `size`. Add a comment such as `# semcoder: size(...)`" in value


async def test_a_main_block_that_never_ends_is_run_once_and_said(tmp_path):
    source = "def f(x):\n    return x\n\nif __name__ == '__main__':\n    while True:\n        pass\n"
    options = {"execution": {"enabled": True, "timeoutSeconds": 1.5}}
    async with running_server(tmp_path, init_options=options) as client:
        uri = open_document(client, tmp_path / "forever.py", source)
        value = await hover(client, uri, 1, 8)
        assert "No known call for `f`. Running `__main__` stopped: timed out after 1.5 s at line 5." in value \
            or "No known call for `f`. Running `__main__` stopped: timed out after 1.5 s at line 6." in value
        # the next hover does not run the file again (it would wait out the limit once more)
        started = asyncio.get_running_loop().time()
        assert await hover(client, uri, 1, 8) == value
        assert asyncio.get_running_loop().time() - started < 1.0
        # a script that exits with an error code before the call (as argparse does without
        # the arguments it needs): said too
        edited = source.replace("    while True:\n        pass\n", "    import sys\n    sys.exit(2)\n")
        replace_document(client, uri, edited, 2)
        value = await hover(client, uri, 1, 8)
        assert "No known call for `f`. Running `__main__` stopped: it exited with code 2." in value


async def test_a_main_block_that_never_ends_is_run_once_for_all_its_functions(tmp_path):
    # a game loop: its functions are called, and it never ends
    source = ("def step(x):\n    return x + 1\n\n"
              "def show(x):\n    return str(x)\n\n"
              "def unused(x):\n    return x\n\n"
              "if __name__ == '__main__':\n    x = 0\n    while True:\n        x = step(x)\n"
              "        if x < 3:\n            show(x)\n")
    options = {"execution": {"enabled": True, "timeoutSeconds": 1.5}}
    async with running_server(tmp_path, init_options=options) as client:
        uri = open_document(client, tmp_path / "game.py", source)
        # `step` gets its five calls at once, and the run ends there: `show` had only two
        value = await hover(client, uri, 0, 5)
        assert "step(0)" in value
        # so `show` runs the file to its limit, which records every function whole
        value = await hover(client, uri, 3, 5)
        assert "show(1)" in value
        # the other functions are not run again: the last run saw all it could of them
        started = asyncio.get_running_loop().time()
        value = await hover(client, uri, 6, 5)
        assert "No known call for `unused`. Running `__main__` stopped: timed out after 1.5 s" in value
        assert asyncio.get_running_loop().time() - started < 1.0
        # an edit of one function runs the file again for it, not for the others
        edited = source.replace("return str(x)", "return repr(x)")
        replace_document(client, uri, edited, 2)
        started = asyncio.get_running_loop().time()
        assert "step(0)" in await hover(client, uri, 0, 5)
        assert asyncio.get_running_loop().time() - started < 1.0
        value = await hover(client, uri, 3, 5)
        assert "show(1)" in value and "'1'" in value


async def test_a_script_that_reads_its_data_file_gives_its_calls(tmp_path):
    source = ("def solve(lines):\n    total = sum(int(line) for line in lines)\n    return total\n\n"
              "def numbers(name):\n    # semcoder: numbers('input.txt')\n"
              "    with open(name) as handle:\n        return handle.read().split()\n\n"
              "if __name__ == '__main__':\n    print(solve(open('input.txt').read().split()))\n")
    (tmp_path / "input.txt").write_text("4\n5\n")
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "solve.py", source)
        value = await hover(client, uri, 1, 8)
        assert "`solve(['4', '5'])` (recorded from `__main__`)" in value and "returned `9`" in value
        # a replayed call reads the project's files by the same relative paths
        value = await hover(client, uri, 6, 8)
        assert "`numbers('input.txt')`" in value and "returned `['4', '5']`" in value


async def test_an_async_function_in_a_file_that_imports_subprocess_and_numpy(tmp_path):
    # Everyday imports work in the sandbox (subprocess and ctypes are stand-ins there), and
    # an async function's call is run to its end, as `await` would.
    source = ("import subprocess\nimport asyncio\nimport numpy as np\n\n"
              "async def mean_later(values):\n    # semcoder: mean_later([1, 2, 6])\n"
              "    await asyncio.sleep(0)\n    mean = float(np.mean(values))\n    return mean\n")
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "later.py", source)
        value = await hover(client, uri, 4, 12)
        assert "`mean_later([1, 2, 6])` (from a `# semcoder:` comment)" in value
        assert "returned `3.0` (a coroutine, run to its end with `asyncio.run`)" in value
        assert "| 8 `mean = float(np.mean(values))` | `mean = 3.0` |" in value


async def test_preloaded_modules_serve_hovers_and_a_bad_one_is_explained(tmp_path):
    source = ("import numpy as np\n\ndef spread(values):\n    # semcoder: spread([1, 4, 9])\n"
              "    return float(np.ptp(values))\n")
    options = {"execution": {"enabled": True, "preload": ["numpy"]}}
    async with running_server(tmp_path, init_options=options) as client:
        uri = open_document(client, tmp_path / "spread.py", source)
        value = await hover(client, uri, 2, 6)
        assert "`spread([1, 4, 9])` (from a `# semcoder:` comment)" in value and "returned `8.0`" in value
    options = {"execution": {"enabled": True, "preload": ["_ctypes"]}}
    async with running_server(tmp_path, init_options=options) as client:
        uri = open_document(client, tmp_path / "spread.py", source)
        value = await hover(client, uri, 2, 6)
        assert "The sandbox could not preload a module: preloading _ctypes loaded _ctypes, which runs may not " \
               "reach." in value
        assert "semcoder.execution.preload" in value


async def test_a_module_slow_to_import_gets_a_hint_about_preloading(tmp_path):
    (tmp_path / "heavy.py").write_text("import time\ntime.sleep(0.3)  # as numpy's import would\n")
    source = "import heavy\n\ndef double(x):\n    # semcoder: double(2)\n    return x * 2\n"
    hint = "_The module's own code took 0."
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "slow.py", source)
        value = await hover(client, uri, 2, 6)
        assert "returned `4`" in value and hint in value and "`semcoder.execution.preload`" in value
        replace_document(client, uri, source.replace("import heavy\n", ""), 2)
        value = await hover(client, uri, 1, 6)
        assert "returned `4`" in value and hint not in value


async def test_requests_before_initialize_get_server_not_initialized(tmp_path):
    async with running_server(tmp_path, initialize=False) as client:
        client.capabilities = types.ClientCapabilities()  # let pytest-lsp send it anyway
        with pytest.raises(Exception) as info:
            await asyncio.wait_for(client.protocol.send_request_async(types.TEXT_DOCUMENT_HOVER, types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=(tmp_path / "x.py").as_uri()),
                position=types.Position(line=0, character=0))), 20)
        assert getattr(info.value, "code", None) == -32002
        assert "send `initialize` before `textDocument/hover`" in str(info.value)
        # and the server is still up: initialize works afterwards
        result = await asyncio.wait_for(
            client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities())), 20)
        assert result.server_info.name == "semcoder-lsp"
        await asyncio.wait_for(client.shutdown_async(None), 20)
        client.exit(None)


async def test_syntax_error_binary_and_unknown_uris_get_clear_messages(tmp_path):
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        broken = tmp_path / "broken.py"
        uri = open_document(client, broken, "def f(x):\n    return (x +\n")
        value = await hover(client, uri, 0, 5)
        assert "syntax error at line" in value
        binary = tmp_path / "blob.py"
        uri = open_document(client, binary, "def f(x):\x00\x01\x02 return x\n")
        assert "binary data" in await hover(client, uri, 0, 5)
        latin = tmp_path / "latin1.py"
        latin.write_bytes("def f(x):\n    return 'caf\xe9'\n".encode("latin-1"))
        assert "not UTF-8" in await hover(client, latin.as_uri(), 0, 5)
        missing = (tmp_path / "missing.py").as_uri()
        assert "cannot read" in await hover(client, missing, 0, 5)
        with pytest.raises(Exception) as info:
            await request(client, "semcoder/trace", {"textDocument": {"uri": "untitled:Untitled-1"},
                                                      "position": {"line": 0, "character": 0}})
        assert "was not opened" in str(info.value)
        # still serving
        good = tmp_path / "good.py"
        uri = open_document(client, good, "def f(x):\n    return x + 1\n# semcoder: f(1)\n")
        assert "returned `2`" in await hover(client, uri, 0, 5)


async def test_20000_line_file_stays_responsive(tmp_path):
    lines = []
    for i in range(5000):
        lines += [f"def f{i}(x):", f"    y = x + {i}", "    return y", ""]
    lines.append("assert f4999(1) == 5000")
    text = "\n".join(lines) + "\n"
    assert text.count("\n") >= 20000
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "big.py", text)
        loop = asyncio.get_running_loop()
        start = loop.time()
        value = await hover(client, uri, len(lines) - 1, 9)
        elapsed = loop.time() - start
        assert "f4999(1)" in value and "returned `5000`" in value
        assert elapsed < 20
        hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=19990, character=0), end=types.Position(line=20000, character=0))))
        assert any("y = 5000" in h.label for h in hints)


async def test_sandbox_crash_is_reported_and_server_survives(tmp_path):
    # The traced process dies of a signal (a C-level crash the sandbox cannot turn into an
    # exception); the hover says so and the next run gets a fresh process.
    source = (
        "import faulthandler\n"
        "def boom(x):\n"
        "    faulthandler._sigsegv()\n"
        "    return x\n"
        "# semcoder: boom(1)\n"
        "def fine(x):\n"
        "    return x * 2\n"
        "# semcoder: fine(21)\n"
    )
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "crash.py", source)
        value = await hover(client, uri, 1, 5)
        assert "⚠ The sandbox crashed" in value and "SIGSEGV" in value
        assert "returned `42`" in await hover(client, uri, 5, 5)


def _frame(obj: dict) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _read_frame(stream) -> dict:
    length = 0
    while True:
        line = stream.readline()
        assert line, "connection closed"
        if line in (b"\r\n", b"\n"):
            break
        if line.lower().startswith(b"content-length"):
            length = int(line.split(b":")[1])
    return json.loads(stream.read(length))


def test_tcp_mode_and_log_file(tmp_path):
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_file = tmp_path / "server.log"
    proc = subprocess.Popen(SERVER_COMMAND[:3] + ["--tcp", f"127.0.0.1:{port}", "--log-file", str(log_file),
                                                  "--log-level", "info"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=server_env(tmp_path))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not listen"
                time.sleep(0.1)
        with conn, conn.makefile("rb") as stream:
            conn.sendall(_frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                 "params": {"capabilities": {}, "processId": None, "rootUri": None}}))
            reply = _read_frame(stream)
            assert reply["id"] == 1 and reply["result"]["serverInfo"]["name"] == "semcoder-lsp"
            assert reply["result"]["capabilities"]["hoverProvider"]
            conn.sendall(_frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": None}))
            assert _read_frame(stream)["id"] == 2
            conn.sendall(_frame({"jsonrpc": "2.0", "method": "exit", "params": None}))
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert out == b""  # TCP mode: nothing on stdout
    assert "semcoder_lsp" in log_file.read_text() or "pygls" in log_file.read_text()


def test_a_workspace_module_named_as_the_standard_library_s_does_not_break_the_server(tmp_path):
    """An editor starts `python -m semcoder_lsp` in the user's workspace, which Python puts
    first on sys.path: a `json.py` there was imported by the server itself (every message
    failed: "module 'json' has no attribute 'loads'")."""
    import sys

    for name in ("json", "re", "logging", "asyncio"):
        (tmp_path / f"{name}.py").write_text('raise ImportError("the workspace shadowed the standard library")\n')
    env = server_env(tmp_path)
    version = subprocess.run([sys.executable, "-m", "semcoder_lsp", "--version"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("semcoder-lsp "), version.stderr

    def framed(message: dict) -> bytes:
        body = json.dumps(message).encode()
        return b"Content-Length: %d\r\n\r\n" % len(body) + body

    session = (framed({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}}})
               + framed({"jsonrpc": "2.0", "method": "initialized", "params": {}})
               + framed({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
               + framed({"jsonrpc": "2.0", "method": "exit"}))
    run = subprocess.run([sys.executable, "-m", "semcoder_lsp"], cwd=tmp_path, env=env, input=session,
                         capture_output=True, timeout=60)
    replies = [json.loads(part.split(b"\r\n\r\n", 1)[1]) for part in run.stdout.split(b"Content-Length: ")[1:]]
    by_id = {reply.get("id"): reply for reply in replies if "id" in reply}
    assert "capabilities" in by_id[1]["result"] and by_id[2]["result"] is None, run.stderr.decode()[-2000:]
