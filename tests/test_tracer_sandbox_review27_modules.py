"""Standard-library extension modules that reach the network or the file system from C,
with no audit event (review 27): `nis` made internet sockets and sent RPCs of the run's
choosing (to a portmapper on 127.0.0.1:111 and a "ypbind" it named) in the audit-only
mode; `_multiprocessing` made and removed POSIX semaphores, files in /dev/shm outside the
run's folder, by any name (another program's too), and a later run read the value an
earlier one left. `nis`, `ossaudiodev` and `spwd` are now refused imports in every mode;
`_multiprocessing` is refused where the kernel does not hold the run's writes, and runs
find a stand-in there whose locks are refused."""

from __future__ import annotations

import importlib.util
import os
import secrets

import pytest

from semcoder_inference.tracer import Limits, Tracer

LIMITS = Limits(timeout_s=5, cpu_s=5)


@pytest.fixture(scope="module", params=["auto", "audit"])
def tracer(request):
    with Tracer(limits=LIMITS, workers=1, isolation=request.param) as t:
        yield t


@pytest.mark.parametrize("name", ["nis", "ossaudiodev", "spwd"])
def test_network_and_device_modules_are_refused_imports(tracer, name):
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"this interpreter has no {name}")
    trace = tracer.trace_call(f"def f():\n    import {name}\n    return {name}.__name__\n", "f()")
    assert trace["status"] == "exception", trace
    assert trace["exception"]["type"] == "ModuleNotFoundError"
    assert trace["exception"]["message"] == f"the sandbox does not allow importing {name}"


def test_nis_cannot_be_loaded_by_hand_either(tracer):
    spec = importlib.util.find_spec("nis")
    if spec is None:
        pytest.skip("this interpreter has no nis")
    source = ("import importlib.util\ndef f(origin):\n"
              "    spec = importlib.util.spec_from_file_location('x.nis', origin)\n"
              "    module = importlib.util.module_from_spec(spec)\n    return 'loaded'\n")
    trace = tracer.trace_call(source, f"f({spec.origin!r})")
    assert trace["status"] == "exception" and trace["exception"]["type"] == "ModuleNotFoundError", trace


def _semaphores(tag):
    try:
        return sorted(n for n in os.listdir("/dev/shm") if tag in n)
    except OSError:
        return []


def test_posix_semaphores_stay_out_of_dev_shm(tracer):
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    import _multiprocessing

    tag = "r27" + secrets.token_hex(4)
    victim = _multiprocessing.SemLock(1, 1, 1, f"/{tag}_victim", False)  # another program's
    try:
        writer = (f"def f():\n    import _multiprocessing\n"
                  f"    _multiprocessing.SemLock(0, 7, 2147483647, '/{tag}_left', False)\n    return 'made'\n")
        made = tracer.trace_call(writer, "f()")
        assert made["status"] == "exception", made
        assert _semaphores(tag) == [f"sem.{tag}_victim"]
        remover = f"def f():\n    import _multiprocessing\n    _multiprocessing.sem_unlink('/{tag}_victim')\n"
        removed = tracer.trace_call(remover, "f()")
        assert removed["status"] == "exception", removed
        assert _semaphores(tag) == [f"sem.{tag}_victim"]
        reader = (f"def f():\n    import _multiprocessing\n"
                  f"    return _multiprocessing.SemLock._rebuild(0, 0, 1, '/{tag}_victim')._get_value()\n")
        read = tracer.trace_call(reader, "f()")
        if not tracer.isolation_info["kernel_guards_files"]:
            # the stand-in: refused in the words the rest of multiprocessing meets
            for trace in (made, removed, read):
                assert trace["exception"]["type"] == "PermissionError", trace
            assert made["exception"]["message"] == "the sandbox does not allow creating processes"
            assert read["status"] == "exception"
    finally:
        del victim
        for name in _semaphores(tag):
            _multiprocessing.sem_unlink("/" + name[len("sem."):])


def test_multiprocessing_still_imports(tracer):
    source = ("import multiprocessing, multiprocessing.synchronize, multiprocessing.queues\n"
              "import concurrent.futures.process\n"
              "def f():\n    return multiprocessing.cpu_count() > 0, multiprocessing.synchronize.SEM_VALUE_MAX > 0\n")
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok", trace
    assert trace["return"]["repr"] == "(True, True)"
