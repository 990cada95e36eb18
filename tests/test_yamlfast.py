"""The libyaml reader gives what ruamel's round-trip loader gives (values, kinds, lines), or
steps aside: every document here is read both ways and compared."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from digest.config.yamlfast import load_fast

ROOT = Path(__file__).resolve().parents[1]


def positions(value: Any, path: str = "$") -> list[tuple[Any, ...]]:
    """Every container's own line and column and those of its keys, values and items."""
    found: list[tuple[Any, ...]] = []
    lc = getattr(value, "lc", None)
    if lc is not None:
        # An empty value's mark is wherever the next token happens to be (ruamel) or the end
        # of its key (libyaml); value_line gives the key's line for it, so only keys count.
        marks = sorted(
            (str(k), tuple(v[:2]) if isinstance(value, dict) and value[k] is None else tuple(v))
            for k, v in (lc.data or {}).items()
        )
        found.append((path, type(value).__name__, lc.line, lc.col, marks))
    if isinstance(value, dict):
        for key, inner in value.items():
            found += positions(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            found += positions(inner, f"{path}[{n}]")
    return found


def kinds(value: Any) -> Any:
    """The value with every scalar's kind beside it (bool is not int, None is not '')."""
    if isinstance(value, dict):
        return {k: kinds(v) for k, v in value.items()}
    if isinstance(value, list):
        return [kinds(v) for v in value]
    kind = next(k for k in (bool, int, float, str, type(None)) if isinstance(value, k))
    return (kind.__name__, value)


def same_as_ruamel(text: str) -> bool:
    """Assert the fast reader equals ruamel's on `text`; True when it took the document."""
    fast = load_fast(text)
    if fast is None:
        return False
    slow = YAML(typ="rt").load(text)
    assert kinds(fast) == kinds(slow), text
    assert positions(fast) == positions(slow), text
    return True


def test_the_configs_in_the_repository() -> None:
    paths = [ROOT / "feeds.yaml", *sorted(ROOT.glob("digest/**/*.yaml"))]
    paths += sorted(ROOT.glob("examples/**/*.yaml")) + sorted(ROOT.glob("tests/data/**/*.yaml"))
    taken = sum(same_as_ruamel(p.read_text(encoding="utf-8")) for p in paths if p.is_file())
    assert taken >= 2


PLAIN = ["abc", "two words", "yes", "no", "on", "off", "y", "n", "true", "False", "TRUE"]
PLAIN += ["null", "~", "", "0", "7", "-3", "+5", "0.45", "-1.5", "1e3", "017", "0x1f", "1_000"]
PLAIN += [".inf", ".NaN", "2026-11-19", "12:30", "https://a.example/f?x=1", "网信办", "a # b"]
QUOTED = ["'7'", '"true"', "'it''s'", '"tab\\tx"', '"\\u00e9"', "''", '"multi\n  line"']


def scalar(rng: random.Random) -> str:
    return rng.choice(PLAIN if rng.random() < 0.75 else QUOTED)


def document(rng: random.Random) -> str:
    lines = ["# a comment", "site: {language: en, title: " + scalar(rng) + "}"]
    lines.append("fetch:")
    for key in rng.sample(["timeout", "concurrency", "per_host", "allow_private", "note"], 3):
        lines.append(f"  {key}: {scalar(rng)}" + rng.choice(["", "  # why"]))
    if rng.random() < 0.3:
        lines.append("intro: |\n  first line\n  second line\n")
    if rng.random() < 0.3:
        lines.append("blurb: >\n  folded\n  text\n")
    lines.append("feeds:" if rng.random() < 0.9 else "feeds: []")
    for n in range(rng.randrange(0, 4)):
        if rng.random() < 0.5:
            lines.append(f'  - {{id: f{n}, name: "F {n}", url: "https://a.example/{n}"}}')
        else:
            lines.append(f"  - id: f{n}\n    url: {scalar(rng)}\n    tags: [a, {scalar(rng)}]")
            if rng.random() < 0.3:
                lines.append("    enabled:")
    return "\n".join(lines) + "\n"


def test_generated_documents() -> None:
    rng = random.Random(14)
    docs = [document(rng) for _ in range(300)]
    taken = sum(same_as_ruamel(d) for d in docs)
    # Documents with dates, octal, hex, 1e3 or .inf are ruamel's to read; the rest are taken.
    assert 0.2 * len(docs) < taken < len(docs)


def test_steps_aside() -> None:
    assert load_fast("a: 1\n") is not None
    for text in [
        "a: 1\na: 2\n",  # duplicate key: ruamel's error names it
        "a: &x 1\nb: *x\n",
        "base: &b {x: 1}\nc:\n  <<: *b\n",
        "a: !!str 1\n",
        "a: 2026-11-19\n",
        "a: 0o17\n",
        "a: [1, 2\n",  # a parse error: ruamel's message names the line
        "a: 1\n---\nb: 2\n",
        "1: x\n",
        "a: 1\x07\n",
        "",
    ]:
        assert load_fast(text) is None, text
