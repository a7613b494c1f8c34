"""A spare copies the pages its run will write all at once, as it starts (inference/tracer/
prefault.py, _prefault.c): the zygote learns them from probes before any run, every run
finds them copied, and nothing else about a run changes."""

from __future__ import annotations

import ast
import json
import mmap
import os
import platform
import struct
import sys

import pytest

from conftest import CRUXEVAL
from semcoder_inference.tracer import Tracer, pool, prefault
from semcoder_inference.tracer.child import framed

from test_tracer_protocol import FEATURES, _compare

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pagemap and MADV_POPULATE are Linux's")

PAGE = os.sysconf("SC_PAGE_SIZE")
_KERNEL = tuple(int(part) for part in platform.release().split("-")[0].split(".")[:2])

# Run inside the sandbox: how many of the zygote's planned pages this run has copied by the
# time its function starts, and how many there are.
COPIED = (
    "import os, struct, sys\n\n"
    "def f():\n"
    "    plan = next(m for n, m in sys.modules.items() if n.endswith('tracer.prefault')).PLAN[0]\n"
    "    fd = os.open('/proc/self/pagemap', os.O_RDONLY)\n"
    "    page, total, copied = os.sysconf('SC_PAGE_SIZE'), 0, 0\n"
    "    for start, length in struct.iter_unpack('=QQ', plan):\n"
    "        for entry in memoryview(os.pread(fd, length // page * 8, start // page * 8)).cast('Q'):\n"
    "            total += 1\n"
    "            copied += entry >> 63 & entry >> 56 & 1\n"
    "    return total, copied\n"
)


def _exclusive_pages(address: int, pages: int) -> int:
    """How many of these pages of this process are present and mapped by it alone."""
    with open("/proc/self/pagemap", "rb") as pagemap:
        pagemap.seek(address // PAGE * 8)
        entries = memoryview(pagemap.read(pages * 8)).cast("Q")
    return sum(1 for entry in entries if entry >> 63 and entry >> 56 & 1)


def _in_a_fork(work) -> bytes:
    """Run `work()` in a forked child of this process; what it returned (bytes)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.write(write_end, work())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        data = reader.read()
    os.waitpid(pid, 0)
    return data


def test_the_native_half_is_built_by_the_install():
    # `pip install -e .` compiles it (a C compiler is needed anyway: llama-cpp-python builds
    # llama.cpp); without it the tracer works, slower, and these tests would prove nothing.
    assert prefault._prefault is not None, "inference/tracer/_prefault.c was not built: reinstall with a C compiler"
    # For the stable ABI: the same build loads into the user's own interpreter, whatever its
    # version (tests/test_tracer_interpreters.py checks that their zygotes plan pages).
    assert prefault._prefault.__file__.endswith(".abi3.so"), prefault._prefault.__file__


def test_populate_copies_a_range_in_one_call_and_changes_no_byte():
    import ctypes  # this test process only: to find the buffer's address

    pages = 64
    buffer = mmap.mmap(-1, pages * PAGE, flags=mmap.MAP_PRIVATE)  # copied on write, as a heap is
    buffer.write(bytes(range(256)) * (pages * PAGE // 256))  # every page present, in this process
    address = ctypes.addressof(ctypes.c_char.from_buffer(buffer))

    def child() -> bytes:
        shared = _exclusive_pages(address, pages)  # after the fork: shared with the parent
        refused = prefault._prefault.populate(struct.pack("=QQ", address, pages * PAGE))
        copied = _exclusive_pages(address, pages)
        same = buffer[:] == bytes(range(256)) * (pages * PAGE // 256)
        return json.dumps([shared, refused, copied, same]).encode()

    shared, refused, copied, same = json.loads(_in_a_fork(child))
    assert (shared, refused, copied, same) == (0, 0, pages, True)


def test_populate_says_what_it_could_not_do_and_refuses_malformed_ranges():
    assert prefault._prefault.populate(b"") == 0
    # Page 1 is never mapped: refused, counted, nothing raised.
    assert prefault._prefault.populate(struct.pack("=QQQQ", PAGE, PAGE, PAGE, PAGE)) == 2
    with pytest.raises(ValueError, match="pairs of 64-bit"):
        prefault._prefault.populate(b"\0" * 24)
    with pytest.raises(TypeError):  # bytes only: their data is aligned for 64-bit reads
        prefault._prefault.populate(bytearray(16))
    assert prefault._prefault.supported() is (_KERNEL >= (5, 14))


def test_populate_asks_for_every_range_in_one_call_where_the_kernel_can_and_still_counts_refusals():
    import ctypes  # this test process only: to find the buffer's address

    # process_madvise on the caller itself (PIDFD_SELF_PROCESS) from Linux 6.15; before,
    # one madvise per range. supported() finds out, as the zygote calls it before a fork.
    assert prefault._prefault.supported()
    assert prefault._prefault.batched() is (_KERNEL >= (6, 15))
    pages = 8
    buffer = mmap.mmap(-1, pages * PAGE, flags=mmap.MAP_PRIVATE)
    buffer.write(b"z" * (pages * PAGE))
    address = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
    # Pages 0-1 and 4-6 of the buffer, with a range the kernel refuses (page 1 of memory,
    # never mapped) between them: process_madvise stops there, and the ranges are done
    # again one by one, so the refusal is counted and the rest is copied all the same.
    ranges = struct.pack("=6Q", address, 2 * PAGE, PAGE, PAGE, address + 4 * PAGE, 3 * PAGE)

    def child() -> bytes:
        refused = prefault._prefault.populate(ranges)
        copied = [_exclusive_pages(address + index * PAGE, 1) for index in range(pages)]
        return json.dumps([refused, copied, buffer[:] == b"z" * (pages * PAGE)]).encode()

    refused, copied, same = json.loads(_in_a_fork(child))
    assert (refused, copied, same) == (1, [1, 1, 0, 0, 1, 1, 1, 0], True)


def test_populate_takes_more_ranges_than_one_system_call_can():
    import ctypes  # this test process only: to find the buffer's address

    assert prefault._prefault.supported()
    ranges = 1030  # process_madvise takes at most 1024 a call (UIO_MAXIOV)
    buffer = mmap.mmap(-1, 2 * ranges * PAGE, flags=mmap.MAP_PRIVATE)
    buffer.write(b"q" * (2 * ranges * PAGE))
    address = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
    every_other_page = b"".join(struct.pack("=QQ", address + 2 * index * PAGE, PAGE) for index in range(ranges))

    def child() -> bytes:
        refused = prefault._prefault.populate(every_other_page)
        copied = _exclusive_pages(address, 2 * ranges)
        return json.dumps([refused, copied, _exclusive_pages(address + (2 * ranges - 2) * PAGE, 1)]).encode()

    assert json.loads(_in_a_fork(child)) == [0, ranges, 1]


def test_a_set_plan_is_copied_by_every_child_inside_fork_itself():
    """The zygote hands its plan to _prefault (set_plan), and a fork handler copies it in
    each new child before fork returns there: before Python's own after-fork work, which
    writes pages of the plan too. An empty plan copies nothing."""
    import ctypes  # this test process only: to find the buffer's address

    pages = 12
    buffer = mmap.mmap(-1, pages * PAGE, flags=mmap.MAP_PRIVATE)
    buffer.write(b"p" * (pages * PAGE))
    address = ctypes.addressof(ctypes.c_char.from_buffer(buffer))

    def child() -> bytes:  # its first Python, after os.fork returned
        copied = [_exclusive_pages(address + index * PAGE, 1) for index in range(pages)]
        return json.dumps([copied, buffer[:] == b"p" * (pages * PAGE)]).encode()

    try:
        prefault._prefault.set_plan(struct.pack("=4Q", address + 2 * PAGE, 3 * PAGE, address + 9 * PAGE, PAGE))
        copied, same = json.loads(_in_a_fork(child))
        assert (copied, same) == ([0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0], True)
    finally:
        prefault._prefault.set_plan(b"")  # this process forks for other tests too
    copied, same = json.loads(_in_a_fork(child))
    assert (copied, same) == ([0] * pages, True)
    with pytest.raises(ValueError, match="pairs of 64-bit"):
        prefault._prefault.set_plan(b"\0" * 24)


def test_the_plan_keeps_the_pages_most_probes_wrote_as_ranges():
    reports = [[1, 2, 3, 10, 40], [2, 3, 10, 11], [3, 4, 10, 11]]
    packed = prefault.plan(reports, quorum=2)
    assert list(struct.iter_unpack("=QQ", packed)) == [(2 * PAGE, 2 * PAGE), (10 * PAGE, 2 * PAGE)]
    assert prefault.pages_in(packed) == 4
    assert prefault.plan(reports, quorum=3) == struct.pack("=QQ", 3 * PAGE, PAGE) + struct.pack("=QQ", 10 * PAGE, PAGE)
    assert prefault.plan([], quorum=1) == b"" and prefault.pages_in(b"") == 0


def test_a_probe_report_is_read_back_only_when_whole():
    pages = [7, 8, 100]
    whole = framed(struct.pack("=3Q", *pages))
    assert prefault.parse_report(whole) == pages
    assert prefault.parse_report(whole[:-3]) is None
    assert prefault.parse_report(whole[:-8]) is None
    assert prefault.parse_report(b"") is None


def test_written_pages_are_the_pages_a_child_wrote_since_its_fork():
    import ctypes  # this test process only: to find the buffer's address

    pages = 16
    buffer = mmap.mmap(-1, pages * PAGE, flags=mmap.MAP_PRIVATE)  # copied on write, as a heap is
    buffer.write(b"x" * (pages * PAGE))
    first = ctypes.addressof(ctypes.c_char.from_buffer(buffer)) // PAGE

    def child() -> bytes:
        for index in (3, 4, 9):
            buffer[index * PAGE] = ord("y")
        maps = os.open("/proc/self/maps", os.O_RDONLY)
        pagemap = os.open("/proc/self/pagemap", os.O_RDONLY)
        return json.dumps(prefault.written_pages(maps, pagemap)).encode()

    written = set(json.loads(_in_a_fork(child)))
    assert {first + 3, first + 4, first + 9} <= written
    assert not {first + index for index in range(pages) if index not in (3, 4, 9)} & written


@pytest.fixture(scope="module")
def tracers():
    with pytest.MonkeyPatch.context() as monkeypatch:
        tracers = {}
        for setting in (True, False):
            monkeypatch.setattr(pool, "_PREFAULT", setting)
            tracer = tracers[setting] = Tracer(workers=1)
            tracer.trace_call("def f():\n    return 1\n", "f()")  # the zygote starts with the setting
    yield tracers
    for tracer in tracers.values():
        tracer.close()


def test_the_zygote_plans_pages_and_every_run_finds_them_copied(tracers):
    info = tracers[True].isolation_info["prefault"]
    assert info["error"] is None and info["pages"] > 100, info
    # Under the zygote's system call filter, process_madvise on itself goes through.
    assert info["one_call"] is (_KERNEL >= (6, 15)), info
    assert tracers[False].isolation_info["prefault"] == {"pages": 0, "error": "turned off"}
    for _ in range(3):
        trace = tracers[True].trace_call(COPIED, "f()")
        total, copied = ast.literal_eval(trace["return"]["repr"])
        # All of them, as the function starts. (Without the copying, a run has written only
        # about 87% of them by then: the rest is the tracing and the result still to come.)
        assert total == info["pages"] and copied >= 0.99 * total, (total, copied)


def test_copying_pages_at_once_never_changes_a_run(tracers):
    rows = [json.loads(line) for line in CRUXEVAL.read_text().splitlines()[:40]]
    cases = FEATURES + [(r["code"], f"f({r['input']})", r["output"]) for r in rows]
    for source, call, expect in cases:
        copied = tracers[True].trace_call(source, call, filename="/work/case.py", expect=expect)
        plain = tracers[False].trace_call(source, call, filename="/work/case.py", expect=expect)
        assert _compare(copied) == _compare(plain), source
        assert copied["status"] in ("ok", "exception"), copied["message"]


def test_probes_that_fail_leave_spares_faulting_as_before_and_say_so(tmp_path, monkeypatch):
    """Where the probes cannot read their pages (no /proc, say), the zygote plans nothing,
    says why, and traces as ever."""
    wrapper = tmp_path / "no_proc_launch.py"
    wrapper.write_text(
        "import runpy, sys\n"
        f"runtime = runpy.run_path({str(pool.LAUNCHER)!r}, run_name='no_proc')['load_runtime']()\n"
        "def no_proc(report_fd):\n"
        "    raise FileNotFoundError('/proc/self/pagemap')\n"
        "runtime.prefault.start_probe = no_proc\n"
        "sys.exit(runtime.main(sys.argv))\n"
    )
    monkeypatch.setattr(pool, "LAUNCHER", wrapper)
    with Tracer(workers=1, isolation="audit") as tracer:
        trace = tracer.trace_call("def f(xs):\n    return sorted(xs)\n", "f([2, 1])")
        assert trace["status"] == "ok" and trace["return"]["repr"] == "[1, 2]"
        assert tracer.isolation_info["prefault"] == {"pages": 0, "error": "the probes failed"}
