/* _prefault: a spare copies the pages its run will write, one system call per range.

After a fork, every page a child writes costs it a copy-on-write fault: several microseconds
each on the machines this was measured on, much of it the fault's own entry and exit. The
pages a run writes are nearly the same every run (docs/architecture.md), so a spare asks the
kernel to copy all of them as it starts: madvise(MADV_POPULATE_WRITE) (Linux 5.14 and later)
breaks the copy-on-write of a whole range at once. It changes no byte of memory: it does now,
in one go, what the run's own writes would do one page at a time (see prefault.py).

Optional. It is built where the package is installed with a C compiler at hand, for that
interpreter only; without it (another interpreter, another system) the tracer works the
same, a little slower. A run can reach this module, but it offers nothing a run cannot do
already by writing to its own memory. It uses only C API that every Python 3.9+ has. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* populate(ranges) -> how many ranges the kernel refused.
   `ranges`: bytes of native uint64 pairs, (start address, length in bytes). */
static PyObject *
populate(PyObject *self, PyObject *args)
{
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*:populate", &view))
        return NULL;
    if (view.len % (2 * sizeof(uint64_t)) != 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "ranges must be pairs of 64-bit start and length");
        return NULL;
    }
    const uint64_t *pairs = (const uint64_t *)view.buf;
    Py_ssize_t count = view.len / (Py_ssize_t)(2 * sizeof(uint64_t));
    long refused = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        if (madvise((void *)(uintptr_t)pairs[2 * i], (size_t)pairs[2 * i + 1], MADV_POPULATE_WRITE) != 0)
            refused++;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromLong(refused);
}

/* supported() -> whether this kernel populates ranges, tried on a page of its own. */
static PyObject *
supported(PyObject *self, PyObject *unused)
{
    size_t size = 4096;
    void *page = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        Py_RETURN_FALSE;
    int ok = madvise(page, size, MADV_POPULATE_WRITE) == 0;
    munmap(page, size);
    return PyBool_FromLong(ok);
}

static PyMethodDef methods[] = {
    {"populate", populate, METH_VARARGS,
     "populate(ranges) -> ranges refused. Copy the pages of each (start, length) pair of native "
     "uint64s now, as writes to them would."},
    {"supported", supported, METH_NOARGS, "supported() -> whether the kernel populates ranges."},
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
