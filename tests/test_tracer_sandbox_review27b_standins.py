"""The stand-ins for os.mkfifo and os.mknod (review 27b). Review 27 gave runs stand-ins that
raise the audit events Python does not, but they kept the real functions as keyword-only
defaults: `os.mkfifo.__kwdefaults__["real"]` made FIFOs, and `os.mknod`'s real function
regular files, anywhere the user may write, with no event, in the audit-only mode. The
stand-ins now hold no reference to them (each call uses a copy of `posix` made for it), and
the real functions are gone from `os`, `posix` and `os.supports_dir_fd`: a run finds them
nowhere in what it can reach, but in a copy of `posix` of its own making
(`_imp.create_builtin`, a gap docs/sandbox.md names)."""

from __future__ import annotations

import os

import pytest

from semcoder_inference.tracer import Limits, Tracer

LIMITS = Limits(timeout_s=10, cpu_s=10)
REFUSED = "the sandbox does not allow changing files outside its temporary working directory"


@pytest.fixture(scope="module", params=["auto", "audit"])
def tracer(request):
    with Tracer(limits=LIMITS, workers=1, isolation=request.param) as t:
        yield t


def test_the_real_functions_are_not_reachable(tracer):
    source = '''
import gc, os, sys
def real(o):
    return type(o) is type(len) and getattr(o, "__name__", "") in ("mkfifo", "mknod") and \\
        type(getattr(o, "__self__", None)) is type(sys)
def f():
    found = []
    seen, level = set(), [os.mkfifo, os.mknod, os.supports_dir_fd, os.supports_fd, os.supports_follow_symlinks,
                          sys.modules["posix"]]
    for depth in range(3):  # what the stand-ins and os's tables hold, and what that holds
        nxt = []
        for o in level:
            if id(o) in seen:
                continue
            seen.add(id(o))
            if real(o):
                found.append("reachable at depth %d" % depth)
            nxt.extend(gc.get_referents(o))
        level = nxt
    found += ["in gc" for o in gc.get_objects() if real(o)]
    found += ["kwdefault %s" % k for f in (os.mkfifo, os.mknod) for k, v in (f.__kwdefaults__ or {}).items()
              if real(v)]
    return found
'''
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok", trace
    assert trace["return"]["repr"] == "[]"


def test_fifos_still_made_in_the_folder_and_refused_outside(tracer, tmp_path):
    source = '''
import os, stat
def f(outside):
    out = []
    os.mkfifo("fifo")
    os.mknod("node", 0o600 | stat.S_IFIFO)
    os.mknod("plain", 0o600 | stat.S_IFREG)
    out.append([stat.S_ISFIFO(os.lstat("fifo").st_mode), stat.S_ISFIFO(os.lstat("node").st_mode),
                stat.S_ISREG(os.lstat("plain").st_mode)])
    for call in (lambda: os.mkfifo(outside + "/fifo"), lambda: os.mknod(outside + "/plain", 0o600 | stat.S_IFREG),
                 lambda: os.mkfifo("fifo2", dir_fd=os.open(outside, os.O_RDONLY))):
        try:
            call()
            out.append("made")
        except PermissionError as e:
            out.append(str(e)[:len(%r)])
    return out
''' % REFUSED
    trace = tracer.trace_call(source, f"f({str(tmp_path)!r})")
    assert trace["status"] == "ok", trace
    assert eval(trace["return"]["repr"]) == [[True, True, True], REFUSED, REFUSED, REFUSED]
    assert os.listdir(tmp_path) == []


def test_the_kwdefaults_route_of_review_27b(tracer, tmp_path):
    source = '''
import os
def f(outside):
    out = []
    for fn in (os.mkfifo, os.mknod):
        try:
            fn.__kwdefaults__["real"](outside + "/" + fn.__name__)
            out.append("made")
        except KeyError:
            out.append("no such default")
    return out
'''
    trace = tracer.trace_call(source, f"f({str(tmp_path)!r})")
    assert trace["status"] == "ok", trace
    assert trace["return"]["repr"] == "['no such default', 'no such default']"
    assert os.listdir(tmp_path) == []
