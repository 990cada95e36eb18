"""Writing feeds into feeds.yaml: new entries spliced into the file (comments, order and every
other byte kept), a round-trip dump as the fallback, and the result checked by loading it."""

from __future__ import annotations

import io
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from digest.atomic import write_atomic
from digest.config.load import parse_config
from digest.errors import ConfigError, StageError
from digest.records import Config, FeedConfig

__all__ = ["append_feeds", "feeds_block"]


def _entry(feed: FeedConfig) -> CommentedMap:
    entry = CommentedMap()
    entry["id"] = feed.id
    entry["name"] = feed.name
    entry["url"] = feed.url
    if feed.language:
        entry["language"] = feed.language
    if feed.tags:
        tags = CommentedSeq(feed.tags)
        tags.fa.set_flow_style()
        entry["tags"] = tags
    if not feed.enabled:
        entry["enabled"] = False
    for key in ("outlet", "kind", "region"):
        value = getattr(feed, key)
        if value:
            entry[key] = value
    return entry


def feeds_block(feeds: list[FeedConfig], indent: int = 2) -> str:
    """Feed entries as the items of a block `feeds:` list, `indent` spaces in."""
    yaml = _yaml()
    lines: list[str] = []
    for feed in feeds:
        buf = io.StringIO()
        yaml.dump(_entry(feed), buf)
        body = buf.getvalue().splitlines()
        lines.append(" " * indent + "- " + body[0])
        lines.extend((" " * (indent + 2) + ln) if ln else ln for ln in body[1:])
    return "".join(line + "\n" for line in lines)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.width = 4096  # never fold a long name or URL onto a continuation line
    return yaml


def append_feeds(config_path: Path, config: Config, added: list[FeedConfig]) -> None:
    """Append the feeds to the file's feeds list and write it atomically, checking the result."""
    raw = Path(config_path).read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw[3:].decode("utf-8") if bom else raw.decode("utf-8")
    newline = "\r\n" if "\r\n" in text else "\n"
    expected = (*config.feeds, *added)
    # Splicing text keeps every other byte of the file; a full round-trip dump is the fallback
    # for layouts the splice does not handle (no list yet, a flow list, anchors).
    for build in (_splice, _round_trip):
        try:
            new_text = build(text, added, newline)
        except (ValueError, IndexError, KeyError, TypeError, AttributeError):
            continue
        if new_text is None:
            continue
        try:
            if parse_config(new_text, Path(config_path)).feeds == expected:
                break
        except ConfigError:
            continue
    else:
        raise StageError(
            f"{config_path}: could not append the feeds without disturbing the file",
            "add them by hand: `digest feeds export-opml` shows the format of an entry",
        )
    data = new_text.encode("utf-8")
    write_atomic(Path(config_path), b"\xef\xbb\xbf" + data if bom else data)


def _feeds_node(text: str) -> Node | None:
    root = _yaml().compose(text)
    if not isinstance(root, MappingNode):
        return None
    for key, value in root.value:
        if getattr(key, "value", None) == "feeds":
            return value
    return None


def _last_end(node: Node) -> int:
    """Index just past the text of the last scalar or flow collection inside a node."""
    while isinstance(node, MappingNode | SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
    return int(node.end_mark.index)


def _splice(text: str, added: list[FeedConfig], newline: str) -> str | None:
    """Insert block entries right after the last entry of a block `feeds:` list."""
    seq = _feeds_node(text)
    if not isinstance(seq, SequenceNode) or seq.flow_style or not seq.value:
        return None
    last = seq.value[-1]
    content_col = last.start_mark.column
    line_start = text.rfind("\n", 0, last.start_mark.index) + 1
    prefix = text[line_start : line_start + content_col]
    dash_col = prefix.rstrip().rfind("-")
    if dash_col < 0 or prefix[dash_col + 1 :].strip() or content_col - dash_col < 2:
        return None
    end = _last_end(last)
    if end < last.start_mark.index:
        return None  # an alias pointing back up the file: no safe place to cut
    if end > 0 and text[end - 1] == "\n":
        cut = end
    else:
        nl = text.find("\n", end)
        cut = len(text) if nl < 0 else nl + 1
    yaml = _yaml()
    lines: list[str] = []
    for feed in added:
        buf = io.StringIO()
        yaml.dump(_entry(feed), buf)
        body = buf.getvalue().splitlines()
        lines.append(" " * dash_col + "-" + " " * (content_col - dash_col - 1) + body[0])
        lines.extend((" " * content_col + ln) if ln else ln for ln in body[1:])
    block = newline.join(lines) + newline
    head = text[:cut]
    if head and not head.endswith("\n"):
        head += newline
    return head + block + text[cut:]


def _round_trip(text: str, added: list[FeedConfig], newline: str) -> str:
    """Append through a full ruamel round trip (comments kept; spacing may be normalised)."""
    from ruamel.yaml.util import load_yaml_guess_indent

    data, indent, block_seq_indent = load_yaml_guess_indent(text)
    if not isinstance(data, CommentedMap):
        raise ValueError("not a mapping")
    yaml = _yaml()
    yaml.indent(mapping=indent or 2, sequence=(indent or 2) + 2, offset=block_seq_indent or 2)
    feeds = data.get("feeds")
    if not isinstance(feeds, CommentedSeq):
        feeds = CommentedSeq()
        data["feeds"] = feeds
    feeds.fa.set_block_style()
    feeds.extend(_entry(f) for f in added)
    buf = io.StringIO()
    yaml.dump(data, buf)
    out = buf.getvalue()
    return out.replace("\n", newline) if newline != "\n" else out
