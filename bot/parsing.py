"""Reading numbers that people and platforms type: one helper for every id and option.

`str.isdigit()` accepts '①', '²' and other Unicode digits that `int()` rejects, and an
unbounded digit string becomes an integer no database column can hold; both crashed
handlers before. Everything that turns text into an id or an option number uses this.
"""

from __future__ import annotations

MAX_ID_DIGITS = 9  # fits a 32-bit INTEGER column (ids, counts)


def ascii_int(text: str | None, max_digits: int = MAX_ID_DIGITS) -> int | None:
    """The number written in `text` (ASCII digits only, at most `max_digits`), else None."""
    if text is None:
        return None
    text = text.strip()
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None
