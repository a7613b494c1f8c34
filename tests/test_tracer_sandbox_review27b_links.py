"""Links to /dev/null (review 27b). The hook took any path that, resolved, led to /dev/null
for "inside": so a run removed, or renamed a file of its own over, a link outside its folder
that names /dev/null (a systemd-masked unit is one; so is /dev/stdout in a run, through
/proc/self/fd/1), and chmodded or chowned the machine's /dev/null itself, in the audit-only
mode. Renamed so, a shared object of the run's then loaded as an extension module: native
code past the hook. Now /dev/null is acceptable only as what an open writes to; a call that
acts on an entry itself (remove, rename, link, mkdir, ...) is judged by where the entry
lies (its folder resolved, its last part not), and one that may follow it (chmod, chown,
utime, ...) by that and by what it leads to; and no extension module loads whose file was
made or changed since the sandbox started.

The tests make their own links under tmp_path; nothing here changes the machine's
/dev/null (its mode is what the run asks for, and is put back if a run changed it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time

import pytest

from semcoder_inference.tracer import Limits, Tracer

LIMITS = Limits(timeout_s=10, cpu_s=10)
REFUSED = "the sandbox does not allow changing files outside its temporary working directory"


@pytest.fixture(scope="module", params=["auto", "audit"])
def tracer(request):
    with Tracer(limits=LIMITS, workers=1, isolation=request.param) as t:
        yield t


@pytest.fixture
def devnull_mode():
    mode = os.stat("/dev/null").st_mode & 0o7777
    yield mode
    if os.stat("/dev/null").st_mode & 0o7777 != mode:  # (only where a run of older code changed it)
        os.chmod("/dev/null", mode)


def _outcomes(tracer, source, call):
    trace = tracer.trace_call(source, call)
    assert trace["status"] == "ok", trace
    return eval(trace["return"]["repr"])


TRIES = '''
import os
def f(tries):
    out = {}
    for name, call in tries:
        try:
            call()
            out[name] = "done"
        except PermissionError as e:
            out[name] = str(e)
        except OSError as e:
            out[name] = "kernel: %s" % e.strerror
    return out
'''


def test_links_to_dev_null_outside_are_not_inside(tracer, tmp_path, devnull_mode):
    for name in ("masked.service", "removed.service", "renamed.service", "lchowned", "utimed", "linked"):
        os.symlink("/dev/null", tmp_path / name)
    os.symlink("/proc/self/fd/1", tmp_path / "stdout_like")  # (in a run: its fd 1, /dev/null)
    os.symlink(tmp_path / "stdout_like", tmp_path / "chain")
    source = TRIES + '''
def g(t, mode):
    open("mine", "w").write("[Service]\\n")
    return f([
        ("rename over", lambda: os.rename("mine", t + "/masked.service")),
        ("replace over", lambda: os.replace("mine", t + "/renamed.service")),
        ("rename from", lambda: os.rename(t + "/renamed.service", "taken")),
        ("remove", lambda: os.remove(t + "/removed.service")),
        ("unlink chain", lambda: os.unlink(t + "/chain")),
        ("unlink stdout-like", lambda: os.unlink(t + "/stdout_like")),
        ("lchown", lambda: os.lchown(t + "/lchowned", -1, -1)),
        ("utime of the link", lambda: os.utime(t + "/utimed", follow_symlinks=False)),
        ("link onto", lambda: os.link("mine", t + "/linked")),
        ("link from", lambda: os.link(t + "/linked", "hard", follow_symlinks=False)),
        ("symlink onto", lambda: os.symlink("mine", t + "/masked.service")),
        ("mkdir onto", lambda: os.mkdir(t + "/masked.service")),
        ("chmod /dev/null", lambda: os.chmod("/dev/null", mode)),
        ("chmod through a link", lambda: os.chmod(t + "/masked.service", mode)),
        ("fchmod fd 0", lambda: os.chmod(0, mode)),
        ("chown /dev/null", lambda: os.chown("/dev/null", -1, -1)),
        ("utime /dev/null", lambda: os.utime("/dev/stdout")),
        ("truncate /dev/null", lambda: os.truncate("/dev/null", 0)),
    ])
'''
    out = _outcomes(tracer, source, f"g({str(tmp_path)!r}, {devnull_mode})")
    assert len(out) == 18 and all(v.startswith(REFUSED) for v in out.values()), out
    assert os.stat("/dev/null").st_mode & 0o7777 == devnull_mode
    for name in ("masked.service", "removed.service", "renamed.service", "lchowned", "utimed", "linked"):
        assert os.readlink(tmp_path / name) == "/dev/null", name
    assert os.readlink(tmp_path / "stdout_like") == "/proc/self/fd/1"
    assert os.path.islink(tmp_path / "chain")


def test_writing_dev_null_and_the_runs_own_links_still_work(tracer, tmp_path):
    os.symlink("/dev/null", tmp_path / "masked.service")
    (tmp_path / "outside.txt").write_text("user's\n")
    source = TRIES + '''
def g(t):
    os.symlink("/dev/null", "null_link")
    os.symlink(t + "/outside.txt", "out_link")
    os.symlink(t + "/masked.service", "via")
    open("mine", "w").close()
    def writes():
        with open(t + "/masked.service", "w") as fh:  # writing /dev/null, through a link outside
            fh.write("x")
        with open("via", "a") as fh:
            fh.write("x")
        os.close(os.open("/dev/null", os.O_WRONLY | os.O_TRUNC))
    return f([
        ("write /dev/null", writes),
        ("remove own link to /dev/null", lambda: os.remove("null_link")),
        ("rename own link to an outside file", lambda: os.rename("out_link", "moved_link")),
        ("remove it", lambda: os.remove("moved_link")),
        ("remove own link to an outside link", lambda: os.unlink("via")),
        ("rename own file", lambda: os.rename("mine", "sub_mine")),
    ])
'''
    out = _outcomes(tracer, source, f"g({str(tmp_path)!r})")
    assert set(out.values()) == {"done"}, out
    assert (tmp_path / "outside.txt").read_text() == "user's\n"
    assert os.readlink(tmp_path / "masked.service") == "/dev/null"


def test_chmod_through_the_runs_link_to_an_outside_file_is_refused(tracer, tmp_path):
    target = tmp_path / "outside.txt"
    target.write_text("user's\n")
    target.chmod(0o644)
    source = TRIES + '''
def g(t):
    os.symlink(t, "out_link")
    return f([("chmod", lambda: os.chmod("out_link", 0o600)),
              ("chmod inside out_link", lambda: os.chmod("out_link/outside.txt", 0o600)),
              ("remove inside out_link", lambda: os.remove("out_link/outside.txt")),
              ("utime", lambda: os.utime("out_link/outside.txt", (0, 0)))])
'''
    out = _outcomes(tracer, source, f"g({str(tmp_path / 'outside.txt')!r})")
    assert all(v.startswith(REFUSED) for v in out.values()), out
    assert target.stat().st_mode & 0o777 == 0o644 and target.read_text() == "user's\n"


EXTENSION = r'''
#include <Python.h>
static struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "%(name)s", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_%(name)s(void) {
    PyObject *mod = PyModule_Create(&m);
    if (mod) PyModule_AddStringConstant(mod, "msg", "native code ran");
    return mod;
}
'''


def _build_extension(folder, name):
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler")
    source = folder / (name + ".c")
    source.write_text(EXTENSION % {"name": name})
    out = folder / (name + ".so")
    subprocess.run([compiler, "-shared", "-fPIC", "-I", sysconfig.get_paths()["include"], "-o", str(out),
                    str(source)], check=True, capture_output=True)
    source.unlink()
    return out


LOAD = '''
import importlib.machinery, importlib.util, os
def load(name, path):
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    return importlib.util.module_from_spec(spec).msg
'''


def test_a_shared_object_renamed_over_a_link_outside_does_not_load(tracer, tmp_path):
    blob = _build_extension(tmp_path, "evil27b").read_bytes()
    (tmp_path / "evil27b.so").unlink()
    target = tmp_path / "masked.service"
    os.symlink("/dev/null", target)
    source = LOAD + '''
def f(blob, target):
    open("evil27b.so", "wb").write(blob)
    out = []
    try:
        os.rename("evil27b.so", target)
        out.append("renamed")
    except OSError as e:
        out.append(str(e))
    try:
        out.append(load("evil27b", target))
    except (OSError, ImportError) as e:
        out.append(str(e))
    return out
'''
    out = _outcomes(tracer, source, f"f({blob!r}, {str(target)!r})")
    assert out[0].startswith(REFUSED), out
    assert "native code ran" not in out, out
    assert os.readlink(target) == "/dev/null"


def test_an_extension_made_since_the_sandbox_started_does_not_load(tracer, tmp_path):
    # Stands for a file a run got outside its folder past the hook: made after the zygote
    # started, where no other check looks (no run folder, /proc, /dev on its path). The
    # zygote starts with the first call (this test may be the module's first): start it.
    assert tracer.trace_call("def f():\n    return 1\n", "f()")["status"] == "ok"
    time.sleep(0.05)
    path = _build_extension(tmp_path, "late27b")
    out = _outcomes(tracer, LOAD + '''
def f(path):
    try:
        return [load("late27b", path)]
    except (OSError, ImportError) as e:
        return [str(e)]
''', f"f({str(path)!r})")
    assert out == ["the sandbox does not allow loading native code from a file made or changed since the "
                   "sandbox started (%s); restarting the tracer (the language server) loads it" % path], out


def test_installed_extension_modules_still_load(tracer):
    trace = tracer.trace_call("import sys\ndef f():\n    sys.modules.pop('_bz2', None)\n    import _bz2\n"
                              "    return _bz2.BZ2Decompressor().decompress(b'')\n", "f()")
    if trace["status"] != "ok" and "No module named '_bz2'" in str(trace):
        pytest.skip("no _bz2 here")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "b''", trace


def test_a_copy_of_a_built_in_module_from_libpython_is_refused(tracer):
    library = os.path.join(sysconfig.get_config_var("LIBDIR") or "", sysconfig.get_config_var("LDLIBRARY") or "")
    if not sysconfig.get_config_var("Py_ENABLE_SHARED") or not os.path.isfile(library):
        pytest.skip("no shared libpython")
    source = '''
import _imp, sys
def f(library):
    try:
        posix = _imp.create_dynamic(type(sys.modules["os"].__spec__)("posix", None, origin=library))
    except ImportError as e:
        return str(e)
    return "a fresh posix: %r" % (posix.mkfifo,)
'''
    trace = tracer.trace_call(source, f"f({library!r})")
    assert trace["status"] == "ok", trace
    assert trace["return"]["repr"] == repr("the sandbox does not allow loading a copy of the built-in module posix")
