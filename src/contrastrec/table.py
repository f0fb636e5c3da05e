"""Plain-text tables for the command line (``datasets``, ``recommend``, ``demo``).

A cell is formatted by its column's formatter when one is given, else by :func:`cell`: floats with
four decimals, ``None`` as an empty cell, anything else by ``str``. :func:`seconds` formats a
duration as seconds (``"10.2 s"``), for columns of durations.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

__all__ = ["cell", "seconds", "format_table"]

Formatter = Callable[[Any], str]


def cell(v: Any) -> str:
    """The default cell text: ``0.1234`` for floats, ``""`` for None, ``str(v)`` otherwise."""
    if isinstance(v, float):
        return f"{v:.4f}"
    return "" if v is None else str(v)


def seconds(v: Any) -> str:
    """A duration in seconds: ``"10.2 s"`` (``""`` for None)."""
    return "" if v is None else f"{float(v):.1f} s"


def format_table(rows: list[Mapping[str, Any]], cols: list[str],
                 formats: Mapping[str, Formatter] | None = None) -> str:
    """``cols`` of ``rows`` as left-aligned columns under a header and a rule of dashes."""
    formats = formats or {}
    text = [[formats.get(c, cell)(r.get(c)) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(t[j]) for t in text]) for j, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(s.ljust(w) for s, w in zip(t, widths)).rstrip() for t in text]
    return "\n".join(lines)
