"""Helpers used by shapes.py (a second module, so the model's prompt needs the workspace)."""

CM_PER_INCH = 2.54


def to_cm(inches):
    return inches * CM_PER_INCH
