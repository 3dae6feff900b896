"""An error as one line of text, for the one-line messages every command and the web page give.

It sits in the lowest stage so that every stage above can word its errors the same way.
"""

from __future__ import annotations

import textwrap


def one_line(error: BaseException, width: int | None = None, *, named: bool = True) -> str:
    """``"Type: message"`` (``named``) or the message alone, its whitespace collapsed to single
    spaces, shortened to at most ``width`` characters with ``" ..."`` (None: kept whole).

    A KeyError's message is its key without the quotes ``str(KeyError)`` adds.
    """
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    text = f"{type(error).__name__}: {text}" if named else text
    if width is None:
        return " ".join(text.split())
    return textwrap.shorten(text, width, placeholder=" ...")
