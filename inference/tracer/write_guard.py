"""Landlock: the kernel refuses the zygote and its runs every write outside the runs' folder
(stdlib only, Python 3.9+).

The audit hook refuses writes from Python code; native code (SQLite's `ATTACH`, an
extension module, a fresh built-in module) passes it. With namespaces, read-only mounts
hold such writes; without them (a kernel or distribution that refuses unprivileged user
namespaces) this does, on Linux 5.13 and later with Landlock enabled. Like the syscall
filter it is installed once, by the process that then restarts the interpreter as the
zygote, because it needs ctypes (see runtime.enter_then_restart).

Refused outside the runs' folder: writing or truncating a file, creating, removing or
renaming anything (files, folders, links, sockets, FIFOs, devices); `/dev/null` may still be
written. Reading and running programs are not Landlock's business here (the syscall filter
refuses programs). From Linux 6.12 (Landlock ABI 6) also signals to processes outside the
sandbox (the editor, the server, anything of the user's) and abstract Unix sockets made
outside it, which no seccomp filter can tell apart by their arguments.
"""

from __future__ import annotations

import os
import struct
import sys

from .sandbox import _forget_ctypes, no_new_privileges

# The same numbers on every architecture.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_WRITE_FILE = 1 << 1
# remove a folder or file; make a character device, folder, file, socket, FIFO, block
# device, symbolic link
_CHANGE_TREE = sum(1 << bit for bit in range(4, 13))
_REFER, _TRUNCATE = 1 << 13, 1 << 14  # ABI 2 and 3
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1, 2  # ABI 6


def confine_writes(run_root):
    """Allow writes only beneath `run_root` (and to /dev/null) for this process and all it
    will start; from ABI 6, signals only to those processes. Returns None, or why not.
    Sets no_new_privs (Landlock needs it)."""
    if not sys.platform.startswith("linux"):
        return "Landlock exists only on Linux"
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
        syscall.restype = ctypes.c_long
        abi = syscall(ctypes.c_long(_SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
                      ctypes.c_uint32(_CREATE_RULESET_VERSION))
        if abi < 1:
            return "Landlock is not available: %s" % os.strerror(ctypes.get_errno())
        tree = _WRITE_FILE | _CHANGE_TREE | (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0)
        file_rights = _WRITE_FILE | (_TRUNCATE if abi >= 3 else 0)
        # struct landlock_ruleset_attr: handled_access_fs, handled_access_net (ABI 4), scoped (ABI 6)
        attr = struct.pack("=QQQ", tree, 0, _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 \
            else struct.pack("=Q", tree)
        ruleset = syscall(ctypes.c_long(_SYS_CREATE_RULESET), ctypes.create_string_buffer(attr, len(attr)),
                          ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
        if ruleset < 0:
            return "landlock_create_ruleset failed: %s" % os.strerror(ctypes.get_errno())
        try:
            for path, rights in ((run_root, tree), (os.devnull, file_rights)):
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                try:
                    rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)  # packed
                    if syscall(ctypes.c_long(_SYS_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                               rule, ctypes.c_uint32(0)) != 0:
                        return "landlock_add_rule(%s) failed: %s" % (path, os.strerror(ctypes.get_errno()))
                finally:
                    os.close(fd)
            why = no_new_privileges(ctypes, libc)
            if why is not None:
                return why
            if syscall(ctypes.c_long(_SYS_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
                return "landlock_restrict_self failed: %s" % os.strerror(ctypes.get_errno())
            return None
        finally:
            os.close(ruleset)
    except Exception as exc:  # an interpreter without ctypes, say: run without it, and say why
        return "could not install it: %s" % exc
    finally:
        _forget_ctypes()
