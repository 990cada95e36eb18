"""feeds.yaml read by libyaml, built as ruamel's round-trip loader builds it (values and lines).

ruamel's round-trip loader, which keeps the line of every key for error messages, is pure
Python: a 300-feed file takes it about 0.3 s, paid by every command before any work starts.
libyaml (PyYAML's C parser) parses the same document in a few milliseconds, with the same
line and column marks. This module builds from its events the CommentedMap and CommentedSeq
the validation reads, with the same values and positions, and returns None (so
ruamel reads the file) for anything whose result could differ: a parse error (ruamel's
message is the one shown), several documents, tags, anchors and aliases, merge keys, duplicate
or non-string keys, and scalars other than plain strings, null, booleans, decimal integers
and plain decimals (dates, octal, hex, 1e3, .inf are ruamel's to read). YAML 1.2 rules
decide what a plain scalar is, as in ruamel: `yes`, `on` and `no` stay strings. One mark
differs and is never read: an empty value's (value_line gives its key's line instead).
tests/test_yamlfast.py holds both readers to equal results.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.reader import Reader

# libyaml comes with PyYAML's wheels; without it ruamel reads every file.
_LOADER = getattr(yaml, "CSafeLoader", None)

__all__ = ["load_fast"]

_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]+")
# What else YAML 1.2 (ruamel) would read as something other than a string: left to ruamel.
_OTHER = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9][0-9_]*\.?[0-9_]*(?:[eE][-+]?[0-9]+)?|0[box][0-9a-fA-F_]+)"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt ].*)?"
)


class _Decline(Exception):
    """The document holds something only ruamel can read exactly as ruamel does."""


def load_fast(text: str) -> Any | None:
    """The document as ruamel's round-trip loader returns it, or None when ruamel must read it."""
    if _LOADER is None or Reader.NON_PRINTABLE.search(text):
        return None
    try:
        events = list(yaml.parse(text, Loader=_LOADER))
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    # stream start, document start, the root node's events, document end, stream end
    if len(events) < 5 or sum(isinstance(e, yaml.DocumentStartEvent) for e in events) != 1:
        return None
    stream = iter(events[2:-2])
    try:
        root = _node(next(stream), stream)
    except (_Decline, RecursionError):
        return None
    return None if next(stream, None) is not None else root


def _node(event: Any, stream: Iterator[Any]) -> Any:
    """The value that starts with `event`, its later events read from `stream`."""
    if isinstance(event, yaml.AliasEvent) or event.anchor is not None or event.tag is not None:
        raise _Decline  # aliases, anchors and tags: ruamel's own objects
    if isinstance(event, yaml.ScalarEvent):
        return _scalar(event)
    line, col = event.start_mark.line, event.start_mark.column
    if isinstance(event, yaml.MappingStartEvent):
        mapping = CommentedMap()
        mapping.lc.line, mapping.lc.col = line, col
        while not isinstance(key_event := next(stream), yaml.MappingEndEvent):
            if not isinstance(key_event, yaml.ScalarEvent):
                raise _Decline
            key = _node(key_event, stream)
            if not isinstance(key, str) or key == "<<" or key in mapping:
                raise _Decline  # merge keys, duplicates, keys that are not strings
            value_event = next(stream)
            mapping[key] = _node(value_event, stream)
            key_mark, value_mark = key_event.start_mark, value_event.start_mark
            mapping.lc.add_kv_line_col(
                key, [key_mark.line, key_mark.column, value_mark.line, value_mark.column]
            )
        return mapping
    if isinstance(event, yaml.SequenceStartEvent):
        sequence = CommentedSeq()
        sequence.lc.line, sequence.lc.col = line, col
        while not isinstance(item_event := next(stream), yaml.SequenceEndEvent):
            sequence.append(_node(item_event, stream))
            mark = item_event.start_mark
            sequence.lc.add_idx_line_col(len(sequence) - 1, [mark.line, mark.column])
        return sequence
    raise _Decline


def _scalar(event: Any) -> Any:
    value: str = event.value
    if event.style:  # quoted or block: a string whatever it looks like (plain is "" or None)
        return value
    if value in _NULL:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    if _OTHER.fullmatch(value):
        raise _Decline
    return value
