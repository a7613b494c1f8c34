"""find_python: which interpreter runs the user's code; package_folders: where its
packages are installed (the server's memo of real traces keys on their times)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from semcoder_inference.errors import SettingsError
from semcoder_inference.tracer import find_python
from semcoder_inference.tracer.python_finder import package_folders


def _executable(path, text="#!/bin/sh\nexit 0\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_a_command_name_is_looked_up_on_path_not_in_the_workspace(tmp_path, monkeypatch):
    workspace = tmp_path / "ws"
    _executable(workspace / "python3")  # shipped by the workspace: must not be what "python3" means
    on_path = _executable(tmp_path / "bin" / "python3")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}/usr/bin")
    assert find_python(workspace, "python3") == str(on_path)


def test_a_command_name_not_on_path_is_a_clear_error(tmp_path, monkeypatch):
    workspace = tmp_path / "ws"
    _executable(workspace / "python3")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SettingsError, match=r"'python3' was not found on PATH"):
        find_python(workspace, "python3")


def test_relative_path_entries_of_path_are_not_searched(tmp_path, monkeypatch):
    """PATH=".:…" would find the workspace's file: an editor starts the server there."""
    workspace = tmp_path / "ws"
    _executable(workspace / "python3")
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("PATH", f".{os.pathsep}{os.pathsep}{tmp_path / 'empty'}")
    with pytest.raises(SettingsError, match="not found on PATH"):
        find_python(workspace, "python3")


def test_paths_are_as_before(tmp_path):
    workspace = tmp_path / "ws"
    venv_python = _executable(workspace / ".venv" / "bin" / "python")
    own = _executable(workspace / "python3")
    # relative to the workspace, with a separator
    assert find_python(workspace, ".venv/bin/python") == str(venv_python)
    assert find_python(workspace, "./python3") == str(own)
    assert find_python(workspace, sys.executable) == sys.executable
    with pytest.raises(SettingsError, match="does not exist or is not executable"):
        find_python(workspace, "nope/python")
    # empty: the workspace's virtual environment
    assert find_python(workspace, None) == str(venv_python)
    assert find_python(workspace, "") == str(venv_python)


def test_package_folders_of_a_virtual_environment(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python3*/site-packages"))
    folders = package_folders(venv / "bin" / "python")
    assert folders == [os.path.realpath(site)]
    # with the system's packages, the base interpreter's folders too
    config = venv / "pyvenv.cfg"
    config.write_text(config.read_text().replace("include-system-site-packages = false",
                                                 "include-system-site-packages = true"))
    with_system = package_folders(venv / "bin" / "python")
    assert with_system[0] == os.path.realpath(site)
    if os.path.isdir(_base_purelib()):
        assert _base_purelib() in with_system


def _base_purelib() -> str:
    import sysconfig

    return os.path.realpath(sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"])


def test_package_folders_of_a_base_interpreter():
    base = _base_purelib()
    python = os.path.join(sys.base_prefix, "bin", os.path.basename(sys.executable))
    if not os.path.exists(python):
        pytest.skip("no base interpreter at its prefix")
    if os.path.isdir(base):
        assert base in package_folders(python)
