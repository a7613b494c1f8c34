"""The sandbox runs under the user's interpreter: a package installed only in the
workspace's own virtual environment resolves in the real trace."""

from __future__ import annotations

import subprocess
import sys

from lsp_helpers import EXEC_ON, hover, line_of, open_document, running_server


def _workspace_with_private_package(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    # A real venv (without pip, it takes a second) holding a module nothing else has.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], check=True, timeout=120)
    site = next((root / ".venv" / "lib").glob("python3*/site-packages"))
    (site / "only_in_workspace_venv.py").write_text("def magic():\n    return 4242\n")
    source = (
        "import only_in_workspace_venv\n"
        "\n"
        "def f(x):\n"
        "    y = x + only_in_workspace_venv.magic()\n"
        "    return y\n"
        "\n"
        "assert f(1) == 4243\n"
    )
    (root / "uses_venv.py").write_text(source)
    return root, source


async def test_real_trace_uses_the_workspace_virtual_environment(tmp_path):
    root, source = _workspace_with_private_package(tmp_path)
    async with running_server(tmp_path, init_options=EXEC_ON, root=root) as client:
        uri = open_document(client, root / "uses_venv.py")
        line = line_of(source, "assert f(1)")
        value = await hover(client, uri, line, source.splitlines()[line].index("f(1)") + 1)
        assert value is not None
        assert "returned `4243`" in value, value
        assert "ModuleNotFoundError" not in value


async def test_configured_interpreter_that_does_not_exist_is_explained(tmp_path):
    root, source = _workspace_with_private_package(tmp_path)
    settings = {"execution": {"enabled": True, "python": str(tmp_path / "no" / "python")}}
    async with running_server(tmp_path, init_options=settings, root=root) as client:
        uri = open_document(client, root / "uses_venv.py")
        line = line_of(source, "assert f(1)")
        value = await hover(client, uri, line, source.splitlines()[line].index("f(1)") + 1)
        assert value is not None
        assert "does not exist or is not executable" in value, value
