"""`semcoder` sub-commands that live in training/.

Registration must stay cheap and must not import torch: heavy modules are imported inside
the command handlers, so the base install (no `train` extra) still starts, and a training
command then explains which extra to install.
"""

from __future__ import annotations


def register(subparsers) -> None:
    from .cli_weights import register as register_weights  # model build-tiny|export|quantize
    from .cli_pipeline import register as register_pipeline  # data, train, export, eval

    register_weights(subparsers)
    register_pipeline(subparsers)
