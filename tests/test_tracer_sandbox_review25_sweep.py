"""Removing runs' folders (review 25): a zygote's sweep removed any
semcoder-sandbox-<dead pid>-* folder of the temporary folder, whoever owned it; and
remove_tree, giving a folder it could not enter its permissions back, followed a link put in
that folder's place since it was listed (chmod follows links), changing the mode of
whatever the link named. The sweep now leaves other users' folders alone, and the mode is
changed without following links."""

from __future__ import annotations

import os
import stat

import pytest

from semcoder_inference.tracer import runtime, sandbox

DEAD_PID = 2 ** 30  # past any pid_max: never a live process


def test_the_sweep_removes_stale_folders_of_this_user_only(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("making a folder of another user needs root")
    mine = tmp_path / f"{runtime.RUN_ROOT_PREFIX}{DEAD_PID}-mine"
    theirs = tmp_path / f"{runtime.RUN_ROOT_PREFIX}{DEAD_PID}-theirs"
    alive = tmp_path / f"{runtime.RUN_ROOT_PREFIX}{os.getpid()}-alive"
    for folder in (mine, theirs, alive):
        folder.mkdir()
        (folder / "run").mkdir()
        (folder / "run" / "left.txt").write_text("x")
    os.chown(theirs, 54321, 54321)
    runtime.sweep_stale_run_roots(str(tmp_path))
    assert not mine.exists()
    assert (theirs / "run" / "left.txt").read_text() == "x"  # another user's: left alone
    assert (alive / "run" / "left.txt").read_text() == "x"  # its zygote is alive


def test_a_link_put_in_a_folders_place_does_not_get_its_mode(tmp_path, monkeypatch):
    """The walk finds `locked` a folder it may not enter (as a run leaves one); as it tries,
    a link to a folder outside takes its place. The folder outside keeps its mode."""
    outside = tmp_path / "outside"
    outside.mkdir()
    os.chmod(outside, 0o755)
    root = tmp_path / "root"
    (root / "locked").mkdir(parents=True)
    real_open = os.open
    swapped = []

    def open_then_swap(path, flags, mode=0o777, *, dir_fd=None):
        if path == "locked" and dir_fd is not None and not swapped:
            # (root needs no permission to enter a folder: the walk is told it does)
            os.rename("locked", "moved", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            os.symlink(str(outside), "locked", dir_fd=dir_fd)
            swapped.append(True)
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", open_then_swap)
    sandbox.remove_tree(str(root))
    monkeypatch.undo()
    assert swapped
    assert stat.S_IMODE(os.stat(outside).st_mode) == 0o755
    assert outside.is_dir()


def test_a_folder_without_permissions_is_given_them_back_and_removed(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f.txt").write_text("x")
    os.chmod(root / "a", 0)
    real_open = os.open
    refused = []

    def open_as_a_user(path, flags, mode=0o777, *, dir_fd=None):
        if path == "a" and dir_fd is not None and not refused:
            refused.append(True)  # (root may enter it anyway: the walk is told it may not)
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, mode, dir_fd=dir_fd)

    own_folder = sandbox._own_folder
    modes = []

    def own_and_note(name, fd):
        own_folder(name, fd)
        modes.append(stat.S_IMODE(os.stat(name, dir_fd=fd).st_mode))

    monkeypatch.setattr(os, "open", open_as_a_user)
    monkeypatch.setattr(sandbox, "_own_folder", own_and_note)
    sandbox.remove_tree(str(root))
    monkeypatch.undo()
    assert refused and modes == [0o700]
    assert not root.exists()


def test_own_folder_refuses_a_link(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.chmod(outside, 0o755)
    (tmp_path / "root").mkdir()
    os.symlink(str(outside), tmp_path / "root" / "link")
    fd = os.open(tmp_path / "root", os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError):
            sandbox._own_folder("link", fd)
    finally:
        os.close(fd)
    assert stat.S_IMODE(os.stat(outside).st_mode) == 0o755
