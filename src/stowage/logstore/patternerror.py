"""The one error a filter pattern can raise: it does not parse."""

from __future__ import annotations


class PatternError(ValueError):
    """The filter pattern is not valid; the message says why (shown to the API caller)."""
