"""The server side of the tracer: warm zygotes, one request at a time each.

A `Tracer` keeps a small pool of zygote processes (inference/tracer/runtime.py, started by
launch.py under the user's interpreter). A run borrows an idle zygote, sends it the request and
waits for the trace; the zygote forks a fresh, sandboxed child per run. Several threads
can trace at once (up to the pool size; the rest wait for a free zygote).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import logging
import marshal
import operator
import os
import queue
import re
import secrets
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from itertools import chain
from pathlib import Path
from typing import Callable, Sequence

from ..errors import SemcoderError, SettingsError
from .child import MAX_FRAME, TRAILER_OK, framed
from .limits import Limits
from .safe_repr import MESSAGE_LEN
from .python_finder import find_python
from .sandbox import remove_tree
from .schema import conform, crashed
from .line_tracer import loop_table

log = logging.getLogger(__name__)

LAUNCHER = Path(__file__).with_name("launch.py")
ISOLATION_MODES = ("auto", "namespaces", "audit")
# The zygote starts with only these variables: the server's secrets never reach it.
_ZYGOTE_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT")
# How long past the run's own limit we wait for a zygote before declaring it stuck.
_STUCK_MARGIN_S = 15.0
_START_TIMEOUT_S = 30.0
# The largest frame read from a zygote: a run writes its own result, so a hostile one could
# send anything up to this. A run keeps its own result well below it (child.RESULT_MAX_BYTES:
# a longer trace is cut), so a frame past it is tampering, and the worker is replaced.
_MAX_FRAME = MAX_FRAME
_READ_SIZE = 1 << 16
# The size of the marker the zygote writes where a run's bytes end (runtime.MARKER_BYTES).
_MARKER_BYTES = 16
# The zygote's interpreter runs code objects compiled here when this tag is its own too.
_BYTECODE_TAG = f"{sys.implementation.cache_tag}:{importlib.util.MAGIC_NUMBER.hex()}"
# Longer sources are parsed and compiled again for every run rather than kept, so the
# caches hold at most (128 + 32) sources of up to this size.
_CACHED_SOURCE_LIMIT = 200_000
_COMPILE_LOCK = threading.Lock()  # warnings.catch_warnings changes process-wide state
# How long a zygote's spare child waits for its request before it rehearses a run, so
# that the run then finds most of its pages copied already (see runtime.Spare); None:
# never. Shorter than an editor's pause between requests, longer than the gap between
# back-to-back ones, which find the CPU busy anyway.
_REHEARSE_WHEN_IDLE_S: float | None = 0.015
# Whether each zygote learns the pages its runs copy and has every spare copy them at once
# (runtime.learn_pages, inference/tracer/prefault.py); off only to measure against.
_PREFAULT = True


class TracerError(SemcoderError):
    """The sandbox itself failed (the interpreter would not start, a zygote died)."""


# The oldest Python the sandbox supports (docs/sandbox.md): the child's code needs it, and
# the audit hook's checks (code objects only the compiler made) assume its imports.
_OLDEST_PYTHON = (3, 9)


def _version(text: object) -> tuple[int, int] | None:
    """(3, 12) of a zygote's "3.12.1" (its sys.version's first word); None if unreadable."""
    match = re.match(r"(\d+)\.(\d+)", text) if isinstance(text, str) else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def _parsed(body: bytes) -> dict | None:
    """A frame's JSON object; None for anything else."""
    try:
        message = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError, MemoryError):
        # (nesting no honest result has, or more objects than memory holds: a frame a run
        # wrote itself, as much garbage as any other)
        return None
    return message if isinstance(message, dict) else None


class _Ended:
    """A run that ended without writing a whole frame: `written`, what it wrote."""

    __slots__ = ("written",)

    def __init__(self, written: bytes):
        self.written = written


def _unfinished(written: bytes) -> str:
    """What a run that ended without a whole frame wrote, in words."""
    if len(written) < 4:
        return f"{len(written)} bytes, not even a frame's length"
    size = struct.unpack(">I", written[:4])[0]
    return f"a frame of {size} bytes announced, {len(written) - 4} written"


class _Zygote:
    """One warm process; not thread-safe (the pool hands it to one caller at a time)."""

    def __init__(self, python: str, isolation: str, preload: tuple[str, ...] = (), hash_seed: int | None = None):
        env = {k: os.environ[k] for k in _ZYGOTE_ENV if k in os.environ}
        # `-I` ignores every PYTHON* variable, PYTHONHASHSEED too. A fixed seed needs `-s`
        # (no user site-packages) instead, which reads the environment: this one, built
        # here, holds no other PYTHON* variable, and the launcher takes its own folder off
        # sys.path as -I would (launch.py). The zygote's restart keeps the same flags.
        flags = ["-I"]
        if hash_seed is not None:
            env["PYTHONHASHSEED"] = str(hash_seed)
            flags = ["-s"]
        # Without the site module: a workspace .venv's start-up files (.pth lines that run
        # code, sitecustomize) are the workspace's code, and this first interpreter runs
        # before any sandbox layer. The zygote runs them once it is inside (runtime.run_site).
        flags.append("-S")
        # glibc reserves 64 MB of address space for each new thread's own malloc arena, and
        # the memory limit (RLIMIT_AS) counts reservations: with one arena for all, a run's
        # threads (sandbox.RUN_THREADS) cost only their stacks. (Python allocates most
        # objects itself, under its lock.) glibc reads this only as a process starts.
        env["MALLOC_ARENA_MAX"] = "1"
        # The zygote's own errors (runs' output never reaches it) go to a file, to explain a
        # failed start, or why it stopped (see last_words).
        self._stderr = tempfile.TemporaryFile()
        # The zygote's control pipe to us, which no run holds: see runtime.MARKER_BYTES.
        control_r, control_w = os.pipe()
        os.set_blocking(control_r, False)
        try:
            self.proc = subprocess.Popen(
                [python, *flags, str(LAUNCHER), isolation,
                 "off" if _REHEARSE_WHEN_IDLE_S is None else repr(float(_REHEARSE_WHEN_IDLE_S)), ",".join(preload),
                 "on" if _PREFAULT else "off", str(control_w)],
                pass_fds=(control_w,),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=env,
                cwd="/" if os.name == "posix" else None,
                start_new_session=True,
            )
        except OSError as exc:
            os.close(control_r)
            raise TracerError(f"Could not start the Python interpreter {python!r} for tracing: {exc}.") from exc
        finally:
            os.close(control_w)
        # Non-blocking, so that writing a request never waits without a deadline (see _write).
        os.set_blocking(self.proc.stdin.fileno(), False)
        self._buffer = bytearray()
        self._owed_trailer: str | None = None
        self._before_marker = False
        self._deadline = 0.0  # (the deadline of the request being sent: see request)
        # The control pipe's end (runtime.MARKER_BYTES), and the end-of-run marker read from
        # it, until it is found in the stream.
        self._control_r = control_r
        self._marker: bytes | None = None
        hello = self._read(_START_TIMEOUT_S)
        if not isinstance(hello, dict) or not hello.get("ready"):
            words = self.last_words()
            self.close()
            if words.startswith("tracer: preloading "):
                raise TracerError(f"The sandbox could not preload a module: {words[len('tracer: '):]}.",
                                  hint="Remove it from the modules to preload (semcoder.execution.preload).")
            if words:  # what went wrong, in its words (not always the interpreter's version)
                raise TracerError(f"The Python interpreter {python!r} could not start the tracer. It said: {words}",
                                  hint="The tracer needs Python 3.9 or newer on Linux or macOS; if this one is "
                                       "older, point the python setting at another interpreter.")
            raise TracerError(
                f"The Python interpreter {python!r} could not start the tracer (it needs Python 3.9 or newer "
                f"on Linux or macOS).",
                hint="Point the python setting at another interpreter.",
            )
        self.info = hello
        version = _version(hello.get("python"))
        if version is not None and version < _OLDEST_PYTHON:
            # An older one starts, but its runs fail in ways that look like the code's own:
            # on 3.8 every import the zygote had not made (typing, dataclasses, asyncio)
            # raised "the sandbox does not allow building code objects by hand".
            self.close()
            raise TracerError(
                f"The Python interpreter {python!r} is Python {hello.get('python')}: the tracer needs Python "
                f"{'.'.join(map(str, _OLDEST_PYTHON))} or newer.",
                hint="Point the python setting (semcoder.execution.python) at a newer interpreter, or leave it "
                     "empty to use the workspace's virtual environment.",
            )
        if not hello.get("control"):  # (a zygote of ours always has it: see runtime.MARKER_BYTES)
            self.close()
            raise TracerError(f"The tracer's worker under {python!r} has no control pipe, so its runs' results "
                              f"cannot be told apart safely.")
        self.same_bytecode = hello.get("bytecode") == _BYTECODE_TAG
        if isolation == "namespaces" and not hello.get("namespaces"):
            self.close()
            raise TracerError(
                f"Linux namespaces are not available here ({hello.get('namespaces_error')}).",
                hint='Use isolation="auto" to fall back to audit hooks and rlimits.',
            )

    def last_words(self) -> str:
        """The last line the zygote wrote to its error stream (why it could not start, or
        why it stopped: see runtime.serve), or "" if it wrote none."""
        try:
            self._stderr.seek(0)
            lines = self._stderr.read()[-600:].decode("utf-8", "replace").strip().splitlines()
        except (OSError, ValueError):  # closed already
            return ""
        return lines[-1] if lines else ""

    def _read(self, timeout: float, trailer_of: str | None = None) -> dict | None:
        """One frame (4-byte length + JSON); None on timeout, end of stream or garbage.
        The usual trailer of the run `trailer_of` is recognised without parsing it."""
        plain_trailer = (TRAILER_OK % trailer_of).encode() if trailer_of else None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        buffer = self._buffer
        while True:
            if len(buffer) >= 4:
                size = struct.unpack(">I", buffer[:4])[0]
                if size > _MAX_FRAME:
                    return None
                if len(buffer) >= 4 + size:
                    body = bytes(buffer[4:4 + size])
                    del buffer[:4 + size]
                    if body == plain_trailer:
                        return {"trailer": True, "id": trailer_of, "result": None, "exit": 0}
                    return _parsed(body)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            # A pipe holds 64 KiB: asking for more only costs an allocation (a 1 MiB one
            # is an mmap and munmap, 20-30 us, for every frame).
            chunk = os.read(fd, _READ_SIZE)
            if not chunk:
                return None
            buffer += chunk

    def request(self, message: dict, code: Callable[[], tuple], timeout: float) -> dict | None:
        """Send one run and return its result; None when the zygote is broken (it must then
        be replaced). See runtime.Spare for the frames: the child's result, then the
        zygote's trailer once the child is gone.

        The request goes in two frames: `message` first, then `code()` (its loop table and
        code objects), read by the child only once it has its limits. Both go in one write,
        after `code()` is worked out: the write wakes the spare, usually onto this process's
        vCPU, where it runs as soon as this process waits for the result. (Sent before the
        compiling, the first frame woke the spare onto this vCPU all the same, where it
        waited for the compiling to end: measured in docs/architecture.md, stop 16.)

        The previous run's trailer is not awaited before sending: this run starts while the
        last child may still be exiting. Each run's bytes end at its end-of-run marker
        (runtime.MARKER_BYTES), which the zygote sends on the control pipe first, then in the
        stream, followed by the run's trailer, which proves that the child is gone: whatever
        the last run wrote after its result is dropped up to there. This run's first frame
        is its result, whose id (unguessable, and only ever in this spare's request) proves
        it is this run's; a run that ends without a whole frame (it wrote a frame's length
        and no more, say) is told by its marker, and its trailer says why. Anything else
        means a run wrote into the pipe what no honest run writes: the zygote is not
        trusted."""
        owed, self._owed_trailer = self._owed_trailer, None
        request_id = secrets.token_hex(16)  # unguessable: no run can forge a later run's result
        # marshal, not JSON: the child decodes it with one C call (no Python frames, fewer
        # copied pages). Format 4 reads the same in Python 3.4 and later. Only requests
        # travel this way: what comes back (a run could have written it) is always JSON.
        body = marshal.dumps({**message, "id": request_id}, 4)
        try:
            second = marshal.dumps(tuple(code()), 4)
        except Exception:  # never leave the child waiting: without them it does the work itself
            log.exception("could not prepare a run's code; the run compiles it itself")
            second = marshal.dumps((None, None), 4)
        # One deadline for the whole exchange, the request's writing included: a zygote that
        # takes no request (see _write) holds the call no longer than one that sends nothing.
        deadline = self._deadline = time.monotonic() + timeout
        # Whether the last run's marker is still to come (see _write).
        self._before_marker = owed is not None
        if not self._write(framed(body) + framed(second)):
            return None
        if owed is not None:
            # The last run's end: whatever it wrote after its result, up to its marker, then
            # its trailer, which proves that it is gone.
            if self._before_marker and not self._through_marker(deadline):
                return None
            trailer = self._read(deadline - time.monotonic(), owed)
            if trailer is None or not trailer.get("trailer") or trailer.get("id") != owed:
                return None
        got = self._result_or_end(deadline, request_id)
        if got is None:
            return None  # garbage, another run's (forged) result, a frame over the limit: tampering
        if type(got) is dict:  # this run's result (what the run wrote: never its trailer)
            self._owed_trailer = request_id
            got.pop("id", None)  # protocol detail, not part of the trace
            return got
        # It ended without a whole frame: what it wrote before its marker, then its trailer.
        trailer = self._read(deadline - time.monotonic(), request_id)
        if trailer is None or not trailer.get("trailer") or trailer.get("id") != request_id:
            return None
        # The child left without a result: the trailer says why.
        trailer_result = trailer.get("result")
        if not isinstance(trailer_result, dict) or not trailer_result:
            trailer_result = {"message": "the traced process exited without a result"}
            if got.written:
                trailer_result = {"status": "crashed",
                                  "message": f"the run wrote no whole result ({_unfinished(got.written)})"}
        trailer_result.pop("id", None)
        return trailer_result  # completed by Tracer._run (see schema.conform)

    # The stream and the control pipe (see runtime.MARKER_BYTES). The zygote writes a run's
    # marker on the control pipe before it writes it into the stream: so the server waits on
    # the stream alone (one wake-up a run, as before there was a marker), and reads the
    # control pipe without waiting, after reading the stream. Whatever it read of the stream
    # before it found no marker there was written before the marker.

    def _control(self) -> bytes | None:
        """The next end-of-run marker from the control pipe, if it has come (b"" once the
        zygote is gone). Markers come whole (a pipe write this small is never split)."""
        if self._control_r is None:
            raise ValueError("the tracer's control pipe is closed")  # (see Tracer._run)
        try:
            data = os.read(self._control_r, _MARKER_BYTES)
        except BlockingIOError:
            return None
        except OSError:
            return b""
        if data and len(data) != _MARKER_BYTES:
            return b""
        return data

    def _more(self, deadline: float) -> bool:
        """Wait for the stream, and add what it holds then to the buffer; False at the
        deadline or the stream's end."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        fd = self.proc.stdout.fileno()
        if not select.select([fd], [], [], remaining)[0]:
            return False
        chunk = os.read(fd, _READ_SIZE)
        self._buffer += chunk
        return bool(chunk)

    def _through_marker(self, deadline: float) -> bool:
        """Drop what the last run wrote after its result, through its end-of-run marker.
        Nothing of it is kept but what may begin the marker: until the marker has come,
        all of the stream read so far is the last run's."""
        while True:
            passed = self._past_marker()
            if passed is not None:
                return passed
            if not self._more(deadline):
                return False

    def _past_marker(self) -> bool | None:
        """One step of _through_marker, without waiting: True once the buffer is past the
        last run's marker, None while it is not yet there, False once the zygote is gone."""
        buffer = self._buffer
        if self._marker is None:
            marker = self._control()
            if marker == b"":
                return False
            self._marker = marker
        if self._marker is None:
            del buffer[:]
            return None
        end = buffer.find(self._marker)
        if end >= 0:
            del buffer[:end + _MARKER_BYTES]
            self._marker = None
            self._before_marker = False
            return True
        del buffer[:max(0, len(buffer) - _MARKER_BYTES + 1)]
        return None

    def _result_or_end(self, deadline: float, request_id: str) -> dict | _Ended | None:
        """This run's result: its first frame, which must be a JSON object with its id; or,
        where the run ended without writing a whole frame (its marker comes first), _Ended
        with what it wrote; None for anything else (tampering), at the deadline or the
        stream's end. A whole frame that is this run's result is taken without looking for
        the marker (the usual case: no read of the control pipe); one that is not may be a
        frame the run began, made whole by its marker and trailer, which the marker tells."""
        buffer = self._buffer
        while True:
            end = buffer.find(self._marker) if self._marker is not None else -1
            if len(buffer) >= 4 and not 0 <= end < 4:
                size = struct.unpack(">I", buffer[:4])[0]
                if not (size <= _MAX_FRAME and 0 <= end < 4 + size):  # (else: it ended inside the frame)
                    if size <= _MAX_FRAME and len(buffer) < 4 + size:
                        pass  # more to come, or the marker
                    else:
                        if size <= _MAX_FRAME:
                            result = _parsed(bytes(buffer[4:4 + size]))
                            if result is not None and result.get("id") == request_id:
                                del buffer[:4 + size]
                                return result
                        if self._marker is None:
                            marker = self._control()  # did the run end first?
                            if marker:
                                self._marker = marker
                                continue
                            if marker == b"":
                                return None
                        # Written whole by the run (or a length over the limit), not its result.
                        return None
            if end >= 0:
                written = bytes(buffer[:end])
                del buffer[:end + _MARKER_BYTES]
                self._marker = None
                return _Ended(written)
            if self._marker is None and buffer:
                marker = self._control()  # a run that wrote part of a frame and ended?
                if marker == b"":
                    return None
                if marker is not None:
                    self._marker = marker
                    continue
            if not self._more(deadline):
                return None

    def _write(self, data: bytes) -> bool:
        """Write a request; False if the zygote is gone, or takes no request by the call's
        deadline (`_deadline`, set by request()).

        The request pipe is non-blocking: a request that fits in it (most do: it holds
        64 KiB) goes in one write, as before. A longer one waits for the spare to read it;
        and the spare is forked only once the last run has ended and the zygote has
        written its trailer. A run may fill the stream with bytes after its result (review
        25: 1 MiB, written as it exited): the zygote then waits for room for the
        trailer, and a server that only wrote waited for the zygote, both for ever. So,
        while it writes, the server also reads the stream: what the last run wrote, up to
        its marker, is dropped as it comes (see _through_marker); what follows (its
        trailer, this run's bytes) is kept for request() to read."""
        fd = self.proc.stdin.fileno()
        try:
            written = os.write(fd, data)
        except BlockingIOError:
            written = 0
        except OSError:  # BrokenPipeError included: the zygote is gone
            return False
        if written == len(data):
            return True  # (the usual case: one system call)
        view = memoryview(data)[written:]
        stream = self.proc.stdout.fileno()
        while view:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                return False
            readable, writable, _ = select.select([stream], [fd], [], remaining)
            if readable:
                chunk = os.read(stream, _READ_SIZE)
                if not chunk:
                    return False
                self._buffer += chunk
                if self._before_marker:
                    if self._past_marker() is False:
                        return False
                elif len(self._buffer) > _MAX_FRAME + _READ_SIZE:
                    # (more than a frame and a trailer: no honest run writes before it has its
                    # whole request)
                    return False
            if writable:
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    pass
                except OSError:
                    return False
        return True

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """End the zygote at once, and with it the run it is serving (its processes die with
        their parent: PR_SET_PDEATHSIG), for an interrupt (Ctrl-C): close() would give it
        seconds to finish."""
        if self.proc.poll() is None:
            for kill in (lambda: os.killpg(self.proc.pid, signal.SIGKILL), self.proc.kill):
                try:
                    kill()
                    break
                except OSError:
                    continue
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=2)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        if getattr(self, "_control_r", None) is not None:
            os.close(self._control_r)
            self._control_r = None
        run_root = getattr(self, "info", {}).get("run_root")
        if run_root:
            # Under namespaces the zygote's tmpfs vanished with it, leaving the (empty)
            # folder it was mounted on; without, the zygote removed it already, or was
            # killed while it did.
            _remove_run_root(run_root)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except Exception:
                pass


def _remove_run_root(run_root: str) -> None:
    """Remove a closed zygote's runs' folder, off the caller's thread unless it is empty
    (the usual case): the caller may be a call that found its worker broken, and what a run
    left there (a run made 35 000 empty folders in 5 s) once held that call for minutes.
    What a thread cut short at exit leaves, the next zygote's sweep removes (see
    runtime.sweep_stale_run_roots: the folder's name holds a pid that is gone by then)."""
    try:
        os.rmdir(run_root)
        return
    except FileNotFoundError:
        return
    except OSError:
        pass
    threading.Thread(target=remove_tree, args=(run_root,), name="tracer-run-root-removal", daemon=True).start()


_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
MAX_PRELOAD = 32


def check_module_names(names: Sequence[str]) -> tuple[str, ...]:
    """`names` as a tuple of dotted module names; SettingsError for anything else."""
    if isinstance(names, str) or not all(isinstance(n, str) and _MODULE_NAME.match(n) for n in names):
        raise SettingsError(f"Modules to preload must be a list of module names, such as [\"numpy\"], not {names!r}.")
    if len(names) > MAX_PRELOAD:
        raise SettingsError(f"At most {MAX_PRELOAD} modules can be preloaded ({len(names)} were given).")
    return tuple(dict.fromkeys(names))


def _called_function(call: str) -> str | None:
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            return func.attr
    return None


class Tracer:
    """Runs Python code in a sandbox and returns line-by-line traces (see docs/trace-schema.md)."""

    def __init__(self, python: str | None = None, limits: Limits | None = None, isolation: str = "auto",
                 workers: int | None = None, workspace_root: str | os.PathLike | None = None,
                 preload: Sequence[str] = (), hash_seed: int | None = None):
        """`python`: the interpreter that runs the code (see find_python; default this one).
        `workers`: zygotes, i.e. runs at once (default 2, or 1 on a single CPU).
        `workspace_root`: put on sys.path of every run, after the traced file's folder, so
        absolute imports of the workspace's packages resolve.
        `preload`: modules (such as "numpy", "pandas") each zygote imports once, before any
        run, so that runs find them imported instead of importing them each time (see
        runtime._preload and docs/sandbox.md). One that is not installed is left out
        (`worker_info` says why); one whose import starts a thread stops the zygote.
        `hash_seed`: the runs' PYTHONHASHSEED (0 to 4294967295), for runs whose text must not
        change from one tracer to the next (the order of a set of strings follows it);
        None: a random seed per zygote, as Python's default."""
        if isolation not in ISOLATION_MODES:
            raise SettingsError(f"Unknown isolation {isolation!r}.", hint=f"Use one of {', '.join(ISOLATION_MODES)}.")
        self.preload = check_module_names(preload)
        if hash_seed is not None and (isinstance(hash_seed, bool) or not isinstance(hash_seed, int)
                                      or not 0 <= hash_seed <= 4294967295):
            raise SettingsError(f"hash_seed must be a whole number from 0 to 4294967295, not {hash_seed!r}.")
        self.hash_seed = hash_seed
        # Absolute (the zygote starts in "/"), but symlinks kept: a venv's python is a link.
        self.python = os.path.abspath(find_python(None, python) if python else find_python(None, None))
        self.limits = (limits or Limits()).validated()
        self._limits_request = self.limits.as_request()
        self.isolation = isolation
        self.workers = workers or max(1, min(2, os.cpu_count() or 1))
        # First in, first out: a zygote comes back to work only after the others, by when
        # its last child has exited and its trailer is waiting, so neither is on the path
        # of the next call.
        self._idle: queue.Queue[_Zygote] = queue.Queue()
        self._started = 0
        self._lock = threading.Lock()
        self._closed = False
        self._all: list[_Zygote] = []
        self._loop_cache: dict[str, tuple] = {}
        self._code_cache: dict[tuple[str, str], object] = {}
        self.workspace_root = os.path.abspath(workspace_root) if workspace_root else None
        self.last_record_result: dict | None = None  # status/message of the last record_calls

    # ---------------------------------------------------------------- pool

    def _borrow(self) -> _Zygote:
        while True:
            if self._closed:
                raise TracerError("This tracer has been closed.")
            try:
                zygote = self._idle.get_nowait()
            except queue.Empty:
                zygote = None
            if zygote is None:
                with self._lock:
                    start = self._started < self.workers
                    if start:
                        self._started += 1
                if start:
                    zygote = self._start_zygote()
                    with self._lock:
                        self._all.append(zygote)
                    return zygote
                zygote = self._idle.get()
            if zygote.alive():
                return zygote
            # It died while idle (killed, say, or it stopped: see runtime.serve). That is
            # no run's doing: replace it without counting it against the run.
            _replacing("a tracer worker had stopped while idle", zygote.last_words())
            self._discard(zygote)

    def _start_zygote(self) -> _Zygote:
        """A new zygote for a place already counted in `_started`, which is given back if
        the zygote cannot start."""
        try:
            zygote = _Zygote(self.python, self.isolation, self.preload, self.hash_seed)
        except BaseException:
            with self._lock:
                self._started -= 1
            raise
        _shield_this_process(zygote.info)
        return zygote

    def _give_back(self, zygote: _Zygote, healthy: bool) -> None:
        if healthy and not self._closed:
            self._idle.put(zygote)
            self._grow_in_background()
            return
        self._discard(zygote)

    def _discard(self, zygote: _Zygote) -> None:
        zygote.close()
        with self._lock:
            self._started -= 1
            if zygote in self._all:
                self._all.remove(zygote)

    def _grow_in_background(self) -> None:
        """Start the remaining workers off the caller's path once the tracer is in use, so
        that one-at-a-time callers (an editor) also rotate between warm zygotes."""
        with self._lock:
            if self._closed or self._started >= self.workers:
                return
            self._started += 1

        def start() -> None:
            try:
                zygote = self._start_zygote()
            except BaseException as exc:  # the next call that needs one will say why
                log.warning("could not start another tracer worker: %s", exc)
                return
            with self._lock:
                closed = self._closed
                if not closed:
                    self._all.append(zygote)
            if closed:
                zygote.close()
            else:
                self._idle.put(zygote)

        threading.Thread(target=start, name="tracer-worker-start", daemon=True).start()

    def _run(self, message: dict, limits: Limits) -> dict:
        # A zygote that broke (or that a hostile run tampered with) is replaced, and the run
        # is tried once more on a fresh one.
        words = ""
        for _attempt in range(2):
            zygote = self._borrow()
            healthy = False
            try:
                compile_here = zygote.same_bytecode
                result = zygote.request(message, lambda: self._code(message, compile_here),
                                        limits.timeout_s + _STUCK_MARGIN_S)
                healthy = result is not None and zygote.alive()
            except KeyboardInterrupt:
                zygote.kill()  # stop the run now (see _Zygote.kill), then let the interrupt through
                raise
            except (OSError, ValueError):
                if self._closed:  # (its pipes were closed under it: a server shutting down)
                    raise TracerError(_CLOSED_DURING_RUN) from None
                raise
            finally:
                if not healthy:
                    words = zygote.last_words()  # why, if the worker itself gave up
                self._give_back(zygote, healthy)
            if result is not None:
                return _within_limits(conform(result, message.get("function"), message.get("call")), limits, message)
            if self._closed:  # (no worker broke: the tracer was closed under the run)
                raise TracerError(_CLOSED_DURING_RUN)
            _replacing("a tracer worker broke", words)
        if words:  # the worker itself gave up: not the run's doing
            return crashed(f"the sandbox could not run this: its worker stopped, saying {words!r}",
                           message.get("function"), message.get("call"))
        return crashed("the run broke its sandbox worker twice (it died, hung, or wrote into the tracer's "
                       "private channel), so it has no trustworthy result", message.get("function"), message.get("call"))

    @property
    def isolation_info(self) -> dict:
        """What the zygote reported: interpreter version, whether namespaces are in use."""
        zygote = self._borrow()
        try:
            return dict(zygote.info)
        finally:
            self._give_back(zygote, zygote.alive())

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the running zygotes (for measuring their CPU use). In a PID
        namespace a zygote is the child of the process the server started (see
        runtime.become_pid_1): this is its pid as the server sees it."""
        with self._lock:
            return [z.info.get("host_pid") or z.proc.pid for z in self._all]

    @property
    def worker_info(self) -> list[dict]:
        """What each running zygote reported at start (pid, python, namespaces, run_root)."""
        with self._lock:
            return [dict(z.info) for z in self._all]

    # ---------------------------------------------------------------- API

    def _base(self, source: str, filename: str | None, limits: Limits | None) -> tuple[dict, Limits]:
        if not isinstance(source, str):
            raise SemcoderError("The source to trace must be text.")
        # A file that starts with a UTF-8 byte order mark runs under `python file.py`: its
        # reader takes the mark off, and it is no part of the program. compile() of the text
        # would refuse it ("invalid non-printable character U+FEFF"). It stands before the
        # first line: line numbers are the same without it.
        if source.startswith("\ufeff"):
            source = source[1:]
        if limits is None or limits is self.limits:
            limits, request_limits = self.limits, dict(self._limits_request)  # validated once
        else:
            limits = limits.validated()
            request_limits = limits.as_request()
        filename = os.path.abspath(filename) if filename else "<source>"
        sys_path = [os.path.dirname(filename)] if filename != "<source>" else []
        if self.workspace_root and self.workspace_root not in sys_path:
            sys_path.append(self.workspace_root)
        message = {"op": "run", "source": source, "filename": filename, "limits": request_limits,
                   "sys_path": sys_path}
        found = module_path(filename) if filename != "<source>" else None
        if found:
            message["module"], message["module_root"], message["is_package"] = found
        return message, limits

    def _script_folders(self, message: dict) -> list[str]:
        """Where a script would be run from: its own folder, then the workspace. Every run
        of a file that exists on disk sees their entries, read-only, in its working folder
        (see child._mirror), so it finds its data files by the relative paths it uses when
        run from there; a replayed call the same as the script. A link costs a run about
        20 µs here, so a bare source (no folder: the benchmarks, training data) has none."""
        return [folder for folder in message["sys_path"] if os.path.isdir(folder)]

    def _remember(self, cache: dict, key, value, size: int, entries: int) -> None:
        """Keep `value` for a source seen again (an editor re-traces the same file), oldest
        out first. Huge sources are not kept: the caches are bounded in bytes too."""
        if size > _CACHED_SOURCE_LIMIT:
            return
        with self._lock:
            if len(cache) >= entries:
                cache.pop(next(iter(cache)))
            cache[key] = value

    def _code(self, message: dict, compile_here: bool) -> tuple:
        """The second part of a request: the loop table of its source and, when the zygote's
        Python runs this one's bytecode, its code objects (module, call, expected value,
        entry point), compiled here as the child would. Compiling in a fresh child costs
        several times more: every page the compiler touches is copied. Either is None when
        something does not parse or compile here: the child then does it, and reports the
        error in its own words."""
        # One hold of the lock for everything: catch_warnings changes process-wide state.
        with _COMPILE_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a run's own SyntaxWarnings are not the server's
            loops, module = self._module(message["source"], message["filename"], compile_here)
            if module is None:
                return loops, None
            parts = [module]
            try:
                for key, mode in (("call", "eval"), ("expect", "eval"), ("entry", "exec")):
                    text = message.get(key)
                    parts.append(compile(text, f"<{key}>", mode, dont_inherit=True, optimize=0) if text else None)
            except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
                return loops, None
        return loops, tuple(parts)

    def _module(self, source: str, filename: str, compile_here: bool) -> tuple:
        """(loop table, module code object or None) of `source`, kept for a source seen
        again (an editor re-traces the same file). The caller holds _COMPILE_LOCK, with
        warnings off."""
        key = (source, filename)
        with self._lock:
            loops = self._loop_cache.get(source)
            module = self._code_cache.get(key) if compile_here else None
        if loops is not None and (module is not None or not compile_here):
            return loops, module
        try:
            if loops is None:
                if "for" in source or "while" in source:
                    loops = loop_table(ast.parse(source, filename))
                else:
                    loops = ([], [])  # no loop can hide from both words (comprehensions are not traced)
                self._remember(self._loop_cache, source, loops, len(source), 128)
            if compile_here and module is None:
                # From the text, not from the loop table's tree: compile() converts every
                # node of a tree back into the compiler's own form, which costs more than
                # parsing again (CRUXEval: about 40 µs a source).
                module = compile(source, filename, "exec", dont_inherit=True, optimize=0)
                self._remember(self._code_cache, key, module, len(source), 32)
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
            return loops, None
        return loops, module

    def trace_call(self, source: str, call: str, filename: str | None = None, limits: Limits | None = None,
                   expect: str | None = None, check: str | None = None) -> dict:
        """Run the module `source`, then trace `call` (an expression such as "f(1, [2])").
        With `expect`, also evaluate that expression in the module and report in
        `assertion` whether the return value equals it. With `check`, an expression that
        evaluates in the module to a function of one argument (`lambda v: len(v) == 3`: an
        assert's condition around the call), report whether it is true of the return value.
        With the `filename` of a file on
        disk, the run reads the files of its folder and of the workspace by relative
        paths, read-only, as a script run does (see _script_folders)."""
        message, limits = self._base(source, filename, limits)
        if not isinstance(call, str) or not call.strip():
            raise SemcoderError("The call to trace is empty.", hint='Give an expression such as "f(1, [2])".')
        if expect is not None and check is not None:
            raise SemcoderError("A trace takes an expected value or a check, not both.")
        message.update(mode="call", call=call.strip(), function=_called_function(call), expect=expect,
                       mirror=self._script_folders(message))
        if check is not None:
            # (sent as `expect`, the code object's place, with a flag that says how it is used)
            message.update(expect=check, check=True)
        return self._run(message, limits)

    def check_assert(self, source: str, call: str, expected: str, filename: str | None = None,
                     limits: Limits | None = None) -> dict:
        """`assert call == expected`, run in the sandbox: the trace, with `assertion`."""
        return self.trace_call(source, call, filename=filename, limits=limits, expect=expected)

    def run_asserts(self, source: str, asserts: list[str], filename: str | None = None,
                    limits: Limits | None = None) -> list[dict]:
        """For each `assert CALL == EXPECTED` line: {"assert", "passed", "trace"}.
        Lines of another shape are run as a call whose truthiness is the result."""
        results = []
        for text in asserts:
            call, expected = split_assert(text)
            if expected is None:  # `assert expr`: passes when expr is truthy
                call, expected = f"bool({call})", "True"
            trace = self.trace_call(source, call, filename=filename, limits=limits, expect=expected)
            passed = trace.get("status") == "ok" and bool((trace.get("assertion") or {}).get("passed"))
            results.append({"assert": text, "passed": passed, "trace": trace})
        return results

    def record_calls(self, source: str, target: str = "f", max_calls: int = 5, filename: str | None = None,
                     entry: str | None = None, limits: Limits | None = None,
                     target_filename: str | None = None, target_line: int | None = None,
                     also: list[tuple[str, int | None]] = ()) -> list[dict]:
        """Run the module as a script (its `if __name__ == "__main__"` block), or the module
        then `entry` (e.g. "test_f()" or "main()"), and return the first `max_calls` calls of
        `target`: {"call": "f(1, [2])", "args": [{"name", "repr", "literal"}], "literal": bool,
        "target": "f", "caller_line": int | None}. `target` may be "Class.method";
        `target_line` (its first line) tells methods apart on interpreters before 3.11.
        `also`, [(name, first line or None), ...]: other functions whose calls are kept on
        the way (up to `max_calls` each; each call's "target" says whose), so that a script
        that runs long costs that time once for all of them. The run still ends when
        `target` has `max_calls` calls: then the others' lists may be incomplete."""
        message, limits = self._base(source, filename, limits)
        if not target or not all(name for name, _ in also):
            raise SemcoderError("record_calls needs the name of each function to watch.")
        message.update(mode="record", target=target, max_calls=max(1, int(max_calls)), entry=entry,
                       also=[[str(name), int(line) if line else None] for name, line in also if name != target],
                       call=None, function=target, mirror=self._script_folders(message),
                       target_filename=os.path.abspath(target_filename) if target_filename else None,
                       target_line=int(target_line) if target_line else None)
        result = self._run(message, limits)
        self.last_record_result = result
        return list(result.get("calls") or [])

    def watch_call(self, source: str, target: str = "f", filename: str | None = None, entry: str | None = None,
                   limits: Limits | None = None, target_line: int | None = None,
                   from_line: int | None = None) -> dict:
        """Run the module as a script, or the module then `entry`, and trace the first call
        of `target` (a function of `source`, or "Class.method") where it happens, with
        whatever arguments the run gives it. The trace of that call, plus `caller_line`
        (see docs/trace-schema.md). `target_line`: the target's first line (its first
        decorator's, if any), which tells methods apart on interpreters before 3.11.
        `from_line`: only a call made from that line of `source` counts."""
        message, limits = self._base(source, filename, limits)
        if not target:
            raise SemcoderError("watch_call needs the name of the function to trace.")
        message.update(mode="watch", target=target, entry=entry, call=None, function=target,
                       mirror=self._script_folders(message),
                       target_line=int(target_line) if target_line else None,
                       from_line=int(from_line) if from_line else None)
        return self._run(message, limits)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            zygotes, self._all = self._all, []
        for zygote in zygotes:
            zygote.close()

    def __enter__(self) -> "Tracer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten tracer must not leave processes behind
        try:
            self.close()
        except Exception:
            pass


def _shield_this_process(info: dict) -> None:
    """Where runs see this machine's /proc (no PID namespace with a /proc of its own: the
    audit-only fallback, say), make this process, the server, non-dumpable before any run:
    runs are processes of the same user, and through /proc/<pid> could read its memory,
    its environment and its descriptors (the editor's messages on its stdin, the zygotes'
    request pipes), wherever the audit hook misses a path. (It costs core dumps and
    debuggers of this user attaching to it.) Nothing to do, or nothing possible (no
    _confine), otherwise."""
    if info.get("pid_namespace") and info.get("own_proc"):
        return
    try:
        from . import _confine
        _confine.undumpable()
    except (ImportError, OSError, NotImplementedError) as exc:
        log.warning("runs see this machine's processes, and this process could not hide itself from them: %s", exc)


# The most characters an honest run writes in the texts of its result that no limit of its
# own governs (see child.py); the server cuts a longer one, ending in "...", as the run cuts
# its values (see _within_limits).
_EXPECTED_REPR_CHARS = 1000  # an assertion's expected value (child.py: state.repr(expected, 1000))
_NAME_CHARS = 1000  # a name: a function's, an exception's type, a local's or a place's (`grid[5][2]`)
_RAISED_CHARS = _NAME_CHARS + 2 + MESSAGE_LEN  # "Type: message" (safe_repr.exception_text)
_SENTENCE_CHARS = 10_000  # a sentence (message, exited, trace_stopped), a line of source, a file's name
_ARG_REPR_CHARS = 100_000  # a recorded call's argument (child._call_text: a replay needs it whole)
_CALL_CHARS = 200_000  # a call's text, made of its arguments' reprs
# A value in an event: up to max_repr characters, 8 more where its first and last items
# show (safe_repr.SafeRepr.ends).
_ENDS_EXTRA = 8


def _cut_text(text: str, most: int) -> str:
    """`text` (longer than `most`) cut to `most` characters, ending in "..."."""
    return text[:max(most - 3, 1)] + "..."


def _held(text: str | None, most: int) -> str | None:
    return text if text is None or len(text) <= most else _cut_text(text, most)


def _held_texts(texts: dict, most: int) -> dict:
    """An event's `changes` or `globals`, names and values held to their limits."""
    if max(map(len, texts.values())) <= most and max(map(len, texts)) <= _NAME_CHARS:
        return texts  # (the usual case)
    return {_held(name, _NAME_CHARS): _held(value, most) for name, value in texts.items()}


_FUNCTION = operator.itemgetter("function")
_CHANGES = operator.itemgetter("changes")
_GLOBALS = operator.methodcaller("get", "globals", {})  # (the default is only read)
_VALUE = operator.methodcaller("get", "value", "")


def _events_within(events: list, value_most: int) -> bool:
    """Whether every text of `events` is within the least of the limits on them (a value's
    `value_most`, a name's _NAME_CHARS): when not, each event is looked at (an exception
    event's value may be longer, and a name). One pass in C over the texts: a trace may
    hold 20 000 events, and this runs for every trace."""
    most = min(value_most, _NAME_CHARS)
    texts = list(map(_CHANGES, events))
    if max(map(len, events)) > 6:  # (fields past the six required: most events have none)
        more = [event for event in events if len(event) > 6]
        texts += map(_GLOBALS, more)
        if max(map(len, map(_VALUE, more))) > most:
            return False
    return max(map(len, chain(map(_FUNCTION, events), chain.from_iterable(texts),
                              chain.from_iterable(map(dict.values, texts))))) <= most


def _within_limits(result: dict, limits: Limits, request: dict) -> dict:
    """`result` held to the limits the run had, whatever it says: a run writes its own
    result, and a hostile one could hand the server (and the editor) output, events or
    texts far past them (an assertion's expected repr of 3 MB, which the server then read
    back with ast.literal_eval, 470 bytes of memory a character: review 25). Every text
    of it is held to the limit of its kind (the run's own, or the most an honest run
    writes: see _NAME_CHARS and the rest); `request`: what the run was sent, whose own
    texts (the call, say) a result may quote whole. An honest run's result is unchanged.
    `result` has the schema's shape (schema.conform)."""
    truncated = result["truncated"]
    for stream in ("stdout", "stderr"):
        if len(result[stream]) > limits.max_output_bytes:
            result[stream] = result[stream][:limits.max_output_bytes]
            truncated[stream] = True
    module_output = result.get("module_output")
    if module_output is not None:  # (counts of those characters)
        for stream in ("stdout", "stderr"):
            module_output[stream] = min(module_output[stream], len(result[stream]))
    events = result["events"]
    if len(events) > limits.max_events:
        del events[limits.max_events:]
        truncated["events"] = True
    shown = max(limits.max_return_repr, 64)  # (as child._return_info)
    returned = result["return"]
    if returned is not None and len(returned["repr"]) > shown + 3:  # (+ "...")
        returned["repr"] = returned["repr"][:shown] + "..."
        truncated["return"] = True
    value_most = limits.max_repr + _ENDS_EXTRA
    raised_most = max(value_most, _RAISED_CHARS)
    if events and not _events_within(events, value_most):
        for event in events:
            if len(event["function"]) > _NAME_CHARS:
                event["function"] = _cut_text(event["function"], _NAME_CHARS)
            if event["changes"]:
                event["changes"] = _held_texts(event["changes"], value_most)
            if event.get("globals"):
                event["globals"] = _held_texts(event["globals"], value_most)
            if "value" in event:
                event["value"] = _held(event["value"], raised_most if event["kind"] == "exception" else value_most)
    exception = result["exception"]
    if exception is not None:
        exception["type"] = _held(exception["type"], _NAME_CHARS)
        # (its first MESSAGE_LEN characters, and what the run adds to say why: see
        # child._exception_result)
        exception["message"] = _held(exception["message"], _SENTENCE_CHARS)
        for frame in exception["traceback"]:
            frame["function"] = _held(frame["function"], _NAME_CHARS)
            frame["text"] = _held(frame["text"], _SENTENCE_CHARS)
    assertion = result["assertion"]
    if assertion is not None:
        if assertion.get("expected_repr") is not None:
            assertion["expected_repr"] = _held(assertion["expected_repr"], _EXPECTED_REPR_CHARS)
        actual = assertion.get("actual_repr")
        if actual is not None and len(actual) > shown + 3:  # (the return value's repr)
            assertion["actual_repr"] = actual[:shown] + "..."
            truncated["return"] = True
        if "error" in assertion:
            assertion["error"] = _held(assertion["error"], _RAISED_CHARS)
    if len(result["message"]) > _SENTENCE_CHARS:
        # (a run that cannot compile its call or expected value quotes it: "the call 'f(' has
        # a syntax error: …")
        quoted = sum(len(repr(request.get(key) or "")) for key in ("call", "expect", "entry"))
        result["message"] = _held(result["message"], _SENTENCE_CHARS + quoted)
    result["function"] = _held(result["function"], max(_NAME_CHARS, len(request.get("function") or "")))
    result["call"] = _held(result["call"], max(_CALL_CHARS, len(request.get("call") or "")))
    for key in ("exited", "trace_stopped"):
        if key in result:
            result[key] = _held(result[key], _SENTENCE_CHARS)
    calls = result.get("calls")
    if calls is not None:
        # (at most max_calls of each function watched)
        del calls[int(request.get("max_calls") or 0) * (1 + len(request.get("also") or ())):]
        for recorded in calls:
            recorded["target"] = _held(recorded["target"], _NAME_CHARS)
            recorded["caller_file"] = _held(recorded["caller_file"], _SENTENCE_CHARS)
            for arg in recorded["args"]:
                arg["name"] = _held(arg["name"], _NAME_CHARS)
                if len(arg["repr"]) > _ARG_REPR_CHARS:
                    # (a text cut reads back as no value: the call cannot be replayed)
                    arg["repr"] = _cut_text(arg["repr"], _ARG_REPR_CHARS)
                    arg["literal"] = recorded["literal"] = False
            if len(recorded["call"]) > _CALL_CHARS:
                recorded["call"] = _cut_text(recorded["call"], _CALL_CHARS)
                recorded["literal"] = False
    return result


_CLOSED_DURING_RUN = "The tracer was closed while this run was going on."


def _replacing(what: str, words: str) -> None:
    """Log that a worker is being replaced, with its last words if it left any."""
    log.warning("%s%s; starting a new one", what, f" (it said: {words})" if words else "")


def describe_isolation(info: dict) -> str:
    """What holds a run, in one sentence for the server's log, from a zygote's report
    (`Tracer.worker_info`): which namespaces, or why none and what that leaves."""
    python = f"Python {info.get('python', '?')} ({info.get('executable', '?')})"
    guards = ["the audit hook", "rlimits"] + ["a seccomp filter"] * bool(info.get("syscall_filter")) \
        + ["Landlock"] * bool(info.get("landlock")) + ["a fork filter"] * bool(info.get("forks_refused"))
    if info.get("namespaces"):
        if info.get("pid_namespace"):
            spaces = "user, network, mount and PID namespaces"
            if info.get("own_proc"):
                spaces += " (a /proc of their own)"
            elif "own_proc" in info:  # runs see the machine's processes there (docs/sandbox.md)
                spaces += f" (the host's /proc: {info.get('own_proc_error') or 'not mounted'})"
        else:  # a run can then reach other processes of the user by pid (docs/sandbox.md)
            why = info.get("pid_namespace_error") or "not available"
            spaces = f"user, network and mount namespaces (no PID namespace: {why})"
        if info.get("read_only_outside"):
            files = "every other mount read-only"
        elif info.get("landlock"):
            files = "writes outside a run's folder refused by Landlock (no mount_setattr)"
        else:
            files = "the audit hook alone refusing writes outside a run's folder (no mount_setattr)"
        return f"runs of {python} are sandboxed in Linux {spaces}, {files}, with {_listed(guards, 'and')}"
    why = info.get("namespaces_error") or "not available"
    # What the kernel still refuses native code (code that makes system calls itself).
    stopped, free = [], []
    if info.get("forks_refused"):  # (without it, the sentence names what it does not stop, and no more)
        stopped.append("making processes")
    (stopped if info.get("syscall_filter") else free).extend(
        ["starting programs", "reaching other processes", "using the network"])
    (stopped if info.get("landlock") else free).append("writing files outside the run's folder")
    # Without Landlock only the hook holds writes, and Python code that knows how can race
    # it (docs/sandbox.md, "Not covered"): the sentence claims no more than that.
    python_code = "careless and hostile Python code" if info.get("landlock") else (
        "careless Python code and most hostile Python code (not one that races the audit hook to write outside "
        "the run's folder)")
    if stopped:
        reach = f"{python_code}, and native code from " + _listed(stopped, "or")
        reach += f", not from {_listed(free, 'or')}" if free else ""
    else:
        reach = f"{python_code}, not native code that makes system calls itself"
    return (f"runs of {python} are held by {_listed(guards, 'and')} only (Linux namespaces: {why}); that stops "
            f"{reach} (docs/sandbox.md)")


def _listed(items: list[str], conjunction: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def module_path(filename: str) -> tuple[str, str, bool] | None:
    """(dotted name, the folder above its top package, whether it is a package's
    __init__.py) of a file that lies in a package (its folder holds an __init__.py), as
    `import` would name it: `pkg.sub.core` for pkg/sub/core.py. None for a file that is a
    module of its own (or whose folders are no identifiers)."""
    folder, base = os.path.split(filename)
    stem, extension = os.path.splitext(base)
    if extension != ".py" or not stem.isidentifier():
        return None
    is_package = stem == "__init__"
    parts = [] if is_package else [stem]
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder, name = os.path.split(folder)
        if not name.isidentifier():
            return None
        parts.append(name)
    if not parts or (len(parts) == 1 and not is_package):
        return None
    return ".".join(reversed(parts)), folder, is_package


def split_assert(text: str) -> tuple[str, str | None]:
    """`assert f(1) == 2` -> ("f(1)", "2"); `assert g(x)` -> ("g(x)", None)."""
    try:
        node = ast.parse(text.strip()).body[0]
    except (SyntaxError, IndexError) as exc:
        raise SemcoderError(f"Not an assertion: {text!r}.") from exc
    if not isinstance(node, ast.Assert):
        raise SemcoderError(f"Not an assertion: {text!r}.", hint="Write it as `assert f(...) == expected`.")
    test = node.test
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
        return ast.unparse(test.left), ast.unparse(test.comparators[0])
    return ast.unparse(test), None
