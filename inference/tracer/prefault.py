"""The pages a spare copies as it starts, in one go (the zygote's side of _prefault.c).

A run takes about 400 copy-on-write faults in its fresh child, at several microseconds each
on the machines measured here, and the pages are nearly the same every run: the allocator's
pools, the reference counts of the interpreter's and our own objects, the interpreter's
own data (docs/architecture.md). So the zygote learns them once, before any run, from a few
probe children that do what a spare does with the warm-up request (runtime.learn_pages),
and every spare has the kernel copy all of them as it is forked: one system call for all
the ranges (`process_madvise`, Linux 6.15+), or one `madvise` per range, costs less than a
fault per page. The zygote hands the plan to _prefault (set_plan), whose fork handler
makes that call in each new child inside fork() itself, before Python's own after-fork
work, which writes about 40 of those pages already. Nothing changes in memory, only when,
and at what price, the copies are made.

Linux only (`/proc/self/pagemap`; `MADV_POPULATE_WRITE` needs 5.14+), and only where
_prefault was built (once, for Python's stable ABI: every CPython 3.9+ loads it);
elsewhere the plan stays empty and spares take their faults one by one, as before.
Standard library only, Python 3.9+.
"""

from __future__ import annotations

import os
import struct

try:
    from . import _prefault
except ImportError:  # not built (no compiler), or not CPython: spares fault page by page
    _prefault = None

# What every spare copies: packed (start, length) pairs of native uint64, for
# _prefault.set_plan. Set once, by the zygote (runtime.learn_pages).
PLAN = [b""]
# In a probe child only: its /proc/self/maps and pagemap (opened before its run, whose
# audit hook may refuse them) and the pipe it reports on.
PROBE = [None]

_PRESENT = 1 << 63
_EXCLUSIVE = 1 << 56  # mapped by this process alone: copied (or new) since the fork
_PAGE = os.sysconf("SC_PAGE_SIZE")
# Mappings larger than this are skipped: a run touches little of a huge reservation.
_LARGEST_MAPPING = 256 << 20


def start_probe(report_fd):
    """In a probe child, before its run: open what report() reads. Returns the descriptors
    the child must keep open."""
    maps = os.open("/proc/self/maps", os.O_RDONLY)
    pagemap = os.open("/proc/self/pagemap", os.O_RDONLY)
    PROBE[0] = (maps, pagemap, report_fd)
    return PROBE[0]


def report():
    """In a probe child, once its result is written: send the pages it wrote (see
    written_pages) on its report pipe, as one frame of the tracer's pipes (child.framed)
    holding native uint64 page numbers."""
    from .child import framed, write_all  # child imports this module: not at the top

    maps, pagemap, report_fd = PROBE[0]
    pages = written_pages(maps, pagemap)
    write_all(report_fd, framed(struct.pack("=%dQ" % len(pages), *pages)))


def parse_report(data):
    """The page numbers of a report frame (None unless it is whole)."""
    if len(data) < 4 or struct.unpack_from(">I", data)[0] != len(data) - 4 or (len(data) - 4) % 8:
        return None
    return memoryview(data)[4:].cast("Q").tolist()


def written_pages(maps_fd, pagemap_fd):
    """The numbers of the pages this process has written since its fork: present and
    mapped by it alone, in its private writable mappings (/proc/self/pagemap)."""
    text = b""
    while True:
        chunk = os.pread(maps_fd, 65536, len(text))
        if not chunk:
            break
        text += chunk
    pages = []
    for line in text.decode("ascii", "replace").splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        perms, name = fields[1], fields[5] if len(fields) > 5 else ""
        if perms[:2] != "rw" or perms[3] != "p" or name.startswith("[v") or end - start > _LARGEST_MAPPING:
            continue  # read-only, shared, the kernel's own ([vvar], [vsyscall]), or huge
        first = start // _PAGE
        data = os.pread(pagemap_fd, (end - start) // _PAGE * 8, first * 8)
        for index, entry in enumerate(memoryview(data).cast("Q")):
            if entry & (_PRESENT | _EXCLUSIVE) == _PRESENT | _EXCLUSIVE:
                pages.append(first + index)
    return pages


def plan(reports, quorum):
    """Packed ranges of the pages that at least `quorum` of `reports` (lists of page
    numbers) wrote, for PLAN."""
    seen = {}
    for pages in reports:
        for page in pages:
            seen[page] = seen.get(page, 0) + 1
    ranges = []
    for page in sorted(p for p, n in seen.items() if n >= quorum):
        if ranges and ranges[-1][0] + ranges[-1][1] == page:
            ranges[-1][1] += 1
        else:
            ranges.append([page, 1])
    return b"".join(struct.pack("=QQ", page * _PAGE, count * _PAGE) for page, count in ranges)


def pages_in(packed):
    """How many pages packed ranges cover."""
    return sum(length for _, length in struct.iter_unpack("=QQ", packed)) // _PAGE
