/* _confine: what the zygote asks of the kernel that Python has no call for, and that the
zygote cannot do through ctypes (it never loads ctypes: once loaded, ctypes' types stay
reachable from every run, a way to native code past the audit hook; see runtime.py).

- drop_capabilities(): the zygote gives up every capability, for good. As root (uid 0 maps
  to 0 in its user namespace) it holds them all there, and so would its runs: with
  CAP_SYS_PTRACE a run may open a non-dumpable process's /proc files all the same.

- undumpable(): the zygote makes itself non-dumpable. Its runs run under its own user, so
  without this a run may open the zygote's /proc/1/fd/N (the request pipe: read the next
  run's source, then answer it with a forged result), /proc/1/mem and the rest. The kernel
  refuses that to a process that is not dumpable, unless the reader holds CAP_SYS_PTRACE
  over it (runs hold no capabilities: drop_capabilities). Runs, forked from it,
  are not dumpable either.

- no_forks(): a spare, just forked, installs a second seccomp filter on itself: no new
  processes (fork, vfork, clone without CLONE_THREAD), threads still allowed. The zygote's
  own filter must let forks through (it forks every run); this one stacks on it, for the
  run alone. RLIMIT_NPROC does not hold root, whatever its capabilities, so for a run as
  root this is the only bound below the audit hook. x86-64 only, like the zygote's filter.

Optional, built like _prefault (the stable ABI, one .abi3.so for every CPython 3.9+); a
zygote without it says so in its hello (runtime.zygote). A run can reach this module; what
it offers a run only takes rights away from the caller. */

#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x03090000
#include <Python.h>
#ifdef __linux__
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
/* SECBIT_NOROOT and SECBIT_NO_SETUID_FIXUP, each with its lock (<linux/securebits.h>): an
   exec as uid 0 grants no capabilities, and no change of uid hands any back. */
#define SECUREBITS_NO_ROOT (0x01 | 0x02 | 0x04 | 0x08)
#define CAP_SETPCAP_BIT (1u << 8) /* CAP_SETPCAP is capability 8, in the first word */
#endif

static PyObject *
drop_capabilities(PyObject *self, PyObject *unused)
{
#ifdef __linux__
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct sets[2];
    memset(sets, 0, sizeof sets);
    if (syscall(SYS_capget, &header, sets) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    if (sets[0].permitted & CAP_SETPCAP_BIT) {
        /* The bounding set, while CAP_SETPCAP is still held: dropped one by one until the
           kernel says EINVAL, past the last capability it knows. */
        int cap = 0;
        while (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
            cap++;
        if (errno != EINVAL || prctl(PR_SET_SECUREBITS, SECUREBITS_NO_ROOT, 0, 0, 0) != 0)
            return PyErr_SetFromErrno(PyExc_OSError);
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); /* EINVAL before Linux 4.3: none */
    memset(sets, 0, sizeof sets);
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    if (syscall(SYS_capset, &header, sets) != 0) /* effective, permitted, inheritable: none */
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
#else
    PyErr_SetString(PyExc_NotImplementedError, "only Linux has capabilities");
    return NULL;
#endif
}

static PyObject *
undumpable(PyObject *self, PyObject *unused)
{
#ifdef __linux__
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
#else
    PyErr_SetString(PyExc_NotImplementedError, "only Linux has a dumpable flag");
    return NULL;
#endif
}

#if defined(__linux__) && defined(__x86_64__)
#define HAS_NO_FORKS 1
#define NR_CLONE 56
#define NR_FORK 57
#define NR_VFORK 58
#define NR_CLONE3 435
#define X32_SYSCALL_BIT 0x40000000
#define FLAG_CLONE_THREAD 0x00010000

/* Classic BPF over struct seccomp_data. Jumps count the instructions skipped. */
static struct sock_filter no_forks_program[] = {
    /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 9),    /* other ABIs: 11 */
    /* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    /* 3 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 7, 0),      /* x32: 11 */
    /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_FORK, 6, 0),              /* 11 */
    /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_VFORK, 5, 0),             /* 11 */
    /* clone3 keeps its flags in memory, out of a filter's sight: ENOSYS, and the C library
       falls back to clone, whose flags it can read. */
    /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CLONE3, 5, 0),            /* 12 */
    /* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CLONE, 0, 2),             /* not clone: 10 */
    /* 8 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])), /* flags, low half */
    /* 9 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, FLAG_CLONE_THREAD, 0, 1),   /* a thread: 10, else 11 */
    /* 10 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    /* 11 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
    /* 12 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
};
#endif

static PyObject *
no_forks(PyObject *self, PyObject *unused)
{
#ifdef HAS_NO_FORKS
    struct sock_fprog program = {
        (unsigned short)(sizeof(no_forks_program) / sizeof(no_forks_program[0])), no_forks_program};
    /* Set already where the zygote's filter is in force; without it, a filter needs it. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
#else
    PyErr_SetString(PyExc_NotImplementedError, "the fork filter knows only x86-64 Linux's system calls");
    return NULL;
#endif
}

/* die_with_parent(): this process is killed when its parent (the zygote) ends. Without a
   PID namespace nothing else would end a run that outlives its zygote; with one, the kernel
   ends them all with the zygote anyway. */
static PyObject *
die_with_parent(PyObject *self, PyObject *unused)
{
#ifdef __linux__
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
#else
    PyErr_SetString(PyExc_NotImplementedError, "only Linux has a parent-death signal");
    return NULL;
#endif
}

static PyObject *
has_no_forks(PyObject *self, PyObject *unused)
{
#ifdef HAS_NO_FORKS
    Py_RETURN_TRUE;
#else
    Py_RETURN_FALSE;
#endif
}

static PyMethodDef methods[] = {
    {"drop_capabilities", drop_capabilities, METH_NOARGS,
     "drop_capabilities(): give up every capability, for good (bounding and ambient sets too)."},
    {"undumpable", undumpable, METH_NOARGS,
     "undumpable(): make this process non-dumpable: processes of its user may no longer open its /proc files."},
    {"no_forks", no_forks, METH_NOARGS,
     "no_forks(): refuse this process (and its threads) any new process from now on; threads stay allowed."},
    {"die_with_parent", die_with_parent, METH_NOARGS, "die_with_parent(): be killed when the parent process ends."},
    {"has_no_forks", has_no_forks, METH_NOARGS, "has_no_forks() -> whether no_forks works on this system."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_confine", "What the zygote asks of the kernel without ctypes (see _confine.c).", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__confine(void)
{
    return PyModule_Create(&module);
}
