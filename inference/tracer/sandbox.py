"""The isolation a traced child applies to itself (stdlib only, Python 3.9+): rlimits, the
audit hook that refuses processes, network, writes outside its folder, ctypes and other
processes' /proc entries; its private folder and environment; and the user, network,
mount and PID namespaces the zygote enters where Linux allows them. See docs/sandbox.md.
"""

from __future__ import annotations

import _imp
import gc
import operator
import os
import resource
import signal
import sys
import time

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_CLONE_NEWPID = 0x20000000
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS = 1, 38
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REC, _MS_PRIVATE = 1, 2, 4, 8, 1 << 14, 1 << 18
# mount_setattr(2) (Linux 5.12+; the same number on every architecture since 5.x).
_SYS_MOUNT_SETATTR, _AT_FDCWD, _AT_RECURSIVE, _MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1
# Descriptors a zygote or run may have open (see apply_fixed_limits and syscall_filter).
FILES_OPEN_AT_ONCE = 64
# Size of the tmpfs that holds the runs' folders (namespaces only).
RUN_ROOT_MB = 256
# Environment variables a run may see (the zygote is started with only these).
ENV_ALLOWED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT")
# Set for every run: native libraries (numpy's BLAS, OpenMP) start one thread, not one per
# core, and pyarrow's allocator (pandas imports it) no background thread. A run has at most
# RUN_THREADS threads, and none without namespaces for users other than root (see
# apply_limits); a pool that cannot start its threads prints warnings. A zygote that
# preloads modules must not have threads at all (see runtime._preload).
ENV_FIXED = (("OPENBLAS_NUM_THREADS", "1"), ("OMP_NUM_THREADS", "1"), ("MKL_NUM_THREADS", "1"),
             ("JE_ARROW_MALLOC_CONF", "background_thread:false"))

# Threads a run may start where its namespaces hold it (see apply_limits): as many as
# concurrent.futures' largest default pool. Each thread's stack counts towards the memory
# limit (RLIMIT_AS).
RUN_THREADS = 32
# Whole CPU seconds a child may use before its run's clock starts (see start_cpu_clock), and
# how far past the run's CPU allowance its limit is set, at least.
_CPU_SET_UP_S = 2
_CPU_MARGIN_S = 0.25
# Processes of the runs' user namespace while a run is going: the process the server
# started, the zygote (PID 1 of the runs' PID namespace) and the run itself.
_NAMESPACE_PROCESSES = 3

# A descriptor's owner is sent a signal (of the caller's choice) on its every event: a way to
# signal any process by pid without kill(). fcntl's F_SETOWN, F_SETSIG and F_SETOWN_EX;
# ioctl's FIOSETOWN and SIOCSPGRP. Refused by the hook and by the syscall filter.
SIGNALLING_FCNTL = (8, 10, 15)
SIGNALLING_IOCTL = (0x8901, 0x8902)
# fcntl's F_SETLEASE and F_NOTIFY: a lease on a file the user owns, taken on a descriptor
# opened only to read it, held up the editor's writes to it until the run ended (the kernel
# waits for the lease holder before it lets another process open the file for writing);
# F_NOTIFY has the kernel signal the run on changes in a folder, which a run has no use
# for. Refused by the hook and by the syscall filter.
FILE_FCNTL = (1024, 1026)
# fcntl's F_SET_RW_HINT and F_SET_FILE_RW_HINT: a write-life hint stored in the file's inode,
# which the kernel lets any descriptor set, one opened only to read included; it outlives
# the run, and a later run read it back (F_GET_RW_HINT): a channel between runs, through a
# user's file or /dev/null, in every mode (review 27b). Refused by the hook and by the
# syscall filter.
HINT_FCNTL = (1036, 1038)


def _ioc(direction, kind, number, size):
    """Linux's _IOC(): an ioctl request number (direction 1: _IOW, 2: _IOR)."""
    return (direction << 30) | (size << 16) | (ord(kind) << 8) | number


# ioctl requests that change a file's inode flags or attributes, which the kernel allows the
# file's owner on any descriptor, one opened only to read included (a run set flags of a
# user's file so in audit mode): FS_IOC_SETFLAGS (immutable, append-only, no-dump, ...) for a
# long and for an int, FS_IOC_SETVERSION, FS_IOC_FSSETXATTR (struct fsxattr: 28 bytes),
# FS_IOC_ENABLE_VERITY (struct fsverity_enable_arg: 128 bytes; the file becomes read-only for
# good) and FS_IOC_SET_ENCRYPTION_POLICY (an empty folder of the user's made encrypted).
# Refused by the hook and by the syscall filter.
INODE_IOCTL = (_ioc(1, "f", 2, 8), _ioc(1, "f", 2, 4), _ioc(1, "v", 2, 8), _ioc(1, "v", 2, 4),
               _ioc(1, "X", 32, 28), _ioc(1, "f", 133, 128), _ioc(2, "f", 19, 12))
# fcntl's record locks (F_SETLK, F_SETLKW and their open-file-description forms): like
# flock() and lockf(), refused on descriptors of files outside the run's folder, which a run
# could otherwise hold locked against the user's programs for as long as it runs (the hook
# only: the syscall filter cannot tell which file a descriptor is open on).
LOCK_FCNTL = (6, 7, 37, 38) if sys.platform.startswith("linux") else (8, 9)

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.chmod": (0,), "os.chown": (0,),
    "os.truncate": (0,), "os.utime": (0,), "os.rename": (0, 1), "os.link": (0, 1),
    "os.symlink": (1,), "os.mkfifo": (0,), "os.mknod": (0,), "os.setxattr": (0,),
    "os.removexattr": (0,), "shutil.rmtree": (0,), "os.chflags": (0,), "os.lchflags": (0,),
    # SQLite opens (and creates) its files in C, without an "open" event.
    "sqlite3.connect": (0,), "sqlite3.connect/handle": (),
}
# The path events (event, argument) whose call acts on the entry the path names, not on
# what a link there leads to: the entry itself must lie in the run's folder (see _located).
# The others may follow a link (os.chmod, chown, utime, truncate, xattrs, os.link's source,
# SQLite's open; their events do not say whether they do): both where the path lies and
# what it leads to must. Judged by what it led to alone, a link to /dev/null outside the
# folder (a systemd-masked unit) was removed, or replaced by a file of the run's (review 27b).
_LINK_ITSELF = frozenset((("os.remove", 0), ("os.rmdir", 0), ("os.mkdir", 0), ("os.rename", 0), ("os.rename", 1),
                          ("os.link", 1), ("os.symlink", 1), ("os.mkfifo", 0), ("os.mknod", 0)))
# When this module was imported (in the zygote, before any run): an extension module whose
# file changed since (written, moved, linked: each sets its ctime, which no process without
# CAP_SYS_TIME can set back) may be a run's, and is not loaded (see _native_code_refused).
_STARTED = time.time()
# Raised by Python code of the standard library before it does its work through os calls,
# whose own events are checked with the path they are given: a path object in one of these
# (shutil.rmtree(pathlib.Path(...))) is left to them, unconverted (see _plain).
_ADVISORY_EVENTS = frozenset(("shutil.rmtree",))
# The only socket family a run may make (the same number on Linux and macOS).
_AF_UNIX = 1
_FORBIDDEN_EVENTS = {
    "os.fork": "creating processes", "os.forkpty": "creating processes",
    "os.system": "running commands", "os.exec": "running programs",
    "os.posix_spawn": "running programs", "os.spawn": "running programs",
    "subprocess.Popen": "running programs", "os.startfile": "running programs",
    "socket.__new__": "network access", "socket.connect": "network access", "socket.bind": "network access",
    "socket.sendto": "network access", "socket.sendmsg": "network access",
    "socket.getaddrinfo": "network access", "socket.gethostbyname": "network access",
    # Name lookups reach the network too (a DNS query can carry what it asks about).
    "socket.gethostbyaddr": "network access", "socket.getnameinfo": "network access",
    "socket.sethostname": "changing the host name",
    # A hook of the run's own runs after this one, between its check and the kernel's use
    # of what it checked (a link switched there wrote outside the folder). Refused hooks
    # are not added: sys.addaudithook says nothing of an Exception a hook raises.
    "sys.addaudithook": "adding audit hooks",
    "resource.setrlimit": "changing resource limits", "resource.prlimit": "changing resource limits",
    "sys.remote_exec": "attaching to processes", "os.setns": "changing namespaces",
    "os.unshare": "changing namespaces", "syslog.openlog": "writing to the system log",
    "webbrowser.open": "opening a browser", "os.kill": "signalling processes",
    "os.killpg": "signalling processes", "signal.pthread_kill": "signalling processes",
    "winreg.SetValue": "writing the registry",
    "sqlite3.enable_load_extension": "loading SQLite extensions", "sqlite3.load_extension": "loading SQLite extensions",
    # Hand-made bytecode skips the compiler's checks and is the usual way from Python into
    # the interpreter's memory, and from there to native code past this hook.
    "code.__new__": "building code objects by hand",
}
# Environment variables that make a library load code later, as the process goes on:
# OpenSSL's configuration (read at hashlib's first use) names provider and engine modules
# to dlopen, and glibc's iconv loads GCONV_PATH modules. A run setting one would load its
# own native code without an import. (LD_* are read only as a program starts: no exec.)
_CODE_LOADING_VARIABLES = ("OPENSSL_", "GCONV_PATH", "LD_")
# Refused as a ModuleNotFoundError, not a PermissionError, so that code which does without
# an optional module still imports (numpy without ctypes, `try: import _winapi`).
# _posixsubprocess is the real module: runs get a stand-in (see install_stand_ins).
# A subinterpreter has no audit hooks of its own (they are per interpreter), so its code
# would run past this one; CPython's _test* modules reach into the interpreter's internals
# (_testcapi.run_in_subinterp, for one).
_FORBIDDEN_IMPORTS = frozenset(("_posixsubprocess", "_ctypes", "_winapi", "_xxsubinterpreters", "_interpreters",
                                "_xxinterpchannels", "_interpchannels", "_xxinterpqueues", "_interpqueues",
                                "_ctypes_test",
                                # Tcl is an interpreter of its own, with file access and exec.
                                "_tkinter",
                                # Native code that reaches the network, devices or the password
                                # database with no audit event (review 27): NIS makes internet
                                # sockets and sends RPCs of the run's choosing from C (libnsl,
                                # libtirpc); ossaudiodev opens and drives sound devices; spwd reads
                                # shadow passwords through the name service (which may ask the
                                # network). No run needs them (all gone from Python 3.13).
                                "nis", "ossaudiodev", "spwd"))
_FORBIDDEN_IMPORT_PREFIX = "_test"  # _testcapi, _testinternalcapi, ...
# Modules that write files from native code, where the hook sees no event (SQLite's ATTACH
# and VACUUM INTO, readline's history, dbm, shared memory): refused unless the kernel itself
# keeps the run's writes in its folder (namespaces, with every other mount read-only).
# _multiprocessing makes and removes POSIX semaphores, files in /dev/shm, by any name
# (another program's included: sem_unlink), and they outlive the run (review 27): where it is
# refused, runs find a stand-in (install_native_stand_ins).
_NATIVE_WRITERS = frozenset(("_sqlite3", "_gdbm", "_dbm", "_posixshmem", "readline", "_multiprocessing"))
# Device files a run may open by path (character and block devices otherwise: a run opened
# /dev/loop-control and a loop device, read-only, and with ioctls kept a file of its own
# in the kernel for later runs, and made device nodes; review 27).
_DEVICES_ALLOWED = frozenset(("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"))
# ioctl requests refused whatever they are given (the hook here, the syscall filter for
# native code): TIOCSTI (typing into a terminal) and TIOCLINUX; and every request of the
# types 'L' (loop devices: LOOP_CTL_ADD, LOOP_SET_FD, ..., and lightnvm) and 'U' (uinput's
# virtual keyboards, usbdevfs's raw USB transfers), whatever its direction and size.
DEVICE_IOCTL = (0x5412, 0x541C)
DEVICE_IOCTL_TYPES = (0x4C, 0x55)


def make_audit_hook(workdir, real_workdir=None, kernel_guards_files=False, runs_root=None):
    """The audit hook that refuses processes, network, writes outside `workdir`, ctypes,
    native code from anywhere but an installed file, and reading other processes' /proc
    entries. It raises PermissionError, so hostile code sees an ordinary failure and the
    run ends cleanly (or is stopped by a limit).
    `real_workdir`: os.path.realpath(workdir), when the caller knows it already.
    `kernel_guards_files`: the kernel refuses writes outside the runs' folder (every mount
    but the runs' tmpfs is read-only, or Landlock holds them: see write_guard), so modules
    that write files from native code (_NATIVE_WRITERS) may be imported.
    `runs_root`: the resolved folder that holds the runs' folders (default: the one that
    holds `workdir`), where no extension module is loaded from either.

    Built before the run, and nothing a run can change steers it: everything it uses is
    an argument default (a tuple, which only an audited `__defaults__` assignment could
    replace, and the hook refuses that), immutable (strings, frozensets, tuples), or a C
    function. It has no closure cells (a run could rewrite those through gc), reads no
    module global or builtin (a run can rebind those), and calls no Python function of
    the standard library (whose globals a run can patch): _resolved does the work of
    os.path.realpath with C calls.

    Nor does any code of the run's run while it checks, which could change what a path
    names between the check and the kernel's use of it (a link swapped after the hook
    has followed it). It calls no method of an argument (a str subclass's, a path
    object's `__fspath__`, even the `__class__` that isinstance() asks for): it reads
    arguments by their exact type (_plain). It stops the garbage collector while it
    checks a path (a collection runs gc.callbacks, finalizers and weakref callbacks of the
    run's garbage), and gives it back as it found it. Two ways in remain, which pure Python
    cannot close (docs/sandbox.md, "Not covered"): a Python signal handler of the run's
    (an interval timer's), and a trace function, which the interpreter lets see an audit
    hook's lines where the hook has a true `__cantrace__` (set on the function, found
    through gc, or on its type)."""
    root = real_workdir or os.path.realpath(workdir)
    if runs_root is None:
        runs_root = root.rpartition("/")[0]
    # types.coroutine (asyncio uses it on import) marks a compiled function awaitable with
    # code.replace: only a flag changes, on code the compiler made.
    coroutine = getattr(sys.modules.get("types"), "coroutine", None)
    return _hook_for(root, root + "/", runs_root, *_FROZEN_TABLES,
                     frozenset() if kernel_guards_files else _NATIVE_WRITERS, getattr(coroutine, "__code__", None),
                     _OWN_CODE, _STARTED)


def _proc_pid():
    """This process's pid as /proc names it: in a PID namespace, the host's pid while /proc
    is the host's (not os.getpid()), and its pid in the namespace once the namespace has a
    /proc of its own (mount_own_proc)."""
    try:
        return int(os.readlink("/proc/self"))
    except (OSError, ValueError):  # no /proc (macOS)
        return os.getpid()


def _other_process(full, readlink=os.readlink, getpid=os.getpid, int=int, oserror=OSError, bad_value=ValueError):
    """Whether the resolved path `full` is in another process's /proc/<pid>; True for None
    (a path _resolved could not follow: it may lead there)."""
    if full is None:
        return True
    if full[:6] != "/proc/":
        return False
    part = full.split("/")[2]
    if not part.isdigit():
        return False
    # This process's pid as /proc names it (see _proc_pid), asked only here: the hook is
    # made once, in the zygote, before the process that runs it exists.
    try:
        mine = int(readlink("/proc/self"))
    except (oserror, bad_value):
        mine = getpid()
    return int(part) != mine


def _resolved(path, getcwd=os.getcwd, lstat=os.lstat, readlink=os.readlink, oserror=OSError,
              absent=(FileNotFoundError, NotADirectoryError), other_process=_other_process):
    """`path` made absolute with every symbolic link followed, as os.path.realpath does (a
    part that does not exist is taken as written, with the rest), or None where a part
    cannot be looked at: the caller then refuses the path. Only C functions taken when
    this module was imported, in the zygote, before any run.

    Only "no such file" (ENOENT) and "a part on the way is no folder" (ENOTDIR) say that
    the kernel, following the same path, finds nothing there either. Any other failure
    (EACCES from a folder above the run's that it took its permissions from, ENAMETOOLONG
    from a folder nested past PATH_MAX, ELOOP, ...) says only that this absolute path
    cannot be followed, while the kernel, following the run's relative path from its
    working folder, may well reach a link there and go through it: taken as written, such
    a part let a run write anywhere and read other processes' /proc files (a review).

    A relative path starts from the working folder's path as getcwd() gives it, which the
    kernel builds from the folder itself: its parts are folders, not links, and are not
    looked at again (the run may have taken the permission to search one away: then only
    what lies below is followed, as the kernel follows it).

    A link of another process's /proc/<pid> (its cwd, root, exe, fd/N, a task's) is not
    followed: the path is answered up to that link and the rest as written, so that the
    caller finds it in another process's /proc (see _other_process). Followed, it led to
    where that process works, in no /proc: a run changed folder into a bystander's
    /proc/<pid>/cwd and read its path back with os.getcwd() (review 27b)."""
    done = []
    if path[:1] != "/":
        here = getcwd()
        if here[:1] != "/":  # "(unreachable)/...": not a path to follow
            return None
        if here != "/":
            done = here[1:].split("/")
    pending = path.split("/")
    pending.reverse()
    hops = 0
    while pending:
        part = pending.pop()
        if part == "" or part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        here = "/" + "/".join(done + [part])
        try:
            mode = lstat(here).st_mode
        except absent:
            done.append(part)
            continue
        except oserror:
            return None
        if mode & 0o170000 == 0o120000:  # a symbolic link
            if here[:6] == "/proc/" and other_process(here):
                pending.reverse()
                return "/".join([here] + pending)
            hops += 1
            if hops > 40:
                raise oserror("too many levels of symbolic links: %s" % here)
            target = readlink(here)
            if target[:1] == "/":
                done = []
            more = target.split("/")
            more.reverse()
            pending.extend(more)
        else:
            done.append(part)
    return "/" + "/".join(done)


def _plain(path, type=type, str=str, bytes=bytes, issubclass=issubclass, as_str=str.__str__,
           copy_bytes=bytes.__getitem__, whole=slice(None), decode=bytes.decode,
           encoding=sys.getfilesystemencoding()):
    """A path argument as the exact str the kernel is given (bytes decoded), or None for
    anything else. Nothing of the argument's own is called: a str or bytes subclass's data
    is copied as the C code reads it (str.__str__ and bytes.__getitem__ of the base type,
    and issubclass on its type, neither of which asks the object anything; isinstance
    would ask for its `__class__`, which a run can make a property). A path object is
    None: io.FileIO and sqlite3.connect hand it to their event as it is, having called its
    `__fspath__` before the event (FileIO) or calling it after (sqlite3), and a second
    call could answer another path. Builtin open, os.* and pathlib convert it before their
    event, so those events get a str."""
    kind = type(path)
    if kind is str:
        return path
    if kind is bytes:
        return decode(path, encoding, "surrogateescape")
    if issubclass(kind, str):
        return as_str(path)
    if issubclass(kind, bytes):
        return decode(copy_bytes(path, whole), encoding, "surrogateescape")
    return None


def _within(full, root, prefix, len=len):
    """Whether a resolved path (None: a path object, or a path _resolved could not follow)
    is the run's folder or in it. (/dev/null is not: only an open may lead there, see
    _stays_inside; a remove, rename, chmod, ... of a path that led there removed or replaced
    a link to it outside the folder, or changed the machine's /dev/null: review 27b.)"""
    return full is not None and (full == root or full[:len(prefix)] == prefix)


def _located(where, resolved=_resolved, last_part=str.rpartition, strip=str.rstrip):
    """Where the entry that the path `where` names lies, resolved as the kernel resolves
    it for a call that acts on the entry itself (remove, rename, link, mkdir, ...): its
    folder followed, its last part not, so that a link is judged by where it lies, not by
    what it names. None where the folder cannot be followed (see _resolved). A last part
    of "", "." or ".." names a folder the kernel follows to: resolved whole."""
    path = strip(where, "/")
    head, slash, tail = last_part(path, "/")
    if tail == "" or tail == "." or tail == "..":
        return resolved(where)
    folder = resolved((head or "/") if slash else ".")
    if folder is None:
        return None
    return (folder if folder != "/" else "") + "/" + tail


def _open_folders(listdir=os.listdir, stat=os.stat, readlink=os.readlink, oserror=OSError,
                  gone=FileNotFoundError, closed=FileNotFoundError):
    """The paths of the folders the run holds open as descriptors: any of them can be the
    `dir_fd` of a call, which the kernel then resolves a relative path against. None where
    they cannot all be named (the list of descriptors could not be read, all descriptors
    being taken, say; or a folder's path could not be read back, one nested past what
    readlink gives): the caller then refuses a relative path."""
    found = []
    try:
        names = listdir("/proc/self/fd")
    except gone:  # no /proc (macOS): see docs/sandbox.md
        return found
    except oserror:
        return None
    for name in names:
        link = "/proc/self/fd/" + name
        try:
            if stat(link).st_mode & 0o170000 != 0o040000:
                continue
        except closed:
            continue  # closed since (listdir's own descriptor, for one)
        except oserror:
            return None
        try:
            found.append(readlink(link))
        except closed:
            continue
        except oserror:
            return None
    return found


def _stays_inside(where, full, root, prefix, device_null=False, resolved=_resolved, within=_within,
                  open_folders=_open_folders):
    """Whether the path `where` (text), `full` once resolved, is inside for os.open, which
    may take a `dir_fd` its event does not show: a relative path must stay inside from the
    working folder and from every folder the run holds open. `device_null`: /dev/null
    counts as inside (writing it, by an open)."""
    if not (within(full, root, prefix) or (device_null and full == "/dev/null")):
        return False
    if where[:1] != "/":
        folders = open_folders()
        if folders is None:
            return False
        for folder in folders:
            there = resolved(folder + "/" + where)
            if not (within(there, root, prefix) or (device_null and there == "/dev/null")):
                return False
    return True


def _names_inside(where, root, prefix, follows, resolved=_resolved, located=_located, within=_within,
                  open_folders=_open_folders):
    """Whether the path `where` (text) names an entry inside for a path event (os.remove,
    os.rename, os.chmod, ...): the entry itself must lie inside (see _located), and where
    the call may follow it (`follows`: chmod, chown, utime, truncate, xattrs, a hard link's
    source, ...; or a path that ends in "/"), what it leads to as well. A relative path
    must do so from the working folder and from every folder the run holds open, since
    the audit event does not always say which one a `dir_fd` names."""
    follows = follows or where[-1:] == "/"
    if not within(located(where), root, prefix) or (follows and not within(resolved(where), root, prefix)):
        return False
    if where[:1] != "/":
        folders = open_folders()
        if folders is None:
            return False
        for folder in folders:
            there = folder + "/" + where
            if not within(located(there), root, prefix) or (follows and not within(resolved(there), root, prefix)):
                return False
    return True


def _inside(path, root, prefix, follows=True, type=type, int=int, issubclass=issubclass, as_int=int.__index__,
            plain=_plain, names_inside=_names_inside, within=_within, readlink=os.readlink, oserror=OSError):
    """Whether `path`, of a path event, names the run's folder or an entry in it (see
    _names_inside; `follows`: whether the call may follow a link there); None for a path
    object, which cannot be read without calling it (see _plain). A descriptor
    (os.chmod(fd)) is checked by the file it is open on (a descriptor of /dev/null, fd 0,
    is not inside: os.fchmod(0) changed the machine's /dev/null); an int subclass is read
    as the int the C code reads, without its __index__."""
    kind = type(path)
    if kind is int or issubclass(kind, int):
        try:
            return within(readlink("/proc/self/fd/%d" % (path if kind is int else as_int(path))), root, prefix)
        except oserror:
            return False
    path = plain(path)
    if path is None:
        return None
    return names_inside(path, root, prefix, follows)


def _shown(path, type=type, int=int, issubclass=issubclass, as_int=int.__index__, plain=_plain):
    kind = type(path)
    if kind is int or issubclass(kind, int):
        return "descriptor %d" % (path if kind is int else as_int(path))
    path = plain(path)
    return "a path object: pass str(path)" if path is None else path


def _native_code_refused(where, root, places, since, getcwd=os.getcwd, lstat=os.lstat, stat=os.stat,
                         readlink=os.readlink, oserror=OSError):
    """Why an extension module may not be loaded from `where` (its spec's origin, the path
    dlopen is given), or None where it may: a regular file that exists, reached without
    passing through the run's folder (`root`) or any of `places` (the runs' folder, /proc,
    /dev, /sys), which are where a run can write or make up a file: a memfd is
    /proc/self/fd/N (or /dev/fd/N, /proc/thread-self/fd/N), /proc/self/cwd is the run's
    folder. Each place the path passes is checked as the links on the way are followed,
    not only where it ends: a link in the run's folder that names an installed file now
    could name the run's own by the time dlopen follows it. Past these checks every part
    of the path lies where the run cannot change it.

    Nor a file that changed since `since` (the zygote's start, before any run): a file that
    a run wrote, or moved or linked where these checks do not look (renamed over a link
    outside its folder that the hook took for /dev/null: review 27b), has a ctime of its
    run's time, which the run cannot set back (utime sets the other two times; only the
    clock's owner, CAP_SYS_TIME, could). An extension module installed while the zygote
    runs is refused so too, until the tracer is started again."""
    if "\x00" in where:  # (dlopen's C string ends there)
        return "a path that holds a NUL"
    path = where if where[:1] == "/" else getcwd() + "/" + where
    pending = path.split("/")
    pending.reverse()
    done = []
    hops = 0
    passed = None  # the first of `places` passed (the walk goes on: into the run's folder?)
    while pending:
        part = pending.pop()
        if part == "" or part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        # `done` is always resolved, so a path into a place passes the place itself.
        here = "/" + "/".join(done + [part])
        if here == root:
            return "its own folder"
        if passed is None:
            for place, name in places:
                if here == place:
                    passed = name
        try:
            mode = lstat(here).st_mode
        except oserror:
            return passed or "a file that does not exist"
        if mode & 0o170000 == 0o120000:  # a symbolic link
            hops += 1
            if hops > 40:
                return passed or "a path with too many links"
            target = readlink(here)
            if target[:1] == "/":
                done = []
            more = target.split("/")
            more.reverse()
            pending.extend(more)
        else:
            done.append(part)
    if passed is not None:
        return passed
    try:
        found, opened = lstat("/" + "/".join(done)), stat(where)
    except oserror:
        return "a file that does not exist"
    if found.st_mode & 0o170000 != 0o100000:
        return "anything but a regular file"
    if found.st_dev != opened.st_dev or found.st_ino != opened.st_ino:
        return "a path that changed as it was checked"
    if found.st_ctime >= since:
        return "a file made or changed since the sandbox started"
    return None


def _hook_for(root, prefix, runs_root, forbidden, reasons, path_events, path_positions, forbidden_imports,
              advisory_events, native_writers, coroutine_code, own_code, since):
    """The hook itself (see make_audit_hook): every value it needs is bound here as a
    default of `hook`, or of `check_paths`, which does the work of the events that name a
    file (open, import, the path events) apart: the hook runs on every traced call (for
    its f_back), where binding only its own few defaults makes it a fifth faster than one
    function with all of them (about 215 ns a call instead of 270, measured)."""
    native_places = ((runs_root, "the runs' folder"), ("/proc", "/proc"), ("/dev", "/dev"), ("/sys", "/sys"))

    def check_paths(event, args, root=root, prefix=prefix, native_places=native_places,
                    path_positions=path_positions, forbidden_imports=forbidden_imports,
                    forbidden_prefix=_FORBIDDEN_IMPORT_PREFIX, advisory_events=advisory_events,
                    native_writers=native_writers, inside=_inside, stays_inside=_stays_inside, within=_within,
                    plain=_plain, shown=_shown, resolved=_resolved, native_code_refused=_native_code_refused,
                    type=type, issubclass=issubclass, int=int, str=str, len=len, lstat=os.lstat, oserror=OSError,
                    readlink=os.readlink,
                    refused=PermissionError, not_found=ModuleNotFoundError, write_flags=_WRITE_FLAGS,
                    exact_text=str.__str__, last_part=str.rpartition, other_process=_other_process,
                    open_folders=_open_folders, collecting=gc.isenabled, stop_collecting=gc.disable,
                    collect_again=gc.enable, devices_allowed=_DEVICES_ALLOWED, stat=os.stat, as_int=int.__index__,
                    type_error=TypeError, link_itself=_LINK_ITSELF, since=since,
                    builtin_names=frozenset(sys.builtin_module_names)):
        # No garbage collection while a path is checked: a collection runs the run's
        # gc.callbacks, finalizers and weakref callbacks, which could change what a path
        # names once it has been followed (see make_audit_hook). Nothing before this has
        # checked anything. (No other event's check depends on anything a collection could
        # change.)
        was_collecting = collecting()
        if was_collecting:
            stop_collecting()
        try:
            if event == "open":
                path, mode, flags = args[0], args[1], args[2]
                kind = type(path)
                if kind is int or issubclass(kind, int):
                    return  # an already-open descriptor
                writing = (type(mode) is str and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)) or (
                    mode is None and type(flags) is int and flags & write_flags)
                where = plain(path)
                if where is None:
                    if writing:
                        raise refused("the sandbox does not allow writing outside its temporary working directory "
                                      "(a path object: pass str(path))")
                    raise refused("the sandbox does not allow opening a path object that is not a str or bytes: "
                                  "pass a str path (os.fspath(path))")
                # Resolved for reads too: `/proc/self/../<pid>`, `//proc/<pid>`, a relative path
                # from /proc or a link to it all name another process's files.
                full = resolved(where)
                if full is None:
                    raise refused("the sandbox does not allow opening a path it cannot follow (%s: a folder on the "
                                  "way cannot be searched, or the path is longer than the system allows)" % where)
                # os.open (no mode) may be given a dir_fd that its event does not show
                if writing and not ((within(full, root, prefix) or full == "/dev/null") if mode is not None
                                    else stays_inside(where, full, root, prefix, True)):
                    linked = False
                    if where[:1] != "/":
                        try:
                            linked = lstat(where).st_mode & 0o170000 == 0o120000
                        except oserror:
                            pass
                    raise refused("the sandbox does not allow writing outside its temporary working directory (%s%s)"
                                  % (where, ": the project's file, which runs may only read" if linked else ""))
                if other_process(full):
                    raise refused("the sandbox does not allow reading other processes")
                # A device (see _DEVICES_ALLOWED), wherever it lies: one stat, the path is resolved.
                if full not in devices_allowed:
                    try:
                        kind = stat(full).st_mode & 0o170000
                    except oserror:
                        kind = 0
                    if kind == 0o020000 or kind == 0o060000:
                        raise refused("the sandbox does not allow opening device files (%s)" % full)
                # os.open may be given a dir_fd on /proc, or on /proc/<pid>, that its event does
                # not show: a relative path is checked from every folder the run holds open too.
                if mode is None and where[:1] != "/":
                    folders = open_folders()
                    if folders is None:
                        raise refused("the sandbox does not allow opening a relative path while it cannot tell "
                                      "which folders the run holds open (%s)" % where)
                    for folder in folders:
                        there = resolved(folder + "/" + where)
                        if other_process(there):
                            raise refused("the sandbox does not allow reading other processes")
                        if there not in devices_allowed:
                            try:
                                kind = stat(there).st_mode & 0o170000
                            except oserror:
                                kind = 0
                            if kind == 0o020000 or kind == 0o060000:
                                raise refused("the sandbox does not allow opening device files (%s)" % there)
                return
            if event == "os.listdir" or event == "os.scandir" or event == "os.readlink" or event == "os.chdir":
                # Another process's /proc/<pid>/fd names every file it holds open, and its
                # cwd, root and exe links where it works (review 27). os.readlink raises no
                # event of its own: runs get a stand-in that raises this one (_readlink).
                # A working folder there tells its path to os.getcwd() (review 27b; _resolved
                # stops at such a link, so that a path through one is found there too).
                # pathlib and os.* convert a path object first: the event holds a str.
                path = args[0] if args else None
                kind = type(path)
                if path is None:  # os.listdir(): the working folder
                    full = resolved(".")
                elif kind is int or issubclass(kind, int):  # a descriptor of a folder (os.fchdir too)
                    try:
                        full = readlink("/proc/self/fd/%d" % (path if kind is int else as_int(path)))
                    except oserror:
                        return  # (no /proc: macOS; or no such descriptor, and the call fails)
                else:
                    where = plain(path)
                    if where is None:
                        raise refused("the sandbox does not allow reading a path object that is not a str or bytes: "
                                      "pass a str path (os.fspath(path))")
                    if event == "os.readlink":
                        # The link itself is not followed: its folder is, from dir_fd if given.
                        head, slash, tail = last_part(where, "/")
                        folder = (head or "/") if slash else "."
                        dir_fd = args[1] if len(args) > 1 else None
                        if dir_fd is not None and folder[:1] != "/":
                            try:
                                folder = readlink("/proc/self/fd/%d" % as_int(dir_fd)) + "/" + folder
                            except (oserror, type_error):
                                return  # (no /proc; or no such descriptor, and the call fails)
                        full = resolved(folder)
                        if full is not None and tail != "" and tail != "." and tail != "..":
                            full = (full if full != "/" else "") + "/" + tail
                    else:
                        full = resolved(where)
                    if full is None:
                        raise refused("the sandbox does not allow reading a path it cannot follow (%s: a folder on "
                                      "the way cannot be searched, or the path is longer than the system allows)"
                                      % where)
                if other_process(full):
                    raise refused("the sandbox does not allow reading other processes")
                return
            if event == "os.mknod" and len(args) > 1 and issubclass(type(args[1]), int) and \
                    as_int(args[1]) & 0o170000 in (0o020000, 0o060000):
                raise refused("the sandbox does not allow making device files")
            if event == "import":
                # The name as the interpreter reads it: a str subclass (a hand-made spec's name)
                # could answer `in` and slicing as it pleases.
                name = exact_text(args[0])
                if "\x00" in name:  # (CPython's C string of it ends there: "_ctypes\x00" loads _ctypes)
                    raise not_found("the sandbox does not allow importing a module whose name holds a NUL",
                                    name=name)
                origin = args[1]
                where = None
                if origin is not None:
                    # An extension module's load (only those name their file). Its init
                    # function is found by the name's last part, so `x._ctypes`, spec'd by
                    # hand on the real _ctypes file, loads _ctypes all the same.
                    where = plain(origin)
                    if where is None:
                        raise refused("the sandbox does not allow loading native code from a path object: "
                                      "pass a str path")
                    name = last_part(name, ".")[2]
                if name in forbidden_imports or name[:len(forbidden_prefix)] == forbidden_prefix:
                    raise not_found("the sandbox does not allow importing %s" % name, name=name)
                # A fresh copy of a built-in module (its init function is in libpython, which
                # can be given as the origin) has the functions the sandbox took out of the
                # loaded one, or stood in for (posix's mkfifo, mknod, pidfd_open).
                if where is not None and name in builtin_names:
                    raise not_found("the sandbox does not allow loading a copy of the built-in module %s" % name,
                                    name=name)
                if name in native_writers:
                    raise not_found("the sandbox does not allow importing %s without Linux namespaces or Landlock: "
                                    "it writes files from native code, where only the kernel can hold it to the run's "
                                    "folder" % name, name=name)
                # Native code of the run's own choosing (a file it wrote in its folder, a
                # memfd) would run past this hook: only an installed file may be loaded.
                if where is not None:
                    why = native_code_refused(where, root, native_places, since)
                    if why is not None:
                        raise refused("the sandbox does not allow loading native code from %s (%s)%s" % (
                            why, where, "; restarting the tracer (the language server) loads it"
                            if why[:21] == "a file made or change" else ""))
                return
            if event[:6] == "fcntl." or event == "os.lockf":  # locks: the file the descriptor is open on
                fd, target = args[0], None
                if type(fd) is int:
                    try:
                        target = readlink("/proc/self/fd/%d" % fd)
                    except oserror:
                        pass
                # (a pipe's or a socket's "pipe:[...]" names no file)
                if target is None or (target[:1] == "/" and not within(target, root, prefix)):
                    raise refused("the sandbox does not allow locking files outside its temporary working directory "
                                  "(%s): a lock held by the run holds up the user's programs"
                                  % (target or "a descriptor of no path"))
                return
            for name, positions in path_positions:
                if name == event:
                    for index in positions:
                        if index < len(args):
                            verdict = inside(args[index], root, prefix, (name, index) not in link_itself)
                            # A path object in an event that Python code raises before its
                            # own os calls (which raise their own events, with the path
                            # converted) is left to those.
                            if verdict is None and event in advisory_events:
                                continue
                            if not verdict:
                                raise refused("the sandbox does not allow changing files outside its temporary "
                                              "working directory (%s)" % (shown(args[index]),))
        finally:
            if was_collecting:
                collect_again()

    def hook(event, args, checked=path_events | {"open", "import", "fcntl.flock", "fcntl.lockf", "os.lockf",
                                                  "os.listdir", "os.scandir", "os.readlink", "os.chdir"},
             check_paths=check_paths, forbidden=forbidden,
             reasons=reasons, coroutine_code=coroutine_code, own_code=own_code, getframe=sys._getframe,
             type=type, int=int, str=str, len=len, function=type(_resolved), getpid=os.getpid, refused=PermissionError,
             unix_sockets=_AF_UNIX, signalling_fcntl=SIGNALLING_FCNTL, signalling_ioctl=SIGNALLING_IOCTL,
             file_fcntl=FILE_FCNTL, hint_fcntl=HINT_FCNTL, inode_ioctl=INODE_IOCTL, lock_fcntl=LOCK_FCNTL, device_ioctl=DEVICE_IOCTL,
             device_ioctl_types=DEVICE_IOCTL_TYPES,
             guarded=frozenset(("__code__", "__defaults__", "__kwdefaults__")), plain=_plain,
             code_loading=_CODE_LOADING_VARIABLES, exit_now=os._exit,
             finalizing=frozenset(("cpython.PyInterpreterState_Clear", "cpython._PySys_ClearAuditHooks"))):
        if event in checked:
            return check_paths(event, args)
        if event in finalizing:
            # A run never ends by finalizing: it leaves with os._exit. One that returned
            # into the zygote's code (its exit function replaced) would finalize, and free
            # its objects after the hooks are gone: their __del__ would run unchecked.
            exit_now(3)
        if event == "os.putenv" and args:
            name = plain(args[0])
            if name is None:
                raise refused("the sandbox needs an environment variable's name as a str")
            for start in code_loading:
                if name[:len(start)] == start:
                    raise refused("the sandbox does not allow setting %s (it makes a library load code)" % name)
        if event in forbidden:
            if event == "os.kill" and args and type(args[0]) is int and args[0] == getpid():
                return
            # Sockets are refused as they are made, but for Unix ones (socketpair and
            # asyncio's loop make them; what they may reach is the syscall filter's
            # business). An allow list: a family of -1 is the C code's default, which
            # makes an internet socket (`_socket.socket()`), or the family of a
            # descriptor it is given, read after this event.
            if event == "socket.__new__" and len(args) > 1 and type(args[1]) is int and args[1] == unix_sockets:
                return
            if event == "code.__new__" and coroutine_code is not None and getframe(1).f_code is coroutine_code:
                return
            for name, reason in reasons:
                if name == event:
                    raise refused("the sandbox does not allow %s" % reason)
        if event[:7] == "ctypes.":
            raise refused("the sandbox does not allow ctypes")
        if event == "fcntl.fcntl" and type(args[1]) is int:
            # A descriptor's owner is sent a signal on its every event: kill() by other means.
            if args[1] in signalling_fcntl:
                raise refused("the sandbox does not allow signalling processes")
            if args[1] in file_fcntl:
                raise refused("the sandbox does not allow leases on files or notices of their changes (F_SETLEASE, "
                              "F_NOTIFY): a lease holds up other programs' writes to the file")
            if args[1] in hint_fcntl:
                raise refused("the sandbox does not allow setting a file's write-life hint (F_SET_RW_HINT, "
                              "F_SET_FILE_RW_HINT): it is kept in the file itself, past the run")
            if args[1] in lock_fcntl:
                return check_paths("fcntl.lock", args)
        if event == "fcntl.ioctl" and type(args[1]) is int:
            request = args[1] & 0xFFFFFFFF  # as the kernel reads it (an unsigned int)
            if request in signalling_ioctl:
                raise refused("the sandbox does not allow signalling processes")
            if request in inode_ioctl:
                raise refused("the sandbox does not allow changing a file's flags or attributes through ioctl")
            if request in device_ioctl or (request >> 8) & 0xFF in device_ioctl_types:
                raise refused("the sandbox does not allow driving devices through ioctl")
        if event == "object.__setattr__" and type(args[0]) is function and type(args[1]) is str \
                and args[1] in guarded and args[0].__code__ in own_code:
            raise refused("the sandbox does not allow changing its own functions")

    return hook


def _readlink(path, *, dir_fd=None, real=os.readlink, audit=sys.audit, fspath=os.fspath, index=operator.index,
              as_int=int.__index__, type=type):
    """os.readlink as runs get it (install_stand_ins): the same, after an "os.readlink"
    audit event, which Python does not raise, so that the hook can refuse another
    process's /proc/<pid>/fd/N, cwd, root and exe. The path and descriptor are converted
    once, here, and the event and the real call get the same values."""
    try:
        path = fspath(path)
    except TypeError:
        raise TypeError("readlink: path should be string, bytes or os.PathLike, not %s" % type(path).__name__) \
            from None
    if dir_fd is not None:
        dir_fd = as_int(index(dir_fd))
    audit("os.readlink", path, dir_fd)
    return real(path, dir_fd=dir_fd)


def _mkfifo(path, mode=0o666, *, dir_fd=None, audit=sys.audit, fspath=os.fspath, index=operator.index,
            as_int=int.__index__, fresh=_imp.create_builtin, spec=getattr(sys.modules.get("posix"), "__spec__", None)):
    """os.mkfifo as runs get it: Python raises no audit event for it (3.11 at least), and a
    run made FIFOs anywhere the user may write in the audit-only mode (review 27); this
    raises the "os.mkfifo" event the hook checks as it checks os.mkdir's.

    It holds no reference to the real function, which install_stand_ins takes out of every
    place it was (a stand-in that held it as a default handed it to any run that asked
    for `__kwdefaults__`: review 27b): it calls the mkfifo of a copy of `posix` made for
    the call (about 60 us), as a run could make one itself (`_imp.create_builtin`: a gap
    docs/sandbox.md names). What its defaults hold a run can reach without it."""
    path = fspath(path)
    mode = as_int(index(mode))
    if dir_fd is not None:
        dir_fd = as_int(index(dir_fd))
    audit("os.mkfifo", path, mode, dir_fd)
    return fresh(spec).mkfifo(path, mode, dir_fd=dir_fd)


def _mknod(path, mode=0o600, device=0, *, dir_fd=None, audit=sys.audit, fspath=os.fspath, index=operator.index,
           as_int=int.__index__, fresh=_imp.create_builtin, spec=getattr(sys.modules.get("posix"), "__spec__", None)):
    """os.mknod as runs get it (see _mkfifo): the hook refuses a node outside the run's
    folder, and a device node anywhere (as root, one in its folder opened a disk)."""
    path = fspath(path)
    mode, device = as_int(index(mode)), as_int(index(device))
    if dir_fd is not None:
        dir_fd = as_int(index(dir_fd))
    audit("os.mknod", path, mode, device, dir_fd)
    return fresh(spec).mknod(path, mode, device, dir_fd=dir_fd)


for _function, _name in ((_readlink, "readlink"), (_mkfifo, "mkfifo"), (_mknod, "mknod")):
    _function.__name__ = _function.__qualname__ = _name
    _function.__module__ = "posix"
    _function.__doc__ = getattr(getattr(os, _name, None), "__doc__", None)
del _function, _name


def _own_code():
    """The code objects the hook runs: a run may not replace them, or the defaults that
    hold its state (they are the same for every hook _hook_for makes)."""
    hook = _hook_for("/", "/", "", frozenset(), (), frozenset(), (), frozenset(), frozenset(), frozenset(), None,
                     frozenset(), 0.0)
    defaults = dict(zip(hook.__code__.co_varnames[2:hook.__code__.co_argcount], hook.__defaults__))
    return frozenset(f.__code__ for f in (hook, defaults["check_paths"], _resolved, _plain, _within, _open_folders,
                                          _stays_inside, _inside, _shown, _other_process, _native_code_refused,
                                          _located, _names_inside))


_OWN_CODE = _own_code()
# The tables above as the hook holds them (made once, in the zygote): immutable, so that a
# run that finds them through gc cannot change them.
_FROZEN_TABLES = (frozenset(_FORBIDDEN_EVENTS), tuple(_FORBIDDEN_EVENTS.items()), frozenset(_PATH_EVENTS),
                  tuple(_PATH_EVENTS.items()), _FORBIDDEN_IMPORTS, _ADVISORY_EVENTS)


def vm_bytes():
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * resource.getpagesize()
    except OSError:
        return 0


def _setlimit(which, soft, hard=None):
    try:
        _, old_hard = resource.getrlimit(which)
        hard = soft if hard is None else hard
        if old_hard != resource.RLIM_INFINITY:
            hard = min(hard, old_hard)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))
    except (ValueError, OSError):
        pass  # e.g. RLIMIT_AS on macOS: documented in docs/sandbox.md


def apply_fixed_limits():
    """The rlimits no request changes, set once in the zygote (every child inherits them,
    and its audit hook refuses setrlimit): bounded file sizes and descriptors, no core
    dumps."""
    _setlimit(resource.RLIMIT_FSIZE, 16 * 1024 * 1024)
    _setlimit(resource.RLIMIT_CORE, 0)
    _setlimit(resource.RLIMIT_NOFILE, FILES_OPEN_AT_ONCE)


def apply_limits(limits):
    """The child's own rlimits: memory (address space above what the zygote already maps),
    CPU time, and processes (the zygote itself must keep forking). The rest come from
    apply_fixed_limits.

    RLIMIT_NPROC counts a user's processes and threads alike. Elsewhere it is 0: no new
    process, and for users other than root no thread either. With `_threads` (see
    runtime.threads_for_runs) the run is in a user namespace of its own, where the kernel
    counts only that namespace's processes, so the limit leaves room for that many
    threads. Processes stay refused by the audit hook; native code that starts some past
    it is held by the namespaces and killed when the run ends."""
    memory = int(limits["memory_mb"]) * 1024 * 1024
    _setlimit(resource.RLIMIT_AS, (limits.get("_vm_base") or vm_bytes()) + memory)
    # Room for the set-up before the run's clock starts; start_cpu_clock then counts the
    # limit from there.
    cpu = max(1, int(-(-limits["cpu_s"] // 1))) + _CPU_SET_UP_S
    _setlimit(resource.RLIMIT_CPU, cpu, cpu + 1)
    threads = int(limits.get("_threads") or 0)
    _setlimit(resource.RLIMIT_NPROC, _NAMESPACE_PROCESSES + threads if threads > 0 else 0)


def start_cpu_clock(limits):
    """Count the CPU limit from the run's start, as its wall clock is counted, called as
    that clock starts. The child's CPU time until then (the rehearsal, unpacking its code:
    milliseconds) counted towards RLIMIT_CPU, so a loop spinning on one core reached the
    CPU limit a little before the wall-clock one, and which of the two stopped it was a
    race. The kernel counts whole seconds: the soft limit is the first whole second at
    least _CPU_MARGIN_S past the run's allowance, which a single thread, never using more
    CPU than wall time, cannot reach before its wall clock ends; threads running at once
    can."""
    soft, _ = resource.getrlimit(resource.RLIMIT_CPU)
    wanted = int(-(-(time.process_time() + float(limits["cpu_s"]) + _CPU_MARGIN_S) // 1))
    if soft != resource.RLIM_INFINITY:
        wanted = min(wanted, soft)
    _setlimit(resource.RLIMIT_CPU, wanted, wanted + 1)


def counts_processes_per_namespace():
    """Whether this kernel counts RLIMIT_NPROC per user namespace (Linux 5.14 and later);
    before, it counts all of the user's processes, everywhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        major, minor = os.uname().release.split(".")[:2]
        digits = ""
        for char in minor:
            if not char.isdigit():
                break
            digits += char
        return (int(major), int(digits or 0)) >= (5, 14)
    except ValueError:
        return False


def _read_only_everywhere(ctypes, libc):
    """Make every mount of this (new, private) mount namespace read-only, recursively and
    in one step, before the runs' tmpfs is mounted (which stays writable). The audit hook
    refuses writes outside a run's folder; this makes the kernel refuse them too, so even
    native code that slips past the hook cannot change the user's files. Best effort:
    kernels before 5.12 have no mount_setattr, and then only the hook guards writes."""

    class MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

    # Whether it took is read back from mountinfo (read_only_outside), not from this call.
    attr = MountAttr(_MOUNT_ATTR_RDONLY, 0, 0, 0)
    libc.syscall(ctypes.c_long(_SYS_MOUNT_SETATTR), ctypes.c_int(_AT_FDCWD), b"/",
                 ctypes.c_uint(_AT_RECURSIVE), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))


def read_only_outside(run_root):
    """Whether every mount but the runs' tmpfs is read-only here (from mountinfo)."""
    try:
        with open("/proc/self/mountinfo") as fh:
            mounts = [line.split() for line in fh]
    except OSError:
        return False
    tmpfs = os.path.realpath(run_root)  # mountinfo lists resolved paths
    return all(fields[5].split(",")[0] == "ro" for fields in mounts if len(fields) > 5 and fields[4] != tmpfs)


def enter_namespaces(run_root):
    """Unshare user, network and mount namespaces for this zygote (children inherit them),
    and give `run_root` (where runs get their folders) a private, size-capped tmpfs: fast to
    create folders in, and a run cannot fill the disk. Returns (error or None, whether the
    tmpfs is mounted). Must run while the process has one thread."""
    if not sys.platform.startswith("linux"):
        return "namespaces exist only on Linux", False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        uid, gid = os.getuid(), os.getgid()
        if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWNS) != 0:
            return "unshare(user+net+mount) failed: %s" % os.strerror(ctypes.get_errno()), False
        # Map our own ids so files we create keep their owner; "deny" is required first.
        for path, text in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", "%d %d 1" % (uid, uid)),
                           ("/proc/self/gid_map", "%d %d 1" % (gid, gid))):
            try:
                with open(path, "w") as fh:
                    fh.write(text)
            except OSError as exc:
                if path.endswith("setgroups"):
                    continue
                return "writing %s failed: %s" % (path, exc), False
        # Mounts made here stay in this namespace (and vanish with it).
        private = libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) == 0
        if private:
            _read_only_everywhere(ctypes, libc)
        tmpfs = private and libc.mount(b"tmpfs", os.fsencode(run_root), b"tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC,
                                       b"size=%dm,mode=0700" % RUN_ROOT_MB) == 0
        return None, tmpfs
    except Exception as exc:
        return "namespaces unavailable: %s" % exc, False
    finally:
        _forget_ctypes()


def _forget_ctypes():
    """Forget ctypes entirely, its C half (_ctypes) and submodules included: a run's
    `import` of a module still in sys.modules raises no audit event, so a cached _ctypes
    would slip past the hook's refusal of it."""
    for name in [m for m in sys.modules if m in ("ctypes", "_ctypes") or m.startswith("ctypes.")]:
        sys.modules.pop(name, None)


def _libc_call(call, failed, unavailable):
    """`call(libc)` through ctypes, which is forgotten again afterwards (_forget_ctypes):
    None when it returns 0, else `failed` with the error's text, or `unavailable` with why
    ctypes itself failed."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if call(libc) != 0:
            return "%s: %s" % (failed, os.strerror(ctypes.get_errno()))
        return None
    except Exception as exc:
        return "%s: %s" % (unavailable, exc)
    finally:
        _forget_ctypes()


def enter_pid_namespace():
    """After enter_namespaces: put this process's children in a new PID namespace (the
    process itself stays where it is; its next child becomes the namespace's PID 1). A run
    there sees no process outside by pid: signals, pid file descriptors, priorities and
    CPU affinities can reach only the namespace's own (see runtime.become_pid_1). Returns
    None, or why not."""
    return _libc_call(lambda libc: libc.unshare(_CLONE_NEWPID), "unshare(pid) failed", "PID namespace unavailable")


def mount_own_proc():
    """In the first process of the runs' PID namespace (see runtime.become_pid_1): mount a
    /proc of the namespace's own over the host's, read-only, so that a run finds there
    only the zygote and itself. In the host's, native code in a run could read what the
    hook refuses it: every process on the machine, with its command line (anyone may read
    those; the kernel keeps other processes' environments from a run in another user
    namespace). The kernel allows the mount where the host's /proc is fully visible (not in
    a container that masks parts of it). Returns None, or why not."""
    flags = _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    return _libc_call(lambda libc: libc.mount(b"proc", b"/proc", b"proc", flags, None),
                      "mounting the namespace's own /proc failed", "the namespace's own /proc unavailable")


def no_new_privileges(ctypes, libc):
    """Set no_new_privs on this process (and all it starts): what lets a process that is
    not root install a seccomp filter or a Landlock ruleset. None, or why not."""
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return "prctl(PR_SET_NO_NEW_PRIVS) failed: %s" % os.strerror(ctypes.get_errno())
    return None


def capability_sets():
    """This process's permitted, effective and inheritable capabilities, or-ed together
    (from /proc/self/status); -1 when they cannot be read."""
    try:
        with open("/proc/self/status") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
        return int(fields["CapPrm"], 16) | int(fields["CapEff"], 16) | int(fields["CapInh"], 16)
    except (OSError, KeyError, ValueError):
        return -1


def die_with_parent():
    """Have the kernel kill this process when its parent dies (a forked PID 1 whose outer
    parent the server kills: every run in the namespace then dies with it). Called just
    before an exec, which leaves ctypes behind."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except Exception:
        pass  # the zygote still ends when the server closes its pipe


def clean_environment():
    """Keep only the allow-listed variables, plus ENV_FIXED (the zygote does this once; its
    children inherit it). The server starts the zygote with only these already; this holds
    for any launcher."""
    for key in [k for k in os.environ if k not in ENV_ALLOWED]:
        del os.environ[key]
    os.environ.update(ENV_FIXED)


_STAND_IN_ORIGIN = "semcoder sandbox stand-in"


def unreachable_loaded(kernel_guards_files):
    """Modules in sys.modules that no run may reach (a run takes a loaded module from
    sys.modules without an import event): what the hook refuses to import, but for our own
    stand-ins. Empty in a zygote that imported only what it should."""
    refused = _FORBIDDEN_IMPORTS if kernel_guards_files else _FORBIDDEN_IMPORTS | _NATIVE_WRITERS
    return sorted(name for name, module in list(sys.modules.items())
                  if (name in refused or name.startswith(_FORBIDDEN_IMPORT_PREFIX))
                  and getattr(getattr(module, "__spec__", None), "origin", None) != _STAND_IN_ORIGIN)


def _no_programs(*args, **kwargs):
    raise PermissionError("the sandbox does not allow running programs")


def _no_ctypes(name):
    # AttributeError, so hasattr() and getattr(ctypes, name, None) still answer.
    raise AttributeError("the sandbox does not allow ctypes (ctypes.%s)" % name)


def _stand_in(name, doc):
    module = type(sys)(name, doc)
    spec_type = getattr(sys.modules.get("_frozen_importlib"), "ModuleSpec", None)
    if spec_type is not None:  # importlib.util.find_spec(name) then answers, as for a module
        module.__spec__ = spec_type(name, None, origin=_STAND_IN_ORIGIN)
    sys.modules[name] = module
    return module


def _guarded_register(real, timers, index):
    """faulthandler.register as runs get it (see _guard_faulthandler): not for the signals
    that enforce a run's time limits. The signal is read once (its __index__ could answer
    another number a second time), and the real function is given that number."""

    def register(signum, file=None, all_threads=True, chain=False):
        number = index(signum)
        if number in timers:
            raise PermissionError("the sandbox does not allow changing the signals that enforce its time limits")
        return real(number, sys.stderr if file is None else file, all_threads, chain)

    register.__doc__ = real.__doc__
    return register


def _guard_faulthandler():
    """Give runs a faulthandler whose register() refuses SIGALRM and SIGXCPU, imported here,
    in the zygote, so that a run's `import faulthandler` finds this one. Registered without
    `chain`, faulthandler's C handler took SIGALRM from the run's own, which then ran on to
    the zygote's kill a second past its limit, without a partial trace (a review). No audit
    event tells of register(), and a fresh copy of the module (`_imp.create_builtin`) has
    the real one: docs/sandbox.md names that gap, which the zygote's kill bounds."""
    try:
        import faulthandler
    except ImportError:
        return
    if getattr(faulthandler.register, "__qualname__", "").startswith("_guarded_register."):
        return  # guarded already
    import operator
    timers = frozenset((int(signal.SIGALRM), int(getattr(signal, "SIGXCPU", signal.SIGALRM))))
    faulthandler.register = _guarded_register(faulthandler.register, timers, operator.index)


def install_stand_ins():
    """Put stand-ins for _posixsubprocess and ctypes in sys.modules (the zygote does this
    once; its children inherit them), so that the many modules that import them at the top
    without needing them import in a run: subprocess (and through it asyncio, pytest,
    webbrowser), and ctypes (pandas, for a Windows-only error message).

    - Starting a program still fails: the audit hook refuses subprocess.Popen, and the
      stand-in's fork_exec (the real one forks without an audit event) refuses too.
    - ctypes' names are all missing (an AttributeError that says why); `from ctypes import
      c_int` is an ImportError, so code with a fallback takes it. The real _ctypes, which
      calls native code past the hook, stays a refused import, as does the real
      _posixsubprocess."""
    processes = _stand_in("_posixsubprocess", "A stand-in: the sandbox does not allow running programs.")
    processes.fork_exec = _no_programs
    imported = sys.modules.get("subprocess")  # not by the zygote; by a launcher, perhaps
    if imported is not None:
        for name in ("_fork_exec", "_posixsubprocess"):
            if hasattr(imported, name):
                setattr(imported, name, _no_programs if name == "_fork_exec" else processes)
    if "_ctypes" not in sys.modules:  # see runtime.enter_then_restart
        _stand_in("ctypes", "A stand-in: the sandbox does not allow ctypes.").__getattr__ = _no_ctypes
    _guard_faulthandler()
    # Signalling through a pid file descriptor raises no audit event (os.kill does, and is
    # refused): these go. A run can still build a fresh `_signal` or `posix` with
    # `_imp.create_builtin`; docs/sandbox.md names that gap.
    for module, names in (("posix", ("pidfd_open",)), ("os", ("pidfd_open",)),
                          ("_signal", ("pidfd_send_signal",)), ("signal", ("pidfd_send_signal",))):
        loaded = sys.modules.get(module)
        for name in names:
            if loaded is not None and name in loaded.__dict__:
                delattr(loaded, name)
    # readlink raises no audit event: runs get one that does (_readlink), so that the hook
    # refuses another process's /proc/<pid>/fd/N, cwd and exe as it refuses opening them.
    # (The real function stays in reach of a run that digs for it: the hook's own helpers
    # need it, and a fresh `posix` has it: docs/sandbox.md.)
    # Nor do mkfifo and mknod (3.11): runs get ones that raise the events the hook checks,
    # and the real ones go from everywhere they were (posix, os, os.supports_dir_fd), so
    # that no run finds them but in a copy of posix of its own making (see _mkfifo).
    real_readlink = _readlink.__kwdefaults__["real"]
    posix = sys.modules.get("posix")
    for stand_in, name in ((_readlink, "readlink"), (_mkfifo, "mkfifo"), (_mknod, "mknod")):
        real = getattr(posix, name, None)
        if real is None or real is stand_in or (stand_in is _readlink and real is not real_readlink):
            continue
        for module in (posix, sys.modules.get("os")):
            if module is not None and module.__dict__.get(name) is real:
                setattr(module, name, stand_in)
        for kind in ("supports_dir_fd", "supports_fd", "supports_follow_symlinks", "supports_effective_ids"):
            found = getattr(sys.modules.get("os"), kind, None)
            if type(found) is set and real in found:
                found.discard(real)
                found.add(stand_in)
    del real


class _NoSemLock:
    """_multiprocessing.SemLock as runs get it where the kernel does not hold their writes:
    a POSIX semaphore is a file in /dev/shm, made (and removed, by any name) from C with no
    audit event, that outlives the run (review 27). Its only use is sharing a lock with
    other processes, which a run may not create: refused in those words, as starting the
    processes is (multiprocessing's ProcessPoolExecutor stops here now, not at its fork)."""

    SEM_VALUE_MAX = 2147483647

    def __new__(cls, *args, **kwargs):
        raise PermissionError("the sandbox does not allow creating processes")

    @classmethod
    def _rebuild(cls, *args):
        raise PermissionError("the sandbox does not allow creating processes")


_NoSemLock.__name__ = _NoSemLock.__qualname__ = "SemLock"
_NoSemLock.__module__ = "_multiprocessing"


def _no_sem_unlink(name):
    raise PermissionError("the sandbox does not allow removing semaphores")


def install_native_stand_ins(kernel_guards_files):
    """Where the kernel does not hold a run's writes to its folder (so _NATIVE_WRITERS are
    refused imports), a stand-in _multiprocessing in sys.modules (the zygote does this once,
    before preloading), so that multiprocessing and concurrent.futures.process still import
    (their modules import it at the top) and refuse at the lock, in the run's words."""
    if kernel_guards_files or "_multiprocessing" in sys.modules:
        return
    module = _stand_in("_multiprocessing", "A stand-in: the sandbox does not allow POSIX semaphores.")
    module.SemLock = _NoSemLock
    module.sem_unlink = _no_sem_unlink
    module.flags = {"HAVE_SEM_OPEN": 1, "HAVE_SEM_TIMEDWAIT": 1}


def point_temp_folders(workdir):
    """HOME and TMPDIR (and tempfile, if something imported it) pointing at a run's folder.
    The zygote does it once for its runs' usual folder (see runtime._RUN_FOLDER)."""
    value = os.fsencode(workdir)
    # os.environ's own __setitem__ is several times dearer in a fresh child (every Python
    # function it runs copies pages); on POSIX it is putenv plus this bytes-keyed dict.
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict) and isinstance(next(iter(data), b""), bytes):
        for key in (b"HOME", b"TMPDIR"):
            os.putenv(key, value)
            data[key] = value
    else:
        os.environ["HOME"] = os.environ["TMPDIR"] = workdir
    # The zygote does not import tempfile (see runtime.py); if something else did, point it
    # here too (it reads TMPDIR only once).
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = workdir


def temp_base():
    """The folder tempfile.gettempdir() would pick, without importing tempfile (which
    imports random, whose fork handler every child would then run)."""
    candidates = [os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP")]
    candidates += ["/tmp", "/var/tmp", "/usr/tmp"]
    for folder in candidates:
        if folder and os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK):
            return os.path.abspath(folder)
    return os.getcwd()


def _own_again(fd):
    """Give the folder open on `fd` back the permissions to list and empty it."""
    try:
        os.fchmod(fd, 0o700)
    except OSError:
        pass


def _own_folder(name, fd):
    """Give the folder `name`, in the folder open on `fd`, the permissions to enter it,
    without following a link: a run may have put one in its place since it was listed
    (review 25: chmod followed it, and gave whatever it named those permissions). Where
    the system offers no way to, nothing is changed (OSError), and the folder stays."""
    if os.chmod in os.supports_follow_symlinks:  # (not on Linux: its chmod always follows)
        os.chmod(name, 0o700, dir_fd=fd, follow_symlinks=False)
        return
    o_path = getattr(os, "O_PATH", None)
    if o_path is None:
        raise OSError("no way to change a folder's mode without following a link")
    # A descriptor of the folder itself (a link is refused: O_NOFOLLOW and O_DIRECTORY),
    # then its mode, changed through that descriptor's name in /proc, which names it alone.
    folder = os.open(name, o_path | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
    try:
        os.chmod("/proc/self/fd/%d" % folder, 0o700)
    finally:
        os.close(folder)


def _empty_out(fd, oserror=OSError):
    """Remove what the folder open on `fd` holds but its folders, reading it once; the
    names of those folders."""
    try:
        with os.scandir(fd) as listing:
            entries = list(listing)
    except oserror:
        return []
    folders = []
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
        except oserror:
            pass
    return folders


def remove_tree(path):
    """shutil.rmtree(path, ignore_errors=True), but without shutil (it imports bz2 and lzma
    into every zygote), without recursion and holding two descriptors at most: a run may
    nest folders deeper than the stack, the descriptor limit or PATH_MAX. Links are
    removed, never followed; a folder a run took its permissions from is given them back
    (as it is entered: in a folder the run made read-only, nothing could be removed, and
    what it held stayed for later runs to read).

    Each folder is read once, as it is entered: the names of its folders wait on a stack,
    level by level, while the walk goes down into them one by one. (It used to read a
    folder again after removing each of its folders: 18 000 empty folders, made by a run
    in a second, took 37 s to remove on a tmpfs and 286 s on a disk, holding the next run
    that long. A review.) Going back up by "..", it checks that it reaches the folder it
    came from: a folder moved meanwhile stops the walk rather than lead it elsewhere."""
    flags = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        try:
            os.unlink(path)  # a file or a link, or nothing at all
        except OSError:
            pass
        return
    _own_again(fd)
    # One entry per folder entered below `path`: (its parent's folders still to remove,
    # its name there, its parent's (device, inode)).
    above = []
    try:
        here = os.fstat(fd)
        place = (here.st_dev, here.st_ino)
        waiting = _empty_out(fd)
        while True:
            if waiting:
                name = waiting.pop()
                try:
                    try:
                        child = os.open(name, flags, dir_fd=fd)
                    except PermissionError:
                        _own_folder(name, fd)  # (a folder as it was listed)
                        child = os.open(name, flags, dir_fd=fd)
                except OSError:
                    continue  # it stays, and so does its parent
                above.append((waiting, name, place))
                os.close(fd)
                fd = child
                _own_again(fd)
                here = os.fstat(fd)
                place = (here.st_dev, here.st_ino)
                waiting = _empty_out(fd)
                continue
            if not above:
                break
            # This folder is as empty as it gets: go up and remove it.
            waiting, name, place = above.pop()
            try:
                parent = os.open("..", flags, dir_fd=fd)
            except OSError:  # removed meanwhile (by another walk: a zygote's sweep, say)
                return
            os.close(fd)
            fd = parent
            here = os.fstat(fd)
            if (here.st_dev, here.st_ino) != place:
                return  # (the finally closes fd) moved under the walk: not followed
            try:
                os.rmdir(name, dir_fd=fd)
            except OSError:
                pass
    finally:
        os.close(fd)
    try:
        os.rmdir(path)
    except OSError:
        pass
