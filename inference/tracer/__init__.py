"""Sandboxed real execution: line-by-line traces of Python code.

    from semcoder_inference.tracer import Tracer, Limits, find_python, render_table, render_monologue

The part that runs inside the user's interpreter is `runtime.py`, started by `launch.py` (standard library only);
`pool.py` manages warm zygotes; `render.py` turns traces into text.
"""

from .limits import Limits
from .pool import Tracer, TracerError, describe_isolation, split_assert
from .python_finder import find_python
from .render import render_monologue, render_table

__all__ = ["Tracer", "TracerError", "Limits", "describe_isolation", "find_python", "render_table", "render_monologue",
           "split_assert"]
