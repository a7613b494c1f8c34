/* _prefault: a spare copies the pages its run will write, all at once, as it is forked.

After a fork, every page a child writes costs it a copy-on-write fault: several microseconds
each on the machines this was measured on, much of it the fault's own entry and exit. The
pages a run writes are nearly the same every run (docs/architecture.md), so a spare asks the
kernel to copy all of them at once: MADV_POPULATE_WRITE (Linux 5.14 and later) breaks the
copy-on-write of a whole range at once, and process_madvise on the caller itself (Linux
6.15 and later) takes all of a spare's ranges in one system call. The zygote hands over the
plan once (set_plan), and a fork handler copies it in every new child inside fork() itself,
before Python's own after-fork work, which writes some of those pages already. It changes no
byte of memory: it does now, in one go, what the run's own writes would do one page at a
time (see prefault.py).

Optional. It is built where the package is installed with a C compiler at hand, once for
every CPython 3.9+ (the stable ABI: _prefault.abi3.so), so a zygote under the user's own
interpreter has it too; without it (no compiler, another system) the tracer works the
same, a little slower. A run can reach this module, but it offers nothing a run cannot do
already by writing to its own memory: a plan it set would be its own copy's, for children
it may not fork. */

#define PY_SSIZE_T_CLEAN
/* The stable ABI of Python 3.9: one build (`_prefault.abi3.so`) loads into every CPython
   3.9+, so that a zygote under the user's own interpreter has its plan too. */
#define Py_LIMITED_API 0x03090000
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __linux__
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#if defined(__linux__) && !defined(SYS_process_madvise)
#define SYS_process_madvise 440 /* one number on every architecture but alpha */
#endif
/* The calling process, as process_madvise's pidfd (Linux 6.15+, <linux/pidfd.h>). */
#define PIDFD_SELF_PROCESS (-10001)
/* process_madvise takes at most this many ranges a call (UIO_MAXIOV). */
#define RANGES_A_CALL 1024

/* Whether process_madvise populates this process's own ranges here (Linux 6.15+, and
   allowed by the tracer's system call filter): then a spare's ~170 ranges cost one system
   call instead of one each. Found out by supported(), which the zygote calls before it
   forks a spare, so that every spare inherits the answer. */
static int batched = 0;

/* madvise, one range at a time: how many of `count` ranges the kernel refused. */
static long
populate_each(const uint64_t *pairs, Py_ssize_t count)
{
    long refused = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (madvise((void *)(uintptr_t)pairs[2 * i], (size_t)pairs[2 * i + 1], MADV_POPULATE_WRITE) != 0)
            refused++;
    }
    return refused;
}

#ifdef __linux__
/* process_madvise, up to RANGES_A_CALL ranges a call. A call that falls short (a range
   refused, or process_madvise itself) is done again range by range, which counts what was
   refused; ranges populated already cost little the second time. */
static long
populate_batched(const uint64_t *pairs, Py_ssize_t count)
{
    struct iovec ranges[RANGES_A_CALL];
    long refused = 0;
    for (Py_ssize_t first = 0; first < count; first += RANGES_A_CALL) {
        Py_ssize_t n = count - first < RANGES_A_CALL ? count - first : RANGES_A_CALL;
        uint64_t total = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            ranges[i].iov_base = (void *)(uintptr_t)pairs[2 * (first + i)];
            ranges[i].iov_len = (size_t)pairs[2 * (first + i) + 1];
            total += pairs[2 * (first + i) + 1];
        }
        long done = syscall(SYS_process_madvise, PIDFD_SELF_PROCESS, ranges, (size_t)n, MADV_POPULATE_WRITE, 0);
        if (done < 0 || (uint64_t)done != total)
            refused += populate_each(pairs + 2 * first, n);
    }
    return refused;
}
#endif

/* Every range, in as few system calls as this kernel allows; how many it refused. */
static long
populate_all(const uint64_t *pairs, Py_ssize_t count)
{
#ifdef __linux__
    return batched ? populate_batched(pairs, count) : populate_each(pairs, count);
#else
    return populate_each(pairs, count); /* `batched` stays 0 */
#endif
}

/* The ranges in `args`, parsed by `format` (one bytes object of native uint64 pairs,
   start address and length in bytes): 0, or -1 with an exception set. Bytes only: their
   data is aligned for uint64 reads, and `args` keeps them alive. */
static int
parse_ranges(PyObject *args, const char *format, const uint64_t **pairs, Py_ssize_t *count)
{
    PyObject *ranges;
    char *data;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, format, &ranges) || PyBytes_AsStringAndSize(ranges, &data, &size) < 0)
        return -1;
    if (size % (Py_ssize_t)(2 * sizeof(uint64_t)) != 0) {
        PyErr_SetString(PyExc_ValueError, "ranges must be pairs of 64-bit start and length");
        return -1;
    }
    *pairs = (const uint64_t *)data;
    *count = size / (Py_ssize_t)(2 * sizeof(uint64_t));
    return 0;
}

/* The plan every child of this process copies as it is forked (set_plan): a copy the
   zygote keeps (children only read it). */
static uint64_t *plan_pairs = NULL;
static Py_ssize_t plan_count = 0;

/* A fork handler (pthread_atfork): in the new child, inside fork() itself, before Python's
   own after-fork work (its locks, thread state, the return from os.fork), which writes
   pages of the plan: a spare took about 40 faults more when it copied the plan as its
   first Python statement. Only system calls here. */
static void
populate_plan_in_child(void)
{
    if (plan_count > 0)
        populate_all(plan_pairs, plan_count);
}

/* set_plan(ranges): from now on every child of this process copies these ranges (as
   populate does) as it is forked. Empty bytes: none. */
static PyObject *
set_plan(PyObject *self, PyObject *args)
{
    static int handler_installed = 0;
    const uint64_t *pairs;
    Py_ssize_t count;
    if (parse_ranges(args, "S:set_plan", &pairs, &count) < 0)
        return NULL;
    if (!handler_installed) {
        if (pthread_atfork(NULL, NULL, populate_plan_in_child) != 0)
            return PyErr_NoMemory();
        handler_installed = 1;
    }
    uint64_t *copy = NULL;
    if (count > 0) {
        copy = malloc((size_t)count * 2 * sizeof(uint64_t));
        if (copy == NULL)
            return PyErr_NoMemory();
        memcpy(copy, pairs, (size_t)count * 2 * sizeof(uint64_t));
    }
    free(plan_pairs);
    plan_pairs = copy;
    plan_count = count;
    Py_RETURN_NONE;
}

/* populate(ranges) -> how many ranges the kernel refused.
   `ranges`: bytes of native uint64 pairs, (start address, length in bytes). */
static PyObject *
populate(PyObject *self, PyObject *args)
{
    const uint64_t *pairs;
    Py_ssize_t count;
    if (parse_ranges(args, "S:populate", &pairs, &count) < 0)
        return NULL;
    long refused;
    Py_BEGIN_ALLOW_THREADS
    refused = populate_all(pairs, count);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(refused);
}

/* supported() -> whether this kernel populates ranges, tried on pages of its own; also
   finds out whether it does so for many ranges in one call (see `batched`). */
static PyObject *
supported(PyObject *self, PyObject *unused)
{
    size_t size = 4096;
    char *pages = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pages == MAP_FAILED)
        Py_RETURN_FALSE;
    int ok = madvise(pages, size, MADV_POPULATE_WRITE) == 0;
#ifdef __linux__
    struct iovec range = {pages + size, size};
    batched = ok && syscall(SYS_process_madvise, PIDFD_SELF_PROCESS, &range, (size_t)1, MADV_POPULATE_WRITE, 0)
                        == (long)size;
#endif
    munmap(pages, 2 * size);
    return PyBool_FromLong(ok);
}

/* batched() -> whether populate makes one system call for many ranges (after supported()). */
static PyObject *
batched_now(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(batched);
}

static PyMethodDef methods[] = {
    {"populate", populate, METH_VARARGS,
     "populate(ranges) -> ranges refused. Copy the pages of each (start, length) pair of native "
     "uint64s now, as writes to them would."},
    {"set_plan", set_plan, METH_VARARGS,
     "set_plan(ranges): every child of this process populates these ranges as it is forked."},
    {"supported", supported, METH_NOARGS, "supported() -> whether the kernel populates ranges."},
    {"batched", batched_now, METH_NOARGS,
     "batched() -> whether populate asks for many ranges in one system call (known after supported())."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_prefault", "Copy a spare's most-written pages at once (see _prefault.c).", -1, methods,
};

PyMODINIT_FUNC
PyInit__prefault(void)
{
    return PyModule_Create(&module);
}
