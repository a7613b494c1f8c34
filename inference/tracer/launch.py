"""Start a zygote: `python -I launch.py [ISOLATION [REHEARSAL [PRELOAD [PREFAULT [CONTROL]]]]]` (see runtime.main).

Python compiles a script from its source every time it runs it, and compiling runtime.py
left about 2 MB of the compiler's freed memory in every zygote: pages that each fork then
copied the page tables of and each run's exit tore down again. So the script is this stub,
and the zygote's modules are imported from their cached bytecode where there is some.
Like them it uses only the standard library, on Python 3.9+."""

import os
import sys


def load_runtime():
    """Load our folder as the private package `_semcoder_tracer` (so that nothing of ours
    can shadow a user module, nor be shadowed by one) and return its runtime module."""
    here = os.path.dirname(os.path.abspath(__file__))
    # Our own folder leaves sys.path: its modules (cli.py, render.py, ...) must not shadow
    # the user's.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    package = type(sys)("_semcoder_tracer")
    package.__path__ = [here]
    sys.modules["_semcoder_tracer"] = package
    from _semcoder_tracer import runtime
    return runtime


if __name__ == "__main__":
    sys.exit(load_runtime().main(sys.argv))
