"""Every mistake in feeds.yaml at once; what YAML users write and mean is taken, with a warning.

A file with many mistakes gives one run, exit 1, and every problem with its line and key path
(sorted by line) and a fix beneath each. `enabled: yes`, `timeout: "20"` and a single address
for `to:` are read as meant; the first two with a warning naming the line (stderr), since the
next YAML tool may read them otherwise. Email addresses are checked when the config loads.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from builders import main_exit, run_digest, write_text

from digest.config import load_config
from digest.errors import ConfigError, ConfigProblems

# Seven mistakes, one per line marked "# <- N"; the rest is valid.
MISTAKES = """\
site:
  titel: My digest                # <- 2: unknown key
  window_days: a week             # <- 3: not a number
fetch:
  timeout: "20"
  per_host: 0                     # <- 6: out of range
newsletter:
  from: digest                    # <- 8: no domain
  to: editor@example.net
topics:
  censorship: {keywords: []}      # <- 11: empty keywords
feeds:
  - id: cdt-en
    url: https://chinadigitaltimes.net/feed/
  - id: cdt-en                    # <- 15: the same id again
    url: https://chinadigitaltimes.net/chinese/feed/
  - name: no url here             # <- 17: no url
    language: zh
  - url: ftp://example.org/feed   # <- 19: not a feed URL
    enabled: yes
"""
EXPECTED = {
    2: "site.titel: unknown key (did you mean 'title'?)",
    3: "site.window_days: expected a whole number",
    6: "fetch.per_host: must be at least 1, got 0",
    8: "newsletter.from: 'digest' is not an email address",
    11: "topics.censorship.keywords: must list at least one entry",
    15: "feeds[1].id: 'cdt-en' is already the id of feeds[0] (line 13)",
    17: "feeds[2].url: missing: every feed needs a url",
    19: "feeds[3].url: 'ftp://example.org/feed' has unsupported scheme",
}


def test_every_mistake_is_reported_in_one_run_with_its_line(tmp_path: Path) -> None:
    cfg = write_text(tmp_path / "feeds.yaml", MISTAKES)
    marked = {
        n for n, line in enumerate(MISTAKES.splitlines(), 1) if "# <-" in line
    }  # the lines the file itself marks as wrong
    assert marked == set(EXPECTED)
    done = run_digest("run", cwd=tmp_path, timeout=120)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == f"error: feeds.yaml: {len(EXPECTED)} problems"
    assert lines[-1].startswith("hint: fix them all")
    problems = [line.strip() for line in lines if line.startswith("  feeds.yaml:")]
    # each problem once, in file order, with its line and key path ...
    assert [int(p.split(":")[1]) for p in problems] == sorted(EXPECTED)
    for problem, (line, what) in zip(problems, sorted(EXPECTED.items()), strict=True):
        assert problem.startswith(f"feeds.yaml:{line}: {what}"), problem
    # ... and a fix beneath each one
    hints = [line for line in lines if line.startswith("      hint: ")]
    assert len(hints) == len(EXPECTED)
    assert not (tmp_path / ".digest").exists()  # nothing was touched
    # The warnings wait until the errors are fixed: one thing at a time on the screen.
    assert "warning:" not in done.stderr
    assert cfg.read_text(encoding="utf-8") == MISTAKES


def test_the_library_gets_each_problem_as_a_config_error(tmp_path: Path) -> None:
    path = write_text(tmp_path / "feeds.yaml", MISTAKES)
    with pytest.raises(ConfigProblems) as info:
        load_config(path)
    assert info.value.exit_code == 1
    assert len(info.value.problems) == len(EXPECTED)
    assert all(isinstance(p, ConfigError) and p.hint for p in info.value.problems)
    assert [p.message.split(":")[1] for p in info.value.problems] == [
        str(n) for n in sorted(EXPECTED)
    ]


def test_one_problem_keeps_the_one_line_message(tmp_path: Path) -> None:
    path = write_text(tmp_path / "feeds.yaml", "fetch:\n  timeout: fast\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert not isinstance(info.value, ConfigProblems)
    assert str(info.value) == (
        f"{path}:2: fetch.timeout: expected a number of seconds, got a string ('fast')"
    )


def test_a_misspelt_key_is_not_also_reported_missing(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "feeds.yaml",
        "topics:\n  c:\n    keyword: [a]\nfeeds:\n  - name: x\n    ulr: https://a.example/\n",
    )
    with pytest.raises(ConfigProblems) as info:
        load_config(path)
    messages = [p.message for p in info.value.problems]
    assert messages == [
        f"{path}:3: topics.c.keyword: unknown key (did you mean 'keywords'?)",
        f"{path}:6: feeds[0].ulr: unknown key (did you mean 'url'?)",
    ]


def test_a_rejected_id_does_not_also_clash(tmp_path: Path) -> None:
    # The bad id is reported; the stand-in id derived from the name must not clash as well.
    path = write_text(
        tmp_path / "feeds.yaml",
        "feeds:\n  - {id: a, name: A, url: 'https://a.example/'}\n"
        "  - {id: 'Not A Slug', name: A, url: 'https://b.example/'}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}:3: feeds[1].id: 'Not A Slug' is not a slug (lower-case letters, digits, "
        "single hyphens: 'not-a-slug')"
    )


# ---------------------------------------------------------------- what YAML users write

YAML11 = """\
fetch:
  timeout: "20"
  connect_timeout: '2.5'
  per_host: "4"
stories:
  discover_topics: off
newsletter:
  from: "Digest <digest@example.org>"
  to: editor@example.net
feeds:
  - url: https://a.example/feed
    enabled: yes
  - url: https://b.example/feed
    enabled: No
"""


def test_yaml_1_1_booleans_and_quoted_numbers_are_read_as_meant_with_warnings(
    tmp_path: Path,
) -> None:
    path = write_text(tmp_path / "feeds.yaml", YAML11)
    config = load_config(path)
    assert (config.fetch.timeout, config.fetch.connect_timeout, config.fetch.per_host) == (
        20.0,
        2.5,
        4,
    )
    assert config.stories.discover_topics is False
    assert [f.enabled for f in config.feeds] == [True, False]
    assert config.newsletter is not None and config.newsletter.to == ("editor@example.net",)
    assert list(config.warnings) == [
        f"{path}:2: fetch.timeout: the string '20' is read as the number 20; write "
        "`timeout: 20` without quotes",
        f"{path}:3: fetch.connect_timeout: the string '2.5' is read as the number 2.5; write "
        "`connect_timeout: 2.5` without quotes",
        f"{path}:4: fetch.per_host: the string '4' is read as the number 4; write "
        "`per_host: 4` without quotes",
        f"{path}:6: stories.discover_topics: 'off' is read as false (YAML 1.1 style); write "
        "`discover_topics: false`",
        f"{path}:12: feeds[0].enabled: 'yes' is read as true (YAML 1.1 style); write "
        "`enabled: true`",
        f"{path}:14: feeds[1].enabled: 'No' is read as false (YAML 1.1 style); write "
        "`enabled: false`",
    ]
    # A clean file has none.
    assert load_config(write_text(tmp_path / "clean.yaml", "feeds: []\n")).warnings == ()


def test_warnings_go_to_stderr_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_text(tmp_path / "feeds.yaml", YAML11)
    assert main_exit(["--config", str(cfg), "feeds", "list"]) == 0
    out, err = capsys.readouterr()
    assert "https://a.example/feed" in out and "warning" not in out
    warnings = err.splitlines()
    assert len(warnings) == 6
    assert all(re.match(rf"warning: {re.escape(str(cfg))}:\d+: ", w) for w in warnings)
    assert f"warning: {cfg}:12: feeds[0].enabled: 'yes' is read as true" in err


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("digest", "'digest' is not an email address: it needs name@domain"),
        ("digest@", "'digest@' has no domain after the @"),
        ('"Digest <digest@>"', "'Digest <digest@>' has no domain after the @"),
        ("a@example.org, b@example.org", "is not one email address (write a list for several)"),
        ("d@exa mple.org", "is not one email address"),
        ("d@-bad-.org", "'-bad-.org' is not a domain name"),
    ],
)
def test_addresses_are_checked_when_the_config_loads(
    tmp_path: Path, value: str, expected: str
) -> None:
    for key, line in (("from", 2), ("to", 3)):
        text = "newsletter:\n  from: d@example.org\n  to: [r@example.org]\n"
        text = re.sub(rf"(?m)^  {key}: .*$", f"  {key}: {value}", text)
        path = write_text(tmp_path / f"{key}.yaml", text)
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert str(info.value).startswith(f"{path}:{line}: newsletter.{key}"), str(info.value)
        assert expected in str(info.value), str(info.value)


def test_good_addresses_load(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "feeds.yaml",
        'newsletter:\n  from: "Digital Rights Digest <digest@mail.example.org>"\n'
        "  to: [a@example.org, B.C+tag@sub.example.net, ops@localhost]\n",
    )
    config = load_config(path)
    assert config.newsletter is not None
    assert config.newsletter.to == ("a@example.org", "B.C+tag@sub.example.net", "ops@localhost")
