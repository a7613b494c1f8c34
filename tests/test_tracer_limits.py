"""Every limit and isolation guarantee of the sandbox, each with hostile code that would
break it. Runs use small limits so the whole file stays fast."""

from __future__ import annotations

import ast
import os
import socket
import sys
import time
import uuid

import pytest

from kernel_probes import REACH_BY_PID, threads_refused_here
from semcoder_inference.tracer import Limits, Tracer

FAST = Limits(timeout_s=1.0, cpu_s=5, memory_mb=256, max_events=500, max_output_bytes=200)


@pytest.fixture(scope="module", params=["auto", "audit"])
def tracer(request):
    """Every guarantee is checked with namespaces (where Linux allows them) and with the
    fallback that uses only the audit hook and rlimits."""
    os.environ["SEMCODER_TEST_SECRET"] = "s3cr3t-value"  # set before the zygote starts
    with Tracer(limits=FAST, workers=2, isolation=request.param) as t:
        yield t
    os.environ.pop("SEMCODER_TEST_SECRET", None)


def test_infinite_loop_times_out_with_partial_trace(tracer):
    source = "def f():\n    i = 0\n    while True:\n        i += 1\n"
    trace = tracer.trace_call(source, "f()", limits=FAST.merged(max_events=100000))
    assert trace["status"] == "timeout"
    assert trace["message"] in ("timed out after 1 s at line 3", "timed out after 1 s at line 4")
    assert len(trace["events"]) > 100  # the partial trace is kept
    assert trace["events"][1]["changes"] == {"i": "0"}


def test_a_timeout_names_the_line_the_run_is_on_even_past_the_event_limit(tracer):
    source = ("def f():\n    for i in range(1000):\n        pass\n    n = 0\n    while True:\n"
              "        n += 1\n")
    trace = tracer.trace_call(source, "f()", limits=FAST.merged(max_events=50))
    assert trace["status"] == "timeout" and trace["truncated"]["events"]
    # tracing stopped in the first loop (line 2 or 3); the run was in the second
    assert trace["message"] in ("timed out after 1 s at line 5", "timed out after 1 s at line 6")


def test_native_code_that_ignores_signals_is_killed(tracer):
    trace = tracer.trace_call("def f():\n    return sum(range(10 ** 13))\n", "f()")
    assert trace["status"] == "timeout" and "timed out after 1 s" in trace["message"]
    assert "killed" in trace["message"]


def test_a_run_cannot_disarm_its_timers(tracer):
    for attempt in ("signal.signal(signal.SIGALRM, signal.SIG_IGN)", "signal.setitimer(signal.ITIMER_REAL, 0)",
                    "signal.alarm(0)", "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})"):
        trace = tracer.trace_call(f"import signal\ndef f():\n    {attempt}\n    while True:\n        pass\n", "f()")
        assert trace["status"] == "exception" and "time limits" in trace["message"], attempt


def test_a_run_that_disarms_its_timer_and_hides_its_exit_is_still_killed_at_its_limit(tracer):
    """What the hook refuses, the child's own saved copy of signal() still does (a run can
    find it in sys.modules); and a run can close the pipe whose end tells the zygote that
    it is exiting. The zygote still kills it one second past its limit: it never waits for
    a child's exit longer than that."""
    source = ("import _signal, os, sys, time\n"
              "def f():\n"
              "    child = next(m for name, m in sys.modules.items() if name.endswith('.child') and hasattr(m, '_original_signal'))\n"
              "    child._original_signal(_signal.SIGALRM, _signal.SIG_IGN)\n"
              "    for fd in range(3, 64):\n"
              "        try:\n            os.close(fd)\n        except OSError:\n            pass\n"
              "    time.sleep(30)\n")
    started = time.monotonic()
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "timeout" and "killed" in trace["message"], trace["message"]
    assert time.monotonic() - started < 8  # (1 s limit, 1 s grace; it waited 2 x 18 s)
    assert tracer.trace_call("def g():\n    return 5\n", "g()")["return"]["repr"] == "5"


def test_a_folder_a_run_made_read_only_is_still_removed_after_it(tracer):
    """A run that makes a folder of its own read-only (0o500) kept what it held from being
    removed after it: the zygote (without capabilities, as root too) could not delete in
    it, so a later run found it there, a channel from one run to the next. Cleanup gives a
    folder its permissions back as it enters it."""
    leave = ("import os\ndef f():\n    os.mkdir('keep')\n    open('keep/marker', 'w').write('left by run A')\n"
             "    os.mkdir('keep/locked')\n    os.chmod('keep/locked', 0o300)\n    os.chmod('keep', 0o500)\n"
             "    return os.path.basename(os.getcwd())\n")
    look = "import os\ndef f():\n    return os.path.basename(os.getcwd()), os.path.exists('../%s/keep/marker')\n"
    with Tracer(limits=FAST, workers=1, isolation=tracer.isolation) as alone:
        folder = ast.literal_eval(alone.trace_call(leave, "f()")["return"]["repr"])
        later = ast.literal_eval(alone.trace_call(look % folder, "f()")["return"]["repr"])
    assert later == (folder, False), later  # its usual folder again, made afresh


def test_cpu_time_limit(tracer):
    source = "def f():\n    x = 0\n    while True:\n        x += 1\n"
    trace = tracer.trace_call(source, "f()", limits=FAST.merged(timeout_s=10, cpu_s=1))
    assert trace["status"] == "cpu_limit", trace["message"]
    assert "CPU time" in trace["message"] and trace["duration_s"] < 5


SPIN_IN_THREADS = """import threading

def spin():
    while True:
        pass

def f():
    workers = [threading.Thread(target=spin, daemon=True) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
"""


def test_cpu_time_used_by_threads_ends_the_run_with_its_partial_trace(tracer):
    """The kernel sends SIGXCPU to whichever thread was running, and Python handles signals
    only on the main thread, which here waits in join(): the threads a run starts block the
    limits' signals, so that the main thread gets them."""
    trace = tracer.trace_call(SPIN_IN_THREADS, "f()", limits=FAST.merged(timeout_s=10, cpu_s=1))
    if threads_refused_here(tracer, trace):
        return
    assert trace["status"] == "cpu_limit", trace["message"]
    assert trace["message"] == "used more than 1 s of CPU time at line 12"
    # The spinning threads are traced too, until they have used their half of the event
    # limit (500): the calling thread's steps are all there, up to the join it waits in.
    spun = [e for e in trace["events"] if e.get("thread")]
    assert {e["line"] for e in spun} >= {4, 5} and 240 <= len(spun) <= 260 and trace["truncated"]["events"]
    assert [e["line"] for e in trace["events"] if e["kind"] == "line" and "thread" not in e] == [8, 9, 10, 9, 10, 9, 11, 12]
    assert trace["duration_s"] < 5


THREAD_COST = """import threading

def address_space_kb():
    with open("/proc/self/status") as status:
        return int(status.read().split("VmSize:")[1].split()[0])

def f():
    before = address_space_kb()
    gate = threading.Event()
    worker = threading.Thread(target=gate.wait)
    worker.start()
    after = address_space_kb()
    gate.set()
    worker.join()
    return after - before
"""


def test_a_thread_costs_the_memory_limit_its_stack_not_a_malloc_arena(tracer):
    """The memory limit counts reserved address space, and glibc would reserve 64 MB for a
    new thread's malloc arena; the zygote starts with one arena for all."""
    trace = tracer.trace_call(THREAD_COST, "f()")
    if threads_refused_here(tracer, trace):
        return
    assert trace["status"] == "ok", trace["message"]
    assert 0 < int(trace["return"]["repr"]) < 32 * 1024  # KB: a stack of at most 32 MB


def test_memory_bomb_hits_the_memory_limit(tracer):
    grow = "def f():\n    blocks = []\n    while True:\n        blocks.append(bytearray(10 ** 7))\n"
    trace = tracer.trace_call(grow, "f()")
    assert trace["status"] == "memory_limit" and "memory limit of 256 MB" in trace["message"]
    assert trace["exception"]["type"] == "MemoryError" and trace["exception"]["line"] == 4
    at_once = tracer.trace_call("def f():\n    return len('x' * 10 ** 10)\n", "f()")
    assert at_once["status"] == "memory_limit"


def test_output_size_is_bounded(tracer):
    source = "def f():\n    for i in range(1000):\n        print('line', i)\n    return 7\n"
    trace = tracer.trace_call(source, "f()", limits=FAST.merged(max_events=100000))
    assert trace["status"] == "ok" and trace["return"]["repr"] == "7"
    assert len(trace["stdout"].encode()) == 200 and trace["stdout"].startswith("line 0\nline 1\n")
    assert trace["truncated"]["stdout"] is True and trace["truncated"]["stderr"] is False


def test_event_count_is_bounded(tracer):
    source = "def f():\n    t = 0\n    for i in range(10000):\n        t += i\n    return t\n"
    trace = tracer.trace_call(source, "f()", limits=FAST.merged(max_events=50))
    assert trace["status"] == "ok" and trace["return"]["repr"] == str(sum(range(10000)))
    assert len(trace["events"]) == 50 and trace["truncated"]["events"] is True


def test_recursion_depth(tracer):
    runaway = tracer.trace_call("def f(n):\n    return f(n + 1)\n", "f(0)", limits=FAST.merged(recursion_limit=200))
    assert runaway["status"] == "exception" and runaway["exception"]["type"] == "RecursionError"
    assert "recursion limit of 200" in runaway["message"]
    # Deep but finite recursion runs to the end; frames past max_depth are not traced.
    deep = tracer.trace_call("def f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\n", "f(30)",
                             limits=FAST.merged(max_depth=5))
    assert deep["return"]["repr"] == "30" and deep["truncated"]["depth"] is True
    assert max(e["depth"] for e in deep["events"]) == 5


def test_fork_bomb_is_contained(tracer):
    source = (
        "import os\ndef f():\n    refused = 0\n    for _ in range(200):\n        try:\n            os.fork()\n"
        "        except OSError:\n            refused += 1\n    return refused\n"
    )
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "200"
    spawn = tracer.trace_call("import subprocess\ndef f():\n    return subprocess.run(['true'])\n", "f()")
    assert spawn["status"] == "exception" and spawn["exception"]["type"] == "PermissionError"
    assert spawn["exception"]["message"] == "the sandbox does not allow running programs"
    # _posixsubprocess forks without an audit event: runs get a stand-in that refuses, and
    # the real module is a refused import
    direct = tracer.trace_call("import _posixsubprocess\ndef f():\n    return _posixsubprocess.fork_exec()\n", "f()")
    assert direct["exception"]["message"] == "the sandbox does not allow running programs"
    real = tracer.trace_call("import sys\ndef f():\n    sys.modules.pop('_posixsubprocess')\n"
                             "    import _posixsubprocess\n", "f()")
    assert real["exception"]["type"] == "ModuleNotFoundError"
    assert real["exception"]["message"] == "the sandbox does not allow importing _posixsubprocess"
    dug = tracer.trace_call("import gc\ndef f():\n    gc.unfreeze()\n    return [repr(o) for o in gc.get_objects()"
                            " if type(o).__name__ == 'builtin_function_or_method' and o.__name__ == 'fork_exec']\n",
                            "f()")
    assert dug["status"] == "ok" and dug["return"]["repr"] == "[]"
    system = tracer.trace_call("import os\ndef f():\n    return os.system('true')\n", "f()")
    assert system["status"] == "exception" and "does not allow running commands" in system["message"]


def test_multiprocessing_is_refused_in_words_that_say_why(tracer):
    source = ("import multiprocessing\nfrom concurrent.futures import ProcessPoolExecutor\n\ndef sq(x):\n    return x * x\n\n"
              "def pool():\n    with ProcessPoolExecutor(2) as ex:\n        return list(ex.map(sq, [1, 2]))\n\n"
              "def process():\n    p = multiprocessing.Process(target=sq, args=(2,))\n    p.start()\n")
    info = tracer.isolation_info
    pool = tracer.trace_call(source, "pool()")
    assert pool["status"] == "exception"
    if info.get("read_only_outside") or info.get("landlock"):
        # its locks are semaphores in /dev/shm, which a run may not write
        assert pool["exception"]["type"] in ("OSError", "PermissionError")
        assert pool["exception"]["message"].endswith(
            "(multiprocessing needs shared memory and new processes, and the sandbox allows a run neither)")
        assert pool["exception"]["line"] == 8
    else:  # the semaphores can be made: starting the processes is refused
        assert pool["exception"]["message"] == "the sandbox does not allow creating processes"
    process = tracer.trace_call(source, "process()")
    assert process["status"] == "exception" and process["exception"]["type"] == "PermissionError"
    assert process["exception"]["message"] == "the sandbox does not allow creating processes"
    # an OSError of the user's own code keeps its own words
    own = tracer.trace_call("import errno\ndef f():\n    raise OSError(errno.EROFS, 'mine')\n", "f()")
    assert own["exception"]["message"] == "[Errno 30] mine"


def test_connect_and_bind_are_refused(tracer):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        connect = tracer.trace_call(f"import socket\ndef f():\n    socket.create_connection(('127.0.0.1', {port}), timeout=0.5)\n", "f()")
        assert connect["status"] == "exception" and connect["exception"]["type"] in ("PermissionError", "OSError")
        bind = tracer.trace_call("import socket\ndef f():\n    s = socket.socket()\n    s.bind(('127.0.0.1', 0))\n", "f()")
        # refused as the socket is made, at line 3
        assert bind["status"] == "exception" and bind["message"] == \
            "PermissionError: the sandbox does not allow network access at line 3"
        # a pair of Unix sockets (asyncio's loop makes one) still works
        pair = tracer.trace_call("import socket\ndef f():\n    a, b = socket.socketpair()\n    a.sendall(b'ok')\n"
                                 "    return b.recv(2)\n", "f()")
        assert pair["return"]["repr"] == "b'ok'"
        listener.settimeout(0.2)
        with pytest.raises(OSError):
            listener.accept()  # nothing got through
    finally:
        listener.close()


def test_network_namespace_is_used_where_linux_allows_it(tracer):
    info = tracer.isolation_info
    assert info["ready"] is True
    if info["namespaces"]:
        # Even below the audit hook, only an unconfigured loopback exists.
        source = "def f():\n    return open('/proc/net/dev').read().count(':')\n"
        assert tracer.trace_call(source, "f()")["return"]["repr"] == "1"
        # The runs' folders are on a private, size-capped tmpfs.
        assert info["tmpfs"] is True
        size = "import os\ndef f():\n    s = os.statvfs('.')\n    return s.f_blocks * s.f_frsize\n"
        assert int(tracer.trace_call(size, "f()")["return"]["repr"]) <= 256 * 2 ** 20
    else:
        assert info["namespaces_error"]


def test_runs_cannot_reach_other_processes_by_pid_in_a_pid_namespace(tracer):
    """Signals by pid file descriptor, priorities and CPU affinities raise no audit event.
    In a PID namespace no process outside it has a pid there."""
    import subprocess
    import sys

    info = tracer.isolation_info
    if not info["namespaces"]:
        assert info["pid_namespace"] is False  # the known gap without namespaces (docs/sandbox.md)
        return
    assert info["pid_namespace"] is True, info["pid_namespace_error"]
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        before = os.getpriority(os.PRIO_PROCESS, bystander.pid)
        trace = tracer.trace_call(REACH_BY_PID, f"f({bystander.pid})")
        assert trace["status"] == "ok", trace["message"]
        # No such pid in the runs' PID namespace; pidfd_open the syscall filter refuses
        # whatever the pid, where it holds.
        pidfd = "PermissionError" if info["syscall_filter"] else "ProcessLookupError"
        assert trace["return"]["repr"] == repr({"pidfd_open": pidfd, "setpriority": "ProcessLookupError",
                                                "sched_setaffinity": "ProcessLookupError"})
        assert os.getpriority(os.PRIO_PROCESS, bystander.pid) == before and bystander.poll() is None
        # its own pid it still has (the syscall filter leaves pids to the PID namespace)
        own = tracer.trace_call("import os\ndef f():\n    os.setpriority(os.PRIO_PROCESS, os.getpid(), 5)\n"
                                "    return os.getpriority(os.PRIO_PROCESS, 0)\n", "f()")
        assert own["return"]["repr"] == "5"
    finally:
        bystander.kill()
        bystander.wait()


SEEN_IN_PROC = ("import os\n\ndef f():\n"
                "    return sorted(int(name) for name in os.listdir('/proc') if name.isdigit()), os.getpid()\n")


def test_runs_see_only_the_zygote_and_themselves_in_proc(tracer):
    """With a PID namespace, the namespace's first process mounts a /proc of its own over
    the host's, read-only (sandbox.mount_own_proc): a run finds there its zygote (PID 1)
    and itself, nothing of the machine's other processes, whose command lines anyone may
    read in the host's, and which native code would read without asking the hook."""
    import subprocess
    import sys

    info = tracer.isolation_info
    if not info["pid_namespace"]:
        assert info["own_proc"] is False and info["own_proc_error"]
        return
    assert info["own_proc"] is True, info["own_proc_error"]
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for _ in range(2):
            trace = tracer.trace_call(SEEN_IN_PROC, "f()")
            pids, own = eval(trace["return"]["repr"])
            assert pids == [1, own] and own > 1, pids
    finally:
        bystander.kill()
        bystander.wait()
    # The server still knows the zygote by the pid the host gives it (and the zygote's
    # own PID 1 is not it): what it measures and kills.
    import psutil

    zygote = psutil.Process(tracer.worker_pids[0])
    assert tracer.worker_pids[0] != 1 and info["host_pid"] == zygote.pid and zygote.is_running()
    assert any(child.pid == zygote.pid for child in psutil.Process(zygote.ppid()).children())


SPAWN = """import _imp, os, sys

def f():
    # _posixsubprocess rebuilt from the interpreter's built-in copy (Debian's python3 has
    # one), past the sandbox's stand-in: the known gap for root in docs/sandbox.md
    spec = type(sys.modules["os"].__spec__)("_posixsubprocess", None, origin="built-in")
    fork_exec = _imp.create_builtin(spec).fork_exec
    r, w = os.pipe()
    fork_exec([b"/bin/sleep", b"4242"], [b"/bin/sleep"], True, (w,), None, None, -1, -1, -1, -1, -1, -1,
              r, w, True, True, -1, None, None, None, -1, None, False)
    os.close(w)
    # what the forked process reports on its way to the program: nothing if it got there
    said = b""
    while True:
        part = os.read(r, 100)
        if not part:
            return said
        said += part
"""


def test_a_run_cannot_start_a_program_even_past_the_audit_hook():
    """Root is exempt from RLIMIT_NPROC, so where the interpreter has _posixsubprocess built
    in, a run can try to fork past the hook. On x86-64 every run refuses itself new
    processes (_confine.no_forks): the fork fails with EPERM. Without that, the syscall
    filter refuses the program's exec (EPERM: "OSError:1:" from the forked process);
    without either, the runs' PID namespace holds the program, and the zygote kills it as
    soon as the run has ended."""
    import psutil

    def sleepers():
        return [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["/bin/sleep", "4242"]]

    with Tracer(python="/usr/bin/python3", workers=1) as tracer:
        started = tracer.trace_call(SPAWN, "f()")
        if started["status"] != "ok":  # refused, or not root, or no built-in copy: nothing could fork
            refused = started["exception"]["type"] == "PermissionError"
            assert refused or started["exception"]["type"] in ("BlockingIOError", "ModuleNotFoundError",
                                                               "ImportError"), started
            assert not refused or (tracer.isolation_info["forks_refused"] and "[Errno 1]" in started["message"])
            assert sleepers() == []
            return
        assert not tracer.isolation_info["forks_refused"], started
        if tracer.isolation_info["syscall_filter"]:
            assert started["return"]["repr"] == "b'OSError:1:'", started
        else:
            assert tracer.isolation_info["pid_namespace"], "a run started a program and no PID namespace holds it"
        tracer.trace_call("def f():\n    return 1\n", "f()")  # the zygote has moved on to the next run
        assert sleepers() == []


def test_the_zygote_and_its_runs_are_under_the_syscall_filter_on_x86_64(tracer):
    """On x86-64 Linux, with or without namespaces; isolation="audit" asks for the audit
    hook and rlimits alone."""
    info = tracer.isolation_info
    if tracer.isolation == "audit":
        assert info["syscall_filter"] is False and info["syscall_filter_error"] == "not requested"
    elif sys.platform.startswith("linux") and os.uname().machine == "x86_64":
        assert info["syscall_filter"] is True, info["syscall_filter_error"]
        # Seen from inside a run, too; and a native call it refuses (no audit event here:
        # the module is a fresh copy of the built-in one).
        source = ("import _imp, os, sys\n"
                  "def f():\n"
                  "    posix = _imp.create_builtin(type(sys.modules['os'].__spec__)('posix', None, origin='built-in'))\n"
                  "    mode = open('/proc/self/status').read().split('Seccomp:')[1].split()[0]\n"
                  "    try:\n"
                  "        posix.pidfd_open(os.getpid())\n"
                  "    except PermissionError as exc:\n"
                  "        return mode, exc.errno\n")
        assert tracer.trace_call(source, "f()")["return"]["repr"] == "('2', 1)"
    else:
        assert info["syscall_filter"] is False and info["syscall_filter_error"]


def test_writes_outside_the_private_folder_are_refused(tracer, tmp_path):
    target = tmp_path / f"escape-{uuid.uuid4().hex}.txt"
    source = f"import os\ndef f():\n    with open({str(target)!r}, 'w') as fh:\n        fh.write('x')\n"
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "exception" and "writing outside" in trace["message"]
    assert not target.exists()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    for action in (f"os.remove({str(victim)!r})", f"os.rename({str(victim)!r}, 'stolen.txt')",
                   f"os.open({str(victim)!r}, os.O_WRONLY | os.O_TRUNC)"):
        result = tracer.trace_call(f"import os\ndef f():\n    {action}\n", "f()")
        assert result["status"] == "exception" and result["exception"]["type"] == "PermissionError", action
    assert victim.read_text() == "keep"
    inside = "import os\ndef f():\n    open('data.txt', 'w').write('ok')\n    os.mkdir('sub')\n    return sorted(os.listdir('.'))\n"
    assert tracer.trace_call(inside, "f()")["return"]["repr"] == "['data.txt', 'sub']"


# Hostile Python that goes for the audit hook itself: its state, its helpers, what it calls.
# Each attack ends by trying to write TARGET, outside the run's folder.
TAMPER = {
    "closure cells (found through gc)": """
    gc.unfreeze()
    for o in gc.get_objects():
        if type(o).__name__ == "function" and o.__closure__:
            for cell in o.__closure__:
                try:
                    if isinstance(cell.cell_contents, str) and cell.cell_contents.startswith("/"):
                        cell.cell_contents = "/"
                except ValueError:
                    pass
""",
    "the sandbox module's tables": """
    sandbox = [m for n, m in sys.modules.items() if n.endswith("sandbox") and hasattr(m, "_PATH_EVENTS")][0]
    sandbox._FORBIDDEN_EVENTS.clear(); sandbox._PATH_EVENTS.clear()
    sandbox._FORBIDDEN_IMPORTS = frozenset(); sandbox._WRITE_FLAGS = 0
    sandbox._inside = lambda *a, **k: True; sandbox._resolved = lambda p, *a: '/'
""",
    "builtins and os.path": """
    import builtins, posixpath
    os.getcwd = lambda: "/"; posixpath.realpath = lambda p, **k: "/"; os.path.realpath = posixpath.realpath
    kept = builtins.isinstance, builtins.len, builtins.PermissionError
    builtins.isinstance = lambda *a: True; builtins.len = lambda x: 0; builtins.PermissionError = Warning
    try:
        open(TARGET, 'w').write('x')
    except BaseException as exc:
        refusals.append(kept[2].__name__ + ': ' + str(exc))
    finally:  # the run's own result is written with these
        builtins.isinstance, builtins.len, builtins.PermissionError = kept
""",
    "the hook's defaults and code": """
    gc.unfreeze()
    for o in gc.get_objects():
        if type(o).__name__ == "function" and o.__defaults__ and any(
                isinstance(d, str) and d.startswith("/") for d in o.__defaults__):
            try:
                o.__defaults__ = tuple("/" if isinstance(d, str) else d for d in o.__defaults__)
            except PermissionError as exc:
                refusals.append(str(exc))
            try:
                o.__code__ = (lambda event, args: None).__code__
            except (PermissionError, ValueError) as exc:
                refusals.append(type(exc).__name__)
""",
    "a str subclass that lies": """
    class Lying(str):
        def startswith(self, *a): return True
        def __getitem__(self, i): return "/"
        def __eq__(self, other): return True
        def split(self, *a): return ["", ""]
    global TARGET
    TARGET = Lying(TARGET)
""",
}


@pytest.mark.parametrize("attack", list(TAMPER))
def test_the_audit_hook_cannot_be_tampered_with(tracer, tmp_path, attack):
    target = tmp_path / f"escape-{uuid.uuid4().hex}.txt"
    source = ("import gc, os, sys\nTARGET = %r\n\ndef f():\n    refusals = []\n%s"
              "    try:\n        open(TARGET, 'w').write('x')\n    except Exception as exc:\n"
              "        refusals.append(type(exc).__name__ + ': ' + str(exc))\n"
              "    try:\n        os.system('true')\n    except Exception as exc:\n        refusals.append(str(exc))\n"
              "    return refusals\n") % (str(target), TAMPER[attack].strip("\n") + "\n")
    trace = tracer.trace_call(source, "f()", limits=FAST.merged(max_return_repr=10000))
    assert trace["status"] == "ok", trace["message"]
    refusals = eval(trace["return"]["repr"])
    assert not target.exists()
    assert any("outside its temporary working directory" in r or "Read-only file system" in r for r in refusals)
    assert "the sandbox does not allow running commands" in refusals
    if attack == "the hook's defaults and code":
        assert "the sandbox does not allow changing its own functions" in refusals
    if attack == "builtins and os.path":
        assert any("does not allow writing outside" in r for r in refusals)  # still in the hook's words


# A folder held open as a descriptor makes a relative path mean something else to the
# kernel (dir_fd) than to the hook; a descriptor stands for a file the hook never saw.
AROUND = {
    "os.open with dir_fd": "os.close(os.open('escape.txt', os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=folder))",
    "an opener with dir_fd": "open('escape.txt', 'w', opener=lambda p, f: os.open(p, f, 0o600, dir_fd=folder)).close()",
    "os.mkdir with dir_fd": "os.mkdir('escape.txt', dir_fd=folder)",
    "os.rename into dir_fd": "open('here', 'w').close()\n    os.rename('here', 'escape.txt', dst_dir_fd=folder)",
    "os.symlink with dir_fd": "os.symlink('/etc/hostname', 'escape.txt', dir_fd=folder)",
    "a folder opened inside, entered from elsewhere": (
        "os.close(folder)\n    os.symlink(OUTSIDE, 'away')\n    os.mkdir('deeper')\n"
        "    folder = os.open('.', os.O_RDONLY)\n    os.chdir('deeper')\n"
        "    os.close(os.open('away/escape.txt', os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=folder))"),
}


@pytest.mark.parametrize("attack", list(AROUND))
def test_descriptors_cannot_take_a_write_outside(tracer, tmp_path, attack):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("mine")
    (outside / "victim.txt").chmod(0o600)
    source = ("import os\nOUTSIDE = %r\n\ndef f():\n    folder = os.open(OUTSIDE, os.O_RDONLY)\n    %s\n"
              "    return 'done'\n") % (str(outside), AROUND[attack])
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "exception" and trace["exception"]["type"] in ("PermissionError", "OSError")
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    chmod = ("import os\ndef f():\n    fd = os.open(%r, os.O_RDONLY)\n    os.chmod(fd, 0o777)\n"
             % str(outside / "victim.txt"))
    trace = tracer.trace_call(chmod, "f()")
    assert trace["exception"]["message"].startswith(
        "the sandbox does not allow changing files outside its temporary working directory (descriptor ")
    assert (outside / "victim.txt").stat().st_mode & 0o777 == 0o600


def test_everyday_file_work_in_the_run_folder_still_works(tracer):
    source = """import os, shutil, tempfile
def f():
    with tempfile.TemporaryDirectory() as folder:  # removed with shutil.rmtree, by descriptors
        os.makedirs(os.path.join(folder, 'a', 'b'))
        with open(os.path.join(folder, 'a', 'b', 'x.txt'), 'w') as fh:
            fh.write('x')
        fd = os.open('plain.txt', os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b'y')
        os.chmod(fd, 0o640)
        os.close(fd)
        here = os.open('.', os.O_RDONLY)
        os.mkdir('made', dir_fd=here)
        os.rename('plain.txt', 'made/plain.txt', dst_dir_fd=here)
        shutil.rmtree(os.path.join(folder, 'a'))
        left = os.listdir(folder)
    return left, sorted(os.listdir('made')), os.path.exists(folder)
"""
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok", trace["message"]
    assert trace["return"]["repr"] == "([], ['plain.txt'], False)"


def test_a_path_object_cannot_show_the_hook_one_path_and_the_kernel_another(tracer, tmp_path):
    # io.FileIO converts a path object itself, before its audit event; converting it again
    # in the hook could give another path. Such writes are refused; open() converts first.
    target = tmp_path / f"escape-{uuid.uuid4().hex}.txt"
    source = ("import io\nclass Flip:\n    calls = 0\n    def __fspath__(self):\n        Flip.calls += 1\n"
              "        return %r if Flip.calls == 1 else 'inside.txt'\n\n"
              "def f():\n    io.FileIO(Flip(), 'w').write(b'x')\n") % str(target)
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "exception" and not target.exists()
    assert trace["exception"]["message"] == ("the sandbox does not allow writing outside its temporary working "
                                             "directory (a path object: pass str(path))")
    inside = "import pathlib\ndef f():\n    p = pathlib.Path('out.txt')\n    p.write_text('x')\n    return p.read_text()\n"
    assert tracer.trace_call(inside, "f()")["return"]["repr"] == "'x'"


def test_environment_is_minimal(tracer):
    source = "import os\ndef f():\n    return sorted(os.environ), open('/proc/self/environ', 'rb').read()\n"
    trace = tracer.trace_call(source, "f()", limits=FAST.merged(max_return_repr=100000))
    assert "SEMCODER_TEST_SECRET" in os.environ
    assert "SEMCODER_TEST_SECRET" not in trace["return"]["repr"] and "s3cr3t" not in trace["return"]["repr"]
    names = eval(trace["return"]["repr"])[0]
    assert set(names) <= {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "TMPDIR",
                          "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "JE_ARROW_MALLOC_CONF"}
    parent = tracer.trace_call(f"def f():\n    return open('/proc/{os.getpid()}/environ', 'rb').read()\n", "f()")
    assert parent["status"] == "exception" and "s3cr3t" not in str(parent)
    # Nor by another spelling of the path: the hook resolves it first (the kernel, too,
    # refuses it across user namespaces, but without them only the hook stands here).
    pid = os.getpid()
    for path in (f"/proc/self/../{pid}/environ", f"//proc/{pid}/environ", f"/proc/./{pid}/environ",
                 f"/proc/self/task/../../{pid}/cmdline", f"/proc/self/root/proc/{pid}/environ"):
        trace = tracer.trace_call(f"def f():\n    return open({path!r}, 'rb').read()\n", "f()")
        assert trace["exception"]["message"] == "the sandbox does not allow reading other processes", path
    for how in ("os.chdir('/proc')\n    return open('%d/environ', 'rb').read()" % pid,
                "os.symlink('/proc/%d', 'other')\n    return open('other/environ', 'rb').read()" % pid,
                # a folder descriptor on /proc, which os.open's audit event does not show
                "proc = os.open('/proc', os.O_RDONLY | os.O_DIRECTORY)\n"
                "    return os.read(os.open('%d/environ', os.O_RDONLY, dir_fd=proc), 100)" % pid,
                "here = os.open('/proc/%d', os.O_RDONLY | os.O_DIRECTORY)\n"
                "    return os.read(os.open('environ', os.O_RDONLY, dir_fd=here), 100)" % pid):
        trace = tracer.trace_call(f"import os\ndef f():\n    {how}\n", "f()")
        assert trace["exception"]["message"] == "the sandbox does not allow reading other processes", how
    # its own entries stay readable
    own = tracer.trace_call("def f():\n    return open('/proc/self/status').read().split()[0]\n", "f()")
    assert own["return"]["repr"] == "'Name:'"


def test_a_run_cannot_open_its_zygote_s_files_in_proc(tracer):
    """The zygote's /proc/<pid>/fd holds the pipe the next request comes through: a run
    that opened it could read later runs' sources and answer them with forged results. The
    hook refuses other processes' /proc paths as it resolves them, but a link it cannot
    see through (a descriptor's target) leaves it to the kernel, which refuses: the zygote
    is not dumpable, and runs hold no capabilities (_confine.c)."""
    info = tracer.isolation_info
    assert info["undumpable"] is True and info["capabilities"] == 0, info
    source = ("import os\ndef f():\n    os.symlink('/proc/%d/fd' % os.getppid(), 'zygote')\n    got = []\n"
              "    for fd in range(8):\n        try:\n"
              "            os.close(os.open('zygote/%d' % fd, os.O_RDONLY | os.O_NONBLOCK))\n"
              "            got.append('opened')\n        except FileNotFoundError:\n            pass\n"
              "        except OSError as exc:\n            got.append(exc.errno or str(exc))\n    return got\n")
    trace = tracer.trace_call(source, "f()", limits=FAST.merged(max_return_repr=10000))
    got = ast.literal_eval(trace["return"]["repr"])
    # The hook refuses first since review 27b (its resolution stops at another process's
    # /proc/<pid> links); 13: EACCES, the kernel's refusal.
    assert got and all(g in (13, "the sandbox does not allow reading other processes") for g in got), got
    # The kernel's own refusal, to a readlink that raises no audit event (a fresh posix's).
    source = ("import _imp, os, sys\ndef f():\n"
              "    posix = _imp.create_builtin(sys.modules['posix'].__spec__)\n    got = []\n"
              "    for fd in range(8):\n        try:\n"
              "            posix.readlink('/proc/%d/fd/%d' % (os.getppid(), fd))\n            got.append('read')\n"
              "        except FileNotFoundError:\n            pass\n"
              "        except OSError as exc:\n            got.append(exc.errno)\n    return got\n")
    got = ast.literal_eval(tracer.trace_call(source, "f()")["return"]["repr"])
    assert "read" not in got and 13 in got, got
    status = tracer.trace_call("def f():\n    return open('/proc/self/status').read()\n", "f()",
                               limits=FAST.merged(max_return_repr=100000))
    fields = dict(line.split(":", 1) for line in ast.literal_eval(status["return"]["repr"]).splitlines())
    assert all(int(fields[name], 16) == 0 for name in ("CapPrm", "CapEff", "CapInh", "CapAmb")), fields
    if sys.platform.startswith("linux") and os.uname().machine == "x86_64":
        # and every run refuses itself new processes, below the hook (test_tracer_confine)
        assert info["forks_refused"] is True
        assert int(fields["Seccomp_filters"]) == 1 + bool(info["syscall_filter"])


def test_hostile_repr_is_contained(tracer):
    source = (
        "class Raises:\n    def __repr__(self):\n        raise RuntimeError('no repr')\n\n"
        "class Hangs:\n    def __repr__(self):\n        while True:\n            pass\n\n"
        "class Stubborn:\n    def __repr__(self):\n        while True:\n            try:\n                while True:\n                    pass\n"
        "            except BaseException:\n                pass\n\n"
        "def f():\n    a = Raises()\n    b = Hangs()\n    return [a, b]\n"
    )
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok"
    changes = {e["line"]: e["changes"] for e in trace["events"] if e["kind"] == "line"}
    assert changes[20] == {"a": "<repr failed: RuntimeError>"}
    assert changes[21] == {"b": "<repr timed out>"}
    assert trace["return"]["literal"] is False
    # A __repr__ that swallows the interruption still cannot outlive the run's deadline.
    stubborn = tracer.trace_call(source, "Stubborn()")
    assert stubborn["status"] == "timeout"


def test_ctypes_and_signals_are_refused(tracer):
    # `import ctypes` gives a stand-in (code that imports it without using it still runs);
    # every name of it is refused.
    trace = tracer.trace_call("import ctypes\ndef f():\n    return ctypes.CDLL(None)\n", "f()")
    assert trace["status"] == "exception" and trace["exception"]["type"] == "AttributeError"
    assert trace["exception"]["message"] == "the sandbox does not allow ctypes (ctypes.CDLL)"
    # The real module cannot be had: _ctypes is a refused import (the zygote loaded it to
    # enter namespaces, and an import of a module already in sys.modules raises no audit
    # event, so it must be gone before runs start), whichever way the run asks.
    for how in ("import _ctypes", "import importlib, ctypes; importlib.reload(ctypes)",
                "import sys; sys.modules.pop('ctypes'); import ctypes"):
        trace = tracer.trace_call(f"def f():\n    {how}\n    return 1\n", "f()")
        assert trace["status"] == "exception", how
        assert trace["exception"]["type"] == "ModuleNotFoundError", how
        assert trace["exception"]["message"] == "the sandbox does not allow importing _ctypes", how
    # Nor under another name: an extension's init function is found by its name's last
    # part, so a spec made by hand for `x._ctypes` on the real file loads _ctypes itself;
    # and a str subclass that never equals anything must not slip past the name check.
    import _ctypes

    renamed = ("import importlib.machinery as machinery, importlib.util as util\n"
               "class Name(str):\n    def __eq__(self, other):\n        return False\n    __hash__ = str.__hash__\n"
               "def f(name, path):\n    loader = machinery.ExtensionFileLoader(name, path)\n"
               "    return util.module_from_spec(util.spec_from_file_location(name, path, loader=loader))\n")
    for name in ("'x._ctypes'", "Name('_ctypes')", "Name('x._ctypes')"):
        trace = tracer.trace_call(renamed, f"f({name}, {_ctypes.__file__!r})")
        assert trace["status"] == "exception", name
        assert trace["exception"]["message"] == "the sandbox does not allow importing _ctypes", name
    # A NUL ends the C string CPython finds the init function by: "_ctypes\0" is _ctypes.
    nul = tracer.trace_call(renamed, f"f('_ctypes\\x00', {_ctypes.__file__!r})")
    assert nul["status"] == "exception" and nul["exception"]["type"] == "ModuleNotFoundError"
    assert "holds a NUL" in nul["exception"]["message"]
    # Nor can a run signal another process through a descriptor's owner (F_SETOWN + O_ASYNC).
    owning = "import fcntl, socket\ndef f(command, value):\n    a, b = socket.socketpair()\n    fcntl.fcntl(a, command, value)\n"
    for command in ("f(8, 1)", "f(10, 2)", "f(15, 1)"):  # F_SETOWN the zygote, F_SETSIG, F_SETOWN_EX
        trace = tracer.trace_call(owning, command)
        assert trace["status"] == "exception" and "signalling processes" in trace["exception"]["message"], command
    kill = tracer.trace_call(f"import os\ndef f():\n    os.kill({os.getpid()}, 9)\n", "f()")
    assert kill["status"] == "exception" and "signalling" in kill["message"]
    # ... but a run may signal itself (signal 0 only asks whether it exists)
    itself = tracer.trace_call("import os\ndef f():\n    os.kill(os.getpid(), 0)\n    return 'alive'\n", "f()")
    assert itself["status"] == "ok" and itself["return"]["repr"] == "'alive'"
    # signalling by pid file descriptor raises no audit event: the functions are gone
    pidfd = tracer.trace_call("import os, signal, posix, _signal\ndef f():\n    return [hasattr(m, n) for m, n in "
                              "((os, 'pidfd_open'), (posix, 'pidfd_open'), (signal, 'pidfd_send_signal'), "
                              "(_signal, 'pidfd_send_signal'))]\n", "f()")
    assert pidfd["return"]["repr"] == "[False, False, False, False]"


FOREIGN_CALL = """
def find(name):
    stack, seen = [object], set()
    while stack:
        cls = stack.pop()
        try:
            subclasses = type.__subclasses__(cls)
        except TypeError:
            continue
        for sub in subclasses:
            if id(sub) not in seen:
                seen.add(id(sub))
                if sub.__module__ == "_ctypes" and sub.__name__ == name:
                    return sub
                stack.append(sub)

def f():
    pointer_type, simple = find("CFuncPtr"), find("_SimpleCData")
    if pointer_type is None:
        return "absent"
    class c_int(simple):
        _type_ = "i"
    class Function(pointer_type):
        _flags_ = 1
        _restype_ = c_int
    return Function(id(object))()  # an address that is no function: only a refusal ends well
"""


SUBINTERPRETER = """
def f(target):
    try:
        import _xxsubinterpreters as interpreters
    except ImportError:
        import _interpreters as interpreters
    interpreters.run_string(interpreters.create(), "open(%r, 'w').write('x')" % target)
"""

OWN_NATIVE_CODE = """
import importlib.util, shutil, sys

def f():
    # any extension module of this Python, copied into the run's folder and loaded from there
    # (a hostile run would write its own bytes instead)
    name, module = next((n, m) for n, m in sorted(sys.modules.items())
                        if getattr(m, "__file__", "") and m.__file__.endswith(".so"))
    copy = shutil.copy(module.__file__, module.__file__.rsplit("/", 1)[1])
    spec = importlib.util.spec_from_file_location(name, copy)
    return importlib.util.module_from_spec(spec)
"""


def test_code_cannot_run_where_the_hook_does_not_reach(tracer, tmp_path):
    # A subinterpreter has no audit hooks (they are per interpreter).
    target = tmp_path / "escape.txt"
    trace = tracer.trace_call(SUBINTERPRETER, f"f({str(target)!r})")
    assert trace["exception"]["type"] == "ModuleNotFoundError" and not target.exists()
    assert trace["exception"]["message"].startswith("the sandbox does not allow importing _")
    # CPython's test modules reach into the interpreter (_testcapi.run_in_subinterp).
    trace = tracer.trace_call("def f():\n    import _testcapi\n", "f()")
    assert trace["exception"]["message"] == "the sandbox does not allow importing _testcapi"
    # Native code the run wrote itself is not loaded; installed extension modules are.
    trace = tracer.trace_call(OWN_NATIVE_CODE, "f()")
    assert trace["exception"]["type"] == "PermissionError"
    assert trace["exception"]["message"].startswith("the sandbox does not allow loading native code from its own folder")
    assert tracer.trace_call("import _decimal\ndef f():\n    return 1\n", "f()")["status"] == "ok"


def test_modules_that_write_files_from_native_code_need_the_kernel_to_hold_them(tracer, tmp_path):
    # SQLite's ATTACH and VACUUM INTO, readline's history, dbm: files written in C, with no
    # audit event. Allowed only where the kernel holds writes to the run's folder: every
    # mount but the runs' tmpfs read-only, or Landlock.
    target = tmp_path / "attached.db"
    source = ("import sqlite3\ndef f():\n    db = sqlite3.connect('here.db')\n    db.execute('create table t(x)')\n"
              "    db.execute('insert into t values (1)')\n    rows = db.execute('select x from t').fetchall()\n"
              "    try:\n        db.execute(\"ATTACH DATABASE %r AS away\")\n        db.execute('create table away.t(x)')\n"
              "    except sqlite3.Error as exc:\n        return rows, str(exc)\n    return rows, 'attached'\n") % str(target)
    trace = tracer.trace_call(source, "f()")
    info = tracer.isolation_info
    assert info["kernel_guards_files"] is (info["read_only_outside"] or info["landlock"])
    if info["kernel_guards_files"]:
        assert trace["status"] == "ok" and trace["return"]["repr"].startswith("([(1,)], 'unable to open database")
    else:
        assert trace["exception"]["message"].startswith(
            "the sandbox does not allow importing _sqlite3 without Linux namespaces or Landlock")
    assert not target.exists()
    # Tcl (tkinter) is an interpreter of its own, with file access and exec: never.
    tcl = tracer.trace_call("def f():\n    import tkinter\n    return tkinter.Tcl().eval('exec true')\n", "f()")
    assert tcl["exception"]["message"] == "the sandbox does not allow importing _tkinter"


def test_no_ctypes_types_for_a_run_to_dig_out(tracer):
    # Once _ctypes is loaded its types stay reachable through type.__subclasses__ (whatever
    # sys.modules says), and a foreign call through them raises no audit event: it would
    # run native code past the hook (here it would crash on a bad address). Entering the
    # namespaces needs ctypes, so the zygote then restarts its interpreter: no run may find
    # the types, in any isolation mode.
    trace = tracer.trace_call(FOREIGN_CALL, "f()")
    assert trace["status"] == "ok", trace["message"]
    assert trace["return"]["repr"] == "'absent'"


MOUNTS = """
def f():
    with open("/proc/self/mountinfo") as fh:
        return sorted(line.split()[4] for line in fh if line.split()[5].split(",")[0] != "ro")
"""


def _kernel_at_least(major, minor):
    release = os.uname().release.split(".")
    return (int(release[0]), int("".join(c for c in release[1] if c.isdigit()) or 0)) >= (major, minor)


def test_outside_its_folder_the_file_system_is_read_only_for_the_kernel_too(tracer):
    info = tracer.isolation_info
    if not info["namespaces"]:
        assert info["read_only_outside"] is False  # the audit hook alone guards writes
        return
    # mount_setattr (Linux 5.12+) makes the namespace's mounts read-only, then the runs'
    # tmpfs is mounted writable: native code past the hook cannot change the user's files.
    assert info["read_only_outside"] is _kernel_at_least(5, 12)
    if info["read_only_outside"]:
        trace = tracer.trace_call(MOUNTS, "f()")
        assert trace["status"] == "ok"
        writable = ast.literal_eval(trace["return"]["repr"])
        assert len(writable) == 1 and writable[0] in {w["run_root"] for w in tracer.worker_info}


def test_hand_made_code_objects_are_refused(tracer):
    source = "def g():\n    return 1\n\ndef f():\n    g.__code__ = g.__code__.replace(co_consts=(None, 2))\n    return g()\n"
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "exception" and trace["exception"]["type"] == "PermissionError"
    assert "building code objects by hand" in trace["message"]
    # Compiling source is fine: that is what the compiler checks.
    assert tracer.trace_call("def f():\n    return eval(compile('2 + 3', 'x', 'eval'))\n", "f()")["return"]["repr"] == "5"


def test_tracer_survives_and_keeps_working_after_hostile_runs(tracer):
    assert tracer.trace_call("def f():\n    return 41 + 1\n", "f()")["return"]["repr"] == "42"


def test_a_run_cannot_forge_results_of_later_runs(tracer):
    """Hostile code writes fake result frames into every descriptor it holds; the server
    notices the tampering, replaces the worker, and later runs get their real results."""
    source = (
        "import json, os, struct\n"
        "def f():\n"
        "    for fd in range(3, 64):\n"
        "        for fake in ({'status': 'ok', 'return': {'repr': 'forged', 'literal': False}},\n"
        "                     {'trailer': True, 'id': 'x', 'result': None}):\n"
        "            body = json.dumps(fake).encode()\n"
        "            try:\n"
        "                os.write(fd, struct.pack('>I', len(body)) + body)\n"
        "            except OSError:\n"
        "                pass\n"
        "    return 'done'\n"
    )
    hostile = tracer.trace_call(source, "f()")
    assert hostile["status"] == "crashed" and "private channel" in hostile["message"]
    for n in range(4):
        trace = tracer.trace_call("def g(n):\n    return n * 3\n", f"g({n})")
        assert trace["status"] == "ok" and trace["return"]["repr"] == str(n * 3)


def test_a_result_a_run_writes_itself_is_held_to_the_run_s_limits(tracer):
    """A run can write its own result (it holds the pipe): output and events far past its
    limits reached the server and the editor whole (250 MB of stdout took the server to 771
    MB). They are cut to the limits, and said to be; a frame past 64 MB is refused."""
    source = (
        "import gc, json, os, struct, sys\n"
        "def f(stdout, events):\n"
        "    child = next(m for name, m in sys.modules.items() if name.endswith('.child') and hasattr(m, 'RunState'))\n"
        "    state = next(o for o in gc.get_objects() if type(o) is child.RunState)\n"
        "    event = {'line': 2, 'depth': 0, 'function': 'f', 'iteration': None, 'changes': {}, 'kind': 'line'}\n"
        "    body = json.dumps({'schema': 'semcoder.trace/1', 'status': 'ok', 'message': 'returned 1', 'id': "
        "state.request['id'], 'events': [event] * events, 'truncated': {}, 'stdout': 'x' * stdout, "
        "'return': {'repr': '1', 'literal': True}}).encode()\n"
        "    os.write(state.result_fd, struct.pack('>I', len(body)) + body)\n"
        "    os._exit(0)\n")
    forged = tracer.trace_call(source, "f(1 << 20, 2000)")
    assert forged["status"] == "ok" and len(forged["stdout"]) == FAST.max_output_bytes
    assert len(forged["events"]) == FAST.max_events
    assert forged["truncated"]["stdout"] is True and forged["truncated"]["events"] is True
    huge = tracer.trace_call(source, "f(65 << 20, 0)", limits=FAST.merged(timeout_s=5.0))
    assert huge["status"] == "crashed" and "stdout" not in huge["message"]
    assert tracer.trace_call("def g():\n    return 5\n", "g()")["return"]["repr"] == "5"


def test_frames_a_run_writes_after_its_own_result_never_reach_later_runs(tracer):
    """The server sends the next request before the last run's trailer has arrived. A run
    that digs out its own request id can forge its own result and trailer, and go on
    writing; it harms only itself: later runs still get their real results."""
    source = (
        "import gc, json, os, struct, time\n"
        "def send(message):\n"
        "    body = json.dumps(message).encode()\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        "            os.write(fd, struct.pack('>I', len(body)) + body)\n"
        "        except OSError:\n"
        "            pass\n"
        "def f():\n"
        "    own = next(o['id'] for o in gc.get_objects()\n"
        "               if type(o) is dict and 'limits' in o and 'id' in o and 'source' in o)\n"
        "    send({'id': own, 'status': 'ok', 'events': [], 'return': {'repr': 'forged', 'literal': False}})\n"
        "    send({'trailer': True, 'id': own, 'result': None})\n"
        "    time.sleep(0.3)\n"
        "    send({'id': '0' * 32, 'status': 'ok', 'events': [], 'return': {'repr': 'late', 'literal': False}})\n"
        "    return 'done'\n"
    )
    tracer.trace_call(source, "f()")  # whatever it claims about itself
    for n in range(6):
        trace = tracer.trace_call("def g(n):\n    return n * 3\n", f"g({n})")
        assert trace["status"] == "ok" and trace["return"]["repr"] == str(n * 3)
        time.sleep(0.1)


HOLD_THE_ZYGOTE = (
    "import gc, os, time\n\ndef f():\n"
    "    # close every descriptor but the result's: the zygote no longer hears that this run ends\n"
    "    keep = {o.result_fd for o in gc.get_objects() if type(o).__name__ == 'RunState'}\n"
    "    for fd in range(3, 64):\n"
    "        if fd not in keep:\n"
    "            try:\n"
    "                os.close(fd)\n"
    "            except OSError:\n"
    "                pass\n"
    "    time.sleep(1.5)\n"
    "    return 'held'\n")


def test_stray_alarms_do_not_end_the_zygote():
    """A zygote waits for a run that closed its notify pipe with an alarm-bounded waitpid;
    a PID namespace's first process gets the signals it handles from its runs (native code
    needs no audit event to send one), so SIGALRM may come at any moment of that wait. It
    must never end the zygote (an exception raised by its handler outside the wait did)."""
    import signal
    import threading
    import time

    with Tracer(workers=1, limits=Limits(timeout_s=5)) as tracer:
        info = tracer.isolation_info
        if not info["pid_namespace"]:
            # runs then cannot reach the zygote by pid at all (the hook refuses kill)
            assert info["pid_namespace_error"]
            return
        zygotes = tracer.worker_pids
        stop = time.monotonic() + 1.4
        sent = [0]

        def alarms():
            time.sleep(0.05)
            while time.monotonic() < stop:
                os.kill(info["host_pid"], signal.SIGALRM)
                sent[0] += 1
                time.sleep(0.0002)

        spammer = threading.Thread(target=alarms)
        spammer.start()
        try:
            trace = tracer.trace_call(HOLD_THE_ZYGOTE, "f()")
        finally:
            spammer.join()
        assert sent[0] > 100
        assert trace["status"] == "ok" and trace["return"]["repr"] == "'held'", trace["message"]
        assert tracer.worker_pids == zygotes
        assert tracer.trace_call("def g():\n    return 2\n", "g()")["return"]["repr"] == "2"
        assert tracer.worker_pids == zygotes


def test_what_a_run_leaves_beside_its_folder_is_removed():
    """Runs may write anywhere in the runs' tmpfs as far as Landlock goes; a run that got
    past the hook filled it beside its own folder, and every later run failed for want of
    space. The zygote empties the runs' root after each run. (Audit mode here: its root is
    an ordinary folder this test can write in, as such a run would have.)"""
    with Tracer(workers=1, isolation="audit") as tracer:
        root = tracer.isolation_info["run_root"]
        assert tracer.trace_call("def f():\n    return 1\n", "f()")["status"] == "ok"
        os.makedirs(os.path.join(root, "left", "deep"))
        with open(os.path.join(root, "left", "deep", "big"), "wb") as handle:
            handle.write(b"x" * 100000)
        with open(os.path.join(root, "beside"), "w") as handle:
            handle.write("left by a run")
        listing = "import os\n\ndef f():\n    return sorted(os.listdir('..'))\n"
        seen = tracer.trace_call(listing, "f()")
        assert seen["status"] == "ok"
        assert tracer.trace_call(listing, "f()")["return"]["repr"] == "['run']"
        assert sorted(os.listdir(root)) in ([], ["run"])


CPU_ROOM = """import resource, time

def room():
    return resource.getrlimit(resource.RLIMIT_CPU)[0] - time.process_time()
"""


def test_a_loop_on_one_core_ends_at_the_wall_clock_when_both_limits_are_equal(tracer):
    """The server gives a run as many CPU seconds as wall seconds. The CPU a child used
    before its run's clock started (its rehearsal, unpacking its code) counted towards
    RLIMIT_CPU, so a loop spinning on one core could reach the CPU limit first: CI once
    reported an infinite loop as "used more than 5 s of CPU time", and which limit stopped
    it was a race. The CPU limit is counted from the run's start now, with room past its
    allowance that one thread cannot use before its wall clock ends."""
    equal = FAST.merged(timeout_s=1, cpu_s=1, max_events=100000)
    room = tracer.trace_call(CPU_ROOM, "room()", limits=equal)
    assert room["status"] == "ok", room["message"]
    assert 1.0 < float(room["return"]["repr"]) < 2.5, room["return"]
    spin = "def f():\n    while True:\n        pass\n"
    for _ in range(3):
        trace = tracer.trace_call(spin, "f()", limits=equal)
        assert trace["status"] == "timeout", trace["message"]
        assert trace["message"] in ("timed out after 1 s at line 2", "timed out after 1 s at line 3")
