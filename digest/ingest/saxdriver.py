"""feedparser's XML reader: Python's expat reader, with each run of text in one callback.

Out of the box expat hands text over in pieces split at every entity reference, so an item of
100,000 `&lt;div&gt;` costs 300,000 calls into feedparser's Python handlers (3 s for 1.1 MB;
10 MB would take half a minute). With expat's buffer_text on, a run of text arrives in one
call. parse.py names this module first in feedparser's PREFERRED_XML_PARSERS; xml.sax finds
it by its create_parser().
"""

from __future__ import annotations

from typing import Any
from xml.sax import expatreader

__all__ = ["create_parser"]

_BUFFER = 1 << 20  # characters of text expat gathers before a callback


class _RunsOfText(expatreader.ExpatParser):
    """expat with buffer_text on: character data in runs, not pieces."""

    def reset(self) -> None:
        """Reset as expatreader does, then buffer text."""
        super().reset()
        parser = self._parser  # type: ignore[attr-defined]  # expatreader's own expat parser
        parser.buffer_size = _BUFFER
        parser.buffer_text = True


def create_parser(*args: Any, **kwargs: Any) -> expatreader.ExpatParser:
    """The reader xml.sax.make_parser builds from this module."""
    return _RunsOfText(*args, **kwargs)
