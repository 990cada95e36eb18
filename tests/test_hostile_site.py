"""The sanitizer corpus through a real feed, `digest run` and the built site.

Every attack vector of test_sanitize.ATTACKS is served in the titles, summaries, content and
authors of RSS and Atom feeds whose item links, GUIDs and channel links are dangerous URLs.
After `digest run`, every HTML page (and the site's own Atom and JSON feeds) is parsed and
checked: no event handler, no script but the site's own, no element of the active-content
classes, and no URL attribute whose scheme is not http, https or mailto.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from builders import run_digest, write_feeds_config
from httpserver import LoopbackServer
from test_sanitize import ATTACKS

BAD_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "&#106;avascript:alert(1)",
    "&#x6A;avascript:alert(1)",
    "javascript&#58;alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "file:///etc/passwd",
]
URL_ATTRS = {
    "href", "src", "action", "formaction", "srcset", "poster", "data", "background",
    "xlink:href", "cite", "longdesc", "manifest", "ping", "icon", "codebase", "dynsrc", "lowsrc",
}  # fmt: skip
ACTIVE = {
    "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math", "base", "img",
    "picture", "video", "audio", "source", "style", "template", "textarea", "select", "xmp",
    "portal", "marquee", "image",
}  # fmt: skip
SAFE_SCHEMES = ("http", "https", "mailto")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")


def scheme_of(url: str) -> str | None:
    """The scheme a browser would see: entities decoded, controls and blanks removed."""
    cleaned = html.unescape(url)
    cleaned = re.sub(r"[\x00-\x20\x7f]", "", cleaned).lower()
    m = _SCHEME.match(cleaned)
    return m.group(1) if m else None


def assert_url_safe(url: str, where: str) -> None:
    scheme = scheme_of(url)
    assert scheme is None or scheme in SAFE_SCHEMES, f"{where}: unsafe URL {url!r}"


class Checker(HTMLParser):
    """Fails on anything executable in one page."""

    def __init__(self, where: str) -> None:
        super().__init__(convert_charrefs=True)
        self.where = where
        self.in_script = False
        self.forms = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        where = f"{self.where} <{tag}>"
        assert tag not in ACTIVE, where
        values = {k: v or "" for k, v in attrs}
        for name, value in values.items():
            assert not name.startswith("on"), f"{where} {name}={value!r}"
            assert name not in ("style", "srcdoc", "formaction"), f"{where} {name}"
            if name in URL_ATTRS:
                # (an http URL may well end in "alert(1)": a path is not code)
                for part in value.split(",") if name in ("srcset", "ping") else [value]:
                    assert_url_safe(part.strip(), f"{where} {name}")
            else:
                assert "alert(1)" not in value and "msgbox(1)" not in value, f"{where} {name}"
        if tag == "script":
            # only the site's own search script, loaded from the site itself
            assert values.get("src", "").endswith("static/search.js"), where
            assert scheme_of(values["src"]) is None, where
            self.in_script = True
        if tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            target = values.get("content", "").split("url=", 1)[-1]
            assert_url_safe(target.strip(), where)
            assert self.where.startswith("stories/") or "redirect" in self.where, where
        if tag == "form":
            self.forms += 1
            assert values.get("action", "").endswith("search.html"), where
        if tag == "input":
            assert values.get("type") == "search", where
        if tag == "button":
            assert values.get("type") == "submit", where
        if tag == "link":
            rel = values.get("rel", "").lower().split()
            assert set(rel) <= {"stylesheet", "icon", "alternate", "canonical"}, where

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_script = False

    def handle_data(self, data: str) -> None:
        assert not (self.in_script and data.strip()), f"{self.where}: inline script {data!r}"

    def handle_comment(self, data: str) -> None:
        assert "alert" not in data and "<" not in data, f"{self.where}: comment {data!r}"


def check_html(text: str, where: str) -> None:
    checker = Checker(where)
    checker.feed(text)
    checker.close()
    assert checker.forms <= 1, where


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def hostile_rss() -> bytes:
    items = []
    for i, attack in enumerate(ATTACKS):
        bad = BAD_URLS[i % len(BAD_URLS)]
        # Titles alternate between CDATA and entity-escaped markup; links are dangerous URLs
        # (raw, or with entities as they would arrive escaped in XML).
        title = cdata(f"Title {i} {attack}") if i % 2 else html.escape(f"Title {i} {attack}")
        link = html.escape(bad) if "&#" not in bad else bad.replace("&", "&amp;")
        guid = (
            f'<guid isPermaLink="true">{html.escape(bad)}</guid>'
            if i % 3 == 0
            else f"<guid>attack-{i}</guid>"
        )
        link_el = f"<link>{link}</link>" if i % 3 else ""  # some items only have the GUID
        content = f'<p>Content {i}</p>{attack}<a href="{bad}">x</a>'
        items.append(
            f"<item>{guid}{link_el}<title>{title}</title>"
            f"<description>{cdata(f'<p>Summary {i}</p>{attack}')}</description>"
            f"<content:encoded>{cdata(content)}"
            f"</content:encoded><dc:creator>{cdata(attack)}</dc:creator>"
            f"<pubDate>Thu, 19 Nov 2026 {i % 24:02d}:00:00 GMT</pubDate></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{cdata('<script>alert(1)</script>Hostile <b onclick=alert(1)>RSS</b>')}</title>"
        "<link>javascript:alert(1)</link><language>en</language>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def hostile_atom() -> bytes:
    entries = []
    for i, attack in enumerate(ATTACKS[:20]):
        bad = html.escape(BAD_URLS[i % len(BAD_URLS)])
        entries.append(
            f"<entry><id>urn:atom:{i}</id><title type='html'>{html.escape(attack)} atom {i}"
            f"</title><link rel='alternate' href='{bad}'/>"
            f"<updated>2026-11-19T0{i % 10}:00:00Z</updated>"
            f"<author><name>{html.escape(attack)}</name><uri>{bad}</uri></author>"
            f"<summary type='html'>{html.escape(attack)}</summary>"
            "<content type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>"
            "<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'><script>alert(1)</script>"
            f"</svg><a href='{bad}'>x</a><p>atom body {i}</p></div></content></entry>"
        )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        "<title type='html'>&lt;img src=x onerror=alert(1)&gt;Hostile Atom</title>"
        "<link rel='alternate' href='javascript:alert(1)'/><id>urn:hostile</id>"
        "<updated>2026-11-19T00:00:00Z</updated>" + "".join(entries) + "</feed>"
    ).encode()


def check_xml(text: str, where: str) -> None:
    root = ET.fromstring(text)
    for el in root.iter():
        for name, value in el.attrib.items():
            if name.split("}")[-1] in ("href", "src", "url", "xmlUrl", "htmlUrl"):
                assert_url_safe(value, f"{where} <{el.tag}> {name}")
        tag = el.tag.split("}")[-1]
        if tag in ("link", "uri", "url", "id") and el.text and tag != "id":
            assert_url_safe(el.text.strip(), f"{where} <{tag}>")
        if el.attrib.get("type") in ("html", "xhtml") and el.text:
            check_html(el.text, f"{where} <{tag}>")


def check_json(value: object, where: str) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("url", "external_url", "home_page_url", "feed_url", "icon", "favicon"):
                assert isinstance(inner, str)
                assert_url_safe(inner, f"{where} {key}")
            elif key == "content_html":
                assert isinstance(inner, str)
                check_html(inner, f"{where} content_html")
            else:
                check_json(inner, f"{where}.{key}")
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            check_json(inner, f"{where}[{n}]")


def test_attack_corpus_through_a_feed_and_the_built_site(
    tmp_path: Path, srv: LoopbackServer
) -> None:
    assert len(ATTACKS) >= 40
    srv.route("/hostile.rss", body=hostile_rss(), headers={"Content-Type": "text/xml"})
    srv.route("/hostile.atom", body=hostile_atom())
    cfg = write_feeds_config(
        tmp_path,
        {"rss": srv.url("/hostile.rss"), "atom": srv.url("/hostile.atom")},
        names={"rss": "Hostile RSS", "atom": "Hostile Atom"},
    )
    res = run_digest("--config", str(cfg), "run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("fetch: 2 feeds, 2 ok"), res.stdout
    root = (tmp_path / "site").resolve()
    pages = sorted(root.rglob("*.html"))
    story_pages = [p for p in pages if p.parent.name == "stories"]
    text = "".join(p.read_text(encoding="utf-8") for p in pages)
    # the items are there (as text), so the checks below looked at real output
    assert len(story_pages) >= 10
    assert "Summary 7" in text and "Title 10" in text and " atom 3" in text
    for page in pages:
        check_html(page.read_text(encoding="utf-8"), page.relative_to(root).as_posix())
    atom_files = sorted(root.rglob("*.atom"))
    xml_files = atom_files + sorted(root.rglob("*.xml")) + sorted(root.rglob("*.opml"))
    # the site's own feeds are checked too: its Atom feeds end in .atom, not .xml
    assert root / "feeds" / "stories.atom" in atom_files, atom_files
    assert list(root.rglob("*.json")), "the JSON feeds are checked too"
    atom_entries = 0
    for path in xml_files:
        text = path.read_text(encoding="utf-8")
        check_xml(text, path.relative_to(root).as_posix())
        atom_entries += text.count("<entry") if path.suffix == ".atom" else 0
    assert atom_entries >= 10, "the Atom entries were there to be checked"
    for path in sorted(root.rglob("*.json")):
        check_json(json.loads(path.read_text(encoding="utf-8")), path.relative_to(root).as_posix())
    # belt and braces: no tag of any output file carries such a URL, whatever the parser saw
    in_tag = re.compile(
        r"""<[a-z][^<>]*\s(href|src|action)\s*=\s*["']?\s*(javascript|vbscript|data):""",
        re.IGNORECASE,
    )
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".xml", ".atom", ".json", ".opml"):
            assert not in_tag.search(path.read_text(encoding="utf-8")), path


def test_the_checks_catch_what_they_look_for() -> None:
    import pytest

    bad = [
        '<a href="&#106;avascript:alert(1)">x</a>',
        '<a href=" JAVA\tSCRIPT:alert(1)">x</a>',
        '<a href="data:text/html,x">x</a>',
        "<img src=x>",
        "<p onclick=alert(1)>x</p>",
        "<script>alert(1)</script>",
        '<script src="https://evil.example/x.js"></script>',
        '<iframe src="https://ok.example/"></iframe>',
        '<form action="https://evil.example/"></form>',
        '<input type="password">',
        '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
        '<p style="x">x</p>',
        "<!--><img src=x onerror=alert(1)>-->",
    ]
    for snippet in bad:
        with pytest.raises(AssertionError):
            check_html(snippet, "probe")
    check_html('<p>ok <a href="https://ok.example/a?alert(1)">x</a> &lt;script&gt;</p>', "probe")
    with pytest.raises(AssertionError):
        check_xml("<feed><link href='javascript:alert(1)'/></feed>", "probe")
    with pytest.raises(AssertionError):
        check_json({"items": [{"url": "vbscript:x"}]}, "probe")
