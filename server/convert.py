"""Small conversions between pygls' parameter objects and plain JSON data."""

from __future__ import annotations

from typing import Any


def plain(obj: Any) -> Any:
    """Custom-request params arrive as namedtuples (pygls' fallback); make them dicts/lists."""
    if hasattr(obj, "_asdict"):
        return {k: plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if hasattr(obj, "__attrs_attrs__"):
        from lsprotocol import converters

        return converters.get_converter().unstructure(obj)
    return obj
