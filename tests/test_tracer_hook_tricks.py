"""Tricks that get the run's own code, or native code of its choosing, past the audit hook
(a review found each): native code loaded from a memfd; the run's code running inside the
hook while it checks (a garbage collection's callbacks and finalizers, a `__class__`
property that isinstance() asks for), between the hook's check of a path and the kernel's
use of it; a socket of family -1 (an internet socket, made by default); and a path object
whose `__fspath__` the C code called before the event, which the hook skipped. Each is
checked with namespaces (where Linux allows them) and with the fallback that has only the
audit hook and rlimits, where a path swapped after the check reached the kernel. One known
gap (docs/sandbox.md) is checked as it stands: a trace function the hook lets see its lines
is held by the kernel layers alone."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import time
import uuid

import pytest

from semcoder_inference.tracer import Limits, Tracer

FAST = Limits(timeout_s=5.0, cpu_s=5, memory_mb=256, max_events=200, max_output_bytes=2000, max_return_repr=20000)


@pytest.fixture(scope="module", params=["auto", "audit"])
def tracer(request):
    with Tracer(limits=FAST, workers=1, isolation=request.param) as t:
        yield t


def _returned(trace):
    assert trace["status"] == "ok", (trace["status"], trace.get("message"))
    return ast.literal_eval(trace["return"]["repr"])


def test_the_hook_reads_no_global_or_builtin_and_has_no_closure():
    """Everything the hook and its helpers use is an argument default: a run can rebind
    a builtin (`builtins.str`, which an exact-type check would then compare against) or a
    module global, and rewrite a closure's cells through gc."""
    import dis

    from semcoder_inference.tracer import sandbox

    assert len(sandbox._OWN_CODE) == 13  # (with _located and _names_inside, review 27b)
    for code in sandbox._OWN_CODE:
        loads = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF")}
        assert loads == set() and code.co_freevars == (), (code.co_name, loads)


# --- 1. native code: only from an installed file ---------------------------------------

# A shared object whose constructor leaves a mark in the working folder (the run's): it ran.
NATIVE_SOURCE = r"""
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void mark(void) {
    int fd = open("native-code-ran", O_WRONLY | O_CREAT, 0600);
    if (fd >= 0) close(fd);
}
"""

LOAD_NATIVE = """import importlib.machinery, importlib.util, os

def load(path):
    loader = importlib.machinery.ExtensionFileLoader("planted", path)
    try:
        importlib.util.module_from_spec(importlib.util.spec_from_file_location("planted", path, loader=loader))
    except Exception as exc:
        return type(exc).__name__, str(exc), os.path.exists("native-code-ran")
    return "loaded", "", os.path.exists("native-code-ran")

def f(library, how):
    if how == "installed":  # a file the run cannot change
        return load(library)
    try:
        fd = os.memfd_create("planted")  # (no audit event exists for memfd_create)
    except PermissionError:  # the syscall filter refuses it: a descriptor on the file will do
        fd = os.open(library, os.O_RDONLY)
    else:
        with open(library, "rb") as fh:
            os.write(fd, fh.read())
    if how == "link to an installed file":  # which the run could point elsewhere once checked
        os.symlink(library, "planted.so")
        return load("planted.so")
    if how == "link to the memfd":
        os.symlink("/proc/self/fd/%d" % fd, "planted.so")
        return load(os.path.abspath("planted.so"))
    if how == "relative, from /proc/self/fd":
        os.chdir("/proc/self/fd")
        return load("./%d" % fd)
    if how == "/proc/<pid>/fd":
        return load("/proc/%s/fd/%d" % (os.readlink("/proc/self"), fd))
    if how == "the runs' folder":
        return load(os.path.dirname(os.getcwd()) + "/planted.so")
    return load(how % fd)
"""

REFUSED_ORIGINS = ["/proc/self/fd/%d", "/dev/fd/%d", "/proc/thread-self/fd/%d", "//proc/self/fd/%d",
                   "/proc/self/cwd/../../../proc/self/fd/%d", "/proc/<pid>/fd", "link to the memfd",
                   "relative, from /proc/self/fd", "link to an installed file", "the runs' folder"]


@pytest.fixture(scope="module")
def native_library(tmp_path_factory):
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler (cc) to build the shared object with")
    folder = tmp_path_factory.mktemp("native")
    (folder / "planted.c").write_text(NATIVE_SOURCE)
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(folder / "planted.so"), str(folder / "planted.c")],
                   check=True, capture_output=True)
    return str(folder / "planted.so")


def test_an_installed_extension_module_still_loads(tracer, native_library):
    # The control: the shared object loads (it has no init function, so the import then
    # fails) and its code runs, from a file outside every place a run can write.
    kind, message, ran = _returned(tracer.trace_call(LOAD_NATIVE, f"f({native_library!r}, 'installed')"))
    assert (kind, ran) == ("ImportError", True), message
    # and the interpreter's own extension modules import as ever
    source = ("import importlib.util, sys\ndef f():\n"
              "    for name in ('_lsprof', 'xxlimited', 'audioop', 'mmap', '_json', '_decimal'):\n"
              "        spec = importlib.util.find_spec(name)\n"
              "        if name not in sys.modules and spec and (spec.origin or '').endswith('.so'):\n"
              "            __import__(name)\n"
              "            return name\n")
    assert _returned(tracer.trace_call(source, "f()")) is not None


@pytest.mark.parametrize("how", REFUSED_ORIGINS)
def test_native_code_only_loads_from_an_installed_file(tracer, native_library, how):
    """A memfd has no path but /proc/self/fd/N (or /dev/fd/N, ...), which resolved to
    "/memfd:planted (deleted)": outside the run's folder, so the hook let native code of
    the run's choosing load from it, in every mode (the kernel guards hold writes, not
    what the run's own process runs). A link in the run's folder passes its folder."""
    kind, message, ran = _returned(tracer.trace_call(LOAD_NATIVE, f"f({native_library!r}, {how!r})"))
    assert kind == "PermissionError", (kind, message)
    assert message.startswith("the sandbox does not allow loading native code from "), message
    assert ran is False


# --- 2. no garbage collection inside the hook ------------------------------------------

# Each attack swaps the link `lnk` (to the folder `d`, inside) for one to OUTSIDE once the
# hook has followed it, from code of the run's that a collection inside the hook runs.
SWAP = """import gc, os, sys
OUTSIDE = %r
state = {"inside the hook": False}

def in_the_hook():
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_resolved" and frame.f_locals.get("target") == "d":
            return True
        frame = frame.f_back
    return False

def swap():
    if not state["inside the hook"] and in_the_hook():
        state["inside the hook"] = True
        os.remove("lnk")
        os.symlink(OUTSIDE, "lnk")
        return True
    return False
"""

GC_TRICKS = {
    "gc.callbacks": """
def callback(phase, info):
    if phase == "start":
        swap()

def arm():
    gc.callbacks.append(callback)
""",
    "a finalizer of cyclic garbage": """
class Cycle:
    def __init__(self):
        self.me = self
    def __del__(self):
        if not swap():
            Cycle()  # more garbage, for the next collection

def arm():
    Cycle()
""",
}


@pytest.mark.parametrize("trick", list(GC_TRICKS))
def test_no_garbage_collection_runs_the_run_s_code_inside_the_hook(tracer, tmp_path, trick):
    outside = tmp_path / "outside"
    outside.mkdir()
    source = (SWAP % str(outside)) + GC_TRICKS[trick] + """
def f():
    os.mkdir("d")
    os.symlink("d", "lnk")
    arm()
    gc.set_threshold(1, 1, 1)
    try:
        with open("lnk/escaped.txt", "w") as fh:
            fh.write("written outside")
    except OSError as exc:
        refused = type(exc).__name__
    else:
        refused = None
    finally:
        gc.set_threshold(700, 10, 10)
        gc.callbacks.clear()
    return state["inside the hook"], refused, gc.isenabled()
"""
    inside_the_hook, refused, collecting = _returned(tracer.trace_call(source, "f()"))
    assert list(outside.iterdir()) == []
    assert inside_the_hook is False
    assert refused is None  # (the link still named `d`: the file went there)
    assert collecting is True  # the hook gave the collector back as it found it


def test_the_hook_leaves_a_stopped_collector_stopped(tracer):
    source = ("import gc\ndef f():\n    gc.disable()\n    open('x.txt', 'w').close()\n    stopped = gc.isenabled()\n"
              "    gc.enable()\n    open('y.txt', 'w').close()\n    return stopped, gc.isenabled()\n")
    assert _returned(tracer.trace_call(source, "f()")) == (False, True)


# --- 3. no method of the run's called on its objects -----------------------------------

# isinstance(x, int) asks a non-int for its __class__: a property of a str subclass ran
# the run's code after the hook had checked os.link's or os.rename's first path.
CLASS_TRICK = """import os
OUTSIDE = %r

class Swap(str):
    armed = True
    @property
    def __class__(self):
        if Swap.armed:
            Swap.armed = False
            os.remove("lnk")
            os.symlink(OUTSIDE, "lnk")  # lnk now names the outside folder
        return str

def f(how):
    os.mkdir("d")
    os.symlink("d", "lnk")  # at the hook's check: lnk -> d, inside
    try:
        if how == "link":
            os.link("lnk/victim.txt", Swap("hl"))
            with open("hl", "a") as fh:  # "hl" is inside; the same file as the victim
                fh.write("changed by the run")
        else:
            os.rename("lnk/victim.txt", Swap("stolen"))
    except OSError as exc:
        return type(exc).__name__
    return "done"
"""

# An object that says it is an int (its __class__) and gives the C code one descriptor and
# the hook, asked again, another.
INDEX_TRICK = """import os

class Descriptor:
    calls = 0
    def __init__(self, outside, inside):
        self.outside, self.inside = outside, inside
    @property
    def __class__(self):
        return int
    def __index__(self):
        Descriptor.calls += 1
        return self.outside if Descriptor.calls == 1 else self.inside

def f(victim):
    outside = os.open(victim, os.O_RDONLY)
    inside = os.open("mine.txt", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.chmod(Descriptor(outside, inside), 0o666)
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return "done", ""
"""


@pytest.mark.parametrize("how", ["link", "rename"])
def test_a_class_property_never_runs_inside_the_hook(tracer, tmp_path, how):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("mine")
    got = _returned(tracer.trace_call(CLASS_TRICK % str(outside), f"f({how!r})"))
    assert got == "FileNotFoundError"  # the kernel looked in d, which holds no victim.txt
    assert victim.read_text() == "mine" and victim.stat().st_nlink == 1
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]


def test_an_object_that_claims_to_be_a_descriptor_is_not_asked_again(tracer, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    victim.chmod(0o600)
    kind, message = _returned(tracer.trace_call(INDEX_TRICK, f"f({str(victim)!r})"))
    assert victim.stat().st_mode & 0o777 == 0o600
    assert kind == "PermissionError", message
    assert message == ("the sandbox does not allow changing files outside its temporary working directory "
                       "(a path object: pass str(path))")


def test_str_and_bytes_subclasses_are_read_as_their_plain_value(tracer, tmp_path):
    """Their data is what the kernel gets: the hook copies it without asking them (their
    own decode, __getitem__, __str__, __fspath__ are never called)."""
    target = tmp_path / f"escape-{uuid.uuid4().hex}.txt"
    source = ("import os\nasked = []\n"
              "class Text(str):\n"
              "    def __str__(self): asked.append('__str__'); return 'inside.txt'\n"
              "    def __fspath__(self): asked.append('__fspath__'); return 'inside.txt'\n"
              "    def __getitem__(self, i): asked.append('__getitem__'); return 'i'\n"
              "    def __len__(self): asked.append('__len__'); return 0\n"
              "class Raw(bytes):\n"
              "    def decode(self, *a): asked.append('decode'); return 'inside.txt'\n"
              "    def __getitem__(self, i): asked.append('__getitem__'); return b'i'\n"
              "    def __bytes__(self): asked.append('__bytes__'); return b'inside.txt'\n"
              "def f(target):\n    got = []\n"
              "    for path in (Text(target), Raw(target.encode())):\n"
              "        try:\n            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))\n"
              "            got.append('written')\n"
              "        except PermissionError as exc:\n            got.append(str(exc))\n"
              "    os.close(os.open(Text('fine.txt'), os.O_WRONLY | os.O_CREAT, 0o600))\n"
              "    return got, asked, os.path.exists('fine.txt')\n")
    got, asked, fine = _returned(tracer.trace_call(source, f"f({str(target)!r})"))
    assert not target.exists()
    assert got == ["the sandbox does not allow writing outside its temporary working directory (%s)" % target] * 2
    assert asked == [] and fine is True


# --- not covered: a trace function on the hook's lines ----------------------------------

# The interpreter lets trace and profile functions see an audit hook's own lines where the
# hook object has a true `__cantrace__`. A run can set that on the hook (a function it finds
# through gc), or, whatever the hook object is, on its type (gc.get_referents of the type's
# __dict__, then sys._clear_type_cache()): a trace function can then rewrite the hook's
# locals as its call starts (its folder made "/"). No Python-level registration keeps it
# out; it needs an audit hook in C (docs/sandbox.md, "Not covered"). Without namespaces and
# Landlock a run so writes anywhere; with them the kernel still refuses.

CANTRACE = """import gc, os, sys
OUTSIDE = %r
state = {"saw the hook": False}

def local(frame, event, arg):
    if event == "line" and not state["saw the hook"] and frame.f_locals.get("target") == "d":
        state["saw the hook"] = True
        os.remove("lnk")
        os.symlink(OUTSIDE, "lnk")
    return local

def trace(frame, event, arg):
    if frame.f_code.co_filename.endswith("sandbox.py"):
        state["saw the hook"] = state["saw the hook"] or frame.f_code.co_name != "_resolved"
        return local
    return None

def f():
    os.mkdir("d")
    os.symlink("d", "lnk")
    gc.unfreeze()
    marked = 0
    for o in gc.get_objects():
        if type(o).__name__ == "function" and o.__code__.co_filename.endswith("sandbox.py"):
            o.__cantrace__ = True  # the interpreter then traces the hook's lines
            marked += 1
    sys.settrace(trace)
    try:
        open("lnk/escaped.txt", "w").close()
    finally:
        sys.settrace(None)
    return marked > 0, state["saw the hook"]
"""


def test_a_trace_function_that_sees_the_hook_s_lines_is_held_by_the_kernel_alone(tracer, tmp_path):
    """The known gap (docs/sandbox.md, "Not covered"): a hook given a true __cantrace__ is
    traced, and a trace function can switch a link while the hook checks it. Only the
    kernel layers hold then: with them nothing is written outside. (In audit mode the write
    may go through, depending on where the switch lands.) Should the hook stop being traced,
    `saw_the_hook` turns false here, and the doc must change with it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    marked, saw_the_hook = _returned(tracer.trace_call(CANTRACE % str(outside), "f()"))
    assert marked is True and saw_the_hook is True
    if tracer.isolation_info["namespaces"] or tracer.isolation_info.get("landlock"):
        assert list(outside.iterdir()) == []


# --- 4. sockets: Unix ones only ----------------------------------------------------------

SOCKETS = """import _socket, os, socket

def attempt(make):
    try:
        s = make()
    except OSError as exc:
        return type(exc).__name__ + ": " + str(exc)
    try:
        s.listen(1)  # an internet socket would be bound to a free port, on every interface
        return "listening on %r" % (s.getsockname(),)
    except OSError:
        return "made"
    finally:
        s.close()

def f():
    got = {}
    pair = socket.socketpair()
    got["_socket.socket()"] = attempt(lambda: _socket.socket())
    got["_socket.socket(type=SOCK_DGRAM)"] = attempt(lambda: _socket.socket(type=socket.SOCK_DGRAM))
    got["socket.socket()"] = attempt(lambda: socket.socket())
    got["netlink"] = attempt(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
    got["fileno without a family"] = attempt(lambda: socket.socket(fileno=os.dup(pair[0].fileno())))
    # what the socket module does with Unix sockets still works
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.close()
    copy = socket.fromfd(pair[0].fileno(), socket.AF_UNIX, socket.SOCK_STREAM)
    again = pair[1].dup()
    copy.sendall(b"ping")
    got["a pair, fromfd and dup"] = again.recv(4).decode()
    return got
"""


def test_only_unix_sockets_can_be_made(tracer):
    got = _returned(tracer.trace_call(SOCKETS, "f()"))
    refused = "PermissionError: the sandbox does not allow network access"
    assert got == {"_socket.socket()": refused, "_socket.socket(type=SOCK_DGRAM)": refused,
                   "socket.socket()": refused, "netlink": refused, "fileno without a family": refused,
                   "a pair, fromfd and dup": "ping"}


# --- 5. path objects: refused where the event holds one, pathlib works -------------------

PATH_OBJECTS = """import io, os, pathlib

class Path:
    def __init__(self, path):
        self.path = path
    def __fspath__(self):
        return self.path

def f(pid, readable):
    got = {}
    for name, make in (("a path object", Path), ("pathlib.Path", pathlib.Path)):
        for what in ("/proc/%d/cmdline" % pid, readable):
            try:
                with io.FileIO(make(what)) as fh:
                    got[name, what] = fh.read()[:20].decode()
            except Exception as exc:
                got[name, what] = type(exc).__name__ + ": " + str(exc)
        try:
            io.FileIO(make("inside.txt"), "w").close()
            got[name, "write"] = "written"
        except Exception as exc:
            got[name, "write"] = type(exc).__name__ + ": " + str(exc)
    # builtin open converts first: its event holds the str
    with open(Path("plain.txt"), "w") as fh:
        fh.write("ok")
    got["open"] = open(Path("plain.txt")).read()
    return got
"""


def test_a_path_object_that_the_event_holds_is_refused_for_reading_too(tracer, tmp_path):
    """io.FileIO called the path object's __fspath__ before its event and handed the event
    the object: the hook skipped it, so another process's /proc entries were read in the
    audit-only mode. Asking it again could give another path; it is refused."""
    readable = tmp_path / "readable.txt"
    readable.write_text("readable")
    got = _returned(tracer.trace_call(PATH_OBJECTS, f"f({os.getpid()}, {str(readable)!r})"))
    reading = ("PermissionError: the sandbox does not allow opening a path object that is not a str or bytes: "
               "pass a str path (os.fspath(path))")
    writing = ("PermissionError: the sandbox does not allow writing outside its temporary working directory "
               "(a path object: pass str(path))")
    for name in ("a path object", "pathlib.Path"):
        assert got[name, "/proc/%d/cmdline" % os.getpid()] == reading
        assert got[name, str(readable)] == reading
        assert got[name, "write"] == writing
    assert got["open"] == "ok"


PATHLIB = """import os, pathlib, shutil
from pathlib import Path

def f(readable, outside):
    here = Path("work")
    (here / "a" / "b").mkdir(parents=True)
    (here / "a" / "b" / "x.txt").write_text("x")
    (here / "y.bin").write_bytes(b"y")
    with (here / "z.txt").open("w") as fh:
        fh.write("z")
    (here / "t").touch()
    (here / "t").unlink()
    (here / "z.txt").rename(here / "z2.txt")
    (here / "z2.txt").replace(here / "z3.txt")
    (here / "link").symlink_to("z3.txt")
    (here / "y.bin").chmod(0o600)
    shutil.copy(here / "y.bin", here / "copy.bin")
    shutil.copytree(here / "a", Path("tree"))
    shutil.move(Path("tree"), here / "moved")
    shutil.rmtree(here / "moved")
    listed = sorted(p.name for p in here.iterdir())
    globbed = sorted(str(p) for p in here.glob("**/*.txt"))
    read = Path(readable).read_text(), (here / "link").read_text(), os.listdir(Path(".")) != []
    try:
        shutil.rmtree(Path(outside))
        removed = "removed"
    except OSError as exc:
        removed = type(exc).__name__
    return listed, globbed, read, removed
"""


def test_pathlib_and_shutil_with_path_objects_still_work_in_the_run_s_folder(tracer, tmp_path):
    """os.*, builtin open and pathlib hand their events a str (shutil.rmtree's own event,
    raised by Python code before its os calls, keeps the object: it was refused until a
    path object there was left to those calls' events)."""
    readable = tmp_path / "readable.txt"
    readable.write_text("readable")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    listed, globbed, read, removed = _returned(
        tracer.trace_call(PATHLIB, f"f({str(readable)!r}, {str(outside)!r})"))
    assert listed == ["a", "copy.bin", "link", "y.bin", "z3.txt"]
    assert globbed == ["work/a/b/x.txt", "work/z3.txt"]
    assert read == ("readable", "z", True)
    assert removed == "PermissionError"
    assert (outside / "keep.txt").read_text() == "keep"


# --- 6. fifth review: the run's own hook, finalizing, code-loading variables, lookups ------

OWN_HOOK = """import sys
seen = []

def f():
    sys.addaudithook(lambda event, args: seen.append(event))
    open("mine.txt", "w").close()  # an event the run's hook would see, were it added
    return len(seen)
"""


def test_a_run_cannot_add_an_audit_hook_of_its_own(tracer):
    """A hook of the run's runs after the sandbox's, between its check and the kernel's use
    of what it checked (it switched a link there and wrote outside). It is not added."""
    assert _returned(tracer.trace_call(OWN_HOOK, "f()")) == 0


FINALIZING = """import os, sys

def f(target):
    class Mine:
        def __call__(self):
            pass

        def __del__(self, os_open=os.open, os_write=os.write,
                    flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC, target=target):
            fd = os_open(target, flags, 0o644)
            os_write(fd, b"written after the audit hooks were gone")
    # freed as the interpreter state is cleared, after its audit hooks
    os.register_at_fork(before=Mine())
    # the run's exit calls made no-ops: the child falls back into the zygote's code, which
    # fails and ends the interpreter the ordinary way
    sys.modules["_semcoder_tracer.child"]._os_exit = lambda *a: None
    os._exit = lambda *a: None
    return "patched"
"""


def test_a_run_that_makes_its_process_finalize_ends_before_its_hooks_are_gone(tracer, tmp_path):
    target = tmp_path / "outside.txt"
    trace = tracer.trace_call(FINALIZING, f"f({str(target)!r})")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "'patched'"
    time.sleep(0.5)  # (the child's end comes after its result)
    assert not target.exists()
    assert _returned(tracer.trace_call("def g():\n    return 2\n", "g()")) == 2


CODE_LOADING = """import os

def f():
    out = {}
    for name in ("OPENSSL_CONF", "OPENSSL_MODULES", "GCONV_PATH", "LD_PRELOAD"):
        try:
            os.environ[name] = os.path.abspath("planted")
            out[name] = "set"
        except PermissionError as exc:
            out[name] = str(exc)
    os.environ["MY_SETTING"] = "1"  # any other variable: as Python allows
    out["MY_SETTING"] = os.environ["MY_SETTING"]
    return out
"""


def test_variables_that_make_a_library_load_code_cannot_be_set(tracer):
    """OPENSSL_CONF named a provider module of the run's own, which hashlib's first use
    loaded: native code with no import event."""
    got = _returned(tracer.trace_call(CODE_LOADING, "f()"))
    assert got["MY_SETTING"] == "1"
    for name in ("OPENSSL_CONF", "OPENSSL_MODULES", "GCONV_PATH", "LD_PRELOAD"):
        assert got[name] == f"the sandbox does not allow setting {name} (it makes a library load code)"


LOOKUPS = """import socket

def f():
    out = []
    for ask in (lambda: socket.gethostbyaddr("secret-data.example.com"),
                lambda: socket.getnameinfo(("127.0.0.1", 80), 0)):
        try:
            ask()
            out.append("asked")
        except PermissionError as exc:
            out.append(str(exc))
    return out
"""


def test_name_lookups_that_query_the_network_are_refused(tracer):
    """gethostbyaddr resolves a name it is given: a DNS query carries what it asks about."""
    assert _returned(tracer.trace_call(LOOKUPS, "f()")) == ["the sandbox does not allow network access"] * 2


DEEP_FRAME = """import gc, os, struct

def f():
    state = next(o for o in gc.get_objects() if type(o).__name__ == "RunState")
    body = b"[" * 200000  # nesting json.loads refuses with RecursionError, not ValueError
    os.write(state.result_fd, struct.pack(">I", len(body)) + body)
    os._exit(0)
"""


def test_a_frame_nested_past_the_parser_is_garbage_like_any_other(tracer):
    trace = tracer.trace_call(DEEP_FRAME, "f()")
    assert trace["status"] == "crashed" and "broke its sandbox worker" in trace["message"]
    assert _returned(tracer.trace_call("def g():\n    return 2\n", "g()")) == 2
