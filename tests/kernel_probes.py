"""What the probe processes of test_tracer_syscall_filter and test_tracer_write_guard share:
they import this module from the tests folder (given as their last argument) and report
each call's outcome by name."""

from __future__ import annotations

import errno


def outcome(action) -> str:
    """"allowed", or the errno name the call failed with."""
    try:
        action()
        return "allowed"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    except ValueError as exc:  # how the resource module reports EPERM
        return "EPERM" if str(exc) == "not allowed to raise maximum limit" else repr(exc)
