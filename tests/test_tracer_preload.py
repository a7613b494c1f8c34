"""Preloaded modules: imported once by each zygote, found imported by every run, and never a
way around the sandbox (a module whose import starts a thread or loads what runs may not
reach stops the zygote with a message that names it)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from semcoder_inference.errors import SettingsError
from semcoder_inference.tracer import Tracer, TracerError

USES_NUMPY = """import sys
ALREADY = 'numpy' in sys.modules
import numpy as np

def f(values):
    np.marked_by_a_run = True  # must not reach the next run
    return ALREADY, float(np.mean(values))

def g():
    import numpy
    return hasattr(numpy, 'marked_by_a_run')
"""


@pytest.mark.parametrize("isolation", ["auto", "audit"])
def test_runs_find_preloaded_modules_imported_and_still_start_fresh(isolation):
    with Tracer(workers=1, isolation=isolation, preload=["numpy", "not_installed_anywhere"]) as tracer:
        trace = tracer.trace_call(USES_NUMPY, "f([1, 2, 6])")
        assert trace["status"] == "ok" and trace["return"]["repr"] == "(True, 3.0)"
        assert tracer.trace_call(USES_NUMPY, "g()")["return"]["repr"] == "False"
        info = tracer.worker_info[0]
        assert info["preloaded"] == ["numpy"]
        assert info["preload_errors"] == {"not_installed_anywhere": "ModuleNotFoundError: No module named "
                                                                    "'not_installed_anywhere'"}
        # the sandbox holds as before
        refused = tracer.trace_call("import numpy, os\ndef f():\n    os.system('true')\n", "f()")
        assert refused["exception"]["message"] == "the sandbox does not allow running commands"
    with Tracer(workers=1, isolation=isolation) as tracer:
        assert tracer.trace_call(USES_NUMPY, "f([1, 2, 6])")["return"]["repr"] == "(False, 3.0)"


def test_a_module_that_loads_what_runs_may_not_reach_is_refused():
    with pytest.raises(TracerError) as info:
        with Tracer(workers=1, preload=["_ctypes"]) as tracer:
            tracer.trace_call("def f():\n    return 1\n", "f()")
    assert str(info.value).startswith(
        "The sandbox could not preload a module: preloading _ctypes loaded _ctypes, which runs may not reach.")


def test_a_module_whose_import_starts_a_thread_is_refused(tmp_path):
    # fork copies only the forking thread: a lock another thread held would stay locked in
    # every run. (The zygote runs with -I, so the module is put on the path by hand here.)
    (tmp_path / "starts_a_thread.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n")
    script = ("import sys\nsys.path.insert(0, sys.argv[1])\n"
              "from semcoder_inference.tracer import runtime\n"
              "runtime.install_stand_ins()  # as in a zygote (this process imported subprocess)\n"
              "print(runtime._preload(('json',)))\n"
              "runtime._preload(('starts_a_thread',))\nprint('not reached')\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and done.stdout == "(['json'], {})\n"
    assert done.stderr.strip() == ("tracer: preloading starts_a_thread started a thread, and a process with threads "
                                   "cannot fork safely")


def test_preload_takes_module_names_only():
    for bad in ("numpy", ["numpy", "../evil"], ["os; import x"], [3], ["m"] * 33):
        with pytest.raises(SettingsError):
            Tracer(workers=1, preload=bad)
