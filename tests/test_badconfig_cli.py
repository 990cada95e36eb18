"""Broken configuration through the CLI: exit 1, one message naming file, line and key path.

Every class of broken feeds.yaml (wrong types, unknown keys, missing fields, duplicate feeds,
invalid URLs, broken YAML, an unreadable file) is given to several commands. Each must exit 1
with exactly an `error:` line (file, line, key path) and a `hint:` line on stderr: never a
traceback, nothing on stdout, and no state directory created.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import main_exit, run_digest

CASES = {
    # class: (feeds.yaml content, the error line expected after "error: <file>")
    "wrong type": ("fetch:\n  timeout: fast\nfeeds: []\n", ":2: fetch.timeout: expected a number"),
    "wrong type in a feed": (
        'feeds:\n  - {id: a, name: A, url: "http://x.example/a", enabled: maybe}\n',
        ":2: feeds[0].enabled: expected true or false",
    ),
    "list for a string": ("site: {title: [1, 2]}\n", ":1: site.title: expected a string"),
    "out of range": ("fetch:\n  per_host: 0\n", ":2: fetch.per_host: must be at least 1"),
    "unknown key": (
        "site:\n  titel: x\nfeeds: []\n",
        ":2: site.titel: unknown key (did you mean 'title'?)",
    ),
    "unknown section": ("fetsh:\n  timeout: 3\n", ":1: fetsh: unknown key (did you mean 'fetch'?)"),
    "missing url": ("feeds:\n  - name: A\n    language: en\n", ":2: feeds[0].url: missing"),
    "duplicate id": (
        'feeds:\n  - {id: a, name: A, url: "http://x.example/a"}\n'
        '  - {id: a, name: B, url: "http://x.example/b"}\n',
        ":3: feeds[1].id: 'a' is already the id of feeds[0] (line 2)",
    ),
    "duplicate url": (
        'feeds:\n  - {id: a, name: A, url: "http://x.example/a"}\n'
        '  - {id: b, name: B, url: "http://x.example/a"}\n',
        ":3: feeds[1].url: same feed URL as feeds[0].url (line 2)",
    ),
    "bad scheme": (
        'feeds:\n  - {id: a, name: A, url: "ftp://x.example/a"}\n',
        ":2: feeds[0].url: 'ftp://x.example/a' has unsupported scheme",
    ),
    "no host": (
        'feeds:\n  - {id: a, name: A, url: "http://"}\n',
        ":2: feeds[0].url: 'http://' needs a host",
    ),
    "javascript url": (
        'feeds:\n  - {id: a, name: A, url: "javascript:alert(1)"}\n',
        ":2: feeds[0].url: 'javascript:alert(1)' has unsupported scheme",
    ),
    "broken yaml": ("feeds: [\n  {id: a\n", ":3:1: invalid YAML"),
    "tab indentation": ("site:\n\ttitle: x\n", ":2"),
}


def run_cli(tmp: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The CLI in-process: exit status, stdout, stderr."""
    code = main_exit(["--state", str(tmp / "state"), *args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_message(err: str, starts: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith(f"error: {starts}"), err
    assert lines[1].startswith("hint: "), err
    assert "Traceback" not in err


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(
    "command",
    [
        ("run",),
        ("fetch",),
        ("translate",),
        ("cluster",),
        ("build",),
        ("feeds", "check"),
        ("feeds", "list"),
    ],
)
def test_broken_config_exits_1_with_one_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, command: tuple[str, ...]
) -> None:
    text, expected = CASES[case]
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(text, encoding="utf-8")
    code, out, err = run_cli(tmp_path, capsys, "--config", str(cfg), *command)
    assert code == 1
    assert out == ""
    assert_one_message(err, f"{cfg}{expected}")
    assert not (tmp_path / "state").exists()  # nothing was touched


def test_unreadable_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Tests run as root, for whom chmod 000 changes nothing: a directory, a missing file and
    # bytes that are not UTF-8 are the unreadable files here.
    folder = tmp_path / "conf.d"
    folder.mkdir()
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"feeds: []\n\xff\xfe\x00junk")
    for path, expected in [
        (folder, f"{folder}: cannot read the configuration"),
        (tmp_path / "missing.yaml", f"{tmp_path / 'missing.yaml'}: cannot read the configuration"),
        (binary, f"{binary}:2: the file is not UTF-8 text"),
    ]:
        code, out, err = run_cli(tmp_path, capsys, "--config", str(path), "run")
        assert code == 1 and out == ""
        assert_one_message(err, expected)


def test_broken_config_as_a_real_process(tmp_path: Path) -> None:
    """The same through the installed command: exit 1, the message, no traceback."""
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(CASES["duplicate url"][0], encoding="utf-8")
    res = run_digest("--config", str(cfg), "run", cwd=tmp_path, timeout=60)
    assert res.returncode == 1
    assert res.stdout == ""
    assert_one_message(res.stderr, f"{cfg}{CASES['duplicate url'][1]}")
