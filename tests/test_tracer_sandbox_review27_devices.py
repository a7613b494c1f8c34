"""Device files (review 27): as root, a run opened /dev/loop-control and a loop device for
reading, which the hook allowed (reading is allowed), and with ioctls it did not know
(LOOP_CTL_ADD, LOOP_SET_FD) made a device node outside its folder and attached a file of
its own to a loop device, where it outlived the run and a later run read it back, in the
audit-only mode and with namespaces alike. The hook now refuses opening any character or
block device but /dev/null, /dev/zero, /dev/full, /dev/random and /dev/urandom, however the
path is spelt, making device nodes, and the ioctls of loop devices, uinput/usbdevfs and
TIOCSTI/TIOCLINUX; the syscall filter refuses those ioctls to native code too.

Nothing here may leave a loop device behind (`losetup -a` stays empty): the open is refused
first, and the test detaches whatever a run of older code attached."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys

import pytest

from semcoder_inference.tracer import Limits, Tracer

LIMITS = Limits(timeout_s=5, cpu_s=5)
REFUSED_OPEN = "the sandbox does not allow opening device files"
REFUSED_IOCTL = "the sandbox does not allow driving devices through ioctl"


@pytest.fixture(scope="module", params=["auto", "audit"])
def tracer(request):
    with Tracer(limits=LIMITS, workers=1, isolation=request.param) as t:
        yield t


def _a_device():
    """A device file that exists here and is not on the allow-list."""
    for path in ("/dev/loop-control", "/dev/loop0", "/dev/ptmx", "/dev/tty", "/dev/console"):
        if os.path.exists(path):
            return path
    pytest.skip("no device file to try")


def test_opening_a_device_is_refused_however_spelt(tracer):
    device = _a_device()
    source = ("import os\ndef f(path):\n    out = []\n"
              "    os.symlink(path, 'link')\n"
              "    for how in (lambda: os.open(path, os.O_RDONLY), lambda: open(path, 'rb'),\n"
              "                lambda: os.open('link', os.O_RDONLY), lambda: open('/dev/../' + path, 'rb'),\n"
              "                lambda: os.open(os.path.basename(path), os.O_RDONLY,\n"
              "                                dir_fd=os.open(os.path.dirname(path), os.O_RDONLY))):\n"
              "        try:\n            how()\n            out.append('opened')\n"
              "        except OSError as e:\n            out.append(str(e))\n    return out\n")
    trace = tracer.trace_call(source, f"f({device!r})")
    assert trace["status"] == "ok", trace
    outcomes = eval(trace["return"]["repr"])
    assert all(o.startswith(REFUSED_OPEN) for o in outcomes), outcomes


def test_the_harmless_devices_still_open(tracer):
    source = ("import os\ndef f():\n    with open('/dev/null', 'w') as fh:\n        fh.write('x')\n"
              "    with open('/dev/zero', 'rb') as fh:\n        zero = fh.read(2)\n"
              "    with open('/dev/urandom', 'rb') as fh:\n        n = len(fh.read(4))\n"
              "    return zero, n, os.path.exists('/dev/stdout')\n")
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok", trace
    assert trace["return"]["repr"] == "(b'\\x00\\x00', 4, True)"


def test_device_ioctls_are_refused(tracer):
    # fd 0 is /dev/null: the kernel would answer ENOTTY; the hook refuses first
    source = ("import fcntl\ndef f():\n    out = []\n"
              "    for request, arg in ((0x4C82, 0), (0x4C80, 201), (0x4C00, 0), (0x4C82 - 2 ** 32, 0),\n"
              "                         (0x5412, b'x'), (0x5501, 0), (0xC0185500, 0)):\n"
              "        try:\n            fcntl.ioctl(0, request, arg)\n            out.append('allowed')\n"
              "        except OSError as e:\n            out.append(str(e))\n    return out\n")
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok", trace
    outcomes = eval(trace["return"]["repr"])
    assert outcomes == [REFUSED_IOCTL] * 7, outcomes
    # an ordinary ioctl still reaches the kernel
    ordinary = tracer.trace_call("import fcntl, termios\ndef f():\n    try:\n"
                                 "        fcntl.ioctl(0, termios.TCGETS, bytes(64))\n    except OSError as e:\n"
                                 "        return e.errno\n", "f()")
    assert ordinary["status"] == "ok" and ordinary["return"]["repr"] == "25", ordinary  # ENOTTY


def test_device_nodes_cannot_be_made(tracer, tmp_path):
    source = ("import os, stat\ndef f():\n"
              "    os.mknod('null', stat.S_IFCHR | 0o600, os.makedev(1, 3))\n")
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "exception", trace
    assert trace["exception"]["message"] == "the sandbox does not allow making device files"
    # Python raises no audit event for os.mkfifo and os.mknod (3.11): a run made them
    # anywhere the user may write, in the audit-only mode
    outside = tmp_path / "made-by-a-run"
    for how in ("os.mkfifo(path)", "os.mknod(path, stat.S_IFIFO | 0o600)"):
        made = tracer.trace_call(f"import os, stat\ndef f(path):\n    {how}\n", f"f({str(outside)!r})")
        assert made["status"] == "exception", made
        assert made["exception"]["message"].startswith("the sandbox does not allow changing files outside"), made
        assert not os.path.lexists(outside)
    fifo = tracer.trace_call("import os, stat\ndef f():\n    os.mknod('p', stat.S_IFIFO | 0o600)\n"
                             "    return stat.S_ISFIFO(os.stat('p').st_mode)\n", "f()")
    assert fifo["status"] == "ok" and fifo["return"]["repr"] == "True", fifo


LOOP_WRITER = r'''
def f():
    import os, fcntl
    ctl = os.open("/dev/loop-control", os.O_RDONLY)
    free = fcntl.ioctl(ctl, 0x4C82)                       # LOOP_CTL_GET_FREE
    added = fcntl.ioctl(ctl, 0x4C80, 227)                 # LOOP_CTL_ADD: a new /dev/loop227
    with open("note", "wb") as fh:
        fh.write(b"left by run 1" + b"\0" * 4096)
    back = os.open("note", os.O_RDWR)
    dev = os.open("/dev/loop%d" % free, os.O_RDONLY)
    fcntl.ioctl(dev, 0x4C00, back)                        # LOOP_SET_FD
    return "attached /dev/loop%d" % free
'''


def _detach(trace):
    """What a run of older code attached or added, undone outside the sandbox."""
    text = (trace.get("return") or {}).get("repr", "")
    if "attached /dev/loop" in text:
        n = int(text.split("/dev/loop")[1].strip("'\""))
        try:
            fd = os.open("/dev/loop%d" % n, os.O_RDONLY)
            fcntl.ioctl(fd, 0x4C01)  # LOOP_CLR_FD
            os.close(fd)
        except OSError:
            pass
    if os.path.exists("/dev/loop227"):
        try:
            ctl = os.open("/dev/loop-control", os.O_RDONLY)
            fcntl.ioctl(ctl, 0x4C81, 227)  # LOOP_CTL_REMOVE
            os.close(ctl)
        except OSError:
            pass


def test_a_run_keeps_no_loop_device(tracer):
    if not os.path.exists("/dev/loop-control"):
        pytest.skip("no /dev/loop-control here (the open by path is checked above)")
    trace = {}
    try:
        trace = tracer.trace_call(LOOP_WRITER, "f()")
        assert trace["status"] == "exception", trace
        assert trace["exception"]["message"] == REFUSED_OPEN + " (/dev/loop-control)"
        assert not os.path.exists("/dev/loop227")
    finally:
        _detach(trace)


FILTER_PROBE = r"""
import errno, fcntl, json, os, termios
from semcoder_inference.tracer.syscall_filter import lock_down
exec_fd, why = lock_down()
assert why is None, why
r, w = os.pipe()
null = os.open("/dev/null", os.O_RDONLY)


def outcome(action):
    try:
        action()
        return "allowed"
    except OSError as exc:
        return errno.errorcode[exc.errno]


print(json.dumps({
    "LOOP_CTL_GET_FREE": outcome(lambda: fcntl.ioctl(null, 0x4C82)),
    "LOOP_SET_FD": outcome(lambda: fcntl.ioctl(null, 0x4C00, r)),
    "LOOP_CONFIGURE": outcome(lambda: fcntl.ioctl(null, 0x4C0A, bytes(400))),
    "UI_DEV_CREATE": outcome(lambda: fcntl.ioctl(null, 0x5501)),
    "TIOCSTI": outcome(lambda: fcntl.ioctl(null, 0x5412, b"x")),
    "TCGETS": outcome(lambda: fcntl.ioctl(null, termios.TCGETS, bytes(64))),
    "FIONREAD": outcome(lambda: fcntl.ioctl(r, termios.FIONREAD, bytes(4))),
}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.uname().machine != "x86_64",
                    reason="the syscall filter is x86-64 Linux's")
def test_the_syscall_filter_refuses_device_ioctls_to_native_code():
    # In a process of its own, with no audit hook: what the kernel alone refuses.
    done = subprocess.run([sys.executable, "-c", FILTER_PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    for name in ("LOOP_CTL_GET_FREE", "LOOP_SET_FD", "LOOP_CONFIGURE", "UI_DEV_CREATE", "TIOCSTI"):
        assert got[name] == "EPERM", (name, got)
    assert got["TCGETS"] == "ENOTTY" and got["FIONREAD"] == "allowed", got
