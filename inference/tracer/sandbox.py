"""The isolation a traced child applies to itself (stdlib only, Python 3.9+): rlimits, the
audit hook that refuses processes, network, writes outside its folder, ctypes and other
processes' /proc entries; its private folder and environment; and the user, network,
mount and PID namespaces the zygote enters where Linux allows them. See docs/sandbox.md.
"""

from __future__ import annotations

import os
import resource
import signal
import sys

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
# Processes of the runs' user namespace while a run is going: the process the server
# started, the zygote (PID 1 of the runs' PID namespace) and the run itself.
_NAMESPACE_PROCESSES = 3

# A descriptor's owner is sent a signal (of the caller's choice) on its every event: a way to
# signal any process by pid without kill(). fcntl's F_SETOWN, F_SETSIG and F_SETOWN_EX;
# ioctl's FIOSETOWN and SIOCSPGRP. Refused by the hook and by the syscall filter.
SIGNALLING_FCNTL = (8, 10, 15)
SIGNALLING_IOCTL = (0x8901, 0x8902)

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.chmod": (0,), "os.chown": (0,),
    "os.truncate": (0,), "os.utime": (0,), "os.rename": (0, 1), "os.link": (0, 1),
    "os.symlink": (1,), "os.mkfifo": (0,), "os.mknod": (0,), "os.setxattr": (0,),
    "os.removexattr": (0,), "shutil.rmtree": (0,), "os.chflags": (0,), "os.lchflags": (0,),
    # SQLite opens (and creates) its files in C, without an "open" event.
    "sqlite3.connect": (0,), "sqlite3.connect/handle": (),
}
_FORBIDDEN_EVENTS = {
    "os.fork": "creating processes", "os.forkpty": "creating processes",
    "os.system": "running commands", "os.exec": "running programs",
    "os.posix_spawn": "running programs", "os.spawn": "running programs",
    "subprocess.Popen": "running programs", "os.startfile": "running programs",
    "socket.__new__": "network access", "socket.connect": "network access", "socket.bind": "network access",
    "socket.sendto": "network access", "socket.sendmsg": "network access",
    "socket.getaddrinfo": "network access", "socket.gethostbyname": "network access",
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
                                "_tkinter"))
_FORBIDDEN_IMPORT_PREFIX = "_test"  # _testcapi, _testinternalcapi, ...
# Modules that write files from native code, where the hook sees no event (SQLite's ATTACH
# and VACUUM INTO, readline's history, dbm, shared memory): refused unless the kernel itself
# keeps the run's writes in its folder (namespaces, with every other mount read-only).
_NATIVE_WRITERS = frozenset(("_sqlite3", "_gdbm", "_dbm", "_posixshmem", "readline"))


def make_audit_hook(workdir, real_workdir=None, kernel_guards_files=False):
    """The audit hook that refuses processes, network, writes outside `workdir`, ctypes,
    and reading other processes' /proc entries. It raises PermissionError, so hostile code
    sees an ordinary failure and the run ends cleanly (or is stopped by a limit).
    `real_workdir`: os.path.realpath(workdir), when the caller knows it already.
    `kernel_guards_files`: the kernel refuses writes outside the runs' folder (every mount
    but the runs' tmpfs is read-only, or Landlock holds them: see write_guard), so modules
    that write files from native code (_NATIVE_WRITERS) may be imported.

    Built before the run, and nothing a run can change steers it: everything it uses is
    an argument default (a tuple, which only an audited `__defaults__` assignment could
    replace, and the hook refuses that), immutable (strings, frozensets, tuples), or a C
    function. It has no closure cells (a run could rewrite those through gc), reads no
    module global or builtin (a run can rebind those), and calls no Python function of
    the standard library (whose globals a run can patch): _resolved does the work of
    os.path.realpath with C calls."""
    root = real_workdir or os.path.realpath(workdir)
    # types.coroutine (asyncio uses it on import) marks a compiled function awaitable with
    # code.replace: only a flag changes, on code the compiler made.
    coroutine = getattr(sys.modules.get("types"), "coroutine", None)
    return _hook_for(root, root + "/", *_FROZEN_TABLES,
                     frozenset() if kernel_guards_files else _NATIVE_WRITERS, getattr(coroutine, "__code__", None), _OWN_CODE)


def _proc_pid():
    """This process's pid as /proc names it: in a PID namespace, the host's pid while /proc
    is the host's (not os.getpid()), and its pid in the namespace once the namespace has a
    /proc of its own (mount_own_proc)."""
    try:
        return int(os.readlink("/proc/self"))
    except (OSError, ValueError):  # no /proc (macOS)
        return os.getpid()


def _resolved(path, getcwd=os.getcwd, lstat=os.lstat, readlink=os.readlink, oserror=OSError):
    """`path` made absolute with every symbolic link followed, as os.path.realpath does (a
    part that does not exist is taken as written, with the rest). Only C functions taken
    when this module was imported, in the zygote, before any run."""
    if path[:1] != "/":
        path = getcwd() + "/" + path
    pending = path.split("/")
    pending.reverse()
    done = []
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
        except oserror:
            done.append(part)
            continue
        if mode & 0o170000 == 0o120000:  # a symbolic link
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


def _path_text(path, type=type, isinstance=isinstance, str=str, bytes=bytes, as_str=str.__str__,
               decode=bytes.decode, encoding=sys.getfilesystemencoding()):
    """A path as the kernel sees it, an exact str (a str or bytes subclass could answer the
    hook's own method calls), or None for a path object. Builtin open, os.* and pathlib
    convert path objects before their audit event; io.FileIO and sqlite3.connect pass the
    object itself, and converting it again could give another path than theirs."""
    if type(path) is str:
        return path
    if isinstance(path, str):
        return as_str(path)
    if isinstance(path, bytes):
        return decode(path, encoding, "surrogateescape")
    return None


def _within(full, root, prefix, len=len):
    """Whether a resolved path (None: a path object) is the run's folder, in it, or /dev/null."""
    return full is not None and (full == root or full[:len(prefix)] == prefix or full == "/dev/null")


def _open_folders(listdir=os.listdir, stat=os.stat, readlink=os.readlink, oserror=OSError):
    """The paths of the folders the run holds open as descriptors: any of them can be the
    `dir_fd` of a call, which the kernel then resolves a relative path against."""
    found = []
    try:
        names = listdir("/proc/self/fd")
    except oserror:  # no /proc (macOS): see docs/sandbox.md
        return found
    for name in names:
        link = "/proc/self/fd/" + name
        try:
            if stat(link).st_mode & 0o170000 == 0o040000:
                found.append(readlink(link))
        except oserror:
            pass  # closed since (listdir's own descriptor, for one)
    return found


def _other_process(full, readlink=os.readlink, getpid=os.getpid, int=int, oserror=OSError, bad_value=ValueError):
    """Whether the resolved path `full` is in another process's /proc/<pid>."""
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


def _stays_inside(where, full, root, prefix, resolved=_resolved, within=_within, open_folders=_open_folders):
    """Whether the path `where` (text), `full` once resolved, is inside for a call that may
    take a `dir_fd` (os.open, os.mkdir, os.rename, ...): a relative path must stay inside
    from the working folder and from every folder the run holds open, since the audit
    event does not always say which one the call uses."""
    if not within(full, root, prefix):
        return False
    if where[:1] != "/":
        for folder in open_folders():
            if not within(resolved(folder + "/" + where), root, prefix):
                return False
    return True


def _inside(path, root, prefix, isinstance=isinstance, int=int, text=_path_text, resolved=_resolved,
            stays_inside=_stays_inside, within=_within, readlink=os.readlink, oserror=OSError):
    """Whether `path` is the run's folder, in it, or /dev/null (see _stays_inside). A
    descriptor (os.chmod(fd)) is checked by the file it is open on."""
    if isinstance(path, int):
        try:
            return within(readlink("/proc/self/fd/%d" % path), root, prefix)
        except oserror:
            return False
    path = text(path)
    return path is not None and stays_inside(path, resolved(path), root, prefix)


def _shown(path, text=_path_text, isinstance=isinstance, int=int):
    if isinstance(path, int):
        return "descriptor %d" % path
    path = text(path)
    return "a path object: pass str(path)" if path is None else path


def _hook_for(root, prefix, forbidden, reasons, path_events, path_positions, forbidden_imports,
              native_writers, coroutine_code, own_code):
    """The hook itself (see make_audit_hook): every value it needs is bound here as a
    default of `hook`."""

    def hook(event, args, root=root, prefix=prefix, forbidden=forbidden, reasons=reasons,
             path_events=path_events, path_positions=path_positions, forbidden_imports=forbidden_imports,
             forbidden_prefix=_FORBIDDEN_IMPORT_PREFIX, native_writers=native_writers,
             coroutine_code=coroutine_code, own_code=own_code, inside=_inside, stays_inside=_stays_inside,
             within=_within, text=_path_text, shown=_shown, resolved=_resolved, getframe=sys._getframe,
             type=type, isinstance=isinstance, int=int, len=len, function=type(_resolved), lstat=os.lstat,
             getpid=os.getpid, readlink=os.readlink, bad_value=ValueError,
             oserror=OSError, refused=PermissionError, not_found=ModuleNotFoundError, write_flags=_WRITE_FLAGS,
             internet=(2, 10), exact_text=str.__str__, last_part=str.rpartition,
             other_process=_other_process, open_folders=_open_folders,
             signalling_fcntl=SIGNALLING_FCNTL, signalling_ioctl=SIGNALLING_IOCTL,
             guarded=frozenset(("__code__", "__defaults__", "__kwdefaults__"))):
        if event == "open":
            path, mode, flags = args[0], args[1], args[2]
            if isinstance(path, int):
                return  # an already-open descriptor
            writing = (mode is not None and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)) or (
                mode is None and flags & write_flags)
            where = text(path)
            # Resolved for reads too: `/proc/self/../<pid>`, `//proc/<pid>`, a relative path
            # from /proc or a link to it all name another process's files.
            full = None if where is None else resolved(where)
            # os.open (no mode) may be given a dir_fd that its event does not show
            if writing and not (within(full, root, prefix) if mode is not None
                                else where is not None and stays_inside(where, full, root, prefix)):
                linked = False
                if where is not None and where[:1] != "/":
                    try:
                        linked = lstat(where).st_mode & 0o170000 == 0o120000
                    except oserror:
                        pass
                raise refused("the sandbox does not allow writing outside its temporary working directory (%s%s)"
                              % (shown(path), ": the project's file, which runs may only read" if linked else ""))
            if full is not None and other_process(full):
                raise refused("the sandbox does not allow reading other processes")
            # os.open may be given a dir_fd on /proc, or on /proc/<pid>, that its event does
            # not show: a relative path is checked from every folder the run holds open too.
            if mode is None and where is not None and where[:1] != "/":
                for folder in open_folders():
                    if other_process(resolved(folder + "/" + where)):
                        raise refused("the sandbox does not allow reading other processes")
            return
        if event in forbidden:
            if event == "os.kill" and args and args[0] == getpid():
                return
            # Internet sockets are refused as they are made (Unix ones, as socketpair and
            # asyncio make, are not; what they may reach is the syscall filter's business).
            if event == "socket.__new__" and args[1] not in internet:
                return
            if event == "code.__new__" and coroutine_code is not None and getframe(1).f_code is coroutine_code:
                return
            for name, reason in reasons:
                if name == event:
                    raise refused("the sandbox does not allow %s" % reason)
        if event[:7] == "ctypes.":
            raise refused("the sandbox does not allow ctypes")
        # A descriptor's owner is sent a signal on its every event: kill() by other means.
        if (event == "fcntl.fcntl" and args[1] in signalling_fcntl) or (
                event == "fcntl.ioctl" and args[1] in signalling_ioctl):
            raise refused("the sandbox does not allow signalling processes")
        if event == "import":
            # The name as the interpreter reads it: a str subclass (a hand-made spec's name)
            # could answer `in` and slicing as it pleases.
            name = exact_text(args[0])
            if "\x00" in name:  # (CPython's C string of it ends there: "_ctypes\x00" loads _ctypes)
                raise not_found("the sandbox does not allow importing a module whose name holds a NUL",
                                name=name)
            where = text(args[1])
            if where is not None:
                # An extension module's load (only those name their file). Its init
                # function is found by the name's last part, so `x._ctypes`, spec'd by
                # hand on the real _ctypes file, loads _ctypes all the same.
                name = last_part(name, ".")[2]
            if name in forbidden_imports or name[:len(forbidden_prefix)] == forbidden_prefix:
                raise not_found("the sandbox does not allow importing %s" % name, name=name)
            if name in native_writers:
                raise not_found("the sandbox does not allow importing %s without Linux namespaces or Landlock: "
                                "it writes files from native code, where only the kernel can hold it to the run's "
                                "folder" % name, name=name)
            # One the run wrote (in its folder) would be native code of its own choosing,
            # past this hook.
            if where is not None and within(resolved(where), root, prefix):
                raise refused("the sandbox does not allow loading native code from its own folder (%s)" % where)
        if event == "object.__setattr__" and type(args[0]) is function and args[1] in guarded \
                and args[0].__code__ in own_code:
            raise refused("the sandbox does not allow changing its own functions")
        if event in path_events:
            for name, positions in path_positions:
                if name == event:
                    for index in positions:
                        if index < len(args) and not inside(args[index], root, prefix):
                            raise refused("the sandbox does not allow changing files outside its temporary "
                                          "working directory (%s)" % (shown(args[index]),))

    return hook


def _own_code():
    """The code objects the hook runs: a run may not replace them, or the defaults that
    hold its state (they are the same for every hook _hook_for makes)."""
    hook = _hook_for("/", "/", frozenset(), (), frozenset(), (), frozenset(), frozenset(), None, frozenset())
    return frozenset(f.__code__ for f in (hook, _resolved, _path_text, _within, _open_folders, _stays_inside, _inside,
                                          _shown, _other_process))


_OWN_CODE = _own_code()
# The tables above as the hook holds them (made once, in the zygote): immutable, so that a
# run that finds them through gc cannot change them.
_FROZEN_TABLES = (frozenset(_FORBIDDEN_EVENTS), tuple(_FORBIDDEN_EVENTS.items()), frozenset(_PATH_EVENTS),
                  tuple(_PATH_EVENTS.items()), _FORBIDDEN_IMPORTS)


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
    cpu = max(1, int(-(-limits["cpu_s"] // 1)))
    _setlimit(resource.RLIMIT_CPU, cpu, cpu + 1)
    threads = int(limits.get("_threads") or 0)
    _setlimit(resource.RLIMIT_NPROC, _NAMESPACE_PROCESSES + threads if threads > 0 else 0)


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
    # Signalling through a pid file descriptor raises no audit event (os.kill does, and is
    # refused): these go. A run can still build a fresh `_signal` or `posix` with
    # `_imp.create_builtin`; docs/sandbox.md names that gap.
    for module, names in (("posix", ("pidfd_open",)), ("os", ("pidfd_open",)),
                          ("_signal", ("pidfd_send_signal",)), ("signal", ("pidfd_send_signal",))):
        loaded = sys.modules.get(module)
        for name in names:
            if loaded is not None and name in loaded.__dict__:
                delattr(loaded, name)


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


def remove_tree(path):
    """shutil.rmtree(path, ignore_errors=True), but without shutil (it imports bz2 and lzma
    into every zygote), without recursion and holding two descriptors at most: a run may
    nest folders deeper than the stack, the descriptor limit or PATH_MAX. Links are
    removed, never followed; a folder a run took its permissions from is given them back
    (as it is entered: in a folder the run made read-only, nothing could be removed, and
    what it held stayed for later runs to read)."""
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
    below = []  # names from `path` down to the folder `fd` is open on
    stuck = set()  # (device, inode) of folders that would not go: never entered twice
    try:
        while True:
            sub = None
            device = os.fstat(fd).st_dev
            try:
                entries = list(os.scandir(fd))
            except OSError:
                entries = []
            for entry in entries:
                try:
                    if not entry.is_dir(follow_symlinks=False):
                        os.unlink(entry.name, dir_fd=fd)
                    elif sub is None and (device, entry.inode()) not in stuck:
                        sub = entry
                except OSError:
                    pass
            if sub is not None:
                try:
                    try:
                        child = os.open(sub.name, flags, dir_fd=fd)
                    except PermissionError:
                        os.chmod(sub.name, 0o700, dir_fd=fd)
                        child = os.open(sub.name, flags, dir_fd=fd)
                except OSError:
                    stuck.add((device, sub.inode()))
                    continue
                os.close(fd)
                fd = child
                _own_again(fd)
                below.append(sub.name)
                continue
            if not below:
                break
            # This folder is as empty as it gets: go up and remove it.
            here = os.fstat(fd)
            parent = os.open("..", flags, dir_fd=fd)
            os.close(fd)
            fd = parent
            try:
                os.rmdir(below.pop(), dir_fd=fd)
            except OSError:
                stuck.add((here.st_dev, here.st_ino))
    finally:
        os.close(fd)
    try:
        os.rmdir(path)
    except OSError:
        pass
