"""Checks on user text that the database or other users' screens cannot take."""

from __future__ import annotations

import re
import unicodedata

# C0 controls and DEL, except tab and line breaks. PostgreSQL refuses NUL in text (a 500
# before this check); the others have no business in any field and confuse logs.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Controls, format characters (zero-width spaces and joiners, bidi overrides such as
# U+202E), surrogates and line/paragraph separators: invisible in a name, so they let one
# user look like another or reorder what is shown around the name.
_INVISIBLE = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def has_invisible(text: str) -> bool:
    return any(unicodedata.category(ch) in _INVISIBLE for ch in text)
