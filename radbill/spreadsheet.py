"""Cells we write into files people open in a spreadsheet program (exports, the import's rows-to-fix file).

Spreadsheet programs run a cell that starts with = + - @ (or a tab / carriage return before one) as a formula,
so such text gets a leading apostrophe (OWASP "CSV injection"). Every CSV/XLSX writer uses this one function.
"""

from __future__ import annotations

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """Text a spreadsheet would run as a formula gets a leading apostrophe; anything else is returned as is."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
