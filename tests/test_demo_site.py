"""The bundled demo's site, file by file, against its golden copy in tests/golden/demo-site/.

The demo (examples/demo: local feeds, no network) is built the way `make demo` builds it, by
the whole pipeline, in a temporary copy with no translation model installed. What depends on
the clock or on where the copy sits is normalised before the comparison:

- build.json: generated_at becomes <BUILD-TIME>;
- sources.html and sources/*.html: the times of the fetch's own clock (`<time class="fetched">`:
  a feed's last new report, the last good fetch of a failing one) become <FETCH-TIME>;
- index.html: the time in "Updated" (when the newest report was fetched) becomes
  <FETCH-TIME>;
- every file: the demo copy's folder would become <DEMO>, but no published file may name it
  (the test fails on it: the public site shows nothing of the operator's machine);
- .digest-manifest.json: every hash becomes <hash> (they cover the code's own fingerprint),
  the page list stays;
- pagefind/ (the search index, binary and rebuilt by pagefind): not compared, only its file
  names, with their content hashes as <hash>, in _listing/pagefind.txt;
- files that are not UTF-8 text are not copied: _listing/binary-files.txt has their SHA-256.

A difference fails with the list of added, missing and changed files and a unified diff of
the first few. After a deliberate change, DIGEST_REGENERATE=1 rewrites the golden copy: review
its diff before committing it.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from builders import copy_demo
from golden_files import GOLDEN, Golden
from needs import missing

from digest.config import load_config
from digest.pipeline import run
from digest.site.search import SEARCH_DIR, pagefind_executable
from digest.workspace import Workspace

GOLDEN_SITE = GOLDEN / "demo-site"
LISTING = "_listing"  # no site has a folder of this name

_GENERATED_AT = re.compile(r'("generated_at": )"[^"]*"')
_FETCHED = re.compile(r'<time class="fetched" datetime="[^"]*">[^<]*</time>')
_UPDATED = re.compile(r'(<p class="updated">Updated )<time datetime="[^"]*">[^<]*</time>')
_NAME_HASH = re.compile(r"_[0-9a-f]{6,}(?=\.)")


def normalised(rel: str, text: str, demo: Path) -> str:
    """One site file's text with the clock and the demo copy's folder taken out."""
    for folder in {str(demo.resolve()), str(demo)}:
        text = text.replace(folder, "<DEMO>")
    if rel == "build.json":
        return _GENERATED_AT.sub(r'\1"<BUILD-TIME>"', text)
    if rel == ".digest-manifest.json":
        manifest = json.loads(text)
        manifest["pages"] = dict.fromkeys(manifest["pages"], "<hash>")
        if "search" in manifest:
            manifest["search"] = "<hash>"
        return json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    if rel == "sources.html" or rel.startswith("sources/"):
        when = '<time class="fetched" datetime="<FETCH-TIME>"><FETCH-TIME></time>'
        return _FETCHED.sub(when, text)
    if rel == "index.html":
        return _UPDATED.sub(r'\1<time datetime="<FETCH-TIME>"><FETCH-TIME></time>', text)
    return text


def site_as_text(root: Path, demo: Path) -> dict[str, str]:
    """The golden form of a built site: relative path -> normalised text (see the docstring)."""
    files: dict[str, str] = {}
    search: list[str] = []
    binary: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(f"{SEARCH_DIR}/"):
            search.append(_NAME_HASH.sub("_<hash>", rel))
            continue
        data = path.read_bytes()
        try:
            files[rel] = normalised(rel, data.decode("utf-8"), demo)
        except UnicodeDecodeError:
            binary.append(f"{hashlib.sha256(data).hexdigest()}  {rel}")
    files[f"{LISTING}/pagefind.txt"] = "".join(f"{name}\n" for name in sorted(search))
    files[f"{LISTING}/binary-files.txt"] = "".join(f"{line}\n" for line in binary)
    return files


def test_demo_site_matches_its_golden_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, golden: Golden
) -> None:
    if pagefind_executable() is None:
        missing("pagefind is not installed (pip install 'pagefind[extended]')")
    monkeypatch.setenv("ARGOS_PACKAGES_DIR", str(tmp_path / "no-models"))  # none installed
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    monkeypatch.delenv("DIGEST_STATE", raising=False)
    demo = tmp_path / "demo"
    config_path = copy_demo(demo)
    ws = Workspace.resolve(config_path, None)
    summary = run(load_config(config_path), ws)
    assert summary.build.search
    root = ws.out_dir(None).resolve()
    assert root.parent == demo.resolve()  # a version folder beside the config, as `make demo` makes
    site = site_as_text(root, demo)
    leaks = [rel for rel, text in site.items() if "<DEMO>" in text]
    assert not leaks, f"published files name the operator's folder: {leaks}"
    golden.check_tree(GOLDEN_SITE, site)
