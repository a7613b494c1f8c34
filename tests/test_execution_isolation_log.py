"""The server says once, in its log (an editor's output panel), what holds the runs of each
tracer it starts: which Linux namespaces, or why none and what that leaves."""

from __future__ import annotations

import asyncio
import logging
import time

from semcoder_inference.tracer import describe_isolation
from semcoder_lsp.execution import Executor
from semcoder_lsp.settings import ExecutionSettings


def test_the_isolation_sentence_says_what_holds_and_what_does_not():
    base = {"python": "3.11.7", "executable": "/usr/bin/python3"}
    full = describe_isolation({**base, "namespaces": True, "pid_namespace": True, "read_only_outside": True})
    assert full == ("runs of Python 3.11.7 (/usr/bin/python3) are sandboxed in Linux user, network, mount and PID "
                    "namespaces, every other mount read-only, with the audit hook and rlimits")
    own_proc = describe_isolation({**base, "namespaces": True, "pid_namespace": True, "read_only_outside": True,
                                   "own_proc": True})
    assert "user, network, mount and PID namespaces (a /proc of their own), every other mount" in own_proc
    host_proc = describe_isolation({**base, "namespaces": True, "pid_namespace": True, "read_only_outside": True,
                                    "own_proc": False, "own_proc_error": "mounting the namespace's own /proc "
                                    "failed: Operation not permitted"})
    assert ("PID namespaces (the host's /proc: mounting the namespace's own /proc failed: Operation not "
            "permitted)") in host_proc
    old_kernel = describe_isolation({**base, "namespaces": True, "pid_namespace": False, "read_only_outside": False,
                                     "pid_namespace_error": "unshare(pid) failed: No space left on device"})
    assert "user, network and mount namespaces (no PID namespace: unshare(pid) failed: No space left on device)" \
        in old_kernel and "audit hook alone refusing writes" in old_kernel
    none = describe_isolation({**base, "namespaces": False,
                               "namespaces_error": "unshare(user+net+mount) failed: Operation not permitted"})
    assert none.startswith("runs of Python 3.11.7 (/usr/bin/python3) are held by the audit hook and rlimits only "
                           "(Linux namespaces: unshare(user+net+mount) failed: Operation not permitted)")
    assert "not native code" in none
    # The syscall filter (x86-64), with namespaces and without.
    filtered = describe_isolation({**base, "namespaces": True, "pid_namespace": True, "read_only_outside": True,
                                   "syscall_filter": True})
    assert filtered.endswith("every other mount read-only, with the audit hook, rlimits and a seccomp filter")
    filtered_only = describe_isolation({**base, "namespaces": False, "syscall_filter": True,
                                        "namespaces_error": "unshare(user+net+mount) failed: Operation not permitted"})
    assert filtered_only.startswith("runs of Python 3.11.7 (/usr/bin/python3) are held by the audit hook, rlimits "
                                    "and a seccomp filter only (Linux namespaces: unshare(user+net+mount) failed")
    assert ("native code from starting programs, reaching other processes or using the network, not from writing "
            "files") in filtered_only
    # Landlock too: the kernel then refuses native code everything the sentence names.
    guarded = describe_isolation({**base, "namespaces": False, "syscall_filter": True, "landlock": True,
                                  "namespaces_error": "unshare(user+net+mount) failed: Operation not permitted"})
    assert guarded.startswith("runs of Python 3.11.7 (/usr/bin/python3) are held by the audit hook, rlimits, a seccomp "
                              "filter and Landlock only (Linux namespaces: ")
    assert guarded.endswith("that stops careless and hostile Python code, and native code from starting programs, "
                            "reaching other processes, using the network or writing files outside the run's folder "
                            "(docs/sandbox.md)")
    # Each run's own fork filter (x86-64, _confine).
    forks = describe_isolation({**base, "namespaces": False, "syscall_filter": True, "landlock": True,
                                "forks_refused": True, "namespaces_error": "unshare failed"})
    assert "held by the audit hook, rlimits, a seccomp filter, Landlock and a fork filter only" in forks
    assert forks.endswith("native code from making processes, starting programs, reaching other processes, using "
                          "the network or writing files outside the run's folder (docs/sandbox.md)")
    no_read_only_mounts = describe_isolation({**base, "namespaces": True, "pid_namespace": True,
                                              "read_only_outside": False, "landlock": True})
    assert ("every other mount" not in no_read_only_mounts
            and "writes outside a run's folder refused by Landlock (no mount_setattr)" in no_read_only_mounts)
    landlock_only = describe_isolation({**base, "namespaces": False, "landlock": True})
    assert landlock_only.endswith("and native code from writing files outside the run's folder, not from starting "
                                  "programs, reaching other processes or using the network (docs/sandbox.md)")


def test_the_server_logs_each_tracers_isolation_once(caplog):
    executor = Executor()
    source = "def f(x):\n    return x + 1\n"

    async def two_runs():
        first = await executor.trace_call(ExecutionSettings(enabled=True), source, "f(1)", "/work/x.py")
        second = await executor.trace_call(ExecutionSettings(enabled=True), source, "f(2)", "/work/x.py")
        return first, second

    try:
        with caplog.at_level(logging.INFO, logger="semcoder_lsp.execution"):
            first, second = asyncio.run(two_runs())
    finally:
        executor.close()
    assert first["return"]["repr"] == "2" and second["return"]["repr"] == "3"
    said = [r for r in caplog.records if r.getMessage().startswith("sandbox: runs of Python")]
    assert len(said) == 1
    # a warning only where runs lack namespaces, or the PID namespace alone
    complete = "are sandboxed in Linux user, network, mount and PID namespaces" in said[0].getMessage()
    assert said[0].levelno == (logging.INFO if complete else logging.WARNING)


def test_the_sandbox_starts_ahead_of_the_first_run_only_when_execution_is_on():
    executor = Executor()
    try:
        executor.warm(ExecutionSettings(enabled=False))
        executor._pool.submit(lambda: None).result(timeout=60)  # what was queued has run
        assert executor._sandbox is None
        executor.warm(ExecutionSettings(enabled=True))
        executor._pool.submit(lambda: None).result(timeout=60)
        tracer = executor._sandbox[1]
        assert [z.alive() for z in tracer._all] == [True]  # its first zygote, before any run
        executor.warm(ExecutionSettings(enabled=True))  # the same settings: the same tracer
        executor._pool.submit(lambda: None).result(timeout=60)
        assert executor._sandbox[1] is tracer
        # settings changed twice in a row: only the last are started, and the old closed
        started, make = [], executor._tracer
        executor._tracer = lambda settings: started.append(settings.timeoutSeconds) or make(settings)
        executor._pool.submit(time.sleep, 0.2)  # busy while the settings change
        executor.warm(ExecutionSettings(enabled=True, timeoutSeconds=2.0))
        executor.warm(ExecutionSettings(enabled=True, timeoutSeconds=3.0))
        executor._pool.submit(lambda: None).result(timeout=60)
        last = executor._sandbox[1]
        assert started == [3.0] and last.limits.timeout_s == 3.0
        assert not any(z.alive() for z in tracer._all)
    finally:
        executor.close()


def test_a_sandbox_made_for_settings_that_changed_is_closed():
    executor = Executor()
    try:
        first = asyncio.run(executor.trace_call(ExecutionSettings(enabled=True), "def f():\n    return 1\n", "f()",
                                                "/work/x.py"))
        old = executor._sandbox[1]
        zygotes = list(old._all)
        assert first["return"]["repr"] == "1" and all(z.alive() for z in zygotes)
        second = asyncio.run(executor.trace_call(ExecutionSettings(enabled=True, timeoutSeconds=2.0),
                                                 "def f():\n    return 2\n", "f()", "/work/x.py"))
        assert second["return"]["repr"] == "2"
        assert executor._sandbox[1] is not old
        assert not any(z.alive() for z in zygotes)  # the old sandbox's processes are gone
    finally:
        executor.close()
